"""Channel-neutral messages: what a channel adapter hands in and gets back.

Adapters translate platform updates into :class:`Inbound` and render
:class:`Outbound`; nothing platform-specific crosses this line.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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


def _clean(value: object) -> str | None:
    """A string that can be stored and sent: lone surrogates (invalid in UTF-8, so no
    database or platform accepts them) become U+FFFD; a non-string (a malformed update
    whose field has the wrong type) becomes None."""
    if not isinstance(value, str):
        return None
    if value.isascii():
        return value
    return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def well_formed(inbound: Inbound) -> Inbound:
    """``inbound`` with every text field cleaned by :func:`_clean`, so it can be stored
    and answered (found by fuzzing: a lone surrogate from a broken client, or a wrongly
    typed name, made the turn fail on every redelivery)."""
    sender = inbound.sender
    return replace(
        inbound,
        key=ConversationKey(inbound.key.channel, _clean(inbound.key.chat_id) or ""),
        sender=CustomerInfo(
            _clean(sender.user_id) or "",
            _clean(sender.first_name),
            _clean(sender.last_name),
            _clean(sender.language),
        ),
        text=_clean(inbound.text) or "",
        payload=_clean(inbound.payload),
        non_text_kind=_clean(inbound.non_text_kind),
        update_id=_clean(inbound.update_id),
    )
