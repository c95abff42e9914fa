"""Pure engine tests: step() with small in-code flows, no storage, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from bot.engine.answers import check_answer
from bot.engine.catalog import Catalog
from bot.engine.conditions import holds
from bot.engine.dialogue import Context, step
from bot.engine.dialogue.words import lacks_the_answer
from bot.engine.effects import (
    ActionResultEvent,
    ButtonEvent,
    Effect,
    Event,
    FlowStarted,
    HandoffRequested,
    Reply,
    Resolved,
    RunAction,
    StartEvent,
    TextEvent,
)
from bot.engine.matching import (
    Command,
    button_for_text,
    button_named_in,
    command_of,
    normalize,
    persona_switch,
)
from bot.engine.schema import Condition, Flow, Persona, Validation
from bot.engine.state import Awaiting, ConversationState, Status
from bot.engine.templates import render, template_problems
from bot.engine.understanding.decision import understand

PERSONAS = {
    "self_serve": Persona(id="self_serve", label="Quick answers", default=True),
    "guided": Persona(
        id="guided",
        label="Step by step",
        switch_phrases=["step by step please"],
        escalation={"max_stuck": 2, "max_misunderstandings": 3},  # type: ignore[arg-type]
    ),
}


def flow(data: dict[str, Any]) -> Flow:
    return Flow.model_validate(data)


SIZE = flow(
    {
        "id": "shoe_size",
        "title": "Find my shoe size",
        "triggers": ["shoe size", "which size"],
        "variants": {
            "default": {
                "start": "ask",
                "steps": {
                    "ask": {
                        "ask": "Foot length in cm, {{ customer.first_name }}?",
                        "slot": "cm",
                        "validate": {"type": "number", "min": 15, "max": 35},
                        "next": "route",
                    },
                    "route": {
                        "branch": [
                            {"when": {"slot": "cm", "greater_than": 27}, "goto": "big"},
                            {"when": {"slot": "cm", "in": [26, 27]}, "goto": "big"},
                        ],
                        "otherwise": "small",
                    },
                    "big": {"say": "Size 44 for {{ cm }} cm.", "next": "done"},
                    "small": {"goto": {"flow": "other"}},
                    "done": {"resolve": "Enjoy!", "tag": "sized"},
                },
            },
            "guided": {
                "start": "measure",
                "steps": {
                    "measure": {
                        "say": "Stand on paper and mark your heel and toe.",
                        "checkpoint": {"on_stuck": "help"},
                        "next": "ask",
                    },
                    "help": {
                        "say": "Ask someone to hold the pen.",
                        "checkpoint": True,
                        "next": "ask",
                    },
                    "ask": {"ask": "Length in cm?", "slot": "cm", "next": "done"},
                    "done": {"resolve": True},
                },
            },
        },
    }
)
OTHER = flow(
    {
        "id": "other",
        "title": "Other things",
        "menu": False,
        "variants": {
            "default": {
                "start": "look",
                "steps": {
                    "look": {"action": "lookup", "next": "show", "on_error": "person"},
                    "show": {"say": "Found: {{ thing }}", "next": "end"},
                    "end": {"resolve": True},
                    "person": {"handoff": "lookup failed", "queue": "ops"},
                },
            }
        },
    }
)
CATALOG = Catalog({"shoe_size": SIZE, "other": OTHER}, {"shoe_size": "v1", "other": "v1"}, PERSONAS)


def run(
    events: list[Event], persona: str | None = "self_serve"
) -> tuple[ConversationState, list[Effect]]:
    state = ConversationState()
    effects: list[Effect] = []
    for event in events:
        ctx = Context(CATALOG, {"first_name": "Ann"}, persona)
        state, effects = step(ctx, state, event)
    return state, effects


def replies(effects: list[Effect]) -> str:
    return "\n".join(e.text for e in effects if isinstance(e, Reply))


def payloads(effects: list[Effect]) -> list[str]:
    return [b.payload for e in effects if isinstance(e, Reply) for b in e.buttons if b.payload]


def test_free_text_starts_the_matching_flow_and_renders_templates() -> None:
    state, effects = run([TextEvent("what shoe size am I")])
    assert any(isinstance(e, FlowStarted) for e in effects)
    assert "Foot length in cm, Ann?" in replies(effects)
    assert state.awaiting is Awaiting.ANSWER


def test_number_validation_reprompts_with_reason_then_branches() -> None:
    state, effects = run([TextEvent("shoe size"), TextEvent("forty")])
    assert "Please enter a number" in replies(effects)
    assert state.step_id == "ask"
    state, effects = run([TextEvent("shoe size"), TextEvent("12")])
    assert "at least 15" in replies(effects)
    state, effects = run([TextEvent("shoe size"), TextEvent("28")])
    assert "Size 44 for 28 cm." in replies(effects)
    assert any(isinstance(e, Resolved) and e.tag == "sized" for e in effects)
    assert state.status is Status.RATING


def test_goto_another_flow_and_action_results_feed_back() -> None:
    state, effects = run([TextEvent("shoe size"), TextEvent("20")])
    assert state.flow_id == "other"
    action = next(e for e in effects if isinstance(e, RunAction))
    assert action.name == "lookup" and action.slots == {"cm": 20}
    ctx = Context(CATALOG, {}, "self_serve")
    ok_state, ok = step(ctx, state, ActionResultEvent(ok=True, slots={"thing": "boots"}))
    assert "Found: boots" in replies(ok)
    assert ok_state.status is Status.RATING
    bad_state, bad = step(ctx, state, ActionResultEvent(ok=False, error="down"))
    assert any(isinstance(e, HandoffRequested) and e.queue == "ops" for e in bad)
    assert bad_state.status is Status.HANDOFF


def test_new_customer_is_asked_for_a_persona_once() -> None:
    state, effects = run([TextEvent("shoe size")], persona=None)
    assert state.awaiting is Awaiting.PERSONA
    assert sorted(payloads(effects)) == ["p:guided", "p:self_serve"]
    state, effects = step(Context(CATALOG, {}, None), state, ButtonEvent("p:guided"))
    assert state.variant == "guided"
    assert "Stand on paper" in replies(effects)


def test_checkpoint_stuck_follows_operator_path_then_offers_a_person() -> None:
    state, effects = run([TextEvent("shoe size")], persona="guided")
    stuck = next(p for p in payloads(effects) if p.endswith(":s"))
    ctx = Context(CATALOG, {}, "guided")
    state, effects = step(ctx, state, ButtonEvent(stuck))
    assert "hold the pen" in replies(effects)
    state, effects = step(ctx, state, TextEvent("I'm stuck"))
    assert "g:person" in payloads(effects)  # max_stuck reached


def test_switch_persona_mid_flow_continues_at_the_same_step() -> None:
    state, _ = run([TextEvent("shoe size")])
    assert state.variant == "default" and state.step_id == "ask"
    state, effects = step(
        Context(CATALOG, {}, "self_serve"), state, TextEvent("step by step please")
    )
    assert state.variant == "guided" and state.step_id == "ask"
    assert "Length in cm?" in replies(effects)


def test_stale_button_and_deep_link() -> None:
    state, effects = run([TextEvent("shoe size"), ButtonEvent("b:0:1")])
    assert "earlier message" in replies(effects)
    assert state.step_id == "ask"
    state, effects = run([StartEvent("shoe_size")])
    assert "Foot length" in replies(effects)


def test_goto_loop_in_a_flow_offers_a_person_instead_of_hanging() -> None:
    looping = flow(
        {
            "id": "loop",
            "title": "Loop",
            "triggers": ["loop"],
            "variants": {
                "default": {
                    "start": "a",
                    "steps": {"a": {"goto": "b"}, "b": {"goto": "a"}},
                }
            },
        }
    )
    catalog = Catalog({"loop": looping}, {"loop": "v"}, PERSONAS)
    _, effects = step(Context(catalog, {}, "self_serve"), ConversationState(), TextEvent("loop"))
    assert "g:person" in payloads(effects)


@pytest.mark.parametrize(
    ("condition", "slots", "expected"),
    [
        ({"slot": "x", "equals": True}, {"x": "true"}, True),
        ({"slot": "x", "equals": 3}, {"x": "3"}, True),
        ({"slot": "x", "not_equals": "a"}, {}, True),
        ({"slot": "x", "in": ["a", "b"]}, {"x": "B"}, True),
        ({"slot": "x", "present": True}, {"x": ""}, False),
        ({"slot": "x", "matches": "^WS-"}, {"x": "WS-1"}, True),
        ({"slot": "x", "greater_than": 5}, {"x": "abc"}, False),
        ({"slot": "x", "less_than": 5}, {"x": 4}, True),
    ],
)
def test_conditions(condition: dict[str, Any], slots: dict[str, Any], expected: bool) -> None:
    assert holds(Condition.model_validate(condition), slots) is expected


@pytest.mark.parametrize(
    ("text", "validation", "valid", "value"),
    [
        ("a@b.co", {"type": "email"}, True, "a@b.co"),
        ("a@b", {"type": "email"}, False, None),
        ("1,000", {"type": "number"}, True, 1000),
        ("nan", {"type": "number"}, False, None),
        ("ws-12345", {"type": "regex", "pattern": "(?i)ws-\\d{5}"}, True, "ws-12345"),
        ("reds", {"type": "one_of", "options": ["Red", "Blue"]}, True, "Red"),
        ("green", {"type": "one_of", "options": ["Red", "Blue"]}, False, None),
    ],
)
def test_answer_validation(text: str, validation: dict[str, Any], valid: bool, value: Any) -> None:
    verdict = check_answer(text, Validation.model_validate(validation))
    assert verdict.valid is valid
    if valid:
        assert verdict.value == value


def test_matching_commands_personas_and_flows() -> None:
    assert command_of("I want to talk to a human") is Command.PERSON
    assert command_of("the agent was rude") is None
    assert command_of("/menu") is Command.MENU
    assert persona_switch("Step by step, please!", PERSONAS.values()) is PERSONAS["guided"]
    assert persona_switch("steps to reset", PERSONAS.values()) is None
    assert understand("which size should I buy", CATALOG).flow_id == "shoe_size"
    assert understand("qwerty", CATALOG).flow_id is None


@pytest.mark.parametrize(
    ("text", "person"),
    [
        ("agnet pls", True),
        ("representitive", True),
        ("humans?", True),
        ("agents please", True),
        ("wheres my stuff", False),  # "stuff" is a word, not a slip for "staff"
        ("my stuff", False),
        ("change persona", False),
    ],
)
def test_a_person_noun_with_a_slip_but_not_a_word_that_looks_like_one(
    text: str, person: bool
) -> None:
    assert (command_of(text) is Command.PERSON) is person


@pytest.mark.parametrize(
    ("text", "lacks"),
    [
        ("i dont have it", True),
        ("I don't know", True),
        ("no idea sorry", True),
        ("where do i find it?", True),
        ("cant find the number", True),
        ("lost the email", True),
        ("WS-10001", False),
        ("i have it: ws10001", False),
        ("not yet", False),
        ("i dont know why but the parcel was opened and two items are missing from it", False),
    ],
)
def test_an_answer_that_says_the_customer_lacks_what_is_asked(text: str, lacks: bool) -> None:
    assert lacks_the_answer(normalize(text)) is lacks


@pytest.mark.parametrize(
    ("text", "labels", "index"),
    [
        ("both are final i think", ["One is pending", "Both are final"], 1),
        ("the second one still says pending", ["One is pending", "Both are final"], 0),
        ("both are not final", ["One is pending", "Both are final"], None),
        ("the blue one please", ["Red", "Blue", "Green"], 1),
        ("blue or green", ["Red", "Blue", "Green"], None),  # two fit: ask again
        ("the parcel is damaged", ["It is", "It is not"], None),  # only filler words
    ],
)
def test_a_button_named_inside_a_longer_answer(
    text: str, labels: list[str], index: int | None
) -> None:
    assert button_named_in(text, labels) == index


def test_a_negated_label_is_no_typo_of_the_label() -> None:
    assert button_for_text("both are final", ["One is pending", "Both are final"]) == 1
    assert button_for_text("both are not final", ["One is pending", "Both are final"]) is None
    assert button_for_text("i cant find it", ["Found it", "I can't find it"]) == 1


def test_templates_are_sandboxed_and_checked() -> None:
    assert render("{{ ''.__class__.__mro__ }}", {}, {}) == "{{ ''.__class__.__mro__ }}"
    assert render("{{ customer.first_name }}", {"first_name": "<b>"}, {}) == "<b>"
    assert template_problems("{{ ordr }}", ["order"])[0].startswith("unknown template variable")
    assert template_problems("{{ customer.age }}", [])[0].startswith("unknown customer field")
