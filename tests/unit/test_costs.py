"""Venue cost model: gas, Uniswap v3 constant-liquidity impact, swap and perp estimates, ranking."""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.core.costs import (
    GasView,
    PerpVenue,
    Side,
    SwapQuote,
    SwapVenue,
    VenueConfig,
    estimate_perp,
    estimate_swap,
    gas_cost_quote,
    one_way_cost_fraction,
    rank_venues,
    v3_impact_fraction,
    v3_impact_quote,
)
from keeper.errors import InputError

GAS = GasView(gas_price_gwei=20.0, native_price_quote=3000.0)
CFG = VenueConfig(max_slippage_bps=50.0, max_impact_bps=50.0, perp_holding_horizon_s=86_400.0)
SQRT_P = math.sqrt(3000.0)


def swap(**kw: Any) -> SwapVenue:
    base: dict[str, Any] = {
        "venue_id": "pool",
        "fee_fraction": 0.0005,
        "gas_units": 150_000.0,
        "underlying_balance_units": 1_000.0,
        "quote_balance_quote": 10_000_000.0,
        "liquidity": 2e6,
        "sqrt_price": SQRT_P,
    }
    base.update(kw)
    return SwapVenue(**base)


def perp(**kw: Any) -> PerpVenue:
    base: dict[str, Any] = {
        "venue_id": "perp",
        "taker_fee_fraction": 0.0004,
        "funding_rate_per_second": 1e-9,
        "free_margin_quote": 1_000_000.0,
        "initial_margin_fraction": 0.1,
        "gas_units": 300_000.0,
    }
    base.update(kw)
    return PerpVenue(**base)


# ------------------------------------------------------------------ gas


def test_gas_cost_by_hand() -> None:
    # 150k gas * 20 gwei = 0.003 ETH; at 3,000 USD/ETH = 9 USD
    assert gas_cost_quote(150_000, 20.0, 3000.0) == pytest.approx(9.0, rel=1e-15)
    assert gas_cost_quote(0, 20.0, 3000.0) == 0.0


# ------------------------------------------------------------------ v3 impact


def _exact_sell(dx: Fraction, L: Fraction, sp: Fraction) -> Fraction:
    """Constant-L exact-input sell of dx token0 via the sqrt-price update; impact vs spot in token1."""
    sp_new = L * sp / (L + dx * sp)
    dy = L * (sp - sp_new)
    return dx * sp * sp - dy


def _exact_buy(dx: Fraction, L: Fraction, sp: Fraction) -> Fraction:
    """Constant-L exact-output buy of dx token0 from the virtual-reserve invariant x y = L^2."""
    x, y = L / sp, L * sp
    y_new = L * L / (x - dx)
    return (y_new - y) - dx * sp * sp


def test_impact_by_hand() -> None:
    # L = 1000, sqrtP = 2 (P = 4): x = 500, y = 2000. Sell 100: y' = 1e6 / 600 = 1666.67, out 333.33 vs 400.
    assert v3_impact_quote(100.0, "sell", 1000.0, 2.0) == pytest.approx(400.0 - (2000.0 - 1e6 / 600.0), rel=1e-13)
    assert v3_impact_fraction(100.0, "sell", 1000.0, 2.0) == pytest.approx(200.0 / 1200.0, rel=1e-15)
    # Buy 100: y' = 1e6 / 400 = 2500, pay 500 vs 400.
    assert v3_impact_quote(100.0, "buy", 1000.0, 2.0) == pytest.approx(100.0, rel=1e-14)
    assert v3_impact_fraction(100.0, "buy", 1000.0, 2.0) == pytest.approx(0.25, rel=1e-15)


@given(
    dx=st.floats(1e-6, 1e4),
    L=st.floats(1e2, 1e9),
    sp=st.floats(1e-3, 1e3),
    side=st.sampled_from(["buy", "sell"]),
)
def test_impact_matches_exact_constant_liquidity_swap(dx: float, L: float, sp: float, side: Side) -> None:
    fdx, fL, fsp = Fraction(dx), Fraction(L), Fraction(sp)
    if side == "buy" and fdx * fsp >= fL:
        assert v3_impact_quote(dx, side, L, sp) == math.inf
        return
    exact = _exact_sell(fdx, fL, fsp) if side == "sell" else _exact_buy(fdx, fL, fsp)
    got = v3_impact_quote(dx, side, L, sp)
    assert got >= 0.0
    # float vs rational: relative 1e-9 except near exhaustion where the buy formula is ill-conditioned
    if side == "buy" and fdx * fsp > fL * Fraction(999, 1000):
        return
    assert math.isclose(got, float(exact), rel_tol=1e-9, abs_tol=1e-300)


def test_sell_impact_both_derivations_agree() -> None:
    dx, L, sp = Fraction(7), Fraction(12345), Fraction(3, 2)
    x, y = L / sp, L * sp
    y_new = L * L / (x + dx)  # invariant form
    assert _exact_sell(dx, L, sp) == dx * sp * sp - (y - y_new)


