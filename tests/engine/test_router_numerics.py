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
from bot.engine.understanding.rows import Rows
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
    ours = SoftmaxRegression(_rows(x), targets, classes=4, c=30.0)
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


def _rows(x: sparse.csr_matrix, dense_columns: int = 0) -> Rows:
    """``x`` as the fit's rows: its last ``dense_columns`` as the dense part."""
    split = x.shape[1] - dense_columns
    return Rows(x[:, :split].tocsr(), x[:, split:].toarray())


def test_rows_multiply_as_one_matrix() -> None:
    words = Tfidf(words_and_pairs, TEXTS)
    x = words.transform(TEXTS)
    rows = _rows(x, dense_columns=5)
    weights = np.random.default_rng(2).normal(size=(x.shape[1], 3))
    values = np.random.default_rng(3).normal(size=(x.shape[0], 3))
    assert rows.shape == x.shape
    assert np.allclose(rows.times(weights), x @ weights)
    assert np.allclose(rows.transposed_times(values), x.T @ values)
    assert np.allclose(rows.squared_lengths(), (x.toarray() ** 2).sum(axis=1))
    wider = rows.with_dense(values)
    assert np.allclose(wider.times(np.vstack([weights, np.eye(3)])), x @ weights + values)


def _unit(vector: np.ndarray) -> np.ndarray:
    return vector / np.linalg.norm(vector)


def test_prototype_features_leave_the_example_itself_out() -> None:
    """An example is compared with its own flow's other examples, and with the whole of
    every other flow; a flow with one example gives its example nothing to be near."""
    words = Tfidf(words_and_pairs, TEXTS)
    x = words.transform(TEXTS)
    targets = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4])
    dense = x.toarray()
    rows = _rows(x, dense_columns=4)  # the centroids span both parts
    got = Prototypes(rows, targets, classes=5).left_out(rows, targets)
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
    rows = _rows(x, dense_columns=4)
    prototypes = Prototypes(rows, targets, classes=4)
    model = SoftmaxRegression(rows.with_dense(prototypes.left_out(rows, targets)), targets, 4, 30.0)
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
