"""The backtest engine: a book, its price paths and a hedging policy, vectorized over paths.

Per policy, the engine steps through time once; every step works on all paths at once:

1. the hedge (a spot position of ``H`` underlying units) earns ``H (S_i - S_{i-1})``;
2. the net delta is ``book delta + H``; the trade is
   :func:`keeper.core.sizing.hedge_trades_array` -- the keeper's own band, trigger,
   minimum-trade and clip rules -- with ``k`` for a Whalley-Wilmott band from the venue
   (fee + :func:`keeper.core.costs.v3_impact_fraction_array` at ``|delta - target|``), as
   :func:`keeper.core.policy.decide_underlying` does with one swap venue;
3. a swap whose impact exceeds the policy's ``max_impact_bps`` is not made (venue
   unavailable); a trade costs :func:`keeper.core.costs.swap_cost_quote_array` (fee + impact
   from the liquidity model + gas) and updates the last hedge time and the rolling window.

The book starts hedged to the target at no cost (the same for every policy). Without a
:class:`~keeper.backtest.market.MarketModel` (``CostModel.market is None``, the ideal keeper) there
are no gates (one price for everything) and hedges are swaps priced at ``S``.

With a market model (the keeper's rules), each step simulates what the keeper reads -- a lagging
feed, the pool's TWAP, the gas price (:mod:`keeper.backtest.market`) -- and decides every path's
hedge with :func:`keeper.core.policy_arrays.decide_arrays`, the twin of ``decide_underlying``: band
and trigger with the money at the feed price, the gates (feed age, feed/pool/TWAP agreement, gas with
the urgent override), the clip, and the venue (the pool, or the perp when there is one, the cheaper
all-in cost). The chosen venue's fee, impact and gas are the hedge's cost; a perp hedge also pays
(or earns) funding on its position every step. Per path the engine counts the hedges each gate
blocked (a hedge deferred over three steps counts three times), the gas-cap overrides of urgent
hedges, the hedges no venue could take, and the perp trades. Token balances and perp margin are
assumed sufficient.

Outputs per path: the hedging error (P&L before costs: book revaluation + hedge P&L + perp
funding + LP fees, less the P&L ``target (S_T - S_0)`` of the mandated exposure), the cost, the
number of trades, the largest ``|delta - target|`` a step ends with (before its trade; the
horizon excluded), and the net delta after each step for a few sample paths. The last grid
point is the horizon: the book is marked there, not traded (an expiring option would otherwise
make every policy pay to unwind its hedge).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from keeper.backtest.book import Book, BookMarks
from keeper.backtest.flavours import heston_marks
from keeper.backtest.market import MarketModel, MarketPaths, simulate_market
from keeper.core.costs import swap_cost_quote_array, v3_impact_fraction_array
from keeper.core.policy import UnderlyingPolicy
from keeper.core.policy_arrays import OUTCOMES, MarketArrays, SwapPool, decide_arrays
from keeper.core.sizing import hedge_trades_array
from keeper.core.smile_delta import DeltaFlavour, MinVarianceCoefficients
from keeper.core.stochvol import HestonParams
from keeper.errors import InputError

__all__ = ["COST_PARTS", "RULE_COUNTS", "ChunkResult", "CostModel", "PolicyFamily", "PolicyPaths", "PolicySpec",
           "measure_lvr", "run_paths", "simulate_policy"]

FloatArray = npt.NDArray[np.float64]
PolicyFamily = Literal["none", "interval", "band", "ww", "config"]
COST_PARTS = ("fee", "impact", "gas", "funding")
"""Rows of ``PolicyPaths.cost_parts``: quote per path; their sum is ``cost``."""
RULE_COUNTS = ("blocked", "feed_staleness", "oracle_consistency", "gas", "no_venue", "gas_urgent", "perp_trades")
"""Rows of ``PolicyPaths.rule_counts``, per path: hedges blocked by any gate, by each gate (a hedge two gates
block counts for both), hedges no venue could take, urgent hedges let through above the gas cap, perp trades."""
_NO_VENUE = OUTCOMES.index("no_venue")


@dataclass(frozen=True, slots=True)
class CostModel:
    """The hedge venue: a Uniswap v3 pool with fee tier ``fee_fraction``, constant active liquidity
    ``liquidity`` (human units, ``x = L / sqrtS``) tracking the simulated price, and ``gas_quote`` per swap
    (at the base gas price when there is a ``market``). ``market``: the simulated feed, TWAP, gas and
    perp the keeper's gates and venue choice read; ``None`` is the ideal keeper (no gates, swaps only)."""

    fee_fraction: float = 0.0005
    liquidity: float = 2.0e7
    gas_quote: float = 0.5
    market: MarketModel | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.fee_fraction < 1.0:
            raise InputError("fee_fraction", f"must be in [0, 1), got {self.fee_fraction!r}")
        if not (self.liquidity > 0.0 and math.isfinite(self.liquidity)):
            raise InputError("liquidity", f"must be finite and > 0, got {self.liquidity!r}")
        if not (self.gas_quote >= 0.0 and math.isfinite(self.gas_quote)):
            raise InputError("gas_quote", f"must be finite and >= 0, got {self.gas_quote!r}")


