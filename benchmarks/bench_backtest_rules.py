"""The backtest with the keeper's rules (gates and venue choice) against the ideal keeper (JSON lines).

* ``backtest.rules_time``: the standard book, every default policy, 2,000 GBM paths x 30 days hourly, one
  worker, with the keeper's rules (default market: feed lag 60 s, 30 min TWAP, gas spikes, a perp at
  4 bps without funding, a 40 gwei gas cap with an urgent override at 20 ETH); the anchor is the
  same run as the ideal keeper, measured right before it (seconds, wall clock; ``ratio`` the overhead).
* ``backtest.rules_ww_vs_interval``: the WW frontier's cost reduction at the best fixed interval's
  risk (as ``backtest.ww_vs_interval_5bps``, hourly steps) with the keeper's rules; the anchor is the
  same figure for the ideal keeper on the same paths. With the line: the hedges the gates blocked and
  the cost by part of the WW and interval policies (USD per path).

Run: ``python benchmarks/bench_backtest_rules.py``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from benchmarks._common import emit, emit_error, machine
from keeper.backtest.book import standard_book
from keeper.backtest.engine import CostModel, PolicySpec
from keeper.backtest.market import MarketModel, PerpModel
from keeper.backtest.parallel import BacktestJob, run_backtest
from keeper.backtest.paths import GBMModel, time_grid
from keeper.backtest.policies import comparison_set
from keeper.backtest.report import BacktestReport, build_report
from keeper.core.gates import GateConfig

SPOT, VOL = 3000.0, 0.6
MARKET = MarketModel(perp=PerpModel(0.0004, 0.0))  # funding 0: see the README on funding carry
GATES = GateConfig(max_gas_gwei=40.0, urgent_deviation_units=20.0)


def _specs(specs: tuple[PolicySpec, ...]) -> tuple[PolicySpec, ...]:
    return tuple(s if s.policy is None else dataclasses.replace(s, policy=dataclasses.replace(s.policy, gates=GATES))
                 for s in specs)


def _run(market: MarketModel | None) -> tuple[BacktestReport, float]:
    book = standard_book(SPOT, VOL)
    specs = _specs(comparison_set(book.gross_value(SPOT), intervals_h=(1, 2, 4, 8, 24), bands_bps=(200.0,)))
    job = BacktestJob(book, specs, CostModel(5e-4, 2e7, 0.5, market), time_grid(30.0, 3600), SPOT, VOL,
                      model=GBMModel(VOL), n_paths=2000, seed=11, chunk_paths=1000)
    t0 = time.perf_counter()
    res = run_backtest(job, workers=1)
    return build_report(res), time.perf_counter() - t0


def main() -> None:
    ideal, t_ideal = _run(None)
    ruled, t_ruled = _run(MARKET)
    emit("backtest.rules_time", t_ruled, "s", anchor="backtest.rules_time[ideal keeper]", anchor_value=t_ideal,
         paths=2000, steps=720, policies=len(ruled.rows), workers=1, **machine())
    a, b = ideal.best_interval, ruled.best_interval
    if a is None or b is None or a.reduction is None or b.reduction is None:
        emit_error("backtest.rules_ww_vs_interval", "no fixed-interval policy inside the WW frontier's risk range")
        return
    rows = {r.name: r for r in ruled.rows}
    detail = {name: {"cost_usd": round(r.mean_cost, 1), "risk_usd": round(r.std_hedging_error, 1),
                     "cost_parts_usd": {k: round(v, 1) for k, v in (r.cost_parts or {}).items()},
                     "blocked_per_path": {k: round(v, 3) for k, v in (r.rule_counts or {}).items()}}
              for name, r in rows.items() if name in (b.reference, "ww:30", "ww:1000")}
    emit("backtest.rules_ww_vs_interval", b.reduction, "fraction", anchor="backtest.rules_ww_vs_interval[ideal]",
         anchor_value=a.reduction, best_interval=b.reference, best_interval_ideal=a.reference,
         market="feed lag 60 s, TWAP 30 min, gas 20 gwei with 1 spike/day x3, perp 4 bps, no funding",
         gates="max gas 40 gwei, urgent beyond 20 ETH, max deviation 100 bps, max feed age 3600 s",
         policies=detail)


if __name__ == "__main__":
    main()
