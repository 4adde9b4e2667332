"""The BookReader's hedge pools, feeds and native balances at their edges, on the in-memory chain of
test_reader_fake_chain: a hedge pool that is not the oracle pool, each failing call named with its
label, the smallest positive feed answer, a pool whose every boundary tick fails."""

from __future__ import annotations

from typing import Any

from eth_abi.abi import encode

from keeper.chain.multicall import MULTICALL3, selector
from keeper.read.reader import AssetSource
from keeper.venues.uniswap_v3 import pool_address
from tests.unit.test_reader_fake_chain import (
    DAI_POOL,
    ETH_POOL,
    FACTORY,
    FEED_BTC,
    FEED_ETH,
    OTHER,
    OWNER,
    USDC,
    WBTC,
    WETH,
    BlockChain,
    BlockState,
    PoolAt,
    read,
    sources,
    state,
)

HEDGE_POOL = pool_address(FACTORY, WETH, USDC, 3000)  # a second ETH pool, hedge only


class HedgeChain(BlockChain):
    def __init__(self, states: list[BlockState], broken: set[tuple[str, str]] | None = None) -> None:
        for s in states:
            s.pools[HEDGE_POOL] = PoolAt(2**96 // 41, -195_100, 7 * 10**20, (17 * 2**128, 19 * 2**128), {})
        super().__init__(states, broken)
        self.contracts[HEDGE_POOL.lower()] = self._hedge_pool

    def _hedge_pool(self, target: str, data: bytes) -> tuple[bool, bytes]:
        if data[:4] == selector("fee()"):
            return self._answer(target, "fee()", ["uint24"], [3000])
        return self._pool(target, data)

    def _multicall(self, target: str, data: bytes) -> tuple[bool, bytes]:
        if (MULTICALL3, "getEthBalance(address)") in self.broken:
            return False, selector("Error(string)") + encode(["string"], ["no balance"])
        return super()._multicall(target, data)


def hedged(**changes: Any) -> Any:
    eth = AssetSource("ETH", WETH, FEED_ETH, ETH_POOL, hedge_pools=(ETH_POOL, HEDGE_POOL))
    return sources(assets=(eth, AssetSource("BTC", WBTC, FEED_BTC)), **changes)


def test_a_hedge_pool_that_is_not_the_oracle_pool_is_read_with_its_own_fee() -> None:
    snap = read(HedgeChain([state(100, 0)]), src=hedged(native_asset="ETH"))
    assert snap.complete, snap.failures
    pool = snap.pools[HEDGE_POOL]
    assert (pool.address, pool.token0, pool.token1, pool.fee) == (HEDGE_POOL, USDC, WETH, 3000)
    assert (pool.sqrt_price_x96, pool.tick, pool.liquidity) == (2**96 // 41, -195_100, 7 * 10**20)
    assert (pool.fee_growth_global0_x128, pool.fee_growth_global1_x128) == (17 * 2**128, 19 * 2**128)
    assert pool.ticks == {} and HEDGE_POOL not in snap.twaps, "no LP in it, no TWAP asked"
    assert snap.pools[ETH_POOL].fee == 500 and snap.native_asset == "ETH"
    assert snap.round_trips == 5


def test_each_failing_call_of_a_group_is_named_by_its_label() -> None:
    broken = {(HEDGE_POOL, "token0()"), (HEDGE_POOL, "token1()"), (HEDGE_POOL, "fee()"),
              (FEED_BTC, "latestRoundData()"), (FEED_BTC, "decimals()"), (FEED_ETH, "decimals()"),
              (ETH_POOL, "slot0()")}
    snap = read(HedgeChain([state(100, 0)], broken=broken), src=hedged())
    whats = {f.what: f.reason for f in snap.failures}
    assert whats[f"pool {HEDGE_POOL}"] == (f"pool {HEDGE_POOL} token0: reverted: token0() is broken; "
                                           f"pool {HEDGE_POOL} token1: reverted: token1() is broken; "
                                           f"pool {HEDGE_POOL} fee: reverted: fee() is broken")
    assert whats["feed BTC"] == ("feed BTC latestRoundData: reverted: latestRoundData() is broken; "
                                 "feed BTC decimals: reverted: decimals() is broken")
    assert whats["feed ETH"] == "feed ETH decimals: reverted: decimals() is broken"
    assert whats[f"pool {ETH_POOL}"].startswith(f"pool {ETH_POOL} slot0: reverted: slot0() is broken")
    assert snap.feeds == {} and HEDGE_POOL not in snap.pools and ETH_POOL not in snap.pools
    # the oracle pool failed, so the LPs in it are named too; the DAI pool's LP is read
    assert {"LP 4", "LP 7"} <= set(whats) and [lp.token_id for lp in snap.lps] == [9]


def test_native_balance_failure_is_named_per_owner() -> None:
    snap = read(HedgeChain([state(100, 0)], broken={(MULTICALL3, "getEthBalance(address)")}), src=hedged())
    whats = {f.what: f.reason for f in snap.failures}
    assert whats[f"native balance of {OWNER}"] == "reverted: no balance" == whats[f"native balance of {OTHER}"]
    assert snap.native_balances == {}


def test_the_smallest_positive_feed_answer_is_a_price() -> None:
    s = state(100, 0)
    s.feeds[FEED_ETH] = (100, 1, 1_700_000_000)
    snap = read(BlockChain([s]))
    assert snap.complete and snap.feeds["ETH"].answer == 1


def test_a_pool_whose_boundary_ticks_all_fail_leaves_its_lps_out() -> None:
    snap = read(BlockChain([state(100, 0)], broken={(DAI_POOL, "ticks(-10)"), (DAI_POOL, "ticks(10)")}))
    assert snap.pools[DAI_POOL].ticks == {}
    assert [lp.token_id for lp in snap.lps] == [4, 7]
    assert ("LP 9", "its pool or boundary ticks could not be read") in [(f.what, f.reason) for f in snap.failures]

