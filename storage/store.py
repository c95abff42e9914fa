"""The narrow store interface the conversation manager uses.

One turn = one transaction: :meth:`Store.turn` loads (or creates) the customer and the
chat's open conversation, the caller mutates the records and appends transcript
entries, and leaving the block commits all of it at once (an exception rolls all of
it back). Keep this interface narrow: every backend must pass the same contract tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from storage.records import (
    ConversationRecord,
    CustomerRecord,
    OutboxMessage,
    TicketRecord,
    TranscriptEntry,
)
from storage.tickets import QueueStatus


class Turn(Protocol):
    """The unit of work of one conversation turn."""

    customer: CustomerRecord
    conversation: ConversationRecord
    previous: ConversationRecord | None
    """The chat's most recent ended conversation, if any (to greet returning customers)."""

    duplicate: bool
    """The update was handled before (a platform redelivery): do nothing, just acknowledge.

    A duplicate turn writes nothing when it ends."""

    seen: frozenset[str]
    """Which of the turn's update ids were handled before (of a burst taken together,
    some may be redeliveries); the turn is a ``duplicate`` when all were."""

    ticket: TicketRecord | None
    """The conversation's open ticket (a person was asked for), if any."""

    def append(self, entry: TranscriptEntry) -> None:
        """Add a transcript entry to the conversation; written at commit."""

    async def open_ticket(
        self, queue: str, reason: str, flow_id: str | None, step_id: str | None
    ) -> tuple[TicketRecord, QueueStatus]:
        """Open (or return the already open) ticket, with its place in the queue."""
        ...

    async def record_rating(self, score: int | None = None, comment: str | None = None) -> None:
        """Store (or add the comment to) this conversation's satisfaction rating."""
        ...

    async def cancel_ticket(self) -> TicketRecord | None:
        """Close the open ticket because the customer withdrew the request."""
        ...

    def enqueue(self, message: OutboxMessage) -> None:
        """Queue a message for delivery; written to the outbox at commit."""


class Store(Protocol):
    def turn(
        self,
        chat_key: str,
        channel: str,
        user_id: str,
        update_id: str | None = None,
        *,
        update_ids: Sequence[str] = (),
    ) -> AbstractAsyncContextManager[Turn]:
        """Open the transaction of one turn for the chat ``chat_key``.

        Turns of one chat are serialised, across processes too. Creates the customer
        ``{channel}:{user_id}`` and a new conversation when needed (none yet, or the
        last one has ended). ``update_id`` (the platform's id of the update) is recorded
        with the turn; if it was recorded before, the turn is a ``duplicate``. A turn
        that takes several updates together names the others in ``update_ids``.
        """
        ...

    def chat_lock(self, chat_key: str) -> AbstractAsyncContextManager[None]:
        """Hold the chat for a whole customer turn (several :meth:`turn` calls), across
        processes."""
        ...

    async def get_customer(self, customer_id: str) -> CustomerRecord | None: ...

    async def get_conversation(self, conversation_id: int) -> ConversationRecord | None: ...

    async def conversations_of(self, customer_id: str) -> Sequence[ConversationRecord]:
        """All conversations of a customer, newest first."""
        ...

    async def transcript(self, conversation_id: int) -> Sequence[TranscriptEntry]:
        """The conversation's transcript in the order it was written."""
        ...

    async def recent_transcript(self, conversation_id: int, limit: int) -> list[TranscriptEntry]:
        """The last ``limit`` transcript entries, oldest first."""
        ...

    async def close(self) -> None: ...
