"""Backtest P&L accounting: the reported P&L is the hedging error less the cost, path by path, and
a dearer venue (a higher swap fee) costs more and leaves a lower or equal P&L."""

from __future__ import annotations

import numpy as np
import pytest

from keeper.backtest.book import standard_book
from keeper.backtest.engine import CostModel, PolicySpec, run_paths
from keeper.backtest.metrics import policy_metrics
from keeper.backtest.parallel import BacktestJob, run_backtest
from keeper.backtest.paths import GBMModel, time_grid
from keeper.backtest.policies import band_policy, interval_policy, ww_policy
from keeper.backtest.report import build_report, report_json

GRID = time_grid(2.0, 3600)
SPECS = (PolicySpec("none", "none", None), interval_policy(1.0), interval_policy(6.0), band_policy(100.0))


def _run(fee: float) -> dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    spots = GBMModel(0.8).simulate(3000.0, GRID, 64, np.random.default_rng(11))
    res = run_paths(standard_book(days=2.0), spots, GRID, SPECS, CostModel(fee, 5e7, 1.0), 0.8)
    return {s.name: (res.policies[s.name].pnl, res.policies[s.name].hedging_error, res.policies[s.name].cost,
                     res.policies[s.name].trades) for s in SPECS}


def test_pnl_is_hedging_error_less_cost_on_every_path() -> None:
    for name, (pnl, err, cost, trades) in _run(0.003).items():
        assert pnl.shape == err.shape == cost.shape == (64,)
        np.testing.assert_allclose(pnl, err - cost, rtol=0, atol=1e-9, err_msg=name)
        if name != "none":
            assert np.all(cost > 0.0) and np.all(trades > 0), f"{name}: every path trades and pays"
            assert np.all(pnl < err), name


def test_a_higher_fee_costs_more_and_lowers_the_pnl() -> None:
    cheap, dear = _run(0.0005), _run(0.01)
    for name in cheap:
        pnl_c, err_c, cost_c, trades_c = cheap[name]
        pnl_d, err_d, cost_d, trades_d = dear[name]
        # these policies do not look at the fee: the same trades and hedging error, only the cost moves
        assert np.array_equal(trades_c, trades_d) and np.array_equal(err_c, err_d), name
        assert np.all(pnl_d <= pnl_c), name
        assert np.all(cost_d >= cost_c), name
        if name != "none":
            assert np.all(cost_d > cost_c) and np.all(pnl_d < pnl_c), name
            assert pnl_c.mean() - pnl_d.mean() == pytest.approx(cost_d.mean() - cost_c.mean(), rel=1e-9)


def test_reported_pnl_and_cost_follow_the_fee() -> None:
    # The report (table and JSON) of a parallel run: mean P&L = mean hedging error - mean cost.
    book = standard_book(days=2.0)
    specs = (interval_policy(2.0), ww_policy(10.0, book.gross_value(3000.0)))
    rows = {}
    for fee in (0.0005, 0.01):
        job = BacktestJob(book, specs, CostModel(fee, 5e7, 1.0), GRID, 3000.0, 0.8, model=GBMModel(0.8),
                          n_paths=80, seed=5, chunk_paths=40)
        result = run_backtest(job, workers=1)
        for s in specs:
            r = result.runs[s.name]
            m = policy_metrics(s, r)
            assert m.mean_pnl == pytest.approx(float(np.mean(r.hedging_error - r.cost)), rel=1e-12)
            assert m.mean_cost == pytest.approx(float(r.cost.mean()), rel=1e-12)
        doc = report_json(build_report(result))
        rows[fee] = {p["name"]: p for p in doc["policies"]}
    # The interval policy trades the same whatever the fee, so its reported cost rises and its P&L falls.
    # (A WW band widens with the fee and trades less: no such ordering is promised for it.)
    cheap, dear = rows[0.0005][specs[0].name], rows[0.01][specs[0].name]
    assert dear["mean_cost"] > cheap["mean_cost"]
    assert dear["mean_pnl"] < cheap["mean_pnl"]
    assert cheap["mean_pnl"] - dear["mean_pnl"] == pytest.approx(dear["mean_cost"] - cheap["mean_cost"], rel=1e-9)
