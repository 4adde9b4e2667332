"""Hedging-error variance of OTM options, minimum-variance vs Black-Scholes delta (smile.mv_vs_bs_hedge_error).

World: Heston (:mod:`keeper.core.stochvol`) with a crypto-like level and a negative skew --
``v0 = theta = 0.36`` (60 % vol), ``kappa = 3``, ``xi = 1.2``, ``rho = -0.6`` -- spot 2,000.
Options are marked at their exact Heston prices; their implied vols (hence Black-Scholes delta
and vega) come from inverting those prices (:func:`keeper.core.implied_vol.implied_vol_bs`).

1. **Calibration** (seed 1, 1,500 paths, 20 daily steps): strikes ``K / S0`` from 0.80 to 1.20,
   30-day options; each day's (spot, implied vol) change gives a pair for
   :func:`keeper.core.smile_delta.fit_min_variance` -> Hull-White ``a, b, c``.
2. **Test** (seed 2, 3,000 paths, same horizon): the book is long one each of 30-day puts at
   ``K / S0`` 0.85 and 0.925 and calls at 1.075 and 1.15, delta-hedged daily for 20 days. The
   daily hedging error of the book is ``sum_i (dV_i - delta_i dS)`` with ``delta_i`` the
   Black-Scholes delta at the option's implied vol, or the minimum-variance delta with the
   calibrated coefficients.

Value: ``1 - Var(MV error) / Var(BS error)`` over all paths and days, in percent; the line also
carries both variances (quote currency squared), the number of paths and hedges, the
coefficients, and the same reduction for each option hedged on its own.

3. **Yardstick**: the same test paths hedged with the model's own minimum-variance delta
   ``dC/dS + rho xi / S * dC/dv`` (:func:`keeper.core.stochvol.heston_greeks`, from the true
   variance of each path, which no hedger observes): the reduction it achieves against the
   Black-Scholes delta bounds what any delta computed from spot and implied vol can attain here.
   ``smile.model_mv_vs_bs_hedge_error`` is that achievable reduction (percent);
   ``smile.mv_share_of_model_mv`` is the Hull-White delta's share of it, ``(HW reduction) /
   (model-MV reduction)`` (fraction; 1 = all that is achievable), with the per-option shares.

Run: ``python benchmarks/bench_smile.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import time

import numpy as np
from numpy.typing import NDArray

from benchmarks._common import emit
from keeper.core.implied_vol import implied_vol_bs
from keeper.core.smile_delta import MinVarianceCoefficients, fit_min_variance, smile_delta
from keeper.core.stochvol import HestonParams, heston_greeks, heston_price, simulate_heston

HESTON = HestonParams(v0=0.36, kappa=3.0, theta=0.36, xi=1.2, rho=-0.6)
S0 = 2000.0
DT = 1.0 / 365.0
T0 = 30.0 / 365.0
STEPS = 20
BOOK = ((0.85, False), (0.925, False), (1.075, True), (1.15, True))
CALIBRATION = tuple(np.round(np.arange(0.80, 1.2001, 0.05), 3))


def marks(spot: NDArray[np.float64], var: NDArray[np.float64], strike: float, is_call: bool
          ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Heston prices and implied vols of one option on every path and day, shape (STEPS + 1, paths)."""
    price = np.empty_like(spot)
    vol = np.empty_like(spot)
    for i in range(STEPS + 1):
        t = T0 - i * DT
        price[i] = heston_price(HESTON, spot[i], strike, t, var[i], is_call)
        iv = implied_vol_bs(price[i], spot[i], strike, t, 0.0, 0.0, is_call)
        vol[i] = np.where(np.isfinite(iv.vol), iv.vol, np.nan)
    return price, vol


def calibrate(seed: int, paths: int) -> tuple[MinVarianceCoefficients, int, float]:
    spot, var = simulate_heston(HESTON, S0, paths, STEPS, DT, seed=seed)
    cols: list[list[NDArray[np.float64]]] = [[], [], [], [], [], []]
    for m in CALIBRATION:
        strike = S0 * m
        _, vol = marks(spot, var, strike, m >= 1.0)
        t = (T0 - np.arange(STEPS) * DT)[:, None] * np.ones((1, paths))
        ok = (vol[:-1] > 1e-4) & (vol[1:] > 1e-4)  # NaN compares False: unpriceable marks are dropped
        for c, x in zip(cols, (spot[:-1], spot[1:], np.full_like(t, strike), t, vol[:-1], vol[1:]), strict=True):
            c.append(x[ok])
    fit = fit_min_variance(*(np.concatenate(c) for c in cols))
    return fit.coefficients, fit.n, fit.r_squared


