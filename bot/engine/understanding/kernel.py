"""Random Fourier features of the sentence embedding: curved boundaries in meaning space.

The classifier is linear, so over the embedding alone each flow gets one direction: a flow
whose customers say two different kinds of thing ("my card hasn't come" and "how long does
a new card take") is a single half-space. ``cos(W·v + b)`` with ``W`` drawn from a normal
distribution of standard deviation ``1 / WIDTH`` makes the dot product of two messages'
features approximate a Gaussian kernel ``exp(-|u - v|² / (2 WIDTH²))`` of their
embeddings (Rahimi & Recht, "Random Features for Large-Scale Kernel Machines", NIPS
2007), so the same linear fit can score a message by the examples it is near. The draw
is fixed (one seed), so every process and every re-fit sees the same features.

Chosen on BANKING77's held-out training messages, not its test set (docs/ROUTING.md):
1,024 features of width 0.5 were as good as any size (512–2,048) and width (0.35–0.7)
tried. They cost one 256 × 1,024 product per message and 4 KiB of weights per flow.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FEATURES = 1024
WIDTH = 0.5
"""The kernel's length scale; unit-length embeddings lie within distance 2 of each other."""
SEED = 0
BLOCK = 64
"""Rows per matrix product: after one product over all of a large catalog's examples,
OpenBLAS kept ~10 MiB of packing buffers for the life of the worker; in blocks of 64
rows it keeps none (the router's memory budget is 150 MiB, docs/ROUTING.md)."""


class RandomFourierFeatures:
    """A fixed map from ``dimension``-wide vectors to :data:`FEATURES` kernel features."""

    def __init__(self, dimension: int) -> None:
        rng = np.random.default_rng(SEED)
        self._projection = rng.normal(0.0, 1.0 / WIDTH, (dimension, FEATURES)).astype(np.float32)
        self._phase = rng.uniform(0.0, 2.0 * np.pi, FEATURES).astype(np.float32)
        self._scale = np.float32(np.sqrt(2.0 / FEATURES))

    def __call__(self, vectors: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """One row of features per row of ``vectors``."""
        features = np.empty((len(vectors), FEATURES), dtype=np.float32)
        for start in range(0, len(vectors), BLOCK):
            block = features[start : start + BLOCK]
            np.matmul(vectors[start : start + BLOCK], self._projection, out=block)
            block += self._phase
            np.cos(block, out=block)
        features *= self._scale
        return features
