"""The risk manager's report for the DAO (``keeper report``): one model, built from the journal and the
chain's current state, that the Markdown, HTML and JSON renderings (:mod:`keeper.view.dao_render`) all
print, so their numbers agree.

Times are the chain's clock: block timestamps (journaled with each snapshot and fill), never the
keeper host's wall clock. Money is USD (the quote token's feed); sizes are units of the underlying.

What the model holds, per the journal's rows in ``[since, until)`` of block time:

* **exposure over time**: each cycle's greeks as journaled with its plan, at its snapshot's block time
  (delta in units and USD, gamma in USD per 1 % move, vega in USD per vol point, theta in USD per day);
* **hedges**: every fill with size, price, venue and its costs by kind. ``fee`` is the venue's fee;
  ``impact`` is the price paid against the oracle beyond the fee (for a swap the fee is inside the
  realized price, so impact = shortfall at the oracle - fee; for a perp the fee is charged apart, so
  impact = the shortfall); ``gas`` is the transaction's gas in USD; ``funding`` is not journaled per
  hedge and is shown as not recorded;
* **P&L attribution** per underlying: between consecutive journaled cycles, a Taylor explain of the
  book after that cycle's hedges (delta x dS, 1/2 gamma x dS^2, theta x dt, vega x dvol with the vega
  at the start of the interval and the vol each cycle journaled its options at; an interval whose
  either end journaled no vol, an older journal or options priced on a vol surface, has its vega
  not recorded, never 0); the hedges marked at the latest feed price; costs by kind;
* **limits**: the HedgeModule's on-chain caps with what the keeper used (its window usage and loss
  usage as the module reports them, the largest trade and the worst slippage of the period);
* **now**: the greeks and the spot x vol scenario grid read from the chain at the head;
* **policy frontier**: per underlying, a backtest of the book read at the head
  (:mod:`keeper.backtest.frontier`, run by the CLI): each policy's mean cost, hedging-error std and
  95 % CVaR in USD, identical policies grouped, the configured policy as ``config``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from keeper.errors import InputError
from keeper.journal import Fill, Journal

__all__ = ["SECONDS_PER_YEAR", "Attribution", "ChainState", "ExposurePoint", "FrontierRow", "HedgeRow", "LimitRow",
           "PolicyFrontier", "ReportModel", "build_report", "hedge_row"]

SECONDS_PER_YEAR = 365.0 * 86_400.0
_SWAP_VENUES = ("uniswap", "uniswap_v4")
"""Venues whose realized price already includes the venue fee (a swap pays it out of the amount in)."""


@dataclass(frozen=True)
class ChainState:
    """What the chain says now, read by the CLI (the model itself reads nothing).

    ``greeks`` and ``scenarios`` are :func:`keeper.view.report.plan_record`'s ``greeks`` and
    ``scenarios``; ``module`` is the HedgeModule's decoded ``params()`` (``None`` in eoa mode) and
    ``usage`` its ``windowUsage()`` / ``lossUsage()`` in USD.
    """

    chain_id: int
    block: int
    block_timestamp: int
    quote_symbol: str
    greeks: Mapping[str, Mapping[str, float]]
    scenarios: Mapping[str, Mapping[str, Any]]
    feeds_usd: Mapping[str, float]
    module_address: str | None = None
    module: Mapping[str, Any] | None = None
    usage: Mapping[str, float] | None = None
    module_paused: bool | None = None
    perp_abs_units: Mapping[str, float] = field(default_factory=dict)
    """|size| of the book's perp position per market, units of its underlying."""


@dataclass(frozen=True)
class ExposurePoint:
    """One journaled cycle's greeks of one underlying, at its snapshot's block time."""

    cycle_id: int
    block: int
    block_timestamp: int
    spot_usd: float
    delta_units: float
    delta_usd: float
    gamma_units_per_usd: float
    gamma_usd_per_1pct: float
    vega_usd_per_vol_point: float
    theta_usd_per_day: float
    vol: float | None = None
    """The flat annualized vol (1.00 = 100 %) the cycle valued the underlying's options at; ``None`` when
    the journal has none (an older journal, or options priced on a vol surface)."""


@dataclass(frozen=True)
class HedgeRow:
    """One mined hedge. ``size_units`` = notional at the oracle / oracle price (what the executor filled)."""

    intent_id: str
    cycle_id: int
    underlying: str
    venue: str
    side: str
    size_units: float
    price_usd: float
    oracle_usd: float
    notional_usd: float
    slippage_bps: float
    fee_usd: float
    impact_usd: float
    gas_usd: float
    funding_usd: float | None
    total_cost_usd: float
    block: int
    block_timestamp: int
    tx_hash: str

    @property
    def signed_units(self) -> float:
        return self.size_units if self.side == "buy" else -self.size_units


