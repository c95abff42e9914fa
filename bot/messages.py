"""Channel-neutral messages: what a channel adapter hands in and gets back.

Adapters translate platform updates into :class:`Inbound` and render
:class:`Outbound`; nothing platform-specific crosses this line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class InboundKind(StrEnum):
    """What the customer did."""

    TEXT = "text"
    BUTTON = "button"  # a tap on a button we sent; ``payload`` carries its data
    START = "start"  # the conversation was opened (Telegram /start, deep link payload)
    NON_TEXT = "non_text"  # photo, sticker, voice, document, location ...


@dataclass(frozen=True, slots=True)
class ConversationKey:
    """Identifies one customer chat on one channel (e.g. a Telegram private chat)."""

    channel: str
    chat_id: str

    def __str__(self) -> str:
        return f"{self.channel}:{self.chat_id}"


@dataclass(frozen=True, slots=True)
class CustomerInfo:
    """What the platform tells us about the sender, copied into the customer profile."""

    user_id: str
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None


@dataclass(frozen=True, slots=True)
class Inbound:
    """One thing a customer sent.

    ``update_id`` is the channel-scoped id of the update (Telegram ``update_id``, Slack
    ``event_id``, console sequence) used later to ignore redeliveries.
    """

    key: ConversationKey
    sender: CustomerInfo
    kind: InboundKind = InboundKind.TEXT
    text: str = ""
    payload: str | None = None
    non_text_kind: str | None = None
    update_id: str | None = None


@dataclass(frozen=True, slots=True)
class Button:
    """A button under a reply: either a routing payload or an external link."""

    label: str
    payload: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Outbound:
    """One reply to send to a customer chat."""

    key: ConversationKey
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)
