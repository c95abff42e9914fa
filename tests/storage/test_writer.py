"""The SQLite writer's lock: first come, first served, urgent writes first, and a
cancelled waiter never leaves it held (else every later write would hang)."""

from __future__ import annotations

import asyncio

from storage.writer import _PriorityLock


async def test_urgent_waiters_go_first_then_arrival_order() -> None:
    lock = _PriorityLock()
    order: list[str] = []

    async def use(name: str, urgent: bool) -> None:
        async with lock.hold(urgent=urgent):
            order.append(name)
            await asyncio.sleep(0)

    async with lock.hold(urgent=False):
        tasks = [
            asyncio.create_task(use(name, urgent))
            for name, urgent in (("turn-1", False), ("sent-1", True), ("turn-2", False),
                                 ("sent-2", True))
        ]  # fmt: skip
        await asyncio.sleep(0.01)
        assert order == []  # all wait while it is held
    await asyncio.gather(*tasks)
    assert order == ["sent-1", "sent-2", "turn-1", "turn-2"]


async def test_a_cancelled_waiter_does_not_keep_the_lock() -> None:
    lock = _PriorityLock()
    entered: list[str] = []

    async def wait_for_it(name: str) -> None:
        async with lock.hold(urgent=False):
            entered.append(name)

    async with lock.hold(urgent=False):
        queued = asyncio.create_task(wait_for_it("queued"))
        await asyncio.sleep(0.01)
        queued.cancel()  # cancelled while waiting in the queue
    await asyncio.gather(queued, return_exceptions=True)
    async with asyncio.timeout(1), lock.hold(urgent=False):
        pass

    async with lock.hold(urgent=False):
        handed = asyncio.create_task(wait_for_it("handed"))
        await asyncio.sleep(0.01)
    handed.cancel()  # the release handed it the lock; cancelled before it could run
    await asyncio.gather(handed, return_exceptions=True)
    async with asyncio.timeout(1), lock.hold(urgent=True):
        pass
    assert entered == []
