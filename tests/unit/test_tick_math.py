"""Uniswap v3 TickMath / FullMath: contract vectors, round trips, monotonicity, errors."""

from __future__ import annotations

from decimal import Decimal, getcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.core import tick_math
from keeper.core.tick_math import (
    MAX_SQRT_RATIO,
    MAX_TICK,
    MIN_SQRT_RATIO,
    MIN_TICK,
    Q96,
    UINT256_MAX,
    get_sqrt_ratio_at_tick,
    get_tick_at_sqrt_ratio,
    mul_div,
    mul_div_rounding_up,
    nearest_usable_tick,
)
from keeper.errors import InputError


def test_contract_constants_and_edge_vectors() -> None:
    assert get_sqrt_ratio_at_tick(MIN_TICK) == MIN_SQRT_RATIO == 4295128739
    assert get_sqrt_ratio_at_tick(MAX_TICK) == MAX_SQRT_RATIO
    assert MAX_SQRT_RATIO == 1461446703485210103287273052203988822378723970342
    assert get_sqrt_ratio_at_tick(0) == Q96 == 2**96
    assert get_tick_at_sqrt_ratio(MIN_SQRT_RATIO) == MIN_TICK
    assert get_tick_at_sqrt_ratio(MAX_SQRT_RATIO - 1) == MAX_TICK - 1
    assert get_tick_at_sqrt_ratio(Q96) == 0
    assert get_tick_at_sqrt_ratio(Q96 - 1) == -1
    # published v3-core test vectors
    assert get_sqrt_ratio_at_tick(MIN_TICK + 1) == 4295343490
    assert get_sqrt_ratio_at_tick(MAX_TICK - 1) == 1461373636630004318706518188784493106690254656249


def test_bit_factors_are_sqrt_1_0001_powers() -> None:
    """Each Q128.128 factor equals 2^128 / 1.0001^(2^i / 2) to better than 1e-27 relative."""
    getcontext().prec = 80
    for i, factor in enumerate(tick_math._BIT_FACTORS):
        exact = Decimal(2) ** 128 / Decimal("1.0001") ** (Decimal(2**i) / 2)
        assert abs((Decimal(factor) - exact) / exact) < Decimal("1e-27"), i


@pytest.mark.parametrize("spacing", [1, 10, 60, 200])
def test_spacing_boundaries_round_trip(spacing: int) -> None:
    top = MAX_TICK // spacing * spacing
    ticks = [top, -top, spacing, -spacing, 0, 887200 // spacing * spacing, -887200 // spacing * spacing]
    for tick in ticks:
        ratio = get_sqrt_ratio_at_tick(tick)
        if tick == MAX_TICK:  # MAX_SQRT_RATIO itself is outside the inverse's domain
            assert ratio == MAX_SQRT_RATIO
            continue
        assert get_tick_at_sqrt_ratio(ratio) == tick
        if tick > MIN_TICK:
            assert get_tick_at_sqrt_ratio(ratio - 1) == tick - 1
        if tick < MAX_TICK - 1:
            assert get_tick_at_sqrt_ratio(ratio + 1) == tick
    assert nearest_usable_tick(MAX_TICK, spacing) == top
    assert nearest_usable_tick(MIN_TICK, spacing) == -top


def test_nearest_usable_tick() -> None:
    assert nearest_usable_tick(34, 10) == 30
    assert nearest_usable_tick(35, 10) == 40
    assert nearest_usable_tick(-35, 10) == -40
    assert nearest_usable_tick(-34, 10) == -30
    with pytest.raises(InputError):
        nearest_usable_tick(0, 0)


@settings(max_examples=500, deadline=None)
@given(st.integers(MIN_TICK, MAX_TICK - 1))
def test_round_trip_and_monotone(tick: int) -> None:
    ratio = get_sqrt_ratio_at_tick(tick)
    nxt = get_sqrt_ratio_at_tick(tick + 1)
    assert nxt > ratio
    assert get_tick_at_sqrt_ratio(ratio) == tick
    assert get_tick_at_sqrt_ratio(nxt - 1) == tick  # greatest tick whose ratio <= input


@settings(max_examples=300, deadline=None)
@given(st.integers(MIN_SQRT_RATIO, MAX_SQRT_RATIO - 1))
def test_tick_at_sqrt_ratio_is_greatest_tick_below(sqrt_price: int) -> None:
    tick = get_tick_at_sqrt_ratio(sqrt_price)
    assert get_sqrt_ratio_at_tick(tick) <= sqrt_price
    if tick < MAX_TICK:
        assert get_sqrt_ratio_at_tick(tick + 1) > sqrt_price


def test_out_of_range_raises() -> None:
    for bad in (MIN_TICK - 1, MAX_TICK + 1):
        with pytest.raises(InputError) as info:
            get_sqrt_ratio_at_tick(bad)
        assert info.value.argument == "tick"
    for bad in (MIN_SQRT_RATIO - 1, MAX_SQRT_RATIO, 0):
        with pytest.raises(InputError) as info:
            get_tick_at_sqrt_ratio(bad)
        assert info.value.argument == "sqrt_price_x96"
    with pytest.raises(InputError):
        get_sqrt_ratio_at_tick(1.5)  # type: ignore[arg-type]


def test_mul_div() -> None:
    assert mul_div(UINT256_MAX, UINT256_MAX, UINT256_MAX) == UINT256_MAX
    assert mul_div(2**255, 6, 4) == 3 * 2**254
    assert mul_div_rounding_up(7, 3, 2) == 11
    assert mul_div(7, 3, 2) == 10
    assert mul_div_rounding_up(6, 3, 2) == 9
    with pytest.raises(InputError):
        mul_div(UINT256_MAX, 2, 1)  # overflow
    with pytest.raises(InputError):
        mul_div(1, 1, 0)
    with pytest.raises(InputError):
        mul_div_rounding_up(UINT256_MAX, UINT256_MAX, UINT256_MAX - 1)  # rounds past max
    with pytest.raises(InputError):
        mul_div(-1, 1, 1)
