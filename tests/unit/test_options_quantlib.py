"""Black-Scholes-Merton and Black-76 greeks against QuantLib on 10,000 random inputs each.

Tolerance: ``|ours - ql| <= 1e-9 |ql| + 1e-12 * scale`` (scale = spot for price,
vega and theta, 1 for delta, 1/spot for gamma): 1e-9 relative, or absolute
where the value is tiny.

Why the absolute floor is needed: QuantLib's ``CumulativeNormalDistribution``
computes ``0.5 (1 + erf(x / sqrt 2))``, which loses relative accuracy in the
lower tail (about 1e-16 absolute, i.e. up to ~5e-9 relative near N = 1e-8),
and its put delta is ``-1 + N(d1)``. Our tails are accurate (checked against
``math.erfc`` in ``test_options_normal.py`` and against a scalar reference
below); the oracle's are not, so tiny values are compared absolutely.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numpy.typing import NDArray

from keeper.core.options import black76_greeks, bs_greeks

ql = pytest.importorskip("QuantLib")

N = 10_000
F64 = NDArray[np.float64]


def _assert_close(name: str, ours: F64, ref: F64, scale: F64 | float) -> None:
    err = np.abs(ours - ref)
    allowed = 1e-9 * np.abs(ref) + 1e-12 * np.asarray(scale)
    bad = np.flatnonzero(err > allowed)
    assert bad.size == 0, (
        f"{name}: {bad.size} mismatches, e.g. ours={ours[bad[0]]!r} ql={ref[bad[0]]!r} at {bad[0]}"
    )


@pytest.fixture(scope="module")
def bsm_case() -> dict[str, F64]:
    rng = np.random.default_rng(20240601)
    days = rng.integers(1, 3 * 365, N)
    return {
        "spot": rng.uniform(20.0, 200.0, N),
        "strike": rng.uniform(20.0, 200.0, N),
        "days": days.astype(np.float64),
        "t": days / 365.0,
        "sigma": rng.uniform(0.03, 2.0, N),
        "r": rng.uniform(-0.02, 0.15, N),
        "q": rng.uniform(0.0, 0.10, N),
        "call": (rng.random(N) < 0.5).astype(np.float64),
    }


def _quantlib_bsm(c: dict[str, F64]) -> F64:
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    spot, rate, div, vol = ql.SimpleQuote(100.0), ql.SimpleQuote(0.0), ql.SimpleQuote(0.0), ql.SimpleQuote(0.2)
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(spot),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(div), dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, ql.QuoteHandle(rate), dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(vol), dc)),
    )
    engine = ql.AnalyticEuropeanEngine(process)
    out = np.empty((5, N))
    for i in range(N):
        spot.setValue(float(c["spot"][i]))
        rate.setValue(float(c["r"][i]))
        div.setValue(float(c["q"][i]))
        vol.setValue(float(c["sigma"][i]))
        kind = ql.Option.Call if c["call"][i] else ql.Option.Put
        option = ql.EuropeanOption(
            ql.PlainVanillaPayoff(kind, float(c["strike"][i])),
            ql.EuropeanExercise(today + int(c["days"][i])),
        )
        option.setPricingEngine(engine)
        out[:, i] = (option.NPV(), option.delta(), option.gamma(), option.vega(), option.theta())
    return out


def test_bsm_greeks_match_quantlib(bsm_case: dict[str, F64]) -> None:
    c = bsm_case
    ref = _quantlib_bsm(c)
    g = bs_greeks(c["spot"], c["strike"], c["t"], c["sigma"], c["r"], c["q"], c["call"] > 0)
    s = c["spot"]
    _assert_close("price", g.price, ref[0], s)
    _assert_close("delta", g.delta, ref[1], 1.0)
    _assert_close("gamma", g.gamma, ref[2], 1.0 / s)
    _assert_close("vega", g.vega, ref[3], s)
    _assert_close("theta", g.theta, ref[4], s)


def test_black76_greeks_match_quantlib_black_calculator() -> None:
    rng = np.random.default_rng(7)
    f = rng.uniform(20.0, 200.0, N)
    k = rng.uniform(20.0, 200.0, N)
    t = rng.uniform(0.005, 3.0, N)
    sig = rng.uniform(0.03, 2.0, N)
    r = rng.uniform(-0.02, 0.15, N)
    call = rng.random(N) < 0.5
    ref = np.empty((4, N))
    for i in range(N):
        kind = ql.Option.Call if call[i] else ql.Option.Put
        bc = ql.BlackCalculator(ql.PlainVanillaPayoff(kind, float(k[i])), float(f[i]),
                                float(sig[i] * math.sqrt(t[i])), float(math.exp(-r[i] * t[i])))
        ref[:, i] = (bc.value(), bc.deltaForward(), bc.gammaForward(), bc.vega(float(t[i])))
    g = black76_greeks(f, k, t, sig, r, call)
    _assert_close("price", g.price, ref[0], f)
    _assert_close("delta", g.delta, ref[1], 1.0)
    _assert_close("gamma", g.gamma, ref[2], 1.0 / f)
    _assert_close("vega", g.vega, ref[3], f)


def _scalar_reference(s: float, k: float, t: float, v: float, r: float, q: float, w: int) -> tuple[float, ...]:
    """Independent scalar BSM with ``math.erfc`` (accurate tails), for our own accuracy."""

    def cdf(x: float) -> float:
        return 0.5 * math.erfc(-x / math.sqrt(2.0))

    vs = v * math.sqrt(t)
    d1 = (math.log(s / k) + (r - q) * t) / vs + 0.5 * vs
    d2 = d1 - vs
    dq, df = math.exp(-q * t), math.exp(-r * t)
    pdf = math.exp(-0.5 * d1 * d1) / math.sqrt(2.0 * math.pi)
    return (w * dq * cdf(w * d1), dq * pdf / (s * vs), s * dq * pdf * math.sqrt(t),
            w * (s * dq * cdf(w * d1) - k * df * cdf(w * d2)))


def test_tails_accurate_against_erfc_reference() -> None:
    """Deep out-of-the-money deltas (down to 1e-250) keep ~1e-12 relative accuracy."""
    rng = np.random.default_rng(11)
    n = 2000
    s = np.full(n, 100.0)
    k = rng.uniform(10.0, 1000.0, n)
    t = rng.uniform(0.01, 2.0, n)
    v = rng.uniform(0.05, 1.0, n)
    call = rng.random(n) < 0.5
    g = bs_greeks(s, k, t, v, 0.01, 0.0, call)
    for i in range(n):
        delta, gamma, vega, _price = _scalar_reference(100.0, k[i], t[i], v[i], 0.01, 0.0, 1 if call[i] else -1)
        if abs(delta) > 1e-280:
            assert g.delta[i] == pytest.approx(delta, rel=1e-11)
        if gamma > 1e-280:
            assert g.gamma[i] == pytest.approx(gamma, rel=1e-11)
            assert g.vega[i] == pytest.approx(vega, rel=1e-11)
