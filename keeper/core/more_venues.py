"""The second venue step: Uniswap v4 pools and Aave v3 loans beside the v3 pools and perps.

:func:`keeper.core.policy.decide_underlying` chooses among Uniswap v3 pools and perps (and its array
twin :mod:`keeper.core.policy_arrays`, which the backtest runs, models exactly those). This module
runs *after* it, on its decision, and never changes what it decided about whether and how much
to hedge (band, trigger, gates, clip): it only re-chooses the venue of the order, at the same
side and size, among every venue by the same all-in cost rule (:func:`keeper.core.costs.rank_venues`,
cheapest ``fee + impact + funding/interest + gas`` first). The backtest does not model these
venues yet, and the Whalley-Wilmott ``k`` is still the cheapest v3 pool or perp.

Venues added
------------
* **Uniswap v4 pool** (``uniswap_v4``): the v3 cost model (:func:`keeper.core.costs.estimate_swap`)
  with the impact from a V4Quoter result when it covers the order, else the pool's active
  liquidity; the same pool-deviation and slippage gates as a v3 pool. A pool whose underlying
  side is the native coin sells the account's native balance (minus a gas reserve).
* **Aave v3 loan** (``aave``), an instrument of two legs:

  - *borrow-and-sell* (a sell: adds short delta): borrow ``size`` of the underlying's token at
    the variable rate, sell it in the cheapest pool that trades that token (a v3 pool, or a v4
    pool whose currency is the token itself);
  - *buy-and-repay* (a buy: removes short delta): buy the token in the cheapest such pool and
    repay variable debt with it.

  ``cost = swap fee + swap impact + s * notional * r_var * horizon_s / 31,536,000 + gas``
  (``s = +1`` borrow: interest paid over ``LoanConfig.holding_horizon_s``; ``-1`` repay: interest
  saved), with ``r_var`` the reserve's ``currentVariableBorrowRate`` (an APR, ray) at the
  snapshot block; gas of both legs. The interest sits in ``CostEstimate.funding_quote``.

Health-factor floor
-------------------
:func:`health_factor_after` is Aave's own arithmetic on the snapshot's integers
(:func:`keeper.core.aave.account_data`, exact to the wei of ``getUserAccountData`` at the snapshot
block): the debt token mints ``amount.rayDiv(index)`` scaled units on a borrow and burns as many
on a repay. :func:`gate_health_factor` refuses a borrow whose health factor after is below
``LoanConfig.min_health_factor``; the reason names the health factor before, after and the floor.
A repay only raises the health factor and is never refused by it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from keeper.core._checks import check_finite, check_non_negative
from keeper.core.aave import HF_MAX, WAD, account_data, decode_reserve_config, ray_div, ray_mul
from keeper.core.costs import (
    CostEstimate,
    GasView,
    VenueConfig,
    VenueEstimate,
    estimate_swap,
    gas_cost_quote,
    rank_venues,
)
from keeper.core.gates import gate_slippage_estimate, gate_swap_estimate
from keeper.core.hedge_types import Decision, HedgeOrder, UnderlyingInput
from keeper.core.reasons import Reason, fmt_quote, fmt_units
from keeper.core.snapshot import AaveAccountState, AaveMarketState, AaveReserveState
from keeper.core.venue_inputs import Side, SwapQuote, SwapVenue
from keeper.errors import InputError

__all__ = [
    "SECONDS_PER_YEAR",
    "LoanConfig",
    "LoanVenue",
    "MoreVenues",
    "V4Venue",
    "borrow_interest_quote",
    "decide_more",
    "estimate_loan",
    "estimate_v4",
    "gate_health_factor",
    "health_factor_after",
]

SECONDS_PER_YEAR = 365 * 86_400
"""Aave's ``MathUtils.SECONDS_PER_YEAR``: rates are APRs over 365 days."""
RAY_F = 1e27


