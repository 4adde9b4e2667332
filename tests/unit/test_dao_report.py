"""`keeper report`'s model and renderings on an in-memory journal: the model's sums are the journal's,
the Markdown's numbers equal the HTML's (both parsed), the page is self-contained."""

from __future__ import annotations

import json
import math
import random
import re
from html.parser import HTMLParser
from typing import Any

import pytest

from keeper.errors import InputError
from keeper.journal import FillData, Journal, TxParams
from keeper.view.dao_render import cvar, render_html, render_json, render_markdown
from keeper.view.dao_report import ChainState, build_report

T0 = 1_800_000_000
PARAMS = TxParams(to="0x" + "11" * 20, data="0x", value=0, gas_limit=300_000)


def summary(spot: float, delta: float, gamma: float, vega: float, theta: float) -> dict[str, Any]:
    """A journaled RiskSummary (vega per 1.00 vol, theta per year)."""
    return {"underlying": "ETH", "spot": spot, "value": delta * spot, "delta": delta, "delta_quote": delta * spot,
            "gamma": gamma, "gamma_quote": gamma * spot * spot / 100.0, "vega": vega, "theta": theta}


def build_journal(rng: random.Random, n: int) -> tuple[Journal, list[dict[str, Any]]]:
    """n cycles of ETH greeks, a hedge in every other cycle; returns the journal and what was written."""
    j = Journal.memory(clock=lambda: 1.0)
    written: list[dict[str, Any]] = []
    spot = 3000.0
    for i in range(n):
        c = j.start_cycle("live")
        ts = T0 + 600 * i
        j.set_cycle_block(c.id, 100 + i)
        j.record_snapshot(c.id, block_number=100 + i, block_timestamp=ts, complete=True, snapshot={})
        spot *= math.exp(rng.gauss(0.0, 0.01))
        g = summary(spot, rng.uniform(-50, 50), rng.uniform(0.0, 0.05), rng.uniform(-900, 900),
                    rng.uniform(-2e5, 0))
        j.record_plan(c.id, decisions=[], reasons=[], greeks={"ETH": g})
        row: dict[str, Any] = {"cycle": c.id, "ts": ts, "greeks": g, "fill": None}
        if i % 2 == 0:
            side = "sell" if g["delta"] > 0 else "buy"
            units = abs(g["delta"]) * rng.uniform(0.5, 1.0)
            venue = rng.choice(["uniswap", "perp"])
            oracle = spot
            slip_bps = rng.uniform(-5, 40)
            price = oracle * (1 - slip_bps / 1e4) if side == "sell" else oracle * (1 + slip_bps / 1e4)
            fee = units * price * (0.003 if venue == "uniswap" else 0.0005)
            intent = j.create_intent(c.id, underlying="ETH", venue=venue, side=side, size=int(units * 1e18) + 1,
                                     params=PARAMS)
            h = f"0x{i + 1:064x}"
            j.record_attempt(intent.id, nonce=i, tx_hash=h, raw_tx="0x01", max_fee_per_gas=10,
                             max_priority_fee_per_gas=1)
            gas = rng.uniform(0.5, 5.0)
            j.record_fill(intent.id, FillData(
                block_number=100 + i, block_timestamp=ts, tx_hash=h, amount_in=1, amount_out=1,
                notional_quote=units * oracle, realized_price=price, oracle_price=oracle, slippage_bps=slip_bps,
                fee_quote=fee, gas_used=150_000, effective_gas_price=10**9, gas_cost_native=150_000 * 10**9,
                gas_cost_quote=gas))
            row["fill"] = {"side": side, "units": units, "venue": venue, "price": price, "oracle": oracle,
                           "fee": fee, "gas": gas, "slip": slip_bps}
        written.append(row)
    return j, written


