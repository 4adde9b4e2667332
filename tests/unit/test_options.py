"""Black-Scholes-Merton / Black-76: parity, finite differences, edge cases, properties, errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.core import _bs_kernel
from keeper.core.options import (
    DeltaGammaVega,
    black76_delta,
    black76_delta_gamma_vega,
    black76_greeks,
    black76_price,
    black76_theta,
    bs_delta,
    bs_delta_gamma_vega,
    bs_gamma,
    bs_greeks,
    bs_price,
    bs_theta,
    bs_vega,
)
from keeper.errors import InputError


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def _random_book(rng: np.random.Generator, n: int) -> tuple[np.ndarray, ...]:
    return (rng.uniform(50, 150, n), rng.uniform(50, 150, n), rng.uniform(0.02, 3.0, n),
            rng.uniform(0.05, 1.5, n), rng.uniform(-0.02, 0.1, n), rng.uniform(0.0, 0.08, n))


def test_put_call_parity(rng: np.random.Generator) -> None:
    s, k, t, v, r, q = _random_book(rng, 5000)
    c = bs_greeks(s, k, t, v, r, q, True)
    p = bs_greeks(s, k, t, v, r, q, False)
    fwd_value = s * np.exp(-q * t) - k * np.exp(-r * t)
    np.testing.assert_allclose(c.price - p.price, fwd_value, rtol=0, atol=1e-12 * 150)
    np.testing.assert_allclose(c.delta - p.delta, np.exp(-q * t), rtol=0, atol=2e-16 * 4)
    np.testing.assert_allclose(c.gamma, p.gamma, rtol=1e-14)
    np.testing.assert_allclose(c.vega, p.vega, rtol=1e-14)
    theta_parity = q * s * np.exp(-q * t) - r * k * np.exp(-r * t)
    np.testing.assert_allclose(c.theta - p.theta, theta_parity, rtol=0, atol=1e-10 * 150)


@pytest.mark.parametrize("is_call", [True, False])
def test_greeks_equal_central_differences(rng: np.random.Generator, is_call: bool) -> None:
    s, k, t, v, r, q = _random_book(rng, 2000)
    t = t + 0.05
    g = bs_greeks(s, k, t, v, r, q, is_call)
    hs, hv, ht = 1e-5 * s, 1e-6, 1e-7

    def price(ss: np.ndarray, tt: np.ndarray, vv: np.ndarray) -> np.ndarray:
        return bs_price(ss, k, tt, vv, r, q, is_call)

    delta_fd = (price(s + hs, t, v) - price(s - hs, t, v)) / (2 * hs)
    gamma_fd = (bs_delta(s + hs, k, t, v, r, q, is_call) - bs_delta(s - hs, k, t, v, r, q, is_call)) / (2 * hs)
    vega_fd = (price(s, t, v + hv) - price(s, t, v - hv)) / (2 * hv)
    theta_fd = -(price(s, t + ht, v) - price(s, t - ht, v)) / (2 * ht)
    np.testing.assert_allclose(g.delta, delta_fd, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(g.gamma, gamma_fd, rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(g.vega, vega_fd, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(g.theta, theta_fd, rtol=1e-5, atol=1e-5)


def test_black76_is_bsm_with_carry_zero_and_theta_holds_forward(rng: np.random.Generator) -> None:
    f, k, t, v, r, _ = _random_book(rng, 1000)
    b = black76_greeks(f, k, t, v, r, False)
    m = bs_greeks(f, k, t, v, r, r, False)
    for name in ("price", "delta", "gamma", "vega", "theta"):
        np.testing.assert_allclose(getattr(b, name), getattr(m, name), rtol=1e-13, atol=1e-14)
    h = 1e-6
    fd = -(black76_price(f, k, t + h, v, r, False) - black76_price(f, k, t - h, v, r, False)) / (2 * h)
    np.testing.assert_allclose(black76_theta(f, k, t, v, r, False), fd, rtol=1e-5, atol=1e-5)
    dgv = black76_delta_gamma_vega(f, k, t, v, r, False)
    np.testing.assert_array_equal(dgv.delta, b.delta)
    np.testing.assert_array_equal(black76_delta(f, k, t, v, r, False), b.delta)


def test_delta_gamma_vega_hot_path_matches_full_greeks(rng: np.random.Generator) -> None:
    s, k, t, v, r, q = _random_book(rng, 3000)
    call = rng.random(3000) < 0.5
    full = bs_greeks(s, k, t, v, r, q, call)
    dgv = bs_delta_gamma_vega(s, k, t, v, r, q, call)
    np.testing.assert_array_equal(dgv.delta, full.delta)
    np.testing.assert_array_equal(dgv.gamma, full.gamma)
    np.testing.assert_array_equal(dgv.vega, full.vega)
    np.testing.assert_array_equal(bs_gamma(s, k, t, v, r, q, call), full.gamma)
    np.testing.assert_array_equal(bs_vega(s, k, t, v, r, q, call), full.vega)
    np.testing.assert_array_equal(bs_theta(s, k, t, v, r, q, call), full.theta)


def test_threaded_chunks_give_identical_results(rng: np.random.Generator) -> None:
    n = _bs_kernel.PARALLEL_MIN + 12345  # several chunks, uneven tail
    s, k, t, v, r, q = _random_book(rng, n)
    call = rng.random(n) < 0.5
    one = bs_delta_gamma_vega(s, k, t, v, r, q, call, threads=1)
    two = bs_delta_gamma_vega(s, k, t, v, r, q, call, threads=2)
    for a, b in zip(one, two, strict=True):
        np.testing.assert_array_equal(a, b)
    head = bs_delta_gamma_vega(s[:100], k[:100], t[:100], v[:100], r[:100], q[:100], call[:100])
    np.testing.assert_array_equal(head.delta, one.delta[:100])


def test_scalars_return_zero_dim_arrays_and_broadcasting() -> None:
    p = bs_price(100.0, 100.0, 1.0, 0.2)
    assert isinstance(p, np.ndarray)
    assert p.shape == ()
    assert float(p) == pytest.approx(7.965567455405804, rel=1e-12)
    grid = bs_delta(np.array([[90.0], [100.0], [110.0]]), np.array([80.0, 100.0, 120.0, 140.0]), 0.5, 0.3)
    assert grid.shape == (3, 4)
    assert np.all(np.diff(grid, axis=0) > 0)
    assert np.all(np.diff(grid, axis=1) < 0)
    calls = np.array([True, False])
    assert bs_delta(100.0, 100.0, 1.0, 0.2, 0.0, 0.0, calls).shape == (2,)
    assert bs_price(np.empty(0), 100.0, 1.0, 0.2).shape == (0,)


def test_expired_options_intrinsic_step_delta_zero_gamma_vega() -> None:
    s = np.array([90.0, 100.0, 110.0, 90.0, 100.0, 110.0])
    call = np.array([True, True, True, False, False, False])
    for t in (0.0, -0.5):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            g = bs_greeks(s, 100.0, t, 0.5, 0.05, 0.02, call)
        np.testing.assert_array_equal(g.price, [0.0, 0.0, 10.0, 10.0, 0.0, 0.0])
        np.testing.assert_array_equal(g.delta, [0.0, 0.5, 1.0, -1.0, -0.5, 0.0])  # ATM: +-1/2
        np.testing.assert_array_equal(g.gamma, np.zeros(6))
        np.testing.assert_array_equal(g.vega, np.zeros(6))
        np.testing.assert_array_equal(g.theta, np.zeros(6))


def test_zero_vol_is_the_discounted_forward_limit() -> None:
    r, q, t = 0.05, 0.01, 2.0
    fwd = 100.0 * math.exp((r - q) * t)
    k = np.array([fwd * 0.9, fwd, fwd * 1.1])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        c = bs_greeks(100.0, k, t, 0.0, r, q, True)
        tiny = bs_greeks(100.0, k, t, 1e-200, r, q, True)
    np.testing.assert_allclose(c.price, math.exp(-r * t) * np.maximum(fwd - k, 0.0), rtol=1e-14, atol=1e-12)
    np.testing.assert_allclose(c.delta, math.exp(-q * t) * np.array([1.0, 0.5, 0.0]), rtol=1e-14)
    np.testing.assert_array_equal(c.gamma, np.zeros(3))
    np.testing.assert_array_equal(c.vega, np.zeros(3))
    itm_theta = q * 100.0 * math.exp(-q * t) - r * k[0] * math.exp(-r * t)
    assert c.theta[0] == pytest.approx(itm_theta, rel=1e-12)
    assert c.theta[2] == 0.0
    np.testing.assert_allclose(tiny.price, c.price, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tiny.delta, c.delta, rtol=1e-12)


def test_extreme_moneyness_and_vol_no_warnings_no_nan() -> None:
    s = np.array([1e-6, 1.0, 1e6, 1e12, 100.0, 100.0])
    k = np.array([1e6, 1e12, 1e-6, 1.0, 100.0, 100.0])
    t = np.array([1e-9, 30.0, 1e-9, 30.0, 1e-12, 1e6])
    v = np.array([1e-8, 50.0, 5.0, 1e-8, 1e-6, 10.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for is_call in (True, False):
            g = bs_greeks(s, k, t, v, 0.05, 0.02, is_call)
            for name in ("price", "delta", "gamma", "vega", "theta"):
                assert np.all(np.isfinite(getattr(g, name))), name
            assert np.all(g.price >= 0.0)
    c = bs_greeks(1e12, 1.0, 1.0, 0.2, 0.0, 0.0, True)
    assert float(c.delta) == 1.0
    assert float(c.gamma) == 0.0
    p = bs_greeks(1e12, 1.0, 1.0, 0.2, 0.0, 0.0, False)
    assert float(p.delta) == 0.0
    assert float(p.price) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"spot": 0.0}, "spot"),
        ({"spot": -1.0}, "spot"),
        ({"strike": 0.0}, "strike"),
        ({"strike": math.nan}, "strike"),
        ({"t": math.inf}, "t"),
        ({"sigma": -0.1}, "sigma"),
        ({"sigma": math.nan}, "sigma"),
        ({"r": math.nan}, "r"),
        ({"spot": np.array([100.0, math.nan])}, "spot"),
        ({"strike": np.array([100.0, -5.0])}, "strike"),
        ({"sigma": np.array([0.2, -0.1])}, "sigma"),
        ({"t": np.array([1.0, math.nan])}, "t"),
    ],
)
def test_bad_inputs_raise_input_error_naming_the_argument(kwargs: dict[str, object], argument: str) -> None:
    args: dict[str, object] = {"spot": 100.0, "strike": 100.0, "t": 1.0, "sigma": 0.2, "r": 0.0, "q": 0.0}
    args.update(kwargs)
    with pytest.raises(InputError) as info:
        bs_delta_gamma_vega(args["spot"], args["strike"], args["t"], args["sigma"],  # type: ignore[arg-type]
                            args["r"], args["q"])  # type: ignore[arg-type]
    assert info.value.argument == argument


def test_shapes_that_do_not_broadcast_raise() -> None:
    with pytest.raises(InputError):
        bs_price(np.ones(3), np.ones(4), 1.0, 0.2)


_spot = st.floats(1.0, 1e4)
_moneyness = st.floats(0.2, 5.0)
_t = st.floats(1e-3, 5.0)
_vol = st.floats(0.01, 3.0)
_r = st.floats(-0.05, 0.2)
_q = st.floats(0.0, 0.2)


@settings(max_examples=200, deadline=None)
@given(_spot, _moneyness, _t, _vol, _r, _q, st.booleans())
def test_bounds_and_signs(s: float, m: float, t: float, v: float, r: float, q: float, call: bool) -> None:
    k = s * m
    g = bs_greeks(s, k, t, v, r, q, call)
    dq, df = math.exp(-q * t), math.exp(-r * t)
    tol = 1e-12 * max(s, k)
    if call:
        assert max(s * dq - k * df, 0.0) - tol <= float(g.price) <= s * dq + tol
        assert 0.0 <= float(g.delta) <= dq * (1 + 4e-16)
    else:
        assert max(k * df - s * dq, 0.0) - tol <= float(g.price) <= k * df + tol
        assert -dq * (1 + 4e-16) <= float(g.delta) <= 0.0
    assert float(g.gamma) >= 0.0
    assert float(g.vega) >= 0.0


@settings(max_examples=200, deadline=None)
@given(_spot, _moneyness, _t, _vol, _r, _q, st.floats(1.001, 1.5))
def test_monotone_in_spot_and_vol(s: float, m: float, t: float, v: float, r: float, q: float, up: float) -> None:
    k = s * m
    tol = 1e-12 * max(s, k)
    c0, c1 = bs_price([s, s * up], k, t, v, r, q, True)
    p0, p1 = bs_price([s, s * up], k, t, v, r, q, False)
    assert c1 >= c0 - tol  # calls rise with spot
    assert p1 <= p0 + tol  # puts fall with spot
    for is_call in (True, False):
        lo, hi = bs_price(s, k, t, [v, v * up], r, q, is_call)
        assert hi >= lo - tol  # both rise with vol


def test_out_arrays_are_filled_and_returned(rng: np.random.Generator) -> None:
    s, k, t, v, r, q = _random_book(rng, 500)
    out = DeltaGammaVega(np.empty(500), np.empty(500), np.empty(500))
    res = bs_delta_gamma_vega(s, k, t, v, r, q, False, out=out)
    assert res.delta is out.delta
    np.testing.assert_array_equal(res.delta, bs_delta(s, k, t, v, r, q, False))
    with pytest.raises(InputError) as info:
        bs_delta_gamma_vega(s, k, t, v, r, q, False,
                            out=DeltaGammaVega(np.empty(499), np.empty(500), np.empty(500)))
    assert info.value.argument == "out"
