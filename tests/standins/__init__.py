"""Stand-in servers on 127.0.0.1 that speak the platforms' documented HTTP APIs."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

DROP = "drop"
""":meth:`RandomFaults.draw` outcome: close the connection without answering."""


def free_port() -> int:
    """A port nobody listens on right now (for a server a test starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LocalServer(uvicorn.Server):
    """uvicorn on 127.0.0.1 in the test's event loop, without its own signal handlers."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # leave pytest's signal handlers alone
        yield


async def serve_locally(app: ASGIApp) -> tuple[LocalServer, asyncio.Task[None], int]:
    """Start serving ``app`` on a free port; the server, its task and the port."""
    # IPPROTO_TCP: only then does asyncio set TCP_NODELAY (else ~40 ms per kept-alive call)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    config = uvicorn.Config(app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = LocalServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    deadline = time.monotonic() + 5
    while not server.started:
        if task.done() or time.monotonic() > deadline:
            raise AssertionError("the stand-in server did not start")
        await asyncio.sleep(0.01)
    return server, task, port


@dataclass
class RandomFaults:
    """Random platform faults for the stand-ins (off unless a test passes one).

    Each call of a method in ``methods`` fails with probability ``rate_429`` (flood
    control, ``retry_after`` seconds), ``rate_500`` (server error) or ``rate_drop`` (the
    connection is closed before any answer; the call is *not* processed). Seeded, so a
    failing run can be repeated (the interleaving of concurrent calls still varies).
    """

    rate_429: float = 0.0
    rate_500: float = 0.0
    rate_drop: float = 0.0
    retry_after: int = 1
    methods: frozenset[str] = frozenset()
    seed: int = 0
    drawn: dict[str, int] = field(default_factory=dict)
    """How often each outcome was drawn (``"429"``, ``"500"``, ``"drop"``, ``"ok"``)."""
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(init=False, default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def draw(self, method: str) -> int | str | None:
        """429, 500, :data:`DROP`, or None (answer normally) for one call of ``method``."""
        if method not in self.methods:
            return None
        with self._lock:
            x = self._rng.random()
        outcome: int | str | None = None
        if x < self.rate_drop:
            outcome = DROP
        elif x < self.rate_drop + self.rate_429:
            outcome = 429
        elif x < self.rate_drop + self.rate_429 + self.rate_500:
            outcome = 500
        key = "ok" if outcome is None else str(outcome)
        self.drawn[key] = self.drawn.get(key, 0) + 1
        return outcome


class _NoDropNoise(logging.Filter):
    """uvicorn logs an error for the connections :class:`FaultyApp` drops on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "returned without completing response" not in record.getMessage()


logging.getLogger("uvicorn.error").addFilter(_NoDropNoise())


class FaultyApp:
    """ASGI wrapper: draws a :class:`RandomFaults` outcome per call (method = last path
    segment). A drop reads the request, starts a response and closes the connection
    without a body (the client sees a broken connection; nothing was processed); any
    other outcome goes to the wrapped app as ``request.state.fault``."""

    def __init__(
        self,
        app: ASGIApp,
        faults: Callable[[], RandomFaults | None],
        on_drop: Callable[[str, bytes], None],
    ) -> None:
        self.app = app
        self.faults = faults
        self.on_drop = on_drop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults = self.faults()
        if scope["type"] != "http" or faults is None:
            await self.app(scope, receive, send)
            return
        method = str(scope["path"]).rstrip("/").rsplit("/", 1)[-1]
        outcome = faults.draw(method)
        if outcome == DROP:
            body = b""
            while True:
                message = await receive()
                body += message.get("body", b"")
                if not message.get("more_body"):
                    break
            self.on_drop(method, body)
            headers = [(b"content-type", b"application/json"), (b"content-length", b"64")]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            return  # uvicorn closes the connection: the response never completes
        state = {**scope.get("state", {}), "fault": outcome}
        await self.app({**scope, "state": state}, receive, send)


def fault_of(state: object) -> int | str | None:
    """The outcome :class:`FaultyApp` drew for this request (None without faults)."""
    return getattr(state, "fault", None)