def chain_state(*, module: bool = True) -> ChainState:
    scen = {"spot_usd": 3100.0, "spot_shocks_pct": [-10.0, 0.0, 10.0], "vol_shocks_pct": [-20.0, 0.0, 20.0],
            "base_value_usd": 1e6, "pnl_usd": [[-5e4, -4e4, -3e4], [-1e3, 0.0, 1e3], [2e4, 3e4, 4e4]],
            "worst_pnl_usd": -5e4, "best_pnl_usd": 4e4}
    greeks = {"ETH": {"spot_usd": 3100.0, "value_usd": 1e6, "delta_units": 1.5, "delta_usd": 4650.0,
                      "gamma_units_per_usd": 0.01, "gamma_usd_per_1pct": 961.0, "vega_usd_per_vol": 12_000.0,
                      "theta_usd_per_day": -300.0}}
    params = {"max_notional_per_trade_usd": 500_000.0, "max_notional_per_window_usd": 2_000_000.0,
              "window_s": 86_400, "max_slippage_bps": 50, "loss_budget_window_usd": 10_000.0,
              "loss_budget_total_usd": 50_000.0,
              "perp_markets": {"0x" + "22" * 20: {"max_abs_size_units": 500.0}}}
    return ChainState(chain_id=31337, block=999, block_timestamp=T0 + 10**5, quote_symbol="USDC", greeks=greeks,
                      scenarios={"ETH": scen}, feeds_usd={"ETH": 3100.0},
                      module_address="0x" + "33" * 20 if module else None, module=params if module else None,
                      perp_abs_units={"0x" + "22" * 20: 125.0},
                      usage={"window_notional_usd": 12_345.0, "window_loss_usd": 12.5, "total_loss_usd": 40.0}
                      if module else None, module_paused=False if module else None)


class Tables(HTMLParser):
    """Every <table id=...> of a page as a list of rows of cell texts (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.svgs = 0
        self.urls: list[str] = []
        self._cur: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        for k in ("src", "href"):
            if a.get(k):
                self.urls.append(str(a[k]))
        if tag == "svg":
            self.svgs += 1
        if tag == "table":
            self._cur = str(a["id"])
            self.tables[self._cur] = []
        elif tag == "tr" and self._cur:
            self.tables[self._cur].append([])
        elif tag in ("td", "th") and self._cur:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cur and self._cell is not None:
            self.tables[self._cur][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "table":
            self._cur = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def md_tables(md: str) -> list[list[list[str]]]:
    """The Markdown's pipe tables, in order, as rows of cells (header first, separator dropped)."""
    out: list[list[list[str]]] = []
    cur: list[list[str]] | None = None
    for line in md.splitlines():
        if line.startswith("|"):
            if cur is None:
                cur = []
                out.append(cur)
            if re.fullmatch(r"\|(---\|)+", line):
                continue
            cur.append([c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]])
        else:
            cur = None
    return out


