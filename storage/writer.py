"""Write transactions as plain synchronous functions, one hand-off to the database each.

On aiosqlite every statement costs SQLAlchemy's adapter four trips to the driver's
thread (cursor, execute, fetch, close) — about 60 per turn, and most of a turn's time
(``docs/BENCHMARKS.md``). Here a write transaction is a series of
:meth:`WriteTransaction.run` calls, each running a sync function on a
:class:`sqlalchemy.engine.Connection`:

- **SQLite**: on one connection owned by one writer thread, so a call is one hand-off
  however many statements it runs. An ``asyncio.Lock`` (first come, first served)
  admits one write transaction of this process at a time: SQLite has one writer anyway,
  and queueing on the lock replaces ``busy_timeout``'s sleep-and-retry loop, which let
  late turns overtake and starved others into "database is locked". Other processes on
  the same file are still kept out by ``BEGIN IMMEDIATE``.
- **Other backends** (PostgreSQL): ``AsyncConnection.run_sync`` on the async engine —
  the same functions over the async driver; concurrency is the server's business.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from queue import SimpleQueue
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from sqlalchemy import create_engine, pool
from sqlalchemy.engine import URL, Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from storage.sqlite import BEGIN_OPTION, configure_sqlite

P = ParamSpec("P")
R = TypeVar("R")


class WriteTransaction(Protocol):
    async def run(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """Run ``work(connection, *args)`` inside this transaction; returns its result."""
        ...

    async def finish(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """:meth:`run` ``work`` as the transaction's last call, and commit with it."""
        ...


