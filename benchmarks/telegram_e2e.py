#!/usr/bin/env python3
"""supportbot against bare python-telegram-bot and aiogram bots, end to end over HTTP,
side by side.

    .venv/bin/python benchmarks/telegram_e2e.py                  # 200 customers, A B C A B C
    .venv/bin/python benchmarks/telegram_e2e.py --customers 50 --rounds 1

A load generator plays ``--customers`` Telegram customers at once, each the ten turns
of :data:`benchmarks.common.SCRIPT` ("where is my order" with button taps and the
rating), against the Bot API stand-in of ``tests/standins/telegram_api.py`` on
127.0.0.1 — first against **supportbot** (``python -m bot run`` in its own process:
the real python-telegram-bot ``Bot``, our long-polling loop, a SQLite file, transcript,
outbox; everything as shipped), then against **bare** (``benchmarks/bare_ptb_bot.py``:
ptb's ``Application`` + ``ConversationHandler``, state in memory) and **aiogram**
(``benchmarks/bare_aiogram_bot.py``: aiogram 3, FSM in ``MemoryStorage``,
``dp.start_polling``), alternating A B C A B C.

Each customer sends its next update as soon as the last reply of the previous turn
arrived. Measured per run: updates/s (all updates / wall time from the first update
made available to the last reply received), reply latency (update made available to
``getUpdates`` → the turn's last reply received by the stand-in), the bot process's CPU
seconds during the load and its peak RSS. After the load every chat must hold exactly
its 15 replies (none missing, none doubled).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import (  # noqa: E402
    REPLIES_PER_CONVERSATION,
    SCRIPT,
    cpu_seconds,
    ensure_shop_database,
    latency_summary,
    machine,
    markdown_table,
    rss_mib,
)
from tests.standins import free_port  # noqa: E402
from tests.standins.telegram_api import (  # noqa: E402
    TelegramApiStandIn,
    callback_update,
    text_update,
    user_json,
)

TURN_TIMEOUT = 60.0
"""A reply later than this counts as lost (the customer stops)."""


@dataclass
class TimedStandIn(TelegramApiStandIn):
    """The stand-in, plus when each message arrived, per chat, and a wake-up per chat."""

    inbox: dict[int, list[tuple[float, dict[str, Any]]]] = field(default_factory=dict)
    arrived: dict[int, asyncio.Event] = field(default_factory=dict)
    record_calls: bool = False
    fetched: dict[int, float] = field(default_factory=dict)
    """update_id -> when a ``getUpdates`` answer first held it (the bot has it from then)."""
    polls: int = 0
    """``getUpdates`` calls answered."""

    async def __aenter__(self) -> TimedStandIn:
        """Start, then turn Nagle off for every connection the server accepts.

        The stand-in binds its own socket (``proto`` 0), and asyncio only sets
        ``TCP_NODELAY`` on sockets whose ``proto`` is ``IPPROTO_TCP`` — so every reply on a
        kept-alive connection waited ~40 ms for the client's delayed ACK (measured: 45 ms
        per request, 2 ms with this). Linux copies the option to accepted sockets.
        """
        await super().__aenter__()
        assert self._server is not None
        for server in self._server.servers:
            for sock in server.sockets:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self

    async def _get_updates(self, params: dict[str, Any]) -> Any:
        pending = await super()._get_updates(params)
        self.polls += 1
        now = time.perf_counter()
        for update in pending:
            self.fetched.setdefault(update["update_id"], now)
        return pending

    async def _send_message(self, params: dict[str, Any]) -> Any:
        message = await super()._send_message(params)
        chat = message["chat"]["id"]
        self.inbox.setdefault(chat, []).append((time.perf_counter(), message))
        event = self.arrived.get(chat)
        if event is not None:
            event.set()
        if not self.record_calls:
            self.calls.clear()  # a long run would keep every call; tests need them, we don't
        return message


@dataclass(slots=True)
class Outcome:
    latencies: list[float] = field(default_factory=list)
    fetch_waits: list[float] = field(default_factory=list)
    """Update made available → first handed out by ``getUpdates`` (long polling only)."""
    lost: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    first_sent: float = 0.0
    last_reply: float = 0.0


Deliver = Callable[[dict[str, Any]], Awaitable[object]]


async def customer(
    api: TimedStandIn,
    user_id: int,
    outcome: Outcome,
    deliver: Deliver | None = None,
    think: float = 0.0,
) -> None:
    """Play :data:`SCRIPT` in one private chat, waiting for each turn's replies (and
    ``think`` seconds more on average: a person's pace; each pause drawn from 0.5–1.5 ×
    ``think`` and the first turn started within ``think``, so customers do not arrive in
    lockstep waves).

    ``deliver`` hands an update to the bot (default: queue it for ``getUpdates``); the
    latency clock starts when it is called."""
    user = user_json(user_id, "Ann")
    event = api.arrived.setdefault(user_id, asyncio.Event())
    inbox = api.inbox.setdefault(user_id, [])
    pace = random.Random(user_id)
    if think:
        await asyncio.sleep(pace.uniform(0, think))
    for number, (action, text, count, fragment) in enumerate(SCRIPT):
        if think and number:
            await asyncio.sleep(think * pace.uniform(0.5, 1.5))
        before = len(inbox)
        if action == "say":
            update = text_update(user, text)
        else:
            found = [
                (message, button["callback_data"])
                for _, message in reversed(inbox)
                for row in message.get("reply_markup", {}).get("inline_keyboard", [])
                for button in row
                if button["text"] == text and "callback_data" in button
            ]
            if not found:
                outcome.wrong.append(f"{user_id}: no button {text!r}")
                return
            update = callback_update(user, found[0][0], found[0][1])
        queued = time.perf_counter()
        if not outcome.first_sent:
            outcome.first_sent = queued
        if deliver is None:
            update_id = api.queue_update(update)["update_id"]
        else:
            update_id = update["update_id"] = api.next_update_id()
            await deliver(update)
        deadline = queued + TURN_TIMEOUT
        while len(inbox) < before + count:
            event.clear()
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                outcome.lost.append(f"{user_id}: no reply to {text!r}")
                return
            try:
                await asyncio.wait_for(event.wait(), remaining)
            except TimeoutError:
                continue
        arrival, last = inbox[before + count - 1]
        outcome.latencies.append(arrival - queued)
        if update_id in api.fetched:
            outcome.fetch_waits.append(api.fetched[update_id] - queued)
        outcome.last_reply = max(outcome.last_reply, arrival)
        if fragment.lower() not in last["text"].lower():
            outcome.wrong.append(f"{user_id}: {text!r} -> {last['text'][:60]!r}")


@dataclass(slots=True)
class Run:
    bot: str
    round: int
    customers: int
    updates: int
    wall_s: float
    latency_ms: dict[str, float]
    fetch_wait_ms: dict[str, float]
    polls: int
    cpu_s: float
    peak_rss_mib: float
    lost: int
    wrong: int
    missing_or_extra: int
    notes: list[str]

    @property
    def updates_per_s(self) -> float:
        return self.updates / self.wall_s if self.wall_s else 0.0


def tail(path: Path, chars: int = 3000) -> str:
    """The end of a bot's log (small files: reading it does not stall the load)."""
    return path.read_text(errors="replace")[-chars:]