def num(s: str) -> float:
    return float(s.replace(",", ""))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_model_sums_are_the_journals(seed: int) -> None:
    rng = random.Random(seed)
    j, written = build_journal(rng, 12)
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6)
    fills = [w["fill"] for w in written if w["fill"]]
    assert m.cycles == 12 and len(m.hedges) == len(fills)
    for h, f in zip(m.hedges, fills, strict=True):
        assert h.side == f["side"] and h.venue == f["venue"]
        assert h.size_units == pytest.approx(f["units"], rel=1e-12)
        assert h.fee_usd == f["fee"] and h.gas_usd == f["gas"]
        shortfall = abs(f["price"] - f["oracle"]) * f["units"] * (1 if f["slip"] >= 0 else -1)
        impact = shortfall - f["fee"] if f["venue"] == "uniswap" else shortfall
        assert h.impact_usd == pytest.approx(impact, rel=1e-9, abs=1e-9)
        assert h.total_cost_usd == pytest.approx(f["fee"] + impact + f["gas"], rel=1e-9)
    assert m.totals["all"]["fee_usd"] == pytest.approx(sum(f["fee"] for f in fills))
    assert m.totals["ETH"]["units_sold"] == pytest.approx(sum(f["units"] for f in fills if f["side"] == "sell"))
    # Exposure in report units: vega per vol point, theta per day, at the snapshot's block time.
    pts = m.exposure["ETH"]
    assert [p.block_timestamp for p in pts] == [w["ts"] for w in written]
    assert pts[3].vega_usd_per_vol_point == pytest.approx(written[3]["greeks"]["vega"] / 100)
    assert pts[3].theta_usd_per_day == pytest.approx(written[3]["greeks"]["theta"] / 365)
    # Attribution: the explain recomputed here from what was written.
    a = m.attribution[0]
    d = g = t = 0.0
    for w0, w1 in zip(written, written[1:], strict=False):
        ds = w1["greeks"]["spot"] - w0["greeks"]["spot"]
        f = w0["fill"]
        hedged = 0.0 if f is None else (f["units"] if f["side"] == "buy" else -f["units"])
        d += (w0["greeks"]["delta"] + hedged) * ds
        g += 0.5 * w0["greeks"]["gamma"] * ds * ds
        t += w0["greeks"]["theta"] / 365 / 86_400 * (w1["ts"] - w0["ts"])
    assert (a.delta_usd, a.gamma_usd, a.theta_usd) == pytest.approx((d, g, t), rel=1e-9)
    assert a.explained_usd == pytest.approx(d + g + t - m.totals["all"]["total_cost_usd"], rel=1e-9)
    mark = sum((f["units"] if f["side"] == "buy" else -f["units"]) * (3100.0 - f["oracle"]) for f in fills)
    assert a.hedges_mark_usd == pytest.approx(mark, rel=1e-9)
    limits = {r.limit: r for r in m.limits}
    assert limits["max notional per trade"].used == pytest.approx(max(f["units"] * f["oracle"] for f in fills))
    assert limits["loss budget total"].used == 40.0 and limits["loss budget total"].used_pct == pytest.approx(0.08)
    assert limits["perp max |size| 0x22222222.."].used_pct == pytest.approx(25.0)


def test_the_period_filters_by_block_time_and_bad_periods_name_the_flag() -> None:
    j, written = build_journal(random.Random(5), 10)
    m = build_report(j, chain_state(), since=written[2]["ts"], until=written[6]["ts"])
    assert [p.cycle_id for p in m.exposure["ETH"]] == [w["cycle"] for w in written[2:6]]
    assert len(m.hedges) == sum(1 for w in written[2:6] if w["fill"])
    whole = build_report(j, chain_state(), since=None, until=T0 + 10**6)
    assert whole.since == T0 and whole.cycles == 10
    with pytest.raises(InputError, match="--since"):
        build_report(j, chain_state(), since=T0 + 10, until=T0)


def test_markdown_numbers_equal_the_htmls() -> None:
    j, _ = build_journal(random.Random(7), 9)
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6)
    md, page = render_markdown(m), render_html(m)
    parser = Tables()
    parser.feed(page)
    html_tables = list(parser.tables.values())
    mds = md_tables(md)
    assert len(mds) == len(html_tables) >= 6
    compared = 0
    for mt, ht in zip(mds, html_tables, strict=True):
        assert mt[0] == ht[0], "same headers"
        for mr, hr in zip(mt[1:], ht[1:], strict=True):
            assert len(mr) == len(hr)
            for a, b in zip(mr, hr, strict=True):
                if re.fullmatch(r"[+-]?[\d,]+(\.\d+)?", a):
                    assert num(a) == num(b)
                    compared += 1
                else:
                    assert a == b
    assert compared > 100
    hedges = parser.tables["table-hedges"]
    assert len(hedges) - 1 == len(m.hedges)
    fee_col = hedges[0].index("fee USDC")
    shown = sum(num(r[fee_col]) for r in hedges[1:])
    assert shown == pytest.approx(m.totals["all"]["fee_usd"], abs=0.005 * len(m.hedges))


def test_the_page_is_self_contained_with_a_figure_per_plot() -> None:
    j, _ = build_journal(random.Random(9), 8)
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6)
    page = render_html(m)
    parser = Tables()
    parser.feed(page)
    assert parser.urls == [] and "http://" not in page.replace("http://www.w3.org/", "") and "<script" not in page
    assert "https://" not in page
    assert parser.svgs == 4, "exposure, costs, P&L with its distribution, scenario grid"
    for sid in ("summary", "exposure", "hedges", "pnl", "limits", "now", "notes"):
        assert f'<section id="{sid}">' in page
    assert "CVaR 95 %" in page and "ETH spot shock" in page and "gamma (USDC per 1 %)" in page


