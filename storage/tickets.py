"""Tickets: requests for a person, and the one state machine every change goes through.

::

    queued ──take──▶ assigned ──close / return──▶ closed
      │ ▲                │ │
      │ └────release─────┘ └──reassign──▶ assigned (another agent)
      ├──transfer──▶ queued (another queue)
      └──cancel / close──▶ closed

Every move is one compare-and-set ``UPDATE … WHERE status IN (legal from-states)``, so
two agents pressing *Take* at once cannot both win: the loser gets
:class:`TicketConflict` naming the current owner. ``version`` grows with every move.
"""

from __future__ import annotations

import copy
import statistics
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy import update
from sqlalchemy.engine import Connection, Row
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.records import TicketRecord, utcnow
from storage.tables import TicketRow

TICKET: sa.Table = TicketRow.__table__  # type: ignore[attr-defined]

QUEUED, ASSIGNED, CLOSED = "queued", "assigned", "closed"
OPEN_STATES = (QUEUED, ASSIGNED)


class Move(StrEnum):
    TAKE = "take"
    RELEASE = "release"
    REASSIGN = "reassign"
    TRANSFER = "transfer"
    CLOSE = "close"
    RETURN = "return"  # to the bot: the flow resumes
    CANCEL = "cancel"  # by the customer


LEGAL_MOVES: dict[Move, tuple[tuple[str, ...], str]] = {
    Move.TAKE: ((QUEUED,), ASSIGNED),
    Move.RELEASE: ((ASSIGNED,), QUEUED),
    Move.REASSIGN: ((ASSIGNED,), ASSIGNED),
    Move.TRANSFER: ((QUEUED, ASSIGNED), QUEUED),
    Move.CLOSE: ((QUEUED, ASSIGNED), CLOSED),
    Move.RETURN: ((QUEUED, ASSIGNED), CLOSED),
    Move.CANCEL: ((QUEUED, ASSIGNED), CLOSED),
}
"""move → (states it may start from, state it ends in)."""


class TicketConflict(Exception):
    """The move is not legal in the ticket's current state (e.g. someone else took it)."""

    def __init__(self, ticket: TicketRecord | None, move: Move) -> None:
        self.ticket = ticket
        self.move = move
        if ticket is None:
            message = f"no such ticket (cannot {move})"
        elif ticket.status == ASSIGNED:
            message = (
                f"ticket #{ticket.id} is already taken by {ticket.owner_name or ticket.owner_id}"
            )
        else:
            message = f"ticket #{ticket.id} is {ticket.status}; cannot {move} it"
        super().__init__(message)


@dataclass(frozen=True, slots=True)
class QueueStatus:
    position: int  # 1 = next in line
    estimate_minutes: int | None  # None = no recent waits to estimate from


