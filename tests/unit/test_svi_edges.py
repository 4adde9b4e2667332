"""Raw SVI at the edges: every parameter bound with its message, closed-form values of w, w', w'' and
Gatheral's g at the vertex and the minimum, the zero-variance vertex, the fit's input checks, the
exactly flat smile, and exact recovery of slices that stress the starts and the polish."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.core.svi import MIN_QUOTES, SviParams, _starts, fit_svi, svi_g, svi_total_variance
from keeper.errors import InputError

P = SviParams(0.04, 0.4, -0.6, 0.1, 0.3)


def input_error(fn: object, *args: object, **kwargs: object) -> InputError:
    with pytest.raises(InputError) as info:
        fn(*args, **kwargs)  # type: ignore[operator]
    return info.value


# ----------------------------------------------------------------------------- parameters


@pytest.mark.parametrize("i", range(5))
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_each_parameter_must_be_finite_and_is_named(i: int, bad: float) -> None:
    args = [0.04, 0.4, -0.6, 0.1, 0.3]
    args[i] = bad
    err = input_error(SviParams, *args)
    name = ("a", "b", "rho", "m", "sigma")[i]
    assert err.argument == name
    assert str(err) == f"{name}: SVI parameter must be finite, got {bad!r}"


def test_bounds_on_b_rho_and_sigma_with_their_messages() -> None:
    assert str(input_error(SviParams, 0.04, -1e-300, 0.0, 0.0, 0.1)) == "b: SVI b must be >= 0, got -1e-300"
    for rho in (1.0, -1.0, 1.5):
        assert str(input_error(SviParams, 0.04, 0.1, rho, 0.0, 0.1)) == f"rho: SVI |rho| must be < 1, got {rho!r}"
    for s in (0.0, -0.1):
        assert str(input_error(SviParams, 0.04, 0.1, 0.0, 0.0, s)) == f"sigma: SVI sigma must be > 0, got {s!r}"
    # the limits themselves: b = 0, |rho| just below 1, a tiny sigma are valid
    assert SviParams(0.04, 0.0, 0.0, 0.0, 0.1).b == 0.0
    assert SviParams(0.04, 0.1, -0.999999, 0.0, 0.1).rho == -0.999999
    assert SviParams(0.04, 0.1, 0.999999, 0.0, 1e-300).sigma == 1e-300


def test_minimum_variance_is_a_plus_b_sigma_sqrt_one_minus_rho_squared() -> None:
    assert P.min_variance == pytest.approx(0.04 + 0.4 * 0.3 * math.sqrt(1 - 0.36), rel=1e-15)
    # the minimum of w over k, at k* = m - rho s / sqrt(1 - rho^2), with w'(k*) = 0
    k_star = P.m - P.rho * P.sigma / math.sqrt(1 - P.rho**2)
    assert float(svi_total_variance(P, k_star)) == pytest.approx(P.min_variance, rel=1e-14)
    assert abs(float(svi_total_variance(P, k_star, order=1))) < 1e-15
    grid = np.linspace(-3, 3, 6001)
    assert float(np.min(svi_total_variance(P, grid))) >= P.min_variance - 1e-15


def test_negative_level_is_allowed_while_the_minimum_variance_is_not_negative() -> None:
    """a < 0 is fine while a + b sigma sqrt(1 - rho^2) >= 0 (within 1e-14 of rounding); below, a is named."""
    ok = SviParams(-0.25, 0.5, 0.0, 0.0, 0.5)  # minimum exactly 0
    assert ok.min_variance == 0.0
    assert SviParams(-0.25 - 5e-15, 0.5, 0.0, 0.0, 0.5).min_variance == pytest.approx(-5e-15, abs=1e-17)
    err = input_error(SviParams, -0.25 - 2e-14, 0.5, 0.0, 0.0, 0.5)
    assert err.argument == "a"
    assert str(err).startswith("a: SVI a + b sigma sqrt(1 - rho^2) must be >= 0, got -1.99")
    err = input_error(SviParams, -0.3, 0.5, 0.6, 0.0, 0.5)  # 0.5 * 0.5 * 0.8 = 0.2 < 0.3
    assert str(err) == f"a: SVI a + b sigma sqrt(1 - rho^2) must be >= 0, got {-0.3 + 0.5 * 0.5 * 0.8!r}"


# ----------------------------------------------------------------------------- w, w', w'', g


def test_total_variance_and_derivatives_in_closed_form() -> None:
    """At k = m: w = a + b s, w' = b rho, w'' = b / s; in the wings w' -> b (rho +- 1)."""
    a, b, rho, m, s = P.a, P.b, P.rho, P.m, P.sigma
    assert float(svi_total_variance(P, m)) == pytest.approx(a + b * s, rel=1e-15)
    assert float(svi_total_variance(P, m, order=1)) == pytest.approx(b * rho, rel=1e-15)
    assert float(svi_total_variance(P, m, order=2)) == pytest.approx(b / s, rel=1e-15)
    k = m + 0.4  # (k - m) = 0.4, R = 0.5 with s = 0.3
    assert float(svi_total_variance(P, k)) == pytest.approx(a + b * (rho * 0.4 + 0.5), rel=1e-14)
    assert float(svi_total_variance(P, k, order=1)) == pytest.approx(b * (rho + 0.8), rel=1e-14)
    assert float(svi_total_variance(P, k, order=2)) == pytest.approx(b * s * s / 0.125, rel=1e-14)
    k = m - 0.4
    assert float(svi_total_variance(P, k)) == pytest.approx(a + b * (-rho * 0.4 + 0.5), rel=1e-14)
    assert float(svi_total_variance(P, k, order=1)) == pytest.approx(b * (rho - 0.8), rel=1e-14)
    assert float(svi_total_variance(P, k, order=2)) == pytest.approx(b * s * s / 0.125, rel=1e-14)
    far = np.array([-1e6, 1e6])
    np.testing.assert_allclose(svi_total_variance(P, far, order=1), [b * (rho - 1), b * (rho + 1)], rtol=1e-9)


def test_order_must_be_0_1_or_2() -> None:
    for order in (-1, 3):
        err = input_error(svi_total_variance, P, 0.0, order=order)
        assert str(err) == f"order: must be 0, 1 or 2, got {order}"


def test_outputs_are_float64_arrays_of_the_input_shape() -> None:
    k = [[0, 1], [2, 3]]  # integers
    for order in (0, 1, 2):
        w = svi_total_variance(P, k, order=order)
        assert w.shape == (2, 2) and w.dtype == np.float64
    g = svi_g(P, k)
    assert g.shape == (2, 2) and g.dtype == np.float64


def test_g_in_closed_form_at_the_vertex_and_at_the_money() -> None:
    """Symmetric slice (rho = 0, m = 0) at k = 0: w' = 0 and w'' = b / s, so g = 1 + b / (2 s)."""
    p = SviParams(0.05, 0.3, 0.0, 0.0, 0.2)
    assert float(svi_g(p, 0.0)) == pytest.approx(1.0 + 0.3 / 0.4, rel=1e-15)
    # general point: the definition term by term with closed-form w, w', w''
    k = 0.25
    w = 0.04 + 0.4 * (-0.6 * 0.15 + math.hypot(0.15, 0.3))
    w1 = 0.4 * (-0.6 + 0.15 / math.hypot(0.15, 0.3))
    w2 = 0.4 * 0.09 / math.hypot(0.15, 0.3) ** 3
    want = (1 - k * w1 / (2 * w)) ** 2 - w1 * w1 / 4 * (1 / w + 0.25) + w2 / 2
    assert float(svi_g(P, k)) == pytest.approx(want, rel=1e-13)
    # the k w' / (2 w) term: at k = 0 it vanishes, so g(0) = 1 - w'^2 (1/w + 1/4) / 4 + w'' / 2
    w0 = float(svi_total_variance(P, 0.0))
    w10 = float(svi_total_variance(P, 0.0, order=1))
    w20 = float(svi_total_variance(P, 0.0, order=2))
    assert float(svi_g(P, 0.0)) == pytest.approx(1 - w10**2 / 4 * (1 / w0 + 0.25) + w20 / 2, rel=1e-14)


