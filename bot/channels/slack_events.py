"""Slack's listeners: which events and button presses are a customer's turn, which belong
to the agent desk, and which are not for us.

Where customers talk to the bot:

* a direct message (``message`` with ``channel_type: im``) → chat ``<dm channel id>``;
* an ``@bot`` mention in a channel → the bot answers in that message's thread, and the
  thread is the chat: ``<channel id>:<thread root ts>``. Later replies in that thread
  are taken without a mention when the thread is one we answered (a bounded in-memory
  set, with the store as fallback after a restart: an open conversation of that user in
  that chat). Other channel chatter is not for us and is ignored.

Everything in ``SLACK_AGENT_CHANNEL`` (messages, the desk's card buttons) goes to the
attached :class:`DeskListener`, never to a customer's conversation.

Redeliveries are harmless: ``Inbound.update_id`` is the event's ``event_id`` (or
``action:<message ts>:<action ts>`` for a button press) and the store ignores an id it
has seen, so ``X-Slack-Retry-Num`` retries need no special code.
"""

from __future__ import annotations

import logging
import re
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Protocol

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack_blocks import ACTION_PREFIX, after_press
from bot.channels.slack_sending import CHANNEL, NETWORK_ERRORS
from bot.channels.slack_turns import TurnRunner
from bot.messages import Attachment, InboundKind
from storage.records import ConversationRecord

log = logging.getLogger("supportbot.slack")

IGNORED_SUBTYPES = frozenset({"message_changed", "message_deleted"})
ACCEPTED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
THREAD_MEMORY = 10_000
DESK_ACTION_PREFIX = "supportdesk_"
"""``action_id`` prefix of the agent desk's card buttons (see bot/handoff/slack_desk.py)."""

Json = dict[str, Any]


class DeskListener(Protocol):
    """The agent desk's side of this app: what happens in ``SLACK_AGENT_CHANNEL``."""

    async def on_message(self, event: Json) -> None: ...

    async def on_action(self, body: Json, action: Json) -> None: ...


class ConversationLookup(Protocol):
    """The one store read we need: is a thread an open conversation of this user?"""

    async def conversations_of(self, customer_id: str) -> Sequence[ConversationRecord]: ...


