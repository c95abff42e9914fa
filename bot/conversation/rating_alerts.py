"""Tell the agents when a customer gives a low score, so someone can make it right.

The alert is an outbox message to each agents' desk chat (the Slack agent channel, the
Telegram agent group), written in the same transaction as the rating: it goes out
exactly like a reply — retried, never lost, never twice. The transcript command in the
alert lets an agent read the whole conversation.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.messages import ConversationKey
from storage import Turn
from storage.records import OutboxMessage

ALERT_KIND = "desk_alert"


def _who(turn: Turn) -> str:
    customer = turn.customer
    name = " ".join(p for p in (customer.first_name, customer.last_name) if p)
    return name or customer.id


def low_score_alerts(
    turn: Turn, score: int, desks: Sequence[ConversationKey]
) -> list[OutboxMessage]:
    """One alert per desk chat about this conversation's low score."""
    conversation = turn.conversation
    where = conversation.flow_id or (turn.ticket.queue if turn.ticket else None) or "the menu"
    if conversation.flow_id and conversation.step_id:
        where = f"{conversation.flow_id} (step {conversation.step_id})"
    text = (
        f"⚠️ Low rating {score}/5 from {_who(turn)} on {turn.customer.channel}"
        f" ({turn.customer.persona or 'no persona'}) after {where}.\n"
        f"Transcript: supportbot transcript {conversation.id}"
    )
    return [_alert(desk, text) for desk in desks]


def comment_alerts(
    turn: Turn, comment: str, desks: Sequence[ConversationKey]
) -> list[OutboxMessage]:
    """The comment that followed a low score, so agents see what went wrong."""
    text = f"💬 {_who(turn)} (conversation {turn.conversation.id}) said: {comment[:500]}"
    return [_alert(desk, text) for desk in desks]


def _alert(desk: ConversationKey, text: str) -> OutboxMessage:
    return OutboxMessage(desk.channel, desk.chat_id, {"text": text, "buttons": []}, ALERT_KIND)