@dataclass(frozen=True, slots=True)
class LoanConfig:
    """Limits of the Aave loan venue (``[aave]`` in the config).

    Attributes
    ----------
    min_health_factor : float
        A borrow that leaves the account's health factor below this is refused (plain ratio; Aave
        liquidates below 1.0, so it must be > 1).
    holding_horizon_s : float
        Expected holding time of a borrow-and-sell hedge, seconds: the interest estimate's horizon.
    """

    min_health_factor: float = 1.5
    holding_horizon_s: float = 86_400.0

    def __post_init__(self) -> None:
        check_finite("min_health_factor", self.min_health_factor)
        if not self.min_health_factor > 1.0:
            raise InputError("min_health_factor", f"must be > 1 (Aave liquidates below 1.0), got "
                                                  f"{self.min_health_factor!r}")
        check_non_negative("holding_horizon_s", self.holding_horizon_s)


@dataclass(frozen=True, slots=True)
class V4Venue:
    """A Uniswap v4 pool of the underlying against the quote token (``swap.venue_id`` = the pool id).

    ``native``: the pool's underlying currency is the native coin (``address(0)``), so a sell spends
    native balance and the pool cannot sell a borrowed ERC-20.
    """

    swap: SwapVenue
    native: bool = False
    buy_quote: SwapQuote | None = None
    """A V4Quoter result for a buy (``swap.quote`` holds the sell's); used for buy orders."""


@dataclass(frozen=True, slots=True)
class LoanVenue:
    """An Aave v3 reserve the account may borrow from or repay, with the account as read.

    ``venue_id`` is ``<pool>:<asset>``; ``asset`` is the reserve's token (the underlying's token);
    ``account`` is the hedging account's state (empty balances when it has none).
    """

    venue_id: str
    market: AaveMarketState
    account: AaveAccountState
    asset: str
    borrow_gas_units: float = 300_000.0
    repay_gas_units: float = 250_000.0

    def __post_init__(self) -> None:
        if not self.venue_id:
            raise InputError("venue_id", "must be a non-empty string")
        _reserve(self.market, self.asset)
        check_non_negative("borrow_gas_units", self.borrow_gas_units)
        check_non_negative("repay_gas_units", self.repay_gas_units)

    @property
    def reserve(self) -> AaveReserveState:
        return _reserve(self.market, self.asset)

    @property
    def decimals(self) -> int:
        return decode_reserve_config(self.reserve.configuration).decimals

    @property
    def borrow_rate_per_year(self) -> float:
        """The variable borrow APR as a fraction (``currentVariableBorrowRate / 1e27``)."""
        return self.reserve.variable_borrow_rate / RAY_F

    def variable_debt_raw(self) -> int:
        """The account's variable debt in this reserve now (raw units, interest included)."""
        scaled = _get(self.account.scaled_variable_debt, self.asset)
        return ray_mul(scaled, self.reserve.variable_borrow_index) if scaled else 0


@dataclass(frozen=True, slots=True)
class MoreVenues:
    """The venues of one underlying beyond v3 pools and perps.

    ``unsupported``: non-empty when these venues cannot be executed by the keeper's mode (the
    HedgeModule has no v4 or Aave path yet); they are then estimated and listed, never chosen.
    ``module_legs``: loans are executed through the Safe's HedgeVenueModule, whose borrow-and-sell and
    buy-and-repay swap in a v4 pool only (native ETH included: the module wraps and unwraps WETH); a loan's
    swap leg is then chosen among the v4 pools alone.
    """

    v4: tuple[V4Venue, ...] = ()
    loans: tuple[LoanVenue, ...] = ()
    unsupported: str = ""
    module_legs: bool = False


def _get(d: dict[str, int], asset: str) -> int:
    for k, v in d.items():
        if k.lower() == asset.lower():
            return v
    return 0


def _reserve(market: AaveMarketState, asset: str) -> AaveReserveState:
    for k, r in market.reserves.items():
        if k.lower() == asset.lower():
            return r
    raise InputError("asset", f"{asset} is not a reserve of Aave pool {market.pool}")


# --------------------------------------------------------------------------- health factor


