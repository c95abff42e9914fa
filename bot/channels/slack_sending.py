"""Slack's outbound side: outbox rows posted with ``chat.postMessage`` (Block Kit from
``slack_blocks``) or uploaded as files, Web API failures mapped onto the outbox's retry
rules (:mod:`bot.channels.slack_files` fetches Slack's files for other platforms).

Files go up with Slack's current upload API — ``files.getUploadURLExternal``, the upload
to the URL it names, then ``files.completeUploadExternal`` with ``channel_id``,
``thread_ts`` and ``initial_comment`` (slack_sdk's ``files_upload_v2``), never the retired
``files.upload``. Only the last call shares the file, so a retry after a failure in
between never shows it twice.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.files import FileSources
from bot.channels.slack_blocks import escape, render
from bot.delivery import DeliveryError
from bot.errors import ConfigError
from bot.messages import Attachment, Outbound

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
    """Posts outbox rows with ``chat.postMessage`` (returns the message ``ts``), or
    uploads the row's file with its text as the comment (returns the file id)."""

    channel = CHANNEL

    def __init__(self, client: AsyncWebClient, files: FileSources | None = None) -> None:
        self._client = client
        self._files = files or FileSources()

    async def send(self, message: Outbound) -> str | None:
        channel, thread_ts = chat_target(message.key.chat_id)
        if message.attachment is not None:
            data = await self._files.fetch(message.attachment)
            comment = escape(message.text) if message.text else None
            try:
                return await upload(
                    self._client, channel, thread_ts, [(message.attachment, data)], comment
                )
            except SlackApiError as exc:
                raise delivery_error(exc) from exc
            except (SlackRequestError, *NETWORK_ERRORS) as exc:  # the upload step itself
                raise DeliveryError(f"slack: upload failed ({type(exc).__name__})") from exc
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


async def upload(
    client: AsyncWebClient,
    channel: str,
    thread_ts: str | None,
    files: Sequence[tuple[Attachment, bytes]],
    comment: str | None,
) -> str | None:
    """Share ``files`` in one message of ``channel`` (a thread, if ``thread_ts``) with the
    ``comment`` (mrkdwn) above them; returns the first file's id. All files complete in
    one ``files.completeUploadExternal``: a failure before it shares none of them."""
    uploads = [
        {"file": data, "filename": file.name or file.kind, "title": file.name or file.kind}
        for file, data in files
    ]
    response = await client.files_upload_v2(
        file_uploads=uploads, channel=channel, thread_ts=thread_ts, initial_comment=comment
    )
    shared = response.get("files") or []
    first = shared[0] if isinstance(shared, list) and shared else {}
    return str(first.get("id")) if isinstance(first, dict) and first.get("id") else None


def start_up_error(api_url: str, exc: Exception, refused: str) -> ConfigError:
    """One operator line for a Web API call at start-up that failed: ``refused`` says what
    to check when Slack answered with an error; a network error names ``SLACK_API_URL``."""
    if isinstance(exc, SlackApiError):
        error = exc.response.get("error") if hasattr(exc.response, "get") else None
        return ConfigError(f"Slack at {api_url} refused {refused.format(error=error or 'error')}")
    return ConfigError(
        f"cannot reach the Slack Web API at {api_url} ({type(exc).__name__}); "
        "check SLACK_API_URL and the network."
    )