class SqlTickets:
    def __init__(self, engine: AsyncEngine, write_engine: AsyncEngine) -> None:
        self._engine = engine
        self._write_engine = write_engine

    async def get(self, ticket_id: int) -> TicketRecord | None:
        async with AsyncSession(self._engine) as session:
            row = await session.get(TicketRow, ticket_id)
            return None if row is None else ticket_record(row)

    async def open_tickets(self, queue: str | None = None) -> list[TicketRecord]:
        """Open tickets, oldest first (the agents' inbox)."""
        query = select(TicketRow).where(col(TicketRow.status).in_(OPEN_STATES))
        if queue is not None:
            query = query.where(col(TicketRow.queue) == queue)
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query.order_by(col(TicketRow.created_at)))).all()
            return [ticket_record(row) for row in rows]

    async def closed_since(self, since: datetime) -> list[TicketRecord]:
        """Tickets closed after ``since`` (desks redraw their cards once more)."""
        query = select(TicketRow).where(
            col(TicketRow.status) == CLOSED, col(TicketRow.closed_at) >= since
        )
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query.order_by(col(TicketRow.closed_at)))).all()
            return [ticket_record(row) for row in rows]

    async def move(
        self,
        ticket_id: int,
        move: Move,
        *,
        agent_id: str | None = None,
        agent_name: str | None = None,
        queue: str | None = None,
        resolution: str | None = None,
    ) -> TicketRecord:
        """Apply ``move`` atomically; raises :class:`TicketConflict` if it is not legal now."""
        sources, target = LEGAL_MOVES[move]
        now = utcnow()
        values: dict[str, Any] = {"status": target, "version": TicketRow.version + 1}
        if move in (Move.TAKE, Move.REASSIGN):
            values.update(owner_id=agent_id, owner_name=agent_name or agent_id)
            if move is Move.TAKE:
                values["taken_at"] = now
        if move in (Move.RELEASE, Move.TRANSFER):
            values.update(owner_id=None, owner_name=None)
        if move is Move.TRANSFER:
            values["queue"] = queue
        if target == CLOSED:
            values.update(closed_at=now, resolution=resolution or move.value)
        statement = (
            update(TicketRow)
            .where(col(TicketRow.id) == ticket_id, col(TicketRow.status).in_(sources))
            .values(**values)
        )
        async with AsyncSession(self._write_engine) as session, session.begin():
            result = await session.exec(statement)
            row = await session.get(TicketRow, ticket_id, populate_existing=True)
            if result.rowcount != 1:
                raise TicketConflict(None if row is None else ticket_record(row), move)
            assert row is not None
            return ticket_record(row)

    async def note_agent_reply(self, ticket_id: int) -> None:
        """Stamp the first agent reply (for "time to first response" in reports)."""
        async with AsyncSession(self._write_engine) as session, session.begin():
            await session.exec(
                update(TicketRow)
                .where(col(TicketRow.id) == ticket_id, col(TicketRow.first_reply_at).is_(None))
                .values(first_reply_at=utcnow())
            )

    async def place_in_queue(self, ticket: TicketRecord) -> QueueStatus:
        async with self._engine.connect() as connection:
            return await connection.run_sync(queue_status, ticket)

    async def record_notice(
        self,
        ticket_id: int,
        *,
        told_position: int | None = None,
        timeout_notified_at: datetime | None = None,
    ) -> None:
        """Remember what the waiting customer was told, so it is said once."""
        values: dict[str, Any] = {}
        if told_position is not None:
            values["told_position"] = told_position
        if timeout_notified_at is not None:
            values["timeout_notified_at"] = timeout_notified_at
        if not values:
            return
        async with AsyncSession(self._write_engine) as session, session.begin():
            await session.exec(
                update(TicketRow).where(col(TicketRow.id) == ticket_id).values(**values)
            )

    async def set_desk_ref(self, ticket_id: int, desk: str, ref: dict[str, Any]) -> None:
        """Remember where a desk shows this ticket (Slack message ts, Telegram topic id)."""
        async with AsyncSession(self._write_engine) as session, session.begin():
            row = await session.get(TicketRow, ticket_id)
            if row is not None:
                row.desk_refs = {**row.desk_refs, desk: ref}


def queue_status(connection: Connection, ticket: TicketRow | TicketRecord) -> QueueStatus:
    """Where a queued ticket stands, and a wait estimate from the queue's recent waits.

    The estimate is the median of the last 20 waits (created → taken) in that queue times
    the position; no recent waits → no estimate (better than a made-up number). Sync, to
    run inside a turn's write transaction (see :mod:`storage.writer`) or a read.
    """
    table = TICKET
    ahead = connection.execute(
        sa.select(sa.func.count())
        .select_from(table)
        .where(
            table.c.queue == ticket.queue,
            table.c.status == QUEUED,
            table.c.created_at < ticket.created_at,
        )
    ).scalar_one()
    position = int(ahead) + 1
    recent = connection.execute(
        sa.select(table.c.created_at, table.c.taken_at)
        .where(table.c.queue == ticket.queue, table.c.taken_at.is_not(None))
        .order_by(table.c.taken_at.desc())
        .limit(20)
    )
    waits = [_minutes(created, taken) for created, taken in recent if taken is not None]
    if not waits:
        return QueueStatus(position, None)
    return QueueStatus(position, max(1, round(statistics.median(waits) * position)))


def _minutes(start: datetime, end: datetime) -> float:
    return max(0.0, (end - start).total_seconds() / 60)


def ticket_record(row: TicketRow | Row[Any]) -> TicketRecord:
    """A copy of the ticket row (ORM or Core) as a plain record."""
    assert row.id is not None
    return TicketRecord(
        id=row.id,
        conversation_id=row.conversation_id,
        customer_id=row.customer_id,
        chat_key=row.chat_key,
        queue=row.queue,
        status=row.status,
        reason=row.reason,
        flow_id=row.flow_id,
        step_id=row.step_id,
        owner_id=row.owner_id,
        owner_name=row.owner_name,
        resolution=row.resolution,
        version=row.version,
        desk_refs=copy.deepcopy(row.desk_refs),
        created_at=row.created_at,
        taken_at=row.taken_at,
        first_reply_at=row.first_reply_at,
        closed_at=row.closed_at,
        told_position=row.told_position,
        timeout_notified_at=row.timeout_notified_at,
    )
