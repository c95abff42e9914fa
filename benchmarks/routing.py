#!/usr/bin/env python3
"""How well does free text → flow routing do on BANKING77, how fast, and at what memory?

    .venv/bin/python benchmarks/routing.py                  # the tables in docs/ROUTING.md
    .venv/bin/python benchmarks/routing.py --quick          # 10-shot, 500 test messages
    .venv/bin/python benchmarks/routing.py --json routing.json

BANKING77 (Casanueva et al. 2020, CC-BY-4.0; see the data folder's README): 77 online
banking intents, 10,003 training and 3,080 test messages. Each intent becomes a flow
whose triggers are its training examples — ``--shots 10`` of them per intent (sampled
with ``--seed``) and/or the ``full`` training set — and every approach below is fitted
on the same examples in the same run and scored by top-1 accuracy on the test set:

1. ``supportbot`` — :class:`bot.engine.understanding.router.FlowRouter` as shipped (its
   small-talk classes, ids starting with "_", are skipped when taking the top flow);
2. ``embedding nearest example`` — cosine to the nearest training example;
3. ``embedding centroid`` — cosine to each intent's mean embedding;
4. ``embedding + LR`` — logistic regression on the embeddings alone;
5. ``TF-IDF + LR (reference)`` — scikit-learn's out-of-the-box text classifier;
6. ``TF-IDF word+char + LR`` — supportbot's lexical features without the embedding;
7. ``rapidfuzz nearest trigger`` — the intent of the example with the best
   ``token_set_ratio``, what supportbot did before the router; slow on the full set, so
   there it is scored on a fixed random sample of ``--sample`` test messages.

Embeddings are :func:`bot.engine.understanding.embedding.embed` (the wordllama model
inside the wheel) of the same normalised text the router sees. Every test message is
one call, one message at a time, on one core (CPU 0, BLAS/OpenMP threads 1); p50/p99 are
over the first ``--timed`` of those calls (the test file's first 1,000 messages, or all
of a sample), in wall time and — beside it, as a shared machine preempts calls — in
this thread's CPU time. Fit time includes embedding the examples, not loading the model. RSS is
read from ``/proc/self/status`` before anything heavy is imported, after the imports and
the model, and after fitting supportbot's router on the full training set (done first,
before any other approach, so nothing else is counted in it).
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import platform
import random
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_variable] = "1"  # before numpy is imported (lazily, below): one BLAS thread

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import latency_summary, markdown_table, rss_mib  # noqa: E402

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "banking77"
FULL = "full"
BASELINE = "after importing the bot without routing (pydantic, SQLAlchemy, storage, flow schema)"

Examples = Mapping[str, Sequence[str]]
"""Training examples (a flow's triggers) by intent."""
Predict = Callable[[str], str]
"""A fitted approach: one message in, one intent out."""

TARGETS = {"10-shot accuracy": 0.82, "full accuracy": 0.92, "p99 ms": 5.0, "RSS growth MiB": 150.0}
AIM_10_SHOT = 0.85
PUBLISHED = {"10": 0.85, FULL: 0.93}
"""USE+ConveRT, Casanueva et al. 2020 (≈, as published; not measured here)."""
PUBLISHED_NAME = "USE+ConveRT (Casanueva et al. 2020; published, not measured here)"


# --- data -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Data:
    train: list[tuple[str, str]]
    """(text, intent) in file order."""
    test: list[tuple[str, str]]


def read_split(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return [(row["text"], row["category"]) for row in csv.DictReader(file)]


def read_data(folder: Path) -> Data:
    missing = [name for name in ("train.csv", "test.csv") if not (folder / name).is_file()]
    if missing:
        raise SystemExit(f"{folder}: no {', '.join(missing)} (pass --data DIR)")
    return Data(read_split(folder / "train.csv"), read_split(folder / "test.csv"))


def examples_for(train: Sequence[tuple[str, str]], shots: str, seed: int) -> dict[str, list[str]]:
    """Each intent's training texts: all of them, or ``shots`` sampled with ``seed``."""
    by_intent: dict[str, list[str]] = {}
    for text, intent in train:
        by_intent.setdefault(intent, []).append(text)
    if shots == FULL:
        return dict(sorted(by_intent.items()))
    rng = random.Random(seed)
    k = int(shots)
    return {
        intent: rng.sample(texts, min(k, len(texts))) for intent, texts in sorted(by_intent.items())
    }


def test_sample(test: Sequence[tuple[str, str]], size: int, seed: int) -> list[tuple[str, str]]:
    """A fixed random ``size`` test messages, in file order (the file is sorted by intent)."""
    if size >= len(test):
        return list(test)
    chosen = sorted(random.Random(seed).sample(range(len(test)), size))
    return [test[i] for i in chosen]


def flatten(examples: Examples) -> tuple[list[str], list[str]]:
    texts = [text for intent in examples for text in examples[intent]]
    labels = [intent for intent in examples for _ in examples[intent]]
    return texts, labels


# --- approaches -------------------------------------------------------------------------


def fit_supportbot(examples: Examples) -> Predict:
    """FlowRouter as shipped: the most probable label that is no small-talk class."""
    from bot.engine.understanding.router import FlowRouter
    from bot.engine.understanding.small_talk import is_small_talk

    router = FlowRouter(examples)

    def predict(text: str) -> str:
        return next((s.flow_id for s in router.rank(text) if not is_small_talk(s.flow_id)), "")

    return predict


def _embed_one(text: str) -> npt.NDArray[np.float32]:
    from bot.engine.matching import normalize
    from bot.engine.understanding.embedding import embed

    vector: npt.NDArray[np.float32] = embed([normalize(text)])[0]
    return vector


def _embed_examples(texts: Sequence[str]) -> npt.NDArray[np.float32]:
    from bot.engine.matching import normalize
    from bot.engine.understanding.embedding import embed

    return embed([normalize(t) for t in texts])


def fit_nearest_example(examples: Examples) -> Predict:
    """The intent of the training example with the highest cosine similarity."""
    import numpy as np

    texts, labels = flatten(examples)
    vectors = _embed_examples(texts)

    def predict(text: str) -> str:
        return labels[int(np.argmax(vectors @ _embed_one(text)))]

    return predict


def fit_centroid(examples: Examples) -> Predict:
    """The intent whose mean example embedding (re-normalised) is most similar."""
    import numpy as np

    intents = list(examples)
    centroids = np.stack([_embed_examples(examples[i]).mean(axis=0) for i in intents])
    centroids /= np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)

    def predict(text: str) -> str:
        return intents[int(np.argmax(centroids @ _embed_one(text)))]

    return predict


def _logistic_regression(c: float) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000)


