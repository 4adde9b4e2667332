"""The CLI's commands. Each takes parsed arguments, composes what it needs and prints.

Output: readable text for people, ``--json`` for machines (one JSON document on stdout).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from keeper.chain.rpc import redact_url
from keeper.cli.exit_codes import EXIT_HALTED
from keeper.config import KeeperConfig, load_config
from keeper.core.book import BookRisk
from keeper.core.hedge_types import Plan
from keeper.core.lvr import funding_accrued_usd
from keeper.core.snapshot import Snapshot
from keeper.cycle.runner import CycleReport
from keeper.errors import HaltError, InputError, KeeperError
from keeper.journal import CostTotals, Journal
from keeper.journal.codec import to_jsonable
from keeper.view.report import (
    plan_record,
    render_plan,
    render_pools,
    render_positions,
    render_scenarios,
    render_snapshot,
    render_v4_summary,
    utc_time,
)

if TYPE_CHECKING:
    from keeper.cycle.compose import ChainKeeper

__all__ = ["cmd_journal", "cmd_once", "cmd_pause", "cmd_plan", "cmd_resume", "cmd_run", "cmd_simulate",
           "cmd_status", "load"]


def err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load(args: argparse.Namespace) -> KeeperConfig:
    return load_config(Path(args.config), dict(os.environ))


def _print_json(obj: Any) -> None:
    print(json.dumps(to_jsonable(obj), indent=2, allow_nan=False))


def _keeper(cfg: KeeperConfig, *, live: bool, need_key: bool = True, journal: Journal | None = None,
            rpc_url: str | None = None, impersonate: bool = False) -> ChainKeeper:
    from keeper.cycle.compose import build_keeper

    return build_keeper(cfg, env=dict(os.environ), live=live, journal=journal, rpc_url=rpc_url,
                        impersonate=impersonate, need_key=need_key, log=err)


def report_record(r: CycleReport) -> dict[str, Any]:
    rec: dict[str, Any] = {"cycle_id": r.cycle_id, "status": r.status, "message": r.message,
                           "recovered": list(r.recovered)}
    if r.lease is not None:
        rec["lease"] = {**r.lease.lease.to_record(), "leader": r.lease.leader, "took_over": r.lease.took_over}
    if r.snapshot is not None and r.risk is not None and r.plan is not None:
        rec["plan"] = plan_record(r.snapshot, r.risk, r.plan)
    rec["hedges"] = [
        {"intent": h.intent_id, "underlying": h.trade.order.underlying, "venue": h.trade.venue, "side": h.trade.side,
         "error": h.error, "fill": None if h.fill is None else {
             "units": h.fill.underlying_units, "realized_price_usd": h.fill.realized_price,
             "oracle_price_usd": h.fill.oracle_price, "slippage_bps_incl_fee": h.fill.slippage_bps,
             "fee_usd": h.fill.fee_quote, "gas_used": h.fill.gas_used, "gas_usd": h.fill.gas_cost_quote,
             "tx": h.fill.tx_hash, "block": h.fill.block_number}}
        for h in r.hedges
    ]
    return rec


def _render_report(rec: dict[str, Any]) -> str:
    lines = [f"cycle {rec['cycle_id']}: {rec['status']}" + (f" ({rec['message']})" if rec["message"] else "")]
    if "lease" in rec:
        ls = rec["lease"]
        role = "leader (took over)" if ls["took_over"] else ("leader" if ls["leader"] else "follower")
        lines.append(f"  lease: {role}; {ls['last_holder']} holds token {ls['token']}, "
                     f"{ls['expires_in_s']:,.1f} s left (TTL {ls['ttl_s']:g} s)")
    lines += [f"  recovered: {x}" for x in rec["recovered"]]
    if "plan" in rec:
        lines.append(render_plan(rec["plan"]))
    for h in rec["hedges"]:
        f = h["fill"]
        if f is None:
            lines.append(f"  hedge {h['side']} {h['underlying']} on {h['venue']} FAILED: {h['error']}")
        else:
            lines.append(f"  hedge {h['side']} {f['units']:,.4f} {h['underlying']} on {h['venue']} at "
                         f"{f['realized_price_usd']:,.2f} USD (oracle {f['oracle_price_usd']:,.2f}, "
                         f"{f['slippage_bps_incl_fee']:+.1f} bps incl. fee), fee {f['fee_usd']:,.2f} USD, "
                         f"gas {f['gas_used']:,} ({f['gas_usd']:,.4f} USD), tx {f['tx']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------- plan / once / run
def _plan_record(k: ChainKeeper, snap: Snapshot, risk: BookRisk, plan: Plan) -> dict[str, Any]:
    """:func:`plan_record` with the pools' deviation limits and roles from the keeper's config."""
    limits = {u: k.policy.for_underlying(u).gates.max_oracle_deviation_bps for u in k.venues}
    roles: dict[str, list[str]] = {}
    for v in k.venues.values():
        if v.oracle_pool is not None:
            roles.setdefault(v.oracle_pool, []).append("oracle")
        for pool in v.hedge_pools:
            roles.setdefault(pool, []).append("hedge")
    return plan_record(snap, risk, plan, max_deviation_bps=limits, pool_roles=roles)


def cmd_plan(args: argparse.Namespace) -> int:
    cfg = load(args)
    k = _keeper(cfg, live=False, need_key=False, journal=_readonly_journal(cfg))
    snap = k.reader.read(block=args.block, chain_id=cfg.chain.chain_id)
    risk, plan = k.plan(snap)
    rec = _plan_record(k, snap, risk, plan)
    if args.json:
        _print_json(rec)
    elif getattr(args, "positions", False):
        print(render_positions(rec))
    else:
        print(render_snapshot(snap, cfg.quote.token))
        print(render_plan(rec))
    return 0


def _readonly_journal(cfg: KeeperConfig, *, writes: bool = False) -> Journal:
    """The journal's hedge history for planning, without writing to it (a temporary copy of a SQLite
    journal; a PostgreSQL journal is opened read-only, or, for a command that ``writes``, replaced by
    an empty in-memory journal: its history is not copied)."""
    if cfg.journal.is_postgres:
        return Journal.memory() if writes else Journal.open(cfg.journal.target, readonly=True)
    if not cfg.journal.path.exists():
        return Journal.memory()
    tmp = Path(tempfile.mkdtemp(prefix="keeper-plan-")) / "journal.sqlite"
    src = Journal.open(cfg.journal.path, readonly=True)
    src.close()
    shutil.copy(cfg.journal.path, tmp)
    for ext in ("-wal", "-shm"):
        side = Path(str(cfg.journal.path) + ext)
        if side.exists():
            shutil.copy(side, Path(str(tmp) + ext))
    return Journal.open(tmp)


def _release_lease(k: ChainKeeper) -> bool:
    """At a graceful stop, hand the lease back at once (a follower need not wait for the TTL)."""
    return k.lease is not None and k.lease.release()


def cmd_once(args: argparse.Namespace) -> int:
    from keeper.ops.watch import watch_for

    cfg = load(args)
    live = not (args.dry_run or cfg.safety.dry_run)
    k = _keeper(cfg, live=live, need_key=live)
    watch = watch_for(cfg, k, dict(os.environ), dry_run_flag=args.dry_run)
    watch.warn = err
    try:
        watch.before_cycle()  # the go-live gate: live only while the activation matches
        try:
            report = k.cycle()
        except KeeperError as exc:
            watch.on_error(exc)
            if isinstance(exc, HaltError):
                err(f"halted: {exc}")
                return EXIT_HALTED
            raise
        watch.after_cycle(report)
    finally:
        watch.alerter.close(timeout_s=5.0)
        _release_lease(k)
    rec = report_record(report)
    _print_json(rec) if args.json else print(_render_report(rec))
    return 0 if report.status in ("ok", "skipped") else 1


def _publish_risk(metrics: Any, report: CycleReport) -> None:
    """The cycle's greeks and the funding its perps owe now, as metrics (nothing without a plan)."""
    if report.risk is None:
        return
    metrics.set_greeks(report.risk.summaries)
    if report.snapshot is not None:
        metrics.set_funding_accrued(funding_accrued_usd(report.snapshot, report.risk.lines))


