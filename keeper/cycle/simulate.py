"""The dry run (``keeper simulate``): execute every planned hedge on an anvil fork and report each one.

The live cycle (:meth:`keeper.cycle.runner.Keeper.cycle`) stops at a hedge whose preflight reverts; a dry run
must not: it exists to show what each hedge would do. :func:`simulate_plan` therefore reads and plans
exactly as a cycle does (same snapshot reader, same pure ``decide``, same executor and transaction
path, :meth:`~keeper.cycle.runner.Keeper.execute`), then tries every order in plan order and catches a
revert or failure per hedge. Each outcome is either a fill (read back from chain state, as the live
keeper verifies it) or a revert with its decoded reason, the trade, and for a slippage revert the
planner's estimated cost (fee + impact) against the policy's ``max_slippage_bps``.

Only the fork is written; the keeper's journal is a temporary copy (see ``keeper.cli.commands``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from keeper.core.hedge_types import HedgeOrder
from keeper.core.snapshot import Snapshot
from keeper.cycle.compose import ChainKeeper
from keeper.errors import InputError, TransactionError
from keeper.execute.execution import VerifiedFill
from keeper.execute.tx import TxRevertedError
from keeper.journal import CycleStatus, RunMode
from keeper.view.report import plan_record, render_plan

__all__ = [
    "HedgeOutcome",
    "SimulationReport",
    "render_simulation",
    "simulate_plan",
    "simulation_record",
]

Status = Literal["filled", "reverted", "failed"]

SLIPPAGE_REVERTS = ("Too little received", "Too much requested", "OutputBelowMinimum", "SlippageExceeded",
                    "MinOutBelowOracleBound", "AcceptablePriceOutOfBound")
"""Reasons that mean "the price was worse than the order's limit": the router's and our contracts' names."""


@dataclass(frozen=True)
class CostVsLimit:
    """The planner's estimated one-way cost of an order against the policy's slippage limit, in bps."""

    fee_bps: float
    impact_bps: float
    limit_bps: float
    limit_field: str
    """The config key the limit comes from (``policy.<SYMBOL>.max_slippage_bps`` or ``policy.default...``)."""

    @property
    def total_bps(self) -> float:
        return self.fee_bps + self.impact_bps

    def sentence(self) -> str:
        verdict = ("exceeds the limit: the order's minimum output is tighter than its expected cost"
                   if self.total_bps > self.limit_bps else
                   "is within the limit: the price moved or the estimate missed the pool's depth")
        return (f"the planner estimated {self.fee_bps:.1f} bps fee + {self.impact_bps:.1f} bps impact = "
                f"{self.total_bps:.1f} bps against {self.limit_field} = {self.limit_bps:g} bps; "
                f"the estimate {verdict}")


@dataclass(frozen=True)
class HedgeOutcome:
    """One planned hedge on the fork: filled, reverted (with the decoded reason) or failed."""

    underlying: str
    venue: str
    venue_id: str
    side: str
    size_units: float
    notional_usd: float
    status: Status
    reason: str = ""
    """Why it did not fill (the revert decoded: custom error name and arguments, or the router's string)."""
    error_name: str = ""
    slippage: bool = False
    """True when the revert says the price was worse than the order's limit."""
    cost: CostVsLimit | None = None
    fill: VerifiedFill | None = None
    delta_before_units: float | None = None
    delta_after_units: float | None = None
    """The underlying's book delta after this hedge (read back from the fork), units."""


@dataclass(frozen=True)
class SimulationReport:
    upstream: str
    fork_block: int
    impersonated: str
    plan: dict[str, Any]
    hedges: tuple[HedgeOutcome, ...]
    delta: dict[str, tuple[float, float | None]]
    """Per underlying: book delta before and after all hedges, units (None: not valued after)."""
    control: str = ""
    """A note when the live keeper is paused or halted (it would not trade until resumed)."""

    @property
    def all_filled(self) -> bool:
        """True when every planned hedge filled (also when there was nothing to do)."""
        return all(h.status == "filled" for h in self.hedges)


def _cost_vs_limit(k: ChainKeeper, order: HedgeOrder) -> CostVsLimit:
    n = order.notional_quote
    fee_bps = order.cost.fee_quote / n * 1e4 if n > 0 else 0.0
    impact_bps = order.cost.impact_quote / n * 1e4 if n > 0 else 0.0
    sym = order.underlying
    scope = sym if sym in k.policy.per_underlying else "default"
    limit = k.policy.for_underlying(sym).venues.max_slippage_bps
    return CostVsLimit(fee_bps, impact_bps, float(limit), f"policy.{scope}.max_slippage_bps")


def _delta(k: ChainKeeper, snap: Snapshot) -> dict[str, float]:
    risk, _ = k.plan(snap)
    return {s: r.delta for s, r in risk.summaries.items()}


def simulate_plan(k: ChainKeeper, *, upstream: str,
                  progress: Callable[[str], None] = lambda _m: None) -> SimulationReport:
    """Read, plan and execute every planned hedge on the chain ``k`` talks to (a fork).

    Each hedge is tried even when an earlier one reverted; the book is read back after each one.
    Errors other than a transaction's (RPC down, bad config) propagate.
    """
    state = k.journal.control_state()
    control = (f"the live keeper is halted ({state.halt_reason}): it sends nothing until `keeper resume`"
               if state.halted else f"the live keeper is paused ({state.pause_reason}): it sends nothing until "
               "`keeper resume`" if state.paused else "")
    snap = k.reader.read(chain_id=k.chain_id)
    risk, plan = k.plan(snap)
    before = {s: r.delta for s, r in risk.summaries.items()}
    cycle = k.journal.start_cycle(RunMode.LIVE)
    k.journal.set_cycle_block(cycle.id, snap.block_number)
    current = dict(before)
    outcomes: list[HedgeOutcome] = []
    for order in plan.orders:
        progress(f"simulating {order.side} {order.size_units:.6f} {order.underlying} on {order.venue}")
        base: dict[str, Any] = {
            "underlying": order.underlying, "venue": order.venue, "venue_id": order.venue_id, "side": order.side,
            "size_units": order.size_units, "notional_usd": order.notional_quote,
            "cost": _cost_vs_limit(k, order), "delta_before_units": current.get(order.underlying),
        }
        outcome: HedgeOutcome
        try:
            # An Aave order runs its two legs (borrow then sell, buy then repay): the first leg that does
            # not fill is the outcome, else the swap leg's fill is.
            legs = []
            for trade in k.executor.prepare_legs(order, snap):
                legs.append(k.execute(cycle.id, trade, snap))
                if legs[-1].fill is None:
                    break
            done = next((h for h in legs if h.fill is None), None) or next(
                (h for h in legs if h.trade.venue != "aave"), legs[-1])
        except TxRevertedError as exc:  # preflight (nothing sent) or a mined revert raised from verification
            outcome = HedgeOutcome(**base, status="reverted", reason=exc.reason, error_name=exc.error_name,
                                   slippage=any(s in exc.reason for s in SLIPPAGE_REVERTS))
        except (TransactionError, InputError) as exc:  # not sent or not verified; a size that rounds to nothing
            outcome = HedgeOutcome(**base, status="failed", reason=str(exc))
        else:
            if done.fill is not None:
                outcome = HedgeOutcome(**base, status="filled", fill=done.fill)
            else:  # mined and reverted, or not mined: execute() journaled it and gives the reason as text
                err = done.error or "no fill"
                status: Status = "reverted" if "reverted" in err else "failed"
                outcome = HedgeOutcome(**base, status=status, reason=err,
                                       slippage=any(s in err for s in SLIPPAGE_REVERTS))
        current = _delta(k, k.reader.read(chain_id=k.chain_id))
        outcomes.append(replace(outcome, delta_after_units=current.get(order.underlying)))
    failed = [o for o in outcomes if o.status != "filled"]
    k.journal.finish_cycle(cycle.id, CycleStatus.FAILED if failed else CycleStatus.OK,
                           error="; ".join(f"{o.underlying}: {o.reason}" for o in failed) or None)
    delta = {s: (d, current.get(s)) for s, d in before.items()}
    return SimulationReport(upstream=upstream, fork_block=snap.block_number, impersonated=k.tx.signer.address,
                            plan=plan_record(snap, risk, plan), hedges=tuple(outcomes), delta=delta, control=control)


# ---------------------------------------------------------------------------- output
def _hedge_record(h: HedgeOutcome) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "status": h.status, "underlying": h.underlying, "venue": h.venue, "venue_id": h.venue_id, "side": h.side,
        "size_units": h.size_units, "notional_usd": h.notional_usd,
        "delta_before_units": h.delta_before_units, "delta_after_units": h.delta_after_units,
        "estimated_cost": None if h.cost is None else {
            "fee_bps": h.cost.fee_bps, "impact_bps": h.cost.impact_bps, "total_bps": h.cost.total_bps,
            "limit_bps": h.cost.limit_bps, "limit_field": h.cost.limit_field},
        "error": None, "fill": None,
    }
    if h.status != "filled":
        rec["error"] = {"reason": h.reason, "error_name": h.error_name, "slippage": h.slippage,
                        "explanation": h.cost.sentence() if h.slippage and h.cost is not None else None}
    if h.fill is not None:
        f = h.fill
        rec["fill"] = {"units": f.underlying_units, "realized_price_usd": f.realized_price,
                       "oracle_price_usd": f.oracle_price, "slippage_bps_incl_fee": f.slippage_bps,
                       "fee_usd": f.fee_quote, "gas_used": f.gas_used, "gas_usd": f.gas_cost_quote,
                       "tx": f.tx_hash, "block": f.block_number}
    return rec


