"""Renderings of :class:`~keeper.view.dao_report.ReportModel`: Markdown (for a DAO forum), one
self-contained HTML page (inline CSS and inline SVG figures: nothing fetched to view it) and JSON.

Every table is built once (:func:`sections`) as strings and printed by both the Markdown and the
HTML renderer, so the two show the same numbers, to the same digits. Figures are matplotlib SVGs
(Agg, text kept as text) with units on every axis.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from keeper.journal.codec import to_jsonable
from keeper.view.dao_report import FrontierRow, ReportModel
from keeper.view.report import utc_time

__all__ = ["Section", "Table", "cvar", "frontier_policy_label", "render_html", "render_json", "render_markdown",
           "sections"]


@dataclass(frozen=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    id: str


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    text: tuple[str, ...]
    tables: tuple[Table, ...]


def _usd(x: float) -> str:
    return f"{round(x, 2) + 0.0:,.2f}"  # + 0.0: no "-0.00"


def _units(x: float) -> str:
    return f"{round(x, 6) + 0.0:,.6f}"


def _opt(x: float | None, fmt: str = ",.2f") -> str:
    return "not recorded" if x is None else format(x, fmt)


def cvar(values: Sequence[float], level: float = 0.95) -> float:
    """Expected shortfall: the mean of the worst ``1 - level`` of ``values`` (at least one), a P&L in USD."""
    if not values:
        raise ValueError("cvar of no values")
    xs = sorted(values)
    k = max(1, math.ceil(round(len(xs) * (1.0 - level), 9)))  # 100 x (1 - 0.95) is 5.000000000000004
    return sum(xs[:k]) / k


# Long on purpose: one block per section of the report, in the order it is read.
def sections(m: ReportModel) -> list[Section]:
    """The report's sections as text and tables (strings), shared by Markdown and HTML."""
    q = m.quote_symbol
    out: list[Section] = []
    out.append(Section("summary", "Summary", (
        f"Chain {m.chain_id}, period {utc_time(m.since)} to {utc_time(m.until)} (block time), "
        f"head block {m.head_block} "
        f"({utc_time(m.head_timestamp)}).",
        f"{m.cycles} journaled cycle(s) with greeks, {len(m.hedges)} hedge(s). Money in "
        f"{q if q == 'USD' else q + ' (USD)'}, sizes in units of each asset.",
    ), ()))

    exp_tables = []
    for u, pts in m.exposure.items():
        exp_tables.append(Table(
            f"{u}: greeks per cycle (at the cycle's block time)",
            ("cycle", "block", "time (UTC)", f"spot {q}", f"delta ({u})", f"delta ({q})", f"gamma ({q} per 1 %)",
             f"vega ({q} per vol point)", f"theta ({q} per day)"),
            tuple((str(p.cycle_id), str(p.block), utc_time(p.block_timestamp), _usd(p.spot_usd), _units(p.delta_units),
                   _usd(p.delta_usd), _usd(p.gamma_usd_per_1pct), _usd(p.vega_usd_per_vol_point),
                   _usd(p.theta_usd_per_day)) for p in pts), f"exposure-{u}"))
    out.append(Section("exposure", "Exposure over time", (
        "Each cycle's greeks as journaled with its plan, before that cycle's hedges.",) if m.exposure else
        ("No cycle with greeks in the period.",), tuple(exp_tables)))

    hedges = Table(
        "Hedges", ("time (UTC)", "block", "asset", "side", "size (units)", "venue", f"price {q}", f"oracle {q}",
                   f"notional {q}", "slippage bps", f"fee {q}", f"impact {q}", f"gas {q}", f"funding {q}",
                   f"total cost {q}", "tx"),
        tuple((utc_time(h.block_timestamp), str(h.block), h.underlying, h.side, _units(h.size_units), h.venue,
               _usd(h.price_usd), _usd(h.oracle_usd), _usd(h.notional_usd), f"{h.slippage_bps:+.2f}",
               _usd(h.fee_usd), _usd(h.impact_usd), _usd(h.gas_usd), _opt(h.funding_usd), _usd(h.total_cost_usd),
               h.tx_hash) for h in m.hedges), "hedges")
    totals = Table(
        "Totals", ("asset", "hedges", "bought (units)", "sold (units)", f"notional {q}", f"fees {q}", f"impact {q}",
                   f"gas {q}", f"funding {q}", f"total cost {q}"),
        tuple((k, f"{t['count']:.0f}", _units(t["units_bought"]) if "units_bought" in t else "-",
               _units(t["units_sold"]) if "units_sold" in t else "-", _usd(t["notional_usd"]), _usd(t["fee_usd"]),
               _usd(t["impact_usd"]), _usd(t["gas_usd"]),
               _usd(t["funding_usd"]) if m.marks_journaled else "not recorded", _usd(t["total_cost_usd"]))
              for k, t in m.totals.items()), "hedge-totals")
    funding = Table(
        "Perp funding per period", ("from (UTC)", "to (UTC)", "asset", "market", "account", "size (units)",
                                    f"funding paid {q}", "hedge"),
        tuple((utc_time(f.start), utc_time(f.end), f.underlying, f.market, f.account, _units(f.size_units),
               _usd(f.funding_usd), f.hedge or "carried in") for f in m.funding), "funding")
    out.append(Section("hedges", "Hedges and their costs", (
        "Fee: the venue's fee. Impact: the price paid against the oracle beyond the fee (negative when the "
        "venue paid better than the oracle). Gas: the transaction's gas at the native coin's feed price. "
        "Funding: what the perp position paid (negative: received) between journaled cycles, from the "
        "market's funding index at each cycle's block; on a perp hedge, the funding its position paid until "
        "the next perp hedge of that asset; a swap pays none. Totals count every period's funding, carried-in "
        "periods too." if m.marks_journaled else
        "Fee: the venue's fee. Impact: the price paid against the oracle beyond the fee (negative when the "
        "venue paid better than the oracle). Gas: the transaction's gas at the native coin's feed price. "
        "Funding: not recorded (no perp marks journaled in the period).",),
        (hedges, totals, funding) if m.marks_journaled else (hedges, totals)))

    attr = Table(
        "P&L attribution", ("asset", "intervals", f"delta {q}", f"gamma {q}", f"theta {q}", f"vega {q}",
                            f"fees {q}", f"impact {q}", f"gas {q}", f"funding {q}", f"explained total {q}",
                            f"mark price {q}", f"hedges at mark {q}", f"CVaR 95 % per interval {q}"),
        tuple((a.underlying, str(a.intervals), _usd(a.delta_usd), _usd(a.gamma_usd), _usd(a.theta_usd),
               "not recorded" if a.vega_usd is None else _usd(a.vega_usd), _usd(-a.fees_usd), _usd(-a.impact_usd),
               _usd(-a.gas_usd), _usd(-a.funding_usd) if m.marks_journaled else "not recorded",
               _usd(a.explained_usd),
               _opt(a.mark_price_usd), _usd(a.hedges_mark_usd),
               _usd(cvar(a.interval_pnl_usd)) if a.interval_pnl_usd else "-") for a in m.attribution),
        "attribution")
    out.append(Section("pnl", "Realized hedging P&L, attributed", (
        "Between consecutive cycles: delta = the book's delta after that cycle's hedges x the spot move; gamma = "
        "1/2 gamma x move squared; theta = theta x time; vega = vega at the interval's start x the move of the "
        "vol its options were valued at (not recorded where a cycle journaled no vol). Costs are subtracted. "
        "Hedges at mark: each hedge's size marked from its oracle price at fill to the latest feed price.",
        "LP fees against loss-versus-rebalancing: next section.",), (attr,)))
    out.append(_lp_section(m))

    if m.limits:
        lim = Table("HedgeModule limits", ("limit", "cap", "used", "used %", "unit", "measured as"),
                    tuple((r.limit, _usd(r.cap), _opt(r.used), _opt(r.used_pct, ",.1f"), r.unit, r.used_what)
                          for r in m.limits), "limits")
        paused = "" if m.module_paused is None else (" The module is PAUSED." if m.module_paused else
                                                      " The module is not paused.")
        out.append(Section("limits", "On-chain limits and their use", (
            f"HedgeModule {m.module_address} at block {m.head_block}.{paused}",), (lim,)))
    else:
        out.append(Section("limits", "On-chain limits and their use", (
            "No HedgeModule (eoa mode): the keeper's own caps only.",), ()))

    now = Table(f"Greeks now (block {m.head_block})",
                ("asset", f"spot {q}", f"value {q}", "delta (units)", f"delta {q}", f"gamma {q} per 1 %",
                 f"vega {q} per vol point", f"theta {q} per day"),
                tuple((u, _usd(g["spot_usd"]), _usd(g["value_usd"]), _units(g["delta_units"]), _usd(g["delta_usd"]),
                       _usd(g["gamma_usd_per_1pct"]), _usd(g["vega_usd_per_vol"] / 100.0),
                       _usd(g["theta_usd_per_day"])) for u, g in m.greeks_now.items()), "greeks-now")
    grids = []
    for u, sc in m.scenarios_now.items():
        grids.append(Table(
            f"{u}: book P&L in {q} under spot x vol shocks (worst {_usd(sc['worst_pnl_usd'])})",
            (f"{u} spot move", *(f"vol {v:+.0f} %" for v in sc["vol_shocks_pct"])),
            tuple((f"{sp:+.0f} % ({sc['spot_usd'] * (1 + sp / 100):,.0f} {q})", *(_usd(x) for x in row))
                  for sp, row in zip(sc["spot_shocks_pct"], sc["pnl_usd"], strict=True)), f"scenarios-{u}"))
    out.append(Section("now", "Greeks and scenarios now", (), (now, *grids)))
    out.append(_frontier_section(m))
    out.append(Section("notes", "Notes", tuple(m.notes), ()))
    return out


