"""From a block-pinned :class:`Snapshot` to portfolio positions and greeks per underlying.

Pure: the snapshot, the asset map, spots and vols in; positions and risk summaries out.

What counts as the book's exposure:

* token balances of the owners in an asset token: spot holdings; the owners' native balances
  (wei, read with Multicall3's ``getEthBalance``) count as the asset named by
  ``Snapshot.native_asset`` (ETH when its token is WETH), or nothing when it is ``None``;
* LP NFTs: :func:`lp_holdings`, the exact integers the position would pay now (principal as a
  full ``decreaseLiquidity`` at its **own pool's** ``sqrtPriceX96`` and tick, fees as ``collect``),
  marked at the feed; delta and gamma are taken around the pool's own price with the pool moving
  with the feed (see :class:`~keeper.core.portfolio.LPPosition`);
* options, long and short, on-chain or OTC; a written option's locked collateral is still the
  writer's (minus the payoff), so a short call's underlying collateral counts as a spot holding
  and a short put's quote collateral as quote value;
* perps: size and entry; margin is quote value.

* Aave v3 accounts: per owner and reserve, the aToken balance minus the debt (variable and stable),
  exactly as the tokens' ``balanceOf`` would answer (:func:`keeper.core.aave.account_data`): aWETH is
  ETH delta, WETH debt is negative ETH delta, a USDC supply or debt is quote value;
Each item of the book is one :data:`BookLine` (an LP, an option series, a perp position, a
balance) holding the portfolio positions it contributes; per-underlying totals are the sums of
the lines' greeks (:func:`line_risk`).

Every pool the book holds or may hedge in is compared with the feed (:func:`pool_bases`): its
basis ``pool price / feed price`` is reported, and the policy refuses to hedge in a pool whose
deviation exceeds the configured limit (:func:`keeper.core.gates.check_pool_deviation`).

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

from keeper.core.aave import AaveAccount, LoanBook, account_data, decode_reserve_config, loan_book
from keeper.core.gates import deviation_bps
from keeper.core.lp_math import fee_growth_inside, npm_collect_amounts, position_amounts, v4_fees_owed
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
from keeper.core.snapshot import LpPosition, PoolState, Snapshot, V4LpPosition, V4PoolKey, V4PoolState
from keeper.core.snapshot import OptionPosition as OptionHolding
from keeper.core.snapshot import PerpPosition as PerpHolding
from keeper.errors import InputError

__all__ = [
    "NATIVE",
    "NATIVE_DECIMALS",
    "V4_NATIVE",
    "AaveLine",
    "BalanceLine",
    "BookLine",
    "BookRisk",
    "LpHolding",
    "LpLine",
    "OptionLine",
    "PerpLine",
    "PoolBasis",
    "V4LpLine",
    "aave_accounts",
    "book_lines",
    "book_positions",
    "book_risk",
    "line_risk",
    "loan_books",
    "lp_fees",
    "lp_holdings",
    "pool_bases",
    "pool_price_quote",
    "v4_hook_risks",
    "v4_lp_fees",
    "v4_lp_holdings",
]

SECONDS_PER_YEAR = 365.0 * 24 * 3600
NATIVE = "native"
"""The token name of the chain's native coin in balances (it has no address)."""
NATIVE_DECIMALS = 18
"""Decimals of the native coin (wei per ETH = 10**18)."""


# --------------------------------------------------------------------------- exact LP holdings


@dataclass(frozen=True)
class LpHolding:
    """What an LP position would pay now, raw integer token units.

    Attributes
    ----------
    principal0, principal1 : what the position manager's ``decreaseLiquidity`` for the full
        liquidity returns (a burn: rounded down, branch by the pool's current tick).
    fees0, fees1 : what ``collect`` with maximal amounts returns (uncollected fees and tokens owed).
    """

    principal0: int
    principal1: int
    fees0: int
    fees1: int

    @property
    def amount0(self) -> int:
        """Token0 paid by a full burn and collect, raw units."""
        return self.principal0 + self.fees0

    @property
    def amount1(self) -> int:
        """Token1 paid by a full burn and collect, raw units."""
        return self.principal1 + self.fees1


