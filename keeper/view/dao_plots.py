"""The report's figures as inline SVG (matplotlib, Agg; text kept as text, no external fonts or URLs).

Each axis names its unit (USD, or the asset's symbol); time axes are the chain's block time in UTC
with concise date labels (no overlap); the P&L distribution has its own axis with the CVaR marked.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes

from keeper.view.dao_render import cvar, svg_text
from keeper.view.dao_report import ReportModel

__all__ = ["figures"]

_MIN_DIST = 5
"""Fewer intervals than this make no distribution worth drawing (the table still gives the CVaR)."""
_COST_COLORS = {"fee": "tab:blue", "impact": "tab:orange", "gas": "tab:gray", "funding": "tab:purple"}


def _times(ts: list[int]) -> list[float]:
    """Block timestamps as matplotlib date numbers (UTC)."""
    return [float(mdates.date2num(datetime.fromtimestamp(t, UTC))) for t in ts]  # type: ignore[no-untyped-call]


def _date_axis(ax: Axes) -> None:
    loc = mdates.AutoDateLocator(minticks=3, maxticks=7, tz=UTC)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(loc)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(loc, tz=UTC))  # type: ignore[no-untyped-call]


def _exposure(m: ReportModel) -> list[tuple[str, str]]:
    q = m.quote_symbol
    out = []
    for u, pts in m.exposure.items():
        t = _times([p.block_timestamp for p in pts])
        fig, axes = plt.subplots(4, 1, figsize=(9, 8), sharex=True, layout="constrained")
        series = ((f"delta ({u})", [p.delta_units for p in pts]),
                  (f"gamma ({q} per 1 %)", [p.gamma_usd_per_1pct for p in pts]),
                  (f"vega ({q} per vol pt)", [p.vega_usd_per_vol_point for p in pts]),
                  (f"theta ({q} per day)", [p.theta_usd_per_day for p in pts]))
        for ax, (label, ys) in zip(axes, series, strict=True):
            ax.step(t, ys, where="post", marker="o", markersize=3, linewidth=1.2)
            ax.set_ylabel(label, fontsize=9)
            ax.grid(True, alpha=0.3)
        for h in (h for h in m.hedges if h.underlying == u):
            axes[0].axvline(_times([h.block_timestamp])[0], color="tab:red", alpha=0.35, linewidth=0.8)
        _date_axis(axes[-1])
        axes[-1].set_xlabel("block time (UTC)")
        axes[0].set_title(f"{u}: greeks per cycle before its hedges (red lines: hedges)", fontsize=10)
        out.append((f"{u} exposure over time: delta in {u}, gamma, vega and theta in {q}.", svg_text(fig)))
        plt.close(fig)
    return out


def _costs(m: ReportModel) -> list[tuple[str, str]]:
    if not m.hedges:
        return []
    q = m.quote_symbol
    hs = sorted(m.hedges, key=lambda h: (h.block_timestamp, h.block))
    t = _times([h.block_timestamp for h in hs])
    fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
    for kind, color in _COST_COLORS.items():
        if kind == "funding" and not m.marks_journaled:
            continue
        ax.step(t, np.cumsum([getattr(h, f"{kind}_usd") or 0.0 for h in hs]), where="post", color=color,
                label=kind, marker="o", markersize=3)
    ax.step(t, np.cumsum([h.total_cost_usd for h in hs]), where="post", color="black", label="total",
            linewidth=1.6)
    ax.set_ylabel(f"cumulative cost ({q})")
    ax.set_xlabel("block time (UTC)")
    _date_axis(ax)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title(f"Hedging costs by kind, cumulative ({len(hs)} hedges)", fontsize=10)
    svg = svg_text(fig)
    plt.close(fig)
    what = ("funding: each perp hedge's position until the next perp hedge" if m.marks_journaled else
            "funding not recorded")
    return [(f"Cumulative hedging costs in {q} by kind per hedge ({what}).", svg)]


def _pnl(m: ReportModel) -> list[tuple[str, str]]:
    q = m.quote_symbol
    out = []
    for a in m.attribution:
        names = ["delta", "gamma", "theta", "vega" if a.vega_usd is not None else "vega (not recorded)", "fees",
                 "impact", "gas", "funding" if m.marks_journaled else "funding (not recorded)", "explained"]
        vals = [a.delta_usd, a.gamma_usd, a.theta_usd, math.nan if a.vega_usd is None else a.vega_usd, -a.fees_usd,
                -a.impact_usd, -a.gas_usd, -a.funding_usd if m.marks_journaled else math.nan, a.explained_usd]
        has_dist = len(a.interval_pnl_usd) >= _MIN_DIST
        fig, axes = plt.subplots(1, 2 if has_dist else 1, figsize=(10 if has_dist else 7, 4), layout="constrained",
                                 squeeze=False)
        ax = axes[0][0]
        ax.bar(names, vals, color=["tab:green" if v >= 0 else "tab:red" for v in vals])
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_ylabel(f"P&L ({q})")
        ax.set_title(f"{a.underlying}: hedging P&L attributed ({a.intervals} intervals)", fontsize=10)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        ax.grid(True, axis="y", alpha=0.3)
        if has_dist:
            dist = axes[0][1]
            xs = list(a.interval_pnl_usd)
            es = cvar(xs)
            dist.hist(xs, bins=min(30, max(5, len(xs) // 2)), color="tab:blue", alpha=0.75)
            dist.axvline(es, color="tab:red", linestyle="--", label=f"CVaR 95 %: {es:,.0f} {q}")
            dist.set_xlabel(f"hedged book P&L per interval ({q})")
            dist.set_ylabel("intervals")
            dist.legend(fontsize=8)
            dist.set_title("Distribution per interval between cycles", fontsize=10)
        out.append((f"{a.underlying}: P&L by source in {q}" + (" and its distribution per interval, CVaR marked."
                                                              if has_dist else "."), svg_text(fig)))
        plt.close(fig)
    return out


def _lp(m: ReportModel) -> list[tuple[str, str]]:
    """Per underlying: cumulative LP fees earned against cumulative realized LVR over block time."""
    q = m.quote_symbol
    out = []
    for u, pts in m.lp_series.items():
        if not pts:
            continue
        t = _times([p[0] for p in pts])
        fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
        ax.step(t, [p[1] for p in pts], where="post", color="tab:green", marker="o", markersize=3,
                label="fees earned")
        ax.step(t, [p[2] for p in pts], where="post", color="tab:red", marker="o", markersize=3,
                label="realized LVR")
        ax.step(t, [p[1] - p[2] for p in pts], where="post", color="black", linewidth=1.6, label="fees - LVR")
        ax.axhline(0.0, color="black", linewidth=0.6)
        ax.set_ylabel(f"cumulative ({q})")
        ax.set_xlabel("block time (UTC)")
        _date_axis(ax)
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
        ax.set_title(f"{u} LPs: fees earned against loss-versus-rebalancing, cumulative", fontsize=10)
        out.append((f"{u} LPs: cumulative fees and realized LVR in {q}, all positions.", svg_text(fig)))
        plt.close(fig)
    return out


def _scenarios(m: ReportModel) -> list[tuple[str, str]]:
    q = m.quote_symbol
    out = []
    for u, sc in m.scenarios_now.items():
        grid = np.array(sc["pnl_usd"], dtype=float)
        fig, ax = plt.subplots(figsize=(7, 6), layout="constrained")
        lim = float(np.abs(grid).max()) or 1.0
        im = ax.imshow(grid, cmap="RdYlGn", vmin=-lim, vmax=lim, aspect="auto")
        ax.set_xticks(range(len(sc["vol_shocks_pct"])), [f"{v:+.0f} %" for v in sc["vol_shocks_pct"]])
        ax.set_yticks(range(len(sc["spot_shocks_pct"])), [f"{s:+.0f} %" for s in sc["spot_shocks_pct"]])
        ax.set_xlabel("relative vol shock")
        ax.set_ylabel(f"{u} spot shock (spot {sc['spot_usd']:,.0f} {q})")
        for i in range(grid.shape[0]):
            for j in range(grid.shape[1]):
                ax.text(j, i, f"{grid[i, j] / 1e3:,.0f}k", ha="center", va="center", fontsize=7)
        fig.colorbar(im, ax=ax, label=f"book P&L ({q})")
        ax.set_title(f"{u}: book P&L under spot x vol shocks ({q}, k = thousands)", fontsize=10)
        out.append((f"{u} scenario grid now: full revaluation P&L in {q}.", svg_text(fig)))
        plt.close(fig)
    return out


def _frontier(m: ReportModel) -> list[tuple[str, str]]:
    """Per underlying: mean cost against hedging-error std (USD), the configured policy ringed; the legend
    (one entry per policy family) right of the axes, outside the data."""
    q = m.quote_symbol
    out = []
    for f in m.frontier:
        fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
        for fam in dict.fromkeys(r.family for r in f.rows):
            rows = [r for r in f.rows if r.family == fam]
            ax.plot([r.hedge_error_std_usd for r in rows], [r.mean_cost_usd for r in rows],
                    marker="o" if fam != "config" else "*", markersize=6 if fam != "config" else 14,
                    linestyle="-" if fam in ("interval", "band", "ww") else "none", label=fam,
                    markerfacecolor="none" if fam == "config" else None, zorder=3 if fam == "config" else 2)
        ax.set_xlabel(f"hedging-error std per path ({q})")
        ax.set_ylabel(f"mean hedging cost per path ({q})")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, title="policy", borderaxespad=0.0)
        ax.set_title(f"{f.underlying}: cost against risk, {f.paths} paths over {f.days:g} days", fontsize=10)
        out.append((f"{f.underlying} policy frontier: mean cost against hedging-error std, both in {q} per path "
                    f"(hollow star: the configured policy).", svg_text(fig)))
        plt.close(fig)
    return out


def figures(m: ReportModel) -> dict[str, list[tuple[str, str]]]:
    """Per section id, its figures as ``(caption, <svg>...</svg>)``."""
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "keeper-report", "font.size": 9}):
        return {"exposure": _exposure(m), "hedges": _costs(m), "pnl": _pnl(m), "lp": _lp(m),
                "now": _scenarios(m),
                "frontier": _frontier(m)}
