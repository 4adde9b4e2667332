"""From a block-pinned :class:`Snapshot` to portfolio positions and greeks per underlying.

Pure: the snapshot, the asset map, spots and vols in; positions and risk summaries out.

What counts as the book's exposure:

* token balances of the owners in an asset token: spot holdings;
* LP NFTs: their exact amounts and uncollected fees (integer v3 math, as the chain pays them),
  valued and differentiated with :func:`keeper.core.lp_math.lp_greeks`;
* options, long and short, on-chain or OTC; a written option's locked collateral is still the
  writer's (minus the payoff), so a short call's underlying collateral counts as a spot holding
  and a short put's quote collateral as quote value;
* perps: size and entry; margin is quote value.

Options take their vol from ``vols`` (one model vol per underlying) unless ``smiles`` gives the
underlying an :class:`~keeper.core.smile_delta.OptionVols`: then each option takes the surface's vol
at its own strike and expiry (or the stale/unavailable fallback), and its delta the configured
flavour's adjustment (``OptionPosition.delta_adjustment``).

Anything the book cannot value (an LP on a pair without the quote token, an asset with no spot
or vol) raises :class:`~keeper.errors.InputError` naming it: exposure is never silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

import numpy as np

from keeper.core.lp_math import npm_collect_amounts
from keeper.core.portfolio import (
    LPPosition,
    OptionPosition,
    PerpPosition,
    Position,
    RiskSummary,
    SpotHolding,
    aggregate,
)
from keeper.core.smile_delta import OptionVols
from keeper.core.snapshot import LpPosition, Snapshot
from keeper.errors import InputError

__all__ = ["BookRisk", "book_positions", "book_risk", "lp_fees"]

SECONDS_PER_YEAR = 365.0 * 24 * 3600


@dataclass(frozen=True)
class BookRisk:
    positions: tuple[Position, ...]
    summaries: dict[str, RiskSummary]
    quote_value: float
    """Quote-currency holdings outside the per-underlying values (balances, perp margin, put collateral)."""
    unvalued: tuple[str, ...] = ()
    """Underlyings with positions but no spot price (their feed could not be read): not in ``summaries``."""
    smiles: Mapping[str, OptionVols] = field(default_factory=dict)
    """The vol source and delta flavour of each underlying valued with one (see ``book_positions``)."""


def lp_fees(snap: Snapshot, lp: LpPosition) -> tuple[int, int]:
    """Uncollected fees of ``lp`` in raw token units, exactly as ``collect`` would pay them."""
    pool = snap.pools[lp.pool]
    lo, hi = pool.ticks[lp.tick_lower], pool.ticks[lp.tick_upper]
    return npm_collect_amounts(
        lp.liquidity, pool.tick, lp.tick_lower, lp.tick_upper, pool.fee_growth_global0_x128,
        pool.fee_growth_global1_x128, lo.fee_growth_outside0_x128, lo.fee_growth_outside1_x128,
        hi.fee_growth_outside0_x128, hi.fee_growth_outside1_x128, lp.fee_growth_inside0_last_x128,
        lp.fee_growth_inside1_last_x128, lp.tokens_owed0, lp.tokens_owed1,
    )


def book_positions(
    snap: Snapshot,
    asset_tokens: Mapping[str, str],
    quote_token: str,
    vols: Mapping[str, float],
    *,
    rate: float = 0.0,
    spots: Mapping[str, float] | None = None,
    smiles: Mapping[str, OptionVols] | None = None,
) -> tuple[tuple[Position, ...], float]:
    """Positions of the whole book, and the quote-currency value held outside them.

    Parameters
    ----------
    asset_tokens : symbol -> token address (``{"ETH": WETH, "BTC": WBTC}``).
    quote_token : address of the quote token (USDC); its balances count as quote value.
    vols : symbol -> annualized volatility for option valuation.
    rate : continuously compounded rate per year.
    spots : symbol -> spot (quote per unit); needed to look options up on a surface.
    smiles : symbol -> per-option vol source and delta flavour; an underlying listed here with a
        spot in ``spots`` ignores ``vols`` (its model vol is inside the source).
    """
    by_token = {addr.lower(): sym for sym, addr in asset_tokens.items()}
    quote = quote_token.lower()
    qdec = _decimals(snap, quote_token)
    positions: list[Position] = []
    quote_value = 0.0
    for (_owner, token), raw in snap.balances.items():
        sym = by_token.get(token.lower())
        if sym is not None:
            positions.append(SpotHolding(sym, raw / 10 ** _decimals(snap, token)))
        elif token.lower() == quote:
            quote_value += raw / 10**qdec
    for lp in snap.lps:
        t0, t1 = lp.token0.lower(), lp.token1.lower()
        if t0 in by_token and t1 == quote:
            sym, under_is_0 = by_token[t0], True
        elif t1 in by_token and t0 == quote:
            sym, under_is_0 = by_token[t1], False
        else:
            raise InputError(f"LP {lp.token_id}", "pair is not <configured asset>/<quote token>; cannot value it")
        d0, d1 = _decimals(snap, lp.token0), _decimals(snap, lp.token1)
        f0, f1 = lp_fees(snap, lp)
        fee_u, fee_q = (f0 / 10**d0, f1 / 10**d1) if under_is_0 else (f1 / 10**d1, f0 / 10**d0)
        positions.append(LPPosition(sym, float(lp.liquidity), lp.tick_lower, lp.tick_upper, under_is_0, d0, d1,
                                    fees_underlying=fee_u, fees_quote=fee_q))
    smiles = smiles or {}
    spots = spots or {}
    for o in snap.options:
        on_smile = o.underlying in smiles and o.underlying in spots
        if not on_smile and o.underlying not in vols:
            raise InputError("vols", f"no volatility for {o.underlying} (option series {o.series_id})")
        years = (o.expiry - snap.block_timestamp) / SECONDS_PER_YEAR
        qty = o.net_amount / 1e18
        strike = o.strike / 1e8
        if qty != 0:
            vol = 0.0 if on_smile else vols[o.underlying]
            positions.append(OptionPosition(o.underlying, qty, strike, years, not o.is_put, vol, rate))
        if o.short_amount and o.source.startswith("onchain:"):
            # Locked collateral stays the writer's claim: underlying for calls, quote for puts.
            if o.is_put:
                quote_value += o.short_amount / 1e18 * strike
            else:
                positions.append(SpotHolding(o.underlying, o.short_amount / 1e18))
    _on_smiles(positions, smiles, spots)
    for p in snap.perps:
        market = snap.perp_markets.get(p.market)
        pdec = _decimals(snap, market.quote_token) if market is not None else qdec
        quote_value += p.margin / 10**pdec
        if p.size != 0:
            positions.append(PerpPosition(p.underlying, p.size / 1e18, p.entry_price / 1e18))
    return tuple(positions), quote_value


def book_risk(
    snap: Snapshot,
    asset_tokens: Mapping[str, str],
    quote_token: str,
    spots: Mapping[str, float],
    vols: Mapping[str, float],
    *,
    rate: float = 0.0,
    smiles: Mapping[str, OptionVols] | None = None,
) -> BookRisk:
    """Greeks per underlying of the whole book at ``spots`` (quote per unit).

    An underlying without a spot (its feed was unreadable, so the snapshot is incomplete) is listed
    in ``unvalued`` instead of being valued at a made-up price. ``smiles``: as :func:`book_positions`.
    """
    positions, quote_value = book_positions(snap, asset_tokens, quote_token, vols, rate=rate, spots=spots,
                                            smiles=smiles)
    unvalued = tuple(sorted({p.underlying for p in positions if p.underlying not in spots}))
    priced = [p for p in positions if p.underlying in spots]
    return BookRisk(positions=positions, summaries=aggregate(priced, spots), quote_value=quote_value,
                    unvalued=unvalued, smiles=dict(smiles or {}))


def _on_smiles(positions: list[Position], smiles: Mapping[str, OptionVols], spots: Mapping[str, float]) -> None:
    """Give options on a smile their vol and delta adjustment, in place (vectorized per underlying)."""
    for sym, src in smiles.items():
        idx = [i for i, p in enumerate(positions) if isinstance(p, OptionPosition) and p.underlying == sym]
        if not idx or sym not in spots:
            continue
        group = [positions[i] for i in idx]
        assert all(isinstance(o, OptionPosition) for o in group)
        opts = [o for o in group if isinstance(o, OptionPosition)]
        vol, d = src.deltas(float(spots[sym]), np.array([o.strike for o in opts]),
                            np.array([o.expiry_years for o in opts]), np.array([o.is_call for o in opts]),
                            rate=np.array([o.rate for o in opts]))
        for i, o, v, a in zip(idx, opts, vol, d.adjustment, strict=True):
            positions[i] = replace(o, vol=float(v), delta_adjustment=float(a))


def _decimals(snap: Snapshot, token: str) -> int:
    for addr, meta in snap.tokens.items():
        if addr.lower() == token.lower():
            return meta.decimals
    raise InputError("tokens", f"no decimals read for token {token}")