def _pool(snap: Snapshot, lp: LpPosition) -> PoolState:
    pool = snap.pools.get(lp.pool)
    if pool is None:
        raise InputError(f"LP {lp.token_id}", f"its pool {lp.pool} is not in the snapshot")
    for t in (lp.tick_lower, lp.tick_upper):
        if t not in pool.ticks:
            raise InputError(f"LP {lp.token_id}", f"tick {t} of pool {lp.pool} is not in the snapshot")
    return pool


def lp_fees(snap: Snapshot, lp: LpPosition) -> tuple[int, int]:
    """Uncollected fees of ``lp`` in raw token units, exactly as ``collect`` would pay them."""
    pool = _pool(snap, lp)
    lo, hi = pool.ticks[lp.tick_lower], pool.ticks[lp.tick_upper]
    return npm_collect_amounts(
        lp.liquidity, pool.tick, lp.tick_lower, lp.tick_upper, pool.fee_growth_global0_x128,
        pool.fee_growth_global1_x128, lo.fee_growth_outside0_x128, lo.fee_growth_outside1_x128,
        hi.fee_growth_outside0_x128, hi.fee_growth_outside1_x128, lp.fee_growth_inside0_last_x128,
        lp.fee_growth_inside1_last_x128, lp.tokens_owed0, lp.tokens_owed1,
    )


def lp_holdings(snap: Snapshot, lp: LpPosition) -> LpHolding:
    """The exact integers ``lp`` would pay at the snapshot block, at its own pool's price.

    Principal: :func:`keeper.core.lp_math.position_amounts` at the pool's ``slot0`` (``sqrtPriceX96``
    and tick), i.e. ``UniswapV3Pool.burn`` of the full liquidity (amounts rounded **down**, the
    branch chosen by the current tick), equal to a static ``decreaseLiquidity`` of the position
    manager; zero for a position with no liquidity. Fees: :func:`lp_fees` (a static ``collect``).

    Raises
    ------
    InputError
        The LP's pool or boundary ticks are missing from the snapshot.
    """
    pool = _pool(snap, lp)
    p0, p1 = position_amounts(pool.sqrt_price_x96, pool.tick, lp.tick_lower, lp.tick_upper, lp.liquidity)
    f0, f1 = lp_fees(snap, lp)
    return LpHolding(p0, p1, f0, f1)


# --------------------------------------------------------------------------- Uniswap v4 holdings

V4_NATIVE = "0x0000000000000000000000000000000000000000"
"""A v4 pool key's currency for the native coin."""

# v4-core ``Hooks`` flags (the low 14 bits of the hook address) with which a hook can change what an LP
# position is paid, and how.
_V4_PAYOUT_HOOKS: tuple[tuple[int, str], ...] = (
    (1 << 9, "beforeRemoveLiquidity: the hook runs before every withdrawal (it can block it or move the price)"),
    (1 << 8, "afterRemoveLiquidity: the hook runs after every withdrawal (it can block it)"),
    (1 << 0, "afterRemoveLiquidityReturnsDelta: the hook can take part of what a withdrawal pays"),
    (1 << 3, "beforeSwapReturnsDelta: the hook can fill swaps itself, so the pool's LPs earn no fee on them"),
)
_V4_DYNAMIC_FEE = 0x800000


def v4_hook_risks(key: V4PoolKey) -> tuple[str, ...]:
    """Why a v4 pool's hook can change what its positions pay (empty: no hook, or none that can).

    From the permission bits of the hook address and the key's dynamic-fee flag; the hook's code is
    not read, so a listed permission is a capability, not a finding of misuse.
    """
    bits = int(key.hooks, 16) & ((1 << 14) - 1)
    out = [text for flag, text in _V4_PAYOUT_HOOKS if bits & flag]
    if key.fee == _V4_DYNAMIC_FEE:
        out.append("dynamic fee: the hook sets the LP fee of every swap")
    return tuple(out)


