"""From a snapshot and the book's greeks to the policy's inputs (pure).

Prices come from one snapshot block: the feed, the oracle pool's spot and its TWAP. Pool prices
are converted to quote per underlying in human units whatever the pool's token order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from keeper.core.book import BookRisk
from keeper.core.gates import OracleView
from keeper.core.hedge_types import Exposure, UnderlyingInput
from keeper.core.lp_math import tick_to_price
from keeper.core.more_venues import LoanVenue, MoreVenues, V4Venue
from keeper.core.sizing import HedgeHistory
from keeper.core.snapshot import AaveAccountState, PoolState, Snapshot
from keeper.core.venue_inputs import GasView, PerpVenue, SwapQuote, SwapVenue
from keeper.errors import InputError

__all__ = ["UnderlyingVenues", "gas_view", "more_venue_inputs", "pool_price", "tick_price", "underlying_inputs"]

NATIVE = "0x0000000000000000000000000000000000000000"



@dataclass(frozen=True)
class UnderlyingVenues:
    """Where one underlying is priced and hedged."""

    symbol: str
    token: str
    oracle_pool: str | None
    hedge_pools: tuple[str, ...]
    perp_market: str | None = None
    swap_gas_units: int = 260_000
    perp_gas_units: int = 320_000
    v4_pools: tuple[str, ...] = ()
    """Uniswap v4 pool ids (against the quote token) the keeper may swap in through the UniversalRouter."""
    aave_pool: str | None = None
    """An Aave v3 Pool where the keeper may borrow-and-sell / buy-and-repay this underlying's token."""
    v4_gas_units: int = 220_000
    borrow_gas_units: int = 300_000
    repay_gas_units: int = 250_000


def _dec(snap: Snapshot, token: str) -> int:
    for addr, meta in snap.tokens.items():
        if addr.lower() == token.lower():
            return meta.decimals
    raise InputError("tokens", f"no decimals for {token}")


def tick_price(tick: float, pool: PoolState, underlying: str, snap: Snapshot) -> float:
    """Quote per underlying (human units) at a pool tick."""
    p01 = tick_to_price(tick, _dec(snap, pool.token0), _dec(snap, pool.token1))  # token1 per token0, human
    return p01 if pool.token0.lower() == underlying.lower() else 1.0 / p01


def pool_price(pool: PoolState, underlying: str, snap: Snapshot) -> float:
    """Quote per underlying (human units) at the pool's sqrtPriceX96."""
    d0, d1 = _dec(snap, pool.token0), _dec(snap, pool.token1)
    p01 = (pool.sqrt_price_x96 / 2**96) ** 2 * 10.0 ** (d0 - d1)
    return p01 if pool.token0.lower() == underlying.lower() else 1.0 / p01


def gas_view(snap: Snapshot, tip_wei: int, native_price_quote: float) -> GasView:
    """Gas price from the block's base fee plus a tip, and the native token's price."""
    return GasView(gas_price_gwei=(snap.base_fee_wei + tip_wei) / 1e9, native_price_quote=native_price_quote)


def underlying_inputs(
    snap: Snapshot,
    risk: BookRisk,
    venues: Mapping[str, UnderlyingVenues],
    account: str,
    quote_token: str,
    history: Mapping[str, HedgeHistory],
) -> tuple[UnderlyingInput, ...]:
    """One :class:`UnderlyingInput` per configured underlying that the book has a summary for.

    ``account`` is the address whose balances fund swaps and whose perp position is hedged
    (the Safe in ``safe-module`` mode, the keeper's EOA in ``eoa`` mode).
    """
    out: list[UnderlyingInput] = []
    qdec = _dec(snap, quote_token)
    quote_bal = snap.balances.get((account, quote_token), 0) / 10**qdec
    for sym, v in venues.items():
        summary = risk.summaries.get(sym)
        feed = snap.feeds.get(sym)
        if summary is None or feed is None:
            continue
        exposure = Exposure(sym, summary.delta, summary.gamma, summary.value, summary.spot)
        pool_spot, twap = feed.price, None
        if v.oracle_pool is not None and v.oracle_pool in snap.pools:
            op = snap.pools[v.oracle_pool]
            pool_spot = pool_price(op, v.token, snap)
            tw = snap.twaps.get(v.oracle_pool)
            twap = tick_price(tw.mean_tick, op, v.token, snap) if tw is not None else None
        oracle = OracleView(feed.price, feed.updated_at, pool_spot, twap, snap.block_timestamp)
        udec = _dec(snap, v.token)
        under_bal = snap.balances.get((account, v.token), 0) / 10**udec
        swaps = []
        for addr in v.hedge_pools:
            pool = snap.pools.get(addr)
            if pool is None:
                continue
            price = pool_price(pool, v.token, snap)
            swaps.append(SwapVenue(
                venue_id=addr, fee_fraction=pool.fee / 1e6, gas_units=v.swap_gas_units,
                underlying_balance_units=under_bal, quote_balance_quote=quote_bal,
                liquidity=pool.liquidity / 10 ** ((udec + qdec) / 2), sqrt_price=math.sqrt(price),
            ))
        perps = []
        if v.perp_market is not None and v.perp_market in snap.perp_markets:
            m = snap.perp_markets[v.perp_market]
            pos = next((p for p in snap.perps if p.market == v.perp_market and p.account == account), None)
            pdec = _dec(snap, m.quote_token)
            price = m.oracle_price / 1e18
            if pos is not None:
                used = abs(pos.size) / 1e18 * price * m.initial_margin_bps / 1e4
                free = max(pos.remaining_margin / 10**pdec - used, 0.0)
                perps.append(PerpVenue(
                    venue_id=v.perp_market, taker_fee_fraction=m.taker_fee_bps / 1e4,
                    funding_rate_per_second=m.funding_rate_per_second / 1e18, free_margin_quote=free,
                    initial_margin_fraction=m.initial_margin_bps / 1e4, gas_units=v.perp_gas_units,
                    position_units=pos.size / 1e18, equity_quote=pos.remaining_margin / 10**pdec,
                ))
        if not swaps and not perps:
            continue
        out.append(UnderlyingInput(exposure, oracle, tuple(swaps), tuple(perps), history.get(sym, HedgeHistory())))
    return tuple(out)


