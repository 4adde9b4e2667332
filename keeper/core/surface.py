"""Implied-volatility surface of one underlying: grid in, checked, SVI-interpolated, pure.

Input (:class:`SurfaceGrid`)
----------------------------
Rows of implied vols (annualized, 0.6 = 60 %) per expiry (unix seconds), each over its own
columns of one kind:

* ``"strike"`` -- strikes ``K`` in quote currency; needs the reference ``spot`` at ``as_of``;
* ``"moneyness"`` -- spot moneyness ``K / S``;
* ``"delta"`` -- undiscounted forward deltas ``N(d1)`` of calls in (0, 1); a negative column is a
  put delta ``-N(-d1)`` and is read as the call delta ``1 + delta``. Columns run from low strike
  to high strike, i.e. strictly decreasing call delta (10P, 25P, ATM, 25C, 10C =
  -0.10, -0.25, 0.50, 0.25, 0.10).

Everything is converted to log-forward moneyness ``k = ln(K / F)``, ``F = S e^{r T}``, and total
variance ``w = sigma^2 T`` with ``T = (expiry - as_of) / year`` (year = 365 days)::

    strike:    k = ln(K / S_ref) - r T
    moneyness: k = ln(K / S) - r T
    delta:     k = sigma^2 T / 2 - sigma sqrt(T) N^-1(delta_call)

Bad input raises :class:`~keeper.errors.InputError` naming the row (and column): non-finite or
non-positive vols, unsorted or duplicate expiries or columns, an expiry at or before ``as_of``,
fewer than five quotes in a row, ragged rows. No row is ever dropped: a surface is whole or rejected.

Interpolation and extrapolation (what :meth:`VolSurface.total_variance` returns)
-------------------------------------------------------------------------------
* Each expiry: raw SVI fitted to its quotes (:mod:`keeper.core.svi`).
* **In strike (flat vol):** expiry ``i`` is evaluated at ``k`` clipped to its quoted range
  ``[k_min_i, k_max_i]``: beyond its outermost quotes each expiry's implied vol (and total
  variance) is held at its value at that outermost quote. Where a wing slopes, the kink at the
  edge is a point of (small) butterfly arbitrage, as with any flat extrapolation; the checks
  below cover the quoted range.
* **In time between expiries:** total variance linear in ``T`` at fixed ``k``:
  ``w(k, T) = w_i(k) + (T - T_i) / (T_{i+1} - T_i) (w_{i+1}(k) - w_i(k))``.
* **In time outside the expiries (flat vol):** before the first expiry the implied vol is the
  first expiry's, ``sigma(k, T) = sigma_1(k)`` (so ``w = w_1(k) T / T_1``); after the last, the
  last expiry's (``w = w_N(k) T / T_N``). Both keep ``w`` non-decreasing in ``T``.

Arbitrage checks (on load, by :func:`build_surface`)
----------------------------------------------------
* **Butterfly:** per expiry, the quoted undiscounted call prices ``c(x) = N(d1) - x N(d2)`` per
  unit forward, ``x = K / F``, must be decreasing and convex in ``x`` (discrete slopes
  non-decreasing); and the fitted SVI slice must have Gatheral's ``g(k) >= 0`` on its quoted range.
* **Calendar:** total variance must not decrease with expiry at fixed ``k``:
  ``w_{i+1}(k) >= w_i(k)`` for consecutive expiries on a 201-point grid over both quoted ranges
  plus every quote.

A violation gives one :class:`SurfaceArbitrageWarning` per expiry and kind, naming the expiry and
strike (the worst point); with ``strict=True`` the surface is rejected (``InputError``) instead.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime
from statistics import NormalDist
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keeper.core.normal import norm_cdf
from keeper.core.svi import MIN_QUOTES, SviParams, fit_svi, svi_g, svi_total_variance
from keeper.errors import InputError

__all__ = [
    "SECONDS_PER_YEAR",
    "ArbitrageViolation",
    "GridKind",
    "SmileRow",
    "SurfaceArbitrageWarning",
    "SurfaceGrid",
    "SviSlice",
    "VolSurface",
    "build_surface",
]

FloatArray = NDArray[np.float64]
GridKind = Literal["strike", "moneyness", "delta"]
SECONDS_PER_YEAR: Final = 365.0 * 24 * 3600
_CHECK_POINTS: Final = 201
_TOL_W: Final = 1e-10
_TOL_G: Final = 1e-9
_TOL_CONVEX: Final = 1e-10


class SurfaceArbitrageWarning(UserWarning):
    """An implied-vol surface has a calendar or butterfly arbitrage (the message names expiry and strike)."""


def iso(ts: int) -> str:
    """Unix seconds as ``YYYY-MM-DDTHH:MM:SSZ``."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True, slots=True)