def model_mv_delta(spot: NDArray[np.float64], var: NDArray[np.float64], strike: float, is_call: bool
                   ) -> NDArray[np.float64]:
    """The model's own minimum-variance delta at each hedge (days 0 .. STEPS - 1), shape (STEPS, paths)."""
    return np.stack([heston_greeks(HESTON, spot[i], strike, T0 - i * DT, var[i], is_call).min_variance
                     for i in range(STEPS)])


def _reduction(e: NDArray[np.float64], e_bs: NDArray[np.float64]) -> float:
    return 100.0 * (1.0 - float(np.var(e) / np.var(e_bs)))


Errors = NDArray[np.float64]


def hedge_errors(seed: int, paths: int, mv: MinVarianceCoefficients
                 ) -> tuple[Errors, Errors, Errors, list[tuple[str, float, float]]]:
    """Book hedging errors with the BS, Hull-White and model-MV deltas; per option (name, HW %, model-MV %)."""
    spot, var = simulate_heston(HESTON, S0, paths, STEPS, DT, seed=seed)
    ds = np.diff(spot, axis=0)
    t = (T0 - np.arange(STEPS) * DT)[:, None]
    book_bs = np.zeros_like(ds)
    book_mv = np.zeros_like(ds)
    book_model = np.zeros_like(ds)
    per_option = []
    for m, is_call in BOOK:
        price, vol = marks(spot, var, S0 * m, is_call)
        if not np.all(np.isfinite(vol)):
            raise RuntimeError(f"implied vol not found for K/S0 {m}")
        dv = np.diff(price, axis=0)
        bs = smile_delta("sticky_strike", spot[:-1], S0 * m, t, vol[:-1], is_call).delta
        mvd = smile_delta("min_variance", spot[:-1], S0 * m, t, vol[:-1], is_call, mv=mv).delta
        e_bs, e_mv, e_model = dv - bs * ds, dv - mvd * ds, dv - model_mv_delta(spot, var, S0 * m, is_call) * ds
        book_bs += e_bs
        book_mv += e_mv
        book_model += e_model
        per_option.append((f"{'call' if is_call else 'put'}_{m:g}", _reduction(e_mv, e_bs), _reduction(e_model, e_bs)))
    return (np.asarray(book_bs.reshape(-1)), np.asarray(book_mv.reshape(-1)), np.asarray(book_model.reshape(-1)),
            per_option)


def main() -> None:
    start = time.perf_counter()
    mv, n_cal, r2 = calibrate(seed=1, paths=1500)
    paths = 3000
    e_bs, e_mv, e_model, per = hedge_errors(seed=2, paths=paths, mv=mv)
    var_bs, var_mv, var_model = float(np.var(e_bs)), float(np.var(e_mv)), float(np.var(e_model))
    model = "heston v0=theta=0.36 kappa=3 xi=1.2 rho=-0.6"
    book = "long puts K/S0 0.85, 0.925; long calls 1.075, 1.15; 30-day, hedged daily for 20 days"
    hw, achievable = _reduction(e_mv, e_bs), _reduction(e_model, e_bs)
    emit("smile.mv_vs_bs_hedge_error", hw, "%",
         var_bs_usd2=var_bs, var_mv_usd2=var_mv, paths=paths, hedges=int(e_bs.size),
         calibration_paths=1500, calibration_pairs=n_cal, calibration_r2=round(r2, 4),
         coefficients={"a": round(mv.a, 5), "b": round(mv.b, 5), "c": round(mv.c, 5)},
         per_option_pct={name: round(x, 2) for name, x, _ in per},
         model=model, book=book, seconds=round(time.perf_counter() - start, 1))
    emit("smile.model_mv_vs_bs_hedge_error", achievable, "%", anchor="smile.mv_vs_bs_hedge_error (%)",
         anchor_value=hw, var_bs_usd2=var_bs, var_model_mv_usd2=var_model, paths=paths, hedges=int(e_bs.size),
         delta="dC/dS + rho xi / S dC/dv at each path's true variance", per_option_pct={
             name: round(x, 2) for name, _, x in per}, model=model, book=book)
    emit("smile.mv_share_of_model_mv", hw / achievable, "fraction", hw_reduction_pct=round(hw, 3),
         model_mv_reduction_pct=round(achievable, 3),
         per_option_share={name: round(h / a, 3) if a > 0 else None for name, h, a in per},
         meaning="the Hull-White delta's share of the hedging-error variance reduction the model's own "
                 "minimum-variance delta achieves against the Black-Scholes delta", model=model, book=book,
         seconds=round(time.perf_counter() - start, 1))


if __name__ == "__main__":
    main()
