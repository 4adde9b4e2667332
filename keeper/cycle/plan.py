"""A plan is a function of one block's snapshot and a context loaded before it.

:class:`PlanContext` holds what a plan uses besides the snapshot: the hedge history (from the
journal) and each implied-vol surface's state (read from its file or grid). The keeper loads it
once per cycle, before planning; :meth:`Planner.plan` then reads no chain, file, journal or clock:
the same snapshot and context give an equal plan, in ``plan``, ``once``, ``run`` and ``simulate``.
Vol models fitted on history take it from the snapshot too (``Snapshot.histories``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from keeper.core.book import BookRisk, book_risk
from keeper.core.gates import SnapshotStatus
from keeper.core.hedge_types import Plan
from keeper.core.inputs import UnderlyingVenues, gas_view, more_venue_inputs, underlying_inputs
from keeper.core.more_venues import LoanConfig, decide_more
from keeper.core.policy import PolicyConfig, decide
from keeper.core.sizing import HedgeHistory
from keeper.core.smile_delta import OptionVols, SmilePolicy, resolve_option_vols, with_vol_reasons
from keeper.core.snapshot import Snapshot
from keeper.core.surface import VolSurface
from keeper.core.vol import PoolHistoryVol, VolModel

__all__ = ["PlanContext", "Planner", "SurfaceState"]


@dataclass(frozen=True)
class SurfaceState:
    """An underlying's implied-vol surface as loaded for this cycle, or why it could not be."""

    policy: SmilePolicy
    surface: VolSurface | None
    problem: str | None = None


@dataclass(frozen=True)
class PlanContext:
    """What a plan uses besides the snapshot, loaded before it."""

    history: Mapping[str, HedgeHistory] = field(default_factory=dict)
    """Per underlying: the fills of the rolling window and the last hedge time (from the journal)."""
    surfaces: Mapping[str, SurfaceState] = field(default_factory=dict)


@dataclass(frozen=True)
class Planner:
    """The static part of planning: policy, venues, vol models, the hedging account."""

    policy: PolicyConfig
    venues: Mapping[str, UnderlyingVenues]
    vol_models: Mapping[str, VolModel | PoolHistoryVol]
    quote_token: str
    account: str
    vol_horizon_s: float = 86_400.0
    tip_wei: int = 10**9
    native_asset: str = "ETH"
    loan: LoanConfig = field(default_factory=LoanConfig)
    """The Aave loan venue's health-factor floor and interest horizon."""
    native_reserve_units: float = 0.5
    """Native coin kept for gas when a v4 pool sells the native coin (units of it)."""
    more_unsupported: str = ""
    """Non-empty: v4 pools and Aave loans are listed with this reason and never chosen (safe-module mode)."""
    more_module_legs: bool = False
    """Loans go through the HedgeVenueModule: their swap leg is a v4 pool (native ETH included)."""

    def plan(self, snap: Snapshot, ctx: PlanContext, vols: Mapping[str, float] | None = None
             ) -> tuple[BookRisk, Plan]:
        """Greeks and the decision for ``snap`` (pure: no I/O). ``vols``: :meth:`vols` of ``snap`` when the
        caller already has them (a GARCH fit is not free), else computed here."""
        spots = {a: f.price for a, f in snap.feeds.items()}
        vols = dict(vols) if vols is not None else self.vols(snap)
        tokens = {sym: v.token for sym, v in self.venues.items()}
        smiles = self.option_vols(snap.block_timestamp, vols, ctx)
        risk = book_risk(snap, tokens, self.quote_token, spots, vols, smiles=smiles)
        inputs = underlying_inputs(snap, risk, self.venues, self.account, self.quote_token, ctx.history)
        native = snap.feeds[self.native_asset].price if self.native_asset in snap.feeds else 0.0
        gas = gas_view(snap, self.tip_wei, native)
        status = SnapshotStatus(snap.complete, tuple(f"{f.what}: {f.reason}" for f in snap.failures))
        plan = decide(inputs, self.policy, gas, status)
        # The second venue step (v4 pools, Aave loans) runs on decide's decisions: see keeper.core.more_venues.
        by_sym = {i.exposure.underlying: i for i in inputs}
        decisions = []
        for d in plan.decisions:
            v, inp = self.venues.get(d.underlying), by_sym.get(d.underlying)
            if v is None or inp is None or (not v.v4_pools and v.aave_pool is None):
                decisions.append(d)
                continue
            more = more_venue_inputs(snap, v, self.account, self.quote_token,
                                     native_reserve_units=self.native_reserve_units, unsupported=self.more_unsupported,
                                     module_legs=self.more_module_legs)
            pol = self.policy.for_underlying(d.underlying)
            decisions.append(decide_more(d, inp, more, pol.venues, pol.gates.max_oracle_deviation_bps, self.loan, gas,
                                         self.policy.quote_symbol))
        plan = Plan(tuple(decisions))
        return risk, with_vol_reasons(plan, smiles, risk.positions)

    def vols(self, snap: Snapshot) -> dict[str, float]:
        """Each underlying's model vol at ``snap`` (annualized, over ``vol_horizon_s``): what options are priced at."""
        models = {a: m.at(snap) if isinstance(m, PoolHistoryVol) else m for a, m in self.vol_models.items()}
        return {a: m.annualized_vol(self.vol_horizon_s) for a, m in models.items()}

    @staticmethod
    def option_vols(now: int, vols: Mapping[str, float], ctx: PlanContext) -> dict[str, OptionVols]:
        """Each surface's state at block time ``now``: used, or stale / unavailable with the fallback vol."""
        return {sym: resolve_option_vols(sym, s.policy, vols[sym], now, s.surface, problem=s.problem)
                for sym, s in ctx.surfaces.items()}