@dataclass(frozen=True, slots=True)
class PolicySpec:
    """A named policy to compare: ``policy=None`` is no hedge. ``param`` is the family's knob
    (hours, bps of book, relative risk aversion) for labels and plots. ``flavour`` is the option
    delta the policy hedges (see :mod:`keeper.backtest.flavours`)."""

    name: str
    family: PolicyFamily
    policy: UnderlyingPolicy | None
    param: float = 0.0
    target_units: float = 0.0
    flavour: DeltaFlavour = "sticky_strike"

    @property
    def target(self) -> float:
        """The target delta: the policy's, or ``target_units`` for no hedge."""
        return self.policy.target_delta_units if self.policy is not None else self.target_units


@dataclass(frozen=True, slots=True)
class PolicyPaths:
    """Per-path results of one policy (arrays of ``n_paths``; ``delta_sample`` ``(n_steps + 1, k)``)."""

    hedging_error: FloatArray
    cost: FloatArray
    trades: FloatArray
    max_abs_delta: FloatArray
    delta_sample: FloatArray
    cost_parts: FloatArray | None = None
    """``(4, n_paths)``: :data:`COST_PARTS`, quote (with a market model only)."""
    rule_counts: FloatArray | None = None
    """``(7, n_paths)``: :data:`RULE_COUNTS` (with a market model only)."""

    @property
    def pnl(self) -> FloatArray:
        """Hedged P&L net of costs, quote."""
        out: FloatArray = self.hedging_error - self.cost
        return out

    @classmethod
    def concat(cls, parts: list[PolicyPaths]) -> PolicyPaths:
        """One policy's results over several chunks, in chunk order (the sample paths: the first chunk's)."""
        def cat(f: str) -> FloatArray:
            return np.concatenate([getattr(r, f) for r in parts])

        def cat2(f: str) -> FloatArray | None:
            if any(getattr(r, f) is None for r in parts):
                return None
            return np.concatenate([getattr(r, f) for r in parts], axis=1)

        return cls(cat("hedging_error"), cat("cost"), cat("trades"), cat("max_abs_delta"), parts[0].delta_sample,
                   cat2("cost_parts"), cat2("rule_counts"))


@dataclass(frozen=True, slots=True)
class ChunkResult:
    """Every policy's per-path results on one set of paths, plus the LPs' loss-versus-rebalancing.

    ``lvr`` is measured (``sum lp_delta dS - dV_lp``), ``lvr_predicted`` is
    ``sum -Gamma_lp sigma^2 S^2 dt / 2`` (``= sigma^2 / 4 L sqrtS dt`` in range), quote per path.
    """

    policies: dict[str, PolicyPaths]
    lvr: FloatArray
    lvr_predicted: FloatArray
    spot_sample: FloatArray
    seconds: FloatArray


