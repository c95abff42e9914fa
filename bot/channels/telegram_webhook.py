"""The Telegram webhook route: the secret header is checked, the body parsed, the update
handled — and the HTTP status plays the long-poll offset's part.

200 once the update is stored — its turn returned, or it is kept in the inbox while a
slow turn goes on (:mod:`bot.conversation.receipts`) — 503 while shutting down, 500 on a
failure: anything but 2xx makes Telegram redeliver. 403 without the right secret token —
decided from the header before a byte of the body is read — 400 for a body that is not
an update, 413 for one over ``SUPPORTBOT_TELEGRAM_MAX_BODY_BYTES`` (:mod:`bot.body_limit`).
Bodies are never logged (personal data).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from telegram import Bot, Update

from bot.body_limit import LimitedRoute
from bot.channels.base import ShuttingDown
from bot.errors import log_failure

log = logging.getLogger("supportbot.telegram")

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class WebhookEndpoint:
    """``POST /telegram/webhook`` for one bot and its ``secret_token``."""

    def __init__(
        self,
        bot: Bot,
        secret: str | None,
        process: Callable[[Update], Awaitable[None]],
        max_body: int,
    ) -> None:
        """``process`` handles one update and returns once it is stored."""
        self._bot = bot
        self._secret = secret
        self._process = process
        self._max_body = max_body

    def route(self) -> LimitedRoute:
        return LimitedRoute(WEBHOOK_PATH, self._webhook, methods=["POST"], max_body=self._max_body)

    async def _webhook(self, request: Request) -> Response:
        """200 once the update is stored; bodies are never logged (personal data)."""
        given = request.headers.get(SECRET_HEADER, "")
        if self._secret is None or not hmac.compare_digest(
            given.encode("utf-8"), self._secret.encode("utf-8")
        ):
            log.warning("telegram webhook: request without the right secret token; refused")
            return Response(status_code=403)
        try:
            update = Update.de_json(await request.json(), self._bot)
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