def _fit_quietly(model: Any, x: Any, y: Sequence[str]) -> None:
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x, list(y))


def fit_embedding_lr(examples: Examples) -> Predict:
    """Logistic regression on the embeddings alone (supportbot's C=30)."""
    texts, labels = flatten(examples)
    classifier = _logistic_regression(30.0)
    _fit_quietly(classifier, _embed_examples(texts), labels)

    def predict(text: str) -> str:
        return str(classifier.predict(_embed_one(text)[None, :])[0])

    return predict


def fit_tfidf_reference(examples: Examples) -> Predict:
    """scikit-learn out of the box: TF-IDF words 1–2 (sublinear tf) + LogisticRegression
    with its default C=1, on the raw text."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    texts, labels = flatten(examples)
    pipeline = make_pipeline(
        TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True), _logistic_regression(1.0)
    )
    _fit_quietly(pipeline, texts, labels)

    def predict(text: str) -> str:
        return str(pipeline.predict([text])[0])

    return predict


def fit_tfidf_word_char(examples: Examples) -> Predict:
    """supportbot's two TF-IDF parts and classifier (C=30), without the embedding."""
    import scipy.sparse as sparse
    from sklearn.feature_extraction.text import TfidfVectorizer

    from bot.engine.matching import normalize

    texts, labels = flatten(examples)
    norm = [normalize(t) for t in texts]
    words = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(norm)
    chars = TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True).fit(norm)

    def features(batch: list[str]) -> Any:
        return sparse.hstack([words.transform(batch), chars.transform(batch)]).tocsr()

    classifier = _logistic_regression(30.0)
    _fit_quietly(classifier, features(norm), labels)

    def predict(text: str) -> str:
        return str(classifier.predict(features([normalize(text)]))[0])

    return predict


