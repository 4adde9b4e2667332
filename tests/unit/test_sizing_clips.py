"""Sizing at its edges: which cap limits a clip when a need equals a cap, the rolling window's
boundary and reopening time, the band record of a WW band, and the exact messages of bad sizing input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.core.sizing import (
    Clip,
    PastHedge,
    SizingConfig,
    TriggerConfig,
    clip_size,
    compute_band,
    hedge_to_band_array,
    window_reopens_in_s,
)
from keeper.errors import InputError


def test_a_need_equal_to_a_cap_is_not_limited() -> None:
    assert clip_size(10.0, 100.0, 1000.0, math.inf) == Clip(10.0, 10.0, 0.0, "none", math.inf)
    assert clip_size(5.0, 100.0, math.inf, 500.0) == Clip(5.0, 5.0, 0.0, "none", 500.0)
    assert clip_size(1.0, 100.0, 1000.0, 2000.0) == Clip(1.0, 1.0, 0.0, "none", 2000.0)


def test_the_binding_cap_is_named_with_what_remains() -> None:
    assert clip_size(30.0, 100.0, 1000.0, 2000.0) == Clip(30.0, 10.0, 20.0, "max_trade", 2000.0)
    assert clip_size(30.0, 100.0, 2000.0, 500.0) == Clip(30.0, 5.0, 25.0, "window", 500.0)
    # both caps bind equally: the max-per-trade cap is reported
    assert clip_size(30.0, 100.0, 1000.0, 1000.0) == Clip(30.0, 10.0, 20.0, "max_trade", 1000.0)


def test_window_boundary_and_reopening_time() -> None:
    now, window = 10_000.0, 3600.0
    assert window_reopens_in_s([], now, window) == 0.0
    # a fill exactly at now - window has left the window
    assert window_reopens_in_s([PastHedge(now - window, 500.0)], now, window) == 0.0
    assert window_reopens_in_s([PastHedge(now - window, 500.0), PastHedge(now - 100.0, 1.0)], now, window) == 3500.0
    assert window_reopens_in_s([PastHedge(now - window + 0.5, 1.0)], now, window) == 0.5


def test_trades_inside_the_band_are_plain_zeros() -> None:
    out = hedge_to_band_array(np.array([1.0, -1.0]), 0.0, 2.0)
    assert out.tolist() == [0.0, 0.0] and not np.any(np.signbit(out)), "no -0.0"


def test_a_ww_band_records_its_cost_and_gamma() -> None:
    band = compute_band(TriggerConfig(trigger="ww", risk_aversion_per_usd=1e-4), 0.0, 3000.0, 2e-3, 1e6, 0.003)
    assert (band.kind, band.k_fraction, band.gamma_units_per_quote) == ("ww", 0.003, 2e-3)
    assert band.half_width_units == band.raw_half_width_units == pytest.approx((1.5 * 0.003 * 3000 * 4e-6 / 1e-4)
                                                                              ** (1 / 3), rel=1e-12)


def test_bad_sizing_names_the_field() -> None:
    with pytest.raises(InputError) as exc:
        SizingConfig(hedge_to="middle")  # type: ignore[arg-type]
    assert str(exc.value) == "hedge_to: must be 'edge' or 'target', got 'middle'"
    with pytest.raises(InputError) as exc:
        SizingConfig(min_trade_usd=100.0, max_trade_usd=99.0)
    assert str(exc.value) == "max_trade_usd: 99.0 is below min_trade_usd 100.0: nothing could ever trade"
    assert SizingConfig(min_trade_usd=100.0, max_trade_usd=100.0).max_trade_usd == 100.0
    with pytest.raises(InputError) as exc:
        hedge_to_band_array(1.0, 0.0, 1.0, "middle")  # type: ignore[arg-type]
    assert exc.value.argument == "hedge_to"
    assert str(exc.value) == "hedge_to: must be 'edge' or 'target', got 'middle'"
