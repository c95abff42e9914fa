"""The demo shop's rasa-sdk actions (examples/actions), run through a real ActionExecutor.

Every test gets its own SQLite file via SHOP_DATABASE_URL and a pinned "today"
(Monday 1 December 2025), so dates in words are the same on any day.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk.executor import ActionExecutor

from examples.actions import seed_demo_data, shop
from examples.actions.text import (
    format_money,
    human_day,
    mask_email,
    normalise_email,
    normalise_order_number,
    order_eta,
)

MONDAY = date(2025, 12, 1)
SENDER = "telegram:42"
ORDER_FORM_DOMAIN: dict[str, Any] = {
    "forms": {"order_form": {"required_slots": ["order_number"]}},
    "slots": {
        "order_number": {
            "type": "text",
            "influence_conversation": False,
            "mappings": [{"type": "from_text", "conditions": [{"active_loop": "order_form"}]}],
        },
    },
}


@pytest.fixture(scope="module")
def executor() -> ActionExecutor:
    executor = ActionExecutor()
    executor.register_package("examples.actions")
    return executor


@pytest.fixture
def shop_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    monkeypatch.setenv(shop.DATABASE_URL_ENV, url)
    monkeypatch.setattr(shop, "utc_today", lambda: MONDAY)
    yield url
    shop.dispose_engines()


def action_call(
    name: str,
    slots: dict[str, Any],
    *,
    text: str = "",
    events: list[dict[str, Any]] | None = None,
    domain: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "next_action": name,
        "sender_id": SENDER,
        "tracker": {
            "sender_id": SENDER,
            "slots": slots,
            "latest_message": {"text": text, "intent": {"name": "where_is_my_order"}},
            "events": events if events is not None else [{"event": "user", "text": text}],
            "paused": False,
            "followup_action": None,
            "active_loop": {},
            "latest_action_name": "action_listen",
        },
        "domain": domain if domain is not None else {},
        "version": "3.9.0",
    }


async def run(executor: ActionExecutor, call: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Runs the call; returns (slot name → value in event order, texts uttered)."""
    result = await executor.run(call)
    assert result is not None
    assert all(event["event"] == "slot" for event in result.events), result.events
    slots = {event["name"]: event["value"] for event in result.events}
    assert len(slots) == len(result.events), "a slot was set twice"
    return slots, [message["text"] for message in result.responses]


def test_the_package_provides_the_shop_actions(executor: ActionExecutor) -> None:
    assert {
        "order_status",
        "refund_status",
        "resend_password_link",
        "validate_order_form",
    } <= set(executor.actions)


# --- order_status -------------------------------------------------------------------------


@pytest.mark.parametrize("given", ["ws10001", "WS-10001", " 10001 ", "ws 10001", "order #10001"])
async def test_order_status_normalises_the_number_and_finds_the_order(
    executor: ActionExecutor, shop_url: str, given: str
) -> None:
    slots, texts = await run(executor, action_call("order_status", {"order_number": given}))
    assert slots == {
        "order_found": True,
        "order_number": "WS-10001",
        "order_status": "shipped",
        "eta": "tomorrow",
        "carrier": "DHL",
        "tracking_url": "https://track.shop.example/WS-10001",
    }
    assert texts == [], "the flow words the answer, not the action"


@pytest.mark.parametrize(
    ("number", "status", "eta", "carrier"),
    [
        ("WS-10002", "delivered", "already (it arrived on Saturday)", "UPS"),
        ("WS-10003", "being packed", "in 3–4 days", "DPD"),
        ("WS-10004", "shipped", "on Thursday", "DHL"),
        ("WS-10005", "cancelled", "— it was cancelled", "GLS"),
    ],
)
async def test_order_status_of_each_sample_order(
    executor: ActionExecutor, shop_url: str, number: str, status: str, eta: str, carrier: str
) -> None:
    slots, texts = await run(executor, action_call("order_status", {"order_number": number}))
    assert slots["order_found"] is True
    assert (slots["order_status"], slots["eta"], slots["carrier"]) == (status, eta, carrier)
    assert slots["tracking_url"] == f"https://track.shop.example/{number}"
    assert texts == []


