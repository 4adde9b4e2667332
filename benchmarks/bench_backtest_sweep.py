"""Backtest sweep on a local Dask cluster (JSON lines): 20 policies x 20,000 paths x 30 days hourly.

* ``backtest.sweep_local``: the sweep ``ww.risk_aversion_per_usd=1e-6..1e-2:20`` (20 Whalley-Wilmott
  policies, log-spaced absolute risk aversions) on the standard book (short 100 30-day ATM calls +
  a $300k LP at +/-10 %, GBM 60 % vol), 20,000 paths in 20 seeded chunks of 1,000, 720 hourly
  steps, hedge pool 5 bps, liquidity 2e7, $0.5 gas; wall-clock seconds on a local cluster of 2
  worker processes (one thread each). Anchor: the same run on a local cluster of 1 worker, in the
  same script run. ``scaling_efficiency = t1 / (2 t2)`` (1 = perfect). ``identical``: the two runs'
  per-path results are equal bit for bit. The clusters' start-up is timed apart (``startup_s``).
  The 1-minute load average before and after is given: on a shared machine other processes take
  cores from the second worker, and the efficiency measures the machine as much as the engine.
* ``backtest.sweep_local.workers_1``: the anchor run alone (seconds).

Run: ``python benchmarks/bench_backtest_sweep.py``.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np

from benchmarks._common import emit, emit_error, machine
from keeper.backtest.book import standard_book
from keeper.backtest.engine import CostModel
from keeper.backtest.parallel import BacktestJob, BacktestResult, available_cores, local_cluster, run_backtest
from keeper.backtest.paths import GBMModel, time_grid
from keeper.backtest.sweep import parse_sweep, sweep_policies

SPOT, VOL = 3000.0, 0.6
PATHS, CHUNK, DAYS = 20_000, 1000, 30.0


def _job() -> BacktestJob:
    book = standard_book(SPOT, VOL)
    specs = sweep_policies([parse_sweep("ww.risk_aversion_per_usd=1e-6..1e-2:20")], book.gross_value(SPOT))
    return BacktestJob(book, specs, CostModel(5e-4, 2e7, 0.5), time_grid(DAYS, 3600), SPOT, VOL,
                       model=GBMModel(VOL), n_paths=PATHS, seed=1, chunk_paths=CHUNK)


def _timed(job: BacktestJob, workers: int) -> tuple[float, float, BacktestResult]:
    """(start-up s, run s, result) on a fresh local cluster of ``workers`` processes."""
    from distributed import Client

    t0 = time.perf_counter()
    with local_cluster(workers) as cluster, Client(cluster, set_as_default=False) as client:
        client.wait_for_workers(workers)
        t1 = time.perf_counter()
        res = run_backtest(job, client=client, progress=True)
        return t1 - t0, time.perf_counter() - t1, res


def sweep_local() -> None:
    job = _job()
    load0 = os.getloadavg()[0]
    start1, t1, one = _timed(job, 1)
    emit("backtest.sweep_local.workers_1", t1, "s", policies=len(job.specs), paths=PATHS, steps=job.steps,
         chunks=len(job.chunks), workers=1, startup_s=round(start1, 2))
    if available_cores() < 2:
        emit_error("backtest.sweep_local", f"needs 2 cores, {available_cores()} available")
        return
    start2, t2, two = _timed(job, 2)
    identical = all(np.array_equal(one.runs[n].pnl, two.runs[n].pnl)
                    and np.array_equal(one.runs[n].trades, two.runs[n].trades) for n in one.runs)
    emit("backtest.sweep_local", t2, "s", anchor="the same sweep on 1 worker (s)", anchor_value=t1,
         scaling_efficiency=round(t1 / (2.0 * t2), 3), speedup=round(t1 / t2, 3), identical=identical,
         policies=len(job.specs), paths=PATHS, steps=job.steps, chunks=len(job.chunks), workers=2,
         startup_s=round(start2, 2), load_avg_1m_before=round(load0, 2), load_avg_1m_after=round(os.getloadavg()[0], 2),
         **machine())


def main() -> None:
    sweep_local()


if __name__ == "__main__":
    main()
