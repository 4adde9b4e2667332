"""Human-readable renderings of what the keeper read and decided. Every figure carries its unit."""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from keeper.core.aave import HF_MAX, LoanBook
from keeper.core.book import (
    AaveLine,
    BalanceLine,
    BookRisk,
    LpLine,
    OptionLine,
    PerpLine,
    PoolBasis,
    V4LpLine,
    aave_accounts,
    line_risk,
)
from keeper.core.costs import VenueEstimate
from keeper.core.gates import check_pool_deviation
from keeper.core.hedge_types import HedgeOrder, Plan
from keeper.core.lp_math import tick_to_price
from keeper.core.options import bs_greeks
from keeper.core.portfolio import OptionPosition, ScenarioGrid, SpotHolding, scenario_grid
from keeper.core.snapshot import LpPosition, Snapshot
from keeper.core.tick_math import MAX_TICK, MIN_TICK

__all__ = ["plan_record", "pool_records", "position_records", "range_in_quote", "render_plan", "render_pools",
           "render_positions", "render_scenarios", "render_snapshot", "render_v4_summary", "scenario_records",
           "tick_to_price", "utc_time"]

_FULL_RANGE_TICKS = 887_000
"""Beyond this |tick| a bound is shown as 0 or unbounded (a full-range position: 1.0001^887000 ~ 1e38)."""


def range_in_quote(tick_lower: int, tick_upper: int, dec0: int, dec1: int, underlying_is_token0: bool
                   ) -> tuple[float, float]:
    """An LP's range as the risky token's price in quote units, ``(low, high)`` with ``low < high``.

    The pool's ticks price token0 in token1; when the risky token is token1 the prices are
    inverted (and the bounds swap). A bound at the edge of the tick range is ``0`` or ``inf``.
    """
    lo, hi = tick_to_price(tick_lower, dec0, dec1), tick_to_price(tick_upper, dec0, dec1)
    if tick_lower <= -_FULL_RANGE_TICKS or tick_lower <= MIN_TICK:
        lo = 0.0
    if tick_upper >= _FULL_RANGE_TICKS or tick_upper >= MAX_TICK:
        hi = math.inf
    if underlying_is_token0:
        return lo, hi
    return (1.0 / hi if hi != math.inf else 0.0), (1.0 / lo if lo > 0.0 else math.inf)


def _price(x: float) -> str:
    """A price for people: ``3,012.55``; ``0`` and ``unbounded`` at the edges; 4 significant digits below 1."""
    if x == 0.0:
        return "0"
    if math.isinf(x):
        return "unbounded"
    return f"{x:,.2f}" if x >= 1.0 else f"{x:.4g}"


def _decimal(raw: int, decimals: int, places: int = 6) -> str:
    """Raw integer units as a decimal string, rounded to ``places`` decimals (exact arithmetic)."""
    d = Decimal(raw).scaleb(-decimals)
    return f"{d.quantize(Decimal(1).scaleb(-places)):,}" if places < decimals else f"{d:,}"


def _short(addr: str) -> str:
    return addr if len(addr) < 14 else f"{addr[:6]}..{addr[-4:]}"


def utc_time(t: int) -> str:
    """A unix time as a person reads it: ``2026-12-05 14:53:01 UTC``."""
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _risky_is_token0(snap: Snapshot, lp: LpPosition, quote_token: str | None) -> bool:
    """Whether token0 is the risky token: the other one is the quote token; without one, the token
    whose price in the other is above 1 at the pool's tick (WETH in USDC, not USDC in WETH)."""
    if quote_token is not None:
        if lp.token1.lower() == quote_token.lower():
            return True
        if lp.token0.lower() == quote_token.lower():
            return False
    pool = snap.pools[lp.pool]
    return tick_to_price(pool.tick, snap.tokens[lp.token0].decimals, snap.tokens[lp.token1].decimals) >= 1.0


