"""The option kernel's validation (which argument a message names), its thread pool, and edge values."""

from __future__ import annotations

import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from keeper.core import _bs_kernel
from keeper.core.options import DeltaGammaVega, bs_delta_gamma_vega, bs_greeks
from keeper.errors import InputError


def _raise_arg(**kwargs: object) -> InputError:
    args: dict[str, object] = {"spot": 100.0, "strike": 100.0, "t": 1.0, "sigma": 0.2, "r": 0.0, "q": 0.0}
    args.update(kwargs)
    with pytest.raises(InputError) as info:
        bs_greeks(args["spot"], args["strike"], args["t"], args["sigma"],  # type: ignore[arg-type]
                  args["r"], args["q"])  # type: ignore[arg-type]
    return info.value


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        # the culprit first in the array: the precise check runs over every element
        ({"spot": np.array([-1.0, 100.0])}, "spot"),
        ({"spot": np.array([0.0, 100.0])}, "spot"),
        ({"spot": np.array([100.0, -5.0])}, "spot"),
        ({"strike": np.array([-1.0, 100.0])}, "strike"),
        # expired and zero-vol elements are valid: the message names the real culprit
        ({"t": np.array([0.0, -0.5, 1.0]), "sigma": np.array([0.2, 0.2, -0.1])}, "sigma"),
        ({"t": np.array([-0.5, 1.0]), "spot": np.array([100.0, math.nan])}, "spot"),
        ({"sigma": np.array([0.0, 0.2]), "strike": np.array([100.0, 0.0])}, "strike"),
        ({"r": np.array([0.0, math.inf])}, "r"),
        ({"q": np.array([math.nan, 0.0])}, "q"),
        ({"q": math.inf}, "q"),
        # a finite minimum hides an infinite element: found where sigma sqrt(t) is formed
        ({"t": np.array([1.0, math.inf])}, "t"),
        ({"sigma": np.array([0.2, math.inf])}, "sigma"),
        ({"t": -math.inf}, "t"),
    ],
)
def test_the_message_names_the_bad_argument(kwargs: dict[str, object], argument: str) -> None:
    err = _raise_arg(**kwargs)
    assert err.argument == argument
    assert str(err).startswith(f"{argument}: ")


@pytest.mark.parametrize(
    "kwargs",
    [
        # every input valid, but sigma sqrt(t) overflows to inf (zero/negative t, zero vol, a negative
        # rate or carry and a zero rate are all allowed values)
        {"sigma": np.array([0.0, 1e300]), "t": 1e300, "r": -0.01, "q": -1e-310},
        {"sigma": 1e300, "t": np.array([1e300, 0.0, -1.0]), "r": 0.0, "q": 0.0},
        # spot / strike overflows, or underflows to 0
        {"spot": np.array([1e300, 1.0]), "strike": 1e-300, "r": np.array([-0.01, 0.0]), "q": 0.03},
        {"spot": np.array([1e-300, 1.0]), "strike": 1e300},
    ],
)
def test_a_non_finite_intermediate_is_reported_as_such(kwargs: dict[str, object]) -> None:
    with np.errstate(over="ignore"):  # the overflow itself is what is reported
        err = _raise_arg(**kwargs)
    assert str(err) == "spot/strike/t/sigma: produce a non-finite intermediate"


def test_scalar_bad_inputs_are_named_before_any_work() -> None:
    assert _raise_arg(spot=-1.0).argument == "spot"
    assert "must be > 0" in str(_raise_arg(strike=0.0))
    assert "must be >= 0" in str(_raise_arg(sigma=-0.5))
    assert str(_raise_arg(t=math.nan)) == "t: must be finite (found nan or inf)"
    assert str(_raise_arg(spot=np.array([1.0, -2.0]))) == "spot: must be > 0 (found -2.0)"
    assert str(_raise_arg(sigma=-0.5)) == "sigma: must be >= 0 (found -0.5)"


def test_shapes_that_do_not_broadcast_name_every_argument() -> None:
    with pytest.raises(InputError) as info:
        bs_greeks(np.ones(3), np.ones(2), 1.0, 0.2)
    assert info.value.argument == "spot/strike/t/sigma/r/q/is_call"
    assert "shapes do not broadcast" in str(info.value)


def test_empty_book_with_array_rate_and_carry() -> None:
    g = bs_greeks(np.empty(0), 100.0, 1.0, 0.2, np.empty(0), np.empty(0), np.empty(0, dtype=bool))
    assert g.price.shape == (0,)


