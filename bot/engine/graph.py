"""A flow as a Mermaid ``flowchart``, so operators can see its routes before customers walk them.

The diagram is documentation, not a second engine: it draws what the YAML says, with the
engine's fall-backs made visible (a checkpoint without ``on_stuck`` and an action without
``on_error`` both lead to a shared "offer a person" node, as they do at run time).

Conventions:

- one ``subgraph`` per variant; node ids are ``<variant>__<step>`` (unique across variants,
  made unique with a numeric suffix in the odd case two spellings meet). Nodes the YAML
  does not name as steps (the start marker, other flows, link notes, "offer a person")
  use upper-case keys, which step ids (lower-case by schema) can never clash with;
- every label is quoted, whitespace-collapsed, shortened and entity-escaped, so no text
  an operator writes can break the diagram;
- URL buttons do not route: each is drawn as a link note hanging off its step by a
  dotted line without an arrow (``-.-``), never as a ``-->`` edge;
- a button without ``goto`` or ``url`` continues at the step's ``next`` (as the engine
  does), drawn as an edge labelled with the button;
- the output is deterministic: variants, steps and buttons in YAML order.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

from bot.engine.schema import Condition, Flow, FlowTarget, Step, StepKind, Target, Variant

LABEL_LIMIT = 60
"""Longest text excerpt in a label, in characters, before it is cut with an ellipsis."""

_ENTITIES = {
    "#": "#35;",
    '"': "#quot;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "`": "#96;",
}

_CLASS_DEFS = (
    "classDef entry fill:#222,stroke:#222,color:#fff",
    "classDef handoff fill:#fde7e7,stroke:#c62828,stroke-width:2px,color:#000",
    "classDef resolved fill:#e6f4ea,stroke:#2e7d32,stroke-width:2px,color:#000",
    "classDef otherflow fill:#e3f2fd,stroke:#1565c0,color:#000",
    "classDef link fill:#f5f5f5,stroke:#9e9e9e,stroke-dasharray:3 3,color:#555",
    "classDef missing fill:#fff3e0,stroke:#e65100,stroke-dasharray:4 2,color:#000",
)

_OPERATOR_SIGNS = (
    ("equals", "="),
    ("not_equals", "!="),
    ("matches", "matches"),
    ("greater_than", ">"),
    ("less_than", "<"),
)

# Keys of nodes that are not steps: upper case, so no step id (lower case) can clash.
_START = "START"
_PERSON = "PERSON"
_VARIANT = "VARIANT"


def mermaid(flow: Flow, variant: str | None = None) -> str:
    """The flow as Mermaid ``flowchart TD`` text: every variant, or only ``variant``."""
    ids = _Ids()
    lines = ["flowchart TD"]
    for name in _variant_names(flow, variant):
        lines.extend(_Subgraph(name, flow.variants[name], ids).render())
    lines.extend(f"  {line}" for line in _CLASS_DEFS)
    return "\n".join(lines) + "\n"


def _variant_names(flow: Flow, variant: str | None) -> list[str]:
    """The variants to draw; an unknown name is an error that lists the real ones."""
    if variant is None:
        return list(flow.variants)
    if variant not in flow.variants:
        known = ", ".join(flow.variants)
        raise ValueError(f"flow {flow.id} has no variant {variant}; it has: {known}")
    return [variant]


# ---- text ------------------------------------------------------------------------


def _shorten(text: str, limit: int = LABEL_LIMIT) -> str:
    """One line of at most ``limit`` characters: whitespace collapsed, control chars dropped."""
    flat = " ".join(text.split())
    flat = "".join(c for c in flat if unicodedata.category(c) != "Cc")
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"


def _escape(text: str) -> str:
    """Text made inert inside a quoted Mermaid label (quotes, ``#``, HTML and backticks)."""
    return "".join(_ENTITIES.get(c, c) for c in text)


def _label(*lines: str) -> str:
    """A quoted label; each line shortened and escaped, lines joined by ``<br/>``."""
    return '"' + "<br/>".join(_escape(_shorten(line)) for line in lines if line) + '"'


def _value(value: str | int | float | bool) -> str:
    """A condition value as an operator would write it in YAML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _condition_text(when: Condition) -> str:
    """A branch case as a short edge label, e.g. ``problem in [a, b]``."""
    if when.present is not None:
        return f"{when.slot} {'present' if when.present else 'absent'}"
    if when.in_ is not None:
        return f"{when.slot} in [{', '.join(_value(v) for v in when.in_)}]"
    for name, sign in _OPERATOR_SIGNS:
        value: str | float | int | bool | None = getattr(when, name)
        if value is not None:
            return f"{when.slot} {sign} {_value(value)}"
    raise AssertionError("validated condition without an operator")  # pragma: no cover


# ---- nodes -------------------------------------------------------------------------


@dataclass
class _Ids:
    """Mermaid ids for (variant, key) pairs: readable, and unique across the whole diagram."""

    _given: dict[tuple[str, str], str] = field(default_factory=dict)
    _taken: set[str] = field(default_factory=set)

    def __call__(self, variant: str, key: str) -> str:
        found = self._given.get((variant, key))
        if found is not None:
            return found
        base = candidate = f"{variant}__{key}"
        suffix = 2
        while candidate in self._taken:
            candidate = f"{base}_{suffix}"
            suffix += 1
        self._given[(variant, key)] = candidate
        self._taken.add(candidate)
        return candidate


def _step_shape(step_id: str, step: Step) -> str:
    """The shape, label and class of a step's node (everything after its id)."""
    kind = step.kind
    head = f"{kind.value} {step_id}"
    if kind is StepKind.SAY:
        return f"[{_label(head, step.say or '')}]"
    if kind is StepKind.ASK:
        return f"[{_label(_ask_head(head, step), step.ask or '')}]"
    if kind is StepKind.BRANCH:
        return "{" + _label(head) + "}"
    if kind is StepKind.GOTO:
        return f"[{_label(head)}]"
    if kind is StepKind.ACTION:
        sets = f"sets: {', '.join(step.sets)}" if step.sets else ""
        return f"[[{_label(f'{head}: {step.action}', sets)}]]"
    if kind is StepKind.HANDOFF:
        reason = f"→ {step.queue or 'general'}: {step.handoff}"
        return f"([{_label(head, reason)}]):::handoff"
    tag = f"tag: {step.tag}" if step.tag else ""
    return f"([{_label(head, tag)}]):::resolved"


def _ask_head(head: str, step: Step) -> str:
    """``ask id → slot (type)``: what the question captures and how it is checked."""
    if step.slot is not None:
        head = f"{head} → {step.slot}"
    if step.validate_ is not None:
        head = f"{head} ({step.validate_.type.value})"
    return head


# ---- one variant ---------------------------------------------------------------------


@dataclass
class _Subgraph:
    """Draws one variant: its step nodes, the nodes they point to, and the edges."""

    name: str
    variant: Variant
    ids: _Ids
    extras: list[str] = field(default_factory=list)
    edges: list[str] = field(default_factory=list)
    _declared: set[str] = field(default_factory=set)

    def render(self) -> list[str]:
        nodes = [f"{self.node(_START)}(({_label('start')})):::entry"]
        nodes += [f"{self.node(sid)}{_step_shape(sid, s)}" for sid, s in self.variant.steps.items()]
        self.edge(self.node(_START), self.target(self.variant.start))
        for step_id, step in self.variant.steps.items():
            self.step_edges(step_id, step)
        title = _label(f"variant: {self.name}")
        body = [*nodes, *self.extras, *self.edges]
        return [
            f"  subgraph {self.node(_VARIANT)}[{title}]",
            *(f"    {line}" for line in body),
            "  end",
        ]

    def node(self, key: str) -> str:
        return self.ids(self.name, key)

    def extra(self, key: str, shape: str) -> str:
        """A node that is not a step, declared once per variant on first use."""
        node_id = self.node(key)
        if node_id not in self._declared:
            self._declared.add(node_id)
            self.extras.append(f"{node_id}{shape}")
        return node_id

    def target(self, target: Target | None) -> str | None:
        """The node a target leads to: a step, another flow, or a marked missing step."""
        if target is None:
            return None
        if isinstance(target, FlowTarget):
            return self.flow_node(target)
        if target in self.variant.steps:
            return self.node(target)
        return self.extra(target, f"[{_label(f'missing step: {target}')}]:::missing")

    def flow_node(self, target: FlowTarget) -> str:
        if target.step is None:
            key, text = f"FLOW_{target.flow}", f"flow: {target.flow}"
        else:
            key = f"FLOW_{target.flow}__{target.step}"
            text = f"flow: {target.flow}, step: {target.step}"
        return self.extra(key, f"[/{_label(text)}/]:::otherflow")

    def person(self) -> str:
        """The engine's fall-back when nobody said where to go: offering a person."""
        return self.extra(_PERSON, f"([{_label('offer a person')}]):::handoff")

    def edge(self, source: str, dest: str | None, label: str | None = None) -> None:
        if dest is None:
            return
        arrow = "-->" if label is None else f"-->|{_label(label)}|"
        self.edges.append(f"{source} {arrow} {dest}")

    def step_edges(self, step_id: str, step: Step) -> None:
        source = self.node(step_id)
        kind = step.kind
        if kind is StepKind.SAY or kind is StepKind.ASK:
            self.button_edges(step_id, step)
            self.next_edges(source, step)
        elif kind is StepKind.BRANCH:
            for case in step.branch or []:
                self.edge(source, self.target(case.goto), _condition_text(case.when))
            self.edge(source, self.target(step.otherwise), "otherwise")
        elif kind is StepKind.GOTO:
            self.edge(source, self.target(step.goto))
        elif kind is StepKind.ACTION:
            self.edge(source, self.target(step.next))
            self.edge(source, self.target(step.on_error) or self.person(), "error")

    def button_edges(self, step_id: str, step: Step) -> None:
        """Routing buttons become labelled edges; URL buttons become link notes."""
        source = self.node(step_id)
        for index, button in enumerate(step.buttons or [], start=1):
            if button.url is not None:
                shape = f">{_label(f'link: {button.label}')}]:::link"
                self.edges.append(f"{source} -.- {self.extra(f'URL_{step_id}_{index}', shape)}")
            else:
                dest = button.goto if button.goto is not None else step.next
                self.edge(source, self.target(dest), button.label)

    def next_edges(self, source: str, step: Step) -> None:
        """``next`` plainly, or as a checkpoint's "yes" with its "stuck" way out."""
        checkpoint = step.checkpoint_spec
        if checkpoint is None:
            self.edge(source, self.target(step.next))
            return
        self.edge(source, self.target(step.next), "yes")
        self.edge(source, self.target(checkpoint.on_stuck) or self.person(), "stuck")