# Long on purpose: one section per part of the snapshot a person reads.
def render_snapshot(snap: Snapshot, quote_token: str | None = None) -> str:  # noqa: C901
    """The book as read, for people. LP ranges are the risky token's price in the other token."""
    tok = snap.tokens
    sym = {a: t.symbol for a, t in tok.items()}
    lines = [f"Book at block {snap.block_number} ({utc_time(snap.block_timestamp)}), "
             f"read in {snap.round_trips} round trips"]
    lines.append("  balances:")
    for (owner, token), raw in sorted(snap.balances.items()):
        meta = tok.get(token)
        if meta:
            lines.append(f"    {owner}  {raw / 10**meta.decimals:>22,.6f} {meta.symbol}")
    for owner, wei in sorted(snap.native_balances.items()):
        counted = f" (counted as {snap.native_asset})" if snap.native_asset else " (not counted as exposure)"
        lines.append(f"    {owner}  {wei / 10**18:>22,.6f} native{counted}")
    lines.append(f"  Uniswap v3 LP NFTs ({len(snap.lps)}):")
    lines.append(f"    {'id':>6}  {'pair':<11} {'fee':>6} {'range (price of the risky token)':>40} {'liquidity':>24}"
                 "  state")
    for lp in snap.lps:
        pool = snap.pools[lp.pool]
        d0, d1 = tok[lp.token0].decimals, tok[lp.token1].decimals
        is0 = _risky_is_token0(snap, lp, quote_token)
        lo, hi = range_in_quote(lp.tick_lower, lp.tick_upper, d0, d1, is0)
        risky, other = (lp.token0, lp.token1) if is0 else (lp.token1, lp.token0)
        state = "in range" if lp.tick_lower <= pool.tick < lp.tick_upper else "out of range"
        pair = f"{sym[risky]}/{sym[other]}"
        rng = f"{_price(lo)} .. {_price(hi)} {sym[other]}"
        lines.append(f"    {lp.token_id:>6}  {pair:<11} {lp.fee / 1e4:>5.2f}% {rng:>40}{lp.liquidity:>24}  {state}")
    lines += _v4_snapshot_lines(snap) + _aave_snapshot_lines(snap)
    lines.append(f"  options ({len(snap.options)}):")
    for o in snap.options:
        kind = "put " if o.is_put else "call"
        net = o.net_amount / 1e18
        side = "long " if net > 0 else "short"
        lines.append(
            f"    {side} {abs(net):>10,.4f} {o.underlying} {kind} strike {o.strike / 1e8:>12,.2f} USD "
            f"expiry {utc_time(o.expiry)}  [{o.source[:20]}.. #{o.series_id}]"
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


def _aave_snapshot_lines(snap: Snapshot) -> list[str]:
    """The owners' Aave v3 accounts: collateral, debt and health factor as Aave computes them, then each
    reserve's supply and debt in token units (empty without any)."""
    if not snap.aave_accounts:
        return []
    out = [f"  Aave v3 accounts ({len(snap.aave_accounts)}):"]
    for a in aave_accounts(snap):
        hf = "no debt" if a.health_factor == HF_MAX else f"{a.health_factor / 1e18:,.3f}"
        out.append(f"    {a.owner} in pool {a.pool[:10]}..: collateral {a.collateral_base / 1e8:,.2f} USD, "
                   f"debt {a.debt_base / 1e8:,.2f} USD, health factor {hf}")
        for asset in sorted(set(a.supplied) | set(a.variable_debt) | set(a.stable_debt)):
            sup, owed = a.supplied.get(asset, 0), a.debt(asset)
            if not sup and not owed:
                continue
            meta = snap.tokens.get(asset)
            sym, dec = (meta.symbol, meta.decimals) if meta else (asset, 18)
            out.append(f"      {sym:<6} supplied {sup / 10**dec:>18,.6f} {sym}, owed {owed / 10**dec:>18,.6f} {sym}")
    return out


def _v4_snapshot_lines(snap: Snapshot) -> list[str]:
    if not snap.v4_lps:
        return []
    lines = [f"  Uniswap v4 positions ({len(snap.v4_lps)}):"]
    for v in snap.v4_lps:
        pool = snap.v4_pools[v.pool_id]
        key = pool.key
        state = "in range" if v.tick_lower <= pool.tick < v.tick_upper else "out of range"
        hooked = "" if int(key.hooks, 16) == 0 else f", hooks {key.hooks}"
        lines.append(f"    {v.token_id:>6}  {_v4_symbol(snap, key.currency0)}/{_v4_symbol(snap, key.currency1)} "
                     f"{key.fee / 1e4:.2f}% ticks {v.tick_lower} .. {v.tick_upper} (pool tick {pool.tick}), "
                     f"liquidity {v.liquidity}  {state}{hooked}")
    return lines


def plan_record(snap: Snapshot, risk: BookRisk, plan: Plan, *, max_deviation_bps: Mapping[str, float] | None = None,
                pool_roles: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """The plan as a JSON-ready dict: block, greeks per underlying, pools against the feed, every
    position with its greeks (:func:`position_records`), decisions with reasons.

    ``max_deviation_bps`` (per underlying) and ``pool_roles`` (pool -> ``oracle`` / ``hedge``) come
    from the config; without them pools are listed with their basis but no verdict.
    """
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
        "scenarios": scenario_records(risk),
        "pools": pool_records(risk, max_deviation_bps, pool_roles),
        "positions": position_records(snap, risk),
        "decisions": [
            {
                "underlying": d.underlying, "trigger": d.trigger, "delta_before_units": d.delta_before_units,
                "target_units": d.target_units, "delta_after_units": d.delta_after_units,
                "band": {"kind": d.band_kind, "lower_units": d.band_lower_units, "upper_units": d.band_upper_units},
                "order": _order_record(d.order),
                "margin_order": _order_record(d.margin_order),
                "remaining_units": d.remaining_units,
                "venues": [_venue_record(v) for v in d.venues],
                "reasons": [r.text for r in d.reasons],
                "gates": [{"gate": g.gate, "passed": g.passed, "overridden": g.overridden, "reason": g.reason.text}
                          for g in d.gates],
            }
            for d in plan.decisions
        ],
    }


def pool_records(risk: BookRisk, max_deviation_bps: Mapping[str, float] | None = None,
                 pool_roles: Mapping[str, Sequence[str]] | None = None) -> list[dict[str, Any]]:
    """Each pool against its feed: price, basis and deviation (bps), roles, and the gate's verdict.

    ``blocked`` is ``True`` when the deviation exceeds the underlying's limit: the keeper will not
    hedge in that pool (``null`` when no limit was given).
    """
    out = []
    for b in risk.pools:
        roles = list((pool_roles or {}).get(b.pool, ())) + (["lp"] if b.lp_count else [])
        limit = (max_deviation_bps or {}).get(b.underlying)
        rec: dict[str, Any] = {
            "pool": b.pool, "underlying": b.underlying, "fee_pct": b.fee / 1e4, "pool_price_usd": b.pool_price,
            "feed_price_usd": b.feed_price, "basis_bps": b.basis_bps, "deviation_bps": b.deviation_bps,
            "roles": roles, "lp_count": b.lp_count, "max_deviation_bps": limit, "blocked": None, "reason": None}
        if limit is not None:
            gate = check_pool_deviation(b.pool, b.underlying, b.pool_price, b.feed_price, limit)
            rec["blocked"] = not gate.passed
            rec["reason"] = gate.reason.text
        out.append(rec)
    return out


def position_records(snap: Snapshot, risk: BookRisk) -> dict[str, list[dict[str, Any]]]:
    """Every line of the book with its greeks: ``{"lps", "v4_lps", "options", "perps", "balances"}``.

    Raw token amounts are strings of integers (JSON numbers lose digits past 2^53); ``delta`` is in
    units of the underlying and ``gamma`` in underlying units per USD, each line valued as in the
    book, so the lines' deltas of one underlying add up to ``greeks[underlying].delta_units``.
    ``delta`` and ``gamma`` are ``null`` when the line has no underlying or its feed is missing.
    """
    spots = {u: s.spot for u, s in risk.summaries.items()}
    bases = {b.pool: b for b in risk.pools}
    out: dict[str, list[dict[str, Any]]] = {
        "lps": [], "v4_lps": [], "options": [], "perps": [], "balances": [], "aave": []}
    for line in risk.lines:
        r = line_risk(line, spots)
        greeks = {"delta": None if r is None else r.delta, "gamma": None if r is None else r.gamma}
        if isinstance(line, LpLine):
            out["lps"].append({**_lp_record(snap, line, bases.get(line.lp.pool)), **greeks,
                               "value_usd": None if r is None else r.value})
        elif isinstance(line, V4LpLine):
            out["v4_lps"].append({**_v4_lp_record(snap, line), **greeks, "value_usd": None if r is None else r.value})
        elif isinstance(line, OptionLine):
            out["options"].append({**_option_line_record(line), **greeks,
                                   "vega_usd_per_vol": None if r is None else r.vega,
                                   "theta_usd_per_day": None if r is None else r.theta / 365.0,
                                   "value_usd": None if r is None else r.value})
        elif isinstance(line, PerpLine):
            out["perps"].append({**_perp_record(snap, line), **greeks,
                                 "value_usd": None if r is None else r.value})
        elif isinstance(line, BalanceLine):
            out["balances"].append({
                "owner": line.owner, "token": line.token, "symbol": line.symbol, "decimals": line.decimals,
                "raw": str(line.raw), "amount": line.amount, "underlying": line.underlying, "delta": greeks["delta"],
                "quote_usd": line.quote_value})
        elif isinstance(line, AaveLine):
            out["aave"].append({
                "pool": line.pool, "owner": line.owner, "asset": line.asset, "symbol": line.symbol,
                "decimals": line.decimals, "supplied_raw": str(line.supplied), "debt_raw": str(line.debt),
                "net": line.net, "underlying": line.underlying, "delta": greeks["delta"],
                "quote_usd": line.quote_value, "value_usd": None if r is None else r.value})
    return out


def _lp_record(snap: Snapshot, line: LpLine, basis: PoolBasis | None) -> dict[str, Any]:
    lp, h, pos = line.lp, line.holding, line.position
    t0, t1 = snap.tokens[lp.token0], snap.tokens[lp.token1]
    lo, hi = range_in_quote(lp.tick_lower, lp.tick_upper, t0.decimals, t1.decimals, line.underlying_is_token0)
    risky, quote = (t0, t1) if line.underlying_is_token0 else (t1, t0)
    ru, rq = (h.amount0, h.amount1) if line.underlying_is_token0 else (h.amount1, h.amount0)
    return {
        "token_id": lp.token_id, "owner": lp.owner, "pool": lp.pool, "underlying": line.underlying,
        "fee_pct": lp.fee / 1e4, "in_range": line.in_range, "tick_lower": lp.tick_lower, "tick_upper": lp.tick_upper,
        "pool_tick": line.pool_tick, "range_low_usd": lo if math.isfinite(lo) else None,
        "range_high_usd": hi if math.isfinite(hi) else None, "liquidity": str(lp.liquidity),
        "token0": lp.token0, "token1": lp.token1, "symbol0": t0.symbol, "symbol1": t1.symbol,
        "decimals0": t0.decimals, "decimals1": t1.decimals,
        "principal0_raw": str(h.principal0), "principal1_raw": str(h.principal1),
        "fees0_raw": str(h.fees0), "fees1_raw": str(h.fees1),
        "principal0": h.principal0 / 10**t0.decimals, "principal1": h.principal1 / 10**t1.decimals,
        "fees0": h.fees0 / 10**t0.decimals, "fees1": h.fees1 / 10**t1.decimals,
        "underlying_symbol": risky.symbol, "quote_symbol": quote.symbol,
        "underlying_amount": ru / 10**risky.decimals, "quote_amount": rq / 10**quote.decimals,
        "pool_price_usd": line.pool_price, "feed_price_usd": None if basis is None else basis.feed_price,
        "basis_bps": None if basis is None else basis.basis_bps, "basis": pos.basis,
    }


def _v4_symbol(snap: Snapshot, currency: str) -> str:
    if int(currency, 16) == 0:
        return f"{snap.v4_native_asset or 'native'} (native)"
    meta = snap.tokens.get(currency)
    return meta.symbol if meta is not None else currency


def _v4_lp_record(snap: Snapshot, line: V4LpLine) -> dict[str, Any]:
    lp, h, key = line.lp, line.holding, line.key
    d0, d1 = line.decimals0, line.decimals1
    lo, hi = range_in_quote(lp.tick_lower, lp.tick_upper, d0, d1, line.underlying_is_token0)
    s0, s1 = _v4_symbol(snap, key.currency0), _v4_symbol(snap, key.currency1)
    ru, rq = (h.amount0, h.amount1) if line.underlying_is_token0 else (h.amount1, h.amount0)
    du, dq = (d0, d1) if line.underlying_is_token0 else (d1, d0)
    return {
        "token_id": lp.token_id, "owner": lp.owner, "pool_id": lp.pool_id, "underlying": line.underlying,
        "currency0": key.currency0, "currency1": key.currency1, "fee_pct": key.fee / 1e4,
        "tick_spacing": key.tick_spacing, "hooks": key.hooks, "hook_risks": list(line.hook_risks),
        "in_range": line.in_range, "tick_lower": lp.tick_lower, "tick_upper": lp.tick_upper,
        "pool_tick": line.pool_tick, "range_low_usd": lo if math.isfinite(lo) else None,
        "range_high_usd": hi if math.isfinite(hi) else None, "liquidity": str(lp.liquidity),
        "symbol0": s0, "symbol1": s1, "decimals0": d0, "decimals1": d1,
        "principal0_raw": str(h.principal0), "principal1_raw": str(h.principal1),
        "fees0_raw": str(h.fees0), "fees1_raw": str(h.fees1),
        "underlying_amount": ru / 10**du, "quote_amount": rq / 10**dq,
        "pool_price_usd": line.pool_price, "basis": line.position.basis,
    }


def _option_line_record(line: OptionLine) -> dict[str, Any]:
    o = line.option
    opt = next((p for p in line.positions if isinstance(p, OptionPosition)), None)
    collateral = sum(p.amount for p in line.positions if isinstance(p, SpotHolding))
    return {
        "source": o.source, "series_id": o.series_id, "owner": o.owner, "underlying": o.underlying,
        "is_call": not o.is_put, "strike_usd": o.strike / 1e8, "expiry": o.expiry,
        "quantity": o.net_amount / 1e18, "long_raw": str(o.long_amount), "short_raw": str(o.short_amount),
        "expiry_years": None if opt is None else opt.expiry_years, "vol": None if opt is None else opt.vol,
        "collateral_units": collateral, "collateral_usd": line.quote_value,
    }


def _perp_record(snap: Snapshot, line: PerpLine) -> dict[str, Any]:
    p = line.perp
    return {"market": p.market, "owner": p.account, "underlying": p.underlying, "size_units": p.size / 1e18,
            "size_raw": str(p.size), "entry_price_usd": p.entry_price / 1e18, "margin_usd": line.quote_value}


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


# Long on purpose: one section per part of the plan a person reads.
def render_plan(rec: dict[str, Any]) -> str:  # noqa: C901, PLR0912
    """The plan for people: a greeks table per underlying, a decisions table, then each decision's reasons."""
    from rich.table import Table

    head = f"Greeks at block {rec['block']} ({utc_time(rec['block_timestamp'])})"
    if not rec["complete"]:
        head += "  [SNAPSHOT INCOMPLETE: no trade]"
    greeks = Table(title=head, title_justify="left")
    for col in ("asset", "spot USD", "value USD", "delta (units)", "delta USD", "gamma USD per 1 %",
                "vega USD per vol point", "theta USD/day"):
        greeks.add_column(col, justify="left" if col == "asset" else "right")
    for k, g in rec["greeks"].items():
        greeks.add_row(k, f"{g['spot_usd']:,.2f}", f"{g['value_usd']:,.0f}", f"{g['delta_units']:,.3f}",
                       f"{g['delta_usd']:,.0f}", f"{g['gamma_usd_per_1pct']:,.0f}",
                       f"{g['vega_usd_per_vol'] / 100:,.0f}", f"{g['theta_usd_per_day']:,.0f}")
    lines = [_table_text(greeks), f"quote holdings outside the assets: {rec['quote_value_usd']:,.2f} USD"]
    if rec.get("pools"):
        lines.append(render_pools(rec["pools"]))
    if rec.get("scenarios"):
        lines.append(render_scenarios(rec["scenarios"]))
    lines += ["", "Decisions:"]
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
        if d.get("venues"):
            lines.append(f"  {d['underlying']} venues (all-in cost of the order, cheapest available first):")
            lines += render_venues(d["venues"])
        lines.append(f"  {d['underlying']} reasons:")
        lines += [f"    - {r}" for r in d["reasons"]]
        for g in (g for g in d["gates"] if not g["passed"]):
            tag = "overridden" if g["overridden"] else "BLOCKS"
            lines.append(f"    ! gate {g['gate']} {tag}: {g['reason']}")
    if rec["failures"]:
        lines.append(f"Unreadable ({len(rec['failures'])}):")
        lines += [f"  {f['what']}: {f['reason']}" for f in rec["failures"]]
    return "\n".join(lines)


def scenario_records(risk: BookRisk) -> dict[str, dict[str, Any]]:
    """Per valued underlying: the book's full-revaluation P&L (USD) under relative spot x vol shocks
    (:func:`keeper.core.portfolio.scenario_grid`; each underlying shocked on its own, time fixed).
    ``pnl_usd[i][j]`` is the P&L at spot shock ``spot_shocks_pct[i]`` and vol shock ``vol_shocks_pct[j]``."""
    spots = {u: s.spot for u, s in risk.summaries.items()}
    grids = scenario_grid([p for p in risk.positions if p.underlying in spots], spots, loans=risk.loans)
    return {
        u: {"spot_usd": spots[u], "spot_shocks_pct": [100.0 * x for x in g.spot_shocks],
            "vol_shocks_pct": [100.0 * x for x in g.vol_shocks], "base_value_usd": g.base_value,
            "pnl_usd": [[float(v) for v in row] for row in g.pnl],
            "worst_pnl_usd": float(g.pnl.min()), "best_pnl_usd": float(g.pnl.max()),
            "aave": [_loan_record(loan, g) for loan in risk.loans if loan.label in g.health_factors]}
        for u, g in grids.items()
    }


def _loan_record(loan: LoanBook, grid: ScenarioGrid) -> dict[str, Any]:
    """An Aave account in one underlying's grid: its health factor per spot shock (``null``: no debt)
    and the underlying's liquidation price in USD (``null``: no price of it alone brings HF to 1)."""
    hf = grid.health_factors[loan.label][:, 0]
    return {"owner": loan.owner, "pool": loan.pool,
            "health_factor": None if math.isinf(loan.health_factor) else loan.health_factor,
            "health_factor_by_spot_shock": [None if math.isinf(x) else float(x) for x in hf],
            "liquidation_price_usd": grid.liquidation_prices[loan.label]}


def render_scenarios(scenarios: Mapping[str, Mapping[str, Any]]) -> str:
    """One table per underlying: P&L in USD, rows = spot moves, columns = relative vol moves."""
    from rich.table import Table

    out: list[str] = []
    for u, sc in scenarios.items():
        t = Table(title=f"{u}: book P&L in USD under spot x vol shocks (spot {sc['spot_usd']:,.2f} USD; worst "
                        f"{sc['worst_pnl_usd']:,.0f} USD)", title_justify="left")
        t.add_column(f"{u} spot move")
        for v in sc["vol_shocks_pct"]:
            t.add_column(f"vol {v:+.0f} %", justify="right")
        loans = sc.get("aave", [])
        for loan in loans:
            t.add_column(f"Aave HF {_short(loan['owner'])}", justify="right")
        for i, (sp, row) in enumerate(zip(sc["spot_shocks_pct"], sc["pnl_usd"], strict=True)):
            hfs = [_hf_text(loan["health_factor_by_spot_shock"][i]) for loan in loans]
            t.add_row(f"{sp:+.0f} % ({sc['spot_usd'] * (1 + sp / 100):,.0f} USD)", *(f"{x:,.0f}" for x in row), *hfs)
        out.append(_table_text(t))
        for loan in loans:
            liq = loan["liquidation_price_usd"]
            where = f"no liquidation price (no {u} price alone brings HF to 1)" if liq is None else \
                f"liquidation at {u} {liq:,.2f} USD ({100 * (liq / sc['spot_usd'] - 1):+.1f} % from spot)"
            out.append(f"  Aave account {loan['owner']}: health factor {_hf_text(loan['health_factor'])}; {where}")
    return "\n".join(out)


def _hf_text(hf: float | None) -> str:
    return "no debt" if hf is None else f"{hf:.3f}"


def render_pools(pools: list[dict[str, Any]]) -> str:
    """Every pool of the book against its feed: price, basis, roles; a pool over the limit says BLOCKED."""
    from rich.table import Table

    t = Table(title="Pools against the feed (basis = pool / feed - 1)", title_justify="left")
    for col in ("pool", "asset", "fee", "pool price USD", "feed USD", "basis bps", "deviation bps", "roles", "hedging"):
        t.add_column(col, justify="right" if col in ("fee", "pool price USD", "feed USD", "basis bps",
                                                     "deviation bps") else "left")
    for b in pools:
        if b["blocked"] is None:
            verdict = "no limit given"
        elif b["blocked"]:
            verdict = f"BLOCKED: over max {b['max_deviation_bps']:,.1f} bps"
        else:
            verdict = f"ok (max {b['max_deviation_bps']:,.1f} bps)"
        t.add_row(b["pool"], b["underlying"], f"{b['fee_pct']:.2f} %", f"{b['pool_price_usd']:,.2f}",
                  f"{b['feed_price_usd']:,.2f}", f"{round(b['basis_bps'], 1) + 0.0:+,.1f}",
                  f"{b['deviation_bps']:,.1f}",
                  ", ".join(b["roles"]) or "-", verdict)
    lines = [_table_text(t, 200)]
    lines += [f"  ! {b['reason']}" for b in pools if b["blocked"]]
    return "\n".join(lines)


def _num(x: float | None, fmt: str = ",.4f") -> str:
    return "-" if x is None else format(x, fmt)


def _cash_gamma(gamma: float | None, underlying: str, greeks: Mapping[str, Any]) -> str:
    """Gamma as USD of delta per 1 % move (``gamma * S^2 / 100``), the unit of the greeks table."""
    if gamma is None or underlying not in greeks:
        return "-"
    spot = greeks[underlying]["spot_usd"]
    return f"{gamma * spot * spot / 100.0:,.0f}"


# Long on purpose: one section per position kind.
def render_positions(rec: dict[str, Any]) -> str:  # noqa: C901
    """Every position of the book with its greeks (``keeper plan --positions``), then the totals.

    LP ranges and pool prices are the risky token's price in USD (low < high whatever the token
    order); amounts are exact decimals of the raw integers, which are listed in their own table.
    The last table adds each underlying's lines up to the book's delta.
    """
    from rich.table import Table

    pos, greeks = rec["positions"], rec["greeks"]
    out: list[str] = []
    lps = Table(title=f"LP positions ({len(pos['lps'])}) at block {rec['block']}", title_justify="left")
    for col in ("id", "owner", "pool", "fee", "range USD per unit", "liquidity", "principal", "uncollected fees",
                "pool price USD", "basis bps", "delta (units)", "gamma USD per 1 %", "state"):
        lps.add_column(col, justify="left" if col in ("owner", "pool", "range USD per unit", "principal",
                                                      "uncollected fees", "state") else "right")
    raw = Table(title="LP amounts in raw integer units (what decreaseLiquidity and collect pay)", title_justify="left")
    for col in ("id", "principal0", "principal1", "fees0", "fees1"):
        raw.add_column(col, justify="right")
    for lp in pos["lps"]:
        s0, s1, d0, d1 = lp["symbol0"], lp["symbol1"], lp["decimals0"], lp["decimals1"]
        low = _price(lp["range_low_usd"] if lp["range_low_usd"] is not None else 0.0)
        high = _price(lp["range_high_usd"] if lp["range_high_usd"] is not None else math.inf)
        principal = (f"{_decimal(int(lp['principal0_raw']), d0)} {s0}\n"
                     f"{_decimal(int(lp['principal1_raw']), d1)} {s1}")
        fees = f"{_decimal(int(lp['fees0_raw']), d0)} {s0}\n{_decimal(int(lp['fees1_raw']), d1)} {s1}"
        lps.add_row(str(lp["token_id"]), _short(lp["owner"]), _short(lp["pool"]), f"{lp['fee_pct']:.2f} %",
                    f"{low} .. {high}", f"{int(lp['liquidity']):,}", principal, fees,
                    f"{lp['pool_price_usd']:,.2f}",
                    _num(None if lp["basis_bps"] is None else round(lp["basis_bps"], 1) + 0.0, "+,.1f"),
                    f"{_num(lp['delta'])} {lp['underlying']}", _cash_gamma(lp["gamma"], lp["underlying"], greeks),
                    "in range" if lp["in_range"] else "out of range")
        raw.add_row(str(lp["token_id"]), f"{int(lp['principal0_raw']):,} {s0}", f"{int(lp['principal1_raw']):,} {s1}",
                    f"{int(lp['fees0_raw']):,} {s0}", f"{int(lp['fees1_raw']):,} {s1}")
    out += [_table_text(lps, 220), _table_text(raw, 220)]
    out += _v4_table(pos.get("v4_lps", []), greeks)

    opts = Table(title=f"Options ({len(pos['options'])})", title_justify="left")
    for col in ("series", "owner", "asset", "type", "strike USD", "expiry", "net quantity", "vol", "collateral",
                "delta (units)", "gamma USD per 1 %", "vega USD per vol", "theta USD/day"):
        opts.add_column(col, justify="left" if col in ("series", "owner", "asset", "type", "expiry") else "right")
    for o in pos["options"]:
        coll = (f"{o['collateral_units']:,.4f} {o['underlying']}" if o["collateral_units"]
                else f"{o['collateral_usd']:,.2f} USD" if o["collateral_usd"] else "-")
        kind, _, where = o["source"].partition(":")
        opts.add_row(f"{kind} {_short(where)} #{o['series_id']}", _short(o["owner"]), o["underlying"],
                     "call" if o["is_call"] else "put", f"{o['strike_usd']:,.2f}", utc_time(o["expiry"]),
                     f"{o['quantity']:+,.4f}", "-" if o["vol"] is None else f"{o['vol'] * 100:.1f} %",
                     coll, _num(o["delta"]), _cash_gamma(o["gamma"], o["underlying"], greeks),
                     _num(o["vega_usd_per_vol"], ",.0f"), _num(o["theta_usd_per_day"], ",.0f"))
    out.append(_table_text(opts, 220))

    perps = Table(title=f"Perps ({len(pos['perps'])})", title_justify="left")
    for col in ("market", "owner", "asset", "size (units)", "entry USD", "margin USD", "delta (units)",
                "unrealized P&L USD"):
        perps.add_column(col, justify="left" if col in ("market", "owner", "asset") else "right")
    for p in pos["perps"]:
        perps.add_row(_short(p["market"]), _short(p["owner"]), p["underlying"], f"{p['size_units']:+,.4f}",
                      f"{p['entry_price_usd']:,.2f}", f"{p['margin_usd']:,.2f}", _num(p["delta"]),
                      _num(p["value_usd"], ",.2f"))
    out.append(_table_text(perps, 220))

    bal = Table(title=f"Wallet balances ({len(pos['balances'])})", title_justify="left")
    for col in ("owner", "token", "raw units", "amount", "counts as", "delta (units)"):
        bal.add_column(col, justify="left" if col in ("owner", "token", "counts as") else "right")
    for b in pos["balances"]:
        token = "native coin" if b["token"] == "native" else f"{b['symbol']} {_short(b['token'])}"
        counts = b["underlying"] or ("USD (quote)" if b["quote_usd"] else "not counted")
        bal.add_row(b["owner"], token, f"{int(b['raw']):,}", f"{_decimal(int(b['raw']), b['decimals'])} {b['symbol']}",
                    counts, _num(b["delta"]))
    out.append(_table_text(bal, 220))

    if pos.get("aave"):
        out.append(_aave_table(pos["aave"]))

    tot = Table(title="Delta by underlying: the lines above add up to the book (units of the underlying)",
                title_justify="left")
    kinds = ("lps", "v4_lps", "options", "perps", "balances", "aave")
    for col in ("asset", "LPs", "v4 LPs", "options", "perps", "balances", "Aave", "sum of lines", "book delta"):
        tot.add_column(col, justify="left" if col == "asset" else "right")
    for u, g in greeks.items():
        parts = [sum(x["delta"] for x in pos.get(k, []) if x["underlying"] == u and x["delta"] is not None)
                 for k in kinds]
        tot.add_row(u, *(f"{x:,.6f}" for x in parts), f"{sum(parts):,.6f}", f"{g['delta_units']:,.6f}")
    out.append(_table_text(tot, 220))
    return "\n".join(out)


def _venue_record(v: VenueEstimate) -> dict[str, Any]:
    """One venue's estimate for the decision's order: all-in cost in USD by part (``funding_usd`` is a
    perp's funding or an Aave loan's borrow interest over its horizon; negative = earned / saved)."""
    return {"venue": v.venue, "venue_id": v.venue_id, "label": v.label, "available": v.available,
            "side": v.side, "size_units": v.size_units, "notional_usd": v.notional_quote,
            "total_usd": v.cost.total_quote, "fee_usd": v.cost.fee_quote, "impact_usd": v.cost.impact_quote,
            "funding_usd": v.cost.funding_quote, "gas_usd": v.cost.gas_quote, "impact_source": v.impact_source,
            "reason": v.reason.text}


def render_venues(venues: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each venue's all-in cost in USD (cheapest available first), one line each, for the text plan."""
    rows = sorted(venues, key=lambda v: (not v["available"], v["total_usd"]))
    out = []
    for v in rows:
        head = "ok " if v["available"] else "n/a"
        interest = "interest" if v["venue"] == "aave" else "funding"
        out.append(f"    {head} {v['label']}: all-in {v['total_usd']:,.2f} USD for {v['size_units']:,.4f} units (fee "
                   f"{v['fee_usd']:,.2f} USD, impact {v['impact_usd']:,.2f} USD, {interest} {v['funding_usd']:,.2f}"
                   f" USD, gas {v['gas_usd']:,.2f} USD)")
    return out


def render_v4_summary(v4lps: list[dict[str, Any]]) -> list[str]:
    """``keeper status``: the v4 positions in one line each, a hooked pool called out (empty without any)."""
    if not v4lps:
        return []
    inside = sum(1 for x in v4lps if x["in_range"])
    out = [f"Uniswap v4 positions: {len(v4lps)} ({inside} in range)"]
    for x in v4lps:
        hooked = f"; HOOKED: {'; '.join(x['hook_risks'])}" if x["hook_risks"] else ""
        out.append(f"  #{x['token_id']} {x['symbol0']}/{x['symbol1']} {x['fee_pct']:.2f} %: "
                   f"{'in range' if x['in_range'] else 'out of range'}, delta {_num(x['delta'])} {x['underlying']}"
                   f"{hooked}")
    return out


def _v4_table(v4lps: list[dict[str, Any]], greeks: dict[str, Any]) -> list[str]:
    """The v4 positions table of ``render_positions`` (nothing when there are none)."""
    from rich.table import Table

    if not v4lps:
        return []
    v4t = Table(title=f"Uniswap v4 LP positions ({len(v4lps)}): amounts are what DECREASE_LIQUIDITY + TAKE_PAIR "
                      "pay, raw integer units", title_justify="left")
    for col in ("id", "owner", "pool", "fee", "range USD per unit", "liquidity", "principal (raw)",
                "uncollected fees (raw)", "pool price USD", "delta (units)", "gamma USD per 1 %", "state",
                "hooks"):
        v4t.add_column(col, justify="left" if col in ("owner", "pool", "range USD per unit", "principal (raw)",
                                                      "uncollected fees (raw)", "state", "hooks") else "right")
    for lp in v4lps:
        s0, s1 = lp["symbol0"], lp["symbol1"]
        low = _price(lp["range_low_usd"] if lp["range_low_usd"] is not None else 0.0)
        high = _price(lp["range_high_usd"] if lp["range_high_usd"] is not None else math.inf)
        hooks = "none" if int(lp["hooks"], 16) == 0 else (
            f"{_short(lp['hooks'])}: " + ("; ".join(lp["hook_risks"]) if lp["hook_risks"]
                                         else "cannot change what positions pay"))
        v4t.add_row(str(lp["token_id"]), _short(lp["owner"]), f"{s0}/{s1} {_short(lp['pool_id'])}",
                    f"{lp['fee_pct']:.2f} %", f"{low} .. {high}", f"{int(lp['liquidity']):,}",
                    f"{int(lp['principal0_raw']):,} {s0}\n{int(lp['principal1_raw']):,} {s1}",
                    f"{int(lp['fees0_raw']):,} {s0}\n{int(lp['fees1_raw']):,} {s1}",
                    f"{lp['pool_price_usd']:,.2f}", f"{_num(lp['delta'])} {lp['underlying']}",
                    _cash_gamma(lp["gamma"], lp["underlying"], greeks),
                    ("in range" if lp["in_range"] else "out of range") + (" HOOKED" if lp["hook_risks"] else ""),
                    hooks)
    return [_table_text(v4t, 220)]


def _aave_table(aave: list[dict[str, Any]]) -> str:
    from rich.table import Table

    at = Table(title=f"Aave v3 holdings ({len(aave)}): supplied (aToken) minus owed (debt tokens)",
               title_justify="left")
    for col in ("pool", "owner", "asset", "supplied", "owed", "net", "counts as", "delta (units)"):
        at.add_column(col, justify="left" if col in ("pool", "owner", "asset", "counts as") else "right")
    for a in aave:
        sym, dec = a["symbol"], a["decimals"]
        at.add_row(_short(a["pool"]), a["owner"], sym, f"{_decimal(int(a['supplied_raw']), dec)} {sym}",
                   f"{_decimal(int(a['debt_raw']), dec)} {sym}", f"{a['net']:+,.6f} {sym}",
                   a["underlying"] or "USD (quote)", _num(a["delta"]))
    return _table_text(at, 220)


def _order_record(o: HedgeOrder | None) -> dict[str, Any] | None:
    if o is None:
        return None
    return {
        "side": o.side, "size_units": o.size_units, "notional_usd": o.notional_quote, "venue": o.venue,
        "venue_id": o.venue_id, "reference_price_usd": o.reference_price_quote, "limit_price_usd": o.limit_price_quote,
        "est_cost_usd": {"fee": o.cost.fee_quote, "impact": o.cost.impact_quote, "funding": o.cost.funding_quote,
                         "gas": o.cost.gas_quote, "total": o.cost.total_quote},
        **({"leg": _order_record(o.leg)} if o.leg is not None else {}),
    }
