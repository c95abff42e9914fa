#!/usr/bin/env python3
"""Does a turn get slower, or the bot bigger, as stored conversations pile up?

    python benchmarks/storage_scale.py --conversations 1000 100000
    python benchmarks/storage_scale.py --conversations 1000 100000 \\
        --postgres postgresql+psycopg://root@127.0.0.1:5432/postgres

For each size N and backend (a SQLite file; PostgreSQL when ``--postgres`` gives an admin
URL, where a throw-away database is created and dropped) it

1. records two real conversations with the real manager (one resolved "where is my
   order", one still waiting for the order number) and copies them N times into a
   fresh database with bulk inserts in one transaction: customers, conversations,
   transcripts, handled update ids and sent outbox rows, two conversations per chat,
   ~70 % of chats ended, the rest open;
2. in a new process (so the fill does not count), runs ``ConversationManager.handle``
   one turn at a time: new chats ("hi", then "where is my order") and existing chats
   (an ended chat says "where is my order" = returning customer; an open one answers
   "WS-10001" = the order lookup action, two transactions), and reports the median,
   p95 and p99 wall time per turn and the process's RSS.

Nothing asserts a timing; the numbers go to benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere: bot, storage, tests.pg

from sqlalchemy import create_engine, insert, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.common import shipped_actions  # noqa: E402
from bot.conversation.manager import ConversationManager, FixedCatalog  # noqa: E402
from bot.engine.loader import load_catalog  # noqa: E402
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind  # noqa: E402
from storage.records import ConversationRecord, TranscriptEntry  # noqa: E402
from storage.sql import open_store  # noqa: E402
from storage.tables import (  # noqa: E402
    ConversationRow,
    CustomerRow,
    InboundUpdateRow,
    OutboxRow,
    TranscriptEntryRow,
)
from storage.urls import mask_url  # noqa: E402

CHANNEL = "bench"
CHUNK = 5_000
"""Conversations per executemany batch (all batches in one transaction)."""
OPEN_SHARE = 0.3
"""Share of chats whose latest conversation is still open."""


# --- templates: real conversations recorded by the real manager ----------------------


@dataclass(frozen=True, slots=True)
class Template:
    conversation: ConversationRecord
    entries: list[TranscriptEntry]


def manager_for(store: Any) -> ConversationManager:
    catalog, diagnostics = load_catalog(ROOT / "flows", ROOT / "personas")
    if catalog is None:
        raise SystemExit("\n".join(map(str, diagnostics)))
    return ConversationManager(store, FixedCatalog(catalog), shipped_actions())


async def record_templates(workdir: Path) -> tuple[Template, Template]:
    """A resolved conversation and one waiting for the order number, as the bot stores them."""
    store = await open_store(f"sqlite+aiosqlite:///{workdir / 'templates.db'}")
    try:
        manager = manager_for(store)
        scripts = {
            # ... and the rating (score, comment) that ends it since ratings exist
            "ended": (
                "hi",
                "where is my order",
                "Quick answers",
                "WS-10001",
                "Thanks, that's all",
                "5",
                "great",
            ),
            "open": ("hi", "where is my order", "Quick answers"),
        }
        templates = []
        for chat, script in scripts.items():
            key = ConversationKey("t", chat)
            for i, said in enumerate(script):
                await manager.handle(
                    Inbound(key, CustomerInfo(chat), InboundKind.TEXT, said, update_id=str(i))
                )
            (conversation,) = await store.conversations_of(f"t:{chat}")
            entries = list(await store.transcript(conversation.id))
            templates.append(Template(conversation, entries))
        assert templates[0].conversation.ended_at is not None
        assert templates[1].conversation.ended_at is None
        return templates[0], templates[1]
    finally:
        await store.close()


# --- fill ------------------------------------------------------------------------------


def sync_url(url: str) -> str:
    """The same database for a synchronous engine (bulk inserts need no event loop)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        parsed = parsed.set(drivername="sqlite")
    return parsed.render_as_string(hide_password=False)