def _lp_section(m: ReportModel) -> Section:
    q = m.quote_symbol
    if not m.marks_journaled:
        return Section("lp", "LP fees against loss-versus-rebalancing", (
            "Not recorded: no cycle of the period journaled LP marks (a journal older than schema version 3).",), ())
    if not m.lps:
        return Section("lp", "LP fees against loss-versus-rebalancing", ("The book held no LP position.",), ())
    rows = Table(
        "LP positions: fees earned against loss-versus-rebalancing",
        ("asset", "token id", "pool", "owner", "intervals", "left out", "fees (units)", f"fees ({q} token)",
         f"fees {q}", f"realized LVR {q}", f"fees - LVR {q}", f"model LVR {q}", "in range now", f"value now {q}"),
        tuple((r.underlying, str(r.token_id), r.pool, r.owner, str(r.steps), str(r.skipped), _units(r.fees_underlying),
               _usd(r.fees_quote), _usd(r.fees_usd), _usd(r.lvr_usd), _usd(r.net_usd), _opt(r.model_lvr_usd),
               "yes" if r.in_range_now else "no", _usd(r.value_usd)) for r in m.lps), "lp-positions")
    per = Table(
        "LP totals per asset", ("asset", "positions", f"fees {q}", f"realized LVR {q}", f"fees - LVR {q}"),
        tuple((a.underlying, str(sum(1 for r in m.lps if r.underlying == a.underlying)), _usd(a.lp_fees_usd),
               _usd(a.lp_lvr_usd), _usd(a.lp_fees_usd - a.lp_lvr_usd)) for a in m.attribution
              if a.lp_fees_usd is not None and a.lp_lvr_usd is not None), "lp-totals")
    return Section("lp", "LP fees against loss-versus-rebalancing", (
        "Per LP position, between consecutive journaled cycles: fees earned = its liquidity x the growth of its "
        "pool's fee growth inside its range (collects included), valued at the end's pool price; realized LVR "
        "(Milionis et al. 2022) = the previous cycle's principal marked to the new pool price minus the new "
        "principal: what a portfolio holding the LP's risky amount, rebalanced at each cycle, made over the LP. "
        "Model LVR = sigma^2/4 x L x sqrt(P) in range (the paper's concentrated-liquidity rate) at each "
        "cycle's vol, times the interval. Intervals across which a position's liquidity or range changed are "
        "left out (a deposit or withdrawal is neither a fee nor LVR). Prices are each position's own pool's.",),
        (rows, per))


