"""Smile deltas at the edges: exact formulas of each flavour, the Hull-White regression on noise-free
data, every validation message (naming its field), boundaries of the surface age, and the exact texts
and numbers of the vol-source reasons."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.core.hedge_types import Decision, Plan
from keeper.core.options import bs_delta, bs_greeks
from keeper.core.portfolio import OptionPosition, SpotHolding
from keeper.core.reasons import Reason
from keeper.core.sizing import Band
from keeper.core.smile_delta import (
    MinVarianceCoefficients,
    OptionVols,
    SmilePolicy,
    fit_min_variance,
    resolve_option_vols,
    smile_delta,
    with_vol_reasons,
)
from keeper.core.surface import (
    SECONDS_PER_YEAR,
    ArbitrageViolation,
    VolSurface,
)
from keeper.errors import DegenerateSeriesError, InputError
from tests.unit.test_smile_delta import surface as base_surface

AS_OF = 1_700_000_000  # 2023-11-14T22:13:20Z
AS_OF_ISO = "2023-11-14T22:13:20Z"
DAY = 86_400
S0 = 2000.0
MV = MinVarianceCoefficients(-0.25, 0.5, -0.4)
STRIKES = np.array([1500.0, 1800.0, 2000.0, 2300.0, 2700.0])
CALLS = np.array([False, False, True, True, True])
T = 0.2


def surface(rate: float = 0.0) -> VolSurface:
    """The two-expiry SVI surface of test_smile_delta, with a rate."""
    return base_surface(rate=rate)


def input_error(fn: object, *args: object, **kwargs: object) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value


# ----------------------------------------------------------------------------- smile_delta


def test_unknown_flavour_message_lists_the_three_flavours() -> None:
    err = input_error(smile_delta, "sticky_delta", S0, 2000.0, T, 0.5)
    assert err.argument == "flavour"
    assert str(err) == ("flavour: must be one of sticky_strike, sticky_moneyness, min_variance, "
                        "got 'sticky_delta'")
    err = input_error(smile_delta, "min_variance", S0, 2000.0, T, 0.5)
    assert str(err) == 'mv: flavour "min_variance" needs the Hull-White coefficients'


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_sticky_moneyness_rejects_a_non_finite_slope_anywhere(bad: float) -> None:
    err = input_error(smile_delta, "sticky_moneyness", S0, STRIKES, T, 0.6, CALLS,
                      dvol_dk=[0.1, 0.2, bad, -0.1, 0.0])
    assert str(err) == "dvol_dk: must be finite"


def test_sticky_moneyness_adjustment_is_minus_vega_times_slope_over_spot() -> None:
    """delta = delta_BS + vega * dsigma/dS with dsigma/dS = -(dsigma/dk) / S, per option and per spot."""
    spots = np.array([1900.0, 2000.0, 2100.0, 2200.0, 2500.0])
    slope = np.array([-0.3, -0.1, 0.0, 0.05, 0.2])
    d = smile_delta("sticky_moneyness", spots, STRIKES, T, 0.6, CALLS, dvol_dk=slope, rate=0.03, carry=0.01)
    g = bs_greeks(spots, STRIKES, T, 0.6, 0.03, 0.01, CALLS)
    np.testing.assert_allclose(d.bs_delta, g.delta, rtol=1e-15)
    np.testing.assert_allclose(d.vega, g.vega, rtol=1e-15)
    np.testing.assert_allclose(d.adjustment, -g.vega * slope / spots, rtol=1e-14, atol=0)
    np.testing.assert_allclose(d.delta, g.delta - g.vega * slope / spots, rtol=1e-14)
    assert d.delta.dtype == np.float64 and d.adjustment.dtype == np.float64


def test_integer_inputs_give_float_deltas() -> None:
    d = smile_delta("sticky_moneyness", 2000, 2100, 1, 1, True, dvol_dk=-1)
    g = bs_greeks(2000.0, 2100.0, 1.0, 1.0, 0.0, 0.0, True)
    assert float(d.adjustment) == pytest.approx(float(g.vega) / 2000.0, rel=1e-14)
    m = smile_delta("min_variance", 2000, 2100, 1, 1, False, mv=MinVarianceCoefficients(1.0, 0.0, 0.0))
    assert float(m.adjustment) == pytest.approx(float(g.vega) / 2000.0, rel=1e-14)


def test_sticky_strike_has_exactly_zero_adjustment_with_a_slope_given() -> None:
    d = smile_delta("sticky_strike", S0, STRIKES, T, 0.6, CALLS, dvol_dk=0.5, mv=MV)
    assert np.all(d.adjustment == 0.0)
    np.testing.assert_array_equal(d.delta, d.bs_delta)
    assert d.adjustment.shape == STRIKES.shape


def test_min_variance_formula_for_puts_with_carry_uses_the_call_delta_of_the_strike() -> None:
    """delta_MV = delta_BS + vega / (S sqrt T) * poly(delta_C), delta_C = delta_P + e^{-qT} for a put."""
    q, r, t = 0.04, 0.02, np.array([0.1, 0.5, 1.0, 2.0, 3.0])
    d = smile_delta("min_variance", S0, STRIKES, t, 0.7, False, rate=r, carry=q, mv=MV)
    put = bs_greeks(S0, STRIKES, t, 0.7, r, q, False)
    call_delta = bs_delta(S0, STRIKES, t, 0.7, r, q, True)
    np.testing.assert_allclose(put.delta + np.exp(-q * t), call_delta, rtol=1e-12)  # parity, as a check
    want = put.vega / (S0 * np.sqrt(t)) * (MV.a + MV.b * call_delta + MV.c * call_delta**2)
    np.testing.assert_allclose(d.adjustment, want, rtol=1e-12)
    np.testing.assert_allclose(d.delta, put.delta + want, rtol=1e-12)


def test_min_variance_with_one_term_each() -> None:
    """Each coefficient alone: a (constant), b (times delta_C), c (times delta_C^2)."""
    g = bs_greeks(S0, STRIKES, T, 0.6, 0.0, 0.0, True)
    scale = g.vega / (S0 * math.sqrt(T))
    for coef, power in (((0.3, 0.0, 0.0), 0), ((0.0, 0.3, 0.0), 1), ((0.0, 0.0, 0.3), 2)):
        d = smile_delta("min_variance", S0, STRIKES, T, 0.6, True, mv=MinVarianceCoefficients(*coef))
        np.testing.assert_allclose(d.adjustment, scale * 0.3 * g.delta**power, rtol=1e-13)


def test_min_variance_expired_and_mixed_expiries() -> None:
    """Expired (t <= 0) puts and calls get exactly no adjustment; live ones in the same call do."""
    t = np.array([-0.5, 0.0, 0.25, 1.0])
    calls = np.array([False, True, False, True])
    d = smile_delta("min_variance", S0, 2100.0, t, 0.5, calls, carry=0.05, mv=MinVarianceCoefficients(0.2, 0.1, 0.1))
    assert d.adjustment[0] == 0.0 and d.adjustment[1] == 0.0
    g = bs_greeks(S0, 2100.0, t[2:], 0.5, 0.0, 0.05, calls[2:])
    dc = bs_delta(S0, 2100.0, t[2:], 0.5, 0.0, 0.05, True)
    want = g.vega / (S0 * np.sqrt(t[2:])) * (0.2 + 0.1 * dc + 0.1 * dc**2)
    np.testing.assert_allclose(d.adjustment[2:], want, rtol=1e-12)
    assert np.all(np.isfinite(d.delta))


def test_min_variance_coefficients_must_be_finite_and_poly_is_horner() -> None:
    for name, bad in (("a", (math.nan, 0.0, 0.0)), ("b", (0.0, math.inf, 0.0)), ("c", (0.0, 0.0, -math.inf))):
        err = input_error(MinVarianceCoefficients, *bad)
        assert err.argument == name
        assert str(err).startswith(f"{name}: minimum-variance coefficient must be finite, got ")
    p = MinVarianceCoefficients(0.5, -2.0, 3.0).poly([0.0, 0.5, 1.0, 2])
    np.testing.assert_allclose(p, [0.5, 0.5 - 1.0 + 0.75, 1.5, 0.5 - 4.0 + 12.0], rtol=1e-15)
    assert p.dtype == np.float64


# ----------------------------------------------------------------------------- fit_min_variance


def _history(n: int, seed: int, coef: MinVarianceCoefficients, rate: float = 0.0,
             carry: float = 0.0) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    s0 = S0 * np.exp(0.1 * rng.standard_normal(n))
    s1 = s0 * np.exp(0.03 * rng.standard_normal(n))
    k = S0 * np.exp(0.25 * rng.standard_normal(n))
    t = rng.uniform(0.05, 0.5, n)
    v0 = rng.uniform(0.4, 0.9, n)
    dc = bs_delta(s0, k, t, v0, rate, carry, True)
    v1 = v0 + coef.poly(dc) * (s1 - s0) / (s0 * np.sqrt(t))
    return s0, s1, k, t, v0, v1


def test_fit_min_variance_is_exact_on_noise_free_data_with_rate_and_carry() -> None:
    s0, s1, k, t, v0, v1 = _history(300, 17, MV, rate=0.3, carry=0.2)
    fit = fit_min_variance(s0, s1, k, t, v0, v1, rate=0.3, carry=0.2)
    assert (fit.coefficients.a, fit.coefficients.b, fit.coefficients.c) == pytest.approx((MV.a, MV.b, MV.c), abs=1e-9)
    assert fit.r_squared == pytest.approx(1.0, abs=1e-12)
    dc = bs_delta(s0, k, t, v0, 0.3, 0.2, True)
    assert fit.n == int(np.sum((dc > 0.05) & (dc < 0.95)))
    # the deltas depend on rate and carry: a fit that ignores them does not reproduce the data exactly
    wrong = fit_min_variance(s0, s1, k, t, v0, v1)
    assert wrong.r_squared < 1.0 - 1e-9


def test_fit_min_variance_keeps_only_deltas_strictly_inside_the_range() -> None:
    s0, s1, k, t, v0, v1 = _history(400, 23, MV)
    dc = bs_delta(s0, k, t, v0, is_call=True)
    lo, hi = float(np.sort(dc)[100]), float(np.sort(dc)[300])  # two observed deltas as the bounds
    fit = fit_min_variance(s0, s1, k, t, v0, v1, delta_range=(lo, hi))
    assert fit.n == 199  # the bounds themselves are excluded
    assert (fit.coefficients.a, fit.coefficients.b, fit.coefficients.c) == pytest.approx((MV.a, MV.b, MV.c), abs=1e-8)
    assert fit_min_variance(s0, s1, k, t, v0, v1, delta_range=(0.0, 1.0)).n == 400


def test_fit_min_variance_r_squared_is_one_minus_residual_over_total_sum_of_squares() -> None:
    s0, s1, k, t, v0, v1 = _history(500, 29, MV)
    rng = np.random.default_rng(31)
    v1 = v1 + 2e-3 * rng.standard_normal(v1.size)
    fit = fit_min_variance(s0, s1, k, t, v0, v1)
    dc = bs_delta(s0, k, t, v0, is_call=True)
    keep = (dc > 0.05) & (dc < 0.95)
    x = (s1 - s0) / (s0 * np.sqrt(t))
    y = (v1 - v0)[keep]
    resid = y - x[keep] * fit.coefficients.poly(dc[keep])
    assert fit.r_squared == pytest.approx(1.0 - float(resid @ resid) / float(y @ y), rel=1e-12)
    assert 0.1 < fit.r_squared < 0.999
    # least squares: the residual is orthogonal to each regressor
    for power in range(3):
        assert abs(float(resid @ (x[keep] * dc[keep] ** power))) < 1e-12


def test_fit_min_variance_with_vol_never_moving_has_zero_coefficients_and_r_squared_one() -> None:
    s0, s1, k, t, v0, _ = _history(50, 37, MV)
    fit = fit_min_variance(s0, s1, k, t, v0, v0)
    assert (fit.coefficients.a, fit.coefficients.b, fit.coefficients.c) == (0.0, 0.0, 0.0)
    assert fit.r_squared == 1.0  # nothing to explain: the regression explains all of it


NAMES = ("spot0", "spot1", "strike", "t", "vol0", "vol1")


@pytest.mark.parametrize("i", range(6))
def test_fit_min_variance_names_the_array_of_the_wrong_length(i: int) -> None:
    arrs: list[object] = [np.full(4, v) for v in (2000.0, 2010.0, 2000.0, 0.2, 0.5, 0.5)]
    arrs[i] = np.full(3, 1.0)
    err = input_error(fit_min_variance, *arrs)
    # the first array sets the length: when it is the short one, spot1 is named
    assert str(err) == (f"{NAMES[i]}: length 3 != 4" if i else "spot1: length 4 != 3")


@pytest.mark.parametrize("i", range(6))
@pytest.mark.parametrize("bad", [math.nan, math.inf, 0.0, -1.0])
def test_fit_min_variance_names_the_non_finite_or_non_positive_array(i: int, bad: float) -> None:
    arrs = [np.full(4, v) for v in (2000.0, 2010.0, 2000.0, 0.2, 0.5, 0.5)]
    arrs[i][2] = bad
    err = input_error(fit_min_variance, *arrs)
    assert err.argument == NAMES[i]
    assert str(err) == f"{NAMES[i]}: " + ("must be finite" if not math.isfinite(bad) else "must be > 0")


def test_fit_min_variance_degenerate_histories_say_how_many_pairs() -> None:
    with pytest.raises(DegenerateSeriesError) as info:
        fit_min_variance([], [], [], [], [], [])
    assert info.value.argument == "history"
    assert str(info.value) == ("history: 0 usable pairs with delta in (0.05, 0.95): need at least 3 with varying "
                               "spot and delta to fit a, b, c")
    s0, s1, k, t, v0, v1 = _history(40, 41, MV)
    with pytest.raises(DegenerateSeriesError, match="^history: 40 usable pairs with delta in"):
        fit_min_variance(s0, s0, k, t, v0, v1, delta_range=(0.0, 1.0))  # spot never moves: rank 0
    with pytest.raises(DegenerateSeriesError, match="^history: 40 usable pairs"):
        # one strike and one vol: delta_C varies only with spot, which barely moves: still rank 3 would need
        # three distinct deltas; a single option repeated gives rank 1
        fit_min_variance(np.full(40, S0), np.full(40, 2010.0), np.full(40, 2000.0), np.full(40, 0.2),
                         np.full(40, 0.5), np.full(40, 0.51), delta_range=(0.0, 1.0))
    fit = fit_min_variance(s0[:3], s1[:3], k[:3], t[:3], v0[:3], v1[:3], delta_range=(0.0, 1.0))
    assert fit.n == 3  # three pairs with distinct deltas are enough


# ----------------------------------------------------------------------------- policy


def test_smile_policy_messages_and_boundaries() -> None:
    assert str(input_error(SmilePolicy, "sticky")) == (
        "flavour: must be one of sticky_strike, sticky_moneyness, min_variance, got 'sticky'")
    for bad in (0.0, -1.0, math.inf, math.nan):
        err = input_error(SmilePolicy, max_age_s=bad)
        assert str(err) == f"max_age_s: must be finite and > 0, got {bad!r}"
    for bad in (-1e-9, math.inf, math.nan):
        err = input_error(SmilePolicy, fallback_spread=bad)
        assert str(err) == f"fallback_spread: must be finite and >= 0, got {bad!r}"
    assert str(input_error(SmilePolicy, "min_variance")) == 'mv: flavour "min_variance" needs coefficients'
    ok = SmilePolicy(max_age_s=1e-9, fallback_spread=0.0)
    assert ok.max_age_s == 1e-9 and ok.fallback_spread == 0.0
    assert SmilePolicy().flavour == "sticky_strike" and SmilePolicy().max_age_s == 3600.0
    assert SmilePolicy().fallback_spread == 0.0 and SmilePolicy().mv is None


# ----------------------------------------------------------------------------- resolve_option_vols


@pytest.mark.parametrize("bad", [0.0, -0.1, math.nan, math.inf])
def test_model_vol_must_be_finite_and_positive(bad: float) -> None:
    err = input_error(resolve_option_vols, "ETH", SmilePolicy(), bad, AS_OF, surface())
    assert str(err) == f"model_vol: ETH: must be finite and > 0, got {bad!r}"


def test_unavailable_reason_text_is_exact() -> None:
    src = resolve_option_vols("ETH", SmilePolicy("sticky_moneyness", fallback_spread=0.05), 0.6, AS_OF, None)
    assert src.kind == "unavailable" and src.surface is None and src.elapsed_years == 0.0
    assert src.model_vol == 0.6 and src.underlying == "ETH"
    assert src.reason == (
        "vol surface unavailable (no surface): options at model vol 60.0 % + fallback spread 5.0 vol pts = 65.0 %; "
        "delta flavour sticky_moneyness (BS delta + vega x dsigma/dS along the smile; no smile on the fallback "
        "vol, so it equals the BS delta)")
    vol, slope = src.vols(STRIKES, T, S0)
    np.testing.assert_allclose(vol, 0.65, rtol=1e-15)
    assert np.all(slope == 0.0) and vol.shape == STRIKES.shape


def test_stale_reason_texts_and_elapsed_time() -> None:
    pol = SmilePolicy("min_variance", max_age_s=600, fallback_spread=0.0, mv=MV)
    old = resolve_option_vols("ETH", pol, 0.5, AS_OF + 601, surface())
    assert old.kind == "stale"
    assert old.elapsed_years == pytest.approx(601 / SECONDS_PER_YEAR, rel=1e-15)
    assert old.reason == (
        f"vol surface as of {AS_OF_ISO} is STALE (601 s old > max age 600 s): options at model vol 50.0 % + "
        "fallback spread 0.0 vol pts = 50.0 %; delta flavour min_variance (Hull-White minimum-variance delta, "
        "a -0.25, b 0.5, c -0.4)")
    early = resolve_option_vols("ETH", pol, 0.5, AS_OF - 10, surface())
    assert early.kind == "stale"
    assert early.elapsed_years == pytest.approx(-10 / SECONDS_PER_YEAR, rel=1e-15)
    assert f"vol surface as of {AS_OF_ISO} is STALE (dated 10 s after the block time): " in early.reason


def test_a_surface_exactly_max_age_old_or_of_this_block_is_used() -> None:
    pol = SmilePolicy(max_age_s=600)
    for age in (0, 1, 600):
        src = resolve_option_vols("ETH", pol, 0.5, AS_OF + age, surface())
        assert src.kind == "surface", age
        assert src.elapsed_years == pytest.approx(age / SECONDS_PER_YEAR, rel=1e-15)
        assert src.reason == (f"options valued on the vol surface as of {AS_OF_ISO} (age {age} s, 2 expiries); "
                              "delta flavour sticky_strike (Black-Scholes delta at the surface vol)")


def test_surface_reason_names_the_first_arbitrage_warning() -> None:
    base = surface()
    viol = tuple(ArbitrageViolation("butterfly", AS_OF + 30 * DAY, 1.1, 2200.0, 0.01, f"first {i}") for i in range(3))
    s = VolSurface(base.underlying, base.as_of, base.slices, base.rate, base.spot, viol)
    src = resolve_option_vols("ETH", SmilePolicy("sticky_moneyness"), 0.5, AS_OF, s)
    assert src.reason.endswith("; delta flavour sticky_moneyness (BS delta + vega x dsigma/dS along the smile)"
                               "; 3 arbitrage warning(s): first 0")


# ----------------------------------------------------------------------------- OptionVols


def test_vols_on_the_surface_follow_the_option_expiry_and_broadcast() -> None:
    s = surface()
    elapsed = 3 * DAY
    src = resolve_option_vols("ETH", SmilePolicy(max_age_s=10 * DAY), 0.5, AS_OF + elapsed, s)
    t = np.array([[0.05], [0.3]])
    vol, slope = src.vols(STRIKES, t, 2100.0)
    assert vol.shape == (2, 5) and slope.shape == (2, 5)
    k = np.log(STRIKES / 2100.0)
    ts = t + elapsed / SECONDS_PER_YEAR
    np.testing.assert_allclose(vol, s.implied_vol(k, ts), rtol=1e-13)
    np.testing.assert_allclose(slope, s.dvol_dk(k, ts), rtol=1e-12)
    assert np.all(slope != 0.0)
    stale = resolve_option_vols("ETH", SmilePolicy(max_age_s=1), 0.5, AS_OF + elapsed, s)
    vol, slope = stale.vols(2000.0, np.array([0.1, 0.2, 0.3]), 2100.0)
    assert vol.shape == (3,) and np.all(vol == 0.5) and np.all(slope == 0.0)


def test_vols_of_an_expired_option_use_zero_years_left_for_the_forward() -> None:
    """With a rate, k = ln(K / (S e^{r t})) at t = max(years left, 0): an expired option's forward is spot."""
    s = surface(rate=0.2)
    src = resolve_option_vols("ETH", SmilePolicy(max_age_s=100 * DAY), 0.5, AS_OF + 60 * DAY, s)
    vol, slope = src.vols(STRIKES, -0.05, S0)
    k = np.log(STRIKES / S0)
    t_surface = max(-0.05 + 60 * DAY / SECONDS_PER_YEAR, 0.0)
    np.testing.assert_allclose(vol, s.implied_vol(k, t_surface), rtol=1e-13)
    np.testing.assert_allclose(slope, s.dvol_dk(k, t_surface), rtol=1e-12)
    # expired long before the surface: the option's time on the surface is floored at 0, not negative
    src0 = resolve_option_vols("ETH", SmilePolicy(max_age_s=100 * DAY), 0.5, AS_OF + DAY, s)
    vol0, _ = src0.vols(STRIKES, -1.0, S0)
    np.testing.assert_allclose(vol0, s.implied_vol(k, 0.0), rtol=1e-13)


