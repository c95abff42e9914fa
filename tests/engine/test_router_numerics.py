"""The router's own TF-IDF and softmax regression equal the textbook ones (scikit-learn's).

supportbot computes them over numpy/scipy instead of importing scikit-learn at run time
(docs/ROUTING.md); scikit-learn is a development dependency only, so these tests hold the
two implementations to the same numbers: if a refactor changed a formula, routing would
silently change for every operator.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from bot.engine.understanding.kernel import WIDTH, RandomFourierFeatures
from bot.engine.understanding.prototypes import WEIGHT, Prototypes
from bot.engine.understanding.softmax import SoftmaxRegression
from bot.engine.understanding.tfidf import Tfidf, char_ngrams, stems_and_pairs, words_and_pairs

TEXTS = [
    "where is my order",
    "my order has not arrived yet",
    "i want my money back",
    "refund please i returned it a week ago",
    "the parcel arrived damaged",
    "box was crushed and the mug is broken",
    "i forgot my password",
    "cant log in reset my pasword",
    "a b cc",
]
UNSEEN = ["wheres my parcel", "money back for the broken mug", "zzz", ""]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (Tfidf(words_and_pairs, TEXTS), TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
        (
            Tfidf(stems_and_pairs, TEXTS),
            TfidfVectorizer(analyzer=lambda t: list(stems_and_pairs(t)), sublinear_tf=True),
        ),
        (
            Tfidf(char_ngrams(2, 5), TEXTS),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True),
        ),
    ],
    ids=["words", "stems", "chars"],
)
def test_tfidf_equals_scikit_learn(ours: Tfidf, theirs: TfidfVectorizer) -> None:
    theirs.fit(TEXTS)
    assert ours.vocabulary == theirs.vocabulary_
    for texts in (TEXTS, UNSEEN):
        expected = theirs.transform(texts).toarray()
        assert np.allclose(ours.transform(texts).toarray(), expected)


def test_softmax_regression_equals_scikit_learn() -> None:
    words = Tfidf(words_and_pairs, TEXTS)
    x = words.transform(TEXTS)
    targets = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3])
    ours = SoftmaxRegression(x, targets, classes=4, c=30.0)
    theirs = LogisticRegression(C=30.0, max_iter=2000, tol=1e-8).fit(x, targets)
    probe = TEXTS + UNSEEN
    got = np.array([ours.probabilities(*words.row(text)) for text in probe])
    assert np.allclose(got.sum(axis=1), 1.0)
    assert np.abs(got - theirs.predict_proba(words.transform(probe))).max() < 0.01
    assert list(got[: len(TEXTS)].argmax(axis=1)) == list(targets)


def test_random_fourier_features_approximate_the_gaussian_kernel() -> None:
    """Two messages' kernel features have the dot product of a Gaussian kernel of their
    embeddings: near 1 for near messages, near 0 for unrelated ones."""
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(40, 256)).astype(np.float32)
    vectors[20:] = vectors[:20] + 0.02 * rng.normal(size=(20, 256)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    features = RandomFourierFeatures(256)(vectors)
    squared_distances = ((vectors[:, None, :] - vectors[None, :, :]) ** 2).sum(axis=2)
    kernel = np.exp(-squared_distances / (2 * WIDTH**2))
    assert np.abs(features @ features.T - kernel).max() < 0.15
    assert np.array_equal(features, RandomFourierFeatures(256)(vectors))  # the same draw


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def test_prototype_features_leave_the_example_itself_out() -> None:
    """An example is compared with its own flow's other examples, and with the whole of
    every other flow; a flow with one example gives its example nothing to be near."""
    words = Tfidf(words_and_pairs, TEXTS)
    x = words.transform(TEXTS)
    targets = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4])
    dense = x.toarray()
    got = Prototypes(x, targets, classes=5).left_out(x, targets)
    for i, row in enumerate(dense):
        for c in range(5):
            members = [j for j in np.flatnonzero(targets == c) if j != i]
            expected = row @ _unit(dense[members].sum(axis=0)) if members else 0.0
            assert got[i, c] == pytest.approx(WEIGHT * expected, abs=1e-9)


def test_absorbed_prototype_features_score_as_before() -> None:
    """Folding the centroid features' weights into the others leaves every probability as
    it was with the centroid features computed for the message."""
    words = Tfidf(words_and_pairs, TEXTS)
    x = words.transform(TEXTS)
    targets = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3])
    prototypes = Prototypes(x, targets, classes=4)
    model = SoftmaxRegression(
        sparse.hstack([x, prototypes.left_out(x, targets)]).tocsr(), targets, 4, c=30.0
    )
    directions = prototypes.directions()
    probe = TEXTS + UNSEEN
    before = []
    for text in probe:
        columns, values = words.row(text)
        derived = values @ directions[columns].toarray()
        before.append(
            model.probabilities(
                np.concatenate([columns, len(words.vocabulary) + np.arange(4)]),
                np.concatenate([values, derived]),
            )
        )
    model.absorb(directions)
    after = [model.probabilities(*words.row(text)) for text in probe]
    assert np.allclose(before, after, atol=1e-5)
    with pytest.raises(ValueError, match="derived features"):
        model.absorb(directions)