def _v4_pool(snap: Snapshot, lp: V4LpPosition) -> V4PoolState:
    pool = snap.v4_pools.get(lp.pool_id)
    if pool is None:
        raise InputError(f"v4 LP {lp.token_id}", f"its pool {lp.pool_id} is not in the snapshot")
    for t in (lp.tick_lower, lp.tick_upper):
        if t not in pool.ticks:
            raise InputError(f"v4 LP {lp.token_id}", f"tick {t} of pool {lp.pool_id} is not in the snapshot")
    return pool


def v4_lp_fees(snap: Snapshot, lp: V4LpPosition) -> tuple[int, int]:
    """Uncollected fees of a v4 position, raw units: ``(feeGrowthInside - last) * L >> 128`` mod 2^256,
    with fee growth inside from the pool's globals and boundary ticks at its current tick (v4-core's
    ``Pool.getFeeGrowthInside``, the same branches as v3)."""
    pool = _v4_pool(snap, lp)
    lo, hi = pool.ticks[lp.tick_lower], pool.ticks[lp.tick_upper]
    in0, in1 = fee_growth_inside(
        pool.tick, lp.tick_lower, lp.tick_upper, pool.fee_growth_global0_x128, pool.fee_growth_global1_x128,
        lo.fee_growth_outside0_x128, lo.fee_growth_outside1_x128, hi.fee_growth_outside0_x128,
        hi.fee_growth_outside1_x128,
    )
    return v4_fees_owed(lp.liquidity, in0, in1, lp.fee_growth_inside0_last_x128, lp.fee_growth_inside1_last_x128)


def v4_lp_holdings(snap: Snapshot, lp: V4LpPosition) -> LpHolding:
    """What a full ``DECREASE_LIQUIDITY`` + ``TAKE_PAIR`` of a v4 position pays at the snapshot block.

    Principal: ``Pool.modifyLiquidity`` with ``-liquidity`` (rounded down, branch by ``slot0.tick``),
    the same integers as a v3 burn (:func:`keeper.core.lp_math.position_amounts`); fees:
    :func:`v4_lp_fees`. A hook with remove-liquidity permissions can change this
    (:func:`v4_hook_risks`): the figure is what the pool itself pays.
    """
    pool = _v4_pool(snap, lp)
    p0, p1 = position_amounts(pool.sqrt_price_x96, pool.tick, lp.tick_lower, lp.tick_upper, lp.liquidity)
    f0, f1 = v4_lp_fees(snap, lp)
    return LpHolding(p0, p1, f0, f1)


# --------------------------------------------------------------------------- pool prices and bases


def pool_price_quote(snap: Snapshot, pool: PoolState, underlying_token: str) -> float:
    """Price of ``underlying_token`` in the pool's other token, human units, at ``sqrtPriceX96``.

    ``(sqrtPriceX96^2 / 2^192) * 10^(d0 - d1)`` is token1 per token0; inverted when the underlying
    is token1. The integer square is divided exactly (Python's int / int rounds correctly).
    """
    d0, d1 = _decimals(snap, pool.token0), _decimals(snap, pool.token1)
    if pool.sqrt_price_x96 <= 0:
        raise InputError(f"pool {pool.address}", "sqrtPriceX96 is 0 (pool not initialized)")
    raw = (pool.sqrt_price_x96 * pool.sqrt_price_x96) / (1 << 192)
    p01 = raw * 10.0 ** (d0 - d1)
    if pool.token0.lower() == underlying_token.lower():
        return p01
    if pool.token1.lower() == underlying_token.lower():
        return 1.0 / p01
    raise InputError(f"pool {pool.address}", f"token {underlying_token} is neither token0 nor token1")


