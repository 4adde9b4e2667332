"""Raw SVI smiles: evaluation, Gatheral's butterfly density test, and a robust least-squares fit.

Model (Gatheral 2004, "raw" SVI)
--------------------------------
Total implied variance ``w = sigma_imp^2 T`` (dimensionless) as a function of log-forward
moneyness ``k = ln(K / F)``::

    w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + s^2))

with ``b >= 0``, ``|rho| < 1``, ``s > 0`` and ``a + b s sqrt(1 - rho^2) >= 0`` (the minimum of
``w``, reached at ``k* = m - rho s / sqrt(1 - rho^2)``, is non-negative). Derivatives::

    w'(k)  = b (rho + (k - m) / R),    w''(k) = b s^2 / R^3,    R = sqrt((k - m)^2 + s^2)

Butterfly (density) test (Gatheral & Jacquier 2014, eq. 2.1): the risk-neutral density of the
slice is ``g(k) n(d2) / sqrt(w)`` with::

    g(k) = (1 - k w' / (2 w))^2 - (w'^2 / 4) (1 / w + 1 / 4) + w'' / 2

so the slice is free of butterfly arbitrage iff ``g(k) >= 0`` for all ``k``.

Fit (:func:`fit_svi`)
---------------------
Least squares in total variance, equal weights, ``sum_j (w(k_j) - w_j)^2``:

1. **Starts** -- the quasi-explicit reduction of Zeliade Systems (2009): for fixed ``(m, s)``,
   ``y = (k - m) / s`` makes ``w = a + d y + c sqrt(y^2 + 1)`` linear in ``(a, d, c)`` with
   ``d = rho b s``, ``c = b s``. The linear least squares is solved on a grid of ``m`` (over and
   beyond the quoted range) times ``s`` (log-spaced, 1e-3 to 2 x the range), batched; the best
   solutions that satisfy the constraints, plus one heuristic start (``m`` at the lowest quote,
   ``b`` from the wing slopes), seed step 2.
2. **Polish** -- Levenberg-Marquardt with the analytic Jacobian on all five parameters in an
   unconstrained reparametrization that keeps every constraint by construction::

       b = beta^2,  rho = tanh(r),  s = exp(u),  a = exp(alpha) - b s sqrt(1 - rho^2)

   (so the minimum total variance is ``exp(alpha) > 0``). The best polished start wins.

At least five quotes are needed (five parameters). Pure numpy: no scipy in ``keeper.core``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keeper.errors import InputError, NumericalError

__all__ = ["MIN_QUOTES", "SviParams", "fit_svi", "svi_g", "svi_total_variance"]

FloatArray = NDArray[np.float64]

MIN_QUOTES: Final = 5
"""Fewest quotes a slice is fitted on (SVI has five parameters)."""
_R_MAX: Final = 7.0  # |rho| <= tanh(7) = 1 - 1.7e-6 < 1
_U_MIN, _U_MAX = math.log(1e-5), math.log(20.0)


@dataclass(frozen=True, slots=True)
class SviParams:
    """Raw SVI parameters of one expiry (see the module docstring).

    Attributes
    ----------
    a : level, total variance (dimensionless).
    b : wing slope, total variance per unit of log-moneyness, ``>= 0``.
    rho : skew / rotation, ``|rho| < 1``.
    m : horizontal shift, log-moneyness.
    sigma : smoothness at the vertex, log-moneyness, ``> 0``.
    """

    a: float
    b: float
    rho: float
    m: float
    sigma: float

    def __post_init__(self) -> None:
        for name in ("a", "b", "rho", "m", "sigma"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(name, f"SVI parameter must be finite, got {getattr(self, name)!r}")
        if self.b < 0:
            raise InputError("b", f"SVI b must be >= 0, got {self.b!r}")
        if not abs(self.rho) < 1:
            raise InputError("rho", f"SVI |rho| must be < 1, got {self.rho!r}")
        if not self.sigma > 0:
            raise InputError("sigma", f"SVI sigma must be > 0, got {self.sigma!r}")
        if self.min_variance < -1e-14:
            raise InputError("a", f"SVI a + b sigma sqrt(1 - rho^2) must be >= 0, got {self.min_variance!r}")

    @property
    def min_variance(self) -> float:
        """``a + b sigma sqrt(1 - rho^2)``: the smallest total variance of the slice."""
        return self.a + self.b * self.sigma * math.sqrt(1.0 - self.rho * self.rho)


def svi_total_variance(p: SviParams, k: ArrayLike, *, order: int = 0) -> FloatArray:
    """``w(k)`` (``order=0``), ``w'(k)`` (1) or ``w''(k)`` (2) of a raw SVI slice, vectorized over ``k``."""
    x = np.asarray(k, dtype=np.float64) - p.m
    r = np.sqrt(x * x + p.sigma * p.sigma)
    if order == 0:
        return np.asarray(p.a + p.b * (p.rho * x + r), dtype=np.float64)
    if order == 1:
        return np.asarray(p.b * (p.rho + x / r), dtype=np.float64)
    if order == 2:
        return np.asarray(p.b * p.sigma * p.sigma / (r * r * r), dtype=np.float64)
    raise InputError("order", f"must be 0, 1 or 2, got {order}")


