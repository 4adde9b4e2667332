"""Heston pricing against QuantLib's analytic engine; seeded simulation is reproducible and martingale."""

from __future__ import annotations

import numpy as np
import pytest
import QuantLib as ql  # noqa: N813

from keeper.core.stochvol import HestonParams, heston_price, simulate_heston
from keeper.errors import InputError

P = HestonParams(v0=0.3, kappa=3.0, theta=0.36, xi=1.2, rho=-0.6)


@pytest.mark.parametrize("days", [10, 30, 365])
def test_heston_prices_match_quantlib(days: int) -> None:
    today = ql.Date(1, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    flat = ql.YieldTermStructureHandle(ql.FlatForward(today, 0.0, dc))
    proc = ql.HestonProcess(flat, flat, ql.QuoteHandle(ql.SimpleQuote(2000.0)), P.v0, P.kappa, P.theta, P.xi, P.rho)
    engine = ql.AnalyticHestonEngine(ql.HestonModel(proc), 1e-12, 100_000)
    strikes = np.array([1500.0, 1800.0, 2000.0, 2300.0, 2800.0])
    for is_call, kind in ((True, ql.Option.Call), (False, ql.Option.Put)):
        ref = []
        for k in strikes:
            opt = ql.VanillaOption(ql.PlainVanillaPayoff(kind, float(k)), ql.EuropeanExercise(today + days))
            opt.setPricingEngine(engine)
            ref.append(opt.NPV())
        mine = heston_price(P, 2000.0, strikes, days / 365.0, P.v0, is_call)
        np.testing.assert_allclose(mine, ref, atol=2e-5)


def test_simulation_is_seeded_and_spot_is_a_martingale() -> None:
    a = simulate_heston(P, 2000.0, 20_000, 10, 1 / 365, seed=4)
    b = simulate_heston(P, 2000.0, 20_000, 10, 1 / 365, seed=4)
    np.testing.assert_array_equal(a[0], b[0])
    spot = a[0][-1]
    assert abs(spot.mean() / 2000.0 - 1.0) < 3 * spot.std() / 2000.0 / np.sqrt(spot.size)
    assert np.all(a[1] >= 0)


def test_bad_parameters_are_named() -> None:
    with pytest.raises(InputError, match="rho"):
        HestonParams(0.1, 1.0, 0.1, 0.5, 1.0)
    with pytest.raises(InputError, match="xi"):
        HestonParams(0.1, 1.0, 0.1, 0.0, 0.0)
    with pytest.raises(InputError, match="t"):
        heston_price(P, 2000.0, 2000.0, 0.0, 0.1)
