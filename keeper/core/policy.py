"""The hedge decision: a pure function from exposure, prices, venue costs, config and history to a plan.

``decide`` is deterministic (same inputs, equal :class:`Plan`), reads no clock,
environment, file or chain: time is the snapshot's ``block_timestamp``. The live
keeper, dry runs, replays and the backtest call the same function.

One underlying, one cycle
-------------------------
0. Margin guard (:mod:`keeper.core.margin`): a perp hedge whose margin ratio is below
   ``margin.reduce_below_bps`` gets a reduction order (``Decision.margin_order``, executed first),
   and the steps below see the delta as if it were already done (the reduced perp is not a venue).
1. ``dev = delta - target`` (underlying units; ``target`` from the config).
2. Band ``target +/- h`` (:mod:`keeper.core.sizing`): fixed, % of book, or
   Whalley-Wilmott with ``k`` = config override or the cheapest venue's
   ``fee + impact`` at size ``|dev|`` (:func:`keeper.core.costs.one_way_cost_fraction`).
3. Trigger: outside the band (``|dev| > h``) -> hedge ``|dev| - h`` (to the
   edge) or ``|dev|`` (to the target); inside it, the time trigger hedges to
   the target when ``max_interval_s`` elapsed since the last hedge and
   ``|dev|`` clears the minimum trade. Else no trade.
4. Minimum trade: the amount must reach ``min_trade_units`` and ``min_trade_usd``.
5. Gates (:mod:`keeper.core.gates`): snapshot, feed age, oracle consistency, gas
   (urgent deviations override the gas cap). Any failure: no trade.
6. Clip: ``min(needed, max_trade_usd / P, window_left / P)``; the rest is
   reported as ``remaining_units`` and hedged by later cycles.
7. Venue: every swap pool and perp is estimated at the clip size; the cheapest
   available all-in cost wins; unavailable venues are listed with their reason. A pool whose
   price deviates from the feed by more than ``max_oracle_deviation_bps`` is unavailable
   (:func:`keeper.core.gates.gate_swap_estimate`); other venues stay available. Such a pool's
   cost is not used for the Whalley-Wilmott ``k`` either.
8. Order: side, size, notional at the oracle price ``P``, limit price
   ``P (1 +/- max_slippage_bps / 1e4)`` (+ for a buy), cost breakdown.

Prices: money (notionals, caps, limit, impact reference) is measured at the
Chainlink ``feed_price`` of the cycle, checked against the pool and the TWAP by
the oracle gate; the band uses ``Exposure.spot``, the price the greeks were
computed at.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NoReturn

from keeper.core._checks import check_finite
from keeper.core.costs import (
    GasView,
    Side,
    VenueConfig,
    VenueEstimate,
    estimate_perp,
    estimate_swap,
    one_way_cost_fraction,
    rank_venues,
)
from keeper.core.gates import (
    GateConfig,
    SnapshotStatus,
    evaluate_gates,
    gate_slippage_estimate,
    gate_swap_estimate,
    pool_within_deviation,
)
from keeper.core.hedge_types import Decision, Exposure, HedgeOrder, Plan, TriggerKind, UnderlyingInput
from keeper.core.margin import MarginConfig, margin_ratio, margin_reduction_units
from keeper.core.reasons import Reason, fmt_bps, fmt_quote, fmt_seconds, fmt_units
from keeper.core.sizing import (
    Band,
    SizingConfig,
    TriggerConfig,
    clip_size,
    compute_band,
    window_left_quote,
    window_reopens_in_s,
)
from keeper.errors import InputError

__all__ = [
    "Decision",
    "Exposure",
    "HedgeOrder",
    "MarginConfig",
    "Plan",
    "PolicyConfig",
    "TriggerKind",
    "UnderlyingInput",
    "UnderlyingPolicy",
    "decide",
    "decide_underlying",
]

_COMPLETE = SnapshotStatus()


# --------------------------------------------------------------------------- config


class _FrozenMap(dict[str, "UnderlyingPolicy"]):
    """A read-only dict that still pickles and deep-copies (``MappingProxyType`` does neither)."""

    def _readonly(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("PolicyConfig.per_underlying is read-only")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _readonly
    __ior__ = _readonly

    def __reduce__(self) -> tuple[Any, ...]:
        return (_FrozenMap, (dict(self),))

    def __copy__(self) -> _FrozenMap:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _FrozenMap:
        return _FrozenMap({k: copy.deepcopy(v, memo) for k, v in self.items()})


@dataclass(frozen=True, slots=True)
class UnderlyingPolicy:
    """Everything that governs the hedging of one underlying.

    Attributes
    ----------
    target_delta_units : float
        Target net delta, underlying units (0 = delta-neutral).
    trigger, sizing, venues, gates, margin
        See :class:`~keeper.core.sizing.TriggerConfig`, :class:`~keeper.core.sizing.SizingConfig`,
        :class:`~keeper.core.costs.VenueConfig`, :class:`~keeper.core.gates.GateConfig`,
        :class:`~keeper.core.margin.MarginConfig`.
    """

    target_delta_units: float = 0.0
    trigger: TriggerConfig = field(default_factory=TriggerConfig)
    sizing: SizingConfig = field(default_factory=SizingConfig)
    venues: VenueConfig = field(default_factory=VenueConfig)
    gates: GateConfig = field(default_factory=GateConfig)
    margin: MarginConfig = field(default_factory=MarginConfig)

    def __post_init__(self) -> None:
        check_finite("target_delta_units", self.target_delta_units)
        for name, typ in (("trigger", TriggerConfig), ("sizing", SizingConfig), ("venues", VenueConfig),
                          ("gates", GateConfig), ("margin", MarginConfig)):
            if not isinstance(getattr(self, name), typ):
                raise InputError(name, f"must be a {typ.__name__}, got {type(getattr(self, name)).__name__}")


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    """The policy for all underlyings: a default and per-underlying overrides.

    Attributes
    ----------
    default : UnderlyingPolicy
        Used for any underlying without an override.
    per_underlying : Mapping[str, UnderlyingPolicy]
        Overrides by underlying symbol (stored read-only).
    quote_symbol : str
        Name of the quote currency in reasons (``USD``).
    """

    default: UnderlyingPolicy = field(default_factory=UnderlyingPolicy)
    per_underlying: Mapping[str, UnderlyingPolicy] = field(default_factory=dict)
    quote_symbol: str = "USD"

    def __post_init__(self) -> None:
        if not isinstance(self.default, UnderlyingPolicy):
            raise InputError("default", f"must be an UnderlyingPolicy, got {type(self.default).__name__}")
        for key, value in self.per_underlying.items():
            if not isinstance(key, str) or not key:
                raise InputError("per_underlying", f"keys must be non-empty symbols, got {key!r}")
            if not isinstance(value, UnderlyingPolicy):
                raise InputError("per_underlying", f"{key}: must be an UnderlyingPolicy, got {type(value).__name__}")
        object.__setattr__(self, "per_underlying", _FrozenMap(self.per_underlying))
        if not self.quote_symbol:
            raise InputError("quote_symbol", "must be a non-empty string")

    def for_underlying(self, underlying: str) -> UnderlyingPolicy:
        """The override for ``underlying``, else the default."""
        return self.per_underlying.get(underlying, self.default)


# --------------------------------------------------------------------------- decision


def decide(
    inputs: Iterable[UnderlyingInput],
    config: PolicyConfig,
    gas: GasView,
    snapshot: SnapshotStatus = _COMPLETE,
) -> Plan:
    """Decide the hedges of one cycle; pure and deterministic.

    Parameters
    ----------
    inputs : iterable of UnderlyingInput
        One per underlying (duplicates are an ``InputError``).
    config : PolicyConfig
    gas : GasView
        Gas price (gwei) and native token price (quote) at the block.
    snapshot : SnapshotStatus
        Completeness of the snapshot the inputs came from.
    """
    decisions: list[Decision] = []
    seen: set[str] = set()
    for inp in inputs:
        u = inp.exposure.underlying
        if u in seen:
            raise InputError("inputs", f"underlying {u!r} given twice")
        seen.add(u)
        decisions.append(decide_underlying(inp, config.for_underlying(u), gas, snapshot, config.quote_symbol))
    return Plan(tuple(decisions))


def _band_text(band: Band, sym: str, quote: str) -> str:
    if band.kind == "ww":
        detail = (f"ww, gamma {band.gamma_units_per_quote:.4g} {sym}/{quote}, k {fmt_bps(band.k_fraction)}")
    else:
        detail = band.kind
    if band.half_width_units != band.raw_half_width_units:
        detail += f", clamped from {fmt_units(band.raw_half_width_units, sym)}"
    return f"band ±{fmt_units(band.half_width_units, sym)} around target {fmt_units(band.target_units, sym)} ({detail})"


def _min_trade_problem(units: float, price: float, sizing: SizingConfig, sym: str, quote: str) -> Reason | None:
    """The reason ``units`` is below the minimum trade, or ``None`` when it clears it."""
    if units < sizing.min_trade_units or units <= 0.0:
        return Reason.of("below_min_trade",
                         f"{fmt_units(units, sym)} below min trade {fmt_units(sizing.min_trade_units, sym)}",
                         size_units=units, min_trade_units=sizing.min_trade_units)
    notional = units * price
    if notional < sizing.min_trade_usd:
        return Reason.of("below_min_trade",
                         f"{fmt_quote(notional, quote)} below min trade {fmt_quote(sizing.min_trade_usd, quote)}",
                         notional_quote=notional, min_trade_quote=sizing.min_trade_usd)
    return None


# Long on purpose: the policy's steps 0-8 in order (module docstring); each step returns early with its reason.
def decide_underlying(  # noqa: C901, PLR0912, PLR0915
    inp: UnderlyingInput,
    policy: UnderlyingPolicy,
    gas: GasView,
    snapshot: SnapshotStatus = _COMPLETE,
    quote_symbol: str = "USD",
) -> Decision:
    """The decision for one underlying (see the module docstring for the steps)."""
    e0, o = inp.exposure, inp.oracle
    sym, q = e0.underlying, quote_symbol
    trig, sz = policy.trigger, policy.sizing
    target = policy.target_delta_units
    margin_order, reasons = _margin_guard(inp, policy, gas, snapshot, quote_symbol)
    # The reduction's delta is hedged by the decision below, as if the position were already smaller.
    e = e0 if margin_order is None else dataclasses.replace(e0, delta_units=e0.delta_units
                                                            + margin_order.signed_units)
    dev = e.delta_units - target
    adev = abs(dev)
    side: Side = "sell" if dev > 0.0 else "buy"
    price = o.feed_price
    now = o.block_timestamp

    if trig.trigger == "ww":
        k = trig.cost_fraction
        if k is None:
            healthy = [s for s in inp.swaps if pool_within_deviation(s, price, policy.gates.max_oracle_deviation_bps)]
            k = one_way_cost_fraction(healthy, inp.perps, side, adev, price)
    else:
        k = 0.0
    band = compute_band(trig, target, e.spot, e.gamma_units_per_quote, e.book_value_quote, k)
    h = band.half_width_units
    gates = evaluate_gates(policy.gates, o, snapshot, gas.gas_price_gwei, dev, underlying=sym)

    def no_trade(trigger: TriggerKind, needed: float, venues: tuple[VenueEstimate, ...] = ()) -> Decision:
        return Decision(sym, None, trigger, e0.delta_units, target, e.delta_units, band, needed, needed,
                        tuple(reasons), gates, venues, margin_order)

    # -- trigger
    delta_txt = f"delta {fmt_units(e.delta_units, sym, signed=True)}"
    trigger: TriggerKind
    if adev > h:
        trigger = "band"
        needed = adev - h if sz.hedge_to == "edge" else adev
        reasons.append(Reason.of("outside_band", f"{delta_txt} outside {_band_text(band, sym, q)}; hedging "
                                 f"{fmt_units(needed, sym)} to the {sz.hedge_to}",
                                 delta_units=e.delta_units, target_units=target, half_width_units=h,
                                 k_fraction=band.k_fraction, needed_units=needed))
    else:
        reasons.append(Reason.of("inside_band", f"{delta_txt} inside {_band_text(band, sym, q)}",
                                 delta_units=e.delta_units, target_units=target, half_width_units=h,
                                 k_fraction=band.k_fraction))
        if math.isinf(trig.max_interval_s):
            return no_trade("none", 0.0)
        last = inp.history.last_time
        elapsed = math.inf if last is None else now - last
        since = "never hedged" if last is None else f"last hedge {fmt_seconds(elapsed)} ago"
        if elapsed < trig.max_interval_s:
            reasons.append(Reason.of("time_not_due", f"{since} < max interval {fmt_seconds(trig.max_interval_s)}",
                                     elapsed_s=elapsed, max_interval_s=trig.max_interval_s))
            return no_trade("none", 0.0)
        small = _min_trade_problem(adev, price, sz, sym, q)
        if small is not None:
            reasons.append(Reason.of("time_due_small", f"{since} >= max interval {fmt_seconds(trig.max_interval_s)},"
                                     f" but |delta - target| {small.text}", elapsed_s=elapsed,
                                     max_interval_s=trig.max_interval_s, deviation_units=adev))
            return no_trade("none", 0.0)
        trigger, needed = "time", adev
        reasons.append(Reason.of("time_trigger", f"{since} >= max interval {fmt_seconds(trig.max_interval_s)}:"
                                 f" hedging {fmt_units(needed, sym)} to the target",
                                 elapsed_s=elapsed, max_interval_s=trig.max_interval_s, needed_units=needed))

    small = _min_trade_problem(needed, price, sz, sym, q)
    if small is not None:
        reasons.append(small)
        return no_trade(trigger, needed)

    # -- gates
    failed = [g for g in gates if not g.passed]
    reasons.extend(g.reason for g in gates if g.overridden)
    if failed:
        reasons.extend(g.reason for g in failed)
        reasons.append(Reason.of("gates_failed", "no trade: gate(s) failed: " + ", ".join(g.gate for g in failed)))
        return no_trade(trigger, needed)

    # -- caps
    left = window_left_quote(inp.history.fills, now, sz.window_s, sz.window_cap_usd)
    if margin_order is not None:
        left = max(left - margin_order.notional_quote, 0.0)
    clip = clip_size(needed, price, sz.max_trade_usd, left)
    size = clip.clip_units
    if clip.limited_by == "window" and _min_trade_problem(size, price, sz, sym, q) is not None:
        reopen = window_reopens_in_s(inp.history.fills, now, sz.window_s)
        reasons.append(Reason.of("window_cap", f"window cap {fmt_quote(sz.window_cap_usd, q)} reached:"
                                 f" {fmt_quote(left, q)} left for {fmt_seconds(reopen)}",
                                 window_cap_quote=sz.window_cap_usd, window_left_quote=left, reopens_in_s=reopen))
        return no_trade(trigger, needed)
    small = _min_trade_problem(size, price, sz, sym, q)
    if small is not None:  # max per trade below min_trade_units at this price
        reasons.append(Reason.of("max_trade_below_min", f"max per trade {fmt_quote(sz.max_trade_usd, q)} allows"
                                 f" only {small.text}", max_trade_quote=sz.max_trade_usd, clip_units=size))
        return no_trade(trigger, needed)
    if clip.limited_by == "max_trade":
        reasons.append(Reason.of("clipped_max_trade", f"clipped to max per trade {fmt_quote(sz.max_trade_usd, q)};"
                                 f" {fmt_units(clip.remaining_units, sym)} remains",
                                 max_trade_quote=sz.max_trade_usd, clip_units=size,
                                 remaining_units=clip.remaining_units))
    elif clip.limited_by == "window":
        reasons.append(Reason.of("clipped_window", f"clipped to window remainder {fmt_quote(left, q)} of cap"
                                 f" {fmt_quote(sz.window_cap_usd, q)};"
                                 f" {fmt_units(clip.remaining_units, sym)} remains",
                                 window_left_quote=left, clip_units=size, remaining_units=clip.remaining_units))

    # -- venue
    vc = policy.venues
    # A swap is bounded (by the HedgeModule, and so by the keeper too) against the stricter of the feed
    # and the pool's TWAP: the higher of the two for a sell, the lower for a buy.
    twap = o.twap
    swap_ref = price if twap is None else (max(price, twap) if side == "sell" else min(price, twap))
    estimates = tuple(
        [gate_slippage_estimate(
            gate_swap_estimate(estimate_swap(s, side, size, price, gas, vc, underlying=sym, quote_symbol=q), s,
                               price, policy.gates.max_oracle_deviation_bps, underlying=sym, quote_symbol=q),
            price, vc.max_slippage_bps, pool_price=None if s.sqrt_price is None else s.sqrt_price * s.sqrt_price,
            bound_price=swap_ref)
         for s in inp.swaps]
        + [gate_slippage_estimate(estimate_perp(p, side, size, price, gas, vc, quote_symbol=q), price,
                                  vc.max_slippage_bps) for p in inp.perps
           if margin_order is None or p.venue_id != margin_order.venue_id]
    )
    reasons.extend(est.reason for est in estimates if not est.available)
    ranked = rank_venues(estimates)
    if not ranked:
        reasons.append(Reason.of("no_venue", f"no venue available for {side} {fmt_units(size, sym)}"))
        return no_trade(trigger, needed, estimates)
    best = ranked[0]
    others = "; next " + ranked[1].label + f" {fmt_quote(ranked[1].cost.total_quote, q)}" if len(ranked) > 1 else ""
    reasons.append(Reason.of("venue_chosen", f"{best.reason.text}{others}", total_quote=best.cost.total_quote))

    slip = vc.max_slippage_bps * 1e-4
    ref = swap_ref if best.venue == "uniswap" else price
    limit = ref * (1.0 + slip) if side == "buy" else ref * (1.0 - slip)
    order = HedgeOrder(sym, side, size, best.notional_quote, best.venue, best.venue_id, best.fee_fraction, ref, limit,
                       best.cost)
    after = e.delta_units + size if side == "buy" else e.delta_units - size
    reasons.append(Reason.of("order", f"{side} {fmt_units(size, sym)} ({fmt_quote(best.notional_quote, q)}) on"
                             f" {best.label}, limit {limit:.6g}; delta {fmt_units(e.delta_units, sym, signed=True)}"
                             f" -> {fmt_units(after, sym, signed=True)}",
                             size_units=size, notional_quote=best.notional_quote, limit_price_quote=limit,
                             delta_after_units=after))
    return Decision(sym, order, trigger, e0.delta_units, target, after, band, needed, clip.remaining_units,
                    tuple(reasons), gates, estimates, margin_order)


def _margin_guard(inp: UnderlyingInput, policy: UnderlyingPolicy, gas: GasView, snapshot: SnapshotStatus,
                  q: str) -> tuple[HedgeOrder | None, list[Reason]]:
    """A reduction of the first perp whose margin ratio is below ``policy.margin.reduce_below_bps``
    (:func:`keeper.core.margin.margin_reduction_units`), within the per-trade and window caps, and
    the reasons. Not deferred for gas (it reduces risk); any other failed gate blocks it."""
    mc, sz, vc, o = policy.margin, policy.sizing, policy.venues, inp.oracle
    sym, price = inp.exposure.underlying, o.feed_price
    slip = vc.max_slippage_bps * 1e-4
    reasons: list[Reason] = []
    for p in inp.perps:
        units = margin_reduction_units(p.position_units, p.equity_quote, price, p.taker_fee_fraction + slip, mc)
        if units <= 0.0:
            continue
        ratio = margin_ratio(p.position_units, p.equity_quote, price)
        side: Side = "buy" if p.position_units < 0.0 else "sell"
        head = (f"perp:{p.venue_id} margin {ratio * 100:.2f} % of notional < {mc.reduce_below_bps / 100:g} %"
                f" (position {fmt_units(p.position_units, sym, signed=True)}, equity {fmt_quote(p.equity_quote, q)})")
        data: dict[str, float] = dict(margin_ratio=ratio, reduce_below_bps=mc.reduce_below_bps,
                                      restore_to_bps=mc.restore_to_bps, position_units=p.position_units,
                                      equity_quote=p.equity_quote)
        blocked = [g for g in evaluate_gates(policy.gates, o, snapshot, gas.gas_price_gwei, 0.0, underlying=sym)
                   if not g.passed and g.gate != "gas"]
        if blocked:
            reasons.append(Reason.of("perp_margin_blocked", f"{head}; not reduced: gate(s) failed: "
                                     + ", ".join(g.gate for g in blocked), **data))
            return None, reasons
        left = window_left_quote(inp.history.fills, o.block_timestamp, sz.window_s, sz.window_cap_usd)
        clip = clip_size(units, price, sz.max_trade_usd, left)
        size = clip.clip_units
        if size <= 0.0:
            reasons.append(Reason.of("perp_margin_blocked", f"{head}; not reduced: window cap "
                                     f"{fmt_quote(sz.window_cap_usd, q)} reached", **data))
            return None, reasons
        est = estimate_perp(p, side, size, price, gas, vc, quote_symbol=q)
        limit = price * (1.0 + slip) if side == "buy" else price * (1.0 - slip)
        order = HedgeOrder(sym, side, size, size * price, "perp", p.venue_id, p.taker_fee_fraction, price, limit,
                           est.cost)
        rest = f"; {fmt_units(clip.remaining_units, sym)} left for later cycles" if clip.remaining_units > 0 else ""
        reasons.append(Reason.of("perp_margin_low", f"{head}: {side} {fmt_units(size, sym)} on perp:{p.venue_id} to"
                                 f" restore {mc.restore_to_bps / 100:g} %{rest}", size_units=size, **data))
        return order, reasons
    return None, reasons
