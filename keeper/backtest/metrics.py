"""Metrics of a policy's per-path results, and the cost-versus-risk frontier.

* ``std_hedging_error``: standard deviation over paths of the P&L before costs, quote;
* ``cvar95``: 95 % CVaR of the hedged P&L net of costs, as a loss (``-mean`` of the worst 5 %), quote;
* ``mean_cost``: total hedging cost per path (fee + impact + gas), quote; ``mean_trades`` per path;
* ``max_abs_delta``: the largest ``|delta - target|`` carried into a step, over all paths, units;
* ``flavour``: the option delta hedged (``sticky-strike``, ``sticky-moneyness``, ``minimum-variance``);
* with the keeper's rules (a market model): ``cost_parts``, the mean cost per path by part (fee,
  impact, gas, funding; quote), and ``rule_counts``, the mean per path of the hedges each gate
  blocked, of those no venue could take, of urgent hedges let through above the gas cap and of perp
  trades (see :data:`keeper.backtest.engine.RULE_COUNTS`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keeper.backtest.engine import COST_PARTS, RULE_COUNTS, PolicyPaths, PolicySpec
from keeper.backtest.flavours import FLAVOUR_LABELS
from keeper.errors import InputError

__all__ = ["FrontierComparison", "LVRSummary", "PolicyMetrics", "compare_at_risk", "cvar", "frontier_cost_at",
           "lvr_summary", "policy_metrics"]

FloatArray = npt.NDArray[np.float64]


def cvar(pnl: FloatArray, level: float = 0.95) -> float:
    """Expected loss in the worst ``1 - level`` of outcomes, ``-mean(worst)`` (positive = a loss)."""
    x = np.sort(np.asarray(pnl, dtype=np.float64))
    n_tail = max(1, math.ceil((1.0 - level) * x.size - 1e-9))
    return float(-x[:n_tail].mean())


@dataclass(frozen=True, slots=True)
class PolicyMetrics:
    """One row of the comparison (see the module docstring for units)."""

    name: str
    family: str
    param: float
    std_hedging_error: float
    cvar95: float
    mean_pnl: float
    std_pnl: float
    mean_cost: float
    mean_trades: float
    max_abs_delta: float
    flavour: str = "sticky-strike"
    cost_parts: dict[str, float] | None = None
    rule_counts: dict[str, float] | None = None


def policy_metrics(spec: PolicySpec, r: PolicyPaths) -> PolicyMetrics:
    pnl = r.pnl
    parts = None if r.cost_parts is None else dict(zip(COST_PARTS, map(float, r.cost_parts.mean(axis=1)), strict=True))
    counts = (None if r.rule_counts is None
              else dict(zip(RULE_COUNTS, map(float, r.rule_counts.mean(axis=1)), strict=True)))
    return PolicyMetrics(spec.name, spec.family, spec.param, float(np.std(r.hedging_error, ddof=1)) if pnl.size > 1
                         else 0.0, cvar(pnl), float(pnl.mean()), float(np.std(pnl, ddof=1)) if pnl.size > 1 else 0.0,
                         float(r.cost.mean()), float(r.trades.mean()), float(r.max_abs_delta.max()),
                         FLAVOUR_LABELS[spec.flavour], parts, counts)


@dataclass(frozen=True, slots=True)
class LVRSummary:
    """LP loss-versus-rebalancing per path: measured mean, predicted ``sigma^2/4 L sqrtS`` mean, ratio, quote."""

    measured_mean: float
    predicted_mean: float
    measured_stderr: float

    @property
    def ratio(self) -> float:
        return self.measured_mean / self.predicted_mean if self.predicted_mean else math.nan


def lvr_summary(measured: FloatArray, predicted: FloatArray) -> LVRSummary:
    se = float(np.std(measured, ddof=1) / math.sqrt(measured.size)) if measured.size > 1 else math.nan
    return LVRSummary(float(measured.mean()), float(predicted.mean()), se)


def frontier_cost_at(points: Sequence[tuple[float, float]], risk: float) -> float | None:
    """Cost on the frontier through ``(risk, cost)`` points at ``risk``, interpolated linearly in
    ``(log risk, log cost)``; ``None`` when ``risk`` lies outside the points' range.

    The frontier is the lower envelope: points dominated by one with less risk and less cost are dropped.
    """
    pts = sorted((r, c) for r, c in points if r > 0.0 and c > 0.0)
    env: list[tuple[float, float]] = []
    for r, c in pts:  # increasing risk: keep only points cheaper than every less risky one
        if not env or c < env[-1][1]:
            env.append((r, c))
    if not env or not env[0][0] <= risk <= env[-1][0]:
        return None
    if len(env) == 1:
        return env[0][1]
    lr = np.log([p[0] for p in env])
    lc = np.log([p[1] for p in env])
    return float(np.exp(np.interp(math.log(risk), lr, lc)))


@dataclass(frozen=True, slots=True)
class FrontierComparison:
    """The WW frontier's cost at a reference policy's risk, and the reduction ``1 - ww / reference``."""

    reference: str
    reference_risk: float
    reference_cost: float
    ww_cost: float | None

    @property
    def reduction(self) -> float | None:
        return None if self.ww_cost is None else 1.0 - self.ww_cost / self.reference_cost


def compare_at_risk(rows: Sequence[PolicyMetrics], reference: str, frontier_family: str = "ww") -> FrontierComparison:
    """Compare ``reference`` with the ``frontier_family`` policies' frontier at equal hedging-error std."""
    ref = next((r for r in rows if r.name == reference), None)
    if ref is None:
        raise InputError("reference", f"no policy named {reference!r}")
    pts = [(r.std_hedging_error, r.mean_cost) for r in rows if r.family == frontier_family]
    return FrontierComparison(ref.name, ref.std_hedging_error, ref.mean_cost,
                              frontier_cost_at(pts, ref.std_hedging_error))
