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
  impact = the shortfall); ``gas`` is the transaction's gas in USD; ``funding`` is what the perp
  position paid (negative: received) from the cycle of a perp hedge to the next perp hedge of that
  underlying, from the per-cycle perp marks (:func:`keeper.core.lvr.perp_funding_step`; 0 for a swap);
  funding of periods before the first perp hedge of the report is listed as carried in;
* **P&L attribution** per underlying: between consecutive journaled cycles, a Taylor explain of the
  book after that cycle's hedges (delta x dS, 1/2 gamma x dS^2, theta x dt, vega x dvol with the vega
  at the start of the interval and the vol each cycle journaled its options at; an interval whose
  either end journaled no vol, an older journal or options priced on a vol surface, has its vega
  not recorded, never 0); the hedges marked at the latest feed price; costs by kind, funding included;
* **LP fees against LVR**: per LP position between consecutive journaled cycles, the fees it earned
  (fee growth inside its range times its liquidity, collects included) against its realized
  loss-versus-rebalancing and the model's sigma^2/4 L sqrt(P) at the cycle's vol
  (:mod:`keeper.core.lvr`); steps across which its liquidity or range changed are left out;
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
from dataclasses import dataclass, field, replace
from typing import Any

from keeper.core.lvr import lp_step, perp_funding_step
from keeper.errors import InputError
from keeper.journal import CycleMarks, Fill, Journal

__all__ = ["SECONDS_PER_YEAR", "Attribution", "ChainState", "ExposurePoint", "FrontierRow", "FundingRow", "HedgeRow",
           "LimitRow", "LpRow", "PolicyFrontier", "ReportModel", "build_report", "hedge_row"]

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
    funding_usd: float = 0.0
    """Perp funding paid over the period (negative: received); part of ``costs_usd``."""
    lp_fees_usd: float | None = None
    """Fees the underlying's LPs earned over the period (``None``: no LP marks journaled)."""
    lp_lvr_usd: float | None = None
    """Their realized loss-versus-rebalancing over the same steps."""
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
class LpRow:
    """One LP position over the period: fees earned against loss-versus-rebalancing, USD (module docstring)."""

    token_id: int
    underlying: str
    owner: str
    pool: str
    steps: int
    """Intervals between consecutive journaled cycles counted."""
    skipped: int
    """Intervals left out: the position's liquidity or range changed across them."""
    fees_usd: float
    fees_underlying: float
    fees_quote: float
    lvr_usd: float
    """Realized: the previous cycle's amounts marked to the new pool price minus the position's new value, summed."""
    model_lvr_usd: float | None
    """sigma^2/4 L sqrt(P) at each step's start (its cycle's vol) x the step's length, summed; ``None``: no vol."""
    in_range_now: bool
    value_usd: float
    """Its principal at the last mark, at its own pool's price."""

    @property
    def net_usd(self) -> float:
        return self.fees_usd - self.lvr_usd


@dataclass(frozen=True)
class FundingRow:
    """Funding one perp position paid between two journaled cycles (negative: received), USD."""

    underlying: str
    market: str
    account: str
    start: int
    end: int
    size_units: float
    """The position's size at the end of the period (after the hedges of its start cycle), units (+ long)."""
    funding_usd: float
    hedge: str
    """The intent id of the perp hedge whose position paid it ("" when carried in from before the period)."""


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
    venue: str = ""
    """The hedge venue the backtest priced trades on (the configured one read at the block)."""
    model: str = ""
    """The price paths' model (the config's vol model)."""


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
    lps: list[LpRow] = field(default_factory=list)
    lp_series: dict[str, list[tuple[int, float, float]]] = field(default_factory=dict)
    """Per underlying: (block time, cumulative fees USD, cumulative realized LVR USD) at each step's end."""
    funding: list[FundingRow] = field(default_factory=list)
    marks_journaled: bool = False
    """Whether any cycle of the period journaled LP / perp marks (older journals did not)."""


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