# Long on purpose: one vectorized pass over all paths; splitting it would pass a dozen arrays between helpers.
def simulate_policy(marks: BookMarks, spots: FloatArray, seconds: FloatArray, spec: PolicySpec, costs: CostModel,  # noqa: PLR0915
                    keep: int = 8, market: MarketPaths | None = None) -> PolicyPaths:
    """Run one policy over the paths (see the module docstring); ``market`` (simulated from
    ``costs.market`` when it is ``None``) applies the keeper's gates and venue choice."""
    n_steps, n = spots.shape[0] - 1, spots.shape[1]
    k_keep = min(keep, n)
    pol = spec.policy
    if costs.market is not None and market is None:
        market = simulate_market(costs.market, spots, seconds)
    if pol is None:
        err = (marks.value[-1] - marks.value[0] + marks.funding.sum(axis=0) + marks.fees.sum(axis=0)
               + spec.target_units * (spots[0] - spots[-1]))
        zero = np.zeros(n)
        extra = (None, None) if market is None else (np.zeros((len(COST_PARTS), n)), np.zeros((len(RULE_COUNTS), n)))
        return PolicyPaths(err, zero, zero.copy(), np.abs(marks.delta[:-1] - spec.target_units).max(axis=0),
                           marks.delta[:, :k_keep].copy(), *extra)
    if market is not None:
        assert costs.market is not None
        return _simulate_with_rules(marks, spots, seconds, spec, pol, costs, costs.market, market, k_keep)
    trig, sz, target = pol.trigger, pol.sizing, pol.target_delta_units
    fee, liq, gas = costs.fee_fraction, costs.liquidity, costs.gas_quote
    need_k = trig.trigger == "ww" and trig.cost_fraction is None
    k_const = trig.cost_fraction if trig.cost_fraction is not None else 0.0
    max_impact = pol.venues.max_impact_bps * 1e-4
    capped = not math.isinf(sz.window_cap_usd)
    window: deque[tuple[float, FloatArray]] = deque()
    used = np.zeros(n)
    left: FloatArray | float = math.inf

    hedge = target - marks.delta[0]
    last = np.full(n, seconds[0])
    hedge_pnl = np.zeros(n)
    cost = np.zeros(n)
    trades = np.zeros(n)
    max_dev = np.zeros(n)
    sample = np.empty((n_steps + 1, k_keep))
    sample[0] = (marks.delta[0] + hedge)[:k_keep]
    for i in range(1, n_steps + 1):
        s, now = spots[i], float(seconds[i])
        hedge_pnl += hedge * (s - spots[i - 1])
        if i == n_steps:  # the horizon: marked, not traded
            sample[i] = (marks.delta[i] + hedge)[:k_keep]
            break
        net = marks.delta[i] + hedge
        dev = net - target
        np.maximum(max_dev, np.abs(dev), out=max_dev)
        sqrt_s = np.sqrt(s)
        k = fee + v3_impact_fraction_array(np.abs(dev), dev > 0.0, liq, sqrt_s) if need_k else k_const
        if capped:
            while window and window[0][0] <= now - sz.window_s:
                used -= window.popleft()[1]
            left = np.maximum(sz.window_cap_usd - used, 0.0)
        trade = hedge_trades_array(trig, sz, target, net, s, marks.gamma[i], marks.value[i], k, now - last, left)
        size = np.abs(trade)
        sell = trade < 0.0
        blocked = v3_impact_fraction_array(size, sell, liq, sqrt_s) > max_impact
        if np.any(blocked):
            trade = np.where(blocked, 0.0, trade)
            size = np.abs(trade)
        traded = size > 0.0
        cost += swap_cost_quote_array(size, sell, s, fee, liq, gas)
        trades += traded
        hedge = hedge + trade
        last = np.where(traded, now, last)
        if capped:
            notional = size * s
            window.append((now, notional))
            used += notional
        sample[i] = (marks.delta[i] + hedge)[:k_keep]
    err = (marks.value[-1] - marks.value[0] + hedge_pnl + marks.funding.sum(axis=0) + marks.fees.sum(axis=0)
           + target * (spots[0] - spots[-1]))
    return PolicyPaths(err, cost, trades, max_dev, sample)