@dataclass(frozen=True)
class Attribution:
    """Hedging P&L of one underlying over the period, USD (see the module docstring)."""

    underlying: str
    intervals: int
    delta_usd: float
    gamma_usd: float
    theta_usd: float
    vega_usd: float | None
    """Sum of vega x dvol over the intervals with a vol at both ends; ``None`` when no interval has one."""
    hedges_mark_usd: float
    """The hedges bought or sold, marked at ``mark_price_usd`` against the oracle price at their fill."""
    mark_price_usd: float | None
    fees_usd: float
    impact_usd: float
    gas_usd: float
    costs_usd: float
    explained_usd: float
    """delta + gamma + theta (+ vega when known) - costs."""
    interval_pnl_usd: tuple[float, ...] = ()
    """The explain (delta + gamma + theta, + vega when recorded) of each interval between consecutive cycles,
    oldest first."""
    interval_vega_usd: tuple[float | None, ...] = ()
    """Each interval's vega x dvol, ``None`` where either cycle journaled no vol."""

    @property
    def vega_intervals(self) -> int:
        """How many intervals have their vega P&L recorded."""
        return sum(1 for v in self.interval_vega_usd if v is not None)


@dataclass(frozen=True)
class LimitRow:
    """One on-chain limit of the HedgeModule and how much of it the keeper used."""

    limit: str
    cap: float
    unit: str
    used: float | None
    used_what: str

    @property
    def used_pct(self) -> float | None:
        return None if self.used is None or self.cap <= 0 else 100.0 * self.used / self.cap


@dataclass(frozen=True)
class FrontierRow:
    """One policy of the backtest of the book: USD per path over the backtest's horizon."""

    policy: str
    family: str
    mean_cost_usd: float
    hedge_error_std_usd: float
    """Std over paths of the hedged P&L before costs."""
    cvar95_usd: float
    """95 % CVaR of the hedged P&L net of costs, as a loss (positive = a loss)."""
    identical_to: tuple[str, ...] = ()
    """The other policies with identical results on every path (not ranked against this one)."""


@dataclass(frozen=True)
class PolicyFrontier:
    """The backtest of one underlying's book as read at the head block (see :mod:`keeper.backtest.frontier`)."""

    underlying: str
    book: str
    paths: int
    steps: int
    days: float
    step: str
    vol: float
    spot_usd: float
    rows: tuple[FrontierRow, ...]
    warnings: tuple[str, ...] = ()
    config_policy: str = "config"
    """The row of the configured policy."""


@dataclass(frozen=True)
class ReportModel:
    """Everything the report prints; renderers format, they compute nothing but sums of these rows."""

    chain_id: int
    quote_symbol: str
    since: int
    until: int
    head_block: int
    head_timestamp: int
    cycles: int
    exposure: dict[str, list[ExposurePoint]]
    hedges: list[HedgeRow]
    totals: dict[str, dict[str, float]]
    """Per underlying, and ``"all"``: ``count``, ``units_bought``, ``units_sold``, ``notional_usd``, and each cost."""
    attribution: list[Attribution]
    module_address: str | None
    module_paused: bool | None
    limits: list[LimitRow]
    greeks_now: dict[str, dict[str, float]]
    scenarios_now: dict[str, dict[str, Any]]
    notes: list[str] = field(default_factory=list)
    frontier: list[PolicyFrontier] = field(default_factory=list)
    frontier_text: str = "not computed (--no-frontier)"
    """Why a frontier is missing (an underlying left out, or the whole section skipped)."""


def hedge_row(fill: Fill, cycle_id: int) -> HedgeRow:
    """A journaled fill with its costs by kind (module docstring)."""
    d = fill.data
    units = d.notional_quote / d.oracle_price if d.oracle_price > 0 else 0.0
    shortfall = d.slippage_bps / 1e4 * d.oracle_price * units
    impact = shortfall - d.fee_quote if fill.venue in _SWAP_VENUES else shortfall
    return HedgeRow(
        intent_id=fill.intent_id, cycle_id=cycle_id, underlying=fill.underlying, venue=fill.venue,
        side=fill.side.value, size_units=units, price_usd=d.realized_price, oracle_usd=d.oracle_price,
        notional_usd=d.notional_quote, slippage_bps=d.slippage_bps, fee_usd=d.fee_quote, impact_usd=impact,
        gas_usd=d.gas_cost_quote, funding_usd=None, total_cost_usd=d.fee_quote + impact + d.gas_cost_quote,
        block=d.block_number, block_timestamp=d.block_timestamp, tx_hash=d.tx_hash)


