"""Safety gates evaluated before any hedge: pure checks that pass or fail with a reason.

Gates
-----
``snapshot``
    The snapshot was read completely (no failed reads). Else: no trade.
``feed_staleness``
    ``0 <= block_timestamp - feed_updated_at <= max_feed_age_s``. A feed
    timestamp in the future of the block also fails. Else: no trade.
``oracle_consistency``
    Chainlink feed price, pool spot and pool TWAP agree pairwise within
    ``max_oracle_deviation_bps``, with the symmetric deviation
    ``|a - b| / min(a, b) * 1e4`` bps. A missing TWAP fails when
    ``require_twap`` (the default), else the remaining pair is checked.
    Else: no trade.
``gas``
    ``gas_price_gwei <= max_gas_gwei``. Above the cap the hedge is deferred,
    unless it is *urgent*: ``|delta - target| > urgent_deviation_units``; then
    the gate passes with ``overridden=True`` and says so.

Oracle and staleness failures are never overridden: no price, no trade.

A per-pool gate comes on top: ``pool_deviation`` compares one pool's price with the feed
(``deviation_bps(pool, feed) <= max_oracle_deviation_bps``). It does not stop the decision: it
makes that pool unavailable as a hedge venue (:func:`gate_swap_estimate`), with its reason, and
hedging through another, healthy venue stays allowed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from keeper.core._checks import check_finite, check_non_negative, check_positive
from keeper.core.costs import VenueEstimate
from keeper.core.reasons import Reason, fmt_seconds, fmt_units
from keeper.core.venue_inputs import SwapVenue
from keeper.errors import InputError

__all__ = [
    "GateArrays",
    "GateConfig",
    "GateResult",
    "OracleView",
    "SnapshotStatus",
    "all_passed",
    "check_feed_staleness",
    "check_gas",
    "check_oracle_consistency",
    "check_pool_deviation",
    "check_snapshot",
    "deviation_bps",
    "deviation_bps_array",
    "evaluate_gates",
    "evaluate_gates_array",
    "gate_swap_estimate",
    "pool_within_deviation",
]


@dataclass(frozen=True, slots=True)
class OracleView:
    """Prices of one underlying at the snapshot block (quote per underlying unit).

    Attributes
    ----------
    feed_price : float
        Chainlink answer, human units.
    feed_updated_at : float
        The feed's ``updatedAt``, unix seconds.
    pool_spot : float
        Hedge pool's spot price from ``slot0``, human units.
    twap : float or None
        Pool TWAP over the configured window; ``None`` when it could not be
        read or its window was shortened (low observation cardinality).
    block_timestamp : float
        Timestamp of the snapshot block, unix seconds: the decision's "now".
    """

    feed_price: float
    feed_updated_at: float
    pool_spot: float
    twap: float | None
    block_timestamp: float

    def __post_init__(self) -> None:
        check_positive("feed_price", self.feed_price)
        check_finite("feed_updated_at", self.feed_updated_at)
        check_positive("pool_spot", self.pool_spot)
        if self.twap is not None:
            check_positive("twap", self.twap)
        check_finite("block_timestamp", self.block_timestamp)


@dataclass(frozen=True, slots=True)
class SnapshotStatus:
    """Whether the snapshot is complete; ``failures`` names what could not be read."""

    complete: bool = True
    failures: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.complete and self.failures:
            raise InputError("complete", f"True but {len(self.failures)} failure(s) listed")


@dataclass(frozen=True, slots=True)
class GateConfig:
    """Gate limits.

    Attributes
    ----------
    max_oracle_deviation_bps : float
        Maximum pairwise deviation between feed, pool spot and TWAP, bps.
    max_feed_age_s : float
        Maximum ``block_timestamp - feed_updated_at``, seconds.
    require_twap : bool
        Fail the oracle gate when the TWAP is missing.
    max_gas_gwei : float
        Gas price cap, gwei (``inf`` = no cap).
    urgent_deviation_units : float
        ``|delta - target|`` beyond which a hedge is urgent and ignores the gas cap,
        underlying units (``inf`` = never urgent).
    """

    max_oracle_deviation_bps: float = 100.0
    max_feed_age_s: float = 3_600.0
    require_twap: bool = True
    max_gas_gwei: float = math.inf
    urgent_deviation_units: float = math.inf

    def __post_init__(self) -> None:
        check_positive("max_oracle_deviation_bps", self.max_oracle_deviation_bps)
        check_positive("max_feed_age_s", self.max_feed_age_s)
        if not isinstance(self.require_twap, bool):
            raise InputError("require_twap", f"must be a bool, got {self.require_twap!r}")
        check_positive("max_gas_gwei", self.max_gas_gwei, allow_inf=True)
        check_non_negative("urgent_deviation_units", self.urgent_deviation_units, allow_inf=True)


@dataclass(frozen=True, slots=True)
class GateResult:
    """Outcome of one gate. ``overridden``: failed on its own terms but let through (urgent gas)."""

    gate: str
    passed: bool
    reason: Reason
    overridden: bool = False


def deviation_bps(a: float, b: float) -> float:
    """Symmetric relative deviation ``|a - b| / min(a, b) * 1e4`` of two positive prices, bps."""
    return abs(a - b) / min(a, b) * 1e4


def check_snapshot(status: SnapshotStatus) -> GateResult:
    """Pass iff the snapshot is complete."""
    if status.complete:
        return GateResult("snapshot", True, Reason.of("gate_ok", "snapshot complete"))
    shown = "; ".join(status.failures[:3]) or "no details"
    more = f" (+{len(status.failures) - 3} more)" if len(status.failures) > 3 else ""
    return GateResult(
        "snapshot",
        False,
        Reason.of(
            "gate_snapshot",
            f"snapshot incomplete, {len(status.failures)} failed read(s): {shown}{more}",
            failures=float(len(status.failures)),
        ),
    )


def check_feed_staleness(oracle: OracleView, max_age_s: float) -> GateResult:
    """Pass iff ``0 <= block_timestamp - feed_updated_at <= max_age_s``."""
    age = oracle.block_timestamp - oracle.feed_updated_at
    if age < 0.0:
        return GateResult(
            "feed_staleness",
            False,
            Reason.of("gate_feed_future", f"feed updatedAt is {fmt_seconds(-age)} after the block", age_s=age),
        )
    if age > max_age_s:
        return GateResult(
            "feed_staleness",
            False,
            Reason.of(
                "gate_feed_stale",
                f"feed is {fmt_seconds(age)} old > max {fmt_seconds(max_age_s)}",
                age_s=age,
                max_age_s=max_age_s,
            ),
        )
    return GateResult("feed_staleness", True, Reason.of("gate_ok", f"feed age {fmt_seconds(age)}", age_s=age))


def check_oracle_consistency(oracle: OracleView, max_deviation_bps: float, *, require_twap: bool = True) -> GateResult:
    """Pass iff feed, pool spot and TWAP agree pairwise within ``max_deviation_bps``."""
    feed, pool, twap = oracle.feed_price, oracle.pool_spot, oracle.twap
    if twap is None and require_twap:
        return GateResult("oracle_consistency", False, Reason.of("gate_twap_missing", "pool TWAP missing"))
    worst = deviation_bps(feed, pool)
    worst_pair = ("feed", feed, "pool", pool)
    if twap is not None:
        for pair in (("feed", feed, "twap", twap), ("pool", pool, "twap", twap)):
            d = deviation_bps(pair[1], pair[3])
            if d > worst:
                worst, worst_pair = d, pair
    if worst > max_deviation_bps:
        return GateResult(
            "oracle_consistency",
            False,
            Reason.of(
                "gate_oracle_deviation",
                f"prices disagree: {worst_pair[0]} {worst_pair[1]:.6g} vs {worst_pair[2]} {worst_pair[3]:.6g}"
                f" ({worst:.1f} bps > max {max_deviation_bps:.1f} bps)",
                deviation_bps=worst,
                max_deviation_bps=max_deviation_bps,
            ),
        )
    return GateResult(
        "oracle_consistency",
        True,
        Reason.of("gate_ok", f"prices agree within {worst:.1f} bps", deviation_bps=worst),
    )


def check_gas(
    gas_price_gwei: float,
    max_gas_gwei: float,
    deviation_units: float,
    urgent_deviation_units: float,
    *,
    underlying: str = "",
) -> GateResult:
    """Pass iff gas is under the cap, or the hedge is urgent (``|deviation| > urgent_deviation_units``)."""
    if gas_price_gwei <= max_gas_gwei:
        return GateResult("gas", True, Reason.of("gate_ok", f"gas {gas_price_gwei:.3g} gwei", gas_gwei=gas_price_gwei))
    dev = abs(deviation_units)
    if dev > urgent_deviation_units:
        return GateResult(
            "gas",
            True,
            Reason.of(
                "gate_gas_urgent",
                f"gas {gas_price_gwei:.3g} gwei > cap {max_gas_gwei:.3g} gwei, but |delta - target|"
                f" {fmt_units(dev, underlying)} > urgent limit {fmt_units(urgent_deviation_units, underlying)}:"
                " trading anyway",
                gas_gwei=gas_price_gwei,
                max_gas_gwei=max_gas_gwei,
                deviation_units=dev,
                urgent_deviation_units=urgent_deviation_units,
            ),
            overridden=True,
        )
    return GateResult(
        "gas",
        False,
        Reason.of(
            "gate_gas",
            f"gas {gas_price_gwei:.3g} gwei > cap {max_gas_gwei:.3g} gwei: deferred",
            gas_gwei=gas_price_gwei,
            max_gas_gwei=max_gas_gwei,
        ),
    )


def check_pool_deviation(
    pool: str,
    underlying: str,
    pool_price: float,
    feed_price: float,
    max_deviation_bps: float,
    *,
    quote_symbol: str = "USD",
) -> GateResult:
    """Pass iff one pool's price agrees with the feed: ``deviation_bps(pool_price, feed_price) <= max``.

    Parameters
    ----------
    pool : pool address (named in the reason).
    underlying : asset symbol.
    pool_price, feed_price : quote per unit of ``underlying``, human units (> 0).
    max_deviation_bps : the limit, bps (``oracles.max_deviation_bps``).

    The reason names the pool, both prices, the deviation and the signed basis
    ``(pool / feed - 1) * 1e4`` in bps. A failure blocks hedging in this pool only.
    """
    check_positive("pool_price", pool_price)
    check_positive("feed_price", feed_price)
    check_positive("max_deviation_bps", max_deviation_bps)
    dev = deviation_bps(pool_price, feed_price)
    basis = (pool_price / feed_price - 1.0) * 1e4
    unit = f"{quote_symbol}/{underlying}" if underlying else quote_symbol
    text = (f"pool {pool} prices {underlying} at {_price(pool_price, unit)} vs feed {_price(feed_price, unit)}:"
            f" deviation {dev:.1f} bps (basis {basis:+.1f} bps)")
    numbers = {"pool_price_quote": pool_price, "feed_price_quote": feed_price, "deviation_bps": dev,
               "basis_bps": basis, "max_deviation_bps": max_deviation_bps}
    if dev > max_deviation_bps:
        return GateResult("pool_deviation", False,
                          Reason.of("gate_pool_deviation", f"{text} > max {max_deviation_bps:.1f} bps:"
                                    " no hedge in this pool", **numbers))
    return GateResult("pool_deviation", True,
                      Reason.of("gate_ok", f"{text} <= max {max_deviation_bps:.1f} bps", **numbers))


def _price(x: float, unit: str) -> str:
    """A price with cents (``3,012.55 USD/ETH``); 6 significant digits below 1."""
    return f"{x:,.2f} {unit}" if x >= 1.0 else f"{x:.6g} {unit}"


def pool_within_deviation(venue: SwapVenue, feed_price: float, max_deviation_bps: float) -> bool:
    """Whether ``venue``'s pool price (``sqrt_price ** 2``) is within ``max_deviation_bps`` of the feed.

    A venue without a ``sqrt_price`` (known only by a quoter result) counts as within.
    """
    if venue.sqrt_price is None:
        return True
    return deviation_bps(venue.sqrt_price * venue.sqrt_price, feed_price) <= max_deviation_bps


def gate_swap_estimate(
    estimate: VenueEstimate, venue: SwapVenue, feed_price: float, max_deviation_bps: float, *,
    underlying: str = "", quote_symbol: str = "USD",
) -> VenueEstimate:
    """``estimate`` made unavailable, with the ``pool_deviation`` reason, when ``venue``'s pool deviates.

    The pool price is ``venue.sqrt_price ** 2`` (quote per underlying). A venue known only by a
    quoter result (no ``sqrt_price``) is not checked here.
    """
    if venue.sqrt_price is None:
        return estimate
    gate = check_pool_deviation(venue.venue_id, underlying, venue.sqrt_price * venue.sqrt_price, feed_price,
                                max_deviation_bps, quote_symbol=quote_symbol)
    if gate.passed:
        return estimate
    return replace(estimate, available=False, reason=gate.reason)


def gate_slippage_estimate(
    estimate: VenueEstimate, feed_price: float, max_slippage_bps: float, *, pool_price: float | None = None,
    bound_price: float | None = None,
) -> VenueEstimate:
    """``estimate`` made unavailable, with the ``venue_slippage`` reason, when its own cost estimate
    already exceeds the slippage bound the order is sent with.

    An order's limit is ``B x (1 -/+ max_slippage_bps / 1e4)`` around a bound price ``B`` (the feed,
    or for a swap the stricter of the feed and the pool's TWAP, as the HedgeModule bounds it), and its
    fill pays the venue fee, the price impact and the pool's adverse basis to ``B``; so
    ``fee_bps + impact_bps + adverse_basis_bps > max_slippage_bps`` means the trade reverts: sending it
    would only burn gas and fail the cycle. The impact was measured from the pool's own price
    (``impact_source == "liquidity"``: the basis is pool vs ``B``) or from the feed (a quoter: the
    basis is feed vs ``B``). ``pool_price``: the pool's quote per underlying (None: no pool basis);
    ``bound_price``: ``B`` (None: the feed).
    """
    if not estimate.available or estimate.notional_quote <= 0.0:
        return estimate
    bound = feed_price if bound_price is None else bound_price
    fee_bps = estimate.fee_fraction * 1e4
    impact_bps = estimate.cost.impact_quote / estimate.notional_quote * 1e4
    measured_from = pool_price if (estimate.venue in ("uniswap", "uniswap_v4") and estimate.impact_source == "liquidity"
                                   and pool_price is not None) else feed_price
    signed = (measured_from / bound - 1.0) * 1e4
    basis_bps = max(-signed, 0.0) if estimate.side == "sell" else max(signed, 0.0)
    total = fee_bps + impact_bps + basis_bps
    if total <= max_slippage_bps:
        return estimate
    parts = f"{fee_bps:.1f} bps fee + {impact_bps:.1f} bps impact" + (
        f" + {basis_bps:.1f} bps adverse basis to the bound price {bound:,.2f}" if basis_bps > 0.0 else "")
    reason = Reason.of(
        "venue_slippage",
        f"{estimate.label} unavailable: estimated {parts} = {total:.1f} bps exceeds max_slippage_bps"
        f" {max_slippage_bps:g} bps, so the trade would revert",
        fee_bps=fee_bps, impact_bps=impact_bps, basis_bps=basis_bps, total_bps=total,
        max_slippage_bps=max_slippage_bps, bound_price_quote=bound)
    return replace(estimate, available=False, reason=reason)


def evaluate_gates(
    config: GateConfig,
    oracle: OracleView,
    snapshot: SnapshotStatus,
    gas_price_gwei: float,
    deviation_units: float,
    *,
    underlying: str = "",
) -> tuple[GateResult, ...]:
    """All gates, in a fixed order (snapshot, feed_staleness, oracle_consistency, gas)."""
    return (
        check_snapshot(snapshot),
        check_feed_staleness(oracle, config.max_feed_age_s),
        check_oracle_consistency(oracle, config.max_oracle_deviation_bps, require_twap=config.require_twap),
        check_gas(gas_price_gwei, config.max_gas_gwei, deviation_units, config.urgent_deviation_units,
                  underlying=underlying),
    )


def all_passed(results: Sequence[GateResult]) -> bool:
    """True iff every gate passed (an overridden gate counts as passed)."""
    return all(r.passed for r in results)


# --------------------------------------------------------------------------- array twins (the backtest)
# Twins of evaluate_gates for many books at once; tests/unit/test_backtest_rules.py checks they fail and
# pass exactly where the scalar gates do, with the same overrides.

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class GateArrays:
    """Which gates fail, element-wise (the snapshot gate is not simulated: a simulation reads everything).

    ``feed_staleness``, ``oracle_consistency`` and ``gas`` are True where that gate *fails*
    (``gas``: above the cap and not urgent); ``gas_overridden`` where the gas cap is exceeded but
    the hedge is urgent, so the gate passes with ``overridden=True``; ``twap_missing`` where the
    oracle gate failed for a missing TWAP (``gate_twap_missing``) rather than a deviation.
    """

    feed_staleness: BoolArray
    oracle_consistency: BoolArray
    gas: BoolArray
    gas_overridden: BoolArray
    twap_missing: BoolArray

    @property
    def passed(self) -> BoolArray:
        """True where every gate passed (an overridden gas gate counts as passed)."""
        out: BoolArray = ~(self.feed_staleness | self.oracle_consistency | self.gas)
        return out


def deviation_bps_array(a: npt.ArrayLike, b: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Vectorized :func:`deviation_bps`: ``|a - b| / min(a, b) * 1e4`` (NaN propagates)."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    out: npt.NDArray[np.float64] = np.abs(x - y) / np.minimum(x, y) * 1e4
    return out


def evaluate_gates_array(config: GateConfig, feed_price: npt.ArrayLike, feed_updated_at: npt.ArrayLike,
                         pool_spot: npt.ArrayLike, twap: npt.ArrayLike, block_timestamp: npt.ArrayLike,
                         gas_price_gwei: npt.ArrayLike, deviation_units: npt.ArrayLike) -> GateArrays:
    """Vectorized :func:`evaluate_gates` (a complete snapshot); arguments broadcast.

    ``twap`` is NaN where the TWAP is missing (``OracleView.twap is None``). Prices are quote per
    underlying unit, times unix seconds, gas in gwei, ``deviation_units`` is ``delta - target``.
    """
    age = np.asarray(block_timestamp, dtype=np.float64) - np.asarray(feed_updated_at, dtype=np.float64)
    stale = (age < 0.0) | (age > config.max_feed_age_s)
    feed, pool = np.asarray(feed_price, dtype=np.float64), np.asarray(pool_spot, dtype=np.float64)
    tw = np.asarray(twap, dtype=np.float64)
    missing = np.isnan(tw)
    tw_safe = np.where(missing, feed, tw)  # a missing TWAP drops out of the pairs (no NaN arithmetic)
    worst = np.maximum(deviation_bps_array(feed, pool),
                       np.maximum(deviation_bps_array(feed, tw_safe), deviation_bps_array(pool, tw_safe)))
    twap_fail = missing & config.require_twap
    oracle = twap_fail | (worst > config.max_oracle_deviation_bps)
    gas = np.asarray(gas_price_gwei, dtype=np.float64)
    over = gas > config.max_gas_gwei
    urgent = np.abs(np.asarray(deviation_units, dtype=np.float64)) > config.urgent_deviation_units
    shape = np.broadcast_shapes(stale.shape, oracle.shape, over.shape, urgent.shape)

    def full(x: BoolArray) -> BoolArray:
        return x if x.shape == shape else np.broadcast_to(x, shape).copy()

    return GateArrays(full(stale), full(oracle), full(over & ~urgent), full(over & urgent), full(twap_fail))
