"""Implied-vol surface at its edges: errors name the surface, row and column verbatim; the rate enters
``k = ln(K / S) - r T`` and the violation's strike ``K = S e^{rT} K/F``; interpolation across three
expiries; flat extrapolation exactly at the edges; the quote-convexity check's three defects with
their amounts; the SVI density check on the quoted range only; calendar checks with flat wings."""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest

from keeper.core.surface import (
    SECONDS_PER_YEAR,
    SmileRow,
    SurfaceArbitrageWarning,
    SurfaceGrid,
    VolSurface,
    build_surface,
    iso,
)
from keeper.core.svi import SviParams, svi_g, svi_total_variance
from keeper.errors import InputError

AS_OF = 1_700_000_000
DAY = 86_400
YEAR = 365 * DAY  # t = 1.0 exactly
P_SHORT = SviParams(0.01, 0.1, -0.4, 0.0, 0.2)
P_MID = SviParams(0.02, 0.12, -0.4, 0.0, 0.22)
P_LONG = SviParams(0.03, 0.15, -0.4, 0.0, 0.25)
K = np.linspace(-0.6, 0.6, 11)
N = NormalDist()


def row(days: float, p: SviParams, k: np.ndarray, kind: str = "moneyness", spot: float = 2000.0,
        rate: float = 0.0) -> SmileRow:
    t = days * DAY / SECONDS_PER_YEAR
    vols = np.sqrt(svi_total_variance(p, k) / t)
    cols = np.exp(k + rate * t) * (spot if kind == "strike" else 1.0)
    return SmileRow(AS_OF + int(days * DAY), tuple(float(c) for c in cols), tuple(float(v) for v in vols))


def grid(*rows: SmileRow, kind: str = "moneyness", spot: float | None = None, rate: float = 0.0) -> SurfaceGrid:
    return SurfaceGrid("ETH", AS_OF, kind, tuple(rows), spot, rate)  # type: ignore[arg-type]


def quiet(g: SurfaceGrid) -> VolSurface:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return build_surface(g)


def err(g: SurfaceGrid) -> str:
    with pytest.raises(InputError) as info:
        build_surface(g)
    return str(info.value)


ROW0 = "ETH surface row 0 (expiry 2023-11-15T22:13:20Z)"
FIVE = (0.8, 0.9, 1.0, 1.1, 1.2)


# ----------------------------------------------------------------------------- grid errors, verbatim


def test_surface_level_errors_are_verbatim() -> None:
    assert err(grid()) == "ETH surface: has no rows"
    bad_kind = SurfaceGrid("ETH", AS_OF, "vega", (SmileRow(AS_OF + DAY, FIVE, (0.5,) * 5),))  # type: ignore[arg-type]
    assert err(bad_kind) == "ETH surface kind: must be strike, moneyness or delta, got 'vega'"
    for spot in (None, 0.0, -1.0, math.inf, math.nan):
        assert err(grid(SmileRow(AS_OF + DAY, FIVE, (0.5,) * 5), kind="strike", spot=spot)) == (
            "ETH surface spot: a strike grid needs the reference spot (finite, > 0)")
    for rate in (math.inf, math.nan):
        assert err(grid(SmileRow(AS_OF + DAY, FIVE, (0.5,) * 5), rate=rate)) == "ETH surface rate: must be finite"


def test_a_reference_spot_below_one_is_valid() -> None:
    s = quiet(grid(row(30, P_SHORT, K, "strike", spot=0.5), kind="strike", spot=0.5))
    np.testing.assert_allclose(s.slices[0].k_quotes, K, atol=1e-12)


def test_expiry_order_error_names_the_previous_row() -> None:
    g = grid(row(30, P_SHORT, K), row(60, P_SHORT, K), row(45, P_SHORT, K))
    assert err(g) == ("ETH surface row 2 (expiry 2023-12-29T22:13:20Z): unsorted expiry: expiries must be strictly "
                      "increasing (row 1 is 2024-01-13T22:13:20Z)")


