"""Sizing rules the mutation run of keeper/core/sizing.py found untested (docs/mutation/group-e.md).

* The config checks' boundaries: ``band_pct`` of exactly 100 % and a ceiling equal to the floor are valid;
  every rejection names its rule in the message.
* float32 inputs (a backtest may keep its paths in float32) are widened to float64 before they meet a
  config threshold or a Python float: the band, the time trigger, the minimum trade and the trade itself
  are those of the same values in float64. Without the widening NumPy compares and subtracts at float32
  precision against the threshold rounded to float32.
"""

from __future__ import annotations

import numpy as np
import pytest

from keeper.core.sizing import (
    SizingConfig,
    TriggerConfig,
    band_half_width_array,
    compute_band,
    hedge_trades_array,
    min_trade_ok_array,
    ww_half_width_array,
)
from keeper.errors import InputError

# --------------------------------------------------------------------------- config boundaries


def test_band_pct_of_exactly_100_percent_is_valid() -> None:
    trig = TriggerConfig(trigger="pct_book", band_pct=100.0)
    # the whole book's value in units: 100 % of 6000 quote at spot 3000 = 2 units
    assert compute_band(trig, 0.0, 3000.0, 0.0, -6000.0, 0.0).half_width_units == 2.0
    with pytest.raises(InputError, match=r"band_pct: must be a percentage in \[0, 100\] \(2.0 = 2 %\), got 100.5"):
        TriggerConfig(trigger="pct_book", band_pct=100.5)


def test_ceiling_equal_to_the_floor_pins_the_half_width() -> None:
    trig = TriggerConfig(trigger="ww", floor_units=1.5, ceiling_units=1.5)
    assert compute_band(trig, 0.0, 3000.0, 1e-3, 1e6, 0.001).half_width_units == 1.5
    assert compute_band(trig, 0.0, 3000.0, 0.0, 1e6, 0.001).half_width_units == 1.5
    with pytest.raises(InputError, match=r"ceiling_units: 1.0 is below floor_units 1.5"):
        TriggerConfig(trigger="ww", floor_units=1.5, ceiling_units=1.0)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"trigger": "delta"}, "trigger: must be 'fixed', 'pct_book' or 'ww', got 'delta'"),
    ({"trigger": "fixed"}, "band_units: must be > 0 for a fixed band (or set floor_units)"),
    ({"trigger": "pct_book"}, "band_pct: must be > 0 for a pct_book band (or set floor_units)"),
])
def test_each_rejection_says_which_rule(kwargs: dict[str, str], message: str) -> None:
    with pytest.raises(InputError) as info:
        TriggerConfig(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


# --------------------------------------------------------------------------- float32 inputs

F32_BELOW = 0.7  # np.float32(0.7) = 0.69999998..., below 0.7 in float64 but equal to 0.7 in float32


def test_float32_units_below_the_minimum_trade_do_not_clear_it() -> None:
    assert float(np.float32(F32_BELOW)) < F32_BELOW
    units = np.array([F32_BELOW], dtype=np.float32)
    sizing = SizingConfig(min_trade_units=F32_BELOW)
    assert min_trade_ok_array(units, 3000.0, sizing).tolist() == [False]
    assert min_trade_ok_array(units.astype(np.float64), 3000.0, sizing).tolist() == [False]


def test_float32_elapsed_below_the_interval_is_not_due() -> None:
    interval = 3600.7
    elapsed = np.array([interval], dtype=np.float32)  # 3600.69995...
    assert float(elapsed[0]) < interval
    trig = TriggerConfig(trigger="fixed", band_units=1.0, max_interval_s=interval)
    args = (trig, SizingConfig(), 0.0, np.array([0.5]), np.array([3000.0]), 0.0, 1e6, 0.0)
    assert hedge_trades_array(*args, elapsed, np.array([1e9])).tolist() == [0.0]  # inside the band, not due yet
    assert hedge_trades_array(*args, np.array([interval]), np.array([1e9])).tolist() == [-0.5]  # due: to target


def test_float32_delta_trades_as_its_float64_value() -> None:
    delta = np.array([1.7, -2.3, 5.1], dtype=np.float32)
    trig = TriggerConfig(trigger="fixed", band_units=0.25)
    sizing = SizingConfig(hedge_to="target")
    common = (np.full(3, 3000.0), 0.0, 1e6, 0.0, np.inf, np.full(3, 1e9))
    got = hedge_trades_array(trig, sizing, 0.1, delta, *common)
    want = hedge_trades_array(trig, sizing, 0.1, delta.astype(np.float64), *common)
    assert got.dtype == np.float64
    assert got.tolist() == want.tolist()
    assert got.tolist() == [0.1 - float(d) for d in delta]


def test_float32_book_value_gives_the_float64_pct_band() -> None:
    book = np.array([12345.678, -98765.4321], dtype=np.float32)
    trig = TriggerConfig(trigger="pct_book", band_pct=3.0)
    got = band_half_width_array(trig, np.array([3000.0, 3000.0]), 0.0, book, 0.0)
    want = [3.0 / 100.0 * abs(float(b)) / 3000.0 for b in book]
    assert got.tolist() == want


def test_float32_cost_gives_the_float64_ww_band() -> None:
    k = np.array([0.0008, 0.0013, 0.0021], dtype=np.float32)  # 1.5 k is not exact in float32
    got = ww_half_width_array(3000.0, 2e-3, k, 1e-4)
    assert got.tolist() == ww_half_width_array(3000.0, 2e-3, k.astype(np.float64), 1e-4).tolist()
    assert got.tolist() == [float(np.cbrt(1.5 * float(kk) * 3000.0 * 2e-3 * 2e-3 / 1e-4)) for kk in k]