class SmileRow:
    """Quotes of one expiry: ``vols[j]`` at ``columns[j]`` (strike, moneyness or delta: see the grid)."""

    expiry: int
    columns: tuple[float, ...]
    vols: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class SurfaceGrid:
    """An implied-vol grid as read (see the module docstring).

    Attributes
    ----------
    underlying : asset symbol.
    as_of : unix seconds at which the quotes were taken.
    kind : what the columns are: ``"strike"``, ``"moneyness"`` (K/S) or ``"delta"``.
    rows : one per expiry, strictly increasing expiries.
    spot : reference spot at ``as_of``, quote per unit; required for ``"strike"``.
    rate : continuously compounded rate per year for the forward ``F = S e^{rT}``.
    """

    underlying: str
    as_of: int
    kind: GridKind
    rows: tuple[SmileRow, ...]
    spot: float | None = None
    rate: float = 0.0


@dataclass(frozen=True, slots=True)
class ArbitrageViolation:
    """One arbitrage found on load (the worst point of its expiry and kind).

    Attributes
    ----------
    kind : ``"calendar"`` or ``"butterfly"``.
    expiry : the expiry (unix seconds) where it occurs (the later one of a calendar pair).
    moneyness : ``K / F`` at the worst point.
    strike : ``K`` in quote currency when the surface has a reference spot, else ``None``.
    amount : how far: the drop in total variance (calendar) or ``-g`` / convexity defect (butterfly).
    message : one line naming expiry and strike.
    """

    kind: Literal["calendar", "butterfly"]
    expiry: int
    moneyness: float
    strike: float | None
    amount: float
    message: str


@dataclass(frozen=True, slots=True)
class SviSlice:
    """One fitted expiry: ``t`` years after ``as_of``, quoted range ``[k_min, k_max]``, fit RMSE."""

    expiry: int
    t: float
    params: SviParams
    k_min: float
    k_max: float
    rmse_w: float
    k_quotes: tuple[float, ...]
    w_quotes: tuple[float, ...]


