"""The loader reports every broken file as path:line:column with a readable message."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import NamedTuple

import pytest

from bot.diagnostics import Diagnostic, Severity
from bot.engine.catalog import Catalog
from bot.engine.loader import load_catalog, load_files
from bot.engine.schema import DEFAULT_VARIANT
from bot.engine.source_map import SourceMap

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
VALID = FIXTURES / "valid"
BROKEN = FIXTURES / "broken"


def load_case(case: str) -> tuple[Path, Catalog | None, list[Diagnostic]]:
    """Load a broken fixture; a case without flows/ or personas/ borrows the valid ones."""
    root = BROKEN / case
    flows = root / "flows" if (root / "flows").is_dir() else VALID / "flows"
    personas = root / "personas" if (root / "personas").is_dir() else VALID / "personas"
    catalog, diagnostics = load_catalog(flows, personas)
    return root, catalog, diagnostics


def errors(diagnostics: list[Diagnostic]) -> list[Diagnostic]:
    return [d for d in diagnostics if d.severity is Severity.ERROR]


class Expected(NamedTuple):
    file: str
    line: int
    column: int
    words: tuple[str, ...]
    flow: str | None = None
    step: str | None = None


CASES: dict[str, Expected] = {
    # loading and schema
    "yaml_syntax": Expected(
        "flows/demo.yaml", 8, 18, ("YAML syntax error", "mapping values are not allowed", "quotes")
    ),
    "not_a_mapping": Expected("flows/demo.yaml", 1, 1, ("expected a mapping", "got a list")),
    "empty_file": Expected("flows/demo.yaml", 1, 1, ("file is empty",)),
    "unknown_key": Expected(
        "flows/where_is_my_order.yaml",
        12,
        9,
        ("unknown key 'nxt' — did you mean 'next'?",),
        "where_is_my_order",
        "ask_order",
    ),
    "type_error": Expected(
        "flows/demo.yaml", 3, 7, ("menu: expected true/false, got 'maybe'",), "demo"
    ),
    "value_error": Expected(
        "flows/demo.yaml",
        9,
        15,
        ("next:", "'Done' is not a valid id", "lowercase"),
        "demo",
        "hello",
    ),
    "persona_value_error": Expected(
        "personas/guided.yaml", 4, 14, ("max_stuck: must be at most 10, got 12",)
    ),
    "duplicate_flow_id": Expected(
        "flows/b_second.yaml", 2, 5, ("duplicate flow id 'demo'", "a_first.yaml"), "demo"
    ),
    "duplicate_persona_id": Expected(
        "personas/self_serve.yaml", 1, 5, ("duplicate persona id 'guided'", "guided.yaml")
    ),
    "duplicate_key": Expected("flows/demo.yaml", 10, 9, ("duplicate key 'say'",)),
    # semantic checks
    "missing_default": Expected("flows/demo.yaml", 3, 1, ("no `default` variant",), "demo"),
    "unknown_persona": Expected(
        "flows/demo.yaml", 9, 3, ("unknown persona 'gided' — did you mean 'guided'?",), "demo"
    ),
    "unknown_step": Expected(
        "flows/reset_password.yaml",
        11,
        19,
        ("unknown step 'dne' — did you mean 'done'?",),
        "reset_password",
        "link",
    ),
    "unknown_flow": Expected(
        "flows/demo.yaml",
        9,
        22,
        ("unknown flow 'reset_pasword' — did you mean 'reset_password'?",),
        "demo",
        "hello",
    ),
    "unknown_flow_step": Expected(
        "flows/demo.yaml",
        10,
        17,
        ("flow 'other' has no step 'lnk'", "did you mean 'link'?"),
        "demo",
        "hello",
    ),
    "unreachable": Expected(
        "flows/demo.yaml",
        12,
        7,
        ("step 'forgotten' is unreachable from start 'hello'",),
        "demo",
        "forgotten",
    ),
    "dead_end": Expected(
        "flows/demo.yaml", 11, 7, ("dead end", "add `otherwise:`"), "demo", "route"
    ),
    "ask_without_slot": Expected(
        "flows/demo.yaml", 7, 7, ("`ask` step needs `slot:`",), "demo", "question"
    ),
    "validate_without_slot": Expected(
        "flows/demo.yaml", 12, 9, ("`validate:` needs `slot:`",), "demo", "question"
    ),
    "expect_with_validate": Expected(
        "flows/demo.yaml",
        10,
        9,
        ("`validate:` checks typed answers; this step expects a photo",),
        "demo",
        "photo",
    ),
    "bad_regex": Expected(
        "flows/demo.yaml",
        12,
        20,
        ("invalid regular expression", "unterminated character set"),
        "demo",
        "ask_order",
    ),
    "one_of_without_options": Expected(
        "flows/demo.yaml", 11, 17, ("`type: one_of` needs `options:`",), "demo", "ask_size"
    ),
    "slot_on_say": Expected(
        "flows/demo.yaml", 9, 9, ("`say` step stores no answer",), "demo", "hello"
    ),
    "bad_template": Expected(
        "flows/demo.yaml",
        12,
        14,
        ("unknown template variable 'order_numbr'", "order_number"),
        "demo",
        "answer",
    ),
    "two_default_personas": Expected(
        "personas/self_serve.yaml", 3, 1, ("more than one persona has `default: true`", "guided")
    ),
    "unknown_offer_persona": Expected(
        "personas/self_serve.yaml", 5, 18, ("unknown persona 'gided' — did you mean 'guided'?",)
    ),
}


def test_every_broken_fixture_has_a_case() -> None:
    assert sorted(p.name for p in BROKEN.iterdir() if p.is_dir()) == sorted(CASES)


@pytest.mark.parametrize("case", sorted(CASES))
def test_broken_fixture_reports_one_precise_error(case: str) -> None:
    expected = CASES[case]
    root, catalog, diagnostics = load_case(case)

    assert catalog is None
    found = errors(diagnostics)
    assert len(found) == 1, "\n".join(map(str, diagnostics))
    problem = found[0]
    assert Path(problem.path).relative_to(root).as_posix() == expected.file
    assert (problem.line, problem.column) == (expected.line, expected.column), str(problem)
    for words in expected.words:
        assert words in problem.message
    assert (problem.flow, problem.step) == (expected.flow, expected.step)


def test_diagnostic_prints_like_a_compiler() -> None:
    root, _catalog, diagnostics = load_case("unknown_key")
    assert str(diagnostics[0]) == (
        f"{root}/flows/where_is_my_order.yaml:12:9: unknown key 'nxt' — did you mean 'next'? "
        "(flow where_is_my_order, step ask_order)"
    )


def test_valid_fixture_loads_without_diagnostics() -> None:
    catalog, diagnostics = load_catalog(VALID / "flows", VALID / "personas")

    assert diagnostics == []
    assert catalog is not None
    assert sorted(catalog.flows) == ["reset_password", "where_is_my_order"]
    assert sorted(catalog.personas) == ["guided", "self_serve"]
    assert catalog.default_persona() is not None
    assert catalog.default_persona().id == "self_serve"  # type: ignore[union-attr]
    link = catalog.flows["reset_password"].variants[DEFAULT_VARIANT].steps["link"]
    assert link.say == "Reset it here: https://shop.example/reset"


def test_version_is_a_short_hash_of_the_file_bytes() -> None:
    catalog, _ = load_catalog(VALID / "flows", VALID / "personas")
    assert catalog is not None
    raw = (VALID / "flows" / "reset_password.yaml").read_bytes()
    version = hashlib.sha256(raw).hexdigest()[:12]
    assert catalog.versions["reset_password"] == version
    assert catalog.archive[("reset_password", version)] is catalog.flows["reset_password"]


def test_archive_keeps_previous_versions(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(VALID / "flows", flows)
    first, _ = load_catalog(flows, VALID / "personas")
    assert first is not None
    path = flows / "reset_password.yaml"
    path.write_text(path.read_text().replace("Great!", "Glad it worked!"))

    second, _ = load_catalog(flows, VALID / "personas", previous=first)

    assert second is not None
    old_version = first.versions["reset_password"]
    assert second.versions["reset_password"] != old_version
    assert second.flow("reset_password", old_version) is first.flows["reset_password"]
    assert len(second.archive) == 3


def test_warnings_alone_still_give_a_catalog(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    shutil.copytree(VALID / "flows", flows)
    (flows / "hidden.yaml").write_text(
        "id: hidden\ntitle: Hidden\nmenu: false\n"
        "variants:\n  default:\n    start: done\n    steps:\n      done:\n        resolve: true\n"
    )

    catalog, diagnostics = load_catalog(flows, VALID / "personas")

    assert catalog is not None and "hidden" in catalog.flows
    assert [(d.severity, d.line, d.column) for d in diagnostics] == [(Severity.WARNING, 3, 1)]
    assert "customers cannot reach this flow" in diagnostics[0].message


def test_missing_directory_is_a_diagnostic(tmp_path: Path) -> None:
    catalog, diagnostics = load_catalog(tmp_path / "nope", VALID / "personas")
    assert catalog is None
    assert diagnostics[0].path == str(tmp_path / "nope")
    assert "directory not found" in diagnostics[0].message


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("id: x\n\ttitle: y\n", 2, "tabs"),
        ("id: [x\n", 2, "YAML syntax error"),
        ("a: 1\n---\nb: 2\n", 2, "YAML syntax error"),
        ("id: !!int nope\n", 1, "cannot read YAML value"),
        ("just text\n", 1, "got 'just text'"),
        ("a: &x {b: *x}\n", 1, ""),
    ],
)
def test_odd_yaml_never_raises(tmp_path: Path, text: str, line: int, words: str) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "odd.yml").write_text(text)

    catalog, diagnostics = load_catalog(flows, VALID / "personas")

    assert catalog is None
    assert diagnostics[0].line == line
    assert words in diagnostics[0].message


def test_union_errors_become_one_readable_message(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "demo.yaml").write_text(
        "id: demo\ntitle: Demo\nvariants:\n  default:\n    start: a\n    steps:\n"
        "      a:\n        say: hi\n        next: 5\n"
        "      b:\n        say: hi\n        next: {flow: demo, stp: a}\n"
    )

    _catalog, diagnostics = load_catalog(flows, VALID / "personas")

    assert [(d.line, d.column, d.step) for d in diagnostics] == [(9, 15, "a"), (12, 28, "b")]
    assert diagnostics[0].message == (
        "next: expected a step id or a mapping like {flow: other_flow}, got 5"
    )
    assert diagnostics[1].message == "unknown key 'stp' — did you mean 'step'?"


def test_source_map_points_at_steps_and_falls_back_to_ancestors() -> None:
    files = load_files(VALID / "flows", VALID / "personas")
    source = files.flow_sources["reset_password"]
    step = ("variants", "default", "steps", "link")

    assert isinstance(source, SourceMap)
    assert source.position(step) == (8, 7)
    assert source.value_position((*step, "say")) == (9, 14)
    assert source.position((*step, "buttons", 1, "goto")) == (14, 13)
    assert source.position((*step, "no_such_key", 3)) == (8, 7)
    assert source.position(()) == (1, 1)


def test_button_url_templates_are_checked(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "x.yaml").write_text(
        "id: x\ntitle: X\ntriggers: [x]\nvariants:\n  default:\n    start: a\n    steps:\n"
        "      a:\n        say: hi\n        buttons:\n"
        '          - {label: Track, url: "https://t/{{ ordr }}"}\n'
        "          - {label: ok, goto: b}\n"
        "      b:\n        resolve: true\n",
        encoding="utf-8",
    )
    catalog, diagnostics = load_catalog(flows, FIXTURES / "valid" / "personas")
    assert catalog is None
    [problem] = errors(diagnostics)
    assert (problem.line, problem.step) == (11, "a")
    assert "unknown template variable 'ordr'" in problem.message
