"""The whole handoff loop on one machine: `supportbot chat` (customer) and `supportbot desk`
(agent) as two terminal programs sharing one SQLite database."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pexpect

from bot.conversation.manager import ConversationManager
from bot.handoff.console_desk import ConsoleDesk
from bot.handoff.service import Agent, HandoffService
from bot.messages import Attachment, Inbound, InboundKind
from storage.sql import SqlStore
from tests.conftest import Customer

ROOT = Path(__file__).resolve().parents[1]


def spawn(db: Path, *args: str) -> pexpect.spawn:
    env = {
        **os.environ,
        "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "SUPPORTBOT_HOT_RELOAD": "false",
        "COLUMNS": "120",
    }
    return pexpect.spawn(
        sys.executable, ["-m", "bot", *args], cwd=str(ROOT), env=env, encoding="utf-8", timeout=30
    )


def test_customer_and_agent_talk_through_the_terminal_desk(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    customer = spawn(db, "chat", "--user", "carol", "--name", "Carol")
    customer.expect("you are the customer")
    customer.sendline("where is my order")
    customer.expect_exact("1) Quick answers")
    customer.sendline("1")
    customer.expect("order number")
    customer.sendline("I want to talk to a human")
    customer.expect("number 1 in line")

    agent = spawn(db, "desk", "--agent", "alice")
    agent.expect("you are alice")
    agent.expect_exact("#1 [general] queued")
    agent.sendline("/take 1")
    agent.expect("you took ticket #1")
    agent.expect("Carol")  # the card: who is waiting
    agent.expect("where_is_my_order")  # and where they escalated from

    customer.expect("alice from our team has joined")
    customer.sendline("my parcel WS-10001 is late")
    agent.expect("customer: my parcel WS-10001 is late")

    # The desk restarts while the ticket is Alice's: she picks it up again, relay goes on.
    agent.sendline("/quit")
    agent.expect(pexpect.EOF)
    agent = spawn(db, "desk", "--agent", "alice")
    agent.expect("you are alice")
    agent.sendline("/take 1")
    agent.expect("you have ticket #1")
    customer.sendline("are you still there?")
    agent.expect("customer: are you still there?")
    agent.sendline("Sorry! It ships tomorrow.")
    customer.expect("Sorry! It ships tomorrow.")
    agent.sendline("// carrier confirmed by phone")
    agent.expect("note saved")
    agent.sendline("/close delivery_delay")
    agent.expect("closed ticket #1")
    customer.expect("How did we do?")
    customer.expect_exact("5) 😀 5")
    customer.sendline("5")
    customer.expect("Anything we could do better?")
    customer.sendline("/quit")
    customer.expect(pexpect.EOF)
    agent.sendline("/quit")
    agent.expect(pexpect.EOF)
    assert "carrier confirmed" not in (customer.before or "")


async def test_the_terminal_desk_shows_a_file_as_what_and_where_it_is(
    store: SqlStore, manager: ConversationManager
) -> None:
    ann = Customer(manager, "2201", "Ann", channel="telegram")
    await ann.say("my parcel arrived damaged")
    await ann.tap("Quick answers")
    await ann.tap("Arrived damaged")
    photo = Attachment("photo", "telegram", "AgAD-crushed-box", mime="image/jpeg", size=48_000)
    await ann.send(Inbound(ann.key, ann.sender, InboundKind.NON_TEXT, "the box",
                           non_text_kind="photo", attachments=(photo,)))  # fmt: skip
    out = io.StringIO()
    desk = ConsoleDesk(HandoffService(store, manager), store, Agent("console:alice", "alice"), out)

    await desk.command("/take 1")

    shown = out.getvalue()
    assert "customer: [photo, 47 KB · telegram file AgAD-crushed-box] the box" in shown
    assert "damage_photo=[photo, 47 KB]" in shown