@pytest.mark.parametrize(("kind", "cols", "text"), [
    ("moneyness", (0.8, 0.9, math.inf, 1.1, 1.2), "column 2 (moneyness inf): moneyness must be finite"),
    ("moneyness", (0.0, 0.9, 1.0, 1.1, 1.2), "column 0 (moneyness 0.0): moneyness must be > 0"),
    ("delta", (0.0, 0.75, 0.5, 0.25, 0.1), "column 0 (delta 0.0): delta must be in (-1, 0) for puts or (0, 1) "
                                           "for calls"),
    ("delta", (-1.0, 0.75, 0.5, 0.25, 0.1), "column 0 (delta -1.0): delta must be in (-1, 0) for puts or (0, 1) "
                                            "for calls"),
    ("delta", (0.1, 0.25, 0.5, 0.75, 0.9), "column 1 (delta 0.25): unsorted column: columns must run by strictly "
                                           "decreasing call delta"),
    # a 60-delta put is a 40-delta call: after the 90 and 80 calls that is fine, but a 50 call after it is not
    ("delta", (0.9, 0.8, -0.6, 0.5, 0.1), "column 3 (delta 0.5): unsorted column: columns must run by strictly "
                                          "decreasing call delta"),
    ("delta", (0.9, 0.8, -0.5, 0.5, 0.1), "column 3 (delta 0.5): duplicate column: columns must run by strictly "
                                          "decreasing call delta"),
    ("moneyness", (0.8, 1.0, 0.9, 1.1, 1.2), "column 2 (moneyness 0.9): unsorted column: columns must run by "
                                             "strictly increasing moneyness"),
    ("strike", (800.0, 900.0, 900.0, 1100.0, 1200.0), "column 2 (strike 900.0): duplicate column: columns must run "
                                                     "by strictly increasing strike"),
])
def test_column_errors_are_verbatim(kind: str, cols: tuple[float, ...], text: str) -> None:
    g = grid(SmileRow(AS_OF + DAY, cols, (0.5,) * 5), kind=kind, spot=1000.0 if kind == "strike" else None)
    assert err(g) == f"ETH surface row 0 (expiry 2023-11-15T22:13:20Z), {text}"


def test_put_deltas_order_by_their_call_delta() -> None:
    """Columns 90C, 80C, 40P (= 60C), 25C, 10C run by decreasing call delta: accepted."""
    vols = (0.5, 0.5, 0.5, 0.5, 0.5)
    s = quiet(grid(SmileRow(AS_OF + YEAR, (0.9, 0.8, -0.4, 0.25, 0.1), vols), kind="delta"))
    want = [0.125 - 0.5 * N.inv_cdf(d) for d in (0.9, 0.8, 0.6, 0.25, 0.1)]
    np.testing.assert_allclose(s.slices[0].k_quotes, want, rtol=1e-12)


def test_deltas_whose_vols_do_not_give_increasing_strikes_are_rejected() -> None:
    """k = sigma^2 T / 2 - sigma sqrt(T) N^-1(delta): a 200 % vol at 50 delta puts its strike beyond the 25-delta
    one quoted at 50 %."""
    g = grid(SmileRow(AS_OF + YEAR, (0.9, 0.75, 0.5, 0.25, 0.1), (0.5, 0.5, 2.0, 0.5, 0.5)), kind="delta")
    assert err(g) == ("ETH surface row 0 (expiry 2024-11-13T22:13:20Z), column 3: delta quotes do not map to "
                      "increasing strikes (the vols are inconsistent with the deltas)")


def test_iso_is_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert iso(0) == "1970-01-01T00:00:00Z"
        assert iso(AS_OF) == "2023-11-14T22:13:20Z"
    finally:
        monkeypatch.undo()
        time.tzset()


# ----------------------------------------------------------------------------- the rate


