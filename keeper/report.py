"""Human-readable renderings of what the keeper read and decided. Every figure carries its unit."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from keeper.core.snapshot import Snapshot

__all__ = ["render_snapshot", "tick_to_price"]


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