def test_a_surface_kind_without_a_surface_falls_back() -> None:
    src = OptionVols("ETH", SmilePolicy(fallback_spread=0.01), "surface", 0.4, None, 0.0, "odd")
    vol, slope = src.vols(STRIKES, T, S0)
    np.testing.assert_allclose(vol, 0.41, rtol=1e-15)
    assert np.all(slope == 0.0)


def test_deltas_pass_rate_carry_flavour_and_coefficients_through() -> None:
    s = surface()
    for pol in (SmilePolicy("sticky_moneyness"), SmilePolicy("min_variance", mv=MV)):
        src = resolve_option_vols("ETH", pol, 0.5, AS_OF, s)
        vol, d = src.deltas(S0, STRIKES, T, CALLS, rate=0.05, carry=0.03)
        v, slope = src.vols(STRIKES, T, S0)
        np.testing.assert_array_equal(vol, v)
        want = smile_delta(pol.flavour, S0, STRIKES, T, v, CALLS, dvol_dk=slope, rate=0.05, carry=0.03, mv=pol.mv)
        np.testing.assert_allclose(d.delta, want.delta, rtol=1e-15)
        np.testing.assert_allclose(d.bs_delta, bs_delta(S0, STRIKES, T, v, 0.05, 0.03, CALLS), rtol=1e-13)
        assert np.all(np.abs(d.adjustment) > 1e-5)


