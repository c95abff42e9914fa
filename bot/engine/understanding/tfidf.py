"""TF-IDF features of normalised text: words and word pairs, and character n-grams.

Words (by their stems) carry what the customer literally said; character n-grams within each word
(padded with a space at both ends, as scikit-learn's ``char_wb``) carry its misspellings
("pasword", "refnud"). Both are the textbook definitions — smoothed idf
``ln((1 + n) / (1 + df)) + 1``, sublinear term frequency ``1 + ln(tf)``, rows of unit
length — written out over numpy and scipy.sparse instead of importing scikit-learn, whose
import alone costs ~80 MiB of every worker's memory for two small functions.

Input is :func:`bot.engine.matching.normalize`'d text: lower-case words separated by
single spaces.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import pairwise

import numpy as np
import numpy.typing as npt
import scipy.sparse as sparse

from bot.engine.understanding.stemming import stem

Analyzer = Callable[[str], Iterable[str]]
Columns = npt.NDArray[np.intp]
Floats = npt.NDArray[np.float64]


def words_and_pairs(text: str) -> Iterable[str]:
    """Each word of two letters or more, and each pair of neighbouring such words."""
    words = [w for w in text.split() if len(w) > 1]
    yield from words
    yield from (f"{a} {b}" for a, b in pairwise(words))


def stems_and_pairs(text: str) -> Iterable[str]:
    """:func:`words_and_pairs` of the words' stems: "charged twice" and "charging twice"
    are the same two terms and pair (:mod:`.stemming`)."""
    stems = [stem(w) for w in text.split() if len(w) > 1]
    yield from stems
    yield from (f"{a} {b}" for a, b in pairwise(stems))


def char_ngrams(low: int, high: int) -> Analyzer:
    """The ``low``…``high``-letter pieces of each space-padded word; a padded word shorter
    than ``n`` counts once, whole."""

    def analyze(text: str) -> Iterable[str]:
        for word in text.split():
            padded = f" {word} "
            for n in range(low, high + 1):
                if len(padded) <= n:
                    yield padded
                    break
                yield from (padded[i : i + n] for i in range(len(padded) - n + 1))

    return analyze


class Tfidf:
    """A vocabulary and its idf, fitted on example texts; turns texts into TF-IDF rows."""

    def __init__(self, analyzer: Analyzer, texts: Sequence[str]) -> None:
        self._analyze = analyzer
        document_frequency: Counter[str] = Counter()
        for text in texts:
            document_frequency.update(set(analyzer(text)))
        self.vocabulary = {term: i for i, term in enumerate(sorted(document_frequency))}
        df = np.array([document_frequency[t] for t in sorted(document_frequency)], dtype=float)
        self.idf = np.log((1 + len(texts)) / (1 + df)) + 1.0

    def row(self, text: str) -> tuple[Columns, Floats]:
        """The columns and unit-length TF-IDF values of one text; terms never seen in
        fitting are ignored."""
        counts = Counter(t for t in self._analyze(text) if t in self.vocabulary)
        columns = np.fromiter((self.vocabulary[t] for t in counts), np.intp, len(counts))
        values = 1.0 + np.log(np.fromiter(counts.values(), float, len(counts)))
        values *= self.idf[columns]
        length = float(np.linalg.norm(values))
        return columns, values / length if length else values

    def transform(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """One :meth:`row` per text, as a sparse matrix."""
        rows = [self.row(text) for text in texts]
        starts = np.cumsum([0, *(len(columns) for columns, _ in rows)])
        return sparse.csr_matrix(
            (
                np.concatenate([values for _, values in rows] or [np.zeros(0)]),
                np.concatenate([columns for columns, _ in rows] or [np.zeros(0, np.intp)]),
                starts,
            ),
            shape=(len(texts), len(self.vocabulary)),
        )