async def test_order_status_relative_to_the_real_today(
    executor: ActionExecutor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(shop.DATABASE_URL_ENV, f"sqlite:///{tmp_path / 'real.db'}")
    try:
        slots, _ = await run(executor, action_call("order_status", {"order_number": "WS-10004"}))
    finally:
        shop.dispose_engines()
    in_three_days = shop.utc_today() + timedelta(days=3)
    assert slots["eta"] == f"on {in_three_days:%A}"


@pytest.mark.parametrize(
    ("given", "number"),
    [("WS-99999", "WS-99999"), ("ws12345", "WS-12345"), ("hello", "hello"), (None, None)],
)
async def test_order_status_of_an_unknown_order(
    executor: ActionExecutor, shop_url: str, given: str | None, number: str | None
) -> None:
    slots, texts = await run(executor, action_call("order_status", {"order_number": given}))
    assert slots == {"order_found": False, "order_number": number}
    assert texts == []


async def test_order_status_reads_the_database_off_the_event_loop(
    executor: ActionExecutor, shop_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    threads: list[int] = []
    find_order = shop.find_order

    def spy(number: str, url: str | None = None) -> shop.Order | None:
        threads.append(threading.get_ident())
        return find_order(number, url)

    monkeypatch.setattr(shop, "find_order", spy)
    slots, _ = await run(executor, action_call("order_status", {"order_number": "WS-10001"}))
    assert slots["order_found"] is True
    assert threads and threading.get_ident() not in threads


# --- refund_status ------------------------------------------------------------------------


async def test_refund_status_issued(executor: ActionExecutor, shop_url: str) -> None:
    slots, texts = await run(executor, action_call("refund_status", {"order_number": "10005"}))
    assert slots == {
        "refund_found": True,
        "order_number": "WS-10005",
        "refund_status": "issued",
        "refund_amount": "€49.90",
        "refund_when": "on Saturday",
    }
    assert texts == []


async def test_refund_status_pending(executor: ActionExecutor, shop_url: str) -> None:
    slots, _ = await run(executor, action_call("refund_status", {"order_number": "ws10002"}))
    assert slots["refund_found"] is True
    assert slots["refund_status"] == "pending"
    assert slots["refund_amount"] == "€19.90"
    assert slots["refund_when"] == "within 5 business days"


@pytest.mark.parametrize("given", ["WS-10001", "WS-99999", "no idea", None])
async def test_refund_status_without_a_refund(
    executor: ActionExecutor, shop_url: str, given: str | None
) -> None:
    slots, texts = await run(executor, action_call("refund_status", {"order_number": given}))
    assert slots["refund_found"] is False
    assert set(slots) == {"refund_found", "order_number"}
    assert texts == []


# --- resend_password_link -----------------------------------------------------------------


async def test_resend_password_link_to_a_known_account(
    executor: ActionExecutor, shop_url: str
) -> None:
    call = action_call("resend_password_link", {"email": " Ann@Example.com "})
    slots, texts = await run(executor, call)
    assert slots == {"link_sent": True}
    assert texts == ["I've sent a new reset link to a•••@example.com. It's valid for 1 hour."]
    [link] = shop.password_links("ann@example.com")
    assert link.expires_at - link.created_at == timedelta(hours=1)
    assert link.token

    await run(executor, call)
    assert len(shop.password_links("ann@example.com")) == 2, "each request sends a new link"


@pytest.mark.parametrize("email", ["nobody@example.com", "not an email", "", None])
async def test_resend_password_link_without_an_account(
    executor: ActionExecutor, shop_url: str, email: str | None
) -> None:
    slots, texts = await run(executor, action_call("resend_password_link", {"email": email}))
    assert slots == {"link_sent": False}
    assert texts == [], "the flow says what to do next"
    assert shop.password_links() == []


# --- validate_order_form ------------------------------------------------------------------


def validation_call(candidate: str) -> dict[str, Any]:
    """What the bot sends for an ask step: the candidate as the trailing ``slot`` event."""
    return action_call(
        "validate_order_form",
        {"order_number": candidate, "requested_slot": "order_number"},
        text=candidate,
        events=[
            {"event": "action", "name": "action_listen"},
            {"event": "user", "text": candidate},
            {"event": "slot", "name": "order_number", "value": candidate},
        ],
        domain=ORDER_FORM_DOMAIN,
    )


@pytest.mark.parametrize("candidate", ["ws10003", " 10003", "WS-10003"])
async def test_validate_order_form_accepts_a_known_order(
    executor: ActionExecutor, shop_url: str, candidate: str
) -> None:
    slots, texts = await run(executor, validation_call(candidate))
    assert slots == {"order_number": "WS-10003"}
    assert texts == []


async def test_validate_order_form_rejects_an_unknown_order(
    executor: ActionExecutor, shop_url: str
) -> None:
    slots, texts = await run(executor, validation_call("ws 55555"))
    assert slots == {"order_number": None}
    assert texts == [
        "I can't find an order WS-55555; it's in your confirmation email, like WS-12345."
    ]


@pytest.mark.parametrize("candidate", ["banana", "1234", "WS-123456"])
async def test_validate_order_form_explains_the_format(
    executor: ActionExecutor, shop_url: str, candidate: str
) -> None:
    slots, texts = await run(executor, validation_call(candidate))
    assert slots == {"order_number": None}
    [text] = texts
    assert "doesn't look like an order number" in text
    assert "WS-12345" in text


async def test_validate_order_form_ignores_other_forms(
    executor: ActionExecutor, shop_url: str
) -> None:
    call = validation_call("banana")
    call["domain"] = {"forms": {"other_form": {"required_slots": ["order_number"]}}}
    slots, texts = await run(executor, call)
    assert slots == {} and texts == []


# --- the database -------------------------------------------------------------------------


async def test_first_use_creates_and_seeds_the_database(
    executor: ActionExecutor, shop_url: str, tmp_path: Path
) -> None:
    assert not (tmp_path / "shop.db").exists()
    slots, _ = await run(executor, action_call("order_status", {"order_number": "WS-10002"}))
    assert slots["order_found"] is True
    with sqlite3.connect(tmp_path / "shop.db") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master")}
        orders = db.execute("select count(*) from orders").fetchone()[0]
    assert {"orders", "refunds", "accounts", "password_link"} <= tables
    assert orders == 5


async def test_existing_empty_tables_are_seeded_but_existing_orders_kept(
    executor: ActionExecutor, shop_url: str, tmp_path: Path
) -> None:
    seed_demo_data(shop_url)
    with sqlite3.connect(tmp_path / "shop.db") as db:
        db.execute("update orders set status = 'lost' where number = 'WS-10001'")
    shop.dispose_engines()  # a new process: opens the database afresh
    slots, _ = await run(executor, action_call("order_status", {"order_number": "WS-10001"}))
    assert slots["order_status"] == "lost", "first use must not re-seed a shop with orders"

    with sqlite3.connect(tmp_path / "shop.db") as db:
        db.execute("delete from refunds")
        db.execute("delete from orders")
    shop.dispose_engines()
    slots, _ = await run(executor, action_call("order_status", {"order_number": "WS-10001"}))
    assert slots["order_status"] == "shipped"


async def test_seed_demo_data_resets_the_shop(executor: ActionExecutor, shop_url: str) -> None:
    await run(executor, action_call("resend_password_link", {"email": "ben@example.com"}))
    assert len(shop.password_links()) == 1
    assert seed_demo_data() == 5
    assert shop.password_links() == []
    assert seed_demo_data(shop_url) == 5, "seeding twice gives the same shop, no duplicates"
    slots, _ = await run(executor, action_call("refund_status", {"order_number": "WS-10005"}))
    assert slots["refund_amount"] == "€49.90"


async def test_each_database_url_gets_its_own_engine(
    executor: ActionExecutor, shop_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    call = action_call("order_status", {"order_number": "WS-10001"})
    assert (await run(executor, call))[0]["order_found"] is True
    with sqlite3.connect(tmp_path / "shop.db") as db:
        db.execute("delete from orders where number = 'WS-10001'")
    assert (await run(executor, call))[0]["order_found"] is False

    other = tmp_path / "other.db"
    monkeypatch.setenv(shop.DATABASE_URL_ENV, f"sqlite:///{other}")
    assert (await run(executor, call))[0]["order_found"] is True
    assert other.exists()


def test_database_url_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(shop.DATABASE_URL_ENV, raising=False)
    assert shop.database_url() == "sqlite:///shop.db"
    monkeypatch.setenv(shop.DATABASE_URL_ENV, "sqlite:////tmp/x.db")
    assert shop.database_url() == "sqlite:////tmp/x.db"


def test_an_in_memory_database_works(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shop, "utc_today", lambda: MONDAY)
    try:
        assert seed_demo_data("sqlite://") == 5
        order = shop.find_order("WS-10004", "sqlite://")
        assert order is not None and order.eta_to == MONDAY + timedelta(days=3)
    finally:
        shop.dispose_engines()


# --- wording ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "number"),
    [
        ("ws10001", "WS-10001"),
        ("WS-10001", "WS-10001"),
        (" 10001 ", "WS-10001"),
        ("Ws-10001.", "WS-10001"),
        ("my order is ws 10042, thanks", "WS-10042"),
        (10001, "WS-10001"),
        ("WS-100011", None),
        ("1001", None),
        ("XY-10001", None),
        ("", None),
        (None, None),
        (True, None),
    ],
)
def test_normalise_order_number(raw: object, number: str | None) -> None:
    assert normalise_order_number(raw) == number


@pytest.mark.parametrize(
    ("offset", "text"),
    [
        (0, "today"),
        (1, "tomorrow"),
        (-1, "yesterday"),
        (3, "on Thursday"),
        (6, "on Sunday"),
        (-2, "on Saturday"),
        (7, "on 8 December"),
        (2, "on Wednesday"),
        (-30, "on 1 November"),
        (400, "on 5 January 2027"),
    ],
)
def test_human_day(offset: int, text: str) -> None:
    assert human_day(MONDAY + timedelta(days=offset), MONDAY) == text


def test_order_eta_wording() -> None:
    day = timedelta(days=1)
    assert order_eta("shipped", MONDAY, MONDAY + day, MONDAY + day) == "tomorrow"
    assert order_eta("shipped", MONDAY, MONDAY, MONDAY) == "today"
    assert order_eta("shipped", MONDAY, MONDAY + 9 * day, MONDAY + 9 * day) == "on 10 December"
    assert order_eta("being packed", MONDAY, MONDAY + 3 * day, MONDAY + 4 * day) == "in 3–4 days"
    assert order_eta("being packed", MONDAY, MONDAY + day, MONDAY + 3 * day) == "by Thursday"
    assert order_eta("shipped", MONDAY, MONDAY - 3 * day, MONDAY - day) == (
        "soon (it was due yesterday)"
    )
    assert order_eta("delivered", MONDAY, delivered_on=MONDAY) == "already (it arrived today)"
    assert order_eta("cancelled", MONDAY, MONDAY, MONDAY) == "— it was cancelled"


def test_money_and_email_wording() -> None:
    assert format_money(4990) == "€49.90"
    assert format_money(123456, "usd") == "$1,234.56"
    assert format_money(500, "CHF") == "5.00 CHF"
    assert mask_email("ann@example.com") == "a•••@example.com"
    assert mask_email("b@shop.example") == "b•••@shop.example"
    assert normalise_email("  Ben@Example.COM ") == "ben@example.com"
    assert normalise_email("ben@localhost") is None
    assert normalise_email("ben example.com") is None