def fit_rapidfuzz(examples: Examples) -> Predict:
    """The intent of the example with the best ``fuzz.token_set_ratio`` (lower-cased);
    ties go to the first such example."""
    from rapidfuzz import fuzz, process

    texts, labels = flatten(examples)
    choices = [t.lower() for t in texts]

    def predict(text: str) -> str:
        best = process.extractOne(text.lower(), choices, scorer=fuzz.token_set_ratio)
        return labels[best[2]] if best else ""

    return predict


@dataclass(frozen=True, slots=True)
class Approach:
    name: str
    fit: Callable[[Examples], Predict]
    sampled_on_full: bool = False
    """Scored on ``--sample`` test messages for the full training set (too slow for all)."""


SUPPORTBOT = "supportbot"
APPROACHES: tuple[Approach, ...] = (
    Approach(SUPPORTBOT, fit_supportbot),
    Approach("embedding nearest example", fit_nearest_example),
    Approach("embedding centroid", fit_centroid),
    Approach("embedding + LR", fit_embedding_lr),
    Approach("TF-IDF + LR (reference)", fit_tfidf_reference),
    Approach("TF-IDF word+char + LR", fit_tfidf_word_char),
    Approach("rapidfuzz nearest trigger", fit_rapidfuzz, sampled_on_full=True),
)


# --- measuring --------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    setting: str
    """"10-shot" or "full"."""
    approach: str
    examples: int
    evaluated: int
    evaluated_on: str
    correct: int
    accuracy: float
    fit_s: float
    timed: int
    latency_ms: dict[str, float]
    """Wall time per call: p50, p95, p99, max over the timed calls."""
    cpu_latency_ms: dict[str, float]
    """This thread's CPU time per call, the same (what is left when another process on
    the core preempts a call: the machine is shared)."""
    latency_all_ms: dict[str, float]
    """Wall time over every evaluated call."""


@dataclass(slots=True)
class Memory:
    points: list[dict[str, Any]] = field(default_factory=list)

    def mark(self, what: str) -> None:
        current, peak = rss_mib()
        self.points.append({"what": what, "rss_mib": current, "peak_mib": peak})

    def growth(self, since: int = 0) -> tuple[float, float]:
        """(VmRSS, VmHWM) growth from point ``since`` to the last, in MiB."""
        first, last = self.points[since], self.points[-1]
        return last["rss_mib"] - first["rss_mib"], last["peak_mib"] - first["peak_mib"]


def setting_name(shots: str) -> str:
    return FULL if shots == FULL else f"{shots}-shot"


def timed_fit(approach: Approach, examples: Examples) -> tuple[Predict, float]:
    gc.collect()
    started = time.perf_counter()
    predict = approach.fit(examples)
    return predict, time.perf_counter() - started


def evaluate(
    approach: Approach,
    shots: str,
    examples: Examples,
    test: Sequence[tuple[str, str]],
    evaluated_on: str,
    timed: int,
    fitted: tuple[Predict, float] | None = None,
) -> Result:
    """Fit (unless ``fitted``), then predict every test message one call at a time."""
    predict, fit_s = fitted or timed_fit(approach, examples)
    gc.collect()
    seconds: list[float] = []
    cpu_seconds: list[float] = []
    correct = 0
    for text, intent in test:
        started, cpu = time.perf_counter(), time.thread_time()
        guess = predict(text)
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.thread_time() - cpu)
        correct += guess == intent
    return Result(
        setting=setting_name(shots),
        approach=approach.name,
        examples=sum(len(v) for v in examples.values()),
        evaluated=len(test),
        evaluated_on=evaluated_on,
        correct=correct,
        accuracy=correct / len(test),
        fit_s=fit_s,
        timed=min(timed, len(test)),
        latency_ms=latency_summary(seconds[:timed]),
        cpu_latency_ms=latency_summary(cpu_seconds[:timed]),
        latency_all_ms=latency_summary(seconds),
    )


def load_model(memory: Memory) -> None:
    """Import the bot, then the routing stack, then load the embedding model, with RSS after
    each: what routing costs is measured from the bot without it (``BASELINE``)."""
    import bot.engine.matching
    import bot.engine.schema
    import storage.sql  # noqa: F401

    if "numpy" in sys.modules:  # the baseline would already hold part of routing's cost
        raise RuntimeError("numpy was imported before the routing stack; fix the baseline")
    memory.mark(BASELINE)
    import numpy  # noqa: F401
    import scipy.sparse  # noqa: F401

    import bot.engine.understanding.router  # noqa: F401
    from bot.engine.understanding.embedding import embed

    memory.mark("after importing numpy, scipy.sparse, wordllama, the router")
    embed(["warm up"])
    memory.mark("after loading the embedding model")