# Long on purpose: the same single pass as simulate_policy, with the keeper's gates and two venues.
def _simulate_with_rules(marks: BookMarks, spots: FloatArray, seconds: FloatArray, spec: PolicySpec,  # noqa: PLR0915
                         pol: UnderlyingPolicy, costs: CostModel, model: MarketModel, market: MarketPaths,
                         k_keep: int) -> PolicyPaths:
    """``simulate_policy`` through :func:`keeper.core.policy_arrays.decide_arrays` (see the module docstring)."""
    n_steps, n = spots.shape[0] - 1, spots.shape[1]
    sz, target = pol.sizing, pol.target_delta_units
    pool = SwapPool(costs.fee_fraction, costs.liquidity)
    perp = model.perp.market if model.perp is not None else None
    perp_gas = model.perp.gas_ratio * costs.gas_quote if model.perp is not None else 0.0
    rate = model.perp.funding_rate_per_second if model.perp is not None else 0.0
    capped = not math.isinf(sz.window_cap_usd)
    window: deque[tuple[float, FloatArray]] = deque()
    used = np.zeros(n)
    left: FloatArray | float = math.inf

    spot_hedge = target - marks.delta[0]
    perp_hedge = np.zeros(n)
    last = np.full(n, seconds[0])
    hedge_pnl = np.zeros(n)
    parts = np.zeros((len(COST_PARTS), n))
    counts = np.zeros((len(RULE_COUNTS), n))
    trades = np.zeros(n)
    max_dev = np.zeros(n)
    sample = np.empty((n_steps + 1, k_keep))
    sample[0] = (marks.delta[0] + spot_hedge)[:k_keep]
    for i in range(1, n_steps + 1):
        s, now = spots[i], float(seconds[i])
        hedge_pnl += (spot_hedge + perp_hedge) * (s - spots[i - 1])
        if rate != 0.0:  # > 0: longs pay; paid on the notional at the step's start
            parts[3] += perp_hedge * spots[i - 1] * rate * float(seconds[i] - seconds[i - 1])
        if i == n_steps:  # the horizon: marked, not traded
            sample[i] = (marks.delta[i] + spot_hedge + perp_hedge)[:k_keep]
            break
        net = marks.delta[i] + spot_hedge + perp_hedge
        np.maximum(max_dev, np.abs(net - target), out=max_dev)
        if capped:
            while window and window[0][0] <= now - sz.window_s:
                used -= window.popleft()[1]
            left = np.maximum(sz.window_cap_usd - used, 0.0)
        gas_x = market.gas_multiple[i]
        view = MarketArrays(market.feed[i], market.feed_updated_at[i], s, market.twap[i], now, market.gas_gwei[i],
                            costs.gas_quote * gas_x, perp_gas * gas_x)
        d = decide_arrays(pol, net, s, marks.gamma[i], marks.value[i], now - last, left, view, pool, perp,
                          all_gates=False)
        on_swap, on_perp = d.venue == 1, d.venue == 2
        spot_hedge = spot_hedge + np.where(on_swap, d.trade, 0.0)
        perp_hedge = perp_hedge + np.where(on_perp, d.trade, 0.0)
        traded = d.venue > 0
        trades += traded
        parts[0] += d.fee_quote
        parts[1] += d.impact_quote
        parts[2] += d.gas_quote
        blocked = d.blocked
        counts[0] += blocked
        counts[1] += blocked & d.gates.feed_staleness
        counts[2] += blocked & d.gates.oracle_consistency
        counts[3] += blocked & d.gates.gas
        counts[4] += d.outcome == _NO_VENUE
        counts[5] += traded & d.gates.gas_overridden
        counts[6] += on_perp
        last = np.where(traded, now, last)
        if capped:
            notional = np.abs(d.trade) * market.feed[i]
            window.append((now, notional))
            used += notional
        sample[i] = (marks.delta[i] + spot_hedge + perp_hedge)[:k_keep]
    err = (marks.value[-1] - marks.value[0] + hedge_pnl + marks.funding.sum(axis=0) + marks.fees.sum(axis=0)
           + target * (spots[0] - spots[-1]))
    return PolicyPaths(err, parts.sum(axis=0), trades, max_dev, sample, parts, counts)


