"""Export and forget a customer, on data written by the real conversation manager.

The forget tests scan every text and JSON column of every table for the customer's
name, platform user id and the words they typed: a new table or column that keeps
personal data and is not handled by ``storage.privacy`` fails here.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from bot.cli.customer import customer_app
from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.engine.catalog import Catalog
from bot.handoff.service import Agent, HandoffService
from bot.messages import Attachment, CustomerInfo, Inbound, InboundKind
from storage.privacy import FORGOTTEN_PREFIX, export_customer, forget_customer
from storage.reporting import REPORT_EVENT_KINDS
from storage.sql import SqlStore, open_store
from storage.tables import TABLES
from tests.conftest import Customer, example_actions

USER_ID = "4815162342"
VICTIM = f"test:{USER_ID}"
FIRST, LAST = "Zenobia", "Quixley"
TYPED = ["where is my order", "WS-10001", "I was charged twice"]
RATING_COMMENT = "Sigrid from Ostend says the courier was lovely"
"""Everything the victim types (the order number is also a slot and in replies)."""
OTHER = "test:u-bob"


class Victim(Customer):
    """A customer whose platform sends a full profile and update ids."""

    def __init__(self, manager: ConversationManager) -> None:
        super().__init__(manager, user_id=USER_ID)
        self.sender = CustomerInfo(USER_ID, first_name=FIRST, last_name=LAST, language="de")
        self.updates = 0

    async def say(self, text: str) -> str:
        self.updates += 1
        inbound = Inbound(
            self.key, self.sender, InboundKind.TEXT, text, update_id=f"v{self.updates}"
        )
        return await self.send(inbound)


async def populate(manager: ConversationManager, store: SqlStore) -> None:
    """Victim: one resolved conversation, one open one; Bob: one open conversation."""
    victim = Victim(manager)
    await victim.say(TYPED[0])
    await victim.tap("Quick answers")
    assert "shipped" in await victim.say(TYPED[1])
    await victim.tap("Thanks, that's all")  # resolved
    await victim.tap("😀 5")
    await victim.say(RATING_COMMENT)  # rated with a comment: the conversation ends
    await victim.say(TYPED[2])  # a second, open conversation
    # A message acknowledged early, kept while its turn runs (storage/inbox.py).
    await store.inbox.put("test", "v99", VICTIM, {"text": TYPED[2], "first_name": FIRST})
    bob = Customer(manager, user_id="u-bob", first_name="Bob")
    await bob.say("reset my password")
    # Some replies were delivered: sent rows carry the platform's message id.
    for item in await store.outbox.claim("test", "worker", limit=3):
        await store.outbox.mark_sent(item.id, f"pm-{item.id}")


@pytest.fixture
async def populated(manager: ConversationManager, store: SqlStore) -> SqlStore:
    await populate(manager, store)
    return store


async def dump(store: SqlStore) -> dict[str, list[dict[str, Any]]]:
    """Every row of every table, as stored."""
    read, _ = store.engines
    async with read.connect() as conn:
        return {
            table.name: [dict(row) for row in (await conn.execute(sa.select(table))).mappings()]
            for table in TABLES
        }


def texts_of(rows: dict[str, list[dict[str, Any]]]) -> list[tuple[str, str, str]]:
    """(table, column, text) of every text and JSON value, JSON dumped unescaped."""
    found = []
    for table in TABLES:
        for column in table.columns:
            if not isinstance(column.type, sa.String | sa.JSON):
                continue
            for row in rows[table.name]:
                value = row[column.name]
                if value is not None:
                    text = (
                        value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    )
                    found.append((table.name, column.name, text))
    return found


def traces(rows: dict[str, list[dict[str, Any]]], needles: list[str]) -> list[str]:
    return [
        f"{table}.{column} holds {needle!r}"
        for table, column, text in texts_of(rows)
        for needle in needles
        if needle in text
    ]


def without_time(export: dict[str, Any] | None) -> dict[str, Any]:
    assert export is not None
    return {key: value for key, value in export.items() if key != "exported_at"}


async def test_export_has_profile_words_slots_outbox_and_update_ids(populated: SqlStore) -> None:
    export = await export_customer(populated, VICTIM)
    assert export is not None
    assert json.loads(json.dumps(export, ensure_ascii=False)) == export  # plain JSON
    profile = export["customer"]
    assert (profile["id"], profile["user_id"], profile["first_name"]) == (VICTIM, USER_ID, FIRST)
    assert (profile["last_name"], profile["language"], profile["persona"]) == (
        LAST,
        "de",
        "self_serve",
    )
    datetime.fromisoformat(profile["created_at"])  # ISO 8601

    resolved, open_ = export["conversations"]  # oldest first
    assert (resolved["status"], resolved["outcome"], open_["ended_at"]) == (
        "resolved",
        "resolved",
        None,
    )
    assert resolved["state"]["slots"]["order_number"] == "WS-10001"
    said = [
        e["text"]
        for c in export["conversations"]
        for e in c["transcript"]
        if e["direction"] == "in"
    ]
    assert [t for t in said if t] == [*TYPED[:2], RATING_COMMENT, TYPED[2]]
    payloads = [row["payload"]["text"] for row in resolved["outbox"]]
    assert any("WS-10001: shipped" in text for text in payloads)
    assert {row["status"] for row in resolved["outbox"]} == {"sent", "pending"}
    assert all(datetime.fromisoformat(row["created_at"]) for row in resolved["outbox"])
    updates = [u["update_id"] for c in export["conversations"] for u in c["inbound_updates"]]
    assert updates == ["v1", "v2", "v3", "v4"]
    assert all(
        e["conversation_id"] == c["id"] for c in export["conversations"] for e in c["transcript"]
    )


async def test_export_of_unknown_customer_is_none(populated: SqlStore) -> None:
    assert await export_customer(populated, "test:nobody") is None


async def test_forget_leaves_no_trace_of_words_name_or_user_id(populated: SqlStore) -> None:
    before = await dump(populated)
    assert traces(before, [FIRST, LAST, USER_ID, *TYPED, RATING_COMMENT])  # the scan does find them

    report = await forget_customer(populated, VICTIM)

    assert report is not None
    after = await dump(populated)
    assert traces(after, [FIRST, LAST, USER_ID, *TYPED, RATING_COMMENT]) == []
    victim_conversations = [c["id"] for c in before["conversation"] if c["customer_id"] == VICTIM]
    entries = [
        e
        for e in before["transcript_entry"]
        if e["conversation_id"] in victim_conversations
        and not (e["direction"] == "event" and e["kind"] in REPORT_EVENT_KINDS)
    ]
    outbox = [o for o in before["outbox"] if o["conversation_id"] in victim_conversations]
    assert (report.transcript_entries_deleted, report.outbox_rows_deleted) == (
        len(entries),
        len(outbox),
    )
    assert (report.inbound_updates_deleted, report.conversations_anonymised) == (4, 2)
    assert report.conversations_closed == 1
    assert report.pseudonym.startswith(FORGOTTEN_PREFIX)


async def test_forget_keeps_anonymous_facts_for_reports(populated: SqlStore) -> None:
    before = {c.id: c for c in await populated.conversations_of(VICTIM)}

    report = await forget_customer(populated, VICTIM)

    assert report is not None
    assert await populated.get_customer(VICTIM) is None
    pseudonym = await populated.get_customer(report.pseudonym)
    assert pseudonym is not None
    assert (pseudonym.persona, pseudonym.channel, pseudonym.profile) == ("self_serve", "test", {})
    assert (pseudonym.first_name, pseudonym.last_name, pseudonym.language) == (None, None, None)
    after = {c.id: c for c in await populated.conversations_of(report.pseudonym)}
    assert after.keys() == before.keys()
    for cid, old in before.items():
        new = after[cid]
        assert (new.flow_id, new.step_id, new.flow_version, new.started_at) == (
            old.flow_id,
            old.step_id,
            old.flow_version,
            old.started_at,
        )
        assert (new.state, new.chat_key) == ({}, report.pseudonym)
        kept = list(await populated.transcript(cid))  # only the anonymous report events
        assert all(e.direction == "event" and e.kind in REPORT_EVENT_KINDS for e in kept)
        assert all(e.text == "" for e in kept)
        if old.ended_at is not None:  # ended ones keep status, outcome and end time
            assert (new.status, new.outcome, new.ended_at) == (
                old.status,
                old.outcome,
                old.ended_at,
            )
        else:  # an open one can never continue: it is closed
            assert (new.status, new.outcome) == ("closed", "closed")
            assert new.ended_at is not None


async def test_forget_leaves_other_customers_untouched(populated: SqlStore) -> None:
    bob = await export_customer(populated, OTHER)

    assert await forget_customer(populated, VICTIM) is not None

    assert without_time(await export_customer(populated, OTHER)) == without_time(bob)


async def test_after_forget_the_same_user_is_a_brand_new_customer(
    populated: SqlStore, manager: ConversationManager
) -> None:
    report = await forget_customer(populated, VICTIM)
    assert report is not None

    victim = Victim(manager)
    reply = await victim.say("hello")

    assert "Welcome back" not in reply
    assert f"Hi {FIRST}" in reply
    customer = await populated.get_customer(VICTIM)
    assert customer is not None
    assert customer.persona is None  # asked again, like anyone new
    conversations = await populated.conversations_of(VICTIM)
    assert len(conversations) == 1
    assert [
        e.text for e in await populated.transcript(conversations[0].id) if e.direction == "in"
    ] == ["hello"]
    assert len(await populated.conversations_of(report.pseudonym)) == 2


async def test_forgetting_unknown_or_forgotten_customer_is_none(populated: SqlStore) -> None:
    assert await forget_customer(populated, "test:nobody") is None
    assert await forget_customer(populated, VICTIM) is not None
    assert await forget_customer(populated, VICTIM) is None


# --- the commands -----------------------------------------------------------------


async def populate_url(url: str, catalog: Catalog) -> None:
    store = await open_store(url)
    try:
        manager = ConversationManager(store, FixedCatalog(catalog), example_actions())
        await populate(manager, store)
    finally:
        await store.close()


@pytest.fixture
def database(
    store_url: str, shipped_catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> str:
    """The configured database (SUPPORTBOT_DATABASE_URL), populated; cwd has no .env."""
    asyncio.run(populate_url(store_url, shipped_catalog))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", store_url)
    return store_url


def invoke(app: typer.Typer, *args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=input)


def test_cli_export_writes_pretty_utf8_json_to_a_file(database: str, tmp_path: Path) -> None:
    target = tmp_path / "export.json"

    result = invoke(customer_app, "export", VICTIM, "--output", str(target))

    assert result.exit_code == 0, result.output
    text = target.read_text(encoding="utf-8")
    assert "—" in text  # non-ASCII kept as is (a reply text has an em dash)
    assert text.startswith('{\n  "exported_at"')
    assert json.loads(text)["customer"]["first_name"] == FIRST


def test_cli_export_prints_to_stdout_by_default(database: str) -> None:
    result = invoke(customer_app, "export", VICTIM)

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["customer"]["id"] == VICTIM


def test_cli_forget_with_yes_removes_the_customer_and_says_what(database: str) -> None:
    result = invoke(customer_app, "forget", VICTIM, "--yes")

    assert result.exit_code == 0, result.output
    assert f"forgot {VICTIM}" in result.stdout
    assert "transcript entries deleted:" in result.stdout
    assert invoke(customer_app, "export", VICTIM).exit_code == 1


def test_cli_forget_asks_first_and_no_keeps_everything(database: str) -> None:
    result = invoke(customer_app, "forget", VICTIM, input="n\n")

    assert result.exit_code == 1
    assert "cannot be undone" in result.output
    assert invoke(customer_app, "export", VICTIM).exit_code == 0

    confirmed = invoke(customer_app, "forget", VICTIM, input="y\n")
    assert confirmed.exit_code == 0, confirmed.output
    assert f"forgot {VICTIM}" in confirmed.stdout


@pytest.mark.parametrize("command", ["export", "forget"])
def test_cli_unknown_customer_is_an_error_not_a_traceback(database: str, command: str) -> None:
    extra = ["--yes"] if command == "forget" else []
    result = invoke(customer_app, command, "test:nobody", *extra)

    assert result.exit_code == 1
    assert result.stderr.strip() == "error: no customer test:nobody"
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_unusable_database_is_an_error_not_a_traceback(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", "sqlite+aiosqlite:///:memory:")

    result = invoke(customer_app, "export", VICTIM)

    assert result.exit_code == 1
    assert result.stderr.startswith("error: ")
    assert "Traceback" not in result.output


async def test_forget_keeps_the_score_but_not_the_comment(populated: SqlStore) -> None:
    conversation = (await populated.conversations_of(VICTIM))[-1]  # the rated one
    assert await populated.rating_of(conversation.id) == (5, RATING_COMMENT)
    export = await export_customer(populated, VICTIM)
    assert export is not None
    assert export["conversations"][0]["ratings"][0]["comment"] == RATING_COMMENT
    await forget_customer(populated, VICTIM)
    assert await populated.rating_of(conversation.id) == (5, None)


# --- files: references only, exported and forgotten ------------------------------

PHOTO_ID, LABEL_ID = "AgADphoto-of-the-crushed-box", "F0LABEL"


async def test_export_lists_file_references_and_forget_deletes_them(
    store: SqlStore, manager: ConversationManager
) -> None:
    victim = Victim(manager)
    await victim.say("my parcel arrived damaged")
    await victim.tap("Quick answers")
    await victim.tap("Arrived damaged")
    photo = Attachment("photo", "test", PHOTO_ID, mime="image/jpeg", size=48_000)
    await victim.send(
        Inbound(victim.key, victim.sender, InboundKind.NON_TEXT, "the box",
                non_text_kind="photo", attachments=(photo,))
    )  # fmt: skip
    assert "got the photo" in victim.text
    [ticket] = await store.tickets.open_tickets()
    service, alice = HandoffService(store, manager), Agent("slack:UALICE", "@alice")
    await service.take(ticket.id, alice)
    label = Attachment("document", "slack", LABEL_ID, "label.pdf", "application/pdf", 9_000)
    await service.reply(ticket.id, alice, "your return label", "slack:CDESK:1.2", (label,))

    export = await export_customer(store, VICTIM)
    assert export is not None
    files = {f["file_id"]: f for f in export["files"]}
    assert files.keys() == {PHOTO_ID, LABEL_ID}
    assert files[PHOTO_ID]["stored_in"] == ["transcript", "slots"]
    assert files[PHOTO_ID]["kind"] == "photo" and files[PHOTO_ID]["size"] == 48_000
    assert files[LABEL_ID]["stored_in"] == ["transcript", "outbox"]
    assert files[LABEL_ID]["name"] == "label.pdf"

    report = await forget_customer(store, VICTIM)

    assert report is not None and report.file_references_deleted == 2
    assert traces(await dump(store), [PHOTO_ID, LABEL_ID, "label.pdf"]) == []