def test_g_is_minus_infinity_where_the_total_variance_is_zero() -> None:
    """A zero-minimum slice (a = -b s, rho = 0) has w(m) = 0 exactly: no density there, g = -inf."""
    p = SviParams(-0.25, 0.5, 0.0, 0.0, 0.5)
    g = svi_g(p, [-0.5, 0.0, 0.5])
    assert g[1] == -math.inf
    assert np.all(np.isfinite(g[[0, 2]]))
    w = svi_total_variance(p, 0.5)
    w1 = svi_total_variance(p, 0.5, order=1)
    w2 = svi_total_variance(p, 0.5, order=2)
    assert g[2] == pytest.approx(float((1 - 0.5 * w1 / (2 * w)) ** 2 - w1**2 / 4 * (1 / w + 0.25) + w2 / 2), rel=1e-13)


def test_g_detects_the_roger_lee_wing_bound() -> None:
    """Large wings (b (1 + |rho|) > 4, beyond Roger Lee's moment bound) make g negative far out."""
    steep = SviParams(0.04, 2.5, 0.8, 0.0, 0.1)
    assert float(svi_g(steep, 3.0)) < 0
    assert float(np.min(svi_g(SviParams(0.04, 0.2, 0.3, 0.0, 0.3), np.linspace(-5, 5, 1001)))) > 0


