"""The outbox: messages turns decided to send, delivered by a sender loop per channel.

A sender *claims* rows by leasing them in one short write transaction, sends outside
any transaction (a slow platform never holds a database lock), then marks each row
sent (with the platform's message id), due for a retry, or failed. Leases make this
safe with several workers: a row is leased by one worker at a time, and a worker that
dies mid-send simply lets its lease expire, after which the row is sent again.

Order per chat: only a chat's oldest pending rows are claimed, in id order, and only
while none of them is leased or waiting for a retry — so a later message never
overtakes an earlier one.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from storage.records import OutboxItem, utcnow
from storage.tables import OutboxRow

PENDING, SENT, FAILED = "pending", "sent", "failed"


class SqlOutbox:
    def __init__(self, engine: AsyncEngine, write_engine: AsyncEngine) -> None:
        self._engine = engine
        self._write_engine = write_engine

    async def claim(
        self,
        channel: str,
        owner: str,
        *,
        limit: int = 50,
        lease_seconds: float = 60.0,
        chat_id: str | None = None,
    ) -> list[OutboxItem]:
        """Lease up to ``limit`` deliverable rows of ``channel`` (or one chat), oldest first.

        Per chat, the claimed rows are a prefix of its pending rows: the chat is skipped
        if its oldest pending row is leased by someone else or not yet due.
        """
        now = utcnow()
        query = (
            select(OutboxRow)
            .where(col(OutboxRow.status) == PENDING, col(OutboxRow.channel) == channel)
            .order_by(col(OutboxRow.id))
            .limit(limit * 10)
        )
        if chat_id is not None:
            query = query.where(col(OutboxRow.chat_id) == chat_id)
        async with AsyncSession(self._write_engine) as session, session.begin():
            rows = (await session.exec(query)).all()
            chosen: list[OutboxRow] = []
            blocked: set[str] = set()
            for row in rows:
                if row.chat_key in blocked:
                    continue
                leased = row.lease_until is not None and row.lease_until > now
                if leased or row.next_attempt_at > now:
                    blocked.add(row.chat_key)  # the chat's head waits: so do the rest
                    continue
                chosen.append(row)
                if len(chosen) >= limit:
                    break
            claimed = []
            until = now + timedelta(seconds=lease_seconds)
            for row in chosen:
                # Conditional update: if another worker leased it meanwhile, skip it.
                result = await session.exec(
                    update(OutboxRow)
                    .where(
                        col(OutboxRow.id) == row.id,
                        col(OutboxRow.status) == PENDING,
                        (col(OutboxRow.lease_until).is_(None))
                        | (col(OutboxRow.lease_until) <= now),
                    )
                    .values(lease_owner=owner, lease_until=until)
                )
                if result.rowcount == 1:
                    claimed.append(_item(row))
        claimed.sort(key=lambda item: item.id)
        return claimed

    async def mark_sent(self, item_id: int, platform_message_id: str | None) -> None:
        await self._set(
            item_id,
            status=SENT,
            sent_at=utcnow(),
            platform_message_id=platform_message_id,
            lease_owner=None,
            lease_until=None,
        )

    async def mark_retry(self, item_id: int, error: str, delay_seconds: float) -> None:
        """Count a failed attempt; the row (and its chat) waits ``delay_seconds``."""
        async with AsyncSession(self._write_engine) as session, session.begin():
            await session.exec(
                update(OutboxRow)
                .where(col(OutboxRow.id) == item_id)
                .values(
                    attempts=OutboxRow.attempts + 1,
                    next_attempt_at=utcnow() + timedelta(seconds=delay_seconds),
                    last_error=error[:500],
                    lease_owner=None,
                    lease_until=None,
                )
            )

    async def mark_failed(self, item_id: int, error: str) -> None:
        """Give up on a row for good; it stays in the table for operators to see."""
        async with AsyncSession(self._write_engine) as session, session.begin():
            await session.exec(
                update(OutboxRow)
                .where(col(OutboxRow.id) == item_id)
                .values(
                    status=FAILED,
                    attempts=OutboxRow.attempts + 1,
                    last_error=error[:500],
                    lease_owner=None,
                    lease_until=None,
                )
            )

    async def release(self, item_ids: Sequence[int]) -> None:
        """Give leases back unsent (e.g. the rows after one that must wait for a retry)."""
        if not item_ids:
            return
        async with AsyncSession(self._write_engine) as session, session.begin():
            await session.exec(
                update(OutboxRow)
                .where(col(OutboxRow.id).in_(item_ids), col(OutboxRow.status) == PENDING)
                .values(lease_owner=None, lease_until=None)
            )

    async def counts(self) -> dict[str, int]:
        """Rows per status, for health checks and metrics."""
        query = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
        async with AsyncSession(self._engine) as session:
            rows = (await session.exec(query)).all()
        return {status: count for status, count in rows}

    async def get(self, item_id: int) -> OutboxRow | None:
        """One row as stored (tests and operator tools)."""
        async with AsyncSession(self._engine) as session:
            row = await session.get(OutboxRow, item_id)
            if row is not None:
                session.expunge(row)
            return row

    async def _set(self, item_id: int, **values: object) -> None:
        async with AsyncSession(self._write_engine) as session, session.begin():
            await session.exec(
                update(OutboxRow).where(col(OutboxRow.id) == item_id).values(**values)
            )


def _item(row: OutboxRow) -> OutboxItem:
    assert row.id is not None
    return OutboxItem(
        id=row.id,
        channel=row.channel,
        chat_id=row.chat_id,
        conversation_id=row.conversation_id,
        kind=row.kind,
        payload=copy.deepcopy(row.payload),
        attempts=row.attempts,
        created_at=row.created_at,
    )
