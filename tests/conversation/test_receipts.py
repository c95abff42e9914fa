"""Early acknowledgement (``bot/conversation/receipts.py``) against a real SQLite store:
a quick turn is waited for and leaves no trace; a slow one is acknowledged once its update
is in the inbox, which forgets it when the turn is done; a turn that fails after that is
run again by the recovery, as is everything an earlier process left behind."""

from __future__ import annotations

import asyncio

import pytest

from bot.conversation.receipts import Receipts
from bot.messages import ConversationKey, CustomerInfo, Inbound
from storage.sql import SqlStore

ANN = CustomerInfo("5", "Ann")


def message(update_id: str, text: str, chat: str = "5") -> Inbound:
    return Inbound(ConversationKey("telegram", chat), ANN, text=text, update_id=update_id)


class Turns:
    """Turns that finish when the test says so (a slow custom action, say)."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.ran: list[str] = []
        self.fail = False

    async def run(self, inbound: Inbound) -> None:
        self.ran.append(inbound.text)
        await self.release.wait()
        if self.fail:
            raise RuntimeError("the action server fell over")


async def settled_within(receipts: Receipts, inbound: Inbound, turns: Turns) -> bool:
    """Whether ``settle`` returned while the turn was still held."""
    settling = asyncio.ensure_future(receipts.settle(inbound, turns.run(inbound)))
    done, _ = await asyncio.wait({settling}, timeout=2.0)
    turns.release.set()
    await settling
    return bool(done)


async def until_empty(store: SqlStore) -> None:
    async with asyncio.timeout(5):
        while await store.inbox.count():
            await asyncio.sleep(0.01)


async def test_a_quick_turn_is_waited_for_and_never_kept(store: SqlStore) -> None:
    receipts = Receipts(store.inbox, lambda _: False, after=5.0)
    turns = Turns()
    turns.release.set()
    await receipts.settle(message("1", "hi"), turns.run(message("1", "hi")))
    assert turns.ran == ["hi"]
    assert await store.inbox.count() == 0


async def test_a_slow_turn_is_acknowledged_once_kept_and_forgotten_when_done(
    store: SqlStore,
) -> None:
    receipts = Receipts(store.inbox, lambda _: False, after=0.05)
    turns = Turns()
    inbound = message("2", "its ws10001")
    settling = asyncio.ensure_future(receipts.settle(inbound, turns.run(inbound)))
    await asyncio.wait_for(settling, 2.0)  # returned although the turn is still held
    assert [e.payload["text"] for e in await store.inbox.adopt()] == ["its ws10001"]
    assert receipts.running == 1
    turns.release.set()
    await until_empty(store)
    assert receipts.running == 0


async def test_a_message_to_a_busy_chat_is_acknowledged_at_once(store: SqlStore) -> None:
    receipts = Receipts(store.inbox, lambda key: key == "telegram:5", after=60.0)
    assert await settled_within(receipts, message("3", "hello??"), Turns())
    assert not await settled_within(receipts, message("4", "hi", chat="6"), Turns())


async def test_a_turn_failing_before_it_is_kept_fails_the_update(store: SqlStore) -> None:
    receipts = Receipts(store.inbox, lambda _: False, after=5.0)
    turns = Turns()
    turns.fail = True
    turns.release.set()
    with pytest.raises(RuntimeError):  # the webhook answers 500: Telegram sends it again
        await receipts.settle(message("5", "hi"), turns.run(message("5", "hi")))
    assert await store.inbox.count() == 0


async def test_a_kept_update_whose_turn_failed_is_run_again(store: SqlStore) -> None:
    receipts = Receipts(store.inbox, lambda _: False, after=0.05)
    turns = Turns()
    turns.fail = True
    inbound = message("6", "its ws10001")
    await receipts.settle(inbound, turns.run(inbound))
    turns.release.set()
    async with asyncio.timeout(2):
        while receipts.running:
            await asyncio.sleep(0.01)
    assert await store.inbox.count() == 1  # failed: kept

    turns.fail = False
    assert await receipts.recover(turns.run) == 1
    await until_empty(store)
    assert turns.ran == ["its ws10001", "its ws10001"]


async def test_recovery_runs_what_an_earlier_process_left_in_order(store: SqlStore) -> None:
    earlier = Receipts(store.inbox, lambda _: True, after=0.0)
    held = Turns()
    for number, text in enumerate(["my order hasn't arrived", "its ws10001"], start=7):
        inbound = message(str(number), text)
        await earlier.settle(inbound, held.run(inbound))
    # ... and the process died. The next one (its own worker id) runs them, oldest first:
    store._liveness = type(store._liveness)()  # type: ignore[call-arg]
    later = Receipts(store.inbox, lambda _: False, after=0.2)
    turns = Turns()
    turns.release.set()
    assert await later.recover(turns.run) == 2
    await until_empty(store)
    assert turns.ran == ["my order hasn't arrived", "its ws10001"]
    assert await later.recover(turns.run) == 0
    held.release.set()