@dataclass(frozen=True)
class PoolBasis:
    """One pool of an asset against the quote token, compared with the asset's feed.

    Attributes
    ----------
    pool : pool address.
    underlying : asset symbol.
    fee : fee tier, hundredths of a bip (500 = 0.05 %).
    pool_price : the pool's price of the underlying, quote per unit (human units, ``sqrtPriceX96``).
    feed_price : the feed's price, quote per unit.
    lp_count : LP positions of the book in this pool.
    """

    pool: str
    underlying: str
    fee: int
    pool_price: float
    feed_price: float
    lp_count: int = 0

    @property
    def basis(self) -> float:
        """``pool_price / feed_price`` (dimensionless)."""
        return self.pool_price / self.feed_price

    @property
    def basis_bps(self) -> float:
        """Signed basis ``(pool_price / feed_price - 1) * 1e4``, bps (positive: the pool is rich)."""
        return (self.pool_price / self.feed_price - 1.0) * 1e4

    @property
    def deviation_bps(self) -> float:
        """Symmetric deviation ``|pool - feed| / min(pool, feed) * 1e4``, bps (what the gate checks)."""
        return deviation_bps(self.pool_price, self.feed_price)


def _pair(lp_or_pool: LpPosition | PoolState, by_token: Mapping[str, str], quote: str) -> tuple[str, bool] | None:
    """(underlying symbol, underlying is token0) of an asset/quote pair, else ``None``."""
    t0, t1 = lp_or_pool.token0.lower(), lp_or_pool.token1.lower()
    if t0 in by_token and t1 == quote:
        return by_token[t0], True
    if t1 in by_token and t0 == quote:
        return by_token[t1], False
    return None


def pool_bases(
    snap: Snapshot, asset_tokens: Mapping[str, str], quote_token: str, spots: Mapping[str, float],
) -> tuple[PoolBasis, ...]:
    """Every pool of the snapshot that pairs an asset with the quote token, against the asset's spot.

    The snapshot's pools are the LPs' pools, the hedge pools and the oracle pools. A pool whose
    asset has no spot (its feed was unreadable) is left out; pools of other pairs too.
    Sorted by underlying, then fee tier, then address.
    """
    by_token = {addr.lower(): sym for sym, addr in asset_tokens.items()}
    quote = quote_token.lower()
    counts: dict[str, int] = {}
    for lp in snap.lps:
        counts[lp.pool] = counts.get(lp.pool, 0) + 1
    out = []
    for addr, pool in snap.pools.items():
        pair = _pair(pool, by_token, quote)
        if pair is None or pair[0] not in spots or pool.sqrt_price_x96 <= 0:
            continue
        sym = pair[0]
        out.append(PoolBasis(addr, sym, pool.fee, pool_price_quote(snap, pool, asset_tokens[sym]),
                             float(spots[sym]), counts.get(addr, 0)))
    return tuple(sorted(out, key=lambda b: (b.underlying, b.fee, b.pool.lower())))


# --------------------------------------------------------------------------- the book, line by line


@dataclass(frozen=True)
class LpLine:
    """An LP NFT: its exact holdings, its pool's price, and the portfolio position built from them.

    Attributes
    ----------
    lp : the position as read.
    underlying : asset symbol of its risky token.
    underlying_is_token0 : whether the risky token sorts first in the pool.
    holding : :func:`lp_holdings`, raw integer units.
    pool_price : the underlying's price in the LP's own pool, quote per unit (human units).
    pool_tick : the pool's current tick (``slot0.tick``).
    position : the portfolio position (basis to the spot and exact amounts when a spot was given).
    """

    lp: LpPosition
    underlying: str
    underlying_is_token0: bool
    holding: LpHolding
    pool_price: float
    pool_tick: int
    position: LPPosition
    quote_value: float = 0.0

    @property
    def positions(self) -> tuple[Position, ...]:
        return (self.position,)

    @property
    def in_range(self) -> bool:
        """``tick_lower <= pool tick < tick_upper``, as the pool decides it."""
        return self.lp.tick_lower <= self.pool_tick < self.lp.tick_upper


@dataclass(frozen=True)
class OptionLine:
    """An option series holding: the option (if the net amount is not 0) and a short call's collateral."""

    option: OptionHolding
    underlying: str
    positions: tuple[Position, ...]
    quote_value: float = 0.0
    """A short put's locked quote collateral, quote units."""


@dataclass(frozen=True)
class PerpLine:
    """A perp position: its size as a :class:`~keeper.core.portfolio.PerpPosition` (if open); margin is quote."""

    perp: PerpHolding
    underlying: str
    positions: tuple[Position, ...]
    quote_value: float = 0.0
    """Posted margin, quote units."""


