"""The journal's schema and its ordered migrations.

The schema version lives in ``meta`` (``key = 'schema_version'``). Version 0 is an empty
database. Each migration runs in its own write transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL
``BEGIN`` plus the journal's advisory lock, DDL included) together with the version bump, so a crash
leaves the journal at the old or the new version, never in between. One list of migrations serves both
backends: a statement is portable SQL with type markers, or a :class:`~keeper.journal._db.PerDialect`
pair where the backends differ (triggers).
A journal whose version is newer than :data:`SCHEMA_VERSION` is refused untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from keeper.errors import JournalError
from keeper.journal._base import Conn
from keeper.journal._db import DB_ERRORS, SQLITE, Dialect, PerDialect, Statement, render

__all__ = ["APPLICATION", "MIGRATIONS", "SCHEMA_VERSION", "Migration", "migrate", "read_version"]

APPLICATION = "keeper-journal"
"""Marker in ``meta`` telling a keeper journal from any other SQLite file."""


@dataclass(frozen=True)
class Migration:
    """Statements that move the schema from ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: tuple[Statement, ...]
    """Portable SQL (type markers ``<ID>``, ``<INT>``, ``<REAL>``; see :func:`keeper.journal._db.render`)
    or a :class:`~keeper.journal._db.PerDialect` step spelled per backend."""


def _state_machine(legal_sql: str, *, replace: bool) -> PerDialect:
    """The intent state machine's trigger: SQLite's ``RAISE(ABORT)``, PostgreSQL's plpgsql function."""
    sqlite = (
        *(("DROP TRIGGER intents_state_machine",) if replace else ()),
        f"""CREATE TRIGGER intents_state_machine BEFORE UPDATE OF status ON intents
            WHEN NOT {legal_sql}
            BEGIN SELECT RAISE(ABORT, 'illegal intent status transition'); END""",
    )
    postgresql = (
        f"""CREATE OR REPLACE FUNCTION intents_state_machine() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NOT {legal_sql} THEN
                    RAISE EXCEPTION 'illegal intent status transition' USING ERRCODE = 'check_violation';
                END IF;
                RETURN NEW;
            END $$""",
        *(() if replace else (
            """CREATE TRIGGER intents_state_machine BEFORE UPDATE OF status ON intents
            FOR EACH ROW EXECUTE FUNCTION intents_state_machine()""",
        )),
    )
    return PerDialect(sqlite=sqlite, postgresql=postgresql)


_LEGAL_STATUS_SQL = """(
    (OLD.status = 'pending' AND NEW.status IN ('pending', 'sent', 'failed'))
    OR (OLD.status = 'sent' AND NEW.status IN ('sent', 'mined', 'failed', 'replaced'))
    OR (OLD.status = NEW.status)
)"""

