"""Connection plumbing shared by the journal's parts: transactions, the clock, errors."""

from __future__ import annotations

import contextlib
import math
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Protocol

from keeper.errors import InputError, JournalError
from keeper.journal._db import DB_ERRORS, SQLITE, Dialect

__all__ = ["Conn", "Cursor", "IllegalTransitionError", "JournalBase", "NotFoundError", "check_text"]


class Cursor(Protocol):
    """The rows of one statement (a :class:`sqlite3.Cursor` or the PostgreSQL wrapper's)."""

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Conn(Protocol):
    """A journal connection: :class:`sqlite3.Connection` or :class:`keeper.journal._db.PgConnection`."""

    def execute(self, sql: str, params: Sequence[Any] = ..., /) -> Cursor: ...

    @property
    def in_transaction(self) -> bool: ...

    def close(self) -> None: ...


class NotFoundError(JournalError, LookupError):
    """A record asked for by id does not exist."""


class IllegalTransitionError(JournalError):
    """An intent was asked to move between statuses the state machine does not allow."""

    def __init__(self, intent_id: str, from_status: str, to_status: str, detail: str = "") -> None:
        self.intent_id = intent_id
        self.from_status = from_status
        self.to_status = to_status
        suffix = f" ({detail})" if detail else ""
        super().__init__(f"intent {intent_id}: illegal transition {from_status} -> {to_status}{suffix}")


_IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")


def check_text(value: str, argument: str, *, ident: bool = False, empty: bool = False) -> str:
    """Validate a text argument: a ``str``, non-empty unless ``empty``; an identifier if ``ident``."""
    if not isinstance(value, str):
        raise InputError(argument, f"expected a string, got {type(value).__name__}")
    if not empty and not value.strip():
        raise InputError(argument, "must not be empty")
    if ident and _IDENT.fullmatch(value) is None:
        raise InputError(argument, f"{value!r} is not an identifier (1-128 of A-Z a-z 0-9 _.:-, alphanumeric first)")
    return value


class JournalBase:
    """Holds the connection and the clock; gives the parts transactions that map errors to :class:`JournalError`.

    The connection is in autocommit mode; every write goes through :meth:`_write` (``BEGIN
    IMMEDIATE`` ... ``COMMIT``), every multi-statement read through :meth:`_read` (one
    consistent WAL snapshot). A lock serializes transactions, so one journal may be shared by
    the threads of one process (a scheduler's worker and a signal handler, say).
    Build instances with ``Journal.open`` or ``Journal.memory``, not with this constructor.
    """

    def __init__(
        self,
        conn: Conn,
        *,
        where: str,
        clock: Callable[[], float],
        readonly: bool,
        schema_version: int,
        dialect: Dialect = SQLITE,
        db_clock: bool = False,
    ) -> None:
        self._conn = conn
        self._dialect = dialect
        self._db_clock = db_clock
        self._schema_version = schema_version
        self._where = where
        self._clock = clock
        self._readonly = readonly
        self._depth = 0
        self._writing = False
        self._lock = threading.RLock()

    @property
    def where(self) -> str:
        """The journal's path (``:memory:`` for an in-memory journal)."""
        return self._where

    @property
    def readonly(self) -> bool:
        """True for a reader opened with ``readonly=True``; its write methods raise :class:`JournalError`."""
        return self._readonly

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._dialect.name

    def _order(self, table: str) -> str:
        """The column that orders ``table`` by insertion (SQLite's rowid; PostgreSQL's id or seq); marks by
        their key (cycle, kind, item) on both."""
        if table == "cycle_marks":
            return "cycle_id, kind, item"
        if self._dialect.name == "sqlite":
            return "rowid"
        return "seq" if table in ("intents", "control") else "id"

    def _lease_now(self, conn: Conn) -> float:
        """The lease's clock: the database server's on PostgreSQL (unless a clock was injected), else the journal's."""
        if self._db_clock:
            row = conn.execute("SELECT CAST(EXTRACT(EPOCH FROM clock_timestamp()) AS DOUBLE PRECISION)").fetchone()
            return float(row[0])
        return self._now()

    def _now(self) -> float:
        now = self._clock()
        if not isinstance(now, int | float) or isinstance(now, bool) or not math.isfinite(now):
            raise JournalError(f"{self._where}: the clock returned {now!r}, not a finite number of seconds")
        return float(now)

    @contextmanager
    def _write(self, what: str) -> Iterator[Conn]:
        """One write transaction; nested calls join the outer one. ``what`` names it in errors."""
        with self._lock, self._write_locked(what) as conn:
            yield conn

    @contextmanager
    def _write_locked(self, what: str) -> Iterator[Conn]:
        if self._readonly:
            raise JournalError(f"{self._where}: cannot {what}: journal is open read-only")
        if self._depth:
            if not self._writing:
                raise JournalError(f"{self._where}: cannot {what} inside a read")
            self._depth += 1
            try:
                yield self._conn
            finally:
                self._depth -= 1
            return
        try:
            for statement in self._dialect.begin_write:
                self._conn.execute(statement)
        except DB_ERRORS as exc:
            self._rollback()
            raise JournalError(f"{self._where}: cannot {what}: {exc}") from exc
        self._depth, self._writing = 1, True
        try:
            yield self._conn
            self._conn.execute("COMMIT")
        except BaseException as exc:
            self._rollback()
            if isinstance(exc, DB_ERRORS):
                raise JournalError(f"{self._where}: cannot {what}: {exc}") from exc
            raise
        finally:
            self._depth, self._writing = 0, False

    @contextmanager
    def _read(self, what: str) -> Iterator[Conn]:
        """A consistent read (one snapshot of the database); joins an enclosing transaction."""
        with self._lock, self._read_locked(what) as conn:
            yield conn

    @contextmanager
    def _read_locked(self, what: str) -> Iterator[Conn]:
        if self._depth:
            yield self._conn
            return
        try:
            self._conn.execute(self._dialect.begin_read)
        except DB_ERRORS as exc:
            raise JournalError(f"{self._where}: cannot {what}: {exc}") from exc
        self._depth = 1
        try:
            yield self._conn
        except DB_ERRORS as exc:
            raise JournalError(f"{self._where}: cannot {what}: {exc}") from exc
        finally:
            self._depth = 0
            self._rollback()

    def _rollback(self) -> None:
        with contextlib.suppress(*DB_ERRORS):  # a broken connection: the original error is what matters
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
