#!/usr/bin/env python3
"""Does one flooding chat slow everyone else down? Calm customers' reply latency with
and without a 300-message flood, the bot in its own process.

    .venv/bin/python benchmarks/flood.py                   # long polling, 20 calm customers
    .venv/bin/python benchmarks/flood.py --webhook --customers 50

``python -m bot run`` (as shipped: flood protection and pacing at their defaults) serves
the Bot API stand-in of ``tests/standins/telegram_api.py``. Phase one: ``--customers``
calm customers play :data:`benchmarks.common.SCRIPT` at once (each sends its next
update about ``--think`` seconds (0.5–1.5 ×) after the previous turn's replies arrived, as a person
would). Phase two: as many fresh customers do the same while one more chat sends
``--flood`` messages — all at once for long polling
(a backlog), one after the other for webhooks (Telegram sends a chat's updates one at a
time, each after our answer). Reported per phase: reply latency p50 / p95 / max (update
made available → the turn's last reply at the stand-in); then what the flooder got and
how many of its messages the transcript holds.

With pacing on, a calm customer's latency includes its own chat's pacing (three
messages at once, then one a second), the same in both phases; ``--no-pacing`` shows
the bot alone.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from benchmarks.common import ensure_shop_database, latency_summary, machine  # noqa: E402
from benchmarks.telegram_e2e import Outcome as Turns  # noqa: E402
from benchmarks.telegram_e2e import TimedStandIn, customer, tail  # noqa: E402
from tests.standins import free_port  # noqa: E402
from tests.standins.telegram_api import text_update, user_json, wait_until  # noqa: E402

SECRET = "flood-benchmark-secret"
FLOODER = 99_999


async def run(args: argparse.Namespace, workdir: Path) -> str:
    api = TimedStandIn()
    async with api:
        port = free_port()
        database = workdir / "flood.db"
        env = {
            **os.environ,
            "TELEGRAM_BOT_TOKEN": api.token,
            "TELEGRAM_API_BASE_URL": api.url,
            "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{database}",
            "SUPPORTBOT_HTTP_PORT": str(port),
            "SUPPORTBOT_LOG_LEVEL": "WARNING",
            "SUPPORTBOT_PACING": "true" if args.pacing else "false",
        }
        if args.webhook:
            env["TELEGRAM_WEBHOOK_URL"] = "https://bot.example/telegram/webhook"
            env["TELEGRAM_WEBHOOK_SECRET"] = SECRET
        log_path = workdir / "bot.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=ROOT, env=env, stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )  # fmt: skip
            try:
                return await drive(api, port, args, log_path, database)
            finally:
                process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(process.wait(), 30)
                except TimeoutError:
                    process.kill()


async def drive(
    api: TimedStandIn, port: int, args: argparse.Namespace, log_path: Path, database: Path
) -> str:
    ready = "setWebhook" if args.webhook else "getUpdates"
    api.record_calls = True
    deadline = time.monotonic() + 60
    while not api.calls_of(ready):
        if time.monotonic() > deadline:
            raise SystemExit(f"the bot did not start:\n{tail(log_path)}")
        await asyncio.sleep(0.05)
    api.record_calls = False
    await asyncio.sleep(1.0)
    client = httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=200))
    url = f"http://127.0.0.1:{port}/telegram/webhook"

    async def post(update: dict[str, Any]) -> object:
        response = await client.post(
            url, json=update, headers={"X-Telegram-Bot-Api-Secret-Token": SECRET}
        )
        response.raise_for_status()
        return None

    deliver = post if args.webhook else None
    try:
        calm = Turns()
        await asyncio.gather(
            *(customer(api, 1000 + c, calm, deliver, args.think) for c in range(args.customers))
        )
        flooder = user_json(FLOODER, "Flo")
        calm_done = asyncio.Event()
        sent: list[str] = []

        async def send(texts: list[str]) -> None:
            sent.extend(texts)
            if args.webhook:  # one at a time, each after our answer
                for words in texts:
                    update = text_update(flooder, words)
                    update["update_id"] = api.next_update_id()
                    await post(update)
            else:  # a backlog, there for the next poll
                for words in texts:
                    api.queue_update(text_update(flooder, words))
                await wait_until(lambda: not api.updates, 60)  # taken: the offset moved

        async def flood() -> None:
            """At least ``--flood`` messages, and more until the calm customers are done
            (the flood covers the whole phase); the last one is a real question."""
            while len(sent) < args.flood - 1 or not calm_done.is_set():
                await send([f"spam {len(sent) + n + 1}" for n in range(100)])
            await send(["talk to a person"])

        during = Turns()
        flooding = asyncio.create_task(flood())
        await asyncio.gather(
            *(customer(api, 2000 + c, during, deliver, args.think) for c in range(args.customers))
        )
        calm_done.set()
        await flooding
        deadline = time.monotonic() + 60
        while not any("in line" in m["text"] for _, m in api.inbox.get(FLOODER, [])):
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)
    finally:
        await client.aclose()
    got = [m["text"] for _, m in api.inbox.get(FLOODER, [])]
    with sqlite3.connect(database) as db:
        (stored,) = db.execute(
            "SELECT count(*) FROM transcript_entry t JOIN conversation c ON c.id = "
            "t.conversation_id WHERE c.chat_key = ? AND t.direction = 'in'",
            (f"telegram:{FLOODER}",),
        ).fetchone()

    def line(name: str, turns: Turns) -> str:
        lat = latency_summary(turns.latencies)
        return (
            f"| {name} | {len(turns.latencies)} | {lat['p50']:.0f} | {lat['p95']:.0f} | "
            f"{max(turns.latencies) * 1000:.0f} | {len(turns.lost)} |"
        )

    mode = "webhook" if args.webhook else "long polling"
    return "\n".join(
        [
            machine(),
            f"{mode}, {args.customers} calm customers per phase, pacing "
            f"{'on' if args.pacing else 'off'}",
            "",
            "| phase | turns | p50 ms | p95 ms | max ms | lost |",
            "|---|---|---|---|---|---|",
            line("calm customers alone", calm),
            line(f"beside a flood of {len(sent)} messages", during),
            "",
            f"the flooder got {len(got)} messages "
            f"({sum('read all your messages' in t for t in got)} notice); the transcript "
            f"holds {stored} of the {len(sent)} it sent during the phase",
        ]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=20, help="calm customers per phase")
    parser.add_argument(
        "--flood", type=int, default=300, help="messages the flooder sends at least"
    )
    parser.add_argument("--webhook", action="store_true", help="webhook instead of polling")
    parser.add_argument("--no-pacing", dest="pacing", action="store_false")
    parser.add_argument(
        "--think",
        type=float,
        default=1.5,
        help="seconds a calm customer takes between turns (a person's pace; faster than "
        "8 messages in 10 s would be a flood itself)",
    )
    args = parser.parse_args()
    ensure_shop_database()
    with tempfile.TemporaryDirectory() as workdir:
        print(asyncio.run(run(args, Path(workdir))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