@pytest.mark.parametrize("kind", ["strike", "moneyness"])
def test_the_rate_moves_the_forward(kind: str) -> None:
    """k = ln(K / S) - r T: quotes at K = S e^{k + rT} come back at k."""
    rate, days = 0.05, 180
    t = days * DAY / SECONDS_PER_YEAR
    s = quiet(grid(row(days, P_LONG, K, kind, spot=2000.0, rate=rate), kind=kind,
                   spot=2000.0 if kind == "strike" else None, rate=rate))
    np.testing.assert_allclose(s.slices[0].k_quotes, K, atol=1e-12)
    assert s.slices[0].t == t and s.rate == rate
    assert float(s.log_moneyness(2000.0 * math.exp(0.1), t, 2000.0)) == pytest.approx(0.1 - rate * t, abs=1e-15)


def test_a_violation_s_strike_is_at_the_forward() -> None:
    """Calendar arbitrage on a strike grid with a rate: the reported strike is S e^{rT} K/F."""
    rate = 0.05
    g = grid(row(30, P_LONG, K, "strike", rate=rate), row(180, P_SHORT, K, "strike", rate=rate), kind="strike",
             spot=2000.0, rate=rate)
    with pytest.warns(SurfaceArbitrageWarning):
        s = build_surface(g)
    [v] = s.violations
    t = 180 * DAY / SECONDS_PER_YEAR
    assert v.kind == "calendar" and v.expiry == AS_OF + 180 * DAY
    assert v.strike == pytest.approx(2000.0 * math.exp(rate * t) * v.moneyness, rel=1e-12)
    assert f"strike {v.strike:,.6g} (K/F {v.moneyness:.4f})" in v.message


# ----------------------------------------------------------------------------- interpolation


def three() -> VolSurface:
    return quiet(grid(row(30, P_SHORT, K), row(90, P_MID, K), row(180, P_LONG, K)))


def test_three_expiries_interpolate_between_neighbours_and_hold_after_the_last() -> None:
    s = three()
    ts = [sl.t for sl in s.slices]
    k = np.array([-0.4, 0.0, 0.3])
    params = (P_SHORT, P_MID, P_LONG)
    for i in range(2):
        for f in (0.2, 0.7):
            t = ts[i] + f * (ts[i + 1] - ts[i])
            want = (1 - f) * svi_total_variance(params[i], k) + f * svi_total_variance(params[i + 1], k)
            np.testing.assert_allclose(s.total_variance(k, t), want, rtol=1e-12)
    np.testing.assert_allclose(s.implied_vol(k, 2 * ts[2]), np.sqrt(svi_total_variance(P_LONG, k) / ts[2]),
                               rtol=1e-12)
    np.testing.assert_allclose(s.total_variance(k, 2 * ts[2]), 2 * svi_total_variance(P_LONG, k), rtol=1e-12)
    np.testing.assert_allclose(s.implied_vol(k, 0.5 * ts[0]), np.sqrt(svi_total_variance(P_SHORT, k) / ts[0]),
                               rtol=1e-12)


def test_on_the_last_expiry_the_vol_is_exactly_the_flat_extrapolation() -> None:
    s = three()
    k = np.linspace(-0.6, 0.6, 241)
    last = s.slices[-1].t
    assert np.array_equal(s.implied_vol(k, last), s.implied_vol(k, 3 * last))
    first = s.slices[0].t
    assert np.array_equal(s.implied_vol(k, first), s.implied_vol(k, first / 3))


def test_smile_slope_at_the_outermost_quotes_is_the_fit_s() -> None:
    """The slope is zero only beyond the quotes: at k_min and k_max it is the SVI slope."""
    s = three()
    sl = s.slices[0]
    h = 1e-6
    for k in (sl.k_min, sl.k_max):
        inside = k + h if k == sl.k_min else k - h
        slope = float(s.dvol_dk(k, sl.t))
        assert slope != 0.0
        assert slope == pytest.approx(float(s.dvol_dk(inside, sl.t)), rel=1e-4)
    assert float(s.dvol_dk(sl.k_min - 1e-9, sl.t)) == 0.0


