"""The inbox: updates acknowledged to their platform before their turn finished.

Normally an update is acknowledged (the webhook's 200) only once the turn that stores it
has committed. A turn that takes longer — a slow custom action, a busy database — would
hold the platform's next update of that chat back, so the bot acknowledges it early and
keeps it here instead; the row is deleted when its turn is done (:meth:`SqlInbox.done`).
A row still here after its worker is gone (a crash, a shutdown cut short) is *adopted*
by the next worker that looks (:meth:`SqlInbox.adopt`) and its update run again: the
update-id check of a turn makes a replay of a stored message harmless, and an
interrupted custom action resumes.

Each row names its worker (:mod:`storage.workers`): on SQLite every earlier process is
gone; on PostgreSQL a worker whose advisory lock has vanished.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from storage.records import utcnow
from storage.tables import InboxRow
from storage.workers import Liveness, OneProcess
from storage.writer import Writer

INBOX: sa.Table = InboxRow.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class InboxEntry:
    """An update in the inbox: ``payload`` is what the bot needs to run it again."""

    id: int
    channel: str
    update_id: str
    chat_key: str
    payload: dict[str, Any]
    received_at: datetime


class SqlInbox:
    def __init__(self, writer: Writer, liveness: Liveness | None = None) -> None:
        """``liveness``: this worker's id and who else is gone (default: one process)."""
        self._writer = writer
        self._liveness = liveness or OneProcess()

    async def put(
        self, channel: str, update_id: str, chat_key: str, payload: dict[str, Any]
    ) -> None:
        """Keep the update (once: a second put of the same update is ignored); committed
        when this returns, so the platform may be told it is taken."""
        await self._liveness.ensure()
        row = {
            "channel": channel,
            "update_id": update_id,
            "chat_key": chat_key,
            "worker": self._liveness.worker,
            "payload": payload,
            "received_at": utcnow(),
        }
        await self._writer.urgently(_put, row)

    async def done(self, channel: str, update_ids: Sequence[str]) -> None:
        """The turns of these updates have finished: forget them."""
        if update_ids:
            await self._writer.once(_done, channel, list(update_ids))

    async def adopt(self) -> list[InboxEntry]:
        """Every update this worker should run: those of workers that are gone (taken
        over, so no other worker takes them too) and this worker's own, oldest first.
        The caller skips its own that are still running."""
        await self._liveness.ensure()
        return await self._writer.once(_adopt, self._liveness)

    async def count(self) -> int:
        """Rows in the inbox (health checks and tests)."""
        return await self._writer.once(_count)


def _put(connection: Connection, row: dict[str, Any]) -> None:
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(insert(INBOX).values(**row).on_conflict_do_nothing())


def _done(connection: Connection, channel: str, update_ids: list[str]) -> None:
    connection.execute(
        sa.delete(INBOX).where(INBOX.c.channel == channel, INBOX.c.update_id.in_(update_ids))
    )


def _adopt(connection: Connection, liveness: Liveness) -> list[InboxEntry]:
    workers = set(connection.execute(sa.select(INBOX.c.worker).distinct()).scalars())
    gone = liveness.gone(connection, workers - {liveness.worker})
    if gone:
        connection.execute(
            sa.update(INBOX).where(INBOX.c.worker.in_(gone)).values(worker=liveness.worker)
        )
    rows = connection.execute(
        sa.select(
            INBOX.c.id,
            INBOX.c.channel,
            INBOX.c.update_id,
            INBOX.c.chat_key,
            INBOX.c.payload,
            INBOX.c.received_at,
        )
        .where(INBOX.c.worker == liveness.worker)
        .order_by(INBOX.c.id)
    )
    return [InboxEntry(*row) for row in rows]


def _count(connection: Connection) -> int:
    return int(connection.execute(sa.select(sa.func.count()).select_from(INBOX)).scalar_one())
