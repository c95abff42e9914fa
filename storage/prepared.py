"""Hot statements run on the DB-API cursor, compiled by SQLAlchemy once per dialect.

A turn runs about fifteen small statements. Through ``Connection.execute`` each one
costs SQLAlchemy's execution context (cache key, parameter processing, a ``Result``
with its row objects) several times the time SQLite needs to run it: ~40 % of a turn's
CPU (``docs/BENCHMARKS.md``). A :class:`Prepared` keeps SQLAlchemy as the schema and the
query language — the statement is an ordinary Core construct, compiled by SQLAlchemy
for the connection's dialect, with SQLAlchemy's own bind and result processors (so a
datetime or a JSON value is stored and read exactly as everywhere else) — and only
skips the per-call machinery: the compiled SQL, the parameter order and the processors
are worked out on the first call per dialect and parameter names, then each call is a
``cursor.execute`` with a tuple.

What stays SQLAlchemy's: the transaction (the connection is begun the usual way, so
SQLite's ``BEGIN IMMEDIATE`` and the commit are unchanged), error handling (a driver
error goes through the connection's own handling: wrapped in ``sqlalchemy.exc``, a lost
connection invalidated) and ``before_cursor_execute`` listeners, which are told about
every statement as usual (tests and ``benchmarks/core.py`` record the SQL that way).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.elements import ClauseElement
from sqlalchemy.util import await_

Params = Mapping[str, Any]
_Getter = tuple[int, Any]
"""How one positional parameter is had: (0, key) from the call, (1, value) a constant,
(2, callable) a column's Python default, computed per call."""


class Prepared:
    """One Core statement, executed on the DB-API cursor of a SQLAlchemy connection."""

    __slots__ = ("_cache", "statement")

    def __init__(self, statement: ClauseElement) -> None:
        self.statement = statement
        self._cache: dict[tuple[str, tuple[str, ...]], _Compiled] = {}

    def run(self, connection: Connection, params: Params | None = None) -> Any:
        """Execute with ``params`` (names as in the statement's binds and, for an INSERT
        or UPDATE, column keys); returns the DB-API cursor."""
        params = params or {}
        compiled = self._compiled(connection.dialect, tuple(params))
        return compiled.execute(connection, compiled.parameters(params))

    def many(self, connection: Connection, rows: Sequence[Params]) -> None:
        """Execute once per row (``executemany``); all rows have the same keys."""
        if not rows:
            return
        compiled = self._compiled(connection.dialect, tuple(rows[0]))
        compiled.execute(connection, [compiled.parameters(row) for row in rows], many=True)

    def first(self, connection: Connection, params: Params | None = None) -> tuple[Any, ...] | None:
        """The first row, its values processed as SQLAlchemy would (or None)."""
        params = params or {}
        compiled = self._compiled(connection.dialect, tuple(params))
        row = compiled.execute(connection, compiled.parameters(params)).fetchone()
        return None if row is None else compiled.row(row)

    def all(self, connection: Connection, params: Params | None = None) -> list[tuple[Any, ...]]:
        """Every row, processed."""
        params = params or {}
        compiled = self._compiled(connection.dialect, tuple(params))
        rows = compiled.execute(connection, compiled.parameters(params)).fetchall()
        return [compiled.row(row) for row in rows]

    def _compiled(self, dialect: Dialect, keys: tuple[str, ...]) -> _Compiled:
        found = self._cache.get((dialect.name, keys))
        if found is None:
            found = self._cache[(dialect.name, keys)] = _Compiled(self.statement, dialect, keys)
        return found


class _Compiled:
    """The statement compiled for one dialect and one set of parameter names."""

    __slots__ = ("_getters", "_names", "_positional", "_processors", "_results", "sql")

    def __init__(self, statement: ClauseElement, dialect: Dialect, keys: tuple[str, ...]) -> None:
        # A DML statement without RETURNING of its own must not get the implicit one
        # (PostgreSQL's, for the new row's key): nobody reads it here.
        plain_dml = isinstance(statement, UpdateBase) and not statement.exported_columns
        compiled: Compiled = statement.compile(
            dialect=dialect, column_keys=list(keys), for_executemany=plain_dml
        )
        self.sql = compiled.string
        if "POSTCOMPILE" in self.sql:  # expanding IN lists and the like: not for this path
            raise ValueError(f"cannot prepare a statement with post-compile parameters: {self.sql}")
        self._positional = bool(getattr(compiled, "positional", False))
        binds: dict[str, sa.BindParameter[Any]] = getattr(compiled, "binds", {})
        if self._positional:
            names = list(getattr(compiled, "positiontup", None) or [])
        else:
            names = list(binds)
        self._names = names
        defaults = _python_defaults(compiled)
        self._getters: list[_Getter] = [_getter(name, keys, binds, defaults) for name in names]
        self._processors = [
            binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        ]
        columns = getattr(statement, "exported_columns", None) or ()
        self._results = [
            column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns
        ]

    def parameters(self, params: Params) -> Any:
        values = []
        for (kind, what), process in zip(self._getters, self._processors, strict=True):
            value = params[what] if kind == 0 else what if kind == 1 else what(None)
            values.append(value if process is None else process(value))  # None too (JSON)
        return tuple(values) if self._positional else dict(zip(self._names, values, strict=True))

    def row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        if not self._results:  # a text() statement: no column types to process with
            return tuple(row)
        return tuple(
            value if process is None else process(value)
            for value, process in zip(row, self._results, strict=True)
        )

    def execute(self, connection: Connection, parameters: Any, many: bool = False) -> Any:
        if not connection.in_transaction():
            connection.begin()  # as Connection.execute's autobegin (SQLite: BEGIN IMMEDIATE)
        cursor = connection.connection.cursor()
        dispatch = connection.dispatch.before_cursor_execute
        if dispatch:
            for listener in dispatch:
                listener(connection, cursor, self.sql, parameters, None, many)
        try:
            if many:
                cursor.executemany(self.sql, parameters)
            else:
                cursor.execute(self.sql, parameters)
        except Exception as error:
            # Wrapped as Connection.execute would (sqlalchemy.exc.*; a lost connection is
            # invalidated); always raises.
            connection._handle_dbapi_exception(error, self.sql, parameters, cursor, None)
        return cursor