# Long on purpose: the run loop's wiring (signals, watch, scheduler, metrics) in the order it starts and stops.
def cmd_run(args: argparse.Namespace) -> int:  # noqa: PLR0915
    from keeper.cycle.compose import feed_prices
    from keeper.cycle.scheduler import Loop
    from keeper.obs.logs import log_context, setup_logging
    from keeper.obs.metrics import KeeperMetrics

    cfg = load(args)
    setup_logging(cfg.metrics.log_format, verbose=args.verbose)
    import logging

    from keeper.ops.watch import watch_for

    log = logging.getLogger("keeper")
    live = not (args.dry_run or cfg.safety.dry_run)
    k = _keeper(cfg, live=live, need_key=live)
    k.log = log.info
    watch = watch_for(cfg, k, dict(os.environ), dry_run_flag=args.dry_run)
    k.journal.abandon_running_cycles()
    metrics = KeeperMetrics()
    server = metrics.serve(cfg.metrics.port)

    def cycle() -> dict[str, float]:
        t0 = time.monotonic()
        metrics.set_live(watch.before_cycle().live)  # the go-live gate, re-checked every cycle
        try:
            report = k.cycle()
        except KeeperError as exc:
            watch.on_error(exc)
            if isinstance(exc, HaltError):
                metrics.set_control(paused=False, halted=True)
            raise
        watch.after_cycle(report)
        metrics.observe_cycle(report.status, time.monotonic() - t0,
                              report.snapshot.block_number if report.snapshot else None)
        state = k.journal.control_state()
        metrics.set_control(paused=state.paused, halted=state.halted)
        _publish_risk(metrics, report)
        for h in report.hedges:
            if h.fill is not None:
                metrics.hedge(h.trade.order.underlying, h.trade.venue)
                metrics.fill_costs(h.trade.order.underlying, h.trade.venue, notional_usd=h.fill.notional_quote,
                                   fees_usd=h.fill.fee_quote, gas_usd=h.fill.gas_cost_quote)
            else:
                metrics.failure("hedge")
        balance = watch.signer_balance()
        metrics.set_signer_balance(balance / 1e18)
        with log_context(cycle_id=report.cycle_id,
                         block=report.snapshot.block_number if report.snapshot else None):
            log.info("cycle %s: %s, %d hedge(s) %s; signer balance %.4f ETH", report.cycle_id, report.status,
                     len(report.hedges), report.message, balance / 1e18)
        beat()
        return {a: f.price for a, f in report.snapshot.feeds.items()} if report.snapshot else {}

    import socket

    pid, host, gap = os.getpid(), socket.gethostname(), _expected_gap_s(cfg)

    def beat(starting: bool = False) -> None:
        k.journal.beat(pid=pid, host=host, expected_gap_s=gap, mode="live" if live else "dry-run",
                       starting=starting)

    beat(starting=True)
    loop = Loop(cycle=cycle, head=k.rpc.block_number, prices=feed_prices(k), interval_s=cfg.schedule.interval_s,
                cron=cfg.schedule.cron, price_move_pct=cfg.schedule.price_move_pct,
                block_poll_s=cfg.schedule.block_poll_s, max_cycles=args.max_cycles, log=log.info)
    loop.install_signal_handlers()
    try:
        stats = loop.run()
    finally:
        server.stop()
        watch.alerter.close(timeout_s=5.0)
        if loop.abandoning:
            k.journal.abandon_running_cycles("abandoned on a second stop signal")
        k.journal.beat_stopped(pid=pid)
        if _release_lease(k):
            log.info("released the lease: a follower takes over at its next cycle")
    log.info("stopped after %d cycle(s): %d failed, %d early, %d coalesced", stats.cycles, stats.failures,
             stats.early, stats.coalesced)
    if stats.halted:
        err(f"halted: {stats.halted}")
        return EXIT_HALTED
    return 0


