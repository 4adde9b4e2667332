"""Bad inputs to the exact v3 math (lp_math, tick_math) raise InputError naming the argument, with the
exact message a person reads; the last valid value on each bound is accepted."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from keeper.core.lp_math import (
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

U160, U128 = 2**160, 2**128
FG = dict(fee_growth_global0_x128=0, fee_growth_global1_x128=0, lower_outside0_x128=0, lower_outside1_x128=0,
          upper_outside0_x128=0, upper_outside1_x128=0)
NPM = dict(liquidity=1, tick_current=0, tick_lower=-10, tick_upper=10, **FG, fee_growth_inside0_last_x128=0,
           fee_growth_inside1_last_x128=0, tokens_owed0=0, tokens_owed1=0)


def _fg(**bad: Any) -> Callable[[], object]:
    return lambda: fee_growth_inside(0, -10, 10, **{**FG, **bad})


def _npm(**bad: Any) -> Callable[[], object]:
    return lambda: npm_collect_amounts(**{**NPM, **bad})


CASES: list[tuple[str, Callable[[], object], str, str]] = [
    # get_amount{0,1}_delta: uint160 prices, uint128 liquidity, a zero price
    ("a0 a not int", lambda: get_amount0_delta(1.0, Q96, 1, False), "sqrt_ratio_a_x96",  # type: ignore[arg-type]
     "must be an int (got float)"),
    ("a0 a bool", lambda: get_amount0_delta(True, Q96, 1, False), "sqrt_ratio_a_x96", "must be an int (got bool)"),
    ("a0 a too big", lambda: get_amount0_delta(U160, Q96, 1, False), "sqrt_ratio_a_x96",
     f"must be a uint160 (got {U160})"),
    ("a0 b negative", lambda: get_amount0_delta(Q96, -1, 1, False), "sqrt_ratio_b_x96", "must be a uint160 (got -1)"),
    ("a0 b too big", lambda: get_amount0_delta(Q96, U160, 1, False), "sqrt_ratio_b_x96",
     f"must be a uint160 (got {U160})"),
    ("a0 liquidity", lambda: get_amount0_delta(Q96, Q96, U128, False), "liquidity", f"must be a uint128 (got {U128})"),
    ("a0 zero price", lambda: get_amount0_delta(0, Q96, 1, False), "sqrt_ratio_a_x96", "sqrt prices must be > 0"),
    ("a0 zero price b", lambda: get_amount0_delta(Q96, 0, 1, True), "sqrt_ratio_a_x96", "sqrt prices must be > 0"),
    ("a1 a", lambda: get_amount1_delta(-1, Q96, 1, False), "sqrt_ratio_a_x96", "must be a uint160 (got -1)"),
    ("a1 a too big", lambda: get_amount1_delta(U160, Q96, 1, False), "sqrt_ratio_a_x96",
     f"must be a uint160 (got {U160})"),
    ("a1 liquidity too big", lambda: get_amount1_delta(Q96, Q96, U128, True), "liquidity",
     f"must be a uint128 (got {U128})"),
    ("a1 b", lambda: get_amount1_delta(Q96, U160, 1, False), "sqrt_ratio_b_x96", f"must be a uint160 (got {U160})"),
    ("a1 liquidity", lambda: get_amount1_delta(Q96, Q96, -1, True), "liquidity", "must be a uint128 (got -1)"),
    ("afl price", lambda: get_amounts_for_liquidity(U160, Q96, 2 * Q96, 1), "sqrt_price_x96",
     f"must be a uint160 (got {U160})"),
    # position_amounts: ticks in range and ordered
    ("pa tick", lambda: position_amounts(Q96, MAX_TICK + 1, 0, 10, 1), "tick_current",
     f"must be in [{MIN_TICK}, {MAX_TICK}] (got {MAX_TICK + 1})"),
    ("pa tick str", lambda: position_amounts(Q96, "0", 0, 10, 1), "tick_current",  # type: ignore[arg-type]
     "must be an int (got str)"),
    ("pa tick bool", lambda: position_amounts(Q96, True, 0, 10, 1), "tick_current", "must be an int (got bool)"),
    ("pa lower", lambda: position_amounts(Q96, 0, MIN_TICK - 1, 10, 1), "tick_lower",
     f"must be in [{MIN_TICK}, {MAX_TICK}] (got {MIN_TICK - 1})"),
    ("pa upper", lambda: position_amounts(Q96, 0, 0, MAX_TICK + 1, 1), "tick_upper",
     f"must be in [{MIN_TICK}, {MAX_TICK}] (got {MAX_TICK + 1})"),
    ("pa order", lambda: position_amounts(Q96, 0, 10, 10, 1), "tick_lower", "must be < tick_upper (10 >= 10)"),
    # fee_growth_inside: ticks, then each uint256 accumulator by name
    ("fg tick", lambda: fee_growth_inside(MIN_TICK - 1, -10, 10, **FG), "tick_current",
     f"must be in [{MIN_TICK}, {MAX_TICK}] (got {MIN_TICK - 1})"),
    ("fg lower", lambda: fee_growth_inside(0, MIN_TICK - 1, 10, **FG), "tick_lower",
     f"must be in [{MIN_TICK}, {MAX_TICK}] (got {MIN_TICK - 1})"),
    ("fg upper", lambda: fee_growth_inside(0, -10, MAX_TICK + 1, **FG), "tick_upper",
     f"must be in [{MIN_TICK}, {MAX_TICK}] (got {MAX_TICK + 1})"),
    *[(f"fg {k}", _fg(**{k: 2**256}), k, f"must be a uint256 (got {2**256})") for k in FG],
    # collectable_fees / npm_collect_amounts
    ("cf liquidity", lambda: collectable_fees(U128, 0, 0, 0, 0), "liquidity", f"must be a uint128 (got {U128})"),
    ("cf owed0", lambda: collectable_fees(1, 0, 0, 0, 0, U128, 0), "tokens_owed0", f"must be a uint128 (got {U128})"),
    ("cf owed1", lambda: collectable_fees(1, 0, 0, 0, 0, 0, -1), "tokens_owed1", "must be a uint128 (got -1)"),
    ("cf inside0", lambda: collectable_fees(1, -1, 0, 0, 0), "fee_growth_inside0_x128", "must be a uint256 (got -1)"),
    ("cf inside0 big", lambda: collectable_fees(1, 2**256, 0, 0, 0), "fee_growth_inside0_x128",
     f"must be a uint256 (got {2**256})"),
    ("cf inside1 big", lambda: collectable_fees(1, 0, 2**256, 0, 0), "fee_growth_inside1_x128",
     f"must be a uint256 (got {2**256})"),
    ("cf last0 big", lambda: collectable_fees(1, 0, 0, 2**256, 0), "fee_growth_inside0_last_x128",
     f"must be a uint256 (got {2**256})"),
    ("cf owed1 big", lambda: collectable_fees(1, 0, 0, 0, 0, 0, U128), "tokens_owed1",
     f"must be a uint128 (got {U128})"),
    ("cf inside1", lambda: collectable_fees(1, 0, -1, 0, 0), "fee_growth_inside1_x128", "must be a uint256 (got -1)"),
    ("cf last0", lambda: collectable_fees(1, 0, 0, -1, 0), "fee_growth_inside0_last_x128",
     "must be a uint256 (got -1)"),
    ("cf last1", lambda: collectable_fees(1, 0, 0, 0, 2**256), "fee_growth_inside1_last_x128",
     f"must be a uint256 (got {2**256})"),
    ("npm owed0 no liquidity", _npm(liquidity=0, tokens_owed0=-1), "tokens_owed0", "must be a uint128 (got -1)"),
    ("npm owed0 no liquidity big", _npm(liquidity=0, tokens_owed0=U128), "tokens_owed0",
     f"must be a uint128 (got {U128})"),
    ("npm owed1 no liquidity", _npm(liquidity=0, tokens_owed1=U128), "tokens_owed1", f"must be a uint128 (got {U128})"),
    ("npm tick", _npm(tick_current=MAX_TICK + 1), "tick_current",
     f"must be in [{MIN_TICK}, {MAX_TICK}] (got {MAX_TICK + 1})"),
    # units
    ("from_raw decimals", lambda: from_raw(1, 256), "decimals", "must be a uint8 (got 256)"),
    ("to_raw decimals", lambda: to_raw("1", -1), "decimals", "must be a uint8 (got -1)"),
    ("to_raw not a number", lambda: to_raw("abc", 6), "amount", "not a number: 'abc'"),
    ("to_raw infinite", lambda: to_raw(math.inf, 6), "amount", "must be finite"),
    ("to_raw nan", lambda: to_raw("NaN", 6), "amount", "must be finite"),
    ("sp2p price", lambda: sqrt_price_x96_to_price(U160, 18, 6), "sqrt_price_x96", f"must be a uint160 (got {U160})"),
    ("sp2p d0", lambda: sqrt_price_x96_to_price(Q96, 256, 6), "decimals0", "must be a uint8 (got 256)"),
    ("sp2p d1", lambda: sqrt_price_x96_to_price(Q96, 18, -1), "decimals1", "must be a uint8 (got -1)"),
    ("sp2p d1 big", lambda: sqrt_price_x96_to_price(Q96, 18, 256), "decimals1", "must be a uint8 (got 256)"),
    ("to_raw decimals big", lambda: to_raw("1", 256), "decimals", "must be a uint8 (got 256)"),
    ("p2sp negative", lambda: price_to_sqrt_price_x96(-1.0, 18, 6), "price", "must be finite and > 0 (got -1.0)"),
    ("p2sp zero", lambda: price_to_sqrt_price_x96(0.0, 18, 6), "price", "must be finite and > 0 (got 0.0)"),
    ("p2sp nan", lambda: price_to_sqrt_price_x96(math.nan, 18, 6), "price", "must be finite and > 0 (got nan)"),
    ("p2sp range", lambda: price_to_sqrt_price_x96(1e40, 0, 0), "price", "sqrtPriceX96 out of uint160 range"),
    ("p2sp tiny", lambda: price_to_sqrt_price_x96(1e-70, 0, 0), "price", "sqrtPriceX96 out of uint160 range"),
    # lp_greeks
    ("g d0", lambda: lp_greeks(1.0, -10, 10, 1.0, decimals0=256), "decimals0", "must be a uint8 (got 256)"),
    ("g d1", lambda: lp_greeks(1.0, -10, 10, 1.0, decimals1=-1), "decimals1", "must be a uint8 (got -1)"),
    ("g liquidity negative", lambda: lp_greeks(-1.0, -10, 10, 1.0), "liquidity", "must be finite and >= 0"),
    ("g liquidity inf", lambda: lp_greeks(math.inf, -10, 10, 1.0), "liquidity", "must be finite and >= 0"),
    ("g spot zero", lambda: lp_greeks(1.0, -10, 10, 0.0), "spot", "must be finite and > 0"),
    ("g spot inf", lambda: lp_greeks(1.0, -10, 10, math.inf), "spot", "must be finite and > 0"),
    ("g tick low", lambda: lp_greeks(1.0, MIN_TICK - 1, 10, 1.0), "tick_lower",
     f"ticks must lie in [{MIN_TICK}, {MAX_TICK}]"),
    ("g tick high", lambda: lp_greeks(1.0, -10, MAX_TICK + 1, 1.0), "tick_lower",
     f"ticks must lie in [{MIN_TICK}, {MAX_TICK}]"),
    ("g order", lambda: lp_greeks([1.0, 1.0], [-10, 10], [10, 10], 1.0), "tick_lower", "must be < tick_upper"),
    # tick_math
    ("sqrt at tick float", lambda: get_sqrt_ratio_at_tick(1.0), "tick", "must be an int (got float)"),  # type: ignore[arg-type]
    ("sqrt at tick high", lambda: get_sqrt_ratio_at_tick(MAX_TICK + 1), "tick",
     f"|tick| must be <= {MAX_TICK} (got {MAX_TICK + 1})"),
    ("sqrt at tick low", lambda: get_sqrt_ratio_at_tick(MIN_TICK - 1), "tick",
     f"|tick| must be <= {MAX_TICK} (got {MIN_TICK - 1})"),
    ("tick at sqrt low", lambda: get_tick_at_sqrt_ratio(MIN_SQRT_RATIO - 1), "sqrt_price_x96",
     f"must be in [MIN_SQRT_RATIO, MAX_SQRT_RATIO) (got {MIN_SQRT_RATIO - 1})"),
    ("tick at sqrt high", lambda: get_tick_at_sqrt_ratio(MAX_SQRT_RATIO), "sqrt_price_x96",
     f"must be in [MIN_SQRT_RATIO, MAX_SQRT_RATIO) (got {MAX_SQRT_RATIO})"),
    ("tick at sqrt bool", lambda: get_tick_at_sqrt_ratio(True), "sqrt_price_x96", "must be an int (got bool)"),
    ("nut tick", lambda: nearest_usable_tick(MAX_TICK + 1, 60), "tick",
     f"must be in [{MIN_TICK}, {MAX_TICK}] (got {MAX_TICK + 1})"),
    ("nut tick low", lambda: nearest_usable_tick(MIN_TICK - 1, 60), "tick",
     f"must be in [{MIN_TICK}, {MAX_TICK}] (got {MIN_TICK - 1})"),
    ("nut tick type", lambda: nearest_usable_tick(0.5, 60), "tick", "must be an int (got float)"),  # type: ignore[arg-type]
    ("nut spacing", lambda: nearest_usable_tick(0, 0), "tick_spacing", "must be > 0 (got 0)"),
    ("nut spacing type", lambda: nearest_usable_tick(0, "60"), "tick_spacing",  # type: ignore[arg-type]
     "must be an int (got str)"),
    ("mul_div a", lambda: mul_div(-1, 1, 1), "a", "must be a uint256 (got -1)"),
    ("mul_div b", lambda: mul_div(1, 2**256, 1), "b", f"must be a uint256 (got {2**256})"),
    ("mul_div den", lambda: mul_div(1, 1, -1), "denominator", "must be a uint256 (got -1)"),
    ("mul_div den type", lambda: mul_div(1, 1, 1.0), "denominator", "must be an int (got float)"),  # type: ignore[arg-type]
    ("mul_div zero", lambda: mul_div(1, 1, 0), "denominator", "must be > 0"),
    ("mul_div overflow", lambda: mul_div(UINT256_MAX, 2, 1), "denominator", "result overflows uint256"),
    ("mul_div_up rounds past max", lambda: mul_div_rounding_up(UINT256_MAX - 1, 2**255 + 1, 2**255), "denominator",
     "result overflows uint256"),  # the floor is exactly UINT256_MAX, with a remainder
    ("mul_div_up overflow", lambda: mul_div_rounding_up(UINT256_MAX, UINT256_MAX, UINT256_MAX - 1), "denominator",
     "result overflows uint256"),
]


@pytest.mark.parametrize(("call", "argument", "message"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_names_the_argument(call: Callable[[], object], argument: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        call()
    assert exc.value.argument == argument
    assert str(exc.value) == f"{argument}: {message}"


def test_the_last_valid_value_on_each_bound_is_accepted() -> None:
    assert get_amount1_delta(U160 - 1, 0, U128 - 1, False) == ((U128 - 1) * (U160 - 1)) // Q96
    assert get_amount0_delta(1, U160 - 1, 1, True) > 0
    assert get_amount1_delta(0, 0, 0, True) == 0  # zero prices and liquidity are uints
    assert position_amounts(Q96, MIN_TICK, MIN_TICK, MAX_TICK, 0) == (0, 0)
    assert position_amounts(Q96, MAX_TICK, MIN_TICK, MAX_TICK, 1) == (0, get_amount1_delta(
        get_sqrt_ratio_at_tick(MIN_TICK), get_sqrt_ratio_at_tick(MAX_TICK), 1, False))
    # tick on the upper tick is above the range: inside = g - lo - (g - up) = up - lo
    m = UINT256_MAX
    assert fee_growth_inside(MAX_TICK, MIN_TICK, MAX_TICK, m, m, m, m, 5, 0) == (6, 1)
    assert collectable_fees(U128 - 1, 0, 0, 0, 0, U128 - 1, U128 - 1) == (U128 - 1, U128 - 1)
    assert npm_collect_amounts(**{**NPM, "liquidity": 0, "tokens_owed0": U128 - 1}) == (U128 - 1, 0)
    assert float(from_raw(255, 255)) == 255 * 10.0**-255
    assert to_raw("1", 0) == 1 and to_raw(Q96, 0) == Q96
    assert sqrt_price_x96_to_price(U160 - 1, 255, 0) > 0.0 and sqrt_price_x96_to_price(0, 0, 255) == 0.0
    assert price_to_sqrt_price_x96(1.0, 0, 0) == Q96 and price_to_sqrt_price_x96(1e-38, 0, 0) > 0
    assert price_to_sqrt_price_x96(1.0 / Q96**2, 0, 0) == 1  # the smallest sqrt price
    assert from_raw(2**70, 18).dtype == np.float64 and float(from_raw(2**70, 0)) == 2.0**70  # past int64
    g = lp_greeks(0.0, MIN_TICK, MAX_TICK, 1.0, decimals0=0, decimals1=30)
    assert float(g.value) == 0.0
    assert get_sqrt_ratio_at_tick(MAX_TICK) == MAX_SQRT_RATIO and get_sqrt_ratio_at_tick(MIN_TICK) == MIN_SQRT_RATIO
    assert get_tick_at_sqrt_ratio(MAX_SQRT_RATIO - 1) == MAX_TICK - 1
    assert get_tick_at_sqrt_ratio(MIN_SQRT_RATIO) == MIN_TICK
    assert nearest_usable_tick(MAX_TICK, 1) == MAX_TICK and nearest_usable_tick(MIN_TICK, 1) == MIN_TICK
    assert mul_div(UINT256_MAX, 1, 1) == UINT256_MAX and mul_div(0, 0, UINT256_MAX) == 0
    assert mul_div_rounding_up(UINT256_MAX, 1, 1) == UINT256_MAX
