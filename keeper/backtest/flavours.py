"""The delta-flavour dimension of a backtest: Heston option marks and the book delta of each flavour.

Under the Heston model (:class:`~keeper.backtest.paths.HestonModel`) every option leg is marked
at its exact Heston price (:func:`keeper.core.stochvol.heston_price`, all paths of a time step
at once through their variance ``v``), and its implied vol is the inversion of that price
(:func:`keeper.core.implied_vol.implied_vol_bs`). The hedger sees the book delta of a flavour
(formulas in :func:`keeper.core.smile_delta.smile_delta`):

* ``sticky_strike``: the Black-Scholes delta at the option's implied vol;
* ``sticky_moneyness``: BS delta + vega * d sigma / dS along the smile, the slope ``d sigma / dk``
  taken by central difference of the implied vols of two neighbouring strikes ``K e^{+-h}`` at the
  same spot and variance (``h = sqrt(theta tau) / 4``, clipped to [0.005, 0.05]);
* ``min_variance``: Hull-White with coefficients fitted by
  :func:`keeper.core.smile_delta.fit_min_variance` on a separate calibration draw of the same
  model (:func:`calibrate_min_variance`: its own seed, never the test paths).

Where a price has no implied vol (at intrinsic, deep in the money near expiry) the option's
vol falls back to the instantaneous ``sqrt(v)`` (floored at 1 %) and the smile slope to 0.
Gamma (the Whalley-Wilmott band's input) is the Black-Scholes gamma at the implied vol, the
same for every flavour. LPs, perps and spot holdings do not depend on the flavour.

Under the flat-vol models (GBM, GARCH, Merton, CSV) every option is priced at one vol: there is
no smile and no vol move, so every flavour's delta is the Black-Scholes delta. The backtest
rejects flavours other than ``sticky_strike`` there instead of printing identical rows.

Cost: one option leg at one time step over 1,000 paths is ~25 ms (one pricing call: ~10 ms of
quadrature set-up, ~17 ms of 128-node integrand); sticky-moneyness prices two more strikes in
the same call (~2.5x). The calibration prices all its strikes of an observation in one call.
"""

from __future__ import annotations

import math
from typing import Final

import numpy as np
import numpy.typing as npt

from keeper.backtest.book import Book, BookMarks, OptionLeg, settle
from keeper.backtest.paths import YEAR_S, HestonModel
from keeper.core.implied_vol import implied_vol_bs
from keeper.core.options import bs_greeks
from keeper.core.smile_delta import (
    DELTA_FLAVOURS,
    DeltaFlavour,
    MinVarianceCoefficients,
    MinVarianceFit,
    fit_min_variance,
    smile_delta,
)
from keeper.core.stochvol import HestonParams, heston_price
from keeper.errors import InputError

__all__ = ["CALIBRATION_KEY", "CALIBRATION_MONEYNESS", "FLAVOUR_LABELS", "FLAVOUR_TAGS", "calibrate_min_variance",
           "heston_leg_marks", "heston_marks", "parse_flavours"]

FloatArray = npt.NDArray[np.float64]

FLAVOUR_LABELS: Final[dict[DeltaFlavour, str]] = {
    "sticky_strike": "sticky-strike", "sticky_moneyness": "sticky-moneyness", "min_variance": "minimum-variance"}
"""How reports and the CLI spell each flavour."""
FLAVOUR_TAGS: Final[dict[DeltaFlavour, str]] = {"sticky_strike": "ss", "sticky_moneyness": "sm",
                                                "min_variance": "mv"}
"""Suffixes that keep policy names unique when several flavours run (``ww:3@mv``)."""
_ALIASES: Final[dict[str, DeltaFlavour]] = {
    **{f: f for f in DELTA_FLAVOURS}, **{v: k for k, v in FLAVOUR_LABELS.items()},
    **{v: k for k, v in FLAVOUR_TAGS.items()}, "min-variance": "min_variance"}
CALIBRATION_KEY: Final = 2**32 - 1
"""Spawn key of the calibration draw, ``SeedSequence(seed, spawn_key=(CALIBRATION_KEY,))``; chunk ``i`` has ``(i,)``."""
CALIBRATION_MONEYNESS: Final = tuple(round(0.80 + 0.05 * i, 2) for i in range(9))
"""Strikes ``K / S0`` of the calibration options (0.80 ... 1.20), besides the book's own strikes."""
_VOL_FLOOR: Final = 0.01


