"""The journal: opening and migrating, the intent state machine, exact integers, durability, concurrency."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.errors import InputError, JournalError
from keeper.journal import (
    LEGAL_TRANSITIONS,
    SCHEMA_VERSION,
    CycleStatus,
    FillData,
    IllegalTransitionError,
    Intent,
    IntentStatus,
    Journal,
    NotFoundError,
    RunMode,
    Side,
    TxParams,
    dumps,
    to_jsonable,
)
from keeper.journal._db import DbIntegrityError
from keeper.journal.schema import MIGRATIONS, Migration, migrate, read_version

U256 = 2**256 - 1
PARAMS = TxParams(to="0x" + "ab" * 20, data="0xdeadbeef", value=0, gas_limit=350_000)


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def tick(self, seconds: float = 1.0) -> None:
        self.now += seconds


def tx_hash(n: int) -> str:
    return "0x" + f"{n:064x}"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


INTEGRITY = (sqlite3.IntegrityError, DbIntegrityError)
"""What a constraint or trigger raises on a raw write: the same refusal on both backends."""


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def journal(request: pytest.FixtureRequest, clock: FakeClock) -> Iterator[Journal]:
    """The same suite on both backends: an in-memory SQLite journal, and one in a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        j = Journal.memory(clock=clock)
    else:
        j = Journal.open(request.getfixturevalue("pg_url"), clock=clock)
    yield j
    j.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite"


def new_intent(j: Journal, *, cycle_id: int | None = None, **overrides: Any) -> Intent:
    if cycle_id is None:
        cycle_id = j.start_cycle(RunMode.LIVE).id
    kwargs: dict[str, Any] = {"underlying": "WETH", "venue": "uniswap_v3", "side": Side.SELL, "size": 10**18}
    kwargs.update(overrides)
    return j.create_intent(cycle_id, params=PARAMS, **kwargs)


def attempt(j: Journal, intent_id: str, n: int, *, nonce: int = 7, fee: int = 0) -> None:
    j.record_attempt(
        intent_id,
        nonce=nonce,
        tx_hash=tx_hash(n),
        raw_tx="0x02f8" + f"{n:08x}",
        max_fee_per_gas=30 * 10**9 + fee,
        max_priority_fee_per_gas=10**9 + fee,
    )


def fill_data(h: str, *, ts: int = 1_700_000_100, notional: float = 3000.0, **overrides: Any) -> FillData:
    values: dict[str, Any] = {
        "block_number": 19_000_000,
        "block_timestamp": ts,
        "tx_hash": h,
        "amount_in": 10**18,
        "amount_out": 3_000 * 10**6,
        "notional_quote": notional,
        "realized_price": 3000.0,
        "oracle_price": 3001.5,
        "slippage_bps": 5.0,
        "fee_quote": 1.5,
        "gas_used": 150_000,
        "effective_gas_price": 20 * 10**9,
        "gas_cost_native": 150_000 * 20 * 10**9,
        "gas_cost_quote": 9.0,
    }
    values.update(overrides)
    return FillData(**values)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------------------- opening


def test_open_creates_a_wal_journal_at_the_current_version(db_path: Path) -> None:
    with Journal.open(db_path) as j:
        assert j.schema_version == SCHEMA_VERSION
        conn = j._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000
    other = sqlite3.connect(db_path)
    try:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file
        assert read_version(other, "x") == SCHEMA_VERSION
    finally:
        other.close()


def test_reopen_keeps_data_and_version(db_path: Path, clock: FakeClock) -> None:
    with Journal.open(db_path, clock=clock) as j:
        intent = new_intent(j)
    with Journal.open(db_path, clock=clock) as j:
        assert j.schema_version == SCHEMA_VERSION
        assert j.intent(intent.id) == intent


def test_missing_parent_directory_is_named_and_nothing_is_created(tmp_path: Path) -> None:
    target = tmp_path / "nope" / "journal.sqlite"
    with pytest.raises(JournalError, match=r"journal\.sqlite: cannot open journal: directory .*nope does not exist"):
        Journal.open(target)
    assert list(tmp_path.iterdir()) == []


def test_parent_that_is_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    target = tmp_path / "file" / "journal.sqlite"
    with pytest.raises(JournalError, match=r"cannot open journal: .*file is not a directory"):
        Journal.open(target)
    assert (tmp_path / "file").read_text() == "x"


def test_unwritable_directory_is_refused_before_anything_is_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_access = os.access

    def access(path: Any, mode: int, **kwargs: Any) -> bool:
        return False if Path(path) == tmp_path and mode & os.W_OK else real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)  # what a non-root user sees in a read-only directory
    with pytest.raises(JournalError, match=rf"directory {tmp_path} is not writable \(permission denied\)"):
        Journal.open(tmp_path / "journal.sqlite")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores directory permissions")
def test_read_only_directory_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        with pytest.raises(JournalError, match=r"directory .*ro is not writable"):
            Journal.open(ro / "journal.sqlite")
        assert list(ro.iterdir()) == []
    finally:
        ro.chmod(0o700)


def test_path_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    with pytest.raises(JournalError, match="is not a regular file"):
        Journal.open(tmp_path / "dir")


def test_a_file_that_is_not_sqlite_is_refused_untouched(db_path: Path) -> None:
    db_path.write_bytes(b"this is not a database" * 100)
    before = file_digest(db_path)
    with pytest.raises(JournalError, match="cannot open journal: file is not a database"):
        Journal.open(db_path)
    assert file_digest(db_path) == before


