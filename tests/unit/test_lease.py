"""The leader lease and its fencing token, on both journal backends, with injected clocks.

Journal level: who gets the lease, when it changes hands, that the token only grows, and that the
journal refuses a stale token before signing (``create_intent``, ``renew_lease``) and before
broadcasting (``record_attempt``). Keeper level (two keepers on one memory chain, each with its own
connection to one journal): the follower runs dry, takes over after the TTL, recovers first, and
the attacker's cases: a leader cut off from the database past its TTL sends nothing, and a leader
whose lease is taken while it signs cannot broadcast.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from keeper.config import load_config
from keeper.cycle.lease import LOCAL_SHARE, LeaseGuard, lease_scope
from keeper.errors import FencingError, InputError, JournalError
from keeper.journal import IntentStatus, Journal, TxParams
from keeper.journal._db import DbError
from keeper.ops.doctor import check_postgres_journal
from keeper.ops.health import _lease as health_lease
from tests.fakes import SAFE, FakeClock, FakeSender, Killed, MemoryChain, MemoryKeeper, band, memory_keeper
from tests.pg import PgCluster
from tests.unit.test_config import dump_toml, edited, load_error

SCOPE = lease_scope(31337, SAFE)
TTL_S = 30.0
PARAMS = TxParams(to="0x" + "ab" * 20, data="0xdeadbeef", value=0, gas_limit=350_000)

Opener = Callable[[], Journal]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Opener, FakeClock]]:
    """Opens connections to one journal (a SQLite file, or a fresh PostgreSQL schema), all on one fake clock:
    each keeper gets its own connection, as separate processes would."""
    clock = FakeClock(t=1_700_000_000.0)
    target = str(tmp_path / "journal.sqlite") if request.param == "sqlite" else request.getfixturevalue("pg_url")
    opened: list[Journal] = []

    def open_journal() -> Journal:
        j = Journal.open(target, clock=clock.now)
        opened.append(j)
        return j

    yield open_journal, clock
    for j in opened:
        j.close()


def hash_of(n: int) -> str:
    return "0x" + f"{n:064x}"


# ---------------------------------------------------------------------------- the journal's lease


def test_the_first_keeper_takes_the_lease_and_a_second_follows_until_it_expires(
        opener: tuple[Opener, FakeClock]) -> None:
    open_journal, clock = opener
    a, b = open_journal(), open_journal()
    assert a.lease(SCOPE) is None
    first = a.acquire_lease(SCOPE, "a", TTL_S)
    assert (first.holder, first.token, first.expires_at) == ("a", 1, clock.t + TTL_S)
    assert first.held_by("a") and not first.held_by("b")

    clock.t += TTL_S - 0.001  # not yet expired: b follows, nothing changes
    seen = b.acquire_lease(SCOPE, "b", TTL_S)
    assert (seen.holder, seen.token, seen.held_by("b")) == ("a", 1, False)
    assert seen.remaining_s == pytest.approx(0.001, abs=1e-6)

    renewed = a.acquire_lease(SCOPE, "a", TTL_S)  # the holder renews: same token, new expiry
    assert (renewed.token, renewed.expires_at) == (1, clock.t + TTL_S)

    clock.t += TTL_S  # expired exactly now: b takes it with the next token
    taken = b.acquire_lease(SCOPE, "b", TTL_S)
    assert (taken.holder, taken.token, taken.held_by("b")) == ("b", 2, True)
    assert not a.acquire_lease(SCOPE, "a", TTL_S).held_by("a")
    [event] = [e for e in a.events(kinds=["lease_acquired"]) if e.data["token"] == 2]
    assert (event.data["holder"], event.data["previous_holder"], event.data["previous_token"]) == ("b", "a", 1)


def test_the_token_only_grows_over_many_handovers_and_a_release_hands_over_at_once(
        opener: tuple[Opener, FakeClock]) -> None:
    open_journal, clock = opener
    j = open_journal()
    tokens = []
    for i in range(12):
        holder = "ab"[i % 2]
        lease = j.acquire_lease(SCOPE, holder, TTL_S)
        assert lease.held_by(holder)
        tokens.append(lease.token)
        if i % 3 == 0:
            assert j.release_lease(SCOPE, holder, lease.token)
        else:
            clock.t += TTL_S
    assert tokens == list(range(1, 13))
    # A release by a keeper that no longer holds the lease changes nothing.
    current = j.acquire_lease(SCOPE, "c", TTL_S)
    assert not j.release_lease(SCOPE, "a", current.token - 1)
    assert j.lease(SCOPE) == current


def test_a_stale_token_is_refused_before_signing_and_before_broadcasting(opener: tuple[Opener, FakeClock]) -> None:
    open_journal, clock = opener
    a, b = open_journal(), open_journal()
    old = a.acquire_lease(SCOPE, "a", TTL_S)
    cycle = a.start_cycle("live")
    intent = a.create_intent(cycle.id, underlying="ETH", venue="uniswap", side="sell", size=1, params=PARAMS,
                             lease=(SCOPE, old.token))
    assert (intent.lease_scope, intent.lease_token) == (SCOPE, 1)

    clock.t += TTL_S
    b.acquire_lease(SCOPE, "b", TTL_S)  # b leads with token 2

    # before signing: no new intent, no renewal for the old token
    with pytest.raises(FencingError, match=r"token 1 is older than the current lease \(token 2, held by b\)"):
        a.create_intent(cycle.id, underlying="ETH", venue="uniswap", side="sell", size=1, params=PARAMS,
                        lease=(SCOPE, 1))
    with pytest.raises(FencingError, match="token 1 is older"):
        a.renew_lease(SCOPE, "a", 1)
    # before broadcasting: the intent made under token 1 cannot record (hence send) a signed transaction
    with pytest.raises(FencingError, match="token 1 is older"):
        a.record_attempt(intent.id, nonce=0, tx_hash=hash_of(1), raw_tx="0x02", max_fee_per_gas=2,
                         max_priority_fee_per_gas=1)
    after = b.intent(intent.id)
    assert (after.status, after.attempts) == (IntentStatus.PENDING, ())
    assert len(b.intents_for_cycle(cycle.id)) == 1  # the refused create wrote nothing


def test_an_expired_lease_fences_its_own_holder_too(opener: tuple[Opener, FakeClock]) -> None:
    open_journal, clock = opener
    j = open_journal()
    lease = j.acquire_lease(SCOPE, "a", TTL_S)
    cycle = j.start_cycle("live")
    intent = j.create_intent(cycle.id, underlying="ETH", venue="uniswap", side="buy", size=1, params=PARAMS,
                             lease=(SCOPE, lease.token))
    clock.t += TTL_S + 1  # nobody took it, but it has expired: the holder may not send on it
    with pytest.raises(FencingError, match=r"token 1 expired 1\.000 s ago"):
        j.record_attempt(intent.id, nonce=0, tx_hash=hash_of(1), raw_tx="0x02", max_fee_per_gas=2,
                         max_priority_fee_per_gas=1)
    with pytest.raises(FencingError, match="expired"):
        j.renew_lease(SCOPE, "a", 1)
    again = j.acquire_lease(SCOPE, "a", TTL_S)  # re-acquiring after expiry is a new epoch
    assert again.token == 2


def test_bad_lease_arguments_are_named(opener: tuple[Opener, FakeClock]) -> None:
    j = opener[0]()
    with pytest.raises(InputError, match="ttl_s"):
        j.acquire_lease(SCOPE, "a", 0)
    with pytest.raises(InputError, match="holder"):
        j.acquire_lease(SCOPE, "", TTL_S)
    with pytest.raises(FencingError, match="no keeper holds it"):
        j.renew_lease(SCOPE, "a", 1)


@pytest.mark.postgres
def test_on_postgresql_the_lease_runs_on_the_server_clock(pg_url: str) -> None:
    """Without an injected clock, a PostgreSQL journal times the lease with the server's clock."""
    with Journal.open(pg_url) as a, Journal.open(pg_url) as b:
        before = time.time()
        lease = a.acquire_lease(SCOPE, "a", 0.3)
        after = time.time()
        assert before - 1 < lease.now < after + 1  # the server and this host share a clock here
        assert lease.expires_at == pytest.approx(lease.now + 0.3)
        assert not b.acquire_lease(SCOPE, "b", 0.3).held_by("b")
        time.sleep(0.35)
        assert b.acquire_lease(SCOPE, "b", 0.3).token == 2