def parse_flavours(text: str | list[str], argument: str = "--delta-flavours") -> tuple[DeltaFlavour, ...]:
    """``"sticky-strike,minimum-variance"`` (or the core names, or ss/sm/mv) -> flavours, in order, unique."""
    items = [text] if isinstance(text, str) else text
    out: list[DeltaFlavour] = []
    for raw in items:
        for name in (n.strip().lower() for n in raw.split(",") if n.strip()):
            if name not in _ALIASES:
                raise InputError(argument, f"unknown delta flavour {name!r} (sticky-strike, sticky-moneyness, "
                                           "minimum-variance)")
            f = _ALIASES[name]
            if f not in out:
                out.append(f)
    if not out:
        raise InputError(argument, "no delta flavour given")
    return tuple(out)


def _valid_vol(iv: FloatArray) -> npt.NDArray[np.bool_]:
    return np.asarray(np.isfinite(iv) & (iv > 1e-4), dtype=np.bool_)


def _implied(params: HestonParams, s: FloatArray, strike: float | FloatArray, tau: float, v: FloatArray,
             is_call: bool | npt.NDArray[np.bool_]) -> tuple[FloatArray, FloatArray]:
    """Heston prices and their Black-Scholes implied vols (NaN where none), broadcast."""
    price = heston_price(params, s, strike, tau, v, is_call)
    return price, np.asarray(implied_vol_bs(price, s, strike, tau, 0.0, 0.0, is_call).vol, dtype=np.float64)


def heston_leg_marks(leg: OptionLeg, params: HestonParams, spots: FloatArray, variance: FloatArray,
                     seconds: FloatArray, *, smile_slope: bool = False
                     ) -> tuple[FloatArray, FloatArray, FloatArray]:
    """(Heston price, implied vol, ``d sigma / dk``) of one option at every grid point while it lives.

    After expiry the price row is 0 and the vol ``sqrt(theta)`` (placeholders: the book settles
    the leg and zeroes its greeks there); the slope is 0 unless ``smile_slope``.
    """
    if leg.rate != 0.0:
        raise InputError("rate", f"the Heston marks assume a zero rate, got {leg.rate!r}")
    price = np.zeros_like(spots)
    vol = np.full_like(spots, math.sqrt(params.theta))
    slope = np.zeros_like(spots)
    for i, t in enumerate(np.asarray(seconds, dtype=np.float64)):
        tau = (leg.expiry_s - float(t)) / YEAR_S
        if tau <= 0.0:
            continue
        s, v = spots[i], variance[i]
        h = min(max(0.25 * math.sqrt(params.theta * tau), 0.005), 0.05)
        # one pricing call per step (the quadrature set-up is per call): the strike, and its neighbours
        strikes = leg.strike * np.exp(np.array([0.0, h, -h]) if smile_slope else np.zeros(1))[:, None]
        p, iv = _implied(params, s[None, :], strikes, tau, v[None, :], leg.is_call)
        price[i] = p[0]
        ok = _valid_vol(iv)
        vol[i] = np.where(ok[0], iv[0], np.sqrt(np.maximum(v, _VOL_FLOOR**2)))
        if smile_slope:
            slope[i] = np.where(ok.all(axis=0), (iv[1] - iv[2]) / (2.0 * h), 0.0)
    return price, vol, slope


