"""The Telegram channel: python-telegram-bot's ``Bot`` for the Bot API, our own update loop.

It translates, never decides: an update becomes an :class:`~bot.messages.Inbound` for
the :class:`~bot.channels.base.InboundGate`; replies leave through the outbox and
:class:`~bot.channels.telegram_sending.TelegramTransport`. This module holds the channel
itself — settings checks, start-up calls, start/stop/close — and its parts live beside it:

- ``telegram_updates``: what one update does (private chats only; groups go to the desk);
- ``telegram_polling``: the ``getUpdates`` loop and its offset;
- ``telegram_webhook``: the webhook route and its secret header;
- ``telegram_messages``: update → Inbound translation, splitting, error mapping;
- ``telegram_sending``: the transport (texts and files) and fetching files for others;
- ``telegram_http``: ptb's HTTP requests over aiohttp.

**No update is lost.** An update is confirmed to Telegram only once it is stored: by the
long-poll offset after its turn committed (``telegram_polling``), or by the webhook's HTTP
answer (``telegram_webhook``) after its turn committed or — for a turn that takes longer
— once it is kept in the inbox (:mod:`bot.conversation.receipts`). A crash, a failed turn
or a shutdown leaves it unconfirmed or in the inbox; it is run again and the store's
update-id check makes the replay harmless.

**Customers are served in private chats only** (why: ``telegram_updates``). Group
updates are offered to :attr:`TelegramChannel.group_handler` — the hook for the agent
desk — and otherwise ignored.

Secrets stay out of logs: the token is never part of an error message, request bodies
are never logged, and the ``httpx`` (request URLs contain the token) and ``telegram.Bot``
(logs request parameters) loggers are capped at WARNING/INFO.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Sequence

from starlette.routing import BaseRoute
from telegram import Bot, BotCommand
from telegram.error import BadRequest, Conflict, InvalidToken, RetryAfter, TelegramError
from telegram.request import BaseRequest, HTTPXRequest

from bot.channels.base import InboundGate, Receipts
from bot.channels.files import FileSources
from bot.channels.telegram_http import AiohttpRequest
from bot.channels.telegram_messages import ALLOWED_UPDATES, BOT_COMMANDS, CHANNEL
from bot.channels.telegram_polling import POLL_TIMEOUT, UpdatePoller, quiet_unparsable_batches
from bot.channels.telegram_sending import TelegramFileSource, TelegramTransport
from bot.channels.telegram_updates import TYPING_AFTER, GroupHandler, UpdateHandler
from bot.channels.telegram_webhook import WebhookEndpoint
from bot.delivery import Transport
from bot.errors import ConfigError
from bot.log_privacy import quiet_libraries
from bot.settings import Settings

log = logging.getLogger("supportbot.telegram")

TOKEN_PATTERN = re.compile(r"^\d{1,20}:[A-Za-z0-9_-]{20,}$")
"""The shape @BotFather hands out (``123456789:AA…``); anything else is a paste error."""
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
"""What Telegram accepts as ``secret_token`` (setWebhook)."""

CONNECTION_POOL = 64  # one pool per process: sends, chat actions and the long poll


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
        files: FileSources | None = None,
        receipts: Receipts | None = None,
    ) -> None:
        """Checks the settings (one-line :class:`ConfigError`); no network until start().
        ``files``: the registry shared with the other channels (Telegram's files join it);
        ``receipts``: webhook updates may be acknowledged before their turn finished
        (:mod:`bot.conversation.receipts`); long polling never does."""
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
        self.files = files or FileSources()
        """Where files of every running platform are fetched from (desks use it too)."""
        self.files.add(CHANNEL, TelegramFileSource(self.bot))
        self._transport = TelegramTransport(self.bot, self.files)
        self._updates = UpdateHandler(
            self.bot,
            gate,
            typing_after=typing_after,
            receipts=receipts if self._webhook_url else None,
        )
        self._poller = UpdatePoller(
            self.bot,
            self._updates.received,
            poll_timeout=poll_timeout,
            retry_delay=retry_delay,
            max_retry_delay=max_retry_delay,
            conflict_delay=conflict_delay,
        )
        self._webhook = WebhookEndpoint(
            self.bot, self._secret, self._updates.process, settings.telegram_max_body_bytes
        )

    @property
    def group_handler(self) -> GroupHandler | None:
        """Receives updates from group chats (the agent desk); None = ignore them."""
        return self._updates.group_handler

    @group_handler.setter
    def group_handler(self, handler: GroupHandler | None) -> None:
        self._updates.group_handler = handler

    @property
    def transport(self) -> Transport:
        return self._transport

    @property
    def webhook_mode(self) -> bool:
        return self._webhook_url is not None

    def routes(self) -> Sequence[BaseRoute]:
        if not self.webhook_mode:
            return []
        return [self._webhook.route()]

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
        self._poller.start()
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
        await self._poller.stop()

    async def close(self) -> None:
        """Close the HTTP pool; after the outbox was flushed (it sends through it)."""
        await self.stop()
        await self.bot.shutdown()


def _quiet_libraries() -> None:
    """httpx logs request URLs (they contain the token) at INFO; ptb logs parameters
    (customer texts) at DEBUG, and a batch it cannot parse — bodies included — at
    CRITICAL. None of it belongs in our logs, even with --verbose; we log the update ids
    we skip (see :func:`~bot.channels.telegram_polling.quiet_unparsable_batches`)."""
    quiet_libraries(("httpx", "telegram"))
    quiet_unparsable_batches()
