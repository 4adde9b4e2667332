"""Portfolio aggregation and the full-revaluation scenario grid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.core.lp_math import lp_greeks
from keeper.core.options import bs_greeks, bs_price
from keeper.core.portfolio import (
    DEFAULT_SPOT_SHOCKS,
    DEFAULT_VOL_SHOCKS,
    LPPosition,
    OptionPosition,
    PerpPosition,
    Position,
    SpotHolding,
    aggregate,
    scenario_grid,
)
from keeper.errors import InputError

SPOTS = {"ETH": 3000.0, "BTC": 60_000.0}
LP = LPPosition("ETH", 4e15, -201_000, -193_000, True, 18, 6, fees_underlying=0.25, fees_quote=120.0)
BOOK: list[Position] = [
    OptionPosition("ETH", -10.0, 3100.0, 30 / 365, True, 0.65, rate=0.04),
    OptionPosition("ETH", 4.0, 2800.0, 60 / 365, False, 0.70, rate=0.04),
    LP,
    PerpPosition("ETH", -2.5, 2950.0),
    SpotHolding("ETH", 1.5),
    OptionPosition("BTC", 1.0, 62_000.0, 0.25, True, 0.5),
]


def test_aggregate_sums_each_instrument() -> None:
    risk = aggregate(BOOK, SPOTS)
    assert set(risk) == {"BTC", "ETH"}
    eth = risk["ETH"]
    c = bs_greeks(3000.0, 3100.0, 30 / 365, 0.65, 0.04, 0.0, True)
    p = bs_greeks(3000.0, 2800.0, 60 / 365, 0.70, 0.04, 0.0, False)
    lp = lp_greeks(LP.liquidity, LP.tick_lower, LP.tick_upper, 3000.0, decimals0=18, decimals1=6)
    delta = -10 * float(c.delta) + 4 * float(p.delta) + float(lp.delta) + 0.25 - 2.5 + 1.5
    gamma = -10 * float(c.gamma) + 4 * float(p.gamma) + float(lp.gamma)
    value = (-10 * float(c.price) + 4 * float(p.price) + float(lp.value) + 0.25 * 3000 + 120
             - 2.5 * (3000 - 2950) + 1.5 * 3000)
    assert eth.delta == pytest.approx(delta, rel=1e-12)
    assert eth.delta_quote == pytest.approx(delta * 3000.0, rel=1e-12)
    assert eth.gamma == pytest.approx(gamma, rel=1e-12)
    assert eth.gamma_quote == pytest.approx(gamma * 3000.0**2 / 100, rel=1e-12)
    assert eth.vega == pytest.approx(-10 * float(c.vega) + 4 * float(p.vega), rel=1e-12)
    assert eth.theta == pytest.approx(-10 * float(c.theta) + 4 * float(p.theta), rel=1e-12)
    assert eth.value == pytest.approx(value, rel=1e-12)
    assert float(lp.gamma) < 0.0  # the LP is short gamma


def test_grid_is_full_revaluation() -> None:
    grid = scenario_grid(BOOK, SPOTS)["ETH"]
    assert grid.pnl.shape == (len(DEFAULT_SPOT_SHOCKS), len(DEFAULT_VOL_SHOCKS))
    zero = (DEFAULT_SPOT_SHOCKS.index(0.0), DEFAULT_VOL_SHOCKS.index(0.0))
    assert grid.pnl[zero] == pytest.approx(0.0, abs=1e-9)
    i, j = DEFAULT_SPOT_SHOCKS.index(-0.30), DEFAULT_VOL_SHOCKS.index(0.50)
    s1 = 3000.0 * 0.7
    expected = (
        -10 * (bs_price(s1, 3100.0, 30 / 365, 0.65 * 1.5, 0.04) - bs_price(3000.0, 3100.0, 30 / 365, 0.65, 0.04))
        + 4 * (bs_price(s1, 2800.0, 60 / 365, 1.05, 0.04, 0.0, False)
               - bs_price(3000.0, 2800.0, 60 / 365, 0.70, 0.04, 0.0, False))
        + (lp_greeks(LP.liquidity, LP.tick_lower, LP.tick_upper, s1, decimals0=18, decimals1=6).value
           - lp_greeks(LP.liquidity, LP.tick_lower, LP.tick_upper, 3000.0, decimals0=18, decimals1=6).value)
        + 0.25 * (s1 - 3000.0) - 2.5 * (s1 - 3000.0) + 1.5 * (s1 - 3000.0)
    )
    assert grid.pnl[i, j] == pytest.approx(float(expected), rel=1e-12)
    assert grid.worst == float(np.min(grid.pnl))


def test_taylor_agrees_for_small_moves_and_hides_jump_risk() -> None:
    short_straddle = [OptionPosition("ETH", -100.0, 3000.0, 7 / 365, True, 0.6),
                      OptionPosition("ETH", -100.0, 3000.0, 7 / 365, False, 0.6)]
    grid = scenario_grid(short_straddle, SPOTS, spot_shocks=(-0.3, -0.01, 0.0, 0.01, 0.3), vol_shocks=(0.0,))["ETH"]
    full, taylor = grid.pnl[:, 0], grid.taylor_pnl[:, 0]
    assert full[1] == pytest.approx(taylor[1], rel=0.05)
    assert full[3] == pytest.approx(taylor[3], rel=0.05)
    # a 30 % jump: the quadratic overstates a straddle's loss (its payoff is linear far out) ...
    assert full[0] > taylor[0]
    assert abs(full[0] - taylor[0]) > 0.25 * abs(taylor[0])
    # ... and badly understates a short out-of-the-money call's: delta -1.6 hides a 32k loss
    wing = scenario_grid([OptionPosition("ETH", -100.0, 3600.0, 7 / 365, True, 0.6)], SPOTS,
                         spot_shocks=(0.3,), vol_shocks=(0.0,))["ETH"]
    assert wing.pnl[0, 0] < 3 * wing.taylor_pnl[0, 0] < 0.0


def test_linear_positions_exact() -> None:
    grid = scenario_grid([SpotHolding("BTC", 2.0), PerpPosition("BTC", -0.5, 61_000.0)], SPOTS,
                         spot_shocks=(-0.2, 0.1), vol_shocks=(0.0, 0.5))
    np.testing.assert_allclose(grid["BTC"].pnl, [[-18_000.0, -18_000.0], [9_000.0, 9_000.0]], rtol=1e-14)
    np.testing.assert_allclose(grid["BTC"].taylor_pnl, grid["BTC"].pnl, rtol=1e-14)


def test_errors() -> None:
    with pytest.raises(InputError):
        aggregate(BOOK, {"ETH": 3000.0})
    with pytest.raises(InputError):
        aggregate(BOOK, {"ETH": math.nan, "BTC": 1.0})
    with pytest.raises(InputError):
        scenario_grid(BOOK, SPOTS, spot_shocks=(-1.0,))
    with pytest.raises(InputError):
        scenario_grid(BOOK, SPOTS, vol_shocks=())
    assert aggregate([], SPOTS) == {}
