"""The ``supportbot`` command (also ``python -m bot``).

Operator mistakes (bad flow files, a wrong path) print a clear message and exit 1 —
never a traceback.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import logging
import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.actions.rasa import ActionServer, configured_actions
from bot.app import build_app, load_actions
from bot.channels.console import ConsoleChannel, ConsoleTransport
from bot.cli_data import customer_app, vacuum_command
from bot.cli_db import db_app
from bot.cli_demo import demo_app
from bot.cli_report import report_command
from bot.cli_support import load_settings, run_async
from bot.delivery import OutboxSender
from bot.engine.catalog import Catalog
from bot.engine.diagnostics import Diagnostic
from bot.engine.graph import mermaid
from bot.engine.loader import load_catalog, load_files
from bot.engine.schema import FileKind, json_schema
from bot.engine.validate import check_actions
from bot.errors import ActionError
from bot.messages import Outbound
from bot.settings import Settings

app = typer.Typer(
    help="supportbot: a customer-support bot run on operator-written flows.",
    no_args_is_help=True,
    add_completion=False,
)
flows_app = typer.Typer(help="Check, test, draw and describe flow files.", no_args_is_help=True)
app.add_typer(flows_app, name="flows")
app.add_typer(db_app, name="db")
app.add_typer(customer_app, name="customer")
db_app.command("vacuum")(vacuum_command)
app.command("report")(report_command)
app.add_typer(demo_app, name="demo")

FlowsDir = Annotated[
    Path | None, typer.Option("--flows-dir", help="Flow files (default: SUPPORTBOT_FLOWS_DIR).")
]
PersonasDir = Annotated[
    Path | None,
    typer.Option("--personas-dir", help="Persona files (default: SUPPORTBOT_PERSONAS_DIR)."),
]


def _settings(flows_dir: Path | None = None, personas_dir: Path | None = None) -> Settings:
    settings = load_settings()
    if flows_dir is not None:
        settings.flows_dir = flows_dir
    if personas_dir is not None:
        settings.personas_dir = personas_dir
    return settings


def _catalog_or_exit(settings: Settings) -> Catalog:
    """The flows, or the problems on stderr and exit code 1."""
    catalog, diagnostics = load_catalog(settings.flows_dir, settings.personas_dir)
    if catalog is None:
        for diagnostic in diagnostics:
            typer.echo(str(diagnostic), err=True)
        raise typer.Exit(1)
    return catalog


def _setup_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


@app.command()
def chat(
    name: Annotated[
        str | None, typer.Option(help="Your first name, as a platform would send it.")
    ] = None,
    user: Annotated[
        str | None, typer.Option(help="Customer id (default: your login name).")
    ] = None,
    verbose: Annotated[bool, typer.Option(help="Show log lines in the terminal.")] = False,
) -> None:
    """Chat with the bot in this terminal, as a customer (state is kept between runs)."""
    settings = _settings()
    _setup_logging(settings.log_level if verbose else "WARNING")

    async def main() -> None:
        bot = await build_app(settings)
        bot.start_background()
        try:
            user_id = user or getpass.getuser()
            transport = ConsoleTransport()
            sender = OutboxSender(bot.store.outbox, transport, chat_id=user_id, lease_seconds=5)

            async def flush() -> list[Outbound]:
                while await sender.deliver_due():
                    pass
                return transport.take()

            console = ConsoleChannel(bot.manager.handle, flush, user_id, name)
            await console.run()
        finally:
            await bot.close()

    with contextlib.suppress(KeyboardInterrupt):
        run_async(main, settings.database_url)


@app.command()
def run(
    verbose: Annotated[bool, typer.Option(help="Log at DEBUG level.")] = False,
) -> None:
    """Serve every configured channel (Telegram, Slack) plus /healthz and /metrics.

    With no channel configured, starts the console chat instead.
    """
    settings = load_settings()
    if not (settings.telegram_bot_token or settings.slack_bot_token):
        typer.echo(
            "No channel configured (set TELEGRAM_BOT_TOKEN and/or SLACK_BOT_TOKEN); "
            "starting the console chat.",
            err=True,
        )
        chat(name=None, user=None, verbose=verbose)
        return
    _setup_logging("DEBUG" if verbose else settings.log_level)

    async def main() -> None:
        from bot.channels.base import InboundGate
        from bot.channels.setup import build_channels, build_desks
        from bot.runner import Runner

        bot = await build_app(settings)
        gate = InboundGate(bot.manager.handle)
        try:
            channels = build_channels(settings, gate, bot)
        except BaseException:
            await bot.close()
            raise
        runner = Runner(bot, gate, channels)
        runner.desks.extend(build_desks(settings, bot, runner.handoff, channels))
        runner.install_signal_handlers()
        await runner.serve(settings.http_host, settings.http_port)

    run_async(main, settings.database_url)


@app.command()
def desk(
    agent: Annotated[str | None, typer.Option(help="Your agent name (default: login).")] = None,
) -> None:
    """The agents' desk in this terminal: take tickets, talk to customers, close."""
    from bot.channels.terminal import read_line
    from bot.handoff.console_desk import ConsoleDesk
    from bot.handoff.service import Agent, HandoffService

    settings = load_settings()
    _setup_logging("WARNING")
    name = agent or getpass.getuser()

    async def main() -> None:
        bot = await build_app(settings)
        try:
            service = HandoffService(bot.store, bot.manager)
            console = ConsoleDesk(service, bot.store, Agent(f"console:{name}", name))
            await console.run(read_line("agent › "))
        finally:
            await bot.close()

    with contextlib.suppress(KeyboardInterrupt):
        run_async(main, settings.database_url)


@flows_app.command("check")
def flows_check(flows_dir: FlowsDir = None, personas_dir: PersonasDir = None) -> None:
    """Validate every flow and persona file; print each problem as path:line:column."""
    settings = _settings(flows_dir, personas_dir)
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
    catalog = _catalog_or_exit(_settings(flows_dir, personas_dir))
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

    settings = _settings(flows_dir, personas_dir)
    catalog = _catalog_or_exit(settings)
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


@app.command()
def transcript(
    conversation_id: Annotated[int, typer.Argument(help="The conversation id.")],
) -> None:
    """Print one conversation's transcript."""
    from storage.sql import open_store

    settings = _settings()

    async def main() -> None:
        store = await open_store(settings.database_url)
        try:
            conversation = await store.get_conversation(conversation_id)
            if conversation is None:
                typer.echo(f"error: no conversation {conversation_id}", err=True)
                raise typer.Exit(1)
            typer.echo(
                f"conversation {conversation.id} · {conversation.chat_key} · "
                f"{conversation.status} · started {conversation.started_at:%Y-%m-%d %H:%M}"
            )
            for entry in await store.transcript(conversation_id):
                when = f"{entry.created_at:%H:%M:%S}"
                if entry.direction == "event":
                    details = " ".join(f"{k}={v}" for k, v in entry.data.items())
                    typer.echo(f"{when}  ·· {entry.kind} {details}")
                else:
                    who = "customer" if entry.direction == "in" else "bot"
                    typer.echo(f"{when}  {who:>8}: {entry.text}")
        finally:
            await store.close()

    run_async(main, settings.database_url)
