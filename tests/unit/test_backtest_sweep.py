"""``--sweep`` grammar, the swept policies and scenarios, and the seeded chunks: the same floats whatever the
chunking of policies, the number of workers or the order the chunks finish in."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from keeper.backtest.book import standard_book
from keeper.backtest.engine import CostModel
from keeper.backtest.parallel import BacktestJob, BacktestResult, _chunk_result, _merge, run_backtest, run_backtests
from keeper.backtest.paths import GBMModel, HestonModel, time_grid
from keeper.backtest.policies import comparison_set
from keeper.backtest.sweep import (
    MAX_VALUES,
    Scenario,
    apply_scenario,
    check_axes,
    parse_sweep,
    scenarios,
    sweep_policies,
)
from keeper.cli.backtest import main
from keeper.errors import InputError

GRID = time_grid(2.0, 3600)


def test_lists_and_ranges() -> None:
    a = parse_sweep("band_units=5,10,20")
    assert (a.key, a.values, a.is_policy) == ("band_units", (5.0, 10.0, 20.0), True)
    ww = parse_sweep("ww.risk_aversion_per_usd=1e-6..1e-2:20").values
    assert len(ww) == 20 and ww[0] == 1e-6 and ww[-1] == 1e-2  # the ends exactly as written
    ratios = np.array(ww[1:]) / np.array(ww[:-1])
    assert np.allclose(ratios, 10 ** (4 / 19), rtol=1e-12)  # log-spaced: one ratio between neighbours
    assert parse_sweep("interval_h=log:1..16:5").values == pytest.approx((1.0, 2.0, 4.0, 8.0, 16.0), rel=1e-12)
    lin = parse_sweep("heston.rho=lin:-0.9..-0.3:4")
    assert lin.values == pytest.approx((-0.9, -0.7, -0.5, -0.3), abs=1e-15) and not lin.is_policy
    assert parse_sweep(" vol = 0.4, 0.8 ").values == (0.4, 0.8)


@pytest.mark.parametrize(("text", "says"), [
    ("band_units", "expected KEY=VALUES"),
    ("=1,2", "expected KEY=VALUES"),
    ("bogus=1,2", "unknown key 'bogus'"),
    ("band_units=5,x", "'x' is not a number"),
    ("band_units=5,nan", "not a finite number"),
    ("band_units=0,5", "band_units must be > 0"),
    ("band_bps=20000", "in (0, 10000] bps"),
    ("heston.rho=1", "in (-1, 1)"),
    ("vol=lin:0.2..0.8:1", "the count must be in 2.."),
    (f"vol=lin:0.2..0.8:{MAX_VALUES + 1}", "the count must be in 2.."),
    ("vol=0.8..0.2:3", "needs lo < hi"),
    ("heston.rho=-0.9..-0.3:3", "use lin:-0.9..-0.3:3"),
    ("vol=0.2..0.8:x", "whole number"),
    ("vol=0.2..0.8", "a range is lo..hi:n"),
    ("band_units=5,5", "given twice"),
])
def test_bad_sweeps_name_the_flag_and_value(text: str, says: str) -> None:
    with pytest.raises(InputError, match="--sweep") as exc:
        parse_sweep(text)
    assert says in str(exc.value) and repr(text) in str(exc.value)


def test_axes_fit_the_model() -> None:
    with pytest.raises(InputError, match="swept twice"):
        check_axes([parse_sweep("vol=0.4"), parse_sweep("vol=0.5")], "gbm")
    with pytest.raises(InputError, match="needs --model heston"):
        check_axes([parse_sweep("heston.xi=1,2")], "gbm")
    with pytest.raises(InputError, match=r"sweep heston\.v0"):
        check_axes([parse_sweep("vol=0.4")], "heston")
    check_axes([parse_sweep("heston.xi=1,2"), parse_sweep("fee_bps=5,30")], "heston")


def test_swept_policies_and_scenarios() -> None:
    axes = [parse_sweep("ww.risk_aversion_per_usd=1e-5,1e-4"), parse_sweep("band_units=5,10"),
            parse_sweep("vol=0.4,0.8"), parse_sweep("fee_bps=5,30,100")]
    specs = sweep_policies([a for a in axes if a.is_policy], 2e6, target=1.5)
    assert [s.name for s in specs] == ["ww:1e-05/usd", "ww:0.0001/usd", "band:5u", "band:10u"]
    ww, band = specs[0], specs[2]
    assert ww.policy is not None and ww.policy.trigger.risk_aversion_per_usd == 1e-5
    assert ww.param == pytest.approx(20.0) and ww.family == "ww" and ww.policy.sizing.hedge_to == "edge"
    assert band.policy is not None and band.policy.trigger.trigger == "fixed" and band.policy.trigger.band_units == 5
    assert band.policy.target_delta_units == 1.5 and band.policy.sizing.hedge_to == "target"
    with pytest.raises(InputError, match="same policy"):
        sweep_policies([parse_sweep("band_units=1.0000001,1.0000002")], 1e6)
    cases = scenarios(axes)
    assert [c.label for c in cases] == [f"vol={v} fee_bps={f}" for v in (0.4, 0.8) for f in (5, 30, 100)]
    assert cases[0].slug == "vol-0.4_fee_bps-5" and scenarios(axes[:2]) == (Scenario(),)
    job = BacktestJob(standard_book(days=2.0), specs, CostModel(), GRID, 3000.0, 0.6, model=GBMModel(0.6))
    j = apply_scenario(job, cases[-1])
    assert j.model == GBMModel(0.8) and j.sigma == 0.8 and j.costs.fee_fraction == pytest.approx(0.01)
    assert j.book is job.book and j.specs is job.specs and apply_scenario(job, Scenario()) is job
    hj = replace(job, model=HestonModel(), sigma=0.6)
    h = apply_scenario(hj, Scenario((("heston.theta", 0.25), ("gas_usd", 2.0))))
    assert isinstance(h.model, HestonModel) and h.model.theta == 0.25 and h.sigma == pytest.approx(0.5)
    assert h.costs.gas_quote == 2.0 and h.mv_fit is None


def _job(n_paths: int, chunk: int, seed: int = 5) -> BacktestJob:
    book = standard_book(days=2.0)
    specs = comparison_set(book.gross_value(3000.0), intervals_h=(1, 4), bands_bps=(200,), ww_risk=(10, 1000))
    return BacktestJob(book, specs, CostModel(), GRID, 3000.0, 0.6, model=GBMModel(0.6), n_paths=n_paths,
                       seed=seed, chunk_paths=chunk)


def _same(a: BacktestResult, b: BacktestResult) -> None:
    assert list(a.runs) == list(b.runs)
    for name, r in a.runs.items():
        o = b.runs[name]
        for f in ("hedging_error", "cost", "trades", "max_abs_delta", "delta_sample"):
            assert np.array_equal(getattr(r, f), getattr(o, f)), (name, f)
    assert np.array_equal(a.lvr, b.lvr) and np.array_equal(a.lvr_predicted, b.lvr_predicted)


def test_chunk_seeding_is_independent_of_batching_and_order() -> None:
    job = _job(120, 50)
    whole = run_backtest(job, workers=1)
    assert len(whole.lvr) == 120 and job.chunks == [50, 50, 20]
    _same(whole, run_backtest(job, workers=1, policies_per_task=2))  # policies split over tasks
    # chunks finishing in reverse order and merged in chunk order: the same floats
    parts = {i: [_chunk_result(job, i, n, 0, len(job.specs))] for i, n in reversed(list(enumerate(job.chunks)))}
    _same(whole, _merge(job, [parts[i] for i in sorted(parts)], 0.0, 1, "test"))
    # chunk i is its own seed: the first chunk of a run of 50 paths is the first 50 paths of any run
    first = run_backtest(replace(job, n_paths=50), workers=1)
    assert np.array_equal(first.runs["ww:10"].pnl, whole.runs["ww:10"].pnl[:50])
    other = run_backtest(replace(job, seed=6), workers=1)
    assert not np.array_equal(other.runs["ww:10"].pnl, whole.runs["ww:10"].pnl)


def test_streams_each_job_and_counts_tasks() -> None:
    jobs = [_job(60, 30), apply_scenario(_job(60, 30), Scenario((("vol", 0.3),)))]
    seen: list[int] = []
    ticks: list[tuple[int, int]] = []
    res = run_backtests(jobs, workers=1, policies_per_task=3, progress=lambda d, t: ticks.append((d, t)),
                        on_result=lambda j, r: seen.append(j))
    assert seen == [0, 1] and ticks[-1] == (8, 8) and [d for d, _ in ticks] == list(range(1, 9))
    assert res[0].engine == "in-process" and res[1].job.sigma == 0.3
    # common random numbers: the unhedged book's P&L differs only through the vol
    assert not np.array_equal(res[0].runs["none"].pnl, res[1].runs["none"].pnl)
    with pytest.raises(InputError, match="policies_per_task"):
        run_backtests(jobs, workers=1, policies_per_task=0)


def test_cli_sweep_writes_a_report_per_scenario(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    assert main(["backtest", "--paths", "40", "--days", "2", "--step", "4h", "--workers", "1", "--json",
                 "--sweep", "ww.risk=lin:1..1000:3", "--sweep", "band_units=5,10", "--sweep", "vol=0.4,0.8",
                 "--out", str(out)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [s["meta"]["scenario"] for s in doc["scenarios"]] == ["vol=0.4", "vol=0.8"]
    for s in doc["scenarios"]:
        assert [p["name"] for p in s["policies"]] == ["none", "ww:1", "ww:500.5", "ww:1000", "band:5u", "band:10u"]
        assert s["meta"]["sweep"] == {"ww.risk": [1.0, 500.5, 1000.0], "band_units": [5.0, 10.0], "vol": [0.4, 0.8]}
        assert s["meta"]["vol"] == s["meta"]["scenario_settings"]["vol"]
        assert all(math.isfinite(p["cvar95"]) for p in s["policies"])
    assert (out / "vol-0.4" / "report.json").is_file() and (out / "vol-0.8" / "frontier.png").is_file()
    assert main(["backtest", "--paths", "20", "--days", "2", "--step", "1d", "--workers", "1",
                 "--sweep", "interval_h=4,8"]) == 0
    table = capsys.readouterr().out
    assert "interval:4h" in table and "interval:8h" in table and "scenario" not in table


def test_cli_sweep_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["backtest", "--sweep", "band_units=0..5:3"])
    assert exc.value.code == 2 and "argument --sweep" in capsys.readouterr().err
    assert main(["backtest", "--sweep", "heston.xi=1,2", "--paths", "10"]) == 2
    assert "needs --model heston" in capsys.readouterr().err
    assert main(["backtest", "--scheduler", "tcp://127.0.0.1:1", "--workers", "2"]) == 2
    assert "--workers" in capsys.readouterr().err


def test_progress_bar_only_on_a_terminal_and_not_quiet(monkeypatch: pytest.MonkeyPatch) -> None:
    import argparse
    import io
    import sys

    from keeper.cli import backtest as cli

    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    job = _job(100, 50)
    ns = argparse.Namespace(quiet=False, sweep=[parse_sweep("band_units=5")], scheduler=None, model="gbm")
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not cli._show_progress(ns, job)  # piped or captured: no bar
    monkeypatch.setattr(sys, "stderr", Tty())
    assert cli._show_progress(ns, job)
    assert not cli._show_progress(argparse.Namespace(**{**vars(ns), "quiet": True}), job)
    monkeypatch.delenv("KEEPER_DASK_SCHEDULER", raising=False)
    small = argparse.Namespace(**{**vars(ns), "sweep": []})
    assert not cli._show_progress(small, job)  # a short run on this machine needs none
