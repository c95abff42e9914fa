#!/usr/bin/env python3
"""Where a py-spy recording spent the CPU, by library: the leaf frame of every sample.

    .venv/bin/python benchmarks/spy_summary.py spy-supportbot-1.txt [--top 15]

Reads py-spy's ``--format raw`` output (one ``frame;frame;…;leaf count`` line per
distinct stack; idle threads are not sampled by default, so this is CPU time) and
prints the share of samples per package of the leaf frame, and per package anywhere on
the stack (inclusive: "how much CPU ran under SQLAlchemy").
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import markdown_table  # noqa: E402

FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def package(frame: str) -> str:
    """``function (path/to/file.py:12)`` → the library, stdlib module or package of ours.

    py-spy shortens paths to the part below ``sys.path`` (``aiosqlite/core.py``,
    ``asyncio/events.py``, ``bot/delivery.py``), so the first component names it.
    """
    match = FRAME.match(frame.strip())
    path = match.group("file") if match else frame
    if "site-packages/" in path:
        path = path.split("site-packages/", 1)[1]
    path = re.sub(r"^.*/python3\.\d+/", "", path).lstrip("/")
    if path.startswith(str(ROOT)):
        path = path[len(str(ROOT)) :].lstrip("/")
    parts = path.split("/")
    if parts[0] in ("bot", "storage", "benchmarks", "tests", "examples") and len(parts) > 1:
        return "/".join(parts[:2]).removesuffix(".py")
    name = parts[0].removesuffix(".py")
    if name in sys.stdlib_module_names:
        return f"stdlib:{name}"
    return name or "(unknown)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recording", type=Path)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument(
        "--exclude",
        metavar="REGEX",
        help="leave out samples whose stack matches (e.g. start-up: 'importlib|load_catalog')",
    )
    parser.add_argument(
        "--functions", action="store_true", help="also the top functions, self and inclusive"
    )
    args = parser.parse_args()
    exclude = re.compile(args.exclude) if args.exclude else None
    leaf: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    leaf_fn: collections.Counter[str] = collections.Counter()
    inclusive_fn: collections.Counter[str] = collections.Counter()
    total = 0
    for line in args.recording.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        if exclude is not None and exclude.search(stack):
            continue
        frames = [f for f in stack.split(";") if "(" in f]  # drop the thread/process names
        if not frames:
            continue
        samples = int(count)
        total += samples
        leaf[package(frames[-1])] += samples
        for name in {package(f) for f in frames}:
            inclusive[name] += samples
        leaf_fn[frames[-1].strip()] += samples
        for name in set(frames):
            inclusive_fn[name.strip()] += samples
    header = ("package", "self (leaf) share", "inclusive share")
    print(f"{total:,} samples; by self time:")
    rows = [
        (name, f"{leaf[name] / total:.1%}", f"{inclusive[name] / total:.1%}")
        for name, _ in leaf.most_common(args.top)
    ]
    print(markdown_table(header, rows))
    print("\nby inclusive time (the package anywhere on the stack):")
    rows = [
        (name, f"{leaf[name] / total:.1%}", f"{share / total:.1%}")
        for name, share in inclusive.most_common(args.top)
    ]
    print(markdown_table(header, rows))
    if args.functions:
        for title, counter in (("self", leaf_fn), ("inclusive", inclusive_fn)):
            print(f"\ntop functions, {title}:")
            rows = [(name, f"{n / total:.1%}") for name, n in counter.most_common(args.top)]
            print(markdown_table(("function", "share"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
