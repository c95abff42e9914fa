"""Semantic checks of flows and personas that the schema alone cannot express.

The schema says a file is well-formed; these checks say it works: every target exists,
every step is reachable and leads somewhere, templates only use known slots. Each
problem is a Diagnostic at the exact line, so operators fix it before a customer hits it.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass

from bot.diagnostics import Diagnostic, Severity
from bot.engine.problem_wording import did_you_mean
from bot.engine.schema import (
    DEFAULT_VARIANT,
    Checkpoint,
    Flow,
    FlowTarget,
    Persona,
    Step,
    StepKind,
    Target,
    ValidationKind,
    Variant,
)
from bot.engine.source_map import DataPath, LoadedFiles, SourceMap
from bot.engine.templates import template_problems

# Keys that only mean something on some step kinds; elsewhere they are silently ignored.
_APPLIES_TO: Mapping[str, frozenset[StepKind]] = {
    "buttons": frozenset({StepKind.SAY, StepKind.ASK}),
    "validate_": frozenset({StepKind.ASK}),
    "expect": frozenset({StepKind.ASK}),
    "next": frozenset({StepKind.SAY, StepKind.ASK, StepKind.ACTION}),
    "otherwise": frozenset({StepKind.BRANCH}),
    "sets": frozenset({StepKind.ACTION}),
    "on_error": frozenset({StepKind.ACTION}),
    "queue": frozenset({StepKind.HANDOFF}),
    "message": frozenset({StepKind.HANDOFF}),
}


def step_targets(step: Step) -> list[tuple[tuple[str | int, ...], Target]]:
    """Every target a step names, with its path relative to the step."""
    found: list[tuple[tuple[str | int, ...], Target]] = []
    for name in ("next", "otherwise", "goto", "on_error"):
        target: Target | None = getattr(step, name)
        if target is not None:
            found.append(((name,), target))
    for index, case in enumerate(step.branch or []):
        found.append((("branch", index, "goto"), case.goto))
    for index, button in enumerate(step.buttons or []):
        if button.goto is not None:
            found.append((("buttons", index, "goto"), button.goto))
    checkpoint = step.checkpoint_spec
    if checkpoint is not None and checkpoint.on_stuck is not None:
        found.append((("checkpoint", "on_stuck"), checkpoint.on_stuck))
    return found


def flow_slots(flow: Flow) -> frozenset[str]:
    """Slots a flow's templates and conditions may use: asked, declared, or set by actions."""
    names = set(flow.slots)
    if flow.start_slot is not None:
        names.add(flow.start_slot)
    for variant in flow.variants.values():
        for step in variant.steps.values():
            if step.slot is not None:
                names.add(step.slot)
            names.update(step.sets or [])
    return frozenset(names)


def check_files(files: LoadedFiles) -> list[Diagnostic]:
    """All semantic problems of the schema-valid flows and personas in ``files``."""
    known_flows = frozenset(files.flows) | files.invalid_flow_ids
    known_personas = frozenset(files.personas) | files.invalid_persona_ids
    found: list[Diagnostic] = []
    for flow_id, flow in files.flows.items():
        context = _FlowContext(
            flow, files.flow_sources[flow_id], files.flows, known_flows, known_personas
        )
        found.extend(_check_flow(context))
    found.extend(_check_customer_reach(files))
    found.extend(_check_personas(files, known_personas))
    return found


def check_actions(files: LoadedFiles, available: Collection[str], source: str) -> list[Diagnostic]:
    """Steps naming a custom action (``action:`` or ``validate: {action: …}``) that
    ``available`` — what the configured package or action server provides — lacks."""
    found: list[Diagnostic] = []
    for flow_id, flow in files.flows.items():
        where = files.flow_sources[flow_id]
        for variant_id, variant in flow.variants.items():
            for step_id, step in variant.steps.items():
                base: DataPath = ("variants", variant_id, "steps", step_id)
                named: list[tuple[DataPath, str | None]] = [(("action",), step.action)]
                if step.validate_ is not None:
                    named.append((("validate", "action"), step.validate_.action))
                for sub, name in named:
                    if name is None or name in available:
                        continue
                    hint = did_you_mean(name, available)
                    message = f"{source} has no action {name!r}{hint}"
                    found.append(
                        where.diagnostic((*base, *sub), message, flow=flow_id, step=step_id,
                                         at_value=True)
                    )  # fmt: skip
    return found