# ----------------------------------------------------------------------------- fit: inputs


def test_fit_input_messages_name_k_or_w() -> None:
    k5, w5 = [-0.2, -0.1, 0.0, 0.1, 0.2], [0.05] * 5
    assert str(input_error(fit_svi, k5, [0.05] * 6)) == "k: k and w must have the same length (5 != 6)"
    assert str(input_error(fit_svi, k5[:4], w5[:4])) == f"k: SVI needs at least {MIN_QUOTES} quotes, got 4"
    for bad_k in ([-0.2, -0.1, math.nan, 0.1, 0.2], [-0.2, -0.1, 0.0, 0.1, math.inf],
                  [-0.2, -0.1, 0.0, 0.0, 0.2], [0.2, 0.1, 0.0, -0.1, -0.2]):
        assert str(input_error(fit_svi, bad_k, w5)) == "k: must be finite and strictly increasing"
    for bad_w in ([0.05, 0.05, math.nan, 0.05, 0.05], [0.05, 0.05, 0.05, math.inf, 0.05],
                  [0.05, 0.0, 0.05, 0.05, 0.05], [0.05, 0.05, 0.05, 0.05, -0.01]):
        assert str(input_error(fit_svi, k5, bad_w)) == "w: total variances must be finite and > 0"


def test_five_quotes_in_a_column_are_enough() -> None:
    p = SviParams(0.03, 0.2, -0.3, 0.05, 0.2)
    k = np.array([[-0.4], [-0.2], [0.0], [0.2], [0.4]])  # any shape with five elements
    q, rmse = fit_svi(k, svi_total_variance(p, k))
    assert rmse < 1e-10
    np.testing.assert_allclose(svi_total_variance(q, k), svi_total_variance(p, k), atol=1e-10)


# ----------------------------------------------------------------------------- fit: flat and exact


def test_an_exactly_flat_smile_is_returned_without_polish() -> None:
    """b = 0 exactly, a the level, m the middle of the quotes, sigma a tenth of the quoted range."""
    k = np.array([-0.5, -0.3, 0.0, 0.4, 0.9])
    q, rmse = fit_svi(k, np.full(5, 0.07))
    assert (q.b, q.rho, rmse) == (0.0, 0.0, 0.0)
    assert q.a == pytest.approx(0.07, rel=1e-15)
    assert q.m == pytest.approx(float(np.mean(k)), rel=1e-15)
    assert q.sigma == pytest.approx(0.14, rel=1e-14)
    narrow = np.array([0.0, 1e-5, 2e-5, 3e-5, 4e-5])  # range 4e-5: sigma floored at 1e-3
    assert fit_svi(narrow, np.full(5, 0.07))[0].sigma == 1e-3