BOTS = ("supportbot", "bare", "aiogram")
"""``bare`` = ``benchmarks/bare_ptb_bot.py``, ``aiogram`` = ``benchmarks/bare_aiogram_bot.py``."""


def bot_command(kind: str, api: TimedStandIn, args: argparse.Namespace) -> list[str]:
    if kind == "supportbot":
        return [sys.executable, "-m", "bot", "run"]
    script = "bare_ptb_bot.py" if kind == "bare" else "bare_aiogram_bot.py"
    command = [sys.executable, str(ROOT / "benchmarks" / script)]
    command += ["--token", api.token, "--base-url", api.url]
    if kind == "bare":
        command += ["--concurrent-updates", str(args.bare_concurrent_updates)]
    return command


def bot_env(kind: str, api: TimedStandIn, workdir: Path, tag: str) -> dict[str, str]:
    env = dict(os.environ)
    if kind == "supportbot":
        env.update(
            TELEGRAM_BOT_TOKEN=api.token,
            TELEGRAM_API_BASE_URL=api.url,
            SUPPORTBOT_DATABASE_URL=f"sqlite+aiosqlite:///{workdir / f'e2e-{tag}.db'}",
            SUPPORTBOT_HTTP_PORT=str(free_port()),
            SUPPORTBOT_LOG_LEVEL="WARNING",
            SUPPORTBOT_PACING="false",  # machine-speed customers: measure the bot,
            SUPPORTBOT_FLOOD_MESSAGES="0",  # not the per-chat limits
        )
    return env