def heston_marks(book: Book, spots: FloatArray, variance: FloatArray, seconds: FloatArray, params: HestonParams,
                 flavours: tuple[DeltaFlavour, ...], mv: MinVarianceCoefficients | None = None
                 ) -> dict[DeltaFlavour, BookMarks]:
    """The book along Heston paths, one :class:`BookMarks` per flavour (only ``delta`` differs)."""
    if "min_variance" in flavours and mv is None and book.options:
        raise InputError("mv", 'flavour "min_variance" needs the Hull-White coefficients')
    if spots.shape != variance.shape:
        raise InputError("variance", f"shape {variance.shape} != spots {spots.shape}")
    base = book.revalue(spots, seconds, options=False)
    t = np.asarray(seconds, dtype=np.float64)
    value = base.value.copy()
    gamma = base.gamma.copy()
    deltas = {f: base.delta.copy() for f in flavours}
    for o in book.options:
        price, vol, slope = heston_leg_marks(o, params, spots, variance, t,
                                             smile_slope="sticky_moneyness" in flavours)
        tau = np.broadcast_to(np.maximum((o.expiry_s - t) / YEAR_S, 0.0)[:, None], spots.shape)
        live = tau > 0.0
        value += o.quantity * settle(o, spots, t, live, price)
        g = bs_greeks(spots, o.strike, tau, vol, 0.0, 0.0, o.is_call)
        gamma += o.quantity * np.where(live, g.gamma, 0.0)
        for f in flavours:
            d = g.delta if f == "sticky_strike" else smile_delta(f, spots, o.strike, tau, vol, o.is_call,
                                                                  dvol_dk=slope, mv=mv).delta
            deltas[f] += o.quantity * np.where(live, d, 0.0)
    return {f: BookMarks(value, deltas[f], gamma, base.funding, base.fees, base.lp_value, base.lp_delta,
                         base.lp_gamma) for f in flavours}


def calibrate_min_variance(model: HestonModel, book: Book, s0: float, seconds: FloatArray, seed: int, *,
                           paths: int = 600, max_obs: int = 20) -> MinVarianceFit:
    """Hull-White coefficients fitted on a calibration draw of ``model`` (not the test paths).

    The draw: ``paths`` paths from ``SeedSequence(seed, spawn_key=(CALIBRATION_KEY,))`` on the
    backtest's own grid, observed at most ``max_obs + 1`` times (every ``ceil(n_steps / max_obs)``
    steps). Options: every expiry of the book, strikes ``S0 x`` :data:`CALIBRATION_MONEYNESS` plus
    the book's strikes, marked at Heston prices and inverted to implied vols. Each pair of
    consecutive observations with over a day to expiry at the second gives one regression row of
    :func:`keeper.core.smile_delta.fit_min_variance`. A book without options gets ``a = b = c = 0``.
    """
    if paths < 10 or max_obs < 1:
        raise InputError("calibration_paths", f"need >= 10 paths and >= 1 observation, got {paths}, {max_obs}")
    t = np.asarray(seconds, dtype=np.float64)
    expiries = sorted({o.expiry_s for o in book.options if o.expiry_s > t[0]})
    if not expiries:
        return MinVarianceFit(MinVarianceCoefficients(0.0, 0.0, 0.0), 0, math.nan)
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(CALIBRATION_KEY,)))
    spots, var = model.simulate_with_variance(s0, t, paths, rng)
    rows = np.arange(0, t.size, max(1, math.ceil((t.size - 1) / max_obs)))
    params = model.params
    cols: list[list[FloatArray]] = [[], [], [], [], [], []]
    for e in expiries:
        strikes = sorted({s0 * m for m in CALIBRATION_MONEYNESS} | {o.strike for o in book.options
                                                                     if o.expiry_s == e})
        taus = (e - t[rows]) / YEAR_S
        use = [j for j in range(rows.size - 1) if taus[j + 1] > 1.0 / 365.0]
        ks = np.asarray(strikes)[:, None]
        calls = ks >= s0
        ivs: dict[int, FloatArray] = {}
        for j in sorted({j for jj in use for j in (jj, jj + 1)}):  # all strikes of a row in one pricing call
            ivs[j] = _implied(params, spots[rows[j]][None, :], ks, float(taus[j]), var[rows[j]][None, :], calls)[1]
        for j in use:
            a, b = rows[j], rows[j + 1]
            ok = _valid_vol(ivs[j]) & _valid_vol(ivs[j + 1])
            shape = ok.shape
            for c, x in zip(cols, (np.broadcast_to(spots[a], shape), np.broadcast_to(spots[b], shape),
                                   np.broadcast_to(ks, shape), np.full(shape, taus[j]), ivs[j], ivs[j + 1]),
                            strict=True):
                c.append(x[ok])
    if not cols[0]:
        raise InputError("days", "min-variance calibration: no pair of observations with over a day to expiry "
                                 "(lengthen the horizon or the options' expiry)")
    return fit_min_variance(*(np.concatenate(c) for c in cols))