def measure_lvr(marks: BookMarks, spots: FloatArray, seconds: FloatArray,
                sigma: float) -> tuple[FloatArray, FloatArray]:
    """(measured, predicted) loss-versus-rebalancing of the LPs per path, quote.

    Measured: the rebalancing portfolio holds the LPs' delta through each step, so
    ``LVR = sum_i lp_delta_{i-1} (S_i - S_{i-1}) - (V_i - V_{i-1})``. Predicted (Milionis et al.):
    ``sum_i -lp_gamma_{i-1} sigma^2 S_{i-1}^2 dt_i / 2``, i.e. ``sigma^2 / 4 * L * sqrtS`` per unit
    time while in range, with ``sigma`` the annual volatility.
    """
    dt = np.diff(seconds)[:, None] / (365.0 * 86_400.0)
    measured = (marks.lp_delta[:-1] * np.diff(spots, axis=0) - np.diff(marks.lp_value, axis=0)).sum(axis=0)
    predicted = (-0.5 * marks.lp_gamma[:-1] * sigma**2 * spots[:-1] ** 2 * dt).sum(axis=0)
    return measured, predicted


def run_paths(book: Book, spots: FloatArray, seconds: FloatArray, specs: tuple[PolicySpec, ...], costs: CostModel,
              sigma: float, keep: int = 8, *, variance: FloatArray | None = None, heston: HestonParams | None = None,
              mv: MinVarianceCoefficients | None = None) -> ChunkResult:
    """Revalue the book once along ``spots`` and run every policy on it.

    With ``heston`` (and its ``variance`` paths) options are marked at Heston prices and each
    policy hedges the book delta of its flavour (``mv``: the Hull-White coefficients of
    ``min_variance``); without, options are Black-Scholes at their flat vol and only
    ``sticky_strike`` is accepted.
    """
    if spots.ndim != 2 or spots.shape[0] != seconds.shape[0] or spots.shape[0] < 2:
        raise InputError("spots", f"must be (n_steps + 1, n_paths) matching seconds, got {spots.shape}")
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise InputError("policies", f"duplicate policy names in {names}")
    flavours = tuple(dict.fromkeys(s.flavour for s in specs)) or ("sticky_strike",)
    by_flavour: dict[DeltaFlavour, BookMarks]
    if heston is None:
        if flavours != ("sticky_strike",):
            raise InputError("delta_flavours", f"{', '.join(flavours)}: without a smile (a flat-vol model) every "
                                               "flavour is the Black-Scholes delta; use the Heston model")
        by_flavour = {"sticky_strike": book.revalue(spots, seconds)}
    else:
        if variance is None:
            raise InputError("variance", "the Heston marks need the variance paths")
        by_flavour = heston_marks(book, spots, variance, seconds, heston, flavours, mv)
    market = simulate_market(costs.market, spots, seconds) if costs.market is not None else None
    runs = {s.name: simulate_policy(by_flavour[s.flavour], spots, seconds, s, costs, keep, market) for s in specs}
    lvr, pred = measure_lvr(by_flavour[flavours[0]], spots, seconds, sigma)
    return ChunkResult(runs, lvr, pred, spots[:, :min(keep, spots.shape[1])].copy(), np.asarray(seconds))
