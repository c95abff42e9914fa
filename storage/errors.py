"""Errors of the storage layer, each with a message an operator can act on.

::

    StorageError                 base: the database cannot be used as it is
    ├── DatabaseUnreachable      cannot connect (wrong URL, server down, bad password)
    ├── CorruptDatabase          the SQLite file is not a (readable) SQLite database
    ├── SchemaBehind             older schema revision: run `supportbot db upgrade`
    ├── ForeignDatabase          tables of something else, or no migration history
    │   └── UnknownRevision      a revision this version does not know (newer supportbot?)
    └── SchemaError              reading or upgrading the schema failed midway

URLs in messages always have their password masked. ``bot`` shows ``str(error)`` as is.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import exc as sa_exc

from storage.urls import mask_url

URL_SETTING = "SUPPORTBOT_DATABASE_URL"


class StorageError(Exception):
    """The database cannot be used; the message says what to do."""


class UnsupportedDatabase(StorageError):
    """The URL cannot work: unparsable, an unknown driver, in-memory SQLite."""


class DatabaseUnreachable(StorageError):
    """Connecting failed; ``reason`` is the driver's explanation."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = mask_url(url)
        self.reason = reason
        super().__init__(
            f"cannot connect to the database {self.url}: {reason}; check {URL_SETTING}"
        )


class CorruptDatabase(StorageError):
    """The file exists but SQLite cannot read it (not a database, or damaged)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = mask_url(url)
        self.reason = reason
        super().__init__(
            f"cannot read {self.url}: {reason}; "
            f"restore it from a backup, or point {URL_SETTING} at another file"
        )


class SchemaBehind(StorageError):
    """The database has an older schema than this version of supportbot needs."""

    def __init__(self, url: str, current: str, head: str) -> None:
        self.url = mask_url(url)
        self.current = current
        self.head = head
        super().__init__(
            f"database {self.url} is at revision {current}, this version needs {head}: "
            "run `supportbot db upgrade`"
        )


class ForeignDatabase(StorageError):
    """The database holds tables supportbot did not create (or cannot vouch for)."""

    def __init__(self, url: str, tables: Sequence[str]) -> None:
        self.url = mask_url(url)
        self.tables = tuple(tables)
        super().__init__(
            f"{self.url} is not a supportbot database (tables {', '.join(self.tables)}); "
            f"point {URL_SETTING} at an empty or supportbot database"
        )


class UnknownRevision(ForeignDatabase):
    """``alembic_version`` names a revision this version of supportbot does not have.

    A :class:`ForeignDatabase` for callers (this version cannot use it either way), with
    its own message: most likely a newer supportbot upgraded the database.
    """

    def __init__(self, url: str, tables: Sequence[str], revision: str) -> None:
        self.url = mask_url(url)
        self.tables = tuple(tables)
        self.revision = revision
        StorageError.__init__(
            self,
            f"database {self.url} is at revision {revision}, which this version of "
            "supportbot does not know (upgraded by a newer version?): run that version, "
            f"or point {URL_SETTING} at an empty or supportbot database",
        )


class SchemaError(StorageError):
    """Reading or changing the schema failed after connecting (permissions, DDL, …)."""

    def __init__(self, url: str, action: str, reason: str) -> None:
        self.url = mask_url(url)
        self.reason = reason
        super().__init__(f"cannot {action} {self.url}: {reason}")


def database_outage(error: BaseException) -> str | None:
    """A one-line reason if ``error`` means the database is away for now (server down or
    restarting, connection dropped, SQLite busy) — retrying later can succeed, and a
    traceback tells the operator nothing more; ``None`` for anything else."""
    if not isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        return None
    reason = str(error.orig if error.orig is not None else error).strip().splitlines()
    return f"{type(error.orig or error).__name__}: {reason[0] if reason else 'no details'}"