@dataclass(frozen=True)
class BalanceLine:
    """A wallet balance of one owner in one token (``token == NATIVE`` for the native coin)."""

    owner: str
    token: str
    symbol: str
    raw: int
    decimals: int
    underlying: str | None
    """The asset this balance is exposure to (``None``: the quote token, or not counted)."""
    positions: tuple[Position, ...] = ()
    quote_value: float = 0.0

    @property
    def amount(self) -> float:
        """Human units: ``raw / 10**decimals``."""
        return float(self.raw / 10**self.decimals)


@dataclass(frozen=True)
class AaveLine:
    """One owner's Aave v3 holding of one reserve: supplied (aToken) minus owed (debt tokens), raw units."""

    pool: str
    owner: str
    asset: str
    symbol: str
    supplied: int
    debt: int
    decimals: int
    underlying: str | None
    """The asset this is exposure to (``None``: the quote token)."""
    positions: tuple[Position, ...] = ()
    quote_value: float = 0.0

    @property
    def net(self) -> float:
        """Human units: ``(supplied - debt) / 10**decimals``."""
        return float((self.supplied - self.debt) / 10**self.decimals)


def aave_accounts(snap: Snapshot) -> tuple[AaveAccount, ...]:
    """Every Aave account of the snapshot with Aave's own figures (see :func:`keeper.core.aave.account_data`)."""
    out = []
    for acct in snap.aave_accounts:
        market = snap.aave_markets.get(acct.pool)
        if market is None:
            raise InputError("aave_markets", f"account of {acct.owner} in pool {acct.pool} but the pool is unread")
        out.append(account_data(market, acct))
    return tuple(out)


def loan_books(snap: Snapshot, asset_tokens: Mapping[str, str], quote_token: str,
               base_per_quote: float = 1e8) -> tuple[LoanBook, ...]:
    """Every Aave account with debt as a health-factor function of the underlyings' prices."""
    under: dict[str, str | None] = {addr.lower(): sym for sym, addr in asset_tokens.items()}
    under[quote_token.lower()] = None
    return tuple(loan_book(snap.aave_markets[a.pool], a, under, base_per_quote)
                 for a in aave_accounts(snap) if a.debt_base > 0)


def _aave_lines(snap: Snapshot, by_token: Mapping[str, str], quote: str) -> list[AaveLine]:
    lines = []
    for a in aave_accounts(snap):
        market = snap.aave_markets[a.pool]
        for asset, r in market.reserves.items():
            sup, owed = a.supplied.get(asset, 0), a.debt(asset)
            if not sup and not owed:
                continue
            dec = decode_reserve_config(r.configuration).decimals
            sym = by_token.get(asset.lower())
            try:
                label = _meta(snap, asset)[0]
            except InputError:
                label = asset
            net = (sup - owed) / 10**dec
            if sym is not None:
                lines.append(AaveLine(a.pool, a.owner, asset, label, sup, owed, dec, sym, (SpotHolding(sym, net),)))
            elif asset.lower() == quote:
                lines.append(AaveLine(a.pool, a.owner, asset, label, sup, owed, dec, None, (), net))
            else:
                raise InputError("aave", f"{a.owner} holds Aave reserve {asset}, which is neither a configured asset "
                                         "nor the quote token; cannot value it")
    return lines


@dataclass(frozen=True)
class V4LpLine:
    """A Uniswap v4 position: its exact holdings, its pool's price and the portfolio position built from them.

    Attributes
    ----------
    lp : the position as read.
    key : its pool's key (currencies, fee, tick spacing, hooks).
    underlying : asset symbol of its risky currency (the native coin counts as ``Snapshot.v4_native_asset``).
    underlying_is_token0 : whether the risky currency is currency0.
    holding : :func:`v4_lp_holdings`, raw integer units.
    pool_price : the underlying's price in the position's own pool, quote per unit (human units).
    pool_tick : the pool's ``slot0.tick``.
    position : the portfolio position.
    hook_risks : :func:`v4_hook_risks` of the pool (empty: the pool alone decides what it pays).
    """

    lp: V4LpPosition
    key: V4PoolKey
    underlying: str
    underlying_is_token0: bool
    decimals0: int
    decimals1: int
    holding: LpHolding
    pool_price: float
    pool_tick: int
    position: LPPosition
    hook_risks: tuple[str, ...] = ()
    quote_value: float = 0.0

    @property
    def positions(self) -> tuple[Position, ...]:
        return (self.position,)

    @property
    def in_range(self) -> bool:
        """``tick_lower <= pool tick < tick_upper``, as the pool decides it."""
        return self.lp.tick_lower <= self.pool_tick < self.lp.tick_upper

    @property
    def hooked(self) -> bool:
        """Whether the pool's hook can change what this position pays (see ``hook_risks``)."""
        return bool(self.hook_risks)


