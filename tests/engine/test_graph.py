"""The Mermaid diagram shows every step and every route, and no operator text can break it."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from ruamel.yaml import YAML

from bot.engine.graph import mermaid
from bot.engine.schema import Flow, FlowTarget, StepKind, Target
from bot.engine.validate import step_targets

FLOWS = Path(__file__).resolve().parents[2] / "flows"
SHIPPED = ("where_is_my_order", "return_refund")

_NODE = re.compile(r"^ {4}(\w+)(\(\(|\(\[|\[\[|\[/|\[|\{|>)\"([^\"]*)\"[\]\)\}/]+(?::::(\w+))?$")
_EDGE = re.compile(r"^ {4}(\w+) (-->|-\.-)(?:\|\"([^\"]*)\"\|)? (\w+)$")
_SUBGRAPH = re.compile(r"^ {2}subgraph (\w+)\[\"[^\"]*\"\]$")


@cache
def load(flow_id: str) -> Flow:
    return Flow.model_validate(YAML(typ="safe").load((FLOWS / f"{flow_id}.yaml").read_text()))


@dataclass(frozen=True)
class Diagram:
    """The parts of our own output the tests look at (it is line-oriented by design)."""

    declared: list[str]
    nodes: dict[str, tuple[str, str, str | None]]  # id -> (opening bracket, label, class)
    edges: set[tuple[str, str | None, str]]  # (source, label, dest) of routing edges
    notes: set[tuple[str, str]]  # dotted, non-routing links
    subgraphs: list[str]


def parse(text: str) -> Diagram:
    declared: list[str] = []
    nodes: dict[str, tuple[str, str, str | None]] = {}
    edges: set[tuple[str, str | None, str]] = set()
    notes: set[tuple[str, str]] = set()
    subgraphs: list[str] = []
    for line in text.splitlines():
        if node := _NODE.match(line):
            declared.append(node[1])
            nodes[node[1]] = (node[2], node[3], node[4])
        elif edge := _EDGE.match(line):
            if edge[2] == "-->":
                edges.add((edge[1], edge[3], edge[4]))
            else:
                notes.add((edge[1], edge[4]))
        elif sub := _SUBGRAPH.match(line):
            subgraphs.append(sub[1])
        else:
            assert line in ("flowchart TD", "  end") or line.startswith("  classDef "), line
    return Diagram(declared, nodes, edges, notes, subgraphs)


def node_for(variant: str, target: Target) -> str:
    if isinstance(target, FlowTarget):
        step = f"__{target.step}" if target.step else ""
        return f"{variant}__FLOW_{target.flow}{step}"
    return f"{variant}__{target}"


# ---- the shipped flows --------------------------------------------------------------


@pytest.mark.parametrize("flow_id", SHIPPED)
def test_every_step_of_every_variant_is_a_node(flow_id: str) -> None:
    flow = load(flow_id)
    diagram = parse(mermaid(flow))
    for name, variant in flow.variants.items():
        assert f"{name}__VARIANT" in diagram.subgraphs
        for step_id, step in variant.steps.items():
            _, label, _ = diagram.nodes[f"{name}__{step_id}"]
            assert label.startswith(f"{step.kind.value} {step_id}")
        assert (f"{name}__START", None, f"{name}__{variant.start}") in diagram.edges


@pytest.mark.parametrize("flow_id", SHIPPED)
def test_every_target_a_step_names_is_an_edge(flow_id: str) -> None:
    flow = load(flow_id)
    diagram = parse(mermaid(flow))
    routes = {(source, dest) for source, _, dest in diagram.edges}
    for name, variant in flow.variants.items():
        for step_id, step in variant.steps.items():
            for path, target in step_targets(step):
                assert (f"{name}__{step_id}", node_for(name, target)) in routes, (name, path)


@pytest.mark.parametrize("flow_id", SHIPPED)
def test_node_ids_are_unique_and_every_edge_end_is_declared(flow_id: str) -> None:
    diagram = parse(mermaid(load(flow_id)))
    everything = diagram.declared + diagram.subgraphs
    assert len(everything) == len(set(everything))
    ends = {end for s, _, d in diagram.edges for end in (s, d)}
    ends |= {end for pair in diagram.notes for end in pair}
    assert ends <= set(diagram.nodes)


EXPECTED_EDGES: dict[str, list[tuple[str, str | None, str]]] = {
    "where_is_my_order": [
        ("default__have_number", "order_number present", "default__lookup"),
        ("default__have_number", "otherwise", "default__ask_number"),
        ("default__ask_number", None, "default__lookup"),
        ("default__lookup", None, "default__found"),
        ("default__lookup", "error", "default__lookup_failed"),
        ("default__found", "order_found = true", "default__report"),
        ("default__report", "Thanks, that's all", "default__done"),
        ("default__report", "Something's wrong", "default__FLOW_delivery_problem"),
        ("guided__explain_number", "yes", "guided__ask_number"),
        ("guided__explain_number", "stuck", "guided__no_email"),
        ("guided__anything_wrong", "No, something's wrong", "guided__FLOW_delivery_problem"),
    ],
    "return_refund": [
        ("default__policy", "Got it, thanks", "default__done"),
        ("guided__reason", "Changed my mind", "guided__which_reason"),  # value button -> next
        ("guided__reason", "Refund is late", "guided__refund_late"),
        ("guided__which_reason", "return_reason = damaged", "guided__photo"),
        ("guided__pack", "yes", "guided__drop_off"),
        ("guided__pack", "stuck", "guided__PERSON"),  # no on_stuck: the engine offers a person
    ],
}


@pytest.mark.parametrize(
    ("flow_id", "edge"), [(f, e) for f, edges in EXPECTED_EDGES.items() for e in edges]
)
def test_expected_edge_with_its_label(flow_id: str, edge: tuple[str, str | None, str]) -> None:
    assert edge in parse(mermaid(load(flow_id))).edges


def test_url_button_is_a_note_not_a_route() -> None:
    diagram = parse(mermaid(load("where_is_my_order")))
    assert not any(label == "Track it" for _, label, _ in diagram.edges)
    assert ("default__report", "default__URL_report_1") in diagram.notes
    assert diagram.nodes["default__URL_report_1"] == (">", "link: Track it", "link")


def test_shapes_and_classes_by_kind() -> None:
    nodes = parse(mermaid(load("where_is_my_order"))).nodes
    assert nodes["default__START"] == ("((", "start", "entry")
    assert nodes["default__have_number"][0] == "{"
    assert nodes["default__ask_number"][1].startswith("ask ask_number → order_number (regex)<br/>")
    assert nodes["default__lookup"][:2] == (
        "[[",
        "action lookup: order_status<br/>sets: order_found, order_status, eta, tracking_url, "
        "carrier",
    )
    assert nodes["default__lookup_failed"] == (
        "([",
        "handoff lookup_failed<br/>→ orders: order lookup failed",
        "handoff",
    )
    assert nodes["default__done"] == ("([", "resolve done<br/>tag: order_status_given", "resolved")
    assert nodes["default__FLOW_delivery_problem"] == ("[/", "flow: delivery_problem", "otherflow")
    assert nodes["guided__FLOW_delivery_problem"][1] == "flow: delivery_problem"


def test_one_external_node_per_target_flow_per_variant() -> None:
    flow = _flow(
        {
            "a": {
                "say": "x",
                "buttons": [{"label": "one", "goto": {"flow": "other"}}],
                "next": "b",
            },
            "b": {"goto": {"flow": "other"}},
        }
    )
    diagram = parse(mermaid(flow))
    assert diagram.declared.count("default__FLOW_other") == 1
    assert ("default__a", "one", "default__FLOW_other") in diagram.edges
    assert ("default__b", None, "default__FLOW_other") in diagram.edges


def test_only_the_named_variant() -> None:
    text = mermaid(load("where_is_my_order"), "guided")
    diagram = parse(text)
    assert diagram.subgraphs == ["guided__VARIANT"]
    assert "default__" not in text


def test_unknown_variant_lists_the_real_ones() -> None:
    message = "flow where_is_my_order has no variant vip; it has: default, guided"
    with pytest.raises(ValueError, match=re.escape(message)):
        mermaid(load("where_is_my_order"), "vip")


@pytest.mark.parametrize("flow_id", SHIPPED)
def test_output_is_deterministic(flow_id: str) -> None:
    fresh = Flow.model_validate(YAML(typ="safe").load((FLOWS / f"{flow_id}.yaml").read_text()))
    first = mermaid(load(flow_id))
    assert first == mermaid(load(flow_id)) == mermaid(fresh)
    assert first.startswith("flowchart TD\n") and first.endswith("\n")


# ---- hostile text -----------------------------------------------------------------------

NASTY = 'Say "hi" [x] {y} |a| #1; <b>b</b> & `t`\n  {{ order }} 🎉'


def _flow(steps: dict[str, Any], variants: tuple[str, ...] = ("default",)) -> Flow:
    first = next(iter(steps))
    body = {name: {"start": first, "steps": steps} for name in variants}
    return Flow.model_validate({"id": "odd", "title": "Odd", "variants": body})


def test_labels_are_quoted_and_escaped() -> None:
    flow = _flow(
        {
            "hello": {
                "say": NASTY,
                "buttons": [{"label": 'Say "yes" | [now] #1 <i>', "goto": "bye"}],
            },
            "bye": {"handoff": 'reason "quoted" | {x}', "queue": "general"},
        }
    )
    text = mermaid(flow)
    diagram = parse(text)  # every line still has exactly the shape we write
    _, label, _ = diagram.nodes["default__hello"]
    assert label == (
        "say hello<br/>Say #quot;hi#quot; [x] {y} |a| #35;1; #lt;b#gt;b#lt;/b#gt; #amp; #96;t#96; "
        "{{ order }} 🎉"
    )
    assert (
        "default__hello",
        "Say #quot;yes#quot; | [now] #35;1 #lt;i#gt;",
        "default__bye",
    ) in diagram.edges
    assert "→ general: reason #quot;quoted#quot; | {x}" in diagram.nodes["default__bye"][1]
    assert "<b>" not in text and "\n  {{" not in text


def test_long_text_is_shortened_with_an_ellipsis() -> None:
    flow = _flow({"long": {"say": "word " * 40, "next": "end"}, "end": {"resolve": True}})
    _, label, _ = parse(mermaid(flow)).nodes["default__long"]
    excerpt = label.split("<br/>")[1]
    assert excerpt.endswith("…") and len(excerpt) <= 60


def test_condition_labels() -> None:
    cases = [
        ({"slot": "problem", "in": ["late", "damaged"]}, "problem in [late, damaged]"),
        ({"slot": "n", "present": False}, "n absent"),
        ({"slot": "n", "not_equals": "x"}, "n != x"),
        ({"slot": "n", "greater_than": 2}, "n #gt; 2"),
        ({"slot": "n", "less_than": 0.5}, "n #lt; 0.5"),
        ({"slot": "n", "matches": "^a|b$"}, "n matches ^a|b$"),
    ]
    branch = [{"when": when, "goto": "end"} for when, _ in cases]
    flow = _flow({"pick": {"branch": branch, "otherwise": "end"}, "end": {"resolve": True}})
    edges = parse(mermaid(flow)).edges
    for _, label in cases:
        assert ("default__pick", label, "default__end") in edges


def test_ids_stay_unique_when_variant_and_step_names_meet() -> None:
    flow = Flow.model_validate(
        {
            "id": "odd",
            "title": "Odd",
            "variants": {
                "a__b": {"start": "c", "steps": {"c": {"resolve": True}}},
                "a": {"start": "b__c", "steps": {"b__c": {"resolve": True}}},
            },
        }
    )
    diagram = parse(mermaid(flow))
    assert len(diagram.declared) == len(set(diagram.declared)) == 4
    assert ("a__START", None, "a__b__c_2") in diagram.edges


def test_missing_target_is_marked_not_invented() -> None:
    flow = Flow.model_validate(
        {
            "id": "odd",
            "title": "Odd",
            "variants": {"default": {"start": "a", "steps": {"a": {"goto": "nowhere"}}}},
        }
    )
    diagram = parse(mermaid(flow))
    assert diagram.nodes["default__nowhere"] == ("[", "missing step: nowhere", "missing")


def test_action_without_on_error_offers_a_person() -> None:
    flow = _flow({"run": {"action": "order_status", "next": "end"}, "end": {"resolve": True}})
    diagram = parse(mermaid(flow))
    assert ("default__run", "error", "default__PERSON") in diagram.edges
    assert diagram.nodes["default__PERSON"] == ("([", "offer a person", "handoff")


def test_every_kind_is_drawn() -> None:
    flow = _flow(
        {
            "s": {"say": "hi", "next": "a"},
            "a": {"ask": "q?", "slot": "x", "next": "b"},
            "b": {"branch": [{"when": {"slot": "x", "equals": 1}, "goto": "g"}], "otherwise": "g"},
            "g": {"goto": "c"},
            "c": {"action": "act", "next": "h", "on_error": "r"},
            "h": {"handoff": "why"},
            "r": {"resolve": True},
        }
    )
    nodes = parse(mermaid(flow)).nodes
    assert {k.value for k in StepKind} == {nodes[f"default__{s}"][1].split()[0] for s in "sabgchr"}
    assert nodes["default__h"][1] == "handoff h<br/>→ general: why"
    assert nodes["default__r"] == ("([", "resolve r", "resolved")


# ---- optional: the real Mermaid parser ------------------------------------------------

_PARSE_JS = """
const { JSDOM } = require("jsdom");
const dom = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = dom.window; globalThis.document = dom.window.document;
(async () => {
  const { default: mermaid } = await import("mermaid");
  mermaid.initialize({ startOnLoad: false });
  const texts = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const text of texts) await mermaid.parse(text);
})().catch((e) => { console.error(String(e.message ?? e)); process.exit(1); });
"""


@pytest.mark.skipif(
    not os.environ.get("MERMAID_PARSER_DIR") or shutil.which("node") is None,
    reason="set MERMAID_PARSER_DIR to a directory where `npm install mermaid jsdom` ran",
)
def test_real_mermaid_parser_accepts_the_diagrams() -> None:
    texts = [mermaid(load(flow_id)) for flow_id in sorted(p.stem for p in FLOWS.glob("*.yaml"))]
    texts.append(
        mermaid(_flow({"x": {"say": NASTY, "buttons": [{"label": NASTY[:60], "goto": "x"}]}}))
    )
    node = shutil.which("node")
    assert node is not None
    done = subprocess.run(
        [node, "-e", _PARSE_JS],
        input=json.dumps(texts),
        cwd=os.environ["MERMAID_PARSER_DIR"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
