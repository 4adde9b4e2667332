"""The BookReader against the local world: every value equals the chain's own answer, at one block."""

from __future__ import annotations

import dataclasses

import pytest
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.devnet.sources import world_sources
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.node.dev import DevChain
from keeper.read.reader import AssetSource, BookReader
from keeper.venues.uniswap_v3 import pool_address

pytestmark = pytest.mark.anvil


def test_snapshot_matches_direct_reads(chain: Web3, world: World, manifest: Manifest) -> None:
    rpc = RpcClient.http(world.url)
    snap = BookReader(rpc, world_sources(manifest)).read()
    assert snap.complete, snap.failures
    assert snap.round_trips <= 5
    at = snap.block_number
    assert snap.block_timestamp == chain.eth.get_block(at)["timestamp"]

    npm = contract(chain, "NonfungiblePositionManager", manifest.uniswap.position_manager)
    safe = manifest.safe.address
    ids = [npm.functions.tokenOfOwnerByIndex(safe, i).call(block_identifier=at)
           for i in range(npm.functions.balanceOf(safe).call(block_identifier=at))]
    assert [lp.token_id for lp in snap.lps] == sorted(ids)
    for lp in snap.lps:
        pos = npm.functions.positions(lp.token_id).call(block_identifier=at)
        assert (lp.token0, lp.token1, lp.fee, lp.tick_lower, lp.tick_upper, lp.liquidity) == tuple(pos[2:8])
        assert (lp.fee_growth_inside0_last_x128, lp.fee_growth_inside1_last_x128) == tuple(pos[8:10])
        assert (lp.tokens_owed0, lp.tokens_owed1) == tuple(pos[10:12])
        factory = contract(chain, "UniswapV3Factory", manifest.uniswap.factory)
        assert lp.pool == factory.functions.getPool(lp.token0, lp.token1, lp.fee).call()
        pool = contract(chain, "UniswapV3Pool", lp.pool)
        state = snap.pools[lp.pool]
        slot0 = pool.functions.slot0().call(block_identifier=at)
        assert (state.sqrt_price_x96, state.tick, state.observation_cardinality) == (slot0[0], slot0[1], slot0[3])
        assert state.liquidity == pool.functions.liquidity().call(block_identifier=at)
        assert state.fee_growth_global0_x128 == pool.functions.feeGrowthGlobal0X128().call(block_identifier=at)
        assert state.fee_growth_global1_x128 == pool.functions.feeGrowthGlobal1X128().call(block_identifier=at)
        for t in (lp.tick_lower, lp.tick_upper):
            info = pool.functions.ticks(t).call(block_identifier=at)
            assert (state.ticks[t].fee_growth_outside0_x128, state.ticks[t].fee_growth_outside1_x128) == (
                info[2], info[3])
    for asset, feed in snap.feeds.items():
        rd = contract(chain, "PriceFeed", feed.address).functions.latestRoundData().call(block_identifier=at)
        assert (feed.round_id, feed.answer, feed.updated_at) == (rd[0], rd[1], rd[3]), asset
    for pool_addr, twap in snap.twaps.items():
        cums = contract(chain, "UniswapV3Pool", pool_addr).functions.observe([1800, 0]).call(block_identifier=at)[0]
        assert twap.mean_tick == (cums[1] - cums[0]) // 1800
    for (owner, token), bal in snap.balances.items():
        assert bal == contract(chain, "WETH9", token).functions.balanceOf(owner).call(block_identifier=at)
    # Options: the treasury's written calls and long puts, as the market reports them.
    market = contract(chain, "OptionMarket", manifest.option_markets[0])
    assert {o.series_id for o in snap.options} == set(manifest.option_series.values())
    for o in snap.options:
        d = market.functions.getSeriesDetails(o.series_id).call(block_identifier=at)
        assert (o.strike, o.expiry, o.is_put) == (d[3], d[4], d[5])
        assert o.long_amount == market.functions.balanceOf(safe, o.series_id).call(block_identifier=at)
        assert o.short_amount == market.functions.shortBalance(o.series_id, safe).call(block_identifier=at)
    # Perps: market parameters and the treasury's position.
    for p in snap.perps:
        perp = contract(chain, "PerpMarket", p.market)
        assert (p.size, p.entry_price, p.margin, p.last_funding_index) == tuple(
            perp.functions.positions(safe).call(block_identifier=at))
        assert p.remaining_margin == perp.functions.remainingMargin(safe).call(block_identifier=at)
        st = snap.perp_markets[p.market]
        assert st.oracle_price == perp.functions.oraclePrice().call(block_identifier=at)
        assert st.funding_rate_per_second == perp.functions.fundingRatePerSecond().call(block_identifier=at)
        assert st.taker_fee_bps == perp.functions.takerFeeBps().call(block_identifier=at)
    assert any(p.size == -20 * 10**18 for p in snap.perps)


