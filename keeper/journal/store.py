"""The :class:`Journal`: opening, migrating, cycles, snapshots, plans and the history export."""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import quote, urlsplit, urlunsplit

from keeper.errors import InputError, JournalError
from keeper.journal._base import Conn, Cursor, NotFoundError, check_text
from keeper.journal._db import POSTGRESQL, DbError, PgConnection, is_postgres_url
from keeper.journal.codec import dumps, int_to_text, loads
from keeper.journal.control import ControlMixin
from keeper.journal.intents import IntentsMixin
from keeper.journal.lease import LeaseMixin
from keeper.journal.ledger import LedgerMixin
from keeper.journal.marks import MarksMixin
from keeper.journal.records import Cycle, CycleStatus, PlanRecord, RunMode, SnapshotRecord
from keeper.journal.schema import SCHEMA_VERSION, migrate, read_version

__all__ = ["Journal"]

_EXPORT_TABLES = ("cycles", "snapshots", "plans", "intents", "tx_attempts", "fills", "control", "events",
                  "cycle_marks")
_INT64_MAX = 2**63 - 1  # SQLite INTEGER; nonces, blocks, timestamps and gas fit in practice


def redact_url(url: str) -> str:
    """A database URL without its password (for messages and ``where``)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _cycle(row: Any) -> Cycle:
    return Cycle(
        id=row["id"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        block_number=row["block_number"],
        status=CycleStatus(row["status"]),
        mode=RunMode(row["mode"]),
        error=row["error"],
    )


class Journal(IntentsMixin, LeaseMixin, ControlMixin, LedgerMixin, MarksMixin):
    """The keeper's durable record: SQLite (WAL, ``synchronous=FULL``) or PostgreSQL (psycopg 3).

    One writer process (the keeper) and any number of readers (``readonly=True``, e.g. the
    ``status`` command) may have it open at once. Every write is one transaction. Times written
    by the journal come from ``clock`` (seconds since the epoch), injected at construction.
    """

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Callable[[], float] | None = None,
        readonly: bool = False,
        busy_timeout_s: float = 5.0,
    ) -> Journal:
        """Open (creating and migrating if needed) the journal at ``path``.

        ``path`` is a SQLite file, or a ``postgresql://`` URL (:meth:`open_postgres`). ``clock`` gives
        the times the journal writes (default: :func:`time.time`); on PostgreSQL, without an injected
        clock, the lease's times come from the database server's clock (``clock_timestamp()``).

        The parent directory must already exist and be writable; otherwise :class:`JournalError`
        names the path and the cause, and nothing is created. A journal written by a newer keeper
        (schema version above :data:`SCHEMA_VERSION`) is refused untouched. ``readonly=True``
        opens an existing, current journal for reading only (no migration, no writes).
        """
        where = os.fspath(path)
        if is_postgres_url(where):
            return cls.open_postgres(where, clock=clock, readonly=readonly, connect_timeout_s=busy_timeout_s)
        target = Path(where).absolute()
        problem = _path_problem(target, readonly)
        if problem:
            raise JournalError(f"{where}: cannot open journal: {problem}")
        try:
            if readonly:
                conn = sqlite3.connect(
                    f"file:{quote(str(target))}?mode=ro",
                    uri=True,
                    timeout=busy_timeout_s,
                    isolation_level=None,
                    check_same_thread=False,  # transactions are serialized by the journal's lock
                )
            else:
                _private(target)
                conn = sqlite3.connect(
                    str(target), timeout=busy_timeout_s, isolation_level=None, check_same_thread=False
                )
        except sqlite3.Error as exc:
            raise JournalError(f"{where}: cannot open journal: {exc}") from exc
        return cls._setup(
            conn, where=where, clock=clock or time.time, readonly=readonly, busy_timeout_s=busy_timeout_s
        )

    @classmethod
    def open_postgres(
        cls,
        url: str,
        *,
        clock: Callable[[], float] | None = None,
        readonly: bool = False,
        connect_timeout_s: float = 5.0,
    ) -> Journal:
        """Open (creating the tables and migrating if needed) the journal in a PostgreSQL database.

        The database must exist; the tables go into the connection's current schema (``search_path``).
        Errors name the URL without its password. The same migrations as SQLite run (see
        :mod:`keeper.journal.schema`); writers are serialized by one advisory lock, as SQLite serializes them.
        """
        where = redact_url(url)
        try:
            conn = PgConnection.connect(url, connect_timeout_s=connect_timeout_s, readonly=readonly)
        except DbError as exc:
            raise JournalError(f"{where}: cannot open journal: {exc}") from exc
        try:
            version = _checked_version(read_version(conn, where, POSTGRESQL), where, readonly)
            if not readonly:
                version = migrate(conn, where, dialect=POSTGRESQL)
        except DbError as exc:
            conn.close()
            raise JournalError(f"{where}: cannot open journal: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, where=where, clock=clock or time.time, readonly=readonly, schema_version=version,
                   dialect=POSTGRESQL, db_clock=clock is None)

    @classmethod
    def memory(cls, *, clock: Callable[[], float] = time.time) -> Journal:
        """A fresh in-memory journal (tests, dry runs that must leave nothing behind)."""
        conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        return cls._setup(conn, where=":memory:", clock=clock, readonly=False, busy_timeout_s=5.0)

    @classmethod
    def _setup(
        cls, conn: sqlite3.Connection, *, where: str, clock: Callable[[], float], readonly: bool, busy_timeout_s: float
    ) -> Journal:
        conn.row_factory = sqlite3.Row
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            # before any write: a newer journal stays untouched
            version = _checked_version(read_version(conn, where), where, readonly)
            if not readonly:
                mode = str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]).lower()
                if mode != "wal" and where != ":memory:":
                    raise JournalError(f"{where}: cannot switch the journal to WAL mode (got {mode!r})")
                conn.execute("PRAGMA synchronous = FULL")
                version = migrate(conn, where)
        except sqlite3.Error as exc:
            conn.close()
            raise JournalError(f"{where}: cannot open journal: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        return cls(conn, where=where, clock=clock, readonly=readonly, schema_version=version)

    @property
    def schema_version(self) -> int:
        """The schema version of the open journal (equal to :data:`SCHEMA_VERSION` once opened)."""
        return self._schema_version

    def close(self) -> None:
        """Close the connection (committed data is already durable)."""
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- cycles

    def start_cycle(self, mode: RunMode | str) -> Cycle:
        """Open a new ``running`` cycle."""
        try:
            mode_value = RunMode(mode)
        except ValueError:
            raise InputError("mode", f"{mode!r} is not one of {[m.value for m in RunMode]}") from None
        with self._write("start a cycle") as conn:
            cursor = conn.execute(
                "INSERT INTO cycles (started_at, status, mode) VALUES (?, 'running', ?) RETURNING id",
                (self._now(), mode_value.value),
            )
            return self._cycle(conn, _rowid(cursor))

    def set_cycle_block(self, cycle_id: int, block_number: int) -> Cycle:
        """Record the block a running cycle reads at."""
        int_to_text(block_number, "block_number", high=_INT64_MAX)
        with self._write(f"set the block of cycle {cycle_id}") as conn:
            cycle = self._cycle(conn, cycle_id)
            if cycle.status is not CycleStatus.RUNNING:
                raise JournalError(f"cycle {cycle_id} is {cycle.status}, not running")
            conn.execute("UPDATE cycles SET block_number = ? WHERE id = ?", (block_number, cycle_id))
            return self._cycle(conn, cycle_id)

    def finish_cycle(self, cycle_id: int, status: CycleStatus | str, *, error: str | None = None) -> Cycle:
        """Close a running cycle as ``ok``, ``failed``, ``skipped`` or ``abandoned`` (a cycle finishes once)."""
        try:
            final = CycleStatus(status)
        except ValueError:
            raise InputError("status", f"{status!r} is not a cycle status") from None
        if final is CycleStatus.RUNNING:
            raise InputError("status", "a cycle cannot finish as running")
        if error is not None:
            check_text(error, "error")
        with self._write(f"finish cycle {cycle_id}") as conn:
            cycle = self._cycle(conn, cycle_id)
            if cycle.status is not CycleStatus.RUNNING:
                raise JournalError(f"cycle {cycle_id} already finished as {cycle.status}")
            conn.execute(
                "UPDATE cycles SET status = ?, finished_at = ?, error = ? WHERE id = ?",
                (final.value, self._now(), error, cycle_id),
            )
            return self._cycle(conn, cycle_id)

    def abandon_running_cycles(self, reason: str = "the keeper stopped while the cycle ran") -> list[int]:
        """At start: mark every cycle still ``running`` as ``abandoned``; return their ids."""
        with self._write("abandon running cycles") as conn:
            ids = [r[0] for r in conn.execute("SELECT id FROM cycles WHERE status = 'running' ORDER BY id")]
            conn.execute(
                "UPDATE cycles SET status = 'abandoned', finished_at = ?, error = ? WHERE status = 'running'",
                (self._now(), reason),
            )
        return ids

    def cycle(self, cycle_id: int) -> Cycle:
        """One cycle; :class:`NotFoundError` if there is none."""
        with self._read(f"read cycle {cycle_id}") as conn:
            return self._cycle(conn, cycle_id)

    def recent_cycles(self, n: int) -> list[Cycle]:
        """The last ``n`` cycles, newest first."""
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise InputError("n", f"expected a non-negative integer, got {n!r}")
        with self._read("list recent cycles") as conn:
            return [_cycle(r) for r in conn.execute("SELECT * FROM cycles ORDER BY id DESC LIMIT ?", (n,))]

    def cycles_between(self, start: float, end: float) -> list[Cycle]:
        """Cycles with ``start <= started_at < end`` (keeper clock), oldest first."""
        with self._read("list cycles") as conn:
            rows = conn.execute(
                "SELECT * FROM cycles WHERE started_at >= ? AND started_at < ? ORDER BY started_at, id", (start, end)
            )
            return [_cycle(r) for r in rows]

    # ---------------------------------------------------- snapshots and plans

    def record_snapshot(
        self,
        cycle_id: int,
        *,
        block_number: int,
        block_timestamp: int,
        complete: bool,
        snapshot: object,
        failures: object = (),
    ) -> SnapshotRecord:
        """Journal the book a cycle read. ``snapshot`` and ``failures`` go through :func:`to_jsonable`."""
        int_to_text(block_number, "block_number", high=_INT64_MAX)
        int_to_text(block_timestamp, "block_timestamp", high=_INT64_MAX)
        if not isinstance(complete, bool):
            raise InputError("complete", f"expected a bool, got {type(complete).__name__}")
        snapshot_text = dumps(snapshot, path="snapshot")
        failures_text = dumps(failures, path="failures")
        with self._write(f"record a snapshot for cycle {cycle_id}") as conn:
            self._cycle(conn, cycle_id)
            cursor = conn.execute(
                "INSERT INTO snapshots (cycle_id, block_number, block_timestamp, complete, snapshot_json, "
                "failures_json, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (cycle_id, block_number, block_timestamp, int(complete), snapshot_text, failures_text, self._now()),
            )
            row = conn.execute("SELECT * FROM snapshots WHERE id = ?", (_rowid(cursor),)).fetchone()
        return _snapshot(row)

    def snapshots(self, cycle_id: int) -> list[SnapshotRecord]:
        """The snapshots a cycle journaled, oldest first."""
        with self._read(f"read snapshots of cycle {cycle_id}") as conn:
            rows = conn.execute("SELECT * FROM snapshots WHERE cycle_id = ? ORDER BY id", (cycle_id,))
            return [_snapshot(r) for r in rows]

    def record_plan(
        self, cycle_id: int, *, decisions: object, reasons: str | Sequence[str], greeks: object
    ) -> PlanRecord:
        """Journal a cycle's plan: its decisions, its reasons (one per line, searchable) and greeks per underlying."""
        reasons_text = reasons if isinstance(reasons, str) else "\n".join(reasons)
        check_text(reasons_text, "reasons", empty=True)
        decisions_text = dumps(decisions, path="decisions")
        greeks_text = dumps(greeks, path="greeks")
        with self._write(f"record a plan for cycle {cycle_id}") as conn:
            self._cycle(conn, cycle_id)
            cursor = conn.execute(
                "INSERT INTO plans (cycle_id, decisions_json, reasons, greeks_json, recorded_at) "
                "VALUES (?, ?, ?, ?, ?) RETURNING id",
                (cycle_id, decisions_text, reasons_text, greeks_text, self._now()),
            )
            row = conn.execute("SELECT * FROM plans WHERE id = ?", (_rowid(cursor),)).fetchone()
        return _plan(row)

    def plans(self, cycle_id: int) -> list[PlanRecord]:
        """The plans a cycle journaled, oldest first."""
        with self._read(f"read plans of cycle {cycle_id}") as conn:
            return [_plan(r) for r in conn.execute("SELECT * FROM plans WHERE cycle_id = ? ORDER BY id", (cycle_id,))]

    def search_plans(self, text: str, *, limit: int = 100) -> list[PlanRecord]:
        """Plans whose reasons contain ``text`` (case-insensitive for ASCII), newest first."""
        check_text(text, "text")
        pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        with self._read("search plans") as conn:
            rows = conn.execute(
                f"SELECT * FROM plans WHERE reasons {self._dialect.ilike} ? ESCAPE '\\' ORDER BY id DESC LIMIT ?",
                (pattern, limit),
            )
            return [_plan(r) for r in rows]

    # ----------------------------------------------------------------- export

    def export(self, last_cycles: int | None = None) -> dict[str, Any]:
        """The history as JSON-ready data: ``{"schema_version": n, "<table>": [row, ...], ...}``.

        JSON columns are parsed (and lose their ``_json`` suffix); on-chain integers stay the
        exact decimal strings they are stored as. Rows are in insertion order. With ``last_cycles``,
        only the newest N cycles and what belongs to them (snapshots, plans, intents, their attempts
        and fills), the events since the first of them, and the control state.
        """
        if last_cycles is not None and (isinstance(last_cycles, bool) or last_cycles < 0):
            raise InputError("last_cycles", f"expected a non-negative integer, got {last_cycles}")
        out: dict[str, Any] = {"schema_version": self._schema_version}
        with self._read("export the journal") as conn:
            if last_cycles is None:
                for table in _EXPORT_TABLES:
                    # fixed table names
                    rows = conn.execute(f"SELECT * FROM {table} ORDER BY {self._order(table)}").fetchall()
                    out[table] = [_export_row(r) for r in rows]
                return out
            kept = "(SELECT id FROM cycles ORDER BY id DESC LIMIT ?)"
            intents = f"(SELECT id FROM intents WHERE cycle_id IN {kept})"
            since = "(SELECT COALESCE(MIN(started_at), 1e300) FROM cycles WHERE id IN " + kept + ")"
            o = self._order
            queries = {  # fixed SQL, one bound parameter: the limit
                "cycles": f"SELECT * FROM cycles WHERE id IN {kept} ORDER BY {o('cycles')}",
                "snapshots": f"SELECT * FROM snapshots WHERE cycle_id IN {kept} ORDER BY {o('snapshots')}",
                "plans": f"SELECT * FROM plans WHERE cycle_id IN {kept} ORDER BY {o('plans')}",
                "intents": f"SELECT * FROM intents WHERE cycle_id IN {kept} ORDER BY {o('intents')}",
                "tx_attempts": f"SELECT * FROM tx_attempts WHERE intent_id IN {intents} ORDER BY {o('tx_attempts')}",
                "fills": f"SELECT * FROM fills WHERE intent_id IN {intents} ORDER BY {o('fills')}",
                "events": f"SELECT * FROM events WHERE ts >= {since} ORDER BY {o('events')}",
                "cycle_marks": f"SELECT * FROM cycle_marks WHERE cycle_id IN {kept} ORDER BY {o('cycle_marks')}",
            }
            for table in _EXPORT_TABLES:
                if table in queries:
                    rows = conn.execute(queries[table], (last_cycles,)).fetchall()
                else:
                    rows = conn.execute(f"SELECT * FROM {table} ORDER BY {self._order(table)}").fetchall()
                out[table] = [_export_row(r) for r in rows]
        return out

    # --------------------------------------------------------------- helpers

    def _cycle(self, conn: Conn, cycle_id: int) -> Cycle:
        row = conn.execute("SELECT * FROM cycles WHERE id = ?", (cycle_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"{self._where}: cycle {cycle_id} does not exist")
        return _cycle(row)


def _path_problem(target: Path, readonly: bool) -> str:
    """Why the journal at ``target`` cannot be opened, or ``""``; looks without creating anything."""
    parent = target.parent
    try:
        if not parent.exists():
            return f"directory {parent} does not exist"
        if not parent.is_dir():
            return f"{parent} is not a directory"
        if target.exists() and not target.is_file():
            return f"{target} is not a regular file"
        if readonly:
            if not target.exists():
                return f"{target} does not exist"
            if not os.access(target, os.R_OK):
                return f"{target} is not readable (permission denied)"
            return ""
        if not os.access(parent, os.W_OK | os.X_OK):
            return f"directory {parent} is not writable (permission denied)"
        if target.exists() and not os.access(target, os.R_OK | os.W_OK):
            return f"{target} is not readable and writable (permission denied)"
    except OSError as exc:
        return f"cannot inspect {target}: {exc.strerror or exc}"
    return ""


def _rowid(cursor: Cursor) -> int:
    """The id an ``INSERT ... RETURNING id`` returned (both backends)."""
    row = cursor.fetchone()
    if row is None:
        raise JournalError("insert returned no row id")
    return int(row[0])


def _snapshot(row: Any) -> SnapshotRecord:
    return SnapshotRecord(
        id=row["id"],
        cycle_id=row["cycle_id"],
        block_number=row["block_number"],
        block_timestamp=row["block_timestamp"],
        complete=bool(row["complete"]),
        snapshot=loads(row["snapshot_json"]),
        failures=loads(row["failures_json"]),
        recorded_at=row["recorded_at"],
    )


def _plan(row: Any) -> PlanRecord:
    return PlanRecord(
        id=row["id"],
        cycle_id=row["cycle_id"],
        decisions=loads(row["decisions_json"]),
        reasons=row["reasons"],
        greeks=loads(row["greeks_json"]),
        recorded_at=row["recorded_at"],
    )


def _export_row(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in row.keys():  # noqa: SIM118 (sqlite3.Row is not a mapping)
        if key == "seq":  # PostgreSQL's insertion order column: not part of the record
            continue
        value = row[key]
        if key.endswith("_json"):
            out[key.removesuffix("_json")] = loads(value)
        else:
            out[key] = value
    return out


def _private(target: Path) -> None:
    """Create the journal file readable by its owner only (0600), or tighten an existing one.

    The journal holds signed transactions and the keeper's history. SQLite gives its ``-wal`` and
    ``-shm`` files the main file's permissions, so they are private too.
    """
    try:
        fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_mode & 0o077:
                os.fchmod(fd, 0o600)
        finally:
            os.close(fd)
    except OSError as exc:
        raise JournalError(f"{target}: cannot create the journal file: {exc.strerror}") from exc


def _checked_version(version: int, where: str, readonly: bool) -> int:
    """``version`` if this keeper may open the journal at it: never a newer schema; read-only only at ours."""
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"{where}: journal schema version {version} is newer than this keeper supports "
            f"({SCHEMA_VERSION}); refusing to open it (upgrade the keeper)"
        )
    if readonly and version != SCHEMA_VERSION:
        raise JournalError(
            f"{where}: journal schema version {version} needs migrating to {SCHEMA_VERSION}; "
            "open it once with the keeper (read-write) first"
        )
    return version
