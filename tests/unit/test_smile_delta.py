"""Smile-aware deltas: each flavour against a finite difference under the dynamics it assumes."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from keeper.core.book import book_risk
from keeper.core.hedge_types import Plan
from keeper.core.options import bs_delta, bs_price
from keeper.core.portfolio import OptionPosition, aggregate
from keeper.core.smile_delta import (
    DELTA_FLAVOURS,
    MinVarianceCoefficients,
    SmilePolicy,
    fit_min_variance,
    resolve_option_vols,
    smile_delta,
    with_vol_reasons,
)
from keeper.core.snapshot import OptionPosition as SnapOption
from keeper.core.snapshot import Snapshot, TokenMeta
from keeper.core.surface import SECONDS_PER_YEAR, SmileRow, SurfaceGrid, VolSurface, build_surface
from keeper.core.svi import SviParams, svi_total_variance
from keeper.errors import DegenerateSeriesError, InputError

AS_OF = 1_700_000_000
DAY = 86_400
S0 = 2000.0
MV = MinVarianceCoefficients(-0.25, 0.5, -0.4)


def surface(params: tuple[SviParams, SviParams] | None = None, rate: float = 0.0) -> VolSurface:
    p = params or (SviParams(0.01, 0.1, -0.5, 0.0, 0.2), SviParams(0.04, 0.15, -0.4, 0.02, 0.25))
    k = np.linspace(-0.8, 0.8, 13)
    rows = []
    for days, q in zip((30, 180), p, strict=True):
        t = days * DAY / SECONDS_PER_YEAR
        rows.append(SmileRow(AS_OF + days * DAY, tuple(S0 * np.exp(k)), tuple(np.sqrt(svi_total_variance(q, k) / t))))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return build_surface(SurfaceGrid("ETH", AS_OF, "strike", tuple(rows), S0, rate))


def flat() -> VolSurface:
    return surface((SviParams(0.36 * 30 / 365, 0.0, 0.0, 0.0, 0.1), SviParams(0.36 * 180 / 365, 0.0, 0.0, 0.0, 0.1)))


STRIKES = np.array([1500.0, 1800.0, 2000.0, 2300.0, 2700.0])
CALLS = np.array([False, False, True, True, True])
T = 0.2


def test_with_a_flat_surface_every_flavour_is_the_black_scholes_delta() -> None:
    src = resolve_option_vols("ETH", SmilePolicy(), 0.6, AS_OF, flat())
    vol, slope = src.vols(STRIKES, T, S0)
    np.testing.assert_allclose(vol, 0.6, rtol=1e-12)
    assert np.all(np.abs(slope) < 1e-12)
    bs = bs_delta(S0, STRIKES, T, 0.6, is_call=CALLS)
    for flavour in DELTA_FLAVOURS:
        d = smile_delta(flavour, S0, STRIKES, T, vol, CALLS, dvol_dk=slope,
                        mv=MinVarianceCoefficients(0.0, 0.0, 0.0))
        np.testing.assert_allclose(d.delta, bs, atol=1e-12)


def test_min_variance_fitted_where_vol_does_not_move_with_spot_is_black_scholes() -> None:
    rng = np.random.default_rng(3)
    n = 400
    s0 = S0 * np.exp(0.05 * rng.standard_normal(n))
    s1 = s0 * np.exp(0.02 * rng.standard_normal(n))
    k = S0 * np.exp(0.3 * rng.standard_normal(n))
    fit = fit_min_variance(s0, s1, k, np.full(n, T), np.full(n, 0.6), np.full(n, 0.6))
    d = smile_delta("min_variance", S0, STRIKES, T, 0.6, CALLS, mv=fit.coefficients)
    np.testing.assert_allclose(d.delta, bs_delta(S0, STRIKES, T, 0.6, is_call=CALLS), atol=1e-12)


def test_sticky_strike_is_the_derivative_with_the_strike_vol_fixed() -> None:
    s = surface()
    vol = s.implied_vol(s.log_moneyness(STRIKES, T, S0), T)
    d = smile_delta("sticky_strike", S0, STRIKES, T, vol, CALLS)
    h = 1e-3
    fd = (bs_price(S0 + h, STRIKES, T, vol, is_call=CALLS) - bs_price(S0 - h, STRIKES, T, vol, is_call=CALLS)) / (2 * h)
    np.testing.assert_allclose(d.delta, fd, atol=1e-7)
    assert np.all(d.adjustment == 0.0)


def test_sticky_moneyness_is_the_derivative_with_the_smile_moving_with_spot() -> None:
    s = surface()
    src = resolve_option_vols("ETH", SmilePolicy("sticky_moneyness"), 0.6, AS_OF, s)
    _, d = src.deltas(S0, STRIKES, T, CALLS)

    def price(spot: float) -> np.ndarray:  # sigma a function of K / F(spot)
        return bs_price(spot, STRIKES, T, s.implied_vol(s.log_moneyness(STRIKES, T, spot), T), is_call=CALLS)

    h = 1e-2
    fd = (price(S0 + h) - price(S0 - h)) / (2 * h)
    np.testing.assert_allclose(d.delta, fd, atol=1e-7)
    assert np.all(np.abs(d.adjustment) > 1e-4)  # a real smile: it differs from sticky strike
    _, slope = src.vols(STRIKES, T, S0)
    np.testing.assert_array_equal(np.sign(d.adjustment), -np.sign(slope))  # vega * (-dsigma/dk) / S


def test_min_variance_is_the_derivative_along_the_expected_vol_move() -> None:
    s = surface()
    vol = s.implied_vol(s.log_moneyness(STRIKES, T, S0), T)
    d = smile_delta("min_variance", S0, STRIKES, T, vol, CALLS, mv=MV)
    call_delta = bs_delta(S0, STRIKES, T, vol, is_call=True)

    def price(spot: float) -> np.ndarray:  # E[dsigma] = (a + b delta + c delta^2) dS / (S sqrt T)
        dvol = MV.poly(call_delta) * (spot - S0) / (S0 * math.sqrt(T))
        return bs_price(spot, STRIKES, T, vol + dvol, is_call=CALLS)

    h = 1e-2
    np.testing.assert_allclose(d.delta, (price(S0 + h) - price(S0 - h)) / (2 * h), atol=1e-7)
    vega = S0 * np.exp(-0.5 * ((np.log(S0 / STRIKES) + vol**2 * T / 2) / (vol * math.sqrt(T))) ** 2) \
        / math.sqrt(2 * math.pi) * math.sqrt(T)
    want = bs_delta(S0, STRIKES, T, vol, is_call=CALLS) + vega / (S0 * math.sqrt(T)) * MV.poly(call_delta)
    np.testing.assert_allclose(d.delta, want, rtol=1e-12)


def test_min_variance_delta_minimizes_the_hedged_variance_in_simulation() -> None:
    rng = np.random.default_rng(11)
    n, dt = 200_000, 1 / 365
    k, vol = 1800.0, 0.6
    c = float(bs_delta(S0, k, T, vol, is_call=False) + 1.0)  # the call delta of the strike
    ds = S0 * 0.6 * math.sqrt(dt) * rng.standard_normal(n)
    dvol = MV.poly(c) * ds / (S0 * math.sqrt(T)) + 0.01 * rng.standard_normal(n)
    df = bs_price(S0 + ds, k, T - dt, vol + dvol, is_call=False) - bs_price(S0, k, T, vol, is_call=False)
    ratio = float(np.cov(df, ds)[0, 1] / np.var(ds, ddof=1))  # the variance-minimizing hedge
    d = smile_delta("min_variance", S0, k, T, vol, False, mv=MV)
    assert ratio == pytest.approx(float(d.delta), abs=0.004)
    assert abs(ratio - float(d.bs_delta)) > 0.02


def test_min_variance_call_and_put_deltas_obey_parity() -> None:
    for q in (0.0, 0.03):
        c = smile_delta("min_variance", S0, STRIKES, T, 0.7, True, carry=q, mv=MV).delta
        p = smile_delta("min_variance", S0, STRIKES, T, 0.7, False, carry=q, mv=MV).delta
        np.testing.assert_allclose(c - p, math.exp(-q * T), rtol=1e-12)


def test_expired_options_get_no_adjustment_and_bad_flavours_are_named() -> None:
    d = smile_delta("min_variance", S0, [1900.0, 2100.0], [0.0, -0.1], 0.5, True, mv=MV)
    assert np.all(d.adjustment == 0.0)
    with pytest.raises(InputError, match="flavour"):
        smile_delta("sticky_delta", S0, 2000.0, T, 0.5)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="mv"):
        smile_delta("min_variance", S0, 2000.0, T, 0.5)
    with pytest.raises(InputError, match="mv"):
        SmilePolicy("min_variance")


def test_fit_min_variance_recovers_known_coefficients() -> None:
    rng = np.random.default_rng(5)
    n = 3000
    s0 = S0 * np.exp(0.1 * rng.standard_normal(n))
    s1 = s0 * np.exp(0.03 * rng.standard_normal(n))
    k = S0 * np.exp(0.25 * rng.standard_normal(n))
    t = rng.uniform(0.05, 0.5, n)
    v0 = rng.uniform(0.4, 0.9, n)
    dc = bs_delta(s0, k, t, v0, is_call=True)
    v1 = v0 + MV.poly(dc) * (s1 - s0) / (s0 * np.sqrt(t)) + 1e-4 * rng.standard_normal(n)
    fit = fit_min_variance(s0, s1, k, t, v0, v1)
    assert (fit.coefficients.a, fit.coefficients.b, fit.coefficients.c) == pytest.approx((MV.a, MV.b, MV.c), abs=0.01)
    assert fit.r_squared > 0.99 and fit.n > 2000
    with pytest.raises(DegenerateSeriesError):
        fit_min_variance(s0[:5], s0[:5], k[:5], t[:5], v0[:5], v1[:5])


# ----------------------------------------------------------------------------- vol source and book


def test_a_fresh_surface_is_used_and_a_stale_one_falls_back_with_spread() -> None:
    s = surface()
    pol = SmilePolicy("sticky_moneyness", max_age_s=600, fallback_spread=0.05)
    fresh = resolve_option_vols("ETH", pol, 0.6, AS_OF + 300, s)
    assert fresh.kind == "surface" and "age 300 s" in fresh.reason and "sticky_moneyness" in fresh.reason
    stale = resolve_option_vols("ETH", pol, 0.6, AS_OF + 601, s)
    assert stale.kind == "stale" and stale.fallback_vol == pytest.approx(0.65)
    assert "STALE (601 s old > max age 600 s)" in stale.reason and "60.0 % + fallback spread 5.0 vol pts = 65.0 %" \
        in stale.reason
    vol, slope = stale.vols(STRIKES, T, S0)
    assert np.all(vol == 0.65) and np.all(slope == 0.0)
    early = resolve_option_vols("ETH", pol, 0.6, AS_OF - 10, s)
    assert early.kind == "stale" and "after the block time" in early.reason
    gone = resolve_option_vols("ETH", pol, 0.6, AS_OF, None, problem="file vanished")
    assert gone.kind == "unavailable" and "file vanished" in gone.reason


def test_an_option_is_looked_up_at_its_own_expiry_date() -> None:
    s = surface()
    src = resolve_option_vols("ETH", SmilePolicy(), 0.6, AS_OF + 1800, s)
    t_now = 30 * DAY / SECONDS_PER_YEAR - 1800 / SECONDS_PER_YEAR  # expires on the first expiry
    vol, _ = src.vols(np.array([2000.0]), t_now, S0)
    assert float(vol[0]) == pytest.approx(float(s.implied_vol(0.0, s.slices[0].t)), rel=1e-12)


def _snapshot(now: int) -> Snapshot:
    usdc, weth = "0x" + "11" * 20, "0x" + "22" * 20
    opts = tuple(SnapOption("otc:x", i, "0xowner", "ETH", int(k * 1e8), AS_OF + 30 * DAY, not c, int(1e18), 0)
                 for i, (k, c) in enumerate(zip(STRIKES, CALLS, strict=True)))
    return Snapshot(1, 1, now, ("0xowner",), {usdc: TokenMeta(usdc, "USDC", 6), weth: TokenMeta(weth, "WETH", 18)},
                    {}, (), opts, {}, (), {}, {}, {})


@pytest.mark.parametrize("flavour", DELTA_FLAVOURS)
def test_the_book_values_each_option_on_the_surface_with_its_flavour(flavour: str) -> None:
    snap = _snapshot(AS_OF + 60)
    src = resolve_option_vols("ETH", SmilePolicy(flavour, mv=MV), 0.6, snap.block_timestamp, surface())  # type: ignore[arg-type]
    tokens, usdc = {"ETH": "0x" + "22" * 20}, "0x" + "11" * 20
    risk = book_risk(snap, tokens, usdc, {"ETH": S0}, {"ETH": 0.6}, smiles={"ETH": src})
    plain = book_risk(snap, tokens, usdc, {"ETH": S0}, {"ETH": 0.6})
    t = (AS_OF + 30 * DAY - snap.block_timestamp) / SECONDS_PER_YEAR
    vol, d = src.deltas(S0, STRIKES, t, CALLS)
    assert risk.summaries["ETH"].delta == pytest.approx(float(d.delta.sum()), rel=1e-12)
    assert plain.summaries["ETH"].delta == pytest.approx(float(bs_delta(S0, STRIKES, t, 0.6, is_call=CALLS).sum()))
    assert [round(p.vol, 12) for p in risk.positions if isinstance(p, OptionPosition)] == [round(v, 12) for v in vol]
    assert risk.smiles["ETH"] is src


def test_aggregate_adds_the_delta_adjustment() -> None:
    base = OptionPosition("ETH", 2.0, 2100.0, 0.1, True, 0.5)
    adj = OptionPosition("ETH", 2.0, 2100.0, 0.1, True, 0.5, delta_adjustment=-0.03)
    a, b = aggregate([base], {"ETH": S0})["ETH"], aggregate([adj], {"ETH": S0})["ETH"]
    assert b.delta - a.delta == pytest.approx(-0.06) and b.gamma == a.gamma and b.value == a.value


def test_plan_reasons_say_the_vol_source_first() -> None:
    from keeper.core.hedge_types import Decision
    from keeper.core.reasons import Reason
    from keeper.core.sizing import Band

    d = Decision("ETH", None, "none", 1.0, 0.0, 1.0, Band("fixed", 0.0, 2.0, 2.0), 0.0, 0.0,
                 (Reason.of("inside_band", "inside"),), ())
    stale = resolve_option_vols("ETH", SmilePolicy(fallback_spread=0.02), 0.6, AS_OF + 99_999, surface())
    plan = with_vol_reasons(Plan((d,)), {"ETH": stale})
    assert plan.decisions[0].reason_codes == ("vol_surface_stale", "inside_band")
    assert "STALE" in plan.decisions[0].reasons[0].text and "delta flavour sticky_strike" in \
        plan.decisions[0].reasons[0].text
    assert with_vol_reasons(Plan((d,)), {}) == Plan((d,))


def test_an_option_on_a_surface_with_a_rate_is_looked_up_at_its_own_forward() -> None:
    """k = ln(K / (S e^{r t})) with t the option's years left, not the years since the surface's as_of."""
    base = surface()
    s = VolSurface(base.underlying, base.as_of, base.slices, 0.05, base.spot)
    elapsed = 30 * DAY
    src = resolve_option_vols("ETH", SmilePolicy(max_age_s=60 * DAY), 0.6, AS_OF + elapsed, s)
    t = 60 * DAY / SECONDS_PER_YEAR
    vol, _ = src.vols(STRIKES, t, S0)
    k = np.log(STRIKES / (S0 * math.exp(0.05 * t)))
    np.testing.assert_allclose(vol, s.implied_vol(k, t + elapsed / SECONDS_PER_YEAR), rtol=1e-12)


def test_plan_reasons_list_the_vol_of_each_option() -> None:
    from keeper.core.hedge_types import Decision
    from keeper.core.reasons import Reason
    from keeper.core.sizing import Band

    d = Decision("ETH", None, "none", 1.0, 0.0, 1.0, Band("fixed", 0.0, 2.0, 2.0), 0.0, 0.0,
                 (Reason.of("inside_band", "inside"),), ())
    src = resolve_option_vols("ETH", SmilePolicy(), 0.6, AS_OF + 60, surface())
    opts = (OptionPosition("ETH", -50.0, 2300.0, 0.1, True, 0.5812), OptionPosition("ETH", 100.0, 1800.0, 0.1, False,
                                                                                      0.6633),
            OptionPosition("BTC", 1.0, 50_000.0, 0.1, False, 0.5))
    text = with_vol_reasons(Plan((d,)), {"ETH": src}, opts).decisions[0].reasons[0].text
    assert text.endswith("; option vols: short 50 call K 2,300 T 36.50 d 58.12 %, long 100 put K 1,800 T 36.50 d "
                         "66.33 %")
