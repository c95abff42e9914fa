"""The pure step function: ``step(context, state, event) -> (new_state, effects)``.

It routes by conversation status (new, menu, choosing a persona, in a flow, with a
person), understands free text, runs flow steps until one waits for the customer, and
never does I/O — the manager applies the effects. Every reply that waits for the
customer offers a way forward (buttons, the menu, or a person): no dead ends.

Button payloads stay far below Telegram's 64-byte limit:
``m:<flow>`` start a flow, ``p:<persona>`` choose a persona, ``b:<turn>:<i>`` button ``i``
of the step entered at ``<turn>``, ``k:<turn>:y|s`` a checkpoint answer,
``g:person|menu|retry|none`` global choices, ``t:<text>`` a custom action's button (as
if the customer typed the text). A ``<turn>`` that is not the current
step's is a stale button from an older message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bot.engine.answers import check_answer
from bot.engine.catalog import Catalog
from bot.engine.conditions import holds
from bot.engine.effects import (
    ActionResultEvent,
    ButtonEvent,
    Effect,
    Event,
    FlowStarted,
    HandoffCancelled,
    HandoffRequested,
    Misunderstood,
    NonTextEvent,
    PersonaChosen,
    RatingAsked,
    RatingComment,
    RatingGiven,
    Reply,
    Resolved,
    RunAction,
    StartEvent,
    StepEntered,
    TextEvent,
)
from bot.engine.matching import (
    Command,
    button_for_text,
    command_of,
    normalize,
    persona_switch,
    understand,
)
from bot.engine.rating import LOW_SCORES, parse_score, rating_buttons, score_of_payload
from bot.engine.schema import Escalation, Flow, FlowTarget, Persona, Step, StepKind, Target
from bot.engine.state import Awaiting, ConversationState, Status
from bot.engine.templates import render
from bot.engine.wording import say
from bot.messages import Button

MAX_AUTO_STEPS = 50
"""Steps run without customer input in one turn; more means a goto loop in a flow."""

DEFAULT_QUEUE = "general"
RECOVERY_QUEUE = "recovery"
GREETINGS = frozenset(
    {"hi", "hello", "hey", "hi there", "hello there", "hey there", "good morning",
     "good afternoon", "good evening", "hallo", "hola", "yo", "start"}
)  # fmt: skip
THANKS = frozenset(
    {"thanks", "thank you", "thx", "ty", "cheers", "thanks a lot", "thank you very much",
     "great thanks", "ok thanks", "bye", "goodbye", "bye bye"}
)  # fmt: skip
YES_WORDS = frozenset({"yes", "y", "done", "ok", "okay", "yep", "yeah", "it worked", "worked"})
STUCK_WORDS = frozenset(
    {"no", "n", "stuck", "im stuck", "i am stuck", "didnt work", "it didnt work", "not working"}
)


@dataclass(frozen=True, slots=True)
class Context:
    """What the engine may know beyond the conversation state (read-only)."""

    catalog: Catalog
    customer: Mapping[str, Any]
    """first_name, last_name, name, language — for templates."""
    persona_id: str | None
    """The customer's remembered persona; None = not chosen yet."""
    returning: bool = False
    last_topic: str | None = None
    person_assigned: bool = False
    """A person owns the conversation: the bot stays quiet (messages go to them)."""
    now: float = 0.0
    """Epoch seconds of this turn (rating expiry); 0 = unknown."""
    rating_enabled: bool = True
    rating_window_seconds: float = 24 * 3600.0
    recommend_url: str | None = None


def step(
    ctx: Context, state: ConversationState, event: Event
) -> tuple[ConversationState, list[Effect]]:
    """Advance the conversation by one customer event."""
    turn = _Turn(ctx, state.evolve(turn=state.turn + 1))
    if state.ended:
        turn.state = ConversationState(turn=state.turn + 1)
    turn.dispatch(event)
    return turn.state, turn.effects


def resume_after_person(
    ctx: Context, state: ConversationState, *, back_to_flow: bool
) -> tuple[ConversationState, list[Effect]]:
    """The person is done: continue the flow where it stopped, or offer the menu."""
    turn = _Turn(ctx, state.evolve(turn=state.turn + 1, misunderstandings=0, stuck=0))
    step_ = turn.current_step()
    if back_to_flow and step_ is not None and step_.kind is not StepKind.HANDOFF:
        turn.state = turn.state.evolve(status=Status.IN_FLOW)
        turn.reply(turn.text("back_with_bot"))
        turn.enter(turn.state.step_id or "")
    elif _rating_due(ctx, state, turn.current_flow()):
        turn.reset_to_menu()
        turn.ask_rating("rating_after_person")
    else:
        turn.reset_to_menu()
        turn.show_menu(prompt=True, text=turn.text("back_with_bot_menu"))
    return turn.state, turn.effects