_V1 = Migration(
    version=1,
    description="cycles, snapshots, plans, intents, tx_attempts, fills, control, events",
    statements=(
        """CREATE TABLE IF NOT EXISTS meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        )""",
        f"<INSERT_IGNORE> INTO meta (key, value) VALUES ('application', '{APPLICATION}') <ON_CONFLICT_IGNORE>",
        """CREATE TABLE cycles (
            id           <ID>,
            started_at   <REAL> NOT NULL,
            finished_at  <REAL>,
            block_number <INT>,
            status       TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped', 'abandoned')),
            mode         TEXT NOT NULL CHECK (mode IN ('live', 'dry-run')),
            error        TEXT
        )""",
        "CREATE INDEX cycles_started ON cycles (started_at)",
        """CREATE TABLE snapshots (
            id              <ID>,
            cycle_id        <INT> NOT NULL REFERENCES cycles (id),
            block_number    <INT> NOT NULL,
            block_timestamp <INT> NOT NULL,
            complete        <INT> NOT NULL CHECK (complete IN (0, 1)),
            snapshot_json   TEXT NOT NULL,
            failures_json   TEXT NOT NULL,
            recorded_at     <REAL> NOT NULL
        )""",
        "CREATE INDEX snapshots_cycle ON snapshots (cycle_id)",
        """CREATE TABLE plans (
            id             <ID>,
            cycle_id       <INT> NOT NULL REFERENCES cycles (id),
            decisions_json TEXT NOT NULL,
            reasons        TEXT NOT NULL,
            greeks_json    TEXT NOT NULL,
            recorded_at    <REAL> NOT NULL
        )""",
        "CREATE INDEX plans_cycle ON plans (cycle_id)",
        """CREATE TABLE intents (
            id          TEXT PRIMARY KEY,
            cycle_id    <INT> NOT NULL REFERENCES cycles (id),
            created_at  <REAL> NOT NULL,
            updated_at  <REAL> NOT NULL,
            underlying  TEXT NOT NULL,
            venue       TEXT NOT NULL,
            side        TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
            size        TEXT NOT NULL,
            params_json TEXT NOT NULL,
            status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'mined', 'failed', 'replaced')),
            error       TEXT
        )""",
        "CREATE INDEX intents_status ON intents (status, created_at)",
        _state_machine(_LEGAL_STATUS_SQL, replace=False),
        """CREATE TABLE tx_attempts (
            id                       <ID>,
            intent_id                TEXT NOT NULL REFERENCES intents (id),
            attempt                  <INT> NOT NULL CHECK (attempt >= 1),
            nonce                    <INT> NOT NULL CHECK (nonce >= 0),
            tx_hash                  TEXT NOT NULL UNIQUE,
            raw_tx                   TEXT NOT NULL,
            max_fee_per_gas          TEXT NOT NULL,
            max_priority_fee_per_gas TEXT NOT NULL,
            created_at               <REAL> NOT NULL,
            UNIQUE (intent_id, attempt)
        )""",
        """CREATE TABLE fills (
            id                  <ID>,
            intent_id           TEXT NOT NULL UNIQUE REFERENCES intents (id),
            block_number        <INT> NOT NULL,
            block_timestamp     <INT> NOT NULL,
            tx_hash             TEXT NOT NULL REFERENCES tx_attempts (tx_hash),
            amount_in           TEXT NOT NULL,
            amount_out          TEXT NOT NULL,
            notional_quote      <REAL> NOT NULL,
            realized_price      <REAL> NOT NULL,
            oracle_price        <REAL> NOT NULL,
            slippage_bps        <REAL> NOT NULL,
            fee_quote           <REAL> NOT NULL,
            gas_used            <INT> NOT NULL,
            effective_gas_price TEXT NOT NULL,
            gas_cost_native     TEXT NOT NULL,
            gas_cost_quote      <REAL> NOT NULL,
            recorded_at         <REAL> NOT NULL
        )""",
        "CREATE INDEX fills_time ON fills (block_timestamp)",
        """CREATE TABLE control (
            key        TEXT PRIMARY KEY,
            value_json TEXT NOT NULL,
            updated_at <REAL> NOT NULL
        )""",
        """CREATE TABLE events (
            id        <ID>,
            ts        <REAL> NOT NULL,
            kind      TEXT NOT NULL,
            data_json TEXT NOT NULL
        )""",
        "CREATE INDEX events_ts ON events (ts)",
        PerDialect(
            sqlite=(
                """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
                """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
            ),
            postgresql=(
                """CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'events are append-only' USING ERRCODE = 'check_violation'; END $$""",
                """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            FOR EACH ROW EXECUTE FUNCTION events_append_only()""",
                """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            FOR EACH ROW EXECUTE FUNCTION events_append_only()""",
            ),
        ),
    ),
)

_LEGAL_STATUS_SQL_V2 = """(
    (OLD.status = 'pending' AND NEW.status IN ('pending', 'sent', 'failed'))
    OR (OLD.status = 'sent' AND NEW.status IN ('sent', 'mined', 'failed', 'replaced'))
    OR (OLD.status = 'mined' AND NEW.status = 'sent' AND COALESCE(NEW.error, '') LIKE 'reorg: %')
    OR (OLD.status = NEW.status)
)"""

_V2 = Migration(
    version=2,
    description="a reorg may return a mined intent to sent (its fill moves to the event log)",
    statements=(
        _state_machine(_LEGAL_STATUS_SQL_V2, replace=True),
    ),
)

_V3 = Migration(
    version=3,
    description="the leader lease with its fencing token; intents carry the token they were created under",
    statements=(
        """CREATE TABLE leases (
            scope       TEXT PRIMARY KEY,
            holder      TEXT NOT NULL,
            token       <INT> NOT NULL CHECK (token >= 1),
            ttl_s       <REAL> NOT NULL CHECK (ttl_s > 0),
            acquired_at <REAL> NOT NULL,
            renewed_at  <REAL> NOT NULL,
            expires_at  <REAL> NOT NULL
        )""",
        "ALTER TABLE intents ADD COLUMN lease_scope TEXT",
        "ALTER TABLE intents ADD COLUMN lease_token <INT>",
        PerDialect(  # insertion order: SQLite has its rowid; PostgreSQL gets a column
            sqlite=(),
            postgresql=(
                "ALTER TABLE intents ADD COLUMN seq BIGINT GENERATED BY DEFAULT AS IDENTITY",
                "ALTER TABLE control ADD COLUMN seq BIGINT GENERATED BY DEFAULT AS IDENTITY",
            ),
        ),
    ),
)

