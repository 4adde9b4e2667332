"""The Cody erfc / normal CDF behind the option greeks, against ``math.erfc``."""

from __future__ import annotations

import math
import warnings

import numpy as np

from keeper.core.normal import erfc, norm_cdf, norm_pdf


def test_erfc_matches_math_erfc_to_conditioning() -> None:
    """Relative error <= 1e-14 for |x| <= 10 (Cody's ~1e-16 plus ``2 x^2 eps`` conditioning)."""
    rng = np.random.default_rng(3)
    x = np.concatenate([rng.uniform(-6.0, 26.0, 50_000), np.linspace(-6.0, 26.0, 20_001),
                        [0.0, -0.0, 0.46875, -0.46875, 4.0, -4.0]])
    ref = np.array([math.erfc(v) for v in x])
    got = erfc(x)
    normal = ref > 1e-300  # exclude subnormal results
    rel = np.abs(got[normal] - ref[normal]) / ref[normal]
    inner = np.abs(x[normal]) <= 10.0
    assert rel[inner].max() <= 1e-14
    assert rel.max() <= 2e-13


def test_norm_cdf_both_tails_accurate() -> None:
    z = np.linspace(-37.0, 37.0, 40_001)
    ref = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in z])
    got = norm_cdf(z)
    ok = ref > 1e-300
    rel = np.abs(got[ok] - ref[ok]) / ref[ok]
    assert rel[np.abs(z[ok]) <= 8.0].max() <= 5e-14
    assert rel.max() <= 1e-12
    assert norm_cdf(0.0) == 0.5


def test_special_values_without_warnings() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        vals = erfc(np.array([np.inf, -np.inf, np.nan, 1e308, -1e308]))
        cdf = norm_cdf(np.array([np.inf, -np.inf, np.nan, 1e308]))
        pdf = norm_pdf(np.array([0.0, 1e308, np.nan]))
    np.testing.assert_array_equal(vals[[0, 1, 3, 4]], [0.0, 2.0, 0.0, 2.0])
    assert np.isnan(vals[2])
    np.testing.assert_array_equal(cdf[[0, 1, 3]], [1.0, 0.0, 1.0])
    assert np.isnan(cdf[2])
    assert pdf[0] == 1.0 / math.sqrt(2.0 * math.pi)
    assert pdf[1] == 0.0
    assert np.isnan(pdf[2])
    assert erfc(0.5).shape == ()


def test_both_block_strategies_of_the_cdf_kernel() -> None:
    """Blocks mostly in interval A (A in place, B/C gathered) and mostly in B (A gathered) agree."""
    rng = np.random.default_rng(8)
    mostly_small = np.concatenate([rng.uniform(-0.66, 0.66, 900), [-12.0, -6.5, 0.8, 7.0, 30.0]])
    mostly_large = np.concatenate([rng.uniform(-9.0, 9.0, 900), [0.0, 0.1, -0.3]])
    for x in (mostly_small, mostly_large):
        ref = np.array([0.5 * math.erfc(-v / math.sqrt(2.0)) for v in x])
        got = norm_cdf(x)
        ok = ref > 1e-300
        np.testing.assert_allclose(got[ok], ref[ok], rtol=2e-14)