def _f(x: object, what: str) -> float:
    if isinstance(x, bool) or not isinstance(x, int | float) or not math.isfinite(x):
        raise InputError(what, f"expected a finite number in the journal, got {x!r}")
    return float(x)


def _point(cycle_id: int, block: int, ts: int, g: Mapping[str, Any], where: str) -> ExposurePoint:
    """A journaled :class:`~keeper.core.portfolio.RiskSummary` (vega per 1.00 vol, theta per year) in report units."""
    return ExposurePoint(
        cycle_id=cycle_id, block=block, block_timestamp=ts, spot_usd=_f(g["spot"], f"{where}.spot"),
        delta_units=_f(g["delta"], f"{where}.delta"), delta_usd=_f(g["delta_quote"], f"{where}.delta_quote"),
        gamma_units_per_usd=_f(g["gamma"], f"{where}.gamma"),
        gamma_usd_per_1pct=_f(g["gamma_quote"], f"{where}.gamma_quote"),
        vega_usd_per_vol_point=_f(g["vega"], f"{where}.vega") / 100.0,
        theta_usd_per_day=_f(g["theta"], f"{where}.theta") / 365.0,
        vol=None if g.get("vol") is None else _f(g["vol"], f"{where}.vol"))


def _exposure(journal: Journal, since: int, until: int) -> tuple[dict[str, list[ExposurePoint]], int]:
    """Each finished cycle's greeks with its snapshot's block time in ``[since, until)``, oldest first."""
    out: dict[str, list[ExposurePoint]] = {}
    export = journal.export()
    snaps = {s["cycle_id"]: s for s in export["snapshots"]}
    count = 0
    for plan in export["plans"]:
        snap = snaps.get(plan["cycle_id"])
        if snap is None or not since <= snap["block_timestamp"] < until:
            continue
        count += 1
        for u, g in sorted(plan["greeks"].items()):
            where = f"plans[{plan['id']}].greeks.{u}"
            out.setdefault(u, []).append(_point(plan["cycle_id"], snap["block_number"], snap["block_timestamp"], g,
                                                where))
    for pts in out.values():
        pts.sort(key=lambda p: (p.block_timestamp, p.cycle_id))
    return out, count


