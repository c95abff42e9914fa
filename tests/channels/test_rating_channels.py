"""The rating ("How did we do?") on Telegram and Slack: the real python-telegram-bot and
slack-bolt, the real Runner, store and outbox, against the stand-ins on 127.0.0.1.

Per platform: a resolved order question asks for the rating with five native buttons; a
tap (a callback query / a block_actions payload) asks for a comment with a Skip button;
the comment is stored with the score. Typed answers ("4/5", "5 stars", "👎") count as
much as taps. A low score offers a person (a ticket in the ``recovery`` queue carrying
the score) and alerts the agents' desk chat through the channel's own outbox sender.
Both bots run with their agents' desk configured (``TELEGRAM_AGENT_CHAT_ID``,
``SLACK_AGENT_CHANNEL``), as `supportbot run` would start them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.handoff import desk_feed
from storage.records import TicketRecord
from storage.sql import SqlStore
from tests.channels import test_slack_desk
from tests.channels.test_slack import Slack
from tests.channels.test_slack_desk import DESK, Desk
from tests.channels.test_telegram_desk import AGENTS, card_in, labels, make_settings, running
from tests.standins.slack_api import buttons_of, labels_of
from tests.standins.telegram_api import AgentGroup, PrivateChat, TelegramApiStandIn, wait_until

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2:DeprecationWarning")

desk = test_slack_desk.desk  # the Slack bot with SLACK_AGENT_CHANNEL=CDESK (a fixture)

FACES = ["😞 1", "🙁 2", "😐 3", "🙂 4", "😀 5"]
SCORES = ["r:1", "r:2", "r:3", "r:4", "r:5"]
TYPED = [("4/5", 4), ("5 stars", 5), ("👎", 1)]


@pytest.fixture
async def api(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[TelegramApiStandIn]:
    monkeypatch.setattr(desk_feed, "FEED_SECONDS", 0.05)  # ticket cards show up quickly
    async with TelegramApiStandIn() as api:
        yield api


async def rating_of(store: SqlStore, customer_id: str) -> tuple[int, str | None] | None:
    """The stored rating of the customer's newest conversation."""
    conversation = (await store.conversations_of(customer_id))[0]
    return await store.rating_of(conversation.id)


async def the_recovery_ticket(store: SqlStore) -> TicketRecord:
    [ticket] = await store.tickets.open_tickets()
    assert ticket.queue == "recovery", ticket
    assert ticket.reason is not None
    return ticket


# ---- Telegram ------------------------------------------------------------------------


async def resolve_order_on_telegram(customer: PrivateChat) -> dict[str, Any]:
    """Where is my order → quick answers → WS-10001 → thanks: the rating question."""
    await customer.say("where is my order")
    await customer.expect("how do you like to be helped")
    await customer.tap("Quick answers")
    await customer.expect("order number")
    await customer.say("WS-10001")
    await customer.expect("WS-10001", "shipped")
    await customer.tap("Thanks, that's all")
    await customer.expect("Happy to help")
    return await customer.expect("How did we do?")


def answered(api: TelegramApiStandIn, tap: dict[str, Any]) -> bool:
    query_id = tap["callback_query"]["id"]
    calls = api.calls_of("answerCallbackQuery")
    return any(c.params.get("callback_query_id") == query_id for c in calls)


def alerts_to_agents(api: TelegramApiStandIn) -> list[str]:
    return [
        c.params["text"]
        for c in api.calls_of("sendMessage")
        if c.params["chat_id"] == str(AGENTS) and "Low rating" in c.params["text"]
    ]


async def test_telegram_tap_a_score_then_comment(tmp_path: Path, api: TelegramApiStandIn) -> None:
    async with running(make_settings(tmp_path, api), api) as bot:
        ann = PrivateChat(api, 801, "Ann")
        question = await resolve_order_on_telegram(ann)
        keyboard = question["reply_markup"]["inline_keyboard"]
        assert [b["text"] for row in keyboard for b in row] == FACES
        assert [b["callback_data"] for row in keyboard for b in row] == SCORES

        tap = await ann.tap("🙂 4")
        assert tap["callback_query"]["data"] == "r:4"
        ask = await ann.expect("Anything we could do better?")
        assert labels(ask) == ["Skip"]
        await wait_until(lambda: answered(api, tap))  # no endless spinner
        await wait_until(  # the tapped question loses its buttons: no second score
            lambda: any(
                e.params["message_id"] == str(question["message_id"])
                and "reply_markup" not in e.params
                for e in api.calls_of("editMessageReplyMarkup")
            )
        )

        await ann.say("Tracking could update faster")
        await ann.expect("Thanks — that helps us improve")
        stored = await rating_of(bot.app.store, "telegram:801")
        assert stored == (4, "Tracking could update faster")
        assert alerts_to_agents(api) == []  # a 4 is no alert


@pytest.mark.parametrize(("typed", "score"), TYPED)
async def test_telegram_typed_answer_counts(
    tmp_path: Path, api: TelegramApiStandIn, typed: str, score: int
) -> None:
    async with running(make_settings(tmp_path, api), api) as bot:
        ben = PrivateChat(api, 802, "Ben")
        await resolve_order_on_telegram(ben)
        await ben.say(typed)
        follow_up = "sorry we let you down" if score <= 2 else "Anything we could do better?"
        reply = await ben.expect(follow_up)
        assert labels(reply)[0] == "Skip"
        skip = await ben.tap("Skip")
        await ben.expect("Thanks — that helps us improve")
        await wait_until(lambda: answered(api, skip))
        assert await rating_of(bot.app.store, "telegram:802") == (score, None)