def _totals(hedges: Sequence[HedgeRow], funding: Sequence[FundingRow] = ()) -> dict[str, dict[str, float]]:
    """Per underlying and ``all``: counts, units, notional and each cost; ``funding_usd`` is every period's
    funding (carried-in periods too), and ``total_cost_usd`` = fees + impact + gas + funding."""
    out: dict[str, dict[str, float]] = {}
    for key in [*sorted({h.underlying for h in hedges} | {f.underlying for f in funding}), "all"]:
        rows = [h for h in hedges if key in ("all", h.underlying)]
        t = {"count": float(len(rows))}
        if key != "all":  # units of different assets do not add up
            t["units_bought"] = sum(h.size_units for h in rows if h.side == "buy")
            t["units_sold"] = sum(h.size_units for h in rows if h.side == "sell")
        for k in ("notional_usd", "fee_usd", "impact_usd", "gas_usd"):
            t[k] = sum(getattr(h, k) for h in rows)
        t["funding_usd"] = sum(f.funding_usd for f in funding if key in ("all", f.underlying))
        t["total_cost_usd"] = t["fee_usd"] + t["impact_usd"] + t["gas_usd"] + t["funding_usd"]
        out[key] = t
    return out


def _lps(marks: Sequence[CycleMarks], vols: Mapping[tuple[int, str], float | None]
         ) -> tuple[list[LpRow], dict[str, list[tuple[int, float, float]]], list[str]]:
    """Fees against LVR per LP position over consecutive marks (:func:`keeper.core.lvr.lp_step`)."""
    seen: dict[int, tuple[CycleMarks, Any]] = {}
    acc: dict[int, dict[str, Any]] = {}
    steps: list[tuple[int, str, float, float]] = []
    why: list[str] = []
    for cm in marks:
        for m in cm.lps:
            prev = seen.get(m.token_id)
            seen[m.token_id] = (cm, m)
            a = acc.setdefault(m.token_id, {"steps": 0, "skipped": 0, "fees": 0.0, "fu": 0.0, "fq": 0.0, "lvr": 0.0,
                                            "model": None})
            a["last"] = m
            if prev is None:
                continue
            pc, pm = prev
            st = lp_step(pm, m, pc.block_timestamp, cm.block_timestamp, vols.get((pc.cycle_id, m.underlying)))
            if not st.comparable:
                a["skipped"] += 1
                why.append(f"LP {m.token_id} ({m.underlying}): left out the interval from cycle {pc.cycle_id} to "
                           f"{cm.cycle_id}: {st.why} (a deposit or withdrawal is neither a fee nor LVR)")
                continue
            a["steps"] += 1
            a["fees"] += st.fees
            a["fu"] += st.fees_underlying
            a["fq"] += st.fees_quote
            a["lvr"] += st.lvr
            if st.model_lvr is not None:
                a["model"] = (a["model"] or 0.0) + st.model_lvr
            steps.append((cm.block_timestamp, m.underlying, st.fees, st.lvr))
    rows = [LpRow(tid, a["last"].underlying, a["last"].owner, a["last"].pool, a["steps"], a["skipped"], a["fees"],
                  a["fu"], a["fq"], a["lvr"], a["model"], a["last"].in_range, a["last"].principal_value)
            for tid, a in sorted(acc.items(), key=lambda kv: (kv[1]["last"].underlying, kv[0]))]
    series: dict[str, list[tuple[int, float, float]]] = {}
    for u in sorted({u for _, u, _, _ in steps}):  # each asset's curve starts at 0 at its first mark
        series[u] = [(min(cm.block_timestamp for cm in marks if any(m.underlying == u for m in cm.lps)), 0.0, 0.0)]
    for ts, u, fees, lvr in sorted(steps, key=lambda x: x[0]):
        pts = series.setdefault(u, [])
        f0, l0 = (pts[-1][1], pts[-1][2]) if pts else (0.0, 0.0)
        if pts and pts[-1][0] == ts:
            pts[-1] = (ts, f0 + fees, l0 + lvr)
        else:
            pts.append((ts, f0 + fees, l0 + lvr))
    return rows, series, why


