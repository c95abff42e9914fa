"""``supportbot run``: every configured channel in one asyncio process, one HTTP server.

Start-up: flows and database are checked, each channel starts (a bad token or an
unreachable platform is one clear error line), a sender loop per channel delivers the
outbox, uvicorn serves webhooks, health and metrics. Shutdown (SIGTERM/SIGINT): stop
taking updates, let turns in flight finish, flush the outbox, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

import uvicorn

from bot.app import App
from bot.channels.base import Channel, InboundGate
from bot.delivery import OutboxSender, pacing_for
from bot.handoff.desk_feed import Desk, DeskFeed
from bot.handoff.service import HandoffService
from bot.http import make_http_app

log = logging.getLogger("supportbot.runner")

SHUTDOWN_GRACE_SECONDS = 20.0


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
        routes = [route for channel in self.channels for route in channel.routes()]
        http = make_http_app(self.app.store, routes, [c.name for c in self.channels])
        server = _Server(
            uvicorn.Config(http, host=host, port=port, log_level="warning", lifespan="off")
        )
        self.app.start_background()
        sender_stop = asyncio.Event()
        senders = [asyncio.create_task(s.run(sender_stop)) for s in self.senders.values()]
        senders += [
            asyncio.create_task(DeskFeed(self.app.store, self.handoff, desk).run(sender_stop))
            for desk in self.desks
        ]
        http_task = asyncio.create_task(server.serve())
        try:
            for channel in self.channels:
                await channel.start()
            log.info("serving %s on http://%s:%d", ", ".join(self.senders), host, port)
            await self.stop.wait()
        finally:
            await self._shutdown(server, http_task, senders, sender_stop)

    async def _shutdown(
        self,
        server: uvicorn.Server,
        http_task: asyncio.Task[None],
        senders: list[asyncio.Task[None]],
        sender_stop: asyncio.Event,
    ) -> None:
        log.info("shutting down: no new updates; finishing %d turn(s)", self.gate.in_flight)
        self.gate.close()
        for channel in self.channels:
            with contextlib.suppress(Exception):
                await channel.stop()
        if not await self.gate.wait_idle(SHUTDOWN_GRACE_SECONDS):
            log.warning("turns still running after %.0fs; stopping anyway", SHUTDOWN_GRACE_SECONDS)
        await self.app.manager.arrivals.close()  # a flooding chat's promised answer, now
        for sender in self.senders.values():  # flush what the last turns queued
            with contextlib.suppress(Exception):
                await sender.flush()
        sender_stop.set()
        await asyncio.gather(*senders, return_exceptions=True)
        for channel in self.channels:
            with contextlib.suppress(Exception):
                await channel.close()
        server.should_exit = True
        with contextlib.suppress(Exception):
            await http_task
        await self.app.close()
        log.info("stopped")

    def install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.stop.set)
