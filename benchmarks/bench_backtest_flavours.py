"""Backtest delta flavours: minimum-variance versus sticky-strike hedging of OTM puts (backtest.flavour_mv_vs_ss).

World: ``keeper backtest --model heston`` defaults -- ``v0 = theta = 0.36`` (60 % vol), ``kappa = 3``,
``xi = 1.2``, ``rho = -0.6`` -- spot 2,000. Book: long 100 each of 30-day puts at ``K / S0`` 0.85
and 0.925, marked at exact Heston prices. The policy ``interval:6h`` (re-hedge to zero delta every
6 h, no cost) runs once per flavour on the same 2,000 paths of 20 days in 6-hour steps:
sticky-strike (BS delta at the implied vol), sticky-moneyness (plus vega x d sigma/dS along the
smile) and minimum-variance (Hull-White, coefficients fitted on a separate calibration draw of
1,000 paths, never the test paths).

Value: ``1 - std(MV hedging error) / std(SS hedging error)`` in percent, the hedging error being
each path's P&L before costs over the 20 days; the line carries each flavour's std (quote), the
variance reduction, the fitted coefficients and the wall-clock time of the run.

Run: ``python benchmarks/bench_backtest_flavours.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np

from benchmarks._common import emit, machine
from keeper.backtest.book import Book, OptionLeg
from keeper.backtest.engine import CostModel
from keeper.backtest.parallel import BacktestJob, run_backtest
from keeper.backtest.paths import HestonModel, time_grid
from keeper.backtest.policies import interval_policy, with_flavours

S0 = 2000.0
PATHS, DAYS, STEP_S = 2000, 20.0, 21_600


def main() -> None:
    book = Book("ETH", options=(OptionLeg(100.0, 0.85 * S0, 30 * 86_400.0, False, 0.6),
                                OptionLeg(100.0, 0.925 * S0, 30 * 86_400.0, False, 0.6)))
    specs = with_flavours((interval_policy(STEP_S / 3600.0),), ("sticky_strike", "sticky_moneyness", "min_variance"))
    job = BacktestJob(book, specs, CostModel(0.0, 1e30, 0.0), time_grid(DAYS, STEP_S), S0, 0.6, model=HestonModel(),
                      n_paths=PATHS, seed=7, chunk_paths=500, calibration_paths=1000)
    res = run_backtest(job)
    std = {tag: float(np.std(res.runs[f"interval:6h@{tag}"].hedging_error, ddof=1)) for tag in ("ss", "sm", "mv")}
    fit = res.job.mv_fit
    assert fit is not None
    c = fit.coefficients
    emit("backtest.flavour_mv_vs_ss", 100.0 * (1.0 - std["mv"] / std["ss"]), "%",
         std_sticky_strike=round(std["ss"], 1), std_sticky_moneyness=round(std["sm"], 1),
         std_minimum_variance=round(std["mv"], 1),
         variance_reduction_pct=round(100.0 * (1.0 - (std["mv"] / std["ss"]) ** 2), 2),
         sm_vs_ss_pct=round(100.0 * (1.0 - std["sm"] / std["ss"]), 2),
         coefficients={"a": round(c.a, 5), "b": round(c.b, 5), "c": round(c.c, 5)}, calibration_pairs=fit.n,
         calibration_r2=round(fit.r_squared, 4), paths=PATHS, steps=job.steps, step_s=STEP_S,
         book="long 100 each 30-day puts K/S0 0.85, 0.925", policy="interval:6h",
         model="heston v0=theta=0.36 kappa=3 xi=1.2 rho=-0.6", risk="std of hedging error per path, USD",
         elapsed_s=round(res.elapsed_s, 1), workers=res.workers, **machine())


if __name__ == "__main__":
    main()
