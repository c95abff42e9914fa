"""SQLModel tables behind :class:`storage.sql.SqlStore`.

Only ``storage.sql`` touches these rows; everything outside ``storage`` gets the plain
records of :mod:`storage.records`. Types are portable (no SQLite-only types) so the same
models serve PostgreSQL and Alembic later.

Datetimes use SQLModel's ``UTCDateTime`` (``DateTime(timezone=True)`` underneath): it
rejects naive values on write and returns aware UTC values on read, which matters on
SQLite, where the driver would otherwise hand back naive datetimes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel, UTCDateTime

from storage.records import utcnow

metadata = SQLModel.metadata
"""The metadata holding these tables (for ``create_all`` now, Alembic later)."""


class CustomerRow(SQLModel, table=True):
    """A customer on one channel; ``id`` is ``"{channel}:{user_id}"``."""

    __tablename__ = "customer"

    id: str = Field(primary_key=True)
    channel: str
    user_id: str
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    persona: str | None = None
    profile: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    # No foreign key on purpose: customer <-> conversation would be a cycle, which
    # complicates table creation and drops on every backend for little gain.
    last_conversation_id: int | None = None


class ConversationRow(SQLModel, table=True):
    """One conversation of one chat; ``ended_at IS NULL`` means it is still open."""

    __tablename__ = "conversation"
    __table_args__ = (
        # "Open conversation of a chat" and "latest ended conversation of a chat"
        # both filter on chat_key then ended_at; this also serves chat_key lookups.
        sa.Index("ix_conversation_chat_key_ended_at", "chat_key", "ended_at"),
        # At most one open conversation per chat, enforced by the database so a race
        # between two writers (possible on PostgreSQL) cannot open two.
        sa.Index(
            "uq_conversation_open_chat_key",
            "chat_key",
            unique=True,
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        ),
        # The abandonment sweep: open conversations, least recently active first.
        sa.Index(
            "ix_conversation_open_updated_at",
            "updated_at",
            sqlite_where=sa.text("ended_at IS NULL"),
            postgresql_where=sa.text("ended_at IS NULL"),
        ),
        # Never reuse ids on SQLite, so id order is creation order (ignored elsewhere).
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    chat_key: str
    customer_id: str = Field(foreign_key="customer.id", index=True)
    status: str = "new"
    flow_id: str | None = None
    flow_version: str | None = None
    step_id: str | None = None
    state: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    started_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    ended_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = None


class TranscriptEntryRow(SQLModel, table=True):
    """One transcript line; ``id`` order is write order."""

    __tablename__ = "transcript_entry"
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    direction: str
    kind: str
    text: str = Field(default="", sa_type=sa.Text, nullable=False)
    data: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


class InboundUpdateRow(SQLModel, table=True):
    """A platform update already handled; a redelivery of it is acknowledged and ignored.

    Written in the same transaction as the turn it caused, so "handled" and "recorded"
    can never disagree. Pruned after a retention window (platforms stop redelivering
    after a day or so).
    """

    __tablename__ = "inbound_update"

    channel: str = Field(primary_key=True)
    update_id: str = Field(primary_key=True)
    conversation_id: int | None = None
    received_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )


class OutboxRow(SQLModel, table=True):
    """A message to deliver; written in the same transaction as the turn that decided it.

    ``status`` is ``pending`` until a sender delivers it (``sent``, with the platform's
    message id) or gives up (``failed``). A sender *leases* rows before sending
    (``lease_owner``/``lease_until``) so two workers never send the same row; a lease
    names its worker, and a crashed worker's leases are taken back as soon as it is seen
    gone (:mod:`storage.workers`), or else when they end.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        # The sender's hot query: pending rows of a channel, oldest first.
        sa.Index("ix_outbox_status_channel_id", "status", "channel", "id"),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    chat_id: str
    chat_key: str
    conversation_id: int | None = Field(default=None, index=True)
    kind: str = "reply"
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    status: str = "pending"
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    lease_owner: str | None = None
    lease_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    platform_message_id: str | None = None
    last_error: str | None = None


class TicketRow(SQLModel, table=True):
    """A request for a person: queued → assigned → closed (see :mod:`storage.tickets`).

    ``version`` increases with every transition, so two agents acting at once cannot both
    win (compare-and-set). ``desk_refs`` remembers each desk's message/thread ids.
    """

    __tablename__ = "ticket"
    __table_args__ = (
        # Queue position and the "open ticket of a conversation" lookups.
        sa.Index("ix_ticket_queue_status_created", "queue", "status", "created_at"),
        # At most one open ticket per conversation, whatever races happen.
        sa.Index(
            "uq_ticket_open_conversation",
            "conversation_id",
            unique=True,
            sqlite_where=sa.text("status != 'closed'"),
            postgresql_where=sa.text("status != 'closed'"),
        ),
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", index=True)
    customer_id: str = Field(index=True)
    chat_key: str
    queue: str
    status: str = "queued"
    reason: str = Field(default="", sa_type=sa.Text, nullable=False)
    flow_id: str | None = None
    step_id: str | None = None
    owner_id: str | None = None
    owner_name: str | None = None
    resolution: str | None = None
    version: int = 0
    desk_refs: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    taken_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    first_reply_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    # What the waiting customer was last told (so updates go out only on change).
    told_position: int | None = None
    timeout_notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class RatingRow(SQLModel, table=True):
    """A customer's satisfaction rating of one conversation, with what shaped it.

    One per conversation (asked once). The attribution columns are copied at rating time
    so reports need no joins into transcripts that retention may have deleted.
    """

    __tablename__ = "rating"

    id: int | None = Field(default=None, primary_key=True)
    conversation_id: int = Field(foreign_key="conversation.id", unique=True)
    customer_id: str = Field(index=True)
    channel: str
    persona: str | None = None
    flow_id: str | None = None
    step_id: str | None = None
    agent_id: str | None = None
    queue: str | None = None
    resolution: str | None = None
    score: int
    comment: str | None = Field(default=None, sa_type=sa.Text)
    created_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, nullable=False, index=True
    )


class InboxRow(SQLModel, table=True):
    """An update acknowledged to its platform before its turn finished (see
    :mod:`storage.inbox`): kept until that turn is done, replayed after a crash."""

    __tablename__ = "inbox"
    __table_args__ = (
        sa.UniqueConstraint("channel", "update_id", name="uq_inbox_channel_update_id"),
        # Never reuse ids on SQLite, so id order is arrival order (the replay's order).
        {"sqlite_autoincrement": True},
    )

    id: int | None = Field(default=None, primary_key=True)
    channel: str
    update_id: str
    chat_key: str
    worker: str
    """The worker that acknowledged it and runs its turn (:mod:`storage.workers`)."""
    payload: dict[str, Any] = Field(default_factory=dict, sa_type=sa.JSON, nullable=False)
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)


TABLES: tuple[sa.Table, ...] = (
    CustomerRow.__table__,  # type: ignore[attr-defined]
    ConversationRow.__table__,  # type: ignore[attr-defined]
    TranscriptEntryRow.__table__,  # type: ignore[attr-defined]
    InboundUpdateRow.__table__,  # type: ignore[attr-defined]
    OutboxRow.__table__,  # type: ignore[attr-defined]
    TicketRow.__table__,  # type: ignore[attr-defined]
    RatingRow.__table__,  # type: ignore[attr-defined]
    InboxRow.__table__,  # type: ignore[attr-defined]
)
"""The tables this package owns, in dependency order."""