def test_json_is_the_model_and_eoa_mode_has_no_limits() -> None:
    j, _ = build_journal(random.Random(11), 6)
    m = build_report(j, chain_state(module=False), since=T0, until=T0 + 10**6)
    doc = json.loads(json.dumps(render_json(m), allow_nan=False))
    assert doc["limits"] == [] and any("eoa mode" in n for n in doc["notes"])
    assert len(doc["hedges"]) == len(m.hedges)
    assert doc["attribution"][0]["cvar95_per_interval_usd"] == cvar(m.attribution[0].interval_pnl_usd)
    assert "No HedgeModule" in render_markdown(m)


def test_cvar_is_the_mean_of_the_worst_tail() -> None:
    xs = [float(x) for x in range(-50, 50)]  # 100 values: the worst 5 are -50..-46
    assert cvar(xs) == sum(range(-50, -45)) / 5
    assert cvar([3.0]) == 3.0
    with pytest.raises(ValueError, match="no values"):
        cvar([])


def test_report_flags_name_the_field() -> None:
    from keeper.cli.main import main
    from keeper.cli.report import parse_formats, parse_time

    head = 1_800_000_000
    assert parse_time("1767225600", "--since", head) == 1_767_225_600
    assert parse_time("2026-01-01", "--since", head) == 1_767_225_600
    assert parse_time("2026-01-01T01:00:00+01:00", "--since", head) == 1_767_225_600
    assert parse_time("7d", "--since", head) == head - 7 * 86_400
    assert parse_time("90m", "--until", head) == head - 5400
    with pytest.raises(InputError, match="^--until: expected unix seconds"):
        parse_time("yesterday", "--until", head)
    assert parse_formats("md, HTML,md") == ("md", "html")
    with pytest.raises(InputError, match="^--format: .*'pdf' unknown"):
        parse_formats("html,pdf")
    with pytest.raises(InputError, match="^--format"):
        parse_formats(" , ")
    assert main(["report", "-c", "/nonexistent/keeper.toml", "--format", "pdf"]) == 2


@pytest.mark.parametrize(("flag", "value"), [("--frontier-paths", "1"), ("--frontier-days", "0"),
                                             ("--frontier-days", "400")])