def test_a_foreign_sqlite_database_is_refused(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE users (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match=r"not a keeper journal \(tables \['users'\]"):
        Journal.open(db_path)


def test_empty_file_is_migrated_from_version_0(db_path: Path) -> None:
    db_path.touch()
    with Journal.open(db_path) as j:
        assert j.schema_version == SCHEMA_VERSION
        tables = {r[0] for r in j._conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    expected = {"meta", "cycles", "snapshots", "plans", "intents", "tx_attempts", "fills", "control", "events"}
    assert expected <= tables


def test_meta_at_version_0_is_migrated(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute("INSERT INTO meta VALUES ('schema_version', '0')")
    conn.commit()
    conn.close()
    with Journal.open(db_path) as j:
        assert j.schema_version == SCHEMA_VERSION
        j.start_cycle("live")


@pytest.mark.postgres
def test_postgresql_journal_migrates_once_and_refuses_newer_or_foreign_schemas(pg_cluster: Any) -> None:
    """The same rules as SQLite's: migrated to the current version once (two opens, one migration), a newer
    schema refused untouched, a schema holding other tables refused, a read-only open needs a current one."""
    url = pg_cluster.url(schema=pg_cluster.new_schema())
    with pytest.raises(JournalError, match="needs migrating"):
        Journal.open(url, readonly=True)
    with Journal.open(url) as a, Journal.open(url) as b:
        assert a.schema_version == b.schema_version == SCHEMA_VERSION
        assert a.backend == "postgresql" and "@127.0.0.1" in a.where
        a.start_cycle("live")
        assert [c.id for c in b.recent_cycles(5)] == [1]
        a._conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    with pytest.raises(JournalError, match=rf"schema version {SCHEMA_VERSION + 1} is newer .* refusing"):
        Journal.open(url)
    with pytest.raises(JournalError, match="is newer"):
        Journal.open(url, readonly=True)
    foreign = pg_cluster.new_schema()
    pg_cluster.sql(f"CREATE TABLE {foreign}.users (id int)")
    with pytest.raises(JournalError, match=r"not a keeper journal \(tables \['users'\]"):
        Journal.open(pg_cluster.url(schema=foreign))


def test_a_postgresql_password_never_reaches_a_message() -> None:
    with pytest.raises(JournalError) as info:
        Journal.open("postgresql://keeper:s3cret-pw@127.0.0.1:1/keeper", busy_timeout_s=1.0)
    assert "s3cret-pw" not in str(info.value) and "postgresql://keeper@127.0.0.1:1/keeper" in str(info.value)


def test_newer_schema_is_refused_and_left_untouched(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    conn.execute(
        "INSERT INTO meta VALUES ('application', 'keeper-journal'), ('schema_version', ?)", (str(SCHEMA_VERSION + 1),)
    )
    conn.commit()
    conn.close()
    before = file_digest(db_path)
    with pytest.raises(JournalError, match=rf"schema version {SCHEMA_VERSION + 1} is newer .* refusing"):
        Journal.open(db_path)
    with pytest.raises(JournalError, match="is newer"):
        Journal.open(db_path, readonly=True)
    assert file_digest(db_path) == before
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL either
    finally:
        conn.close()


def test_a_version_2_journal_is_migrated_to_the_lease_schema_and_keeps_its_intents(db_path: Path) -> None:
    """A journal written before the lease existed opens at the current version; its intents carry no token."""
    conn = sqlite3.connect(db_path, isolation_level=None)
    assert migrate(conn, str(db_path), MIGRATIONS[:2]) == 2
    conn.execute("INSERT INTO cycles (started_at, status, mode) VALUES (1.0, 'ok', 'live')")
    conn.execute("INSERT INTO intents (id, cycle_id, created_at, updated_at, underlying, venue, side, size, "
                 "params_json, status) VALUES ('old', 1, 1.0, 1.0, 'ETH', 'uniswap', 'sell', '5', ?, 'pending')",
                 (json.dumps({"to": PARAMS.to, "data": PARAMS.data, "value": "0", "gas_limit": "1"}),))
    conn.close()
    with Journal.open(db_path) as j:
        assert j.schema_version == SCHEMA_VERSION >= 3
        old = j.intent("old")
        assert (old.status, old.size, old.lease_scope, old.lease_token) == (IntentStatus.PENDING, 5, None, None)
        assert j.leases() == []
        j.record_attempt("old", nonce=0, tx_hash=tx_hash(1), raw_tx="0x02", max_fee_per_gas=2,
                         max_priority_fee_per_gas=1)  # no token, no fence: as before the lease


def test_migrations_apply_in_order_and_a_failing_one_rolls_back() -> None:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    n = len(MIGRATIONS)
    v2 = Migration(n + 1, "add a table", ("CREATE TABLE extra (x INTEGER)",))
    v3 = Migration(n + 2, "broken", ("CREATE TABLE half (x INTEGER)", "THIS IS NOT SQL"))
    assert migrate(conn, "mem", (*MIGRATIONS, v2)) == n + 1
    assert migrate(conn, "mem", (*MIGRATIONS, v2)) == n + 1  # idempotent
    with pytest.raises(JournalError, match=rf"mem: migration to schema version {n + 2} \(broken\) failed"):
        migrate(conn, "mem", (*MIGRATIONS, v2, v3))
    assert read_version(conn, "mem") == n + 1
    names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "extra" in names
    assert "half" not in names
    with pytest.raises(JournalError, match="newer than this keeper supports"):
        migrate(conn, "mem", MIGRATIONS)
    with pytest.raises(JournalError, match=r"numbered 1\.\.n"):
        migrate(conn, "mem", (v3,))


def test_memory_journal_and_closed_connection(clock: FakeClock) -> None:
    j = Journal.memory(clock=clock)
    assert j.where == ":memory:"
    assert j.schema_version == SCHEMA_VERSION
    j.close()
    with pytest.raises(JournalError, match="cannot start a cycle"):
        j.start_cycle("live")


def test_clock_is_validated() -> None:
    j = Journal.memory(clock=lambda: float("nan"))
    with pytest.raises(JournalError, match="the clock returned nan"):
        j.start_cycle("live")


# ---------------------------------------------------------------------------------------- readers


def test_readonly_reader_reads_and_refuses_writes(db_path: Path, clock: FakeClock) -> None:
    with Journal.open(db_path, clock=clock) as writer:
        intent = new_intent(writer)
        with Journal.open(db_path, readonly=True) as reader:
            assert reader.readonly
            assert reader.intent(intent.id) == intent
            with pytest.raises(JournalError, match="cannot start a cycle: journal is open read-only"):
                reader.start_cycle("live")
            with pytest.raises(JournalError, match="read-only"):
                reader.pause("x", by="op")


def test_readonly_needs_an_existing_current_journal(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="does not exist"):
        Journal.open(tmp_path / "missing.sqlite", readonly=True)
    empty = tmp_path / "empty.sqlite"
    empty.touch()
    with pytest.raises(JournalError, match="needs migrating"):
        Journal.open(empty, readonly=True)


def test_an_open_reader_does_not_block_the_writer(db_path: Path, clock: FakeClock) -> None:
    writer = Journal.open(db_path, clock=clock, busy_timeout_s=0.2)
    first = new_intent(writer)
    reader = sqlite3.connect(db_path, isolation_level=None)
    try:
        reader.execute("BEGIN")
        assert reader.execute("SELECT COUNT(*) FROM intents").fetchone()[0] == 1  # read snapshot now held
        second = new_intent(writer)  # would raise "database is locked" after 0.2 s if the reader blocked it
        attempt(writer, second.id, 1)
        assert reader.execute("SELECT COUNT(*) FROM intents").fetchone()[0] == 1  # still its own snapshot
        reader.execute("COMMIT")
        assert reader.execute("SELECT COUNT(*) FROM intents").fetchone()[0] == 2
        with Journal.open(db_path, readonly=True) as status:
            assert [i.id for i in status.open_intents()] == [first.id, second.id]
    finally:
        reader.close()
        writer.close()


def test_a_reader_can_open_and_read_while_the_writer_holds_a_transaction(db_path: Path, clock: FakeClock) -> None:
    writer = Journal.open(db_path, clock=clock)
    first = new_intent(writer)
    try:
        with writer._write("hold the write lock") as conn:
            conn.execute("UPDATE intents SET updated_at = 1 WHERE id = ?", (first.id,))
            with Journal.open(db_path, readonly=True, busy_timeout_s=0.2) as reader:
                assert reader.intent(first.id).updated_at == first.updated_at  # committed state only
        assert writer.intent(first.id).updated_at == 1
    finally:
        writer.close()


def test_a_second_writer_waits_then_fails_clearly(db_path: Path, clock: FakeClock) -> None:
    first = Journal.open(db_path, clock=clock)
    second = Journal.open(db_path, clock=clock, busy_timeout_s=0.05)
    try:
        with (
            first._write("hold the write lock"),
            pytest.raises(JournalError, match="cannot start a cycle: database is locked"),
        ):
            second.start_cycle("live")
        assert second.start_cycle("live").id == 1
    finally:
        first.close()
        second.close()


# ----------------------------------------------------------------------------------------- cycles


def test_cycle_lifecycle(journal: Journal, clock: FakeClock) -> None:
    cycle = journal.start_cycle("dry-run")
    assert (cycle.status, cycle.mode, cycle.started_at, cycle.finished_at) == (
        CycleStatus.RUNNING,
        RunMode.DRY_RUN,
        clock.now,
        None,
    )
    journal.set_cycle_block(cycle.id, 19_000_000)
    clock.tick(12)
    done = journal.finish_cycle(cycle.id, CycleStatus.FAILED, error="rpc timeout")
    assert (done.status, done.block_number, done.finished_at, done.error) == (
        CycleStatus.FAILED,
        19_000_000,
        clock.now,
        "rpc timeout",
    )
    with pytest.raises(JournalError, match=f"cycle {cycle.id} already finished as failed"):
        journal.finish_cycle(cycle.id, "ok")
    with pytest.raises(JournalError, match="not running"):
        journal.set_cycle_block(cycle.id, 1)
    with pytest.raises(InputError, match="status: a cycle cannot finish as running"):
        journal.finish_cycle(cycle.id, "running")
    with pytest.raises(InputError, match="mode: 'paper'"):
        journal.start_cycle("paper")
    with pytest.raises(NotFoundError, match="cycle 99 does not exist"):
        journal.cycle(99)


def test_running_cycles_are_abandoned_at_start(db_path: Path, clock: FakeClock) -> None:
    with Journal.open(db_path, clock=clock) as j:
        a = j.start_cycle("live").id
        b = j.start_cycle("live").id
        j.finish_cycle(b, "ok")
        c = j.start_cycle("live").id
    with Journal.open(db_path, clock=clock) as j:
        assert j.abandon_running_cycles() == [a, c]
        assert j.cycle(a).status is CycleStatus.ABANDONED
        assert j.cycle(b).status is CycleStatus.OK
        assert j.abandon_running_cycles() == []


def test_recent_cycles_and_cycles_between(journal: Journal, clock: FakeClock) -> None:
    ids = []
    for _ in range(5):
        ids.append(journal.start_cycle("live").id)
        clock.tick(60)
    assert [c.id for c in journal.recent_cycles(3)] == ids[:-4:-1]
    t0 = 1_700_000_000.0
    assert [c.id for c in journal.cycles_between(t0 + 60, t0 + 180)] == ids[1:3]
    with pytest.raises(InputError):
        journal.recent_cycles(-1)


# ------------------------------------------------------------------------- snapshots, plans, codec


@dataclass(frozen=True)
class Tick:
    tick: int
    fee_growth_x128: int


@dataclass(frozen=True)
class Pool:
    address: str
    sqrt_price_x96: int
    liquidity: int
    ticks: dict[int, Tick] = field(default_factory=dict)
    path: tuple[str, ...] = ()


def test_snapshot_round_trips_big_integers_exactly(journal: Journal) -> None:
    cycle = journal.start_cycle("live")
    pool = Pool(
        address="0x" + "cd" * 20,
        sqrt_price_x96=2**160 - 1,
        liquidity=2**128 - 1,
        ticks={-887_220: Tick(-887_220, U256), 60: Tick(60, 0)},
        path=("WETH", "USDC"),
    )
    rec = journal.record_snapshot(
        cycle.id,
        block_number=19_000_000,
        block_timestamp=1_700_000_000,
        complete=False,
        snapshot={"pools": (pool,)},
        failures=[{"what": "lp 42", "why": "reverted"}],
    )
    stored = journal.snapshots(cycle.id)
    assert stored == [rec]
    got = stored[0].snapshot["pools"][0]
    assert int(got["sqrt_price_x96"]) == 2**160 - 1
    assert int(got["ticks"]["-887220"]["fee_growth_x128"]) == U256
    assert got["ticks"]["60"] == {"tick": 60, "fee_growth_x128": 0}
    assert got["path"] == ["WETH", "USDC"]
    assert stored[0].failures == [{"what": "lp 42", "why": "reverted"}]
    assert stored[0].complete is False


def test_to_jsonable_rules() -> None:
    assert to_jsonable(2**53 - 1) == 2**53 - 1
    assert to_jsonable(2**53) == str(2**53)
    assert to_jsonable(-(2**255)) == str(-(2**255))
    assert to_jsonable(True) is True
    assert to_jsonable(b"\x01\xff") == "0x01ff"
    assert to_jsonable(Side.BUY) == "buy"
    assert to_jsonable({Side.SELL: frozenset({3, 1})}) == {"sell": [1, 3]}
    assert dumps({"b": 1, "a": 2**200}) == f'{{"a":"{2**200}","b":1}}'
    with pytest.raises(InputError, match=r"\$\.x\[1\]: non-finite float nan"):
        to_jsonable({"x": [1.0, float("nan")]})
    with pytest.raises(InputError, match="cannot journal a value of type object"):
        to_jsonable(object())
    with pytest.raises(InputError, match="mapping key of type float"):
        to_jsonable({1.5: 1})
    with pytest.raises(InputError, match="two keys map to the same JSON key '1'"):
        to_jsonable({1: "a", "1": "b"})


def test_plans_are_searchable_by_reason(journal: Journal) -> None:
    cycle = journal.start_cycle("live")
    p1 = journal.record_plan(
        cycle.id,
        decisions=[{"underlying": "WETH", "trade": -(10**18)}],
        reasons=["WETH: delta 1.2 outside band 0.4", "WBTC: inside band"],
        greeks={"WETH": {"delta": 1.2, "gamma": -0.01}},
    )
    p2 = journal.record_plan(cycle.id, decisions=[], reasons="cap 100% used_up", greeks={})
    assert journal.plans(cycle.id) == [p1, p2]
    assert journal.search_plans("outside BAND") == [p1]
    assert journal.search_plans("100%") == [p2]
    assert journal.search_plans("used_") == [p2]
    assert journal.search_plans("0%_") == []  # % and _ are literal
    assert p1.reasons == "WETH: delta 1.2 outside band 0.4\nWBTC: inside band"
    assert p1.greeks == {"WETH": {"delta": 1.2, "gamma": -0.01}}


def test_writes_to_unknown_cycles_are_refused(journal: Journal) -> None:
    with pytest.raises(NotFoundError, match="cycle 5 does not exist"):
        journal.record_plan(5, decisions=[], reasons="", greeks={})
    with pytest.raises(NotFoundError, match="cycle 5 does not exist"):
        new_intent(journal, cycle_id=5)


# ---------------------------------------------------------------------------------------- intents


def test_intent_is_written_pending_with_exact_params(journal: Journal, clock: FakeClock) -> None:
    big = TxParams(to=PARAMS.to, data="0x", value=U256, gas_limit=2**64 - 1)
    cycle = journal.start_cycle("live")
    intent = journal.create_intent(
        cycle.id, underlying="WETH", venue="perps", side="buy", size=U256, params=big, intent_id="c1:WETH:perps"
    )
    assert intent.id == "c1:WETH:perps"
    assert (intent.status, intent.size, intent.params, intent.side) == (IntentStatus.PENDING, U256, big, Side.BUY)
    assert intent.created_at == intent.updated_at == clock.now
    assert intent.attempts == ()
    stored = journal._conn.execute("SELECT size, params_json FROM intents").fetchone()
    assert stored[0] == str(U256)
    assert json.loads(stored[1])["value"] == str(U256)
    assert journal.has_intent("c1:WETH:perps")
    assert not journal.has_intent("other")


def test_default_intent_ids_are_uuid_hex(journal: Journal) -> None:
    a, b = new_intent(journal), new_intent(journal)
    assert len(a.id) == 32
    assert a.id != b.id
    int(a.id, 16)


def test_an_intent_id_cannot_be_reused(journal: Journal) -> None:
    first = new_intent(journal, intent_id="deterministic-1")
    with pytest.raises(JournalError, match="intent deterministic-1 already exists"):
        new_intent(journal, intent_id="deterministic-1")
    assert journal.intent("deterministic-1") == first


@pytest.mark.parametrize(
    ("overrides", "argument"),
    [
        ({"size": 0}, "size"),
        ({"size": 2**256}, "size"),
        ({"size": True}, "size"),
        ({"side": "long"}, "side"),
        ({"underlying": " "}, "underlying"),
        ({"intent_id": "has space"}, "intent_id"),
        ({"intent_id": ""}, "intent_id"),
    ],
)
def test_bad_intent_arguments_are_named(journal: Journal, overrides: dict[str, Any], argument: str) -> None:
    with pytest.raises(InputError) as info:
        new_intent(journal, **overrides)
    assert info.value.argument == argument
    assert journal.open_intents() == []


@pytest.mark.parametrize(
    ("params", "argument"),
    [
        (TxParams(to="0x1234", data="0x", value=0, gas_limit=1), "params.to"),
        (TxParams(to=PARAMS.to, data="0xabc", value=0, gas_limit=1), "params.data"),
        (TxParams(to=PARAMS.to, data="0x", value=-1, gas_limit=1), "params.value"),
        (TxParams(to=PARAMS.to, data="0x", value=0, gas_limit=0), "params.gas_limit"),
    ],
)
def test_bad_tx_params_are_named(journal: Journal, params: TxParams, argument: str) -> None:
    cycle = journal.start_cycle("live")
    with pytest.raises(InputError) as info:
        journal.create_intent(cycle.id, underlying="WETH", venue="v", side="buy", size=1, params=params)
    assert info.value.argument == argument


def test_unknown_intent_is_not_found(journal: Journal) -> None:
    with pytest.raises(NotFoundError, match="intent nope does not exist"):
        journal.intent("nope")
    with pytest.raises(NotFoundError, match="intent nope does not exist"):
        journal.mark_failed("nope", "x")
    assert isinstance(NotFoundError("x"), LookupError)


# ---------------------------------------------------------------------------------- state machine

Op = Callable[[Journal, str], object]


def op_attempt(j: Journal, iid: str) -> object:
    n = len(j.attempts(iid))
    attempt(j, iid, 1000 + n + 100 * int(iid[-1], 16), fee=n * 10**9)
    return None


def op_fill(j: Journal, iid: str) -> object:
    attempts = j.attempts(iid)
    h = attempts[-1].tx_hash if attempts else tx_hash(1)
    return j.record_fill(iid, fill_data(h))


def op_fail(j: Journal, iid: str) -> object:
    return j.mark_failed(iid, "reverted: STF")


def op_replace(j: Journal, iid: str) -> object:
    return j.mark_replaced(iid, "nonce 7 used by 0xabc")


OPS: dict[str, tuple[Op, IntentStatus]] = {
    "attempt": (op_attempt, IntentStatus.SENT),
    "fill": (op_fill, IntentStatus.MINED),
    "fail": (op_fail, IntentStatus.FAILED),
    "replace": (op_replace, IntentStatus.REPLACED),
}

LEGAL_PATHS = [
    ([], IntentStatus.PENDING),
    (["fail"], IntentStatus.FAILED),
    (["attempt"], IntentStatus.SENT),
    (["attempt", "attempt", "attempt"], IntentStatus.SENT),
    (["attempt", "fill"], IntentStatus.MINED),
    (["attempt", "attempt", "fill"], IntentStatus.MINED),
    (["attempt", "fail"], IntentStatus.FAILED),
    (["attempt", "replace"], IntentStatus.REPLACED),
    (["attempt", "attempt", "replace"], IntentStatus.REPLACED),
]


@pytest.mark.parametrize(("path", "final"), LEGAL_PATHS)
def test_legal_transitions(journal: Journal, clock: FakeClock, path: list[str], final: IntentStatus) -> None:
    intent = new_intent(journal)
    for name in path:
        clock.tick()
        OPS[name][0](journal, intent.id)
        now = journal.intent(intent.id)
        assert now.status is OPS[name][1]
        assert now.updated_at == clock.now
    end = journal.intent(intent.id)
    assert end.status is final
    assert len(end.attempts) == path.count("attempt")
    assert [a.attempt for a in end.attempts] == list(range(1, len(end.attempts) + 1))
    assert (intent.id in {i.id for i in journal.open_intents()}) == (final in {IntentStatus.PENDING, IntentStatus.SENT})
    if final is IntentStatus.FAILED:
        assert end.error == "reverted: STF"


# (reach this status by, then try, expected "from -> to" in the message)
ILLEGAL = [
    ([], "fill", "pending -> mined"),
    ([], "replace", "pending -> replaced"),
    *[
        (prefix, op, f"{status} -> {OPS[op][1]}")
        for prefix, status in [
            (["attempt", "fill"], "mined"),
            (["fail"], "failed"),
            (["attempt", "fail"], "failed"),
            (["attempt", "replace"], "replaced"),
        ]
        for op in OPS
    ],
]


@pytest.mark.parametrize(("prefix", "op", "transition"), ILLEGAL)
def test_illegal_transitions_are_refused_and_change_nothing(
    journal: Journal, prefix: list[str], op: str, transition: str
) -> None:
    intent = new_intent(journal)
    for name in prefix:
        OPS[name][0](journal, intent.id)
    before = journal.intent(intent.id)
    fills_before = journal._conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
    with pytest.raises(IllegalTransitionError, match=f"intent {intent.id}: illegal transition {transition}") as info:
        OPS[op][0](journal, intent.id)
    assert (info.value.intent_id, f"{info.value.from_status} -> {info.value.to_status}") == (intent.id, transition)
    assert journal.intent(intent.id) == before
    assert journal._conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == fills_before


def test_the_transition_table_is_the_documented_machine() -> None:
    p, s, m, f, r = (IntentStatus(x) for x in ("pending", "sent", "mined", "failed", "replaced"))
    documented = {p: {s, f}, s: {s, m, f, r}, m: set(), f: set(), r: set()}
    assert documented == LEGAL_TRANSITIONS


def test_the_database_enforces_the_machine_too(journal: Journal) -> None:
    intent = new_intent(journal)
    op_attempt(journal, intent.id)
    op_fill(journal, intent.id)
    with pytest.raises(INTEGRITY, match="illegal intent status transition"):
        journal._conn.execute("UPDATE intents SET status = 'sent' WHERE id = ?", (intent.id,))
    columns = [c for c in journal.export()["fills"][0] if c != "id"]
    one_trade = r"UNIQUE constraint failed: fills\.intent_id|duplicate key value violates unique constraint"
    with pytest.raises(INTEGRITY, match=one_trade):  # one trade
        journal._conn.execute(f"INSERT INTO fills ({', '.join(columns)}) SELECT {', '.join(columns)} FROM fills")
    assert journal.intent(intent.id).status is IntentStatus.MINED


def test_replacement_rules(journal: Journal) -> None:
    intent = new_intent(journal)
    attempt(journal, intent.id, 1, nonce=7)
    with pytest.raises(IllegalTransitionError, match="must reuse nonce 7, got 8"):
        attempt(journal, intent.id, 2, nonce=8, fee=10**9)
    with pytest.raises(IllegalTransitionError, match="must raise the fees"):
        attempt(journal, intent.id, 2, nonce=7, fee=0)
    with pytest.raises(IllegalTransitionError, match="lower neither"):
        journal.record_attempt(
            intent.id, nonce=7, tx_hash=tx_hash(2), raw_tx="0x01", max_fee_per_gas=10**12, max_priority_fee_per_gas=1
        )
    with pytest.raises(JournalError, match=f"transaction {tx_hash(1)} is already recorded"):
        attempt(journal, intent.id, 1, nonce=7, fee=1)
    with pytest.raises(InputError, match="max_priority_fee_per_gas"):  # a tip above the max fee
        journal.record_attempt(
            intent.id, nonce=7, tx_hash=tx_hash(3), raw_tx="0x01", max_fee_per_gas=5, max_priority_fee_per_gas=6
        )
    with pytest.raises(InputError, match="tx_hash: expected a 0x-prefixed 32-byte hash"):
        journal.record_attempt(
            intent.id, nonce=7, tx_hash="0x12", raw_tx="0x01", max_fee_per_gas=5, max_priority_fee_per_gas=6
        )
    attempt(journal, intent.id, 2, nonce=7, fee=10**9)
    got = journal.attempts(intent.id)
    assert [(a.attempt, a.nonce, a.tx_hash) for a in got] == [(1, 7, tx_hash(1)), (2, 7, tx_hash(2))]
    assert got[1].max_fee_per_gas == 31 * 10**9
    assert got[1].raw_tx == "0x02f800000002"


def test_a_fill_must_come_from_one_of_the_attempts(journal: Journal) -> None:
    intent = new_intent(journal)
    attempt(journal, intent.id, 1)
    with pytest.raises(JournalError, match=f"fill transaction {tx_hash(99)} is not one of its attempts"):
        journal.record_fill(intent.id, fill_data(tx_hash(99)))
    assert journal.intent(intent.id).status is IntentStatus.SENT
    with pytest.raises(InputError, match="fill.slippage_bps: expected a finite number"):
        journal.record_fill(intent.id, fill_data(tx_hash(1), slippage_bps=float("inf")))


def test_uint256_values_round_trip_exactly_through_attempts_and_fills(journal: Journal) -> None:
    intent = new_intent(journal, size=U256)
    journal.record_attempt(
        intent.id,
        nonce=2**63 - 1,
        tx_hash=tx_hash(1),
        raw_tx="0xff",
        max_fee_per_gas=U256,
        max_priority_fee_per_gas=U256,
    )
    fill = journal.record_fill(
        intent.id,
        fill_data(tx_hash(1), amount_in=U256, amount_out=U256 - 1, effective_gas_price=U256, gas_cost_native=U256),
    )
    (a,) = journal.attempts(intent.id)
    assert (a.nonce, a.max_fee_per_gas, a.max_priority_fee_per_gas) == (2**63 - 1, U256, U256)
    assert (fill.size, fill.data.amount_in, fill.data.amount_out) == (U256, U256, U256 - 1)
    assert (fill.data.effective_gas_price, fill.data.gas_cost_native) == (U256, U256)
    assert journal.fills_between(0, 2**40) == [fill]
    with pytest.raises(InputError, match=r"fill.amount_in: .* is outside"):
        other = new_intent(journal)
        attempt(journal, other.id, 2)
        journal.record_fill(other.id, fill_data(tx_hash(2), amount_in=2**256))


def test_open_intents_are_oldest_first_with_attempts(journal: Journal, clock: FakeClock) -> None:
    a = new_intent(journal)
    clock.tick()
    b = new_intent(journal)
    clock.tick()
    c = new_intent(journal)
    attempt(journal, b.id, 1)
    op_fail(journal, c.id)
    got = journal.open_intents()
    assert [i.id for i in got] == [a.id, b.id]
    assert [len(i.attempts) for i in got] == [0, 1]
    assert journal.intents_for_cycle(a.cycle_id) == [journal.intent(a.id)]


# ---------------------------------------------------------------------------------- fills, windows


def mined(j: Journal, n: int, *, underlying: str, side: Side, size: int, ts: int, notional: float) -> None:
    intent = new_intent(j, underlying=underlying, side=side, size=size)
    attempt(j, intent.id, n)
    j.record_fill(intent.id, fill_data(tx_hash(n), ts=ts, notional=notional))


def test_windows_last_hedge_and_costs(journal: Journal) -> None:
    mined(journal, 1, underlying="WETH", side=Side.SELL, size=5, ts=1000, notional=100.0)
    mined(journal, 2, underlying="WETH", side=Side.BUY, size=2, ts=2000, notional=40.0)
    mined(journal, 3, underlying="WETH", side=Side.SELL, size=U256, ts=3000, notional=60.0)
    mined(journal, 4, underlying="WBTC", side=Side.BUY, size=7, ts=2500, notional=500.0)
    sent = new_intent(journal, underlying="WETH")  # sent but not mined: not a hedge yet
    attempt(journal, sent.id, 5)

    vol = journal.hedge_volume_since("WETH", 2000)
    assert (vol.fills, vol.notional_quote, vol.bought, vol.sold) == (2, 100.0, 2, U256)
    assert journal.hedge_volume_since("DOGE", 0).fills == 0
    assert journal.last_hedge_times() == {"WETH": 3000, "WBTC": 2500}
    assert [f.data.block_timestamp for f in journal.fills_between(1000, 3000)] == [1000, 2000, 2500]
    assert [f.underlying for f in journal.fills_between(0, 10**9, underlying="WBTC")] == ["WBTC"]

    costs = journal.cost_totals(2000, 3001)
    assert costs.fills == 3
    assert costs.fees_quote == pytest.approx(4.5)
    assert costs.gas_cost_native == 3 * 150_000 * 20 * 10**9
    assert costs.gas_cost_quote == pytest.approx(27.0)
    assert costs.notional_quote == pytest.approx(600.0)


# ---------------------------------------------------------------------------- control and events


def test_control_state_survives_reopen(db_path: Path, clock: FakeClock) -> None:
    with Journal.open(db_path, clock=clock) as j:
        fresh = j.control_state()
        assert (fresh.paused, fresh.halted, fresh.activation_fingerprint, fresh.consecutive_failures) == (
            False,
            False,
            None,
            0,
        )
        j.pause("maintenance", by="alice")
        clock.tick()
        assert j.record_failure("rpc down") == 1
        assert j.record_failure("rpc down") == 2
        j.halt("3 consecutive failures")
        j.set_activation_fingerprint("sha256:abc", by="alice")
    with Journal.open(db_path, clock=clock) as j:
        state = j.control_state()
        assert (state.paused, state.pause_reason, state.paused_by, state.paused_at) == (
            True,
            "maintenance",
            "alice",
            clock.now - 1,
        )
        assert (state.halted, state.halt_reason, state.halted_at) == (True, "3 consecutive failures", clock.now)
        assert state.activation_fingerprint == "sha256:abc"
        assert state.consecutive_failures == 2
        j.resume(by="bob")
        j.clear_halt(by="bob", reason="rpc fixed")
    with Journal.open(db_path, clock=clock) as j:
        state = j.control_state()
        assert (state.paused, state.halted, state.consecutive_failures) == (False, False, 0)
        assert state.activation_fingerprint == "sha256:abc"
        kinds = [e.kind for e in j.events()]
        assert kinds == [
            "pause",
            "failure_count",
            "failure_count",
            "halt",
            "activation",
            "resume",
            "clear_halt",
        ]
        assert j.events(kinds=["pause", "resume"])[1].data == {"by": "bob", "reason": ""}


def test_failure_counter_resets(journal: Journal) -> None:
    journal.reset_failures()
    assert journal.events() == []  # nothing to reset, nothing logged
    journal.record_failure("x")
    journal.reset_failures()
    assert journal.control_state().consecutive_failures == 0
    assert [e.data["count"] for e in journal.events()] == [1, 0]


def test_events_are_append_only_and_filterable(journal: Journal, clock: FakeClock) -> None:
    first = journal.append_event("alert", {"level": "warn", "gas_wei": 2**70})
    clock.tick(10)
    journal.append_event("alert", {"level": "crit"})
    journal.pause("x", by="op")
    assert first.data == {"gas_wei": str(2**70), "level": "warn"}
    assert [e.data for e in journal.events(since=clock.now, kinds=["alert"])] == [{"level": "crit"}]
    assert [e.kind for e in journal.events(limit=2)] == ["alert", "pause"]
    with pytest.raises(INTEGRITY, match="append-only"):
        journal._conn.execute("UPDATE events SET kind = 'x'")
    with pytest.raises(INTEGRITY, match="append-only"):
        journal._conn.execute("DELETE FROM events")
    with pytest.raises(InputError, match="kind"):
        journal.append_event("no spaces allowed")


# ----------------------------------------------------------------------------------------- export


def test_export_is_json_ready_and_exact(journal: Journal) -> None:
    cycle = journal.start_cycle("live")
    journal.record_snapshot(cycle.id, block_number=1, block_timestamp=2, complete=True, snapshot={"x": U256})
    journal.record_plan(cycle.id, decisions=[1], reasons="r", greeks={"WETH": {"delta": 0.5}})
    mined(journal, 1, underlying="WETH", side=Side.SELL, size=U256, ts=10, notional=1.0)
    journal.pause("p", by="op")
    out = journal.export()
    json.dumps(out, allow_nan=False)
    assert out["schema_version"] == SCHEMA_VERSION
    assert set(out) == {
        "schema_version", "cycles", "snapshots", "plans", "intents", "tx_attempts", "fills", "control", "events",
        "cycle_marks",
    }  # fmt: skip
    assert out["snapshots"][0]["snapshot"] == {"x": str(U256)}
    assert out["intents"][0]["size"] == str(U256)
    assert out["intents"][0]["params"]["gas_limit"] == 350_000
    assert out["fills"][0]["gas_cost_native"] == str(150_000 * 20 * 10**9)
    assert out["control"][0]["value"]["reason"] == "p"


# ------------------------------------------------------------------------------------- durability

CHILD = textwrap.dedent(
    """
    import sys, time
    from keeper.journal import Journal, TxParams

    path, mode = sys.argv[1], sys.argv[2]
    params = TxParams(to="0x" + "ab" * 20, data="0x", value=0, gas_limit=21000)
    j = Journal.open(path)
    cycle = j.start_cycle("live")
    if mode == "mid":
        j.create_intent(cycle.id, underlying="WETH", venue="v", side="buy", size=1, params=params, intent_id="done")
        print("committed", flush=True)
        with j._write("crash mid-transaction") as conn:
            conn.execute(
                "INSERT INTO intents (id, cycle_id, created_at, updated_at, underlying, venue, side, size, "
                "params_json, status) SELECT 'half', cycle_id, 0, 0, underlying, venue, side, size, params_json, "
                "'pending' FROM intents WHERE id = 'done'"
            )
            conn.execute("UPDATE intents SET status = 'failed', error = 'x' WHERE id = 'done'")
            print("mid", flush=True)
            time.sleep(60)
    else:
        n = 0
        while True:
            iid = f"i{n}"
            j.create_intent(cycle.id, underlying="WETH", venue="v", side="buy", size=2**256 - 1 - n, params=params,
                            intent_id=iid)
            j.record_attempt(iid, nonce=n, tx_hash="0x" + f"{n:064x}", raw_tx="0x01",
                             max_fee_per_gas=2, max_priority_fee_per_gas=1)
            print(iid, flush=True)
            n += 1
    """
)


def run_child(tmp_path: Path, db: Path, mode: str, stop_after: str | int) -> list[str]:
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(db), mode], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        while True:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"child exited early: {proc.wait()} {proc.stderr.read() if proc.stderr else ''}")
            lines.append(line.strip())
            if (isinstance(stop_after, str) and lines[-1] == stop_after) or len(lines) == stop_after:
                break
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        if proc.stderr is not None:
            proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return lines


def test_sigkill_mid_transaction_keeps_committed_and_drops_uncommitted(tmp_path: Path, db_path: Path) -> None:
    assert run_child(tmp_path, db_path, "mid", "mid") == ["committed", "mid"]
    with Journal.open(db_path) as j:
        assert j._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert j.intent("done").status is IntentStatus.PENDING
        assert not j.has_intent("half")
        assert [i.id for i in j.open_intents()] == ["done"]
        assert [c.status for c in j.recent_cycles(5)] == [CycleStatus.RUNNING]


def test_sigkill_after_commits_keeps_every_reported_record(tmp_path: Path, db_path: Path) -> None:
    reported = run_child(tmp_path, db_path, "loop", 40)
    with Journal.open(db_path) as j:
        assert j._conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        for n, iid in enumerate(reported):
            intent = j.intent(iid)
            assert intent.size == 2**256 - 1 - n
            assert intent.status is IntentStatus.SENT
            assert [a.nonce for a in intent.attempts] == [n]
        # every intent on disk is whole: none without its attempt, except possibly the one being written
        half = [i for i in j.open_intents() if not i.attempts]
        assert len(half) <= 1


# --------------------------------------------------------------------------------------- property

STEP = st.sampled_from(sorted(OPS))


@settings(max_examples=150, deadline=None)
@given(steps=st.lists(st.tuples(st.integers(0, 2), STEP), max_size=25))
def test_random_sequences_follow_the_state_machine(steps: list[tuple[int, str]]) -> None:
    clock = FakeClock()
    j = Journal.memory(clock=clock)
    try:
        cycle = j.start_cycle("live")
        ids = [new_intent(j, cycle_id=cycle.id, intent_id=f"intent-{k}").id for k in range(3)]
        model = dict.fromkeys(ids, IntentStatus.PENDING)
        attempts = dict.fromkeys(ids, 0)
        for k, name in steps:
            iid = ids[k]
            op, target = OPS[name]
            clock.tick()
            legal = target in LEGAL_TRANSITIONS[model[iid]]
            if legal:
                op(j, iid)
                model[iid] = target
                attempts[iid] += name == "attempt"
            else:
                with pytest.raises(IllegalTransitionError):
                    op(j, iid)
            intent = j.intent(iid)
            assert intent.status is model[iid]
            assert len(intent.attempts) == attempts[iid]
            assert len({a.nonce for a in intent.attempts}) <= 1
            fees = [a.max_fee_per_gas for a in intent.attempts]
            assert fees == sorted(set(fees))
        open_ids = {i.id for i in j.open_intents()}
        assert open_ids == {i for i, s in model.items() if s in {IntentStatus.PENDING, IntentStatus.SENT}}
        fills = j._conn.execute("SELECT intent_id FROM fills").fetchall()
        assert sorted(r[0] for r in fills) == sorted(i for i, s in model.items() if s is IntentStatus.MINED)
    finally:
        j.close()


def test_one_journal_can_be_shared_by_threads(db_path: Path) -> None:
    with Journal.open(db_path) as j:
        cycle = j.start_cycle("live")
        errors: list[BaseException] = []

        def work(k: int) -> None:
            try:
                for n in range(20):
                    iid = f"t{k}-{n}"
                    new_intent(j, cycle_id=cycle.id, intent_id=iid)
                    attempt(j, iid, 10_000 * (k + 1) + n)
                    assert j.intent(iid).status is IntentStatus.SENT
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(j.open_intents()) == 80


def test_a_reorg_reopens_a_mined_intent_and_keeps_the_fill_in_the_event_log(journal: Journal) -> None:
    intent = new_intent(journal)
    op_attempt(journal, intent.id)
    op_fill(journal, intent.id)
    reopened = journal.mark_reorged(intent.id, "block 12 left the canonical chain")
    assert reopened.status is IntentStatus.SENT
    assert reopened.error == "reorg: block 12 left the canonical chain"
    assert journal.fills_between(0, 2**62) == []
    assert [i.id for i in journal.open_intents()] == [intent.id]
    [event] = journal.events(kinds=["reorg"])
    assert event.data["intent_id"] == intent.id
    with pytest.raises(JournalError, match="only a mined intent"):
        journal.mark_reorged(intent.id, "again")
    op_fill(journal, intent.id)  # re-mined later: a fill again
    assert journal.intent(intent.id).status is IntentStatus.MINED


def test_journal_files_are_private_whatever_the_umask(tmp_path: Path) -> None:
    """The journal holds signed transactions: owner-only (0600), its WAL and shared-memory files too."""
    old = os.umask(0o022)
    try:
        path = tmp_path / "journal.sqlite"
        j = Journal.open(path)
        j.start_cycle(RunMode.LIVE)
        files = [p for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists()]
        assert len(files) == 3, "WAL mode: the main file, -wal and -shm exist while open"
        assert {oct(p.stat().st_mode & 0o777) for p in files} == {"0o600"}
        j.close()
        loose = tmp_path / "old.sqlite"
        Journal.open(loose).close()
        loose.chmod(0o644)  # a journal made by an older keeper, readable by all
        Journal.open(loose).close()
        assert loose.stat().st_mode & 0o777 == 0o600
    finally:
        os.umask(old)


def test_marks_round_trip_exactly_and_are_found_by_block_time(journal: Journal) -> None:
    from keeper.core.lvr import PerpMark, lp_mark

    big = 2**256 - 12345
    lp = lp_mark(token_id=9, owner="0xo", pool="0xP", underlying="ETH", underlying_is_token0=False,
                 liquidity=2**127, tick_lower=-600, tick_upper=600, pool_tick=5, sqrt_price_x96=2**159,
                 price=2345.5, decimals0=6, decimals1=18, principal0=10**12, principal1=3 * 10**18, fees0=7,
                 fees1=11, fee_growth_global0_x128=big, fee_growth_global1_x128=3, lower_outside0_x128=1,
                 lower_outside1_x128=2, upper_outside0_x128=3, upper_outside1_x128=4)
    perp = PerpMark("0xM", "0xK", "ETH", -(2**70), -(2**90), 2**90, 6)
    for ts, block in ((100, 7), (200, 8)):
        c = journal.start_cycle("live")
        journal.record_snapshot(c.id, block_number=block, block_timestamp=ts, complete=True, snapshot={})
        assert journal.record_marks(c.id, lps=[lp], perps=[perp]) == 2
    marks = journal.marks_between(0, 10**9)
    assert [(m.block_number, m.block_timestamp) for m in marks] == [(7, 100), (8, 200)]
    assert marks[0].lps == (lp,) and marks[0].perps == (perp,)
    assert [m.block_timestamp for m in journal.marks_between(150, 10**9)] == [200]
    assert journal.record_marks(marks[0].cycle_id) == 0  # nothing to mark: nothing written
    with pytest.raises(JournalError):  # one row per position and cycle
        journal.record_marks(marks[0].cycle_id, lps=[lp])
    assert journal.export()["cycle_marks"][0]["kind"] == "lp"
