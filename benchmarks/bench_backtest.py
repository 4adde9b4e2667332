"""Backtest benchmarks (JSON lines): Whalley-Wilmott versus fixed intervals and the 200 bps band, and 10,000 paths.

* ``backtest.ww_vs_interval_5bps`` / ``_30bps``: the standard book (short 100 30-day ATM calls + a
  $300k LP at +/-10 %, GBM 60 % vol), 15-minute steps, 2,000 paths (common to all policies), hedge
  pool fee 5 / 30 bps with deep liquidity and $0.5 gas. ``value`` is the cost reduction of the
  WW frontier (interpolated in log-log) at the hedging-error std of the best fixed-interval policy
  -- the interval the frontier beats by the least. The line also gives the comparison with the
  fixed 200 bps band at its own risk, and the costs and risks of all three.
* ``backtest.paths_10000``: 10,000 paths x 30 days hourly, the standard book, every default
  policy (the full ``keeper backtest`` comparison), on the available cores (seconds, wall clock).

Run: ``python benchmarks/bench_backtest.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks._common import emit, emit_error, machine
from keeper.backtest.book import standard_book
from keeper.backtest.engine import CostModel
from keeper.backtest.parallel import BacktestJob, available_cores, run_backtest
from keeper.backtest.paths import GBMModel, time_grid
from keeper.backtest.policies import comparison_set
from keeper.backtest.report import build_report

SPOT, VOL = 3000.0, 0.6


def ww_vs_interval(fee_bps: float) -> None:
    name = f"backtest.ww_vs_interval_{fee_bps:g}bps"
    book = standard_book(SPOT, VOL)
    specs = comparison_set(book.gross_value(SPOT), intervals_h=(0.5, 1, 2, 4, 8, 24), bands_bps=(200.0,),
                           ww_risk=(1, 3, 10, 30, 100, 300, 1e3, 3e3, 1e4, 3e4, 1e5, 1e6, 1e7))
    job = BacktestJob(book, specs, CostModel(fee_bps * 1e-4, 2e7, 0.5), time_grid(30.0, 900), SPOT, VOL,
                      model=GBMModel(VOL), n_paths=2000, seed=11, chunk_paths=500)
    rep = build_report(run_backtest(job))
    best = rep.best_interval
    band = rep.comparison("band:200bps")
    if best is None or best.reduction is None or best.ww_cost is None:
        emit_error(name, "no fixed-interval policy inside the WW frontier's risk range")
        return
    extra = {
        "best_interval": best.reference, "interval_risk": round(best.reference_risk, 1),
        "interval_cost": round(best.reference_cost, 1), "ww_cost_at_interval_risk": round(best.ww_cost, 1),
        "all_interval_reductions": {c.reference: None if c.reduction is None else round(c.reduction, 4)
                                    for c in rep.comparisons if c.reference.startswith("interval")},
        "band200_risk": round(band.reference_risk, 1) if band else None,
        "band200_cost": round(band.reference_cost, 1) if band else None,
        "ww_cost_at_band200_risk": round(band.ww_cost, 1) if band and band.ww_cost is not None else None,
        "band200_reduction": round(band.reduction, 4) if band and band.reduction is not None else None,
        "meets_30pct": best.reduction >= 0.30,
        "beats_band200": bool(band and band.reduction is not None and band.reduction > 0.0),
        "paths": 2000, "step_s": 900, "risk": "std of hedging error, USD", "cost": "mean per path, USD",
        "elapsed_s": round(rep.meta["elapsed_s"], 1),
    }
    emit(name, best.reduction, "fraction", **extra)


def paths_10000() -> None:
    book = standard_book(SPOT, VOL)
    specs = comparison_set(book.gross_value(SPOT))
    job = BacktestJob(book, specs, CostModel(5e-4, 2e7, 0.5), time_grid(30.0, 3600), SPOT, VOL,
                      model=GBMModel(VOL), n_paths=10_000, seed=1, chunk_paths=1000)
    res = run_backtest(job, progress=True)
    emit("backtest.paths_10000", res.elapsed_s, "s", paths=10_000, steps=720, policies=len(specs),
         workers=res.workers, cores=available_cores(), under_60s=res.elapsed_s < 60.0, **machine())


def main() -> None:
    for fee in (5.0, 30.0):
        ww_vs_interval(fee)
    paths_10000()


if __name__ == "__main__":
    main()
