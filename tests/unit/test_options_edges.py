"""Every public function of keeper.core.options against the closed forms (computed here with math.erfc),
with and without its default arguments, and the documented ``threads``/``out`` contract."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable

import numpy as np
import pytest

from keeper.core import _bs_kernel
from keeper.core import options as o


def _ncdf(x: float) -> float:
    return 0.5 * math.erfc(-x / math.sqrt(2.0))


def _npdf(x: float) -> float:
    return math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi)


def _ref(s: float, k: float, t: float, v: float, r: float, q: float, call: bool) -> dict[str, float]:
    """Generalized Black-Scholes-Merton closed forms (module docstring of options, Hull ch. 17/19)."""
    w = 1.0 if call else -1.0
    srt = v * math.sqrt(t)
    d1 = (math.log(s / k) + (r - q + 0.5 * v * v) * t) / srt
    d2 = d1 - srt
    dq, df = math.exp(-q * t), math.exp(-r * t)
    return {
        "price": w * (s * dq * _ncdf(w * d1) - k * df * _ncdf(w * d2)),
        "delta": w * dq * _ncdf(w * d1),
        "gamma": dq * _npdf(d1) / (s * srt),
        "vega": s * dq * _npdf(d1) * math.sqrt(t),
        "theta": -s * dq * _npdf(d1) * v / (2.0 * math.sqrt(t))
        + w * (q * s * dq * _ncdf(w * d1) - r * k * df * _ncdf(w * d2)),
    }


S, K, T, V = 100.0, 110.0, 0.5, 0.3
BS_ONE: dict[str, Callable[..., np.ndarray]] = {
    "price": o.bs_price, "delta": o.bs_delta, "gamma": o.bs_gamma, "vega": o.bs_vega, "theta": o.bs_theta,
}
B76_ONE: dict[str, Callable[..., np.ndarray]] = {
    "price": o.black76_price, "delta": o.black76_delta, "gamma": o.black76_gamma,
    "vega": o.black76_vega, "theta": o.black76_theta,
}
GREEKS = ("price", "delta", "gamma", "vega", "theta")


@pytest.mark.parametrize("name", GREEKS)
def test_bs_defaults_are_a_call_at_zero_rate_and_carry(name: str) -> None:
    ref = _ref(S, K, T, V, 0.0, 0.0, True)[name]
    assert float(BS_ONE[name](S, K, T, V)) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("name", GREEKS)
@pytest.mark.parametrize("call", [True, False])
def test_bs_single_greeks_match_closed_form_with_rate_and_carry(name: str, call: bool) -> None:
    ref = _ref(S, K, T, V, 0.05, 0.02, call)[name]
    assert float(BS_ONE[name](S, K, T, V, 0.05, 0.02, call)) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("name", GREEKS)
def test_bs_default_is_call_and_default_carry_with_a_rate(name: str) -> None:
    """Only ``r`` given: ``q`` defaults to 0 and the option is a call (theta depends on both)."""
    ref = _ref(S, K, T, V, 0.05, 0.0, True)[name]
    assert float(BS_ONE[name](S, K, T, V, 0.05)) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("name", GREEKS)
@pytest.mark.parametrize("call", [True, False])
def test_black76_single_greeks_are_bsm_on_the_forward_with_q_equal_r(name: str, call: bool) -> None:
    f, r = 105.0, 0.04
    ref = _ref(f, K, T, V, r, r, call)[name]
    assert float(B76_ONE[name](f, K, T, V, r, call)) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("name", GREEKS)
def test_black76_defaults_are_an_undiscounted_call(name: str) -> None:
    f = 105.0
    ref = _ref(f, K, T, V, 0.0, 0.0, True)[name]
    assert float(B76_ONE[name](f, K, T, V)) == pytest.approx(ref, rel=1e-12)


@pytest.mark.parametrize("name", GREEKS)
def test_black76_default_is_call_with_a_rate(name: str) -> None:
    f, r = 105.0, 0.04
    ref = _ref(f, K, T, V, r, r, True)[name]
    assert float(B76_ONE[name](f, K, T, V, r)) == pytest.approx(ref, rel=1e-12)


def test_black76_closed_form_by_hand() -> None:
    """Black (1976) at F = K: d1 = s/2, price = e^{-rT} F (2 N(s/2) - 1),
    theta = r V - e^{-rT} F n(d1) v / (2 sqrt T)."""
    f, t, v, r = 100.0, 1.0, 0.2, 0.05
    df = math.exp(-r * t)
    price = df * f * (2.0 * _ncdf(0.1) - 1.0)
    assert float(o.black76_price(f, f, t, v, r)) == pytest.approx(price, rel=1e-13)
    assert float(o.black76_gamma(f, f, t, v, r)) == pytest.approx(df * _npdf(0.1) / (f * v), rel=1e-13)
    assert float(o.black76_vega(f, f, t, v, r)) == pytest.approx(df * f * _npdf(0.1), rel=1e-13)
    theta = r * price - df * f * _npdf(0.1) * v / 2.0
    assert float(o.black76_theta(f, f, t, v, r)) == pytest.approx(theta, rel=1e-12)


@pytest.mark.parametrize("call", [True, False])
def test_greeks_bundles_and_defaults(call: bool) -> None:
    g = o.bs_greeks(S, K, T, V, 0.05, 0.02, call)
    b = o.black76_greeks(S, K, T, V, 0.05, call)
    for name in GREEKS:
        assert float(getattr(g, name)) == pytest.approx(_ref(S, K, T, V, 0.05, 0.02, call)[name], rel=1e-12)
        assert float(getattr(b, name)) == pytest.approx(_ref(S, K, T, V, 0.05, 0.05, call)[name], rel=1e-12)
    d = o.bs_greeks(S, K, T, V)
    bd = o.black76_greeks(S, K, T, V)
    for name in GREEKS:
        assert float(getattr(d, name)) == pytest.approx(_ref(S, K, T, V, 0.0, 0.0, True)[name], rel=1e-12)
        assert float(getattr(bd, name)) == pytest.approx(_ref(S, K, T, V, 0.0, 0.0, True)[name], rel=1e-12)


@pytest.mark.parametrize("call", [True, False])
def test_delta_gamma_vega_functions_and_defaults(call: bool) -> None:
    pairs = ((o.bs_delta_gamma_vega(S, K, T, V, 0.05, 0.02, call), 0.02),
             (o.black76_delta_gamma_vega(S, K, T, V, 0.05, call), 0.05))
    for res, q in pairs:
        ref = _ref(S, K, T, V, 0.05, q, call)
        for name in ("delta", "gamma", "vega"):
            assert float(getattr(res, name)) == pytest.approx(ref[name], rel=1e-12)
    for fn in (o.bs_delta_gamma_vega, o.black76_delta_gamma_vega):
        res = fn(S, K, T, V)
        ref = _ref(S, K, T, V, 0.0, 0.0, True)
        for name in ("delta", "gamma", "vega"):
            assert float(getattr(res, name)) == pytest.approx(ref[name], rel=1e-12)
    b = o.black76_delta_gamma_vega(S, K, T, V, 0.05)
    assert float(b.delta) == pytest.approx(_ref(S, K, T, V, 0.05, 0.05, True)["delta"], rel=1e-12)


def test_black76_out_arrays_are_filled_and_returned() -> None:
    f = np.linspace(80.0, 120.0, 7)
    out = o.DeltaGammaVega(np.empty(7), np.empty(7), np.empty(7))
    res = o.black76_delta_gamma_vega(f, 100.0, 0.5, 0.3, 0.03, False, out=out)
    assert res.delta is out.delta and res.gamma is out.gamma and res.vega is out.vega
    for i, fi in enumerate(f):
        ref = _ref(float(fi), 100.0, 0.5, 0.3, 0.03, 0.03, False)
        assert out.delta[i] == pytest.approx(ref["delta"], rel=1e-12)
        assert out.gamma[i] == pytest.approx(ref["gamma"], rel=1e-12)
        assert out.vega[i] == pytest.approx(ref["vega"], rel=1e-12)


def _kernel_threads(monkeypatch: pytest.MonkeyPatch) -> set[int]:
    """Record the threads that run kernel blocks."""
    seen: set[int] = set()
    real = _bs_kernel.kernel

    def spy(*args: object, **kwargs: object) -> None:
        seen.add(threading.get_ident())
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_bs_kernel, "kernel", spy)
    return seen


@pytest.mark.parametrize("fn", [o.bs_delta_gamma_vega, o.black76_delta_gamma_vega])
def test_threads_one_stays_on_the_calling_thread(monkeypatch: pytest.MonkeyPatch,
                                                 fn: Callable[..., o.DeltaGammaVega]) -> None:
    """Documented: ``threads=1`` computes on the calling thread even for a large input."""
    seen = _kernel_threads(monkeypatch)
    n = _bs_kernel.PARALLEL_MIN * 2
    monkeypatch.setattr(_bs_kernel, "default_threads", lambda: 2)
    fn(np.linspace(50.0, 150.0, n), 100.0, 0.5, 0.3, threads=1)
    assert seen == {threading.get_ident()}
