"""Files from Telegram customers: a photo answers the delivery-problem flow's `expect: photo`
step, a file elsewhere gets the polite text-only answer, a file over the relay limit is
refused with its size. Real python-telegram-bot and Runner against the Bot API stand-in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.engine.state import ConversationState, Status
from tests.channels.test_telegram import make_settings, running
from tests.standins.telegram_api import (
    PrivateChat,
    TelegramApiStandIn,
    document_json,
    file_message,
    photo_update,
)

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2:DeprecationWarning")


@pytest.fixture
async def api() -> AsyncIterator[TelegramApiStandIn]:
    async with TelegramApiStandIn() as api:
        yield api


async def open_damaged_parcel(ann: PrivateChat) -> None:
    await ann.say("/start")
    await ann.expect("Ann")
    await ann.say("my parcel arrived damaged")
    await ann.tap("Quick answers")
    await ann.expect("What happened")


async def test_a_photo_answers_the_photo_step_and_the_flow_goes_on(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    async with running(make_settings(tmp_path, api), api) as bot:
        ann = PrivateChat(api, 2101, "Ann")
        await open_damaged_parcel(ann)

        await ann.deliver(photo_update(ann.user, "AgAD-early"))  # a text-only step
        await ann.expect("only read text")
        await ann.expect("What happened")  # ...and the question again

        await ann.tap("Arrived damaged")
        await ann.expect("photo of the damage")
        await ann.say("the box is crushed")  # words where a photo is expected
        await ann.expect("Please send a photo")
        pdf = document_json(api, b"%PDF-1.4", "invoice.pdf", "application/pdf")
        await ann.deliver({"message": file_message(ann.user, "document", pdf, "my invoice")})
        await ann.expect("Please send a photo")  # a document is no photo

        photo_id = api.add_file(b"\xff\xd8jpeg", mime="image/jpeg")
        await ann.deliver(photo_update(ann.user, photo_id, caption="the box", size=48_000))
        await ann.expect("got the photo")
        await ann.expect("in line")

        store = bot.app.store
        [conversation] = await store.conversations_of("telegram:2101")
        state = ConversationState.from_json(conversation.state)
        assert state.status is Status.HANDOFF
        reference = {
            "kind": "photo",
            "channel": "telegram",
            "file_id": photo_id,
            "mime": "image/jpeg",
            "size": 48_000,
        }
        assert state.slots["damage_photo"] == reference
        [ticket] = await store.tickets.open_tickets()
        assert ticket.reason == "damaged parcel, photo attached"
        said = [e for e in await store.transcript(conversation.id) if e.direction == "in"]
        assert said[-1].text == "the box" and said[-1].data["attachments"] == [reference]
        assert not api.calls_of("getFile")  # a reference is stored, the bytes stay put


async def test_a_file_too_large_to_pass_on_is_refused_with_its_size(
    tmp_path: Path, api: TelegramApiStandIn
) -> None:
    async with running(make_settings(tmp_path, api), api) as bot:
        ann = PrivateChat(api, 2102, "Ann")
        await open_damaged_parcel(ann)
        await ann.tap("Arrived damaged")
        await ann.expect("photo of the damage")
        big = api.add_file(b"x", mime="image/jpeg", size=25 * 1024 * 1024)
        await ann.deliver(photo_update(ann.user, big, size=25 * 1024 * 1024))
        await ann.expect("too large", "25 MB", "20 MB at most")
        await ann.expect("photo of the damage")  # asked again
        [conversation] = await bot.app.store.conversations_of("telegram:2102")
        assert "damage_photo" not in ConversationState.from_json(conversation.state).slots