def health_factor_after(market: AaveMarketState, account: AaveAccountState, asset: str,
                        debt_change_raw: int) -> tuple[int, int]:
    """(health factor before, after) in wad when the account's variable debt in ``asset`` changes by
    ``debt_change_raw`` (> 0 borrow, < 0 repay), at the snapshot's indexes and prices.

    Aave's arithmetic: a borrow mints ``amount.rayDiv(index)`` scaled debt, a repay burns as much
    (never below zero); the user's borrowing bit follows the scaled debt. Then
    :func:`keeper.core.aave.account_data`. :data:`keeper.core.aave.HF_MAX` means no debt.
    """
    r = _reserve(market, asset)
    key = next((k for k in market.reserves if k.lower() == asset.lower()), asset)
    before = account_data(market, account).health_factor
    scaled = _get(account.scaled_variable_debt, asset)
    moved = ray_div(abs(debt_change_raw), r.variable_borrow_index)
    new_scaled = scaled + moved if debt_change_raw >= 0 else max(scaled - moved, 0)
    debts = {k: v for k, v in account.scaled_variable_debt.items() if k.lower() != asset.lower()}
    debts[key] = new_scaled
    bit = 1 << (2 * r.reserve_id)
    stable = _get(account.stable_debt, asset)
    config = account.user_configuration | bit if (new_scaled or stable) else account.user_configuration & ~bit
    after = account_data(market, dataclasses.replace(account, scaled_variable_debt=debts, user_configuration=config))
    return before, after.health_factor


def _hf_text(hf: int) -> str:
    return "no debt (infinite)" if hf == HF_MAX else f"{hf / WAD:.4f}"


def gate_health_factor(before_wad: int, after_wad: int, min_health_factor: float, *, label: str,
                       action: str) -> Reason | None:
    """The refusal of a hedge that leaves the health factor below the floor, or ``None`` when it may go.

    Refused when ``after < floor`` and the hedge lowers the health factor (a repay, which raises
    it, always passes). The reason names the health factor before and after and the floor.
    """
    floor_wad = round(min_health_factor * WAD)
    if after_wad >= floor_wad or after_wad >= before_wad:
        return None
    # an account without debt has no finite health factor: the number is left out (the text says so)
    before = {} if before_wad == HF_MAX else {"health_factor_before": before_wad / WAD}
    return Reason.of(
        "venue_health_factor",
        f"{label} refused: {action} takes the health factor from {_hf_text(before_wad)} to {_hf_text(after_wad)},"
        f" below the floor {min_health_factor:g} (aave.min_health_factor)",
        **before, health_factor_after=after_wad / WAD, min_health_factor=min_health_factor)


def borrow_interest_quote(notional_quote: float, rate_per_year: float, horizon_s: float) -> float:
    """Interest on ``notional_quote`` at a variable APR ``rate_per_year`` over ``horizon_s`` seconds
    (simple, as Aave's linear estimate over a short horizon; its compounding adds ~r^2 t^2 / 2)."""
    return notional_quote * rate_per_year * horizon_s / SECONDS_PER_YEAR


# --------------------------------------------------------------------------- estimates


def estimate_v4(venue: V4Venue, side: Side, size_units: float, price: float, gas: GasView, config: VenueConfig,
                max_deviation_bps: float, swap_ref: float, *, underlying: str = "",
                quote_symbol: str = "USD") -> VenueEstimate:
    """A v4 pool's estimate with the same gates as a v3 pool: cost, pool deviation, slippage bound."""
    s = venue.swap
    if side == "buy":
        s = dataclasses.replace(s, quote=venue.buy_quote) if (venue.buy_quote is not None or s.liquidity is not None) \
            else s
    est = estimate_swap(s, side, size_units, price, gas, config, underlying=underlying, quote_symbol=quote_symbol,
                        kind="uniswap_v4")
    est = gate_swap_estimate(est, s, price, max_deviation_bps, underlying=underlying, quote_symbol=quote_symbol)
    return gate_slippage_estimate(est, price, config.max_slippage_bps,
                                  pool_price=None if s.sqrt_price is None else s.sqrt_price * s.sqrt_price,
                                  bound_price=swap_ref)