def rows_for(
    n: int, ended: Template, still_open: Template, seed: int
) -> Iterator[dict[str, list[dict[str, Any]]]]:
    """Rows of ``n`` conversations, in chunks; two conversations per chat."""
    rng = random.Random(seed)
    base = datetime(2025, 1, 1, tzinfo=UTC)
    entry_id = outbox_id = 0
    chunk: dict[str, list[dict[str, Any]]] = {}
    for c in range(n):
        chat = c // 2
        last_of_chat = c % 2 == 1 or c == n - 1
        is_open = last_of_chat and rng.random() < OPEN_SHARE
        template = still_open if is_open else ended
        started = base + timedelta(minutes=c)
        conversation_id = c + 1
        chat_key = f"{CHANNEL}:c{chat}"
        customer_id = f"{CHANNEL}:u{chat}"
        record = template.conversation
        if c % 2 == 0:
            chunk.setdefault("customer", []).append(
                dict(
                    id=customer_id,
                    channel=CHANNEL,
                    user_id=f"u{chat}",
                    persona="self_serve",
                    profile={},
                    created_at=started,
                    last_seen_at=started,
                    last_conversation_id=min(conversation_id + 1, n),
                )
            )
        chunk.setdefault("conversation", []).append(
            dict(
                id=conversation_id,
                chat_key=chat_key,
                customer_id=customer_id,
                status=record.status,
                flow_id=record.flow_id,
                flow_version=record.flow_version,
                step_id=record.step_id,
                state=record.state,
                started_at=started,
                updated_at=started + timedelta(seconds=30),
                ended_at=None if is_open else started + timedelta(seconds=30),
                outcome=record.outcome,
            )
        )
        for k, entry in enumerate(template.entries):
            entry_id += 1
            at = started + timedelta(seconds=k)
            chunk.setdefault("transcript_entry", []).append(
                dict(
                    id=entry_id,
                    conversation_id=conversation_id,
                    direction=entry.direction,
                    kind=entry.kind,
                    text=entry.text,
                    data=entry.data,
                    created_at=at,
                )
            )
            if entry.direction == "in":
                chunk.setdefault("inbound_update", []).append(
                    dict(
                        channel=CHANNEL,
                        update_id=f"old-{conversation_id}-{k}",
                        conversation_id=conversation_id,
                        received_at=at,
                    )
                )
            elif entry.direction == "out":
                outbox_id += 1
                chunk.setdefault("outbox", []).append(
                    dict(
                        id=outbox_id,
                        channel=CHANNEL,
                        chat_id=f"c{chat}",
                        chat_key=chat_key,
                        conversation_id=conversation_id,
                        kind="reply",
                        payload={"text": entry.text, "buttons": entry.data.get("buttons", [])},
                        status="sent",
                        attempts=0,
                        next_attempt_at=at,
                        created_at=at,
                        sent_at=at,
                        platform_message_id=str(outbox_id),
                    )
                )
        if (c + 1) % CHUNK == 0:
            yield chunk
            chunk = {}
    if chunk:
        yield chunk


TABLE_OF = {
    "customer": CustomerRow.__table__,  # type: ignore[attr-defined]
    "conversation": ConversationRow.__table__,  # type: ignore[attr-defined]
    "transcript_entry": TranscriptEntryRow.__table__,  # type: ignore[attr-defined]
    "inbound_update": InboundUpdateRow.__table__,  # type: ignore[attr-defined]
    "outbox": OutboxRow.__table__,  # type: ignore[attr-defined]
}


def fill(url: str, n: int, seed: int) -> dict[str, Any]:
    """Create the schema with ``open_store`` and bulk-insert ``n`` conversations."""
    with tempfile.TemporaryDirectory() as tmp:
        ended, still_open = asyncio.run(record_templates(Path(tmp)))

    async def create_schema() -> None:
        store = await open_store(url)
        await store.close()

    asyncio.run(create_schema())
    started = time.perf_counter()
    counts = dict.fromkeys(TABLE_OF, 0)
    engine = create_engine(sync_url(url))
    with engine.begin() as conn:
        for chunk in rows_for(n, ended, still_open, seed):
            for name in TABLE_OF:  # dependency order: customers before conversations ...
                rows = chunk.get(name, [])
                if rows:
                    conn.execute(insert(TABLE_OF[name]), rows)
                    counts[name] += len(rows)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            for name in ("conversation", "transcript_entry", "outbox"):  # ids were explicit
                sequence = f"pg_get_serial_sequence('{name}', 'id')"
                conn.execute(text(f"SELECT setval({sequence}, max(id)) FROM {name}"))
            conn.execute(text("VACUUM ANALYZE"))  # what autovacuum does in production
            try:  # flush the load now, not as a background checkpoint during the timing
                conn.execute(text("CHECKPOINT"))
            except Exception as error:  # needs superuser or pg_checkpoint
                print(f"CHECKPOINT skipped: {error}", file=sys.stderr)
    engine.dispose()
    return {"fill_seconds": time.perf_counter() - started, "rows": counts}


# --- measure ---------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(values),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "turns": len(values),
    }