# ----------------------------------------------------------------------------- plan reasons


def _decision(underlying: str) -> Decision:
    return Decision(underlying, None, "none", 1.0, 0.0, 1.0, Band("fixed", 0.0, 2.0, 2.0), 0.0, 0.0,
                    (Reason.of("inside_band", "inside"),), ())


def test_with_vol_reasons_codes_numbers_and_untouched_underlyings() -> None:
    s = surface()
    fresh = resolve_option_vols("ETH", SmilePolicy(fallback_spread=0.03), 0.6, AS_OF + 120, s)
    gone = resolve_option_vols("BTC", SmilePolicy(fallback_spread=0.02), 0.5, AS_OF, None, problem="no file")
    plan = Plan((_decision("ETH"), _decision("BTC"), _decision("SOL")))
    out = with_vol_reasons(plan, {"ETH": fresh, "BTC": gone})
    eth, btc, sol = out.decisions
    assert eth.reason_codes == ("vol_surface", "inside_band")
    assert btc.reason_codes == ("vol_surface_unavailable", "inside_band")
    assert sol == plan.decisions[2]
    assert eth.reasons[0].text == fresh.reason  # no options passed: no option list
    assert btc.reasons[0].text == gone.reason and "(no file)" in gone.reason
    assert [name for name, _ in eth.reasons[0].numbers] == ["model_vol", "fallback_spread", "surface_age_s"]
    assert eth.reasons[0].number("model_vol") == 0.6 and eth.reasons[0].number("fallback_spread") == 0.03
    assert eth.reasons[0].number("surface_age_s") == pytest.approx(120.0, rel=1e-12)
    assert btc.reasons[0].numbers == (("model_vol", 0.5), ("fallback_spread", 0.02), ("surface_age_s", 0.0))


