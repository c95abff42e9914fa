"""Read flow and persona files into a :class:`Catalog`, turning every problem into a Diagnostic.

Operators edit these files by hand, so each problem must name the file, line and column
the way a compiler does, never a traceback. ruamel's round-trip loader keeps the position
of every key and value; we copy the YAML into plain Python data, remember those positions
in a :class:`SourceMap`, validate against the pydantic models in :mod:`bot.engine.schema`,
and map each pydantic error back to a position.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from types import MappingProxyType, UnionType
from typing import Annotated, Any, Generic, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError

from bot.diagnostics import Diagnostic
from bot.engine.catalog import Catalog
from bot.engine.problem_wording import describe, did_you_mean
from bot.engine.schema import ID_PATTERN, Flow, Persona
from bot.engine.source_map import DataPath, LoadedFiles, Position, SourceMap
from bot.engine.validate import check_files

YAML_SUFFIXES = (".yaml", ".yml")
_MAX_NODES = 200_000  # guards against alias bombs: a flow file is never this big

M = TypeVar("M", Flow, Persona)


def load_catalog(
    flows_dir: Path, personas_dir: Path, previous: Catalog | None = None
) -> tuple[Catalog | None, list[Diagnostic]]:
    """Load and check every file; a Catalog only when there is no error (warnings are fine).

    The new catalog's ``archive`` keeps every flow version of ``previous`` so
    conversations started on an older version can finish on it.
    """
    files = load_files(flows_dir, personas_dir)
    diagnostics = list(files.diagnostics)
    if files.has_errors:
        return None, diagnostics
    archive = dict(previous.archive) if previous is not None else {}
    for flow_id, flow in files.flows.items():
        archive[(flow_id, files.versions[flow_id])] = flow
    catalog = Catalog(
        flows=MappingProxyType(dict(files.flows)),
        versions=MappingProxyType(dict(files.versions)),
        personas=MappingProxyType(dict(files.personas)),
        archive=MappingProxyType(archive),
    )
    return catalog, diagnostics


def load_files(flows_dir: Path, personas_dir: Path) -> LoadedFiles:
    """Parse, schema-check and semantically check both directories; never raises."""
    flows = _load_dir(flows_dir, Flow)
    personas = _load_dir(personas_dir, Persona)
    files = LoadedFiles(
        flows={i: a.value for i, a in flows.accepted.items()},
        versions={i: a.digest for i, a in flows.accepted.items()},
        personas={i: a.value for i, a in personas.accepted.items()},
        flow_sources={i: a.source for i, a in flows.accepted.items()},
        persona_sources={i: a.source for i, a in personas.accepted.items()},
        invalid_flow_ids=frozenset(flows.invalid_ids),
        invalid_persona_ids=frozenset(personas.invalid_ids),
    )
    found = [*flows.diagnostics, *personas.diagnostics, *check_files(files)]
    found.sort(key=lambda d: (d.path, d.line, d.column))
    return replace(files, diagnostics=tuple(found))


# --- one directory ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Accepted(Generic[M]):
    value: M
    source: SourceMap
    digest: str


@dataclass(slots=True)
class _DirResult(Generic[M]):
    accepted: dict[str, _Accepted[M]] = field(default_factory=dict)
    invalid_ids: set[str] = field(default_factory=set)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def _kind(model: type[BaseModel]) -> str:
    return "flow" if model is Flow else "persona"


def _load_dir(directory: Path, model: type[M]) -> _DirResult[M]:
    """Every YAML file of one directory, validated as ``model``; duplicate ids rejected."""
    result: _DirResult[M] = _DirResult()
    if not directory.is_dir():
        message = f"{_kind(model)} directory not found (create it or fix the setting)"
        result.diagnostics.append(Diagnostic(str(directory), 1, 1, message))
        return result
    for path in _yaml_files(directory):
        parsed, problems = _parse_file(path)
        result.diagnostics.extend(problems)
        if parsed is None:
            continue
        value, problems = _validate(model, parsed)
        result.diagnostics.extend(problems)
        if value is None:
            raw_id = parsed.data.get("id")
            if isinstance(raw_id, str):
                result.invalid_ids.add(raw_id)
            continue
        _accept(result, _Accepted(value, parsed.source, parsed.digest))
    return result


def _yaml_files(directory: Path) -> list[Path]:
    """The directory's YAML files in name order; hidden files (editor locks) are skipped."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in YAML_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def _accept(result: _DirResult[M], accepted: _Accepted[M]) -> None:
    """Add a validated file unless an earlier file already uses its id."""
    value_id = accepted.value.id
    first = result.accepted.get(value_id)
    if first is None:
        result.accepted[value_id] = accepted
        return
    kind = _kind(type(accepted.value))
    message = f"duplicate {kind} id '{value_id}' — already defined in {first.source.path}"
    flow = value_id if kind == "flow" else None
    result.diagnostics.append(
        accepted.source.diagnostic(("id",), message, flow=flow, at_value=True)
    )


