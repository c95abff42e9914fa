"""Slack's outbound side: outbox rows posted with ``chat.postMessage`` (Block Kit from
``slack_blocks``), and Web API failures mapped onto the outbox's retry rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack_blocks import render
from bot.delivery import DeliveryError
from bot.messages import Outbound

CHANNEL = "slack"
NETWORK_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)
UNREACHABLE_ERRORS = frozenset({"account_inactive", "is_archived"})
TRANSIENT_ERRORS = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)

Json = dict[str, Any]


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
