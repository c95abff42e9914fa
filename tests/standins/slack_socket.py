"""Slack's Socket Mode on 127.0.0.1: the WebSocket end of ``apps.connections.open``.

Socket Mode (Slack's "Using Socket Mode" docs; the message shapes follow those docs and
slack-sdk's own test fixtures): the app calls ``apps.connections.open`` with its
app-level token (``xapp-…``) and gets a one-time ``wss://`` URL; on connecting, Slack
sends ``{"type": "hello", "num_connections", "debug_info", "connection_info"}``, then
*envelopes*::

    {"envelope_id": "…", "type": "events_api" | "interactive" | "slash_commands",
     "payload": {…the body Slack would POST over HTTP…},
     "accepts_response_payload": bool, "retry_attempt": n, "retry_reason": "…"}

(``retry_*`` on ``events_api`` only). The app acknowledges each with
``{"envelope_id": "…"}`` (plus ``"payload"`` where responses are accepted); an envelope
that is not acknowledged is redelivered by Slack. Slack asks the app to reconnect with
``{"type": "disconnect", "reason": "refresh_requested" | "warning" | "link_disabled"}``
and closes connections at will.

:class:`SlackSocketStandIn` attaches to a :class:`SlackApiStandIn` (which then answers
``apps.connections.open`` for its ``app_token`` with ``ws://127.0.0.1:PORT/link/?ticket=…``;
a ticket opens one connection), records every connection, envelope and acknowledgement,
and can send a ``disconnect``, drop the socket without a close frame, or go silent.
:class:`SocketSender` is :class:`SlackSender` over the socket: the same ``event`` and
``press`` calls, delivered as envelopes, with "acknowledged" as the 200.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from tests.standins import free_port
from tests.standins.slack_api import (
    APP_ID,
    TEAM_ID,
    Reply,
    SlackApiStandIn,
    SlackSender,
    wait_for,
)

ACK_TIMEOUT = 10.0
"""Seconds :meth:`SlackSocketStandIn.deliver` waits for an acknowledgement."""


@dataclass
class Connection:
    """One WebSocket connection of the app."""

    ticket: str
    ws: web.WebSocketResponse
    request: web.Request
    ready: bool = False
    """``hello`` was sent: envelopes may follow."""
    dropped: bool = False
    received: list[dict[str, Any]] = field(default_factory=list)

    @property
    def open(self) -> bool:
        return self.ready and not self.dropped and not self.ws.closed


class SlackSocketStandIn:
    """The Socket Mode WebSocket server, one ticket per ``apps.connections.open``."""

    def __init__(self, api: SlackApiStandIn) -> None:
        self.api = api
        api.socket_url = self.issue_url
        self.port = 0
        self.connections: list[Connection] = []
        self.envelopes: list[dict[str, Any]] = []
        """Every envelope sent, in order."""
        self.acks: dict[str, dict[str, Any]] = {}
        """Acknowledgements by ``envelope_id`` (the first one received)."""
        self.refused = 0
        """Connection attempts with an unknown or used ticket."""
        self._tickets: set[str] = set()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        self.port = free_port()
        app = web.Application()
        app.router.add_get("/link/", self._link)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        for connection in self.connections:
            if not connection.ws.closed:
                await connection.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    def issue_url(self) -> str:
        ticket = uuid.uuid4().hex
        self._tickets.add(ticket)
        return f"ws://127.0.0.1:{self.port}/link/?ticket={ticket}&app_id={APP_ID}"

    # -- what the app sees -----------------------------------------------------------------

    @property
    def live(self) -> list[Connection]:
        """Connections open now, oldest first."""
        return [c for c in self.connections if c.open]

    async def wait_connected(self, count: int = 1, timeout: float = 30.0) -> Connection:
        """Wait until ``count`` connections were made and one is open; return the newest."""
        await wait_for(lambda: len(self.connections) >= count and bool(self.live), timeout)
        return self.live[-1]

    async def deliver(
        self,
        kind: str,
        payload: dict[str, Any],
        *,
        retry_attempt: int = 0,
        retry_reason: str = "",
        accepts_response_payload: bool = False,
        timeout: float = ACK_TIMEOUT,
    ) -> dict[str, Any] | None:
        """Send one envelope; return its acknowledgement, or None if none came in time.

        Like Slack, an envelope whose connection closed before it was acknowledged is sent
        again on the next connection (a new ``envelope_id``; events count ``retry_attempt``).
        """
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            envelope: dict[str, Any] = {
                "envelope_id": f"{uuid.uuid4()}",
                "payload": payload,
                "type": kind,
                "accepts_response_payload": accepts_response_payload,
            }
            if kind == "events_api":
                envelope.update(retry_attempt=retry_attempt, retry_reason=retry_reason)
            self.envelopes.append(envelope)
            connection = await self.send(envelope)
            envelope_id = envelope["envelope_id"]
            left = deadline - asyncio.get_running_loop().time()
            if not await self._acked_or_closed(envelope_id, connection, left):
                return None
            if envelope_id in self.acks:
                return self.acks[envelope_id]
            retry_attempt, retry_reason = retry_attempt + 1, "timeout"

    async def _acked_or_closed(
        self, envelope_id: str, connection: Connection, timeout: float
    ) -> bool:
        """Wait until the envelope is acknowledged or its connection is gone (False: neither)."""
        try:
            await wait_for(lambda: envelope_id in self.acks or not connection.open, timeout)
        except AssertionError:
            return False
        return True

    @property
    def unacked(self) -> list[dict[str, Any]]:
        """Envelopes sent and never acknowledged."""
        return [e for e in self.envelopes if e["envelope_id"] not in self.acks]

    async def send(self, message: dict[str, Any]) -> Connection:
        """Send on the newest open connection (waiting for one, as Slack queues)."""
        while True:
            connection = await self.wait_connected()
            try:
                await connection.ws.send_str(json.dumps(message))
            except ConnectionError:  # closed under us: Slack uses another connection
                await asyncio.sleep(0.05)
                continue
            return connection

    async def disconnect(self, reason: str = "refresh_requested") -> Connection:
        """Ask the app to reconnect, as Slack does before it retires a connection."""
        message = {"type": "disconnect", "reason": reason, "debug_info": {"host": "standin"}}
        return await self.send(message)

    async def drop(self) -> Connection:
        """Cut the newest open connection without a close frame (a network failure)."""
        connection = await self.wait_connected()
        connection.dropped = True
        transport = connection.request.transport
        assert transport is not None
        transport.abort()
        return connection

    async def silence(self) -> Connection:
        """Stop reading the newest open connection: no pongs, no acks, no close (a
        half-open connection, e.g. a NAT that forgot it). The app must notice by itself."""
        connection = await self.wait_connected()
        connection.dropped = True
        transport = connection.request.transport
        assert transport is not None
        transport.pause_reading()
        return connection

    # -- the WebSocket endpoint -------------------------------------------------------------

    async def _link(self, request: web.Request) -> web.StreamResponse:
        ticket = request.query.get("ticket", "")
        if ticket not in self._tickets:
            self.refused += 1
            return web.Response(status=401, text="invalid ticket")
        self._tickets.discard(ticket)
        ws = web.WebSocketResponse()  # answers pings: the client's heartbeat
        await ws.prepare(request)
        connection = Connection(ticket, ws, request)
        self.connections.append(connection)
        await ws.send_str(json.dumps(self._hello()))
        connection.ready = True
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            connection.received.append(data)
            envelope_id = data.get("envelope_id")
            if isinstance(envelope_id, str):
                self.acks.setdefault(envelope_id, data)
        return ws

    def _hello(self) -> dict[str, Any]:
        return {
            "type": "hello",
            "num_connections": len(self.live) + 1,
            "debug_info": {
                "host": f"applink-standin-{next(self._ids)}",
                "build_number": 1,
                "approximate_connection_time": 18060,
            },
            "connection_info": {"app_id": APP_ID},
        }


class SocketSender(SlackSender):
    """:class:`SlackSender`'s calls delivered over Socket Mode; an ack is the 200.

    ``Reply(200, <ack JSON>)`` when the app acknowledged the envelope, ``Reply(504, "")``
    when it did not within the timeout (Slack would redeliver it).
    """

    def __init__(self, socket: SlackSocketStandIn, timeout: float = ACK_TIMEOUT) -> None:
        super().__init__(bot_url="", signing_secret="")  # nothing is POSTed
        self.socket = socket
        self.timeout = timeout

    async def event(
        self,
        event: dict[str, Any],
        *,
        event_id: str | None = None,
        retry_num: int | None = None,
        **kwargs: Any,
    ) -> Reply:
        payload = json.loads(self.event_body(event, event_id))
        retry = {"retry_attempt": retry_num or 0, "retry_reason": "timeout" if retry_num else ""}
        return await self._deliver("events_api", payload, **retry)

    async def press(
        self, user: str, channel: str, message: dict[str, Any], label: str, **kwargs: Any
    ) -> Reply:
        return await self._deliver("interactive", self.press_payload(user, channel, message, label))

    async def command(self, user: str, channel: str, command: str, text: str = "") -> Reply:
        """A slash command, with the fields Slack sends (all strings, as in the form post)."""
        payload = {
            "token": "verification-token",
            "team_id": TEAM_ID,
            "team_domain": "example",
            "channel_id": channel,
            "channel_name": "directmessage" if channel.startswith("D") else "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": "https://hooks.slack.invalid/commands/T0001/1/x",
            "trigger_id": f"trigger-{self.next_ts()}",
        }
        return await self._deliver("slash_commands", payload, accepts_response_payload=True)

    async def _deliver(self, kind: str, payload: dict[str, Any], **options: Any) -> Reply:
        ack = await self.socket.deliver(kind, payload, timeout=self.timeout, **options)
        return Reply(504, "") if ack is None else Reply(200, json.dumps(ack))