# ---------------------------------------------------------------------------- two keepers, one chain


def pair(open_journal: Opener, clock: FakeClock) -> tuple[MemoryChain, list[MemoryKeeper], list[FakeSender]]:
    """Two keepers for one Safe on one memory chain, each with its own journal connection and sender."""
    chain = MemoryChain()
    keepers, senders = [], []
    for name in ("a", "b"):
        sender = FakeSender(chain, clock)
        j = open_journal()
        guard = LeaseGuard(j, SCOPE, name, TTL_S, clock=clock)
        keepers.append(memory_keeper(chain, sender, j, band(10.0, 5.0), lease=guard))
        senders.append(sender)
    return chain, keepers, senders


def test_the_follower_runs_dry_then_takes_over_after_the_ttl_and_recovers_first(
        opener: tuple[Opener, FakeClock]) -> None:
    open_journal, clock = opener
    chain, (a, b), _ = pair(open_journal, clock)
    # a leads but dies right after journaling its intent (before signing)
    def die() -> None:
        raise Killed

    a.hooks = {"after_intent": die}
    with pytest.raises(Killed):
        a.cycle()
    assert chain.hedges() == []

    follow = b.cycle()  # a's lease is live: b plans and journals, sends nothing
    assert follow.status == "ok" and follow.lease is not None and not follow.lease.leader
    assert follow.plan is not None and follow.plan.orders != ()
    assert follow.hedges == () and chain.hedges() == []
    assert b.journal.cycle(follow.cycle_id).mode.value == "dry-run"
    [plan] = b.journal.plans(follow.cycle_id)
    assert "dry-run, nothing sent: follower: a leads" in plan.reasons

    clock.t += TTL_S  # a's lease expires: b's next cycle takes over, recovers a's open intent, then hedges
    took = b.cycle()
    assert took.lease is not None and took.lease.leader and took.lease.took_over and took.lease.lease.token == 2
    assert [r.split(": ", 1)[1] for r in took.recovered] == ["never sent -> failed"]
    assert took.status == "ok" and len(took.hedges) == 1 and len(chain.hedges()) == 1
    [hedge] = took.hedges
    assert b.journal.intent(hedge.intent_id).lease_token == 2