def test_bad_frontier_flags_fail_before_reading_anything(flag: str, value: str, capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    from keeper.cli.main import main

    assert main(["report", "-c", "/nonexistent/keeper.toml", flag, value]) == 2
    assert flag in capsys.readouterr().err


def test_a_fills_size_is_its_notional_at_the_oracle() -> None:
    """The executor journals notional = units x oracle price: a fill worse than the oracle still shows its units."""
    rng = random.Random(13)
    j, written = build_journal(rng, 4)
    fills = j.fills_between(0, 2**62)
    units = [w["fill"]["units"] for w in written if w["fill"]]
    assert [f.size_units for f in fills] == pytest.approx(units, rel=1e-12)


def vol_journal(vols: list[float | None], rng: random.Random) -> tuple[Journal, list[dict[str, Any]]]:
    """Cycles of ETH greeks 10 minutes apart, each journaled with its vol (``None``: no vol, as an older journal)."""
    j = Journal.memory(clock=lambda: 1.0)
    written = []
    for i, vol in enumerate(vols):
        c = j.start_cycle("live")
        j.set_cycle_block(c.id, 100 + i)
        j.record_snapshot(c.id, block_number=100 + i, block_timestamp=T0 + 600 * i, complete=True, snapshot={})
        g = summary(rng.uniform(2500, 3500), rng.uniform(-50, 50), rng.uniform(0.0, 0.05), rng.uniform(-900, 900),
                    rng.uniform(-2e5, 0))
        if vol is not None:
            g["vol"] = vol
        j.record_plan(c.id, decisions=[], reasons=[], greeks={"ETH": g})
        written.append(g)
    return j, written


def attribution_cells(m: Any) -> tuple[dict[str, str], dict[str, str]]:
    """The P&L attribution table's first row, header -> cell, from the Markdown and from the HTML."""
    md = next(t for t in md_tables(render_markdown(m)) if "explained total USDC" in t[0])
    parser = Tables()
    parser.feed(render_html(m))
    ht = parser.tables["table-attribution"]
    return dict(zip(md[0], md[1], strict=True)), dict(zip(ht[0], ht[1], strict=True))


@pytest.mark.parametrize("seed", [21, 22])
def test_vega_pnl_is_the_start_vega_times_the_vol_move(seed: int) -> None:
    rng = random.Random(seed)
    v0 = rng.uniform(0.3, 0.9)
    v1 = v0 + rng.choice([-1, 1]) * rng.uniform(0.02, 0.2)
    j, (g0, g1) = vol_journal([v0, v1], rng)
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6)
    a = m.attribution[0]
    expected = g0["vega"] * (v1 - v0)  # journaled vega is USD per 1.00 of vol
    assert a.vega_usd == pytest.approx(expected, rel=1e-12) and a.vega_usd != 0.0
    assert a.interval_vega_usd == (a.vega_usd,) and a.vega_intervals == 1
    ds = g1["spot"] - g0["spot"]
    dg_t = g0["delta"] * ds + 0.5 * g0["gamma"] * ds * ds + g0["theta"] / 365 / 86_400 * 600
    assert a.explained_usd == pytest.approx(dg_t + expected, rel=1e-9)
    assert a.interval_pnl_usd == pytest.approx((dg_t + expected,), rel=1e-9)
    md, page = attribution_cells(m)
    assert md["vega USDC"] == page["vega USDC"] == f"{expected:,.2f}"
    doc = json.loads(json.dumps(render_json(m), allow_nan=False))
    assert doc["attribution"][0]["vega_usd"] == pytest.approx(expected, rel=1e-12)
    assert not any("vega" in n for n in m.notes)
    assert "vega (not recorded)" not in render_html(m)


def test_an_interval_without_a_vol_shows_vega_not_recorded() -> None:
    rng = random.Random(31)
    old, _ = vol_journal([None, 0.5, None], rng)  # no interval has a vol at both ends
    m = build_report(old, chain_state(), since=T0, until=T0 + 10**6)
    a = m.attribution[0]
    assert a.vega_usd is None and a.interval_vega_usd == (None, None) and a.intervals == 2
    md, page = attribution_cells(m)
    assert md["vega USDC"] == page["vega USDC"] == "not recorded"
    assert json.loads(json.dumps(render_json(m)))["attribution"][0]["vega_usd"] is None
    assert any("ETH: vega P&L recorded for 0 of 2 interval(s)" in n for n in m.notes)
    assert "vega (not recorded)" in render_html(m), "the P&L figure names the missing term"
    # One interval with vols at both ends, one without: the total is the recorded one, the other is named.
    part, (g0, _, _) = vol_journal([0.5, 0.65, None], random.Random(32))
    p = build_report(part, chain_state(), since=T0, until=T0 + 10**6).attribution[0]
    assert p.interval_vega_usd[1] is None
    assert p.vega_usd == p.interval_vega_usd[0] == pytest.approx(g0["vega"] * 0.15, rel=1e-9)


def test_the_runner_journals_the_vol_options_were_valued_at() -> None:
    from keeper.core.book import BookRisk
    from keeper.core.portfolio import RiskSummary
    from keeper.cycle.runner import journaled_greeks

    s = {u: RiskSummary(u, 3000.0, 1.0, 2.0, 6000.0, 0.01, 900.0, 150.0, -10.0) for u in ("ETH", "BTC")}
    out = journaled_greeks(BookRisk((), s, 0.0), {"ETH": 0.62})
    assert out["ETH"] == {**{k: getattr(s["ETH"], k) for k in ("underlying", "spot", "value", "delta", "delta_quote",
                                                                "gamma", "gamma_quote", "vega", "theta")},
                          "vol": 0.62}
    assert "vol" not in out["BTC"], "no vol model: nothing journaled, the report says not recorded"


