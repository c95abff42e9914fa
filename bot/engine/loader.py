"""Read flow and persona files into a :class:`Catalog`, turning every problem into a Diagnostic.

Operators edit these files by hand, so each problem must name the file, line and column
the way a compiler does, never a traceback. Each file goes through three stages:
:mod:`bot.engine.yaml_source` copies the YAML into plain Python data and remembers every
position in a :class:`SourceMap`; the pydantic models in :mod:`bot.engine.schema` check
it, and :mod:`bot.engine.schema_errors` maps each pydantic error back to a position;
:mod:`bot.engine.validate` then checks that the accepted files work together. This module
runs those stages over both directories and rejects duplicate ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from bot.diagnostics import Diagnostic
from bot.engine.catalog import Catalog
from bot.engine.schema import Flow, Persona
from bot.engine.schema_errors import schema_diagnostics
from bot.engine.source_map import LoadedFiles, SourceMap
from bot.engine.validate import check_files
from bot.engine.yaml_source import ParsedFile, parse_file

YAML_SUFFIXES = (".yaml", ".yml")

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
        parsed, problems = parse_file(path)
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


def _validate(model: type[M], parsed: ParsedFile) -> tuple[M | None, list[Diagnostic]]:
    """The model, or a readable Diagnostic per pydantic error."""
    try:
        return model.model_validate(parsed.data), []
    except ValidationError as exc:
        return None, schema_diagnostics(model, exc, parsed.data, parsed.source)


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
