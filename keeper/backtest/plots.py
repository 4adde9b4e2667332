"""PNG plots of a backtest (matplotlib, Agg backend: no display needed).

* ``frontier.png``: mean cost versus hedging-error std, one marker per policy, the families joined
  (one line per family and delta flavour: solid, dashed, dotted by flavour, labelled);
* ``pnl_hist.png``: the P&L net of costs of a few policies, each hedged one on its own axis with its
  95 % CVaR marked, under the unhedged book's on its own (its range would flatten the others to a spike);
* ``delta.png``: the net delta over time on sample paths under the chosen policy, with the target.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np

from keeper.backtest.metrics import cvar
from keeper.backtest.parallel import BacktestResult
from keeper.backtest.report import BacktestReport

__all__ = ["write_plots"]

_STYLE = {"interval": ("o-", "tab:blue"), "band": ("s-", "tab:orange"), "ww": ("^-", "tab:green"),
          "config": ("*", "tab:red"), "none": ("x", "black")}
_DASHES = ("-", "--", ":")


QUOTE = "USD"


def _frontier(report: BacktestReport, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(10, 5.5))
    flavours = list(dict.fromkeys(r.flavour for r in report.rows))
    for (fam, (style, color)), flavour in ((f, fl) for f in _STYLE.items() for fl in flavours):
        rows = sorted((r for r in report.rows if r.family == fam and r.flavour == flavour and r.mean_cost > 0),
                      key=lambda r: r.std_hedging_error)
        if not rows:
            continue
        k = flavours.index(flavour)
        line = style if k == 0 or len(style) == 1 else style[0] + _DASHES[k % len(_DASHES)]
        ax.plot([r.std_hedging_error for r in rows], [r.mean_cost for r in rows], line, color=color,
                label=fam if len(flavours) == 1 else f"{fam} ({flavour})", markersize=9 if fam == "config" else 5)
        for i, r in enumerate(rows if k == 0 else ()):  # one set of labels (the flavour is in the line style)
            # alternate above / below the line so neighbouring labels do not sit on each other
            ax.annotate(r.name.split(":")[-1].split("@")[0], (r.std_hedging_error, r.mean_cost), fontsize=7,
                        textcoords="offset points", xytext=(4, 6 if i % 2 == 0 else -11), color=color)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(f"hedging-error std per path, {QUOTE}")
    ax.set_ylabel(f"mean hedging cost per path, {QUOTE}")
    ax.set_title("Cost versus risk by policy" + ("" if len(flavours) == 1 else " and delta flavour"))
    ax.grid(True, which="both", alpha=0.3)
    # outside the axes: a long legend (one entry per family and flavour) never covers the data
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _histograms(result: BacktestResult, report: BacktestReport, path: Path) -> None:
    names = ["none", report.chosen]
    best = report.best_interval
    if best is not None:
        names.append(best.reference)
    names += [r.name for r in report.rows if r.name in ("band:200bps", "config")]
    names = list(dict.fromkeys(n for n in names if n in result.runs))
    hedged = [n for n in names if n != "none"]
    panels = (["none"] if "none" in names else []) + hedged
    fig, axes = plt.subplots(len(panels), 1, figsize=(8, 1.9 * len(panels) + 0.8), squeeze=False)
    for ax, n in zip(axes[:, 0], panels, strict=True):
        p = result.runs[n].pnl
        lo, hi = np.percentile(p, [0.5, 99.5])
        bins = [float(b) for b in np.linspace(lo, hi if hi > lo else lo + 1.0, 50)]
        ax.hist(np.clip(p, bins[0], bins[-1]), bins=bins, color="grey" if n == "none" else "tab:blue", alpha=0.7)
        loss = cvar(p)
        ax.axvline(-loss, color="tab:red", linestyle="--", linewidth=1.2)
        ax.set_title(f"{n}: mean {p.mean():,.0f} {QUOTE}, 95 % CVaR {loss:,.0f} {QUOTE} (red line: its level)",
                     fontsize=9, loc="left")
        ax.set_ylabel("paths")
        ax.ticklabel_format(axis="x", style="plain")
    axes[-1, 0].set_xlabel(f"P&L per path net of hedging costs, {QUOTE}")
    fig.suptitle(f"P&L distributions of the {result.job.book.underlying} book, each on its own scale")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _delta(result: BacktestResult, report: BacktestReport, path: Path) -> None:
    run = result.runs[report.chosen]
    spec = next(s for s in result.job.specs if s.name == report.chosen)
    days = result.seconds / 86_400.0
    fig, ax = plt.subplots(figsize=(9, 5))
    for j in range(run.delta_sample.shape[1]):
        ax.step(days, run.delta_sample[:, j], where="post", linewidth=0.9, alpha=0.8)
    target = spec.policy.target_delta_units if spec.policy is not None else 0.0
    ax.axhline(target, color="black", linestyle="--", linewidth=0.8, label="target")
    ax.set_xlabel("days")
    ax.set_ylabel(f"net delta after the step's hedge, {result.job.book.underlying}")
    ax.set_title(f"Delta over time under {report.chosen} ({run.delta_sample.shape[1]} sample paths)")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_plots(result: BacktestResult, report: BacktestReport, out_dir: str | Path) -> list[Path]:
    """Write the three PNGs into ``out_dir`` (created); returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "frontier.png", out / "pnl_hist.png", out / "delta.png"]
    _frontier(report, paths[0])
    _histograms(result, report, paths[1])
    _delta(result, report, paths[2])
    return paths
