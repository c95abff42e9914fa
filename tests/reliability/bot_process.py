"""``supportbot run`` as a real subprocess against the stand-ins in the test's process.

The process is the one an operator runs: the CLI sets up logging (so a test sees exactly
what would reach the operator's log) and installs the signal handlers (so SIGTERM is the
real shutdown). Its stderr goes to a file the test reads afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from pathlib import Path

import httpx

from bot.channels.telegram_webhook import WEBHOOK_PATH
from tests.reliability.harness import SLACK_SECRET, TELEGRAM_SECRET
from tests.standins.slack_api import SlackApiStandIn
from tests.standins.telegram_api import TelegramApiStandIn

ROOT = Path(__file__).resolve().parents[2]


def bot_env(
    tmp_path: Path,
    port: int,
    *,
    telegram: TelegramApiStandIn | None = None,
    webhook: bool = False,
    slack: SlackApiStandIn | None = None,
    **extra: str,
) -> dict[str, str]:
    """The environment of a ``supportbot run`` serving the given stand-ins on ``port``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "SLACK_"))}
    env = {k: v for k, v in env.items() if not k.startswith("SUPPORTBOT_")}
    env.update(
        SUPPORTBOT_DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        SUPPORTBOT_FLOWS_DIR=str(ROOT / "flows"),
        SUPPORTBOT_PERSONAS_DIR=str(ROOT / "personas"),
        SUPPORTBOT_HOT_RELOAD="false",
        SUPPORTBOT_HTTP_PORT=str(port),
        SHOP_DATABASE_URL=f"sqlite:///{tmp_path / 'shop.db'}",
    )
    if telegram is not None:
        env.update(TELEGRAM_BOT_TOKEN=telegram.token, TELEGRAM_API_BASE_URL=telegram.url)
        if webhook:
            env.update(
                TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}{WEBHOOK_PATH}",
                TELEGRAM_WEBHOOK_SECRET=TELEGRAM_SECRET,
            )
    if slack is not None:
        env.update(
            SLACK_BOT_TOKEN=slack.token, SLACK_SIGNING_SECRET=SLACK_SECRET, SLACK_API_URL=slack.url
        )
    env.update(extra)
    return env


async def start(
    env: dict[str, str], log: Path, *args: str, timeout: float = 60.0
) -> asyncio.subprocess.Process:
    """Start ``supportbot run ARGS`` (stdout and stderr appended to ``log``) and wait until
    its ``/healthz`` answers."""
    with log.open("ab") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", *args,
            cwd=ROOT, env=env, stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
        )  # fmt: skip
    url = f"http://127.0.0.1:{env['SUPPORTBOT_HTTP_PORT']}/healthz"
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient() as client:
        while True:
            if process.returncode is not None:
                raise AssertionError(f"the bot exited at start-up:\n{tail(log)}")
            with contextlib.suppress(httpx.TransportError):
                if (await client.get(url)).status_code == 200:
                    return process
            if time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"the bot did not come up:\n{tail(log)}")
            await asyncio.sleep(0.1)


def tail(log: Path) -> str:
    """The end of a log, for a failure message."""
    return log.read_text(errors="replace")[-3000:]


async def terminate(process: asyncio.subprocess.Process, timeout: float = 60.0) -> float:
    """SIGTERM, then wait for the exit; returns the seconds it took (SIGKILL after
    ``timeout``, so a hung process fails the test instead of hanging it)."""
    began = time.monotonic()
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
    return time.monotonic() - began
