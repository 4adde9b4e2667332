"""All-in cost and availability of a hedge on a Uniswap v3 pool or on a perp.

Units
-----
*Underlying units* (``_units``) are human token units (1.0 = 1 ETH); *quote*
(``_quote``) is the quote currency of the book (USD); prices are quote per
underlying unit; fractions are plain (``0.0005`` = 5 bps); gas prices are in
gwei (1e-9 native token per gas unit).

Cost model
----------
For a hedge of ``size`` underlying units at reference (oracle) price ``P_ref``,
``notional = size * P_ref`` (quote):

* **Uniswap v3 swap**::

      cost = notional * pool_fee + impact + gas
      gas  = gas_units * gas_price_gwei * 1e-9 * native_price_quote

  ``impact`` is either taken from a quoter result (:class:`SwapQuote`, the
  all-in average execution price: ``impact = max(shortfall - fee, 0)`` with
  ``shortfall = |P_avg - P_ref| * size`` on the adverse side), or estimated
  from the pool's active liquidity by :func:`v3_impact_fraction`.

* **Perp**::

      cost = notional * taker_fee + funding + gas
      funding = s * funding_rate_per_second * horizon_s * notional

  with ``s = +1`` for a buy (the position change is long) and ``-1`` for a
  sell. A positive rate means longs pay shorts, so a sell hedge with a positive
  rate *receives* funding and its cost goes down (the funding term is
  negative). This is the marginal funding of the position change, which is
  linear in the position, so it holds whether the hedge opens, grows or reduces
  a perp position.

Availability
------------
* swap: the sold token's balance must cover the trade (the underlying for a
  sell; ``notional + fee + impact`` of quote for a buy), the pool must have an
  impact estimate (matching quote or liquidity data), and the impact must not
  exceed ``VenueConfig.max_impact_bps``;
* perp: ``free_margin_quote >= notional * initial_margin_fraction`` (conservative:
  a hedge that reduces an existing position frees margin instead).

An unavailable venue is still returned with its estimate and the reason; the
caller skips it.

The venue input types live in :mod:`keeper.core.venue_inputs` and are
re-exported here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from keeper.core.reasons import Reason, fmt_bps, fmt_quote, fmt_units
from keeper.core.venue_inputs import GasView, PerpVenue, Side, SwapQuote, SwapVenue, VenueConfig, VenueKind
from keeper.errors import InputError

__all__ = [
    "CostEstimate",
    "GasView",
    "PerpVenue",
    "Side",
    "SwapQuote",
    "SwapVenue",
    "VenueConfig",
    "VenueEstimate",
    "VenueKind",
    "estimate_perp",
    "estimate_swap",
    "gas_cost_quote",
    "one_way_cost_fraction",
    "rank_venues",
    "swap_cost_quote_array",
    "v3_impact_fraction",
    "v3_impact_fraction_array",
    "v3_impact_quote",
]

FloatArray = npt.NDArray[np.float64]

# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True, slots=True)
class CostEstimate:
    """Estimated cost of one hedge, quote units. ``funding_quote`` is signed (negative = received)."""

    fee_quote: float
    impact_quote: float
    funding_quote: float
    gas_quote: float

    @property
    def total_quote(self) -> float:
        """``fee + impact + funding + gas``."""
        return self.fee_quote + self.impact_quote + self.funding_quote + self.gas_quote


@dataclass(frozen=True, slots=True)
class VenueEstimate:
    """A venue's cost and availability for one order.

    ``fee_fraction`` is the pool fee tier (swap) or the taker fee (perp);
    ``impact_source`` is ``"quote"``, ``"liquidity"`` or ``"none"`` (perp, or no data).
    """

    venue: VenueKind
    venue_id: str
    fee_fraction: float
    side: Side
    size_units: float
    notional_quote: float
    cost: CostEstimate
    available: bool
    reason: Reason
    impact_source: str = "none"

    @property
    def label(self) -> str:
        """``uniswap:<pool> (fee 5.0 bps)`` / ``uniswap_v4:<pool id> (fee 5.0 bps)`` / ``perp:<market>`` /
        ``aave:<pool>:<asset>``."""
        if self.venue in ("uniswap", "uniswap_v4"):
            return f"{self.venue}:{self.venue_id} (fee {fmt_bps(self.fee_fraction)})"
        return f"{self.venue}:{self.venue_id}"


# --------------------------------------------------------------------------- formulas


def gas_cost_quote(gas_units: float, gas_price_gwei: float, native_price_quote: float) -> float:
    """Gas cost in quote units: ``gas_units * gas_price_gwei * 1e-9 * native_price_quote``."""
    return gas_units * gas_price_gwei * 1e-9 * native_price_quote


def v3_impact_fraction(size_units: float, side: Side, liquidity: float, sqrt_price: float) -> float:
    """Price impact of a swap within one constant-liquidity range, as a fraction of ``size * P``.

    Parameters
    ----------
    size_units : float
        Underlying sold (``side="sell"``, exact input) or bought (``"buy"``, exact output), >= 0.
    side : {"buy", "sell"}
    liquidity : float
        Active liquidity ``L`` in human units (``x = L / sqrtP`` underlying, ``y = L sqrtP`` quote).
    sqrt_price : float
        ``sqrtP = sqrt(P)``, ``P`` in quote per underlying (human units).

    Returns
    -------
    float
        ``impact / (size * P)`` where ``impact`` is the quote lost against
        execution at the pool's spot ``P``, fee excluded:

        * sell ``dx``: ``sqrtP' = L sqrtP / (L + dx sqrtP)``, received
          ``dy = L (sqrtP - sqrtP') = L dx P / (L + dx sqrtP)``, so
          ``fraction = dx sqrtP / (L + dx sqrtP)``;
        * buy ``dx``: ``sqrtP' = L sqrtP / (L - dx sqrtP)``, paid
          ``dy = L dx P / (L - dx sqrtP)``, so ``fraction = dx sqrtP / (L - dx sqrtP)``,
          and ``inf`` once ``dx >= L / sqrtP`` (the range's virtual reserve is exhausted).

    Notes
    -----
    The estimate assumes ``L`` constant over the move, i.e. it ignores tick
    crossings. When the trade crosses initialized ticks where liquidity drops,
    the true impact is larger: treat the result as a lower bound and pass a
    quoter result (:class:`SwapQuote`) when one is available. For a sell the
    fee is taken from the input before the price moves, so using the gross
    size slightly overstates the impact (by a factor ``~ 1/(1 - fee)``).
    ``L = 0`` gives ``inf`` for any positive size.
    """
    if size_units < 0.0:
        raise InputError("size_units", f"must be >= 0, got {size_units!r}")
    if not liquidity >= 0.0:
        raise InputError("liquidity", f"must be >= 0, got {liquidity!r}")
    if not sqrt_price > 0.0:
        raise InputError("sqrt_price", f"must be > 0, got {sqrt_price!r}")
    if size_units == 0.0:
        return 0.0
    moved = size_units * sqrt_price
    if side == "sell":
        return moved / (liquidity + moved)
    if side == "buy":
        if moved >= liquidity:
            return math.inf
        return moved / (liquidity - moved)
    raise InputError("side", f"must be 'buy' or 'sell', got {side!r}")


def v3_impact_quote(size_units: float, side: Side, liquidity: float, sqrt_price: float) -> float:
    """Price impact in quote units at the pool's spot: ``v3_impact_fraction * size * sqrtP^2``.

    Closed forms: sell ``dx^2 P sqrtP / (L + dx sqrtP)``, buy ``dx^2 P sqrtP / (L - dx sqrtP)``.
    See :func:`v3_impact_fraction` for the assumptions (constant ``L``, a lower bound across ticks).
    """
    frac = v3_impact_fraction(size_units, side, liquidity, sqrt_price)
    if frac == 0.0:
        return 0.0
    return frac * size_units * sqrt_price * sqrt_price


def _swap_impact_fraction(venue: SwapVenue, side: Side, size_units: float, ref_price: float) -> tuple[float, str, str]:
    """(impact fraction of notional, source, problem); ``problem == ""`` when usable."""
    q = venue.quote
    if q is not None and q.side == side and q.size_units >= size_units * (1.0 - 1e-12):
        if side == "sell":
            shortfall = (ref_price - q.avg_price_quote) / ref_price
        else:
            shortfall = (q.avg_price_quote - ref_price) / ref_price
        return max(shortfall - venue.fee_fraction, 0.0), "quote", ""
    if venue.liquidity is not None and venue.sqrt_price is not None:
        return v3_impact_fraction(size_units, side, venue.liquidity, venue.sqrt_price), "liquidity", ""
    assert q is not None  # SwapVenue guarantees a quote when there is no liquidity data
    return (
        math.inf,
        "none",
        f"quote ({q.side} {q.size_units:.4g}) does not cover {side} {size_units:.4g} and no liquidity data",
    )


def estimate_swap(
    venue: SwapVenue,
    side: Side,
    size_units: float,
    ref_price: float,
    gas: GasView,
    config: VenueConfig,
    *,
    underlying: str = "",
    quote_symbol: str = "USD",
    kind: Literal["uniswap", "uniswap_v4"] = "uniswap",
) -> VenueEstimate:
    """Cost and availability of a swap of ``size_units`` at reference price ``ref_price`` (quote/unit).

    ``kind``: a Uniswap v3 pool (``uniswap``) or a v4 pool (``uniswap_v4``, same cost model; its
    impact from a V4Quoter result or the pool's liquidity).

    ``cost = notional * fee + impact + gas`` (see the module docstring); unavailable when the
    sold token's balance is short, when no impact estimate covers the order, or when the impact
    exceeds ``config.max_impact_bps``.
    """
    notional = size_units * ref_price
    frac, source, problem = _swap_impact_fraction(venue, side, size_units, ref_price)
    fee = notional * venue.fee_fraction
    impact = frac * notional if size_units > 0.0 else 0.0
    cost = CostEstimate(fee, impact, 0.0, gas_cost_quote(venue.gas_units, gas.gas_price_gwei, gas.native_price_quote))
    label = f"{kind}:{venue.venue_id} (fee {fmt_bps(venue.fee_fraction)})"

    def out(available: bool, reason: Reason) -> VenueEstimate:
        return VenueEstimate(
            kind, venue.venue_id, venue.fee_fraction, side, size_units, notional, cost, available, reason, source
        )

    if problem:
        return out(False, Reason.of("venue_no_impact_data", f"{label} unavailable: {problem}"))
    if side == "sell" and venue.underlying_balance_units < size_units:
        return out(
            False,
            Reason.of(
                "venue_balance",
                f"{label} unavailable: balance {fmt_units(venue.underlying_balance_units, underlying)}"
                f" < {fmt_units(size_units, underlying)} to sell",
                balance_units=venue.underlying_balance_units,
                size_units=size_units,
            ),
        )
    if side == "buy":
        spend = notional + fee + impact
        if venue.quote_balance_quote < spend:
            return out(
                False,
                Reason.of(
                    "venue_balance",
                    f"{label} unavailable: balance {fmt_quote(venue.quote_balance_quote, quote_symbol)}"
                    f" < {fmt_quote(spend, quote_symbol)} to spend",
                    balance_quote=venue.quote_balance_quote,
                    spend_quote=spend,
                ),
            )
    impact_bps = frac * 1e4
    if impact_bps > config.max_impact_bps:
        return out(
            False,
            Reason.of(
                "venue_impact",
                f"{label} unavailable: impact {impact_bps:.1f} bps > max {config.max_impact_bps:.1f} bps ({source})",
                impact_bps=impact_bps,
                max_impact_bps=config.max_impact_bps,
            ),
        )
    return out(
        True,
        Reason.of(
            "venue_ok",
            f"{label}: {fmt_quote(cost.total_quote, quote_symbol)} (fee {fmt_quote(fee, quote_symbol)},"
            f" impact {fmt_quote(impact, quote_symbol)} [{source}], gas {fmt_quote(cost.gas_quote, quote_symbol)})",
            total_quote=cost.total_quote,
            fee_quote=fee,
            impact_quote=impact,
            gas_quote=cost.gas_quote,
        ),
    )


def estimate_perp(
    venue: PerpVenue,
    side: Side,
    size_units: float,
    ref_price: float,
    gas: GasView,
    config: VenueConfig,
    *,
    quote_symbol: str = "USD",
) -> VenueEstimate:
    """Cost and availability of a perp order of ``size_units`` at reference price ``ref_price``.

    ``cost = notional * taker_fee + s * funding_rate_per_second * horizon_s * notional + gas``
    with ``s = +1`` (buy) / ``-1`` (sell); unavailable when
    ``free_margin_quote < notional * initial_margin_fraction``.
    """
    notional = size_units * ref_price
    sign = 1.0 if side == "buy" else -1.0
    fee = notional * venue.taker_fee_fraction
    funding = sign * venue.funding_rate_per_second * config.perp_holding_horizon_s * notional
    cost = CostEstimate(fee, 0.0, funding, gas_cost_quote(venue.gas_units, gas.gas_price_gwei, gas.native_price_quote))
    label = f"perp:{venue.venue_id}"
    required = notional * venue.initial_margin_fraction
    if venue.free_margin_quote < required:
        reason = Reason.of(
            "venue_margin",
            f"{label} unavailable: free margin {fmt_quote(venue.free_margin_quote, quote_symbol)}"
            f" < {fmt_quote(required, quote_symbol)} required",
            free_margin_quote=venue.free_margin_quote,
            required_quote=required,
        )
        return VenueEstimate("perp", venue.venue_id, venue.taker_fee_fraction, side, size_units, notional, cost, False,
                             reason)
    reason = Reason.of(
        "venue_ok",
        f"{label}: {fmt_quote(cost.total_quote, quote_symbol)} (fee {fmt_quote(fee, quote_symbol)},"
        f" funding {fmt_quote(funding, quote_symbol)}, gas {fmt_quote(cost.gas_quote, quote_symbol)})",
        total_quote=cost.total_quote,
        fee_quote=fee,
        funding_quote=funding,
        gas_quote=cost.gas_quote,
    )
    return VenueEstimate("perp", venue.venue_id, venue.taker_fee_fraction, side, size_units, notional, cost, True,
                         reason)


def rank_venues(estimates: Sequence[VenueEstimate]) -> tuple[VenueEstimate, ...]:
    """The available estimates, cheapest ``cost.total_quote`` first; ties keep the input order.

    An empty tuple means no venue is available.
    """
    avail = [(e.cost.total_quote, i, e) for i, e in enumerate(estimates) if e.available]
    avail.sort(key=lambda t: (t[0], t[1]))
    return tuple(e for _, _, e in avail)


def one_way_cost_fraction(
    swaps: Sequence[SwapVenue],
    perps: Sequence[PerpVenue],
    side: Side,
    size_units: float,
    ref_price: float,
) -> float:
    """Cheapest proportional one-way cost ``k`` over the venues, a fraction of notional.

    ``k_swap = fee_fraction + impact fraction at size_units``, ``k_perp = taker_fee_fraction``.
    Gas (a fixed cost) and funding (a holding cost) are excluded: ``k`` is the
    proportional transaction cost of the Whalley-Wilmott band. Availability is
    ignored (the band describes the book, not today's balances). ``inf`` when
    no venue has a finite estimate.
    """
    best = math.inf
    for s in swaps:
        frac, _, problem = _swap_impact_fraction(s, side, size_units, ref_price)
        if not problem:
            best = min(best, s.fee_fraction + frac)
    for p in perps:
        best = min(best, p.taker_fee_fraction)
    return best


# --------------------------------------------------------------------------- array twins (the backtest)


def v3_impact_fraction_array(size_units: npt.ArrayLike, sell: npt.ArrayLike, liquidity: float,
                             sqrt_price: npt.ArrayLike) -> FloatArray:
    """Vectorized :func:`v3_impact_fraction` (``sell`` True/False for the side); ``inf`` where a buy exhausts ``L``."""
    size = np.asarray(size_units, dtype=np.float64)
    moved = size * np.asarray(sqrt_price, dtype=np.float64)
    is_sell = np.asarray(sell, dtype=np.bool_)
    denom = np.where(is_sell, liquidity + moved, liquidity - moved)
    safe = np.where(denom > 0.0, denom, 1.0)
    frac = np.where(is_sell | (moved < liquidity), moved / safe, math.inf)
    out: FloatArray = np.where(size == 0.0, 0.0, frac)
    return out


def swap_cost_quote_array(size_units: npt.ArrayLike, sell: npt.ArrayLike, ref_price: npt.ArrayLike,
                          fee_fraction: float, liquidity: float, gas_quote: float) -> FloatArray:
    """Vectorized ``estimate_swap(...).cost.total_quote`` for a pool with liquidity data at ``sqrtP = sqrt(ref_price)``.

    ``size * P * (fee + impact fraction) + gas``; 0 where ``size == 0`` (no trade, no gas).
    """
    size = np.asarray(size_units, dtype=np.float64)
    p = np.asarray(ref_price, dtype=np.float64)
    frac = v3_impact_fraction_array(size, sell, liquidity, np.sqrt(p))
    notional = size * p
    out: FloatArray = np.where(size > 0.0, notional * fee_fraction + frac * notional + gas_quote, 0.0)
    return out
