"""Request-body limits for every HTTP route, enforced before the body is read.

A webhook body is read into memory whole (Starlette's ``request.body()``, Bolt's handler),
so without a limit one 400 MB request costs gigabytes and seconds — even with a wrong
signature, since a Slack signature can only be checked over the whole body.
:class:`BodyLimit` is a pure ASGI middleware around the whole app, so it holds for every
route, including ones added later: a route gets its own limit by being a
:class:`LimitedRoute`, any other route the app-wide default.

- A ``Content-Length`` over the limit is answered 413 at once; the app never runs and not
  a byte of the body is read (a client that sent ``Expect: 100-continue`` never sends it).
- A chunked body is counted as the app reads it; the chunk that passes the limit is never
  handed over: 413 goes out and the app is stopped by :class:`BodyTooLarge`.
- Any answer given before the whole body arrived — the 413, or an endpoint's own early
  refusal such as the Telegram webhook's 403 for a wrong secret — carries
  ``Connection: close``, so uvicorn closes the connection instead of reading and
  discarding the rest of a body nobody will look at.

Why not Starlette's own ``max_body_size``: it signals the limit with an ``HTTPException``
raised inside the endpoint, which an endpoint's ``except Exception`` (both webhooks have
one, for bodies that do not parse) turns into its own answer — a chunked 400 MB body got
400, not 413 — and it neither refuses a ``Content-Length`` before the app runs nor closes
the connection.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence
from typing import Any

from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("supportbot.http")

REFUSAL = b"Request body too large\n"


class BodyTooLarge(BaseException):
    """Raised from ``receive`` when a body passes its limit, after the 413 went out.

    A ``BaseException`` (like ``asyncio.CancelledError``) on purpose: it must go through
    every ``except Exception`` of an endpoint, which would otherwise answer the request
    itself (a webhook's "this is not an update: 400"). Only :class:`BodyLimit` catches it.
    """


class LimitedRoute(Route):
    """A :class:`~starlette.routing.Route` with a request-body limit of its own."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        max_body: int,
        methods: Sequence[str] | None = None,
    ) -> None:
        super().__init__(path, endpoint, methods=methods)
        self.max_body = max_body


class BodyLimit:
    """The ASGI middleware: ``default`` bytes for any route that is no :class:`LimitedRoute`."""

    def __init__(self, app: ASGIApp, *, default: int, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.default = default
        self.limited = [route for route in routes if isinstance(route, LimitedRoute)]

    def limit_for(self, scope: Scope) -> int:
        for route in self.limited:
            match, _ = route.matches(scope)
            if match is not Match.NONE:  # PARTIAL = the path with another method: 405
                return route.max_body
        return self.default

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = _Request(scope, receive, send, self.limit_for(scope))
        if request.declared is not None and request.declared > request.limit:
            await request.refuse()
            return
        with contextlib.suppress(BodyTooLarge):  # the 413 went out in receive()
            await self.app(scope, request.receive, request.send)


class _Request:
    """One request's byte count and whether its body has fully arrived."""

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self.limit = limit
        self.declared: int | None = None
        chunked = False
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    self.declared = int(value)
                except ValueError:
                    self.declared = None
            elif name == b"transfer-encoding":
                chunked = True
        self.received = 0
        self.complete = not chunked and not self.declared  # no body at all
        self.started = False
        self.refused = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                await self.refuse()
                raise BodyTooLarge
            if not message.get("more_body", False):
                self.complete = True
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the 413 was the answer
        if message["type"] == "http.response.start":
            self.started = True
            if not self.complete:
                message = {**message, "headers": [*message.get("headers", []), _CLOSE]}
        await self._send(message)

    async def refuse(self) -> None:
        """Answer 413 (unless the app already started its answer) and close."""
        log.warning(
            "%s %s: request body over %d bytes; refused with 413",
            self._scope["method"],
            self._scope["path"],
            self.limit,
        )
        self.refused = True
        if self.started:
            return  # too late for a status; the unfinished answer closes the connection
        headers = [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"content-length", str(len(REFUSAL)).encode()),
            _CLOSE,
        ]
        await self._send({"type": "http.response.start", "status": 413, "headers": headers})
        await self._send({"type": "http.response.body", "body": REFUSAL})


_CLOSE = (b"connection", b"close")