def more_venue_inputs(  # noqa: C901, PLR0912
    snap: Snapshot,
    v: UnderlyingVenues,
    account: str,
    quote_token: str,
    *,
    native_reserve_units: float = 0.5,
    unsupported: str = "",
    module_legs: bool = False,
) -> MoreVenues:
    """The v4 pools and the Aave loan of one underlying, as :func:`keeper.core.more_venues.decide_more` takes them.

    A v4 pool's balance is the account's token balance, or for a native pool its native balance less
    ``native_reserve_units`` (kept for gas). Its quotes are the snapshot's V4Quoter answers (a sell
    of the underlying, a buy with the quote token). A pool or Aave market the snapshot lacks is left out.
    """
    qdec = _dec(snap, quote_token)
    v4: list[V4Venue] = []
    for pid in v.v4_pools:
        pool = snap.v4_pools.get(pid)
        if pool is None:
            continue
        c0, c1 = pool.key.currency0, pool.key.currency1
        if quote_token.lower() not in (c0.lower(), c1.lower()):
            continue
        u_is_0 = c1.lower() == quote_token.lower()
        u_cur = c0 if u_is_0 else c1
        native = u_cur.lower() == NATIVE
        if not native and u_cur.lower() != v.token.lower():
            continue
        udec = 18 if native else _dec(snap, u_cur)
        d0, d1 = (udec, qdec) if u_is_0 else (qdec, udec)
        p01 = (pool.sqrt_price_x96 / 2**96) ** 2 * 10.0 ** (d0 - d1)
        if not p01 > 0.0:
            continue
        price = p01 if u_is_0 else 1.0 / p01
        if native:
            bal = max(snap.native_balances.get(account, 0) / 1e18 - native_reserve_units, 0.0)
        else:
            bal = snap.balances.get((account, v.token), 0) / 10**udec
        quote_bal = snap.balances.get((account, quote_token), 0) / 10**qdec
        sell_q = buy_q = None
        for r in snap.v4_quotes:
            if r.pool_id != pid or r.amount_in <= 0 or r.amount_out <= 0:
                continue
            if r.zero_for_one == u_is_0:  # underlying in
                units = r.amount_in / 10**udec
                sell_q = SwapQuote("sell", units, (r.amount_out / 10**qdec) / units)
            else:
                units = r.amount_out / 10**udec
                buy_q = SwapQuote("buy", units, (r.amount_in / 10**qdec) / units)
        swap = SwapVenue(
            venue_id=pid, fee_fraction=pool.lp_fee / 1e6, gas_units=v.v4_gas_units, underlying_balance_units=bal,
            quote_balance_quote=quote_bal, liquidity=pool.liquidity / 10 ** ((udec + qdec) / 2),
            sqrt_price=math.sqrt(price), quote=sell_q,
        )
        v4.append(V4Venue(swap, native, buy_q))
    loans: list[LoanVenue] = []
    if v.aave_pool is not None:
        market = next((m for a, m in snap.aave_markets.items() if a.lower() == v.aave_pool.lower()), None)
        if market is not None and any(a.lower() == v.token.lower() for a in market.reserves):
            acct = next((a for a in snap.aave_accounts if a.pool.lower() == market.pool.lower()
                         and a.owner.lower() == account.lower()), None)
            if acct is None:
                acct = AaveAccountState(market.pool, account, 0, 0, {}, {}, {})
            loans.append(LoanVenue(f"{market.pool}:{v.token}", market, acct, v.token,
                                   float(v.borrow_gas_units), float(v.repay_gas_units)))
    return MoreVenues(tuple(v4), tuple(loans), unsupported, module_legs)
