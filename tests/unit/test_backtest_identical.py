"""Policies whose results are identical on every path (every interval up to 24h at daily steps) are
reported as one group with a warning, and no best interval is named among them."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from keeper.backtest.book import standard_book
from keeper.backtest.engine import CostModel, PolicyPaths
from keeper.backtest.metrics import FrontierComparison, LVRSummary, PolicyMetrics
from keeper.backtest.parallel import BacktestJob, run_backtest
from keeper.backtest.paths import GBMModel, time_grid
from keeper.backtest.policies import comparison_set
from keeper.backtest.report import BacktestReport, build_report, format_table, identical_groups, report_json
from keeper.cli.backtest import main


def _paths(hedging_error: list[float], trades: list[float]) -> PolicyPaths:
    e, t = np.array(hedging_error), np.array(trades)
    return PolicyPaths(e, t * 2.0, t, np.abs(e), np.zeros((2, 1)))


def test_identical_groups_compare_every_path_exactly() -> None:
    runs = {"a": _paths([1.0, 2.0], [3, 3]), "b": _paths([1.0, 2.0], [3, 3]), "c": _paths([1.0, 2.0 + 1e-12], [3, 3]),
            "d": _paths([1.0, 2.0], [3, 4]), "e": _paths([1.0, 2.0], [3, 3]), "f": _paths([1.0, 2.0 + 1e-12], [3, 3])}
    assert identical_groups(runs) == (("a", "b", "e"), ("c", "f"))
    assert identical_groups({"a": runs["a"], "d": runs["d"]}) == ()


def _report(step_s: int, step: str) -> tuple[dict[str, Any], str]:
    book = standard_book(3000.0, 0.6, days=4.0)
    specs = comparison_set(book.gross_value(3000.0), bands_bps=())
    job = BacktestJob(book, specs, CostModel(), time_grid(4.0, step_s), 3000.0, 0.6, model=GBMModel(0.6),
                      n_paths=64, seed=5)
    rep = build_report(run_backtest(job, workers=1), meta={"step": step})
    return report_json(rep), format_table(rep)


def test_daily_steps_make_the_intervals_one_group_and_no_best() -> None:
    doc, table = _report(86_400, "1d")
    intervals = [f"interval:{h:g}h" for h in (1, 2, 4, 8, 12, 24)]
    assert doc["identical_policies"] == [intervals]
    assert doc["best_interval"] is None
    warning = " = ".join(intervals) + " at --step 1d: identical"
    assert any(w.startswith(warning) for w in doc["warnings"])
    assert f"warning: {warning}" in table and "best interval interval:" not in table
    # Hourly steps tell the intervals apart: no group, one best interval named.
    doc, table = _report(3600, "1h")
    assert doc["identical_policies"] == [] and doc["warnings"] == []
    assert isinstance(doc["best_interval"], str) and "warning" not in table


def _row(name: str) -> PolicyMetrics:
    return PolicyMetrics(name, name.split(":", maxsplit=1)[0], 0.0, 100.0, 200.0, -10.0, 100.0, 10.0, 5.0, 1.0)


@pytest.mark.parametrize(("reductions", "identical", "best", "tie"), [
    ({"interval:1h": 0.1, "interval:2h": 0.1, "interval:8h": 0.3}, (("interval:1h", "interval:2h"),), None,
     ["interval:1h", "interval:2h"]),
    ({"interval:1h": 0.3, "interval:2h": 0.3, "interval:8h": 0.1}, (("interval:1h", "interval:2h"),), "interval:8h",
     []),
    ({"interval:1h": 0.1, "interval:2h": 0.2, "interval:8h": 0.3}, (), "interval:1h", []),
])
def test_no_best_interval_is_named_among_identical_ones(reductions: dict[str, float],
                                                         identical: tuple[tuple[str, ...], ...],
                                                         best: str | None, tie: list[str]) -> None:
    rows = tuple(_row(n) for n in [*reductions, "ww:3"])
    comps = tuple(FrontierComparison(n, 100.0, 10.0, 10.0 * (1.0 - r)) for n, r in reductions.items())
    rep = BacktestReport(rows, LVRSummary(0.0, 0.0, 0.0), comps, "ww:3", {"step": "1d"}, identical)
    doc, table = report_json(rep), format_table(rep)
    assert doc["best_interval"] == best and doc["best_interval_tie"] == tie
    assert len(doc["warnings"]) == len(identical)
    if best is None:
        assert "best interval: none named: interval:1h = interval:2h are identical" in table
        assert "best interval interval:" not in table
    else:
        assert f"best interval {best}:" in table


def test_cli_report_names_the_step(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["backtest", "--paths", "20", "--days", "2", "--step", "1d", "--policies", "interval:1h",
                 "interval:4h", "ww:3", "--workers", "1"]) == 0
    assert "warning: interval:1h = interval:4h at --step 1d: identical" in capsys.readouterr().out
    assert main(["backtest", "--paths", "20", "--days", "2", "--step", "1d", "--policies", "interval:1h",
                 "interval:4h", "ww:3", "--json", "--workers", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["step"] == "1d" and doc["identical_policies"] == [["interval:1h", "interval:4h"]]
