"""Human-readable renderings of what the keeper read and decided. Every figure carries its unit."""

from __future__ import annotations

import io
import math
from datetime import UTC, datetime
from typing import Any

from keeper.core.book import BookRisk
from keeper.core.hedge_types import Plan
from keeper.core.options import bs_greeks
from keeper.core.portfolio import OptionPosition
from keeper.core.snapshot import Snapshot

__all__ = ["plan_record", "render_plan", "render_snapshot", "tick_to_price"]


def tick_to_price(tick: int, dec0: int, dec1: int) -> float:
    """Human price of token0 in token1 at ``tick``."""
    return float(math.exp(tick * math.log(1.0001)) * 10.0 ** (dec0 - dec1))


def _ts(t: int) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def render_snapshot(snap: Snapshot) -> str:
    tok = snap.tokens
    sym = {a: t.symbol for a, t in tok.items()}
    lines = [f"Book at block {snap.block_number} ({_ts(snap.block_timestamp)}), read in {snap.round_trips} round trips"]
    lines.append("  balances:")
    for (owner, token), raw in sorted(snap.balances.items()):
        meta = tok.get(token)
        if meta:
            lines.append(f"    {owner}  {raw / 10**meta.decimals:>22,.6f} {meta.symbol}")
    lines.append(f"  Uniswap v3 LP NFTs ({len(snap.lps)}):")
    lines.append(f"    {'id':>6}  {'pair':<11} {'fee':>6} {'range (token1 per token0)':>34} {'liquidity':>24}  state")
    for lp in snap.lps:
        pool = snap.pools[lp.pool]
        d0, d1 = tok[lp.token0].decimals, tok[lp.token1].decimals
        lo, hi = tick_to_price(lp.tick_lower, d0, d1), tick_to_price(lp.tick_upper, d0, d1)
        state = "in range" if lp.tick_lower <= pool.tick < lp.tick_upper else "out of range"
        pair = f"{sym[lp.token0]}/{sym[lp.token1]}"
        lines.append(
            f"    {lp.token_id:>6}  {pair:<11} {lp.fee / 1e4:>5.2f}% {lo:>16.6g} .. {hi:<16.6g}"
            f"{lp.liquidity:>24}  {state}"
        )
    lines.append(f"  options ({len(snap.options)}):")
    for o in snap.options:
        kind = "put " if o.is_put else "call"
        net = o.net_amount / 1e18
        side = "long " if net > 0 else "short"
        lines.append(
            f"    {side} {abs(net):>10,.4f} {o.underlying} {kind} strike {o.strike / 1e8:>12,.2f} USD "
            f"expiry {_ts(o.expiry)}  [{o.source[:20]}.. #{o.series_id}]"
        )
    lines.append(f"  perps ({sum(1 for p in snap.perps if p.size)} open):")
    for p in snap.perps:
        if p.size == 0:
            continue
        m = snap.perp_markets.get(p.market)
        qdec = tok[m.quote_token].decimals if m and m.quote_token in tok else 6
        rate = f", funding {m.funding_rate_per_second / 1e18 * 86400 * 100:+.5f} %/day" if m else ""
        lines.append(
            f"    {p.size / 1e18:>+12,.4f} {p.underlying}-perp entry {p.entry_price / 1e18:>12,.2f} USD, "
            f"margin {p.margin / 10**qdec:>14,.2f} USD, remaining {p.remaining_margin / 10**qdec:>14,.2f} USD{rate}"
        )
    lines.append("  prices:")
    for asset, f in snap.feeds.items():
        age = snap.block_timestamp - f.updated_at
        lines.append(f"    feed {asset:<5} {f.price:>14,.2f} USD  (round {f.round_id}, {age} s old)")
    for addr, tw in snap.twaps.items():
        if addr not in snap.pools:
            continue
        oracle_pool = snap.pools[addr]
        d0, d1 = tok[oracle_pool.token0].decimals, tok[oracle_pool.token1].decimals
        spot = tick_to_price(oracle_pool.tick, d0, d1)
        twap = tick_to_price(tw.mean_tick, d0, d1)
        base, quote = sym[oracle_pool.token0], sym[oracle_pool.token1]
        if spot < 1:  # show the risky asset in quote units
            spot, twap, base, quote = 1 / spot, 1 / twap, quote, base
        lines.append(
            f"    pool {base}/{quote} {oracle_pool.fee / 1e4:.2f}%: spot {spot:>12,.2f} {quote}/{base}, "
            f"TWAP {tw.window_s} s {twap:>12,.2f} {quote}/{base}, cardinality {oracle_pool.observation_cardinality}"
        )
    if snap.failures:
        lines.append(f"  INCOMPLETE: {len(snap.failures)} read(s) failed:")
        lines += [f"    {f.what}: {f.reason}" for f in snap.failures]
    return "\n".join(lines)


