"""The policy frontier of ``keeper report``: a small backtest of the treasury's actual book.

:func:`frontier_job` builds the job as ``keeper backtest --from-chain`` does (sticky-strike
deltas, every policy of the comparison set plus the configured one as ``config``), from the
snapshot and the plan's book the report has already read, on the config's vol model
(:func:`path_model`: GBM at the plan's vol for ``fixed`` and ``ewma``, GARCH(1,1) with the
persistence fitted on the oracle pool for ``garch``) and on the configured hedge venue
(:func:`venue_cost_model`: the cheapest of the asset's hedge pools and perp market as read at the
block, for a trade of the book's delta); :func:`policy_frontier` turns the backtest's own report
(:func:`keeper.backtest.report.build_report`) into the DAO report's rows, so the numbers are the
backtest's. Identical policies are kept as groups, never ranked.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from keeper.backtest.chain_book import chain_book
from keeper.backtest.engine import CostModel
from keeper.backtest.parallel import BacktestJob
from keeper.backtest.paths import GarchModel, GBMModel, PathModel, parse_step, time_grid
from keeper.backtest.policies import parse_policies
from keeper.backtest.report import BacktestReport
from keeper.core.book import BookRisk
from keeper.core.costs import swap_cost_quote_array
from keeper.core.inputs import UnderlyingVenues, pool_price
from keeper.core.policy import UnderlyingPolicy
from keeper.core.snapshot import Snapshot
from keeper.core.vol import GarchVol, PoolHistoryVol, VolModel
from keeper.errors import KeeperError
from keeper.view.dao_report import FrontierRow, PolicyFrontier

__all__ = ["FRONTIER_STEP", "FrontierVenue", "frontier_job", "path_model", "policy_frontier", "venue_cost_model"]

FRONTIER_STEP = "1h"
_PERP_LIQUIDITY = 1e30
"""A perp fills at the oracle price: no impact in the backtest's pool model."""


@dataclass(frozen=True)
class FrontierVenue:
    """The venue the frontier prices hedges on, and how it was chosen (for the report's text)."""

    costs: CostModel
    description: str


def _decimals(snap: Snapshot, token: str) -> int:
    return next(m.decimals for a, m in snap.tokens.items() if a.lower() == token.lower())


def venue_cost_model(snap: Snapshot, venues: UnderlyingVenues, *, spot: float, size_units: float,
                     native_price: float | None, tip_wei: int) -> FrontierVenue:
    """The configured hedge venue as the backtest's :class:`CostModel`: each hedge pool of the asset (fee tier,
    active liquidity in human units ``L / 10^((d0 + d1) / 2)``, ``swap_gas_units`` at the block's base fee plus
    the tip) and its perp market (taker fee, no impact, ``perp_gas_units``), as read at the snapshot; the
    cheapest for a trade of ``size_units`` wins, as the planner's venue choice would pick it. Without a
    readable venue the backtest's default venue is used, and the description says so."""
    gas_price = snap.base_fee_wei + tip_wei
    options: list[tuple[float, FrontierVenue]] = []
    size = max(abs(size_units), 1e-9)
    for addr in venues.hedge_pools:
        pool = snap.pools.get(addr)
        if pool is None or pool.liquidity <= 0 or pool.sqrt_price_x96 <= 0:
            continue
        d0, d1 = _decimals(snap, pool.token0), _decimals(snap, pool.token1)
        gas = venues.swap_gas_units * gas_price / 1e18 * native_price if native_price else CostModel().gas_quote
        cm = CostModel(pool.fee / 1e6, pool.liquidity / 10 ** ((d0 + d1) / 2), gas)
        ref = pool_price(pool, venues.token, snap)
        cost = float(swap_cost_quote_array(np.array([size]), np.array([True]), np.array([ref]), cm.fee_fraction,
                                           cm.liquidity, cm.gas_quote)[0])
        options.append((cost, FrontierVenue(cm, f"pool {addr} ({pool.fee / 1e4:g} % fee, active liquidity "
                                                f"{cm.liquidity:,.0f}, gas {gas:,.2f} per swap)")))
    market = snap.perp_markets.get(venues.perp_market) if venues.perp_market else None
    if market is not None:
        gas = venues.perp_gas_units * gas_price / 1e18 * native_price if native_price else CostModel().gas_quote
        cm = CostModel(market.taker_fee_bps / 1e4, _PERP_LIQUIDITY, gas)
        options.append((size * spot * cm.fee_fraction + gas,
                        FrontierVenue(cm, f"perp {market.address} ({market.taker_fee_bps} bps taker fee, fills at "
                                          f"the oracle, gas {gas:,.2f} per trade)")))
    if not options:
        c = CostModel()
        return FrontierVenue(c, f"the backtest's default venue ({c.fee_fraction * 1e4:g} bps pool, liquidity "
                                f"{c.liquidity:,.0f}, gas {c.gas_quote:g} per swap): no configured venue was readable")
    return min(options, key=lambda o: o[0])[1]