def test_a_smile_flat_to_rounding_only_is_still_treated_as_flat_but_a_real_tilt_is_fitted() -> None:
    k = np.linspace(-0.5, 0.5, 7)
    w = np.full(7, 0.07)
    w[3] = np.nextafter(0.07, 1.0)  # one ulp up: ptp 1.4e-17 <= 1e-14 * 0.07
    q, rmse = fit_svi(k, w)
    assert q.b == 0.0 and rmse == 0.0
    tilted = 0.07 + 1e-4 * k  # a 1e-4 slope is no rounding error
    q, rmse = fit_svi(k, tilted)
    assert q.b > 0 and rmse < 1e-7


SLICES = [
    SviParams(0.02, 0.1, -0.7, -0.05, 0.05),  # sharp vertex
    SviParams(0.001, 0.6, -0.95, 0.3, 0.08),  # strong skew, vertex right of the quotes' centre
    SviParams(0.1, 0.05, 0.9, -0.2, 0.6),  # almost linear, wide vertex
    SviParams(-0.02, 0.3, 0.2, 0.1, 0.2),  # negative level
    SviParams(0.05, 1.5, 0.0, 0.0, 1.5),  # symmetric, very smooth
    SviParams(0.01, 0.2, -0.4, 0.6, 0.15),  # vertex at the last quote
    SviParams(0.01, 0.2, 0.4, -0.6, 0.15),  # vertex at the first quote
]


@pytest.mark.parametrize("p", SLICES)
def test_fit_recovers_exact_slices_to_rounding(p: SviParams) -> None:
    k = np.linspace(-0.6, 0.6, 13)
    q, rmse = fit_svi(k, svi_total_variance(p, k))
    assert rmse < 1e-12
    assert (q.a, q.b, q.rho, q.m, q.sigma) == pytest.approx((p.a, p.b, p.rho, p.m, p.sigma), abs=1e-7)
    assert q.min_variance >= 0


def test_fit_rmse_is_the_root_mean_square_residual_and_the_fit_is_a_local_minimum() -> None:
    rng = np.random.default_rng(4)
    p = SviParams(0.03, 0.15, -0.4, 0.0, 0.25)
    k = np.linspace(-0.8, 0.8, 21)
    w = svi_total_variance(p, k) + 3e-4 * rng.standard_normal(k.size)
    q, rmse = fit_svi(k, w)
    resid = svi_total_variance(q, k) - w
    assert rmse == pytest.approx(math.sqrt(float(resid @ resid) / k.size), rel=1e-9)
    assert 1e-4 < rmse < 5e-4
    # no nearby parameters fit better (a local least-squares minimum)
    sse = float(resid @ resid)
    for i in range(5):
        for h in (-1e-5, 1e-5):
            vals = [q.a, q.b, q.rho, q.m, q.sigma]
            vals[i] += h
            r = svi_total_variance(SviParams(*vals), k) - w
            assert float(r @ r) >= sse * (1 - 1e-9)


def test_noisy_fits_respect_the_constraints_and_beat_the_true_parameters() -> None:
    rng = np.random.default_rng(12)
    for p in SLICES:
        k = np.linspace(-0.6, 0.6, 15)
        w = np.maximum(svi_total_variance(p, k) * (1 + 0.01 * rng.standard_normal(k.size)), 1e-6)
        q, rmse = fit_svi(k, w)
        assert q.b >= 0 and abs(q.rho) < 1 and q.sigma > 0 and q.min_variance >= -1e-14
        true_rmse = math.sqrt(float(np.mean((svi_total_variance(p, k) - w) ** 2)))
        assert rmse <= true_rmse * (1 + 1e-6)


# ----------------------------------------------------------------------------- the heuristic start


def _heuristic(k: np.ndarray, w: np.ndarray) -> SviParams:
    starts = _starts(k, w)
    return starts[-1]  # appended after the grid solutions (the module docstring's "one heuristic start")


