"""``supportbot flows eval``: how often opening messages reach the right flow, measured.

Each case is one line of JSON Lines, ``{"text": …, "expect": <flow id or "none">}``, and
is played as the first message of a new conversation through the real pure engine
(:func:`bot.engine.dialogue.step`, with the default persona so no persona question
intervenes). What the customer would see is the outcome: a flow started, a person asked
for (the global command), "Did you mean …?", or no flow at all. Nothing is re-implemented
here, so the figures are the bot's, not a model's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.engine.catalog import Catalog
from bot.engine.dialogue import Context, step
from bot.engine.effects import FlowStarted, HandoffRequested, TextEvent
from bot.engine.state import Awaiting, ConversationState
from bot.engine.understanding.decision import DEFAULT_THRESHOLDS, RoutingThresholds
from bot.errors import ConfigError

NONE = "none"
PERSON = "(person)"
"""The outcome of the global "talk to a person" command."""


@dataclass(frozen=True, slots=True)
class Case:
    text: str
    expect: str
    line: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one opening message led to."""

    started: str | None = None
    """The flow started, or :data:`PERSON` for a handoff."""
    offered: tuple[str, ...] = ()
    """The flows offered in "Did you mean …?"."""


@dataclass(slots=True)
class Results:
    """The figures ``flows eval`` prints; rates are fractions of the cases named."""

    cases: int = 0
    in_scope: int = 0
    right: int = 0
    wrong: int = 0
    did_you_mean: int = 0
    did_you_mean_right: int = 0
    out_of_scope: int = 0
    declined: int = 0
    confusions: Counter[tuple[str, str]] = field(default_factory=Counter)
    examples: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    @property
    def accuracy(self) -> float:
        """In-scope messages that started the expected flow."""
        return self.right / self.in_scope if self.in_scope else 1.0

    @property
    def wrong_rate(self) -> float:
        """All messages that started a flow other than the expected one (or any, for none)."""
        return self.wrong / self.cases if self.cases else 0.0

    @property
    def did_you_mean_rate(self) -> float:
        return self.did_you_mean / self.cases if self.cases else 0.0

    @property
    def declined_rate(self) -> float:
        """Out-of-scope messages that started no flow."""
        return self.declined / self.out_of_scope if self.out_of_scope else 1.0


def load_cases(path: Path, catalog: Catalog) -> list[Case]:
    """The cases of a JSON Lines file; a bad line is a ConfigError naming ``path:line``."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    cases = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        text, expect = (data.get("text"), data.get("expect")) if isinstance(data, dict) else (0, 0)
        if not isinstance(text, str) or not isinstance(expect, str):
            raise ConfigError(f'{path}:{number}: expected {{"text": "…", "expect": "…"}}')
        if expect != NONE and expect not in catalog.flows:
            known = ", ".join(sorted(catalog.flows))
            raise ConfigError(f"{path}:{number}: unknown flow {expect!r} (flows: {known}, none)")
        cases.append(Case(text, expect, number))
    return cases


def outcome_of(
    text: str, catalog: Catalog, thresholds: RoutingThresholds = DEFAULT_THRESHOLDS
) -> Outcome:
    """Play ``text`` as a new conversation's first message and see what it led to."""
    default = catalog.default_persona()
    ctx = Context(catalog, {}, default.id if default else None, routing=thresholds)
    state, effects = step(ctx, ConversationState(), TextEvent(text))
    for effect in effects:
        if isinstance(effect, FlowStarted):
            return Outcome(started=effect.flow_id)
        if isinstance(effect, HandoffRequested):
            return Outcome(started=PERSON)
    if state.awaiting is Awaiting.DISAMBIGUATION:
        return Outcome(offered=state.candidates)
    return Outcome()


def evaluate(
    cases: Sequence[Case],
    catalog: Catalog,
    thresholds: RoutingThresholds = DEFAULT_THRESHOLDS,
    person_flow: str | None = "talk_to_person",
) -> Results:
    """Score every case; ``person_flow``: the flow a "talk to a person" command stands for."""
    results = Results()
    for case in cases:
        outcome = outcome_of(case.text, catalog, thresholds)
        started = person_flow if outcome.started == PERSON else outcome.started
        results.cases += 1
        got = started or (
            f"did you mean: {', '.join(outcome.offered)}" if outcome.offered else NONE
        )
        if case.expect == NONE:
            results.out_of_scope += 1
            results.declined += started is None
            results.wrong += started is not None
        else:
            results.in_scope += 1
            results.right += started == case.expect
            results.wrong += started is not None and started != case.expect
            results.did_you_mean_right += case.expect in outcome.offered
        results.did_you_mean += bool(outcome.offered)
        if started != case.expect and not (case.expect == NONE and started is None):
            pair = (case.expect, got)
            results.confusions[pair] += 1
            results.examples.setdefault(pair, []).append(case.text)
    return results