BookLine = LpLine | V4LpLine | OptionLine | PerpLine | BalanceLine | AaveLine


# Long on purpose: one branch per position kind (LP, option, perp, balance, native); each is short.
def book_lines(  # noqa: C901, PLR0912
    snap: Snapshot,
    asset_tokens: Mapping[str, str],
    quote_token: str,
    vols: Mapping[str, float],
    *,
    rate: float = 0.0,
    spots: Mapping[str, float] | None = None,
    smiles: Mapping[str, OptionVols] | None = None,
) -> tuple[BookLine, ...]:
    """Every item of the book with the portfolio positions it contributes (see :func:`book_positions`).

    Order: token balances, native balances, LPs, v4 LPs, options, perps, Aave holdings. An LP whose underlying has a
    spot in ``spots`` is priced at its own pool: ``basis = pool price / spot`` and its exact
    principal at the mark ``spot``; without a spot it gets basis 1 and no exact amounts (its
    underlying is then unvalued).
    """
    by_token = {addr.lower(): sym for sym, addr in asset_tokens.items()}
    quote = quote_token.lower()
    qdec = _decimals(snap, quote_token)
    spots = spots or {}
    smiles = smiles or {}
    lines: list[BookLine] = []
    for (owner, token), raw in snap.balances.items():
        sym = by_token.get(token.lower())
        meta = _meta(snap, token)
        if sym is not None:
            lines.append(BalanceLine(owner, token, meta[0], raw, meta[1], sym,
                                     (SpotHolding(sym, raw / 10 ** meta[1]),)))
        else:
            qv = raw / 10**qdec if token.lower() == quote else 0.0
            lines.append(BalanceLine(owner, token, meta[0], raw, meta[1], None, (), qv))
    native = snap.native_asset
    if native is not None and native not in asset_tokens:
        raise InputError("native_asset", f"{native!r} is not a configured asset ({', '.join(asset_tokens)})")
    for owner, wei in snap.native_balances.items():
        holding: tuple[Position, ...] = (SpotHolding(native, wei / 10**NATIVE_DECIMALS),) if native else ()
        lines.append(BalanceLine(owner, NATIVE, native or NATIVE, wei, NATIVE_DECIMALS, native, holding))
    for lp in snap.lps:
        lines.append(_lp_line(snap, lp, by_token, quote, spots))
    for v4lp in snap.v4_lps:
        lines.append(_v4_lp_line(snap, v4lp, by_token, quote, spots))
    option_lines = []
    for o in snap.options:
        on_smile = o.underlying in smiles and o.underlying in spots
        if not on_smile and o.underlying not in vols:
            raise InputError("vols", f"no volatility for {o.underlying} (option series {o.series_id})")
        years = (o.expiry - snap.block_timestamp) / SECONDS_PER_YEAR
        qty = o.net_amount / 1e18
        strike = o.strike / 1e8
        parts: list[Position] = []
        qv = 0.0
        if qty != 0:
            vol = 0.0 if on_smile else vols[o.underlying]
            parts.append(OptionPosition(o.underlying, qty, strike, years, not o.is_put, vol, rate))
        if o.short_amount and o.source.startswith("onchain:"):
            # Locked collateral stays the writer's claim: underlying for calls, quote for puts.
            if o.is_put:
                qv = o.short_amount / 1e18 * strike
            else:
                parts.append(SpotHolding(o.underlying, o.short_amount / 1e18))
        option_lines.append(OptionLine(o, o.underlying, tuple(parts), qv))
    lines += _on_smiles(option_lines, smiles, spots)
    for p in snap.perps:
        market = snap.perp_markets.get(p.market)
        pdec = _decimals(snap, market.quote_token) if market is not None else qdec
        size: tuple[Position, ...] = ()
        if p.size:
            size = (PerpPosition(p.underlying, p.size / 1e18, p.entry_price / 1e18),)
        lines.append(PerpLine(p, p.underlying, size, p.margin / 10**pdec))
    lines += _aave_lines(snap, by_token, quote)
    return tuple(lines)


