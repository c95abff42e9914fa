"""Answers inside sentences: the value is found wherever the customer put it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.engine.answers import check_answer
from bot.engine.dialogue.words import yes_or_stuck
from bot.engine.loader import load_catalog
from bot.engine.matching import normalize
from bot.engine.schema import Validation
from bot.engine.understanding.values import find_values

ROOT = Path(__file__).resolve().parents[2]
ORDER = Validation.model_validate(
    {
        "type": "regex",
        "pattern": r"(?i)(?<![\w-])(?:ws[\s#-]*)?(?P<digits>\d{5})(?!\d)",
        "normalize": "WS-{{ digits }}",
    }
)


@pytest.mark.parametrize("text", ["its ws10001", "ws 10001", "#WS-10001", "10001", "WS-10001"])
def test_order_numbers_written_any_way_are_stored_in_one_form(text: str) -> None:
    assert check_answer(text, ORDER).value == "WS-10001"


def test_two_values_in_one_answer_are_a_question_not_a_guess() -> None:
    verdict = check_answer("WS-10001 or maybe WS-10002?", ORDER)
    assert (verdict.valid, verdict.choices) == (False, ("WS-10001", "WS-10002"))
    assert check_answer("ws10001, yes WS-10001", ORDER).value == "WS-10001"  # same value twice


def test_no_value_is_refused_with_the_reason() -> None:
    verdict = check_answer("my order 123", ORDER)
    assert not verdict.valid and verdict.reason_key == "invalid_answer"
    assert find_values("ws-100012", ORDER) == ()  # six digits is no order number


@pytest.mark.parametrize(
    ("text", "value"),
    [("about 3", 3), ("three", 3), ("49,90", 49.9), ("1,000", 1000), ("it was 12.5 €", 12.5)],
)
def test_numbers_are_found_in_words_and_sentences(text: str, value: float) -> None:
    assert check_answer(text, Validation.model_validate({"type": "number"})).value == value


def test_numbers_outside_the_limits_do_not_count() -> None:
    amount = Validation.model_validate({"type": "number", "min": 1, "max": 100})
    assert check_answer("order 12345, i paid 49", amount).value == 49
    assert check_answer("500", amount).reason_key == "number_too_large"
    assert check_answer("2 or 3", amount).choices == (2, 3)


def test_an_email_is_found_in_a_sentence() -> None:
    email = Validation.model_validate({"type": "email"})
    assert check_answer("my email is ann@example.com.", email).value == "ann@example.com"
    assert check_answer("ann at example dot com", email).reason_key == "invalid_email"


def test_an_option_is_found_in_a_sentence() -> None:
    colour = Validation.model_validate({"type": "one_of", "options": ["red", "dark green"]})
    assert check_answer("the dark green one please", colour).value == "dark green"
    assert check_answer("Red", colour).value == "red"
    assert check_answer("yellow", colour).reason_key == "invalid_one_of"


@pytest.mark.parametrize(
    ("text", "done"),
    [
        ("yep got it", True),
        ("it works now!", True),
        ("nope", False),
        ("not yet", False),
        ("still doesn't work", False),
        ("yes but it still fails", False),
        ("what do you mean", None),
    ],
)
def test_checkpoint_answers_in_ordinary_words(text: str, done: bool | None) -> None:
    assert yes_or_stuck(normalize(text)) is done


def test_flows_check_names_an_unknown_group_in_normalize(tmp_path: Path) -> None:
    flows, personas = tmp_path / "flows", tmp_path / "personas"
    shutil.copytree(ROOT / "flows", flows, ignore=shutil.ignore_patterns("tests", "eval"))
    shutil.copytree(ROOT / "personas", personas)
    path = flows / "where_is_my_order.yaml"
    text = path.read_text()
    path.write_text(text.replace("{{ digits }}", "{{ digitz }}", 1))
    lines = path.read_text().splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "digitz" in text)
    catalog, diagnostics = load_catalog(flows, personas)
    assert catalog is None
    assert [(d.line, d.message) for d in diagnostics] == [
        (line, "unknown template variable 'digitz' (known: digits, value)")
    ]
