"""lp_greeks widens its inputs to float64 before any arithmetic (found by the mutation run of
keeper/core/lp_math.py, docs/mutation/group-e.md).

A float32 array (a backtest may keep its paths in float32) meets Python floats in lp_greeks (the decimals
factor ``c``, ``0.5 ln 1.0001``, ``-0.5``); NumPy 2 keeps such a product in float32, which would round the
pool price, the range bounds and the gamma to 7 digits. Each input given as float32 must give exactly the
greeks of the same values given as float64, in both orientations and with unequal decimals (``c = 1e-12``).
"""

from __future__ import annotations

import numpy as np
import pytest

from keeper.core.lp_math import LPGreeks, lp_greeks

LIQ = [2.5e15, 7.1e14, 3.3e15]
LOWER = [-201_360.0, -198_000.0, -205_020.0]  # WETH/USDC-like ticks (token0 WETH, 18/6 decimals)
UPPER = [-195_060.0, -194_520.0, -196_740.0]
SPOT = [3012.34, 2987.65, 3100.01]  # inside, inside, inside/near the edges


def _as_lists(g: LPGreeks) -> list[list[float]]:
    return [g.value.tolist(), g.delta.tolist(), g.gamma.tolist(), g.amount0.tolist(), g.amount1.tolist()]


@pytest.mark.parametrize("underlying_is_token0", [True, False])
@pytest.mark.parametrize("which", ["liquidity", "tick_lower", "tick_upper", "spot"])
def test_a_float32_input_gives_the_greeks_of_its_float64_values(which: str, underlying_is_token0: bool) -> None:
    lower, upper = (LOWER, UPPER) if underlying_is_token0 else ([-u for u in UPPER], [-lo for lo in LOWER])
    args64 = {"liquidity": np.array(LIQ), "tick_lower": np.array(lower), "tick_upper": np.array(upper),
              "spot": np.array(SPOT)}
    args32 = dict(args64)
    args32[which] = args64[which].astype(np.float32)
    args64[which] = args32[which].astype(np.float64)  # the float32 values, exactly, in float64
    d0, d1 = (18, 6) if underlying_is_token0 else (6, 18)
    want = lp_greeks(**args64, underlying_is_token0=underlying_is_token0, decimals0=d0, decimals1=d1)
    got = lp_greeks(**args32, underlying_is_token0=underlying_is_token0, decimals0=d0, decimals1=d1)
    assert all(a.dtype == np.float64 for a in (got.value, got.delta, got.gamma, got.amount0, got.amount1))
    assert float(np.min(want.gamma)) < 0.0  # in range: the gamma path is exercised
    assert _as_lists(got) == _as_lists(want)
