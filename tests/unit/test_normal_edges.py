"""Cody erfc / normal CDF: every block strategy of the public kernels, single elements, interval edges,
and huge arguments, against ``math.erfc``."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.core.normal import (
    erfc,
    erfc_nonneg_from_exp,
    norm_cdf,
    norm_cdf_from_exp,
    norm_pdf,
    norm_tail_from_exp,
)


def _erfc_ref(x: np.ndarray) -> np.ndarray:
    return np.array([math.erfc(float(v)) for v in x])


def _rel(got: np.ndarray, ref: np.ndarray) -> float:
    ok = ref > 1e-300
    return float(np.max(np.abs(got[ok] - ref[ok]) / ref[ok]))


@pytest.mark.parametrize("x", [0.0, 0.3, -0.3, 0.46875, 0.5, -0.5, 2.0, -3.0, 4.5, 6.0, -6.0, 26.0])
def test_erfc_of_one_value(x: float) -> None:
    assert float(erfc(x)) == pytest.approx(math.erfc(x), rel=1e-14)
    assert float(erfc(np.array([x]))[0]) == pytest.approx(math.erfc(x), rel=1e-14)


def test_erfc_mostly_interval_a_with_a_few_large_values() -> None:
    rng = np.random.default_rng(11)
    x = np.concatenate([rng.uniform(-0.46, 0.46, 60), [0.5, -0.7, 3.9, -4.2, 6.0, 27.0, -30.0]])
    assert _rel(erfc(x), _erfc_ref(x)) <= 1e-14


def test_erfc_all_in_interval_a() -> None:
    x = np.linspace(-0.46875, 0.46875, 101)
    assert _rel(erfc(x), _erfc_ref(x)) <= 1e-15


def test_erfc_keeps_shape_and_nan() -> None:
    x = np.array([[0.1, np.nan], [-2.0, 1.0]])
    got = erfc(x)
    assert got.shape == (2, 2)
    assert np.isnan(got[0, 1])
    assert got[1, 0] == pytest.approx(math.erfc(-2.0), rel=1e-15)


def _nonneg(y: np.ndarray, e: np.ndarray) -> np.ndarray:
    out = np.empty_like(y)
    erfc_nonneg_from_exp(y, e, out, np.empty((2, y.size)))
    return out


@pytest.mark.parametrize("n_small", [0, 1, 5, 40])
def test_erfc_nonneg_from_exp_with_huge_arguments(n_small: int) -> None:
    """``y`` far beyond the degree-8 polynomial's range (1e31, 1e100) in either block strategy: 0, no
    warning (it overflows beyond 1e34 unless clamped)."""
    y = np.concatenate([np.linspace(0.0, 0.4, n_small), [0.8, 5.0, 1e31, 1e100]])
    e = np.exp(-np.minimum(y, 30.0) ** 2)
    got = _nonneg(y, e)
    np.testing.assert_array_equal(got[-2:], 0.0)
    ref = _erfc_ref(y[:-2])
    np.testing.assert_allclose(got[:-2], ref, rtol=1e-14)


def test_erfc_nonneg_from_exp_empty_and_single() -> None:
    _nonneg(np.empty(0), np.empty(0))
    assert _nonneg(np.array([0.2]), np.exp(-np.array([0.04])))[0] == pytest.approx(math.erfc(0.2), rel=1e-15)
    assert _nonneg(np.array([2.0]), np.exp(-np.array([4.0])))[0] == pytest.approx(math.erfc(2.0), rel=1e-14)


def test_cody_interval_c_beyond_four() -> None:
    """``erfc(y) exp(y^2)`` on (4, 5]: Cody's interval C (about 1e-16 there), not B's rational outside its
    range. ``y`` on a grid of 1/1024 so that ``y^2`` and the reference are exact to an ulp or two."""
    y = np.arange(4097, 5121) / 1024.0  # 4.001 .. 5.0 (a block whose largest value is below 5)
    ref = np.array([math.erfc(v) * math.exp(v * v) for v in y])
    got = _nonneg(y, np.ones_like(y))
    assert float(np.max(np.abs(got / ref - 1.0))) <= 5e-15
    tail = np.empty_like(y)
    norm_tail_from_exp(y * math.sqrt(2.0), np.ones_like(y), tail, np.empty((2, y.size)))
    # N(-x) / exp(-x^2/2) = erfc(y) exp(y^2) / 2 with x = y sqrt 2
    assert float(np.max(np.abs(tail[y * math.sqrt(2.0) > 7.0] / (0.5 * ref[y * math.sqrt(2.0) > 7.0]) - 1.0))) <= 5e-15


def _cdf(z: np.ndarray) -> np.ndarray:
    out = np.empty_like(z)
    norm_cdf_from_exp(z, np.exp(-z * z), out, np.empty((3, z.size)))
    return out


@pytest.mark.parametrize("n_small", [0, 1, 30])
def test_norm_cdf_from_exp_both_strategies(n_small: int) -> None:
    """Including ``|z| = 1e50``, far beyond every polynomial's range (clamped: no overflow, no warning)."""
    z = np.concatenate([np.linspace(-0.46, 0.46, n_small), [-1e50, -27.0, -5.0, -0.9, 0.9, 4.5, 27.0, 1e50]])
    ref = np.array([0.5 * math.erfc(-float(v)) for v in z])
    got = _cdf(z)
    assert _rel(got, ref) <= 2e-14
    assert got[n_small] == 0.0
    assert got[-1] == 1.0


def test_norm_cdf_from_exp_interval_c_beyond_four() -> None:
    """Lower tail ``N(-y sqrt 2) / exp(-y^2) = erfc(y) exp(y^2) / 2`` on (4, 5]: Cody's interval C."""
    y = np.arange(4097, 5121) / 1024.0
    ref = np.array([0.5 * math.erfc(v) * math.exp(v * v) for v in y])
    out = np.empty_like(y)
    norm_cdf_from_exp(-y, np.ones_like(y), out, np.empty((3, y.size)))
    assert float(np.max(np.abs(out / ref - 1.0))) <= 5e-15


def test_integer_arguments() -> None:
    x = np.array([0, 1, -2, 3])
    np.testing.assert_allclose(erfc(x), [math.erfc(v) for v in (0, 1, -2, 3)], rtol=1e-15)
    np.testing.assert_allclose(norm_cdf(x), [0.5 * math.erfc(-v / math.sqrt(2.0)) for v in (0, 1, -2, 3)],
                               rtol=1e-15)
    np.testing.assert_allclose(norm_pdf(x), [math.exp(-0.5 * v * v) / math.sqrt(2.0 * math.pi)
                                             for v in (0, 1, -2, 3)], rtol=1e-15)


def test_norm_pdf_far_left_is_zero_without_warning() -> None:
    np.testing.assert_array_equal(norm_pdf(np.array([-1e308, -50.0, 1e308])), 0.0)


def test_norm_cdf_single_values_and_symmetry() -> None:
    for x in (0.0, 0.25, 1.0, 3.0, 8.0):
        assert float(norm_cdf(x)) == pytest.approx(0.5 * math.erfc(-x / math.sqrt(2.0)), rel=1e-15)
        assert float(norm_cdf(-x)) == pytest.approx(0.5 * math.erfc(x / math.sqrt(2.0)), rel=1e-14)
    grid = np.array([[0.1, -0.2], [5.0, -40.0]])
    assert norm_cdf(grid).shape == (2, 2)
