"""Slack: slack-bolt's ``AsyncApp`` in, Block Kit out — translation only, no decisions.

This module holds the channel itself: the Web API client, the Bolt app with its HTTP route
or Socket Mode connection, start/stop/close. Its parts live beside it:

- ``slack_events``: the listeners — which events and presses are a customer's turn, which
  belong to the agent desk, which are not for us;
- ``slack_turns``: a turn handed to the gate within Slack's 3-second ack budget;
- ``slack_sending``: outbox rows out through ``chat.postMessage``, Web API error mapping;
- ``slack_blocks``: Block Kit rendering (pure functions);
- ``slack_socket``: the Socket Mode connection (app token check at start, reconnects).

HTTP: ``POST /slack/events`` serves events *and* interactivity, with Bolt's request
verification on (bad or stale signatures → 401, never processed). With ``SLACK_APP_TOKEN``
the same listeners are also reached over Socket Mode (connected in
:meth:`SlackChannel.start`, closed in ``stop``; tested against a Socket Mode stand-in
with the same journeys as HTTP). Without a signing secret no HTTP route is served at
all, so nothing unverified is ever accepted.

The Bolt app gets our ``AsyncWebClient`` (carrying the token and ``SLACK_API_URL``) and
no separate ``token=``: Bolt ignores the token when a client is given, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from slack_bolt.adapter.starlette.async_handler import AsyncSlackRequestHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute

from bot.body_limit import LimitedRoute
from bot.channels.base import InboundGate
from bot.channels.files import FileSources
from bot.channels.slack_events import ConversationLookup, DeskListener, SlackListeners
from bot.channels.slack_files import SlackFileSource
from bot.channels.slack_sending import CHANNEL, NETWORK_ERRORS, SlackTransport, start_up_error
from bot.channels.slack_socket import SlackSocket
from bot.channels.slack_turns import TurnRunner
from bot.errors import ConfigError
from bot.settings import Settings

log = logging.getLogger("supportbot.slack")


class _TokenUnusedNote(logging.Filter):
    """Drop Bolt's "`token` will be unused" warning: it reads SLACK_BOT_TOKEN from the
    environment even though we hand it a client that carries that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.AsyncApp").addFilter(_TokenUnusedNote())


class SlackChannel:
    """The Slack adapter: Bolt listeners that hand :class:`Inbound` to the gate."""

    name = CHANNEL

    def __init__(
        self,
        settings: Settings,
        gate: InboundGate,
        store: ConversationLookup | None = None,
        files: FileSources | None = None,
    ) -> None:
        """``files``: the registry shared with the other channels (Slack's files join it)."""
        if settings.slack_bot_token is None:
            raise ConfigError("SLACK_BOT_TOKEN is not set; the Slack channel needs it.")
        self._api_url = settings.slack_api_url
        self._max_body = settings.slack_max_body_bytes
        self._client = AsyncWebClient(
            token=settings.slack_bot_token.get_secret_value(), base_url=settings.slack_api_url
        )
        self.files = files or FileSources()
        """Where files of every running platform are fetched from (the desk uses it too)."""
        self.files.add(CHANNEL, SlackFileSource(self._client, settings.slack_api_url))
        self.transport = SlackTransport(self._client, self.files)
        secret = settings.slack_signing_secret
        self._verified_http = secret is not None
        self.app = AsyncApp(
            client=self._client,
            # "" never reaches a served route: routes() serves nothing without a secret.
            signing_secret=secret.get_secret_value() if secret is not None else "",
            process_before_response=True,
            request_verification_enabled=True,
        )
        self._handler = AsyncSlackRequestHandler(self.app)
        app_token = settings.slack_app_token
        self.socket = (
            SlackSocket(self.app, self._client, app_token.get_secret_value())
            if app_token is not None
            else None
        )
        """Socket Mode (with ``SLACK_APP_TOKEN``), or None."""
        self._turns = TurnRunner(self._client, gate)
        self._listeners = SlackListeners(
            self._turns, self._client, store, settings.slack_agent_channel or None
        )
        self._listeners.register(self.app)

    @property
    def ack_budget(self) -> float:
        """Seconds a listener waits for the turn before acking anyway (Slack allows 3)."""
        return self._turns.ack_budget

    @ack_budget.setter
    def ack_budget(self, seconds: float) -> None:
        self._turns.ack_budget = seconds

    @property
    def client(self) -> AsyncWebClient:
        """The Web API client (token, ``SLACK_API_URL``), shared with the agent desk."""
        return self._client

    def attach_desk(self, desk: DeskListener) -> None:
        """Route the agents' channel (messages, desk buttons) to ``desk``."""
        self._listeners.attach_desk(desk)

    # -- lifecycle ---------------------------------------------------------------------

    def routes(self) -> Sequence[BaseRoute]:
        if not self._verified_http:
            return []
        # Bolt reads the whole body to verify its signature: at most _max_body of it.
        route = LimitedRoute(
            "/slack/events", self._endpoint, methods=["POST"], max_body=self._max_body
        )
        return [route]

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
        except (SlackApiError, *NETWORK_ERRORS) as exc:
            raise start_up_error(
                self._api_url, exc, "SLACK_BOT_TOKEN ({error}); check the bot token."
            ) from None
        if self.socket is not None:
            await self.socket.open()
            log.info("slack: connected in Socket Mode")

    async def stop(self) -> None:
        """Close Socket Mode; HTTP stops with the server and turns in flight finish.

        Envelopes whose turn finishes after this are not acknowledged: Slack redelivers
        them, and the store knows them as handled.
        """
        if self.socket is not None:
            await self.socket.close()

    async def close(self) -> None:
        """Release the Web API client's connections (after the last outbox flush)."""
        session = getattr(self._client, "session", None)
        if session is not None and not session.closed:
            await session.close()