def test_a_leader_cut_off_from_the_database_past_its_ttl_sends_nothing(opener: tuple[Opener, FakeClock]) -> None:
    """The leader planned a hedge; then its database link dies and its clock passes its local deadline
    (LOCAL_SHARE of the TTL): it must not sign or send, without asking the database."""
    open_journal, clock = opener
    chain, (a, _), senders = pair(open_journal, clock)
    journal: Any = a.journal
    cut = {"on": False}
    for name in ("renew_lease", "record_attempt", "acquire_lease"):
        original = getattr(journal, name)

        def refuse(*args: Any, _original: Any = original, **kw: Any) -> Any:
            if cut["on"]:
                raise JournalError("journal unreachable: connection refused")
            return _original(*args, **kw)

        setattr(journal, name, refuse)

    def cut_off() -> None:
        cut["on"] = True
        clock.t += LOCAL_SHARE * TTL_S

    a.hooks = {"after_intent": cut_off}
    report = a.cycle()
    assert report.status == "skipped" and "not renewed for 24.0 s (local clock; TTL 30 s)" in report.message
    assert senders[0].sent == [] and chain.hedges() == []
    assert a.lease is not None and a.lease.token is None  # stepped down
    # still cut off: the next cycle cannot even take the lease, so it cannot send either
    with pytest.raises(JournalError, match="unreachable"):
        a.cycle()
    assert senders[0].sent == []


