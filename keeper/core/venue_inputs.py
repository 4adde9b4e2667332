"""Venue readings for the hedge decision: gas, Uniswap v3 pools, perps, and the venue limits.

Plain frozen data validated on construction (``InputError`` naming the field).
Units are in the names: ``_units`` underlying (human token units), ``_quote``
quote currency, ``_fraction`` plain fractions (0.0005 = 5 bps), ``_bps`` basis
points, ``_s`` seconds, ``_gwei`` 1e-9 native token per gas unit. The cost
model that consumes them is :mod:`keeper.core.costs`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from keeper.core._checks import check_finite, check_fraction, check_non_negative, check_positive
from keeper.errors import InputError

__all__ = ["GasView", "PerpVenue", "Side", "SwapQuote", "SwapVenue", "VenueConfig", "VenueKind"]

Side = Literal["buy", "sell"]
"""Side of the hedge, in the underlying: ``buy`` adds delta, ``sell`` removes it."""
VenueKind = Literal["uniswap", "perp", "uniswap_v4", "aave"]
"""``uniswap``: a v3 pool; ``uniswap_v4``: a v4 pool through the UniversalRouter; ``aave``: borrow-and-sell /
buy-and-repay on Aave v3 (:mod:`keeper.core.more_venues`)."""


@dataclass(frozen=True, slots=True)
class GasView:
    """Gas price and the native token's price, at the snapshot block.

    Attributes
    ----------
    gas_price_gwei : float
        Expected effective gas price (base fee + priority fee), gwei.
    native_price_quote : float
        Price of the native token (ETH on mainnet), quote per native token.
    """

    gas_price_gwei: float
    native_price_quote: float

    def __post_init__(self) -> None:
        check_non_negative("gas_price_gwei", self.gas_price_gwei)
        check_non_negative("native_price_quote", self.native_price_quote)


@dataclass(frozen=True, slots=True)
class SwapQuote:
    """A quoter result for a swap of the underlying against the quote token.

    Attributes
    ----------
    side : {"buy", "sell"}
        The quoted direction (in the underlying).
    size_units : float
        The quoted size, underlying units.
    avg_price_quote : float
        All-in average execution price, quote per underlying unit, pool fee
        included (``amountOut / amountIn`` of a sell, ``amountIn / amountOut``
        of a buy, in human units).

    Notes
    -----
    A quote is used for an order of the same side and at most its size: the
    impact per unit grows with size, so a quote for a larger size gives a
    conservative estimate for a smaller clip.
    """

    side: Side
    size_units: float
    avg_price_quote: float

    def __post_init__(self) -> None:
        if self.side not in ("buy", "sell"):
            raise InputError("side", f"must be 'buy' or 'sell', got {self.side!r}")
        check_positive("size_units", self.size_units)
        check_positive("avg_price_quote", self.avg_price_quote)


@dataclass(frozen=True, slots=True)
class SwapVenue:
    """A Uniswap v3 pool of the underlying against the quote token.

    Attributes
    ----------
    venue_id : str
        Pool address (or any stable id).
    fee_fraction : float
        Pool fee tier as a fraction (fee 500 -> 0.0005).
    gas_units : float
        Gas units of one hedge swap (including the module/Safe overhead).
    underlying_balance_units : float
        Underlying the keeper may sell, underlying units.
    quote_balance_quote : float
        Quote token the keeper may spend on a buy, quote units.
    liquidity : float or None
        Active liquidity in human units, ``L_raw / 10**((dec_u + dec_q) / 2)``.
    sqrt_price : float or None
        ``sqrt(P)`` with ``P`` in quote per underlying, human units. Orientation:
        the underlying plays token0. When the pool's token0 is the quote token,
        pass ``1 / sqrt(P_pool)``; ``liquidity`` is unchanged.
    quote : SwapQuote or None
        A quoter result; preferred over the liquidity estimate when it covers the order.
    """

    venue_id: str
    fee_fraction: float
    gas_units: float
    underlying_balance_units: float
    quote_balance_quote: float
    liquidity: float | None = None
    sqrt_price: float | None = None
    quote: SwapQuote | None = None

    def __post_init__(self) -> None:
        if not self.venue_id:
            raise InputError("venue_id", "must be a non-empty string")
        check_fraction("fee_fraction", self.fee_fraction)
        check_non_negative("gas_units", self.gas_units)
        check_non_negative("underlying_balance_units", self.underlying_balance_units)
        check_non_negative("quote_balance_quote", self.quote_balance_quote)
        if (self.liquidity is None) != (self.sqrt_price is None):
            raise InputError("liquidity", "liquidity and sqrt_price must be given together")
        if self.liquidity is not None:
            check_non_negative("liquidity", self.liquidity)
            check_positive("sqrt_price", self.sqrt_price)
        if self.liquidity is None and self.quote is None:
            raise InputError("liquidity", "give liquidity and sqrt_price, or a quote, to estimate impact")


@dataclass(frozen=True, slots=True)
class PerpVenue:
    """A perpetual futures market on the underlying.

    Attributes
    ----------
    venue_id : str
        Market address (or any stable id).
    taker_fee_fraction : float
        Taker fee as a fraction of notional.
    funding_rate_per_second : float
        Signed funding rate, fraction of notional per second; positive means
        longs pay shorts.
    free_margin_quote : float
        Collateral available for new initial margin, quote units.
    initial_margin_fraction : float
        Initial margin as a fraction of notional (0.1 = 10x).
    gas_units : float
        Gas units of one hedge order.
    position_units : float
        The hedged account's current position, signed underlying units (+ long).
    equity_quote : float
        Its equity in the market (margin + unrealized PnL - accrued funding), quote units; may be < 0.
    """

    venue_id: str
    taker_fee_fraction: float
    funding_rate_per_second: float
    free_margin_quote: float
    initial_margin_fraction: float
    gas_units: float
    position_units: float = 0.0
    equity_quote: float = 0.0

    def __post_init__(self) -> None:
        if not self.venue_id:
            raise InputError("venue_id", "must be a non-empty string")
        check_fraction("taker_fee_fraction", self.taker_fee_fraction)
        check_finite("funding_rate_per_second", self.funding_rate_per_second)
        check_non_negative("free_margin_quote", self.free_margin_quote)
        check_fraction("initial_margin_fraction", self.initial_margin_fraction, upper_inclusive=True)
        check_non_negative("gas_units", self.gas_units)
        check_finite("position_units", self.position_units)
        check_finite("equity_quote", self.equity_quote)


@dataclass(frozen=True, slots=True)
class VenueConfig:
    """Limits of the venue choice.

    Attributes
    ----------
    max_slippage_bps : float
        Limit price bound of an order: ``oracle * (1 +/- max_slippage_bps / 1e4)``.
    max_impact_bps : float
        A swap whose estimated impact exceeds this is unavailable (pool too thin).
    perp_holding_horizon_s : float
        Expected holding time of a perp hedge, seconds, for the funding estimate.
    """

    max_slippage_bps: float = 50.0
    max_impact_bps: float = 50.0
    perp_holding_horizon_s: float = 86_400.0

    def __post_init__(self) -> None:
        check_positive("max_slippage_bps", self.max_slippage_bps)
        if self.max_slippage_bps >= 10_000.0:
            raise InputError("max_slippage_bps", f"must be < 10000 (100 %), got {self.max_slippage_bps!r}")
        check_non_negative("max_impact_bps", self.max_impact_bps)
        check_non_negative("perp_holding_horizon_s", self.perp_holding_horizon_s)
