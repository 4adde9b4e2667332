"""The book at each pool's own price: exact LP holdings, delta and gamma around the pool's price,
value at the feed, the basis of every pool, per-line greeks that add up, native ETH, and the
pool-deviation gate."""

from __future__ import annotations

import dataclasses
import math
from fractions import Fraction

import pytest

from keeper.core.book import (
    NATIVE,
    BalanceLine,
    LpLine,
    book_risk,
    line_risk,
    lp_fees,
    lp_holdings,
    pool_bases,
)
from keeper.core.costs import GasView, PerpVenue, SwapVenue
from keeper.core.gates import GateConfig, OracleView, check_pool_deviation
from keeper.core.hedge_types import Exposure, UnderlyingInput
from keeper.core.lp_math import position_amounts, price_to_sqrt_price_x96
from keeper.core.policy import UnderlyingPolicy, decide_underlying
from keeper.core.portfolio import LPPosition, aggregate, lp_risk
from keeper.core.sizing import SizingConfig, TriggerConfig
from keeper.core.snapshot import (
    FeedReading,
    LpPosition,
    OptionPosition,
    PerpMarketState,
    PerpPosition,
    PoolState,
    Snapshot,
    TickFees,
    TokenMeta,
)
from keeper.core.tick_math import get_sqrt_ratio_at_tick, get_tick_at_sqrt_ratio
from keeper.errors import InputError
from keeper.view.report import position_records, range_in_quote

# Addresses chosen so that each order occurs: USDC sorts before WETH (WETH is token1 in the
# WETH/USDC pools), WBTC before USDC (WBTC is token0 of its pool).
WBTC = "0x" + "0a" * 20
USDC = "0x" + "1b" * 20
WETH = "0x" + "2c" * 20
OWNER, OTHER = "0x" + "aa" * 20, "0x" + "bb" * 20
POOL_A, POOL_B, POOL_BTC = "0x" + "a1" * 20, "0x" + "b2" * 20, "0x" + "c3" * 20
ETH_FEED, BTC_FEED = 3000.0, 60_000.0
NOW = 1_700_000_000
TOKENS = {USDC: TokenMeta(USDC, "USDC", 6), WETH: TokenMeta(WETH, "WETH", 18), WBTC: TokenMeta(WBTC, "WBTC", 8)}
DEC = {USDC: 6, WETH: 18, WBTC: 8}
ASSETS = {"ETH": WETH, "BTC": WBTC}
SPOTS = {"ETH": ETH_FEED, "BTC": BTC_FEED}
VOLS = {"ETH": 0.6, "BTC": 0.5}


def sqrt_for(usd: float, risky: str, quote: str) -> int:
    """sqrtPriceX96 of a pool of (risky, quote) pricing the risky token at ``usd``, token order by address."""
    t0, t1 = sorted((risky, quote))
    human = usd if t0 == risky else 1.0 / usd  # token1 per token0
    return price_to_sqrt_price_x96(human, DEC[t0], DEC[t1])


def pool(addr: str, risky: str, usd: float, fee: int, ticks: dict[int, TickFees]) -> PoolState:
    t0, t1 = sorted((risky, USDC))
    sp = sqrt_for(usd, risky, USDC)
    return PoolState(addr, t0, t1, fee, sp, get_tick_at_sqrt_ratio(sp), 10**20, 10**30, 10**39, 100, ticks)


