"""Files both ways between customers and agents' desks, across platforms.

Both real libraries run in one `supportbot run`-like process (shared file registry, desk
feeds as the runner starts them) against both stand-ins; what "Telegram" and "Slack"
received is asserted from the stand-ins' own records:

* a Telegram customer's photo (sent at the flow's photo step, before the ticket) and a
  later document reach the Slack desk thread through getUploadURLExternal → upload →
  completeUploadExternal, with the caption as the comment; never ``files.upload``;
* the Slack agent's file in the thread reaches the Telegram customer (sendDocument /
  sendPhoto, uploaded), once, even when the first sendDocument fails;
* too large: the agent is told (ephemeral), the customer is told, the desk shows a note;
* a Telegram desk (forum topic): a Telegram customer's file goes by file_id both ways, a Slack
  customer's is fetched with the bot token and uploaded; a Telegram agent's photo reaches
  a Slack customer's DM through the upload API, once, even when completion fails first;
* a Slack customer's shared image answers the flow's photo step (a reference is stored).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.app import App, build_app
from bot.channel_setup import build_channels, build_desks
from bot.channels.base import InboundGate
from bot.handoff import desk_feed
from bot.runner import Runner
from tests.channels import test_slack
from tests.channels.test_slack import SECRET, Slack, _wait_healthy, slack_settings
from tests.standins import free_port
from tests.standins.slack_api import Failure, SlackApiStandIn, SlackSender
from tests.standins.telegram_api import (
    AgentGroup,
    PrivateChat,
    TelegramApiStandIn,
    document_json,
    file_message,
    photo_update,
    said,
    wait_until,
)

pytestmark = pytest.mark.filterwarnings("ignore:Deprecated since version v22.2:DeprecationWarning")
slack = test_slack.slack  # the Slack bot alone (a fixture)
DESK = "CDESK"
AGENTS = -1001500
JPEG = b"\xff\xd8\xff\xe0 a photo of a crushed box"
PDF = b"%PDF-1.4 the invoice"


@dataclass
class Both:
    telegram: TelegramApiStandIn
    slack: SlackApiStandIn
    sender: SlackSender
    app: App

    def thread(self, ts: str) -> list[dict[str, Any]]:
        """Completed uploads into the desk thread ``ts``."""
        return [u for u in self.slack.shared if u["channel"] == DESK and u["thread_ts"] == ts]

    def card(self) -> dict[str, Any] | None:
        posts = [m for m in self.slack.posted if m["channel"] == DESK and "thread_ts" not in m]
        return posts[0] if posts else None


@contextlib.asynccontextmanager
async def both_running(tmp_path: Path, **desks: str) -> AsyncIterator[Both]:
    slack_api = SlackApiStandIn()
    slack_api.add_user("U1", first_name="Sam")
    slack_api.add_user("UALICE", display_name="alice")
    await slack_api.start()
    async with TelegramApiStandIn() as telegram_api:
        port = free_port()
        settings = slack_settings(tmp_path, slack_api, port, TELEGRAM_BOT_TOKEN=telegram_api.token,
                                  TELEGRAM_API_BASE_URL=telegram_api.url, **desks)  # fmt: skip
        app = await build_app(settings)
        gate = InboundGate(app.manager.handle)
        channels = build_channels(settings, gate, app)
        runner = Runner(app, gate, channels)
        for sender in runner.senders.values():
            sender.backoff = lambda attempts: 0.2  # type: ignore[method-assign]
        runner.desks.extend(build_desks(settings, app, runner.handoff, channels))
        task = asyncio.create_task(runner.serve("127.0.0.1", port))
        try:
            await _wait_healthy(port, task)
            sender = SlackSender(f"http://127.0.0.1:{port}/slack/events", SECRET)
            yield Both(telegram_api, slack_api, sender, app)
        finally:
            runner.stop.set()
            await asyncio.wait_for(task, 30)
            await slack_api.stop()


@pytest.fixture(autouse=True)
def quick_feed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(desk_feed, "FEED_SECONDS", 0.05)


async def photo_to_a_person(ann: PrivateChat, api: TelegramApiStandIn) -> str:
    """Ann's damaged parcel: the flow's photo step, then the handoff; the photo's id."""
    await ann.say("/start")
    await ann.expect("Ann")
    await ann.say("my parcel arrived damaged")
    await ann.tap("Quick answers")
    await ann.tap("Arrived damaged")
    await ann.expect("photo of the damage")
    photo = api.add_file(JPEG, mime="image/jpeg")
    await ann.deliver(photo_update(ann.user, photo, caption="the box", size=len(JPEG)))
    await ann.expect("in line")
    return photo


