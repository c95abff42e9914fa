#!/usr/bin/env python3
"""Telegram webhook mode with 1 and 2 worker processes on one PostgreSQL database.

    .venv/bin/python benchmarks/telegram_scaleout.py \\
        --postgres postgresql+psycopg://root@127.0.0.1:5432/postgres

For each worker count a throw-away database is created (and dropped afterwards), the
schema is made once, and that many ``python -m bot run`` processes start in webhook
mode against the Bot API stand-in. One load generator plays ``--customers`` customers
(:data:`benchmarks.common.SCRIPT`), POSTing every update to the workers in turn, round
robin, the way a load balancer in front of the webhook would; ``--redeliver`` of the
updates are POSTed a second time to the *other* worker once the first answered
(Telegram redelivers when it misses an answer). The load generator waits for 200 before
the next update of a chat (as Telegram does per chat).

Checked afterwards: every chat received exactly the 15 replies supportbot gives in a
single-process run, in the same order (computed first, in this process, with the real
manager), so nothing was lost, doubled or reordered; and the database holds each update
id once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.common import (  # noqa: E402
    SCRIPT,
    cpu_seconds,
    latency_summary,
    machine,
    markdown_table,
    shipped_actions,
)
from benchmarks.core import Customer, load_shipped  # noqa: E402
from benchmarks.telegram_e2e import Outcome, TimedStandIn, customer, tail  # noqa: E402
from bot.conversation.manager import ConversationManager, FixedCatalog  # noqa: E402
from storage.sql import open_store  # noqa: E402
from tests.pg import PgServer  # noqa: E402
from tests.standins import free_port  # noqa: E402

SECRET = "bench-secret"


async def expected_texts() -> list[str]:
    """The replies of one customer playing SCRIPT, in order, from the real manager."""
    with tempfile.TemporaryDirectory() as tmp:
        store = await open_store(f"sqlite+aiosqlite:///{tmp}/oracle.db")
        manager = ConversationManager(store, FixedCatalog(load_shipped()), shipped_actions())
        player = Customer(1, "oracle")
        texts: list[str] = []
        for action, said, _count, expect in SCRIPT:
            replies = await manager.handle(player.inbound(action, said))
            player.check(expect, replies)
            texts += [r.text for r in replies]
        await store.close()
    return texts


async def wait_healthy(port: int, process: asyncio.subprocess.Process, log: Path) -> None:
    deadline = time.monotonic() + 60
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            if process.returncode is not None:
                raise SystemExit(f"worker exited:\n{tail(log)}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise SystemExit(f"worker not healthy in 60 s:\n{tail(log)}")


async def one_run(
    workers: int, url: str, args: argparse.Namespace, expected: list[str], workdir: Path
) -> dict[str, Any]:
    store = await open_store(url)  # the schema, once, before any worker starts
    await store.close()
    api = TimedStandIn()
    async with api:
        ports = [free_port() for _ in range(workers)]
        processes = []
        logs = []
        for index, port in enumerate(ports):
            env = dict(os.environ)
            env.update(
                TELEGRAM_BOT_TOKEN=api.token,
                TELEGRAM_API_BASE_URL=api.url,
                TELEGRAM_WEBHOOK_URL="https://bot.example/telegram/webhook",
                TELEGRAM_WEBHOOK_SECRET=SECRET,
                SUPPORTBOT_DATABASE_URL=url,
                SUPPORTBOT_HTTP_PORT=str(port),
                SUPPORTBOT_LOG_LEVEL="WARNING",
                SUPPORTBOT_PACING="false",  # machine-speed customers: measure the bot,
                SUPPORTBOT_FLOOD_MESSAGES="0",  # not the per-chat limits
            )
            log = workdir / f"w{workers}-{index}.log"
            logs.append(log)
            handle = log.open("wb")
            processes.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "bot", "run", cwd=ROOT, env=env,
                    stdout=handle, stderr=asyncio.subprocess.STDOUT,
                )
            )  # fmt: skip
            handle.close()
        try:
            for port, process, log in zip(ports, processes, logs, strict=True):
                await wait_healthy(port, process, log)
            return await drive(api, ports, processes, args, expected, url, workers)
        finally:
            for process in processes:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            for process in processes:
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()


async def drive(
    api: TimedStandIn,
    ports: list[int],
    processes: list[asyncio.subprocess.Process],
    args: argparse.Namespace,
    expected: list[str],
    url: str,
    workers: int,
) -> dict[str, Any]:
    limits = httpx.Limits(max_connections=args.customers, max_keepalive_connections=100)
    client = httpx.AsyncClient(timeout=60, limits=limits)
    turn = itertools.count()
    statuses: dict[int, int] = {}
    redelivered = 0

    async def post(port: int, update: dict[str, Any]) -> int:
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        for _ in range(10):  # Telegram retries anything but 2xx
            response = await client.post(
                f"http://127.0.0.1:{port}/telegram/webhook", json=update, headers=headers
            )
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if response.status_code == 200:
                return 200
            await asyncio.sleep(0.2)
        return response.status_code

    async def deliver(update: dict[str, Any]) -> None:
        nonlocal redelivered
        index = next(turn)
        first = ports[index % len(ports)]
        await post(first, update)
        if args.redeliver and index % round(1 / args.redeliver) == 0:
            redelivered += 1
            await post(ports[(index + 1) % len(ports)], update)

    outcome = Outcome()
    cpu_before = [cpu_seconds(p.pid) for p in processes]
    try:
        await asyncio.gather(
            *(customer(api, 200_000 + c, outcome, deliver) for c in range(args.customers))
        )
        await asyncio.sleep(1.0)  # late duplicates would arrive now
        cpu = sum(cpu_seconds(p.pid) - b for p, b in zip(processes, cpu_before, strict=True))
    finally:
        await client.aclose()
    wrong_order = 0
    for c in range(args.customers):
        texts = [m["text"] for _, m in api.inbox.get(200_000 + c, [])]
        wrong_order += texts != expected
    store = await open_store(url)
    try:
        reads, _ = store.engines
        async with reads.connect() as conn:
            rows = await conn.execute(
                text(
                    "SELECT count(*), count(DISTINCT update_id) FROM inbound_update "
                    "WHERE channel = 'telegram'"
                )
            )
            stored, distinct = rows.one()
    finally:
        await store.close()
    wall = outcome.last_reply - outcome.first_sent
    return {
        "workers": workers,
        "updates": len(outcome.latencies),
        "wall_s": wall,
        "updates_per_s": len(outcome.latencies) / wall if wall else 0.0,
        "latency_ms": latency_summary(outcome.latencies),
        "cpu_s": cpu,
        "redelivered": redelivered,
        "statuses": statuses,
        "lost": len(outcome.lost),
        "chats_not_as_expected": wrong_order,
        "update_ids_stored": stored,
        "update_ids_distinct": distinct,
    }


async def main_async(args: argparse.Namespace) -> list[dict[str, Any]]:
    expected = await expected_texts()  # also seeds $SHOP_DATABASE_URL for the workers
    server = PgServer(make_url(args.postgres))
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for _round in range(args.rounds):
            for workers in args.workers:
                print(f"{workers} worker(s) ...", file=sys.stderr, flush=True)
                url = server.create_database(prefix="supportbot_bench_")
                try:
                    result = await one_run(workers, url, args, expected, Path(tmp))
                finally:
                    server.drop_database(url)
                print(f"  {result['updates_per_s']:.1f} updates/s", file=sys.stderr, flush=True)
                results.append(result)
    return results


def report(results: list[dict[str, Any]]) -> str:
    rows = []
    for r in results:
        lat = r["latency_ms"]
        rows.append(
            (
                r["workers"],
                f"{r['updates']:,}",
                f"{r['wall_s']:.1f}",
                f"{r['updates_per_s']:.1f}",
                f"{lat['p50']:.0f} / {lat['p95']:.0f} / {lat['p99']:.0f}",
                f"{r['cpu_s']:.1f}",
                r["redelivered"],
                r["lost"],
                r["chats_not_as_expected"],
                f"{r['update_ids_stored']:,} / {r['update_ids_distinct']:,}",
                ", ".join(f"{k}: {v:,}" for k, v in sorted(r["statuses"].items())),
            )
        )
    header = (
        "workers", "updates", "wall s", "updates/s", "reply latency ms p50 / p95 / p99",
        "workers' CPU s", "redelivered", "lost turns", "chats not exactly as expected",
        "update ids stored / distinct", "webhook answers",
    )  # fmt: skip
    lines = [machine(), "", markdown_table(header, rows)]
    by: dict[int, list[float]] = {}
    for r in results:
        by.setdefault(r["workers"], []).append(r["updates_per_s"])
    if 1 in by and 2 in by:
        one, two = sum(by[1]) / len(by[1]), sum(by[2]) / len(by[2])
        lines += [
            "",
            f"throughput 2 workers / 1 worker = {two:.1f} / {one:.1f} = **{two / one:.2f}**",
        ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--postgres",
        default="postgresql+psycopg://root@127.0.0.1:5432/postgres",
        metavar="ADMIN_URL",
        help="a server where throw-away databases may be created",
    )
    parser.add_argument("--customers", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--rounds", type=int, default=1, help="repeat 1 2 (1 2 1 2 ...)")
    parser.add_argument("--redeliver", type=float, default=0.05, help="share POSTed twice")
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
