"""Two keepers, one journal (PostgreSQL or a SQLite file), one anvil chain: the leader dies by SIGKILL at a
chosen step of a hedge, the follower takes over after the lease's TTL, recovers, and hedges.

The leader runs in a child process (forkserver: a fork per trial); the follower runs in the caller's
process. Both sign with the same key, as a pair of keepers for one treasury does. Used by
tests/reliability/test_failover.py and benchmarks/bench_failover.py.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.cycle.compose import ChainKeeper
from keeper.cycle.lease import LeaseGuard, lease_scope
from keeper.cycle.runner import CycleReport
from keeper.devnet.keeper_setup import band_policy, world_keeper
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.journal import Journal

__all__ = ["STEPS", "Outcome", "keeper_with_lease", "run_trial"]

STEPS = ("after_plan", "after_intent", "after_sign", "after_broadcast", "after_receipt", "after_fill")
"""Where the leader dies: planned (nothing journaled of the hedge), intent journaled, transaction signed
and journaled (not broadcast), broadcast (and mined: automine), receipt seen (fill not journaled), fill journaled."""

LEADER, FOLLOWER = "leader", "follower"


def keeper_with_lease(url: str, manifest_json: str, target: str, eth_target: float, btc_target: float,
                      holder: str, ttl_s: float) -> ChainKeeper:
    m = Manifest.model_validate_json(manifest_json)
    k = world_keeper(url, m, Journal.open(target), band_policy({"ETH": (eth_target, 5.0), "BTC": (btc_target, 1.0)}),
                     tx_kwargs={"timeout_s": 10.0, "replace_after_s": 60.0})
    k.lease = LeaseGuard(k.journal, lease_scope(m.chain_id, k.executor.account), holder, ttl_s)
    return k


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def leader_process(url: str, manifest_json: str, target: str, eth_target: float, btc_target: float, step: str,
                   ttl_s: float) -> None:
    """Child: take the lease, run one cycle, die by SIGKILL at ``step``."""
    k = keeper_with_lease(url, manifest_json, target, eth_target, btc_target, LEADER, ttl_s)
    if step == "after_broadcast":
        tx: Any = k.tx
        broadcast = tx.broadcast

        def send_then_die(attempt: Any) -> None:
            broadcast(attempt)
            _die()

        tx.broadcast = send_then_die
    elif step in STEPS:
        k.hooks = {step: _die}
    else:
        raise ValueError(step)
    k.cycle()
    os._exit(3)  # the cycle did not reach the step: the trial is void


def idle_leader_process(url: str, manifest_json: str, target: str, eth_target: float, btc_target: float,
                        ttl_s: float, interval_s: float) -> None:
    """Child: lead and cycle every ``interval_s`` (nothing to hedge at ``eth_target``) until killed."""
    k = keeper_with_lease(url, manifest_json, target, eth_target, btc_target, LEADER, ttl_s)
    while True:
        k.cycle()
        time.sleep(interval_s)


@dataclass
class Outcome:
    """One trial: what the follower saw and did, and the chain's and journal's account of the hedge."""

    step: str
    follower_dry_cycles: int
    takeover_delay_s: float
    """Lease clock: from the leader's lease expiry to the follower taking it over."""
    max_cycle_s: float
    """The follower's longest cycle (its cycle period is ``interval_s`` plus this)."""
    failover_s: float
    """Wall clock: from the leader's death (first seen by the parent) to the end of the follower's first live cycle."""
    eth_fills: int
    chain_hedges: int
    lost_records: int
    double_hedges: int
    open_intents: int
    recovered: tuple[str, ...] = field(default=())


def _wait_for_lease(j: Journal, scope: str, p: Any, limit_s: float = 60.0) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        lease = j.lease(scope)
        if lease is not None and lease.holder == LEADER:
            return
        if p.exitcode is not None and p.exitcode != -9:
            raise AssertionError(f"the leader exited with {p.exitcode} before taking the lease")
        time.sleep(0.02)
    raise AssertionError("the leader never took the lease")


def run_trial(world: World, chain: Web3, target: str, step: str, *, eth_off: float, ttl_s: float,
              interval_s: float, deltas: dict[str, float]) -> Outcome:
    """One trial; the caller snapshots and reverts the chain around it and gives each trial a fresh journal."""
    m = world.manifest
    eth_target, btc_target = deltas["ETH"] + eth_off, deltas["BTC"]
    start = chain.eth.block_number
    ctx = multiprocessing.get_context("forkserver")
    p = ctx.Process(target=leader_process, args=(world.url, m.model_dump_json(), target, eth_target, btc_target,
                                                 step, ttl_s))
    p.start()
    follower = keeper_with_lease(world.url, m.model_dump_json(), target, eth_target, btc_target, FOLLOWER, ttl_s)
    try:
        return _follow(follower, p, chain, start, step, ttl_s, interval_s)
    finally:
        follower.journal.close()
        if p.exitcode is None:
            p.kill()
            p.join(10)


def _follow(follower: ChainKeeper, p: Any, chain: Web3, start: int, step: str, ttl_s: float,
            interval_s: float) -> Outcome:
    assert follower.lease is not None
    scope = follower.lease.scope
    j = follower.journal
    _wait_for_lease(j, scope, p)

    dry, longest, died_at = 0, 0.0, None
    deadline = time.monotonic() + ttl_s + 60.0
    while True:
        if died_at is None and p.exitcode is not None:
            died_at = time.monotonic()
        t0 = time.monotonic()
        report: CycleReport = follower.cycle()
        longest = max(longest, time.monotonic() - t0)
        assert report.lease is not None
        if report.lease.leader:
            break
        assert report.hedges == () and report.recovered == (), "a follower sends and recovers nothing"
        dry += 1
        assert time.monotonic() < deadline, "the follower never took over"
        time.sleep(interval_s)
    ended = time.monotonic()
    p.join(30)
    assert p.exitcode == -9, f"the leader should die by SIGKILL at {step}, exit code {p.exitcode}"
    if died_at is None:
        died_at = ended  # it died during the follower's last cycle
    assert report.status == "ok", report.message
    again = follower.cycle()
    assert again.hedges == (), "the follower's next cycle finds nothing to do"

    [took] = [e for e in j.events(kinds=["lease_acquired"]) if e.data["holder"] == FOLLOWER]
    delay = float(took.data["lease_clock"]) - float(took.data["previous_expired_at"])
    module = contract(chain, "HedgeModule", follower.executor.module)
    events = [*module.events.HedgeExecuted().get_logs(from_block=start + 1),
              *module.events.PerpHedgeExecuted().get_logs(from_block=start + 1)]
    on_chain = sorted(e["transactionHash"].to_0x_hex() for e in events)
    fills = j.fills_between(0, 2**62)
    per_intent = Counter(f.intent_id for f in fills)
    underlyings = Counter(f.underlying for f in fills)
    out = Outcome(
        step=step, follower_dry_cycles=dry, takeover_delay_s=delay, max_cycle_s=longest,
        failover_s=ended - died_at, eth_fills=underlyings["ETH"], chain_hedges=len(on_chain),
        lost_records=len(set(on_chain) - {f.data.tx_hash for f in fills}),
        double_hedges=sum(max(0, n - 1) for n in [*underlyings.values(), *per_intent.values()]),
        open_intents=len(j.open_intents()), recovered=report.recovered,
    )
    assert on_chain == sorted(f.data.tx_hash for f in fills), ("journal and chain agree", step, out)
    return out
