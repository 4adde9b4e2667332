"""European option prices and greeks: Black-Scholes-Merton (spot) and Black-76 (forward).

Model
-----
Generalized Black-Scholes-Merton with cost of carry ``b = r - q``, spot ``S``,
strike ``K``, time to expiry ``T`` (years), volatility ``sigma`` (annual, 0.5 =
50 %), continuously compounded rate ``r`` and carry/dividend yield ``q``::

    F  = S exp((r - q) T)                  forward
    d1 = (ln(F / K) + sigma^2 T / 2) / (sigma sqrt T),   d2 = d1 - sigma sqrt T
    call = S e^{-qT} N(d1)  - K e^{-rT} N(d2)
    put  = K e^{-rT} N(-d2) - S e^{-qT} N(-d1)

With ``w = +1`` for a call and ``-1`` for a put:

* price ``= w (S e^{-qT} N(w d1) - K e^{-rT} N(w d2))``, in quote currency per unit;
* delta ``= dV/dS = w e^{-qT} N(w d1)``, units of underlying per option;
* gamma ``= d2V/dS2 = e^{-qT} n(d1) / (S sigma sqrt T)``, delta per unit of price;
* vega ``= dV/dsigma = S e^{-qT} n(d1) sqrt T``, quote currency per 1.00 of
  volatility (i.e. per 100 vol points; divide by 100 for one point);
* theta ``= dV/dt`` (calendar time, ``T`` decreasing)
  ``= -S e^{-qT} n(d1) sigma / (2 sqrt T) + w (q S e^{-qT} N(w d1) - r K e^{-rT} N(w d2))``,
  quote currency **per year**; per calendar day divide by 365.

Black-76 on a forward ``F`` discounted at ``r`` is the special case ``S = F``,
``q = r`` (``b = 0``); its delta and gamma are with respect to ``F``.

Conventions at the edges (no NaN, no warning)
---------------------------------------------
* ``T <= 0`` (expired): price = intrinsic ``max(w (S - K), 0)``; delta is a step,
  ``w`` in the money, 0 out of the money and **``w/2`` exactly at the money**;
  gamma, vega and theta are 0.
* ``sigma sqrt T == 0`` with ``T > 0``: the deterministic forward limit: price
  ``e^{-rT} max(w (F - K), 0)``, delta ``w e^{-qT}`` / 0 / ``w e^{-qT}/2`` at the
  forward (``|ln(F/K)| <= 1e-12`` counts as at the forward, so that rounding in
  ``F`` does not pick a side), gamma and vega 0, theta the derivative of that limit.
* Deep in or out of the money: ``N`` saturates to exactly 0 or 1, the density
  underflows quietly to 0.

Shapes
------
Every argument is array_like and broadcast together. Every function returns
ndarrays of float64 with the broadcast shape -- a 0-d array for all-scalar input
(use ``float(x)``). This is consistent for typing: the return type never
depends on the input.

Normal CDF: :mod:`keeper.core.normal` (Cody 1969), ~1e-16 relative in both tails.
The hot path :func:`bs_delta_gamma_vega` shares ``d1`` and ``exp(-d1^2/2)``
between the density and the CDF and splits large inputs into cache-sized
chunks run on a small thread pool (numpy releases the GIL in ufunc loops).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keeper.core import _bs_kernel as _k

__all__ = [
    "DeltaGammaVega",
    "Greeks",
    "black76_delta",
    "black76_delta_gamma_vega",
    "black76_gamma",
    "black76_greeks",
    "black76_price",
    "black76_theta",
    "black76_vega",
    "bs_delta",
    "bs_delta_gamma_vega",
    "bs_gamma",
    "bs_greeks",
    "bs_price",
    "bs_theta",
    "bs_vega",
]

FloatArray = NDArray[np.float64]


class DeltaGammaVega(NamedTuple):
    """Delta, gamma and vega computed together (see module docstring for units)."""

    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray


@dataclass(frozen=True, slots=True)
class Greeks:
    """Price and first-order greeks of European options, broadcast shape each.

    Attributes
    ----------
    price : quote currency per option (one unit of underlying).
    delta : dV/dS, units of underlying per option.
    gamma : d2V/dS2, units of underlying per option per unit of price.
    vega : dV/dsigma, quote currency per 1.00 volatility (per 100 vol points).
    theta : dV/dt, quote currency per year (divide by 365 for per calendar day).
    """

    price: FloatArray
    delta: FloatArray
    gamma: FloatArray
    vega: FloatArray
    theta: FloatArray


def _one(
    field: str, spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike, q: ArrayLike, is_call: ArrayLike,
) -> FloatArray:
    want = _k.Want(*(f == field for f in _k.Want._fields))
    return _k.compute(_k.prepare(spot, strike, t, sigma, r, q, is_call), want, None)[field]


def _all(
    spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike, q: ArrayLike, is_call: ArrayLike,
) -> Greeks:
    res = _k.compute(_k.prepare(spot, strike, t, sigma, r, q, is_call), _k.ALL, None)
    return Greeks(res["price"], res["delta"], res["gamma"], res["vega"], res["theta"])


def _dgv(
    spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike, q: ArrayLike, is_call: ArrayLike, threads: int | None, out: DeltaGammaVega | None,
) -> DeltaGammaVega:
    dest = None if out is None else {"delta": out.delta, "gamma": out.gamma, "vega": out.vega}
    res = _k.compute(_k.prepare(spot, strike, t, sigma, r, q, is_call), _k.DGV, threads, dest)
    return DeltaGammaVega(res["delta"], res["gamma"], res["vega"])


def bs_price(
    spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, q: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> FloatArray:
    """Black-Scholes-Merton price, quote currency per unit of underlying.

    Parameters
    ----------
    spot : array_like
        Spot price ``S > 0`` (quote currency per unit of underlying).
    strike : array_like
        Strike ``K > 0``, same units.
    t : array_like
        Time to expiry in years; ``<= 0`` means expired (intrinsic value).
    sigma : array_like
        Annualized volatility ``>= 0`` (0.5 = 50 %).
    r : array_like, default 0
        Continuously compounded risk-free rate per year.
    q : array_like, default 0
        Continuous carry/dividend yield per year (``b = r - q``).
    is_call : array_like of bool, default True
        True for calls, False for puts.

    Returns
    -------
    ndarray of float64
        Broadcast shape of the inputs (0-d for scalars).

    Raises
    ------
    InputError
        Non-finite input, ``spot``/``strike <= 0``, ``sigma < 0`` or shapes that do not broadcast.
    """
    return _one("price", spot, strike, t, sigma, r, q, is_call)


def bs_delta(
    spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, q: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> FloatArray:
    """Delta ``dV/dS = w e^{-qT} N(w d1)``, underlying units per option. Arguments as :func:`bs_price`."""
    return _one("delta", spot, strike, t, sigma, r, q, is_call)


def bs_gamma(
    spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, q: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> FloatArray:
    """Gamma ``e^{-qT} n(d1) / (S sigma sqrt T)``, per unit of price. Arguments as :func:`bs_price`."""
    return _one("gamma", spot, strike, t, sigma, r, q, is_call)


def bs_vega(
    spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, q: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> FloatArray:
    """Vega ``S e^{-qT} n(d1) sqrt T`` per 1.00 of volatility. Arguments as :func:`bs_price`."""
    return _one("vega", spot, strike, t, sigma, r, q, is_call)


def bs_theta(
    spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, q: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> FloatArray:
    """Theta ``dV/dt`` per year of calendar time (``/365`` per day). Arguments as :func:`bs_price`."""
    return _one("theta", spot, strike, t, sigma, r, q, is_call)


def bs_greeks(
    spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, q: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> Greeks:
    """Price, delta, gamma, vega and theta in one pass. Arguments as :func:`bs_price`."""
    return _all(spot, strike, t, sigma, r, q, is_call)


def bs_delta_gamma_vega(
    spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, q: ArrayLike = 0.0, is_call: ArrayLike = True,
    *, threads: int | None = None, out: DeltaGammaVega | None = None,
) -> DeltaGammaVega:
    """Delta, gamma and vega together: the hedging hot path.

    Shares ``d1`` and ``exp(-d1^2/2)`` between ``n(d1)`` and ``N(d1)``; inputs of
    at least ``PARALLEL_MIN`` (65,536) elements are split into blocks computed
    on a thread pool of ``threads`` workers (default: the CPU count, at most 4;
    ``threads=1`` stays on the calling thread). Arguments as :func:`bs_price`.

    Parameters
    ----------
    out : DeltaGammaVega, optional
        Preallocated float64 C-contiguous arrays of the broadcast shape to fill
        (saves allocating and first-touching 24 bytes per option when a book is
        revalued repeatedly); they are returned. Must not overlap the inputs.
    """
    return _dgv(spot, strike, t, sigma, r, q, is_call, threads, out)


def black76_price(
    forward: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> FloatArray:
    """Black-76 price ``e^{-rT} w (F N(w d1) - K N(w d2))`` on a forward ``F``.

    Identical to :func:`bs_price` with ``spot=forward`` and ``q=r``. Arguments as
    there, ``forward > 0`` in quote currency.
    """
    return _one("price", forward, strike, t, sigma, r, r, is_call)


def black76_delta(
    forward: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> FloatArray:
    """Black-76 forward delta ``dV/dF = w e^{-rT} N(w d1)``."""
    return _one("delta", forward, strike, t, sigma, r, r, is_call)


def black76_gamma(
    forward: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> FloatArray:
    """Black-76 forward gamma ``e^{-rT} n(d1) / (F sigma sqrt T)``."""
    return _one("gamma", forward, strike, t, sigma, r, r, is_call)


def black76_vega(
    forward: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> FloatArray:
    """Black-76 vega ``e^{-rT} F n(d1) sqrt T`` per 1.00 of volatility."""
    return _one("vega", forward, strike, t, sigma, r, r, is_call)


def black76_theta(
    forward: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> FloatArray:
    """Black-76 theta per year, forward held fixed: ``r V - e^{-rT} F n(d1) sigma / (2 sqrt T)``."""
    return _one("theta", forward, strike, t, sigma, r, r, is_call)


def black76_greeks(
    forward: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> Greeks:
    """Black-76 price and greeks (delta and gamma with respect to the forward)."""
    return _all(forward, strike, t, sigma, r, r, is_call)


def black76_delta_gamma_vega(
    forward: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike = 0.0, is_call: ArrayLike = True, *, threads: int | None = None,
    out: DeltaGammaVega | None = None,
) -> DeltaGammaVega:
    """Black-76 delta, gamma and vega together (the threaded hot path; ``out`` as in the BSM one)."""
    return _dgv(forward, strike, t, sigma, r, r, is_call, threads, out)
