"""Re-reading an old block after swaps in an LP's pool gives the same snapshot.

A read at block N, then a swap that moves an LP's pool across that LP's boundary tick (its fee
growth outside flips) and a new feed answer, then a read at N again: pools, ticks, LPs and their
exact holdings are identical, while a read at the head sees the change. With the configured
sources the LPs' pools are also oracle and hedge pools (read in the first round trip); without
them the pools come from the last round trip, so both paths are pinned.
"""

from __future__ import annotations

import dataclasses

import pytest
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.core.book import lp_holdings
from keeper.core.snapshot import Snapshot
from keeper.core.tick_math import get_sqrt_ratio_at_tick
from keeper.devnet.sources import world_sources
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.node.dev import DevChain
from keeper.read.reader import BookReader, BookSources

pytestmark = pytest.mark.anvil

FAR = 2**63


def _sources(manifest: Manifest, lp_pools_only: bool) -> BookSources:
    src = world_sources(manifest)
    if lp_pools_only:  # no oracle or hedge pools: the LPs' pools are read with their ticks, last
        src = dataclasses.replace(src, assets=tuple(
            dataclasses.replace(a, oracle_pool=None, hedge_pools=()) for a in src.assets))
    return src


def _read(world: World, src: BookSources, block: int | None = None) -> Snapshot:
    snap = BookReader(RpcClient.http(world.url), src).read(block=block)
    assert snap.complete, snap.failures
    return snap


def _cross_a_boundary(chain: Web3, manifest: Manifest, snap: Snapshot) -> tuple[str, int]:
    """Swap the pool of the LP whose boundary is nearest its pool's tick just across that boundary."""
    lp = min(snap.lps, key=lambda p: min(abs(snap.pools[p.pool].tick - t) for t in (p.tick_lower, p.tick_upper)))
    tick_now = snap.pools[lp.pool].tick
    boundary = min((lp.tick_lower, lp.tick_upper), key=lambda t: abs(tick_now - t))
    info = next(p for p in manifest.pools.values() if p.address == lp.pool)
    target_tick = boundary + info.tick_spacing if tick_now < boundary else boundary - info.tick_spacing
    target = get_sqrt_ratio_at_tick(target_tick)
    actor, deployer = Web3.to_checksum_address(manifest.actor), Web3.to_checksum_address(manifest.deployer)
    dev = DevChain(chain)
    dev.send(contract(chain, "DevToken", manifest.tokens["USDC"].address).functions.mint(actor, 10**16), deployer)
    dev.send(contract(chain, "DevToken", manifest.tokens["WBTC"].address).functions.mint(actor, 10**12), deployer)
    dev.send(contract(chain, "WETH9", manifest.tokens["WETH"].address).functions.deposit(), actor,
             value=300_000 * 10**18)
    zero_for_one = target_tick < tick_now
    t_in, t_out = (info.token0, info.token1) if zero_for_one else (info.token1, info.token0)
    token_in = contract(chain, "WETH9", t_in)
    dev.send(token_in.functions.approve(manifest.uniswap.router, 2**256 - 1), actor)
    router = contract(chain, "SwapRouter", manifest.uniswap.router)
    bal = token_in.functions.balanceOf(actor).call()
    dev.send(router.functions.exactInputSingle((t_in, t_out, info.fee, actor, FAR, bal, 0, target)), actor)
    assert contract(chain, "UniswapV3Pool", lp.pool).functions.slot0().call()[0] == target
    return lp.pool, boundary


@pytest.mark.parametrize("lp_pools_only", [False, True], ids=["configured-sources", "lp-pools-only"])
def test_old_block_reads_the_same_after_swaps_in_an_lp_pool(
    chain: Web3, world: World, manifest: Manifest, lp_pools_only: bool
) -> None:
    src = _sources(manifest, lp_pools_only)
    first = _read(world, src)
    assert first.lps
    pool, boundary = _cross_a_boundary(chain, manifest, first)
    DevChain(chain).send(
        contract(chain, "PriceFeed", manifest.feeds["ETH"].address).functions.setAnswer(1234_00000000),
        Web3.to_checksum_address(manifest.deployer),
    )

    head = _read(world, src)
    assert head.block_number > first.block_number
    assert head.pools[pool].sqrt_price_x96 != first.pools[pool].sqrt_price_x96
    assert head.pools[pool].ticks[boundary] != first.pools[pool].ticks[boundary], "the boundary tick was crossed"
    assert head.feeds["ETH"].answer == 1234_00000000 != first.feeds["ETH"].answer

    again = _read(world, src, block=first.block_number)
    assert again.block_number == first.block_number
    assert again.pools == first.pools
    assert again.lps == first.lps
    assert [lp_holdings(again, lp) for lp in again.lps] == [lp_holdings(first, lp) for lp in first.lps]
    assert dataclasses.replace(again, round_trips=0) == dataclasses.replace(first, round_trips=0)