def _unavailable(venue: LoanVenue, side: Side, size: float, notional: float, cost: CostEstimate,
                 reason: Reason) -> VenueEstimate:
    return VenueEstimate("aave", venue.venue_id, 0.0, side, size, notional, cost, False, reason)


def estimate_loan(  # noqa: C901
    venue: LoanVenue,
    legs: Sequence[tuple[str, SwapVenue]],
    side: Side,
    size_units: float,
    price: float,
    gas: GasView,
    config: VenueConfig,
    loan: LoanConfig,
    max_deviation_bps: float,
    swap_ref: float,
    *,
    underlying: str = "",
    quote_symbol: str = "USD",
) -> tuple[VenueEstimate, VenueEstimate | None]:
    """Borrow-and-sell (``sell``) or buy-and-repay (``buy``) of ``size_units`` on ``venue``.

    ``legs``: ``(kind, pool)`` of the pools that trade the reserve's token itself (``uniswap`` or
    ``uniswap_v4``); the cheapest available one is the swap leg. Returns the loan's estimate and
    its swap leg's (``None`` when no leg is available). Unavailable, with the reason, when the
    reserve cannot be borrowed (inactive, frozen, paused, borrowing off), the borrow exceeds the
    account's borrowing power, the health factor after is below ``loan.min_health_factor``, a
    repay exceeds the variable debt, or no pool can take the swap.
    """
    q = quote_symbol
    label = f"aave:{venue.venue_id}"
    notional = size_units * price
    sign = 1.0 if side == "sell" else -1.0
    interest = sign * borrow_interest_quote(notional, venue.borrow_rate_per_year, loan.holding_horizon_s)
    loan_gas = venue.borrow_gas_units if side == "sell" else venue.repay_gas_units
    leg_ests = []
    for kind, pool in legs:
        s = pool  # the borrowed tokens arrive before the sale:
        if side == "sell":
            s = dataclasses.replace(pool, underlying_balance_units=max(pool.underlying_balance_units, size_units))
        est = estimate_swap(s, side, size_units, price, gas, config, underlying=underlying, quote_symbol=q,
                            kind="uniswap_v4" if kind == "uniswap_v4" else "uniswap")
        est = gate_swap_estimate(est, s, price, max_deviation_bps, underlying=underlying, quote_symbol=q)
        leg_ests.append(gate_slippage_estimate(
            est, price, config.max_slippage_bps, bound_price=swap_ref,
            pool_price=None if s.sqrt_price is None else s.sqrt_price * s.sqrt_price))
    ranked = rank_venues(leg_ests)
    leg = ranked[0] if ranked else None
    fee = leg.cost.fee_quote if leg else 0.0
    impact = leg.cost.impact_quote if leg else 0.0
    swap_gas = leg.cost.gas_quote if leg else 0.0
    cost = CostEstimate(fee, impact, interest, swap_gas + gas_cost_quote(loan_gas, gas.gas_price_gwei,
                                                                        gas.native_price_quote))
    what = "borrow-and-sell" if side == "sell" else "buy-and-repay"
    cfg = decode_reserve_config(venue.reserve.configuration)
    amount = int(size_units * 10**cfg.decimals)

    def refuse(code: str, text: str, **numbers: float) -> tuple[VenueEstimate, VenueEstimate | None]:
        return _unavailable(venue, side, size_units, notional, cost, Reason.of(code, f"{label} unavailable: {text}",
                                                                              **numbers)), leg

    if amount <= 0:
        return refuse("venue_loan", f"{fmt_units(size_units, underlying)} rounds to nothing")
    if side == "sell":
        if not cfg.active or cfg.frozen or cfg.paused or not cfg.borrowing_enabled:
            state = ", ".join(n for n, bad in (("inactive", not cfg.active), ("frozen", cfg.frozen),
                                               ("paused", cfg.paused), ("borrowing off", not cfg.borrowing_enabled))
                              if bad)
            return refuse("venue_loan", f"reserve {venue.asset} cannot be borrowed ({state})")
        try:
            acct = account_data(venue.market, venue.account)
            before, after = health_factor_after(venue.market, venue.account, venue.asset, amount)
        except InputError as exc:
            return refuse("venue_loan", str(exc))
        value_base = amount * venue.reserve.price // 10**cfg.decimals
        if value_base > acct.available_borrows_base:
            return refuse("venue_loan", f"borrowing {fmt_units(size_units, underlying)} needs {value_base / 1e8:,.2f}"
                          f" base units of borrowing power, the account has {acct.available_borrows_base / 1e8:,.2f}",
                          borrow_base=value_base / 1e8, available_base=acct.available_borrows_base / 1e8)
        hf_refusal = gate_health_factor(before, after, loan.min_health_factor, label=label,
                                        action=f"borrowing {fmt_units(size_units, underlying)}")
        if hf_refusal is not None:
            return _unavailable(venue, side, size_units, notional, cost, hf_refusal), leg
    else:
        debt = venue.variable_debt_raw()
        if debt < amount:
            return refuse("venue_loan", f"variable debt {fmt_units(debt / 10**cfg.decimals, underlying)} < "
                          f"{fmt_units(size_units, underlying)} to repay",
                          debt_units=debt / 10**cfg.decimals, size_units=size_units)
        try:
            before, after = health_factor_after(venue.market, venue.account, venue.asset, -amount)
        except InputError as exc:
            return refuse("venue_loan", str(exc))
    if leg is None:
        why = "; ".join(e.reason.text for e in leg_ests) or "no pool trades the reserve's token"
        return refuse("venue_loan", f"no pool can take the {what} swap ({why})")
    hf = f"health factor {_hf_text(before)} -> {_hf_text(after)}"
    reason = Reason.of(
        "venue_ok",
        f"{label} ({what} via {leg.label}): {fmt_quote(cost.total_quote, q)} (fee {fmt_quote(fee, q)},"
        f" impact {fmt_quote(impact, q)}, interest {fmt_quote(interest, q)} at {venue.borrow_rate_per_year * 100:.2f}"
        f" % APR over {loan.holding_horizon_s:,.0f} s, gas {fmt_quote(cost.gas_quote, q)}); {hf}",
        total_quote=cost.total_quote, fee_quote=fee, impact_quote=impact, interest_quote=interest,
        gas_quote=cost.gas_quote, borrow_rate_per_year=venue.borrow_rate_per_year,
        **({} if after == HF_MAX else {"health_factor_after": after / WAD}))
    return VenueEstimate("aave", venue.venue_id, leg.fee_fraction, side, size_units, notional, cost, True, reason,
                         leg.impact_source), leg


