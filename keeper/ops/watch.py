"""The go-live gate and the alert hooks around each cycle of ``keeper run`` / ``keeper once``.

:meth:`CycleWatch.before_cycle` decides live or dry-run for the next cycle (re-checked every cycle,
so an on-chain parameter change mid-run drops the keeper to dry-run at the next one) and says why
on a change; :meth:`~CycleWatch.after_cycle`, :meth:`~CycleWatch.on_error` and
:meth:`~CycleWatch.signer_balance` turn what happened into alerts. State conditions (stale oracle,
low balance, drift, halt) alert when they start, not on every cycle; the alerter rate-limits the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from keeper.config import KeeperConfig
from keeper.cycle.compose import ChainKeeper
from keeper.cycle.ports import AlertSink
from keeper.cycle.runner import CycleReport
from keeper.errors import HaltError, KeeperError
from keeper.ops.audit import TradeAudit
from keeper.ops.golive import GateDecision, gate
from keeper.ops.venue_watch import VenueWatch
from keeper.venues import hedge_module

__all__ = ["DEFAULT_HEDGES", "Alert", "CycleWatch", "gas_per_hedges_wei", "report_alerts"]

DEFAULT_HEDGES = 20
"""The signer's balance should cover this many hedges (``keeper doctor --hedges``, ``KEEPER_ALERT_MIN_HEDGES``)."""
_log = logging.getLogger("keeper")


def gas_per_hedges_wei(cfg: KeeperConfig, hedges: int) -> int:
    """What ``hedges`` swap hedges cost at most: ``execution.max_fee_gwei`` x ``execution.swap_gas_units`` each."""
    return int(hedges * cfg.execution.max_fee_gwei * 10**9 * cfg.execution.swap_gas_units)