def outside(p: PoolState, t: int) -> TickFees:
    """Fee growth outside as a pool that accrued fees would hold it: 0 above the price, and
    growing with the tick at or below it (so every range has a fee growth inside >= 0)."""
    if t > p.tick:
        return TickFees(t, 0, 0, True)
    k = p.tick - t
    return TickFees(t, p.fee_growth_global0_x128 // 2 - k * 10**21, p.fee_growth_global1_x128 // 2 - k * 10**30, True)


def around(p: PoolState, spacing: int, lo: int, hi: int) -> tuple[int, int]:
    base = p.tick - p.tick % spacing
    return base + lo * spacing, base + hi * spacing


def lp(token_id: int, owner: str, p: PoolState, ticks: tuple[int, int], liquidity: int,
       owed: tuple[int, int] = (0, 0)) -> LpPosition:
    return LpPosition(token_id, owner, p.address, p.token0, p.token1, p.fee, ticks[0], ticks[1], liquidity,
                      0, 0, owed[0], owed[1])


def world(pool_b_usd: float = ETH_FEED * 1.10) -> Snapshot:
    """Two WETH/USDC pools 10 % apart (A at the feed, B rich), one WBTC/USDC pool; LPs in range,
    below and above range, with fees; options, a perp, balances and native ETH."""
    a0 = pool(POOL_A, WETH, ETH_FEED, 500, {})
    b0 = pool(POOL_B, WETH, pool_b_usd, 3000, {})
    c0 = pool(POOL_BTC, WBTC, BTC_FEED, 3000, {})
    ranges = {
        1: (a0, around(a0, 10, -40, 40), 10**17),      # in range around the feed
        2: (b0, around(b0, 60, -20, 20), 3 * 10**16),  # in range around the rich price
        3: (b0, around(b0, 60, 5, 30), 10**16),        # ticks above the pool's: all token0 (USDC)
        4: (b0, around(b0, 60, -30, -5), 10**16),      # ticks below: all token1 (WETH)
        5: (c0, around(c0, 60, -50, 50), 10**13),      # WBTC (8 decimals) is token0
        6: (a0, (-887_270, 887_270), 10**15),          # full range
    }
    pools: dict[str, PoolState] = {}
    for p in (a0, b0, c0):
        ticks: dict[int, TickFees] = {}
        for p2, (lo, hi), _ in ranges.values():
            if p2.address == p.address:
                ticks[lo], ticks[hi] = outside(p, lo), outside(p, hi)
        pools[p.address] = dataclasses.replace(p, ticks=ticks)
    lps = tuple(lp(i, OWNER if i % 2 else OTHER, pools[p.address], rng, liq, owed=(i * 1000, i * 10**12))
                for i, (p, rng, liq) in ranges.items())
    feeds = {"ETH": FeedReading("ETH", "0xfeed", int(ETH_FEED * 1e8), 8, NOW - 60, 1),
             "BTC": FeedReading("BTC", "0xfeed2", int(BTC_FEED * 1e8), 8, NOW - 60, 1)}
    options = (
        OptionPosition("onchain:0xmarket", 1, OWNER, "ETH", 3200 * 10**8, NOW + 30 * 86400, False, 0, 5 * 10**18),
        OptionPosition("onchain:0xmarket", 2, OWNER, "ETH", 2800 * 10**8, NOW + 30 * 86400, True, 2 * 10**18, 0),
        OptionPosition("otc:desk", 7, OWNER, "BTC", 65_000 * 10**8, NOW + 60 * 86400, False, 0, 10**18),
    )
    market = PerpMarketState("0xperp", "ETH", int(ETH_FEED * 1e18), 0, 0, 5, 1000, 500, USDC)
    perps = (PerpPosition("0xperp", OWNER, "ETH", -4 * 10**18, int(2950e18), 10_000 * 10**6, 0, 10_000 * 10**6),)
    balances = {(OWNER, WETH): 7 * 10**18, (OWNER, USDC): 123_456 * 10**6, (OTHER, WBTC): 3 * 10**7}
    return Snapshot(1, 100, NOW, (OWNER, OTHER), dict(TOKENS), pools, lps, options, {"0xperp": market}, perps,
                    feeds, {}, balances, native_balances={OWNER: 12 * 10**18 + 5, OTHER: 0}, native_asset="ETH")


def lp_only(snap: Snapshot) -> Snapshot:
    return dataclasses.replace(snap, options=(), perps=(), balances={}, native_balances={})


def risky_amount(snap: Snapshot, p: LpPosition) -> tuple[float, float]:
    """(risky, quote) human amounts the position pays, from the exact integer burn + collect."""
    pool_ = snap.pools[p.pool]
    a0, a1 = position_amounts(pool_.sqrt_price_x96, pool_.tick, p.tick_lower, p.tick_upper, p.liquidity)
    f0, f1 = lp_fees(snap, p)
    r0, r1 = (a0 + f0) / 10 ** DEC[p.token0], (a1 + f1) / 10 ** DEC[p.token1]
    return (r1, r0) if p.token1 in (WETH,) else (r0, r1)


# ----------------------------------------------------------------------------- exact holdings


def test_lp_holdings_are_the_burn_and_collect_integers() -> None:
    snap = world()
    for p in snap.lps:
        h = lp_holdings(snap, p)
        pl = snap.pools[p.pool]
        assert (h.principal0, h.principal1) == position_amounts(pl.sqrt_price_x96, pl.tick, p.tick_lower,
                                                                p.tick_upper, p.liquidity)
        assert (h.fees0, h.fees1) == lp_fees(snap, p)
        assert all(isinstance(x, int) for x in (h.principal0, h.principal1, h.fees0, h.fees1))
        assert h.amount0 == h.principal0 + h.fees0 and h.amount1 == h.principal1 + h.fees1
    by_id = {p.token_id: lp_holdings(snap, p) for p in snap.lps}
    assert by_id[3].principal1 == 0 < by_id[3].principal0  # all USDC (token0)
    assert by_id[4].principal0 == 0 < by_id[4].principal1  # all WETH (token1)
    assert 0 < by_id[1].fees0 - 1000 < 10**12 and 0 < by_id[1].fees1 - 10**12 < 10**18  # accrued + owed
    # a burn rounds down: the float amount is never below the integer
    p1 = snap.lps[0]
    sa, sb = get_sqrt_ratio_at_tick(p1.tick_lower), get_sqrt_ratio_at_tick(p1.tick_upper)
    sp = snap.pools[p1.pool].sqrt_price_x96
    exact1, exact0 = Fraction(p1.liquidity * (sp - sa), 2**96), Fraction(p1.liquidity * 2**96 * (sb - sp), sb * sp)
    assert by_id[1].principal1 <= exact1 < by_id[1].principal1 + 1
    assert by_id[1].principal0 <= exact0 < by_id[1].principal0 + 1
    with pytest.raises(InputError, match="LP 1"):
        lp_holdings(dataclasses.replace(snap, pools={}), p1)


def test_delta_is_the_exact_risky_amount_at_each_pools_own_price() -> None:
    snap = lp_only(world())
    risk = book_risk(snap, ASSETS, USDC, SPOTS, VOLS)
    for sym in ("ETH", "BTC"):
        lps = [p for p in snap.lps if ASSETS[sym] in (p.token0, p.token1)]
        want = sum(risky_amount(snap, p)[0] for p in lps)
        assert risk.summaries[sym].delta == pytest.approx(want, rel=1e-9)
        value = sum(risky_amount(snap, p)[0] * SPOTS[sym] + risky_amount(snap, p)[1] for p in lps)
        assert risk.summaries[sym].value == pytest.approx(value, rel=1e-9)  # marked at the feed
    # The pool B positions valued at the feed price instead (the old behaviour) hold far more WETH.
    b_lp = next(p for p in snap.lps if p.token_id == 2)
    at_feed = dataclasses.replace(snap.pools[POOL_B], sqrt_price_x96=sqrt_for(ETH_FEED, WETH, USDC))
    at_feed = dataclasses.replace(at_feed, tick=get_tick_at_sqrt_ratio(at_feed.sqrt_price_x96))
    moved = dataclasses.replace(snap, pools={**snap.pools, POOL_B: at_feed})
    assert risky_amount(moved, b_lp)[0] > 1.5 * risky_amount(snap, b_lp)[0]


def test_lp_delta_also_matches_the_float_formula_at_the_pool_price() -> None:
    # Independent of the integer code: amount1 = L (sqrt P - sqrt pa) with WETH as token1 (P = USDC per WETH
    # inverted: the pool's raw price is WETH per USDC), fees added.
    snap = lp_only(world())
    risk = book_risk(snap, ASSETS, USDC, SPOTS, VOLS)
    line = next(x for x in risk.lines if isinstance(x, LpLine) and x.lp.token_id == 2)
    p = line.lp
    raw_price = (10.0**18 / 10.0**6) / (ETH_FEED * 1.10)  # WETH raw per USDC raw
    sqrt_p, sqrt_a = math.sqrt(raw_price), 1.0001 ** (p.tick_lower / 2)
    weth = p.liquidity * (sqrt_p - sqrt_a) / 1e18 + lp_fees(snap, p)[1] / 1e18
    got = line_risk(line, SPOTS)
    assert got is not None and got.delta == pytest.approx(weth, rel=1e-9)


def test_gamma_is_the_derivative_of_the_exact_amount_with_the_pool_moving_with_the_feed() -> None:
    snap = lp_only(world())
    risk = book_risk(snap, ASSETS, USDC, SPOTS, VOLS)
    checked = 0
    for line in risk.lines:
        assert isinstance(line, LpLine)
        s = SPOTS[line.underlying]
        basis = line.pool_price / s
        h = s * 1e-5
        amounts = []
        for spot in (s + h, s - h):
            sp = sqrt_for(basis * spot, ASSETS[line.underlying], USDC)
            moved_pool = dataclasses.replace(snap.pools[line.lp.pool], sqrt_price_x96=sp,
                                             tick=get_tick_at_sqrt_ratio(sp))
            moved = dataclasses.replace(snap, pools={**snap.pools, line.lp.pool: moved_pool})
            amounts.append(risky_amount(moved, line.lp)[0])
        fd = (amounts[0] - amounts[1]) / (2 * h)
        got = line_risk(line, SPOTS)
        assert got is not None
        if line.in_range and line.lp.tick_lower > -887_000:
            assert got.gamma < 0 and got.gamma == pytest.approx(fd, rel=2e-3), line.lp.token_id
            checked += 1
        else:
            assert abs(got.gamma - fd) <= 1e-3 * abs(fd) + 1e-12, line.lp.token_id
    assert checked >= 3


def test_basis_of_every_pool_is_reported() -> None:
    snap = world()
    bases = {b.pool: b for b in pool_bases(snap, ASSETS, USDC, SPOTS)}
    assert set(bases) == {POOL_A, POOL_B, POOL_BTC}
    assert bases[POOL_A].basis_bps == pytest.approx(0.0, abs=1e-6)
    assert bases[POOL_B].basis_bps == pytest.approx(1000.0, rel=1e-9)
    assert bases[POOL_B].deviation_bps == pytest.approx(1000.0, rel=1e-9)
    assert bases[POOL_B].lp_count == 3 and bases[POOL_A].lp_count == 2
    assert bases[POOL_BTC].pool_price == pytest.approx(BTC_FEED, rel=1e-12)
    cheap = {b.pool: b for b in pool_bases(world(ETH_FEED * 0.9), ASSETS, USDC, SPOTS)}[POOL_B]
    assert cheap.basis_bps == pytest.approx(-1000.0, rel=1e-9)
    assert cheap.deviation_bps == pytest.approx(1e4 * 0.1 / 0.9, rel=1e-9)  # symmetric: over the lower price
    risk = book_risk(snap, ASSETS, USDC, SPOTS, VOLS)
    lines = [x for x in risk.lines if isinstance(x, LpLine) and x.lp.pool == POOL_B]
    assert all(x.position.basis == pytest.approx(1.10, rel=1e-12) for x in lines)


def test_with_basis_one_and_no_exact_amounts_the_old_model_holds() -> None:
    old = LPPosition("ETH", 4e15, -201_000, -193_000, True, 18, 6, fees_underlying=0.25)
    new = dataclasses.replace(old, basis=1.10)
    _, d, _ = lp_risk(old, 3000.0)
    assert aggregate([old], {"ETH": 3000.0})["ETH"].delta == pytest.approx(d, rel=1e-15)
    v2, d2, g2 = lp_risk(new, 3000.0)
    v3, d3, g3 = lp_risk(old, 3300.0)
    assert d2 == pytest.approx(d3, rel=1e-12) and g2 == pytest.approx(1.10 * g3, rel=1e-12)
    assert v2 == pytest.approx(v3 - d3 * 300.0, rel=1e-12)  # held at the pool price, marked at the feed
    with pytest.raises(InputError, match="basis"):
        dataclasses.replace(old, basis=0.0)
    with pytest.raises(InputError, match="go together"):
        dataclasses.replace(old, amount_underlying=1.0)


# ----------------------------------------------------------------------------- lines add up


def test_per_position_deltas_sum_to_the_per_underlying_delta() -> None:
    snap = world()
    risk = book_risk(snap, ASSETS, USDC, SPOTS, VOLS)
    spots = {u: s.spot for u, s in risk.summaries.items()}
    for u, summary in risk.summaries.items():
        risks = [r for r in (line_risk(x, spots) for x in risk.lines) if r is not None and r.underlying == u]
        assert sum(r.delta for r in risks) == pytest.approx(summary.delta, rel=1e-12)
        assert sum(r.gamma for r in risks) == pytest.approx(summary.gamma, rel=1e-12)
        assert sum(r.value for r in risks) == pytest.approx(summary.value, rel=1e-12)
    assert sum(x.quote_value for x in risk.lines) == pytest.approx(risk.quote_value, rel=1e-15)
    # and the JSON records (what `keeper plan --json` prints) add up the same way
    recs = position_records(snap, risk)
    assert set(recs) == {"lps", "v4_lps", "options", "perps", "balances", "aave"}
    for u, summary in risk.summaries.items():
        total = sum(x["delta"] for k in recs for x in recs[k] if x["underlying"] == u and x["delta"] is not None)
        assert total == pytest.approx(summary.delta, rel=1e-12)
    lp2 = next(x for x in recs["lps"] if x["token_id"] == 2)
    assert lp2["principal1_raw"] == str(lp_holdings(snap, snap.lps[1]).principal1)
    assert lp2["basis_bps"] == pytest.approx(1000.0, rel=1e-9) and lp2["fee_pct"] == 0.3
    assert lp2["range_low_usd"] < lp2["pool_price_usd"] < lp2["range_high_usd"]
    short_call = next(x for x in recs["options"] if x["series_id"] == 1)
    assert short_call["collateral_units"] == 5.0  # the writer's locked WETH counts in its line


def test_native_eth_is_eth_exposure_when_counted() -> None:
    snap = world()
    counted = book_risk(snap, ASSETS, USDC, SPOTS, VOLS)
    off = book_risk(dataclasses.replace(snap, native_asset=None), ASSETS, USDC, SPOTS, VOLS)
    assert counted.summaries["ETH"].delta - off.summaries["ETH"].delta == pytest.approx(12.0 + 5e-18, abs=1e-9)
    native = [x for x in counted.lines if isinstance(x, BalanceLine) and x.token == NATIVE]
    assert {x.owner: x.raw for x in native} == {OWNER: 12 * 10**18 + 5, OTHER: 0}
    assert all(x.underlying == "ETH" for x in native)
    shown = [x for x in off.lines if isinstance(x, BalanceLine) and x.token == NATIVE]
    assert shown and all(x.underlying is None and not x.positions for x in shown)
    with pytest.raises(InputError, match="native_asset"):
        book_risk(dataclasses.replace(snap, native_asset="SOL"), ASSETS, USDC, SPOTS, VOLS)
    rec = snap.to_record()
    assert {"owner": OWNER, "amount": 12 * 10**18 + 5} in rec["native_balances"] and rec["native_asset"] == "ETH"


def test_range_is_the_risky_price_low_to_high_whatever_the_order() -> None:
    # WETH token1 of a USDC/WETH pool: ticks price WETH-raw per USDC-raw
    t = get_tick_at_sqrt_ratio(sqrt_for(3000.0, WETH, USDC))
    lo, hi = range_in_quote(t - 1000, t + 1000, 6, 18, underlying_is_token0=False)
    assert lo < 3000.0 < hi and lo == pytest.approx(3000.0 / 1.0001**1000, rel=1e-3)
    t = get_tick_at_sqrt_ratio(sqrt_for(60_000.0, WBTC, USDC))
    lo, hi = range_in_quote(t - 500, t + 500, 8, 6, underlying_is_token0=True)
    assert lo < 60_000.0 < hi
    assert range_in_quote(-887_270, 887_270, 6, 18, underlying_is_token0=False) == (0.0, math.inf)


# ----------------------------------------------------------------------------- the pool deviation gate


def test_the_deviation_gate_blocks_the_deviating_pool_and_not_the_healthy_one() -> None:
    gate = check_pool_deviation(POOL_B, "ETH", 3300.0, 3000.0, 100.0)
    assert not gate.passed and gate.gate == "pool_deviation"
    for part in (POOL_B, "3,300.00 USD/ETH", "3,000.00 USD/ETH", "1000.0 bps", "max 100.0 bps"):
        assert part in gate.reason.text
    assert gate.reason.number("deviation_bps") == pytest.approx(1000.0)
    assert check_pool_deviation(POOL_A, "ETH", 3010.0, 3000.0, 100.0).passed

    policy = UnderlyingPolicy(trigger=TriggerConfig(trigger="fixed", band_units=1.0),
                              sizing=SizingConfig(hedge_to="target"), gates=GateConfig(max_oracle_deviation_bps=100.0))
    oracle = OracleView(3000.0, NOW - 60, 3000.0, 3000.0, NOW)
    gas = GasView(1.0, 3000.0)

    def venue(pool_id: str, usd: float, fee: float) -> SwapVenue:
        return SwapVenue(pool_id, fee, 150_000.0, 1e4, 1e9, 1e9, math.sqrt(usd))

    # the rich pool is cheaper (lower fee) but 10 % off the feed: the healthy pool is chosen
    inp = UnderlyingInput(Exposure("ETH", 50.0, 0.0, 1e6, 3000.0), oracle,
                          (venue(POOL_B, 3300.0, 0.0001), venue(POOL_A, 3000.0, 0.003)), ())
    d = decide_underlying(inp, policy, gas)
    assert d.order is not None and d.order.venue_id == POOL_A
    blocked = next(v for v in d.venues if v.venue_id == POOL_B)
    assert not blocked.available and blocked.reason.code == "gate_pool_deviation"
    assert any(r.code == "gate_pool_deviation" and POOL_B in r.text for r in d.reasons)
    # without a healthy pool, a perp still hedges; with neither, no venue
    only_b = dataclasses.replace(inp, swaps=(venue(POOL_B, 3300.0, 0.0001),),
                                 perps=(PerpVenue("0xperp", 0.0005, 0.0, 1e9, 0.1, 300_000.0),))
    d2 = decide_underlying(only_b, policy, gas)
    assert d2.order is not None and d2.order.venue == "perp"
    d3 = decide_underlying(dataclasses.replace(only_b, perps=()), policy, gas)
    assert d3.order is None and "no_venue" in d3.reason_codes


def test_the_band_cost_ignores_a_deviating_pool() -> None:
    oracle = OracleView(3000.0, NOW - 60, 3000.0, 3000.0, NOW)
    ww = UnderlyingPolicy(trigger=TriggerConfig(trigger="ww"), gates=GateConfig(max_oracle_deviation_bps=100.0))
    healthy = SwapVenue(POOL_A, 0.003, 150_000.0, 1e4, 1e9, 1e12, math.sqrt(3000.0))
    cheap_but_off = SwapVenue(POOL_B, 0.0001, 150_000.0, 1e4, 1e9, 1e12, math.sqrt(3300.0))
    ex = Exposure("ETH", 50.0, -0.01, 1e6, 3000.0)
    both = decide_underlying(UnderlyingInput(ex, oracle, (cheap_but_off, healthy), ()), ww, GasView(1.0, 3000.0))
    alone = decide_underlying(UnderlyingInput(ex, oracle, (healthy,), ()), ww, GasView(1.0, 3000.0))
    assert both.band.k_fraction == alone.band.k_fraction >= 0.003