def test_heuristic_start_puts_the_vertex_at_the_lowest_quote_with_the_wing_slopes() -> None:
    """m at the lowest quote, b the mean absolute wing slope (from the lowest quote to each end), rho the
    slopes' asymmetry (right - left) / (|right| + |left|), sigma a tenth of the quoted range, and a so
    that the start's minimum variance is 0.9 of the lowest quote."""
    k = np.array([-0.6, -0.4, -0.2, 0.0, 0.2, 0.4, 0.6])
    w = np.array([0.20, 0.15, 0.11, 0.08, 0.09, 0.10, 0.11])  # lowest at k = 0
    p = _heuristic(k, w)
    left, right = (0.20 - 0.08) / 0.6, (0.11 - 0.08) / 0.6
    assert p.m == 0.0
    assert p.b == pytest.approx(0.5 * (left + right), rel=1e-12)
    assert p.rho == pytest.approx((right - left) / (right + left), rel=1e-9)
    assert p.sigma == pytest.approx(0.12, rel=1e-12)
    assert p.min_variance == pytest.approx(0.9 * 0.08, rel=1e-12)
    assert p.a == pytest.approx(0.9 * 0.08 - p.b * p.sigma * math.sqrt(1 - p.rho**2), rel=1e-12)


def test_heuristic_start_at_either_end_and_its_clips() -> None:
    k = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
    up = np.array([0.05, 0.06, 0.08, 0.11, 0.15])  # lowest at the first quote: no left wing
    p = _heuristic(k, up)
    assert p.m == 0.0
    assert p.b == pytest.approx(0.5 * 0.1 / 0.4, rel=1e-12)
    assert p.rho == 0.9  # all skew to the right, clipped at 0.9
    assert p.sigma == pytest.approx(0.04, rel=1e-12)
    assert p.min_variance == pytest.approx(0.9 * 0.05, rel=1e-12)
    down = up[::-1].copy()  # lowest at the last quote: no right wing
    q = _heuristic(k, down)
    assert q.m == pytest.approx(0.4, rel=1e-15)
    assert q.b == pytest.approx(p.b, rel=1e-12)
    assert q.rho == -0.9
    tiny = 0.05 + 1e-7 * k  # slopes of 2.5e-7: b floored at 1e-4
    r = _heuristic(k, tiny)
    assert r.b == 1e-4 and r.m == 0.0 and r.rho == 0.9
    narrow = np.array([0.0, 1e-4, 2e-4, 3e-4, 4e-4])  # range 4e-4: sigma floored at 1e-3
    n = _heuristic(narrow, up)
    assert n.sigma == 1e-3 and n.min_variance == pytest.approx(0.9 * 0.05, rel=1e-12)


def test_a_steep_short_dated_smile_is_fitted() -> None:
    """Regression: the heuristic start took a with sigma = 0.1 while its sigma is a tenth of the quoted
    range; for a steep smile quoted over a narrow range its minimum variance was negative and fit_svi
    raised InputError("a", ...) on valid quotes. One day to expiry, 80 % at the money, 120 % at +-10 %."""
    k = np.linspace(-0.1, 0.1, 9)
    w = (0.8 + 40.0 * k**2) ** 2 / 365.0
    q, rmse = fit_svi(k, w)
    assert rmse < 1e-4  # w from 0.0018 to 0.0039: SVI is close to, not exactly, a parabola in vol
    assert q.min_variance > 0 and abs(q.rho) < 1
    np.testing.assert_allclose(svi_total_variance(q, k), w, rtol=5e-2)
    p = SviParams(0.0015, 0.03, -0.2, 0.01, 0.03)  # an SVI slice of that kind is recovered exactly
    q, rmse = fit_svi(k, svi_total_variance(p, k))
    assert rmse < 1e-12
    assert (q.a, q.b, q.rho, q.m, q.sigma) == pytest.approx((p.a, p.b, p.rho, p.m, p.sigma), abs=1e-7)