# --------------------------------------------------------------------------- the step


def _size_and_side(d: Decision) -> tuple[float, Side] | None:
    if d.order is not None:
        return d.order.size_units, d.order.side
    if d.reasons and d.reasons[-1].code == "no_venue" and d.venues:
        return d.venues[0].size_units, d.venues[0].side
    return None


def decide_more(
    d: Decision,
    inp: UnderlyingInput,
    more: MoreVenues,
    vc: VenueConfig,
    max_deviation_bps: float,
    loan: LoanConfig,
    gas: GasView,
    quote_symbol: str = "USD",
) -> Decision:
    """Re-choose ``d``'s venue among its own estimates and ``more``'s, at the same side and size.

    ``d`` is :func:`keeper.core.policy.decide_underlying`'s decision for ``inp``. Nothing changes when
    it has no order for any reason but "no venue available", or when ``more`` is empty. Otherwise
    every new venue's estimate (and its reason when unavailable) is added to the decision; when the
    cheapest available venue is a new one, it becomes the order (limit from the same bound price:
    the stricter of feed and TWAP for a pool, the feed for a loan's swap leg as well).
    """
    if not more.v4 and not more.loans:
        return d
    got = _size_and_side(d)
    if got is None:
        return d
    size, side = got
    sym, q = d.underlying, quote_symbol
    price, twap = inp.oracle.feed_price, inp.oracle.twap
    swap_ref = price if twap is None else (max(price, twap) if side == "sell" else min(price, twap))
    new: list[VenueEstimate] = []
    legs: dict[str, VenueEstimate | None] = {}
    for v in more.v4:
        new.append(estimate_v4(v, side, size, price, gas, vc, max_deviation_bps, swap_ref, underlying=sym,
                               quote_symbol=q))
    leg_pools = ([] if more.module_legs else [("uniswap", s) for s in inp.swaps]) + [
        ("uniswap_v4", v.swap if side == "sell" or (v.buy_quote is None and v.swap.liquidity is None)
         else dataclasses.replace(v.swap, quote=v.buy_quote)) for v in more.v4 if more.module_legs or not v.native]
    for lv in more.loans:
        est, leg = estimate_loan(lv, leg_pools, side, size, price, gas, vc, loan, max_deviation_bps, swap_ref,
                                 underlying=sym, quote_symbol=q)
        new.append(est)
        legs[lv.venue_id] = leg
    if more.unsupported:
        new = [dataclasses.replace(e, available=False, reason=Reason.of(
            "venue_unsupported", f"{e.label} unavailable: {more.unsupported}")) if e.available else e for e in new]
    venues = (*d.venues, *new)
    reasons = [*d.reasons]
    extra_reasons = [e.reason for e in new if not e.available]
    ranked = rank_venues(venues)
    if not ranked or not any(ranked[0] is e for e in new):
        if d.order is None:  # still no venue: the new venues' refusals go before the "no venue" line
            reasons[-1:-1] = extra_reasons
        else:
            at = next(i for i, r in enumerate(reasons) if r.code == "venue_chosen")
            reasons[at:at] = extra_reasons
        return dataclasses.replace(d, venues=venues, reasons=tuple(reasons))
    best = ranked[0]
    slip = vc.max_slippage_bps * 1e-4
    leg_order = None
    if best.venue == "aave":
        leg = legs[best.venue_id]
        assert leg is not None  # an available loan has a leg
        leg_ref = swap_ref
        leg_limit = leg_ref * (1.0 + slip) if side == "buy" else leg_ref * (1.0 - slip)
        leg_order = HedgeOrder(sym, side, size, leg.notional_quote, leg.venue, leg.venue_id, leg.fee_fraction, leg_ref,
                               leg_limit, leg.cost)
    ref = swap_ref
    limit = ref * (1.0 + slip) if side == "buy" else ref * (1.0 - slip)
    order = HedgeOrder(sym, side, size, best.notional_quote, best.venue, best.venue_id, best.fee_fraction, ref, limit,
                       best.cost, leg_order)
    # delta before this step's order: the decision's "after" minus the order it had (if any)
    base = d.delta_after_units - (d.order.signed_units if d.order is not None else 0.0)
    after = base + order.signed_units
    keep = [r for r in reasons if r.code not in ("venue_chosen", "order", "no_venue")]
    keep.extend(extra_reasons)
    others = [e for e in ranked[1:]]
    nxt = f"; next {others[0].label} {fmt_quote(others[0].cost.total_quote, q)}" if others else ""
    keep.append(Reason.of("venue_chosen", f"{best.reason.text}{nxt}", total_quote=best.cost.total_quote))
    keep.append(Reason.of("order", f"{side} {fmt_units(size, sym)} ({fmt_quote(best.notional_quote, q)}) on"
                          f" {best.label}, limit {limit:.6g}; delta {fmt_units(base, sym, signed=True)}"
                          f" -> {fmt_units(after, sym, signed=True)}",
                          size_units=size, notional_quote=best.notional_quote, limit_price_quote=limit,
                          delta_after_units=after))
    remaining = d.remaining_units if d.order is not None else max(d.needed_units - size, 0.0)
    return dataclasses.replace(d, order=order, delta_after_units=after, remaining_units=remaining,
                               reasons=tuple(keep), venues=venues)