def test_float32_and_integer_inputs_are_computed_in_float64() -> None:
    """A book held in float32 or ints (exactly representable values) prices like float64; integer
    0/1 is_call flags read as calls and puts."""
    s = np.array([100.0, 90.0, 120.0])
    k = np.array([110.0, 100.0, 100.0])
    t = np.array([0.5, 0.25, 1.0])
    v = np.array([0.25, 0.5, 0.75])
    ref = bs_greeks(s, k, t, v, 0.0, 0.0, np.array([True, False, True]))
    g32 = bs_greeks(s.astype(np.float32), k.astype(np.float32), t.astype(np.float32), v.astype(np.float32),
                    np.zeros(3, dtype=np.float32), np.zeros(3, dtype=np.float32), [1, 0, 1])
    gint = bs_greeks(s.astype(np.int64), k.astype(np.int64), t, v, 0, 0, np.array([1, 0, 1]))
    for name in ("price", "delta", "gamma", "vega", "theta"):
        np.testing.assert_allclose(getattr(g32, name), getattr(ref, name), rtol=1e-14, atol=0)
        np.testing.assert_allclose(getattr(gint, name), getattr(ref, name), rtol=1e-14, atol=0)
        assert getattr(g32, name).dtype == np.float64


def _fresh_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bs_kernel, "_POOL", None)
    monkeypatch.setattr(_bs_kernel, "default_threads", lambda: 2)