# --- flows --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _FlowContext:
    flow: Flow
    source: SourceMap
    flows: Mapping[str, Flow]
    known_flows: frozenset[str]
    known_personas: frozenset[str]

    def at(
        self,
        path: DataPath,
        message: str,
        *,
        step: str | None = None,
        at_value: bool = False,
        severity: Severity = Severity.ERROR,
    ) -> Diagnostic:
        return self.source.diagnostic(
            path, message, flow=self.flow.id, step=step, at_value=at_value, severity=severity
        )


def _check_flow(ctx: _FlowContext) -> Iterator[Diagnostic]:
    yield from _check_variant_names(ctx)
    slots = flow_slots(ctx.flow)
    for name, variant in ctx.flow.variants.items():
        yield from _check_variant(ctx, name, variant, slots)


def _check_variant_names(ctx: _FlowContext) -> Iterator[Diagnostic]:
    """A default variant must exist; other variants are named after personas."""
    if DEFAULT_VARIANT not in ctx.flow.variants:
        yield ctx.at(
            ("variants",),
            f"no `{DEFAULT_VARIANT}` variant: add one, it serves every persona "
            "without a variant of its own",
        )
    choices = sorted(ctx.known_personas | {DEFAULT_VARIANT})
    for name in ctx.flow.variants:
        if name != DEFAULT_VARIANT and name not in ctx.known_personas:
            hint = did_you_mean(name, choices)
            yield ctx.at(("variants", name), f"unknown persona '{name}'{hint}")


def _check_variant(
    ctx: _FlowContext, name: str, variant: Variant, slots: frozenset[str]
) -> Iterator[Diagnostic]:
    base: DataPath = ("variants", name)
    if variant.start not in variant.steps:
        hint = did_you_mean(variant.start, variant.steps)
        yield ctx.at(
            (*base, "start"), f"start step '{variant.start}' does not exist{hint}", at_value=True
        )
    for step_id, step in variant.steps.items():
        step_path: DataPath = (*base, "steps", step_id)
        step_ctx = _StepContext(ctx, variant, step_id, step, step_path, slots)
        yield from _check_step(step_ctx)
    yield from _check_reachable(ctx, base, variant)


def _check_reachable(ctx: _FlowContext, base: DataPath, variant: Variant) -> Iterator[Diagnostic]:
    """Every step must be reachable from ``start`` (skipped when start itself is wrong)."""
    if variant.start not in variant.steps:
        return
    seen = {variant.start}
    queue = deque([variant.start])
    while queue:
        for _path, target in step_targets(variant.steps[queue.popleft()]):
            if isinstance(target, str) and target in variant.steps and target not in seen:
                seen.add(target)
                queue.append(target)
    for step_id in variant.steps:
        if step_id not in seen:
            yield ctx.at(
                (*base, "steps", step_id),
                f"step '{step_id}' is unreachable from start '{variant.start}'",
                step=step_id,
            )


# --- steps --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _StepContext:
    flow: _FlowContext
    variant: Variant
    step_id: str
    step: Step
    path: DataPath
    slots: frozenset[str]

    def at(
        self,
        sub: DataPath,
        message: str,
        *,
        at_value: bool = False,
        severity: Severity = Severity.ERROR,
    ) -> Diagnostic:
        return self.flow.at(
            (*self.path, *sub), message, step=self.step_id, at_value=at_value, severity=severity
        )


def _check_step(ctx: _StepContext) -> Iterator[Diagnostic]:
    for sub, target in step_targets(ctx.step):
        yield from _check_target(ctx, sub, target)
    yield from _check_way_forward(ctx)
    yield from _check_answer(ctx)
    yield from _check_ignored_keys(ctx)
    yield from _check_templates(ctx)
    yield from _check_conditions(ctx)


def _check_target(ctx: _StepContext, sub: DataPath, target: Target) -> Iterator[Diagnostic]:
    """A step id must exist in this variant; a flow target must name a flow (and step)."""
    if isinstance(target, str):
        if target not in ctx.variant.steps:
            hint = did_you_mean(target, ctx.variant.steps)
            yield ctx.at(sub, f"unknown step '{target}'{hint}", at_value=True)
        return
    yield from _check_flow_target(ctx, sub, target)