_V4 = Migration(
    version=4,
    description="the audit ledger: hash-chained, signed records of every cycle (keeper/journal/ledger.py)",
    statements=(  # portable SQL: integers and text only (hashes and signatures as 0x hex text)
        """CREATE TABLE ledger (
            seq         <INT> PRIMARY KEY,
            cycle_id    <INT> NOT NULL,
            prev_hash   TEXT NOT NULL,
            record_hash TEXT NOT NULL UNIQUE,
            record      TEXT NOT NULL,
            signature   TEXT NOT NULL,
            signer      TEXT NOT NULL
        )""",
        """CREATE TABLE ledger_cycles (
            cycle_id <INT> PRIMARY KEY,
            seq      <INT> NOT NULL
        )""",
        """CREATE TABLE ledger_intents (
            intent_id  TEXT PRIMARY KEY,
            seq        <INT> NOT NULL,
            entry_hash TEXT NOT NULL
        )""",
    ),
)

_V5 = Migration(
    version=5,
    description="cycle_marks: each cycle's LP and perp marks (LP fees against LVR, perp funding per period)",
    statements=(  # portable SQL: no AUTOINCREMENT, no REAL columns (figures live in the JSON)
        """CREATE TABLE cycle_marks (
            cycle_id  <INT> NOT NULL REFERENCES cycles (id),
            kind      TEXT NOT NULL CHECK (kind IN ('lp', 'perp')),
            item      TEXT NOT NULL,
            data_json TEXT NOT NULL,
            PRIMARY KEY (cycle_id, kind, item)
        )""",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3, _V4, _V5)
SCHEMA_VERSION = MIGRATIONS[-1].version
"""The version this code writes and understands."""


def read_version(conn: Conn, where: str, dialect: Dialect = SQLITE) -> int:
    """Return the schema version of an open database (0 if it is empty).

    Raises :class:`JournalError` (naming ``where``) if the database holds tables but is not a
    keeper journal, or its version marker is unreadable.
    """
    tables = {str(row[0]) for row in conn.execute(dialect.tables_sql)}
    if "meta" not in tables:
        if tables:
            raise JournalError(f"{where}: not a keeper journal (tables {sorted(tables)}, no meta table)")
        return 0
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("application", APPLICATION) != APPLICATION:
        raise JournalError(f"{where}: not a keeper journal (application {meta['application']!r})")
    text = meta.get("schema_version", "0")
    try:
        version = int(text)
    except ValueError:
        raise JournalError(f"{where}: unreadable schema_version {text!r}") from None
    if version < 0:
        raise JournalError(f"{where}: unreadable schema_version {text!r}")
    return version


def migrate(
    conn: Conn, where: str, migrations: Sequence[Migration] = MIGRATIONS, dialect: Dialect = SQLITE
) -> int:
    """Bring the database to the last version in ``migrations``; return that version.

    ``conn`` must be in autocommit mode (``isolation_level=None``). Each pending migration and
    its version bump commit together. A database newer than the code is refused before any
    write. A failing migration is rolled back and reported as :class:`JournalError`.
    """
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(migrations) + 1)):
        raise JournalError(f"migrations must be numbered 1..n in order, got {versions}")
    target = versions[-1] if versions else 0
    for migration in migrations:
        for begin in dialect.begin_write:  # on PostgreSQL the lock also keeps two keepers from migrating at once
            conn.execute(begin)
        try:
            current = read_version(conn, where, dialect)
            if current > target:
                raise JournalError(
                    f"{where}: journal schema version {current} is newer than this keeper supports ({target}); "
                    "refusing to open it (upgrade the keeper)"
                )
            if current >= migration.version:
                conn.execute("ROLLBACK")
                continue
            for statement in migration.statements:
                for sql in render(statement, dialect):
                    conn.execute(sql)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(migration.version),),
            )
            conn.execute("COMMIT")
        except JournalError:
            conn.execute("ROLLBACK")
            raise
        except DB_ERRORS as exc:
            conn.execute("ROLLBACK")
            raise JournalError(
                f"{where}: migration to schema version {migration.version} ({migration.description}) failed: {exc}"
            ) from exc
    return read_version(conn, where, dialect)