class SlackListeners:
    """Bolt listeners for one app: customers' turns go to ``turns``, agents' to the desk."""

    def __init__(
        self,
        turns: TurnRunner,
        client: AsyncWebClient,
        store: ConversationLookup | None,
        agent_channel: str | None,
    ) -> None:
        self._turns = turns
        self._client = client
        self._store = store
        self._agent_channel = agent_channel
        self._desk: DeskListener | None = None
        self._threads: OrderedDict[str, None] = OrderedDict()

    def register(self, app: AsyncApp) -> None:
        """Listen on ``app``; Bolt runs the first listener that matches, in this order."""
        app.event("message")(self._on_message)
        app.event("app_mention")(self._on_mention)
        app.event(re.compile(".*"))(self._on_other_event)
        app.action(re.compile(f"^{DESK_ACTION_PREFIX}"))(self._on_desk_action)
        app.action(re.compile(f"^{ACTION_PREFIX}"))(self._on_button)
        app.action(re.compile(".*"))(self._on_other_action)
        app.command(re.compile(".*"))(self._on_command)

    def attach_desk(self, desk: DeskListener) -> None:
        """Route the agents' channel (messages, desk buttons) to ``desk``."""
        self._desk = desk

    # -- events ------------------------------------------------------------------------

    async def _on_message(
        self, body: Json, event: Json, context: AsyncBoltContext
    ) -> BoltResponse | None:
        subtype = event.get("subtype")
        if not isinstance(subtype, str | None):
            return None  # malformed (found by fuzzing)
        if subtype in IGNORED_SUBTYPES:
            log.debug("slack: noted %s in %s", subtype, event.get("channel"))
            return None
        user = event.get("user")
        if event.get("bot_id") or subtype not in ACCEPTED_SUBTYPES or not user:
            return None  # other bots, joins/topics ...; our own are dropped by Bolt
        channel = str(event.get("channel", ""))
        if channel == self._agent_channel:  # agents, never customers
            return await self._to_desk(event)
        text = str(event.get("text") or "")
        if event.get("channel_type") == "im":
            chat = channel
        else:
            thread = event.get("thread_ts")
            if not thread or _mention_of(context.bot_user_id, text):
                return None  # not for us, or the app_mention event brings it
            chat = f"{channel}:{thread}"
            if not await self._is_our_thread(chat, str(user)):
                return None
        return await self._take(body, event, chat, str(user), text)

    async def _on_mention(
        self, body: Json, event: Json, context: AsyncBoltContext
    ) -> BoltResponse | None:
        user = event.get("user")
        if not user or event.get("bot_id"):
            return None
        if event.get("channel") == self._agent_channel:
            return None  # agents, never customers; the desk gets the message event
        root = event.get("thread_ts") or event.get("ts")
        chat = f"{event.get('channel')}:{root}"
        self._remember_thread(chat)
        text = _strip_mention(context.bot_user_id, str(event.get("text") or ""))
        return await self._take(body, event, chat, str(user), text, start_if_empty=True)

    async def _on_other_event(self) -> None:
        """Other subscribed events: acknowledged, nothing to do."""

    async def _take(
        self, body: Json, event: Json, chat: str, user: str, text: str, start_if_empty: bool = False
    ) -> BoltResponse | None:
        kind, non_text = InboundKind.TEXT, None
        files = attachments_of(event.get("files"))
        if event.get("files"):
            kind = InboundKind.NON_TEXT
            non_text = "image" if any(f.is_image for f in files) else "file"
        elif start_if_empty and not text.strip():
            kind = InboundKind.START
        update_id = str(body.get("event_id") or f"msg:{event.get('channel')}:{event.get('ts')}")
        return await self._turns.within_budget(
            self._turns.turn(chat, user, kind, text, None, non_text, update_id, files)
        )

    async def _is_our_thread(self, chat: str, user: str) -> bool:
        if chat in self._threads:
            self._threads.move_to_end(chat)
            return True
        if self._store is None:
            return False
        try:
            conversations = await self._store.conversations_of(f"{CHANNEL}:{user}")
        except Exception:
            log.warning("slack: could not check thread %s in the store", chat, exc_info=True)
            return False
        key = f"{CHANNEL}:{chat}"
        if any(c.chat_key == key and c.ended_at is None for c in conversations):
            self._remember_thread(chat)
            return True
        return False

    def _remember_thread(self, chat: str) -> None:
        self._threads[chat] = None
        self._threads.move_to_end(chat)
        while len(self._threads) > THREAD_MEMORY:
            self._threads.popitem(last=False)

    # -- buttons -----------------------------------------------------------------------

    async def _on_button(self, ack: Any, body: Json, action: Json) -> BoltResponse | None:
        value = action.get("value")
        if not value:  # a link button: Slack opened the URL, nothing to route
            await ack()
            return None
        container = _json(body.get("container"))
        message: Json = _json(body.get("message"))
        channel = str(container.get("channel_id") or _json(body.get("channel")).get("id"))
        if channel == self._agent_channel:  # agents, never customers
            log.info("slack: ignored a customer button pressed in the agents' channel")
            await ack()
            return None
        thread = message.get("thread_ts")
        chat = f"{channel}:{thread}" if thread else channel
        user = str(_json(body.get("user")).get("id"))
        label = str(_json(action.get("text")).get("text") or "")
        update_id = f"action:{container.get('message_ts')}:{action.get('action_ts')}"
        response = await self._turns.within_budget(
            self._press(chat, user, str(value), update_id, channel, message, label)
        )
        if response is None:
            await ack()
        return response

    async def _on_other_action(self, ack: Any) -> None:
        await ack()

    async def _on_command(self, ack: Any, command: Json) -> None:
        """We offer no slash command: acknowledge quietly (unacknowledged, Slack would show
        the user an error; over Socket Mode nothing else would answer it)."""
        await ack()
        log.info("slack: ignored the slash command %s", str(command.get("command"))[:40])

    async def _press(
        self,
        chat: str,
        user: str,
        value: str,
        update_id: str,
        channel: str,
        message: Json,
        label: str,
    ) -> None:
        """Hand the tap over, then replace the buttons by ``✔ label`` (no second press)."""
        await self._turns.turn(chat, user, InboundKind.BUTTON, "", value, None, update_id)
        blocks = after_press(message.get("blocks") or [], label)
        try:
            await self._client.chat_update(
                channel=channel, ts=str(message.get("ts")), text=message.get("text") or " ",
                blocks=blocks,
            )  # fmt: skip
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            log.warning("slack: could not remove the buttons of a message: %s", exc)

    # -- the agent desk ----------------------------------------------------------------

    async def _to_desk(self, event: Json) -> BoltResponse | None:
        if self._desk is None:
            log.info("slack: ignored a message in the agents' channel (no desk attached)")
            return None
        return await self._turns.within_budget(self._desk.on_message(event))

    async def _on_desk_action(self, ack: Any, body: Json, action: Json) -> BoltResponse | None:
        if self._desk is None:
            log.info("slack: ignored a desk button (no desk attached)")
            await ack()
            return None
        response = await self._turns.within_budget(self._desk.on_action(body, action))
        if response is None:
            await ack()
        return response


def attachments_of(files: object) -> tuple[Attachment, ...]:
    """A message's shared files as references (kind from the MIME type); a file whose
    event only names it (Slack Connect: ``file_access``) is looked up when fetched."""
    shapes = files if isinstance(files, list) else [files]  # malformed: fuzzing
    found: list[Attachment] = []
    for file in shapes:
        if not isinstance(file, dict) or not isinstance(file.get("id"), str):
            continue
        mime = file.get("mimetype") if isinstance(file.get("mimetype"), str) else None
        major = (mime or "").partition("/")[0]
        kind = {"image": "photo", "video": "video", "audio": "audio"}.get(major, "document")
        size, url = file.get("size"), file.get("url_private_download")
        found.append(
            Attachment(
                kind, CHANNEL, file["id"],
                name=file.get("name") if isinstance(file.get("name"), str) else None,
                mime=mime,
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                url=url if isinstance(url, str) else None,
            )
        )  # fmt: skip
    return tuple(found)


def _json(value: object) -> Json:
    """``value`` if it is an object, else ``{}`` (a malformed payload; found by fuzzing)."""
    return value if isinstance(value, dict) else {}


def _mention_pattern(bot_user_id: str | None) -> re.Pattern[str]:
    who = re.escape(bot_user_id) if bot_user_id else r"[UW][A-Z0-9]+"
    return re.compile(rf"<@{who}(?:\|[^>]*)?>")


def _mention_of(bot_user_id: str | None, text: str) -> bool:
    return bot_user_id is not None and _mention_pattern(bot_user_id).search(text) is not None


def _strip_mention(bot_user_id: str | None, text: str) -> str:
    return _mention_pattern(bot_user_id).sub("", text, count=1 if not bot_user_id else 0).strip()
