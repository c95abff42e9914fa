"""``supportbot chat`` driven as a real terminal program (pexpect), through whole flows."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pexpect
import pytest

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
    turn(child, "99", "didn't understand")
    turn(child, "ÿ" * 3000, "talk to a person")
    turn(child, "/quit", "Bye!")
    child.expect(pexpect.EOF)
    assert "Traceback" not in (child.before or "")