def simulation_record(r: SimulationReport) -> dict[str, Any]:
    """The JSON document of ``keeper simulate --json``."""
    filled = sum(h.status == "filled" for h in r.hedges)
    return {
        "fork": {"upstream": r.upstream, "fork_block": r.fork_block, "impersonated": r.impersonated},
        "all_filled": r.all_filled,
        "summary": {"planned": len(r.hedges), "filled": filled, "not_filled": len(r.hedges) - filled},
        "control": r.control or None,
        "plan": r.plan,
        "hedges": [_hedge_record(h) for h in r.hedges],
        "delta": {s: {"before_units": b, "after_units": a} for s, (b, a) in r.delta.items()},
    }


def _units(x: float | None) -> str:
    return "not valued" if x is None else f"{x:+,.4f}"


def render_simulation(rec: dict[str, Any]) -> str:
    """The text report for people: the plan, then each hedge's outcome, then the book's delta."""
    fork = rec["fork"]
    lines = [f"dry run on a fork of {fork['upstream']} at block {fork['fork_block']}, as {fork['impersonated']}"]
    if rec["control"]:
        lines.append(f"note: {rec['control']}")
    lines.append(render_plan(rec["plan"]))
    s = rec["summary"]
    lines.append(f"Simulated hedges: {s['planned']} planned, {s['filled']} filled, {s['not_filled']} not filled")
    for i, h in enumerate(rec["hedges"], 1):
        trade = (f"{h['side']} {h['size_units']:,.6f} {h['underlying']} on {h['venue']} {h['venue_id']} "
                 f"(~{h['notional_usd']:,.0f} USD)")
        f = h["fill"]
        if f is not None:
            lines.append(f"  {i}. FILLED {trade}: {f['units']:,.6f} {h['underlying']} at "
                         f"{f['realized_price_usd']:,.2f} USD (oracle {f['oracle_price_usd']:,.2f} USD, "
                         f"{f['slippage_bps_incl_fee']:+.1f} bps incl. fee), fee {f['fee_usd']:,.2f} USD, "
                         f"gas {f['gas_used']:,} ({f['gas_usd']:,.4f} USD), tx {f['tx']}")
        else:
            e = h["error"]
            lines.append(f"  {i}. {h['status'].upper()} {trade}: {e['reason']}")
            if e["explanation"]:
                lines.append(f"     {e['explanation']}")
        lines.append(f"     {h['underlying']} delta {_units(h['delta_before_units'])} -> "
                     f"{_units(h['delta_after_units'])} units")
    if not rec["hedges"]:
        lines.append("  nothing to do: the plan has no hedge")
    for sym, d in rec["delta"].items():
        lines.append(f"  {sym}: book delta {_units(d['before_units'])} -> {_units(d['after_units'])} units "
                     "after the simulated hedges")
    lines.append("All hedges filled." if rec["all_filled"] else
                 "Not every hedge filled (exit code 1). The upstream chain was not written to.")
    if rec["all_filled"]:
        lines.append("The upstream chain was not written to.")
    return "\n".join(lines)