@dataclass
class CycleWatch:
    cfg: KeeperConfig
    keeper: ChainKeeper
    alerter: AlertSink
    requested_live: bool
    """False for ``--dry-run`` / ``safety.dry_run = true``: never live, whatever the activation."""
    requested_reason: str = "dry run requested"
    min_hedges: int = DEFAULT_HEDGES
    log: Callable[[str], None] = _log.info
    warn: Callable[[str], None] = _log.warning
    audit: TradeAudit | None = None
    """Compares the module's trades with the journal after every cycle (safe-module mode)."""
    venues: VenueWatch | None = None
    """Alerts on the venues' queued admin changes (timelocked parameters, pool withdrawals, feeds)."""
    decision: GateDecision | None = field(default=None, init=False)
    _stale: frozenset[str] = field(default=frozenset(), init=False)
    _low: bool = field(default=False, init=False)
    _halted: bool = field(default=False, init=False)

    # ------------------------------------------------------------------ the gate
    def before_cycle(self) -> GateDecision:
        k = self.keeper
        if not self.requested_live:
            d = GateDecision(False, self.requested_reason, ("requested",))
        else:
            d = gate(self.cfg, k.rpc, k.journal)
        k.live = d.live
        k.dry_run_reason = "" if d.live else d.reason
        prev, self.decision = self.decision, d
        if prev is not None and prev.live == d.live and prev.reason == d.reason:
            return d
        if d.live:
            self.log("go-live: the activation matches the config and the module's on-chain parameters; "
                     "hedges are sent")
            if prev is not None:
                self.alerter.send("activation", "live again: the activation matches", chain_id=k.chain_id)
        else:
            self.warn(f"dry-run (nothing is sent): {d.reason}")
            if not set(d.changed) & {"not_activated", "requested"}:
                self.alerter.send("drift", f"keeper dropped to dry-run: {d.reason}", changed=list(d.changed),
                                  reason=d.reason, chain_id=k.chain_id)
        return d

    # ------------------------------------------------------------------ alerts
    def after_cycle(self, report: CycleReport) -> None:
        try:
            self._after_cycle(report)
        except Exception as exc:  # alerts never fail a cycle
            self.warn(f"alert hooks: {exc}")

    def _after_cycle(self, report: CycleReport) -> None:
        alerts, self._stale = report_alerts(report, self.cfg.oracles.max_feed_age_s, self._stale)
        for a in alerts:
            self.alerter.send(a.kind, a.text, **a.fields)
        self._audit_trades()
        self._watch_venues()
        self._check_halt()

    def _watch_venues(self) -> None:
        if self.venues is None:
            return
        for c in self.venues.run():
            self.alerter.send("venue_change", f"venue admin change queued: {c.line()}; act before it takes effect",
                              venue=c.venue, change=c.kind, eta=c.eta, tx=c.tx_hash, block=c.block_number,
                              detail=c.detail)
            self.warn(f"venue admin change queued: {c.line()}")

    def _audit_trades(self) -> None:
        if self.audit is None:
            return
        foreign = self.audit.run()
        if not foreign:
            return
        paused = self.audit.last_pause
        action = (f"the guardian paused the module (tx {paused})" if paused and not paused.startswith("failed")
                  else f"pausing the module with the guardian key {paused}" if paused
                  else "pause it now (the guardian's `pause()`, or set KEEPER_GUARDIAN_KEY to let the keeper do it)")
        self.alerter.send("unknown_trade", f"{len(foreign)} module trade(s) not sent by this keeper: "
                          + "; ".join(f.line() for f in foreign) + f". Its key may be stolen: {action}",
                          module=self.audit.module, trades=[f.tx_hash for f in foreign],
                          senders=sorted({f.sender for f in foreign}), paused=paused)
        self.warn(f"unknown module trades: {', '.join(f.tx_hash for f in foreign)}; {action}")

    def on_error(self, exc: BaseException) -> None:
        """A cycle raised: a halt, or a failure (the cycle's error is already journaled)."""
        try:
            if isinstance(exc, HaltError):
                self._check_halt(str(exc))
            elif isinstance(exc, KeeperError):
                self.alerter.send("failure", f"cycle failed: {exc}", error=str(exc))
                self._check_halt()
        except Exception as err:
            self.warn(f"alert hooks: {err}")

    def _check_halt(self, message: str | None = None) -> None:
        state = self.keeper.journal.control_state()
        if state.halted and not self._halted:
            self.alerter.send("halt", f"keeper halted: {state.halt_reason or message}; clear it with "
                              "`keeper resume` after investigating", reason=state.halt_reason)
        self._halted = state.halted

    def signer_balance(self) -> int:
        """The signer's balance in wei; alerts when it drops below ``min_hedges`` hedges' worth of gas."""
        k = self.keeper
        balance = int(k.rpc.call("eth_getBalance", [k.tx.signer.address, "latest"]), 16)
        need = gas_per_hedges_wei(self.cfg, self.min_hedges)
        low = balance < need
        if low and not self._low:
            self.alerter.send("low_balance", f"signer {k.tx.signer.address} holds {balance / 1e18:.4f} ETH, below "
                              f"{self.min_hedges} hedges' worth of gas ({need / 1e18:.4f} ETH); top it up",
                              address=k.tx.signer.address, balance_wei=balance, need_wei=need)
        self._low = low
        return balance


@dataclass(frozen=True)
class Alert:
    """One alert: its kind (the rate-limit key), the sentence a person reads, and machine fields."""

    kind: str
    text: str
    fields: dict[str, Any]


