""" "Where is my order WS-10001" answers with the example shop's seeded order on every
channel — console, Telegram, Slack — in both personas, with the rasa-sdk actions run
in-process and on a real action server (``python -m rasa_sdk``)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from tests.channels.test_slack import slack_bot
from tests.channels.test_telegram import make_settings, running
from tests.conftest import SHOP_PACKAGE
from tests.rasa_server import action_server
from tests.standins.slack_api import SlackApiStandIn
from tests.standins.telegram_api import PrivateChat, TelegramApiStandIn

ROOT = Path(__file__).resolve().parents[2]
PERSONA_BUTTON = {"self_serve": "Quick answers", "guided": "Step by step"}
ANSWER = ("WS-10001", "shipped", "tomorrow")  # seeded today: DHL delivers it tomorrow


def console_chat(tmp_path: Path, **env: str) -> pexpect.spawn:
    """``supportbot chat`` in a real terminal, on its own SQLite file; ``env``: settings."""
    return pexpect.spawn(
        sys.executable,
        ["-m", "bot", "chat", "--user", "olga"],
        cwd=str(ROOT),
        env={
            **os.environ,
            "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'console.db'}",
            "SUPPORTBOT_HOT_RELOAD": "false",
            "COLUMNS": "100",
            **env,
        },
        encoding="utf-8",
        timeout=30,
    )


@pytest.fixture(scope="module")
def server_url(shop_database: str) -> Iterator[str]:
    with action_server(SHOP_PACKAGE) as url:
        yield url


@pytest.fixture(params=["in-process", "action-server"])
def action_settings(request: pytest.FixtureRequest) -> dict[str, Any]:
    """Settings for where the actions run."""
    if request.param == "in-process":
        return {"actions_package": SHOP_PACKAGE, "action_endpoint": None}
    return {"action_endpoint": request.getfixturevalue("server_url")}


@pytest.mark.parametrize("persona", sorted(PERSONA_BUTTON))
async def test_telegram(tmp_path: Path, persona: str, action_settings: dict[str, Any]) -> None:
    async with (
        TelegramApiStandIn() as api,
        running(make_settings(tmp_path, api, **action_settings), api),
    ):
        customer = PrivateChat(api, 701, "Olga")
        await customer.say("Where is my order WS-10001")
        await customer.expect("how do you like to be helped")
        await customer.tap(PERSONA_BUTTON[persona])
        await customer.expect(*ANSWER)


@pytest.mark.parametrize("persona", sorted(PERSONA_BUTTON))
async def test_slack(tmp_path: Path, persona: str, action_settings: dict[str, Any]) -> None:
    api = SlackApiStandIn()
    api.add_user("U8", first_name="Sol")
    async with slack_bot(tmp_path, api, **action_settings) as slack:
        reply = await slack.dm("Where is my order WS-10001", user="U8", channel="D8")
        assert "how do you like to be helped" in reply
        reply = await slack.press(PERSONA_BUTTON[persona], user="U8", channel="D8", thread=None)
        for fragment in ANSWER:
            assert fragment in reply, reply


@pytest.mark.parametrize("persona", sorted(PERSONA_BUTTON))
def test_console(tmp_path: Path, persona: str, action_settings: dict[str, Any]) -> None:
    child = console_chat(
        tmp_path,
        SUPPORTBOT_ACTIONS_PACKAGE=action_settings.get("actions_package") or "",
        SUPPORTBOT_ACTION_ENDPOINT=action_settings.get("action_endpoint") or "",
    )
    try:
        child.expect("you › ")
        child.sendline("Where is my order WS-10001")
        child.expect_exact("how do you like to be helped")
        child.expect("you › ")
        child.sendline(PERSONA_BUTTON[persona])
        for fragment in ANSWER:
            child.expect_exact(fragment)
        child.expect("you › ")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
