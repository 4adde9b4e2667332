"""Implied volatility: round trips, no-arbitrage flags, edge cases, properties."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.core.implied_vol import IVStatus, implied_vol_black76, implied_vol_bs
from keeper.core.options import black76_price, bs_price, bs_vega
from keeper.errors import InputError


def test_round_trip_recovers_vol_on_20k_random_options() -> None:
    """Where vega > 1e-4 * spot the vol comes back to 1e-10; prices always reproduce to 1e-12 of spot."""
    rng = np.random.default_rng(99)
    n = 20_000
    s, k = 100.0, rng.uniform(40.0, 250.0, n)
    t, sig = rng.uniform(0.01, 3.0, n), rng.uniform(0.03, 2.5, n)
    r, q = 0.03, 0.01
    call = rng.random(n) < 0.5
    price = bs_price(s, k, t, sig, r, q, call)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = implied_vol_bs(price, s, k, t, r, q, call)
    assert res.vol.shape == (n,)
    assert np.all(res.ok)
    assert res.iterations <= 50
    solved = res.status == IVStatus.OK
    vega = bs_vega(s, k, t, sig, r, q, call)
    good = solved & (vega > 1e-4 * s)
    assert good.sum() > 0.9 * n
    np.testing.assert_allclose(res.vol[good], sig[good], rtol=1e-10)
    repriced = bs_price(s, k, t, np.where(res.ok, res.vol, 0.0), r, q, call)
    np.testing.assert_allclose(repriced, price, rtol=0, atol=1e-12 * s)


def test_black76_round_trip() -> None:
    rng = np.random.default_rng(5)
    f, k = rng.uniform(50, 150, 5000), rng.uniform(50, 150, 5000)
    t, sig = rng.uniform(0.05, 2.0, 5000), rng.uniform(0.1, 1.5, 5000)
    put = rng.random(5000) < 0.5
    price = black76_price(f, k, t, sig, 0.04, ~put)
    res = implied_vol_black76(price, f, k, t, 0.04, ~put)
    assert np.all(res.ok)
    informative = bs_vega(f, k, t, sig, 0.04, 0.04, ~put) > 1e-4 * f
    assert informative.sum() > 4000
    np.testing.assert_allclose(res.vol[informative], sig[informative], rtol=1e-10)


def test_prices_outside_bounds_are_flagged_nan_not_raised() -> None:
    s, k, t = 100.0, np.array([100.0, 100.0, 100.0, 80.0, 100.0, 120.0]), 1.0
    price = np.array([-1.0, 0.0, 100.0, 19.0, 150.0, 10.0])
    call = np.array([True, True, True, True, True, False])
    res = implied_vol_bs(price, s, k, t, 0.0, 0.0, call)
    expected = [IVStatus.BELOW_INTRINSIC, IVStatus.AT_INTRINSIC, IVStatus.ABOVE_UPPER_BOUND,
                IVStatus.BELOW_INTRINSIC, IVStatus.ABOVE_UPPER_BOUND, IVStatus.BELOW_INTRINSIC]
    np.testing.assert_array_equal(res.status, expected)
    assert res.vol[1] == 0.0
    assert np.all(np.isnan(res.vol[[0, 2, 3, 4, 5]]))
    np.testing.assert_array_equal(res.ok, [False, True, False, False, False, False])
    np.testing.assert_array_equal(res.arbitrage, [True, False, True, True, True, True])


def test_invalid_elements_are_flagged() -> None:
    res = implied_vol_bs([5.0, 5.0, math.nan, 5.0], [100.0, -1.0, 100.0, 100.0], 100.0,
                         [1.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(res.status, [IVStatus.OK] + [IVStatus.INVALID_INPUT] * 3)
    assert res.vol[0] == pytest.approx(0.12541, abs=1e-4)


def test_scalar_input_and_bad_shapes() -> None:
    res = implied_vol_bs(float(bs_price(100.0, 110.0, 0.5, 0.4)), 100.0, 110.0, 0.5)
    assert res.vol.shape == ()
    assert float(res.vol) == pytest.approx(0.4, rel=1e-12)
    with pytest.raises(InputError):
        implied_vol_bs(np.ones(3), np.ones(2), 1.0, 1.0)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.3, 3.0), st.floats(0.01, 4.0), st.floats(0.05, 2.0), st.booleans())
def test_round_trip_property(moneyness: float, t: float, sig: float, call: bool) -> None:
    k = 100.0 * moneyness
    price = float(bs_price(100.0, k, t, sig, 0.02, 0.0, call))
    res = implied_vol_bs(price, 100.0, k, t, 0.02, 0.0, call)
    if float(bs_vega(100.0, k, t, sig, 0.02, 0.0, call)) > 1e-3:
        assert int(res.status) == IVStatus.OK
        assert float(res.vol) == pytest.approx(sig, rel=1e-8)
    else:  # too little time value to tell vols apart: the price must still reproduce
        assert bool(res.ok)
        again = float(bs_price(100.0, k, t, float(res.vol), 0.02, 0.0, call))
        assert again == pytest.approx(price, abs=1e-10)