def plan_record(snap: Snapshot, risk: BookRisk, plan: Plan) -> dict[str, Any]:
    """The plan as a JSON-ready dict: block, greeks per underlying, decisions with reasons."""
    return {
        "block": snap.block_number,
        "block_timestamp": snap.block_timestamp,
        "complete": snap.complete,
        "failures": [{"what": f.what, "reason": f.reason} for f in snap.failures],
        "greeks": {
            k: {"spot_usd": v.spot, "value_usd": v.value, "delta_units": v.delta, "delta_usd": v.delta_quote,
                "gamma_units_per_usd": v.gamma, "gamma_usd_per_1pct": v.gamma_quote, "vega_usd_per_vol": v.vega,
                "theta_usd_per_day": v.theta / 365.0}
            for k, v in risk.summaries.items()
        },
        "quote_value_usd": risk.quote_value,
        "unvalued": list(risk.unvalued),
        "vol_sources": {
            k: {"vol_source": v.kind, "delta_flavour": v.policy.flavour, "model_vol": v.model_vol,
                "fallback_vol": v.fallback_vol if v.kind != "surface" else None,
                "surface_as_of": v.surface.as_of if v.surface is not None else None,
                "arbitrage_warnings": [x.message for x in v.surface.violations] if v.surface is not None else []}
            for k, v in risk.smiles.items()
        },
        "options": _option_records(risk),
        "decisions": [
            {
                "underlying": d.underlying, "trigger": d.trigger, "delta_before_units": d.delta_before_units,
                "target_units": d.target_units, "delta_after_units": d.delta_after_units,
                "band": {"kind": d.band_kind, "lower_units": d.band_lower_units, "upper_units": d.band_upper_units},
                "order": None if d.order is None else {
                    "side": d.order.side, "size_units": d.order.size_units, "notional_usd": d.order.notional_quote,
                    "venue": d.order.venue, "venue_id": d.order.venue_id, "reference_price_usd":
                    d.order.reference_price_quote, "limit_price_usd": d.order.limit_price_quote,
                    "est_cost_usd": {"fee": d.order.cost.fee_quote, "impact": d.order.cost.impact_quote,
                                     "funding": d.order.cost.funding_quote, "gas": d.order.cost.gas_quote,
                                     "total": d.order.cost.total_quote},
                },
                "remaining_units": d.remaining_units,
                "reasons": [r.text for r in d.reasons],
                "gates": [{"gate": g.gate, "passed": g.passed, "overridden": g.overridden, "reason": g.reason.text}
                          for g in d.gates],
            }
            for d in plan.decisions
        ],
    }