def path_model(model: VolModel | PoolHistoryVol, snap: Snapshot, vol: float) -> tuple[PathModel, str]:
    """The price paths for the config's vol model at ``vol`` (the plan's annualized vol): GARCH(1,1) with the
    persistence fitted on the oracle pool's history at the block for ``garch``, else GBM (``fixed``, ``ewma``:
    a constant vol over the horizon). A GARCH fit that fails falls back to GBM, and the text says so."""
    if isinstance(model, PoolHistoryVol) and model.model == "garch":
        try:
            fitted = model.at(snap)
        except KeeperError as exc:
            return GBMModel(vol), f"GBM at the plan's vol {vol:.4g} (the GARCH fit failed here: {exc})"
        if isinstance(fitted, GarchVol):
            p = fitted.params
            nu = p.nu if p.nu is not None and p.nu > 2.0 else None
            return (GarchModel(vol, alpha=p.alpha, beta=p.beta, nu=nu),
                    f"GARCH(1,1) as fitted on the oracle pool (alpha {p.alpha:.3g}, beta {p.beta:.3g}"
                    + (f", t with {nu:.3g} dof" if nu else "") + f"), long-run vol {vol:.4g}")
    kind = model.model if isinstance(model, PoolHistoryVol) else "fixed"
    return GBMModel(vol), f"GBM at the plan's vol {vol:.4g} (vol model {kind})"


def frontier_job(snap: Snapshot, risk: BookRisk, underlying: str, *, vol: float, configured: UnderlyingPolicy,
                 paths: int, days: float, seed: int = 0, costs: CostModel | None = None,
                 model: PathModel | None = None) -> BacktestJob:
    """The backtest of ``underlying``'s book at the snapshot's block (raises ``InputError`` as
    :func:`~keeper.backtest.chain_book.chain_book` does when it holds nothing there), on ``costs``
    (:func:`venue_cost_model`) and ``model`` (:func:`path_model`); defaults: the backtest's venue, GBM."""
    cb = chain_book(snap, risk, underlying, lp_fee_vol=vol)
    specs = parse_policies(["all"], cb.book.gross_value(cb.spot), configured, configured.target_delta_units)
    return BacktestJob(cb.book, specs, costs or CostModel(), time_grid(days, parse_step(FRONTIER_STEP)), cb.spot,
                       vol, model=model or GBMModel(vol), n_paths=paths, seed=seed)


def policy_frontier(report: BacktestReport, underlying: str, *, days: float, venue: str = "",
                    model: str = "") -> PolicyFrontier:
    """The DAO report's frontier of one underlying from the backtest's report (its numbers, unrounded)."""
    rows = tuple(FrontierRow(policy=r.name, family=r.family, mean_cost_usd=r.mean_cost,
                             hedge_error_std_usd=r.std_hedging_error, cvar95_usd=r.cvar95,
                             identical_to=tuple(n for n in report.group_of(r.name) if n != r.name))
                 for r in report.rows)
    meta = report.meta
    return PolicyFrontier(underlying=underlying, book=str(meta.get("book", "")), paths=int(meta["paths"]),
                          steps=int(meta["steps"]), days=days, step=FRONTIER_STEP, vol=float(meta.get("vol", 0.0)),
                          spot_usd=float(meta.get("spot", 0.0)), rows=rows, warnings=tuple(report.warnings),
                          venue=venue, model=model)
