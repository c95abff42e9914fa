"""Channel-neutral messages: what a channel adapter hands in and gets back.

Adapters translate platform updates into :class:`Inbound` and render
:class:`Outbound`; nothing platform-specific crosses this line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any


class InboundKind(StrEnum):
    """What the customer did."""

    TEXT = "text"
    BUTTON = "button"  # a tap on a button we sent; ``payload`` carries its data
    START = "start"  # the conversation was opened (Telegram /start, deep link payload)
    NON_TEXT = "non_text"  # photo, sticker, voice, document, location ...


MAX_FILE_BYTES = 20 * 1024 * 1024
"""The largest file passed on between customers and agents: what a Telegram bot may
download (``getFile``). One limit everywhere, so what a customer is told ("too large")
always matches what the agent gets, whichever desk takes the ticket."""

FILE_KINDS = ("photo", "document", "voice", "video", "audio", "animation", "video_note")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file someone sent: a *reference* to it on its platform, never its bytes.

    ``channel`` is the platform that holds it (``telegram``, ``slack``) and ``file_id``
    its id there (Telegram ``file_id``, Slack file id); ``url`` is where to download it
    when the platform names one (Slack ``url_private_download``, fetched with the bot
    token). The bytes are fetched only when a file crosses to another platform.
    """

    kind: str  # one of FILE_KINDS
    channel: str
    file_id: str
    name: str | None = None
    mime: str | None = None
    size: int | None = None
    url: str | None = None

    @property
    def is_image(self) -> bool:
        return self.kind == "photo" or (self.mime or "").startswith("image/")

    @property
    def too_large(self) -> bool:
        return self.size is not None and self.size > MAX_FILE_BYTES

    def label(self) -> str:
        """``photo damage.jpg, 1.2 MB`` — what agents and transcripts show."""
        words = [self.kind.replace("_", " ")]
        if self.name:
            words.append(self.name)
        text = " ".join(words)
        return f"{text}, {human_size(self.size)}" if self.size is not None else text

    def reference(self) -> str:
        """``[photo, 48 KB · telegram file AgAD…]``: what it is and where it lives (for the
        terminal desk and transcripts, which have no platform to show it on)."""
        return f"[{self.label()} · {self.channel} file {self.file_id}]"

    def to_json(self) -> dict[str, Any]:
        """As stored in transcripts, slots and outbox rows (unset fields left out)."""
        data = {
            "kind": self.kind,
            "channel": self.channel,
            "file_id": self.file_id,
            "name": self.name,
            "mime": self.mime,
            "size": self.size,
            "url": self.url,
        }
        return {key: value for key, value in data.items() if value is not None}

    @classmethod
    def from_json(cls, data: object) -> Attachment | None:
        """The attachment a stored reference describes; None for anything else."""
        if not isinstance(data, Mapping):
            return None
        kind, channel, file_id = data.get("kind"), data.get("channel"), data.get("file_id")
        if not (isinstance(kind, str) and isinstance(channel, str) and isinstance(file_id, str)):
            return None
        size = data.get("size")
        return cls(
            kind,
            channel,
            file_id,
            name=_text(data.get("name")),
            mime=_text(data.get("mime")),
            size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            url=_text(data.get("url")),
        )


def attachments_in(data: Mapping[str, Any]) -> tuple[Attachment, ...]:
    """The file references a transcript entry's (or outbox row's) data holds."""
    items = data.get("attachments")
    if not isinstance(items, list):
        return ()
    found = (Attachment.from_json(item) for item in items)
    return tuple(a for a in found if a is not None)


def shown(value: object) -> str:
    """A slot value as agents read it: a file reference as ``[photo, 48 KB]``."""
    file = Attachment.from_json(value)
    return f"[{file.label()}]" if file is not None else str(value)


def human_size(size: int | None) -> str:
    """``850 KB``, ``1.2 MB`` (binary units, as the platforms count their limits)."""
    if size is None:
        return "unknown size"
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f} MB".replace(".0 MB", " MB")


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


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
    ``event_id``, console sequence) used later to ignore redeliveries. ``attachments``:
    the files it carried (``text`` is then their caption).
    """

    key: ConversationKey
    sender: CustomerInfo
    kind: InboundKind = InboundKind.TEXT
    text: str = ""
    payload: str | None = None
    non_text_kind: str | None = None
    update_id: str | None = None
    attachments: tuple[Attachment, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """What :meth:`from_json` reads back (an update kept in the inbox)."""
        sender = self.sender
        return {
            "channel": self.key.channel,
            "chat_id": self.key.chat_id,
            "sender": [sender.user_id, sender.first_name, sender.last_name, sender.language],
            "kind": self.kind.value,
            "text": self.text,
            "payload": self.payload,
            "non_text_kind": self.non_text_kind,
            "update_id": self.update_id,
            "attachments": [a.to_json() for a in self.attachments],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Inbound:
        user_id, first_name, last_name, language = data["sender"]
        found = (Attachment.from_json(item) for item in data.get("attachments", ()))
        return cls(
            ConversationKey(data["channel"], data["chat_id"]),
            CustomerInfo(user_id, first_name, last_name, language),
            InboundKind(data["kind"]),
            data["text"],
            data["payload"],
            data["non_text_kind"],
            data["update_id"],
            tuple(a for a in found if a is not None),
        )


@dataclass(frozen=True, slots=True)
class Button:
    """A button under a reply: either a routing payload or an external link."""

    label: str
    payload: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Outbound:
    """One reply to send to a customer chat; with an ``attachment``, ``text`` is its caption."""

    key: ConversationKey
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)
    attachment: Attachment | None = None


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
        attachments=tuple(_clean_file(a) for a in inbound.attachments),
    )


def _clean_file(file: Attachment) -> Attachment:
    return replace(
        file,
        file_id=_clean(file.file_id) or "",
        name=_clean(file.name),
        mime=_clean(file.mime),
        url=_clean(file.url),
    )