def test_reads_are_pinned_to_one_block(chain: Web3, world: World, manifest: Manifest) -> None:
    rpc = RpcClient.http(world.url)
    first = BookReader(rpc, world_sources(manifest)).read()
    # Move the pool and the feed, then read the old block again: nothing changes.
    DevChain(chain).send(
        contract(chain, "PriceFeed", manifest.feeds["ETH"].address).functions.setAnswer(1234_00000000),
        Web3.to_checksum_address(manifest.deployer),
    )
    again = BookReader(rpc, world_sources(manifest)).read(block=first.block_number)
    assert dataclasses.replace(again, round_trips=0) == dataclasses.replace(first, round_trips=0)
    latest = BookReader(rpc, world_sources(manifest)).read()
    assert latest.feeds["ETH"].answer == 1234_00000000


def _with_eth(manifest: Manifest, **changes: str | None) -> AssetSource:
    src = world_sources(manifest)
    return dataclasses.replace(src.assets[0], **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("case", "what", "reason"),
    [
        ("feed_not_a_contract", "feed ETH", "no data"),
        ("feed_wrong_abi", "feed ETH", "reverted"),
        ("twap_window_too_long", "TWAP over", "OLD"),
    ],
)
def test_unreadable_sources_are_named_and_make_the_snapshot_incomplete(
    world: World, manifest: Manifest, case: str, what: str, reason: str
) -> None:
    src = world_sources(manifest)
    if case == "feed_not_a_contract":
        src = dataclasses.replace(src, assets=(_with_eth(manifest, feed="0x000000000000000000000000000000000000dEaD"),
                                               src.assets[1]))
    elif case == "feed_wrong_abi":
        src = dataclasses.replace(src, assets=(_with_eth(manifest, feed=manifest.tokens["USDC"].address),
                                               src.assets[1]))
    else:
        src = dataclasses.replace(src, twap_window_s=30 * 24 * 3600)
    snap = BookReader(RpcClient.http(world.url), src).read()
    assert not snap.complete
    assert any(what in f.what and reason in f.reason for f in snap.failures), snap.failures
    if case.startswith("feed"):
        assert "ETH" not in snap.feeds, "an unreadable feed is missing, never zero"
        assert "BTC" in snap.feeds
    # The LPs are still read: one failure does not hide the rest of the book.
    assert len(snap.lps) == len(manifest.lp_token_ids)


def test_unreadable_lp_pool_is_reported_missing_not_zero(world: World, manifest: Manifest) -> None:
    # A factory address that is wrong makes every computed pool address empty.
    src = dataclasses.replace(world_sources(manifest), factory="0x000000000000000000000000000000000000bEEF")
    snap = BookReader(RpcClient.http(world.url), src).read()
    assert not snap.complete
    assert snap.lps == ()
    assert {f"LP {i}" for i in manifest.lp_token_ids.values()} <= {f.what for f in snap.failures}


def test_pool_address_derivation_matches_factory(chain: Web3, manifest: Manifest) -> None:
    factory = contract(chain, "UniswapV3Factory", manifest.uniswap.factory)
    for p in manifest.pools.values():
        assert pool_address(manifest.uniswap.factory, p.token1, p.token0, p.fee) == p.address
        assert factory.functions.getPool(p.token0, p.token1, p.fee).call() == p.address
