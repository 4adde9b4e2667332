"""Implied-vol surfaces: SVI fit and density test, grid validation, arbitrage checks, interpolation."""

from __future__ import annotations

import math
import warnings
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
)
from keeper.core.svi import SviParams, fit_svi, svi_g, svi_total_variance
from keeper.errors import InputError

AS_OF = 1_700_000_000
DAY = 86_400
P_SHORT = SviParams(0.01, 0.1, -0.4, 0.0, 0.2)
P_LONG = SviParams(0.03, 0.15, -0.4, 0.0, 0.25)
VOGT = SviParams(-0.0410, 0.1331, 0.3060, 0.3586, 0.4153)  # Gatheral & Jacquier (2014): butterfly arbitrage
K = np.linspace(-0.6, 0.6, 11)


def row(days: int, p: SviParams, k: np.ndarray, kind: str = "moneyness", spot: float = 2000.0) -> SmileRow:
    t = days * DAY / SECONDS_PER_YEAR
    vols = np.sqrt(svi_total_variance(p, k) / t)
    if kind == "moneyness":
        cols = np.exp(k)
    elif kind == "strike":
        cols = spot * np.exp(k)
    else:  # undiscounted call delta N(d1), d1 = -k / (vol sqrt t) + vol sqrt t / 2
        sq = vols * math.sqrt(t)
        cols = np.array([NormalDist().cdf(x) for x in -k / sq + sq / 2])
    return SmileRow(AS_OF + days * DAY, tuple(float(c) for c in cols), tuple(float(v) for v in vols))


def grid(*rows: SmileRow, kind: str = "moneyness", spot: float | None = None) -> SurfaceGrid:
    return SurfaceGrid("ETH", AS_OF, kind, tuple(rows), spot)  # type: ignore[arg-type]


def clean() -> VolSurface:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return build_surface(grid(row(30, P_SHORT, K), row(180, P_LONG, K)))


# ----------------------------------------------------------------------------- SVI


@pytest.mark.parametrize("p", [P_SHORT, P_LONG, VOGT, SviParams(0.02, 0.1, -0.7, -0.05, 0.05),
                               SviParams(0.1, 0.05, 0.2, 0.0, 0.5), SviParams(0.04, 0.4, 0.6, 0.2, 0.1)])
def test_svi_fit_recovers_known_parameters(p: SviParams) -> None:
    k = np.linspace(-1.0, 1.0, 15)
    q, rmse = fit_svi(k, svi_total_variance(p, k))
    assert rmse < 1e-12
    for name in ("a", "b", "rho", "m", "sigma"):
        assert getattr(q, name) == pytest.approx(getattr(p, name), abs=1e-7), name


def test_svi_fit_with_noise_is_close_and_respects_the_constraints() -> None:
    rng = np.random.default_rng(7)
    k = np.linspace(-0.8, 0.8, 25)
    w = svi_total_variance(P_LONG, k) * (1 + 0.002 * rng.standard_normal(k.size))
    q, rmse = fit_svi(k, w)
    assert rmse < 5e-4
    assert q.b >= 0 and abs(q.rho) < 1 and q.sigma > 0 and q.min_variance >= 0
    assert np.max(np.abs(svi_total_variance(q, k) - svi_total_variance(P_LONG, k))) < 1e-3


def test_svi_fit_of_a_flat_smile_has_no_wings() -> None:
    q, rmse = fit_svi(K, np.full(K.size, 0.05))
    assert q.b == 0.0 and rmse == 0.0 and q.a == pytest.approx(0.05)


def test_svi_fit_needs_five_increasing_quotes() -> None:
    with pytest.raises(InputError, match="at least 5"):
        fit_svi([0.0, 0.1, 0.2, 0.3], [0.1, 0.1, 0.1, 0.1])
    with pytest.raises(InputError, match="increasing"):
        fit_svi([0.0, 0.2, 0.1, 0.3, 0.4], [0.1] * 5)


def test_svi_parameter_bounds_are_enforced() -> None:
    for bad in [(0.0, -0.1, 0.0, 0.0, 0.1), (0.0, 0.1, 1.0, 0.0, 0.1), (0.0, 0.1, 0.0, 0.0, 0.0),
                (-0.5, 0.1, 0.0, 0.0, 0.1), (math.nan, 0.1, 0.0, 0.0, 0.1)]:
        with pytest.raises(InputError):
            SviParams(*bad)


def test_svi_g_matches_its_definition_by_finite_differences() -> None:
    k = np.linspace(-1.0, 1.0, 9)
    h = 1e-4
    w = svi_total_variance(VOGT, k)
    w1 = (svi_total_variance(VOGT, k + h) - svi_total_variance(VOGT, k - h)) / (2 * h)
    w2 = (svi_total_variance(VOGT, k + h) - 2 * w + svi_total_variance(VOGT, k - h)) / h**2
    g = (1 - k * w1 / (2 * w)) ** 2 - w1**2 / 4 * (1 / w + 0.25) + w2 / 2
    np.testing.assert_allclose(svi_g(VOGT, k), g, atol=1e-6)
    assert np.min(svi_g(VOGT, np.linspace(-1.5, 1.5, 301))) < 0  # Vogt's smile is not arbitrage-free
    assert np.min(svi_g(P_LONG, np.linspace(-1.5, 1.5, 301))) > 0


