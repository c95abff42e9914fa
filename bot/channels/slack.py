"""Slack: slack-bolt's ``AsyncApp`` in, Block Kit out — translation only, no decisions.

Where customers talk to the bot:

* a direct message (``message`` with ``channel_type: im``) → chat ``<dm channel id>``;
* an ``@bot`` mention in a channel → the bot answers in that message's thread, and the
  thread is the chat: ``<channel id>:<thread root ts>``. Later replies in that thread
  are taken without a mention when the thread is one we answered (a bounded in-memory
  set, with the store as fallback after a restart: an open conversation of that user in
  that chat). Other channel chatter is not for us and is ignored.

Acknowledging (Slack retries anything not acked within 3 s): Bolt runs with
``process_before_response=True``, so the HTTP answer is sent when our listener returns.
The listener runs the turn as a task and waits for it at most :attr:`SlackChannel.ack_budget`
(2.5 s). Normally the turn has committed by then, so the ack means "durably taken". A
slower turn keeps running in the background (its task is kept; the gate counts it for
shutdown) and Slack gets its ack in time. During shutdown the gate refuses the update
and we answer 503, so Slack redelivers it to the next process (events are retried up to
3 times; a button press is not retried — Slack shows the user an error instead). A turn
that fails (e.g. the database is down) answers 500 for the same reason.

Redeliveries are harmless: ``Inbound.update_id`` is the event's ``event_id`` (or
``action:<message ts>:<action ts>`` for a button press) and the store ignores an id it
has seen, so ``X-Slack-Retry-Num`` retries need no special code.

HTTP: ``POST /slack/events`` serves events *and* interactivity, with Bolt's request
verification on (bad or stale signatures → 401, never processed). With ``SLACK_APP_TOKEN``
Socket Mode is used instead (started/stopped in :meth:`SlackChannel.start`/``stop``;
not exercised against the test stand-in). Without a signing secret no HTTP route is
served at all, so nothing unverified is ever accepted.

The Bolt app gets our ``AsyncWebClient`` (carrying the token and ``SLACK_API_URL``) and
no separate ``token=``: Bolt ignores the token when a client is given, with a warning.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections import OrderedDict
from collections.abc import Coroutine, Mapping, Sequence
from typing import Any, Protocol

import aiohttp
from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from bot.channels.base import InboundGate, ShuttingDown
from bot.channels.slack_blocks import ACTION_PREFIX, after_press, render
from bot.delivery import DeliveryError
from bot.errors import ConfigError, log_failure
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind, Outbound
from bot.settings import Settings
from storage.records import ConversationRecord

log = logging.getLogger("supportbot.slack")

CHANNEL = "slack"
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
UNREACHABLE_ERRORS = frozenset({"account_inactive", "is_archived"})
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
IGNORED_SUBTYPES = frozenset({"message_changed", "message_deleted"})
ACCEPTED_SUBTYPES = frozenset({None, "file_share", "thread_broadcast"})
NAME_CACHE_SIZE = 1000
THREAD_MEMORY = 10_000
DESK_ACTION_PREFIX = "supportdesk_"
"""``action_id`` prefix of the agent desk's card buttons (see bot/handoff/slack_desk.py)."""

Json = dict[str, Any]


class _TokenUnusedNote(logging.Filter):
    """Drop Bolt's "`token` will be unused" warning: it reads SLACK_BOT_TOKEN from the
    environment even though we hand it a client that carries that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.AsyncApp").addFilter(_TokenUnusedNote())


class DeskListener(Protocol):
    """The agent desk's side of this app: what happens in ``SLACK_AGENT_CHANNEL``."""

    async def on_message(self, event: Json) -> None: ...

    async def on_action(self, body: Json, action: Json) -> None: ...


class ConversationLookup(Protocol):
    """The one store read we need: is a thread an open conversation of this user?"""

    async def conversations_of(self, customer_id: str) -> Sequence[ConversationRecord]: ...


def chat_target(chat_id: str) -> tuple[str, str | None]:
    """``(channel id, thread ts)`` of a chat id (``D123`` or ``C123:1700000000.000100``)."""
    channel, _, thread = chat_id.partition(":")
    return channel, thread or None


def delivery_error(exc: SlackApiError) -> DeliveryError:
    """Map a Web API failure onto the outbox's retry rules."""
    response = exc.response
    status = getattr(response, "status_code", None) or getattr(response, "status", None) or 0
    data = getattr(response, "data", None)
    error = str(data.get("error", "")) if isinstance(data, Mapping) else ""
    headers: Mapping[str, str] = getattr(response, "headers", None) or {}
    if status == 429 or error == "ratelimited":
        retry_after = next((v for k, v in headers.items() if k.lower() == "retry-after"), None)
        seconds = float(retry_after) if retry_after and retry_after.isdigit() else None
        return DeliveryError("slack: ratelimited", retry_after=seconds)
    reason = f"slack: {error or 'HTTP ' + str(status)}"
    if status >= 500 or error in TRANSIENT_ERRORS:
        return DeliveryError(reason)
    if error in UNREACHABLE_ERRORS:
        return DeliveryError(reason, unreachable=True)
    return DeliveryError(reason, permanent=True)


