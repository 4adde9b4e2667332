"""The vectorized sizing rules (the backtest's twins of the keeper's) at their edges: broadcasting of a
fixed band, the minimum trade's boundaries, caps below one unit in floating point, a delta exactly on
the band edge, and no negative zeros."""

from __future__ import annotations

import numpy as np

from keeper.core.sizing import (
    SizingConfig,
    TriggerConfig,
    band_half_width_array,
    hedge_trades_array,
    min_trade_ok_array,
    units_within_array,
)

FIXED = TriggerConfig(trigger="fixed", band_units=2.0)


def test_a_fixed_band_broadcasts_spot_and_gamma() -> None:
    assert band_half_width_array(FIXED, np.array([1.0, 2.0, 3.0]), 0.0, 1e6, 0.0).tolist() == [2.0, 2.0, 2.0]
    assert band_half_width_array(FIXED, 3000.0, np.zeros((2, 1)), 1e6, 0.0).shape == (2, 1)
    assert band_half_width_array(FIXED, np.ones(3), np.zeros((2, 1)), 1e6, 0.0).shape == (2, 3)


def test_minimum_trade_boundaries() -> None:
    none = SizingConfig()
    assert min_trade_ok_array(np.array([0.0, 1e-12]), 3000.0, none).tolist() == [False, True]
    units = SizingConfig(min_trade_units=0.5)
    assert min_trade_ok_array(np.array([0.5, np.nextafter(0.5, 0.0)]), 3000.0, units).tolist() == [True, False]
    quote = SizingConfig(min_trade_usd=1500.0)
    assert min_trade_ok_array(np.array([0.5, 0.4]), 3000.0, quote).tolist() == [True, False]


def test_units_within_a_cap_below_one_unit() -> None:
    cap, price = 0.9848689455787065, 6.338653573420518  # cap / price * price > cap in floating point
    assert (cap / price) * price > cap
    u = units_within_array(np.array([cap]), np.array([price]))
    assert u[0] * price <= cap and u[0] == np.nextafter(cap / price, 0.0)


def test_a_delta_on_the_band_edge_is_not_traded_and_no_trade_is_negative_zero() -> None:
    to_target = SizingConfig(hedge_to="target")
    delta = np.array([2.0, -2.0, 1.0, 2.5])  # band 0 +/- 2
    trades = hedge_trades_array(FIXED, to_target, 0.0, delta, 3000.0, 0.0, 1e6, 0.0, np.inf, np.inf)
    assert trades.tolist() == [0.0, 0.0, 0.0, -2.5]
    assert not np.any(np.signbit(trades[:3])), "no -0.0"
