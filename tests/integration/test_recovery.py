"""Restart safety: an intent left `sent` is resolved from the chain before anything new is planned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.devnet.keeper_setup import world_keeper, world_venues
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.execute.tx import TxManager, TxRequest
from keeper.journal import Journal
from keeper.node.dev import dev_account
from tests.conftest import pool_is_empty, revert_clean
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


def restarted(world: World, manifest: Manifest, path: Path, rpc: RpcClient | None = None,
              wait_s: float = 30.0) -> tuple[Journal, list[str]]:
    d = current_deltas(world, manifest)
    j = Journal.open(path)
    k = world_keeper(world.url, manifest, j, policy(d["ETH"], d["BTC"]), venues=world_venues(manifest, perps=False),
                     rpc=rpc)
    return j, k.recover(wait_s=wait_s)


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


def test_hedge_mined_between_recoverys_look_and_its_cancellation_is_recorded_once(
        chain: Web3, world: World, manifest: Manifest, tmp_path: Path) -> None:
    """The interleaving of the crash trials' `paused_then_mined` case, forced: recovery finds no
    receipt and an open nonce, and the old hedge is mined just before the cancellation goes out.
    The cancellation is refused (nonce too low); recovery must then find the hedge's receipt and
    record it as the fill, and the cycle must not hedge again."""
    path = tmp_path / "journal.sqlite"
    module = contract(chain, "HedgeModule", manifest.hedge_module)
    start = chain.eth.block_number
    try:
        iid = stuck_cycle(world, manifest, path)  # mining paused: the hedge waits in the pool
        d = current_deltas(world, manifest)
        j = Journal.open(path)
        k = world_keeper(world.url, manifest, j, policy(d["ETH"] - 30, d["BTC"]),
                         venues=world_venues(manifest, perps=False))
        broadcast = k.tx.broadcast
        cancellations: list[str] = []

        def mine_then_broadcast(attempt: Any) -> None:
            cancellations.append(attempt.tx_hash)
            world.node.rpc("anvil_mine", 1)  # the old hedge lands first
            broadcast(attempt)

        k.tx.broadcast = mine_then_broadcast  # type: ignore[method-assign]
        done = k.recover()
        k.tx.broadcast = broadcast  # type: ignore[method-assign]
    finally:
        world.node.rpc("evm_setAutomine", True)
    assert len(cancellations) == 1, "recovery tried to cancel the open nonce"
    assert done == [f"{iid}: mined in block {start + 1} -> fill recorded"]
    assert j.intent(iid).status.value == "mined"
    assert chain.provider.make_request("eth_getTransactionReceipt", [cancellations[0]])["result"] is None  # type: ignore[arg-type]
    assert pool_is_empty(world.node), "the refused cancellation is not left pooled"
    again = k.cycle()
    assert again.status == "ok" and again.hedges == (), "the hedge happened once: nothing left to do"
    events = module.events.HedgeExecuted().get_logs(from_block=start + 1)
    assert [e["transactionHash"].to_0x_hex() for e in events] == [f.data.tx_hash for f in j.fills_between(0, 2**62)]


def test_a_transaction_pooled_at_revert_time_survives_a_bare_revert_but_not_revert_clean(
        chain: Web3, world: World) -> None:
    """Why the chain fixture and the crash trials use ``revert_clean``: anvil's ``evm_revert`` keeps
    its transaction pool. A transaction pooled when a test reverts is valid again at the restored
    nonce and can land in the next test, whose keeper then finds its nonce "consumed by a
    transaction not sent by this keeper" (the crash trials' intermittent failure at trial 21, right
    after a `paused_then_mined` trial)."""
    signer = dev_account(6)
    nonce = chain.eth.get_transaction_count(signer.address)
    stale = signer.sign_transaction({"type": 2, "chainId": 31337, "nonce": nonce, "to": signer.address,
                                     "value": 0, "gas": 21000, "maxFeePerGas": 50 * 10**9,
                                     "maxPriorityFeePerGas": 2 * 10**9})

    def leave_it_pooled() -> str:
        snap = world.node.rpc("evm_snapshot")
        world.node.rpc("evm_setAutomine", False)
        chain.eth.send_raw_transaction(stale.raw_transaction)
        return str(snap)

    snap = leave_it_pooled()
    world.node.rpc("evm_revert", snap)
    assert not pool_is_empty(world.node), "anvil keeps the pool across evm_revert"
    world.node.rpc("anvil_dropAllTransactions")
    world.node.rpc("evm_setAutomine", True)

    revert_clean(world.node, leave_it_pooled())
    assert pool_is_empty(world.node)
    assert world.node.rpc("eth_getTransactionCount", signer.address, "pending") == hex(nonce)
    tm = TxManager(RpcClient.http(world.url), signer, 31337, poll_s=0.05, timeout_s=10, replace_after_s=60)
    mined = tm.send(TxRequest(to=dev_account(8).address, data=b"", value=1), lambda _a: None)
    assert mined.attempt.nonce == nonce and int(mined.receipt["status"], 16) == 1
    assert chain.provider.make_request("eth_getTransactionReceipt",  # type: ignore[arg-type]
                                       [stale.hash.to_0x_hex()])["result"] is None, "the stale one never landed"