def test_option_list_skips_other_positions_and_says_long_or_short() -> None:
    src = resolve_option_vols("ETH", SmilePolicy(), 0.6, AS_OF, surface())
    positions = (SpotHolding("ETH", 3.0), OptionPosition("ETH", 0.5, 1234.5, 1.0, False, 0.123456),
                 OptionPosition("ETH", -150_000.0, 2000.0, 2.0 / 365.0, True, 1.0))
    text = with_vol_reasons(Plan((_decision("ETH"),)), {"ETH": src}, positions).decisions[0].reasons[0].text
    assert text == src.reason + ("; option vols: long 0.5 put K 1,234.5 T 365.00 d 12.35 %, "
                                 "short 150,000 call K 2,000 T 2.00 d 100.00 %")
    only_spot = with_vol_reasons(Plan((_decision("ETH"),)), {"ETH": src}, positions[:1])
    assert only_spot.decisions[0].reasons[0].text == src.reason


# ----------------------------------------------------------------------------- defaults and missing values


def test_defaults_are_a_call_and_a_flat_smile() -> None:
    d = smile_delta("sticky_strike", S0, 2100.0, T, 0.6)
    assert float(d.bs_delta) == pytest.approx(float(bs_delta(S0, 2100.0, T, 0.6, is_call=True)), rel=1e-15)
    m = smile_delta("sticky_moneyness", S0, STRIKES, T, 0.6, CALLS)  # no dvol_dk: no smile
    assert np.all(m.adjustment == 0.0)
    np.testing.assert_array_equal(m.delta, m.bs_delta)


