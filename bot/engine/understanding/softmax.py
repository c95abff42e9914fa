"""Multinomial logistic regression (softmax), fitted with L-BFGS on sparse and dense rows.

The same model and objective as scikit-learn's ``LogisticRegression(C=…)`` with its
``lbfgs`` solver — mean cross-entropy plus an L2 penalty on the weights, not on the
intercepts, stopped when the largest gradient component is below ``1e-4`` — written out
over numpy and scipy.sparse. Importing scikit-learn (~80 MiB) or even scipy.optimize
(~30 MiB) into every worker for this one fit cost more memory than the fitted router, and
scipy's general-purpose L-BFGS-B spent four fifths of a fit on its own bookkeeping.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import scipy.sparse as sparse

from bot.engine.understanding.rows import Rows

Floats = npt.NDArray[np.float64]
History = deque[tuple[Floats, Floats, float]]
"""L-BFGS's recent steps ``s``, gradient changes ``y`` and ``1 / (y·s)``."""

HISTORY = 10
"""Correction pairs L-BFGS keeps (scikit-learn's and scipy's default)."""
GRADIENT_TOLERANCE = 1e-4


def log_softmax(logits: Floats) -> Floats:
    """Each row's log-probabilities, without overflow for large logits."""
    shifted: Floats = logits - logits.max(axis=1, keepdims=True)
    normaliser: Floats = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return shifted - normaliser


class SoftmaxRegression:
    """Class probabilities for feature rows; fitted once, at construction."""

    def __init__(
        self, x: Rows, targets: npt.NDArray[np.intp], classes: int, c: float,
        max_iterations: int = 2000,
    ) -> None:  # fmt: skip
        """``targets[i]`` is row ``i``'s class (0 … ``classes`` - 1); larger ``c`` trusts
        the examples more (the penalty is ``1 / (2 c n)`` of the squared weights beside
        the mean cross-entropy of the ``n`` rows)."""
        rows, features = x.shape
        one_hot = np.zeros((rows, classes))
        one_hot[np.arange(rows), targets] = 1.0
        penalty = 1.0 / (c * rows)

        def loss_and_gradient(flat: Floats) -> tuple[float, Floats]:
            weights = flat[:-classes].reshape(features, classes)
            log_p = log_softmax(x.times(weights) + flat[-classes:])
            error = (np.exp(log_p) - one_hot) / rows
            loss = -float(np.sum(one_hot * log_p)) / rows
            loss += 0.5 * penalty * float(np.sum(weights * weights))
            gradient = np.concatenate(
                [(x.transposed_times(error) + penalty * weights).ravel(), error.sum(axis=0)]
            )
            return loss, gradient

        solution = minimize_lbfgs(
            loss_and_gradient, np.zeros(features * classes + classes), max_iterations
        )
        self._weights = solution[:-classes].reshape(features, classes).astype(np.float32)
        self._intercepts = solution[-classes:].astype(np.float32)

    def absorb(self, linear_map: sparse.csr_matrix) -> None:
        """Fold the weights of the last ``m`` features into the first ``d``, when those
        ``m`` were computed from the first ``d`` as ``x @ linear_map`` (``d × m``): the
        model then scores rows of the first ``d`` features alone, with the same logits."""
        features, derived = linear_map.shape
        extra = self._weights[features:]
        if extra.shape[0] != derived:
            raise ValueError(f"expected {derived} derived features, the model has {len(extra)}")
        folded = self._weights[:features] + np.asarray(linear_map @ extra, dtype=np.float32)
        self._weights = np.ascontiguousarray(folded)

    def probabilities(self, columns: npt.NDArray[np.intp], values: Floats) -> Floats:
        """The class probabilities (summing to 1) of one sparse feature row: ``values`` at
        ``columns``. One message at a time, without building a sparse matrix: that
        bookkeeping cost more than the arithmetic."""
        logits: Floats = (values @ self._weights[columns] + self._intercepts).astype(float)
        probabilities: Floats = np.exp(log_softmax(logits[None, :]))[0]
        return probabilities


def minimize_lbfgs(
    loss_and_gradient: Callable[[Floats], tuple[float, Floats]], start: Floats,
    max_iterations: int,
) -> Floats:  # fmt: skip
    """The minimum of a smooth convex function by limited-memory BFGS (Nocedal & Wright,
    *Numerical Optimization*, algorithm 7.4) with a backtracking Armijo line search."""
    point = start
    loss, gradient = loss_and_gradient(point)
    history: History = deque(maxlen=HISTORY)
    for _ in range(max_iterations):
        if float(np.max(np.abs(gradient))) <= GRADIENT_TOLERANCE:
            break
        direction = -_inverse_hessian_times(gradient, history)
        slope = float(gradient @ direction)
        if slope >= 0:  # not a descent direction: forget the curvature, go downhill
            history.clear()
            direction, slope = -gradient, -float(gradient @ gradient)
        step = 1.0 if history else min(1.0, 1.0 / float(np.sum(np.abs(gradient))))
        for _ in range(50):
            candidate = point + step * direction
            new_loss, new_gradient = loss_and_gradient(candidate)
            if new_loss <= loss + 1e-4 * step * slope:
                break
            step *= 0.5
        else:
            break  # no decrease along the direction: as close as floating point gets
        s, y = candidate - point, new_gradient - gradient
        curvature = float(y @ s)
        if curvature > 1e-10:
            history.append((s, y, 1.0 / curvature))
        improvement = loss - new_loss
        point, loss, gradient = candidate, new_loss, new_gradient
        if improvement <= 64 * np.finfo(float).eps * max(abs(loss), 1.0):
            break
    return point


def _inverse_hessian_times(gradient: Floats, history: History) -> Floats:
    """The two-loop recursion: the L-BFGS estimate of the inverse Hessian times ``gradient``."""
    q = gradient.copy()
    alphas = []
    for s, y, rho in reversed(history):
        alpha = rho * float(s @ q)
        q -= alpha * y
        alphas.append(alpha)
    if history:
        s, y, _ = history[-1]
        q *= float(s @ y) / float(y @ y)
    for (s, y, rho), alpha in zip(history, reversed(alphas), strict=True):
        q += (alpha - rho * float(y @ q)) * s
    return q
