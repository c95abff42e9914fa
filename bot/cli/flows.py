"""``supportbot flows …``: check, test, draw and describe the operator's flow files.

One module per command group (see :mod:`bot.cli.main`); what the commands share is in
:mod:`bot.cli.common`. ``flows test`` imports the conversation tester only when it runs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.actions.rasa import ActionServer, configured_actions
from bot.app import load_actions
from bot.cli.common import FlowsDir, PersonasDir, catalog_or_exit, run_async, settings_with_dirs
from bot.cli.routing import flows_eval, flows_explain
from bot.diagnostics import Diagnostic
from bot.engine.graph import mermaid
from bot.engine.loader import load_catalog, load_files
from bot.engine.schema import FileKind, json_schema
from bot.engine.validate import check_actions
from bot.errors import ActionError
from bot.settings import Settings

flows_app = typer.Typer(help="Check, test, draw and describe flow files.", no_args_is_help=True)


@flows_app.command("check")
def flows_check(flows_dir: FlowsDir = None, personas_dir: PersonasDir = None) -> None:
    """Validate every flow and persona file; print each problem as path:line:column."""
    settings = settings_with_dirs(flows_dir, personas_dir)
    catalog, diagnostics = load_catalog(settings.flows_dir, settings.personas_dir)
    for diagnostic in diagnostics:
        typer.echo(str(diagnostic))
    if catalog is None:
        typer.echo(f"{len(diagnostics)} problem(s) found.", err=True)
        raise typer.Exit(1)
    missing = run_async(lambda: _missing_actions(settings))
    for diagnostic in missing:
        typer.echo(str(diagnostic))
    if missing:
        typer.echo(f"{len(missing)} problem(s) found.", err=True)
        raise typer.Exit(1)
    typer.echo(f"OK: {len(catalog.flows)} flows, {len(catalog.personas)} personas.")


async def _missing_actions(settings: Settings) -> list[Diagnostic]:
    """Flow steps naming actions the configured package or action server lacks."""
    actions = None
    try:
        actions = configured_actions(
            settings.actions_package, settings.action_endpoint, settings.action_timeout
        )
        available = await actions.names() if actions else frozenset()
    except ActionError as exc:
        return [Diagnostic(str(settings.flows_dir), 1, 1, str(exc))]
    finally:
        if isinstance(actions, ActionServer):
            await actions.close()
    source = actions.source if actions else "no actions are configured: it"
    return check_actions(load_files(settings.flows_dir, settings.personas_dir), available, source)


@flows_app.command("schema")
def flows_schema(
    kind: Annotated[str, typer.Option(help="flow or persona")] = "flow",
    output: Annotated[Path | None, typer.Option(help="Write to this file.")] = None,
) -> None:
    """Print the JSON Schema of flow (or persona) files, for editor autocompletion."""
    if kind not in ("flow", "persona"):
        typer.echo("error: --kind is 'flow' or 'persona'", err=True)
        raise typer.Exit(1)
    file_kind: FileKind = "flow" if kind == "flow" else "persona"
    text = json.dumps(json_schema(file_kind), indent=2, ensure_ascii=False)
    if output is None:
        typer.echo(text)
    else:
        output.write_text(text + "\n", encoding="utf-8")
        typer.echo(f"wrote {output}")


@flows_app.command("graph")
def flows_graph(
    flow: Annotated[str, typer.Argument(help="The flow id.")],
    variant: Annotated[str | None, typer.Option(help="Only this persona variant.")] = None,
    flows_dir: FlowsDir = None,
    personas_dir: PersonasDir = None,
) -> None:
    """Print a Mermaid diagram of a flow, one box per persona variant."""
    catalog = catalog_or_exit(settings_with_dirs(flows_dir, personas_dir))
    found = catalog.flows.get(flow)
    if found is None:
        known = ", ".join(sorted(catalog.flows)) or "none"
        typer.echo(f"error: no flow {flow!r}; known flows: {known}", err=True)
        raise typer.Exit(1)
    try:
        typer.echo(mermaid(found, variant))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


@flows_app.command("test")
def flows_test(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Test files or folders (default: <flows dir>/tests)."),
    ] = None,
    flows_dir: FlowsDir = None,
    personas_dir: PersonasDir = None,
) -> None:
    """Run scripted conversation tests against the flows."""
    from bot.scripted.flowtest import CaseResult, discover, run_files

    settings = settings_with_dirs(flows_dir, personas_dir)
    catalog = catalog_or_exit(settings)
    files = discover(paths or [settings.flows_dir / "tests"])
    if not files:
        typer.echo("error: no conversation test files found", err=True)
        raise typer.Exit(1)

    async def main() -> list[CaseResult]:
        actions = load_actions(settings)
        try:
            return await run_files(catalog, files, actions)
        finally:
            if isinstance(actions, ActionServer):
                await actions.close()

    results = run_async(main)
    failed = [r for r in results if not r.passed]
    for result in results:
        mark = "PASS" if result.passed else "FAIL"
        typer.echo(f"{mark}  {result.file}: {result.name}")
        for failure in result.failures:
            typer.echo(f"      {failure}")
    typer.echo(f"{len(results) - len(failed)} passed, {len(failed)} failed")
    if failed:
        raise typer.Exit(1)


flows_app.command("eval")(flows_eval)
flows_app.command("explain")(flows_explain)
