"""The policy frontier of ``keeper report``: a small backtest of the treasury's actual book.

:func:`frontier_job` builds the job exactly as ``keeper backtest --from-chain`` does for the
default model (GBM at the plan's vol, sticky-strike deltas, the default hedge venue, every policy
of the comparison set plus the configured one as ``config``), from the snapshot and the plan's
book the report has already read; :func:`policy_frontier` turns the backtest's own report
(:func:`keeper.backtest.report.build_report`) into the DAO report's rows, so the numbers are the
backtest's. Identical policies are kept as groups, never ranked.
"""

from __future__ import annotations

from keeper.backtest.chain_book import chain_book
from keeper.backtest.engine import CostModel
from keeper.backtest.parallel import BacktestJob
from keeper.backtest.paths import GBMModel, parse_step, time_grid
from keeper.backtest.policies import parse_policies
from keeper.backtest.report import BacktestReport
from keeper.core.book import BookRisk
from keeper.core.policy import UnderlyingPolicy
from keeper.core.snapshot import Snapshot
from keeper.view.dao_report import FrontierRow, PolicyFrontier

__all__ = ["FRONTIER_STEP", "frontier_job", "policy_frontier"]

FRONTIER_STEP = "1h"


def frontier_job(snap: Snapshot, risk: BookRisk, underlying: str, *, vol: float, configured: UnderlyingPolicy,
                 paths: int, days: float, seed: int = 0) -> BacktestJob:
    """The backtest of ``underlying``'s book at the snapshot's block (raises ``InputError`` as
    :func:`~keeper.backtest.chain_book.chain_book` does when it holds nothing there)."""
    cb = chain_book(snap, risk, underlying, lp_fee_vol=vol)
    specs = parse_policies(["all"], cb.book.gross_value(cb.spot), configured, configured.target_delta_units)
    return BacktestJob(cb.book, specs, CostModel(), time_grid(days, parse_step(FRONTIER_STEP)), cb.spot, vol,
                       model=GBMModel(vol), n_paths=paths, seed=seed)


def policy_frontier(report: BacktestReport, underlying: str, *, days: float) -> PolicyFrontier:
    """The DAO report's frontier of one underlying from the backtest's report (its numbers, unrounded)."""
    rows = tuple(FrontierRow(policy=r.name, family=r.family, mean_cost_usd=r.mean_cost,
                             hedge_error_std_usd=r.std_hedging_error, cvar95_usd=r.cvar95,
                             identical_to=tuple(n for n in report.group_of(r.name) if n != r.name))
                 for r in report.rows)
    meta = report.meta
    return PolicyFrontier(underlying=underlying, book=str(meta.get("book", "")), paths=int(meta["paths"]),
                          steps=int(meta["steps"]), days=days, step=FRONTIER_STEP, vol=float(meta.get("vol", 0.0)),
                          spot_usd=float(meta.get("spot", 0.0)), rows=rows, warnings=tuple(report.warnings))
