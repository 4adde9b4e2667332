"""Two keepers on one journal and one anvil chain: kill -9 the leader at each step of a hedge.

Over all trials: the follower takes over within TTL + one cycle (its lease clock says so: the takeover
comes at most one follower cycle period after the leader's lease expired, and the leader's lease expires
at most one TTL after its last renewal, before its death), no double hedge, no lost record, and the
journal equals the chain. PostgreSQL (the multi-host backend) gets every step; a SQLite file shared by two
processes on one host gets a lean pair. The 50-trial version is under the ``slow`` marker.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest
from web3 import Web3

from keeper.devnet.state import World
from tests.conftest import pool_is_empty, revert_clean
from tests.integration.test_hedge_cycle import current_deltas
from tests.pg import PgCluster
from tests.reliability.failover import STEPS, Outcome, run_trial

pytestmark = pytest.mark.anvil

TTL_S = 2.5
INTERVAL_S = 0.2
"""Short, so a trial takes seconds; the lease logic does not depend on the scale (see bench_failover for 30 s)."""


def trial(world: World, chain: Web3, target: str, step: str, eth_off: float) -> Outcome:
    assert pool_is_empty(world.node), "a trial starts with an empty transaction pool"
    snap_id = world.node.rpc("evm_snapshot")
    try:
        return run_trial(world, chain, target, step, eth_off=eth_off, ttl_s=TTL_S, interval_s=INTERVAL_S,
                         deltas=current_deltas(world, world.manifest))
    finally:
        revert_clean(world.node, snap_id)


def check(outcomes: list[Outcome]) -> None:
    for o in outcomes:
        assert o.eth_fills == 1, f"{o.step}: the hedge was needed once and made once: {o}"
        assert (o.double_hedges, o.lost_records, o.open_intents) == (0, 0, 0), o
        # within TTL + one cycle: the takeover came at most one follower cycle period after the expiry
        assert 0 <= o.takeover_delay_s <= INTERVAL_S + o.max_cycle_s, o


def summary(outcomes: list[Outcome]) -> dict[str, float]:
    """Counts over the trials (printed with -s)."""
    return {"trials": len(outcomes), "double_hedges": sum(o.double_hedges for o in outcomes),
            "lost_records": sum(o.lost_records for o in outcomes),
            "max_takeover_delay_s": max(o.takeover_delay_s for o in outcomes),
            "max_failover_s": max(o.failover_s for o in outcomes),
            "hedges_on_chain": sum(o.chain_hedges for o in outcomes)}


def pg_target(cluster: PgCluster) -> str:
    return cluster.url(schema=cluster.new_schema())


@pytest.mark.postgres
@pytest.mark.parametrize("step", ["after_intent", "after_sign", "after_broadcast"])
def test_postgres_pair_kill_the_leader_at_a_step(world: World, chain: Web3, pg_cluster: PgCluster,
                                                  step: str) -> None:
    outcome = trial(world, chain, pg_target(pg_cluster), step, eth_off=-25.0)
    check([outcome])
    expected = {"after_intent": "never sent -> failed", "after_sign": "cancelled -> replaced",
                "after_broadcast": "fill recorded"}[step]
    assert any(expected in r for r in outcome.recovered), outcome.recovered
    assert outcome.follower_dry_cycles >= 1, "the follower ran dry while the dead leader's lease lived"


def test_sqlite_pair_on_one_host(world: World, chain: Web3, tmp_path: Path) -> None:
    """Two processes on one SQLite file: the same properties, one trial at a step where the leader's
    signed transaction is journaled but not broadcast (the follower must close that nonce first)."""
    outcome = trial(world, chain, str(tmp_path / "journal.sqlite"), "after_sign", eth_off=25.0)
    check([outcome])
    assert any("cancelled -> replaced" in r for r in outcome.recovered), outcome.recovered


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_pair_fifty_trials(world: World, chain: Web3, pg_cluster: PgCluster) -> None:
    """50 trials over every step (KEEPER_SLOW=1)."""
    rng = random.Random(19)
    steps = [STEPS[i % len(STEPS)] for i in range(50)]
    rng.shuffle(steps)
    outcomes = [trial(world, chain, pg_target(pg_cluster), s, eth_off=rng.choice([-1, 1]) * rng.uniform(15, 40))
                for s in steps]
    check(outcomes)
    assert {o.step for o in outcomes} == set(STEPS)
    print(summary(outcomes))


@pytest.mark.slow
def test_sqlite_pair_every_step(world: World, chain: Web3, tmp_path: Path) -> None:
    """Every step once on a SQLite file shared by two processes (KEEPER_SLOW=1)."""
    make: Callable[[int], str] = lambda i: str(tmp_path / f"journal-{i}.sqlite")  # noqa: E731
    outcomes = [trial(world, chain, make(i), s, eth_off=-20.0) for i, s in enumerate(STEPS)]
    check(outcomes)
    print(summary(outcomes))