async def one_run(kind: str, number: int, args: argparse.Namespace, workdir: Path) -> Run:
    api = TimedStandIn()
    async with api:
        log_path = workdir / f"{kind}-{number}.log"
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                *bot_command(kind, api, args),
                cwd=ROOT,
                env=bot_env(kind, api, workdir, f"{kind}-{number}"),
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
            try:
                return await drive(kind, number, api, process, args, log_path)
            finally:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                    try:
                        await asyncio.wait_for(process.wait(), 30)
                    except TimeoutError:
                        process.kill()
                        await process.wait()


async def drive(
    kind: str,
    number: int,
    api: TimedStandIn,
    process: asyncio.subprocess.Process,
    args: argparse.Namespace,
    log_path: Path,
) -> Run:
    api.record_calls = True
    deadline = time.monotonic() + 60
    while not api.calls_of("getUpdates"):  # started: it is polling
        if process.returncode is not None or time.monotonic() > deadline:
            raise SystemExit(f"{kind} did not start:\n{tail(log_path)}")
        await asyncio.sleep(0.05)
    api.record_calls = False
    api.calls.clear()
    await asyncio.sleep(0.5)  # let start-up settle
    outcome = Outcome()
    spy = None
    if args.py_spy is not None:  # sample the thread holding the GIL (= CPU) during the load
        out = args.py_spy.with_name(f"{args.py_spy.stem}-{kind}-{number}.txt")
        spy = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("py-spy")), "record", "--pid",
            str(process.pid), "--format", "raw", "--rate", "200", "--output", str(out),
            "--nonblocking", "--gil", stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
    cpu_before = cpu_seconds(process.pid)
    polls_before = api.polls
    await asyncio.gather(
        *(customer(api, 100_000 + c, outcome, think=args.think) for c in range(args.customers))
    )
    cpu = cpu_seconds(process.pid) - cpu_before
    polls = api.polls - polls_before
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
        await spy.wait()
    peak = rss_mib(process.pid)[1]
    await asyncio.sleep(1.0)  # late duplicates would arrive now
    counts = [len(api.inbox.get(100_000 + c, [])) for c in range(args.customers)]
    off = sum(1 for n in counts if n != REPLIES_PER_CONVERSATION)
    notes = [f"{len(outcome.lost)} lost", *outcome.lost[:2], *outcome.wrong[:2]]
    failed = tail(log_path, 10**9).count("failed")
    if failed:
        notes.append(f"{failed} 'failed' lines in the bot's log")
    return Run(
        bot=kind,
        round=number,
        customers=args.customers,
        updates=len(outcome.latencies),
        wall_s=outcome.last_reply - outcome.first_sent,
        latency_ms=latency_summary(outcome.latencies),
        fetch_wait_ms=latency_summary(outcome.fetch_waits),
        polls=polls,
        cpu_s=cpu,
        peak_rss_mib=peak,
        lost=len(outcome.lost),
        wrong=len(outcome.wrong),
        missing_or_extra=off,
        notes=notes if (outcome.lost or outcome.wrong or failed) else [],
    )