def _totals(hedges: Sequence[HedgeRow]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for key in [*sorted({h.underlying for h in hedges}), "all"]:
        rows = [h for h in hedges if key in ("all", h.underlying)]
        t = {"count": float(len(rows))}
        if key != "all":  # units of different assets do not add up
            t["units_bought"] = sum(h.size_units for h in rows if h.side == "buy")
            t["units_sold"] = sum(h.size_units for h in rows if h.side == "sell")
        for k in ("notional_usd", "fee_usd", "impact_usd", "gas_usd", "total_cost_usd"):
            t[k] = sum(getattr(h, k) for h in rows)
        out[key] = t
    return out


def _attribution(u: str, pts: Sequence[ExposurePoint], hedges: Sequence[HedgeRow], mark: float | None
                 ) -> Attribution:
    """Taylor explain between consecutive cycles, the delta being the book's after that cycle's hedges."""
    mine = [h for h in hedges if h.underlying == u]
    hedged_in: dict[int, float] = {}
    for h in mine:
        hedged_in[h.cycle_id] = hedged_in.get(h.cycle_id, 0.0) + h.signed_units
    d_pnl = g_pnl = t_pnl = 0.0
    per: list[float] = []
    vegas: list[float | None] = []
    for a, b in zip(pts, pts[1:], strict=False):
        ds, dt = b.spot_usd - a.spot_usd, b.block_timestamp - a.block_timestamp
        d = (a.delta_units + hedged_in.get(a.cycle_id, 0.0)) * ds
        g = 0.5 * a.gamma_units_per_usd * ds * ds
        t = a.theta_usd_per_day * dt / 86_400.0
        # vega per vol point x the move in vol points (vols are fractions: 1.00 = 100 points)
        v = None if a.vol is None or b.vol is None else a.vega_usd_per_vol_point * (b.vol - a.vol) * 100.0
        d_pnl, g_pnl, t_pnl = d_pnl + d, g_pnl + g, t_pnl + t
        vegas.append(v)
        per.append(d + g + t + (v or 0.0))
    recorded = [v for v in vegas if v is not None]
    v_pnl = sum(recorded) if recorded else None
    marked = 0.0 if mark is None else sum(h.signed_units * (mark - h.oracle_usd) for h in mine)
    fees, impact, gas = (sum(h.fee_usd for h in mine), sum(h.impact_usd for h in mine), sum(h.gas_usd for h in mine))
    costs = fees + impact + gas
    return Attribution(u, max(0, len(pts) - 1), d_pnl, g_pnl, t_pnl, v_pnl, marked, mark, fees, impact, gas, costs,
                       d_pnl + g_pnl + t_pnl + (v_pnl or 0.0) - costs, tuple(per), tuple(vegas))


def _limits(chain: ChainState, hedges: Sequence[HedgeRow]) -> list[LimitRow]:
    m = chain.module
    if m is None:
        return []
    usage = chain.usage or {}
    biggest = max((h.notional_usd for h in hedges), default=0.0)
    worst = max((h.slippage_bps for h in hedges), default=0.0)
    window_h = f"{m['window_s'] / 3600:g} h"
    rows = [
        LimitRow("max notional per trade", m["max_notional_per_trade_usd"], "USD", biggest,
                 "largest hedge of the period"),
        LimitRow(f"max notional per window ({window_h})", m["max_notional_per_window_usd"], "USD",
                 usage.get("window_notional_usd"), "the module's windowUsage() now"),
        LimitRow("max slippage vs oracle", float(m["max_slippage_bps"]), "bps", worst,
                 "worst hedge of the period (incl. a swap's fee)"),
        LimitRow(f"loss budget per window ({window_h})", m["loss_budget_window_usd"], "USD",
                 usage.get("window_loss_usd"), "the module's lossUsage() now"),
        LimitRow("loss budget total", m["loss_budget_total_usd"], "USD", usage.get("total_loss_usd"),
                 "the module's lossUsage() now"),
    ]
    for market, spec in sorted(m.get("perp_markets", {}).items()):
        rows.append(LimitRow(f"perp max |size| {market[:10]}..", spec["max_abs_size_units"], "units",
                             chain.perp_abs_units.get(market.lower()), "the book's position now"))
    return rows


def build_report(journal: Journal, chain: ChainState, *, since: int | None, until: int,
                 frontier: Sequence[PolicyFrontier] = (), frontier_text: str = "not computed (--no-frontier)"
                 ) -> ReportModel:
    """The report over block times ``[since, until)`` from the journal, with the chain's state now.
    ``since=None`` starts at the journal's first snapshot (or fill). ``frontier``: the backtests of
    the book the CLI ran; ``frontier_text`` says what was run or left out."""
    if since is None:
        export = journal.export()
        times = [s["block_timestamp"] for s in export["snapshots"]] + [f["block_timestamp"] for f in export["fills"]]
        since = min(times, default=until - 1)
    if since >= until:
        raise InputError("--since", f"must be before --until (got since {since}, until {until}, block seconds)")
    exposure, cycles = _exposure(journal, since, until)
    intents_cycle: dict[str, int] = {}
    hedges: list[HedgeRow] = []
    for f in journal.fills_between(since, until):
        if f.intent_id not in intents_cycle:
            intents_cycle[f.intent_id] = journal.intent(f.intent_id).cycle_id
        hedges.append(hedge_row(f, intents_cycle[f.intent_id]))
    notes = ["funding is not journaled per hedge: shown as not recorded"]
    attribution = []
    for u in sorted(set(exposure) | {h.underlying for h in hedges}):
        mark = chain.feeds_usd.get(u)
        a = _attribution(u, exposure.get(u, []), hedges, mark)
        attribution.append(a)
        if a.vega_intervals < a.intervals:
            notes.append(f"{u}: vega P&L recorded for {a.vega_intervals} of {a.intervals} interval(s); the others "
                         "are not recorded (a cycle journaled no vol: an older journal, or options priced on a "
                         "vol surface) and are left out of the vega total")
    if chain.module is None:
        notes.append("no HedgeModule (eoa mode): no on-chain limits to report")
    return ReportModel(
        chain_id=chain.chain_id, quote_symbol=chain.quote_symbol, since=since, until=until, head_block=chain.block,
        head_timestamp=chain.block_timestamp, cycles=cycles, exposure=exposure, hedges=hedges,
        totals=_totals(hedges), attribution=attribution, module_address=chain.module_address,
        module_paused=chain.module_paused, limits=_limits(chain, hedges),
        greeks_now={k: dict(v) for k, v in chain.greeks.items()},
        scenarios_now={k: dict(v) for k, v in chain.scenarios.items()}, notes=notes, frontier=list(frontier),
        frontier_text=frontier_text)