def svi_g(p: SviParams, k: ArrayLike) -> FloatArray:
    """Gatheral's density function ``g(k)``; ``g < 0`` anywhere is butterfly arbitrage.

    Where ``w(k) = 0`` (possible only at the vertex of a zero-minimum slice) ``g`` is ``-inf``.
    """
    kk = np.asarray(k, dtype=np.float64)
    w = svi_total_variance(p, kk)
    w1 = svi_total_variance(p, kk, order=1)
    w2 = svi_total_variance(p, kk, order=2)
    safe = np.where(w > 0, w, 1.0)
    g = (1.0 - kk * w1 / (2.0 * safe)) ** 2 - w1 * w1 / 4.0 * (1.0 / safe + 0.25) + w2 / 2.0
    return np.asarray(np.where(w > 0, g, -np.inf), dtype=np.float64)


def _from_theta(th: FloatArray) -> SviParams:
    alpha, beta, r, m, u = (float(x) for x in th)
    b, rho, s = beta * beta, math.tanh(r), math.exp(u)
    return SviParams(math.exp(alpha) - b * s * math.sqrt(1.0 - rho * rho), b, rho, m, s)


def _to_theta(p: SviParams) -> FloatArray:
    mv = max(p.min_variance, 1e-12)
    r = math.atanh(max(-math.tanh(_R_MAX), min(math.tanh(_R_MAX), p.rho)))
    return np.array([math.log(mv), math.sqrt(p.b), r, p.m, math.log(p.sigma)])


