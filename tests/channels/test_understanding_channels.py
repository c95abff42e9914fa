"""A customer who types the way people type is understood on every channel: an opening
message in their own words, then the order number inside a sentence and without the dash
("its ws10001") — through the real python-telegram-bot and slack-bolt against the
stand-ins, and the console chat as a real terminal."""

from __future__ import annotations

from pathlib import Path

import pexpect

from tests.channels.test_order_lookup_channels import console_chat
from tests.channels.test_slack import slack_bot
from tests.channels.test_telegram import make_settings, running
from tests.conftest import SHOP_PACKAGE
from tests.standins.slack_api import SlackApiStandIn
from tests.standins.telegram_api import PrivateChat, TelegramApiStandIn

OPENING = "any update on my delivery pls?"
ANSWER = ("WS-10001", "shipped")


async def test_telegram(tmp_path: Path, shop_database: str) -> None:
    async with (
        TelegramApiStandIn() as api,
        running(make_settings(tmp_path, api, actions_package=SHOP_PACKAGE), api),
    ):
        customer = PrivateChat(api, 702, "Olga")
        await customer.say(OPENING)
        await customer.expect("how do you like to be helped")
        await customer.tap("Quick answers")
        await customer.expect("order number")
        await customer.say("its ws10001")
        await customer.expect(*ANSWER)


async def test_slack(tmp_path: Path, shop_database: str) -> None:
    api = SlackApiStandIn()
    api.add_user("U9", first_name="Sol")
    async with slack_bot(tmp_path, api, actions_package=SHOP_PACKAGE) as slack:
        reply = await slack.dm(OPENING, user="U9", channel="D9")
        assert "how do you like to be helped" in reply
        reply = await slack.press("Quick answers", user="U9", channel="D9", thread=None)
        assert "order number" in reply
        reply = await slack.dm("its ws10001", user="U9", channel="D9")
        for fragment in ANSWER:
            assert fragment in reply, reply


def test_console(tmp_path: Path, shop_database: str) -> None:
    child = console_chat(tmp_path, SUPPORTBOT_ACTIONS_PACKAGE=SHOP_PACKAGE)
    try:
        child.expect("you › ")
        child.sendline(OPENING)
        child.expect_exact("how do you like to be helped")
        child.expect("you › ")
        child.sendline("Quick answers")
        child.expect_exact("order number")
        child.expect("you › ")
        child.sendline("its ws10001")
        for fragment in ANSWER:
            child.expect_exact(fragment)
        child.expect("you › ")
        child.sendline("/quit")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
