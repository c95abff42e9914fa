"""Free text → flows: a classifier fitted on the flows' titles and triggers at load time.

Each message becomes one feature vector: TF-IDF over words and word pairs (what the
customer literally said), TF-IDF over character n-grams (typos: "pasword", "refnud"),
and a static sentence embedding (meaning: "money back" near "refund"). A multinomial
logistic regression over those features gives each flow a probability; the built-in
small-talk classes (:mod:`.small_talk`) are fitted beside the flows. Chosen against the
alternatives on BANKING77 and the shipped flows' evaluation set (docs/ROUTING.md).

Fitting takes milliseconds for a shop's flows and a few seconds for thousands of
examples, so a hot reload re-fits without a training step or model files: triggers
stay the only thing an operator writes, and more triggers only add evidence.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sparse
import sklearn
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from bot.engine.matching import normalize
from bot.engine.understanding import small_talk
from bot.engine.understanding.embedding import Vectors, embed

EMBEDDING_WEIGHT = 2.0
"""How much the embedding counts beside the two TF-IDF parts (each of unit length)."""
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


class FlowRouter:
    """Ranks a catalog's flows for a message; built once per catalog."""

    def __init__(self, examples: Mapping[str, Sequence[str]]) -> None:
        """``examples``: each flow's title and triggers, by flow id."""
        labelled = {**small_talk.EXAMPLES, **{k: tuple(v) for k, v in examples.items() if v}}
        self.labels: tuple[str, ...] = tuple(sorted(labelled))
        texts = [normalize(t) for label in self.labels for t in labelled[label]]
        targets = np.array([i for i, label in enumerate(self.labels) for _ in labelled[label]])
        self._words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)
        self._chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True)
        self._words.fit(texts)
        self._chars.fit(texts)
        vectors = embed(texts)
        self._examples = vectors
        self._label_starts = np.searchsorted(targets, np.arange(len(self.labels)))
        self._classifier = LogisticRegression(C=REGULARISATION, max_iter=2000)
        # One BLAS thread: with the default pool, threads spinning for a small problem
        # made a re-fit 5-20x slower (0.3-1 s instead of 45 ms) on a busy 2-core machine.
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            self._classifier.fit(self._features(texts, vectors), targets)

    def _features(self, texts: list[str], vectors: Vectors) -> sparse.csr_matrix:
        return sparse.hstack(
            [
                self._words.transform(texts),
                self._chars.transform(texts),
                sparse.csr_matrix(vectors * EMBEDDING_WEIGHT),
            ]
        ).tocsr()

    def rank(self, text: str) -> list[FlowScore]:
        """Every flow and small-talk class for ``text``, most probable first."""
        norm = normalize(text)
        if not norm:
            return []
        vector = embed([norm])
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            features = self._features([norm], vector)
            probabilities = self._classifier.predict_proba(features)[0]
        # examples are grouped by label (see __init__): the best of each group
        nearest = np.maximum.reduceat(self._examples @ vector[0], self._label_starts)
        scores = [
            FlowScore(label, float(probabilities[i]), float(nearest[i]))
            for i, label in enumerate(self.labels)
        ]
        scores.sort(key=lambda s: (-s.probability, s.flow_id))
        return scores