def _option_records(risk: BookRisk) -> list[dict[str, Any]]:
    """Each option position as valued: its vol, where the vol came from, and its delta (units of underlying)."""
    opts = [p for p in risk.positions if isinstance(p, OptionPosition)]
    out: list[dict[str, Any]] = []
    for o in opts:
        spot = risk.summaries[o.underlying].spot if o.underlying in risk.summaries else None
        src = risk.smiles.get(o.underlying)
        rec: dict[str, Any] = {
            "underlying": o.underlying, "quantity": o.quantity, "is_call": o.is_call, "strike_usd": o.strike,
            "expiry_years": o.expiry_years, "vol": o.vol, "vol_source": "model" if src is None else src.kind,
            "delta_adjustment_units": o.delta_adjustment, "delta_units": None}
        if spot is not None:
            bs = float(bs_greeks(spot, o.strike, o.expiry_years, o.vol, o.rate, o.carry, o.is_call).delta)
            rec["delta_units"] = o.quantity * (bs + o.delta_adjustment)
        out.append(rec)
    return out


def _table_text(table: Any, width: int = 150) -> str:
    """A rich table as plain text (no colour codes), for terminals and logs alike."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None, record=True)
    console.print(table)
    return console.export_text().rstrip()


def render_plan(rec: dict[str, Any]) -> str:
    """The plan for people: a greeks table per underlying, a decisions table, then each decision's reasons."""
    from rich.table import Table

    head = f"Greeks at block {rec['block']} ({_ts(rec['block_timestamp'])})"
    if not rec["complete"]:
        head += "  [SNAPSHOT INCOMPLETE: no trade]"
    greeks = Table(title=head, title_justify="left")
    for col in ("asset", "spot USD", "value USD", "delta (units)", "delta USD", "gamma USD per 1 %",
                "vega USD per vol", "theta USD/day"):
        greeks.add_column(col, justify="left" if col == "asset" else "right")
    for k, g in rec["greeks"].items():
        greeks.add_row(k, f"{g['spot_usd']:,.2f}", f"{g['value_usd']:,.0f}", f"{g['delta_units']:,.3f}",
                       f"{g['delta_usd']:,.0f}", f"{g['gamma_usd_per_1pct']:,.0f}", f"{g['vega_usd_per_vol']:,.0f}",
                       f"{g['theta_usd_per_day']:,.0f}")
    lines = [_table_text(greeks), f"quote holdings outside the assets: {rec['quote_value_usd']:,.2f} USD", "",
             "Decisions:"]
    decisions = Table()
    for col in ("asset", "delta (units)", "target", "band (units)", "hedge", "est. cost USD"):
        decisions.add_column(col, justify="right" if col in ("delta (units)", "target", "est. cost USD") else "left")
    for d in rec["decisions"]:
        b, o = d["band"], d["order"]
        band = f"[{b['lower_units']:,.3f}, {b['upper_units']:,.3f}] {b['kind']}"
        if o is None:
            hedge, cost = "no trade", "-"
        else:
            c = o["est_cost_usd"]
            hedge = (f"{o['side']} {o['size_units']:,.4f} {d['underlying']} on {o['venue']} "
                     f"(~{o['notional_usd']:,.0f} USD, limit {o['limit_price_usd']:,.2f})")
            cost = (f"{c['total']:,.2f} (fee {c['fee']:,.2f}, impact {c['impact']:,.2f}, "
                    f"funding {c['funding']:,.2f}, gas {c['gas']:,.2f})")
        decisions.add_row(d["underlying"], f"{d['delta_before_units']:,.3f}", f"{d['target_units']:,.3f}", band,
                          hedge, cost)
    lines.append(_table_text(decisions))
    for d in rec["decisions"]:
        lines.append(f"  {d['underlying']} reasons:")
        lines += [f"    - {r}" for r in d["reasons"]]
        for g in (g for g in d["gates"] if not g["passed"]):
            tag = "overridden" if g["overridden"] else "BLOCKS"
            lines.append(f"    ! gate {g['gate']} {tag}: {g['reason']}")
    if rec["failures"]:
        lines.append(f"Unreadable ({len(rec['failures'])}):")
        lines += [f"  {f['what']}: {f['reason']}" for f in rec["failures"]]
    return "\n".join(lines)