def test_impact_edges() -> None:
    assert v3_impact_fraction(0.0, "buy", 0.0, 1.0) == 0.0
    assert v3_impact_fraction(1.0, "sell", 0.0, 1.0) == 1.0  # no liquidity: everything is lost
    assert v3_impact_fraction(1.0, "buy", 0.0, 1.0) == math.inf
    assert v3_impact_fraction(10.0, "buy", 10.0, 1.0) == math.inf  # exactly the virtual reserve
    small = v3_impact_fraction(1e-3, "sell", 1e6, 50.0)
    assert small == pytest.approx(1e-3 * 50.0 / 1e6, rel=1e-6)  # ~ dx sqrtP / L to first order
    with pytest.raises(InputError) as ei:
        v3_impact_fraction(-1.0, "sell", 1.0, 1.0)
    assert ei.value.argument == "size_units"
    with pytest.raises(InputError) as ei:
        v3_impact_fraction(1.0, "hold", 1.0, 1.0)  # type: ignore[arg-type]
    assert ei.value.argument == "side"


# ------------------------------------------------------------------ swap estimates


def test_swap_cost_from_liquidity_by_hand() -> None:
    est = estimate_swap(swap(), "sell", 10.0, 3000.0, GAS, CFG, underlying="ETH")
    notional = 30_000.0
    frac = 10.0 * SQRT_P / (2e6 + 10.0 * SQRT_P)
    assert est.available and est.impact_source == "liquidity"
    assert est.notional_quote == notional
    assert est.cost.fee_quote == pytest.approx(15.0)
    assert est.cost.impact_quote == pytest.approx(frac * notional, rel=1e-12)
    assert est.cost.gas_quote == pytest.approx(9.0)
    assert est.cost.funding_quote == 0.0
    assert est.cost.total_quote == pytest.approx(15.0 + frac * notional + 9.0, rel=1e-12)
    assert est.reason.code == "venue_ok"


def test_swap_cost_from_quote_by_hand() -> None:
    # Sell 10 at an all-in average 2,990 vs oracle 3,000: shortfall 33.33 bps, fee 5 bps -> impact 28.33 bps.
    q = SwapQuote("sell", 10.0, 2990.0)
    est = estimate_swap(swap(quote=q), "sell", 10.0, 3000.0, GAS, CFG)
    assert est.impact_source == "quote"
    assert est.cost.impact_quote == pytest.approx((10.0 / 3000.0 - 0.0005) * 30_000.0, rel=1e-12)
    assert est.cost.fee_quote + est.cost.impact_quote == pytest.approx(100.0, rel=1e-12)  # 10 * (3000 - 2990)
    # a quote for a larger size is a conservative estimate for a smaller clip
    assert estimate_swap(swap(quote=q), "sell", 5.0, 3000.0, GAS, CFG).impact_source == "quote"
    # a favourable quote never gives negative impact
    assert estimate_swap(swap(quote=SwapQuote("buy", 1.0, 2999.0)), "buy", 1.0, 3000.0, GAS, CFG).cost.impact_quote == 0


def test_swap_quote_not_covering_falls_back_or_fails() -> None:
    q = SwapQuote("sell", 5.0, 2990.0)
    assert estimate_swap(swap(quote=q), "sell", 10.0, 3000.0, GAS, CFG).impact_source == "liquidity"
    assert estimate_swap(swap(quote=q), "buy", 1.0, 3000.0, GAS, CFG).impact_source == "liquidity"
    only_quote = swap(quote=q, liquidity=None, sqrt_price=None)
    est = estimate_swap(only_quote, "sell", 10.0, 3000.0, GAS, CFG)
    assert not est.available and est.reason.code == "venue_no_impact_data"


def test_swap_unavailable_reasons() -> None:
    est = estimate_swap(swap(underlying_balance_units=3.0), "sell", 5.0, 3000.0, GAS, CFG, underlying="ETH")
    assert not est.available and est.reason.code == "venue_balance"
    assert "balance 3 ETH < 5 ETH to sell" in est.reason.text
    est = estimate_swap(swap(quote_balance_quote=1000.0), "buy", 1.0, 3000.0, GAS, CFG)
    assert not est.available and est.reason.code == "venue_balance"
    est = estimate_swap(swap(liquidity=1e4), "sell", 100.0, 3000.0, GAS, CFG)
    assert not est.available and est.reason.code == "venue_impact"
    assert est.reason.number("impact_bps") > 50.0
    # the estimate is still reported
    assert est.cost.fee_quote == pytest.approx(150.0)


# ------------------------------------------------------------------ perp estimates


