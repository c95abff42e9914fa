"""Property-based tests: whatever a customer sends, nothing crashes and there is always a way on.

Random sequences of text (any unicode), taps on offered buttons, made-up payloads,
non-text messages and deep links are played against the pure engine with the shipped
flows, and through the full manager on a real SQLite file.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.actions import ActionCall
from bot.conversation.manager import ConversationManager, FixedCatalog
from bot.engine.catalog import Catalog
from bot.engine.dialogue import Context, step
from bot.engine.effects import (
    ButtonEvent,
    Effect,
    Event,
    NonTextEvent,
    PersonaChosen,
    Reply,
    RunAction,
    StartEvent,
    TextEvent,
)
from bot.engine.state import Awaiting, ConversationState, Status
from bot.messages import ConversationKey, CustomerInfo, Inbound, InboundKind
from storage.sql import open_store
from tests.conftest import example_actions

WORDS = [
    "hi", "menu", "help", "human", "yes", "no", "stuck", "WS-10001", "ws10002", "WS-99999",
    "where is my order", "refund", "I was charged twice", "step by step please",
    "just give me the link", "1", "2", "49.90", "restart", "cancel", "", "   ", "👍",
]  # fmt: skip

actions = st.one_of(
    st.tuples(st.just("text"), st.text(max_size=300)),
    st.tuples(st.just("text"), st.sampled_from(WORDS)),
    st.tuples(st.just("tap"), st.integers(min_value=0, max_value=12)),
    st.tuples(st.just("payload"), st.text(max_size=70)),
    st.tuples(st.just("payload"), st.sampled_from(["g:menu", "g:person", "g:retry", "b:1:0"])),
    st.tuples(st.just("non_text"), st.sampled_from(["photo", "sticker", "voice"])),
    st.tuples(st.just("start"), st.sampled_from(["", "order_WS-10001", "reset_password", "x"])),
)


def _event(action: tuple[str, Any], offered: list[str]) -> Event:
    kind, value = action
    if kind == "text":
        return TextEvent(value)
    if kind == "tap":
        return ButtonEvent(offered[value % len(offered)]) if offered else TextEvent("hi")
    if kind == "payload":
        return ButtonEvent(value)
    if kind == "non_text":
        return NonTextEvent(value)
    return StartEvent(value or None)


def _run_actions(
    ctx: Context, state: ConversationState, effects: list[Effect]
) -> tuple[ConversationState, list[Effect]]:
    """Play the demo actions synchronously, as the manager would between transactions."""
    all_effects = list(effects)
    while (pending := [e for e in effects if isinstance(e, RunAction)]) != []:
        call = ActionCall(pending[0].name, "c", 1, pending[0].flow_id, pending[0].step_id,
                          pending[0].slots, {})  # fmt: skip
        result = asyncio.run(example_actions().run(call))
        state, effects = step(ctx, state, result)
        all_effects.extend(effects)
    return state, all_effects


def _assert_way_forward(state: ConversationState, replies: list[Reply], catalog: Catalog) -> None:
    if state.status is Status.IN_FLOW:
        flow = catalog.flow(state.flow_id or "", state.flow_version)
        assert flow is not None and state.variant in flow.variants
        assert state.step_id in flow.variants[state.variant or ""].steps
    if state.ended or state.status is Status.HANDOFF:
        return
    buttons = [b for r in replies for b in r.buttons if b.payload]
    free_text = state.awaiting is Awaiting.ANSWER
    assert buttons or free_text, f"dead end: {state} after {replies}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(actions, min_size=1, max_size=25), persona=st.sampled_from([None, "guided"]))
def test_random_input_never_crashes_or_dead_ends(
    shipped_catalog: Catalog, script: list[tuple[str, Any]], persona: str | None
) -> None:
    state = ConversationState()
    offered: list[str] = []
    for action in script:
        ctx = Context(shipped_catalog, {"first_name": "Zoë"}, persona)
        state, effects = step(ctx, state, _event(action, offered))
        state, effects = _run_actions(ctx, state, effects)
        for effect in effects:
            if isinstance(effect, PersonaChosen):
                persona = effect.persona_id
        replies = [e for e in effects if isinstance(e, Reply)]
        quiet = state.status is Status.HANDOFF and action[0] == "non_text"
        assert replies or quiet, f"no reply to {action} in {state}"
        _assert_way_forward(state, replies, shipped_catalog)
        offered = [b.payload for r in replies for b in r.buttons if b.payload] or offered
        if state.ended:
            state = ConversationState()


@settings(max_examples=300, deadline=None)
@given(script=st.lists(actions, min_size=0, max_size=15))
def test_menu_always_works(shipped_catalog: Catalog, script: list[tuple[str, Any]]) -> None:
    state = ConversationState()
    offered: list[str] = []
    ctx = Context(shipped_catalog, {}, "self_serve")
    for action in script:
        state, effects = step(ctx, state, _event(action, offered))
        state, effects = _run_actions(ctx, state, effects)
        offered = [b.payload for e in effects if isinstance(e, Reply) for b in e.buttons
                   if b.payload] or offered  # fmt: skip
    state, effects = step(ctx, state, TextEvent("menu"))
    payloads = [b.payload for e in effects if isinstance(e, Reply) for b in e.buttons]
    assert "m:where_is_my_order" in payloads
    assert state.status is Status.MENU


@pytest.mark.parametrize("seed", range(3))
async def test_random_input_through_the_manager_keeps_state_consistent(
    tmp_path: Path, shipped_catalog: Catalog, seed: int
) -> None:
    """The same, end to end on SQLite: every turn commits and replies, none crashes."""
    import random

    rng = random.Random(seed)
    store = await open_store(f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}")
    manager = ConversationManager(store, FixedCatalog(shipped_catalog), example_actions())
    key = ConversationKey("test", "fuzz")
    sender = CustomerInfo("fuzz", first_name="<b>{{ x }}</b>")
    offered: list[str] = []
    try:
        for _ in range(60):
            roll = rng.random()
            if roll < 0.5 and offered:
                inbound = Inbound(key, sender, InboundKind.BUTTON, payload=rng.choice(offered))
            elif roll < 0.6:
                inbound = Inbound(key, sender, InboundKind.NON_TEXT, non_text_kind="sticker")
            else:
                text = rng.choice(
                    [*WORDS, "".join(chr(rng.randint(32, 0x2FFF)) for _ in range(30))]
                )
                inbound = Inbound(key, sender, InboundKind.TEXT, text)
            replies = await manager.handle(inbound)
            offered = [b.payload for r in replies for b in r.buttons if b.payload] or offered
        conversations = await store.conversations_of("test:fuzz")
        turns = 0
        for conversation in conversations:
            entries = await store.transcript(conversation.id)
            turns += sum(1 for e in entries if e.direction == "in")
        assert turns == 60  # every message was recorded exactly once
    finally:
        await store.close()
