"""The inbox keeps updates acknowledged before their turn finished; a worker that is gone
leaves its rows to the next one that looks (SQLite: an earlier process; PostgreSQL: a
worker whose advisory lock has vanished)."""

from __future__ import annotations

import sqlalchemy as sa

from storage.inbox import INBOX
from storage.sql import SqlStore


def payload(text: str) -> dict[str, object]:
    return {"text": text}


async def test_a_kept_update_is_run_by_its_worker_until_done(store: SqlStore) -> None:
    inbox = store.inbox
    await inbox.put("telegram", "11", "telegram:5", payload("its ws10001"))
    await inbox.put("telegram", "11", "telegram:5", payload("its ws10001"))  # redelivered
    await inbox.put("telegram", "12", "telegram:5", payload("hello??"))
    await inbox.put("slack", "11", "slack:D1", payload("same id, other platform"))

    adopted = await inbox.adopt()
    assert [(e.channel, e.update_id, e.payload["text"]) for e in adopted] == [
        ("telegram", "11", "its ws10001"),
        ("telegram", "12", "hello??"),
        ("slack", "11", "same id, other platform"),
    ]  # oldest first, each once

    await inbox.done("telegram", ["11", "12"])
    assert [(e.channel, e.update_id) for e in await inbox.adopt()] == [("slack", "11")]
    assert await inbox.count() == 1


async def test_rows_of_a_worker_that_is_gone_are_taken_over(store: SqlStore) -> None:
    inbox = store.inbox
    await inbox.put("telegram", "21", "telegram:6", payload("mine"))
    dead = "sqlite.1.deadbeef" if not store.is_postgresql else "pg.123456.1"
    await store.ping()
    async with store._engine.begin() as connection:  # an earlier process's row, as it left it
        await connection.execute(
            sa.insert(INBOX).values(
                channel="telegram",
                update_id="20",
                chat_key="telegram:6",
                worker=dead,
                payload=payload("theirs"),
                received_at=sa.func.now(),
            )
        )

    if store.is_postgresql:  # a worker must be seen gone for the grace time first
        store._liveness._grace = 0.0  # type: ignore[attr-defined]
    texts = [e.payload["text"] for e in await inbox.adopt()]
    assert texts == ["mine", "theirs"]  # by arrival: the earlier worker's row came later
    async with store._engine.connect() as connection:
        owners = set((await connection.execute(sa.select(INBOX.c.worker))).scalars())
    assert dead not in owners  # taken over: no other worker runs it too
