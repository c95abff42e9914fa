"""The Telegram channel end to end: real python-telegram-bot, real Runner and store,
against the Bot API stand-in. Assertions are on what "Telegram" received."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from telegram import Update
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

import bot.app
from bot.actions import ActionCall, LocalActionRunner
from bot.app import App, build_app
from bot.channels.base import InboundGate
from bot.channels.telegram import TelegramChannel
from bot.channels.telegram_messages import (
    MAX_TEXT,
    callback_data,
    delivery_error,
    message_inbound,
    sender_of,
    split_text,
    utf16_len,
)
from bot.channels.telegram_sending import TelegramTransport
from bot.channels.telegram_webhook import SECRET_HEADER, WEBHOOK_PATH
from bot.delivery import DeliveryError
from bot.engine.effects import ActionResultEvent
from bot.errors import ConfigError
from bot.messages import ConversationKey, Inbound, InboundKind, Outbound
from bot.runner import Runner
from bot.settings import Settings
from tests.conftest import FLOWS, PERSONAS, example_actions
from tests.standins import free_port
from tests.standins.telegram_api import (
    BOT_USER,
    TOKEN,
    PrivateChat,
    TelegramApiStandIn,
    callback_update,
    photo_update,
    text_update,
    user_json,
    wait_until,
)

SECRET = "s3cret-webhook_token"

# ptb 22 warns about RetryAfter's int form from inside its own constructor
pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2:DeprecationWarning")


@pytest.fixture
async def api() -> AsyncIterator[TelegramApiStandIn]:
    async with TelegramApiStandIn() as api:
        yield api


def make_settings(tmp_path: Path, api: TelegramApiStandIn, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "flows_dir": FLOWS,
        "personas_dir": PERSONAS,
        "hot_reload": False,
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.url,
        "pacing": False,  # test customers answer at once; pacing has its own tests
        **extra,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class Running:
    app: App
    runner: Runner
    channel: TelegramChannel
    port: int
    task: asyncio.Task[None]

    async def post(self, update: dict[str, Any], secret: str | None = SECRET) -> int:
        headers = {SECRET_HEADER: secret} if secret is not None else {}
        async with httpx.AsyncClient() as client:
            response = await client.post(
                f"http://127.0.0.1:{self.port}{WEBHOOK_PATH}", json=update, headers=headers
            )
        return response.status_code

    async def shutdown(self) -> None:
        self.runner.stop.set()
        await asyncio.wait_for(self.task, 30)


Handler = Callable[[Inbound], Awaitable[Sequence[Outbound]]]


@contextlib.asynccontextmanager
async def running(
    settings: Settings,
    api: TelegramApiStandIn,
    wrap: Callable[[Handler], Handler] | None = None,
    **channel_options: Any,
) -> AsyncIterator[Running]:
    """The bot as `supportbot run` starts it, with quick retries for the tests."""
    app = await build_app(settings)
    handler: Handler = app.manager.handle
    gate = InboundGate(wrap(handler) if wrap else handler)
    receipts = app.receipts if app.early_ack else None
    options = {"poll_timeout": 5, "retry_delay": 0.05, "receipts": receipts, **channel_options}
    channel = TelegramChannel(settings, gate, **options)
    runner = Runner(app, gate, [channel])
    port = free_port()
    task = asyncio.create_task(runner.serve("127.0.0.1", port))
    bot = Running(app, runner, channel, port, task)
    try:
        ready = "setWebhook" if settings.telegram_webhook_url else "getUpdates"
        await wait_until(lambda: task.done() or api.calls_of(ready), 10)
        if task.done():
            task.result()  # start-up failed: raise it
        if settings.telegram_webhook_url:
            await wait_until(lambda: runner_listening(port), 10)
        yield bot
    finally:
        if not task.done():
            await bot.shutdown()
        await channel.close()


def runner_listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


class SlowAction:
    """order_status that waits for the test's go-ahead: a turn that takes its time."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()

    async def __call__(self, call: ActionCall) -> ActionResultEvent:
        self.started.set()
        await self.release.wait()
        return await example_actions().run(call)


@pytest.fixture
def slow_action(monkeypatch: pytest.MonkeyPatch) -> SlowAction:
    action = SlowAction()
    monkeypatch.setattr(
        bot.app, "load_actions", lambda _settings: LocalActionRunner({"order_status": action})
    )
    return action


