"""The examples' feature rows for a fit: a sparse part (TF-IDF) beside a dense part.

Nine tenths of a row's non-zero values are the embedding and its kernel features (1,280
of ~1,400). Kept in one scipy.sparse matrix they cost 12 bytes each, twice (the fit keeps
the transpose too), and every product went through scipy's sparse loops; kept as a dense
block beside the sparse TF-IDF columns, the dense half of each product is one BLAS call.
The columns are the sparse part's, then the dense part's, as in one matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt
import scipy.sparse as sparse

Floats = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Rows:
    """``n`` feature rows: ``lexical`` (n × s, sparse) then ``dense`` (n × d) columns."""

    lexical: sparse.csr_matrix
    dense: Floats

    def __post_init__(self) -> None:
        if self.lexical.shape[0] != self.dense.shape[0]:
            raise ValueError("the sparse and the dense part must have the same rows")

    @cached_property
    def _lexical_t(self) -> sparse.csr_matrix:
        """The sparse part's transpose as CSR, made once, when the fit first needs it."""
        return self.lexical.T.tocsr()

    @property
    def shape(self) -> tuple[int, int]:
        return self.lexical.shape[0], self.lexical.shape[1] + self.dense.shape[1]

    def times(self, weights: Floats) -> Floats:
        """The rows times ``weights`` (columns × k)."""
        split = self.lexical.shape[1]
        product: Floats = np.asarray(self.lexical @ weights[:split]) + self.dense @ weights[split:]
        return product

    def transposed_times(self, values: Floats) -> Floats:
        """The transpose of the rows times ``values`` (n × k): columns × k."""
        return np.vstack([np.asarray(self._lexical_t @ values), self.dense.T @ values])

    def squared_lengths(self) -> Floats:
        """Each row's squared length."""
        lexical = np.asarray(self.lexical.multiply(self.lexical).sum(axis=1)).ravel()
        lengths: Floats = lexical + np.einsum("ij,ij->i", self.dense, self.dense)
        return lengths

    def with_dense(self, extra: Floats) -> Rows:
        """The same rows with ``extra`` (n × m) columns after the last."""
        return Rows(self.lexical, np.hstack([self.dense, extra]))