def start_slot_in(flow: Flow, text: str) -> dict[str, Any]:
    """The flow's ``start_slot`` when the opening message already contains it ("where is
    my order WS-10001"): found with the regex its ``ask`` step validates answers with."""
    if flow.start_slot is None:
        return {}
    for variant in flow.variants.values():
        for step in variant.steps.values():
            rule = step.validate_
            if step.slot == flow.start_slot and rule is not None and rule.pattern:
                found = re.search(rule.pattern, text)
                if found and found.group(0).strip():
                    return {flow.start_slot: found.group(0).strip()}
    return {}


def _rating_due(ctx: Context, state: ConversationState, flow: Flow | None) -> bool:
    """Ask once per conversation, unless switched off globally or for the flow."""
    return ctx.rating_enabled and state.rating_asked_at is None and (flow is None or flow.rating)


class _Turn:
    """Accumulates the new state and the effects of one :func:`step` call."""

    def __init__(self, ctx: Context, state: ConversationState) -> None:
        self.ctx = ctx
        self.state = state
        self.effects: list[Effect] = []
        self.persona_id = ctx.persona_id
        self._auto_steps = 0

    # ---- helpers ---------------------------------------------------------------

    @property
    def persona(self) -> Persona | None:
        personas = self.ctx.catalog.personas
        if self.persona_id and self.persona_id in personas:
            return personas[self.persona_id]
        return self.ctx.catalog.default_persona()

    @property
    def escalation(self) -> Escalation:
        persona = self.persona
        return persona.escalation if persona else Escalation()

    def text(self, key: str, **values: Any) -> str:
        persona = self.persona
        overrides = persona.messages if persona else {}
        return say(key, overrides, self.ctx.customer, **values)

    def reply(self, text: str, buttons: tuple[Button, ...] = ()) -> None:
        if text or buttons:
            self.effects.append(Reply(text, buttons))

    def render(self, template: str) -> str:
        return render(template, self.ctx.customer, self.state.slots)

    def current_flow(self) -> Flow | None:
        if self.state.flow_id is None:
            return None
        return self.ctx.catalog.flow(self.state.flow_id, self.state.flow_version)

    def current_step(self) -> Step | None:
        flow = self.current_flow()
        if flow is None or self.state.variant is None or self.state.step_id is None:
            return None
        variant = flow.variants.get(self.state.variant)
        return variant.steps.get(self.state.step_id) if variant else None

    def global_buttons(self) -> tuple[Button, ...]:
        return (
            Button(self.text("button_menu"), "g:menu"),
            Button(self.text("button_person"), "g:person"),
        )

    # ---- dispatch ----------------------------------------------------------------

    def dispatch(self, event: Event) -> None:
        if isinstance(event, StartEvent):
            self.on_start(event.payload)
        elif isinstance(event, TextEvent):
            self.on_text(event.text)
        elif isinstance(event, ButtonEvent):
            self.on_button(event.payload)
        elif isinstance(event, NonTextEvent):
            self.on_non_text()
        else:
            self.on_action_result(event)

    def greet_if_new(self) -> bool:
        if self.state.status is not Status.NEW:
            return False
        first_name = self.ctx.customer.get("first_name")
        key = "greeting_returning" if self.ctx.returning and first_name else "greeting"
        self.reply(self.text(key, last_topic=self.ctx.last_topic))
        self.state = self.state.evolve(status=Status.MENU)
        return True

    def on_start(self, payload: str | None) -> None:
        if self.state.status is Status.HANDOFF:
            self.reply(self.text("handoff_waiting"))
            return
        self.state = self.state.evolve(status=Status.NEW)
        self.greet_if_new()
        opened = self.open_deep_link(payload) if payload else False
        if not opened:
            self.show_menu(prompt=True)

    def open_deep_link(self, payload: str) -> bool:
        for flow in self.ctx.catalog.flows.values():
            if payload == flow.id:
                self.start_flow(flow.id)
                return True
            if flow.deep_link and payload.startswith(f"{flow.deep_link}_"):
                value = payload[len(flow.deep_link) + 1 :]
                slots = {flow.start_slot: value} if flow.start_slot else {}
                self.start_flow(flow.id, slots=slots)
                return True
        return False

    def on_non_text(self) -> None:
        if self.state.status is Status.HANDOFF:
            return  # kept in the transcript for the person (handoff issue relays it)
        self.greet_if_new()
        self.reply(self.text("non_text"))
        self.reprompt()

    # ---- text ------------------------------------------------------------------

    def on_text(self, raw: str) -> None:
        text = raw.strip()
        if self.state.status is Status.HANDOFF:
            self.text_during_handoff(text)
            return
        if self.state.status is Status.RATING and text:
            self.rating_text(text)
            return
        if not text:
            self.greet_if_new()
            self.reply(self.text("empty_message"))
            self.reprompt()
            return
        if normalize(text) in THANKS and self.state.status in (Status.NEW, Status.MENU):
            self.reply(self.text("you_are_welcome"), (Button(self.text("button_menu"), "g:menu"),))
            self.state = self.state.evolve(status=Status.MENU, awaiting=Awaiting.NOTHING)
            return
        greeted = self.greet_if_new()
        if self.state.awaiting is not Awaiting.ANSWER or len(text) < 40:
            command = command_of(text)
            if command is not None:
                self.run_command(command)
                return
        persona = persona_switch(text, self.ctx.catalog.personas.values())
        if persona is not None:
            self.switch_persona(persona)
            return
        awaiting = self.state.awaiting
        if awaiting in (Awaiting.ANSWER, Awaiting.VALIDATION):
            self.answer_question(text)  # (a validation that never finished: check again)
        elif awaiting is Awaiting.CHOICE:
            self.choose_by_text(text)
        elif awaiting is Awaiting.CHECKPOINT:
            self.checkpoint_by_text(text)
        elif awaiting is Awaiting.PERSONA:
            self.persona_by_text(text)
        elif awaiting is Awaiting.DISAMBIGUATION:
            self.disambiguate_by_text(text)
        elif awaiting is Awaiting.ACTION and self.state.step_id:
            self.enter(self.state.step_id)  # the last attempt never finished: run it again
        else:
            self.route_free_text(text, greeted=greeted)

    def text_during_handoff(self, text: str) -> None:
        """Everything goes to the person; only "menu" and "person" get a bot answer."""
        command = command_of(text) if len(text) < 40 else None
        if command in (Command.MENU, Command.RESTART):
            if self.ctx.person_assigned:
                buttons = (
                    Button(self.text("button_leave"), "g:leave"),
                    Button(self.text("button_stay"), "g:stay"),
                )
                self.reply(self.text("handoff_confirm_leave"), buttons)
            else:
                self.leave_handoff()
        elif command is Command.PERSON:
            self.reply(self.text("handoff_already"))
        elif not self.ctx.person_assigned:
            self.reply(self.text("handoff_waiting"))

    def leave_handoff(self) -> None:
        self.effects.append(HandoffCancelled())
        self.reply(self.text("handoff_cancelled"))
        self.reset_to_menu()
        self.show_menu(prompt=True)

    def run_command(self, command: Command) -> None:
        if command in (Command.MENU, Command.RESTART):
            self.reset_to_menu()
            self.show_menu(prompt=True)
        elif command is Command.HELP:
            self.reply(self.text("help"))
            self.reprompt()
        else:
            self.handoff("customer asked for a person", DEFAULT_QUEUE)

    def route_free_text(self, text: str, *, greeted: bool) -> None:
        if normalize(text) in GREETINGS:
            self.show_menu(prompt=True)
            return
        understood = understand(text, self.ctx.catalog)
        if understood.flow_id is not None:
            flow = self.ctx.catalog.flows[understood.flow_id]
            self.start_flow(flow.id, slots=start_slot_in(flow, text))
        elif understood.candidates:
            self.ask_did_you_mean(understood.candidates)
        elif greeted:
            self.show_menu(prompt=True)
        else:
            self.misunderstood("menu")

    def misunderstood(self, where: str, reason: str | None = None) -> None:
        """Re-prompt with the valid options; at the persona's limit, offer a person."""
        count = self.state.misunderstandings + 1
        self.state = self.state.evolve(misunderstandings=count)
        self.effects.append(Misunderstood(where))
        if count >= self.escalation.max_misunderstandings:
            if reason:
                self.reply(reason)
            self.offer_person()
            return
        if self.state.status is Status.IN_FLOW:
            self.reply(reason or self.text("not_understood"))
            self.reprompt()
        else:
            self.show_menu(prompt=False, text=reason or self.text("not_understood_menu"))

    def offer_person(self) -> None:
        buttons = [Button(self.text("button_person"), "g:person")]
        if self.state.status is Status.IN_FLOW:
            buttons.append(Button(self.text("button_keep_trying"), "g:retry"))
        buttons.append(Button(self.text("button_menu"), "g:menu"))
        self.reply(self.text("offer_person"), tuple(buttons))

    # ---- menu, did-you-mean, persona ------------------------------------------

    def reset_to_menu(self) -> None:
        self.state = self.state.evolve(
            status=Status.MENU,
            awaiting=Awaiting.NOTHING,
            flow_id=None,
            flow_version=None,
            variant=None,
            step_id=None,
            slots={},
            misunderstandings=0,
            stuck=0,
            pending_flow=None,
            pending_slots={},
            candidates=(),
        )

    def show_menu(self, *, prompt: bool, text: str | None = None) -> None:
        buttons = tuple(Button(f.title, f"m:{f.id}") for f in self.ctx.catalog.menu_flows())
        self.reply(text or self.text("menu_prompt"), buttons)
        if prompt:
            self.state = self.state.evolve(awaiting=Awaiting.NOTHING)

    def ask_did_you_mean(self, candidates: tuple[str, ...]) -> None:
        flows = [self.ctx.catalog.flows[c] for c in candidates if c in self.ctx.catalog.flows]
        buttons = [Button(f.title, f"m:{f.id}") for f in flows]
        buttons.append(Button(self.text("did_you_mean_none"), "g:none"))
        self.reply(self.text("did_you_mean"), tuple(buttons))
        self.state = self.state.evolve(
            status=Status.MENU, awaiting=Awaiting.DISAMBIGUATION, candidates=candidates
        )

    def disambiguate_by_text(self, text: str) -> None:
        flows = [self.ctx.catalog.flows[c] for c in self.state.candidates]
        index = button_for_text(text, [f.title for f in flows])
        self.state = self.state.evolve(awaiting=Awaiting.NOTHING, candidates=())
        if index is not None:
            self.start_flow(flows[index].id)
        else:
            self.route_free_text(text, greeted=False)

    def ask_persona(self, flow_id: str, slots: dict[str, Any]) -> None:
        personas = self.ctx.catalog.personas_in_order()
        buttons = tuple(Button(p.label, f"p:{p.id}") for p in personas)
        self.reply(self.text("persona_question"), buttons)
        self.state = self.state.evolve(
            status=Status.CHOOSING_PERSONA,
            awaiting=Awaiting.PERSONA,
            pending_flow=flow_id,
            pending_slots=slots,
        )

    def persona_by_text(self, text: str) -> None:
        personas = self.ctx.catalog.personas_in_order()
        index = button_for_text(text, [p.label for p in personas])
        if index is not None:
            self.choose_persona(personas[index])
            return
        # Not an answer to the question: don't nag — use the default and go on.
        default = self.ctx.catalog.default_persona()
        understood = understand(text, self.ctx.catalog)
        if understood.flow_id is not None:
            self.state = self.state.evolve(pending_flow=understood.flow_id, pending_slots={})
        if default is not None:
            self.choose_persona(default, announce=False)

    def choose_persona(self, persona: Persona, *, announce: bool = True) -> None:
        self.persona_id = persona.id
        self.effects.append(PersonaChosen(persona.id))
        if announce:
            self.reply(self.text("persona_chosen", persona=persona.label))
        pending, slots = self.state.pending_flow, dict(self.state.pending_slots)
        self.state = self.state.evolve(pending_flow=None, pending_slots={}, status=Status.MENU)
        if pending and pending in self.ctx.catalog.flows:
            self.start_flow(pending, slots=slots, ask_persona=False)
        else:
            self.show_menu(prompt=True)

    def switch_persona(self, persona: Persona) -> None:
        """Switch style mid-conversation; the flow continues at the same step if it can."""
        if self.state.awaiting is Awaiting.PERSONA:
            self.choose_persona(persona)
            return
        self.persona_id = persona.id
        self.effects.append(PersonaChosen(persona.id))
        self.reply(self.text("persona_switched", persona=persona.label))
        flow = self.current_flow()
        if self.state.status is not Status.IN_FLOW or flow is None:
            self.reprompt()
            return
        variant_id, variant = flow.variant_for(persona.id)
        same_step = self.state.step_id if self.state.step_id in variant.steps else None
        self.state = self.state.evolve(variant=variant_id, stuck=0, misunderstandings=0)
        self.enter(same_step or variant.start)

    # ---- flows -----------------------------------------------------------------

    def start_flow(
        self,
        flow_id: str,
        *,
        slots: dict[str, Any] | None = None,
        at_step: str | None = None,
        ask_persona: bool = True,
    ) -> None:
        flow = self.ctx.catalog.flows.get(flow_id)
        if flow is None:
            self.show_menu(prompt=True)
            return
        needs_persona = len(flow.variants) > 1 and self.persona_id is None
        if needs_persona and ask_persona and self.ctx.catalog.personas:
            self.ask_persona(flow_id, slots or {})
            return
        variant_id, variant = flow.variant_for(self.persona_id)
        self.state = self.state.evolve(
            status=Status.IN_FLOW,
            awaiting=Awaiting.NOTHING,
            flow_id=flow.id,
            flow_version=self.ctx.catalog.versions.get(flow.id),
            variant=variant_id,
            step_id=None,
            slots=dict(slots or {}),
            misunderstandings=0,
            stuck=0,
            candidates=(),
        )
        self.effects.append(FlowStarted(flow.id, self.state.flow_version, variant_id))
        target = at_step if at_step in variant.steps else variant.start
        self.enter(target)

    def go(self, target: Target | None) -> None:
        if target is None:  # the validator rules this out; never leave a dead end anyway
            self.offer_person()
            return
        if isinstance(target, FlowTarget):
            self.start_flow(target.flow, slots=self.state.slots, at_step=target.step)
        else:
            self.enter(target)

    def enter(self, step_id: str) -> None:
        """Run ``step_id`` and the steps after it until one waits for the customer."""
        self._auto_steps += 1
        flow = self.current_flow()
        variant = flow.variants.get(self.state.variant or "") if flow else None
        step = variant.steps.get(step_id) if variant else None
        if flow is None or step is None or self._auto_steps > MAX_AUTO_STEPS:
            self.offer_person()
            return
        self.state = self.state.evolve(
            step_id=step_id, awaiting=Awaiting.NOTHING, prompt_turn=self.state.turn
        )
        self.effects.append(StepEntered(flow.id, self.state.variant or "", step_id))
        kind = step.kind
        if kind is StepKind.SAY or kind is StepKind.ASK:
            self.prompt(step)
            if self.state.awaiting is Awaiting.NOTHING:
                self.go(step.next)
        elif kind is StepKind.BRANCH:
            self.go(self.branch_target(step))
        elif kind is StepKind.GOTO:
            self.go(step.goto)
        elif kind is StepKind.ACTION:
            assert step.action is not None
            self.state = self.state.evolve(awaiting=Awaiting.ACTION)
            self.effects.append(RunAction(step.action, flow.id, step_id, dict(self.state.slots)))
        elif kind is StepKind.HANDOFF:
            assert step.handoff is not None
            message = self.render(step.message) if step.message else None
            self.handoff(step.handoff, step.queue or DEFAULT_QUEUE, message)
        else:
            self.resolve(flow, step)

    def prompt(self, step: Step) -> None:
        """Send a say/ask step's text and buttons; set what we now wait for."""
        text = self.render(step.say if step.say is not None else step.ask or "")
        checkpoint = step.checkpoint_spec
        if step.buttons:
            buttons = tuple(
                Button(b.label, url=self.render(b.url))
                if b.url
                else Button(b.label, f"b:{self.state.prompt_turn}:{i}")
                for i, b in enumerate(step.buttons)
            )
            self.reply(text, buttons)
            routes = any(b.url is None for b in step.buttons)
            if routes:
                self.state = self.state.evolve(awaiting=Awaiting.CHOICE)
                return
        else:
            self.reply(text)
        if step.ask is not None and step.slot is not None:
            self.state = self.state.evolve(awaiting=Awaiting.ANSWER)
        elif checkpoint is not None:
            stamp = self.state.prompt_turn
            self.reply(
                self.render(checkpoint.question),
                (Button(checkpoint.yes, f"k:{stamp}:y"), Button(checkpoint.stuck, f"k:{stamp}:s")),
            )
            self.state = self.state.evolve(awaiting=Awaiting.CHECKPOINT)

    def reprompt(self) -> None:
        """Show again what we are waiting for, so the customer always has a way on."""
        step = self.current_step()
        awaiting = self.state.awaiting
        if self.state.status is Status.IN_FLOW and step is not None:
            if awaiting in (Awaiting.ANSWER, Awaiting.CHOICE, Awaiting.CHECKPOINT):
                self.prompt(step)
                return
            if awaiting is Awaiting.ACTION:
                self.reply(self.text("not_understood"), self.global_buttons())
                return
        if self.state.status is Status.RATING:
            if awaiting is Awaiting.COMMENT:
                self.reply(
                    self.text("rating_thanks"), (Button(self.text("button_skip"), "r:skip"),)
                )
            else:
                self.ask_rating()
            return
        if awaiting is Awaiting.PERSONA and self.state.pending_flow:
            self.ask_persona(self.state.pending_flow, dict(self.state.pending_slots))
        elif awaiting is Awaiting.DISAMBIGUATION and self.state.candidates:
            self.ask_did_you_mean(self.state.candidates)
        else:
            self.show_menu(prompt=True)

    def branch_target(self, step: Step) -> Target | None:
        for case in step.branch or []:
            if holds(case.when, self.state.slots):
                return case.goto
        return step.otherwise

    def handoff(self, reason: str, queue: str, message: str | None = None) -> None:
        self.effects.append(HandoffRequested(reason, queue, self.state.flow_id, self.state.step_id))
        self.reply(message or self.text("handoff_default"))
        self.state = self.state.evolve(status=Status.HANDOFF, awaiting=Awaiting.NOTHING)

    def resolve(self, flow: Flow, step: Step) -> None:
        closing = step.resolve if isinstance(step.resolve, str) else self.text("resolved_default")
        self.reply(self.render(closing))
        self.effects.append(Resolved(flow.id, step.tag))
        if _rating_due(self.ctx, self.state, flow):
            self.ask_rating()
        else:
            self.end_conversation()

    def end_conversation(self, text_key: str = "anything_else") -> None:
        self.reply(self.text(text_key), (Button(self.text("button_menu"), "g:menu"),))
        self.state = self.state.evolve(status=Status.RESOLVED, awaiting=Awaiting.NOTHING)

    # ---- satisfaction rating ---------------------------------------------------

    def ask_rating(self, key: str = "rating_question") -> None:
        if self.state.rating_asked_at is None:
            self.effects.append(RatingAsked())
        self.reply(self.text(key), rating_buttons())
        self.state = self.state.evolve(
            status=Status.RATING,
            awaiting=Awaiting.RATING,
            rating_asked_at=self.state.rating_asked_at or self.ctx.now,
        )

    def rating_text(self, text: str) -> None:
        """A typed answer while rating: a score, a comment, thanks — or a new request."""
        if self.state.awaiting is Awaiting.COMMENT:
            command = command_of(text) if len(text) < 40 else None
            if command is Command.PERSON:
                self.recovery_handoff()
            elif command is not None:
                self.reset_to_menu()
                self.show_menu(prompt=True)
            else:
                self.effects.append(RatingComment(text[:2000]))
                self.end_conversation("rating_comment_thanks")
            return
        score = parse_score(text)
        if score is not None:
            self.rate(score)
        elif normalize(text) in THANKS and self.state.awaiting is Awaiting.RATING:
            self.reply(self.text("rating_nudge"), rating_buttons())
            self.state = self.state.evolve(awaiting=Awaiting.RATING)
        else:  # not an answer: the customer moved on; serve the new request
            self.reset_to_menu()
            self.on_text(text)

    def rate(self, score: int) -> None:
        asked = self.state.rating_asked_at or 0.0
        if self.ctx.now and asked and self.ctx.now - asked > self.ctx.rating_window_seconds:
            self.end_conversation("rating_late")  # too late to count: thanked, not counted
            return
        self.effects.append(RatingGiven(score))
        self.state = self.state.evolve(rating_score=score)
        buttons = [Button(self.text("button_skip"), "r:skip")]
        if score in LOW_SCORES:
            buttons.append(Button(self.text("button_person"), "g:person"))
            self.reply(self.text("rating_low"), tuple(buttons))
        else:
            url = self.ctx.recommend_url
            self.reply(self.text("rating_thanks", score=score, recommend_url=url), tuple(buttons))
        self.state = self.state.evolve(awaiting=Awaiting.COMMENT)

    def recovery_handoff(self) -> None:
        """A person follows up a disappointed customer: a ticket in the recovery queue."""
        score = self.state.rating_score
        reason = "follow-up after a low rating" + (f" ({score}/5)" if score else "")
        self.handoff(reason, RECOVERY_QUEUE)

    def rating_button(self, payload: str) -> None:
        score = score_of_payload(payload)
        if self.state.status is not Status.RATING:
            self.reply(self.text("rating_late"))  # a button from an earlier conversation
            self.reprompt()
        elif payload == "r:skip":
            self.end_conversation("rating_comment_thanks")
        elif score is not None and self.state.awaiting is Awaiting.RATING:
            self.rate(score)
        else:
            self.reply(self.text("stale_button"))
            self.reprompt()

    # ---- answers inside a flow ------------------------------------------------

    def answer_question(self, text: str) -> None:
        step = self.current_step()
        if step is None or step.slot is None:
            self.reprompt()
            return
        if step.buttons:
            index = button_for_text(text, [b.label for b in step.buttons])
            if index is not None and step.buttons[index].url is None:
                self.press_step_button(step, index)
                return
        verdict = check_answer(text, step.validate_)
        if not verdict.valid:
            reason = verdict.custom_reason or self.text(
                verdict.reason_key, **(verdict.reason_values or {})
            )
            self.misunderstood(f"{self.state.flow_id}.{self.state.step_id}", self.render(reason))
            return
        validation = step.validate_
        if validation is not None and validation.action is not None:
            flow_id, step_id = self.state.flow_id or "", self.state.step_id or ""
            candidate = (step.slot, verdict.value)
            self.effects.append(
                RunAction(validation.action, flow_id, step_id, dict(self.state.slots), candidate)
            )
            self.state = self.state.evolve(awaiting=Awaiting.VALIDATION)
            return
        self.accept_answer(step, {step.slot: verdict.value})

    def accept_answer(self, step: Step, slots: Mapping[str, Any]) -> None:
        self.state = self.state.evolve(slots={**self.state.slots, **slots}, misunderstandings=0)
        self.go(step.next)

    def choose_by_text(self, text: str) -> None:
        step = self.current_step()
        if step is None or not step.buttons:
            self.reprompt()
            return
        index = button_for_text(text, [b.label for b in step.buttons])
        if index is not None and step.buttons[index].url is None:
            self.press_step_button(step, index)
            return
        understood = understand(text, self.ctx.catalog)
        if understood.flow_id is not None and understood.flow_id != self.state.flow_id:
            self.start_flow(understood.flow_id)  # the customer changed the subject
            return
        self.misunderstood(
            f"{self.state.flow_id}.{self.state.step_id}", self.text("reprompt_choices")
        )

    def press_step_button(self, step: Step, index: int) -> None:
        button = (step.buttons or [])[index]
        self.state = self.state.evolve(misunderstandings=0)
        if step.slot is not None:
            value = button.value if button.value is not None else button.label
            self.state = self.state.evolve(slots={**self.state.slots, step.slot: value})
        self.go(button.goto if button.goto is not None else step.next)

    def checkpoint_by_text(self, text: str) -> None:
        norm = normalize(text)
        step = self.current_step()
        checkpoint = step.checkpoint_spec if step else None
        labels = [checkpoint.yes, checkpoint.stuck] if checkpoint else []
        index = button_for_text(text, labels)
        if norm in YES_WORDS or index == 0:
            self.checkpoint_answer(done=True)
        elif norm in STUCK_WORDS or index == 1:
            self.checkpoint_answer(done=False)
        else:
            self.misunderstood(f"{self.state.flow_id}.{self.state.step_id}")

    def checkpoint_answer(self, *, done: bool) -> None:
        step = self.current_step()
        checkpoint = step.checkpoint_spec if step else None
        if step is None or checkpoint is None:
            self.reprompt()
            return
        if done:
            self.state = self.state.evolve(misunderstandings=0)
            self.go(step.next)
            return
        stuck = self.state.stuck + 1
        self.state = self.state.evolve(stuck=stuck)
        if stuck >= self.escalation.max_stuck:
            self.offer_help_after_stuck(checkpoint.on_stuck)
        elif checkpoint.on_stuck is not None:
            self.go(checkpoint.on_stuck)
        else:
            self.offer_person()

    def offer_help_after_stuck(self, on_stuck: Target | None) -> None:
        """Stuck too often: offer the other style if the persona says so, else a person.

        An operator's ``on_stuck`` that already hands off is followed as written.
        """
        other = self.ctx.catalog.personas.get(self.escalation.offer_persona or "")
        if other is not None and other.id != self.persona_id:
            buttons = (Button(other.label, f"p:{other.id}"), *self.global_buttons()[1:])
            self.reply(self.text("offer_persona"), buttons)
        elif self.is_handoff_step(on_stuck):
            self.go(on_stuck)
        else:
            self.offer_person()

    def is_handoff_step(self, target: Target | None) -> bool:
        flow = self.current_flow()
        if not isinstance(target, str) or flow is None:
            return False
        variant = flow.variants.get(self.state.variant or "")
        step = variant.steps.get(target) if variant else None
        return step is not None and step.kind is StepKind.HANDOFF

    # ---- buttons ---------------------------------------------------------------

    def on_button(self, payload: str) -> None:
        kind, _, rest = payload.partition(":")
        if kind == "r":
            self.rating_button(payload)
            return
        if kind == "t" and rest:  # a custom action's button: as if the customer typed it
            self.on_text(rest)
            return
        if kind == "g" and rest in ("menu", "person", "none"):
            self.global_button(rest)
            return
        if self.state.status is Status.HANDOFF:
            if payload == "g:leave":
                self.leave_handoff()
            elif payload == "g:stay":
                self.reply(self.text("handoff_stay"))
            elif not self.ctx.person_assigned:
                self.reply(self.text("handoff_waiting"))
            return
        self.greet_if_new()
        if kind == "m" and rest in self.ctx.catalog.flows:
            self.state = self.state.evolve(awaiting=Awaiting.NOTHING, candidates=())
            self.start_flow(rest)
        elif kind == "p" and rest in self.ctx.catalog.personas:
            self.switch_persona(self.ctx.catalog.personas[rest])
        elif kind == "g" and rest == "retry":
            self.state = self.state.evolve(misunderstandings=0)
            self.reprompt()
        elif kind in ("b", "k") and self.is_current(rest):
            self.step_button(kind, rest)
        else:
            self.reply(self.text("stale_button"))
            self.reprompt()

    def global_button(self, which: str) -> None:
        if which == "person":
            if self.state.status is Status.HANDOFF:
                self.reply(self.text("handoff_already"))
            elif self.state.status is Status.RATING and self.state.rating_score in LOW_SCORES:
                self.recovery_handoff()
            else:
                self.handoff("customer asked for a person", DEFAULT_QUEUE)
            return
        if self.state.status is Status.HANDOFF:
            self.text_during_handoff("menu")
            return
        self.greet_if_new()
        self.reset_to_menu()
        self.show_menu(prompt=True)

    def is_current(self, rest: str) -> bool:
        stamp, _, _ = rest.partition(":")
        waiting = (Awaiting.CHOICE, Awaiting.ANSWER, Awaiting.CHECKPOINT)
        return (
            self.state.status is Status.IN_FLOW
            and self.state.awaiting in waiting
            and stamp == str(self.state.prompt_turn)
        )

    def step_button(self, kind: str, rest: str) -> None:
        _, _, arg = rest.partition(":")
        step = self.current_step()
        if step is None:
            self.reprompt()
        elif kind == "k" and arg in ("y", "s") and self.state.awaiting is Awaiting.CHECKPOINT:
            self.checkpoint_answer(done=arg == "y")
        elif kind == "b" and arg.isdigit() and int(arg) < len(step.buttons or []):
            self.press_step_button(step, int(arg))
        else:
            self.reply(self.text("stale_button"))
            self.reprompt()

    # ---- actions ---------------------------------------------------------------

    def on_action_result(self, result: ActionResultEvent) -> None:
        step = self.current_step()
        if step is not None and self.state.awaiting is Awaiting.VALIDATION:
            self.on_validation(step, result)
            return
        if self.state.awaiting is not Awaiting.ACTION or step is None:
            return
        for reply in result.replies:
            self.reply(reply.text, reply.buttons)
        self.state = self.state.evolve(slots={**self.state.slots, **result.slots})
        if result.ok:
            self.go(step.next)
        elif step.on_error is not None:
            self.go(step.on_error)
        else:
            self.reply(self.text("action_failed"))
            self.state = self.state.evolve(awaiting=Awaiting.NOTHING)
            self.offer_person()

    def on_validation(self, step: Step, result: ActionResultEvent) -> None:
        """A validation action's verdict: the (normalised) answer, or why it was refused."""
        self.state = self.state.evolve(awaiting=Awaiting.ANSWER)
        if not result.ok:  # could not check: say so honestly, let them retry or get a person
            self.reply(self.text("action_failed"))
            self.offer_person()
            return
        slot = step.slot or ""
        if result.slots.get(slot) is None:
            reason = "\n".join(r.text for r in result.replies if r.text)
            self.misunderstood(f"{self.state.flow_id}.{self.state.step_id}", reason or None)
            return
        for reply in result.replies:
            self.reply(reply.text, reply.buttons)
        self.accept_answer(step, result.slots)
