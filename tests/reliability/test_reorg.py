"""A reorg that drops a mined hedge is detected at the next cycle, which re-resolves it and re-plans."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import Web3

from keeper.devnet.keeper_setup import world_keeper, world_venues
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.journal import Journal
from tests.integration.test_hedge_cycle import current_deltas, policy

pytestmark = pytest.mark.anvil


def test_reorged_hedge_is_detected_and_the_cycle_replans(chain: Web3, world: World, tmp_path: Path) -> None:
    m = world.manifest
    d = current_deltas(world, m)
    journal = Journal.open(tmp_path / "journal.sqlite")
    k = world_keeper(world.url, m, journal, policy(d["ETH"] - 30, d["BTC"]), venues=world_venues(m, perps=False),
                     tx_kwargs={"timeout_s": 5.0})
    before_hedge = world.node.rpc("evm_snapshot")
    first = k.cycle()
    [h] = first.hedges
    assert h.fill is not None
    mined_block = h.fill.block_number

    # The block with the hedge leaves the canonical chain; the chain grows past it without it.
    world.node.rpc("evm_revert", before_hedge)
    world.node.rpc("anvil_mine", 3)
    assert chain.provider.make_request("eth_getTransactionReceipt", [h.fill.tx_hash])["result"] is None  # type: ignore[arg-type]

    second = k.cycle()
    assert second.recovered[0] == f"{h.intent_id}: reorged out of block {mined_block} -> re-resolving"
    assert journal.intent(h.intent_id).status.value in ("replaced", "failed")
    [reorg] = journal.events(kinds=["reorg"])
    assert reorg.data["intent_id"] == h.intent_id
    # ... and the cycle re-planned: one new hedge, now on chain and in the journal.
    [again] = second.hedges
    assert again.fill is not None and again.intent_id != h.intent_id
    module = contract(chain, "HedgeModule", m.hedge_module)
    events = module.events.HedgeExecuted().get_logs(from_block=mined_block - 1)
    assert [e["transactionHash"].to_0x_hex() for e in events] == [again.fill.tx_hash]
    assert [f.intent_id for f in journal.fills_between(0, 2**62)] == [again.intent_id]
