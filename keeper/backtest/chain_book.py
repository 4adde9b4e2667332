"""The treasury's book as read from the chain, as a backtest :class:`~keeper.backtest.book.Book`.

The input is what ``keeper plan`` values: the snapshot's :class:`~keeper.core.book.BookRisk` (its
lines, each with the portfolio positions it contributes, the LPs at their own pools' prices).
Each position of the chosen underlying becomes a leg valued the same way:

* an LP (:class:`~keeper.core.portfolio.LPPosition`): an :class:`LPLeg` with its exact raw
  liquidity, ticks, token order and decimals, and its pool's ``basis`` to the feed; its
  uncollected fees are held constant (underlying fees as spot units, quote fees as cash);
* an option: an :class:`OptionLeg` with its quantity, strike, seconds to expiry from the block, the
  vol the plan used for it (the model vol, or its surface's vol at its strike and expiry) and rate;
* a perp: a :class:`PerpLeg` of its size and entry, paying its market's funding rate as read;
* a spot holding (token and native balances, a short call's locked collateral): spot units.

At the block's spot the book's value, delta and gamma then equal the plan's greeks of the
underlying (:func:`start_marks`), up to floating-point rounding, with one exception the
conversion reports: an option's smile ``delta_adjustment`` (a sticky-moneyness or
minimum-variance flavour) has no place in the flat-vol backtest, whose option delta is the
Black-Scholes one; :attr:`ChainBook.delta_adjustment` is that difference (0 for sticky-strike).
And one small one: the plan marks an LP at its exact integer principal (a burn rounds down), the
backtest at the float v3 formula: on the local world one raw WBTC unit (1e-8 BTC, 6e-4 USD) for an
out-of-range LP, 2e-9 ETH for a narrow in-range one. Gamma is the same formula in both.

Pure: no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from keeper.backtest.book import Book, LPLeg, OptionLeg, PerpLeg
from keeper.backtest.paths import YEAR_S
from keeper.core.book import BookRisk, PerpLine
from keeper.core.portfolio import LPPosition, OptionPosition, PerpPosition, Position, RiskSummary
from keeper.core.snapshot import Snapshot
from keeper.errors import InputError

__all__ = ["ChainBook", "StartMarks", "chain_book", "start_marks"]


@dataclass(frozen=True, slots=True)
class StartMarks:
    """A book's value (quote), delta (underlying units) and gamma (units per quote) at one spot."""

    value: float
    delta: float
    gamma: float


@dataclass(frozen=True, slots=True)
class ChainBook:
    """The backtest book of one underlying read at ``block``, and the plan's greeks it came from."""

    book: Book
    underlying: str
    block: int
    block_timestamp: int
    spot: float
    """The feed's price at the block, quote per unit: the simulated paths start here."""
    plan: RiskSummary
    """The plan's value and greeks of the underlying at the block."""
    delta_adjustment: float
    """Sum of the options' smile delta adjustments (units): in the plan's delta, not in the backtest's."""


def chain_book(snap: Snapshot, risk: BookRisk, underlying: str, *, lp_fee_vol: float = 0.0) -> ChainBook:
    """Convert the plan's book of ``underlying`` (``risk``, valued from ``snap``) into a backtest book.

    ``lp_fee_vol``: each LP's fee income in the simulation, as :class:`LPLeg.fee_vol` (0: none).

    Raises
    ------
    InputError
        The underlying has no spot at the block (unvalued), or the book holds nothing in it.
    """
    if underlying in risk.unvalued:
        raise InputError("from-chain", f"{underlying} has positions but no feed price at block {snap.block_number}")
    if underlying not in risk.summaries:
        raise InputError("from-chain", f"the treasury holds nothing in {underlying} at block {snap.block_number}")
    legs = _Legs(lp_fee_vol)
    for line in risk.lines:
        funding = 0.0
        if isinstance(line, PerpLine):
            market = snap.perp_markets.get(line.perp.market)
            funding = market.funding_rate_per_second / 1e18 if market is not None else 0.0
        for p in line.positions:
            if p.underlying == underlying:
                legs.add(p, funding)
    if not (legs.options or legs.lps or legs.perps or legs.spot_units):
        raise InputError("from-chain", f"the treasury holds nothing in {underlying} at block {snap.block_number}")
    counts = {"LP": len(legs.lps), "option series": len(legs.options), "perp": len(legs.perps)}
    parts = [f"{n} {k}{'s' if n != 1 and k != 'option series' else ''}" for k, n in counts.items() if n]
    desc = (f"the treasury's {underlying} book at block {snap.block_number}: "
            f"{', '.join(parts) or 'no LP, option or perp'}, {legs.spot_units:,.4f} {underlying} spot")
    book = Book(underlying, tuple(legs.options), tuple(legs.lps), tuple(legs.perps), legs.spot_units, desc,
                legs.cash)
    return ChainBook(book, underlying, snap.block_number, snap.block_timestamp, risk.summaries[underlying].spot,
                     risk.summaries[underlying], legs.adjustment)


@dataclass
class _Legs:
    """The legs collected so far (see :func:`chain_book`)."""

    lp_fee_vol: float
    options: list[OptionLeg] = field(default_factory=list)
    lps: list[LPLeg] = field(default_factory=list)
    perps: list[PerpLeg] = field(default_factory=list)
    spot_units: float = 0.0
    cash: float = 0.0
    adjustment: float = 0.0

    def add(self, p: Position, funding: float) -> None:
        if isinstance(p, LPPosition):
            self.lps.append(LPLeg(p.liquidity, p.tick_lower, p.tick_upper, p.underlying_is_token0, p.decimals0,
                                  p.decimals1, self.lp_fee_vol, p.basis))
            self.spot_units += p.fees_underlying
            self.cash += p.fees_quote
        elif isinstance(p, OptionPosition):
            if p.carry:
                raise InputError("from-chain", f"option {p}: a carry yield is not simulated by the backtest")
            self.options.append(OptionLeg(p.quantity, p.strike, p.expiry_years * YEAR_S, p.is_call, p.vol, p.rate))
            self.adjustment += p.quantity * p.delta_adjustment
        elif isinstance(p, PerpPosition):
            self.perps.append(PerpLeg(p.size, p.entry_price, funding))
        else:
            self.spot_units += p.amount


def start_marks(book: Book, spot: float) -> StartMarks:
    """The book's value, delta and gamma at ``spot`` at time 0, as the engine marks it (flat vols)."""
    m = book.revalue(np.array([[float(spot)]]), np.array([0.0]))
    return StartMarks(float(m.value[0, 0]), float(m.delta[0, 0]), float(m.gamma[0, 0]))
