"""The shipped flows' routing, measured on flows/eval/ and held at what was measured.

The figures (README "How routing decides", docs/ROUTING.md) minus a small margin: a change
to the router, the thresholds or the shipped triggers that makes routing worse fails
here. dev.jsonl is the half the thresholds were tuned on; test.jsonl is only reported.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.engine.catalog import Catalog
from bot.errors import ConfigError
from bot.scripted.routing_eval import evaluate, load_cases, outcome_of
from tests.test_cli import ROOT, supportbot

EVAL = ROOT / "flows" / "eval"


@pytest.mark.parametrize(
    ("half", "min_accuracy", "max_wrong", "min_declined"),
    [("test", 0.91, 0.035, 0.86), ("dev", 0.96, 0.035, 0.83)],
)
def test_flows_eval_holds_the_measured_figures(
    half: str, min_accuracy: float, max_wrong: float, min_declined: float
) -> None:
    result = supportbot(
        "flows", "eval", str(EVAL / f"{half}.jsonl"),
        "--min-accuracy", str(min_accuracy),
        "--max-wrong", str(max_wrong),
        "--min-declined", str(min_declined),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started the right flow" in result.stdout


def test_flows_eval_fails_below_a_threshold_and_says_which() -> None:
    result = supportbot("flows", "eval", str(EVAL / "test.jsonl"), "--min-accuracy", "0.999")
    assert result.returncode == 1
    assert "accuracy" in result.stderr and "below --min-accuracy 99.9%" in result.stderr
    assert "confusions (expected → what the customer got)" in result.stdout


def test_flows_eval_names_the_line_of_a_bad_case(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    good = json.dumps({"text": "refund pls", "expect": "return_refund"})
    cases.write_text(f"{good}\n{{not json\n")
    result = supportbot("flows", "eval", str(cases))
    assert result.returncode == 1
    assert f"{cases}:2: not JSON" in result.stderr


def test_an_unknown_flow_in_a_case_is_refused(tmp_path: Path, shipped_catalog: Catalog) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text(json.dumps({"text": "hi", "expect": "gift_cards"}) + "\n")
    with pytest.raises(ConfigError, match=r"cases.jsonl:1: unknown flow 'gift_cards'"):
        load_cases(cases, shipped_catalog)


def test_flows_explain_shows_the_decision_and_the_candidates() -> None:
    result = supportbot("flows", "explain", "money back for my order pls")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "decision: start return_refund"
    assert "probability" in lines[2] and "similarity" in lines[2]
    assert lines[3].split()[0] == "return_refund"


def test_eval_plays_messages_through_the_real_engine(shipped_catalog: Catalog) -> None:
    """The outcome is what the customer would get, commands included."""
    assert outcome_of("i want my money back", shipped_catalog).started == "return_refund"
    assert outcome_of("agnet pls", shipped_catalog).started == "(person)"
    assert outcome_of("hello", shipped_catalog).started is None
    cases = load_cases(EVAL / "dev.jsonl", shipped_catalog)
    assert len(cases) >= 150
    assert evaluate(cases[:20], shipped_catalog).cases == 20