def agent_file_event(
    both: Both, text: str, file: dict[str, Any], thread: str, channel: str = DESK
) -> dict[str, Any]:
    event = both.sender.channel_message("UALICE", text, channel, thread_ts=thread)
    return {**event, "subtype": "file_share", "files": [file]}


async def test_a_telegram_customer_and_a_slack_agent_exchange_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with both_running(tmp_path, SLACK_AGENT_CHANNEL=DESK) as both:
        api, slack = both.telegram, both.slack
        api.fail_next("getFile", 502, "Bad Gateway")  # the desk's first fetch fails
        ann = PrivateChat(api, 3101, "Ann")
        await photo_to_a_person(ann, api)

        # The photo sent at the flow step, before the ticket, follows the card.
        await wait_until(lambda: both.card() is not None)
        card = both.card()
        assert card is not None and "damage_photo" in str(card["blocks"])
        assert "[photo, 1 KB]" in str(card["blocks"])  # the slot as agents read it
        ts = str(card["ts"])
        await wait_until(lambda: len(both.thread(ts)) == 1)
        [photo] = both.thread(ts)
        assert photo["files"][0]["data"] == JPEG and "Customer: the box" in photo["initial_comment"]
        methods = [c.method for c in slack.calls]
        assert methods.index("files.getUploadURLExternal") < methods.index("upload")
        assert methods.index("upload") < methods.index("files.completeUploadExternal")
        assert "files.upload" not in methods  # the retired API
        assert api.calls_of("getFile", failed=True) and len(api.calls_of("getFile")) == 1

        assert (await both.sender.press("UALICE", DESK, card, "Take")).status == 200
        await ann.expect("alice from our team has joined")

        # A document while the agent has the ticket; the first completion fails.
        slack.fail_next("files.completeUploadExternal", Failure(500, "internal_error", None))
        pdf = document_json(api, PDF, "invoice.pdf", "application/pdf")
        await ann.deliver({"message": file_message(ann.user, "document", pdf, "the invoice")})
        await wait_until(lambda: len(both.thread(ts)) == 2)
        invoice = both.thread(ts)[1]
        assert invoice["files"][0]["data"] == PDF and invoice["files"][0]["name"] == "invoice.pdf"
        assert invoice["initial_comment"] == "Customer: the invoice"
        await asyncio.sleep(0.3)  # a few more feed passes: nothing is shared twice
        assert len(both.thread(ts)) == 2

        # The agent's file reaches Ann once, though Telegram fails the first send.
        api.fail_next("sendDocument", 500, "Internal Server Error")
        label = slack.add_file(b"%PDF return label", "label.pdf", "application/pdf")
        event = agent_file_event(both, "Here is your return label", label, ts)
        assert (await both.sender.event(event)).status == 200
        sent = await ann.expect("Here is your return label")
        assert api.files[sent["document"]["file_id"]].data == b"%PDF return label"
        assert sent["document"]["file_name"] == "label.pdf"
        assert len(api.calls_of("sendDocument")) == 1 and api.calls_of("sendDocument", failed=True)

        picture = slack.add_file(JPEG, "new-box.jpg", "image/jpeg")
        assert (await both.sender.event(agent_file_event(both, "", picture, ts))).status == 200
        await wait_until(lambda: any("photo" in m for m in ann.messages()))

        # Too large, both ways: the agent is told, the customer is told, the desk notes it.
        huge = slack.add_file(b"x", "video.mp4", "video/mp4", size=30 * 1024 * 1024)
        assert (await both.sender.event(agent_file_event(both, "", huge, ts))).status == 200
        await wait_until(lambda: any("too large" in e["text"] for e in slack.ephemeral))
        told = next(e for e in slack.ephemeral if "too large" in e["text"])
        assert told["user"] == "UALICE" and "30 MB" in told["text"] and "20 MB" in told["text"]
        big = document_json(api, b"x", "scan.tiff", "image/tiff", size=45 * 1024 * 1024)
        await ann.deliver({"message": file_message(ann.user, "document", big)})
        await ann.expect("too large", "45 MB")
        await wait_until(lambda: any("not passed on" in str(m.get("text")) for m in slack.posted))
        assert not any(c.method == "getFile" and "scan" in str(c.params) for c in api.calls)
        assert len([m for m in ann.messages() if "document" in m or "photo" in m]) == 2
    assert api.token not in caplog.text and slack.token not in caplog.text