def run(args: argparse.Namespace, data: Data, memory: Memory) -> list[Result]:
    load_model(memory)
    settings: list[str] = args.shots
    test_all: list[tuple[str, str]] = data.test
    sample = test_sample(data.test, args.sample, args.seed)
    sample_note = f"random {len(sample)} of {len(data.test)} (seed {args.seed})"
    all_note = f"all {len(data.test)}"

    # supportbot's router on the largest setting first: the RSS figures count it alone
    largest = FULL if FULL in settings else max(settings, key=int)
    examples = {s: examples_for(data.train, s, args.seed) for s in settings}
    fitted: tuple[Predict, float] | None = timed_fit(APPROACHES[0], examples[largest])
    memory.mark(f"after fitting supportbot's router ({setting_name(largest)})")

    results: list[Result] = []
    for shots in settings:
        for approach in APPROACHES:
            sampled = args.quick or (approach.sampled_on_full and shots == FULL)
            test, note = (sample, sample_note) if sampled else (test_all, all_note)
            prefit = fitted if approach.name == SUPPORTBOT and shots == largest else None
            result = evaluate(approach, shots, examples[shots], test, note, args.timed, prefit)
            results.append(result)
            print(
                f"  {result.setting:>8}  {approach.name:<26} {result.accuracy:6.1%}  "
                f"fit {result.fit_s:6.2f} s  p50 {result.latency_ms['p50']:.3f} ms  "
                f"p99 {result.latency_ms['p99']:.3f} ms",
                file=sys.stderr,
                flush=True,
            )
        if shots == largest:
            fitted = None  # let the router go
    return results


# --- reporting --------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def machine() -> dict[str, Any]:
    from importlib.metadata import version

    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": cpu_model(),
        "cpus": os.cpu_count(),
        "pinned_to": affinity,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "versions": {
            name: version(name)
            for name in ("numpy", "scipy", "scikit-learn", "wordllama", "rapidfuzz")
        },
    }


def verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def targets(results: Sequence[Result], memory: Memory) -> list[tuple[str, str, str, str]]:
    """(target, value, threshold, met/missed) for supportbot."""
    ours = {r.setting: r for r in results if r.approach == SUPPORTBOT}
    rows: list[tuple[str, str, str, str]] = []
    if "10-shot" in ours:
        acc = ours["10-shot"].accuracy
        threshold = TARGETS["10-shot accuracy"]
        aim = "aim met" if acc >= AIM_10_SHOT else f"aim {AIM_10_SHOT:.0%} missed"
        rows.append(
            (
                "10-shot accuracy",
                f"{acc:.1%}",
                f"≥ {threshold:.0%}",
                f"{verdict(acc >= threshold)} ({aim})",
            )
        )
    if FULL in ours:
        acc = ours[FULL].accuracy
        threshold = TARGETS["full accuracy"]
        rows.append(
            ("full accuracy", f"{acc:.1%}", f"≥ {threshold:.0%}", verdict(acc >= threshold))
        )
    for setting, r in ours.items():
        p99 = r.latency_ms["p99"]
        rows.append(
            (
                f"p99 per message, {setting}, one core (wall; CPU time beside)",
                f"{p99:.2f} ms (CPU {r.cpu_latency_ms['p99']:.2f} ms)",
                f"≤ {TARGETS['p99 ms']:.0f} ms",
                verdict(p99 <= TARGETS["p99 ms"]),
            )
        )
    limit = TARGETS["RSS growth MiB"]
    fitted_on = memory.points[-1]["what"].removeprefix("after ")
    baseline = next(i for i, p in enumerate(memory.points) if p["what"] == BASELINE)
    rss, peak = memory.growth(since=baseline)
    fit_rss, _ = memory.growth(since=len(memory.points) - 2)
    for what, value in (
        (f"RSS growth (VmRSS), bot without routing → {fitted_on}", rss),
        (f"peak RSS growth (VmHWM), bot without routing → {fitted_on}", peak),
        ("RSS growth of the fit alone (VmRSS, model loaded → fitted)", fit_rss),
    ):
        rows.append((what, f"{value:.0f} MiB", f"≤ {limit:.0f} MiB", verdict(value <= limit)))
    return rows


