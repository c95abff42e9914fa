#!/usr/bin/env python3
"""The store alone: what one turn's storage costs, without the engine, the channel or HTTP.

    .venv/bin/python benchmarks/store_turn.py                    # a temporary SQLite file
    .venv/bin/python benchmarks/store_turn.py --url postgresql+psycopg://root@127.0.0.1/DB

One chat at a time (concurrency 1), 50 chats in turn: ``chat_lock`` + ``turn`` (load the
customer and the open conversation, three transcript entries, two outbox messages, the
update id, commit) — the storage part of a customer turn. Prints the median and p95 wall
time per turn, the process's CPU per turn (writer thread included) and, once per four
turns, ``recent_transcript(50)`` (what an action's history read costs).

Made to compare two versions of ``storage/`` on a shared machine (A B A B): run it from
each checkout in turn (``python OTHER/benchmarks/store_turn.py`` imports OTHER's code).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import machine  # noqa: E402
from storage.records import OutboxMessage, TranscriptEntry  # noqa: E402
from storage.sql import SqlStore, open_store  # noqa: E402


async def turns(store: SqlStore, count: int, tag: str) -> list[float]:
    latencies = []
    for i in range(count):
        chat = f"c{i % 50}"
        started = time.perf_counter()
        async with (
            store.chat_lock(f"bench:{chat}"),
            store.turn(f"bench:{chat}", "bench", chat, f"{tag}-{i}") as turn,
        ):
            turn.conversation.state = {"slots": {"order": i}, "step_id": "ask"}
            turn.append(TranscriptEntry("in", "text", "where is my order"))
            turn.append(TranscriptEntry("out", "reply", "What's your order number?"))
            turn.append(TranscriptEntry("event", "step", data={"step": "ask", "flow": "x"}))
            turn.enqueue(OutboxMessage("bench", chat, {"text": "hi", "buttons": []}))
            turn.enqueue(OutboxMessage("bench", chat, {"text": "there", "buttons": []}))
        latencies.append(time.perf_counter() - started)
    return latencies


async def run(url: str, count: int) -> str:
    store = await open_store(url)
    try:
        await turns(store, 200, f"warm-{time.time()}")
        cpu = time.process_time()
        latencies = sorted(await turns(store, count, f"run-{time.time()}"))
        cpu = time.process_time() - cpu
        reads = max(1, count // 4)
        read_cpu = time.process_time()
        for i in range(reads):
            await store.recent_transcript(1 + i % 50, 50)
        read_cpu = time.process_time() - read_cpu
    finally:
        await store.close()
    return (
        f"{machine()}\n{ROOT.name} on {store.url.split(':', 1)[0]}: {count} turns, "
        f"median {statistics.median(latencies) * 1e3:.2f} ms, "
        f"p95 {latencies[int(count * 0.95)] * 1e3:.2f} ms, CPU {cpu / count * 1e3:.3f} ms "
        f"per turn; recent_transcript(50) CPU {read_cpu / reads * 1e3:.3f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="database URL (default: a temporary SQLite file)")
    parser.add_argument("--turns", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.url or f"sqlite:///{tmp}/store-turn.db"
        print(asyncio.run(run(url, args.turns)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