def report(runs: list[Run]) -> str:
    rows = []
    for r in runs:
        lat = r.latency_ms
        rows.append(
            (
                f"{r.bot} #{r.round}",
                f"{r.updates:,}",
                f"{r.wall_s:.1f}",
                f"{r.updates_per_s:,.1f}",
                f"{lat['p50']:.0f} / {lat['p95']:.0f} / {lat['p99']:.0f}",
                "{p50:.0f} / {p95:.0f} / {p99:.0f}".format(**r.fetch_wait_ms),
                f"{r.polls:,}",
                f"{r.cpu_s:.1f}",
                f"{r.peak_rss_mib:.0f}",
                f"{r.lost} / {r.missing_or_extra}",
            )
        )
    header = (
        "run", "updates", "wall s", "updates/s", "reply latency ms p50 / p95 / p99",
        "of which waiting for getUpdates ms p50 / p95 / p99",
        "getUpdates calls",
        "bot CPU s", "bot peak RSS MiB", "lost turns / chats not exactly 15 replies",
    )  # fmt: skip
    lines = [machine(), "", markdown_table(header, rows), ""]
    by_bot: dict[str, list[Run]] = {}
    for r in runs:
        by_bot.setdefault(r.bot, []).append(r)
    for other in ("bare", "aiogram"):
        if "supportbot" not in by_bot or other not in by_bot:
            continue
        ours = statistics.mean(r.updates_per_s for r in by_bot["supportbot"])
        theirs = statistics.mean(r.updates_per_s for r in by_bot[other])
        cpu_ours = statistics.mean(r.cpu_s / r.updates for r in by_bot["supportbot"] if r.updates)
        cpu_theirs = statistics.mean(r.cpu_s / r.updates for r in by_bot[other] if r.updates)
        lines.append(
            f"updates/s supportbot / {other} = {ours:,.1f} / {theirs:,.1f} = "
            f"**{ours / theirs:.2f}**; CPU ms per update {cpu_ours * 1000:.1f} vs "
            f"{cpu_theirs * 1000:.1f}"
        )
    for r in runs:
        if r.notes:
            lines.append(f"{r.bot} #{r.round}: " + "; ".join(r.notes))
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> list[Run]:
    ensure_shop_database()  # the bots inherit $SHOP_DATABASE_URL
    runs = []
    with contextlib.ExitStack() as stack:
        if args.keep:
            workdir = args.keep
            workdir.mkdir(parents=True, exist_ok=True)
        else:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        for number in range(1, args.rounds + 1):
            for kind in args.bots:
                print(f"{kind} #{number} ...", file=sys.stderr, flush=True)
                run = await one_run(kind, number, args, workdir)
                print(f"  {run.updates_per_s:.1f} updates/s", file=sys.stderr, flush=True)
                runs.append(run)
    return runs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--customers", type=int, default=200, help="customers, all at once")
    parser.add_argument(
        "--think",
        type=float,
        default=0.0,
        help="seconds each customer waits after a turn's replies (0 = the maximum load; "
        "with N customers the offered load is about N / (think + latency) updates/s)",
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="rounds of all the bots (A B C A B C = 2)"
    )
    parser.add_argument(
        "--bots",
        nargs="+",
        choices=BOTS,
        default=list(BOTS),
        help="which bots, in this order each round (aiogram needs `pip install -e .[bench]`)",
    )
    parser.add_argument(
        "--bare-concurrent-updates",
        type=int,
        default=1,
        help="ptb's concurrent_updates for the bare bot (1 = ptb's default)",
    )
    parser.add_argument(
        "--py-spy",
        type=Path,
        metavar="FILE",
        help="record the bot's CPU with py-spy (collapsed stacks, FILE-<bot>-<round>.txt); "
        "summarise with benchmarks/spy_summary.py",
    )
    parser.add_argument(
        "--keep", type=Path, help="keep the bots' databases and logs in this folder"
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    runs = asyncio.run(main_async(args))
    print(report(runs))
    if args.json:
        print(json.dumps([asdict(r) for r in runs], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
