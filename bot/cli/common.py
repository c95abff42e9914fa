"""What every ``supportbot`` command shares: settings, running async work, failing cleanly.

Operator mistakes and database problems print ``error: …`` and exit 1 — never a
traceback. Kept apart from the command modules (and small) so each of them imports only
this, never another command group.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, NoReturn, TypeVar

import typer
from pydantic import SecretStr, ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot.engine.catalog import Catalog
from bot.engine.loader import load_catalog
from bot.errors import SupportbotError
from bot.log_privacy import protect_logs
from bot.settings import Settings
from storage.errors import StorageError
from storage.sql import SqlStore, open_store
from storage.urls import mask_url

T = TypeVar("T")


FlowsDir = Annotated[
    Path | None, typer.Option("--flows-dir", help="Flow files (default: SUPPORTBOT_FLOWS_DIR).")
]
PersonasDir = Annotated[
    Path | None,
    typer.Option("--personas-dir", help="Persona files (default: SUPPORTBOT_PERSONAS_DIR)."),
]


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}")


def settings_with_dirs(flows_dir: Path | None = None, personas_dir: Path | None = None) -> Settings:
    """The settings, with ``--flows-dir`` / ``--personas-dir`` applied when given."""
    settings = load_settings()
    if flows_dir is not None:
        settings.flows_dir = flows_dir
    if personas_dir is not None:
        settings.personas_dir = personas_dir
    return settings


def catalog_or_exit(settings: Settings) -> Catalog:
    """The flows, or the problems on stderr and exit code 1."""
    catalog, diagnostics = load_catalog(settings.flows_dir, settings.personas_dir)
    if catalog is None:
        for diagnostic in diagnostics:
            typer.echo(str(diagnostic), err=True)
        raise typer.Exit(1)
    return catalog


def setup_logging(level: str, settings: Settings | None = None) -> None:
    """Log to stderr at ``level``; no message text, token or secret (those in ``settings``
    verbatim, anything shaped like one) reaches the log (:mod:`bot.log_privacy`)."""
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    protect_logs(_secrets_of(settings) if settings is not None else ())


def _secrets_of(settings: Settings) -> list[str]:
    """Every ``SecretStr`` setting's value (tokens, signing and webhook secrets)."""
    values = (getattr(settings, name) for name in type(settings).model_fields)
    return [v.get_secret_value() for v in values if isinstance(v, SecretStr)]


def run_async(work: Callable[[], Awaitable[T]], database_url: str | None = None) -> T:
    """Run ``work``; our own errors and driver errors become a message and exit code 1."""

    async def main() -> T:
        return await work()

    try:
        return asyncio.run(main())
    except (SupportbotError, StorageError) as exc:  # messages written for operators
        fail(str(exc))
    except (SQLAlchemyError, OSError) as exc:
        where = f"database {mask_url(database_url)}: " if database_url else ""
        fail(f"{where}{first_line(exc)}")


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def with_store(work: Callable[[SqlStore], Awaitable[T]], settings: Settings | None = None) -> T:
    """Open the configured store, run ``work`` on it, close it; failures exit 1."""
    url = (settings or load_settings()).database_url

    async def main() -> T:
        store = await open_store(url)
        try:
            return await work(store)
        finally:
            await store.close()

    return run_async(main, url)
