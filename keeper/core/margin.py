"""The perp margin guard: how much of a perp position to close when its margin ratio runs low (pure).

A perp hedge's margin ratio is its equity in the market over its notional at the oracle,
``m = E / (|S| P)``. A price move against the position, funding or fees lower it; below the venue's
maintenance margin anyone may liquidate it and take a reward out of the treasury's margin. The
HedgeModule checks a minimum ratio only after a trade that grows a position, so the keeper watches
it every cycle: when ``m < reduce_below`` it trades the position toward 0 by ``d`` units so that the
ratio after the trade is at least ``restore_to``, paying at most ``c = fee + max slippage`` of the
closed notional:

    (E - c d P) / ((|S| - d) P) >= r   <=>   d >= (r |S| P - E) / (P (r - c))

and the whole position when ``E <= 0`` or ``r <= c`` (closing part of it cannot restore the
ratio). The delta this removes is hedged again by the normal decision in the same cycle, on
another venue, within its band, caps and gates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from keeper.core._checks import check_finite, check_non_negative, check_positive
from keeper.errors import InputError

__all__ = ["MarginConfig", "margin_ratio", "margin_reduction_units"]


@dataclass(frozen=True, slots=True)
class MarginConfig:
    """When the keeper reduces a perp on its own (``reduce_below_bps = 0``: never).

    Attributes
    ----------
    reduce_below_bps : float
        Reduce when equity / notional falls below this, bps of notional (``safety.perp_reduce_margin_bps``).
    restore_to_bps : float
        The ratio the reduction restores, bps (the HedgeModule's ``perpMinMarginBps``); must exceed
        ``reduce_below_bps`` so that one reduction is not followed by another at the next cycle.
    """

    reduce_below_bps: float = 0.0
    restore_to_bps: float = 1_000.0

    def __post_init__(self) -> None:
        check_non_negative("reduce_below_bps", self.reduce_below_bps)
        check_positive("restore_to_bps", self.restore_to_bps)
        if self.restore_to_bps > 10_000.0:
            raise InputError("restore_to_bps", f"must be <= 10000 (100 %), got {self.restore_to_bps:g}")
        if self.reduce_below_bps and self.reduce_below_bps >= self.restore_to_bps:
            raise InputError("reduce_below_bps", f"must be below restore_to_bps ({self.restore_to_bps:g}), "
                             f"got {self.reduce_below_bps:g}")


def margin_ratio(position_units: float, equity_quote: float, price: float) -> float:
    """``equity / (|size| * price)``; ``inf`` for a flat position."""
    check_finite("position_units", position_units)
    check_finite("equity_quote", equity_quote)
    check_positive("price", price)
    if position_units == 0.0:
        return math.inf
    return equity_quote / (abs(position_units) * price)


def margin_reduction_units(position_units: float, equity_quote: float, price: float, cost_fraction: float,
                           config: MarginConfig) -> float:
    """Units to close (>= 0, at most ``|position_units|``) so that the margin ratio is back at
    ``restore_to_bps`` after paying ``cost_fraction`` of the closed notional; 0 when the ratio is at
    or above ``reduce_below_bps`` (or the guard is off)."""
    check_non_negative("cost_fraction", cost_fraction)
    ratio = margin_ratio(position_units, equity_quote, price)
    if config.reduce_below_bps == 0.0 or ratio >= config.reduce_below_bps * 1e-4:
        return 0.0
    size = abs(position_units)
    r = config.restore_to_bps * 1e-4
    if equity_quote <= 0.0 or r <= cost_fraction:
        return size
    d = (r * size * price - equity_quote) / (price * (r - cost_fraction))
    return min(size, d)
