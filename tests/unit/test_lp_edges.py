"""Uniswap v3 position math with the pool's tick exactly on a position's lower tick.

In the pool, ``tick >= tickLower`` means in range: ``Tick.getFeeGrowthInside`` takes
``feeGrowthOutside`` of the lower tick as the growth *below* (fees earned while the tick sits on
the lower tick go to the position), and ``_modifyPosition`` pays both tokens, with the pool's
sqrt price anywhere in ``[sqrt(lower), sqrt(lower + 1))``. The references below are written from
those contract rules with exact fractions, not from the keeper's code.
"""

from __future__ import annotations

import math
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.core.lp_math import fee_growth_inside, get_amount0_delta, lp_greeks, npm_collect_amounts, position_amounts
from keeper.core.tick_math import Q96, Q128, get_sqrt_ratio_at_tick, get_tick_at_sqrt_ratio

M256 = 2**256


def _in_range_reference(sp: int, lower: int, upper: int, liq: int) -> tuple[int, int]:
    """``_modifyPosition`` in range: amount0 = L (1/sp - 1/sb), amount1 = L (sp - sa), both floored."""
    sa, sb = get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(upper)
    return (math.floor(Fraction(liq * Q96 * (sb - sp), sb * sp)), math.floor(Fraction(liq * (sp - sa), Q96)))


def test_amounts_with_the_tick_on_the_lower_tick_and_the_price_above_it() -> None:
    lower, upper, liq = -600, 600, 10**24
    sa, s_next = get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(lower + 1)
    sp = (sa + s_next) // 2  # strictly inside the lower tick's own price interval
    assert get_tick_at_sqrt_ratio(sp) == lower  # what slot0.tick is at that price
    a0, a1 = position_amounts(sp, lower, lower, upper, liq)
    assert (a0, a1) == _in_range_reference(sp, lower, upper, liq)
    assert a1 > 0, "in range: the position holds token1 earned above the lower price"
    # one tick lower (the same price cannot have that tick, but the branch is the tick's): all token0
    b0, b1 = position_amounts(sa, lower - 1, lower, upper, liq)
    assert b1 == 0 and b0 > a0


@settings(max_examples=300, deadline=None)
@given(st.integers(-200_000, 200_000), st.integers(1, 50_000), st.integers(1, 10**30),
       st.fractions(min_value=0, max_value=1))
def test_amounts_on_the_lower_tick_at_any_price_of_that_tick(lower: int, width: int, liq: int,
                                                              where: Fraction) -> None:
    upper = lower + width
    sa, s_next = get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(lower + 1)
    sp = min(sa + math.floor(where * (s_next - sa)), s_next - 1)
    assert get_tick_at_sqrt_ratio(sp) == lower
    assert position_amounts(sp, lower, lower, upper, liq) == _in_range_reference(sp, lower, upper, liq)


def _growth(tick: int, lower: int, upper: int, g: tuple[int, int], lo: tuple[int, int],
            up: tuple[int, int]) -> tuple[int, int]:
    return fee_growth_inside(tick, lower, upper, g[0], g[1], lo[0], lo[1], up[0], up[1])


def test_fee_growth_inside_with_the_tick_on_the_lower_tick() -> None:
    lower, upper = -60, 60
    g, lo, up = (900 * Q128, 40 * Q128), (300 * Q128, 10 * Q128), (100 * Q128, 5 * Q128)
    # Tick.getFeeGrowthInside with tickCurrent >= tickLower: below = lowerOutside
    assert _growth(lower, lower, upper, g, lo, up) == (500 * Q128, 25 * Q128)
    # Swaps that leave the tick on the lower tick raise only the global growth: all of it is inside.
    d = (7 * Q128 + 3, 11 * Q128)
    g2 = (g[0] + d[0], g[1] + d[1])
    before, after = _growth(lower, lower, upper, g, lo, up), _growth(lower, lower, upper, g2, lo, up)
    assert ((after[0] - before[0]) % M256, (after[1] - before[1]) % M256) == d
    # One tick below the range nothing accrues.
    assert _growth(lower - 1, lower, upper, g, lo, up) == _growth(lower - 1, lower, upper, g2, lo, up)


def test_collect_credits_fees_earned_with_the_tick_on_the_lower_tick() -> None:
    lower, upper, liq = -60, 60, 3 * 10**18
    g, lo, up = (900 * Q128, 40 * Q128), (300 * Q128, 10 * Q128), (100 * Q128, 5 * Q128)
    last = (500 * Q128, 25 * Q128)  # the position's checkpoint: inside growth at its last poke, g - lo - up
    earned = (2 * Q128, Q128 // 4)  # fee growth per unit of liquidity since then, tick still on lower
    fees = npm_collect_amounts(
        liquidity=liq, tick_current=lower, tick_lower=lower, tick_upper=upper,
        fee_growth_global0_x128=g[0] + earned[0], fee_growth_global1_x128=g[1] + earned[1],
        lower_outside0_x128=lo[0], lower_outside1_x128=lo[1], upper_outside0_x128=up[0], upper_outside1_x128=up[1],
        fee_growth_inside0_last_x128=last[0], fee_growth_inside1_last_x128=last[1], tokens_owed0=5, tokens_owed1=0)
    assert fees == (5 + 2 * liq, liq // 4)


def test_amounts_with_the_tick_on_the_upper_tick_and_the_price_above_it() -> None:
    # tick == tickUpper is above the range (all token1), whatever the price inside that tick
    lower, upper, liq = -600, 600, 10**24
    sa, sb, s_next = get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(upper), get_sqrt_ratio_at_tick(upper + 1)
    sp = (sb + s_next) // 2
    assert get_tick_at_sqrt_ratio(sp) == upper
    assert position_amounts(sp, upper, lower, upper, liq) == (0, math.floor(Fraction(liq * (sb - sa), Q96)))


def test_round_up_adds_nothing_when_the_division_is_exact() -> None:
    # L 2^96 (b - a) / (a b) with a = 2^96, b = 2^97, L = 2 is exactly 1 token0 unit
    assert get_amount0_delta(2**96, 2**97, 2, True) == get_amount0_delta(2**96, 2**97, 2, False) == 1
    assert get_amount0_delta(2**96, 2**97, 3, True) == 2  # 1.5 rounds up


def test_lp_greeks_bounds_are_outside_the_range_and_decimals_default_to_18() -> None:
    # price exactly on a bound: no gamma (the convention at the kink); tick 0 is price 1.0 exactly
    assert float(lp_greeks(1e18, 0, 600, 1.0).gamma) == 0.0
    assert float(lp_greeks(1e18, -600, 0, 1.0).gamma) == 0.0
    assert float(lp_greeks(1e18, -600, 600, 1.0).gamma) < 0.0
    default, explicit = lp_greeks(1e18, -600, 600, 1.01), lp_greeks(1e18, -600, 600, 1.01, decimals0=18, decimals1=18)
    assert (float(default.value), float(default.delta)) == (float(explicit.value), float(explicit.delta))
    assert float(default.delta) != float(lp_greeks(1e18, -600, 600, 1.01, decimals0=19, decimals1=18).delta)