@dataclass(frozen=True)
class VolSurface:
    """A checked, SVI-interpolated surface (build with :func:`build_surface`)."""

    underlying: str
    as_of: int
    slices: tuple[SviSlice, ...]
    rate: float = 0.0
    spot: float | None = None
    violations: tuple[ArbitrageViolation, ...] = ()

    def _slice_w(self, k: FloatArray, order: int) -> FloatArray:
        """``w_i`` (order 0) or ``dw_i/dk`` (1) of every slice with flat extrapolation; shape (n_slices, *k.shape)."""
        out = np.empty((len(self.slices), *k.shape))
        for i, s in enumerate(self.slices):
            kc = np.clip(k, s.k_min, s.k_max)
            out[i] = svi_total_variance(s.params, kc, order=order)
            if order == 1:
                out[i] = np.where((k < s.k_min) | (k > s.k_max), 0.0, out[i])
        return out

    def _interp(self, k: ArrayLike, t: ArrayLike, order: int) -> tuple[FloatArray, FloatArray]:
        """(value, t_eff): ``w`` or ``dw/dk`` at (k, t) and the time it is divided by to get variance."""
        kk, tt = np.broadcast_arrays(np.asarray(k, dtype=np.float64), np.asarray(t, dtype=np.float64))
        if not (np.all(np.isfinite(kk)) and np.all(np.isfinite(tt))):
            raise InputError("k/t", "must be finite")
        ts = np.array([s.t for s in self.slices])
        per = self._slice_w(kk, order)
        hi = np.clip(np.searchsorted(ts, tt, side="left"), 1, max(len(ts) - 1, 1))
        lo = hi - 1
        if len(ts) == 1:
            return per[0], np.full(kk.shape, ts[0])
        t_lo, t_hi = ts[lo], ts[hi]
        wl = np.take_along_axis(per, lo[None, ...], axis=0)[0]
        wh = np.take_along_axis(per, hi[None, ...], axis=0)[0]
        frac = (tt - t_lo) / (t_hi - t_lo)
        inner = wl + frac * (wh - wl)
        before, after = tt <= ts[0], tt >= ts[-1]
        val = np.where(before, per[0], np.where(after, per[-1], inner))
        t_eff = np.where(before, ts[0], np.where(after, ts[-1], tt))
        return val, t_eff

    def total_variance(self, k: ArrayLike, t: ArrayLike) -> FloatArray:
        """Total variance ``w(k, T)`` at log-forward moneyness ``k`` and ``t`` years after ``as_of``."""
        val, t_eff = self._interp(k, t, 0)
        tt = np.broadcast_to(np.asarray(t, dtype=np.float64), val.shape)
        return np.asarray(val / t_eff * tt, dtype=np.float64)

    def implied_vol(self, k: ArrayLike, t: ArrayLike) -> FloatArray:
        """Implied vol ``sigma(k, T) = sqrt(w / T)``, annualized (flat before the first expiry)."""
        val, t_eff = self._interp(k, t, 0)
        return np.asarray(np.sqrt(val / t_eff), dtype=np.float64)

    def dvol_dk(self, k: ArrayLike, t: ArrayLike) -> FloatArray:
        """Smile slope ``d sigma / d k = (dw/dk) / (2 sigma T)`` at fixed ``T`` (0 where vol is held flat)."""
        dw, t_eff = self._interp(k, t, 1)
        vol = self.implied_vol(k, t)
        return np.asarray(dw / (2.0 * vol * t_eff), dtype=np.float64)

    def log_moneyness(self, strike: ArrayLike, t: ArrayLike, spot: float) -> FloatArray:
        """``k = ln(K / (S e^{rT}))`` at spot ``S``."""
        return np.asarray(np.log(np.asarray(strike, dtype=np.float64) / spot) - self.rate * np.asarray(t),
                          dtype=np.float64)


# ----------------------------------------------------------------------------- building


def _row_name(grid: SurfaceGrid, i: int) -> str:
    return f"{grid.underlying} surface row {i} (expiry {iso(grid.rows[i].expiry)})"


