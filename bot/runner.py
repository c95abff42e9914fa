"""``supportbot run``: every configured channel in one asyncio process, one HTTP server.

Start-up: flows and database are checked, each channel starts (a bad token or an
unreachable platform is one clear error line), a sender loop per channel delivers the
outbox, uvicorn serves webhooks, health and metrics. Shutdown (SIGTERM/SIGINT): stop
taking updates, let turns in flight finish, flush the outbox, exit 0 — within
``SUPPORTBOT_SHUTDOWN_GRACE_SECONDS``, even when a platform stops answering.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
from collections.abc import Awaitable, Iterator

import uvicorn

from bot.app import App
from bot.channels.base import Channel, InboundGate
from bot.delivery import OutboxSender, pacing_for
from bot.errors import ConfigError, log_failure
from bot.handoff.desk_feed import Desk, DeskFeed
from bot.handoff.service import HandoffService
from bot.head_limit import HTTP_PROTOCOL, MAX_HEAD
from bot.http import make_http_app

log = logging.getLogger("supportbot.runner")

CLOSE_SECONDS = 2.0
"""After shutdown's deadline: the most each closing step (a channel, the HTTP server,
cut work recording itself) may take."""


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: SIGTERM drives *our* graceful shutdown."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class Runner:
    def __init__(
        self,
        app: App,
        gate: InboundGate,
        channels: list[Channel],
        desks: list[Desk] | None = None,
    ) -> None:
        self.app = app
        self.gate = gate
        self.channels = channels
        self.desks = desks or []
        self.handoff = HandoffService(app.store, app.manager, app.settings.allowed_agents())
        self.stop = asyncio.Event()
        self._recovering: asyncio.Task[None] | None = None
        self.senders = {
            channel.name: OutboxSender(
                app.store.outbox,
                channel.transport,
                on_unreachable=self._unreachable,
                pacing=pacing_for(channel.name, app.settings),
            )
            for channel in channels
        }
        app.manager.on_queued = self._wake

    def _wake(self, channel: str) -> None:
        sender = self.senders.get(channel)
        if sender is not None:
            sender.wake()

    async def _unreachable(self, channel: str, chat_id: str) -> None:
        await self.app.store.mark_unreachable(f"{channel}:{chat_id}")

    async def serve(self, host: str, port: int) -> None:
        """Run until :attr:`stop` is set (by a signal or a test), then shut down cleanly."""
        listening = _listen(host, port)  # first: a taken port is one line, nothing started
        routes = [route for channel in self.channels for route in channel.routes()]
        http = make_http_app(
            self.app.store,
            routes,
            [c.name for c in self.channels],
            max_body=self.app.settings.http_max_body_bytes,
        )
        server = _Server(
            # log_config=None: uvicorn's records go through the root logger's handlers
            # and their privacy filter (bot/log_privacy.py), not handlers of its own.
            uvicorn.Config(
                http,
                host=host,
                port=port,
                log_level="warning",
                log_config=None,
                lifespan="off",
                http=HTTP_PROTOCOL,
                h11_max_incomplete_event_size=MAX_HEAD,
            )
        )
        self.app.start_background()
        # Updates acknowledged before a crash: queued first, so their chats keep order.
        try:
            await self.app.receipts.recover(self.gate.handle)
        except Exception:  # the database hiccupped: the next pass, in a few seconds
            log_failure(log, "inbox: could not look for updates to run again")
        if self.app.early_ack:  # only then are rows added while the bot runs
            recovering = self.app.receipts.keep_recovering(self.gate.handle)
            self._recovering = asyncio.create_task(recovering)
        sender_stop = asyncio.Event()
        feeds = [DeskFeed(self.app.store, self.handoff, desk) for desk in self.desks]
        workers = [asyncio.create_task(s.run(sender_stop)) for s in self.senders.values()]
        workers += [asyncio.create_task(feed.run(sender_stop)) for feed in feeds]
        http_task = asyncio.create_task(server.serve(sockets=[listening]))
        try:
            for channel in self.channels:
                await channel.start()
            settle_heap()
            log.info("serving %s on http://%s:%d", ", ".join(self.senders), host, port)
            await self.stop.wait()
        finally:
            await self._shutdown(server, http_task, workers, feeds, sender_stop)

    async def _shutdown(
        self,
        server: uvicorn.Server,
        http_task: asyncio.Task[None],
        workers: list[asyncio.Task[None]],
        feeds: list[DeskFeed],
        sender_stop: asyncio.Event,
    ) -> None:
        """Stop taking updates, finish the turns in flight, flush the outbox and the desks
        — all within ``SUPPORTBOT_SHUTDOWN_GRACE_SECONDS``. Whatever still waits on a
        platform then is cut (:meth:`OutboxSender.abandon`, :meth:`DeskFeed.abandon`)
        and stays queued for the next start; closing takes a moment more."""
        grace = self.app.settings.shutdown_grace_seconds
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace

        def left() -> float:
            return max(0.0, deadline - loop.time())

        log.info("shutting down: no new updates; finishing %d turn(s)", self.gate.in_flight)
        self.gate.close()
        if self._recovering is not None:
            self._recovering.cancel()
        for channel in self.channels:
            await _within(channel.stop(), left())
        if not await self.gate.wait_idle(left()):
            log.warning("turns still running after %gs; stopping anyway", grace)
        await _within(self.app.manager.arrivals.close(), left())  # a flooding chat's answer
        sender_stop.set()  # the loops end after their pass; the flush sends what is left
        flushes = [asyncio.create_task(_flush(s)) for s in self.senders.values()]
        _, pending = await asyncio.wait([*workers, *flushes], timeout=left())
        if pending:
            self._cut(feeds, grace)
            _, pending = await asyncio.wait(pending, timeout=CLOSE_SECONDS)
            for task in pending:  # stuck elsewhere (the database): cancelled
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        for channel in self.channels:
            await _within(channel.close(), CLOSE_SECONDS)
        server.should_exit = True
        await asyncio.wait([http_task], timeout=max(left(), CLOSE_SECONDS))
        server.force_exit = True  # a request still open (a turn that never ended) is dropped
        with contextlib.suppress(Exception):
            await http_task
        await _within(self.app.receipts.close(), CLOSE_SECONDS)
        await self.app.close()
        log.info("stopped")

    def _cut(self, feeds: list[DeskFeed], grace: float) -> None:
        """Cut what still waits on a platform at the deadline, in one log line."""
        waiting = []
        for name, sender in self.senders.items():
            cut = sender.abandon()
            if cut:
                waiting.append(f"{cut} send{'s' if cut > 1 else ''} still waiting on {name}")
        waiting += [f"a {f.desk} desk update still waiting" for f in feeds if f.abandon()]
        log.warning(
            "shutdown: %s after %gs; they stay queued and go out after the restart",
            ", ".join(waiting) or "outbox work still running",
            grace,
        )

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)


def settle_heap() -> None:
    """Move everything start-up made (flows, the routing model, libraries) out of the
    garbage collector's sight: collect once, then ``gc.freeze()``.

    Without it every full collection walks those hundreds of thousands of long-lived
    objects with the event loop stopped — 100-160 ms each, measured during the Telegram
    benchmark's load, the largest single cause of the reply-latency tail
    (``docs/BENCHMARKS.md``). Frozen objects are still freed by reference counting;
    only cycles among them are never collected, and start-up leaves none worth it.
    """
    gc.collect()
    gc.freeze()


def _listen(host: str, port: int) -> socket.socket:
    """The server's listening socket, bound here: uvicorn's own bind calls ``sys.exit``
    from inside its task when the port is taken, which reached the operator as a traceback
    instead of one line."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); another process may "
            "hold the port — set SUPPORTBOT_HTTP_HOST / SUPPORTBOT_HTTP_PORT."
        ) from None


async def _within(work: Awaitable[None], seconds: float) -> None:
    """``work``, given up after ``seconds``; its errors are not shutdown's concern."""
    with contextlib.suppress(Exception):
        await asyncio.wait_for(work, seconds)


async def _flush(sender: OutboxSender) -> None:
    """Send what the last turns queued."""
    with contextlib.suppress(Exception):
        await sender.flush()  # waits out pacing; the shutdown deadline bounds it