def report(results: Sequence[Result], memory: Memory, info: dict[str, Any]) -> str:
    m = info["machine"]
    lines = [
        f"BANKING77 routing — {m['cpu']}, {m['cpus']} CPUs (pinned to {m['pinned_to']}), "
        f"Python {m['python']}, load average {m['load_average']}",
        ", ".join(f"{k} {v}" for k, v in m["versions"].items()),
        "",
    ]
    settings = list(dict.fromkeys(r.setting for r in results))
    for setting in settings:
        rows: list[Sequence[object]] = []
        for r in (r for r in results if r.setting == setting):
            rows.append(
                (
                    r.approach,
                    f"{r.accuracy:.1%}",
                    f"{r.correct:,} / {r.evaluated:,}",
                    r.evaluated_on,
                    f"{r.fit_s:.2f}",
                    f"{r.latency_ms['p50']:.3f}",
                    f"{r.latency_ms['p99']:.3f}",
                    f"{r.cpu_latency_ms['p99']:.3f}",
                    r.timed,
                )
            )
        published = PUBLISHED.get(setting.removesuffix("-shot"))
        if published is not None:
            rows.append((PUBLISHED_NAME, f"≈ {published:.0%}", *[""] * 7))
        examples = next(r.examples for r in results if r.setting == setting)
        lines.append(f"{setting} ({examples:,} training examples, 77 intents):")
        header = (
            "approach",
            "accuracy",
            "correct",
            "test messages",
            "fit s",
            "p50 ms",
            "p99 ms",
            "p99 CPU ms",
            "timed calls",
        )
        lines += [markdown_table(header, rows), ""]
    lines.append("memory (this process):")
    lines.append(
        markdown_table(
            ("point", "VmRSS MiB", "VmHWM (peak) MiB"),
            [(p["what"], f"{p['rss_mib']:.0f}", f"{p['peak_mib']:.0f}") for p in memory.points],
        )
    )
    lines += ["", "targets (supportbot):"]
    lines.append(
        markdown_table(("target", "value", "threshold", "verdict"), targets(results, memory))
    )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=DEFAULT_DATA,
        help="BANKING77 folder with train.csv and test.csv (default: %(default)s)",
    )
    parser.add_argument(
        "--shots",
        nargs="+",
        default=["10", FULL],
        metavar="K|full",
        help="examples per intent (sampled from train), or the full set (default: 10 full)",
    )
    parser.add_argument("--seed", type=int, default=7, help="for the k-shot and test samples")
    parser.add_argument("--timed", type=int, default=1000, help="calls in p50/p99 (first N)")
    parser.add_argument(
        "--sample",
        type=int,
        default=500,
        help="test messages for rapidfuzz on the full set and for --quick",
    )
    parser.add_argument("--quick", action="store_true", help="10-shot only, --sample messages")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write every figure here")
    args = parser.parse_args(argv)
    if args.quick:
        args.shots = ["10"]
    for shots in args.shots:
        if shots != FULL and not (shots.isdigit() and int(shots) > 0):
            parser.error(f"--shots: {shots!r} is neither a positive number nor 'full'")
    args.shots = list(dict.fromkeys(args.shots))
    return args


def main(argv: Sequence[str] | None = None) -> int:
    memory = Memory()
    memory.mark("start (nothing heavy imported)")
    args = parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    data = read_data(args.data)
    started = time.perf_counter()
    results = run(args, data, memory)
    info = {
        "machine": machine(),
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "wall_s": time.perf_counter() - started,
    }
    print(report(results, memory, info))
    if args.json:
        figures = {
            **info,
            "results": [asdict(r) for r in results],
            "memory": memory.points,
            "rss_growth_mib": dict(zip(("rss", "peak"), memory.growth(since=1), strict=True)),
            "targets": [
                dict(zip(("target", "value", "threshold", "verdict"), row, strict=True))
                for row in targets(results, memory)
            ],
            "published": {"name": PUBLISHED_NAME, "accuracy": PUBLISHED},
        }
        args.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
