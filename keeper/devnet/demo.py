"""The demo: the local world, a market actor moving prices, and the keeper hedging the treasury
through its Safe module for a bounded number of cycles; then a summary of delta and costs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from keeper.core.hedge_types import Plan
from keeper.core.portfolio import RiskSummary
from keeper.cycle.compose import ChainKeeper
from keeper.devnet.actor import MarketActor
from keeper.devnet.state import World
from keeper.errors import KeeperError
from keeper.view.report import render_snapshot

__all__ = ["DemoRow", "greeks_lines", "run_demo"]


@dataclass(frozen=True)
class DemoRow:
    cycle: int
    block: int
    eth_usd: float
    delta_before: dict[str, float]
    delta_after: dict[str, float]
    band: dict[str, tuple[float, float]]
    hedges: list[str]
    why_not: str
    """Why no hedge was made (the decision's last reason), when none was."""
    fees_usd: float
    gas_usd: float


def run_demo(world: World, keeper: ChainKeeper, cycles: int = 8, out: Callable[[str], None] = print,
             seed: int = 3) -> list[DemoRow]:
    """Run ``cycles`` keeper cycles against the treasury, with a market move before each but the first."""
    t0 = time.monotonic()
    w3 = world.web3()
    actor = MarketActor(w3, world.manifest, seed=seed, step_s=4 * 3600, annual_vol=0.9)
    first = keeper.reader.read(chain_id=world.manifest.chain_id)
    out(render_snapshot(first))
    out("")
    rows: list[DemoRow] = []
    for i in range(1, cycles + 1):
        if i > 1:
            actor.step(substeps=8)  # 4 h of trading in 30-minute moves
        try:
            report = keeper.cycle()
        except KeeperError as exc:  # journaled as a failed cycle; the demo goes on like the loop does
            out(f"cycle {i}: failed: {exc}")
            continue
        if report.plan is None or report.snapshot is None:
            out(f"cycle {i}: {report.status} {report.message}")
            continue
        after_risk, _ = keeper.plan(keeper.reader.read(chain_id=world.manifest.chain_id))
        hedges = []
        fees = gas = 0.0
        for h in report.hedges:
            if h.fill is not None:
                f = h.fill
                hedges.append(f"{h.trade.side} {f.underlying_units:.2f} {h.trade.order.underlying} "
                              f"{h.trade.venue} @ {f.realized_price:,.2f} ({f.slippage_bps:+.1f} bps)")
                fees += f.fee_quote
                gas += f.gas_cost_quote
            else:
                hedges.append(f"FAILED {h.trade.order.underlying}: {h.error}")
        rows.append(DemoRow(
            cycle=i, block=report.snapshot.block_number, eth_usd=report.snapshot.feeds["ETH"].price,
            delta_before={d.underlying: d.delta_before_units for d in report.plan.decisions},
            delta_after={k: v.delta for k, v in after_risk.summaries.items()},
            band={d.underlying: (d.band_lower_units, d.band_upper_units) for d in report.plan.decisions},
            hedges=hedges, why_not=_why_not(report.plan), fees_usd=fees, gas_usd=gas,
        ))
        out(_row(rows[-1]))
    end = keeper.reader.read(chain_id=world.manifest.chain_id)
    end_risk, _ = keeper.plan(end)
    out(_summary(rows, time.monotonic() - t0))
    out(greeks_lines(end_risk.summaries, end.block_number))
    return rows


def _why_not(plan: Plan) -> str:
    d = plan.decision("ETH") if any(x.underlying == "ETH" for x in plan.decisions) else plan.decisions[0]
    failed = [g for g in d.gates if not g.passed and not g.overridden]
    if failed:  # the gate's own sentence carries the prices and the size of the disagreement
        return "no hedge: " + "; ".join(f"{g.gate}: {g.reason.text}" for g in failed)
    return f"no hedge: {d.reasons[-1].text}" if d.reasons else "no hedge"


def _row(r: DemoRow) -> str:
    lo, hi = r.band.get("ETH", (0.0, 0.0))
    eth_b, eth_a = r.delta_before.get("ETH", 0.0), r.delta_after.get("ETH", 0.0)
    btc_b, btc_a = r.delta_before.get("BTC", 0.0), r.delta_after.get("BTC", 0.0)
    hedge = "; ".join(r.hedges) if r.hedges else r.why_not
    return (f"cycle {r.cycle:>2} block {r.block:>5}  ETH {r.eth_usd:>9,.2f} USD  "
            f"ETH delta {eth_b:>8.2f} -> {eth_a:>8.2f} (band {lo:.1f}..{hi:.1f})  "
            f"BTC delta {btc_b:>6.3f} -> {btc_a:>6.3f}  | {hedge}")


def _summary(rows: list[DemoRow], elapsed: float) -> str:
    n = sum(len(r.hedges) for r in rows)
    fees = sum(r.fees_usd for r in rows)
    gas = sum(r.gas_usd for r in rows)
    inside = sum(1 for r in rows if r.band.get("ETH") and r.band["ETH"][0] - 1e-9 <= r.delta_after["ETH"]
                 <= r.band["ETH"][1] + 1e-9)
    return "\n".join([
        "",
        f"Summary: {len(rows)} cycles in {elapsed:.1f} s, {n} hedge(s) through the Safe's HedgeModule",
        f"  ETH delta inside its band after {inside} of {len(rows)} cycles",
        f"  costs: pool/taker fees {fees:,.2f} USD, gas {gas:,.4f} USD, total {fees + gas:,.2f} USD",
    ])


def greeks_lines(summaries: dict[str, RiskSummary], block: int) -> str:
    """The book's greeks per underlying at the end, in the units a risk manager reads."""
    lines = [f"  book greeks at block {block}:"]
    for sym, g in sorted(summaries.items()):
        lines.append(f"    {sym}: delta {g.delta:,.3f} {sym} ({g.delta_quote:,.0f} USD), "
                     f"gamma {g.gamma_quote:,.0f} USD per 1 % move, vega {g.vega / 100:,.0f} USD per vol point, "
                     f"theta {g.theta / 365:,.0f} USD per day, value {g.value:,.0f} USD at {g.spot:,.2f} USD")
    return "\n".join(lines)
