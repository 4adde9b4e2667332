"""The transaction manager on anvil: preflight, replacement of a stuck transaction, reverts, nonce theft."""

from __future__ import annotations

import itertools
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from web3 import Web3

from keeper.build.artifacts import forge_artifact
from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.execute.fees import GWEI, FeePolicy
from keeper.execute.tx import Attempt, ErrorDecoder, NonceConsumedError, TxManager, TxRequest, TxRevertedError
from keeper.node.dev import dev_account

pytestmark = pytest.mark.anvil

SIGNER = dev_account(7)


def manager(world: World, **kw: Any) -> TxManager:
    rpc = RpcClient.http(world.url)
    return TxManager(
        rpc, SIGNER, 31337, errors=ErrorDecoder([forge_artifact("DevToken").abi]), poll_s=0.05, **kw
    )


def usdc_transfer(chain: Web3, manifest: Manifest, amount: int) -> TxRequest:
    usdc = contract(chain, "DevToken", manifest.tokens["USDC"].address)
    data = bytes.fromhex(usdc.encode_abi("transfer", [dev_account(8).address, amount])[2:])
    return TxRequest(to=usdc.address, data=data)


def test_send_mines_and_records_every_attempt_first(chain: Web3, world: World) -> None:
    tm = manager(world)
    recorded: list[Attempt] = []
    nonce = chain.eth.get_transaction_count(SIGNER.address)
    mined = tm.send(TxRequest(to=dev_account(8).address, data=b"", value=1), recorded.append)
    assert mined.receipt["status"] == "0x1"
    assert [a.tx_hash for a in recorded] == [mined.attempt.tx_hash]
    assert chain.eth.get_transaction_count(SIGNER.address) == nonce + 1
    assert tm.next_nonce() == nonce + 1


def test_preflight_revert_is_decoded_and_nothing_is_sent(chain: Web3, world: World, manifest: Manifest) -> None:
    tm = manager(world)
    nonce = chain.eth.get_transaction_count(SIGNER.address)
    sent: list[Attempt] = []
    with pytest.raises(TxRevertedError) as err:
        tm.send(usdc_transfer(chain, manifest, 10**6), sent.append)  # the signer holds no USDC
    assert err.value.preflight
    assert err.value.error_name == "ERC20InsufficientBalance"
    assert sent == []
    assert chain.eth.get_transaction_count(SIGNER.address) == nonce


def test_mined_revert_is_decoded(chain: Web3, world: World, manifest: Manifest) -> None:
    tm = manager(world)
    req = usdc_transfer(chain, manifest, 10**6)
    req = TxRequest(to=req.to, data=req.data, gas=100_000)  # skip the preflight: it is mined and reverts
    with pytest.raises(TxRevertedError) as err:
        tm.send(req, lambda a: None)
    assert not err.value.preflight
    assert err.value.error_name == "ERC20InsufficientBalance"
    assert chain.eth.get_transaction_receipt(err.value.tx_hash)["status"] == 0  # type: ignore[arg-type]


def test_stuck_transaction_is_replaced_and_mined_exactly_once(chain: Web3, world: World) -> None:
    tm = manager(world, replace_after_s=0.3, timeout_s=30, policy=FeePolicy(max_fee_cap_wei=1000 * GWEI))
    nonce = chain.eth.get_transaction_count(SIGNER.address)
    attempts: list[Attempt] = []
    world.node.rpc("evm_setAutomine", False)
    try:
        with ThreadPoolExecutor(1) as pool:
            fut = pool.submit(tm.send, TxRequest(to=dev_account(8).address, data=b"", value=12345), attempts.append)
            deadline = time.monotonic() + 10
            while len(attempts) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(attempts) >= 3, "the stuck transaction was replaced twice while mining was paused"
            world.node.rpc("anvil_mine", 1)
            mined = fut.result(timeout=20)
    finally:
        world.node.rpc("evm_setAutomine", True)
    world.node.rpc("anvil_mine", 3)
    assert len({a.nonce for a in attempts}) == 1
    fees = [a.fees.max_fee_per_gas for a in attempts]
    assert all(b >= a * 1.125 for a, b in itertools.pairwise(fees)), fees
    receipts = [_receipt(chain, a) for a in attempts]
    assert sum(r is not None for r in receipts) == 1, "exactly one attempt is on chain"
    assert mined.attempt.tx_hash in {a.tx_hash for a, r in zip(attempts, receipts, strict=True) if r is not None}
    assert chain.eth.get_transaction_count(SIGNER.address) == nonce + 1


def _receipt(chain: Web3, a: Attempt) -> object:
    """The attempt's receipt, or None when it never made it on chain (replaced in the pool)."""
    answer = chain.provider.make_request("eth_getTransactionReceipt", [a.tx_hash])  # type: ignore[arg-type]
    return answer.get("result")


def test_nonce_used_by_a_third_party_is_detected(chain: Web3, world: World) -> None:
    tm = manager(world, replace_after_s=60, timeout_s=30)
    nonce = chain.eth.get_transaction_count(SIGNER.address)
    attempts: list[Attempt] = []
    world.node.rpc("evm_setAutomine", False)
    try:
        with ThreadPoolExecutor(1) as pool:
            fut = pool.submit(tm.send, TxRequest(to=dev_account(8).address, data=b"", value=1), attempts.append)
            deadline = time.monotonic() + 10
            while not attempts and time.monotonic() < deadline:
                time.sleep(0.02)
            assert attempts, "the keeper signed and recorded its attempt"
            # Someone else with the key sends a different transaction at the same nonce, paying more.
            rival = SIGNER.sign_transaction({
                "type": 2, "chainId": 31337, "nonce": nonce, "to": dev_account(9).address, "value": 7,
                "gas": 21000, "maxFeePerGas": attempts[0].fees.max_fee_per_gas * 3,
                "maxPriorityFeePerGas": attempts[0].fees.max_priority_fee_per_gas * 3,
            })
            chain.eth.send_raw_transaction(rival.raw_transaction)
            world.node.rpc("anvil_mine", 1)
            with pytest.raises(NonceConsumedError, match=f"nonce {nonce}"):
                fut.result(timeout=20)
    finally:
        world.node.rpc("evm_setAutomine", True)
    assert chain.eth.get_transaction_count(SIGNER.address) == nonce + 1
    assert tm.next_nonce() == nonce + 1
