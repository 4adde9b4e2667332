"""The hedge decision for many books at once: the array twin of :func:`keeper.core.policy.decide_underlying`.

The backtest decides every path's hedge at a time step in one call. Each step of the scalar
decision has its twin here, built from the twins next to the scalar rules:

1. ``dev = delta - target``; the Whalley-Wilmott ``k`` is the cheapest of the pool's
   ``fee + impact`` at ``|dev|`` (only where the pool is within ``max_oracle_deviation_bps`` of the
   feed) and the perp's taker fee (:func:`keeper.core.costs.one_way_cost_fraction`);
2. band, trigger and minimum trade: :func:`keeper.core.sizing.hedge_needed_array`, with the money
   at the feed price and the band at the book's spot;
3. gates: :func:`keeper.core.gates.evaluate_gates_array` (feed age, feed/pool/TWAP agreement, gas
   with the urgent override);
4. clip: :func:`keeper.core.sizing.clip_size_array` and the minimum trade again;
5. venue: the pool (:func:`keeper.core.costs.estimate_swap` with liquidity data, then
   :func:`keeper.core.gates.gate_swap_estimate` and :func:`keeper.core.gates.gate_slippage_estimate`
   against the stricter of feed and TWAP) and the perp (:func:`keeper.core.costs.estimate_perp`,
   its slippage gate); the cheaper all-in ``fee + impact + funding + gas`` wins, a tie goes to the
   pool (``rank_venues`` keeps the input order: swaps first).

What it leaves out of ``decide_underlying``: the snapshot gate (a simulation reads everything),
token balances and perp free margin (assumed sufficient), quoter results (impact from the
pool's liquidity only), the margin guard, and several pools or perps (one of each).

Units: underlying units for delta and sizes, quote per underlying unit for prices, quote for
costs, unix seconds for times, gwei for gas prices.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from keeper.core._checks import check_finite, check_fraction, check_non_negative
from keeper.core.costs import v3_impact_fraction_array
from keeper.core.gates import GateArrays, deviation_bps_array, evaluate_gates_array
from keeper.core.policy import UnderlyingPolicy
from keeper.core.sizing import clip_size_array, hedge_needed_array, min_trade_ok_array

__all__ = ["OUTCOMES", "REFUSALS", "VENUES", "DecisionArrays", "MarketArrays", "PerpMarket", "SwapPool",
           "decide_arrays"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]

OUTCOMES: Final = ("none", "order", "gates_failed", "below_min_after_clip", "no_venue")
"""``DecisionArrays.outcome`` codes: no hedge needed; an order; a gate failed (``gates_failed``); the
clip misses the minimum trade (``window_cap`` / ``max_trade_below_min``); no venue available."""
VENUES: Final = ("none", "uniswap", "perp")
"""``DecisionArrays.venue`` codes."""
REFUSALS: Final = ("", "venue_impact", "gate_pool_deviation", "venue_slippage")
"""``DecisionArrays.swap_refusal`` / ``perp_refusal`` codes: the reason code of an unavailable venue."""
_NONE, _ORDER, _GATES, _SMALL, _NO_VENUE = range(5)


@dataclass(frozen=True, slots=True)
class SwapPool:
    """The hedge pool: fee tier (fraction) and active liquidity ``L`` (human units), its price
    being ``MarketArrays.pool_price`` (``sqrtP = sqrt(pool_price)``)."""

    fee_fraction: float
    liquidity: float

    def __post_init__(self) -> None:
        check_fraction("fee_fraction", self.fee_fraction)
        check_non_negative("liquidity", self.liquidity)


@dataclass(frozen=True, slots=True)
class PerpMarket:
    """The perp: taker fee (fraction of notional) and funding rate (fraction of notional per second,
    signed: > 0 longs pay)."""

    taker_fee_fraction: float
    funding_rate_per_second: float

    def __post_init__(self) -> None:
        check_fraction("taker_fee_fraction", self.taker_fee_fraction)
        check_finite("funding_rate_per_second", self.funding_rate_per_second)


@dataclass(frozen=True, slots=True)
class MarketArrays:
    """What the keeper reads at one time step, per book (arrays broadcast; ``now`` is shared).

    ``feed_price`` and ``feed_updated_at`` (the Chainlink answer and its ``updatedAt``), the pool's
    spot ``pool_price``, its ``twap`` (NaN: missing), the block time ``now``, the gas price
    ``gas_price_gwei`` and the gas of one order in quote on each venue (``swap_gas_quote``,
    ``perp_gas_quote``: ``gas_units x gwei x 1e-9 x native price``).
    """

    feed_price: npt.ArrayLike
    feed_updated_at: npt.ArrayLike
    pool_price: npt.ArrayLike
    twap: npt.ArrayLike
    now: float
    gas_price_gwei: npt.ArrayLike
    swap_gas_quote: npt.ArrayLike
    perp_gas_quote: npt.ArrayLike = 0.0


@dataclass(frozen=True, slots=True)
class DecisionArrays:
    """The decisions, element-wise.

    ``trade``: signed units of the order (+ buy, - sell; 0 without one); ``needed``: the unsigned
    amount the trigger set out to hedge (before gates and clip); ``outcome`` (:data:`OUTCOMES`),
    ``venue`` (:data:`VENUES`); ``gates`` as evaluated (a failed gate blocks a hedge only where
    ``needed > 0``); ``swap_refusal`` / ``perp_refusal`` (:data:`REFUSALS`) where the venues were
    estimated; the chosen venue's estimated cost parts (quote, 0 without an order).
    """

    trade: FloatArray
    needed: FloatArray
    outcome: IntArray
    venue: IntArray
    gates: GateArrays
    swap_refusal: IntArray
    perp_refusal: IntArray
    fee_quote: FloatArray
    impact_quote: FloatArray
    funding_quote: FloatArray
    gas_quote: FloatArray

    @property
    def blocked(self) -> BoolArray:
        """Where a hedge was due but a gate failed."""
        out: BoolArray = self.outcome == _GATES
        return out


def _full(x: npt.ArrayLike, shape: tuple[int, ...]) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    return a if a.shape == shape else np.broadcast_to(a, shape)


# Long on purpose: decide_underlying's steps in order, each a few array operations.
def decide_arrays(policy: UnderlyingPolicy, delta_units: npt.ArrayLike, spot: npt.ArrayLike,  # noqa: PLR0915
                  gamma_units_per_quote: npt.ArrayLike, book_value_quote: npt.ArrayLike, elapsed_s: npt.ArrayLike,
                  window_left_quote: npt.ArrayLike, market: MarketArrays, pool: SwapPool,
                  perp: PerpMarket | None = None, *, all_gates: bool = True) -> DecisionArrays:
    """``decide_underlying`` for many books (see the module docstring), one pool and at most one perp.

    ``spot`` is the greeks' spot, ``elapsed_s`` the time since the last hedge (``inf``: never),
    ``window_left_quote`` the rolling window's remaining budget. ``all_gates=False`` evaluates the
    gates only where a hedge is due (the rest of ``gates`` reads as passed): the same orders and
    refusals, less work for the backtest.
    """
    trig, sz, gc, vc = policy.trigger, policy.sizing, policy.gates, policy.venues
    target = policy.target_delta_units
    shape = np.broadcast_shapes(*(np.shape(x) for x in (
        delta_units, spot, gamma_units_per_quote, book_value_quote, elapsed_s, window_left_quote, market.feed_price,
        market.feed_updated_at, market.pool_price, market.twap, market.gas_price_gwei, market.swap_gas_quote,
        market.perp_gas_quote)))
    feed = _full(market.feed_price, shape)
    pool_spot = _full(market.pool_price, shape)
    twap = _full(market.twap, shape)
    sqrt_p = np.sqrt(pool_spot)
    pool_p = sqrt_p * sqrt_p  # the pool price as decide reads it from SwapVenue.sqrt_price
    dev = _full(delta_units, shape) - target
    adev = np.abs(dev)
    sell = dev > 0.0

    # 1-2. k, band, trigger, minimum trade
    k: npt.ArrayLike
    if trig.trigger == "ww" and trig.cost_fraction is None:
        healthy = deviation_bps_array(pool_p, feed) <= gc.max_oracle_deviation_bps
        k_swap = np.where(healthy, pool.fee_fraction + v3_impact_fraction_array(adev, sell, pool.liquidity, sqrt_p),
                          np.inf)
        k = k_swap if perp is None else np.minimum(k_swap, perp.taker_fee_fraction)
    else:
        k = trig.cost_fraction if trig.cost_fraction is not None else 0.0
    needed = _full(hedge_needed_array(trig, sz, target, _full(delta_units, shape), spot, gamma_units_per_quote,
                                      book_value_quote, k, elapsed_s, price=feed), shape)
    want = needed > 0.0

    # 3. gates: everywhere (all_gates) or only where a hedge is due
    w = np.flatnonzero(want)

    def sub(x: npt.ArrayLike) -> FloatArray:
        out: FloatArray = _full(x, shape).reshape(-1)[w]
        return out

    feed_w, twap_w, dev_w = sub(feed), sub(twap), sub(dev)
    if all_gates:
        gates = evaluate_gates_array(gc, feed, market.feed_updated_at, pool_spot, twap, market.now,
                                     market.gas_price_gwei, dev)
        if gates.gas.shape != shape:
            gates = GateArrays(*(np.broadcast_to(g, shape).copy() for g in (
                gates.feed_staleness, gates.oracle_consistency, gates.gas, gates.gas_overridden, gates.twap_missing)))
        passed_w = gates.passed.reshape(-1)[w]
    else:
        g_w = evaluate_gates_array(gc, feed_w, sub(market.feed_updated_at), sub(pool_spot), twap_w, market.now,
                                   sub(market.gas_price_gwei), dev_w)
        flags = []
        for g in (g_w.feed_staleness, g_w.oracle_consistency, g_w.gas, g_w.gas_overridden, g_w.twap_missing):
            full = np.zeros(shape, dtype=np.bool_)
            full.reshape(-1)[w] = g
            flags.append(full)
        gates = GateArrays(*flags)
        passed_w = g_w.passed

    # 4. clip
    clip_w = clip_size_array(sub(needed), feed_w, sz.max_trade_usd, sub(window_left_quote))
    clip_ok_w = min_trade_ok_array(clip_w, feed_w, sz)
    go_w = passed_w & clip_ok_w
    outcome = np.full(shape, _NONE, dtype=np.int8)
    outcome.reshape(-1)[w] = np.where(passed_w, np.where(clip_ok_w, _ORDER, _SMALL), _GATES)

    # 5. venues, where an order is sought
    venue = np.zeros(shape, dtype=np.int8)
    swap_refusal = np.zeros(shape, dtype=np.int8)
    perp_refusal = np.zeros(shape, dtype=np.int8)
    parts = [np.zeros(shape) for _ in range(4)]
    trade = np.zeros(shape)
    j = np.flatnonzero(go_w)
    if j.size:
        idx = w[j]
        size, f, tw, s_sell = clip_w[j], feed_w[j], twap_w[j], dev_w[j] > 0.0
        pp, sq = pool_p.reshape(-1)[idx], sqrt_p.reshape(-1)[idx]
        notional = size * f
        sw_gas = sub(market.swap_gas_quote)[j]
        frac = v3_impact_fraction_array(size, s_sell, pool.liquidity, sq)
        sw_fee = notional * pool.fee_fraction
        sw_impact = frac * notional
        sw_total = sw_fee + sw_impact + 0.0 + sw_gas
        sw_refuse = np.zeros(idx.size, dtype=np.int8)
        sw_refuse[frac * 1e4 > vc.max_impact_bps] = 1
        dev_ok = deviation_bps_array(pp, f) <= gc.max_oracle_deviation_bps
        sw_refuse[(sw_refuse == 0) & ~dev_ok] = 2
        bound = np.where(np.isnan(tw), f, np.where(s_sell, np.maximum(f, tw), np.minimum(f, tw)))
        with np.errstate(invalid="ignore"):  # inf impact (a buy past the range's reserve): refused above
            impact_bps = sw_impact / notional * 1e4
        signed = (pp / bound - 1.0) * 1e4
        basis = np.where(s_sell, np.maximum(-signed, 0.0), np.maximum(signed, 0.0))
        sw_refuse[(sw_refuse == 0) & ~(pool.fee_fraction * 1e4 + impact_bps + basis <= vc.max_slippage_bps)] = 3
        sw_ok = sw_refuse == 0
        choice = np.where(sw_ok, 1, 0).astype(np.int8)
        fee_c, imp_c, fund_c, gas_c = (np.where(sw_ok, sw_fee, 0.0), np.where(sw_ok, sw_impact, 0.0),
                                       np.zeros(idx.size), np.where(sw_ok, sw_gas, 0.0))
        if perp is not None:
            p_gas = sub(market.perp_gas_quote)[j]
            sign = np.where(s_sell, -1.0, 1.0)
            p_fee = notional * perp.taker_fee_fraction
            p_fund = sign * perp.funding_rate_per_second * vc.perp_holding_horizon_s * notional
            p_total = p_fee + 0.0 + p_fund + p_gas
            p_refuse = np.zeros(idx.size, dtype=np.int8)
            p_refuse[~(perp.taker_fee_fraction * 1e4 + 0.0 / notional * 1e4 + 0.0 <= vc.max_slippage_bps)] = 3
            p_ok = p_refuse == 0
            take_perp = p_ok & (~sw_ok | (p_total < sw_total))
            choice = np.where(take_perp, 2, choice).astype(np.int8)
            fee_c = np.where(take_perp, p_fee, fee_c)
            imp_c = np.where(take_perp, 0.0, imp_c)
            fund_c = np.where(take_perp, p_fund, fund_c)
            gas_c = np.where(take_perp, p_gas, gas_c)
            perp_refusal.reshape(-1)[idx] = p_refuse
        venue.reshape(-1)[idx] = choice
        swap_refusal.reshape(-1)[idx] = sw_refuse
        for arr, val in zip(parts, (fee_c, imp_c, fund_c, gas_c), strict=True):
            arr.reshape(-1)[idx] = val
        outcome.reshape(-1)[idx[choice == 0]] = _NO_VENUE
        trade.reshape(-1)[idx] = np.where(choice > 0, np.where(s_sell, -size, size), 0.0) + 0.0
    return DecisionArrays(trade, needed, outcome, venue, gates, swap_refusal, perp_refusal, *parts)