def test_perp_cost_by_hand_and_funding_sign() -> None:
    # 10 ETH at 3,000: fee 4 bps = 12; funding 1e-9/s * 86,400 s * 30,000 = 2.592; gas 300k*20 gwei*3000 = 18
    sell = estimate_perp(perp(), "sell", 10.0, 3000.0, GAS, CFG)
    buy = estimate_perp(perp(), "buy", 10.0, 3000.0, GAS, CFG)
    assert sell.cost.fee_quote == pytest.approx(12.0)
    assert sell.cost.funding_quote == pytest.approx(-2.592, rel=1e-12)  # a short receives positive funding
    assert buy.cost.funding_quote == pytest.approx(2.592, rel=1e-12)
    assert sell.cost.gas_quote == pytest.approx(18.0)
    assert sell.cost.total_quote == pytest.approx(12.0 - 2.592 + 18.0, rel=1e-12)
    neg = estimate_perp(perp(funding_rate_per_second=-1e-9), "sell", 10.0, 3000.0, GAS, CFG)
    assert neg.cost.funding_quote == pytest.approx(2.592, rel=1e-12)


def test_perp_needs_margin() -> None:
    est = estimate_perp(perp(free_margin_quote=2_999.0), "sell", 10.0, 3000.0, GAS, CFG)
    assert not est.available and est.reason.code == "venue_margin"
    assert est.reason.number("required_quote") == pytest.approx(3000.0)
    assert estimate_perp(perp(free_margin_quote=3_000.0), "sell", 10.0, 3000.0, GAS, CFG).available


# ------------------------------------------------------------------ ranking and k


def test_rank_venues_cheapest_first_ties_stable_skips_unavailable() -> None:
    a = estimate_swap(swap(venue_id="a"), "sell", 1.0, 3000.0, GAS, CFG)
    b = estimate_swap(swap(venue_id="b"), "sell", 1.0, 3000.0, GAS, CFG)
    c = estimate_perp(perp(gas_units=0.0, taker_fee_fraction=0.0), "sell", 1.0, 3000.0, GAS, CFG)
    d = estimate_perp(perp(free_margin_quote=0.0), "sell", 1.0, 3000.0, GAS, CFG)
    ranked = rank_venues([a, b, c, d])
    assert [e.venue_id for e in ranked] == ["perp", "a", "b"]
    assert rank_venues([d]) == ()


def test_one_way_cost_fraction() -> None:
    k = one_way_cost_fraction([swap()], [perp(taker_fee_fraction=0.001)], "sell", 10.0, 3000.0)
    assert k == pytest.approx(0.0005 + 10.0 * SQRT_P / (2e6 + 10.0 * SQRT_P), rel=1e-12)
    assert one_way_cost_fraction([swap()], [perp(taker_fee_fraction=0.0002)], "sell", 10.0, 3000.0) == 0.0002
    assert one_way_cost_fraction([], [], "sell", 1.0, 3000.0) == math.inf


# ------------------------------------------------------------------ validation


@pytest.mark.parametrize(
    ("factory", "field", "value"),
    [
        (swap, "venue_id", ""),
        (swap, "fee_fraction", 1.0),
        (swap, "fee_fraction", -0.1),
        (swap, "gas_units", -1.0),
        (swap, "underlying_balance_units", -1.0),
        (swap, "quote_balance_quote", math.nan),
        (swap, "liquidity", -1.0),
        (swap, "sqrt_price", 0.0),
        (perp, "venue_id", ""),
        (perp, "taker_fee_fraction", 2.0),
        (perp, "funding_rate_per_second", math.inf),
        (perp, "free_margin_quote", -5.0),
        (perp, "initial_margin_fraction", 1.5),
        (perp, "gas_units", math.nan),
    ],
)
def test_venue_validation_names_the_field(factory: Any, field: str, value: object) -> None:
    with pytest.raises(InputError) as ei:
        factory(**{field: value})
    assert ei.value.argument == field
    assert field in str(ei.value)


def test_swap_needs_an_impact_source_and_paired_liquidity() -> None:
    with pytest.raises(InputError) as ei:
        swap(liquidity=None, sqrt_price=None)
    assert ei.value.argument == "liquidity"
    with pytest.raises(InputError):
        swap(sqrt_price=None)


@pytest.mark.parametrize(
    ("field", "value"),
    [("max_slippage_bps", 0.0), ("max_slippage_bps", 10_000.0), ("max_impact_bps", -1.0),
     ("perp_holding_horizon_s", math.inf)],
)
def test_venue_config_validation(field: str, value: float) -> None:
    with pytest.raises(InputError) as ei:
        VenueConfig(**{field: value})
    assert ei.value.argument == field


def test_small_input_validation() -> None:
    with pytest.raises(InputError) as ei:
        GasView(gas_price_gwei=-1.0, native_price_quote=1.0)
    assert ei.value.argument == "gas_price_gwei"
    with pytest.raises(InputError) as ei:
        GasView(gas_price_gwei=1.0, native_price_quote=math.nan)
    assert ei.value.argument == "native_price_quote"
    with pytest.raises(InputError) as ei:
        SwapQuote("hold", 1.0, 1.0)  # type: ignore[arg-type]
    assert ei.value.argument == "side"
    with pytest.raises(InputError) as ei:
        SwapQuote("buy", 0.0, 1.0)
    assert ei.value.argument == "size_units"
    with pytest.raises(InputError) as ei:
        SwapQuote("buy", 1.0, True)
    assert ei.value.argument == "avg_price_quote"