def test_a_leader_whose_lease_is_taken_while_it_signs_cannot_broadcast(opener: tuple[Opener, FakeClock]) -> None:
    """Between a's signature and its broadcast, a stalls past its TTL and b takes the lease over: a's
    ``record_attempt`` (the step before broadcasting) is refused, the signed transaction never leaves,
    and b recovers the intent and hedges once."""
    open_journal, clock = opener
    chain, (a, b), senders = pair(open_journal, clock)
    journal: Any = a.journal
    record = journal.record_attempt

    def stall_then_record(*args: Any, **kw: Any) -> Any:
        clock.t += TTL_S  # a stalls while signing (a GC pause, a frozen VM) ...
        took = b.lease.tick() if b.lease is not None else None  # ... and b takes over
        assert took is not None and took.leader and took.lease.token == 2
        return record(*args, **kw)

    journal.record_attempt = stall_then_record
    a.lease = LeaseGuard(a.journal, SCOPE, "a", TTL_S, clock=clock)
    a.lease.deadline = float("inf")  # the local deadline alone would stop a; show the journal's fence stops it
    original_ensure_local = a.lease.ensure_local
    a.lease.ensure_local = lambda: None  # type: ignore[method-assign]
    report = a.cycle()
    assert report.status == "skipped" and "token 1 is older than the current lease (token 2, held by b)" in (
        report.message)
    assert senders[0].sent == [] and chain.hedges() == []  # signed, never broadcast
    [intent] = a.journal.intents_for_cycle(report.cycle_id)
    assert (intent.status, intent.attempts, intent.lease_token) == (IntentStatus.PENDING, (), 1)
    a.lease.ensure_local = original_ensure_local  # type: ignore[method-assign]

    journal.record_attempt = record
    after = b.cycle()  # b already holds the lease: its cycle recovers a's intent first, then hedges once
    assert [r.split(": ", 1)[1] for r in after.recovered] == ["never sent -> failed"]
    assert len(after.hedges) == 1 and len(chain.hedges()) == 1 == len(senders[1].sent)
    again = a.cycle()
    assert again.lease is not None and not again.lease.leader and again.hedges == ()
    assert len(chain.hedges()) == 1  # a, now a follower, sends nothing more


def test_a_recovery_longer_than_the_ttl_keeps_the_lease_it_renews_between_intents(
        opener: tuple[Opener, FakeClock]) -> None:
    """The dead leader left two signed, journaled, never-broadcast transactions; each cancellation takes
    half a TTL. The new leader renews its lease after each recovered intent, so it still holds it when it
    signs its own hedge (without the renewals its local deadline, 0.8 TTL, would have passed)."""
    open_journal, clock = opener
    chain, (a, b), senders = pair(open_journal, clock)
    assert a.lease is not None and a.lease.tick().leader
    j = a.journal
    cycle = j.start_cycle("live")
    for nonce in (0, 1):
        intent = j.create_intent(cycle.id, underlying="ETH", venue="uniswap", side="sell", size=1, params=PARAMS,
                                 lease=a.lease.fence)
        j.record_attempt(intent.id, nonce=nonce, tx_hash=hash_of(100 + nonce), raw_tx="0x02",
                         max_fee_per_gas=2 * 10**9, max_priority_fee_per_gas=10**9)
    cancel = senders[1].cancel

    def slow_cancel(*args: Any) -> str:
        clock.t += TTL_S / 2
        return cancel(*args)

    senders[1].cancel = slow_cancel  # type: ignore[method-assign]
    clock.t += TTL_S  # a died; its lease expires
    report = b.cycle()
    assert report.lease is not None and report.lease.took_over
    assert [r.split(": ", 1)[1] for r in report.recovered] == ["cancelled -> replaced"] * 2
    assert report.status == "ok" and len(report.hedges) == 1 and len(chain.hedges()) == 1, report.message
    lease = b.journal.lease(SCOPE)
    assert lease is not None and (lease.holder, lease.token) == ("b", 2)


# ---------------------------------------------------------------------------- config, doctor, health


ConfigWith = Callable[[list[tuple[str, str, Any]]], Path]


@pytest.fixture
def config_with(tmp_path: Path) -> ConfigWith:
    """The devnet example config with some edits, written to a file."""
    def write(edits: list[tuple[str, str, Any]]) -> Path:
        path = tmp_path / "keeper.toml"
        path.write_text(dump_toml(edited(edits)))
        return path

    return write