# Long on purpose: one check per surface-grid rule, each with its own message naming the row and field.
def _check_grid(grid: SurfaceGrid) -> None:  # noqa: C901, PLR0912
    if not grid.rows:
        raise InputError(f"{grid.underlying} surface", "has no rows")
    if grid.kind not in ("strike", "moneyness", "delta"):
        raise InputError(f"{grid.underlying} surface kind", f"must be strike, moneyness or delta, got {grid.kind!r}")
    if grid.kind == "strike" and (grid.spot is None or not (math.isfinite(grid.spot) and grid.spot > 0)):
        raise InputError(f"{grid.underlying} surface spot", "a strike grid needs the reference spot (finite, > 0)")
    if not math.isfinite(grid.rate):
        raise InputError(f"{grid.underlying} surface rate", "must be finite")
    for i, row in enumerate(grid.rows):
        name = _row_name(grid, i)
        if row.expiry <= grid.as_of:
            raise InputError(name, f"expiry is not after as_of {iso(grid.as_of)} (in the past)")
        if i and row.expiry <= grid.rows[i - 1].expiry:
            what = "duplicate" if row.expiry == grid.rows[i - 1].expiry else "unsorted"
            raise InputError(name, f"{what} expiry: expiries must be strictly increasing "
                                   f"(row {i - 1} is {iso(grid.rows[i - 1].expiry)})")
        if len(row.columns) != len(row.vols):
            raise InputError(name, f"{len(row.columns)} columns but {len(row.vols)} vols")
        if len(row.columns) < MIN_QUOTES:
            raise InputError(name, f"needs at least {MIN_QUOTES} quotes for an SVI fit, got {len(row.columns)}")
        for j, (c, v) in enumerate(zip(row.columns, row.vols, strict=True)):
            where = f"{name}, column {j} ({grid.kind} {c!r})"
            if not (math.isfinite(v) and v > 0):
                raise InputError(where, f"vol must be finite and > 0, got {v!r}")
            if not math.isfinite(c):
                raise InputError(where, f"{grid.kind} must be finite")
            if grid.kind == "delta":
                if not (0 < abs(c) < 1):
                    raise InputError(where, "delta must be in (-1, 0) for puts or (0, 1) for calls")
            elif not c > 0:
                raise InputError(where, f"{grid.kind} must be > 0")
            if j:
                prev, cur = _order_key(grid.kind, row.columns[j - 1]), _order_key(grid.kind, c)
                if cur <= prev:
                    what = "duplicate" if cur == prev else "unsorted"
                    order = "decreasing call delta" if grid.kind == "delta" else f"increasing {grid.kind}"
                    raise InputError(where, f"{what} column: columns must run by strictly {order}")


def _order_key(kind: GridKind, c: float) -> float:
    """A number increasing with strike: the column itself, or minus the call delta."""
    if kind == "delta":
        return -(1.0 + c if c < 0 else c)
    return c


def _to_k(grid: SurfaceGrid, row: SmileRow, t: float) -> FloatArray:
    cols = np.array(row.columns, dtype=np.float64)
    vols = np.array(row.vols, dtype=np.float64)
    if grid.kind == "strike":
        assert grid.spot is not None
        return np.asarray(np.log(cols / grid.spot) - grid.rate * t, dtype=np.float64)
    if grid.kind == "moneyness":
        return np.asarray(np.log(cols) - grid.rate * t, dtype=np.float64)
    call = np.where(cols < 0, 1.0 + cols, cols)
    inv = np.array([NormalDist().inv_cdf(float(d)) for d in call])
    return np.asarray(vols * vols * t / 2.0 - vols * math.sqrt(t) * inv, dtype=np.float64)


def _describe(surface: VolSurface, k: float, t: float) -> tuple[float, float | None, str]:
    """(K/F, K or None, text) of log-moneyness ``k`` at ``t`` years."""
    x = math.exp(k)
    if surface.spot is not None:
        strike = surface.spot * math.exp(surface.rate * t) * x
        return x, strike, f"strike {strike:,.6g} (K/F {x:.4f})"
    return x, None, f"K/F {x:.4f}"


def _butterfly(surface: VolSurface, s: SviSlice) -> list[ArbitrageViolation]:
    found: list[ArbitrageViolation] = []
    # discrete convexity of the quoted call prices per unit forward, c(x) = N(d1) - x N(d2)
    k, w = np.array(s.k_quotes), np.array(s.w_quotes)
    sq = np.sqrt(w)
    d1 = -k / sq + sq / 2.0
    x = np.exp(k)
    c = norm_cdf(d1) - x * norm_cdf(d1 - sq)
    slopes = np.diff(c) / np.diff(x)  # must lie in [-1, 0] and not decrease
    defect = np.zeros(k.size)
    defect[1:-1] = slopes[:-1] - slopes[1:]  # a drop in slope at quote j: concave there
    defect[1:] = np.maximum(defect[1:], np.maximum(slopes, 0.0))  # price rising with strike
    defect[1:] = np.maximum(defect[1:], np.maximum(-1.0 - slopes, 0.0))  # falling faster than the strike
    j = int(np.argmax(defect))
    if defect[j] > _TOL_CONVEX:
        mx, strike, text = _describe(surface, float(k[j]), s.t)
        found.append(ArbitrageViolation(
            "butterfly", s.expiry, mx, strike, float(defect[j]),
            f"{surface.underlying} expiry {iso(s.expiry)}: butterfly arbitrage at {text}: quoted call prices "
            f"are not decreasing and convex in strike (defect {defect[j]:.3g} per unit forward)"))
        return found
    grid = np.union1d(np.linspace(s.k_min, s.k_max, _CHECK_POINTS), k)
    g = svi_g(s.params, grid)
    j = int(np.argmin(g))
    if g[j] < -_TOL_G:
        mx, strike, text = _describe(surface, float(grid[j]), s.t)
        found.append(ArbitrageViolation(
            "butterfly", s.expiry, mx, strike, float(-g[j]),
            f"{surface.underlying} expiry {iso(s.expiry)}: butterfly arbitrage at {text}: the fitted SVI "
            f"smile has negative density (Gatheral g(k) = {g[j]:.3g} < 0)"))
    return found


