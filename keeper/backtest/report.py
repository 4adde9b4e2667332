"""The backtest report: a terminal table and a JSON document.

Besides the per-policy metrics, every fixed-interval and fixed-band policy is compared with
the Whalley-Wilmott frontier at its own hedging-error std (``compare_at_risk``). The "best"
fixed-interval policy is the one the frontier beats by the least (the most competitive
interval), so the reported reduction is the conservative one. With several delta flavours
each policy has one row per flavour (``ww:3@mv``), and each row is compared with the WW
frontier of its own flavour.

Policies whose trades, costs and hedging errors are identical on every path (at ``--step 1d``
every interval of a day or less hedges at every step) are reported as one group
(``interval:1h = interval:2h = ...``) with a warning, and no "best" is named among them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from keeper.backtest.engine import PolicyPaths
from keeper.backtest.flavours import CALIBRATION_KEY, FLAVOUR_LABELS
from keeper.backtest.metrics import (
    FrontierComparison,
    LVRSummary,
    PolicyMetrics,
    compare_at_risk,
    lvr_summary,
    policy_metrics,
)
from keeper.backtest.parallel import BacktestResult
from keeper.errors import InputError

__all__ = ["BacktestReport", "build_report", "format_table", "identical_groups", "report_json"]


def identical_groups(runs: Mapping[str, PolicyPaths]) -> tuple[tuple[str, ...], ...]:
    """Groups (two or more, in ``runs`` order) of policies with identical per-path results.

    Identical: the same trades, costs and hedging errors on every path, bit for bit (the engine is
    deterministic, so policies that make the same decisions give the same floats).
    """
    groups: list[list[str]] = []
    for name, r in runs.items():
        for g in groups:
            ref = runs[g[0]]
            if all(np.array_equal(getattr(r, f), getattr(ref, f)) for f in ("trades", "cost", "hedging_error")):
                g.append(name)
                break
        else:
            groups.append([name])
    return tuple(tuple(g) for g in groups if len(g) > 1)


@dataclass(frozen=True, slots=True)
class BacktestReport:
    rows: tuple[PolicyMetrics, ...]
    lvr: LVRSummary
    comparisons: tuple[FrontierComparison, ...]
    chosen: str
    meta: dict[str, Any] = field(default_factory=dict)
    identical: tuple[tuple[str, ...], ...] = ()
    """Groups of policies with identical per-path results (:func:`identical_groups`)."""

    def row(self, name: str) -> PolicyMetrics:
        for r in self.rows:
            if r.name == name:
                return r
        raise InputError("policy", f"no policy named {name!r}")

    def comparison(self, name: str) -> FrontierComparison | None:
        return next((c for c in self.comparisons if c.reference == name), None)

    def group_of(self, name: str) -> tuple[str, ...]:
        """The policies identical to ``name`` (itself included; just itself when it has no twin)."""
        return next((g for g in self.identical if name in g), (name,))

    @property
    def best_interval(self) -> FrontierComparison | None:
        """The interval policy the WW frontier beats by the least (within the frontier's risk range).

        ``None`` when there is no such policy, or when it is identical to another interval policy
        (a tie is no ranking: :attr:`best_interval_tie` names the group).
        """
        best = self._best_interval()
        return None if best is None or len(self.group_of(best.reference)) > 1 else best

    @property
    def best_interval_tie(self) -> tuple[str, ...]:
        """The identical policies that share the best interval's place (empty when it is unique)."""
        best = self._best_interval()
        group = self.group_of(best.reference) if best is not None else ()
        return group if len(group) > 1 else ()

    def _best_interval(self) -> FrontierComparison | None:
        fam = {r.name: r.family for r in self.rows}
        inside = [c for c in self.comparisons if fam[c.reference] == "interval" and c.reduction is not None]
        return min(inside, key=lambda c: c.reduction or 0.0) if inside else None

    @property
    def warnings(self) -> tuple[str, ...]:
        """One line per group of identical policies, naming the time step when it is known."""
        step = self.meta.get("step")
        at = f" at --step {step}" if step else ""
        return tuple(f"{' = '.join(g)}{at}: identical (the same trades, costs and P&L on every path); "
                     "not ranked against each other" for g in self.identical)


def build_report(result: BacktestResult, *, chosen: str | None = None,
                 meta: dict[str, Any] | None = None) -> BacktestReport:
    """Metrics of every policy, the frontier comparisons and the LVR summary of a run.

    ``chosen`` (for the delta plot) defaults to the hedging policy with the smallest 95 % CVaR.
    """
    rows = tuple(policy_metrics(s, result.runs[s.name]) for s in result.job.specs)
    comps: list[FrontierComparison] = []
    for flavour in dict.fromkeys(r.flavour for r in rows):
        same = [r for r in rows if r.flavour == flavour]
        if any(r.family == "ww" for r in same):
            comps += [compare_at_risk(same, r.name) for r in same if r.family in ("interval", "band", "config")]
    hedged = [r for r in rows if r.family != "none"] or list(rows)
    pick = chosen or min(hedged, key=lambda r: r.cvar95).name
    if pick not in {r.name for r in rows}:
        raise InputError("chosen", f"no policy named {pick!r}")
    info = {"paths": len(result.lvr), "steps": result.job.steps, "elapsed_s": result.elapsed_s,
            "workers": result.workers, **(meta or {})}
    job = result.job
    if job.flavours != ("sticky_strike",) or job.mv_fit is not None:
        info["delta_flavours"] = [FLAVOUR_LABELS[f] for f in job.flavours]
    if job.mv_fit is not None:
        c = job.mv_fit.coefficients
        info["min_variance_fit"] = {"a": c.a, "b": c.b, "c": c.c, "pairs": job.mv_fit.n,
                                    "r_squared": _num(job.mv_fit.r_squared), "calibration_paths": job.calibration_paths,
                                    "calibration_seed": f"SeedSequence({job.seed}, spawn_key=({CALIBRATION_KEY},))"}
    return BacktestReport(rows, lvr_summary(result.lvr, result.lvr_predicted), tuple(comps), pick, info,
                          identical_groups({s.name: result.runs[s.name] for s in result.job.specs}))


def _num(x: float | None) -> float | str | None:
    if x is None:
        return None
    return x if math.isfinite(x) else str(x)


def report_json(report: BacktestReport) -> dict[str, Any]:
    """JSON-ready (no NaN/inf: spelled as strings)."""
    best = report.best_interval
    return {
        "meta": report.meta,
        "policies": [{k: _num(v) if isinstance(v, float) else v for k, v in asdict(r).items()} for r in report.rows],
        "frontier_comparisons": [{"reference": c.reference, "reference_risk": c.reference_risk,
                                  "reference_cost": c.reference_cost, "ww_cost_at_equal_risk": _num(c.ww_cost),
                                  "cost_reduction": _num(c.reduction)} for c in report.comparisons],
        "best_interval": None if best is None else best.reference,
        "best_interval_tie": list(report.best_interval_tie),
        "identical_policies": [list(g) for g in report.identical],
        "warnings": list(report.warnings),
        "chosen": report.chosen,
        "lvr": {"measured_mean": report.lvr.measured_mean, "predicted_mean": report.lvr.predicted_mean,
                "measured_stderr": _num(report.lvr.measured_stderr), "ratio": _num(report.lvr.ratio)},
        "units": {"risk": "std of hedging error (P&L before costs), quote", "cvar95": "loss, quote",
                  "cost": "mean per path, quote", "max_abs_delta": "underlying units",
                  "cost_parts": "mean per path, quote (funding > 0 paid, < 0 received)",
                  "rule_counts": "mean per path, hedge decisions (a hedge deferred over n steps counts n times)"},
    }


def format_table(report: BacktestReport) -> str:
    """The comparison as a fixed-width table, then the frontier comparisons and the LVR line."""
    pw = max([16, *(len(r.name) + 3 for r in report.rows)])  # swept names (ww:1.62378e-06/usd *) are long
    head = (f"{'policy':<{pw}}{'flavour':<18}{'hedge err std':>14}{'CVaR95 loss':>13}{'mean P&L':>12}{'cost':>11}"
            f"{'trades':>9}{'max|Δ|':>9}{'WW cost@risk':>14}")
    lines = [head, "-" * len(head)]
    for r in report.rows:
        c = report.comparison(r.name)
        vs = "" if c is None or c.reduction is None else f"{-100 * c.reduction:+.0f}%"
        mark = " *" if r.name == report.chosen else ""
        lines.append(f"{r.name + mark:<{pw}}{r.flavour:<18}{r.std_hedging_error:>14,.0f}{r.cvar95:>13,.0f}"
                     f"{r.mean_pnl:>12,.0f}{r.mean_cost:>11,.0f}{r.mean_trades:>9.1f}{r.max_abs_delta:>9.2f}{vs:>14}")
    lines.append("")
    lines.append("WW cost@risk: the Whalley-Wilmott frontier's cost (same flavour) at the policy's hedging-error std, "
                 "vs its cost.")
    best = report.best_interval
    if best is not None and best.ww_cost is not None and best.reduction is not None:
        lines.append(f"best interval {best.reference}: risk {best.reference_risk:,.0f}, cost "
                     f"{best.reference_cost:,.0f}; WW at equal risk {best.ww_cost:,.0f} "
                     f"({100 * best.reduction:.1f}% lower)")
    elif report.best_interval_tie:
        lines.append(f"best interval: none named: {' = '.join(report.best_interval_tie)} are identical")
    lines += [f"warning: {w}" for w in report.warnings]
    lv = report.lvr
    if lv.predicted_mean:
        lines.append(f"LP loss-versus-rebalancing per path: measured {lv.measured_mean:,.0f} "
                     f"(± {lv.measured_stderr:,.0f}), sigma^2/4 L sqrtP {lv.predicted_mean:,.0f}, ratio {lv.ratio:.3f}"
                     " (not a policy cost: the same under every policy)")
    fit = report.meta.get("min_variance_fit")
    if isinstance(fit, dict):
        lines.append(f"minimum-variance (Hull-White) fit on a separate calibration draw: a {fit['a']:.4g}, "
                     f"b {fit['b']:.4g}, c {fit['c']:.4g} ({fit['pairs']} pairs, R^2 "
                     f"{fit['r_squared'] if isinstance(fit['r_squared'], str) else format(fit['r_squared'], '.3f')})")
    lines.append(f"* chosen policy (delta plot): {report.chosen}")
    lines += rules_table(report)
    return "\n".join(lines)


def _g(v: object) -> str:
    return f"{v:g}" if isinstance(v, (int, float)) else str(v)


def rules_text(rules: dict[str, Any]) -> str:
    """One line on the simulated market the keeper's rules read (``meta["rules"]``), with units."""
    perp = rules.get("perp")
    venue = (f"; perp taker fee {_g(perp['taker_fee_bps'])} bps, funding {_g(100 * perp['funding_apr'])} %/yr"
             " (> 0: longs pay)" if isinstance(perp, dict) else "; no perp")
    gates = rules.get("gates", {})
    return (f"keeper's rules: feed lag {_g(rules['lag_s'])} s, heartbeat {_g(rules['feed_heartbeat_s'])} s, "
            f"deviation threshold {_g(rules['feed_deviation_bps'])} bps, missed rounds "
            f"{_g(100 * rules['feed_miss_prob'])} %; TWAP {_g(rules['twap_window_s'])} s; gas "
            f"{_g(rules['gas_base_gwei'])} gwei base, {_g(rules['gas_spikes_per_day'])} spikes/day of "
            f"x{_g(rules['gas_spike_x'])}{venue}. Gates: max deviation {_g(gates.get('max_oracle_deviation_bps'))} bps,"
            f" max feed age {_g(gates.get('max_feed_age_s'))} s, max gas {_g(gates.get('max_gas_gwei'))} gwei, urgent"
            f" beyond {_g(gates.get('urgent_deviation_units'))} units")


def rules_table(report: BacktestReport) -> list[str]:
    """The cost by part and the hedges the gates blocked, per policy (empty for the ideal keeper)."""
    rows = [r for r in report.rows if r.cost_parts is not None and r.rule_counts is not None]
    if not rows:
        return []
    q = str(report.meta.get("quote", "USD"))
    head = (f"{'policy':<16}{'fee ' + q:>11}{'impact ' + q:>12}{'gas ' + q:>10}{'funding ' + q:>13}"
            f"{'blocked':>9}{'stale':>7}{'oracle':>8}{'gas':>7}{'no venue':>10}{'urgent':>8}{'perp':>7}")
    out = ["", "Cost by part (mean per path) and hedge decisions per path the keeper's rules blocked or changed:",
           head, "-" * len(head)]
    for r in rows:
        c, n = r.cost_parts or {}, r.rule_counts or {}
        out.append(f"{r.name:<16}{c['fee']:>11,.0f}{c['impact']:>12,.0f}{c['gas']:>10,.0f}{c['funding']:>13,.0f}"
                   f"{n['blocked']:>9.2f}{n['feed_staleness']:>7.2f}{n['oracle_consistency']:>8.2f}{n['gas']:>7.2f}"
                   f"{n['no_venue']:>10.2f}{n['gas_urgent']:>8.2f}{n['perp_trades']:>7.1f}")
    out.append("blocked: hedges a gate deferred (stale feed, feed/pool/TWAP disagreement, gas over the cap; one "
               "hedge deferred over n steps counts n times); urgent: let through above the gas cap; perp: trades "
               "on the perp.")
    rules = report.meta.get("rules")
    if isinstance(rules, dict):
        out.append(rules_text(rules))
    return out
