"""A webhook update acknowledged early, then ``kill -9``: nothing is lost.

The real ``supportbot run`` (Telegram webhook, SQLite, the order lookup on an action
server that does not answer yet) takes "its ws10001": the lookup hangs, so the update is
kept in the inbox and Telegram gets its 200 — it will never send it again. The process
is killed (SIGKILL) while the lookup hangs, the action server comes back, the bot is
started again on the same database: the update is run again from the inbox, the
interrupted lookup resumes, and the customer gets the order's status exactly once.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.channels.telegram_webhook import SECRET_HEADER, WEBHOOK_PATH
from tests.reliability.bot_process import bot_env, start, tail, terminate
from tests.reliability.conftest import Tally
from tests.reliability.harness import TELEGRAM_SECRET
from tests.standins import free_port
from tests.standins.action_server import SlowActionServer
from tests.standins.telegram_api import PrivateChat, TelegramApiStandIn, said, wait_until

CUSTOMER = 55_601

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


async def test_an_early_acknowledged_update_is_answered_after_a_kill(
    tmp_path: Path, tally: Tally
) -> None:
    log = tmp_path / "bot.log"
    async with TelegramApiStandIn() as telegram, SlowActionServer() as shop:
        env = bot_env(
            tmp_path, free_port(), telegram=telegram, webhook=True,
            SUPPORTBOT_ACTION_ENDPOINT=shop.url,
        )  # fmt: skip

        async def post(update: dict[str, Any]) -> None:
            url = f"http://127.0.0.1:{env['SUPPORTBOT_HTTP_PORT']}{WEBHOOK_PATH}"
            async with httpx.AsyncClient() as client:
                response = await client.post(
                    url, json=update, headers={SECRET_HEADER: TELEGRAM_SECRET}
                )
            assert response.status_code == 200, response.status_code

        process = await start(env, log)
        ann = PrivateChat(telegram, CUSTOMER, "Ann", deliver=post)
        await ann.say("where is my order")
        await ann.expect("how do you like to be helped", timeout=30)
        await ann.tap("Quick answers")
        await ann.expect("order number", timeout=30)
        await ann.say("its ws10001")  # acknowledged: Telegram will not send it again
        await wait_until(lambda: shop.calls == ["order_status"], 30)
        process.kill()
        await process.wait()

        shop.release.set()
        env["SUPPORTBOT_HTTP_PORT"] = str(free_port())  # the old one may still be taken
        restarted = time.monotonic()
        process = await start(env, log)
        await ann.expect("WS-10001", "shipped", timeout=30)
        answered = time.monotonic() - restarted
        await asyncio.sleep(1.5)  # a second copy, if one were coming, would be here now
        await terminate(process)

    answers = [said(m) for m in ann.messages() if "WS-10001" in said(m)]
    assert len(answers) == 1, answers
    assert "Traceback" not in log.read_text(errors="replace"), tail(log)
    tally.note(
        "early-acknowledged webhook update, kill -9 during its turn",
        f"answered {answered:.1f} s after the restart, once",
    )