async def test_a_telegram_topic_desk_passes_files_both_ways(tmp_path: Path) -> None:
    async with both_running(tmp_path, TELEGRAM_AGENT_CHAT_ID=str(AGENTS)) as both:
        api, slack = both.telegram, both.slack
        group = AgentGroup(api, AGENTS)
        alice = group.agent(7001, "Alice", "alice")

        # A Telegram customer's photo goes into the topic by its file_id: no download.
        ann = PrivateChat(api, 3201, "Ann")
        photo = await photo_to_a_person(ann, api)
        await wait_until(lambda: len(api.topics) == 1)
        [topic] = api.topics
        await wait_until(lambda: any("photo" in m for m in group.messages(topic)))
        relayed = next(m for m in group.messages(topic) if "photo" in m)
        assert relayed["photo"][0]["file_id"] == photo and "Customer:" in relayed["caption"]
        assert not api.calls_of("getFile")

        # The agent's document reaches Ann by its file_id too, caption and all.
        card = next(m for m in group.messages(topic) if m.get("reply_markup"))
        group.tap(alice, card, "Take")
        await ann.expect("alice from our team has joined")
        manual = document_json(api, PDF, "manual.pdf", "application/pdf")
        group.send_file(alice, "document", manual, "the manual", topic=topic)
        sent = await ann.expect("the manual")
        assert sent["document"]["file_id"] == manual["file_id"]
        [call] = api.calls_of("sendDocument", failed=None)
        assert call.params["document"] == manual["file_id"]  # no upload: the same file

        # Too large is too large even where it could go by file_id: the desk gets a note.
        big = document_json(api, b"x", "scan.tiff", "image/tiff", size=45 * 1024 * 1024)
        await ann.deliver({"message": file_message(ann.user, "document", big)})
        await ann.expect("too large", "45 MB")
        await wait_until(lambda: any("not passed on" in said(m) for m in group.messages(topic)))
        assert not [c for c in api.calls if c.params.get("document") == big["file_id"]]

        # A Slack customer's file is fetched with the bot token and uploaded to its topic.
        await both.sender.event(both.sender.dm_event("U1", "talk to a person", "D1"))
        await wait_until(lambda: len(api.topics) == 2)
        sam_topic = max(api.topics)
        receipt = slack.add_file(PDF, "receipt.pdf", "application/pdf")
        event = both.sender.dm_event("U1", "my receipt", "D1", subtype="file_share",
                                     files=[receipt])  # fmt: skip
        assert (await both.sender.event(event)).status == 200
        await wait_until(lambda: any("document" in m for m in group.messages(sam_topic)))
        uploaded = next(m for m in group.messages(sam_topic) if "document" in m)
        assert api.files[uploaded["document"]["file_id"]].data == PDF
        assert "my receipt" in said(uploaded)
        assert [c.token for c in slack.calls if c.method == "download"] == ["ok"]

        # The Telegram agent's photo reaches the Slack customer's DM through the upload
        # API, once, though the first completion fails.
        cards = [m for m in group.messages(sam_topic) if m.get("reply_markup")]
        group.tap(alice, cards[0], "Take")
        await wait_until(lambda: any("has joined" in m["text"] for m in slack.posted))
        slack.fail_next("files.completeUploadExternal", Failure(500, "internal_error", None))
        label = api.add_file(JPEG, mime="image/jpeg")
        sizes = [{"file_id": label, "file_unique_id": "u", "width": 9, "height": 9}]
        group.send_file(alice, "photo", sizes, "new box", topic=sam_topic)
        await wait_until(lambda: any(u["channel"] == "D1" for u in slack.shared))
        await asyncio.sleep(0.5)
        [dm] = [u for u in slack.shared if u["channel"] == "D1"]
        assert dm["files"][0]["data"] == JPEG and dm["initial_comment"] == "new box"
        assert len(slack.of("files.getUploadURLExternal")) >= 2  # the retry uploaded again


async def test_a_slack_customers_photo_answers_the_photo_step(slack: Slack) -> None:
    await slack.dm("my parcel arrived damaged")
    await slack.press("Quick answers")
    assert "photo of the damage" in await slack.press("Arrived damaged")
    photo = slack.api.add_file(JPEG, "IMG_0042.jpg", "image/jpeg")
    event = slack.send.dm_event("U1", "", "D1", subtype="file_share", files=[photo])
    assert (await slack.send.event(event)).status == 200
    await slack.settle()
    assert "got the photo" in slack.text(slack.posted_to("D1")[-2:])
    [conversation] = await slack.app.store.conversations_of("slack:U1")
    stored = conversation.state["slots"]["damage_photo"]
    assert (stored["channel"], stored["file_id"], stored["name"]) == (
        "slack", photo["id"], "IMG_0042.jpg")  # fmt: skip
    assert stored["url"] == photo["url_private_download"] and stored["kind"] == "photo"
    assert not [c for c in slack.api.calls if c.method == "download"]  # nothing fetched yet
