"""Each flow's centroid as a feature of the fit: how near a message is to the flow as a whole.

With ten examples a flow's weights are learned from ten rows, and the L2 penalty pulls
every weight towards zero alike, so the fit leans on the few terms that separate those
rows. One more feature per flow — the message's dot product with the flow's normalised
sum of example rows, over every part of the features (words, characters, embedding,
kernel) — lets it say "near this flow's examples taken together" with one weight
(a prototype, as in Snell et al., "Prototypical Networks for Few-shot Learning", 2017).

In fitting, each example is compared with its own flow's centroid *without itself*:
compared with a sum it is part of, an example always looks near its own flow, and the
fit would learn to trust a feature that says little about a new message.

The feature is a linear function of the feature row, so after the fit its weights are
folded into the other features' weights (:meth:`Prototypes.directions`,
:meth:`SoftmaxRegression.absorb`): ranking a message costs nothing more and the fitted
router holds no more memory than without it. Chosen on BANKING77's held-out training
messages and the shipped flows' dev half (docs/ROUTING.md).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import scipy.sparse as sparse

from bot.engine.understanding.rows import Rows

WEIGHT = 0.4
"""How much the centroid features count (the other features' rows are ~2.5 long): 0.8 was
better at 10 examples a flow but worse with all of BANKING77's (docs/ROUTING.md)."""

Floats = npt.NDArray[np.float64]


class Prototypes:
    """The normalised sums of each class's example rows."""

    def __init__(self, x: Rows, targets: npt.NDArray[np.intp], classes: int) -> None:
        """``x``: the examples' feature rows; ``targets[i]``: row ``i``'s class."""
        rows = x.shape[0]
        membership = sparse.csr_matrix(
            (np.ones(rows), (targets, np.arange(rows))), shape=(classes, rows)
        )
        self._lexical_sums = (membership @ x.lexical).tocsr()
        self._dense_sums = np.asarray(membership @ x.dense)
        lexical_norms = self._lexical_sums.multiply(self._lexical_sums).sum(axis=1)
        self._squared_norms = np.asarray(lexical_norms).ravel() + np.einsum(
            "ij,ij->i", self._dense_sums, self._dense_sums
        )

    def left_out(self, x: Rows, targets: npt.NDArray[np.intp]) -> Floats:
        """Each example row's dot product with every class's normalised sum, its own class's
        sum taken without the row itself; times :data:`WEIGHT`."""
        dots = np.asarray((x.lexical @ self._lexical_sums.T).todense())
        dots += x.dense @ self._dense_sums.T
        norms = np.tile(np.sqrt(self._squared_norms), (len(dots), 1))
        rows = np.arange(len(dots))
        own = dots[rows, targets]
        lengths = x.squared_lengths()
        dots[rows, targets] = own - lengths
        remaining = self._squared_norms[targets] - 2.0 * own + lengths
        norms[rows, targets] = np.sqrt(np.maximum(remaining, 0.0))
        similarities: Floats = np.zeros_like(dots)
        np.divide(dots, norms, out=similarities, where=norms > 1e-9)  # a one-example class: 0
        return WEIGHT * similarities

    def directions(self) -> sparse.csr_matrix:
        """The linear map from a feature row to its class features (features × classes):
        the normalised sums, times :data:`WEIGHT`."""
        norms = np.sqrt(self._squared_norms)
        scale = np.zeros_like(norms)
        np.divide(WEIGHT, norms, out=scale, where=norms > 1e-9)
        lexical = self._lexical_sums.multiply(scale[:, None]).T
        dense = sparse.csr_matrix(self._dense_sums.T * scale)
        return sparse.vstack([lexical, dense]).tocsr()
