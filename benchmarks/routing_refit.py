"""What routing costs a running bot: the first fit (with the model load), a hot-reload
re-fit, one message's ranking, and the process's RSS — on a flows folder (default: the
shipped flows).

    .venv/bin/python benchmarks/routing_refit.py [--flows flows] [--personas personas]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MESSAGES = ("any update on my delivery", "money back for my order pls", "hello", "pasword?")


def rss_mib() -> float:
    status = Path("/proc/self/status").read_text()
    found = re.search(r"VmRSS:\s+(\d+)", status)
    return int(found.group(1)) / 1024 if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=Path, default=ROOT / "flows")
    parser.add_argument("--personas", type=Path, default=ROOT / "personas")
    parser.add_argument("--refits", type=int, default=10)
    args = parser.parse_args()
    start = rss_mib()
    from bot.engine.loader import load_catalog

    imported = rss_mib()

    def fitted() -> float:
        catalog, diagnostics = load_catalog(args.flows, args.personas)
        assert catalog is not None, diagnostics
        began = time.perf_counter()
        catalog.router()
        return time.perf_counter() - began

    first = fitted()
    after_first = rss_mib()
    refits = sorted(fitted() for _ in range(args.refits))
    catalog, _ = load_catalog(args.flows, args.personas)
    assert catalog is not None
    router = catalog.router()
    ranks = []
    for text in MESSAGES * 250:
        began = time.perf_counter()
        router.rank(text)
        ranks.append(time.perf_counter() - began)
    ranks.sort()
    print(f"flows: {args.flows} ({len(catalog.flows)} flows)")
    print(f"first fit, with the model load: {first * 1000:.0f} ms")
    print(f"re-fit (hot reload): median {statistics.median(refits) * 1000:.0f} ms, "
          f"max {refits[-1] * 1000:.0f} ms over {len(refits)}")  # fmt: skip
    print(f"rank one message: p50 {ranks[len(ranks) // 2] * 1000:.2f} ms, "
          f"p99 {ranks[int(len(ranks) * 0.99)] * 1000:.2f} ms")  # fmt: skip
    print(f"RSS: start {start:.0f} MiB, bot imported {imported:.0f} MiB, "
          f"after the first fit {after_first:.0f} MiB, at the end {rss_mib():.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
