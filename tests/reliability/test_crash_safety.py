"""kill -9 at each step of a hedge, then restart: exactly one trade per intent, no double hedge, and the
journal agrees with the chain."""

from __future__ import annotations

import multiprocessing
import random
from collections import Counter
from pathlib import Path

import pytest
from web3 import Web3

from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.journal import Journal
from tests.conftest import pool_is_empty, revert_clean
from tests.integration.test_hedge_cycle import current_deltas
from tests.reliability.crash import STEPS, crashing_cycle, make_keeper

pytestmark = pytest.mark.anvil


def trial(world: World, chain: Web3, tmp: Path, rng: random.Random, stats: Counter[str]) -> None:
    assert pool_is_empty(world.node), "a trial starts with an empty transaction pool"
    snap_id = world.node.rpc("evm_snapshot")
    try:
        _trial(world, chain, tmp, rng, stats)
    finally:
        # The pool must not outlive the trial: a cancellation that lost its race to the crashed
        # keeper's own transaction stays pooled, becomes valid again after the revert, and would
        # take the next trial's nonce (see revert_clean).
        revert_clean(world.node, snap_id)


def _trial(world: World, chain: Web3, tmp: Path, rng: random.Random, stats: Counter[str]) -> None:
    step = rng.choice(STEPS)
    mempool = rng.choice(["automine", "paused_then_mined", "dropped"]) if step == "after_send" else "automine"
    d = current_deltas(world, world.manifest)
    eth_target = d["ETH"] + rng.choice([-1, 1]) * rng.uniform(15, 40)
    journal_path = str(tmp / f"journal-{stats['trials']}.sqlite")
    start = chain.eth.block_number
    if mempool != "automine":
        world.node.rpc("evm_setAutomine", False)
    ctx = multiprocessing.get_context("forkserver")
    p = ctx.Process(target=crashing_cycle, args=(world.url, world.manifest.model_dump_json(), journal_path,
                                                 eth_target, d["BTC"], step))
    p.start()
    p.join(60)
    assert p.exitcode == -9, f"the child should die by SIGKILL at {step}, exit code {p.exitcode}"
    if mempool == "dropped":
        world.node.rpc("anvil_dropAllTransactions")
    world.node.rpc("evm_setAutomine", True)

    # Restart: recovery, then a normal cycle (which must not hedge twice).
    k = make_keeper(world.url, world.manifest.model_dump_json(), journal_path, eth_target, d["BTC"])
    report = k.cycle()
    assert report.status == "ok", report.message
    k2 = make_keeper(world.url, world.manifest.model_dump_json(), journal_path, eth_target, d["BTC"])
    again = k2.cycle()
    assert again.hedges == (), "a third cycle finds nothing to do"

    module = contract(chain, "HedgeModule", world.manifest.hedge_module)
    swaps = module.events.HedgeExecuted().get_logs(from_block=start + 1)
    perps = module.events.PerpHedgeExecuted().get_logs(from_block=start + 1)
    on_chain = sorted(e["transactionHash"].to_0x_hex() for e in [*swaps, *perps])
    j = Journal.open(Path(journal_path))
    fills = j.fills_between(0, 2**62)
    assert on_chain == sorted(f.data.tx_hash for f in fills), "journal and chain agree"
    assert j.open_intents() == [], "every intent resolved"
    intents = [i for c in j.recent_cycles(10) for i in j.intents_for_cycle(c.id)]
    per_intent = Counter(f.intent_id for f in fills)
    assert all(n == 1 for n in per_intent.values()), "at most one trade per intent"
    # The hedge was needed once: exactly one trade happened in total (no double hedge, no lost hedge).
    underlyings = Counter(f.underlying for f in fills)
    assert underlyings["ETH"] == 1, (step, mempool, [(i.status.value, i.error) for i in intents])
    stats["trials"] += 1
    stats[f"{step}/{mempool}"] += 1
    stats["double_hedges"] += sum(max(0, n - 1) for n in underlyings.values())
    stats["lost_records"] += len(on_chain) - len(fills)


def run_trials(world: World, chain: Web3, tmp: Path, n: int, seed: int) -> Counter[str]:
    rng = random.Random(seed)
    stats: Counter[str] = Counter()
    for _ in range(n):
        trial(world, chain, tmp, rng, stats)
    return stats


def test_one_hundred_random_crash_trials(world: World, chain: Web3, tmp_path: Path) -> None:
    """At least 100 random trials (about 2 minutes): every step, every mempool outcome."""
    stats = run_trials(world, chain, tmp_path, 100, seed=11)
    print(dict(stats))
    assert stats["trials"] == 100 and stats["double_hedges"] == 0 and stats["lost_records"] == 0
    assert {k.split("/")[0] for k in stats if "/" in k} == set(STEPS)
    assert {k.split("/")[1] for k in stats if k.startswith("after_send/")} == {"automine", "paused_then_mined",
                                                                                "dropped"}


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(101, 121))
def test_one_hundred_random_crash_trials_per_seed(world: World, chain: Web3, tmp_path: Path, seed: int) -> None:
    """The same 100 trials under 20 other seeds (about 40 minutes in all; KEEPER_SLOW=1)."""
    stats = run_trials(world, chain, tmp_path, 100, seed=seed)
    assert stats["trials"] == 100 and stats["double_hedges"] == 0 and stats["lost_records"] == 0