def test_the_lease_must_be_renewable_within_its_ttl(config_with: ConfigWith) -> None:
    ok = load_config(config_with([("set", "lease.enabled", True), ("set", "lease.ttl_s", 30.0),
                                         ("set", "schedule.interval_s", 15.0)]), env={})
    assert (ok.lease.enabled, ok.lease.ttl_s, ok.lease.holder) == (True, 30.0, None)
    msg = load_error(config_with([("set", "lease.enabled", True), ("set", "lease.ttl_s", 20.0),
                                         ("set", "schedule.interval_s", 15.0)]))
    assert "lease.ttl_s" in msg and "at least twice schedule.interval_s (15 s)" in msg
    # disabled (the default): any schedule goes
    assert not load_config(config_with([("set", "schedule.interval_s", 300.0)]), env={}).lease.enabled


def test_the_journal_url_must_be_postgresql(config_with: ConfigWith) -> None:
    cfg = load_config(config_with([]), env={"KEEPER_JOURNAL__URL": "postgresql://k:pw@db.internal/keeper"})
    assert cfg.journal.is_postgres and cfg.journal.target == "postgresql://k:pw@db.internal/keeper"
    msg = load_error(config_with([("set", "journal.url", "mysql://db/keeper")]))
    assert "journal.url" in msg and "expected a postgresql:// URL" in msg
    assert not load_config(config_with([]), env={}).journal.is_postgres


@pytest.mark.postgres
def test_doctor_checks_a_postgresql_journal_without_changing_it(pg_url: str, pg_cluster: PgCluster) -> None:
    ok = check_postgres_journal(pg_url)
    assert ok.status == "pass" and "PostgreSQL reachable; schema t_" in ok.detail
    bad = check_postgres_journal(f"postgresql://keeper:s3cret@127.0.0.1:{pg_cluster.port}/no_such_db")
    assert bad.status == "fail" and "no_such_db" in bad.detail and "s3cret" not in bad.detail


def test_health_says_who_leads(opener: tuple[Opener, FakeClock], config_with: ConfigWith) -> None:
    open_journal, clock = opener
    j = open_journal()
    cfg = load_config(config_with([("set", "lease.enabled", True), ("set", "schedule.interval_s", 10.0)]),
                      env={})
    out: dict[str, Any] = {}
    checks: dict[str, dict[str, Any]] = {}
    health_lease(cfg, j.leases(), out, checks)
    assert out["lease"] == [] and checks["lease"] == {"ok": False, "detail": "no keeper has taken the lease yet"}
    j.acquire_lease(SCOPE, "host-a:41", TTL_S)
    clock.t += 12.5
    health_lease(cfg, j.leases(), out, checks)
    [rec] = out["lease"]
    assert (rec["holder"], rec["token"], rec["live"], rec["expires_in_s"], rec["ttl_s"]) == (
        "host-a:41", 1, True, 17.5, 30.0)
    assert checks["lease"]["ok"] and checks["lease"]["detail"] == (
        f"host-a:41 leads {SCOPE} with fencing token 1; the lease expires in 17.5 s (TTL 30 s)")
    clock.t += 20
    health_lease(cfg, j.leases(), out, checks)
    assert not checks["lease"]["ok"] and "nobody leads" in checks["lease"]["detail"]
    assert out["lease"][0]["holder"] is None and out["lease"][0]["last_holder"] == "host-a:41"


@pytest.mark.postgres
def test_a_dropped_postgresql_connection_is_reopened_at_the_next_transaction(pg_url: str,
                                                                             pg_cluster: PgCluster) -> None:
    """A keeper outlives a database restart or a network blip: the next transaction opens a new connection."""

    def drop(j: Journal) -> None:
        pid = j._conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        pg_cluster.sql(f"SELECT pg_terminate_backend({pid})")

    with Journal.open(pg_url) as j:
        first = j.start_cycle("live")
        drop(j)  # unnoticed until the next transaction begins
        assert j.start_cycle("live").id == first.id + 1
        drop(j)
        with pytest.raises(DbError):
            j._conn.execute("SELECT 1")  # noticed by a statement: the connection is closed now
        assert [c.id for c in j.recent_cycles(5)] == [first.id + 1, first.id]
