"""The Telegram channel: python-telegram-bot's ``Bot`` for the Bot API, our own update loop.

It translates, never decides: an update becomes an :class:`~bot.messages.Inbound` for
the :class:`~bot.channels.base.InboundGate`; replies leave through the outbox and
:class:`~bot.channels.telegram_messages.TelegramTransport`.

**No update is lost.** Long polling is our own ``getUpdates`` loop, not ptb's
``Updater`` (which confirms updates before handlers run). Telegram treats an update as
confirmed once ``getUpdates`` is called with a higher ``offset``; we advance the offset
only after every update of a batch went through the gate and its turn returned (=
committed). A crash, a failed turn or a shutdown leaves the update unconfirmed, Telegram
delivers it again and the store's update-id check makes the replay harmless. A batch's
chats run in parallel; one chat's updates run in order. In webhook mode the HTTP answer
plays the offset's part: 200 only after the turn returned, 503 while shutting down, 500
on a failure — anything but 2xx makes Telegram redeliver.

**Customers are served in private chats only.** In groups and supergroups the bot stays
silent (button taps are still answered, so no spinner hangs), because

- a conversation is keyed by chat: in a group every member would share one conversation
  — one person's order number, persona choice and handoff would be everyone's;
- support conversations carry personal data (order numbers, e-mail addresses) that should
  not be asked for or shown in front of other members;
- the bot sits in the agents' group (``TELEGRAM_AGENT_CHAT_ID``); agents' messages there
  must never be taken for customer turns.

Only one poller may run per token, so group updates are offered to
:attr:`TelegramChannel.group_handler` — the hook for the agent desk — and otherwise
ignored (logged at DEBUG). Edited messages are ignored the same way: the original was
already answered.

Secrets stay out of logs: the token is never part of an error message, request bodies
are never logged, and the ``httpx`` (request URLs contain the token) and ``telegram.Bot``
(logs request parameters) loggers are capped at WARNING/INFO.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import re
import warnings
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from telegram import Bot, BotCommand, CallbackQuery, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.request import BaseRequest, HTTPXRequest
from telegram.warnings import PTBUserWarning

from bot.channels.base import InboundGate, ShuttingDown
from bot.channels.telegram_http import AiohttpRequest
from bot.channels.telegram_messages import (
    ALLOWED_UPDATES,
    BOT_COMMANDS,
    CHANNEL,
    TelegramTransport,
    message_inbound,
    retry_seconds,
    sender_of,
)
from bot.delivery import Transport
from bot.errors import ConfigError, log_failure
from bot.messages import ConversationKey, Inbound, InboundKind
from bot.settings import Settings

log = logging.getLogger("supportbot.telegram")

TOKEN_PATTERN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,}$")
"""The shape @BotFather hands out (``123456789:AA…``); anything else is a paste error."""
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
"""What Telegram accepts as ``secret_token`` (setWebhook)."""
WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"

POLL_TIMEOUT = 25  # long-poll seconds: below common proxies' 30 s idle cut-off
TYPING_AFTER = 0.5  # quick turns show no "typing…" flicker
TYPING_EVERY = 4.0  # Telegram shows the action for 5 s
STOP_WAIT = 20.0  # matches the runner's grace for turns in flight
CONNECTION_POOL = 64  # one pool per process: sends, chat actions and the long poll

GroupHandler = Callable[[Update], Awaitable[None]]


class TelegramChannel:
    """One bot token: long polling by default, webhook mode with URL + secret."""

    name = CHANNEL

    def __init__(
        self,
        settings: Settings,
        gate: InboundGate,
        *,
        poll_timeout: int = POLL_TIMEOUT,
        retry_delay: float = 1.0,
        max_retry_delay: float = 30.0,
        conflict_delay: float = 30.0,
        typing_after: float = TYPING_AFTER,
    ) -> None:
        """Checks the settings (one-line :class:`ConfigError`); no network until start()."""
        if settings.telegram_bot_token is None:
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set.")
        token = settings.telegram_bot_token.get_secret_value().strip()
        if not TOKEN_PATTERN.match(token):
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is malformed: expected '<bot id>:<secret>' exactly as "
                "@BotFather shows it (digits, a colon, then letters, digits, _ and -)."
            )
        self._webhook_url = settings.telegram_webhook_url or None
        secret = settings.telegram_webhook_secret
        self._secret = secret.get_secret_value() if secret is not None else None
        if self._webhook_url and not self._secret:
            raise ConfigError(
                "TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not: webhook "
                "requests could not be verified. Set TELEGRAM_WEBHOOK_SECRET."
            )
        if self._secret and not self._webhook_url:
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET is set but TELEGRAM_WEBHOOK_URL is not: set both "
                "for webhook mode, or neither for long polling."
            )
        if self._secret and not SECRET_PATTERN.match(self._secret):
            raise ConfigError(
                "TELEGRAM_WEBHOOK_SECRET may only hold 1-256 letters, digits, _ and -."
            )
        _quiet_libraries()
        self._gate = gate
        self._api_root = settings.telegram_api_base_url.rstrip("/")
        self._request: BaseRequest
        if settings.telegram_http_client == "httpx":
            self._request = HTTPXRequest(
                connection_pool_size=CONNECTION_POOL, read_timeout=10.0, pool_timeout=5.0
            )
        else:
            self._request = AiohttpRequest(CONNECTION_POOL, read_timeout=10.0, pool_timeout=5.0)
        self.bot = Bot(
            token,
            base_url=f"{self._api_root}/bot",
            base_file_url=f"{self._api_root}/file/bot",
            request=self._request,
            get_updates_request=self._request,
        )
        """The process's one Bot (and HTTP pool); the agent desk should reuse it."""
        self._transport = TelegramTransport(self.bot)
        self.group_handler: GroupHandler | None = None
        """Receives updates from group chats (the agent desk); None = ignore them."""
        self._poll_timeout = poll_timeout
        self._retry_delay = retry_delay
        self._max_retry_delay = max_retry_delay
        self._conflict_delay = conflict_delay
        self._typing_after = typing_after
        self._stopping = asyncio.Event()
        self._poll_task: asyncio.Task[None] | None = None
        self._fetching: asyncio.Task[tuple[tuple[Update, ...], int | None]] | None = None

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def webhook_mode(self) -> bool:
        return self._webhook_url is not None

    def routes(self) -> Sequence[BaseRoute]:
        if not self.webhook_mode:
            return []
        return [Route(WEBHOOK_PATH, self._webhook, methods=["POST"])]

    # ---- lifecycle -----------------------------------------------------------------

    async def start(self) -> None:
        """getMe (token + reachability), commands, webhook on/off, then polling if any."""
        await self._setup("getMe", self.bot.initialize())
        await self._setup(
            "setMyCommands",
            self.bot.set_my_commands([BotCommand(name, text) for name, text in BOT_COMMANDS]),
        )
        if self._webhook_url is not None:
            await self._setup(
                "setWebhook",
                self.bot.set_webhook(
                    self._webhook_url, secret_token=self._secret, allowed_updates=ALLOWED_UPDATES
                ),
            )
            log.info("telegram: @%s receives updates by webhook", self.bot.username)
            return
        await self._setup("deleteWebhook", self.bot.delete_webhook(drop_pending_updates=False))
        self._stopping.clear()
        self._poll_task = asyncio.create_task(self._poll(), name="telegram-poll")
        log.info("telegram: @%s receives updates by long polling", self.bot.username)

    async def _setup(self, method: str, call: Awaitable[object]) -> None:
        """A start-up call; failures become one line naming the URL, never the token."""
        where = f"the Telegram Bot API at {self._api_root}"
        try:
            await call
        except InvalidToken:
            raise ConfigError(
                f"The Telegram Bot API at {self._api_root} rejected TELEGRAM_BOT_TOKEN "
                f"({method}: unauthorized); check the token with @BotFather and "
                "TELEGRAM_API_BASE_URL."
            ) from None
        except TelegramError as exc:
            if isinstance(exc, BadRequest | Conflict | RetryAfter):
                raise ConfigError(f"The Telegram Bot API at {self._api_root} refused "
                                  f"{method}: {exc.message}") from None  # fmt: skip
            raise ConfigError(
                f"Cannot reach {where} ({method}: {type(exc).__name__}); check "
                "TELEGRAM_API_BASE_URL and the network."
            ) from None

    async def stop(self) -> None:
        """Stop polling: the long poll is cancelled, the batch in hand finishes."""
        self._stopping.set()
        if self._fetching is not None:
            self._fetching.cancel()
        task = self._poll_task
        if task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(task), STOP_WAIT)
        except TimeoutError:
            log.warning("telegram: polling did not stop within %.0fs; cancelled", STOP_WAIT)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._poll_task = None

    async def close(self) -> None:
        """Close the HTTP pool; after the outbox was flushed (it sends through it)."""
        await self.stop()
        await self.bot.shutdown()

    # ---- long polling --------------------------------------------------------------

    async def _poll(self) -> None:
        offset: int | None = None  # None: start at the oldest unconfirmed update
        confirmed: int | None = None
        delay = self._retry_delay
        while not self._stopping.is_set():
            try:
                updates, skip_to = await self._fetch(offset)
                confirmed = offset
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    break
                raise
            except Conflict:
                log.error(
                    "telegram: another process is polling this bot (409 Conflict); only one "
                    "poller per token can run — stop the other one, or use webhooks to scale "
                    "out. Retrying in %.0fs.",
                    self._conflict_delay,
                )
                await self._pause(self._conflict_delay)
                continue
            except InvalidToken:
                log.error("telegram: the bot token was rejected (revoked?); retrying later")
                await self._pause(self._conflict_delay)
                continue
            except RetryAfter as exc:
                await self._pause(retry_seconds(exc))
                continue
            except TelegramError as exc:
                log.warning(
                    "telegram: getUpdates failed (%s); retrying in %.1fs",
                    type(exc).__name__,
                    delay,
                )
                await self._pause(delay)
                delay = min(delay * 2, self._max_retry_delay)
                continue
            except Exception:  # a bug, or an answer ptb cannot read: keep polling, loudly
                log.exception("telegram: getUpdates failed; retrying in %.1fs", delay)
                await self._pause(delay)
                delay = min(delay * 2, self._max_retry_delay)
                continue
            delay = self._retry_delay
            if not updates:
                offset = skip_to or offset
                continue
            next_offset, failed, shutting_down = await self._run_batch(updates)
            offset = next_offset if failed or skip_to is None else max(next_offset, skip_to)
            if shutting_down:
                break
            if failed:
                await self._pause(delay)
                delay = min(delay * 2, self._max_retry_delay)
        if offset is not None and offset != confirmed:
            await self._confirm(offset)

    async def _fetch(self, offset: int | None) -> tuple[tuple[Update, ...], int | None]:
        """One long poll, cancellable by stop() without cancelling turns in flight.

        Returns the updates, and the offset past any update that could not be read."""
        self._fetching = asyncio.create_task(self._get_updates(offset))
        try:
            return await self._fetching
        finally:
            self._fetching = None

    async def _get_updates(self, offset: int | None) -> tuple[tuple[Update, ...], int | None]:
        try:
            updates = await self.bot.get_updates(
                offset=offset, timeout=self._poll_timeout, allowed_updates=ALLOWED_UPDATES
            )
            return updates, None
        except TelegramError:
            raise
        except Exception:
            # ptb could not read one of the updates, which fails the whole batch; fetched
            # as is, it would fail again forever and stall every chat. Read them one by one.
            return await self._get_updates_one_by_one(offset)

    async def _get_updates_one_by_one(
        self, offset: int | None
    ) -> tuple[tuple[Update, ...], int | None]:
        """The pending batch, parsed update by update; unreadable ones are skipped
        (logged with their id only: the body is personal data)."""
        raw = await self.bot.do_api_request(
            "getUpdates",
            api_kwargs={"offset": offset, "timeout": 0, "allowed_updates": ALLOWED_UPDATES},
        )
        updates: list[Update] = []
        skip_to: int | None = None
        for item in raw if isinstance(raw, list) else []:
            update_id = item.get("update_id") if isinstance(item, dict) else None
            try:
                updates.append(Update.de_json(item, self.bot))
            except Exception as exc:
                log.warning(
                    "telegram: update %s cannot be read (%s); skipped",
                    update_id,
                    type(exc).__name__,
                )
                if isinstance(update_id, int):
                    skip_to = max(skip_to or 0, update_id + 1)
        return tuple(updates), skip_to

    async def _confirm(self, offset: int) -> None:
        """Tell Telegram the last batch was handled, so a restart does not replay it."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.bot.get_updates(offset=offset, timeout=0, limit=1), 5.0)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _run_batch(self, updates: Sequence[Update]) -> tuple[int, bool, bool]:
        """Handle a batch; returns (next offset, a turn failed, shutdown refused one).

        The next offset is the first update that did not complete, else the last + 1.
        """
        chains: dict[object, list[Update]] = {}
        for update in sorted(updates, key=lambda u: u.update_id):
            chat = update.effective_chat
            chains.setdefault(chat.id if chat else ("update", update.update_id), []).append(update)
        incomplete: list[int] = []
        refused: list[int] = []

        async def run_chain(chain: list[Update]) -> None:
            for update in chain:  # in order; stop at the first failure
                try:
                    await self._process(update)
                except ShuttingDown:
                    refused.append(update.update_id)
                    return
                except Exception:
                    log_failure(
                        log,
                        "telegram: update %d failed; it will be fetched again",
                        update.update_id,
                    )
                    incomplete.append(update.update_id)
                    return

        await asyncio.gather(*(run_chain(chain) for chain in chains.values()))
        stuck = incomplete + refused
        next_offset = min(stuck) if stuck else max(u.update_id for u in updates) + 1
        return next_offset, bool(incomplete), bool(refused)

    # ---- webhook -------------------------------------------------------------------

    async def _webhook(self, request: Request) -> Response:
        """200 only after the turn returned; bodies are never logged (personal data)."""
        given = request.headers.get(SECRET_HEADER, "")
        if self._secret is None or not hmac.compare_digest(
            given.encode("utf-8"), self._secret.encode("utf-8")
        ):
            log.warning("telegram webhook: request without the right secret token; refused")
            return Response(status_code=403)
        try:
            update = Update.de_json(await request.json(), self.bot)
        except Exception:
            log.warning("telegram webhook: the body is not a Telegram update; refused")
            return Response(status_code=400)
        try:
            await self._process(update)
        except ShuttingDown:
            return Response(status_code=503)
        except Exception:
            log_failure(
                log, "telegram: update %d failed; Telegram will redeliver", update.update_id
            )
            return Response(status_code=500)
        return Response(status_code=200)

    # ---- one update ----------------------------------------------------------------

    async def _process(self, update: Update) -> None:
        """Translate one update and hand it to the gate; returns when the turn did."""
        if update.callback_query is not None:
            await self._on_button(update, update.callback_query)
            return
        if update.edited_message is not None:
            log.debug("telegram: ignored an edited message (update %d)", update.update_id)
            return
        message = update.message
        if message is None or message.chat is None:  # chat: a malformed update (fuzzing)
            log.debug("telegram: ignored update %d of another type", update.update_id)
            return
        if message.chat.type != ChatType.PRIVATE:
            await self._group(update)
            return
        sender = sender_of(update)
        inbound = None if sender is None else message_inbound(message, sender, update.update_id)
        if inbound is None:
            log.debug("telegram: ignored a service message (update %d)", update.update_id)
            return
        await self._handle(inbound)

    async def _on_button(self, update: Update, query: CallbackQuery) -> None:
        """A tap: always answered and its keyboard removed, whatever the turn does.

        Taps in group chats belong to the agent desk, which answers its own; without a
        desk they are answered (no endless spinner) and otherwise ignored.
        """
        message = query.message
        if message is not None and message.chat is None:  # malformed (found by fuzzing)
            message = None
        if message is not None and message.chat.type != ChatType.PRIVATE:
            if self.group_handler is not None:
                await self.group_handler(update)
                return
            with contextlib.suppress(Exception):
                await query.answer()
            log.debug("telegram: ignored a tap in a group chat (update %d)", update.update_id)
            return
        acknowledged = asyncio.create_task(self._acknowledge(query))
        try:
            sender = sender_of(update)
            if message is None or sender is None or query.data is None:
                log.debug("telegram: ignored a tap without chat or data (update %d)",
                          update.update_id)  # fmt: skip
                return
            key = ConversationKey(CHANNEL, str(message.chat.id))
            inbound = Inbound(
                key, sender, InboundKind.BUTTON, payload=query.data, update_id=str(update.update_id)
            )
            await self._handle(inbound)
        finally:
            await acknowledged

    async def _acknowledge(self, query: CallbackQuery) -> None:
        """Stop the client's spinner; drop the callback buttons so a tap can't repeat.

        Link buttons stay: they route nowhere and the customer may still want them.
        """
        try:
            await query.answer()
        except Exception as exc:  # too old / answered before (a redelivery); best effort
            log.debug("telegram: answerCallbackQuery failed: %s", exc)
        message = query.message
        if not isinstance(message, Message) or message.reply_markup is None or not message.chat:
            return  # inaccessible (older than 48 h), no keyboard, or malformed
        links = [
            [button] for row in message.reply_markup.inline_keyboard for button in row if button.url
        ]
        try:
            await self.bot.edit_message_reply_markup(
                chat_id=message.chat.id,
                message_id=message.message_id,
                reply_markup=InlineKeyboardMarkup(links) if links else None,  # None: remove
            )
        except Exception as exc:  # "message is not modified" on a double tap; best effort
            log.debug("telegram: editMessageReplyMarkup failed: %s", exc)

    async def _group(self, update: Update) -> None:
        if self.group_handler is not None:
            await self.group_handler(update)
        else:
            log.debug("telegram: ignored update %d from a group chat", update.update_id)

    async def _handle(self, inbound: Inbound) -> None:
        """The turn, with "typing…" shown while it runs longer than a moment."""
        typing = asyncio.create_task(self._typing(inbound.key.chat_id))
        try:
            await self._gate.handle(inbound)
        finally:
            typing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await typing

    async def _typing(self, chat_id: str) -> None:
        await asyncio.sleep(self._typing_after)
        while True:
            try:
                await self.bot.send_chat_action(chat_id=chat_id, action=ChatAction.TYPING)
            except Exception as exc:  # cosmetic: never fails the turn
                log.debug("telegram: sendChatAction failed: %s", exc)
            await asyncio.sleep(TYPING_EVERY)


def _quiet_libraries() -> None:
    """httpx logs request URLs (they contain the token) at INFO; ptb logs parameters
    (customer texts) at DEBUG, and a batch it cannot parse — bodies included — at
    CRITICAL. None of it belongs in our logs, even with --verbose; we log the update ids
    we skip (see ``_get_updates_one_by_one``)."""
    for name, level in (("httpx", logging.WARNING), ("telegram.Bot", logging.INFO)):
        logger = logging.getLogger(name)
        if logger.level < level:
            logger.setLevel(level)
    bot_logger = logging.getLogger("telegram.Bot")
    if _drop_unparsable_batch not in bot_logger.filters:
        bot_logger.addFilter(_drop_unparsable_batch)
    # We re-read a batch ptb could not parse with do_api_request("getUpdates") on purpose.
    warnings.filterwarnings("ignore", "Please use 'Bot.getUpdates'", PTBUserWarning)


def _drop_unparsable_batch(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith("Error while parsing updates")
