"""`supportbot run`'s runtime: one HTTP server with /healthz and /metrics, sender loops,
graceful shutdown — with an in-process stand-in platform as the channel."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from starlette.routing import BaseRoute

from bot.actions import ActionCall, LocalActionRunner
from bot.app import App
from bot.channels.base import InboundGate, ShuttingDown
from bot.conversation.manager import ConversationManager
from bot.conversation.receipts import Receipts
from bot.engine.effects import ActionResultEvent
from bot.engine.registry import FlowRegistry
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind, Outbound
from bot.runner import Runner
from bot.settings import Settings
from storage.sql import open_store
from tests.conftest import FLOWS, PERSONAS, example_actions
from tests.standins import free_port

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class StandInPlatform:
    """A channel whose "platform" is this object: it records what it was sent."""

    gate: InboundGate
    name: str = "fake"
    received: list[Outbound] = field(default_factory=list)
    started: bool = False
    stopped: bool = False

    @property
    def transport(self) -> StandInPlatform:
        return self

    @property
    def channel(self) -> str:
        return self.name

    async def send(self, message: Outbound) -> str | None:
        self.received.append(message)
        return str(len(self.received))

    def routes(self) -> Sequence[BaseRoute]:
        return []

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    async def close(self) -> None:
        pass

    async def customer_says(self, chat: str, text: str, update_id: str) -> Sequence[Outbound]:
        key = ConversationKey(self.name, chat)
        inbound = Inbound(key, CustomerInfo(chat), InboundKind.TEXT, text, update_id=update_id)
        return await self.gate.handle(inbound)

    async def wait_for(self, text: str, timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not any(text in m.text for m in self.received):
                await asyncio.sleep(0.01)


@dataclass
class Running:
    runner: Runner
    platform: StandInPlatform
    base_url: str
    task: asyncio.Task[None]
    release: asyncio.Event


@pytest.fixture
async def running(tmp_path: Path) -> AsyncIterator[Running]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", hot_reload=False)
    release = asyncio.Event()
    release.set()

    async def order_status(call: ActionCall) -> ActionResultEvent:
        await release.wait()
        return await example_actions().run(call)

    store = await open_store(settings.database_url)
    registry = FlowRegistry.load(FLOWS, PERSONAS)
    manager = ConversationManager(
        store, registry, LocalActionRunner({"order_status": order_status})
    )
    receipts = Receipts(store.inbox, manager.arrivals.busy, after=0.2)
    app = App(settings, store, registry, manager, receipts)
    gate = InboundGate(manager.handle)
    platform = StandInPlatform(gate)
    runner = Runner(app, gate, [platform])
    port = free_port()
    task = asyncio.create_task(runner.serve("127.0.0.1", port))
    base_url = f"http://127.0.0.1:{port}"
    async with asyncio.timeout(10):
        while True:
            try:
                async with httpx.AsyncClient() as client:
                    await client.get(f"{base_url}/healthz")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.02)
    yield Running(runner, platform, base_url, task, release)
    runner.stop.set()
    await asyncio.wait_for(task, 30)


async def test_healthz_and_metrics(running: Running) -> None:
    await running.platform.customer_says("c1", "hi", "1")
    await running.platform.wait_for("Pick a topic")
    async with httpx.AsyncClient(base_url=running.base_url) as client:
        health = await client.get("/healthz")
        metrics = await client.get("/metrics")
    assert health.status_code == 200
    assert health.json() == {"status": "ok", "database": "ok", "channels": ["fake"]}
    text = metrics.text
    assert metrics.headers["content-type"].startswith("text/plain")
    assert 'supportbot_updates_in_total{channel="fake"}' in text
    assert "supportbot_turn_seconds_count" in text
    assert 'supportbot_outbox_rows{status="sent"}' in text
    assert 'supportbot_messages_out_total{channel="fake",outcome="sent"}' in text
    assert "supportbot_errors_total" in text


async def test_replies_go_out_through_the_sender_loop(running: Running) -> None:
    assert running.platform.started
    await running.platform.customer_says("c2", "where is my order", "1")
    await running.platform.wait_for("how do you like to be helped")
    await running.platform.customer_says("c2", "quick answers", "2")
    await running.platform.customer_says("c2", "WS-10002", "3")
    await running.platform.wait_for("delivered")
    texts = [m.text for m in running.platform.received if m.key.chat_id == "c2"]
    assert len(texts) == len(set(texts))  # nothing twice


async def test_shutdown_finishes_turns_in_flight_and_flushes_the_outbox(
    running: Running,
) -> None:
    await running.platform.customer_says("c3", "where is my order", "1")
    await running.platform.customer_says("c3", "quick answers", "2")
    running.release.clear()  # the order system is slow
    in_flight = asyncio.create_task(running.platform.customer_says("c3", "WS-10001", "3"))
    await asyncio.sleep(0.1)
    running.runner.stop.set()
    await asyncio.sleep(0.1)
    with pytest.raises(ShuttingDown):  # no new updates: the platform will redeliver
        await running.platform.customer_says("c4", "hi", "1")
    assert not running.task.done()  # waiting for the turn in flight
    running.release.set()
    await in_flight
    await asyncio.wait_for(running.task, 30)
    assert any("shipped" in m.text for m in running.platform.received)
    assert running.platform.stopped


def test_run_without_channels_starts_the_console(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))},
        "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"],
        cwd=ROOT,
        env=env,
        input="hi\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "No channel configured" in result.stderr
    assert "Pick a topic" in result.stdout


def test_slack_token_without_signing_secret_is_one_clear_line(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))},
        "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
        "SLACK_BOT_TOKEN": "xoxb-test",
    }
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "SLACK_SIGNING_SECRET" in result.stderr
    assert "Traceback" not in result.stderr
    assert "xoxb-test" not in result.stderr


def test_a_port_already_taken_is_one_clear_line(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))},
            "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'c.db'}",
            "SUPPORTBOT_HTTP_PORT": str(port),
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "secret",
            "SLACK_API_URL": "http://127.0.0.1:9/api/",  # never reached: the port comes first
        }
        result = subprocess.run(
            [sys.executable, "-m", "bot", "run"], cwd=ROOT, env=env, capture_output=True,
            text=True, timeout=60,
        )  # fmt: skip
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
