"""The forked-chain path a user takes with a real RPC URL (KEEPER_FORK_URL), proved offline on a
fork of the local world."""

from __future__ import annotations

import pytest
from web3 import Web3
from web3.types import Wei

from keeper.build.manifest import Manifest
from keeper.devnet.world import MULTICALL3_ADDRESS, contract
from tests.conftest import Fork

pytestmark = [pytest.mark.anvil, pytest.mark.fork]


def test_write_on_fork_does_not_reach_upstream(forked_world: Fork) -> None:
    fork = forked_world.web3()
    upstream = Web3(Web3.HTTPProvider(forked_world.upstream_url))
    who = Web3.to_checksum_address("0x000000000000000000000000000000000000dEaD")
    up_balance = upstream.eth.get_balance(who)
    up_block = upstream.eth.block_number

    fork.provider.make_request("anvil_setBalance", [who, hex(up_balance + 12345 * 10**18)])  # type: ignore[arg-type]
    fork.provider.make_request("anvil_impersonateAccount", [who])  # type: ignore[arg-type]
    sink = Web3.to_checksum_address("0x00000000000000000000000000000000000b0b0b")
    sink_before = upstream.eth.get_balance(sink)
    tx = fork.eth.send_transaction({"from": who, "to": sink, "value": Wei(10**18)})
    assert fork.eth.wait_for_transaction_receipt(tx)["status"] == 1
    assert fork.eth.get_balance(who) > up_balance + 12343 * 10**18

    assert fork.eth.get_balance(sink) == sink_before + 10**18
    assert upstream.eth.get_balance(who) == up_balance
    assert upstream.eth.get_balance(sink) == sink_before
    assert upstream.eth.block_number == up_block
    assert fork.eth.block_number == up_block + 1


def test_fork_sees_upstream_contracts(forked_world: Fork, manifest: Manifest) -> None:
    fork = forked_world.web3()
    assert len(fork.eth.get_code(MULTICALL3_ADDRESS)) > 1000
    if not forked_world.local_upstream:
        pytest.skip("the remaining checks read the local world's own contracts")
    upstream = Web3(Web3.HTTPProvider(forked_world.upstream_url))
    for sym in ("WETH", "USDC", "WBTC"):
        on_fork = contract(fork, "WETH9", manifest.tokens[sym].address).functions.balanceOf(manifest.safe.address)
        on_upstream = contract(upstream, "WETH9", manifest.tokens[sym].address).functions.balanceOf(
            manifest.safe.address)
        assert on_fork.call() == on_upstream.call() > 0, sym
