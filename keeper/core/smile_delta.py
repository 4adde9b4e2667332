"""Smile-aware option deltas (three flavours), Hull-White coefficients, and the per-underlying vol source.

Flavours (:func:`smile_delta`, pure and vectorized; ``V`` = Black-Scholes value at the surface vol
``sigma(K, T)``, ``delta_BS`` and ``vega = dV/dsigma`` its greeks, units of :mod:`keeper.core.options`)
------------------------------------------------------------------------------------------------------
* ``"sticky_strike"`` -- the vol of a strike stays put when spot moves::

      delta = delta_BS(sigma(K, T))

* ``"sticky_moneyness"`` -- the smile moves with spot: ``sigma`` is a function of
  ``k = ln(K / F)``, ``F = S e^{rT}``, so ``dk/dS = -1/S`` and::

      delta = delta_BS + vega * d sigma / dS,   d sigma / dS = -(d sigma / dk) / S

* ``"min_variance"`` -- Hull & White (2017, "Optimal delta hedging for options", *J. Banking &
  Finance* 82): the hedge that minimizes the variance of the hedged P&L given the empirical
  expected vol move per spot move, ``E[d sigma] = (a + b delta + c delta^2) dS / (S sqrt T)``::

      delta_MV = delta_BS + vega / (S sqrt T) * (a + b delta_C + c delta_C^2)

  ``delta_C`` is the call delta ``e^{-qT} N(d1)`` of the same strike, for puts too, so that the
  minimum-variance deltas of a call and a put at one strike differ by ``e^{-qT}`` (put-call
  parity). Expired options (``T <= 0``) get no adjustment.

With a flat surface (``d sigma / dk = 0``) sticky-moneyness equals sticky-strike; minimum-variance
equals it when ``a = b = c = 0`` -- its coefficients describe how vol moves with spot, not the
smile's shape, so coefficients fitted on a history in which vol did not move with spot are ~0.

Fitting the coefficients (:func:`fit_min_variance`)
---------------------------------------------------
From pairs of observations of one option (spot ``S0 -> S1``, implied vol ``s0 -> s1``, ``T``
years to expiry at the first), ordinary least squares of::

    s1 - s0 = x (a + b delta_C + c delta_C^2) + e,    x = (S1 - S0) / (S0 sqrt T)

with ``delta_C`` at ``(S0, s0)``, keeping options with ``delta_C`` in ``delta_range`` (Hull and
White drop deltas outside (0.05, 0.95)). This is their regression of ``df - delta_BS dS`` on
``vega x (a + b delta + c delta^2)`` with the price change written as ``vega d sigma``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final, Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keeper.core.hedge_types import Plan
from keeper.core.options import bs_greeks
from keeper.core.portfolio import OptionPosition, Position
from keeper.core.reasons import Reason
from keeper.core.surface import SECONDS_PER_YEAR, VolSurface, iso
from keeper.errors import DegenerateSeriesError, InputError

__all__ = [
    "DELTA_FLAVOURS",
    "DeltaFlavour",
    "MinVarianceCoefficients",
    "MinVarianceFit",
    "OptionVols",
    "SmileDeltas",
    "SmilePolicy",
    "VolSourceKind",
    "fit_min_variance",
    "resolve_option_vols",
    "smile_delta",
    "with_vol_reasons",
]

FloatArray = NDArray[np.float64]
DeltaFlavour = Literal["sticky_strike", "sticky_moneyness", "min_variance"]
DELTA_FLAVOURS: Final[tuple[DeltaFlavour, ...]] = ("sticky_strike", "sticky_moneyness", "min_variance")
VolSourceKind = Literal["surface", "stale", "unavailable"]
_DESCRIBE: Final[dict[str, str]] = {
    "sticky_strike": "Black-Scholes delta at the surface vol",
    "sticky_moneyness": "BS delta + vega x dsigma/dS along the smile",
    "min_variance": "Hull-White minimum-variance delta",
}


@dataclass(frozen=True, slots=True)
class MinVarianceCoefficients:
    """Hull-White ``a, b, c`` (dimensionless): ``E[d sigma] = (a + b delta + c delta^2) dS / (S sqrt T)``."""

    a: float
    b: float
    c: float

    def __post_init__(self) -> None:
        for name in ("a", "b", "c"):
            if not math.isfinite(getattr(self, name)):
                raise InputError(name, f"minimum-variance coefficient must be finite, got {getattr(self, name)!r}")

    def poly(self, delta_call: ArrayLike) -> FloatArray:
        """``a + b delta + c delta^2``."""
        d = np.asarray(delta_call, dtype=np.float64)
        return np.asarray(self.a + d * (self.b + self.c * d), dtype=np.float64)


class SmileDeltas(NamedTuple):
    """Deltas of one flavour with their parts (units of underlying per option; vega per 1.00 vol)."""

    delta: FloatArray
    bs_delta: FloatArray
    vega: FloatArray
    adjustment: FloatArray
    """``delta - bs_delta``."""


def smile_delta(
    flavour: DeltaFlavour, spot: ArrayLike, strike: ArrayLike, t: ArrayLike, vol: ArrayLike,
    is_call: ArrayLike = True, *, dvol_dk: ArrayLike = 0.0, rate: ArrayLike = 0.0, carry: ArrayLike = 0.0,
    mv: MinVarianceCoefficients | None = None,
) -> SmileDeltas:
    """Delta of European options under ``flavour`` (formulas in the module docstring), broadcast.

    Parameters
    ----------
    flavour : {"sticky_strike", "sticky_moneyness", "min_variance"}
    spot, strike : array_like
        Quote currency per unit, > 0.
    t : array_like
        Years to expiry (<= 0: expired).
    vol : array_like
        The surface's implied vol at each option's strike and expiry (annualized).
    is_call : array_like of bool
    dvol_dk : array_like, default 0
        Smile slope ``d sigma / d ln(K/F)`` at each option (sticky-moneyness).
    rate, carry : array_like
        Continuously compounded rate and carry yield per year.
    mv : MinVarianceCoefficients, optional
        Required for ``"min_variance"``.

    Raises
    ------
    InputError
        Unknown flavour, missing coefficients, or invalid option inputs.
    """
    if flavour not in DELTA_FLAVOURS:
        raise InputError("flavour", f"must be one of {', '.join(DELTA_FLAVOURS)}, got {flavour!r}")
    g = bs_greeks(spot, strike, t, vol, rate, carry, is_call)
    s = np.broadcast_to(np.asarray(spot, dtype=np.float64), g.delta.shape)
    if flavour == "sticky_strike":
        adj = np.zeros_like(g.delta)
    elif flavour == "sticky_moneyness":
        slope = np.asarray(dvol_dk, dtype=np.float64)
        if not np.all(np.isfinite(slope)):
            raise InputError("dvol_dk", "must be finite")
        adj = g.vega * (-slope / s)
    else:
        if mv is None:
            raise InputError("mv", 'flavour "min_variance" needs the Hull-White coefficients')
        tt = np.broadcast_to(np.asarray(t, dtype=np.float64), g.delta.shape)
        calls = np.broadcast_to(np.asarray(is_call, dtype=np.bool_), g.delta.shape)
        growth = np.exp(-np.asarray(carry, dtype=np.float64) * np.maximum(tt, 0.0))
        delta_call = np.where(calls, g.delta, g.delta + growth)
        root = np.sqrt(np.maximum(tt, 0.0))
        safe = np.where(root > 0, root, 1.0)
        adj = np.where(root > 0, g.vega / (s * safe) * mv.poly(delta_call), 0.0)
    adj = np.asarray(adj, dtype=np.float64)
    return SmileDeltas(np.asarray(g.delta + adj, dtype=np.float64), g.delta, g.vega, adj)


@dataclass(frozen=True, slots=True)
class MinVarianceFit:
    """Fitted coefficients, the number of observations used and the R^2 of the regression."""

    coefficients: MinVarianceCoefficients
    n: int
    r_squared: float


def fit_min_variance(
    spot0: ArrayLike, spot1: ArrayLike, strike: ArrayLike, t: ArrayLike, vol0: ArrayLike, vol1: ArrayLike,
    *, rate: float = 0.0, carry: float = 0.0, delta_range: tuple[float, float] = (0.05, 0.95),
) -> MinVarianceFit:
    """Least-squares Hull-White coefficients from pairs of observations (module docstring).

    Parameters
    ----------
    spot0, spot1 : array_like, shape (n,)
        Spot at the first and second observation of each pair, quote per unit.
    strike : array_like, shape (n,)
    t : array_like, shape (n,)
        Years to expiry at the first observation, > 0.
    vol0, vol1 : array_like, shape (n,)
        Implied vols at the two observations.

    Raises
    ------
    DegenerateSeriesError
        Fewer than 3 usable pairs or no spot variation (the regression is singular).
    InputError
        Non-finite or out-of-domain values (named).
    """
    arrs = [np.asarray(x, dtype=np.float64).reshape(-1) for x in (spot0, spot1, strike, t, vol0, vol1)]
    names = ("spot0", "spot1", "strike", "t", "vol0", "vol1")
    n = arrs[0].size
    for name, a in zip(names, arrs, strict=True):
        if a.size != n:
            raise InputError(name, f"length {a.size} != {n}")
        if not np.all(np.isfinite(a)):
            raise InputError(name, "must be finite")
    s0, s1, k, t0, v0, v1 = arrs
    for name, a in (("spot0", s0), ("spot1", s1), ("strike", k), ("t", t0), ("vol0", v0), ("vol1", v1)):
        if a.size and not float(a.min()) > 0:
            raise InputError(name, "must be > 0")
    dc = bs_greeks(s0, k, t0, v0, rate, carry, True).delta
    keep = (dc > delta_range[0]) & (dc < delta_range[1])
    x = ((s1 - s0) / (s0 * np.sqrt(t0)))[keep]
    d = dc[keep]
    y = (v1 - v0)[keep]
    design = np.stack([x, x * d, x * d * d], axis=1)
    if y.size < 3 or np.linalg.matrix_rank(design) < 3:
        raise DegenerateSeriesError("history", f"{y.size} usable pairs with delta in {delta_range}: need at least "
                                               "3 with varying spot and delta to fit a, b, c")
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    resid = y - design @ coef
    tss = float(y @ y)
    r2 = 1.0 - float(resid @ resid) / tss if tss > 0 else 1.0
    return MinVarianceFit(MinVarianceCoefficients(float(coef[0]), float(coef[1]), float(coef[2])), int(y.size), r2)


# ----------------------------------------------------------------------------- per-underlying vol source


@dataclass(frozen=True, slots=True)
class SmilePolicy:
    """How one underlying's options take their vol and delta.

    Attributes
    ----------
    flavour : delta flavour.
    max_age_s : a surface older than this (block time - as_of, seconds) is stale.
    fallback_spread : annualized vol added to the model vol when the surface is stale or
        unavailable (0.05 = 5 vol points).
    mv : Hull-White coefficients (required for ``"min_variance"``).
    """

    flavour: DeltaFlavour = "sticky_strike"
    max_age_s: float = 3600.0
    fallback_spread: float = 0.0
    mv: MinVarianceCoefficients | None = None

    def __post_init__(self) -> None:
        if self.flavour not in DELTA_FLAVOURS:
            raise InputError("flavour", f"must be one of {', '.join(DELTA_FLAVOURS)}, got {self.flavour!r}")
        if not (math.isfinite(self.max_age_s) and self.max_age_s > 0):
            raise InputError("max_age_s", f"must be finite and > 0, got {self.max_age_s!r}")
        if not (math.isfinite(self.fallback_spread) and self.fallback_spread >= 0):
            raise InputError("fallback_spread", f"must be finite and >= 0, got {self.fallback_spread!r}")
        if self.flavour == "min_variance" and self.mv is None:
            raise InputError("mv", 'flavour "min_variance" needs coefficients')


@dataclass(frozen=True)
class OptionVols:
    """The vol source of one underlying's options at one block (build with :func:`resolve_option_vols`).

    ``kind`` is ``"surface"`` (the surface is used), ``"stale"`` (too old, or dated after the block)
    or ``"unavailable"`` (could not be loaded): then every option is valued at
    ``model_vol + policy.fallback_spread`` with no smile. ``reason`` says which, for the plan.
    """

    underlying: str
    policy: SmilePolicy
    kind: VolSourceKind
    model_vol: float
    surface: VolSurface | None
    elapsed_years: float
    reason: str

    @property
    def fallback_vol(self) -> float:
        return self.model_vol + self.policy.fallback_spread

    def vols(self, strike: ArrayLike, t: ArrayLike, spot: float) -> tuple[FloatArray, FloatArray]:
        """(vol, d vol / dk) of options at ``strike`` with ``t`` years to expiry, at ``spot``.

        On the surface, an option is looked up at its own expiry date (``t`` plus the years since
        ``as_of``) and its log-forward moneyness at the current spot.
        """
        kk = np.asarray(strike, dtype=np.float64)
        tt = np.broadcast_to(np.asarray(t, dtype=np.float64), np.broadcast_shapes(kk.shape, np.shape(t)))
        if self.kind != "surface" or self.surface is None:
            return np.full(tt.shape, self.fallback_vol), np.zeros(tt.shape)
        ts = np.maximum(tt + self.elapsed_years, 0.0)
        # the forward of the option's own expiry from now: F = S e^{r t}, t = years left (not since as_of)
        k = self.surface.log_moneyness(kk, np.maximum(tt, 0.0), spot)
        return self.surface.implied_vol(k, ts), self.surface.dvol_dk(k, ts)

    def deltas(self, spot: float, strike: ArrayLike, t: ArrayLike, is_call: ArrayLike, *,
               rate: ArrayLike = 0.0, carry: ArrayLike = 0.0) -> tuple[FloatArray, SmileDeltas]:
        """(vols, deltas of the configured flavour) of options on this underlying."""
        vol, slope = self.vols(strike, t, spot)
        return vol, smile_delta(self.policy.flavour, spot, strike, t, vol, is_call, dvol_dk=slope, rate=rate,
                                carry=carry, mv=self.policy.mv)


def _flavour_text(policy: SmilePolicy, smile: bool) -> str:
    text = f"delta flavour {policy.flavour} ({_DESCRIBE[policy.flavour]}"
    if policy.mv is not None and policy.flavour == "min_variance":
        text += f", a {policy.mv.a:.4g}, b {policy.mv.b:.4g}, c {policy.mv.c:.4g}"
    if not smile and policy.flavour == "sticky_moneyness":
        text += "; no smile on the fallback vol, so it equals the BS delta"
    return text + ")"


def resolve_option_vols(
    underlying: str, policy: SmilePolicy, model_vol: float, now: int, surface: VolSurface | None,
    *, problem: str | None = None,
) -> OptionVols:
    """Decide whether ``surface`` is used at block time ``now`` (unix seconds), and say why.

    The surface is used when ``0 <= now - as_of <= policy.max_age_s``; otherwise (or when it is
    ``None``, with ``problem`` saying why it could not be loaded) options fall back to
    ``model_vol + policy.fallback_spread``.
    """
    if not (math.isfinite(model_vol) and model_vol > 0):
        raise InputError("model_vol", f"{underlying}: must be finite and > 0, got {model_vol!r}")
    fb = (f"options at model vol {model_vol * 100:.1f} % + fallback spread {policy.fallback_spread * 100:.1f} "
          f"vol pts = {(model_vol + policy.fallback_spread) * 100:.1f} %")
    if surface is None:
        why = problem or "no surface"
        return OptionVols(underlying, policy, "unavailable", model_vol, None, 0.0,
                          f"vol surface unavailable ({why}): {fb}; {_flavour_text(policy, False)}")
    age = now - surface.as_of
    head = f"vol surface as of {iso(surface.as_of)}"
    if age < 0 or age > policy.max_age_s:
        why = (f"dated {-age} s after the block time" if age < 0
               else f"{age} s old > max age {policy.max_age_s:g} s")
        return OptionVols(underlying, policy, "stale", model_vol, surface, age / SECONDS_PER_YEAR,
                          f"{head} is STALE ({why}): {fb}; {_flavour_text(policy, False)}")
    text = f"options valued on the {head} (age {age} s, {len(surface.slices)} expiries); {_flavour_text(policy, True)}"
    if surface.violations:
        text += f"; {len(surface.violations)} arbitrage warning(s): {surface.violations[0].message}"
    return OptionVols(underlying, policy, "surface", model_vol, surface, age / SECONDS_PER_YEAR, text)


def _options_text(underlying: str, positions: Sequence[Position]) -> str:
    """``"; option vols: short 50 call K 3,300 T 30.15 d 58.21 %, ..."`` (empty without options)."""
    opts = [p for p in positions if isinstance(p, OptionPosition) and p.underlying == underlying]
    if not opts:
        return ""
    parts = [f"{'long' if o.quantity > 0 else 'short'} {abs(o.quantity):,.6g} {'call' if o.is_call else 'put'} "
             f"K {o.strike:,.6g} T {o.expiry_years * 365.0:.2f} d {o.vol * 100:.2f} %" for o in opts]
    return "; option vols: " + ", ".join(parts)


def with_vol_reasons(plan: Plan, smiles: Mapping[str, OptionVols], positions: Sequence[Position] = ()) -> Plan:
    """``plan`` with each smile underlying's vol source and delta flavour as its decision's first reason.

    Reason codes: ``vol_surface`` (the surface is used), ``vol_surface_stale`` and
    ``vol_surface_unavailable`` (the fallback vol is used). With ``positions`` (the book's, as
    valued), the text also lists the vol each option of the underlying was valued at.
    """
    if not smiles:
        return plan
    out = []
    for d in plan.decisions:
        src = smiles.get(d.underlying)
        if src is None:
            out.append(d)
            continue
        code = "vol_surface" if src.kind == "surface" else f"vol_surface_{src.kind}"
        reason = Reason.of(code, src.reason + _options_text(d.underlying, positions), model_vol=src.model_vol,
                           fallback_spread=src.policy.fallback_spread,
                           surface_age_s=src.elapsed_years * SECONDS_PER_YEAR)
        out.append(replace(d, reasons=(reason, *d.reasons)))
    return Plan(tuple(out))
