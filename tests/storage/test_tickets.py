"""Tickets on SQLite and PostgreSQL: the state machine's legal moves, atomic take, queue place."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from storage.records import utcnow
from storage.sql import SqlStore
from storage.tables import TicketRow
from storage.tickets import ASSIGNED, CLOSED, LEGAL_MOVES, QUEUED, Move, TicketConflict


async def open_ticket(store: SqlStore, chat: str, queue: str = "general") -> int:
    async with store.turn(f"test:{chat}", "test", chat) as turn:
        ticket, _ = await turn.open_ticket(queue, "customer asked", "flow", "step")
    return ticket.id


async def test_asking_again_never_opens_a_second_ticket(store: SqlStore) -> None:
    first = await open_ticket(store, "a")
    async with store.turn("test:a", "test", "a") as turn:
        assert turn.ticket is not None and turn.ticket.id == first
        again, place = await turn.open_ticket("general", "again", None, None)
    assert again.id == first and place.position == 1
    assert [t.id for t in await store.tickets.open_tickets()] == [first]


async def test_queue_position_and_estimate_from_recent_waits(store: SqlStore) -> None:
    ids = [await open_ticket(store, name) for name in ("a", "b", "c")]
    async with store.turn("test:c", "test", "c") as turn:
        _, place = await turn.open_ticket("general", "", None, None)
    assert (place.position, place.estimate_minutes) == (3, None)  # no history: no guess

    # Two earlier tickets waited 4 and 6 minutes before an agent took them.
    for ticket_id, waited in zip(ids[:2], (4, 6), strict=True):
        await store.tickets.move(ticket_id, Move.TAKE, agent_id="slack:U1")
        async with store.engines[1].begin() as conn:
            await conn.execute(
                update(TicketRow)
                .where(TicketRow.id == ticket_id)  # type: ignore[arg-type]
                .values(created_at=utcnow() - timedelta(minutes=waited))
            )
    async with store.turn("test:c", "test", "c") as turn:
        _, place = await turn.open_ticket("general", "", None, None)
    assert (place.position, place.estimate_minutes) == (1, 5)  # median 5 min × 1st in line


async def test_only_one_of_two_agents_can_take_a_ticket(store: SqlStore) -> None:
    ticket_id = await open_ticket(store, "a")
    results = await asyncio.gather(
        store.tickets.move(ticket_id, Move.TAKE, agent_id="slack:U1", agent_name="@alice"),
        store.tickets.move(ticket_id, Move.TAKE, agent_id="telegram:7", agent_name="@bob"),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, TicketConflict)]
    assert len(winners) == 1 and len(losers) == 1
    assert winners[0].status == ASSIGNED and winners[0].taken_at is not None
    assert f"already taken by {winners[0].owner_name}" in str(losers[0])


@pytest.mark.parametrize("move", list(Move))
async def test_every_move_is_legal_exactly_from_its_states(store: SqlStore, move: Move) -> None:
    sources, target = LEGAL_MOVES[move]
    for start in (QUEUED, ASSIGNED, CLOSED):
        ticket_id = await open_ticket(store, f"{move}-{start}")
        if start == ASSIGNED:
            await store.tickets.move(ticket_id, Move.TAKE, agent_id="console:a")
        elif start == CLOSED:
            await store.tickets.move(ticket_id, Move.CLOSE)
        before = await store.tickets.get(ticket_id)
        assert before is not None and before.status == start
        if start in sources:
            after = await store.tickets.move(
                ticket_id, move, agent_id="console:b", queue="billing", resolution="refund"
            )
            assert after.status == target and after.version == before.version + 1
        else:
            with pytest.raises(TicketConflict):
                await store.tickets.move(ticket_id, move, agent_id="console:b", queue="billing")
            unchanged = await store.tickets.get(ticket_id)
            assert unchanged == before


async def test_closed_ticket_lets_the_customer_ask_again(store: SqlStore) -> None:
    first = await open_ticket(store, "a")
    closed = await store.tickets.move(first, Move.CLOSE, resolution="solved")
    assert closed.resolution == "solved" and closed.closed_at is not None
    assert await open_ticket(store, "a") != first


async def test_customer_cancel_closes_the_ticket(store: SqlStore) -> None:
    ticket_id = await open_ticket(store, "a")
    async with store.turn("test:a", "test", "a") as turn:
        cancelled = await turn.cancel_ticket()
    assert cancelled is not None and cancelled.id == ticket_id
    ticket = await store.tickets.get(ticket_id)
    assert ticket is not None and (ticket.status, ticket.resolution) == (CLOSED, "cancelled")
