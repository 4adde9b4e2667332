"""Exact v3 math equals the chain to the last wei: position amounts (static decreaseLiquidity) and
uncollected fees (static collect), for every position in the world, before and after swaps that
cross ticks."""

from __future__ import annotations

import dataclasses

import pytest
from eth_abi.abi import decode
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.core.book import lp_fees
from keeper.core.lp_math import position_amounts
from keeper.core.snapshot import Snapshot
from keeper.devnet.sources import world_sources
from keeper.devnet.state import World
from keeper.devnet.world import contract, sqrt_price_x96_for_usd
from keeper.node.dev import DevChain
from keeper.read.reader import BookReader

pytestmark = pytest.mark.anvil

U128 = 2**128 - 1
FAR = 2**63


def read_all(world: World, manifest: Manifest) -> Snapshot:
    src = dataclasses.replace(world_sources(manifest), owners=(manifest.safe.address, manifest.market_maker))
    snap = BookReader(RpcClient.http(world.url), src).read()
    assert snap.complete, snap.failures
    return snap


def check_every_position(chain: Web3, manifest: Manifest, snap: Snapshot) -> int:
    """Compare our exact amounts and fees with static decreaseLiquidity / collect from each owner.

    The chain's answers come from one JSON-RPC batch of eth_calls at the snapshot block.
    """
    npm = contract(chain, "NonfungiblePositionManager", manifest.uniswap.position_manager)
    rpc = RpcClient.http(chain.provider.endpoint_uri, timeout_s=120)  # type: ignore[attr-defined]
    at = hex(snap.block_number)
    requests = []
    for lp in snap.lps:
        dec = npm.encode_abi("decreaseLiquidity", [(lp.token_id, lp.liquidity, 0, 0, FAR)])
        col = npm.encode_abi("collect", [(lp.token_id, lp.owner, U128, U128)])
        requests += [("eth_call", [{"from": lp.owner, "to": npm.address, "data": d}, at]) for d in (dec, col)]
    answers = rpc.batch(requests)
    checked = 0
    for i, lp in enumerate(snap.lps):
        pool = snap.pools[lp.pool]
        ours_amounts = position_amounts(pool.sqrt_price_x96, pool.tick, lp.tick_lower, lp.tick_upper, lp.liquidity)
        ours_fees = lp_fees(snap, lp)
        chain_amounts = decode(["uint256", "uint256"], bytes.fromhex(str(answers[2 * i])[2:]))
        chain_fees = decode(["uint256", "uint256"], bytes.fromhex(str(answers[2 * i + 1])[2:]))
        assert ours_amounts == tuple(chain_amounts), f"LP {lp.token_id} amounts"
        assert ours_fees == tuple(chain_fees), f"LP {lp.token_id} fees"
        checked += 1
    return checked


def test_amounts_and_fees_equal_the_chain_before_and_after_tick_crossing_swaps(
    chain: Web3, world: World, manifest: Manifest
) -> None:
    before = read_all(world, manifest)
    n = check_every_position(chain, manifest, before)
    assert n == len(before.lps) >= 10  # 6 market-maker positions + 4 treasury positions

    # Swing every pool ±8 % and back to -6 %: price crosses the narrow ranges' boundaries.
    router = contract(chain, "SwapRouter", manifest.uniswap.router)
    actor = Web3.to_checksum_address(manifest.actor)
    dev = DevChain(chain)
    deployer = Web3.to_checksum_address(manifest.deployer)
    for sym, amount in (("USDC", 2 * 10**15), ("WBTC", 10**12)):  # 2e9 USDC, 10,000 WBTC
        dev.send(contract(chain, "DevToken", manifest.tokens[sym].address).functions.mint(actor, amount), deployer)
    weth = contract(chain, "WETH9", manifest.tokens["WETH"].address)
    dev.send(weth.functions.deposit(), actor, value=200_000 * 10**18)
    for name, p in manifest.pools.items():
        pool = contract(chain, "UniswapV3Pool", p.address)
        base_is_token0 = p.token0 == manifest.tokens[p.base].address
        dec = manifest.tokens[p.base].decimals
        start = before.pools[p.address].sqrt_price_x96
        for move in (1.08, 0.94):
            usd = _usd(start, base_is_token0, dec) * move
            target = sqrt_price_x96_for_usd(usd, base_is_token0, dec, 6)
            cur = pool.functions.slot0().call()[0]
            zero_for_one = target < cur
            t_in, t_out = (p.token0, p.token1) if zero_for_one else (p.token1, p.token0)
            bal = contract(chain, "WETH9", t_in).functions.balanceOf(actor).call()
            dev.send(router.functions.exactInputSingle((t_in, t_out, p.fee, actor, FAR, bal, 0, target)), actor)
            assert pool.functions.slot0().call()[0] == target, name
    after = read_all(world, manifest)
    crossed = [lp.token_id for lp in after.lps
               if (before.pools[lp.pool].tick < lp.tick_upper) != (after.pools[lp.pool].tick < lp.tick_upper)
               or (before.pools[lp.pool].tick >= lp.tick_lower) != (after.pools[lp.pool].tick >= lp.tick_lower)]
    assert crossed, "at least one position changed range state"
    assert check_every_position(chain, manifest, after) == n
    assert any(sum(lp_fees(after, lp)) > 0 for lp in after.lps), "fees accrued"


def _usd(sqrt_p: int, base_is_token0: bool, dec: int) -> float:
    from keeper.devnet.world import pool_price_usd

    return pool_price_usd(sqrt_p, base_is_token0, dec, 6)