def _expected_gap_s(cfg: KeeperConfig) -> float:
    """The longest the loop should go between cycles: its interval, or its cron's longest gap over the next
    week (whichever is shorter when both are set)."""
    gaps: list[float] = []
    if cfg.schedule.interval_s is not None:
        gaps.append(cfg.schedule.interval_s)
    if cfg.schedule.cron is not None:
        from datetime import UTC, datetime

        from apscheduler.triggers.cron import CronTrigger

        trigger = CronTrigger.from_crontab(str(cfg.schedule.cron), timezone=UTC)
        t = prev = datetime.now(UTC)
        longest = 0.0
        for _ in range(2000):
            nxt = trigger.get_next_fire_time(prev, t)
            if nxt is None or (nxt - datetime.now(UTC)).total_seconds() > 7 * 86_400:
                break
            longest, prev, t = max(longest, (nxt - t).total_seconds()), nxt, nxt
        if longest > 0:
            gaps.append(longest)
    return min(gaps) if gaps else 300.0


# ---------------------------------------------------------------------------- simulate
def cmd_simulate(args: argparse.Namespace) -> int:
    """Execute every planned hedge on an anvil fork of the configured chain and report each one
    (keeper/cycle/simulate.py); the upstream is never written. Exit 0 when all filled (or nothing to do), else 1."""
    from keeper.cycle.simulate import render_simulation, simulate_plan, simulation_record
    from keeper.node.anvil import AnvilNode

    cfg = load(args)
    upstream = args.fork_url or str(cfg.chain.rpc_url)
    with AnvilNode(fork_url=upstream, fork_block=args.block) as node:
        k = _keeper(cfg, live=True, journal=_readonly_journal(cfg, writes=True), rpc_url=node.url, impersonate=True)
        node.rpc("anvil_impersonateAccount", k.tx.signer.address)
        node.rpc("anvil_setBalance", k.tx.signer.address, hex(10**21))
        report = simulate_plan(k, upstream=redact_url(upstream))
    rec = simulation_record(report)
    _print_json(rec) if args.json else print(render_simulation(rec))
    return 0 if report.all_filled else 1