def test_pool_has_at_most_default_threads_named_keeper_bs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The pool is capped at ``default_threads()`` workers even when a caller asks for more threads,
    and its threads carry the ``keeper-bs`` name (as seen in a thread dump)."""
    _fresh_pool(monkeypatch)
    before = set(threading.enumerate())
    n = _bs_kernel.PARALLEL_MIN * 8
    spot = np.linspace(50.0, 150.0, n)
    res = bs_delta_gamma_vega(spot, 100.0, 0.5, 0.3, threads=8)
    pool = _bs_kernel._POOL
    assert pool is not None
    new = [th for th in set(threading.enumerate()) - before if th.is_alive()]
    try:
        assert 1 <= len(new) <= 2
        assert all(th.name.startswith("keeper-bs") for th in new)
        np.testing.assert_array_equal(res.delta, bs_delta_gamma_vega(spot, 100.0, 0.5, 0.3, threads=1).delta)
    finally:
        pool.shutdown(wait=True)


def test_after_fork_hook_a_new_pool_is_made(monkeypatch: pytest.MonkeyPatch) -> None:
    """The at-fork hook drops the inherited pool (here: one that no longer runs tasks) so the threaded
    path builds a working one."""
    dead = ThreadPoolExecutor(max_workers=1)
    dead.shutdown()
    monkeypatch.setattr(_bs_kernel, "_POOL", dead)
    _bs_kernel._forget_pool_in_child()
    spot = np.linspace(50.0, 150.0, _bs_kernel.PARALLEL_MIN * 2)
    res = bs_delta_gamma_vega(spot, 100.0, 0.5, 0.3, threads=2)
    pool = _bs_kernel._POOL
    assert pool is not None and pool is not dead
    pool.shutdown(wait=True)
    np.testing.assert_array_equal(res.delta, bs_delta_gamma_vega(spot, 100.0, 0.5, 0.3, threads=1).delta)


@pytest.mark.parametrize(("cpus", "threads"), [(None, 1), (1, 1), (2, 2), (3, 3), (16, 4)])
def test_default_threads_is_the_cpu_count_at_most_four(monkeypatch: pytest.MonkeyPatch, cpus: int | None,
                                                       threads: int) -> None:
    monkeypatch.setattr(os, "cpu_count", lambda: cpus)
    assert _bs_kernel.default_threads() == threads


def test_worthless_options_are_priced_zero_never_negative() -> None:
    """Deep out of the money ``S e^{-qT} N(d1) - K e^{-rT} N(d2)`` is a difference of two tiny numbers;
    its rounding must not leave a negative price (the lower bound is 0)."""
    rng = np.random.default_rng(0)
    n = 200_000
    s = rng.uniform(50, 150, n)
    k = s * np.exp(rng.uniform(-8, 8, n))
    t, v = rng.uniform(0.001, 3, n), rng.uniform(0.01, 2, n)
    r, q = rng.uniform(-0.05, 0.1, n), rng.uniform(0, 0.1, n)
    call = rng.random(n) < 0.5
    g = bs_greeks(s, k, t, v, r, q, call)
    assert float(g.price.min()) >= 0.0
    one = bs_greeks(128.23453337025674, 2.3219274978767963, 0.08220688310652223, 0.36402160906511,
                    -0.04950039165364975, 0.05376922963263371, False)
    assert float(one.price) == 0.0


def test_every_chunk_is_priced_like_the_first() -> None:
    """Prices and thetas of a book longer than one chunk, with mixed calls and puts, do not depend on
    where an option sits in the array."""
    n = _bs_kernel.CHUNK + 1000
    rng = np.random.default_rng(3)
    s, k = rng.uniform(80, 120, n), rng.uniform(80, 120, n)
    t, v = rng.uniform(0.1, 2.0, n), rng.uniform(0.1, 1.0, n)
    call = rng.random(n) < 0.5
    whole = bs_greeks(s, k, t, v, 0.03, 0.01, call)
    tail = slice(_bs_kernel.CHUNK - 10, n)
    part = bs_greeks(s[tail], k[tail], t[tail], v[tail], 0.03, 0.01, call[tail])
    for name in ("price", "delta", "gamma", "vega", "theta"):
        np.testing.assert_array_equal(getattr(whole, name)[tail], getattr(part, name))


def test_expired_elements_of_an_array_have_zero_theta() -> None:
    t = np.array([0.0, -1.0, 0.5, 0.0])
    g = bs_greeks(np.array([90.0, 110.0, 100.0, 100.0]), 100.0, t, 0.4, 0.05, 0.02, True)
    np.testing.assert_array_equal(g.theta[[0, 1, 3]], 0.0)
    np.testing.assert_array_equal(g.vega[[0, 1, 3]], 0.0)
    np.testing.assert_array_equal(g.price[[0, 1, 3]], [0.0, 10.0, 0.0])
    assert g.theta[2] < 0.0


def _new_keeper_threads(monkeypatch: pytest.MonkeyPatch, n: int, threads: int) -> int:
    """How many pool threads a fresh pool starts for one call on ``n`` options."""
    _fresh_pool(monkeypatch)
    before = set(threading.enumerate())
    bs_delta_gamma_vega(np.linspace(50.0, 150.0, n), 100.0, 0.5, 0.3, threads=threads)
    new = [th for th in set(threading.enumerate()) - before if th.name.startswith("keeper-bs")]
    pool = _bs_kernel._POOL
    if pool is not None:
        pool.shutdown(wait=True)
    return len(new)


def test_only_inputs_of_at_least_parallel_min_are_split(monkeypatch: pytest.MonkeyPatch) -> None:
    """Documented: inputs of at least PARALLEL_MIN elements are split over ``threads`` workers; smaller
    ones, and ``threads=1``, stay on the calling thread."""
    assert _new_keeper_threads(monkeypatch, _bs_kernel.PARALLEL_MIN - 1, 2) == 0
    assert _new_keeper_threads(monkeypatch, _bs_kernel.PARALLEL_MIN, 2) == 1
    assert _new_keeper_threads(monkeypatch, _bs_kernel.PARALLEL_MIN, 1) == 0


@pytest.mark.parametrize(
    "out",
    [
        np.empty(14)[::2],  # not contiguous
        np.empty(7, dtype=np.float32),
        np.empty((7, 1)),
        np.zeros(7),  # made read-only below
    ],
)
def test_out_arrays_must_be_writeable_contiguous_float64_of_the_shape(out: np.ndarray) -> None:
    if out.ndim == 1 and out.dtype == np.float64 and out.flags.c_contiguous:
        out.flags.writeable = False
    good = np.empty(7)
    with pytest.raises(InputError) as info:
        bs_delta_gamma_vega(np.linspace(80.0, 120.0, 7), 100.0, 0.5, 0.3,
                            out=DeltaGammaVega(good.copy(), out, good.copy()))
    assert info.value.argument == "out"
    assert "gamma must be a writeable C-contiguous float64 array of shape (7,)" in str(info.value)


@pytest.mark.parametrize(("r", "q"), [(1.0, 0.0), (0.0, 1.0), (1.5, 0.5), (2.0, 1.0)])
def test_rates_and_carries_of_exactly_one(r: float, q: float) -> None:
    """A carry ``r - q`` or a yield ``q`` of exactly 1.0 per year is an ordinary value."""
    s, k, t, v = 100.0, 130.0, 0.75, 0.4
    srt = v * math.sqrt(t)
    d1 = (math.log(s / k) + (r - q + 0.5 * v * v) * t) / srt
    n = 0.5 * math.erfc(-d1 / math.sqrt(2.0))
    n2 = 0.5 * math.erfc(-(d1 - srt) / math.sqrt(2.0))
    g = bs_greeks(s, k, t, v, r, q, True)
    assert float(g.price) == pytest.approx(s * math.exp(-q * t) * n - k * math.exp(-r * t) * n2, rel=1e-12)
    assert float(g.delta) == pytest.approx(math.exp(-q * t) * n, rel=1e-12)


def test_enormous_volatility_reaches_the_limits_without_warnings() -> None:
    """As sigma sqrt T grows without bound a call is worth ``S e^{-qT}`` and a put ``K e^{-rT}``."""
    for sig in (1e120, 1e160, 1e300):
        c = bs_greeks(100.0, 90.0, 1.0, sig, 0.05, 0.02, True)
        p = bs_greeks(100.0, 90.0, 1.0, sig, 0.05, 0.02, False)
        assert float(c.price) == pytest.approx(100.0 * math.exp(-0.02), rel=1e-12)
        assert float(p.price) == pytest.approx(90.0 * math.exp(-0.05), rel=1e-12)
        assert float(c.delta) == pytest.approx(math.exp(-0.02), rel=1e-12)
        assert float(c.gamma) == 0.0
