"""Running a flow: start it in the persona's variant, then enter steps until one waits.

Say, ask, branch, goto, action, handoff and resolve steps are carried out here; what a
step waits for is asked by :mod:`bot.engine.dialogue.prompts`, and the customer's
answer is read by :mod:`bot.engine.dialogue.answers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.engine.answers import Verdict, check_answer
from bot.engine.conditions import holds
from bot.engine.dialogue.menu import end_conversation, handoff, offer_person, show_menu
from bot.engine.dialogue.prompts import ask_persona, ask_which_value, misunderstood, prompt
from bot.engine.dialogue.rating import ask_rating
from bot.engine.dialogue.turn import DEFAULT_QUEUE, Turn, rating_due
from bot.engine.effects import FlowStarted, Resolved, RunAction, StepEntered
from bot.engine.schema import Flow, FlowTarget, Step, StepKind, Target
from bot.engine.state import Awaiting, Status

MAX_AUTO_STEPS = 50
"""Steps run without customer input in one turn; more means a goto loop in a flow."""


def start_flow(
    turn: Turn,
    flow_id: str,
    *,
    slots: dict[str, Any] | None = None,
    at_step: str | None = None,
    ask_for_persona: bool = True,
    ahead: tuple[str, ...] = (),
) -> None:
    """Start ``flow_id`` (asking for the persona first if it has variants and none is known)."""
    flow = turn.ctx.catalog.flows.get(flow_id)
    if flow is None:
        show_menu(turn, prompt=True)
        return
    needs_persona = len(flow.variants) > 1 and turn.persona_id is None
    if needs_persona and ask_for_persona and turn.ctx.catalog.personas:
        ask_persona(turn, flow_id, slots or {})
        return
    variant_id, variant = flow.variant_for(turn.persona_id)
    turn.state = turn.state.evolve(
        status=Status.IN_FLOW,
        awaiting=Awaiting.NOTHING,
        flow_id=flow.id,
        flow_version=turn.ctx.catalog.versions.get(flow.id),
        variant=variant_id,
        step_id=None,
        slots=dict(slots or {}),
        misunderstandings=0,
        stuck=0,
        candidates=(),
        ahead=ahead,
    )
    turn.effects.append(FlowStarted(flow.id, turn.state.flow_version, variant_id))
    target = at_step if at_step in variant.steps else variant.start
    enter(turn, target)


def go(turn: Turn, target: Target | None) -> None:
    """Follow a step's target: a step of this flow, or another flow (at a step)."""
    if target is None:  # the validator rules this out; never leave a dead end anyway
        offer_person(turn)
        return
    if isinstance(target, FlowTarget):
        start_flow(turn, target.flow, slots=turn.state.slots, at_step=target.step)
    else:
        enter(turn, target)


def enter(turn: Turn, step_id: str) -> None:
    """Run ``step_id`` and the steps after it until one waits for the customer."""
    turn.auto_steps += 1
    flow = turn.current_flow()
    variant = flow.variants.get(turn.state.variant or "") if flow else None
    step = variant.steps.get(step_id) if variant else None
    if flow is None or step is None or turn.auto_steps > MAX_AUTO_STEPS:
        offer_person(turn)
        return
    turn.state = turn.state.evolve(
        step_id=step_id, awaiting=Awaiting.NOTHING, prompt_turn=turn.state.turn
    )
    turn.effects.append(StepEntered(flow.id, turn.state.variant or "", step_id))
    kind = step.kind
    if kind is StepKind.ASK and step.slot in turn.state.ahead:
        answer_given_ahead(turn, step)
    elif kind is StepKind.SAY or kind is StepKind.ASK:
        prompt(turn, step)
        if turn.state.awaiting is Awaiting.NOTHING:
            go(turn, step.next)
    elif kind is StepKind.BRANCH:
        go(turn, branch_target(turn, step))
    elif kind is StepKind.GOTO:
        go(turn, step.goto)
    elif kind is StepKind.ACTION:
        assert step.action is not None
        turn.state = turn.state.evolve(awaiting=Awaiting.ACTION)
        turn.effects.append(RunAction(step.action, flow.id, step_id, dict(turn.state.slots)))
    elif kind is StepKind.HANDOFF:
        assert step.handoff is not None
        message = turn.render(step.message) if step.message else None
        handoff(turn, step.handoff, step.queue or DEFAULT_QUEUE, message)
    else:
        resolve(turn, flow, step)


def take_verdict(turn: Turn, step: Step, verdict: Verdict) -> None:
    """Store a valid answer (after its validation action, if any), ask which of several
    values is meant, or say why the answer was refused."""
    assert step.slot is not None
    if verdict.choices:
        ask_which_value(turn, tuple(str(value) for value in verdict.choices))
        return
    if not verdict.valid:
        reason = verdict.custom_reason or turn.text(
            verdict.reason_key, **(verdict.reason_values or {})
        )
        misunderstood(turn, turn.where, turn.render(reason))
        return
    validation = step.validate_
    if validation is not None and validation.action is not None:
        flow_id, step_id = turn.state.flow_id or "", turn.state.step_id or ""
        candidate = (step.slot, verdict.value)
        turn.effects.append(
            RunAction(validation.action, flow_id, step_id, dict(turn.state.slots), candidate)
        )
        turn.state = turn.state.evolve(awaiting=Awaiting.VALIDATION)
        return
    accept_answer(turn, step, {step.slot: verdict.value})


def accept_answer(turn: Turn, step: Step, slots: Mapping[str, Any]) -> None:
    turn.state = turn.state.evolve(slots={**turn.state.slots, **slots}, misunderstandings=0)
    go(turn, step.next)


def answer_given_ahead(turn: Turn, step: Step) -> None:
    """The customer gave this step's answer before it was asked: take it as the answer
    (its validation action still runs) instead of asking."""
    assert step.slot is not None
    ahead = tuple(slot for slot in turn.state.ahead if slot != step.slot)
    turn.state = turn.state.evolve(awaiting=Awaiting.ANSWER, ahead=ahead)
    value = turn.state.slots.get(step.slot)
    take_verdict(turn, step, check_answer(str(value), step.validate_))


def branch_target(turn: Turn, step: Step) -> Target | None:
    for case in step.branch or []:
        if holds(case.when, turn.state.slots):
            return case.goto
    return step.otherwise


def resolve(turn: Turn, flow: Flow, step: Step) -> None:
    """The flow succeeded: its closing words, then the rating (or "anything else?")."""
    closing = step.resolve if isinstance(step.resolve, str) else turn.text("resolved_default")
    turn.reply(turn.render(closing))
    turn.effects.append(Resolved(flow.id, step.tag))
    if rating_due(turn.ctx, turn.state, flow):
        ask_rating(turn)
    else:
        end_conversation(turn)