def frontier_policy_label(r: FrontierRow, config_policy: str) -> str:
    """The policy's name, ``(config)`` on the configured one, and its identical twins (``= a = b``)."""
    label = r.policy + (" (configured)" if r.policy == config_policy else "")
    return label + "".join(f" = {n}" for n in r.identical_to)


def _model_kind(model: str) -> str:
    return "GARCH" if model.startswith("GARCH") else "GBM"


def _frontier_section(m: ReportModel) -> Section:
    q = m.quote_symbol
    tables = tuple(Table(
        f"{f.underlying}: policies by cost and risk ({f.paths} paths x {f.steps} steps of {f.step}, {f.days:g} days, "
        f"{_model_kind(f.model)} vol {f.vol:.4g}, spot {_usd(f.spot_usd)} {q})",
        ("policy", f"mean cost {q}", f"hedging-error std {q}", f"CVaR 95 % loss {q}"),
        tuple((frontier_policy_label(r, f.config_policy), _usd(r.mean_cost_usd), _usd(r.hedge_error_std_usd),
               _usd(r.cvar95_usd)) for r in f.rows), f"frontier-{f.underlying}") for f in m.frontier)
    text = [m.frontier_text]
    if m.frontier:
        text.append("Per path over the horizon: mean cost = fees, impact and gas of the hedges; hedging-error std = "
                    "the std of the hedged P&L before costs; CVaR 95 % = the mean loss of the worst 5 % of paths, "
                    "net of costs. \"(configured)\" marks the configured policy; \"a = b\" marks policies with "
                    "identical results on every path (not ranked against each other).")
        text += [f"{f.underlying}: {f.book}." + (f" Paths: {f.model}." if f.model else "")
                 + (f" Hedges priced on {f.venue}." if f.venue else "") for f in m.frontier]
        text += [f"warning ({f.underlying}): {w}" for f in m.frontier for w in f.warnings]
    return Section("frontier", "Policy frontier (backtest of this book)", tuple(text), tables)