def test_non_finite_k_or_t_is_rejected() -> None:
    s = three()
    for k, t in ((math.nan, 0.1), (0.0, math.nan), (math.inf, 0.1), (0.0, math.inf)):
        with pytest.raises(InputError) as info:
            s.total_variance(k, t)
        assert str(info.value) == "k/t: must be finite"


# ----------------------------------------------------------------------------- butterfly: quotes


def _implied(c: float, x: float) -> float:
    """Vol (t = 1) of an undiscounted call per unit forward c = N(d1) - x N(d2), by bisection."""
    lo, hi = 1e-6, 5.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        d1 = -math.log(x) / mid + mid / 2
        if N.cdf(d1) - x * N.cdf(d1 - mid) < c:
            lo = mid
        else:
            hi = mid
    return 0.5 * (lo + hi)


def _quoted(prices: list[float]) -> VolSurface:
    xs = (0.80, 0.82, 0.84, 0.86, 0.88)
    vols = tuple(_implied(c, x) for c, x in zip(prices, xs, strict=True))
    with pytest.warns(SurfaceArbitrageWarning, match="quoted call prices are not decreasing and convex"):
        return build_surface(SurfaceGrid("ETH", AS_OF, "strike", (SmileRow(AS_OF + YEAR, tuple(x * 1000 for x in xs),
                                                                         vols),), 1000.0))


@pytest.mark.parametrize(("prices", "j", "amount"), [
    # slopes -1.5, -1.2, -1.1, -1.05: call spreads worth more than their payoff (convex, though)
    ([0.30, 0.27, 0.246, 0.224, 0.203], 1, 0.5),
    # slopes -0.3, -0.5, -0.5, -0.7: concave at the second and the fourth quote
    ([0.30, 0.294, 0.284, 0.274, 0.260], 1, 0.2),
    # slopes +0.1, +0.2, +0.3, +0.5: the price rises with the strike (convex, though)
    ([0.30, 0.302, 0.306, 0.312, 0.322], 4, 0.5),
])
def test_quote_convexity_defects_and_their_amounts(prices: list[float], j: int, amount: float) -> None:
    s = _quoted(prices)
    [v] = s.violations
    assert v.kind == "butterfly" and v.expiry == AS_OF + YEAR
    assert v.amount == pytest.approx(amount, abs=1e-6)
    assert v.moneyness == pytest.approx((0.80, 0.82, 0.84, 0.86, 0.88)[j], rel=1e-9)
    assert v.strike == pytest.approx(1000.0 * v.moneyness, rel=1e-12)
    assert f"(defect {amount:.3g} per unit forward)" in v.message


# ----------------------------------------------------------------------------- butterfly: fitted density


def test_density_is_checked_on_the_quoted_range_only() -> None:
    """This right wing breaks Lee's bound (b (1 + rho) = 2.16 > 2: g < 0 far out, e.g. at k = 50), but on the
    quoted range g > 0 and the quotes are convex: no violation."""
    p = SviParams(0.2, 1.2, 0.8, -0.2, 0.5)
    assert svi_g(p, np.array([50.0]))[0] < 0
    s = quiet(grid(row(365, p, np.linspace(-0.1, 0.1, 9))))
    assert s.violations == ()


def test_negative_density_violation_fields() -> None:
    vogt = SviParams(-0.0410, 0.1331, 0.3060, 0.3586, 0.4153)  # g < 0 on about (0.65, 1.25)
    g = grid(row(365, vogt, np.linspace(-1.0, 0.7, 5), "strike", rate=0.03), kind="strike", spot=2000.0, rate=0.03)
    with pytest.warns(SurfaceArbitrageWarning, match="negative density"):
        s = build_surface(g)
    [v] = s.violations
    assert v.kind == "butterfly" and v.expiry == AS_OF + 365 * DAY
    assert 0.6 < math.log(v.moneyness) < 1.3
    assert 0.0 < v.amount < 0.1  # -g at the worst point
    assert v.strike == pytest.approx(2000.0 * math.exp(0.03) * v.moneyness, rel=1e-12)
    assert f"g(k) = {-v.amount:.3g} < 0" in v.message