def small_frontier() -> tuple[Any, Any]:
    """A small synthetic backtest (3 days at daily steps: interval:1h and interval:2h hedge at every step, so they
    are identical) and its report, turned into the DAO report's frontier."""
    from keeper.backtest.book import standard_book
    from keeper.backtest.engine import CostModel
    from keeper.backtest.frontier import policy_frontier
    from keeper.backtest.parallel import BacktestJob, run_backtest
    from keeper.backtest.paths import GBMModel, parse_step, time_grid
    from keeper.backtest.policies import band_policy, parse_policies
    from keeper.backtest.report import build_report as backtest_report

    book = standard_book(3000.0, 0.6, days=3.0)
    specs = parse_policies(["none", "interval:1h", "interval:2h", "band:200bps", "ww:3", "config"],
                           book.gross_value(3000.0), band_policy(100.0).policy)
    job = BacktestJob(book, specs, CostModel(), time_grid(3.0, parse_step("1d")), 3000.0, 0.6, model=GBMModel(0.6),
                      n_paths=60, seed=4)
    rep = backtest_report(run_backtest(job, workers=1), meta={"book": book.description, "vol": 0.6, "spot": 3000.0})
    return rep, policy_frontier(rep, "ETH", days=3.0)


def test_the_frontier_section_shows_the_backtests_numbers() -> None:
    rep, frontier = small_frontier()
    j, _ = build_journal(random.Random(13), 4)
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6, frontier=[frontier], frontier_text="ran")
    assert [r.policy for r in frontier.rows] == [r.name for r in rep.rows]
    for fr, br in zip(frontier.rows, rep.rows, strict=True):
        assert (fr.mean_cost_usd, fr.hedge_error_std_usd, fr.cvar95_usd) == (br.mean_cost, br.std_hedging_error,
                                                                              br.cvar95)
    md, page = render_markdown(m), render_html(m)
    parser = Tables()
    parser.feed(page)
    table = parser.tables["table-frontier-ETH"]
    assert table[0] == ["policy", "mean cost USDC", "hedging-error std USDC", "CVaR 95 % loss USDC"]
    assert [r for t in md_tables(md) for r in t if r == table[0]], "the Markdown has the same table"
    assert md_tables(md)[[t[0] for t in md_tables(md)].index(table[0])] == table
    shown = {r[0]: r[1:] for r in table[1:]}
    assert shown["interval:1h = interval:2h"] and shown["interval:2h = interval:1h"], "identical policies marked"
    assert any(k.startswith("config (configured)") for k in shown)
    for br in rep.rows:
        row = next(v for k, v in shown.items() if k.split(" ")[0] == br.name)
        assert [num(x) for x in row] == [round(br.mean_cost, 2), round(br.std_hedging_error, 2), round(br.cvar95, 2)]
    assert '<section id="frontier">' in page and parser.svgs == 5, "the cost-vs-risk plot joins the four figures"
    assert "hedging-error std per path (USDC)" in page and "mean hedging cost per path (USDC)" in page
    assert "interval:1h = interval:2h" in md and "not ranked" in md
    doc = json.loads(json.dumps(render_json(m), allow_nan=False))
    assert doc["frontier"][0]["config_policy"] == "config"
    assert [r["cvar95_usd"] for r in doc["frontier"][0]["rows"]] == [r.cvar95 for r in rep.rows]
    assert "policy frontier" not in " ".join(s for s in md.splitlines() if "not in this report yet" in s)


def test_without_a_frontier_the_section_says_why() -> None:
    j, _ = build_journal(random.Random(15), 3)
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6)
    md = render_markdown(m)
    assert "## Policy frontier (backtest of this book)" in md and "--no-frontier" in md
    assert not any(t[0][0] == "policy" for t in md_tables(md)), "no frontier table"
    assert m.frontier == []
