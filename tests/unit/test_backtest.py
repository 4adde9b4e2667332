"""Backtest: paths, CSV validation, book revaluation, engine, policies, parallel runner, report, plots and CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from keeper.backtest.book import Book, LPLeg, OptionLeg, PerpLeg, book_from_dict, standard_book
from keeper.backtest.engine import CostModel, PolicySpec, run_paths
from keeper.backtest.metrics import cvar, frontier_cost_at
from keeper.backtest.parallel import BacktestJob, run_backtest
from keeper.backtest.paths import GarchModel, GBMModel, MertonModel, load_price_csv, parse_step, time_grid
from keeper.backtest.policies import band_policy, comparison_set, interval_policy, parse_policies, ww_policy
from keeper.backtest.report import build_report, format_table, report_json
from keeper.cli.backtest import main
from keeper.core.policy import UnderlyingPolicy
from keeper.core.sizing import SizingConfig, TriggerConfig
from keeper.errors import DegenerateSeriesError, InputError

REPO = Path(__file__).resolve().parents[2]
GRID = time_grid(2.0, 3600)


@pytest.mark.parametrize("model", [GBMModel(0.6), GarchModel(0.6, nu=5.0), MertonModel(0.6)])
def test_models_are_seeded_martingales(model: GBMModel | GarchModel | MertonModel) -> None:
    grid = time_grid(10.0, 3600)
    a = model.simulate(3000.0, grid, 20_000, np.random.default_rng(1))
    b = model.simulate(3000.0, grid, 20_000, np.random.default_rng(1))
    assert np.array_equal(a, b) and a.shape == (241, 20_000) and np.all(a > 0)
    assert a[-1].mean() == pytest.approx(3000.0, rel=0.01)
    realized = np.sqrt(np.mean(np.diff(np.log(a), axis=0) ** 2) * 365 * 24)
    assert realized == pytest.approx(model.annual_vol, rel=0.1)


def test_parse_step_and_grid() -> None:
    assert (parse_step("1h"), parse_step("15m"), parse_step("1d"), parse_step("90")) == (3600, 900, 86400, 90)
    with pytest.raises(InputError, match="step"):
        parse_step("soon")
    with pytest.raises(InputError, match="whole number"):
        time_grid(1.0, 7 * 3600)


def test_csv_loads_and_names_bad_rows(tmp_path: Path) -> None:
    ok = tmp_path / "ok.csv"
    ok.write_text("timestamp,price\n1700000000,3000\n2023-11-14T23:13:20+00:00,3010.5\n1700007200,2990\n")
    s = load_price_csv(ok)
    assert list(s.seconds) == [0.0, 3600.0, 7200.0] and s.prices[1] == 3010.5
    cases = {"1700000000,3000\n1700003600,abc\n": "row 2: price 'abc'",
             "1700000000,3000\n1700000000,3001\n": "row 2: timestamp",
             "timestamp,price\n1700000000,3000\n1700003600,-1\n": "row 3: price must be",
             "1700000000,3000,1\n": "row 1: expected 2 columns",
             "1700000000,3000\nyesterday,3000\n": "row 2: timestamp 'yesterday'"}
    for i, (text, msg) in enumerate(cases.items()):
        f = tmp_path / f"bad{i}.csv"
        f.write_text(text)
        with pytest.raises(InputError, match=msg):
            load_price_csv(f)
    short = tmp_path / "short.csv"
    short.write_text("1700000000,3000\n")
    with pytest.raises(DegenerateSeriesError):
        load_price_csv(short)


def test_book_revaluation_decay_settlement_and_funding() -> None:
    grid = time_grid(2.0, 3600)
    book = Book("ETH", options=(OptionLeg(1.0, 3000.0, 86_400.0, True, 0.6),),
                perps=(PerpLeg(2.0, 3000.0, 1e-6),), spot_units=1.0)
    flat = np.full((grid.size, 1), 3000.0)
    m = book.revalue(flat, grid)
    assert m.value[0, 0] > m.value[20, 0] > m.value[24, 0] == pytest.approx(3000.0)  # time decay, then 0 at expiry
    assert m.delta[30, 0] == 3.0 and m.gamma[30, 0] == 0.0  # expired option: no delta; spot + perp remain
    assert m.funding.sum() == pytest.approx(-2.0 * 3000.0 * 1e-6 * 2 * 86_400.0)
    up = flat.copy()
    up[24:] = 3300.0
    assert book.revalue(up, grid).value[-1, 0] - book.revalue(up, grid).value[30, 0] == 0.0  # settled, frozen


def test_lp_leg_around_and_book_file() -> None:
    lp = LPLeg.around(3000.0, 100_000.0, 0.1)
    m = Book("ETH", lps=(lp,)).revalue(np.array([[3000.0], [5000.0]]), np.array([0.0, 3600.0]))
    assert m.value[0, 0] == pytest.approx(100_000.0, rel=1e-9) and m.gamma[0, 0] < 0 and m.gamma[1, 0] == 0.0
    b = book_from_dict({"options": [{"quantity": -5, "expiry_days": 7, "type": "put"}],
                        "lps": [{"value_usd": 1e5, "width": 0.2}], "perps": [{"size": -1}]}, spot=3000.0, vol=0.5)
    assert b.options[0].strike == 3000.0 and not b.options[0].is_call and b.perps[0].entry_price == 3000.0
    with pytest.raises(InputError, match="options\\[0\\]: missing 'quantity'"):
        book_from_dict({"options": [{"expiry_days": 7}]}, spot=3000.0, vol=0.5)
    with pytest.raises(InputError, match="empty"):
        Book("ETH")


def test_engine_respects_caps_min_trade_and_costs() -> None:
    spots = GBMModel(0.8).simulate(3000.0, GRID, 200, np.random.default_rng(4))
    book = standard_book(days=2.0)
    capped = UnderlyingPolicy(0.0, TriggerConfig(trigger="fixed", band_units=0.5),
                              SizingConfig(hedge_to="target", min_trade_units=1.0, max_trade_usd=3000.0,
                                           window_cap_usd=9000.0, window_s=3 * 3600.0))
    specs = (PolicySpec("none", "none", None), interval_policy(1.0), PolicySpec("capped", "config", capped))
    res = run_paths(book, spots, GRID, specs, CostModel(0.003, 1e8, 1.0), 0.8)
    none, every, cap = (res.policies[s.name] for s in specs)
    assert none.cost.sum() == 0.0 and none.trades.sum() == 0.0
    # every step but the horizon, unless the delta did not move (LP out of range, option far out of the money)
    assert every.trades.max() == GRID.size - 2 and every.trades.min() >= 40
    assert np.std(every.hedging_error) < 0.2 * np.std(none.hedging_error)
    # at most 3 clips of <= 1 ETH per 3 h window: <= 1 + (steps - 1) trades
    assert cap.trades.max() <= GRID.size - 2 and np.all(cap.cost >= cap.trades * 1.0)
    assert np.all(cap.delta_sample.shape == (GRID.size, 8))


def test_parallel_is_deterministic_across_workers() -> None:
    book = standard_book(days=2.0)
    specs = comparison_set(book.gross_value(3000.0), intervals_h=(1, 4), bands_bps=(200,), ww_risk=(10, 1000))
    job = BacktestJob(book, specs, CostModel(), GRID, 3000.0, 0.6, model=GBMModel(0.6), n_paths=250, seed=3,
                      chunk_paths=100)
    calls: list[tuple[int, int]] = []
    one = run_backtest(job, workers=1, progress=lambda d, t: calls.append((d, t)))
    two = run_backtest(job, workers=2)
    assert calls[-1] == (3, 3) and two.workers == 2
    for s in specs:
        assert np.array_equal(one.runs[s.name].pnl, two.runs[s.name].pnl)
    rep = build_report(one, meta={"x": 1})
    doc = json.loads(json.dumps(report_json(rep)))
    assert {p["name"] for p in doc["policies"]} == {s.name for s in specs} and doc["meta"]["paths"] == 250
    assert "best interval" in format_table(rep) or rep.best_interval is None
    assert rep.chosen != "none"


def test_metrics_helpers() -> None:
    assert cvar(np.arange(100.0)) == pytest.approx(-2.0)
    pts = [(1.0, 100.0), (4.0, 25.0), (2.0, 300.0)]  # (2, 300) is dominated
    assert frontier_cost_at(pts, 2.0) == pytest.approx(50.0)
    assert frontier_cost_at(pts, 8.0) is None


def test_parse_policies() -> None:
    specs = parse_policies(["none,interval:4h", "band:200bps", "ww:3", "ww:3"], 1e6, None)
    assert [s.name for s in specs] == ["none", "interval:4h", "band:200bps", "ww:3"]
    assert specs[3].policy is not None and specs[3].policy.trigger.risk_aversion_per_usd == 3e-6
    assert len(parse_policies(["all"], 1e6, None)) == len(comparison_set(1e6))
    for bad in (["interval:xh"], ["config"], ["band:0bps"]):
        with pytest.raises(InputError):
            parse_policies(bad, 1e6, None)
    assert band_policy(200).policy is not None and ww_policy(1, 1e6).family == "ww"


def test_cli_table_json_plots_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["backtest", "--config", str(REPO / "examples" / "devnet.toml"), "--paths", "60", "--days", "2",
                 "--policies", "none", "interval:4h", "band:200bps", "ww", "config", "--out", str(out), "--json",
                 "--workers", "1"])
    assert code == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["underlying"] == "ETH" and any(p["name"] == "config" for p in doc["policies"])
    for name in ("report.json", "frontier.png", "pnl_hist.png", "delta.png"):
        assert (out / name).stat().st_size > 1000
    csv = tmp_path / "p.csv"
    csv.write_text("".join(f"{1_700_000_000 + 3600 * i},{3000 * math.exp(0.01 * math.sin(i))}\n" for i in range(49)))
    assert main(["backtest", "--model", "csv", "--csv", str(csv), "--policies", "none", "ww:10"]) == 0
    assert "1 paths x 48 steps" in capsys.readouterr().out
    csv.write_text("1700000000,3000\n1700003600,nan\n")
    assert main(["backtest", "--model", "csv", "--csv", str(csv)]) == 2
    assert "row 2" in capsys.readouterr().err
    assert main(["backtest", "--policies", "bogus"]) == 2
    assert main(["backtest", "--step", "7h", "--days", "1"]) == 2


def test_plots_are_labelled_in_usd_and_the_asset_with_each_hedged_pnl_on_its_own_axis(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    import matplotlib.pyplot as plt

    figures: list[Any] = []
    close = plt.close

    def keep(fig: Any = None) -> None:
        figures.append(fig)
        close(fig)

    monkeypatch.setattr(plt, "close", keep)
    assert main(["backtest", "--config", str(REPO / "examples" / "devnet.toml"), "--paths", "40", "--days", "1",
                 "--policies", "none", "interval:4h", "band:200bps", "--out", str(tmp_path), "--json",
                 "--workers", "1"]) == 0
    capsys.readouterr()
    frontier, hist, delta = figures
    labels = [ax.get_xlabel() + " " + ax.get_ylabel() for fig in figures for ax in fig.axes]
    assert not any("quote" in t or "underlying units" in t for t in labels), labels
    assert "USD" in frontier.axes[0].get_xlabel() and "USD" in frontier.axes[0].get_ylabel()
    assert delta.axes[0].get_ylabel().endswith(", ETH")
    titles = [ax.get_title(loc="left") for ax in hist.axes]
    assert len(hist.axes) >= 2 and titles[0].startswith("none:"), "the unhedged book has its own axis"
    assert all("95 % CVaR" in t and "USD" in t for t in titles)
    # the legend sits right of the axes: it cannot cover a data point
    legend = frontier.axes[0].get_legend()
    assert legend is not None and legend.get_bbox_to_anchor().x0 > frontier.axes[0].get_window_extent().x1 - 1