def _calendar(surface: VolSurface, a: SviSlice, b: SviSlice) -> list[ArbitrageViolation]:
    lo, hi = min(a.k_min, b.k_min), max(a.k_max, b.k_max)
    grid = np.union1d(np.linspace(lo, hi, _CHECK_POINTS), np.union1d(a.k_quotes, b.k_quotes))
    wa = svi_total_variance(a.params, np.clip(grid, a.k_min, a.k_max))
    wb = svi_total_variance(b.params, np.clip(grid, b.k_min, b.k_max))
    drop = wa - wb
    j = int(np.argmax(drop))
    if drop[j] <= _TOL_W * (1.0 + float(wa[j])):
        return []
    mx, strike, text = _describe(surface, float(grid[j]), b.t)
    return [ArbitrageViolation(
        "calendar", b.expiry, mx, strike, float(drop[j]),
        f"{surface.underlying} expiry {iso(b.expiry)}: calendar arbitrage at {text}: total variance "
        f"{wb[j]:.6g} is below {wa[j]:.6g} of the earlier expiry {iso(a.expiry)}")]


def build_surface(grid: SurfaceGrid, *, strict: bool = False) -> VolSurface:
    """Validate a grid, fit SVI per expiry, check for arbitrage.

    Parameters
    ----------
    grid : SurfaceGrid
        The quotes (module docstring).
    strict : bool, default False
        Reject a surface with arbitrage (``InputError``) instead of warning.

    Returns
    -------
    VolSurface
        With the violations found (empty when clean).

    Raises
    ------
    InputError
        Bad input, naming the row and column; or, in strict mode, arbitrage, naming expiry and strike.

    Warns
    -----
    SurfaceArbitrageWarning
        One per expiry and kind of arbitrage (not in strict mode).
    """
    _check_grid(grid)
    slices: list[SviSlice] = []
    for i, row in enumerate(grid.rows):
        t = (row.expiry - grid.as_of) / SECONDS_PER_YEAR
        k = _to_k(grid, row, t)
        if not np.all(np.diff(k) > 0):
            j = int(np.argmin(np.diff(k))) + 1
            raise InputError(f"{_row_name(grid, i)}, column {j}", "delta quotes do not map to increasing strikes "
                                                                  "(the vols are inconsistent with the deltas)")
        w = np.array(row.vols) ** 2 * t
        params, rmse = fit_svi(k, w)
        slices.append(SviSlice(row.expiry, t, params, float(k[0]), float(k[-1]), rmse,
                               tuple(float(x) for x in k), tuple(float(x) for x in w)))
    surface = VolSurface(grid.underlying, grid.as_of, tuple(slices), grid.rate, grid.spot)
    found: list[ArbitrageViolation] = []
    for i, s in enumerate(slices):
        found += _butterfly(surface, s)
        if i:
            found += _calendar(surface, slices[i - 1], s)
    if found and strict:
        raise InputError(f"{grid.underlying} surface", "rejected (strict): " + "; ".join(v.message for v in found))
    for v in found:
        warnings.warn(v.message, SurfaceArbitrageWarning, stacklevel=2)
    return VolSurface(grid.underlying, grid.as_of, tuple(slices), grid.rate, grid.spot, tuple(found))
