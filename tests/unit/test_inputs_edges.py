"""From a snapshot and the book's greeks to the policy's inputs: prices at a tick and at
sqrtPriceX96 in both token orders, the gas view, and each underlying's oracle view, swap pools
and perp venue with their balances and margins worked out by hand from the raw integers."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from keeper.core.book import BookRisk
from keeper.core.gates import OracleView
from keeper.core.hedge_types import Exposure
from keeper.core.inputs import UnderlyingVenues, gas_view, pool_price, tick_price, underlying_inputs
from keeper.core.portfolio import RiskSummary
from keeper.core.sizing import HedgeHistory, PastHedge
from keeper.core.snapshot import (
    FeedReading,
    PerpMarketState,
    PerpPosition,
    PoolState,
    Snapshot,
    TokenMeta,
    TwapReading,
)
from keeper.core.venue_inputs import GasView, PerpVenue, SwapVenue
from keeper.errors import InputError

WBTC = "0x" + "0a" * 20
USDC = "0x" + "1b" * 20
WETH = "0x" + "2c" * 20
SAFE, OTHER = "0x" + "aa" * 20, "0x" + "bb" * 20
Q96 = 2**96
NOW = 1_700_000_000
TOKENS = {USDC: TokenMeta(USDC, "USDC", 6), WETH: TokenMeta(WETH, "WETH", 18), WBTC: TokenMeta(WBTC, "WBTC", 8)}


def pool(addr: str, t0: str, t1: str, sqrt_x96: int, fee: int = 500, liquidity: int = 0) -> PoolState:
    return PoolState(addr, t0, t1, fee, sqrt_x96, 0, liquidity, 0, 0, 1, {})


def snap(**kw: Any) -> Snapshot:
    base: dict[str, Any] = dict(chain_id=1, block_number=1, block_timestamp=NOW, owners=(SAFE,), tokens=dict(TOKENS),
                                pools={}, lps=(), options=(), perp_markets={}, perps=(), feeds={}, twaps={},
                                balances={})
    base.update(kw)
    return Snapshot(**base)


# --------------------------------------------------------------------------- prices


def test_tick_price_in_both_token_orders() -> None:
    eth_pool = pool("0xe", USDC, WETH, Q96)        # WETH per USDC at tick t: 1.0001**t * 10**(6 - 18)
    assert tick_price(0, eth_pool, WETH, snap()) == pytest.approx(1e12, rel=1e-14)
    assert tick_price(-100, eth_pool, WETH, snap()) == pytest.approx(1e12 * 1.0001**100, rel=1e-12)
    assert tick_price(-100, eth_pool, USDC, snap()) == pytest.approx(1e-12 / 1.0001**100, rel=1e-12)
    btc_pool = pool("0xb", WBTC, USDC, Q96)        # USDC per WBTC at tick t: 1.0001**t * 10**(8 - 6)
    assert tick_price(250, btc_pool, WBTC.upper().replace("0X", "0x"), snap()) == pytest.approx(
        100 * 1.0001**250, rel=1e-12)


def test_pool_price_in_both_token_orders() -> None:
    # sqrtPriceX96 = 2**96 * 3: raw price 9
    eth_pool = pool("0xe", USDC, WETH, 3 * Q96)
    assert pool_price(eth_pool, WETH, snap()) == pytest.approx(1e12 / 9, rel=1e-14)
    assert pool_price(eth_pool, USDC, snap()) == pytest.approx(9e-12, rel=1e-14)
    btc_pool = pool("0xb", WBTC, USDC, 3 * Q96)
    assert pool_price(btc_pool, WBTC, snap()) == pytest.approx(900.0, rel=1e-14)


def test_a_token_without_decimals_is_named() -> None:
    with pytest.raises(InputError) as ei:
        pool_price(pool("0xp", USDC, WETH, Q96), WETH, snap(tokens={USDC: TOKENS[USDC]}))
    assert str(ei.value) == f"tokens: no decimals for {WETH}"


def test_gas_view_adds_the_tip_to_the_base_fee() -> None:
    assert gas_view(snap(base_fee_wei=30 * 10**9), 2 * 10**9, 3000.0) == GasView(32.0, 3000.0)
    assert gas_view(snap(), 5 * 10**8, 1.0) == GasView(0.5, 1.0)


# --------------------------------------------------------------------------- per underlying


def summary(sym: str, spot: float) -> RiskSummary:
    return RiskSummary(sym, spot, 1000.0, 2.5, 2.5 * spot, -0.001, 0.0, 0.0, 0.0)


def risk(*syms: tuple[str, float]) -> BookRisk:
    return BookRisk(positions=(), summaries={s: summary(s, p) for s, p in syms}, quote_value=0.0)


FEEDS = {"ETH": FeedReading("ETH", "0xfe", 3000 * 10**8, 8, NOW - 60, 1),
         "BTC": FeedReading("BTC", "0xfb", 60_000 * 10**8, 8, NOW - 30, 1)}


def test_underlying_input_by_hand() -> None:
    oracle_pool = pool("0xo", USDC, WETH, 2 * Q96)             # WETH per USDC raw 4: 1e12 / 4 USDC per WETH
    hedge = pool("0xh", USDC, WETH, 4 * Q96, fee=3000, liquidity=8 * 10**12)
    market = PerpMarketState("0xm", "ETH", 2000 * 10**18, 10**12, 0, 5, 1000, 500, WBTC)  # margin token: 8 dec
    perps = (PerpPosition("0xm", OTHER, "ETH", 10**20, 0, 0, 0, 10**12),       # someone else's
             PerpPosition("0xother", SAFE, "ETH", 10**20, 0, 0, 0, 10**12),    # another market
             PerpPosition("0xm", SAFE, "ETH", -3 * 10**18, 0, 0, 0, 10**11))   # 1000 units of margin left
    s = snap(pools={"0xo": oracle_pool, "0xh": hedge}, twaps={"0xo": TwapReading("0xo", 1800, -200)},
             feeds=FEEDS, perp_markets={"0xm": market}, perps=perps,
             balances={(SAFE, USDC): 5_000_500_000, (SAFE, WETH): 3 * 10**18, (OTHER, USDC): 10**15})
    venues = {"ETH": UnderlyingVenues("ETH", WETH, "0xo", ("0xgone", "0xh"), "0xm", 111, 222)}
    hist = HedgeHistory(NOW - 100.0, (PastHedge(NOW - 100.0, 1.0),))
    [inp] = underlying_inputs(s, risk(("ETH", 3000.0)), venues, SAFE, USDC, {"ETH": hist})
    assert inp.exposure == Exposure("ETH", 2.5, -0.001, 1000.0, 3000.0)
    assert inp.oracle.feed_price == 3000.0 and inp.oracle.feed_updated_at == NOW - 60
    assert inp.oracle.block_timestamp == NOW
    assert inp.oracle.pool_spot == pytest.approx(1e12 / 4, rel=1e-14)
    assert inp.oracle.twap == pytest.approx(1e12 * 1.0001**200, rel=1e-12)
    [sw] = inp.swaps
    assert (sw.venue_id, sw.fee_fraction, sw.gas_units) == ("0xh", 0.003, 111)
    assert sw.underlying_balance_units == 3.0 and sw.quote_balance_quote == 5000.5
    assert sw.liquidity == pytest.approx(8 * 10**12 / 10**12, rel=1e-15)   # L / 10**((18 + 6) / 2)
    assert sw.sqrt_price == pytest.approx(math.sqrt(1e12 / 16), rel=1e-14)
    # used margin: 3 ETH * 2000 * 10 % = 600; left 1e11 / 1e8 = 1000 -> free 400
    assert inp.perps == (PerpVenue("0xm", 0.0005, 1e-6, 400.0, 0.1, 222, position_units=-3.0, equity_quote=1000.0),)
    assert inp.history == hist


def test_without_an_oracle_pool_the_feed_is_the_pool_price_and_there_is_no_twap() -> None:
    hedge = pool("0xh", USDC, WETH, Q96)
    s = snap(pools={"0xh": hedge}, feeds=FEEDS)
    for oracle_pool in (None, "0xnot-read"):
        venues = {"ETH": UnderlyingVenues("ETH", WETH, oracle_pool, ("0xh",))}
        [inp] = underlying_inputs(s, risk(("ETH", 3000.0)), venues, SAFE, USDC, {})
        assert inp.oracle == OracleView(3000.0, NOW - 60, 3000.0, None, NOW)
        assert inp.history == HedgeHistory() and inp.perps == ()
        [sw] = inp.swaps
        assert sw.gas_units == 260_000 and sw.underlying_balance_units == 0.0 and sw.quote_balance_quote == 0.0


def test_an_oracle_pool_without_a_twap_reading_gives_no_twap() -> None:
    s = snap(pools={"0xo": pool("0xo", USDC, WETH, Q96)}, feeds=FEEDS)
    venues = {"ETH": UnderlyingVenues("ETH", WETH, "0xo", ("0xo",))}
    [inp] = underlying_inputs(s, risk(("ETH", 3000.0)), venues, SAFE, USDC, {})
    assert inp.oracle.twap is None and inp.oracle.pool_spot == pytest.approx(1e12, rel=1e-14)


def test_a_perp_venue_needs_the_accounts_position_and_free_margin_is_never_negative() -> None:
    market = PerpMarketState("0xm", "ETH", 2000 * 10**18, -10**12, 0, 0, 1000, 500, USDC)
    under = PerpPosition("0xm", SAFE, "ETH", 10**18, 0, 0, 0, 100 * 10**6)  # 100 left, 200 used
    s = snap(feeds=FEEDS, perp_markets={"0xm": market}, perps=(under,))
    venues = {"ETH": UnderlyingVenues("ETH", WETH, None, (), "0xm")}
    [inp] = underlying_inputs(s, risk(("ETH", 3000.0)), venues, SAFE, USDC, {})
    assert inp.perps == (PerpVenue("0xm", 0.0, -1e-6, 0.0, 0.1, 320_000, position_units=1.0, equity_quote=100.0),)
    # no position of the account: no perp venue, and with no pool either the underlying is left out
    assert underlying_inputs(dataclasses.replace(s, perps=()), risk(("ETH", 3000.0)), venues, SAFE, USDC, {}) == ()
    # a market that was not read: likewise
    gone = {"ETH": UnderlyingVenues("ETH", WETH, None, (), "0xgone")}
    assert underlying_inputs(s, risk(("ETH", 3000.0)), gone, SAFE, USDC, {}) == ()


def test_underlyings_without_a_summary_or_a_feed_are_left_out_in_venue_order() -> None:
    pools = {"0xe": pool("0xe", USDC, WETH, Q96), "0xb": pool("0xb", WBTC, USDC, Q96)}
    venues = {"BTC": UnderlyingVenues("BTC", WBTC, None, ("0xb",)),
              "SOL": UnderlyingVenues("SOL", WETH, None, ("0xe",)),
              "ETH": UnderlyingVenues("ETH", WETH, None, ("0xe",))}
    s = snap(pools=pools, feeds=FEEDS)
    got = underlying_inputs(s, risk(("ETH", 3000.0), ("BTC", 60_000.0), ("SOL", 100.0)), venues, SAFE, USDC, {})
    assert [i.exposure.underlying for i in got] == ["BTC", "ETH"]   # SOL has no feed
    no_btc = underlying_inputs(s, risk(("ETH", 3000.0)), venues, SAFE, USDC, {})
    assert [i.exposure.underlying for i in no_btc] == ["ETH"]
    # WBTC is token0 of its pool: L / 10**((8 + 6) / 2), sqrt of 100 USDC per WBTC
    btc = got[0].swaps[0]
    assert btc.liquidity == 0.0 and btc.sqrt_price == pytest.approx(10.0, rel=1e-14)
    assert isinstance(btc, SwapVenue)


def test_an_underlying_without_venues_does_not_hide_the_next_one() -> None:
    pools = {"0xe": pool("0xe", USDC, WETH, Q96)}
    venues = {"BTC": UnderlyingVenues("BTC", WBTC, None, ("0xnot-read",)),   # nothing to hedge with
              "ETH": UnderlyingVenues("ETH", WETH, None, ("0xe",))}
    got = underlying_inputs(snap(pools=pools, feeds=FEEDS), risk(("ETH", 3000.0), ("BTC", 60_000.0)), venues, SAFE,
                            USDC, {})
    assert [i.exposure.underlying for i in got] == ["ETH"]
