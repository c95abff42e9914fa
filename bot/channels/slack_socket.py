"""Slack Socket Mode: an outgoing WebSocket instead of a public ``/slack/events`` URL.

With ``SLACK_APP_TOKEN`` (an app-level ``xapp-`` token with ``connections:write``) the
channel calls ``apps.connections.open`` at ``SLACK_API_URL`` and connects to the one-time
WebSocket URL it returns; events, button presses and slash commands arrive there as
envelopes and Bolt runs the same listeners as over HTTP. An envelope is acknowledged when
its listener returns — the turn committed, or the 2.5-s budget passed — and *not* when
the turn was refused during shutdown or failed (the 503/500 of HTTP): Slack then
redelivers it, and the store drops ids it has handled, so each is answered once.

What this adds to slack-bolt's ``AsyncSocketModeHandler`` (aiohttp):

- the app token is checked once at start: a refused token is one :class:`ConfigError`
  line, where the socket client would log and retry it forever and start-up would hang;
  the URL of that check is the one connected to;
- the first connection is bounded by :attr:`SlackSocket.connect_timeout`, for the same
  reason (a firewall that drops outgoing WebSockets);
- the Web API client (token and ``SLACK_API_URL``) is handed to the socket client
  explicitly: ``apps.connections.open`` goes where every other call goes;
- an acknowledgement lost because the connection broke mid-turn is one warning (Slack
  redelivers the envelope), not an error with a traceback; the socket client logs as
  ``supportbot.slack.socket``, one line per record (its reconnect loop would otherwise
  print a traceback every ping interval while Slack is out of reach).

Reconnecting is slack-sdk's: on Slack's ``disconnect`` message (``refresh_requested``,
``warning``, ``link_disabled``) it fetches a new URL at once, closes the old connection
and opens the new one (measured: 0.02 s); a connection that breaks is replaced after
about one :attr:`SlackSocket.ping_interval` (10 s), one that silently stops answering
pings after about two (20 s).
"""

from __future__ import annotations

import asyncio
import logging

from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack_sending import NETWORK_ERRORS, start_up_error
from bot.errors import ConfigError

log = logging.getLogger("supportbot.slack.socket")


class _OneLine(logging.Filter):
    """The socket client's records without their tracebacks: each says what failed."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.exc_info, record.exc_text = None, None
        return True


log.addFilter(_OneLine())


class _Handler(AsyncSocketModeHandler):
    """Bolt's handler; an ack that cannot be sent (the connection broke) is a warning."""

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        try:
            await super().handle(client, req)
        except ConnectionError:
            log.warning(
                "slack: the connection broke before an envelope was acknowledged; "
                "Slack redelivers it (answered once)"
            )


class SlackSocket:
    """One Socket Mode connection (replaced as Slack asks), opened and closed by the channel."""

    ping_interval = 10.0
    """Seconds between pings (slack-bolt's default); how soon a dead connection is noticed."""
    connect_timeout = 30.0
    """Seconds start-up waits for the first connection before giving up."""

    def __init__(self, app: AsyncApp, client: AsyncWebClient, app_token: str) -> None:
        self._app = app
        self._client = client
        self._token = app_token
        self._handler: AsyncSocketModeHandler | None = None

    @property
    def _api_url(self) -> str:
        return str(self._client.base_url)

    async def open(self) -> None:
        """Check the app token, connect; :class:`ConfigError` if either fails."""
        try:
            opened = await self._client.apps_connections_open(app_token=self._token)
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            raise start_up_error(
                self._api_url,
                exc,
                "SLACK_APP_TOKEN ({error}); it must be an app-level token (xapp-…) with "
                "connections:write, and Socket Mode must be on in the app's settings.",
            ) from None
        handler = _Handler(
            self._app,
            self._token,
            logger=log,
            web_client=self._client,
            ping_interval=self.ping_interval,
        )
        handler.client.wss_uri = str(opened["url"])
        self._handler = handler
        try:
            connecting = handler.connect_async()  # type: ignore[no-untyped-call]
            await asyncio.wait_for(connecting, self.connect_timeout)
        except TimeoutError:
            await self.close()
            raise ConfigError(
                f"could not open Slack's Socket Mode WebSocket in {self.connect_timeout:.0f} s; "
                "outgoing WebSocket connections (wss, port 443) must be allowed."
            ) from None

    async def close(self) -> None:
        """Close the connection and the socket client's HTTP session; no reconnects after."""
        handler, self._handler = self._handler, None
        if handler is not None:
            await handler.close_async()  # type: ignore[no-untyped-call]