class Writer(Protocol):
    def transaction(self) -> AbstractAsyncContextManager[WriteTransaction]:
        """One write transaction: committed when the block ends, rolled back on an error."""
        ...

    async def once(
        self,
        work: Callable[Concatenate[Connection, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """``work(connection, *args)`` as a transaction of its own, committed."""
        ...

    async def urgently(
        self,
        work: Callable[Concatenate[Connection, P], R],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> R:
        """:meth:`once`, ahead of the transactions waiting (for short bookkeeping that
        must not wait behind a queue of turns, e.g. "this message was delivered")."""
        ...

    async def close(self) -> None: ...


_HOLDING: ContextVar[object | None] = ContextVar("supportbot_write_transaction", default=None)
"""The writer whose transaction the current task holds (to refuse a nested one)."""


class SqliteWriter:
    """Write transactions on one SQLite connection, on one thread, one at a time."""

    def __init__(self, url: URL) -> None:
        """``url``: the database's sync URL (``sqlite:///…``, the stdlib driver)."""
        self._engine = create_engine(
            url, poolclass=pool.NullPool, execution_options={BEGIN_OPTION: "IMMEDIATE"}
        )
        configure_sqlite(self._engine)
        self._thread = _Thread("sqlite-writer")
        self._lock = _PriorityLock()
        self._connection: Connection | None = None
        self._closed = False

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[WriteTransaction]:
        self._refuse_nested()
        async with self._lock.hold(urgent=False):
            token = _HOLDING.set(self)
            transaction = _ThreadTransaction(self)
            try:
                yield transaction
                if not transaction.finished:
                    await self._call(Connection.commit)
            except BaseException:
                # Queued behind any call still running (one thread), so it always ends
                # the transaction, even when the caller was cancelled mid-call.
                await self._thread.call(self._rollback)
                raise
            finally:
                _HOLDING.reset(token)

    async def once(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        self._refuse_nested()
        async with self._lock.hold(urgent=False):
            return await self._call(_committed, work, *args, **kwargs)

    async def urgently(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        self._refuse_nested()
        async with self._lock.hold(urgent=True):
            return await self._call(_committed, work, *args, **kwargs)

    def _refuse_nested(self) -> None:
        if _HOLDING.get() is self:
            raise RuntimeError("a write transaction inside another would wait for itself")

    async def _call(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        result: R = await self._thread.call(self._on_thread, work, args, kwargs)
        return result

    def _on_thread(
        self,
        work: Callable[Concatenate[Connection, P], R],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> R:
        if self._connection is None:
            self._connection = self._engine.connect()
        try:
            return work(self._connection, *args, **kwargs)
        except BaseException:
            if work is _committed:  # its own transaction: end it here, in the same hand-off
                self._rollback()
            raise

    async def close(self) -> None:
        """Close the connection and end the thread (again: nothing to do)."""
        if self._closed:
            return
        self._closed = True
        await self._thread.call(self._close_connection)
        self._thread.stop()
        self._engine.dispose()

    def _rollback(self) -> None:
        """Roll back; a connection that cannot even do that is dropped (the next call
        opens a new one)."""
        if self._connection is None:
            return
        try:
            self._connection.rollback()
        except Exception:
            self._connection.invalidate()
            self._connection = None
            raise

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class _Thread:
    """One thread running calls in order, each handed over with a queue put and handed
    back with one ``call_soon_threadsafe``.

    Why not ``loop.run_in_executor``: its executor future, the asyncio future chained to
    it and the executor's locks cost more per hand-off than most of the SQL a hand-off
    runs (``docs/BENCHMARKS.md``); a turn makes two or three of them.
    """

    def __init__(self, name: str) -> None:
        self._jobs: SimpleQueue[tuple[Any, ...] | None] = SimpleQueue()
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def call(self, work: Callable[..., R], *args: Any) -> asyncio.Future[R]:
        """Run ``work(*args)`` on the thread; the future resolves with its outcome (a
        cancelled future does not stop a call already queued: it runs, unobserved)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._jobs.put((loop, future, work, args))
        return future

    def stop(self) -> None:
        """End the thread once the calls queued so far have run."""
        self._jobs.put(None)

    def _serve(self) -> None:
        while (job := self._jobs.get()) is not None:
            loop, future, work, args = job
            try:
                outcome, failed = work(*args), False
            except BaseException as error:  # handed to the caller, like an executor would
                outcome, failed = error, True
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody waits any more
                loop.call_soon_threadsafe(_settle, future, outcome, failed)
            del job, loop, future, work, args, outcome


def _settle(future: asyncio.Future[Any], outcome: Any, failed: bool) -> None:
    if future.cancelled():
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)


class _PriorityLock:
    """First come, first served, except that urgent holders go before the others.

    Why not ``asyncio.Lock``: a delivered reply is recorded as sent in a write of its
    own; behind a queue of turns it would wait long, and a crash in that wait sends the
    reply again after the restart (the at-least-once window). Urgent writes are short
    and bounded by the sends, so turns cannot starve.
    """

    def __init__(self) -> None:
        self._held = False
        self._waiting: tuple[deque[asyncio.Future[None]], deque[asyncio.Future[None]]] = (
            deque(),
            deque(),
        )

    @asynccontextmanager
    async def hold(self, *, urgent: bool) -> AsyncIterator[None]:
        if self._held:
            turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting[0 if urgent else 1].append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if not turn.cancelled():  # handed the lock, cancelled before using it
                    self._release()
                raise
        self._held = True
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        """Hand the lock to the next waiter (it stays held), or free it."""
        for queue in self._waiting:
            while queue:
                waiter = queue.popleft()
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self._held = False


def _committed(
    connection: Connection,
    work: Callable[Concatenate[Connection, P], R],
    /,
    *args: P.args,
    **kwargs: P.kwargs,
) -> R:
    """``work`` then ``COMMIT``, in one call on the writer thread."""
    result = work(connection, *args, **kwargs)
    connection.commit()
    return result


class _ThreadTransaction:
    def __init__(self, writer: SqliteWriter) -> None:
        self._writer = writer
        self.finished = False

    async def run(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        return await self._writer._call(work, *args, **kwargs)

    async def finish(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        result = await self._writer._call(_committed, work, *args, **kwargs)
        self.finished = True
        return result


class AsyncDriverWriter:
    """Write transactions over an async engine's own driver (PostgreSQL)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[WriteTransaction]:
        async with self._engine.connect() as connection, connection.begin():
            yield _RunSyncTransaction(connection)

    async def once(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        async with self.transaction() as transaction:
            return await transaction.run(work, *args, **kwargs)

    async def urgently(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        """No queue of this process's own to jump: the same as :meth:`once`."""
        return await self.once(work, *args, **kwargs)

    async def close(self) -> None:
        """Nothing of its own: the engine belongs to the store."""


class _RunSyncTransaction:
    def __init__(self, connection: AsyncConnection) -> None:
        self._connection = connection

    async def run(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        return await self._connection.run_sync(work, *args, **kwargs)

    async def finish(
        self, work: Callable[Concatenate[Connection, P], R], *args: P.args, **kwargs: P.kwargs
    ) -> R:
        return await self.run(work, *args, **kwargs)  # the block's end commits