# ----------------------------------------------------------------------------- building and checks


def test_a_clean_surface_builds_without_warnings() -> None:
    s = clean()
    assert s.violations == () and len(s.slices) == 2
    for sl, p in zip(s.slices, (P_SHORT, P_LONG), strict=True):
        assert sl.params.rho == pytest.approx(p.rho, abs=1e-6) and sl.rmse_w < 1e-12


def test_butterfly_arbitrage_is_caught_naming_expiry_and_strike() -> None:
    g = grid(row(365, VOGT, np.linspace(-1.5, 1.5, 21), "strike"), kind="strike", spot=2000.0)
    with pytest.warns(SurfaceArbitrageWarning, match=r"^ETH expiry 2024-11-13T22:13:20Z: butterfly arbitrage at "
                                                      r"strike [\d,.]+ \(K/F [\d.]+\): quoted call prices"):
        s = build_surface(g)
    [v] = s.violations
    assert v.kind == "butterfly" and v.expiry == AS_OF + 365 * DAY and v.strike is not None
    with pytest.raises(InputError, match="rejected \\(strict\\).*butterfly arbitrage at strike"):
        build_surface(g, strict=True)


def test_a_fitted_smile_with_negative_density_is_caught_even_when_quotes_look_convex() -> None:
    g = grid(row(365, VOGT, np.linspace(-1.0, 0.7, 5)))
    with pytest.warns(SurfaceArbitrageWarning, match=r"butterfly arbitrage at K/F [\d.]+: the fitted SVI smile has "
                                                      r"negative density \(Gatheral g\(k\) = -"):
        s = build_surface(g)
    assert s.violations[0].kind == "butterfly"


def test_calendar_arbitrage_is_caught_naming_both_expiries_and_strike() -> None:
    g = grid(row(30, P_LONG, K, "strike"), row(180, P_SHORT, K, "strike"), kind="strike", spot=2000.0)
    with pytest.warns(SurfaceArbitrageWarning, match=r"expiry 2024-05-12T22:13:20Z: calendar arbitrage at strike "
                                                      r"[\d,.]+ \(K/F [\d.]+\): total variance .* earlier expiry "
                                                      r"2023-12-14T22:13:20Z"):
        s = build_surface(g)
    assert [v.kind for v in s.violations] == ["calendar"]
    with pytest.raises(InputError, match="calendar arbitrage"):
        build_surface(g, strict=True)


def test_a_strike_grid_and_a_delta_grid_give_the_same_smile() -> None:
    by_m = clean()
    for kind in ("strike", "delta"):
        g = grid(row(30, P_SHORT, K, kind), row(180, P_LONG, K, kind), kind=kind,
                 spot=2000.0 if kind == "strike" else None)
        s = build_surface(g)
        for a, b in zip(s.slices, by_m.slices, strict=True):
            np.testing.assert_allclose(a.k_quotes, b.k_quotes, atol=1e-9)
            assert a.params.b == pytest.approx(b.params.b, abs=1e-6)


def test_delta_columns_accept_put_deltas() -> None:
    r = row(30, P_SHORT, K, "delta")
    cols = tuple(c - 1.0 if c > 0.5 else c for c in r.columns)  # low strikes as put deltas
    s = build_surface(grid(SmileRow(r.expiry, cols, r.vols), kind="delta"))
    np.testing.assert_allclose(s.slices[0].k_quotes, K, atol=1e-9)


