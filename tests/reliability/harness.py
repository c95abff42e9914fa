"""The bot as `supportbot run` builds it, in this process, against the stand-ins.

:func:`start_bot` mirrors ``bot.cli.serve.run`` (``build_app``, ``build_channels``, ``Runner``,
``build_desks``) with settings pointing at the stand-ins on 127.0.0.1, and a throw-away
SQLite file. :class:`LoopThread` runs such a bot on an event loop of its own thread, so
synchronous hypothesis tests can drive it over HTTP.

The **echo flow** makes delivery checkable from the platform side alone: after "echo" (a
greeting and "Say something.") every message ``m`` gets exactly one reply,
``You said m.`` — so the stand-in's log shows whether a message was lost, answered twice,
or answered out of order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import threading
import time
from collections.abc import Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from bot.app import App, build_app
from bot.channel_setup import build_channels, build_desks
from bot.channels.base import Channel, InboundGate
from bot.channels.telegram_webhook import SECRET_HEADER, WEBHOOK_PATH
from bot.runner import Runner
from bot.settings import Settings
from tests.conftest import FLOWS, PERSONAS, settle
from tests.standins import free_port
from tests.standins.slack_api import SlackApiStandIn, SlackSender
from tests.standins.telegram_api import TelegramApiStandIn

T = TypeVar("T")

TELEGRAM_SECRET = "reliability-webhook_secret"
SLACK_SECRET = "0123456789abcdef0123456789abcdef"

ECHO_FLOW = """\
id: echo
title: Echo
triggers: [echo]
rating: false
variants:
  default:
    start: hello
    steps:
      hello:
        ask: Say something.
        slot: said
        next: again
      again:
        ask: "You said {{ said }}."
        slot: said
        next: again
"""


def echo_reply(text: str) -> str:
    return f"You said {text}."


def flows_dir(tmp_path: Path, *, shipped: bool) -> Path:
    """A flows directory with the echo flow (plus a copy of the shipped flows if asked)."""
    target = tmp_path / "flows"
    if shipped:
        shutil.copytree(FLOWS, target, ignore=shutil.ignore_patterns("tests"))
    else:
        target.mkdir()
    (target / "echo.yaml").write_text(ECHO_FLOW, encoding="utf-8")
    return target


def leaked(text: str) -> bool:
    """Does a message to a customer carry traceback/exception text?"""
    return "Traceback" in text or 'File "' in text or "Error:" in text or "Exception" in text


@dataclass
class Bot:
    """A running bot (one process's worth): app, runner, and where to reach it."""

    app: App
    runner: Runner
    channels: list[Channel]
    port: int
    task: asyncio.Task[None]
    telegram: TelegramApiStandIn | None = None
    slack: SlackApiStandIn | None = None
    errors: list[logging.LogRecord] = field(default_factory=list)
    """ERROR records (with a traceback) the bot logged while running."""

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def webhook_url(self) -> str:
        return self.base_url + WEBHOOK_PATH

    def slack_sender(self) -> SlackSender:
        return SlackSender(self.base_url + "/slack/events", SLACK_SECRET)

    async def post_update(
        self, client: httpx.AsyncClient, update: Any, secret: str | None = TELEGRAM_SECRET
    ) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        response = await client.post(self.webhook_url, json=update, headers=headers)
        return response.status_code

    async def settle(self, timeout: float = 60.0) -> None:
        """Wait until no turn runs and the outbox holds nothing pending."""
        await settle(self.app.store, self.runner.gate, timeout)

    async def stop(self) -> None:
        self.runner.stop.set()
        await asyncio.wait_for(self.task, 60)


class _Errors(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            self.sink.append(record)


def bot_settings(
    tmp_path: Path,
    *,
    telegram: TelegramApiStandIn | None = None,
    webhook: bool = False,
    slack: SlackApiStandIn | None = None,
    flows: Path | None = None,
    port: int | None = None,
    **extra: Any,
) -> Settings:
    port = port or free_port()
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "flows_dir": flows or FLOWS,
        "personas_dir": PERSONAS,
        "hot_reload": False,
        "http_host": "127.0.0.1",
        "http_port": port,
        "TELEGRAM_BOT_TOKEN": telegram.token if telegram else None,
        "TELEGRAM_API_BASE_URL": telegram.url if telegram else "https://api.telegram.org",
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}{WEBHOOK_PATH}" if webhook else None,
        "TELEGRAM_WEBHOOK_SECRET": TELEGRAM_SECRET if webhook else None,
        "TELEGRAM_AGENT_CHAT_ID": None,
        "SLACK_BOT_TOKEN": slack.token if slack else None,
        "SLACK_SIGNING_SECRET": SLACK_SECRET if slack else None,
        "SLACK_APP_TOKEN": None,
        "SLACK_API_URL": slack.url if slack else "https://slack.com/api/",
        "SLACK_AGENT_CHANNEL": None,
        "agent_allowlist": None,
        # Machine-speed customers and an echo flow that answers every message: what is
        # measured is delivery, not the per-chat limits nor bursts read as one.
        "pacing": False,
        "flood_messages": 0,
        "bursts": False,
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def start_bot(
    settings: Settings,
    *,
    telegram: TelegramApiStandIn | None = None,
    slack: SlackApiStandIn | None = None,
) -> Bot:
    """Build and serve everything ``supportbot run`` would for ``settings``."""
    app = await build_app(settings)
    gate = InboundGate(app.manager.handle)
    channels = build_channels(settings, gate, app)
    runner = Runner(app, gate, channels)
    runner.desks.extend(build_desks(settings, app, runner.handoff, channels))
    task = asyncio.create_task(runner.serve(settings.http_host, settings.http_port))
    bot = Bot(app, runner, channels, settings.http_port, task, telegram, slack)
    handler = _Errors(bot.errors)
    logging.getLogger("supportbot").addHandler(handler)
    task.add_done_callback(lambda _: logging.getLogger("supportbot").removeHandler(handler))
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient() as client:
        while True:
            if task.done():
                task.result()  # start-up failed: raise it
                raise AssertionError("the bot stopped during start-up")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(bot.base_url + "/healthz")).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise AssertionError("the bot did not come up")
            await asyncio.sleep(0.05)
    if telegram is not None and not settings.telegram_webhook_url:
        while not telegram.calls_of("getUpdates"):
            await asyncio.sleep(0.02)
    return bot


class LoopThread:
    """An event loop on a thread of its own, for synchronous (hypothesis) tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 120.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@contextlib.contextmanager
def loop_thread() -> Iterator[LoopThread]:
    thread = LoopThread()
    try:
        yield thread
    finally:
        thread.close()
