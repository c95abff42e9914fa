"""Conversations the customer walked away from are ended and recorded as abandoned.

A customer who stops answering mid-flow is not asked for a rating (they got no answer);
instead the conversation ends with outcome ``abandoned`` and an ``abandoned`` event naming
the flow and step they stopped at — the drop-off report counts it there. Their next
message opens a new conversation ("Welcome back"). Conversations waiting for or talking
with a person are never abandoned by the bot, nor are those waiting for a rating (the
late answer is still thanked).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.engine.state import ConversationState, Status
from storage.records import TranscriptEntry, utcnow
from storage.sql import SqlStore

log = logging.getLogger("supportbot.conversation")

ABANDONABLE = (Status.NEW, Status.MENU, Status.CHOOSING_PERSONA, Status.IN_FLOW)
ABANDONED = "abandoned"
SWEEP_SECONDS = 60.0


async def end_abandoned(store: SqlStore, idle_after: timedelta, now: datetime | None = None) -> int:
    """End every conversation idle for ``idle_after`` mid-way; returns how many."""
    before = (now or utcnow()) - idle_after
    statuses = [s.value for s in ABANDONABLE]
    ended = 0
    while True:
        batch = await store.idle_open_conversations(before, statuses)
        for conversation in batch:
            state = ConversationState.from_json(conversation.state)
            data = {"flow": state.flow_id, "variant": state.variant, "step": state.step_id,
                    "status": state.status.value}  # fmt: skip
            entry = TranscriptEntry("event", ABANDONED, data=data)
            if await store.end_if_idle(conversation.id, before, statuses, ABANDONED, entry):
                ended += 1
        if len(batch) < 500 or not ended:
            break
    if ended:
        log.info("ended %d abandoned conversation(s) idle for over %s", ended, idle_after)
    return ended
