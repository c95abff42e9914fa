"""Block Kit rendering of channel-neutral replies (pure functions, no I/O).

Limits (Slack's Block Kit reference): a section's text ≤ 3000 chars, a button's
``plain_text`` ≤ 75 chars, its ``value`` ≤ 2000 chars, ≤ 25 elements per actions block,
≤ 50 blocks per message. Text is escaped (``&``, ``<``, ``>``) so a customer's words or an
order number can never turn into a link, a mention or broken formatting.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.messages import Button, Outbound

SECTION_LIMIT = 3000
BUTTON_TEXT_LIMIT = 75
BUTTON_VALUE_LIMIT = 2000
BUTTONS_PER_BLOCK = 25
MAX_BLOCKS = 50
FALLBACK_TEXT_LIMIT = 2000
"""Raw chars of ``text``, the notification fallback (escaped ≤ 10000 of Slack's 40000)."""

ACTION_PREFIX = "supportbot_"
"""Every button we render has an ``action_id`` starting with this; others are not ours."""

Block = dict[str, Any]


def escape(text: str) -> str:
    """Slack's mrkdwn escaping: only these three characters are control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def split_text(text: str, limit: int = SECTION_LIMIT) -> list[str]:
    """Escaped chunks of at most ``limit`` chars, cut at a newline or space where possible.

    Cutting the *raw* text (then escaping) means an entity like ``&amp;`` is never split.
    """
    chunks: list[str] = []
    rest = text
    while rest:
        size = _fitting_prefix(rest, limit)
        if size < len(rest):
            cut = max(rest.rfind("\n", 0, size), rest.rfind(" ", 0, size))
            if cut > size // 2:
                size = cut + 1
        chunk = escape(rest[:size]).strip()
        if chunk:
            chunks.append(chunk)
        rest = rest[size:]
    return chunks


def _fitting_prefix(text: str, limit: int) -> int:
    """How many raw characters fit into ``limit`` once escaped."""
    used = 0
    for index, char in enumerate(text):
        used += 5 if char == "&" else 4 if char in "<>" else 1
        if used > limit:
            return index
    return len(text)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def button_element(index: int, button: Button) -> Block:
    element: Block = {
        "type": "button",
        "action_id": f"{ACTION_PREFIX}{index}",
        "text": {
            "type": "plain_text",
            "text": _clip(button.label, BUTTON_TEXT_LIMIT),
            "emoji": True,
        },
    }
    if button.url:
        element["url"] = button.url
    if button.payload:
        element["value"] = button.payload[:BUTTON_VALUE_LIMIT]
    return element


def render(message: Outbound) -> tuple[str, list[Block]]:
    """``(fallback text, blocks)`` for ``chat.postMessage``."""
    actions: list[Block] = []
    buttons = list(message.buttons)
    for start in range(0, len(buttons), BUTTONS_PER_BLOCK):
        elements = [
            button_element(start + i, b)
            for i, b in enumerate(buttons[start : start + BUTTONS_PER_BLOCK])
        ]
        actions.append(
            {"type": "actions", "block_id": f"supportbot_actions_{start}", "elements": elements}
        )
    actions = actions[: MAX_BLOCKS - 1]
    room = MAX_BLOCKS - len(actions)
    chunks = split_text(message.text)
    if len(chunks) > room:
        chunks = chunks[:room]
        chunks[-1] = _clip(chunks[-1], SECTION_LIMIT - 1) + "…"
    sections: list[Block] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": chunk}} for chunk in chunks
    ]
    fallback = escape(_clip(message.text, FALLBACK_TEXT_LIMIT)) or " "
    return fallback, sections + actions


def after_press(blocks: Sequence[Block], label: str) -> list[Block]:
    """The pressed message's blocks without its buttons, plus ``✔ <label>``.

    Used with ``chat.update`` so the choice stays visible and can't be pressed twice.
    """
    kept = [b for b in blocks if b.get("type") != "actions"]
    kept.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"✔ {escape(label)}"}]})
    return kept[-MAX_BLOCKS:]
