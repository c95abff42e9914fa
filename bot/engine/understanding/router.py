"""Free text → flows: a classifier fitted on the flows' titles and triggers at load time.

Each message becomes one feature vector: TF-IDF over word stems and stem pairs (what the
customer literally said), TF-IDF over character n-grams (typos: "pasword", "refnud"),
a static sentence embedding (meaning: "money back" near "refund") and random Fourier
features of it (which examples the message is near, :mod:`.kernel`). A multinomial
logistic regression over those features, and each flow's centroid of them
(:mod:`.prototypes`), gives each flow a probability; the built-in
small-talk classes (:mod:`.small_talk`) are fitted beside the flows. Chosen against the
alternatives on BANKING77 and the shipped flows' evaluation set (docs/ROUTING.md).

Fitting takes milliseconds for a shop's flows and a few seconds for thousands of
examples, so a hot reload re-fits without a training step or model files: triggers
stay the only thing an operator writes, and more triggers only add evidence.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse
from threadpoolctl import threadpool_limits

from bot.engine.matching import normalize
from bot.engine.understanding import small_talk
from bot.engine.understanding.embedding import Vectors, embed, is_whole_token
from bot.engine.understanding.kernel import FEATURES, RandomFourierFeatures
from bot.engine.understanding.prototypes import Prototypes
from bot.engine.understanding.rows import Rows
from bot.engine.understanding.softmax import SoftmaxRegression
from bot.engine.understanding.spelling import Speller
from bot.engine.understanding.tfidf import Tfidf, char_ngrams, stems_and_pairs

EMBEDDING_WEIGHT = 2.0
"""How much the embedding counts beside the two TF-IDF parts (each of unit length)."""
KERNEL_WEIGHT = 0.7
"""How much the embedding's random Fourier features count (their length is about 1): at
1.0 the shipped flows' dev half lost two right starts to "Did you mean" (docs/ROUTING.md)."""
REGULARISATION = 30.0
"""LogisticRegression's ``C``: larger trusts the few examples more."""


@dataclass(frozen=True, slots=True)
class FlowScore:
    """How a flow (or a small-talk class) scores for one message."""

    flow_id: str
    probability: float
    """The classifier's probability, over the flows and the small-talk classes."""
    similarity: float
    """Cosine similarity of the message to the flow's nearest example (-1 … 1)."""


def return_freed_memory() -> None:
    """Hand the fit's freed scratch memory back to the operating system.

    glibc keeps freed heap for reuse, and after fitting thousands of examples that was
    ~100 MiB a worker held for nothing (docs/ROUTING.md); ``malloc_trim`` returns it.
    Elsewhere (musl, macOS) there is no such call and nothing to do.
    """
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name) if name else None
    if libc is not None and hasattr(libc, "malloc_trim"):
        libc.malloc_trim(0)


class FlowRouter:
    """Ranks a catalog's flows for a message; built once per catalog."""

    def __init__(self, examples: Mapping[str, Sequence[str]]) -> None:
        """``examples``: each flow's title and triggers, by flow id."""
        labelled = {**small_talk.EXAMPLES, **{k: tuple(v) for k, v in examples.items() if v}}
        self.labels: tuple[str, ...] = tuple(sorted(labelled))
        texts = [normalize(t) for label in self.labels for t in labelled[label]]
        targets = np.array([i for i, label in enumerate(self.labels) for _ in labelled[label]])
        self._speller = Speller(texts, is_whole_token)
        self._words = Tfidf(stems_and_pairs, texts)
        self._chars = Tfidf(char_ngrams(2, 5), texts)
        vectors = embed(texts)
        self._examples = vectors
        self._kernel = RandomFourierFeatures(vectors.shape[1])
        self._char_offset = len(self._words.vocabulary)
        self._dense_columns = np.arange(
            self._char_offset + len(self._chars.vocabulary),
            self._char_offset + len(self._chars.vocabulary) + vectors.shape[1] + FEATURES,
        )
        self._label_starts = np.searchsorted(targets, np.arange(len(self.labels)))
        # One BLAS thread: with the default pool, threads spinning for a small problem
        # made a re-fit 5-20x slower (0.3-1 s instead of 45 ms) on a busy 2-core machine.
        with threadpool_limits(1):
            features = self._features(texts, vectors)
            prototypes = Prototypes(features, targets, len(self.labels))
            rows = features.with_dense(prototypes.left_out(features, targets))
            del features  # one copy fewer held through the fit (~110 MiB for 10,000 examples)
            self._classifier = SoftmaxRegression(rows, targets, len(self.labels), REGULARISATION)
            self._classifier.absorb(prototypes.directions())
        del rows, prototypes  # freed before their memory is handed back below
        return_freed_memory()

    def _features(self, texts: list[str], vectors: Vectors) -> Rows:
        """The examples' feature rows: word TF-IDF, character TF-IDF, the embedding and
        its kernel features."""
        lexical = sparse.hstack([self._words.transform(texts), self._chars.transform(texts)])
        return Rows(lexical.tocsr(), self._dense(vectors).astype(np.float64))

    def _dense(self, vectors: Vectors) -> Vectors:
        """The embedding part of the feature rows: the weighted embedding, then its
        weighted random Fourier features."""
        return np.hstack(
            [vectors * EMBEDDING_WEIGHT, self._kernel(vectors) * KERNEL_WEIGHT], dtype=np.float32
        )

    def rank(self, text: str) -> list[FlowScore]:
        """Every flow and small-talk class for ``text``, most probable first."""
        norm = self._speller.correct(small_talk.without_greeting(normalize(text)))
        if not norm:
            return []
        vector = embed([norm])
        word_columns, word_values = self._words.row(norm)
        char_columns, char_values = self._chars.row(norm)
        probabilities = self._classifier.probabilities(
            np.concatenate([word_columns, char_columns + self._char_offset, self._dense_columns]),
            np.concatenate([word_values, char_values, self._dense(vector)[0]]),
        )
        # examples are grouped by label (see __init__): the best of each group
        nearest = np.maximum.reduceat(self._examples @ vector[0], self._label_starts)
        scores = [
            FlowScore(label, float(probabilities[i]), float(nearest[i]))
            for i, label in enumerate(self.labels)
        ]
        scores.sort(key=lambda s: (-s.probability, s.flow_id))
        return scores