def _funding(marks: Sequence[CycleMarks], hedges: Sequence[HedgeRow]) -> list[FundingRow]:
    """Each perp position's funding between consecutive marks, given to the latest perp hedge of its underlying
    sent in or before the period's start cycle (:func:`keeper.core.lvr.perp_funding_step`)."""
    perp_hedges = sorted((h for h in hedges if h.venue == "perp"), key=lambda h: (h.cycle_id, h.block))
    seen: dict[str, tuple[CycleMarks, Any]] = {}
    out: list[FundingRow] = []
    for cm in marks:
        for m in cm.perps:
            key = f"{m.market.lower()}/{m.account.lower()}"
            prev = seen.get(key)
            seen[key] = (cm, m)
            if prev is None:
                continue
            pc, pm = prev
            if pm.size == 0 and m.size == 0 and pm.last_funding_index == m.last_funding_index:
                continue  # no position over the period: nothing paid, nothing to list
            paid = perp_funding_step(pm, m) / 10**m.quote_decimals
            owner = [h for h in perp_hedges if h.underlying == m.underlying and h.cycle_id <= pc.cycle_id]
            out.append(FundingRow(m.underlying, m.market, m.account, pc.block_timestamp, cm.block_timestamp,
                                  m.size / 1e18, paid, owner[-1].intent_id if owner else ""))
    return out


def _attribution(u: str, pts: Sequence[ExposurePoint], hedges: Sequence[HedgeRow], mark: float | None,
                 funding: float = 0.0, lps: Sequence[LpRow] | None = None) -> Attribution:
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
    costs = fees + impact + gas + funding
    lp_fees = None if lps is None else sum(r.fees_usd for r in lps)
    lp_lvr = None if lps is None else sum(r.lvr_usd for r in lps)
    return Attribution(u, max(0, len(pts) - 1), d_pnl, g_pnl, t_pnl, v_pnl, marked, mark, fees, impact, gas, costs,
                       d_pnl + g_pnl + t_pnl + (v_pnl or 0.0) - costs, funding_usd=funding, lp_fees_usd=lp_fees,
                       lp_lvr_usd=lp_lvr, interval_pnl_usd=tuple(per), interval_vega_usd=tuple(vegas))


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


def _from_marks(marks: Sequence[CycleMarks], exposure: Mapping[str, Sequence[ExposurePoint]],
                hedges: list[HedgeRow], quote: str
                ) -> tuple[list[LpRow], dict[str, list[tuple[int, float, float]]], list[FundingRow], list[HedgeRow],
                           list[str]]:
    """LP rows, their series, funding per period, the hedges with their funding, and the notes they need."""
    vols = {(p.cycle_id, u): p.vol for u, pts in exposure.items() for p in pts}
    lps, lp_series, lp_why = _lps(marks, vols)
    funding = _funding(marks, hedges)
    if not marks:
        return lps, lp_series, funding, hedges, [
            "no LP or perp marks journaled in the period (a journal older than schema version 3): LP fees against "
            "LVR and perp funding are not recorded"]
    by_hedge: dict[str, float] = {}
    for fr in funding:
        by_hedge[fr.hedge] = by_hedge.get(fr.hedge, 0.0) + fr.funding_usd
    # a swap pays no funding; a perp hedge carries its position's funding until the next perp hedge
    hedges = [replace(h, funding_usd=by_hedge.get(h.intent_id, 0.0),
                      total_cost_usd=h.total_cost_usd + by_hedge.get(h.intent_id, 0.0)) for h in hedges]
    notes = []
    if any(not fr.hedge for fr in funding):
        carried = sum(fr.funding_usd for fr in funding if not fr.hedge)
        notes.append(f"perp funding of {carried:,.2f} {quote} was paid by positions opened before the period's "
                     "first perp hedge (carried in): in the totals, not on a hedge")
    return lps, lp_series, funding, hedges, notes + lp_why


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
    marks = journal.marks_between(since, until)
    lps, lp_series, funding, hedges, notes = _from_marks(marks, exposure, hedges, chain.quote_symbol)
    attribution = []
    for u in sorted(set(exposure) | {h.underlying for h in hedges} | {r.underlying for r in lps}
                    | {fr.underlying for fr in funding}):
        mark = chain.feeds_usd.get(u)
        mine = [r for r in lps if r.underlying == u]
        a = _attribution(u, exposure.get(u, []), hedges, mark, sum(fr.funding_usd for fr in funding
                                                                    if fr.underlying == u), mine or None)
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
        totals=_totals(hedges, funding), attribution=attribution, module_address=chain.module_address,
        module_paused=chain.module_paused, limits=_limits(chain, hedges),
        greeks_now={k: dict(v) for k, v in chain.greeks.items()},
        scenarios_now={k: dict(v) for k, v in chain.scenarios.items()}, notes=notes, frontier=list(frontier),
        frontier_text=frontier_text, lps=lps, lp_series=lp_series, funding=funding, marks_journaled=bool(marks))