async def test_telegram_low_score_offers_a_person_and_alerts_the_agents_group(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    async with running(make_settings(tmp_path, api), api) as bot:
        cy = PrivateChat(api, 803, "Cy")
        await resolve_order_on_telegram(cy)
        tap = await cy.tap("🙁 2")
        apology = await cy.expect("sorry we let you down", "What went wrong?")
        assert labels(apology) == ["Skip", "Talk to a person"]
        await wait_until(lambda: answered(api, tap))

        await wait_until(lambda: alerts_to_agents(api))
        [alert] = alerts_to_agents(api)
        conversation = (await bot.app.store.conversations_of("telegram:803"))[0]
        assert "Low rating 2/5 from Cy on telegram" in alert
        assert f"supportbot transcript {conversation.id}" in alert

        await cy.tap("Talk to a person")
        await cy.expect("number 1 in line")
        ticket = await the_recovery_ticket(bot.app.store)
        assert "(2/5)" in ticket.reason and ticket.conversation_id == conversation.id
        card = await card_in(AgentGroup(api, AGENTS), ticket.id)  # the desk sees the ticket
        assert "Queue: recovery" in card["text"] and "(2/5)" in card["text"]
        assert await bot.app.store.rating_of(conversation.id) == (2, None)
        assert len(alerts_to_agents(api)) == 1  # once, however many turns follow


# ---- Slack ---------------------------------------------------------------------------


async def resolve_order_on_slack(slack: Slack) -> str:
    """The same resolved order question in a DM; returns the last replies' text."""
    assert "how do you like to be helped" in await slack.dm("where is my order")
    assert "order number" in await slack.press("Quick answers")
    assert "shipped" in await slack.dm("WS-10001")
    return await slack.press("Thanks, that's all")


def slack_alerts(slack: Slack) -> list[str]:
    return [m["text"] for m in slack.posted_to(DESK) if "Low rating" in m["text"]]


async def test_slack_press_a_score_then_comment(desk: Desk) -> None:
    slack = desk.slack
    text = await resolve_order_on_slack(slack)
    assert "Happy to help" in text and "How did we do?" in text
    question = slack.posted_to("D1")[-1]
    assert labels_of(question) == FACES
    assert [b["value"] for b in buttons_of(question)] == SCORES

    text = await slack.press("🙂 4")  # a signed block_actions payload
    assert "Anything we could do better?" in text
    assert labels_of(slack.posted_to("D1")[-1]) == ["Skip"]
    [pressed] = [u for u in slack.api.updated if u["ts"] == question["ts"]]
    assert pressed["blocks"][-1]["elements"][0]["text"] == "✔ 🙂 4"  # can't be pressed twice

    assert "Thanks — that helps us improve" in await slack.dm("Tracking could update faster")
    stored = await rating_of(slack.app.store, "slack:U1")
    assert stored == (4, "Tracking could update faster")
    assert slack_alerts(slack) == []


@pytest.mark.parametrize(("typed", "score"), TYPED)
async def test_slack_typed_answer_counts(desk: Desk, typed: str, score: int) -> None:
    slack = desk.slack
    assert "How did we do?" in await resolve_order_on_slack(slack)
    text = await slack.dm(typed)
    assert ("sorry we let you down" if score <= 2 else "Anything we could do better?") in text
    assert labels_of(slack.posted_to("D1")[-1])[0] == "Skip"
    assert "Thanks — that helps us improve" in await slack.press("Skip")
    assert await rating_of(slack.app.store, "slack:U1") == (score, None)


async def test_slack_low_score_offers_a_person_and_alerts_the_agent_channel(desk: Desk) -> None:
    slack = desk.slack
    await resolve_order_on_slack(slack)
    text = await slack.press("🙁 2")
    assert "sorry we let you down" in text and "What went wrong?" in text
    assert labels_of(slack.posted_to("D1")[-1]) == ["Skip", "Talk to a person"]

    [alert] = slack_alerts(slack)  # settled: the outbox delivered it to the agent channel
    conversation = (await slack.app.store.conversations_of("slack:U1"))[0]
    assert "Low rating 2/5 from Ann on slack" in alert
    assert f"supportbot transcript {conversation.id}" in alert
    [post] = [m for m in slack.posted_to(DESK) if "Low rating" in m["text"]]
    assert "thread_ts" not in post  # a message of its own in the channel, not in a thread

    assert "number 1 in line" in await slack.press("Talk to a person")
    ticket = await the_recovery_ticket(slack.app.store)
    assert "(2/5)" in ticket.reason and ticket.conversation_id == conversation.id
    await desk.sync()  # the desk feed posts the ticket's card
    assert "recovery" in desk.card_text() and "(2/5)" in desk.card_text()
    assert await slack.app.store.rating_of(conversation.id) == (2, None)
    assert len(slack_alerts(slack)) == 1
