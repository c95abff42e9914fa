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
    """``function (path/to/file.py:12)`` → the library or our top-level package."""
    match = FRAME.match(frame.strip())
    path = match.group("file") if match else frame
    if "site-packages/" in path:
        return path.split("site-packages/", 1)[1].split("/")[0].removesuffix(".py")
    for ours in ("bot/", "storage/", "benchmarks/", "tests/"):
        if path.startswith(ours) or f"/{ours}" in path:
            tail = path[path.find(ours) :] if not path.startswith(ours) else path
            return "/".join(tail.split("/")[:2]).removesuffix(".py")
    stdlib = re.search(r"python3\.\d+/([^/]+)", path)
    if stdlib:
        return "stdlib:" + stdlib.group(1).removesuffix(".py")
    return path or "(unknown)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("recording", type=Path)
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    leaf: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    total = 0
    for line in args.recording.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [f for f in stack.split(";") if "(" in f]  # drop the thread/process names
        if not frames:
            continue
        samples = int(count)
        total += samples
        leaf[package(frames[-1])] += samples
        for name in {package(f) for f in frames}:
            inclusive[name] += samples
    rows = [
        (name, f"{leaf[name] / total:.1%}", f"{inclusive[name] / total:.1%}")
        for name, _ in leaf.most_common(args.top)
    ]
    print(f"{total:,} samples")
    print(markdown_table(("package", "self (leaf) share", "inclusive share"), rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
