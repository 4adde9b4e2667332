"""Uniswap v3 position math: exact amounts vs Fraction references, fees with wrap-around, float greeks."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.core.lp_math import (
    LPGreeks,
    collectable_fees,
    fee_growth_inside,
    from_raw,
    get_amount0_delta,
    get_amount1_delta,
    get_amounts_for_liquidity,
    lp_greeks,
    npm_collect_amounts,
    position_amounts,
    price_to_sqrt_price_x96,
    sqrt_price_x96_to_price,
    to_raw,
)
from keeper.core.tick_math import (
    MAX_TICK,
    MIN_TICK,
    Q96,
    Q128,
    UINT128_MAX,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
)
from keeper.errors import InputError

M256 = 2**256

_liq = st.integers(1, UINT128_MAX)
_tick = st.integers(MIN_TICK, MAX_TICK)


def _floor(x: Fraction) -> int:
    return math.floor(x)


def _ceil(x: Fraction) -> int:
    return math.ceil(x)


@settings(max_examples=300, deadline=None)
@given(_tick, _tick, _liq)
def test_amount_deltas_match_fraction_reference(t1: int, t2: int, liq: int) -> None:
    sa, sb = sorted((get_sqrt_ratio_at_tick(t1), get_sqrt_ratio_at_tick(t2)))
    exact0 = Fraction(liq * Q96 * (sb - sa), sb * sa)
    exact1 = Fraction(liq * (sb - sa), Q96)
    assert get_amount0_delta(sa, sb, liq, False) == _floor(exact0)
    assert get_amount0_delta(sb, sa, liq, True) == _ceil(exact0)
    assert get_amount1_delta(sa, sb, liq, False) == _floor(exact1)
    assert get_amount1_delta(sb, sa, liq, True) == _ceil(exact1)


@settings(max_examples=300, deadline=None)
@given(st.integers(-200_000, 200_000), st.integers(1, 50_000), st.integers(-60_000, 60_000),
       st.integers(1, 10**30))
def test_position_amounts_match_fraction_reference(lower: int, width: int, offset: int, liq: int) -> None:
    upper = lower + width
    tick = lower + offset
    sp = get_sqrt_ratio_at_tick(tick)
    sa, sb = get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(upper)
    a0, a1 = position_amounts(sp, tick, lower, upper, liq)
    if tick < lower:
        assert (a0, a1) == (_floor(Fraction(liq * Q96 * (sb - sa), sb * sa)), 0)
    elif tick < upper:
        assert a0 == _floor(Fraction(liq * Q96 * (sb - sp), sb * sp))
        assert a1 == _floor(Fraction(liq * (sp - sa), Q96))
    else:
        assert (a0, a1) == (0, _floor(Fraction(liq * (sb - sa), Q96)))
    # the periphery helper agrees whenever tick and sqrt price are consistent
    assert get_amounts_for_liquidity(sp, sa, sb, liq) == (a0, a1)


def test_branch_is_chosen_by_tick_at_the_boundaries() -> None:
    lower, upper, liq = -600, 600, 10**24
    sa, sb = get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(upper)
    # a swap down that stops exactly on tick_upper's price leaves tick = upper - 1 (in range):
    in_range = position_amounts(sb, upper - 1, lower, upper, liq)
    assert in_range == (0, get_amount1_delta(sa, sb, liq, False))
    # price exactly at tick_lower's price with tick = lower (in range) or lower - 1 (below):
    assert position_amounts(sa, lower, lower, upper, liq) == position_amounts(sa, lower - 1, lower, upper, liq)
    # burning rounds down, minting rounds up, by at most one unit
    sp = get_sqrt_ratio_at_tick(17)
    a0, a1 = position_amounts(sp, 17, lower, upper, liq)
    assert 0 <= get_amount0_delta(sp, sb, liq, True) - a0 <= 1
    assert 0 <= get_amount1_delta(sa, sp, liq, True) - a1 <= 1
    with pytest.raises(InputError):
        position_amounts(sp, 17, upper, lower, liq)


def test_fee_growth_inside_three_regions_and_wraparound() -> None:
    g0, g1 = 1000 * Q128, 7 * Q128
    lo0, lo1, up0, up1 = 300 * Q128, 2 * Q128, 100 * Q128, 1 * Q128
    args = (g0, g1, lo0, lo1, up0, up1)
    assert fee_growth_inside(0, -10, 10, *args) == (g0 - lo0 - up0, g1 - lo1 - up1)
    assert fee_growth_inside(-20, -10, 10, *args) == (lo0 - up0, lo1 - up1)
    assert fee_growth_inside(10, -10, 10, *args) == ((up0 - lo0) % M256, (up1 - lo1) % M256)
    # outside values larger than the global one: the uint256 subtraction wraps
    wrapped = fee_growth_inside(0, -10, 10, 5, 5, 10, 0, 0, 10)
    assert wrapped == ((5 - 10) % M256, (5 - 10) % M256)
    assert all(0 <= v < M256 for v in wrapped)


def test_collectable_fees_with_wraparound_and_uint128_owed() -> None:
    liq = 3 * 10**18
    last = M256 - 10 * Q128  # checkpoint just before the accumulator wrapped
    now = 5 * Q128
    fees = collectable_fees(liq, now, now, last, last, 7, 0)
    assert fees == (7 + 15 * liq, 15 * liq)
    # mulDiv floors: 1.5 units per liquidity unit * 3 = 4.5 -> 4
    assert collectable_fees(3, Q128 // 2 * 3, 0, 0, 0) == (4, 0)
    # tokensOwed is a uint128 that wraps
    assert collectable_fees(1, 2 * Q128, 0, 0, 0, UINT128_MAX, 0) == (1, 0)


def test_npm_collect_pokes_only_with_liquidity() -> None:
    state = dict(tick_current=0, tick_lower=-60, tick_upper=60,
                 fee_growth_global0_x128=50 * Q128, fee_growth_global1_x128=20 * Q128,
                 lower_outside0_x128=10 * Q128, lower_outside1_x128=5 * Q128,
                 upper_outside0_x128=10 * Q128, upper_outside1_x128=5 * Q128,
                 fee_growth_inside0_last_x128=25 * Q128, fee_growth_inside1_last_x128=5 * Q128,
                 tokens_owed0=11, tokens_owed1=13)
    assert npm_collect_amounts(liquidity=2, **state) == (11 + 2 * 5, 13 + 2 * 5)
    assert npm_collect_amounts(liquidity=0, **state) == (11, 13)


def test_units_helpers() -> None:
    assert to_raw("1.5", 6) == 1_500_000
    assert to_raw(0.1, 18) == 10**17
    assert to_raw("0.0000001", 6) == 0  # rounds toward zero
    assert float(from_raw(1_500_000, 6)) == 1.5
    sp = price_to_sqrt_price_x96(3000.0, 18, 6)
    assert sqrt_price_x96_to_price(sp, 18, 6) == pytest.approx(3000.0, rel=1e-12)
    with pytest.raises(InputError):
        to_raw("abc", 6)


def _exact_human(spot: float, liq: int, lower: int, upper: int, is0: bool, d0: int, d1: int) -> tuple[float, float]:
    raw = spot * 10.0 ** (d1 - d0) if is0 else 10.0 ** (d1 - d0) / spot
    sp = round(math.sqrt(raw) * Q96)
    a0, a1 = position_amounts(sp, get_tick_at_sqrt_ratio(sp), lower, upper, liq)
    return a0 / 10**d0, a1 / 10**d1


@pytest.mark.parametrize("is0", [True, False])
def test_float_greeks_match_exact_amounts_and_differences(is0: bool) -> None:
    d0, d1 = (18, 6) if is0 else (6, 18)
    centre = get_tick_at_sqrt_ratio(price_to_sqrt_price_x96(3000.0 if is0 else 1 / 3000.0, d0, d1))
    lower, upper, liq = centre - 2000, centre + 3000, 10**17
    spots = np.array([2000.0, 2700.0, 3000.0, 3300.0, 4500.0])
    g = lp_greeks(liq, lower, upper, spots, underlying_is_token0=is0, decimals0=d0, decimals1=d1)
    for i, s in enumerate(spots):
        a0, a1 = _exact_human(float(s), liq, lower, upper, is0, d0, d1)
        assert g.amount0[i] == pytest.approx(a0, rel=1e-9, abs=1e-9)
        assert g.amount1[i] == pytest.approx(a1, rel=1e-9, abs=1e-9)

    def value(x: np.ndarray) -> LPGreeks:
        return lp_greeks(liq, lower, upper, x, underlying_is_token0=is0, decimals0=d0, decimals1=d1)

    h = 1e-3
    fd_delta = (value(spots + h).value - value(spots - h).value) / (2 * h)
    fd_gamma = (value(spots + h).delta - value(spots - h).delta) / (2 * h)
    np.testing.assert_allclose(g.delta, fd_delta, rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(g.gamma, fd_gamma, rtol=1e-5, atol=1e-12)
    assert np.all(g.gamma[1:4] < 0.0)  # short gamma in range
    assert g.gamma[0] == 0.0 and g.gamma[4] == 0.0
    assert g.delta[4] == 0.0  # above the range: all quote, no underlying
    assert g.delta[0] > 0.0
    np.testing.assert_allclose(g.delta, g.amount0 if is0 else g.amount1)


def test_underlying_as_token1_mirrors_token0() -> None:
    """Swapping token order negates and swaps the ticks; value, delta and gamma are unchanged."""
    spots = np.linspace(1500.0, 5000.0, 50)
    liq = np.full(50, 3.3e16)
    a = lp_greeks(liq, -200_000, -194_000, spots, underlying_is_token0=True, decimals0=18, decimals1=6)
    b = lp_greeks(liq, 194_000, 200_000, spots, underlying_is_token0=False, decimals0=6, decimals1=18)
    for name in ("value", "delta", "gamma"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12)
    np.testing.assert_allclose(a.amount0, b.amount1, rtol=1e-12)


def test_lp_greeks_errors() -> None:
    with pytest.raises(InputError):
        lp_greeks(1.0, 10, 10, 1.0)
    with pytest.raises(InputError):
        lp_greeks(1.0, 0, 10, 0.0)
    with pytest.raises(InputError):
        lp_greeks(-1.0, 0, 10, 1.0)
    with pytest.raises(InputError):
        lp_greeks(1.0, MIN_TICK - 1, 10, 1.0)