def _check_flow_target(
    ctx: _StepContext, sub: DataPath, target: FlowTarget
) -> Iterator[Diagnostic]:
    flows = ctx.flow.known_flows
    if target.flow not in flows:
        hint = did_you_mean(target.flow, flows)
        yield ctx.at((*sub, "flow"), f"unknown flow '{target.flow}'{hint}", at_value=True)
        return
    other = ctx.flow.flows.get(target.flow)
    default = other.variants.get(DEFAULT_VARIANT) if other is not None else None
    if target.step is None or default is None or target.step in default.steps:
        return
    hint = did_you_mean(target.step, default.steps)
    message = f"flow '{target.flow}' has no step '{target.step}' in its default variant{hint}"
    yield ctx.at((*sub, "step"), message, at_value=True)


def _routes_by_button(step: Step) -> bool:
    return any(button.goto is not None for button in step.buttons or [])


def _check_way_forward(ctx: _StepContext) -> Iterator[Diagnostic]:
    """A step that waits or acts must lead somewhere; handoff, resolve and goto are fine."""
    step = ctx.step
    kind = step.kind
    problem: str | None = None
    if kind is StepKind.SAY and step.next is None and not _routes_by_button(step):
        problem = "a `say` step needs `next:` or a button with `goto:`"
    elif kind is StepKind.ASK and step.slot is not None:
        if step.next is None and not _routes_by_button(step):
            problem = "an `ask` step needs `next:` (where to go after the answer)"
    elif kind is StepKind.ACTION and step.next is None:
        problem = "an `action` step needs `next:` (where to go after it ran)"
    elif kind is StepKind.BRANCH and step.otherwise is None:
        problem = "nothing happens when no case holds — add `otherwise:`"
    if problem is not None:
        yield ctx.at((), f"dead end: {problem}")


def _check_answer(ctx: _StepContext) -> Iterator[Diagnostic]:
    """Rules for asking: where the answer goes and how it is checked."""
    step = ctx.step
    if step.kind is StepKind.ASK and step.slot is None and not _routes_by_button(step):
        yield ctx.at(
            (), "an `ask` step needs `slot:` (to store a typed answer) or buttons with `goto:`"
        )
    if step.slot is not None and step.kind is StepKind.SAY:
        yield ctx.at(
            ("slot",), "a `say` step stores no answer — remove `slot:` or make it an `ask`"
        )
    elif step.slot is not None and step.kind is not StepKind.ASK:
        yield ctx.at(
            ("slot",),
            f"`slot:` is ignored on a `{step.kind}` step (it stores an `ask` answer)",
            severity=Severity.WARNING,
        )
    if step.expect is not None and step.kind is StepKind.ASK:
        if step.slot is None:
            yield ctx.at(("expect",), "`expect:` needs `slot:` (where the file's reference goes)")
        if step.validate_ is not None:
            yield ctx.at(("validate",), f"`validate:` checks typed answers; this step expects "
                         f"a {step.expect}, so remove it")  # fmt: skip
    if step.validate_ is not None:
        if step.slot is None:
            yield ctx.at(("validate",), "`validate:` needs `slot:` (it checks a typed answer)")
        yield from _check_validation(ctx)


def _check_validation(ctx: _StepContext) -> Iterator[Diagnostic]:
    rule = ctx.step.validate_
    assert rule is not None
    if rule.type is ValidationKind.REGEX:
        if rule.pattern is None:
            yield ctx.at(("validate", "type"), "`type: regex` needs `pattern:`", at_value=True)
        else:
            yield from _check_regex(ctx, ("validate", "pattern"), rule.pattern)
    if rule.normalize is not None:
        yield from _check_normalize(ctx, rule.type, rule.pattern, rule.normalize)
    if rule.type is ValidationKind.ONE_OF and not rule.options:
        yield ctx.at(
            ("validate", "type"),
            "`type: one_of` needs `options:` (the accepted answers)",
            at_value=True,
        )


def _check_normalize(
    ctx: _StepContext, kind: ValidationKind, pattern: str | None, template: str
) -> Iterator[Diagnostic]:
    """``normalize:`` rewrites a regex match: its variables are the pattern's named groups."""
    sub = ("validate", "normalize")
    if kind is not ValidationKind.REGEX:
        yield ctx.at(sub, "`normalize:` applies to `type: regex` only", severity=Severity.WARNING)
        return
    try:
        groups = set(re.compile(pattern or "").groupindex)
    except re.error:
        return  # reported at the pattern
    for problem in template_problems(template, {*groups, "value"}):
        yield ctx.at(sub, problem.replace("(known: customer, ", "(known: "), at_value=True)