def _lp_line(snap: Snapshot, lp: LpPosition, by_token: Mapping[str, str], quote: str,
             spots: Mapping[str, float]) -> LpLine:
    pair = _pair(lp, by_token, quote)
    if pair is None:
        raise InputError(f"LP {lp.token_id}", "pair is not <configured asset>/<quote token>; cannot value it")
    sym, under_is_0 = pair
    pool = _pool(snap, lp)
    d0, d1 = _decimals(snap, lp.token0), _decimals(snap, lp.token1)
    h = lp_holdings(snap, lp)
    price = pool_price_quote(snap, pool, lp.token0 if under_is_0 else lp.token1)
    if under_is_0:
        pu, pq, fu, fq = h.principal0 / 10**d0, h.principal1 / 10**d1, h.fees0 / 10**d0, h.fees1 / 10**d1
    else:
        pu, pq, fu, fq = h.principal1 / 10**d1, h.principal0 / 10**d0, h.fees1 / 10**d1, h.fees0 / 10**d0
    position = LPPosition(sym, float(lp.liquidity), lp.tick_lower, lp.tick_upper, under_is_0, d0, d1,
                          fees_underlying=fu, fees_quote=fq)
    spot = spots.get(sym)
    if spot is not None and spot > 0:
        position = replace(position, basis=price / float(spot), amount_underlying=pu, amount_quote=pq,
                           mark=float(spot))
    return LpLine(lp, sym, under_is_0, h, price, pool.tick, position)


