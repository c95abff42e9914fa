#!/usr/bin/env python3
"""The router on BANKING77's held-out *training* messages: the dev set routing is tuned on.

    .venv/bin/python benchmarks/routing_dev.py [--data DIR] [--samples 12] [--dev 2000]

``benchmarks/routing.py`` scores the test set and must never be what a change is chosen
by. This is what it is chosen by instead (docs/ROUTING.md): for each of ``--samples``
seeds (101, 102, …), ten training messages per intent are the flows' triggers and
``--dev`` other training messages, drawn with the same seed, are scored by top-1 accuracy
of :class:`bot.engine.understanding.router.FlowRouter` as the worktree has it (small-talk
labels skipped). Effects of a change are a few tenths of a point, so compare per sample:
the samples differ by 2–3 points among themselves.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.routing import DEFAULT_DATA, read_data  # noqa: E402  (sets one BLAS thread)

SHOTS = 10
FIRST_SEED = 101


def split(
    train: Sequence[tuple[str, str]], seed: int, dev_size: int
) -> tuple[dict[str, list[str]], list[tuple[str, str]]]:
    """``SHOTS`` training texts per intent, and ``dev_size`` of the other training messages."""
    rng = random.Random(seed)
    by_intent: dict[str, list[int]] = {}
    for i, (_, intent) in enumerate(train):
        by_intent.setdefault(intent, []).append(i)
    chosen: set[int] = set()
    examples: dict[str, list[str]] = {}
    for intent in sorted(by_intent):
        picked = rng.sample(by_intent[intent], SHOTS)
        chosen.update(picked)
        examples[intent] = [train[i][0] for i in picked]
    rest = [i for i in range(len(train)) if i not in chosen]
    return examples, [train[i] for i in sorted(rng.sample(rest, dev_size))]


def accuracy(examples: dict[str, list[str]], dev: Sequence[tuple[str, str]]) -> float:
    from bot.engine.understanding.router import FlowRouter
    from bot.engine.understanding.small_talk import is_small_talk

    router = FlowRouter(examples)
    right = 0
    for text, intent in dev:
        ranked = (s.flow_id for s in router.rank(text) if not is_small_talk(s.flow_id))
        right += next(ranked, "") == intent
    return right / len(dev)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="BANKING77 folder")
    parser.add_argument("--samples", type=int, default=12, help="10-shot samples (seeds)")
    parser.add_argument("--dev", type=int, default=2000, help="held-out messages per sample")
    args = parser.parse_args(argv)
    train = read_data(args.data).train
    scores = []
    for seed in range(FIRST_SEED, FIRST_SEED + args.samples):
        scores.append(100 * accuracy(*split(train, seed, args.dev)))
        print(f"sample {seed}: {scores[-1]:.2f} %", flush=True)
    print(f"mean of {len(scores)} samples × {args.dev} held-out training messages: "
          f"{statistics.fmean(scores):.2f} %")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