def _python_defaults(compiled: Compiled) -> dict[str, Any]:
    """Column keys → the Python-side defaults SQLAlchemy would compute at execution
    (columns an INSERT leaves out, ``onupdate`` of an UPDATE)."""
    defaults: dict[str, Any] = {}
    for column in getattr(compiled, "insert_prefetch", ()):
        if column.default is not None:
            defaults[column.key] = column.default
    for column in getattr(compiled, "update_prefetch", ()):
        if column.onupdate is not None:
            defaults[column.key] = column.onupdate
    return defaults


def _getter(
    name: str,
    keys: tuple[str, ...],
    binds: dict[str, sa.BindParameter[Any]],
    defaults: dict[str, Any],
) -> _Getter:
    if name in keys:
        return (0, name)
    default = defaults.get(name)
    if default is not None:
        if default.is_scalar:
            return (1, default.arg)
        if default.is_callable:
            function: Callable[[Any], Any] = default.arg
            return (2, function)
        raise ValueError(f"column default of {name!r} is not a Python value")
    bind = binds[name]
    if bind.callable is not None:
        return (2, lambda _context, bind=bind: bind.effective_value)
    if bind.required:
        raise ValueError(f"no value for {name!r}")
    return (1, bind.value)


@contextmanager
def pipelined(connection: Connection) -> Iterator[None]:
    """On psycopg (PostgreSQL), send the block's statements in one go (pipeline mode)
    and wait for all their results once at the end, instead of one round trip each.

    For statements whose results are not read inside the block (writes). Elsewhere
    (SQLite, other drivers) a no-op. A failure shows at the end of the block and is
    handled as :class:`Prepared` handles one (wrapped, a lost connection invalidated).
    """
    if connection.dialect.driver != "psycopg" or not connection.dialect.is_async:
        yield
        return
    if not connection.in_transaction():
        connection.begin()
    pipeline = connection.connection.driver_connection.pipeline()  # type: ignore[union-attr]
    await_(pipeline.__aenter__())
    try:
        yield
    except BaseException as error:
        await_(pipeline.__aexit__(type(error), error, error.__traceback__))
        raise
    try:
        await_(pipeline.__aexit__(None, None, None))
    except Exception as error:
        connection._handle_dbapi_exception(error, "(pipeline)", {}, None, None)


def first_rows(
    connection: Connection, calls: Sequence[tuple[Prepared, Params]]
) -> list[tuple[Any, ...] | None]:
    """:meth:`Prepared.first` of each call, in order; on psycopg all of them in one round
    trip (pipeline mode: the server still runs them one after the other, in order)."""
    if connection.dialect.driver != "psycopg" or not connection.dialect.is_async:
        return [prepared.first(connection, params) for prepared, params in calls]
    if not connection.in_transaction():
        connection.begin()
    raw = connection.connection.driver_connection
    assert raw is not None
    sent: list[tuple[_Compiled, Any]] = []
    try:
        entered = raw.pipeline()
        async_pipeline = await_(entered.__aenter__())
        try:
            for prepared, params in calls:
                compiled = prepared._compiled(connection.dialect, tuple(params))
                values = compiled.parameters(params)
                for listener in connection.dispatch.before_cursor_execute:
                    listener(connection, None, compiled.sql, values, None, False)
                cursor = raw.cursor()
                await_(cursor.execute(compiled.sql, values))
                sent.append((compiled, cursor))
            await_(async_pipeline.sync())
            rows = [await_(cursor.fetchone()) if cursor.description else None for _, cursor in sent]
        except BaseException as error:
            await_(entered.__aexit__(type(error), error, error.__traceback__))
            raise
        await_(entered.__aexit__(None, None, None))
    except Exception as error:
        sql = "; ".join(compiled.sql for compiled, _ in sent) or "(pipeline)"
        connection._handle_dbapi_exception(error, sql, {}, None, None)
    return [
        None if row is None else compiled.row(row)
        for (compiled, _), row in zip(sent, rows, strict=True)
    ]