def _v4_lp_line(snap: Snapshot, lp: V4LpPosition, by_token: Mapping[str, str], quote: str,
                spots: Mapping[str, float]) -> V4LpLine:
    pool = _v4_pool(snap, lp)
    key = pool.key
    c0, c1 = key.currency0.lower(), key.currency1.lower()
    tokens = dict(by_token)
    native = snap.v4_native_asset
    if native is not None:
        tokens[V4_NATIVE] = native
    if c0 in tokens and c1 == quote:
        sym, under_is_0 = tokens[c0], True
    elif c1 in tokens and c0 == quote:
        sym, under_is_0 = tokens[c1], False
    else:
        what = " (its native currency has no asset: set the v4 native asset)" if V4_NATIVE in (c0, c1) else ""
        raise InputError(f"v4 LP {lp.token_id}", f"pair is not <configured asset>/<quote token>{what}; cannot value it")
    d0 = NATIVE_DECIMALS if c0 == V4_NATIVE else _decimals(snap, key.currency0)
    d1 = _decimals(snap, key.currency1)
    h = v4_lp_holdings(snap, lp)
    if pool.sqrt_price_x96 <= 0:
        raise InputError(f"v4 pool {pool.pool_id}", "sqrtPriceX96 is 0 (pool not initialized)")
    p01 = (pool.sqrt_price_x96 * pool.sqrt_price_x96) / (1 << 192) * 10.0 ** (d0 - d1)
    price = p01 if under_is_0 else 1.0 / p01
    if under_is_0:
        pu, pq, fu, fq = h.principal0 / 10**d0, h.principal1 / 10**d1, h.fees0 / 10**d0, h.fees1 / 10**d1
    else:
        pu, pq, fu, fq = h.principal1 / 10**d1, h.principal0 / 10**d0, h.fees1 / 10**d1, h.fees0 / 10**d0
    position = LPPosition(sym, float(lp.liquidity), lp.tick_lower, lp.tick_upper, under_is_0, d0, d1,
                          fees_underlying=fu, fees_quote=fq)
    spot = spots.get(sym)
    if spot is not None and spot > 0:
        position = replace(position, basis=price / float(spot), amount_underlying=pu, amount_quote=pq,
                           mark=float(spot))
    return V4LpLine(lp, key, sym, under_is_0, d0, d1, h, price, pool.tick, position, v4_hook_risks(key))


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
    spots : symbol -> spot (quote per unit); needed to look options up on a surface, and to price
        each LP at its own pool (basis to this spot, exact amounts marked at it).
    smiles : symbol -> per-option vol source and delta flavour; an underlying listed here with a
        spot in ``spots`` ignores ``vols`` (its model vol is inside the source).
    """
    lines = book_lines(snap, asset_tokens, quote_token, vols, rate=rate, spots=spots, smiles=smiles)
    return tuple(p for line in lines for p in line.positions), sum(line.quote_value for line in lines)


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
    lines: tuple[BookLine, ...] = ()
    """The book item by item; ``positions`` is their concatenation."""
    pools: tuple[PoolBasis, ...] = ()
    """Every asset/quote pool of the snapshot against its feed (:func:`pool_bases`)."""
    loans: tuple[LoanBook, ...] = ()
    """Every Aave account with debt: its health factor as a function of prices (:func:`loan_books`)."""


def line_risk(line: BookLine, spots: Mapping[str, float]) -> RiskSummary | None:
    """Value and greeks of one line at ``spots`` (units as :class:`~keeper.core.portfolio.RiskSummary`).

    ``None`` for a line with no exposure to an underlying (a quote balance, a closed perp) or whose
    underlying has no spot. Summed over the lines, delta, gamma, vega and theta equal
    :attr:`BookRisk.summaries` (each line is valued exactly as inside the book).
    """
    if not line.positions or line.positions[0].underlying not in spots:
        return None
    return aggregate(line.positions, spots)[line.positions[0].underlying]


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
    lines = book_lines(snap, asset_tokens, quote_token, vols, rate=rate, spots=spots, smiles=smiles)
    positions = tuple(p for line in lines for p in line.positions)
    quote_value = sum(line.quote_value for line in lines)
    unvalued = tuple(sorted({p.underlying for p in positions if p.underlying not in spots}))
    priced = [p for p in positions if p.underlying in spots]
    return BookRisk(positions=positions, summaries=aggregate(priced, spots), quote_value=quote_value,
                    unvalued=unvalued, smiles=dict(smiles or {}), lines=lines,
                    pools=pool_bases(snap, asset_tokens, quote_token, spots),
                    loans=loan_books(snap, asset_tokens, quote_token))


def _on_smiles(lines: list[OptionLine], smiles: Mapping[str, OptionVols],
               spots: Mapping[str, float]) -> list[OptionLine]:
    """Give options on a smile their vol and delta adjustment (vectorized per underlying)."""
    out = list(lines)
    for sym, src in smiles.items():
        idx = [i for i, line in enumerate(out) if line.underlying == sym
               and any(isinstance(p, OptionPosition) for p in line.positions)]
        if not idx or sym not in spots:
            continue
        opts = [next(p for p in out[i].positions if isinstance(p, OptionPosition)) for i in idx]
        vol, d = src.deltas(float(spots[sym]), np.array([o.strike for o in opts]),
                            np.array([o.expiry_years for o in opts]), np.array([o.is_call for o in opts]),
                            rate=np.array([o.rate for o in opts]))
        for i, o, v, a in zip(idx, opts, vol, d.adjustment, strict=True):
            new = replace(o, vol=float(v), delta_adjustment=float(a))
            out[i] = replace(out[i], positions=tuple(new if p is o else p for p in out[i].positions))
    return out


def _decimals(snap: Snapshot, token: str) -> int:
    return _meta(snap, token)[1]


def _meta(snap: Snapshot, token: str) -> tuple[str, int]:
    for addr, meta in snap.tokens.items():
        if addr.lower() == token.lower():
            return meta.symbol, meta.decimals
    raise InputError("tokens", f"no decimals read for token {token}")