def test_float32_quotes_are_evaluated_in_float64() -> None:
    k32 = np.linspace(-0.5, 0.5, 11, dtype=np.float32)
    k64 = k32.astype(np.float64)
    for order in (0, 1, 2):
        got = svi_total_variance(P, k32, order=order)
        assert got.dtype == np.float64
        np.testing.assert_array_equal(got, svi_total_variance(P, k64, order=order))
    np.testing.assert_array_equal(svi_g(P, k32), svi_g(P, k64))
    w32 = svi_total_variance(P, k64).astype(np.float32)
    q32, rmse32 = fit_svi(k32, w32)
    q64, rmse64 = fit_svi(k64, w32.astype(np.float64))
    assert (q32, rmse32) == (q64, rmse64)


def test_heuristic_start_next_to_either_end_uses_both_wings() -> None:
    """Lowest quote second from either end: both wing slopes are measured (from the lowest quote to the
    first and to the last quote), on quotes not centred at 0."""
    k = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6])
    w = np.array([0.06, 0.05, 0.07, 0.09, 0.11, 0.13])  # lowest at index 1
    p = _heuristic(k, w)
    left, right = (0.06 - 0.05) / 0.1, (0.13 - 0.05) / 0.4
    assert p.m == 0.2
    assert p.b == pytest.approx(0.5 * (left + right), rel=1e-12)
    assert p.rho == pytest.approx((right - left) / (right + left), rel=1e-9)
    q = _heuristic(k, w[::-1].copy())  # lowest at index n - 2
    left, right = (0.13 - 0.05) / 0.4, (0.06 - 0.05) / 0.1
    assert q.m == 0.5
    assert q.b == pytest.approx(0.5 * (left + right), rel=1e-12)
    assert q.rho == pytest.approx((right - left) / (right + left), rel=1e-9)


def test_the_reported_rmse_is_the_fit_residual_even_for_nearly_flat_quotes() -> None:
    """Quotes equal to within 5e-15 (70 times the rounding of 0.07) are not treated as exactly flat: the
    fit is polished and the reported RMSE is the slice's true residual, not 0."""
    k = np.linspace(-0.3, 0.3, 7)
    w = np.full(7, 0.07)
    w[3] += 5e-15
    q, rmse = fit_svi(k, w)
    resid = svi_total_variance(q, k) - w
    assert rmse == pytest.approx(math.sqrt(float(np.mean(resid**2))), rel=1e-6)
    assert rmse > 0


def test_minimum_variance_tolerance_is_inclusive() -> None:
    """A minimum total variance of exactly -1e-14 (rounding of a zero-minimum slice) is accepted."""
    assert SviParams(-1e-14, 0.0, 0.0, 0.0, 0.1).min_variance == -1e-14
    assert str(input_error(SviParams, -1.0000000000000002e-14, 0.0, 0.0, 0.0, 0.1)).startswith("a: ")


@pytest.mark.parametrize("w_fn", [lambda k: 0.5 * np.abs(k) + 1e-4, lambda k: 0.3 * np.abs(k - 0.05) + 1e-5,
                                  lambda k: np.maximum(0.8 * k, -0.2 * k) + 2e-5,
                                  # vertex between two quotes, minimum 1e-12 or 1e-9: some grid solutions
                                  # dip below 0 there and must not be taken as starts
                                  lambda k: np.where(k < 0.02, 0.2 * (0.02 - k), 0.9 * (k - 0.02)) + 1e-12,
                                  lambda k: np.where(k < 0.02, 0.2 * (0.02 - k), 0.9 * (k - 0.02)) + 1e-9])
def test_kinked_smiles_near_zero_variance_fit_within_the_constraints(w_fn: object) -> None:
    """V-shaped total variance that almost touches 0 (the sharp-vertex limit of SVI): the fit keeps a
    non-negative minimum and follows the quotes closely."""
    k = np.linspace(-0.5, 0.5, 11)
    w = w_fn(k)  # type: ignore[operator]
    q, rmse = fit_svi(k, w)
    assert q.min_variance >= 0 and q.b > 0
    assert rmse < 2e-6
