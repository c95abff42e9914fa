"""``supportbot chat`` driven as a real terminal program (pexpect), through whole flows."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pexpect
import pytest

from storage.records import TicketRecord
from storage.sql import open_store

ROOT = Path(__file__).resolve().parents[1]


def start_chat(db: Path, *extra: str) -> pexpect.spawn:
    env = {
        **os.environ,
        "SUPPORTBOT_DATABASE_URL": f"sqlite+aiosqlite:///{db}",
        "SUPPORTBOT_HOT_RELOAD": "false",
        "COLUMNS": "100",
    }
    child = pexpect.spawn(
        sys.executable,
        ["-m", "bot", "chat", "--user", "tester", *extra],
        cwd=str(ROOT),
        env=env,
        encoding="utf-8",
        timeout=30,
    )
    child.expect("you are the customer")
    return child


def turn(child: pexpect.spawn, line: str, *expected: str) -> None:
    child.expect("you › ")
    child.sendline(line)
    for text in expected:
        child.expect_exact(text)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "console.db"


def test_where_is_my_order_self_serve(db: Path) -> None:
    child = start_chat(db, "--name", "Ann")
    turn(child, "hi", "Hi Ann!", "1) Where is my order?")
    turn(child, "1", "how do you like to be helped", "1) Quick answers", "2) Step by step")
    turn(child, "1", "What's your order number?")
    turn(child, "WS-10001", "shipped", "↗ Track it: https://track.shop.example/WS-10001")
    turn(child, "Thanks, that's all", "Happy to help")
    turn(child, "/quit", "Bye!")
    child.expect(pexpect.EOF)


def test_where_is_my_order_guided_and_state_kept_between_runs(db: Path) -> None:
    child = start_chat(db)
    turn(child, "where is my order", "how do you like to be helped")
    turn(child, "step by step", "confirmation email", "1) Found it")
    child.sendeof()  # Ctrl-D: leave mid-flow
    child.expect(pexpect.EOF)

    child = start_chat(db)
    turn(child, "found it", "Please type it here")
    turn(child, "ws-10002", "delivered", "Could you open the tracking page?")
    turn(child, "1", "Does everything look right")
    turn(child, "Yes, all good", "on its way")
    turn(child, "/quit", "Bye!")
    child.expect(pexpect.EOF)


def test_user_mistakes_get_readable_answers_not_tracebacks(db: Path) -> None:
    child = start_chat(db)
    turn(child, "", "empty")
    turn(child, "asdfgh", "didn't understand")
    turn(child, "99", "Did you mean")  # a bare number may be an order number: a guess offered
    turn(child, "ÿ" * 3000, "talk to a person")
    turn(child, "/quit", "Bye!")
    child.expect(pexpect.EOF)
    assert "Traceback" not in (child.before or "")


# ---- "How did we do?" in the terminal: numbered options, typed scores, recovery -------


def stored(db: Path) -> tuple[tuple[int, str | None] | None, list[TicketRecord]]:
    """The rating of the tester's newest conversation and the open tickets, read from the
    database the chat wrote (after it exited)."""

    async def read() -> tuple[tuple[int, str | None] | None, list[TicketRecord]]:
        store = await open_store(f"sqlite+aiosqlite:///{db}")
        try:
            conversation = (await store.conversations_of("console:tester"))[0]
            return await store.rating_of(conversation.id), await store.tickets.open_tickets()
        finally:
            await store.close()

    return asyncio.run(read())


def resolve_order(child: pexpect.spawn) -> None:
    """Where is my order → quick answers → WS-10001 → thanks, up to the rating question."""
    turn(child, "where is my order", "1) Quick answers")
    turn(child, "1", "What's your order number?")
    turn(child, "WS-10001", "shipped")
    turn(child, "Thanks, that's all", "Happy to help", "How did we do?")
    for number, face in enumerate(["😞 1", "🙁 2", "😐 3", "🙂 4", "😀 5"], 1):
        child.expect_exact(f"{number}) {face}")


def quit_chat(child: pexpect.spawn) -> None:
    turn(child, "/quit", "Bye!")
    child.expect(pexpect.EOF)


def test_rating_by_number_then_a_comment(db: Path) -> None:
    child = start_chat(db, "--name", "Ann")
    resolve_order(child)
    turn(child, "4", "Anything we could do better?", "1) Skip")  # option 4: 🙂 4
    turn(child, "Tracking could update faster", "Thanks — that helps us improve")
    quit_chat(child)
    rating, tickets = stored(db)
    assert rating == (4, "Tracking could update faster") and tickets == []


@pytest.mark.parametrize(("typed", "score"), [("4/5", 4), ("5 stars", 5), ("👎", 1)])
def test_a_typed_rating_counts(db: Path, typed: str, score: int) -> None:
    child = start_chat(db)
    resolve_order(child)
    follow_up = "sorry we let you down" if score <= 2 else "Anything we could do better?"
    turn(child, typed, follow_up, "1) Skip")
    turn(child, "skip", "Thanks — that helps us improve")  # the option's label, typed
    quit_chat(child)
    assert stored(db)[0] == (score, None)


def test_a_low_rating_offers_a_person_in_the_recovery_queue(db: Path) -> None:
    child = start_chat(db)
    resolve_order(child)
    turn(child, "2", "sorry we let you down", "1) Skip", "2) Talk to a person")
    turn(child, "2", "number 1 in line")
    quit_chat(child)
    rating, [ticket] = stored(db)
    assert rating == (2, None)
    assert ticket.queue == "recovery" and "(2/5)" in (ticket.reason or "")