# ---------------------------------------------------------------------------- journal-backed
def _journal_exists(cfg: KeeperConfig) -> bool:
    """A PostgreSQL journal is taken to exist (opening it says otherwise); a SQLite one must be a file."""
    return cfg.journal.is_postgres or cfg.journal.path.exists()


def _journal(cfg: KeeperConfig, *, readonly: bool = True) -> Journal:
    if not _journal_exists(cfg):
        raise InputError("journal.path", f"{cfg.journal.path} does not exist yet (run `keeper once` first)")
    return Journal.open(cfg.journal.target, readonly=readonly)


def cmd_status(args: argparse.Namespace) -> int:
    """Control state, exposure at the head, and the last 24 h of hedges and costs on the chain's clock
    (the head block's timestamp, not the wall clock: a local or lagging chain's clock differs)."""
    from keeper.ops.alerts import targets_line

    cfg = load(args)
    j = _journal(cfg) if _journal_exists(cfg) else Journal.memory()
    state = j.control_state()
    beat = j.last_beat()
    cycles = j.recent_cycles(args.limit)
    leases = j.leases()
    k = _keeper(cfg, live=False, need_key=False, journal=Journal.memory())
    snap = k.reader.read(chain_id=cfg.chain.chain_id)
    now = snap.block_timestamp
    fills = j.fills_between(now - 86_400, now + 1)
    costs = CostTotals.of(fills, now - 86_400, now + 1)  # the same fills, read once
    risk, plan = k.plan(snap)
    full = _plan_record(k, snap, risk, plan)
    loop = None if beat is None else {**to_jsonable(beat), "running": beat.running(time.time())}
    rec = {"control": state, "loop": loop, "recent_cycles": cycles, "costs_24h": costs,
           "fills_24h": [{"intent_id": f.intent_id, "underlying": f.underlying, "venue": f.venue,
                          "side": f.side.value, "size_units": f.size_units, "data": f.data} for f in fills],
           "exposure": full["greeks"], "scenarios": full["scenarios"], "pools": full["pools"],
           "v4_positions": full["positions"]["v4_lps"], "block": snap.block_number, "block_timestamp": now,
           "lease": [ls.to_record() for ls in leases], "journal_backend": j.backend,
           "alerts": targets_line(os.environ, cfg.alerts)}
    if args.json:
        _print_json(rec)
        return 0
    q = cfg.quote.symbol
    flags = "HALTED: " + str(state.halt_reason) if state.halted else ("PAUSED: " + str(state.pause_reason)
                                                                        if state.paused else "not paused or halted")
    print(f"keeper state: {flags}; consecutive failures {state.consecutive_failures}")
    print(f"loop: {beat.sentence(time.time()) if beat is not None else 'no keeper run has used this journal'}")
    clock = "the PostgreSQL server's clock" if j.backend == "postgresql" else "this host's clock"
    for ls in leases:
        print(f"leader: {ls.describe()} ({clock})")
    if not leases and cfg.lease.enabled:
        print("leader: no keeper has taken the lease yet")
    print(f"alerts: {rec['alerts']}")
    print(f"exposure at block {snap.block_number} ({utc_time(now)}):")
    for s, g in rec["exposure"].items():
        print(f"  {s}: delta {g['delta_units']:,.3f} {s} ({g['delta_usd']:,.0f} {q}), "
              f"gamma {g['gamma_usd_per_1pct']:,.0f} {q} per 1 %, "
              f"vega {g['vega_usd_per_vol'] / 100:,.0f} {q} per vol point, "
              f"theta {g['theta_usd_per_day']:,.0f} {q} per day")
    for line in render_v4_summary(rec["v4_positions"]):
        print(line)
    if rec["pools"]:
        print(render_pools(rec["pools"]))
    if rec["scenarios"]:
        print(render_scenarios(rec["scenarios"]))
    print(f"hedges in the last 24 h of chain time (to block {snap.block_number}): {costs.fills} fill(s), notional "
          f"{costs.notional_quote:,.2f} {q}, fees {costs.fees_quote:,.2f} {q}, gas {costs.gas_cost_quote:,.2f} {q} "
          f"({costs.gas_cost_native / 1e18:,.6f} native)")
    for f in fills:
        print(f"  {f.line(q)}")
    print("recent cycles:")
    for c in cycles:
        print(f"  #{c.id} {c.status.value:<9} {c.mode.value:<8} block {c.block_number} {c.error or ''}".rstrip())
    return 0