def rss_mib() -> tuple[float, float]:
    """(current, peak) resident set size of this process in MiB (Linux)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


async def measure(url: str, n: int, turns: int, seed: int) -> dict[str, Any]:
    """Per-turn wall time of ``handle()`` on new and on existing chats, one at a time."""
    rng = random.Random(seed)
    store = await open_store(url)
    manager = manager_for(store)
    update = iter(range(10**9))

    async def turn(chat: str, user: str, said: str) -> float:
        inbound = Inbound(
            ConversationKey(CHANNEL, chat),
            CustomerInfo(user),
            InboundKind.TEXT,
            said,
            update_id=f"new-{next(update)}",
        )
        start = time.perf_counter()
        replies = await manager.handle(inbound)
        elapsed = (time.perf_counter() - start) * 1000
        assert replies, f"no reply to {said!r} in {chat}"
        return elapsed

    try:
        for i in range(20):  # warm-up: imports, pool connections, the catalog's caches
            await turn(f"warm{i}", f"warm{i}", "hi")
        new: list[float] = []
        for i in range(turns // 2):
            new.append(await turn(f"new{i}", f"nu{i}", "hi"))
            new.append(await turn(f"new{i}", f"nu{i}", "where is my order"))
        existing: list[float] = []
        chats = rng.sample(range((n + 1) // 2), min(turns, (n + 1) // 2))
        for chat in chats:
            conversations = await store.conversations_of(f"{CHANNEL}:u{chat}")
            waiting = conversations[0].ended_at is None
            said = "WS-10001" if waiting else "where is my order"
            existing.append(await turn(f"c{chat}", f"u{chat}", said))
        current, peak = rss_mib()
    finally:
        await store.close()
    return {
        "new": summary(new),
        "existing": summary(existing),
        "rss_mib": current,
        "peak_rss_mib": peak,
    }


def database_size(url: str) -> float:
    """MiB on disk (SQLite file + WAL, or pg_database_size)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        path = Path(parsed.database or "")
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
    engine = create_engine(sync_url(url))
    with engine.connect() as conn:
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return float(size) / 2**20


# --- driver ----------------------------------------------------------------------------


@dataclass(slots=True)
class Result:
    backend: str
    conversations: int
    fill_seconds: float
    transcript_rows: int
    size_mib: float
    new: dict[str, float]
    existing: dict[str, float]
    rss_mib: float
    peak_rss_mib: float


def child(mode: str, url: str, n: int, turns: int, seed: int) -> dict[str, Any]:
    """Run one phase in a fresh interpreter so its memory is its own."""
    command = [sys.executable, __file__, "--internal", mode, "--url", url]
    command += ["--conversations", str(n), "--turns", str(turns), "--seed", str(seed)]
    done = subprocess.run(command, check=True, capture_output=True, text=True, cwd=ROOT)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def run_one(backend: str, url: str, n: int, turns: int, seed: int) -> Result:
    print(f"{backend} {n:>7,} conversations: filling ...", file=sys.stderr, flush=True)
    filled = child("fill", url, n, turns, seed)
    print(f"  filled in {filled['fill_seconds']:.1f} s; measuring ...", file=sys.stderr, flush=True)
    measured = child("measure", url, n, turns, seed)
    return Result(
        backend=backend,
        conversations=n,
        fill_seconds=filled["fill_seconds"],
        transcript_rows=filled["rows"]["transcript_entry"],
        size_mib=database_size(url),
        new=measured["new"],
        existing=measured["existing"],
        rss_mib=measured["rss_mib"],
        peak_rss_mib=measured["peak_rss_mib"],
    )


def table(results: list[Result]) -> str:
    def ms(s: dict[str, float]) -> str:
        return f"{s['median']:.1f} / {s['p95']:.1f} / {s['p99']:.1f}"

    header = (
        "| backend | conversations | transcript rows | DB MiB | fill s "
        "| new chat ms (median / p95 / p99) | existing chat ms (median / p95 / p99) "
        "| RSS MiB (peak) |"
    )
    lines = [header, "|" + "---|" * 8]
    for r in results:
        lines.append(
            f"| {r.backend} | {r.conversations:,} | {r.transcript_rows:,} | {r.size_mib:.0f} "
            f"| {r.fill_seconds:.1f} | {ms(r.new)} | {ms(r.existing)} "
            f"| {r.rss_mib:.0f} ({r.peak_rss_mib:.0f}) |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, nargs="+", default=[1000, 100_000])
    parser.add_argument("--turns", type=int, default=300, help="measured turns per kind")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="also run on this server")
    parser.add_argument("--dir", type=Path, help="where the SQLite files go (default: temp)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print results as JSON too")
    parser.add_argument("--internal", choices=["fill", "measure"], help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.internal:
        (n,) = args.conversations
        if args.internal == "fill":
            out = fill(args.url, n, args.seed)
        else:
            out = asyncio.run(measure(args.url, n, args.turns, args.seed))
        print(json.dumps(out))
        return 0

    results = []
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for n in args.conversations:
            path = Path(tmp) / f"scale_{n}.db"
            results.append(
                run_one("sqlite", f"sqlite+aiosqlite:///{path}", n, args.turns, args.seed)
            )
    if args.postgres:
        from tests.pg import PgServer

        server = PgServer(make_url(args.postgres))
        for n in args.conversations:
            url = server.create_database(prefix="supportbot_bench_")
            try:
                results.append(run_one("postgresql", url, n, args.turns, args.seed))
            finally:
                server.drop_database(url)
        print(f"PostgreSQL: {mask_url(args.postgres)}", file=sys.stderr)
    print(f"python {platform.python_version()}, {os.cpu_count()} CPUs, {platform.platform()}")
    print(table(results))
    if args.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
