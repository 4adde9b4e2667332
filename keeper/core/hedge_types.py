"""Inputs and outputs of the hedge decision (:func:`keeper.core.policy.decide`).

Inputs: :class:`Exposure` (the book's greeks in one underlying) and
:class:`UnderlyingInput` (exposure + oracle prices + venues + hedge history).
Outputs: :class:`HedgeOrder`, :class:`Decision` (one per underlying, with its
reasons and gate results) and :class:`Plan` (all decisions of a cycle). All
frozen; equal inputs give equal outputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from keeper.core._checks import check_finite, check_positive
from keeper.core.costs import CostEstimate, VenueEstimate
from keeper.core.gates import GateResult, OracleView
from keeper.core.reasons import Reason
from keeper.core.sizing import Band, BandKind, HedgeHistory
from keeper.core.venue_inputs import PerpVenue, Side, SwapVenue, VenueKind
from keeper.errors import InputError

__all__ = ["Decision", "Exposure", "HedgeOrder", "Plan", "TriggerKind", "UnderlyingInput"]

TriggerKind = Literal["band", "time", "none"]


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Exposure:
    """The book's greeks in one underlying (from ``keeper.core.portfolio``).

    Attributes
    ----------
    underlying : str
        Symbol (``ETH``).
    delta_units : float
        Net delta, underlying units (LPs, options, perps, balances).
    gamma_units_per_quote : float
        ``d delta / dS``: delta units per 1 quote unit of spot (an LP is short gamma: < 0).
    book_value_quote : float
        Value of the book attributed to this underlying, quote units (for ``pct_book`` bands).
    spot : float
        Price the greeks were computed at, quote per underlying unit.
    """

    underlying: str
    delta_units: float
    gamma_units_per_quote: float
    book_value_quote: float
    spot: float

    def __post_init__(self) -> None:
        if not self.underlying:
            raise InputError("underlying", "must be a non-empty symbol")
        check_finite("delta_units", self.delta_units)
        check_finite("gamma_units_per_quote", self.gamma_units_per_quote)
        check_finite("book_value_quote", self.book_value_quote)
        check_positive("spot", self.spot)


@dataclass(frozen=True, slots=True)
class UnderlyingInput:
    """Everything read for one underlying at the snapshot block, plus its hedge history."""

    exposure: Exposure
    oracle: OracleView
    swaps: tuple[SwapVenue, ...] = ()
    perps: tuple[PerpVenue, ...] = ()
    history: HedgeHistory = field(default_factory=HedgeHistory)

    def __post_init__(self) -> None:
        object.__setattr__(self, "swaps", tuple(self.swaps))
        object.__setattr__(self, "perps", tuple(self.perps))
        if not self.swaps and not self.perps:
            raise InputError("swaps", f"{self.exposure.underlying}: give at least one swap pool or perp venue")


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class HedgeOrder:
    """One hedge to execute this cycle.

    Attributes
    ----------
    underlying : str
    side : {"buy", "sell"}
        Of the underlying (a perp ``sell`` is a short).
    size_units : float
        Underlying units, > 0.
    notional_quote : float
        ``size_units * reference_price_quote``.
    venue : {"uniswap", "perp", "uniswap_v4", "aave"}
    venue_id : str
        Pool or market id.
    fee_fraction : float
        Pool fee tier (uniswap) or taker fee (perp), fraction.
    reference_price_quote : float
        The cycle's oracle price, quote per unit.
    limit_price_quote : float
        Worst acceptable average price: ``ref * (1 + slip)`` for a buy, ``ref * (1 - slip)`` for a sell.
    cost : CostEstimate
        Fee, impact, funding and gas, quote units (an ``aave`` order: its swap leg's fee and impact,
        the borrow interest over the holding horizon in ``funding_quote``, both legs' gas).
    leg : HedgeOrder or None
        An ``aave`` order's swap: the pool that sells the borrowed asset (borrow-and-sell) or buys
        the asset that is repaid (buy-and-repay). ``None`` for every other venue.
    """

    underlying: str
    side: Side
    size_units: float
    notional_quote: float
    venue: VenueKind
    venue_id: str
    fee_fraction: float
    reference_price_quote: float
    limit_price_quote: float
    cost: CostEstimate
    leg: HedgeOrder | None = None

    @property
    def signed_units(self) -> float:
        """``+size`` for a buy, ``-size`` for a sell."""
        return self.size_units if self.side == "buy" else -self.size_units


@dataclass(frozen=True, slots=True)
class Decision:
    """The decision for one underlying, with everything needed to explain it.

    ``needed_units`` is what this cycle wanted to trade before caps (0 when no
    trigger fired); ``remaining_units`` is the part of it not traded this cycle
    (clipped, or blocked by the minimum trade, a gate or venue availability).
    ``delta_after_units`` is the expected delta if the order fills.
    """

    underlying: str
    order: HedgeOrder | None
    trigger: TriggerKind
    delta_before_units: float
    target_units: float
    delta_after_units: float
    band: Band
    needed_units: float
    remaining_units: float
    reasons: tuple[Reason, ...]
    gates: tuple[GateResult, ...]
    venues: tuple[VenueEstimate, ...] = ()
    margin_order: HedgeOrder | None = None
    """A perp reduction forced by the margin guard (:mod:`keeper.core.margin`), executed before ``order``;
    ``delta_after_units`` counts both."""

    @property
    def band_lower_units(self) -> float:
        return self.band.lower_units

    @property
    def band_upper_units(self) -> float:
        return self.band.upper_units

    @property
    def band_kind(self) -> BandKind:
        return self.band.kind

    @property
    def reason_codes(self) -> tuple[str, ...]:
        return tuple(r.code for r in self.reasons)


@dataclass(frozen=True, slots=True)
class Plan:
    """The decisions for all underlyings of one cycle, in input order."""

    decisions: tuple[Decision, ...]

    @property
    def orders(self) -> tuple[HedgeOrder, ...]:
        return tuple(o for d in self.decisions for o in (d.margin_order, d.order) if o is not None)

    def decision(self, underlying: str) -> Decision:
        """The decision for ``underlying``; ``KeyError`` if absent."""
        for d in self.decisions:
            if d.underlying == underlying:
                return d
        raise KeyError(underlying)