def report_alerts(report: CycleReport, max_feed_age_s: float, already_stale: frozenset[str] = frozenset()
                  ) -> tuple[list[Alert], frozenset[str]]:
    """The alerts a cycle's report raises, and the assets whose feed is now stale.

    Each hedge: filled (size, price, slippage, costs, tx) or failed (the error). A cycle that failed before
    any hedge. A feed that became stale in this snapshot (``already_stale`` ones are not repeated).
    """
    out: list[Alert] = []
    for h in report.hedges:
        sym, venue, side = h.trade.order.underlying, h.trade.venue, h.trade.side
        if h.fill is not None:
            f = h.fill
            out.append(Alert("hedge", f"{side} {f.underlying_units:,.4f} {sym} on {venue} at {f.realized_price:,.2f} "
                             f"USD ({f.slippage_bps:+.1f} bps), tx {f.tx_hash}", dict(
                                 cycle_id=report.cycle_id, underlying=sym, venue=venue, side=side,
                                 units=f.underlying_units, price_usd=f.realized_price, oracle_price_usd=f.oracle_price,
                                 slippage_bps=f.slippage_bps, fee_usd=f.fee_quote, gas_usd=f.gas_cost_quote,
                                 tx=f.tx_hash, block=f.block_number)))
        else:
            out.append(Alert("failure", f"hedge {side} {sym} on {venue} failed: {h.error}", dict(
                cycle_id=report.cycle_id, underlying=sym, venue=venue, intent=h.intent_id, error=h.error)))
    if report.status == "failed" and not report.hedges:
        out.append(Alert("failure", f"cycle {report.cycle_id} failed: {report.message}",
                         dict(cycle_id=report.cycle_id, error=report.message)))
    snap = report.snapshot
    if snap is None:
        return out, already_stale
    ages = {s: snap.block_timestamp - f.updated_at for s, f in snap.feeds.items()}
    stale = frozenset(s for s, age in ages.items() if age > max_feed_age_s)
    new = sorted(stale - already_stale)
    if new:
        out.append(Alert("stale_oracle", ", ".join(f"{s} feed is {ages[s]:,} s old (limit {max_feed_age_s:,g} s)"
                                                   for s in new),
                         dict(assets=new, ages_s={s: ages[s] for s in new}, limit_s=max_feed_age_s,
                              block=snap.block_number)))
    return out, stale


def watch_for(cfg: KeeperConfig, keeper: ChainKeeper, env: dict[str, str], *, dry_run_flag: bool) -> CycleWatch:
    """The watch ``run`` / ``once`` use: alerts from ``KEEPER_ALERT_*``, dry-run when asked for."""
    from keeper.ops.alerts import alerter_from_env

    reason = ("--dry-run given" if dry_run_flag else "safety.dry_run = true in the config"
              if cfg.safety.dry_run else "")
    hedges = env.get("KEEPER_ALERT_MIN_HEDGES", "").strip()
    return CycleWatch(cfg, keeper, alerter_from_env(env, cfg.alerts), requested_live=not reason,
                      requested_reason=f"dry run requested ({reason})" if reason else "",
                      min_hedges=int(hedges) if hedges.isdigit() else DEFAULT_HEDGES,
                      audit=trade_audit(cfg, keeper, env), venues=venue_watch(cfg, keeper))


def venue_watch(cfg: KeeperConfig, keeper: ChainKeeper) -> VenueWatch:
    """The watch over the configured perp and option markets' queued admin changes."""
    venues = tuple(dict.fromkeys([*(a.perp_market for a in cfg.assets if a.perp_market is not None),
                                  *cfg.positions.option_markets]))
    return VenueWatch(keeper.rpc, keeper.journal, venues)


def trade_audit(cfg: KeeperConfig, keeper: ChainKeeper, env: Mapping[str, str]) -> TradeAudit | None:
    """The module's trade audit (safe-module mode), pausing with ``KEEPER_GUARDIAN_KEY`` when that is set."""
    module = cfg.treasury.hedge_module
    if cfg.treasury.mode != "safe-module" or module is None:
        return None
    pause: Callable[[], str] | None = None
    if env.get("KEEPER_GUARDIAN_KEY", "").strip():
        from keeper.execute.signer import EnvKeySource, load_signer
        from keeper.execute.tx import TxManager, TxRequest

        guardian = load_signer(EnvKeySource("KEEPER_GUARDIAN_KEY"), env=env)
        data = hedge_module.pause()

        def pause() -> str:
            tm = TxManager(keeper.rpc, guardian, keeper.chain_id, timeout_s=60.0)
            mined = tm.send(TxRequest(to=module, data=data), lambda _a: None)
            return mined.attempt.tx_hash

    return TradeAudit(keeper.rpc, keeper.journal, module, pause=pause)