# ---------------------------------------------------------------------------- Markdown
def _md_cell(s: str) -> str:
    return s.replace("|", "\\|")


def render_markdown(m: ReportModel) -> str:
    """The report as GitHub-flavoured Markdown (pipe tables), for a DAO forum post. No figures."""
    lines = [f"# Hedging report: {utc_time(m.since)} to {utc_time(m.until)}", ""]
    for s in sections(m):
        lines += [f"## {s.title}", ""]
        for t in s.text:
            lines += [t, ""]
        for tb in s.tables:
            lines += [f"**{tb.title}**", "", "| " + " | ".join(map(_md_cell, tb.headers)) + " |",
                      "|" + "|".join("---" for _ in tb.headers) + "|"]
            lines += ["| " + " | ".join(map(_md_cell, r)) + " |" for r in tb.rows]
            if not tb.rows:
                lines.append("| " + " | ".join(["-"] * len(tb.headers)) + " |")
            lines.append("")
    return "\n".join(lines)


def render_json(m: ReportModel) -> dict[str, Any]:
    """The model as JSON-ready data (numbers unrounded)."""
    out: dict[str, Any] = to_jsonable(m)
    out["attribution"] = [{**a, "cvar95_per_interval_usd": cvar(a["interval_pnl_usd"]) if a["interval_pnl_usd"]
                           else None} for a in out["attribution"]]
    return out


# ---------------------------------------------------------------------------- HTML
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#1b1f24;padding:0 1rem}
h1{font-size:1.6rem}h2{font-size:1.25rem;border-bottom:1px solid #d0d7de;padding-bottom:.3rem;margin-top:2.2rem}
table{border-collapse:collapse;margin:.6rem 0 1.2rem;font-size:.82rem;display:block;overflow-x:auto}
caption{text-align:left;font-weight:600;padding:.3rem 0}
th,td{border:1px solid #d0d7de;padding:.25rem .5rem;white-space:nowrap}th{background:#f6f8fa}
td.n{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}figure svg{max-width:100%;height:auto}figcaption{font-size:.85rem;color:#57606a}
p.note{color:#57606a}
"""
_NUM = re.compile(r"^[+-]?[\d,]+(\.\d+)?$")


def _html_table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.headers)
    body = []
    for r in t.rows:
        cells = "".join(f'<td class="n">{html.escape(c)}</td>' if _NUM.match(c) else f"<td>{html.escape(c)}</td>"
                        for c in r)
        body.append(f"<tr>{cells}</tr>")
    if not t.rows:
        body.append(f'<tr><td colspan="{len(t.headers)}">none</td></tr>')
    return (f'<table id="table-{html.escape(t.id)}"><caption>{html.escape(t.title)}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def render_html(m: ReportModel) -> str:
    """One self-contained page: inline CSS, inline SVG figures, no script, no external URL."""
    from keeper.view.dao_plots import figures

    figs = figures(m)
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>Hedging report {html.escape(utc_time(m.since))} to {html.escape(utc_time(m.until))}</title>",
             f"<style>{_CSS}</style></head><body>",
             f"<h1>Hedging report: {html.escape(utc_time(m.since))} to {html.escape(utc_time(m.until))}</h1>"]
    for s in sections(m):
        parts.append(f'<section id="{s.id}"><h2>{html.escape(s.title)}</h2>')
        parts += [f'<p class="note">{html.escape(t)}</p>' for t in s.text]
        for caption, svg in figs.get(s.id, []):
            parts.append(f"<figure>{svg}<figcaption>{html.escape(caption)}</figcaption></figure>")
        parts += [_html_table(t) for t in s.tables]
        parts.append("</section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def svg_text(fig: Any) -> str:
    """A matplotlib figure as an inline ``<svg>`` element (no XML prolog, no DOCTYPE)."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    return re.sub(r"\s*<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)
