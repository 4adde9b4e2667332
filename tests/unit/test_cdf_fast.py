"""The option kernel's lower tail ``norm_tail_from_exp`` (fitted rational), against ``math.erfc``
and against Cody's ratio."""

from __future__ import annotations

import math
import warnings

import numpy as np

from keeper.core.normal import _half_ratio_large, norm_tail_from_exp


def _tail(x: np.ndarray, e: np.ndarray) -> np.ndarray:
    out = np.empty_like(x)
    norm_tail_from_exp(x, e, out, np.empty((2, x.size)))
    return out


def test_ratio_matches_cody_on_a_dense_grid() -> None:
    """``N(-x)/exp(-x^2/2)`` (e = 1) within 5e-14 relative on [0, 7], Cody itself beyond."""
    x = np.concatenate([np.linspace(0.0, 7.0, 700_001), np.linspace(7.0, 40.0, 33_001),
                        np.random.default_rng(4).uniform(0.0, 8.0, 200_000)])
    got = _tail(x, np.ones_like(x))
    y = x / math.sqrt(2.0)
    big = y > 0.46875
    ref = np.empty_like(x)
    ref[big] = _half_ratio_large(y[big])
    ref[~big] = np.array([0.5 * math.erfc(v) * math.exp(v * v) for v in y[~big]])
    rel = np.abs(got / ref - 1.0)
    assert rel.max() <= 5e-14


def test_tail_matches_math_erfc_including_deep_tails() -> None:
    x = np.concatenate([np.linspace(0.0, 37.5, 75_001), [0.0, 7.0, np.nextafter(7.0, 8.0)]])
    ref = np.array([0.5 * math.erfc(v / math.sqrt(2.0)) for v in x])
    got = _tail(x, np.exp(-0.5 * x * x))
    ok = ref > 1e-300
    rel = np.abs(got[ok] - ref[ok]) / ref[ok]
    assert rel[x[ok] <= 8.0].max() <= 5e-14
    assert rel.max() <= 1e-12  # beyond, exp(-x^2/2)'s conditioning (x^2 eps) dominates
    assert _tail(np.zeros(1), np.ones(1))[0] == 0.5


def test_huge_arguments_without_warnings() -> None:
    x = np.array([0.0, 1e29, 1e31, 1e300])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = _tail(x, np.exp(-0.5 * np.minimum(x, 40.0) ** 2))
    assert got[0] == 0.5
    np.testing.assert_array_equal(got[1:], 0.0)
    assert norm_tail_from_exp(np.empty(0), np.empty(0), np.empty(0), np.empty((2, 0))) == -math.inf
