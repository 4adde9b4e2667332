"""The HedgeModule on the real Safe 1.4.1 in the world rejects everything the keeper is not allowed to do."""

from __future__ import annotations

from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from keeper.build.artifacts import forge_artifact
from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.execute.tx import ErrorDecoder, TxManager, TxRequest, TxRevertedError
from keeper.node.dev import dev_account

pytestmark = pytest.mark.anvil

KEEPER = dev_account(5)
STRANGER = dev_account(9)


def tx_as(world: World, who: Any) -> TxManager:
    errors = ErrorDecoder([forge_artifact("HedgeModule").abi])
    return TxManager(RpcClient.http(world.url), who, 31337, errors=errors, poll_s=0.05)


def module(chain: Web3, m: Manifest) -> Contract:
    return contract(chain, "HedgeModule", m.hedge_module)


def swap_args(chain: Web3, m: Manifest, amount_eth: float, min_out_factor: float, fee: int = 500,
              quote_fee: int | None = None) -> list[Any]:
    mod = module(chain, m)
    amount_in = int(amount_eth * 10**18)
    _, _, min_ok = mod.functions.quoteSwap(m.tokens["WETH"].address, m.tokens["USDC"].address,
                                           fee if quote_fee is None else quote_fee, amount_in).call()
    deadline = chain.eth.get_block("latest")["timestamp"] + 600
    return [m.tokens["WETH"].address, m.tokens["USDC"].address, fee, amount_in, int(min_ok * min_out_factor), deadline]


def send(world: World, who: Any, m: Manifest, fn: str, args: list[Any]) -> Any:
    mod = module(world.web3(), m)
    data = bytes.fromhex(mod.encode_abi(fn, args)[2:])
    return tx_as(world, who).send(TxRequest(to=m.hedge_module, data=data), lambda a: None)


def rejected(world: World, who: Any, m: Manifest, fn: str, args: list[Any]) -> str:
    with pytest.raises(TxRevertedError) as err:
        send(world, who, m, fn, args)
    assert err.value.preflight, "rejected before anything is sent"
    return err.value.error_name or err.value.reason


def test_keeper_can_swap_within_bounds(chain: Web3, world: World, manifest: Manifest) -> None:
    usdc = contract(chain, "DevToken", manifest.tokens["USDC"].address)
    before = usdc.functions.balanceOf(manifest.safe.address).call()
    mined = send(world, KEEPER, manifest, "hedgeSwap", swap_args(chain, manifest, 5, 1.0))
    assert mined.receipt["status"] == "0x1"
    assert usdc.functions.balanceOf(manifest.safe.address).call() > before  # proceeds always go to the Safe


def test_call_from_any_other_address_is_rejected(chain: Web3, world: World, manifest: Manifest) -> None:
    assert rejected(world, STRANGER, manifest, "hedgeSwap", swap_args(chain, manifest, 5, 1.0)) == "NotKeeper"
    owner = dev_account(manifest.owner_indexes[0])
    assert rejected(world, owner, manifest, "hedgeSwap", swap_args(chain, manifest, 5, 1.0)) == "NotKeeper"


def test_disallowed_venue_and_token_are_rejected(chain: Web3, world: World, manifest: Manifest) -> None:
    no_pool = swap_args(chain, manifest, 5, 1.0, fee=10000, quote_fee=500)  # the 1 % pool is not allowed
    assert rejected(world, KEEPER, manifest, "hedgeSwap", no_pool) == "PoolNotAllowed"
    args = swap_args(chain, manifest, 5, 1.0)
    args[1] = manifest.market_maker  # not an allowed token
    assert rejected(world, KEEPER, manifest, "hedgePerp", [manifest.uniswap.router, 10**18, 10**30]) \
        == "MarketNotAllowed"
    assert rejected(world, KEEPER, manifest, "hedgeSwap", args) == "PoolNotAllowed"  # no allowed pool has it


def test_recipient_is_always_the_safe(chain: Web3, world: World, manifest: Manifest) -> None:
    # hedgeSwap has no recipient parameter; and the keeper cannot reach the Safe's module entry point.
    abi = forge_artifact("HedgeModule").abi
    swap = next(f for f in abi if f.get("name") == "hedgeSwap")
    assert [i["name"] for i in swap["inputs"]] == ["tokenIn", "tokenOut", "fee", "amountIn", "amountOutMinimum",
                                                  "deadline"]
    safe = contract(chain, "Safe", manifest.safe.address)
    weth = contract(chain, "WETH9", manifest.tokens["WETH"].address)
    steal = weth.encode_abi("transfer", [KEEPER.address, 10**18])
    data = bytes.fromhex(safe.encode_abi("execTransactionFromModule", [weth.address, 0, steal, 0])[2:])
    with pytest.raises(TxRevertedError) as err:
        tx_as(world, KEEPER).send(TxRequest(to=safe.address, data=data), lambda a: None)
    assert "GS104" in err.value.reason  # "Method can only be called from an enabled module"


def test_trade_over_the_cap_is_rejected(chain: Web3, world: World, manifest: Manifest) -> None:
    # 500,000 USD per trade: 200 ETH at ~3,000 USD is over it.
    args = swap_args(chain, manifest, 200, 1.0)
    assert rejected(world, KEEPER, manifest, "hedgeSwap", args) == "TradeCapExceeded"


def test_min_output_below_oracle_bound_is_rejected(chain: Web3, world: World, manifest: Manifest) -> None:
    assert rejected(world, KEEPER, manifest, "hedgeSwap", swap_args(chain, manifest, 5, 0.98)) \
        == "MinOutBelowOracleBound"


def test_guardian_pause_stops_the_keeper(chain: Web3, world: World, manifest: Manifest) -> None:
    guardian = dev_account(manifest.owner_indexes[0])
    mod = module(chain, manifest)
    tx_as(world, guardian).send(TxRequest(to=mod.address, data=bytes.fromhex(mod.encode_abi("pause", [])[2:])),
                                lambda a: None)
    assert rejected(world, KEEPER, manifest, "hedgeSwap", swap_args(chain, manifest, 5, 1.0)) == "Paused"


def test_params_hash_changes_with_owner_configuration(chain: Web3, manifest: Manifest) -> None:
    mod = module(chain, manifest)
    assert mod.functions.maxNotionalPerTradeUsd().call() == 500_000 * 10**18
    assert mod.functions.keeper().call() == KEEPER.address
    assert mod.functions.safe().call() == manifest.safe.address
    assert len(mod.functions.paramsHash().call()) == 32