class SlackTransport:
    """Posts outbox rows with ``chat.postMessage``; returns the message ``ts``."""

    channel = CHANNEL

    def __init__(self, client: AsyncWebClient) -> None:
        self._client = client

    async def send(self, message: Outbound) -> str | None:
        channel, thread_ts = chat_target(message.key.chat_id)
        text, blocks = render(message)
        args: Json = {"channel": channel, "text": text, "blocks": blocks}
        if thread_ts is not None:
            args["thread_ts"] = thread_ts
        try:
            response = await self._client.chat_postMessage(**args)
        except SlackApiError as exc:
            raise delivery_error(exc) from exc
        except NETWORK_ERRORS as exc:
            raise DeliveryError(f"slack: network error ({type(exc).__name__})") from exc
        ts = response.get("ts")
        return str(ts) if ts else None


class SlackChannel:
    """The Slack adapter: Bolt listeners that hand :class:`Inbound` to the gate."""

    name = CHANNEL
    ack_budget = 2.5
    """Seconds a listener waits for the turn before acking anyway (Slack allows 3)."""

    def __init__(
        self, settings: Settings, gate: InboundGate, store: ConversationLookup | None = None
    ) -> None:
        if settings.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN is not set; the Slack channel needs it.")
        self._gate = gate
        self._store = store
        self._api_url = settings.slack_api_url
        self._client = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
        )
        self.transport = SlackTransport(self._client)
        secret = settings.slack_signing_secret
        self._verified_http = secret is not None
        self._app_token = settings.slack_app_token
        self._agent_channel = settings.slack_agent_channel or None
        self._desk: DeskListener | None = None
        self.app = AsyncApp(
            client=self._client,
            # "" never reaches a served route: routes() serves nothing without a secret.
            signing_secret=secret.get_secret_value() if secret is not None else "",
            process_before_response=True,
            request_verification_enabled=True,
        )
        self._handler = AsyncSlackRequestHandler(self.app)
        self._socket: Any = None
        self._names: OrderedDict[str, str | None] = OrderedDict()
        self._threads: OrderedDict[str, None] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()
        self._detached: set[asyncio.Task[None]] = set()
        self.app.event("message")(self._on_message)
        self.app.event("app_mention")(self._on_mention)
        self.app.event(re.compile(".*"))(self._on_other_event)
        self.app.action(re.compile(f"^{DESK_ACTION_PREFIX}"))(self._on_desk_action)
        self.app.action(re.compile(f"^{ACTION_PREFIX}"))(self._on_button)
        self.app.action(re.compile(".*"))(self._on_other_action)

    @property
    def client(self) -> AsyncWebClient:
        """The Web API client (token, ``SLACK_API_URL``), shared with the agent desk."""
        return self._client

    def attach_desk(self, desk: DeskListener) -> None:
        """Route the agents' channel (messages, desk buttons) to ``desk``."""
        self._desk = desk

    # -- lifecycle ---------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        if not self._verified_http:
            return []
        return [Route("/slack/events", self._endpoint, methods=["POST"])]

    async def _endpoint(self, request: Request) -> Response:
        if not request.headers.get("x-slack-request-timestamp", "").isdigit():
            return Response(status_code=401)  # Bolt's verifier raises on it (fuzzing): 500
        try:
            return await self._handler.handle(request)
        except Exception:  # Bolt parses before it verifies: a body that is not UTF-8/JSON
            # or has the wrong shapes raised in there (found by fuzzing) — not a retry case
            log.warning("slack: a request Bolt could not parse; refused with 400")
            return Response(status_code=400)

    async def start(self) -> None:
        """Check the token with ``auth.test``; connect Socket Mode when configured."""
        try:
            await self._client.auth_test()
        except SlackApiError as exc:
            error = exc.response.get("error") if hasattr(exc.response, "get") else None
            raise ConfigError(
                f"Slack at {self._api_url} refused SLACK_BOT_TOKEN ({error or 'error'}); "
                "check the bot token."
            ) from None
        except NETWORK_ERRORS as exc:
            raise ConfigError(
                f"cannot reach the Slack Web API at {self._api_url} ({type(exc).__name__}); "
                "check SLACK_API_URL and the network."
            ) from None
        if self._app_token is not None:
            from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self.app, self._app_token.get_secret_value())
            await self._socket.connect_async()
            log.info("slack: connected in Socket Mode")

    async def stop(self) -> None:
        """Stop Socket Mode; HTTP stops with the server and turns in flight finish."""
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None

    async def close(self) -> None:
        """Release the Web API client's connections (after the last outbox flush)."""
        session = getattr(self._client, "session", None)
        if session is not None and not session.closed:
            await session.close()

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
        files = event.get("files") or []
        if files:
            kind = InboundKind.NON_TEXT
            shapes = files if isinstance(files, list) else [files]  # malformed: fuzzing
            mimetypes = [str(f.get("mimetype", "")) for f in shapes if isinstance(f, dict)]
            images = any(m.startswith("image/") for m in mimetypes)
            non_text = "image" if images else "file"
        elif start_if_empty and not text.strip():
            kind = InboundKind.START
        update_id = str(body.get("event_id") or f"msg:{event.get('channel')}:{event.get('ts')}")
        return await self._within_budget(
            self._turn(chat, user, kind, text, None, non_text, update_id)
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
        response = await self._within_budget(
            self._press(chat, user, str(value), update_id, channel, message, label)
        )
        if response is None:
            await ack()
        return response

    async def _on_other_action(self, ack: Any) -> None:
        await ack()

    # -- the agent desk ----------------------------------------------------------------

    async def _to_desk(self, event: Json) -> BoltResponse | None:
        if self._desk is None:
            log.info("slack: ignored a message in the agents' channel (no desk attached)")
            return None
        return await self._within_budget(self._desk.on_message(event))

    async def _on_desk_action(self, ack: Any, body: Json, action: Json) -> BoltResponse | None:
        if self._desk is None:
            log.info("slack: ignored a desk button (no desk attached)")
            await ack()
            return None
        response = await self._within_budget(self._desk.on_action(body, action))
        if response is None:
            await ack()
        return response

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
        await self._turn(chat, user, InboundKind.BUTTON, "", value, None, update_id)
        blocks = after_press(message.get("blocks") or [], label)
        try:
            await self._client.chat_update(
                channel=channel, ts=str(message.get("ts")), text=message.get("text") or " ",
                blocks=blocks,
            )  # fmt: skip
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            log.warning("slack: could not remove the buttons of a message: %s", exc)

    # -- the turn ----------------------------------------------------------------------

    async def _turn(
        self,
        chat: str,
        user: str,
        kind: InboundKind,
        text: str,
        payload: str | None,
        non_text: str | None,
        update_id: str,
    ) -> None:
        first_name = await self._first_name(user)
        inbound = Inbound(
            key=ConversationKey(CHANNEL, chat),
            sender=CustomerInfo(user, first_name=first_name),
            kind=kind,
            text=text,
            payload=payload,
            non_text_kind=non_text,
            update_id=update_id,
        )
        await self._gate.handle(inbound)

    async def _within_budget(self, turn: Coroutine[Any, Any, None]) -> BoltResponse | None:
        """Run ``turn``; answer when it is done or after :attr:`ack_budget`, whichever first.

        ``None`` = acknowledge (200); a ``BoltResponse`` replaces Bolt's ack.
        """
        task = asyncio.create_task(turn)
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        try:
            await asyncio.wait_for(asyncio.shield(task), self.ack_budget)
        except TimeoutError:
            self._detached.add(task)
            log.info("slack: turn still running after %.1fs; acking, it continues", self.ack_budget)
            return None
        except ShuttingDown:
            return BoltResponse(status=503, body="shutting down; retry later")
        except Exception:
            log_failure(log, "slack: turn failed; answering 500 so Slack redelivers")
            return BoltResponse(status=500, body="")
        return None

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task not in self._detached:
            return  # the listener saw the outcome
        self._detached.discard(task)
        if task.cancelled():
            return
        error = task.exception()
        if isinstance(error, ShuttingDown):
            log.warning("slack: an update acked before shutdown was not handled")
        elif error is not None:
            log.error("slack: a background turn failed", exc_info=error)

    async def _first_name(self, user: str) -> str | None:
        """The user's first name from ``users.info`` (cached; ``None`` if unavailable)."""
        if user in self._names:
            self._names.move_to_end(user)
            return self._names[user]
        try:
            response = await self._client.users_info(user=user)
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            log.debug("slack: users.info failed: %s", type(exc).__name__)
            return None
        info: Json = response.get("user") or {}
        profile: Json = info.get("profile") or {}
        name = (
            profile.get("first_name")
            or profile.get("display_name")
            or profile.get("real_name")
            or info.get("real_name")
            or None
        )
        self._names[user] = name
        while len(self._names) > NAME_CACHE_SIZE:
            self._names.popitem(last=False)
        return name


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
