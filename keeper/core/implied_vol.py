"""Implied volatility of European options, vectorized and robust.

Method
------
1. **Normalize** (as in P. Jäckel, "Let's be rational", *Wilmott* 2015, pp. 40-53):
   with forward ``F``, discount ``D = e^{-rT}`` and undiscounted price ``c = V/D``,
   set ``x = ln(F/K)`` and ``beta = c_otm / sqrt(F K)``, where ``c_otm`` is the
   out-of-the-money option's price (an in-the-money price is mapped through
   put-call parity ``C - P = F - K``). By the symmetry ``p(x, s) = b(-x, s)``
   everything becomes an out-of-the-money **call** with ``x <= 0``::

       b(x, s) = e^{x/2} N(x/s + s/2) - e^{-x/2} N(x/s - s/2),   s = sigma sqrt T,

   strictly increasing in ``s`` from 0 to ``e^{x/2}``; vega ``db/ds = e^{x/2} n(x/s + s/2)``.
2. **Bounds**: ``beta < 0`` is below intrinsic, ``beta >= e^{x/2}`` above the
   upper bound (``C < F``, ``P < K``): both give NaN and a status, never an exception.
   ``beta == 0`` (to rounding) is exactly intrinsic: vol 0.
3. **Initial guess**: Corrado-Miller (1996),
   ``s0 = sqrt(2 pi)/(F+K) [c - (F-K)/2 + sqrt((c - (F-K)/2)^2 - (F-K)^2/pi)]``,
   written in normalized units; where its discriminant is negative or the price
   is tiny, the small-price asymptote ``ln b ~ -x^2 / (2 s^2)``, i.e.
   ``s0 = |x| / sqrt(-2 ln beta)``.
4. **Safeguarded Newton** on ``g(s) = ln b(s) - ln beta`` (far more linear than
   ``b`` itself for small prices; ``g' = vega / b``) inside a bracket
   ``[lo, hi]`` that every iterate tightens; a step leaving the bracket is
   replaced by bisection. All elements iterate together; converged ones drop
   out. Stops when ``|ds| <= 1e-14 s``, ``|g| <= 1e-14`` or the bracket is
   narrower than ``1e-13 s``; after 30 iterations only bisection is used (it
   halves the bracket every step, so rounding noise in ``b`` cannot stall it).

The normal CDF is :func:`keeper.core.normal.norm_cdf` (Cody), accurate in both tails.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keeper.core.normal import norm_cdf, norm_pdf
from keeper.errors import InputError

__all__ = ["IVResult", "IVStatus", "implied_vol_black76", "implied_vol_bs"]

FloatArray = NDArray[np.float64]

S_MAX: Final = 40.0
"""Largest total volatility ``sigma sqrt T`` searched; beyond it ``b`` equals its bound in float64."""
MAX_ITER: Final = 100
NEWTON_ITER: Final = 30
_EPS: Final = np.finfo(np.float64).eps


class IVStatus(IntEnum):
    """Per-element outcome of an implied-volatility inversion."""

    OK = 0
    """Converged; ``vol`` is the implied volatility."""
    AT_INTRINSIC = 1
    """Price equals intrinsic value (to rounding); ``vol`` is 0."""
    BELOW_INTRINSIC = 2
    """Price below the no-arbitrage lower bound; ``vol`` is NaN."""
    ABOVE_UPPER_BOUND = 3
    """Price at or above the upper bound (``F`` for calls, ``K`` for puts, discounted); NaN."""
    VOL_OUT_OF_RANGE = 4
    """Within bounds but needs ``sigma sqrt T > S_MAX``, or did not converge; NaN."""
    INVALID_INPUT = 5
    """Non-finite input, non-positive forward/strike or ``t <= 0``; NaN."""


@dataclass(frozen=True, slots=True)
class IVResult:
    """Implied volatilities and how each was obtained.

    Attributes
    ----------
    vol : ndarray of float64
        Annualized implied volatility (0.5 = 50 %), NaN where not defined.
    status : ndarray of int8
        An :class:`IVStatus` code per element.
    iterations : int
        Vectorized Newton/bisection iterations performed (the slowest element's count).
    """

    vol: FloatArray
    status: NDArray[np.int8]
    iterations: int

    @property
    def ok(self) -> NDArray[np.bool_]:
        """True where ``vol`` is a number (status OK or AT_INTRINSIC)."""
        return np.asarray(self.status <= IVStatus.AT_INTRINSIC, dtype=np.bool_)

    @property
    def arbitrage(self) -> NDArray[np.bool_]:
        """True where the price violates a no-arbitrage bound."""
        return np.asarray(
            (self.status == IVStatus.BELOW_INTRINSIC) | (self.status == IVStatus.ABOVE_UPPER_BOUND),
            dtype=np.bool_,
        )


def _normalized_call(x: FloatArray, s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``b(x, s)`` and ``db/ds`` for ``x <= 0``, ``s > 0``."""
    d1 = x / s + 0.5 * s
    d2 = d1 - s
    ex = np.exp(0.5 * x)
    b = ex * norm_cdf(d1) - norm_cdf(d2) / ex
    vega = ex * norm_pdf(d1)
    return b, vega


def _initial_guess(x: FloatArray, beta: FloatArray) -> FloatArray:
    """Corrado-Miller in normalized units, else the small-price asymptote."""
    # Normalized: F -> e^{x/2}, K -> e^{-x/2}, c -> beta.
    fw, kk = np.exp(0.5 * x), np.exp(-0.5 * x)
    half = beta - 0.5 * (fw - kk)
    disc = half * half - (fw - kk) ** 2 / math.pi
    cm = math.sqrt(2.0 * math.pi) / (fw + kk) * (half + np.sqrt(np.maximum(disc, 0.0)))
    lnb = np.log(np.maximum(beta, 1e-300))
    asym = np.abs(x) / np.sqrt(np.maximum(-2.0 * lnb, 1e-300))
    use_cm = (disc > 0.0) & (cm > 0.0) & (beta > 1e-3 * fw)
    guess = np.where(use_cm, cm, np.where(x < 0.0, asym, math.sqrt(2.0 * math.pi) * beta))
    return np.asarray(np.clip(guess, 1e-8, S_MAX), dtype=np.float64)


def _solve(x: FloatArray, beta: FloatArray) -> tuple[FloatArray, NDArray[np.bool_], int]:
    """Solve ``b(x, s) = beta`` for ``s``; inputs strictly inside the bounds, ``x <= 0``."""
    n = x.size
    s = _initial_guess(x, beta)
    lo = np.zeros(n)
    hi = np.full(n, S_MAX)
    lnbeta = np.log(beta)
    done = np.zeros(n, dtype=np.bool_)
    active = np.arange(n)
    it = 0
    while active.size and it < MAX_ITER:
        it += 1
        xa, sa = x[active], s[active]
        b, vega = _normalized_call(xa, sa)
        pos = b > 0.0
        g = np.where(pos, np.log(np.where(pos, b, 1.0)) - lnbeta[active], -np.inf)
        below = g < 0.0
        lo[active] = np.where(below, sa, lo[active])
        hi[active] = np.where(below, hi[active], sa)
        slope = np.where(pos & (vega > 0.0), vega / np.where(pos, b, 1.0), 0.0)
        step = np.where(slope > 0.0, g / np.where(slope > 0.0, slope, 1.0), np.inf)
        newton = sa - step
        la, ha = lo[active], hi[active]
        # Newton while it stays in the bracket; pure bisection after NEWTON_ITER
        # steps (where rounding noise in b keeps Newton from settling).
        inside = np.isfinite(newton) & (newton >= la) & (newton <= ha) & (it <= NEWTON_ITER)
        hit = np.abs(g) <= 1e-14  # converged at sa itself: keep it
        s_new = np.where(hit, sa, np.where(inside, newton, 0.5 * (la + ha)))
        conv = hit | (np.abs(s_new - sa) <= 1e-14 * sa) | (ha - la <= 1e-13 * ha)
        s[active] = s_new
        done[active[conv]] = True
        active = active[~conv]
    ok = done & (s < S_MAX * (1.0 - 1e-9))
    return s, ok, it


def _implied(
    price: ArrayLike, forward: FloatArray, strike: ArrayLike, t: ArrayLike, discount: FloatArray,
    is_call: ArrayLike, shape: tuple[int, ...],
) -> IVResult:
    v = np.broadcast_to(np.asarray(price, dtype=np.float64), shape).reshape(-1)
    f = np.broadcast_to(forward, shape).reshape(-1)
    k = np.broadcast_to(np.asarray(strike, dtype=np.float64), shape).reshape(-1)
    tt = np.broadcast_to(np.asarray(t, dtype=np.float64), shape).reshape(-1)
    df = np.broadcast_to(discount, shape).reshape(-1)
    call = np.broadcast_to(np.asarray(is_call, dtype=np.bool_), shape).reshape(-1)
    n = v.size
    status = np.full(n, IVStatus.INVALID_INPUT, dtype=np.int8)
    vol = np.full(n, np.nan)
    valid = (np.isfinite(v) & np.isfinite(f) & np.isfinite(k) & np.isfinite(tt) & np.isfinite(df)
             & (f > 0.0) & (k > 0.0) & (tt > 0.0) & (df > 0.0))
    idx = np.flatnonzero(valid)
    if idx.size:
        fv, kv, tv, cv = f[idx], k[idx], tt[idx], call[idx]
        und = v[idx] / df[idx]
        x = np.log(fv / kv)
        itm = np.where(cv, x > 0.0, x < 0.0)
        # out-of-the-money price: C - (F - K) = P, P + (F - K) = C
        otm = np.where(itm, np.where(cv, und - (fv - kv), und + (fv - kv)), und)
        root = np.sqrt(fv) * np.sqrt(kv)
        beta = otm / root
        xn = -np.abs(x)
        upper = np.exp(0.5 * xn)
        tol = 8.0 * _EPS * np.maximum(np.abs(und), np.maximum(fv, kv)) / root
        st = np.full(idx.size, IVStatus.OK, dtype=np.int8)
        st[beta < -tol] = IVStatus.BELOW_INTRINSIC
        st[(beta >= -tol) & (beta <= tol)] = IVStatus.AT_INTRINSIC
        st[beta >= upper * (1.0 - 4.0 * _EPS)] = IVStatus.ABOVE_UPPER_BOUND
        res = np.full(idx.size, np.nan)
        res[st == IVStatus.AT_INTRINSIC] = 0.0
        solve = np.flatnonzero(st == IVStatus.OK)
        iterations = 0
        if solve.size:
            s, ok, iterations = _solve(xn[solve], beta[solve])
            res[solve] = np.where(ok, s / np.sqrt(tv[solve]), np.nan)
            st[solve[~ok]] = IVStatus.VOL_OUT_OF_RANGE
        vol[idx] = res
        status[idx] = st
    else:
        iterations = 0
    return IVResult(vol.reshape(shape), status.reshape(shape), iterations)


def implied_vol_bs(
    price: ArrayLike, spot: ArrayLike, strike: ArrayLike, t: ArrayLike,
    r: ArrayLike = 0.0, q: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> IVResult:
    """Black-Scholes-Merton implied volatility (inverse of :func:`keeper.core.options.bs_price`).

    Parameters
    ----------
    price : array_like
        Option prices, quote currency per unit of underlying.
    spot, strike : array_like
        Spot and strike, same currency.
    t : array_like
        Years to expiry (> 0; otherwise the element is INVALID_INPUT).
    r, q : array_like
        Continuously compounded rate and carry/dividend yield per year.
    is_call : array_like of bool

    Returns
    -------
    IVResult
        ``vol`` in the broadcast shape, NaN where the price has no implied
        volatility; ``status`` says why. Never raises per element.

    Raises
    ------
    InputError
        Only when the shapes do not broadcast.
    """
    shape = _shape(price, spot, strike, t, r, q, is_call)
    tt = np.asarray(t, dtype=np.float64)
    rr = np.asarray(r, dtype=np.float64)
    with np.errstate(over="ignore", invalid="ignore"):  # bad elements are flagged INVALID_INPUT
        forward = np.asarray(spot, dtype=np.float64) * np.exp((rr - np.asarray(q, dtype=np.float64)) * tt)
        discount = np.exp(-rr * tt)
    return _implied(price, np.asarray(forward, dtype=np.float64), strike, t,
                    np.asarray(discount, dtype=np.float64), is_call, shape)


def implied_vol_black76(
    price: ArrayLike, forward: ArrayLike, strike: ArrayLike, t: ArrayLike,
    r: ArrayLike = 0.0, is_call: ArrayLike = True,
) -> IVResult:
    """Black-76 implied volatility (inverse of :func:`keeper.core.options.black76_price`).

    Arguments as :func:`implied_vol_bs` with ``forward`` in place of spot and no ``q``.
    """
    shape = _shape(price, forward, strike, t, r, is_call)
    with np.errstate(over="ignore", invalid="ignore"):
        discount = np.exp(-np.asarray(r, dtype=np.float64) * np.asarray(t, dtype=np.float64))
    return _implied(price, np.asarray(forward, dtype=np.float64), strike, t,
                    np.asarray(discount, dtype=np.float64), is_call, shape)


def _shape(*args: ArrayLike) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*(np.shape(a) for a in args))
    except ValueError as exc:
        raise InputError("price/forward/strike/t/r/is_call", f"shapes do not broadcast: {exc}") from exc