# ----------------------------------------------------------------------------- calendar with flat wings


NARROW = np.linspace(-0.2, 0.2, 9)
STEEP = SviParams(0.005, 0.4, 0.0, 0.0, 0.1)  # w = 0.045 at k = 0, 0.0944 at |k| = 0.2, 0.248 at 0.6
FLAT = SviParams(0.09, 0.02, 0.0, 0.0, 0.3)  # w = 0.096 at 0, 0.0972 at |k| = 0.2, 0.1034 at 0.6


def test_calendar_uses_flat_wings_for_the_narrower_earlier_expiry() -> None:
    """The earlier expiry is quoted on [-0.2, 0.2]: beyond it its variance is held (0.085), below the later
    expiry's (0.097 to 0.103); its SVI continued outwards (0.248 at 0.6) would cross the later one, but that is
    not the surface."""
    assert svi_total_variance(STEEP, np.array([0.6]))[0] > svi_total_variance(FLAT, np.array([0.6]))[0]
    s = quiet(grid(row(30, STEEP, NARROW), row(180, FLAT, K)))
    assert s.violations == ()


@pytest.mark.parametrize(("k_later", "side"), [(np.linspace(-0.2, 0.6, 9), -1), (np.linspace(-0.6, 0.2, 9), 1)])
def test_calendar_in_the_later_expiry_s_flat_wing(k_later: np.ndarray, side: int) -> None:
    """The later expiry is quoted only to 0.2 on one side: held flat there, it falls below the earlier expiry's
    variance, which keeps rising out to 0.6. The worst point is at the far end of that side."""
    later = SviParams(0.095, 0.02, 0.0, 0.0, 0.3)  # FLAT + 0.005: 0.1022 at |k| = 0.2, below FLAT's 0.1034 at 0.6
    g = grid(row(30, FLAT, K), row(180, later, k_later))
    with pytest.warns(SurfaceArbitrageWarning, match="calendar arbitrage"):
        s = build_surface(g)
    cal = [v for v in s.violations if v.kind == "calendar"]
    assert len(cal) == 1
    v = cal[0]
    assert v.expiry == AS_OF + 180 * DAY and v.strike is None
    kk = math.log(v.moneyness)
    assert kk == pytest.approx(0.6 * side, abs=1e-12)
    w_edge = float(svi_total_variance(later, np.array([0.2 * side]))[0])
    assert v.amount == pytest.approx(float(svi_total_variance(FLAT, np.array([kk]))[0]) - w_edge, rel=1e-6)


# ----------------------------------------------------------------------------- several violations


def test_every_violation_is_kept_warned_at_the_caller_and_joined_in_strict_mode() -> None:
    """A butterfly on the first expiry and a calendar drop to the second: both reported, in order, one warning
    each, attributed to the caller's line; strict mode names both, joined by '; '."""
    vogt = SviParams(-0.0410, 0.1331, 0.3060, 0.3586, 0.4153)
    g = grid(row(365, vogt, np.linspace(-1.0, 0.7, 5)), row(400, SviParams(0.001, 0.05, 0.0, 0.0, 0.1),
                                                             np.linspace(-1.0, 0.7, 5)))
    with pytest.warns(SurfaceArbitrageWarning) as record:
        s = build_surface(g)
    assert s.underlying == "ETH" and s.as_of == AS_OF
    assert [(v.kind, v.expiry) for v in s.violations] == [("butterfly", AS_OF + 365 * DAY),
                                                          ("calendar", AS_OF + 400 * DAY)]
    assert [str(w.message) for w in record] == [v.message for v in s.violations]
    # attributed to a caller's line, not to surface.py (under mutmut the caller is its trampoline)
    assert all(Path(w.filename).name != "surface.py" for w in record)
    with pytest.raises(InputError) as info:
        build_surface(g, strict=True)
    assert str(info.value) == "ETH surface: rejected (strict): " + "; ".join(v.message for v in s.violations)
