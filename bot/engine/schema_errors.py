"""Turn a pydantic ValidationError on a flow or persona file into operator-readable
Diagnostics, each at the line and column of the key or value it is about.

Pydantic reports locations as model paths (with union member names and aliases mixed
in) and messages written for programmers. This module maps each location back onto the
data the operator wrote, merges the per-member noise of unions into one "expected X or
Y", and rewords the message for someone editing YAML. It is separate from the loader
because it is the largest and most intricate part of loading and needs nothing of files
or YAML: only the data, its :class:`SourceMap` and the error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import UnionType
from typing import Annotated, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from bot.diagnostics import Diagnostic
from bot.engine.problem_wording import describe, did_you_mean
from bot.engine.schema import ID_PATTERN, Flow
from bot.engine.source_map import DataPath, SourceMap


def schema_diagnostics(
    model: type[BaseModel],
    error: ValidationError,
    data: Mapping[str | int, object],
    source: SourceMap,
) -> list[Diagnostic]:
    """A readable Diagnostic per problem ``error`` found validating ``data`` as ``model``."""
    issues = _merge_union_issues([_issue(data, e) for e in error.errors()])
    raw_id = data.get("id")
    flow_id = raw_id if model is Flow and isinstance(raw_id, str) else None
    return [_issue_diagnostic(model, source, i, flow_id) for i in issues]


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