# ---- whole conversations -----------------------------------------------------------


async def test_order_conversations_in_both_personas_over_long_polling(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    async with running(make_settings(tmp_path, api), api):
        commands = api.calls_of("setMyCommands")[0].params["commands"]
        assert [c["command"] for c in commands] == ["start", "menu", "human", "help"]
        assert all(0 < len(c["description"]) <= 40 for c in commands)
        assert api.calls_of("deleteWebhook") and not api.calls_of("setWebhook")

        group = {"id": -100777, "type": "supergroup", "title": "Shop fans"}
        gus = user_json(99, "Gus")
        api.queue_update(text_update(gus, "/start", chat=group))
        old_menu = {**text_update(gus, "menu", chat=group)["message"], "from": BOT_USER}
        api.queue_update(callback_update(gus, old_menu, "m:where_is_my_order"))

        async def self_serve(ann: PrivateChat) -> None:
            await ann.say("/start")
            await ann.expect("Ann")
            await ann.tap("Where is my order?")
            await ann.expect("how do you like to be helped")
            await ann.tap("Quick answers")
            await ann.expect("order number")
            await ann.say("WS-10001")
            reply = await ann.expect("WS-10001", "shipped")
            rows = reply["reply_markup"]["inline_keyboard"]
            assert all(len(row) == 1 for row in rows)  # one button per row
            track = {"text": "Track it", "url": "https://track.shop.example/WS-10001"}
            assert rows[0][0] == track
            await ann.tap("Thanks, that's all")
            await ann.expect("Happy to help")

            # the tapped message keeps its link, loses the buttons that route
            def edit_of_report() -> list[Any]:
                return [
                    e
                    for e in api.calls_of("editMessageReplyMarkup")
                    if e.params["message_id"] == str(reply["message_id"])
                ]

            await wait_until(lambda: bool(edit_of_report()))  # the edit runs beside the turn
            edit = edit_of_report()[0]
            assert edit.params["reply_markup"] == {"inline_keyboard": [[track]]}

        async def guided(ben: PrivateChat) -> None:
            await ben.say("/start")
            await ben.expect("Ben")
            await ben.tap("Where is my order?")
            await ben.expect("how do you like to be helped")
            await ben.tap("Step by step")
            await ben.expect("confirmation email")
            await ben.tap("Found it")
            await ben.expect("type it here")
            await ben.say("ws-10001")
            await ben.expect("Thanks, Ben", "shipped")
            await ben.tap("Found it")  # a button of an older message
            await ben.expect("earlier message")

        ann, ben = PrivateChat(api, 501, "Ann"), PrivateChat(api, 502, "Ben")
        await asyncio.gather(self_serve(ann), guided(ben))

        taps = 3 + 3 + 1
        # every tap answered (the group's too); only private chats' keyboards edited
        await wait_until(lambda: len(api.calls_of("answerCallbackQuery")) == taps + 1)
        await wait_until(lambda: len(api.calls_of("editMessageReplyMarkup")) == taps)
        assert not api.messages_to(-100777)  # group chats are not served
        assert all(c.params["text"] for c in api.calls_of("sendMessage"))
        assert all("parse_mode" not in c.params for c in api.calls_of("sendMessage"))


async def test_reset_password_over_webhook(tmp_path: Path, api: TelegramApiStandIn) -> None:
    settings = make_settings(
        tmp_path,
        api,
        TELEGRAM_WEBHOOK_URL="https://bot.shop.example/telegram/webhook",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
    )
    async with running(settings, api) as bot:
        hook = api.calls_of("setWebhook")[0].params
        assert hook["url"] == "https://bot.shop.example/telegram/webhook"
        assert hook["secret_token"] == SECRET
        assert hook["allowed_updates"] == ["message", "callback_query", "edited_message"]
        assert not api.calls_of("getUpdates") and not api.calls_of("deleteWebhook")

        ann = PrivateChat(api, 601, "Ann", deliver=lambda u: post_ok(bot, u))
        await ann.say("/start")
        await ann.expect("Ann")
        await ann.tap("Reset my password")
        await ann.expect("how do you like to be helped")
        await ann.tap("Quick answers")
        reply = await ann.expect("shop.example/reset")
        labels = [row[0]["text"] for row in reply["reply_markup"]["inline_keyboard"]]
        assert labels[0] == "Reset page"
        await ann.tap("That worked")
        await ann.expect("back in")

        # the tapped checkpoint loses its buttons: it can't be pressed twice
        checkpoint = next(m for m in ann.messages() if "Did that work?" in m["text"])
        await wait_until(
            lambda: any(
                e.params["message_id"] == str(checkpoint["message_id"])
                for e in api.calls_of("editMessageReplyMarkup")
            )
        )  # the edit runs beside the turn
        await wait_until(lambda: len(api.calls_of("answerCallbackQuery")) == 3)
        edit = api.calls_of("editMessageReplyMarkup")[-1].params
        assert edit["message_id"] == str(checkpoint["message_id"])
        assert "reply_markup" not in edit  # no markup = keyboard removed
        assert len(api.calls_of("answerCallbackQuery")) == 3


async def post_ok(bot: Running, update: dict[str, Any]) -> None:
    assert await bot.post(update) == 200


async def test_webhook_refuses_wrong_secret_and_replies_once_to_a_redelivery(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    settings = make_settings(
        tmp_path,
        api,
        TELEGRAM_WEBHOOK_URL="https://bot.shop.example/telegram/webhook",
        TELEGRAM_WEBHOOK_SECRET=SECRET,
    )
    async with running(settings, api) as bot:
        eve = user_json(701, "Eve")
        update = {"update_id": 5001, **text_update(eve, "/start")}
        assert await bot.post(update, secret="wrong") == 403
        assert await bot.post(update, secret=None) == 403
        assert await bot.app.store.get_customer("telegram:701") is None
        assert not api.messages_to(701)

        assert await bot.post(update) == 200
        await outbox_drained(bot)
        replies = len(api.messages_to(701))
        assert replies >= 1
        assert await bot.post(update) == 200  # Telegram redelivers (e.g. our 200 was lost)
        await outbox_drained(bot)
        assert len(api.messages_to(701)) == replies


async def outbox_drained(bot: Running, timeout: float = 10.0) -> dict[str, int]:
    """Wait until the sender has nothing pending; returns the outbox counts."""
    for _ in range(int(timeout / 0.02)):
        counts = await bot.app.store.outbox.counts()
        if counts.get("pending", 0) == 0:
            return counts
        await asyncio.sleep(0.02)
    raise AssertionError(f"outbox still has pending rows: {counts}")


# ---- at-least-once intake ----------------------------------------------------------


async def test_offset_advances_only_after_the_turn_returned_and_typing_shows_meanwhile(
    tmp_path: Path, api: TelegramApiStandIn, slow_action: SlowAction
) -> None:
    async with running(make_settings(tmp_path, api), api):
        ann = PrivateChat(api, 801, "Ann")
        await ann.say("/start order_WS-10001")  # deep link: the lookup after one question
        await ann.tap("Quick answers")
        update_id = api.updates[-1]["update_id"]
        await asyncio.wait_for(slow_action.started.wait(), 10)
        await wait_until(lambda: api.calls_of("sendChatAction"))
        action = api.calls_of("sendChatAction")[0].params
        assert action == {"chat_id": "801", "action": "typing"}
        assert all(offset <= update_id for _, offset in api.offsets())

        slow_action.release.set()
        await ann.expect("WS-10001", "shipped")
        await wait_until(lambda: any(o == update_id + 1 for _, o in api.offsets()))


async def test_a_failed_turn_is_fetched_again_and_answered_once(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    failures = [1]

    def flaky(handler: Handler) -> Handler:
        async def handle(inbound: Inbound) -> Sequence[Outbound]:
            if failures:
                failures.pop()
                raise RuntimeError("database went away")
            return await handler(inbound)

        return handle

    async with running(make_settings(tmp_path, api), api, wrap=flaky):
        ann = PrivateChat(api, 901, "Ann")
        await ann.say("/start")
        update_id = api.updates[-1]["update_id"]
        await ann.expect("Ann")
        await wait_until(lambda: any(o == update_id + 1 for _, o in api.offsets()))
        asked = [o for _, o in api.offsets()]
        assert asked.count(update_id) >= 1  # fetched again, not skipped
        assert len([m for m in ann.messages() if "Ann" in m["text"]]) == 1


async def test_shutdown_finishes_the_turn_in_flight_and_delivers_its_reply(
    tmp_path: Path, api: TelegramApiStandIn, slow_action: SlowAction
) -> None:
    async with running(make_settings(tmp_path, api), api) as bot:
        ann = PrivateChat(api, 1001, "Ann")
        await ann.say("/start order_WS-10001")
        await ann.tap("Quick answers")
        update_id = api.updates[-1]["update_id"]
        await asyncio.wait_for(slow_action.started.wait(), 10)
        bot.runner.stop.set()
        await wait_until(lambda: bot.runner.gate.closed)
        slow_action.release.set()
        await asyncio.wait_for(bot.task, 30)
        assert any("shipped" in m["text"] for m in ann.messages())
        assert api.offsets()[-1][1] == update_id + 1  # confirmed before exit


# ---- delivery ----------------------------------------------------------------------


async def test_flood_control_429_is_retried_after_retry_after(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    api.fail_next("sendMessage", 429, "Too Many Requests: retry after 1", retry_after=1)
    async with running(make_settings(tmp_path, api), api):
        ann = PrivateChat(api, 1101, "Ann")
        await ann.say("/start")
        await ann.expect("Ann")
        failed = api.calls_of("sendMessage", failed=True)
        assert len(failed) == 1 and failed[0].params["chat_id"] == "1101"


async def test_a_blocked_bot_marks_the_row_failed_and_the_customer_unreachable(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    api.fail_next("sendMessage", 403, "Forbidden: bot was blocked by the user")
    async with running(make_settings(tmp_path, api), api) as bot:
        ann = PrivateChat(api, 1201, "Ann")
        await ann.say("/start")
        store = bot.app.store
        await wait_until(lambda: api.calls_of("sendMessage", failed=True))
        counts = await outbox_drained(bot)
        assert counts.get("failed") == 1
        customer = await store.get_customer("telegram:1201")
        assert customer is not None and "unreachable_since" in customer.profile


async def test_a_long_reply_is_split_in_parts_with_the_buttons_on_the_last(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    paragraph = "Our returns policy in detail. " * 40  # ~1200 chars
    long_text = "\n\n".join([paragraph.strip()] * 4) + " The end."  # ~4900 chars
    (flows / "policy.yaml").write_text(
        "id: policy\ntitle: Returns policy\nvariants:\n  default:\n    start: tell\n"
        "    steps:\n      tell:\n        say: |-\n"
        + "".join(f"          {line}\n" if line else "\n" for line in long_text.split("\n"))
        + "        buttons:\n          - {label: Thanks, goto: done}\n"
        "      done:\n        resolve: Glad to help.\n",
        encoding="utf-8",
    )
    personas = tmp_path / "personas"
    shutil.copytree(PERSONAS, personas)
    settings = make_settings(tmp_path, api, flows_dir=flows, personas_dir=personas)
    async with running(settings, api):
        ann = PrivateChat(api, 1301, "Ann")
        await ann.say("/start policy")
        await ann.expect("The end.")
        parts = [m for m in ann.messages() if "returns policy in detail" in m["text"]]
        assert len(parts) == 2
        assert all(len(p["text"]) <= MAX_TEXT for p in parts)
        assert "reply_markup" not in parts[0]
        assert parts[1]["reply_markup"]["inline_keyboard"][0][0]["text"] == "Thanks"
        assert " ".join(p["text"] for p in parts).split() == long_text.split()


# ---- start-up errors ---------------------------------------------------------------


async def test_start_up_errors_are_one_line_and_never_show_the_token(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    gate = InboundGate(no_turns)
    with pytest.raises(ConfigError, match="malformed"):
        TelegramChannel(make_settings(tmp_path, api, TELEGRAM_BOT_TOKEN="not a token"), gate)
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        TelegramChannel(
            make_settings(tmp_path, api, TELEGRAM_WEBHOOK_URL="https://x.example/hook"), gate
        )

    wrong = "987654321:WRONG-token_abcdefghijklmnopqrstuvwxyz"
    channel = TelegramChannel(make_settings(tmp_path, api, TELEGRAM_BOT_TOKEN=wrong), gate)
    with pytest.raises(ConfigError, match="rejected TELEGRAM_BOT_TOKEN") as rejected:
        await channel.start()
    await channel.close()

    nowhere = f"http://127.0.0.1:{free_port()}"
    channel = TelegramChannel(make_settings(tmp_path, api, TELEGRAM_API_BASE_URL=nowhere), gate)
    with pytest.raises(ConfigError, match="Cannot reach") as unreachable:
        await channel.start()
    await channel.close()

    for error in (rejected.value, unreachable.value):
        message = str(error)
        assert "\n" not in message and TOKEN not in message and wrong not in message
        assert "TEST-token" not in message and "WRONG-token" not in message
    assert nowhere in str(unreachable.value)


# ---- translation -------------------------------------------------------------------


def test_split_text_prefers_paragraphs_then_sentences_then_words() -> None:
    para = "a" * 3000
    assert split_text(f"{para}\n\n{'b' * 3000}") == [para, "b" * 3000]
    sentence = "This is a sentence. " * 300  # 6000 chars, no paragraphs
    parts = split_text(sentence.strip())
    assert len(parts) == 2 and all(p.endswith(".") for p in parts)
    words = "word " * 1000
    parts = split_text(words.strip())
    assert all(p.split() == ["word"] * len(p.split()) for p in parts)
    emoji = "😀" * 3000  # 2 UTF-16 units each: Telegram counts 6000
    parts = split_text(emoji)
    assert "".join(parts) == emoji and all(utf16_len(p) <= MAX_TEXT for p in parts)
    assert split_text("short") == ["short"]


async def test_polling_survives_a_conflict_and_a_bad_gateway(
    tmp_path: Path, api: TelegramApiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    api.fail_next("getUpdates", 409, "Conflict: terminated by other getUpdates request")
    api.fail_next("getUpdates", 502, "Bad Gateway")
    async with running(make_settings(tmp_path, api), api, conflict_delay=0.05):
        ann = PrivateChat(api, 1401, "Ann")
        await ann.say("/start")
        await ann.expect("Ann")
        await ann.deliver(photo_update(ann.user))
        await ann.expect("only read text")
    assert "another process is polling this bot (409 Conflict)" in caplog.text
    assert TOKEN not in caplog.text


async def test_an_update_ptb_cannot_read_is_skipped_and_the_next_ones_are_served(
    tmp_path: Path, api: TelegramApiStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    async with running(make_settings(tmp_path, api), api):
        ann = PrivateChat(api, 1402, "Ann")
        # A message whose chat is not an object: ptb fails the whole getUpdates batch.
        poison = api.queue_update({"message": {"message_id": 1, "date": 0, "chat": "nope"}})
        last = (await ann.say("/start"))["update_id"]
        await ann.expect("Ann")
        await wait_until(lambda: any(o > last for _, o in api.offsets()))
        assert f"update {poison['update_id']} cannot be read" in caplog.text
        bob = PrivateChat(api, 1403, "Bob")
        poison = api.queue_update({"message": {"message_id": 2, "date": 0, "chat": []}})
        await bob.say("/start")  # the unreadable one came last in its batch, too
        await bob.expect("Bob")
        assert f"update {poison['update_id']} cannot be read" in caplog.text
        assert "nope" not in caplog.text and "Ann" not in caplog.text  # ids only, no bodies


async def test_a_chat_id_that_is_no_number_does_not_stop_polling(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    """ptb reads ``"chat": {"id": [1]}`` without complaint; the poller must not die on it
    (it once did: an unhashable chat id ended the polling task, silently)."""
    async with running(make_settings(tmp_path, api), api):
        odd = {"id": [1], "type": "private"}
        api.queue_update({"message": {"message_id": 1, "date": 0, "chat": odd, "text": "hi"}})
        ann = PrivateChat(api, 1404, "Ann")
        await ann.say("/start")
        await ann.expect("Ann")
        carl = PrivateChat(api, 1405, "Carl")
        await carl.say("/start")  # a later batch is still fetched and answered
        await carl.expect("Carl")


async def test_a_bug_in_a_batch_is_logged_and_the_batch_fetched_again(
    tmp_path: Path,
    api: TelegramApiStandIn,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from bot.channels import telegram_polling

    real = telegram_polling._chain_key
    calls = iter(range(1_000_000))

    def buggy_once(update: Update) -> object:
        if next(calls) == 0:
            raise RuntimeError("a bug in the batch bookkeeping")
        return real(update)

    monkeypatch.setattr(telegram_polling, "_chain_key", buggy_once)
    async with running(make_settings(tmp_path, api), api):
        ann = PrivateChat(api, 1406, "Ann")
        await ann.say("/start")
        await ann.expect("Ann", timeout=15)
    assert "telegram: a batch failed; fetching it again" in caplog.text


def inbound_of(update: dict[str, Any]) -> Inbound | None:
    parsed = Update.de_json({"update_id": 7, **update}, None)
    assert parsed.message is not None
    sender = sender_of(parsed)
    assert sender is not None
    return message_inbound(parsed.message, sender, parsed.update_id)


def test_updates_become_channel_neutral_inbounds() -> None:
    ann = user_json(42, "Ann", "de")
    start = inbound_of(text_update(ann, "/start@shop_bot order_WS-10001"))
    assert start is not None and start.key == ConversationKey("telegram", "42")
    assert (start.kind, start.payload, start.update_id) == (
        InboundKind.START,
        "order_WS-10001",
        "7",
    )
    assert start is not None and start.sender.first_name == "Ann"
    assert start.sender.language == "de" and start.sender.user_id == "42"
    bare = inbound_of(text_update(ann, "/start"))
    assert bare is not None and bare.kind is InboundKind.START and bare.payload is None
    for command, word in (("/menu", "menu"), ("/HUMAN@shop_bot", "human"), ("/help", "help")):
        inbound = inbound_of(text_update(ann, command))
        assert inbound is not None and (inbound.kind, inbound.text) == (InboundKind.TEXT, word)
    broken = inbound_of(text_update(ann, "/start \udfff"))  # a lone surrogate, an entity
    assert broken is not None and broken.kind is InboundKind.TEXT  # read as text, not lost
    other = inbound_of(text_update(ann, "/restart"))
    assert other is not None and other.text == "/restart"  # the engine knows the word
    text = inbound_of(text_update(ann, "where is my order"))
    assert text is not None and (text.kind, text.text) == (InboundKind.TEXT, "where is my order")
    photo = inbound_of(photo_update(ann))
    assert photo is not None and (photo.kind, photo.non_text_kind) == (
        InboundKind.NON_TEXT,
        "photo",
    )
    service = {"message": {**text_update(ann, "x")["message"], "new_chat_title": "t"}}
    del service["message"]["text"]
    assert inbound_of(service) is None
    tap = Update.de_json(
        {"update_id": 8, **callback_update(ann, text_update(ann, "menu")["message"], "m:x")}, None
    )
    assert tap.callback_query is not None and tap.callback_query.data == "m:x"


def test_platform_errors_map_to_delivery_outcomes() -> None:
    flood = delivery_error(RetryAfter(3))
    assert flood.retry_after == 3 and not flood.permanent
    blocked = delivery_error(Forbidden("Forbidden: bot was blocked by the user"))
    assert blocked.unreachable and blocked.permanent
    rejected = delivery_error(BadRequest("Bad Request: message text is empty"))
    assert rejected.permanent and not rejected.unreachable
    for transient in (TimedOut(), NetworkError("Internal Server Error (500)")):
        error = delivery_error(transient)
        assert not error.permanent and error.retry_after is None


def test_callback_data_is_cut_to_64_bytes_at_a_character_boundary() -> None:
    assert callback_data("b:12:3") == "b:12:3"
    cut = callback_data("ü" * 40)  # 80 bytes
    assert len(cut.encode()) <= 64 and cut == "ü" * 32


async def test_a_split_message_resumes_at_the_part_that_failed(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    channel = TelegramChannel(make_settings(tmp_path, api), InboundGate(no_turns))
    transport = channel.transport
    assert isinstance(transport, TelegramTransport)
    message = Outbound(ConversationKey("telegram", "1501"), "first part. " * 400 + "last part.")
    api.fail_next("sendMessage", 500, "Internal Server Error", after=1)
    with pytest.raises(DeliveryError) as failed:
        await transport.send(message)
    assert not failed.value.permanent
    message_id = await transport.send(message)
    texts = [m["text"] for m in api.messages_to(1501)]
    assert len(texts) == 2 and texts[1].endswith("last part.")  # part one went out once
    assert message_id == str(api.messages_to(1501)[-1]["message_id"])
    await channel.close()


async def no_turns(inbound: Inbound) -> Sequence[Outbound]:
    raise AssertionError("no turn expected")
