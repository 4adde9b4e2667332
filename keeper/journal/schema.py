"""The journal's schema and its ordered migrations.

The schema version lives in ``meta`` (``key = 'schema_version'``). Version 0 is an empty
database. Each migration runs in its own ``BEGIN IMMEDIATE`` transaction together with the
version bump, so a crash leaves the journal at the old or the new version, never in between.
A journal whose version is newer than :data:`SCHEMA_VERSION` is refused untouched.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

from keeper.errors import JournalError

__all__ = ["APPLICATION", "MIGRATIONS", "SCHEMA_VERSION", "Migration", "migrate", "read_version"]

APPLICATION = "keeper-journal"
"""Marker in ``meta`` telling a keeper journal from any other SQLite file."""


@dataclass(frozen=True)
class Migration:
    """Statements that move the schema from ``version - 1`` to ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]


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
        f"INSERT OR IGNORE INTO meta (key, value) VALUES ('application', '{APPLICATION}')",
        """CREATE TABLE cycles (
            id           INTEGER PRIMARY KEY AUTOINCREMENT,
            started_at   REAL NOT NULL,
            finished_at  REAL,
            block_number INTEGER,
            status       TEXT NOT NULL CHECK (status IN ('running', 'ok', 'failed', 'skipped', 'abandoned')),
            mode         TEXT NOT NULL CHECK (mode IN ('live', 'dry-run')),
            error        TEXT
        )""",
        "CREATE INDEX cycles_started ON cycles (started_at)",
        """CREATE TABLE snapshots (
            id              INTEGER PRIMARY KEY AUTOINCREMENT,
            cycle_id        INTEGER NOT NULL REFERENCES cycles (id),
            block_number    INTEGER NOT NULL,
            block_timestamp INTEGER NOT NULL,
            complete        INTEGER NOT NULL CHECK (complete IN (0, 1)),
            snapshot_json   TEXT NOT NULL,
            failures_json   TEXT NOT NULL,
            recorded_at     REAL NOT NULL
        )""",
        "CREATE INDEX snapshots_cycle ON snapshots (cycle_id)",
        """CREATE TABLE plans (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            cycle_id       INTEGER NOT NULL REFERENCES cycles (id),
            decisions_json TEXT NOT NULL,
            reasons        TEXT NOT NULL,
            greeks_json    TEXT NOT NULL,
            recorded_at    REAL NOT NULL
        )""",
        "CREATE INDEX plans_cycle ON plans (cycle_id)",
        """CREATE TABLE intents (
            id          TEXT PRIMARY KEY,
            cycle_id    INTEGER NOT NULL REFERENCES cycles (id),
            created_at  REAL NOT NULL,
            updated_at  REAL NOT NULL,
            underlying  TEXT NOT NULL,
            venue       TEXT NOT NULL,
            side        TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
            size        TEXT NOT NULL,
            params_json TEXT NOT NULL,
            status      TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'mined', 'failed', 'replaced')),
            error       TEXT
        )""",
        "CREATE INDEX intents_status ON intents (status, created_at)",
        f"""CREATE TRIGGER intents_state_machine BEFORE UPDATE OF status ON intents
            WHEN NOT {_LEGAL_STATUS_SQL}
            BEGIN SELECT RAISE(ABORT, 'illegal intent status transition'); END""",
        """CREATE TABLE tx_attempts (
            id                       INTEGER PRIMARY KEY AUTOINCREMENT,
            intent_id                TEXT NOT NULL REFERENCES intents (id),
            attempt                  INTEGER NOT NULL CHECK (attempt >= 1),
            nonce                    INTEGER NOT NULL CHECK (nonce >= 0),
            tx_hash                  TEXT NOT NULL UNIQUE,
            raw_tx                   TEXT NOT NULL,
            max_fee_per_gas          TEXT NOT NULL,
            max_priority_fee_per_gas TEXT NOT NULL,
            created_at               REAL NOT NULL,
            UNIQUE (intent_id, attempt)
        )""",
        """CREATE TABLE fills (
            id                  INTEGER PRIMARY KEY AUTOINCREMENT,
            intent_id           TEXT NOT NULL UNIQUE REFERENCES intents (id),
            block_number        INTEGER NOT NULL,
            block_timestamp     INTEGER NOT NULL,
            tx_hash             TEXT NOT NULL REFERENCES tx_attempts (tx_hash),
            amount_in           TEXT NOT NULL,
            amount_out          TEXT NOT NULL,
            notional_quote      REAL NOT NULL,
            realized_price      REAL NOT NULL,
            oracle_price        REAL NOT NULL,
            slippage_bps        REAL NOT NULL,
            fee_quote           REAL NOT NULL,
            gas_used            INTEGER NOT NULL,
            effective_gas_price TEXT NOT NULL,
            gas_cost_native     TEXT NOT NULL,
            gas_cost_quote      REAL NOT NULL,
            recorded_at         REAL NOT NULL
        )""",
        "CREATE INDEX fills_time ON fills (block_timestamp)",
        """CREATE TABLE control (
            key        TEXT PRIMARY KEY,
            value_json TEXT NOT NULL,
            updated_at REAL NOT NULL
        )""",
        """CREATE TABLE events (
            id        INTEGER PRIMARY KEY AUTOINCREMENT,
            ts        REAL NOT NULL,
            kind      TEXT NOT NULL,
            data_json TEXT NOT NULL
        )""",
        "CREATE INDEX events_ts ON events (ts)",
        """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
        """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
            BEGIN SELECT RAISE(ABORT, 'events are append-only'); END""",
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
        "DROP TRIGGER intents_state_machine",
        f"""CREATE TRIGGER intents_state_machine BEFORE UPDATE OF status ON intents
            WHEN NOT {_LEGAL_STATUS_SQL_V2}
            BEGIN SELECT RAISE(ABORT, 'illegal intent status transition'); END""",
    ),
)

_V3 = Migration(
    version=3,
    description="the audit ledger: hash-chained, signed records of every cycle (keeper/journal/ledger.py)",
    statements=(  # portable SQL: integers and text only (hashes and signatures as 0x hex text), no SQLite types
        """CREATE TABLE ledger (
            seq         INTEGER PRIMARY KEY,
            cycle_id    INTEGER NOT NULL,
            prev_hash   TEXT NOT NULL,
            record_hash TEXT NOT NULL UNIQUE,
            record      TEXT NOT NULL,
            signature   TEXT NOT NULL,
            signer      TEXT NOT NULL
        )""",
        """CREATE TABLE ledger_cycles (
            cycle_id INTEGER PRIMARY KEY,
            seq      INTEGER NOT NULL
        )""",
        """CREATE TABLE ledger_intents (
            intent_id  TEXT PRIMARY KEY,
            seq        INTEGER NOT NULL,
            entry_hash TEXT NOT NULL
        )""",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_V1, _V2, _V3)
SCHEMA_VERSION = MIGRATIONS[-1].version
"""The version this code writes and understands."""


def read_version(conn: sqlite3.Connection, where: str) -> int:
    """Return the schema version of an open database (0 if it is empty).

    Raises :class:`JournalError` (naming ``where``) if the database holds tables but is not a
    keeper journal, or its version marker is unreadable.
    """
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    tables = {t for t in tables if not t.startswith("sqlite_")}
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


def migrate(conn: sqlite3.Connection, where: str, migrations: Sequence[Migration] = MIGRATIONS) -> int:
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
        conn.execute("BEGIN IMMEDIATE")
        try:
            current = read_version(conn, where)
            if current > target:
                raise JournalError(
                    f"{where}: journal schema version {current} is newer than this keeper supports ({target}); "
                    "refusing to open it (upgrade the keeper)"
                )
            if current >= migration.version:
                conn.execute("ROLLBACK")
                continue
            for statement in migration.statements:
                conn.execute(statement)
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(migration.version),),
            )
            conn.execute("COMMIT")
        except JournalError:
            conn.execute("ROLLBACK")
            raise
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise JournalError(
                f"{where}: migration to schema version {migration.version} ({migration.description}) failed: {exc}"
            ) from exc
    return read_version(conn, where)