def test_missing_values_as_none_are_named_input_errors() -> None:
    err = input_error(smile_delta, "sticky_moneyness", S0, STRIKES, T, 0.6, CALLS,
                      dvol_dk=[0.1, None, 0.0, 0.0, 0.0])
    assert str(err) == "dvol_dk: must be finite"
    s0, s1, k, t, v0, v1 = (list(a) for a in _history(10, 43, MV))
    s1[4] = None
    assert str(input_error(fit_min_variance, s0, s1, k, t, v0, v1)) == "spot1: must be finite"


def test_coefficients_are_named_only_for_the_min_variance_flavour() -> None:
    pol = SmilePolicy("sticky_strike", mv=MV)  # coefficients configured but not used
    src = resolve_option_vols("ETH", pol, 0.5, AS_OF, surface())
    assert src.reason.endswith("delta flavour sticky_strike (Black-Scholes delta at the surface vol)")
    assert "a -0.25" not in src.reason


def test_stale_and_fresh_sources_keep_the_underlying_and_surface() -> None:
    s = surface()
    pol = SmilePolicy("sticky_moneyness", max_age_s=60)
    stale = resolve_option_vols("ETH", pol, 0.5, AS_OF + 61, s)
    assert stale.underlying == "ETH" and stale.surface is s and stale.policy is pol
    assert stale.reason.endswith("; no smile on the fallback vol, so it equals the BS delta)")
    fresh = resolve_option_vols("ETH", pol, 0.5, AS_OF + 60, s)
    assert fresh.underlying == "ETH" and fresh.surface is s
    assert "no smile on the fallback vol" not in fresh.reason


