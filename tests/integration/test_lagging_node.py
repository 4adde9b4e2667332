"""A node whose state runs ahead of its blocks and receipts.

anvil under CPU load answers ``eth_getTransactionCount(latest)`` with the new nonce a moment before
``eth_getTransactionReceipt`` has the receipt (measured: 40 of 2,000 sends on a loaded 2-core host);
a load-balanced RPC does the same whenever two backends disagree on the head. The keeper took
"nonce used, no receipt of ours" for proof that someone else used the nonce: its own mined hedge
was reported as "consumed by a transaction not sent by this keeper" (the crash trials' failure in
CI, an `after_intent` trial) and, in recovery, a landed hedge would be closed as replaced and
hedged again. These tests make the lag deterministic with a transport that hides receipts and
holds the head back, and check that only a transaction actually seen at our nonce, and not ours,
counts as a third party's.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.chain.rpc import HttpTransport, RpcClient
from keeper.devnet.state import World
from keeper.execute.tx import NonceConsumedError, TxManager, TxRequest, TxTimeoutError
from keeper.journal import Journal
from keeper.node.dev import dev_account
from tests.integration.test_recovery import restarted, stuck_cycle

pytestmark = pytest.mark.anvil


class LaggingNode:
    """Wraps a transport: each existing receipt answers null for its first ``hide`` lookups, and
    ``eth_blockNumber`` answers one block behind for its first ``behind`` calls (state ahead of the
    block index). ``hide=None`` hides receipts and the block that used a nonce for ever."""

    def __init__(self, url: str, hide: int | None = 3, behind: int = 2) -> None:
        self.inner = HttpTransport(url)
        self.hide = hide
        self.behind = behind
        self.hidden: Counter[str] = Counter()

    def send(self, payload: Any, timeout: float) -> Any:
        answer = self.inner.send(payload, timeout)
        pairs = zip(payload, answer, strict=True) if isinstance(payload, list) else [(payload, answer)]
        for q, a in pairs:
            if not isinstance(a, dict) or a.get("result") is None:
                continue
            if q["method"] == "eth_getTransactionReceipt":
                h = q["params"][0]
                if self.hide is None or self.hidden[h] < self.hide:
                    self.hidden[h] += 1
                    a["result"] = None
            elif q["method"] == "eth_blockNumber" and (self.hide is None or self.behind > 0):
                self.behind -= 1
                a["result"] = hex(int(a["result"], 16) - 1)
        return answer


def test_own_transaction_whose_receipt_lags_the_nonce_is_ours(chain: Web3, world: World) -> None:
    node = LaggingNode(world.url, hide=3)
    signer = dev_account(7)
    tm = TxManager(RpcClient(node), signer, 31337, poll_s=0.05, timeout_s=10, replace_after_s=60)
    nonce = chain.eth.get_transaction_count(signer.address)
    mined = tm.send(TxRequest(to=dev_account(8).address, data=b"", value=1), lambda _a: None)
    assert node.hidden[mined.attempt.tx_hash] == 3, "the receipt was hidden while the nonce showed as used"
    assert mined.attempt.nonce == nonce and int(mined.receipt["status"], 16) == 1
    assert tm.next_nonce() == nonce + 1


def test_nonce_used_and_nothing_visible_is_a_timeout_not_a_third_party(chain: Web3, world: World) -> None:
    """Undetermined stays undetermined: the caller keeps the intent open for recovery."""
    node = LaggingNode(world.url, hide=None)
    signer = dev_account(7)
    tm = TxManager(RpcClient(node), signer, 31337, poll_s=0.05, timeout_s=1.0, replace_after_s=60)
    with pytest.raises(TxTimeoutError, match="no receipt"):
        tm.send(TxRequest(to=dev_account(8).address, data=b"", value=1), lambda _a: None)


def test_nonce_user_finds_the_transaction_that_used_a_nonce(chain: Web3, world: World) -> None:
    signer = dev_account(7)
    tm = TxManager(RpcClient.http(world.url), signer, 31337, poll_s=0.05, timeout_s=10, replace_after_s=60)
    first = tm.send(TxRequest(to=dev_account(8).address, data=b"", value=1), lambda _a: None)
    world.node.rpc("anvil_mine", 5)
    second = tm.send(TxRequest(to=dev_account(8).address, data=b"", value=2), lambda _a: None)
    since = chain.eth.block_number - 10
    assert tm.nonce_user(first.attempt.nonce, since) == first.attempt.tx_hash
    assert tm.nonce_user(second.attempt.nonce, since) == second.attempt.tx_hash
    assert tm.nonce_user(second.attempt.nonce + 1, since) is None, "an unused nonce has no user"


def test_recovery_waits_for_a_landed_hedges_lagging_receipt(chain: Web3, world: World, manifest: Manifest,
                                                            tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    try:
        iid = stuck_cycle(world, manifest, path)
        world.node.rpc("anvil_mine", 1)  # the hedge lands while the keeper is down
    finally:
        world.node.rpc("evm_setAutomine", True)
    node = LaggingNode(world.url, hide=3)
    j, done = restarted(world, manifest, path, RpcClient(node), wait_s=10)
    [attempt] = j.intent(iid).attempts
    assert node.hidden[attempt.tx_hash] == 3
    assert done == [f"{iid}: mined in block {chain.eth.block_number} -> fill recorded"]
    assert j.intent(iid).status.value == "mined"


def test_recovery_names_the_third_party_that_used_the_nonce(chain: Web3, world: World, manifest: Manifest,
                                                           tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    try:
        iid = stuck_cycle(world, manifest, path)
        world.node.rpc("anvil_dropAllTransactions")
        [attempt] = Journal.open(path).intent(iid).attempts
        # Someone holding the key spends the nonce on something else while the keeper is down.
        rival = dev_account(5).sign_transaction({
            "type": 2, "chainId": 31337, "nonce": attempt.nonce, "to": dev_account(9).address, "value": 7,
            "gas": 21000, "maxFeePerGas": attempt.max_fee_per_gas,
            "maxPriorityFeePerGas": attempt.max_priority_fee_per_gas,
        })
        chain.eth.send_raw_transaction(rival.raw_transaction)
        world.node.rpc("anvil_mine", 1)
    finally:
        world.node.rpc("evm_setAutomine", True)
    j, done = restarted(world, manifest, path, RpcClient(LaggingNode(world.url, hide=2)), wait_s=10)
    assert done == [f"{iid}: nonce used elsewhere -> replaced"]
    intent = j.intent(iid)
    assert intent.status.value == "replaced"
    assert rival.hash.to_0x_hex() in (intent.error or "")


def test_third_party_at_our_nonce_is_named(chain: Web3, world: World) -> None:
    """The detection still works when the third party is real (see test_tx_manager for the race)."""
    signer = dev_account(7)
    tm = TxManager(RpcClient(LaggingNode(world.url, hide=2)), signer, 31337, poll_s=0.05, timeout_s=10,
                   replace_after_s=60)
    nonce = chain.eth.get_transaction_count(signer.address)
    rival = signer.sign_transaction({"type": 2, "chainId": 31337, "nonce": nonce, "to": dev_account(9).address,
                                     "value": 7, "gas": 21000, "maxFeePerGas": 10**11, "maxPriorityFeePerGas": 10**10})
    chain.eth.send_raw_transaction(rival.raw_transaction)
    tm.resync_nonce()
    tm._nonce = nonce  # the keeper read its nonce just before the rival landed
    with pytest.raises(NonceConsumedError, match=f"nonce {nonce} was consumed by transaction {rival.hash.to_0x_hex()}"):
        tm.send(TxRequest(to=dev_account(8).address, data=b"", value=1), lambda _a: None)
    assert tm.next_nonce() == nonce + 1
