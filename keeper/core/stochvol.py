"""Heston stochastic volatility: seeded path simulation and semi-closed-form European prices.

Model (zero rate and carry; time in years)::

    dS = S sqrt(v) dW1,    dv = kappa (theta - v) dt + xi sqrt(v) dW2,    dW1 dW2 = rho dt

A negative ``rho`` gives the equity-like skew (vol rises as spot falls) whose dynamics the
minimum-variance delta captures.

Prices (Lewis 2001, "A simple option formula for general jump-diffusion and other exponential
Levy processes", eq. 2.10, with ``r = q = 0``)::

    C(S, K, T, v) = S - sqrt(S K) / pi * int_0^inf Re[exp(i u x) phi_T(u - i/2; v)] / (u^2 + 1/4) du,
    x = ln(S / K)

with the characteristic function of ``ln(S_T / S_0)`` in the "little trap" form of Albrecher,
Mayer, Schoutens & Tistaert (2007), numerically stable for long maturities::

    beta = kappa - rho xi i u,   d = sqrt(beta^2 + xi^2 (i u + u^2)),   g = (beta - d) / (beta + d)
    phi_T(u; v) = exp(A(u, T) + B(u, T) v),
    A = kappa theta / xi^2 ((beta - d) T - 2 ln((1 - g e^{-dT}) / (1 - g))),
    B = (beta - d) / xi^2 (1 - e^{-dT}) / (1 - g e^{-dT})

``v`` enters only through ``B v``, so for one maturity the same ``A, B`` price every path at
once. The integral is Gauss-Legendre on ``[0, u_max]`` (``u_max`` from the decay
``exp(-u^2 v_min T / 2)`` of the integrand). Puts by parity ``P = C - S + K``.

Simulation: full-truncation Euler (Lord, Koekkoek & van Dijk 2010) on ``v``, exact log-Euler on
``S`` given ``v``, ``substeps`` steps per observation interval.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keeper.errors import InputError

__all__ = ["HestonGreeks", "HestonParams", "heston_greeks", "heston_price", "simulate_heston"]

FloatArray = NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class HestonParams:
    """Heston parameters: ``v0``, ``theta`` variances per year; ``kappa`` per year; ``xi`` vol of variance."""

    v0: float
    kappa: float
    theta: float
    xi: float
    rho: float

    def __post_init__(self) -> None:
        for name in ("v0", "kappa", "theta", "xi"):
            val = getattr(self, name)
            if not (math.isfinite(val) and val > 0):
                raise InputError(name, f"must be finite and > 0, got {val!r}")
        if not abs(self.rho) < 1:
            raise InputError("rho", f"must be in (-1, 1), got {self.rho!r}")


@functools.lru_cache(maxsize=8)
def _gauss_legendre(n: int) -> tuple[FloatArray, FloatArray]:
    """Nodes and weights on [-1, 1], computed once per ``n`` (about 4 ms for 128) and read-only."""
    x, w = np.polynomial.legendre.leggauss(n)
    x.flags.writeable = False
    w.flags.writeable = False
    return x, w


def _ab(p: HestonParams, u: NDArray[np.complexfloating], t: float) -> tuple[NDArray[np.complexfloating], ...]:
    beta = p.kappa - p.rho * p.xi * 1j * u
    d = np.sqrt(beta * beta + p.xi * p.xi * (1j * u + u * u))
    g = (beta - d) / (beta + d)
    e = np.exp(-d * t)
    a = p.kappa * p.theta / p.xi**2 * ((beta - d) * t - 2.0 * np.log((1.0 - g * e) / (1.0 - g)))
    b = (beta - d) / p.xi**2 * (1.0 - e) / (1.0 - g * e)
    return a, b


def _lewis(p: HestonParams, spot: ArrayLike, strike: ArrayLike, t: float, v: ArrayLike, is_call: ArrayLike,
           nodes: int) -> tuple[NDArray[Any], ...]:
    """The broadcast inputs and the Lewis integrand's pieces: ``(s, k, var, call, u, w, zr, zi, b.real, b.imag)``
    with ``z = A + B v + i u x`` per (option, node), ``w`` the Gauss-Legendre weights over ``u^2 + 1/4``."""
    if not (math.isfinite(t) and t > 0):
        raise InputError("t", f"must be finite and > 0, got {t!r}")
    s, k, var, call = np.broadcast_arrays(np.asarray(spot, dtype=np.float64), np.asarray(strike, dtype=np.float64),
                                          np.asarray(v, dtype=np.float64), np.asarray(is_call, dtype=np.bool_))
    if not (np.all(s > 0) and np.all(k > 0) and np.all(np.isfinite(var)) and np.all(var >= 0)):
        raise InputError("spot/strike/v", "spot and strike must be > 0, v finite and >= 0")
    vmin = max(float(var.min()) if var.size else p.theta, 0.25 * min(p.theta, p.v0), 1e-4)
    u_max = max(50.0, math.sqrt(2.0 * 40.0 / (vmin * t)))
    x, w = _gauss_legendre(nodes)
    u = 0.5 * u_max * (x + 1.0)
    w = 0.5 * u_max * w / (u * u + 0.25)
    a, b = _ab(p, u - 0.5j, t)
    lx = np.log(s / k).reshape(-1, 1)
    z = a[None, :] + b[None, :] * var.reshape(-1, 1) + 1j * u[None, :] * lx
    return s, k, var, call, u, w, z.real, z.imag, b.real, b.imag


def heston_price(
    p: HestonParams, spot: ArrayLike, strike: ArrayLike, t: float, v: ArrayLike, is_call: ArrayLike = True,
    *, nodes: int = 128,
) -> FloatArray:
    """European prices under Heston at one maturity ``t`` (years), broadcast over spot, strike, variance.

    Parameters
    ----------
    p : HestonParams
    spot, strike : array_like
        Quote currency per unit, > 0.
    t : float
        Years to expiry, > 0.
    v : array_like
        Current instantaneous variance (per year), >= 0.
    is_call : array_like of bool
    nodes : int
        Gauss-Legendre nodes.

    Returns
    -------
    ndarray
        Prices, quote currency per option, floored at intrinsic value.
    """
    s, k, _var, call, _u, w, zr, zi, _br, _bi = _lewis(p, spot, strike, t, v, is_call, nodes)
    integral = (np.exp(zr) * np.cos(zi)) @ w
    sf, kf = s.reshape(-1), k.reshape(-1)
    c = sf - np.sqrt(sf * kf) / math.pi * integral
    price = np.where(call.reshape(-1), c, c - sf + kf)
    intrinsic = np.where(call.reshape(-1), np.maximum(sf - kf, 0.0), np.maximum(kf - sf, 0.0))
    return np.asarray(np.maximum(price, intrinsic).reshape(s.shape), dtype=np.float64)


class HestonGreeks(NamedTuple):
    """Sensitivities of Heston prices (quote per option): ``delta = dC/dS`` (per unit of spot), ``dv = dC/dv``
    (per unit of variance per year), and the model's own minimum-variance delta
    ``min_variance = delta + rho xi / S dC/dv`` (per unit of spot)."""

    delta: FloatArray
    dv: FloatArray
    min_variance: FloatArray


def heston_greeks(
    p: HestonParams, spot: ArrayLike, strike: ArrayLike, t: float, v: ArrayLike, is_call: ArrayLike = True,
    *, nodes: int = 128,
) -> HestonGreeks:
    """Delta, variance sensitivity and minimum-variance delta under Heston, broadcast like :func:`heston_price`.

    From the Lewis integral ``C = S - sqrt(S K) / pi * I(x, v)``, ``x = ln(S / K)``, differentiated
    under the integral sign (``d/dx exp(i u x) = i u exp(i u x)``, ``d/dv exp(B v) = B exp(B v)``)::

        dC/dS = 1 - sqrt(K / S) / pi * (I / 2 + dI/dx),    dC/dv = -sqrt(S K) / pi * dI/dv

    (puts: ``dC/dS - 1`` and the same ``dC/dv``, by parity). The minimum-variance delta minimises
    the instantaneous variance of ``dC - delta dS``: with ``dS = S sqrt(v) dW1`` and
    ``dv = ... + xi sqrt(v) dW2``, ``Cov(dC, dS) / Var(dS) = dC/dS + rho xi / S * dC/dv``.
    The greeks are those of the unfloored price (the floor at intrinsic only trims round-off).
    """
    s, k, _var, call, u, w, zr, zi, br, bi = _lewis(p, spot, strike, t, v, is_call, nodes)
    er = np.exp(zr)
    ec, es = er * np.cos(zi), er * np.sin(zi)
    integral = ec @ w
    d_x = (-u[None, :] * es) @ w
    d_v = (br[None, :] * ec - bi[None, :] * es) @ w
    sf, kf = s.reshape(-1), k.reshape(-1)
    delta = 1.0 - np.sqrt(kf / sf) / math.pi * (0.5 * integral + d_x) - np.where(call.reshape(-1), 0.0, 1.0)
    dv = -np.sqrt(sf * kf) / math.pi * d_v
    mv = delta + p.rho * p.xi / sf * dv
    return HestonGreeks(*(np.asarray(g.reshape(s.shape), dtype=np.float64) for g in (delta, dv, mv)))


def simulate_heston(
    p: HestonParams, s0: float, n_paths: int, n_steps: int, dt: float, *, seed: int, substeps: int = 8,
) -> tuple[FloatArray, FloatArray]:
    """Seeded paths of spot and variance at ``n_steps + 1`` times ``0, dt, ..., n_steps dt``.

    Returns
    -------
    (spot, variance)
        Each of shape ``(n_steps + 1, n_paths)``.
    """
    if n_paths < 1 or n_steps < 1 or not (dt > 0) or substeps < 1 or not s0 > 0:
        raise InputError("n_paths/n_steps/dt/substeps/s0", "must be positive")
    rng = np.random.default_rng(seed)
    h = dt / substeps
    sq = math.sqrt(h)
    c = math.sqrt(1.0 - p.rho * p.rho)
    spot = np.empty((n_steps + 1, n_paths))
    var = np.empty((n_steps + 1, n_paths))
    ls = np.full(n_paths, math.log(s0))
    v = np.full(n_paths, p.v0)
    spot[0], var[0] = s0, p.v0
    for i in range(n_steps):
        for _ in range(substeps):
            z1 = rng.standard_normal(n_paths)
            z2 = p.rho * z1 + c * rng.standard_normal(n_paths)
            vp = np.maximum(v, 0.0)
            ls += -0.5 * vp * h + np.sqrt(vp) * sq * z1
            v = v + p.kappa * (p.theta - vp) * h + p.xi * np.sqrt(vp) * sq * z2
        spot[i + 1] = np.exp(ls)
        var[i + 1] = np.maximum(v, 0.0)
    return spot, var
