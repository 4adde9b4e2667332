"""Restart safety: an intent left `sent` is resolved from the chain before anything new is planned."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import Web3

from keeper.devnet.keeper_setup import world_keeper, world_venues
from keeper.devnet.manifest import Manifest
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.journal import Journal
from tests.integration.test_hedge_cycle import current_deltas, policy

pytestmark = pytest.mark.anvil


def stuck_cycle(world: World, manifest: Manifest, path: Path) -> str:
    """Run a cycle whose hedge is sent but not mined (mining paused): the keeper gives up waiting."""
    d = current_deltas(world, manifest)
    j = Journal.open(path)
    k = world_keeper(world.url, manifest, j, policy(d["ETH"] - 30, d["BTC"]),
                     venues=world_venues(manifest, perps=False), tx_kwargs={"timeout_s": 0.5, "replace_after_s": 60})
    world.node.rpc("evm_setAutomine", False)
    report = k.cycle()
    assert len(report.hedges) == 1 and report.hedges[0].fill is None
    assert "no receipt" in (report.hedges[0].error or "")
    [intent] = j.open_intents()
    assert intent.status.value == "sent" and len(intent.attempts) == 1
    j.close()
    return intent.id


def restarted(world: World, manifest: Manifest, path: Path) -> tuple[Journal, list[str]]:
    d = current_deltas(world, manifest)
    j = Journal.open(path)
    k = world_keeper(world.url, manifest, j, policy(d["ETH"], d["BTC"]), venues=world_venues(manifest, perps=False))
    return j, k.recover()


def test_sent_intent_that_was_mined_is_recorded_as_filled(chain: Web3, world: World, manifest: Manifest,
                                                          tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    try:
        iid = stuck_cycle(world, manifest, path)
        world.node.rpc("anvil_mine", 1)  # the hedge lands while the keeper is down
    finally:
        world.node.rpc("evm_setAutomine", True)
    j, done = restarted(world, manifest, path)
    assert done == [f"{iid}: mined in block {chain.eth.block_number} -> fill recorded"]
    assert j.intent(iid).status.value == "mined"
    [fill] = j.fills_between(0, 2**62)
    assert fill.data.amount_in == 30 * 10**18 or abs(fill.data.amount_in - 30 * 10**18) < 10**18
    assert j.open_intents() == []


def test_sent_intent_never_mined_is_cancelled_and_never_lands(chain: Web3, world: World, manifest: Manifest,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    module = contract(chain, "HedgeModule", manifest.hedge_module)
    start = chain.eth.block_number
    try:
        iid = stuck_cycle(world, manifest, path)
        # The node forgets the transaction (a dropped transaction): it is signed and could be
        # rebroadcast by anyone, so the keeper must close its nonce before planning anew.
        raw = Journal.open(path).intent(iid).attempts[0].raw_tx
        world.node.rpc("anvil_dropAllTransactions")
    finally:
        world.node.rpc("evm_setAutomine", True)
    j, done = restarted(world, manifest, path)
    assert done == [f"{iid}: cancelled -> replaced"]
    assert j.intent(iid).status.value == "replaced"
    # Rebroadcasting the old signed hedge now fails: its nonce is used.
    with pytest.raises(Exception, match="nonce too low"):
        chain.eth.send_raw_transaction(bytes.fromhex(raw[2:]))
    world.node.rpc("anvil_mine", 3)
    assert list(module.events.HedgeExecuted().get_logs(from_block=start + 1)) == [], "the old hedge never landed"