def _model_jac(th: FloatArray, k: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``w(k)`` and ``dw/dtheta`` (shape (n, 5)) in the constrained reparametrization."""
    alpha, beta, r, m, u = th
    b, rho, s = beta * beta, math.tanh(r), math.exp(u)
    c = math.sqrt(1.0 - rho * rho)
    x = k - m
    big_r = np.sqrt(x * x + s * s)
    e = math.exp(alpha)
    w = e + b * (rho * x + big_r - s * c)
    jac = np.empty((k.size, 5))
    jac[:, 0] = e
    jac[:, 1] = 2.0 * beta * (rho * x + big_r - s * c)
    jac[:, 2] = b * (x * (1.0 - rho * rho) + s * rho * c)
    jac[:, 3] = -b * (rho + x / big_r)
    jac[:, 4] = b * s * (s / big_r - c)
    return w, jac


def _clip_theta(th: FloatArray) -> FloatArray:
    out = th.copy()
    out[0] = min(max(out[0], -60.0), 10.0)
    out[2] = min(max(out[2], -_R_MAX), _R_MAX)
    out[4] = min(max(out[4], _U_MIN), _U_MAX)
    return out


def _lm(th0: FloatArray, k: FloatArray, w: FloatArray, max_iter: int = 300) -> tuple[FloatArray, float]:
    """Levenberg-Marquardt (Marquardt's diagonal scaling) from ``th0``; returns (theta, SSE)."""
    th = _clip_theta(th0)
    model, jac = _model_jac(th, k)
    res = model - w
    sse = float(res @ res)
    lam = 1e-3
    for _ in range(max_iter):
        jtj = jac.T @ jac
        grad = jac.T @ res
        if float(np.max(np.abs(grad))) <= 1e-30 or sse <= 1e-32:
            break
        diag = np.maximum(np.diag(jtj), 1e-18)
        improved = False
        while lam < 1e12:
            try:
                step = np.linalg.solve(jtj + lam * np.diag(diag), -grad)
            except np.linalg.LinAlgError:
                lam *= 10.0
                continue
            cand = _clip_theta(th + step)
            cm, cj = _model_jac(cand, k)
            cres = cm - w
            csse = float(cres @ cres)
            if np.isfinite(csse) and csse < sse:
                rel = (sse - csse) / max(sse, 1e-300)
                th, jac, res, sse = cand, cj, cres, csse
                lam = max(lam / 10.0, 1e-12)
                improved = True
                if rel < 1e-15 and float(np.max(np.abs(step))) < 1e-13:
                    return th, sse
                break
            lam *= 10.0
        if not improved:
            break
    return th, sse


def _starts(k: FloatArray, w: FloatArray, n_best: int = 4) -> list[SviParams]:
    """Feasible quasi-explicit (Zeliade) solutions on an (m, s) grid, best first, plus a heuristic start."""
    lo, hi = float(k.min()), float(k.max())
    span = max(hi - lo, 1e-3)
    ms = np.linspace(lo - 0.5 * span, hi + 0.5 * span, 41)
    ss = np.geomspace(1e-3, 2.0 * span, 30)
    mm, sg = (a.reshape(-1) for a in np.meshgrid(ms, ss, indexing="ij"))
    y = (k[None, :] - mm[:, None]) / sg[:, None]
    x = np.stack([np.ones_like(y), y, np.sqrt(y * y + 1.0)], axis=-1)  # (G, n, 3)
    xtx = np.einsum("gni,gnj->gij", x, x)
    xtw = np.einsum("gni,n->gi", x, w)
    ridge = 1e-12 * np.einsum("gii->g", xtx)[:, None, None] * np.eye(3)
    coef = np.linalg.solve(xtx + ridge, xtw[..., None])[..., 0]  # (G, 3): a, d, c
    a, d, c = coef[:, 0], coef[:, 1], coef[:, 2]
    disc = np.maximum(c * c - d * d, 0.0)
    feasible = (c > 1e-14) & (np.abs(d) < c * math.tanh(_R_MAX)) & (a + np.sqrt(disc) > 1e-14)
    sse = np.sum((np.einsum("gni,gi->gn", x, coef) - w[None, :]) ** 2, axis=1)
    out: list[SviParams] = []
    for g in np.flatnonzero(feasible)[np.argsort(sse[feasible])][:n_best]:
        s = float(sg[g])
        out.append(SviParams(float(a[g]), float(c[g]) / s, float(d[g] / c[g]), float(mm[g]), s))
    j = int(np.argmin(w))
    left = (w[0] - w[j]) / max(k[j] - k[0], 1e-9) if j > 0 else 0.0
    right = (w[-1] - w[j]) / max(k[-1] - k[j], 1e-9) if j < k.size - 1 else 0.0
    b0 = max(0.5 * (abs(left) + abs(right)), 1e-4)
    rho0 = max(-0.9, min(0.9, (right - left) / (abs(right) + abs(left) + 1e-12)))
    s0 = max(0.1 * span, 1e-3)
    # a with the start's own sigma, so its minimum variance is 0.9 w_min > 0 (a fixed 0.1 here made it
    # negative, an InputError, for steep smiles quoted over a range narrower than 1)
    out.append(SviParams(0.9 * float(w[j]) - b0 * s0 * math.sqrt(1 - rho0 * rho0), b0, rho0, float(k[j]), s0))
    if np.ptp(w) <= 1e-14 * max(float(np.max(np.abs(w))), 1e-300):  # flat: b = 0 exactly
        out.insert(0, SviParams(float(np.mean(w)), 0.0, 0.0, float(np.mean(k)), max(0.1 * span, 1e-3)))
    return out


def fit_svi(k: ArrayLike, w: ArrayLike) -> tuple[SviParams, float]:
    """Fit raw SVI to total variances ``w`` at log-forward moneyness ``k`` (method: module docstring).

    Parameters
    ----------
    k : array_like, shape (n,)
        Strictly increasing log-forward moneyness ``ln(K / F)``, ``n >= 5``.
    w : array_like, shape (n,)
        Total implied variances ``sigma^2 T`` (> 0).

    Returns
    -------
    (SviParams, float)
        The parameters and the root-mean-square error in total variance.

    Raises
    ------
    InputError
        Fewer than five quotes, non-finite or non-increasing ``k``, non-positive ``w``.
    NumericalError
        No start converged to a finite fit.
    """
    kk = np.asarray(k, dtype=np.float64).reshape(-1)
    ww = np.asarray(w, dtype=np.float64).reshape(-1)
    if kk.size != ww.size:
        raise InputError("k", f"k and w must have the same length ({kk.size} != {ww.size})")
    if kk.size < MIN_QUOTES:
        raise InputError("k", f"SVI needs at least {MIN_QUOTES} quotes, got {kk.size}")
    if not (np.all(np.isfinite(kk)) and np.all(np.diff(kk) > 0)):
        raise InputError("k", "must be finite and strictly increasing")
    if not (np.all(np.isfinite(ww)) and np.all(ww > 0)):
        raise InputError("w", "total variances must be finite and > 0")
    best: tuple[FloatArray, float] | None = None
    for start in _starts(kk, ww):
        if start.b == 0.0:  # exactly flat data: nothing to polish
            return start, 0.0
        th, sse = _lm(_to_theta(start), kk, ww)
        if math.isfinite(sse) and (best is None or sse < best[1]):
            best = (th, sse)
    if best is None:
        raise NumericalError("SVI fit: no start converged to a finite fit")
    return _from_theta(best[0]), math.sqrt(best[1] / kk.size)
