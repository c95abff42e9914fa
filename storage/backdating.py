"""Move a conversation's timestamps into the past — for demo data only.

``supportbot demo seed`` plays real conversations through the bot in a few seconds; to
make reports look like weeks of traffic it then shifts each conversation (and its
transcript, tickets and rating) back in time, and stretches its ticket's wait and
handling to what a real queue would show. The running bot never calls this.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from storage.sql import SqlStore
from storage.tables import metadata

_CONVERSATION = metadata.tables["conversation"]
_TRANSCRIPT = metadata.tables["transcript_entry"]
_TICKET = metadata.tables["ticket"]
_RATING = metadata.tables["rating"]
_SHIFTED = {
    _CONVERSATION: ("started_at", "updated_at", "ended_at"),
    _TRANSCRIPT: ("created_at",),
    _TICKET: ("created_at", "taken_at", "first_reply_at", "closed_at"),
    _RATING: ("created_at",),
}


async def shift_conversation(
    store: SqlStore,
    conversation_id: int,
    back: timedelta,
    ticket_times: tuple[timedelta, timedelta] | None = None,
) -> None:
    """Move everything of one conversation ``back`` in time. ``ticket_times`` = (wait,
    handling) of its first ticket: what happened after the ticket was taken (closed)
    moves later by the difference, so the transcript stays in order."""
    _, write = store.engines
    async with write.begin() as conn:
        ticket = (
            await conn.execute(
                sa.select(_TICKET.c.created_at, _TICKET.c.taken_at, _TICKET.c.closed_at)
                .where(_TICKET.c.conversation_id == conversation_id)
                .order_by(_TICKET.c.id)
                .limit(1)
            )
        ).first()

        def moved(moment: datetime) -> datetime:
            result = moment - back
            if ticket_times is None or ticket is None or ticket.taken_at is None:
                return result
            wait, handling = ticket_times
            if moment >= ticket.taken_at:
                result += wait - (ticket.taken_at - ticket.created_at)
            if ticket.closed_at is not None and moment >= ticket.closed_at:
                result += handling - (ticket.closed_at - ticket.taken_at)
            return result

        for table, columns in _SHIFTED.items():
            key = table.c.id if table is _CONVERSATION else table.c.conversation_id
            query = sa.select(table.c.id, *(table.c[c] for c in columns)).where(
                key == conversation_id
            )
            for row in (await conn.execute(query)).all():
                values = {c: moved(row[i + 1]) for i, c in enumerate(columns) if row[i + 1]}
                await conn.execute(sa.update(table).where(table.c.id == row.id).values(values))


async def conversation_ids(store: SqlStore) -> list[int]:
    """Every conversation's id, oldest first."""
    read, _ = store.engines
    async with read.connect() as conn:
        query = sa.select(_CONVERSATION.c.id).order_by(_CONVERSATION.c.id)
        return [row.id for row in await conn.execute(query)]