# --- parsing ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Parsed:
    data: dict[str | int, object]
    source: SourceMap
    digest: str


def _parse_file(path: Path) -> tuple[_Parsed | None, list[Diagnostic]]:
    """Read one file into plain data plus positions, or say why it cannot be read."""
    shown = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return None, [Diagnostic(shown, 1, 1, f"cannot read file: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Diagnostic(shown, line, 1, "file is not UTF-8 text")]
    node, problem = _load_yaml(shown, text)
    if problem is not None:
        return None, [problem]
    if node is None:
        return None, [Diagnostic(shown, 1, 1, "file is empty; expected a mapping (id: ...)")]
    if not isinstance(node, dict):
        message = f"expected a mapping at the top of the file (id: ...), got {describe(node)}"
        return None, [Diagnostic(shown, 1, 1, message)]
    recorder = _Recorder()
    data = recorder.plain_mapping(node, ())
    source = SourceMap(shown, recorder.keys, recorder.values)
    problems = [source.diagnostic(p, m) for p, m in recorder.problems]
    if problems:
        return None, problems
    digest = hashlib.sha256(raw).hexdigest()[:12]
    return _Parsed(data, source, digest), []


def _load_yaml(shown: str, text: str) -> tuple[Any, Diagnostic | None]:
    """ruamel's round-trip tree of ``text``, or the syntax problem as a Diagnostic."""
    try:
        return YAML(typ="rt").load(text), None
    except DuplicateKeyError as exc:
        return None, _marked(shown, exc, _duplicate_key_message(exc))
    except MarkedYAMLError as exc:
        return None, _marked(shown, exc, _syntax_message(exc))
    except YAMLError as exc:
        return None, Diagnostic(shown, 1, 1, f"YAML syntax error: {exc}")
    except (ValueError, TypeError, RecursionError) as exc:  # e.g. `!!int foo`, 2020-13-45
        return None, Diagnostic(shown, 1, 1, f"cannot read YAML value: {exc}")


def _marked(shown: str, exc: MarkedYAMLError, message: str) -> Diagnostic:
    mark = exc.problem_mark or exc.context_mark
    if mark is None:
        return Diagnostic(shown, 1, 1, message)
    return Diagnostic(shown, int(mark.line) + 1, int(mark.column) + 1, message)


_DUPLICATE_KEY = re.compile(r'duplicate key "(?P<key>.*?)" with value')


def _duplicate_key_message(exc: DuplicateKeyError) -> str:
    match = _DUPLICATE_KEY.search(str(exc.problem or ""))
    key = f" '{match.group('key')}'" if match else ""
    return f"duplicate key{key}: each key may appear only once in a mapping"


def _syntax_message(exc: MarkedYAMLError) -> str:
    message = f"YAML syntax error: {exc.problem or exc.context or 'invalid YAML'}"
    if exc.context and exc.problem and exc.context_mark is not None:
        message += f" ({exc.context} started at line {int(exc.context_mark.line) + 1})"
    problem = str(exc.problem)
    if "'\\t'" in problem:
        message += "; indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        message += "; put text that contains ': ' in quotes"
    return message


class _Recorder:
    """Copies ruamel's tree into plain data, recording 1-based positions on the way."""

    def __init__(self) -> None:
        self.keys: dict[DataPath, Position] = {}
        self.values: dict[DataPath, Position] = {}
        self.problems: list[tuple[DataPath, str]] = []
        self._active: set[int] = set()
        self._nodes = 0

    def plain_mapping(self, node: Any, path: DataPath) -> dict[str | int, object]:
        if not path:
            lc = getattr(node, "lc", None)
            self.keys[()] = (int(getattr(lc, "line", 0)) + 1, int(getattr(lc, "col", 0)) + 1)
        marks = _marks(node)
        out: dict[str | int, object] = {}
        for raw_key, raw_value in node.items():
            key = _plain_key(raw_key)
            child = (*path, key)
            mark = marks.get(raw_key)
            if mark is not None and len(mark) >= 4:
                self.keys[child] = (int(mark[0]) + 1, int(mark[1]) + 1)
                if not isinstance(raw_value, dict | list):
                    self.values[child] = (int(mark[2]) + 1, int(mark[3]) + 1)
            out[key] = self.plain(raw_value, child)
        return out

    def plain_sequence(self, node: Any, path: DataPath) -> list[object]:
        marks = _marks(node)
        out: list[object] = []
        for index, item in enumerate(node):
            child = (*path, index)
            mark = marks.get(index)
            if mark is not None and len(mark) >= 2:
                self.keys[child] = self.values[child] = (int(mark[0]) + 1, int(mark[1]) + 1)
            out.append(self.plain(item, child))
        return out

    def plain(self, node: Any, path: DataPath) -> object:
        """Plain Python value of ``node``; cycles and alias bombs become problems."""
        self._nodes += 1
        if self._nodes > _MAX_NODES:
            if self._nodes == _MAX_NODES + 1:
                self.problems.append((path, "file is too large (too many values or aliases)"))
            return None
        if not isinstance(node, dict | list):
            return _plain_scalar(node)
        if id(node) in self._active:
            self.problems.append((path, "an alias refers to its own parent (endless nesting)"))
            return None
        self._active.add(id(node))
        try:
            if isinstance(node, dict):
                return self.plain_mapping(node, path)
            return self.plain_sequence(node, path)
        finally:
            self._active.discard(id(node))


def _marks(node: Any) -> dict[Any, Any]:
    """ruamel's position table of a mapping or sequence (empty when it has none)."""
    data = getattr(getattr(node, "lc", None), "data", None)
    return data if isinstance(data, dict) else {}


def _plain_key(key: Any) -> str | int:
    if isinstance(key, str):
        return str(key)
    if isinstance(key, int):
        return int(key)
    return str(key)


def _plain_scalar(node: Any) -> object:
    if node is None or isinstance(node, bool):
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, date):
        return node
    value = getattr(node, "value", None)  # TaggedScalar: an unknown `!tag`
    return str(value) if value is not None else str(node)


# --- schema validation --------------------------------------------------------------


def _validate(model: type[M], parsed: _Parsed) -> tuple[M | None, list[Diagnostic]]:
    """The model, or a readable Diagnostic per pydantic error."""
    try:
        return model.model_validate(parsed.data), []
    except ValidationError as exc:
        issues = _merge_union_issues([_issue(parsed.data, e) for e in exc.errors()])
    raw_id = parsed.data.get("id")
    flow_id = raw_id if model is Flow and isinstance(raw_id, str) else None
    return None, [_issue_diagnostic(model, parsed.source, i, flow_id) for i in issues]


@dataclass(frozen=True, slots=True)
class _Issue:
    path: DataPath
    """The error's location in the data (union tags and missing keys stripped)."""
    type: str
    message: str
    input: object
    ctx: Mapping[str, object]
    tagged: bool
    """The loc named a union member that is not in the data (``str``, ``FlowTarget``)."""
    key_error: bool
    """The error is about a mapping key, not its value (pydantic's ``[key]``)."""
    missing: str | int | None = None
    """The required key that is absent (``missing`` errors)."""


_ALIASES: Mapping[str, str] = {"validate_": "validate", "in_": "in"}


def _issue(data: object, error: ErrorDetails) -> _Issue:
    path, tags = _locate(data, error["loc"])
    missing = tags.pop() if error["type"] == "missing" and tags else None
    return _Issue(
        path=path,
        type=error["type"],
        message=error["msg"],
        input=error.get("input"),
        ctx=error.get("ctx") or {},
        tagged=any(t != "[key]" for t in tags),
        key_error="[key]" in tags or error["type"] == "invalid_key",
        missing=missing,
    )


def _alias(segment: str | int) -> str | int:
    return _ALIASES.get(segment, segment) if isinstance(segment, str) else segment


def _locate(data: object, loc: tuple[str | int, ...]) -> tuple[DataPath, list[str | int]]:
    """Split a pydantic ``loc`` into the path that exists in the data and the other segments."""
    node = data
    path: list[str | int] = []
    tags: list[str | int] = []
    for raw in loc:
        segment = _alias(raw)
        child = _child(node, segment)
        if child is _ABSENT:
            tags.append(segment)
        else:
            node = child
            path.append(segment)
    return tuple(path), tags


_ABSENT = object()


def _child(node: object, segment: str | int) -> object:
    """``node[segment]`` if the data has it, else ``_ABSENT``."""
    if isinstance(node, dict):
        return node.get(segment, _ABSENT)
    if isinstance(node, list) and isinstance(segment, int) and 0 <= segment < len(node):
        return node[segment]
    return _ABSENT


_TYPE_ERRORS: Mapping[str, str] = {
    "string_type": "text",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true/false",
    "bool_parsing": "true/false",
    "dict_type": "a mapping (key: value)",
    "model_type": "a mapping (key: value)",
    "model_attributes_type": "a mapping (key: value)",
    "list_type": "a list",
    "none_required": "nothing",
}


def _merge_union_issues(issues: list[_Issue]) -> list[_Issue]:
    """One issue per problem: a union reports a type error per member; keep the telling one.

    A type mismatch from one member is noise when another member got further (an error
    at the same place or deeper that is not a type mismatch); the remaining type
    mismatches at one place become a single "expected X or Y" issue.
    """
    real = [i for i in issues if i.type not in _TYPE_ERRORS]
    kept = [
        i
        for i in issues
        if i.type not in _TYPE_ERRORS
        or not i.tagged
        or not any(r.path[: len(i.path)] == i.path for r in real)
    ]
    merged: list[_Issue] = []
    groups: dict[DataPath, list[_Issue]] = {}
    for issue in kept:
        if issue.type in _TYPE_ERRORS and issue.tagged:
            if issue.path not in groups:
                merged.append(issue)
            groups.setdefault(issue.path, []).append(issue)
        else:
            merged.append(issue)
    return [
        _with_message(i, _expected_message(_expected_phrases(groups[i.path]), i.input))
        if i.path in groups
        else i
        for i in merged
    ]


def _expected_phrases(group: list[_Issue]) -> list[str]:
    """What the union members wanted, in words: a Target reads "a step id or {flow: ...}"."""
    is_target = any(i.ctx.get("class_name") == "FlowTarget" for i in group)
    phrases: list[str] = []
    for issue in group:
        if is_target and issue.type == "string_type":
            phrase = "a step id"
        elif issue.ctx.get("class_name") == "FlowTarget":
            phrase = "a mapping like {flow: other_flow}"
        else:
            phrase = _TYPE_ERRORS[issue.type]
        if phrase not in phrases:
            phrases.append(phrase)
    return phrases


def _expected_message(phrases: list[str], value: object) -> str:
    wanted = phrases[0] if len(phrases) == 1 else ", ".join(phrases[:-1]) + " or " + phrases[-1]
    return f"expected {wanted}, got {describe(value)}"


def _with_message(issue: _Issue, message: str) -> _Issue:
    return _Issue(issue.path, "merged", message, issue.input, {}, False, False)


_AT_KEY = frozenset({"extra_forbidden", "missing", "value_error", "invalid_key"})


def _issue_diagnostic(
    model: type[BaseModel], source: SourceMap, issue: _Issue, flow_id: str | None
) -> Diagnostic:
    """Place one issue: unknown keys and missing keys at the key, bad values at the value."""
    at_value = issue.type not in _AT_KEY and not issue.key_error
    message = _readable(model, issue)
    return source.diagnostic(
        issue.path, message, flow=flow_id, step=_step_of(issue.path), at_value=at_value
    )


def _step_of(path: DataPath) -> str | None:
    if len(path) >= 4 and path[0] == "variants" and path[2] == "steps":
        return str(path[3])
    return None


def _readable(model: type[BaseModel], issue: _Issue) -> str:
    """Pydantic's message rewritten for someone editing YAML."""
    if issue.type == "extra_forbidden":
        return _unknown_key_message(model, issue.path)
    if issue.type == "missing":
        return f"missing required key '{issue.missing}'"
    text = _value_message(issue)
    if issue.key_error:
        return f"invalid key: {text}"
    label = _field_label(model, issue.path)
    return f"{label}: {text}" if label and issue.type != "value_error" else text


def _value_message(issue: _Issue) -> str:
    ctx, value = issue.ctx, issue.input
    if issue.type == "merged":
        return issue.message
    if issue.type in _TYPE_ERRORS:
        return _expected_message([_TYPE_ERRORS[issue.type]], value)
    if issue.type == "string_pattern_mismatch":
        if ctx.get("pattern") == ID_PATTERN:
            return (
                f"{describe(value)} is not a valid id: use lowercase letters, digits "
                "and _, starting with a letter"
            )
        return f"{describe(value)} does not match the pattern {ctx.get('pattern')}"
    if issue.type == "string_too_short":
        return "must not be empty"
    if issue.type == "string_too_long":
        return f"is too long ({_length(value)} characters, at most {ctx.get('max_length')})"
    if issue.type in {"greater_than_equal", "greater_than"}:
        bound = ctx.get("ge", ctx.get("gt"))
        return f"must be at least {bound}, got {describe(value)}"
    if issue.type in {"less_than_equal", "less_than"}:
        bound = ctx.get("le", ctx.get("lt"))
        return f"must be at most {bound}, got {describe(value)}"
    if issue.type in {"enum", "literal_error"}:
        return f"{describe(value)} is not one of {ctx.get('expected')}"
    if issue.type == "value_error":
        return issue.message.removeprefix("Value error, ") + _empty_keys_hint(value)
    if issue.type == "invalid_key":
        return _expected_message(["text"], value)
    return issue.message


def _empty_keys_hint(value: object) -> str:
    """Point out keys written without a value: ``say:`` alone reads as "no say"."""
    if not isinstance(value, dict):
        return ""
    empty = [f"`{k}:`" for k, v in value.items() if v is None]
    return f" — {', '.join(empty)} has no value" if empty else ""


def _length(value: object) -> int:
    return len(value) if isinstance(value, str) else 0


def _unknown_key_message(model: type[BaseModel], path: DataPath) -> str:
    key = path[-1] if path else "?"
    allowed = _allowed_keys(_model_at(model, path[:-1]))
    hint = did_you_mean(str(key), allowed)
    if hint:
        return f"unknown key '{key}'{hint}"
    listing = f" (allowed: {', '.join(allowed)})" if allowed else ""
    return f"unknown key '{key}'{listing}"


def _allowed_keys(model: type[BaseModel] | None) -> list[str]:
    if model is None:
        return []
    return [info.alias or name for name, info in model.model_fields.items()]


def _field_label(model: type[BaseModel], path: DataPath) -> str | None:
    """The key name to prefix a value message with, when the path ends at a model field."""
    if not path or not isinstance(path[-1], str):
        return None
    parent = _model_at(model, path[:-1])
    return path[-1] if path[-1] in _allowed_keys(parent) else None


def _model_at(root: type[BaseModel], path: DataPath) -> type[BaseModel] | None:
    """The model class describing the mapping at ``path`` (first model of a union)."""
    current: object = root
    for segment in path:
        found = _descend(current, segment)
        if found is None:
            return None
        current = found
    return _first_model(current)


def _unwrap(tp: object) -> object:
    while get_origin(tp) is Annotated:
        tp = get_args(tp)[0]
    return tp


def _as_model(tp: object) -> type[BaseModel] | None:
    if isinstance(tp, type) and get_origin(tp) is None and issubclass(tp, BaseModel):
        return tp
    return None


def _type_args(tp: object) -> tuple[object, ...]:
    return tuple(get_args(tp))


def _descend(tp: object, segment: str | int) -> object | None:
    """The type found one key or index below ``tp`` in the data."""
    tp = _unwrap(tp)
    origin = get_origin(tp)
    if origin is Union or origin is UnionType:
        candidates = (_descend(arg, segment) for arg in _type_args(tp))
        return next((c for c in candidates if c is not None), None)
    if origin is list:
        return _type_args(tp)[0] if isinstance(segment, int) else None
    if origin is dict:
        return _type_args(tp)[1]
    model = _as_model(tp)
    if model is not None:
        for name, info in model.model_fields.items():
            if segment in (name, info.alias):
                annotation: object = info.annotation
                return annotation
    return None


def _first_model(tp: object) -> type[BaseModel] | None:
    tp = _unwrap(tp)
    model = _as_model(tp)
    if model is None and get_origin(tp) in (Union, UnionType):
        return next((m for m in map(_first_model, _type_args(tp)) if m is not None), None)
    return model