BAD: list[tuple[str, SurfaceGrid, str]] = [
    ("zero vol", grid(row(30, P_SHORT, K), SmileRow(AS_OF + 60 * DAY, row(60, P_SHORT, K).columns,
                                                     (0.5, 0.5, 0.0, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5))),
     r"row 1 \(expiry 2024-01-13T22:13:20Z\), column 2 \(moneyness .*vol must be finite and > 0"),
    ("nan vol", grid(SmileRow(AS_OF + DAY, (0.8, 0.9, 1.0, 1.1, 1.2), (0.5, math.nan, 0.5, 0.5, 0.5))),
     r"row 0 .*column 1 .*finite"),
    ("inf vol", grid(SmileRow(AS_OF + DAY, (0.8, 0.9, 1.0, 1.1, 1.2), (0.5, 0.5, math.inf, 0.5, 0.5))),
     r"row 0 .*column 2 .*finite"),
    ("unsorted expiries", grid(row(60, P_SHORT, K), row(30, P_SHORT, K)), r"row 1 .*unsorted expiry"),
    ("duplicate expiries", grid(row(30, P_SHORT, K), row(30, P_SHORT, K)), r"row 1 .*duplicate expiry"),
    ("unsorted strikes", grid(SmileRow(AS_OF + DAY, (0.8, 1.0, 0.9, 1.1, 1.2), (0.5,) * 5)),
     r"row 0 .*column 2 .*unsorted column"),
    ("duplicate strikes", grid(SmileRow(AS_OF + DAY, (0.8, 0.9, 0.9, 1.1, 1.2), (0.5,) * 5)),
     r"row 0 .*column 2 .*duplicate column"),
    ("expiry in the past", grid(SmileRow(AS_OF - DAY, (0.8, 0.9, 1.0, 1.1, 1.2), (0.5,) * 5)),
     r"row 0 .*not after as_of .*in the past"),
    ("expiry at as_of", grid(SmileRow(AS_OF, (0.8, 0.9, 1.0, 1.1, 1.2), (0.5,) * 5)), r"row 0 .*in the past"),
    ("too few quotes", grid(SmileRow(AS_OF + DAY, (0.9, 1.0, 1.1), (0.5,) * 3)), r"row 0 .*at least 5"),
    ("ragged", grid(SmileRow(AS_OF + DAY, (0.8, 0.9, 1.0, 1.1, 1.2), (0.5,) * 4)), r"row 0 .*5 columns but 4"),
    ("negative moneyness", grid(SmileRow(AS_OF + DAY, (-0.8, 0.9, 1.0, 1.1, 1.2), (0.5,) * 5)),
     r"column 0 .*must be > 0"),
    ("delta out of range", grid(SmileRow(AS_OF + DAY, (1.2, 0.75, 0.5, 0.25, 0.1), (0.5,) * 5), kind="delta"),
     r"column 0 .*delta must be in"),
    ("strike grid without spot", grid(row(30, P_SHORT, K, "strike"), kind="strike"), r"reference spot"),
    ("no rows", grid(), "has no rows"),
]


@pytest.mark.parametrize(("case", "g", "match"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_rejected_naming_the_row(case: str, g: SurfaceGrid, match: str) -> None:
    with pytest.raises(InputError, match=match):
        build_surface(g)


# ----------------------------------------------------------------------------- interpolation


def test_on_an_expiry_the_surface_is_that_expiry_s_fit() -> None:
    s = clean()
    for sl, p in zip(s.slices, (P_SHORT, P_LONG), strict=True):
        k = np.linspace(-0.5, 0.5, 7)
        np.testing.assert_allclose(s.total_variance(k, sl.t), svi_total_variance(p, k), rtol=1e-9)
        np.testing.assert_allclose(s.implied_vol(k, sl.t), np.sqrt(svi_total_variance(p, k) / sl.t), rtol=1e-9)


def test_total_variance_is_linear_in_time_between_expiries() -> None:
    s = clean()
    t1, t2 = s.slices[0].t, s.slices[1].t
    k = np.array([-0.3, 0.0, 0.4])
    for f in (0.25, 0.5, 0.9):
        t = t1 + f * (t2 - t1)
        want = (1 - f) * svi_total_variance(P_SHORT, k) + f * svi_total_variance(P_LONG, k)
        np.testing.assert_allclose(s.total_variance(k, t), want, rtol=1e-12)


def test_extrapolation_holds_vol_flat_in_strike_and_in_time() -> None:
    s = clean()
    t1, t2 = s.slices[0].t, s.slices[1].t
    edge_lo, edge_hi = s.implied_vol(-0.6, t1), s.implied_vol(0.6, t1)
    np.testing.assert_allclose(s.implied_vol([-2.0, -0.9], t1), edge_lo)
    np.testing.assert_allclose(s.implied_vol([0.9, 3.0], t1), edge_hi)
    assert np.all(s.dvol_dk([-2.0, 3.0], t1) == 0.0)
    k = np.array([-0.2, 0.1])
    np.testing.assert_allclose(s.implied_vol(k, [0.0, 0.0]), s.implied_vol(k, t1))
    np.testing.assert_allclose(s.implied_vol(k, t1 / 3), s.implied_vol(k, t1))
    np.testing.assert_allclose(s.implied_vol(k, 5 * t2), s.implied_vol(k, t2))
    np.testing.assert_allclose(s.total_variance(k, 5 * t2), 5 * s.total_variance(k, t2))


def test_dvol_dk_is_the_derivative_of_the_implied_vol() -> None:
    s = clean()
    k = np.linspace(-0.5, 0.5, 11)
    h = 1e-6
    for t in (s.slices[0].t, 0.2, s.slices[1].t, 1.0):
        fd = (s.implied_vol(k + h, t) - s.implied_vol(k - h, t)) / (2 * h)
        np.testing.assert_allclose(s.dvol_dk(k, t), fd, rtol=1e-6, atol=1e-8)


def test_single_expiry_surface_and_log_moneyness() -> None:
    s = build_surface(grid(row(30, P_SHORT, K)))
    assert s.implied_vol(0.0, 2.0) == pytest.approx(float(s.implied_vol(0.0, s.slices[0].t)))
    assert float(s.log_moneyness(2200.0, 0.5, 2000.0)) == pytest.approx(math.log(1.1))
