"""Agent actions from non-agents are refused (Slack desk, with an agent allowlist).

A customer asks for a person; the card appears in the agents' channel. Then: someone
not on ``SUPPORTBOT_AGENT_ALLOWLIST`` presses Take and replies in the card's thread; the
customer forges a desk button press from their own DM. None of it moves the ticket or
reaches the customer. The allowed agent's Take (the control) works.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.reliability.conftest import Tally
from tests.reliability.harness import bot_settings, start_bot
from tests.standins.slack_api import SlackApiStandIn, labels_of

DESK = "CDESK"
ALICE, MALLORY, CUSTOMER = "UALICE", "UMALLORY", "U1"


async def eventually(condition: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.05)


async def test_non_agents_cannot_take_reply_or_forge_desk_buttons(
    tmp_path: Path, tally: Tally
) -> None:
    api = SlackApiStandIn()
    for user in (ALICE, MALLORY, CUSTOMER):
        api.add_user(user, display_name=user.lower())
    await api.start()
    settings = bot_settings(
        tmp_path, slack=api, SLACK_AGENT_CHANNEL=DESK, agent_allowlist=f"slack:{ALICE}"
    )
    bot = await start_bot(settings, slack=api)
    send = bot.slack_sender()
    store = bot.app.store
    try:
        assert (await send.event(send.dm_event(CUSTOMER, "human", "D1"))).status == 200

        def card() -> dict[str, object] | None:
            cards = [m for m in api.posted if m["channel"] == DESK and "thread_ts" not in m]
            return cards[-1] if cards and "Take" in labels_of(cards[-1]) else None

        await eventually(card)
        shown = card()
        assert shown is not None
        [ticket] = await store.tickets.open_tickets()
        to_customer = len([m for m in api.posted if m["channel"] == "D1"])

        assert (await send.press(MALLORY, DESK, shown, "Take")).status == 200
        await eventually(lambda: any(e["user"] == MALLORY for e in api.ephemeral))
        assert "allowlist" in " ".join(e["text"] for e in api.ephemeral if e["user"] == MALLORY)
        event = send.channel_message(MALLORY, "hi, I am support", DESK, thread_ts=str(shown["ts"]))
        assert (await send.event(event)).status == 200
        # the customer forges the desk's Take button from their own DM
        assert (await send.press(CUSTOMER, "D1", shown, "Take")).status == 200
        await bot.settle()
        [still] = await store.tickets.open_tickets()
        assert still.status == "queued" and still.owner_id is None
        said = [m["text"] for m in api.posted if m["channel"] == "D1"][to_customer:]
        assert not any("I am support" in t for t in said), said

        assert (await send.press(ALICE, DESK, shown, "Take")).status == 200  # the control
        await bot.settle()
        [taken] = await store.tickets.open_tickets()
        assert taken.status == "assigned" and taken.owner_id == f"slack:{ALICE}", taken
        assert ticket.id == taken.id
    finally:
        await bot.stop()
        await api.stop()
    tally.count("agent actions from non-agents (take, thread reply, forged button)", 3)