def _check_regex(ctx: _StepContext, sub: DataPath, pattern: str) -> Iterator[Diagnostic]:
    try:
        re.compile(pattern)
    except re.error as exc:
        where = f" at position {exc.pos}" if exc.pos is not None else ""
        yield ctx.at(sub, f"invalid regular expression: {exc.msg}{where}", at_value=True)


def _check_ignored_keys(ctx: _StepContext) -> Iterator[Diagnostic]:
    """Warn about keys the step's kind ignores: they usually mean a misplaced line."""
    kind = ctx.step.kind
    for name in sorted(ctx.step.model_fields_set):
        kinds = _APPLIES_TO.get(name)
        if kinds is None or kind in kinds:
            continue
        key = name.rstrip("_")
        applies = ", ".join(sorted(k.value for k in kinds))
        yield ctx.at(
            (key,),
            f"`{key}:` is ignored on a `{kind}` step (it applies to: {applies})",
            severity=Severity.WARNING,
        )


def _step_texts(step: Step) -> Iterator[tuple[DataPath, str]]:
    """Every customer-facing template of a step, with its path relative to the step."""
    for name in ("say", "ask", "message", "resolve"):
        value = getattr(step, name)
        if isinstance(value, str) and not isinstance(value, bool):
            yield (name,), value
    if step.validate_ is not None and step.validate_.message is not None:
        yield ("validate", "message"), step.validate_.message
    if isinstance(step.checkpoint, Checkpoint):
        yield ("checkpoint", "question"), step.checkpoint.question
    for index, button in enumerate(step.buttons or []):
        if button.url is not None:
            yield ("buttons", index, "url"), button.url


def _check_templates(ctx: _StepContext) -> Iterator[Diagnostic]:
    for sub, text in _step_texts(ctx.step):
        for problem in template_problems(text, ctx.slots):
            yield ctx.at(sub, problem, at_value=True)


def _check_conditions(ctx: _StepContext) -> Iterator[Diagnostic]:
    """Branch conditions should test slots the flow can fill, with regexes that compile."""
    for index, case in enumerate(ctx.step.branch or []):
        when = ("branch", index, "when")
        if case.when.slot not in ctx.slots:
            hint = did_you_mean(case.when.slot, ctx.slots)
            yield ctx.at(
                (*when, "slot"),
                f"condition tests slot '{case.when.slot}' that this flow never fills{hint}",
                at_value=True,
                severity=Severity.WARNING,
            )
        if case.when.matches is not None:
            yield from _check_regex(ctx, (*when, "matches"), case.when.matches)


# --- across files -------------------------------------------------------------------


def _flows_targeted(flows: Mapping[str, Flow]) -> dict[str, set[str]]:
    """For each flow id, the other flows that jump into it."""
    targeted: dict[str, set[str]] = {}
    for flow in flows.values():
        for variant in flow.variants.values():
            for step in variant.steps.values():
                for _path, target in step_targets(step):
                    if isinstance(target, FlowTarget) and target.flow != flow.id:
                        targeted.setdefault(target.flow, set()).add(flow.id)
    return targeted


def _check_customer_reach(files: LoadedFiles) -> Iterator[Diagnostic]:
    """Warn about flows no customer can start: not in the menu, no triggers, no jump in."""
    targeted = _flows_targeted(files.flows)
    for flow_id, flow in files.flows.items():
        if flow.menu or flow.triggers or targeted.get(flow_id):
            continue
        yield files.flow_sources[flow_id].diagnostic(
            ("menu",),
            "customers cannot reach this flow: `menu: false`, no `triggers:`, "
            "and no other flow goes to it",
            flow=flow_id,
            severity=Severity.WARNING,
        )


def _check_personas(files: LoadedFiles, known: Collection[str]) -> Iterator[Diagnostic]:
    """At most one default persona; escalation may only offer a known persona."""
    first_default: str | None = None
    for persona_id, persona in files.personas.items():
        source = files.persona_sources[persona_id]
        if persona.default and first_default is None:
            first_default = source.path
        elif persona.default:
            yield source.diagnostic(
                ("default",),
                f"more than one persona has `default: true` (also {first_default})",
            )
        yield from _check_offer(persona, source, known)


def _check_offer(
    persona: Persona, source: SourceMap, known: Collection[str]
) -> Iterator[Diagnostic]:
    offer = persona.escalation.offer_persona
    if offer is None or offer in known:
        return
    hint = did_you_mean(offer, known)
    yield source.diagnostic(
        ("escalation", "offer_persona"), f"unknown persona '{offer}'{hint}", at_value=True
    )
