"""What every ``supportbot`` command shares: settings, running async work, failing cleanly.

Operator mistakes and database problems print ``error: …`` and exit 1 — never a
traceback.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import NoReturn, TypeVar

import typer
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from bot.errors import SupportbotError
from bot.settings import Settings
from storage.errors import StorageError
from storage.urls import mask_url

T = TypeVar("T")


def fail(message: str) -> NoReturn:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        fail(f"invalid setting {'.'.join(map(str, first['loc']))}: {first['msg']}")


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
