"""Shutdown within its grace period, even when the platforms stop answering.

The real ``supportbot run`` (Telegram by long polling, the Slack agents' desk in
``SLACK_AGENT_CHANNEL``, ``SUPPORTBOT_SHUTDOWN_GRACE_SECONDS=2``) serves a customer who
asks for a person while both platforms take requests and never answer: Telegram's
``sendMessage`` (the reply to the customer) and Slack's ``chat.postMessage`` (the
ticket's card for the agents). SIGTERM must end the process within the grace (plus a
generous margin for a loaded machine), with exit code 0 and one warning line — no ERROR,
no traceback. Then the platforms answer again and the bot is started once more on the
same database: the reply reaches the customer and the card reaches the agents, each
exactly once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.reliability.bot_process import bot_env, start, terminate
from tests.reliability.conftest import Tally
from tests.standins import free_port
from tests.standins.slack_api import SlackApiStandIn
from tests.standins.telegram_api import TelegramApiStandIn, text_update, user_json, wait_until

GRACE = 2
MARGIN = 10.0
"""Seconds past the grace the process may take to exit: closing connections, the
database and the interpreter, on a machine shared with other test runs."""
CUSTOMER = 55_501
DESK = "CDESK"

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def cards(slack: SlackApiStandIn) -> list[str]:
    """Texts of the messages posted in the agents' channel outside a thread (cards)."""
    return [
        m.get("text", "") for m in slack.posted if m["channel"] == DESK and not m.get("thread_ts")
    ]


async def test_sigterm_ends_within_the_grace_and_nothing_hung_is_lost(
    tmp_path: Path, tally: Tally
) -> None:
    slack = SlackApiStandIn()
    await slack.start()
    log = tmp_path / "bot.log"
    try:
        async with TelegramApiStandIn() as telegram:
            env = bot_env(
                tmp_path, free_port(), telegram=telegram, slack=slack,
                SLACK_AGENT_CHANNEL=DESK, SUPPORTBOT_SHUTDOWN_GRACE_SECONDS=str(GRACE),
            )  # fmt: skip
            process = await start(env, log)
            telegram.stop_answering("sendMessage")
            slack.stop_answering("chat.postMessage")
            telegram.queue_update(text_update(user_json(CUSTOMER, "Ann"), "I want a person"))
            await wait_until(lambda: telegram.calls_of("sendMessage", failed=True), 30)
            await wait_until(lambda: slack.of("chat.postMessage!hung"), 30)
            seconds = await terminate(process, timeout=GRACE + 60)
            first_run, first_code = log.read_text(errors="replace"), process.returncode

            telegram.answer_again()
            slack.answer_again()
            env["SUPPORTBOT_HTTP_PORT"] = str(free_port())  # the old one may be taken now
            process = await start(env, log)
            await wait_until(lambda: telegram.messages_to(CUSTOMER) and cards(slack), 30)
            await asyncio.sleep(1.5)  # a second copy, if one were coming, would be here now
            await terminate(process)
    finally:
        await slack.stop()

    tally.note(
        "shutdown with both platforms hung (SIGTERM -> exit)",
        f"{seconds:.1f} s with SUPPORTBOT_SHUTDOWN_GRACE_SECONDS={GRACE}",
    )
    assert first_code == 0 and process.returncode == 0, first_run[-3000:]
    assert seconds < GRACE + MARGIN, f"exit took {seconds:.1f}s:\n{first_run[-3000:]}"
    assert "Traceback" not in first_run and " ERROR " not in first_run, first_run[-3000:]
    assert (
        "shutdown: 1 send still waiting on telegram, a slack desk update still waiting "
        f"after {GRACE}s; they stay queued and go out after the restart"
    ) in first_run, first_run[-3000:]
    replies = [m["text"] for m in telegram.messages_to(CUSTOMER)]
    assert replies and len(replies) == len(set(replies)), replies  # each exactly once
    assert len(cards(slack)) == 1, cards(slack)
