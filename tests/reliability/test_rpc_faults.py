"""RPC faults between the keeper and its node: timeouts, dropped connections, 5xx, JSON-RPC errors,
garbage bodies and a lagging node. The keeper never trades on an incomplete snapshot, never crashes,
halts after the configured number of consecutive failures, and hedges correctly once faults stop."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import pytest
from web3 import Web3

from keeper.chain.rpc import RetryPolicy, RpcClient
from keeper.cycle.compose import ChainKeeper
from keeper.devnet.actor import MarketActor
from keeper.devnet.keeper_setup import world_keeper, world_venues
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.errors import HaltError, KeeperError
from keeper.journal import Journal
from tests.integration.test_hedge_cycle import current_deltas, policy
from tests.reliability.proxy import FaultPlan, FaultProxy

pytestmark = pytest.mark.anvil


@dataclass
class Outcome:
    cycles: int
    ok: int
    failed: int
    halts: int
    trades: int
    faults: Counter[str]


def faulty_keeper(world: World, url: str, journal: Journal, max_failures: int = 5) -> ChainKeeper:
    d = current_deltas(world, world.manifest)
    rpc = RpcClient.http(url, timeout_s=0.3, retry=RetryPolicy(attempts=2, backoff_s=0.01))
    k = world_keeper(world.url, world.manifest, journal, policy(d["ETH"], d["BTC"]), rpc=rpc,
                     venues=world_venues(world.manifest, perps=False),
                     tx_kwargs={"timeout_s": 5.0, "replace_after_s": 2.0})
    k.max_consecutive_failures = max_failures
    return k


def run_cycles(world: World, chain: Web3, n: int, rate: float, seed: int) -> tuple[Outcome, Journal, ChainKeeper]:
    journal = Journal.memory()
    plan = FaultPlan(rate=rate, seed=seed, timeout_hold_s=0.4)
    actor = MarketActor(chain, world.manifest, seed=seed, step_s=3600, annual_vol=1.5)
    ok = failed = halts = 0
    with FaultProxy(world.url, plan) as proxy:
        k = faulty_keeper(world, proxy.url, journal)
        for _ in range(n):
            actor.step()
            try:
                report = k.cycle()
            except HaltError:
                halts += 1
                journal.clear_halt(by="test", reason="continue the trial")
                continue
            except KeeperError:
                failed += 1
                continue
            ok += report.status == "ok"
            failed += report.status == "failed"
        plan.rate = 0.0  # faults stop; the market calms down (the TWAP catches up with spot)
        world.node.rpc("evm_increaseTime", 2 * 1800)
        actor.dev.send(contract(chain, "PriceFeed", world.manifest.feeds["ETH"].address).functions.setAnswer(
            contract(chain, "PriceFeed", world.manifest.feeds["ETH"].address).functions.latestAnswer().call()),
            actor.deployer)
        for asset in ("BTC", "USDC"):
            feed = contract(chain, "PriceFeed", world.manifest.feeds[asset].address)
            actor.dev.send(feed.functions.setAnswer(feed.functions.latestAnswer().call()), actor.deployer)
        recovered = k.cycle()
    assert recovered.status == "ok", recovered.message
    trades = len(journal.fills_between(0, 2**62))
    return Outcome(n, ok, failed, halts, trades, plan.counts), journal, k


def check_invariants(chain: Web3, world: World, journal: Journal, start_block: int) -> None:
    # Every trade was decided on a complete snapshot.
    fills = journal.fills_between(0, 2**62)
    for f in fills:
        intent = journal.intent(f.intent_id)
        [snap] = journal.snapshots(intent.cycle_id)
        assert snap.complete, f"trade {f.intent_id} came from an incomplete snapshot"
    # The chain and the journal agree: one module hedge per mined intent, none unrecorded.
    module = contract(chain, "HedgeModule", world.manifest.hedge_module)
    events = module.events.HedgeExecuted().get_logs(from_block=start_block)
    assert sorted(e["transactionHash"].to_0x_hex() for e in events) == sorted(f.data.tx_hash for f in fills)
    assert journal.open_intents() == []


def test_forty_cycles_at_twenty_percent_faults(chain: Web3, world: World) -> None:
    start = chain.eth.block_number
    outcome, journal, k = run_cycles(world, chain, 40, 0.2, seed=1)
    print(outcome)
    assert sum(outcome.faults[x] for x in outcome.faults if x != "ok") > 20
    assert outcome.ok + outcome.failed + outcome.halts == 40
    check_invariants(chain, world, journal, start)
    # Once the faults stop, the book is back inside its band.
    _risk, plan = k.plan(k.reader.read())
    for d in plan.decisions:
        inside = d.band_lower_units - 1e-6 <= d.delta_before_units <= d.band_upper_units + 1e-6
        assert inside or d.order is not None, [r.text for r in d.reasons]


@pytest.mark.slow
def test_two_hundred_cycles_at_twenty_percent_faults(chain: Web3, world: World) -> None:
    start = chain.eth.block_number
    outcome, journal, _ = run_cycles(world, chain, 200, 0.2, seed=7)
    print(outcome)
    assert outcome.ok + outcome.failed + outcome.halts == 200
    assert outcome.trades > 0
    check_invariants(chain, world, journal, start)


def test_consecutive_failures_halt_and_the_halt_survives_a_restart(chain: Web3, world: World, tmp_path: object) -> None:
    from pathlib import Path

    path = Path(str(tmp_path)) / "journal.sqlite"
    journal = Journal.open(path)
    with FaultProxy(world.url, FaultPlan(rate=1.0, kinds=("http5xx", "rpc_error", "garbage"), seed=3)) as proxy:
        k = faulty_keeper(world, proxy.url, journal, max_failures=3)
        for _ in range(3):
            with pytest.raises(KeeperError):
                k.cycle()
        with pytest.raises(HaltError, match="3 consecutive failed cycles"):
            k.cycle()
    journal.close()
    again = Journal.open(path)
    assert again.control_state().halted
    k2 = faulty_keeper(world, world.url, again, max_failures=3)
    with pytest.raises(HaltError):
        k2.cycle()  # healthy RPC, but the halt stands until an operator clears it
    again.clear_halt(by="operator", reason="RPC fixed")
    assert k2.cycle().status == "ok"
