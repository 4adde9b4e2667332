"""Heston delta, dC/dv and the model's own minimum-variance delta: against QuantLib's prices bumped, parity, the
flat-vol limit, and the regression slope of dC on dS over one short step of simulated paths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import QuantLib as ql  # noqa: N813

from keeper.core.options import bs_delta
from keeper.core.stochvol import HestonParams, heston_greeks, heston_price, simulate_heston

P = HestonParams(v0=0.3, kappa=3.0, theta=0.36, xi=1.2, rho=-0.6)
STRIKES = np.array([1500.0, 1800.0, 2000.0, 2300.0, 2800.0])


def _ql_prices(spot: float, v0: float, days: int, is_call: bool) -> np.ndarray:
    today = ql.Date(1, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    flat = ql.YieldTermStructureHandle(ql.FlatForward(today, 0.0, dc))
    proc = ql.HestonProcess(flat, flat, ql.QuoteHandle(ql.SimpleQuote(spot)), v0, P.kappa, P.theta, P.xi, P.rho)
    engine = ql.AnalyticHestonEngine(ql.HestonModel(proc), 1e-12, 100_000)
    out = []
    for k in STRIKES:
        kind = ql.Option.Call if is_call else ql.Option.Put
        opt = ql.VanillaOption(ql.PlainVanillaPayoff(kind, float(k)), ql.EuropeanExercise(today + days))
        opt.setPricingEngine(engine)
        out.append(opt.NPV())
    return np.array(out)


@pytest.mark.parametrize(("days", "is_call"), [(10, True), (30, False), (365, True)])
def test_delta_and_dv_match_quantlib_bumped(days: int, is_call: bool) -> None:
    g = heston_greeks(P, 2000.0, STRIKES, days / 365.0, P.v0, is_call)
    hs, hv = 0.5, 1e-4
    fd_delta = (_ql_prices(2000.0 + hs, P.v0, days, is_call) - _ql_prices(2000.0 - hs, P.v0, days, is_call)) / (2 * hs)
    fd_dv = (_ql_prices(2000.0, P.v0 + hv, days, is_call) - _ql_prices(2000.0, P.v0 - hv, days, is_call)) / (2 * hv)
    np.testing.assert_allclose(g.delta, fd_delta, atol=2e-5)
    np.testing.assert_allclose(g.dv, fd_dv, rtol=1e-4, atol=1e-2)
    assert np.all(g.dv > 0.0)  # more variance, dearer option
    np.testing.assert_allclose(g.min_variance, g.delta + P.rho * P.xi / 2000.0 * g.dv, rtol=0, atol=1e-15)


def test_parity_and_correlation() -> None:
    spot = np.array([1800.0, 2000.0, 2400.0])[:, None]
    call = heston_greeks(P, spot, STRIKES, 0.1, 0.25, True)
    put = heston_greeks(P, spot, STRIKES, 0.1, 0.25, False)
    np.testing.assert_allclose(call.delta - put.delta, 1.0, atol=1e-12)
    np.testing.assert_allclose(call.dv, put.dv, rtol=1e-12)
    assert call.delta.shape == (3, 5)
    # rho < 0: spot up, variance down, so the option gains less than its delta says
    assert np.all(call.min_variance < call.delta)
    flat = HestonParams(P.v0, P.kappa, P.theta, P.xi, 0.0)
    g0 = heston_greeks(flat, spot, STRIKES, 0.1, 0.25, True)
    np.testing.assert_array_equal(g0.min_variance, g0.delta)


def test_tiny_vol_of_vol_is_black_scholes() -> None:
    p = HestonParams(v0=0.36, kappa=3.0, theta=0.36, xi=1e-4, rho=-0.6)
    g = heston_greeks(p, 2000.0, STRIKES, 30 / 365, 0.36, True)
    np.testing.assert_allclose(g.delta, bs_delta(2000.0, STRIKES, 30 / 365, 0.6, 0.0, 0.0, True), atol=1e-5)
    np.testing.assert_allclose(g.min_variance, g.delta, atol=1e-5)


def test_min_variance_delta_is_the_regression_slope_over_a_short_step() -> None:
    """From one (S, v), one hour of Heston paths: the slope of dC on dS is the minimum-variance delta, not the
    plain Heston delta, and hedging with it leaves the least variance."""
    s0, strike, t = 2000.0, 2100.0, 30 / 365
    g = heston_greeks(P, s0, strike, t, P.v0, True)
    dt = 1 / (365 * 24)
    spot, var = simulate_heston(P, s0, 40_000, 1, dt, seed=7, substeps=4)
    dc = heston_price(P, spot[1], strike, t - dt, var[1], True) - float(heston_price(P, s0, strike, t, P.v0, True))
    ds = spot[1] - s0
    slope = float(np.cov(dc, ds)[0, 1] / np.var(ds, ddof=1))
    assert slope == pytest.approx(float(g.min_variance), abs=0.01)
    assert abs(float(g.delta) - float(g.min_variance)) > 0.05  # the two are told apart at this tolerance
    var_mv, var_plain = np.var(dc - g.min_variance * ds), np.var(dc - g.delta * ds)
    assert var_mv < var_plain and math.isfinite(var_mv)
