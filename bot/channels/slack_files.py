"""Slack's files fetched for other platforms: a customer's shared PDF for a Telegram desk,
a Slack agent's photo for a Telegram customer.

Files come down from ``url_private_download`` with the bot token (scope ``files:read``;
``files.info`` first when an event only names the file, as Slack Connect does), and only
from Slack's own hosts — the token never goes anywhere else. Without ``files:read`` Slack
answers its sign-in page (HTML, status 200); that is reported, not passed on as the file.
Uploads are :func:`bot.channels.slack_sending.upload`.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.files import FileUnavailable
from bot.channels.slack_sending import NETWORK_ERRORS, Json, delivery_error
from bot.delivery import DeliveryError
from bot.messages import MAX_FILE_BYTES, Attachment


class SlackFileSource:
    """Fetches a Slack file (``url_private_download`` with the bot token)."""

    def __init__(self, client: AsyncWebClient, api_url: str) -> None:
        self._client = client
        api_host = urlsplit(api_url).hostname or "slack.com"
        self._hosts = (api_host, "slack.com")
        """The token is sent to these hosts (and their subdomains) only."""

    async def fetch(self, file: Attachment) -> bytes:
        url = file.url or await self._url_of(file.file_id)
        host = urlsplit(url).hostname or ""
        if not any(host == h or host.endswith("." + h) for h in self._hosts):
            raise FileUnavailable(f"{host or 'that address'} is not a Slack file host")
        headers = {"Authorization": f"Bearer {self._client.token}"}
        try:
            async with (
                aiohttp.ClientSession() as session,
                session.get(url, headers=headers, timeout=aiohttp.ClientTimeout(60)) as got,
            ):
                if got.status == 429 or got.status >= 500:
                    raise DeliveryError(f"slack: file download answered HTTP {got.status}")
                if got.status != 200 or got.content_type == "text/html":
                    # Slack answers its sign-in page (200, HTML) without files:read.
                    raise FileUnavailable(f"Slack refused the download (HTTP {got.status}); "
                                          "does the bot have the files:read scope?")  # fmt: skip
                data = await got.content.read(MAX_FILE_BYTES + 1)
        except NETWORK_ERRORS as exc:
            raise DeliveryError(f"slack: file download failed ({type(exc).__name__})") from exc
        return data

    async def _url_of(self, file_id: str) -> str:
        """``files.info`` for a file an event only named (e.g. Slack Connect)."""
        try:
            response = await self._client.files_info(file=file_id)
        except SlackApiError as exc:
            error = delivery_error(exc)
            if error.permanent:
                raise FileUnavailable(str(error)) from exc
            raise error from exc
        except NETWORK_ERRORS as exc:
            raise DeliveryError(f"slack: files.info failed ({type(exc).__name__})") from exc
        info: Json = response.get("file") or {}
        url = info.get("url_private_download") or info.get("url_private")
        if not url:
            raise FileUnavailable("Slack gives no download address for it")
        return str(url)