def test_with_vol_reasons_keeps_decisions_after_one_without_a_smile() -> None:
    src = resolve_option_vols("ETH", SmilePolicy(), 0.6, AS_OF, surface())
    plan = Plan((_decision("SOL"), _decision("ETH"), _decision("BTC")))
    out = with_vol_reasons(plan, {"ETH": src})
    assert [d.underlying for d in out.decisions] == ["SOL", "ETH", "BTC"]
    assert [d.reason_codes[0] for d in out.decisions] == ["inside_band", "vol_surface", "inside_band"]


def test_float32_years_to_expiry_are_used_in_float64() -> None:
    """Years as float32 (e.g. read from a compact file) give the same deltas and vols as the same values
    in float64: no part of the formula is evaluated in single precision."""
    t32 = np.array([0.05, 0.2, 0.5, 1.0, 2.0], dtype=np.float32)
    t64 = t32.astype(np.float64)
    a = smile_delta("min_variance", S0, STRIKES, t32, 0.6, CALLS, carry=0.02, mv=MV)
    b = smile_delta("min_variance", S0, STRIKES, t64, 0.6, CALLS, carry=0.02, mv=MV)
    np.testing.assert_array_equal(a.adjustment, b.adjustment)
    src = resolve_option_vols("ETH", SmilePolicy(max_age_s=10 * DAY), 0.5, AS_OF + 3 * DAY, surface(rate=0.05))
    v32, s32 = src.vols(STRIKES, t32, S0)
    v64, s64 = src.vols(STRIKES, t64, S0)
    np.testing.assert_array_equal(v32, v64)
    np.testing.assert_array_equal(s32, s64)