def cmd_journal(args: argparse.Namespace) -> int:
    """The newest ``--limit`` cycles with their intents and fills (text), or the journal's rows of those
    cycles (``--json``)."""
    cfg = load(args)
    j = _journal(cfg)
    if args.json:
        _print_json(j.export(last_cycles=args.limit))
        return 0
    quote = cfg.quote.symbol
    for c in j.recent_cycles(args.limit)[::-1]:
        print(f"cycle #{c.id} {c.status.value} ({c.mode.value}) block {c.block_number} {c.error or ''}".rstrip())
        fills = {f.intent_id: f for f in j.fills_for_cycle(c.id)}
        for i in j.intents_for_cycle(c.id):
            print(f"   intent {i.id} {i.side.value} {i.underlying} on {i.venue} -> {i.status.value}"
                  f"{': ' + i.error if i.error else ''}")
            if i.id in fills:
                print(f"      fill: {fills[i.id].line(quote)}")
    return 0


def cmd_pause(args: argparse.Namespace) -> int:
    cfg = load(args)
    j = Journal.open(cfg.journal.target)
    j.pause(args.reason, by=os.environ.get("USER", "operator"))
    print(f"paused: {args.reason} (the loop skips cycles until `keeper resume`)")
    return 0


def cmd_resume(args: argparse.Namespace) -> int:
    cfg = load(args)
    j = Journal.open(cfg.journal.target)
    state = j.control_state()
    by = os.environ.get("USER", "operator")
    if state.halted:
        j.clear_halt(by=by, reason=args.reason or "resumed by operator")
    j.resume(by=by, reason=args.reason or "")
    print("resumed" + (" (halt cleared)" if state.halted else ""))
    return 0
