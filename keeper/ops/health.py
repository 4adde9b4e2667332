"""``keeper health``: machine-readable readiness for container and service probes.

Fast (three RPC round trips, two more with a HedgeVenueModule; one read-only journal query), no key loaded, no
secrets printed (the RPC URL is redacted to its host). The JSON on stdout::

    {"healthy": bool, "ready": bool, "checks": {name: {"ok": bool, "detail": str}},
     "last_successful_cycle_age_s": float | null, "halted": bool, "paused": bool, "activated": bool,
     "dry_run_reason": str | null}

``healthy`` (the process can work): the RPC answers with the expected chain id, the journal is
readable, the keeper is not halted, and the loop is alive (its last finished cycle is at most
``max_cycle_age_s`` old, or no cycle was started yet).
``ready`` (it can hedge): healthy, not paused, activated with a fingerprint that matches the config
and the module now, the module not paused, and every feed fresh. The exit status is 0 only if both.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from keeper.chain.multicall import Multicall, block_timestamp_call
from keeper.chain.rpc import RpcClient, redact_url
from keeper.config import KeeperConfig
from keeper.errors import KeeperError
from keeper.journal import CycleStatus, Journal, Lease
from keeper.ops.golive import EOA_PARAMS, LiveState, compare, last_golive
from keeper.ops.onchain import read_venue_module
from keeper.venues import chainlink, hedge_module

__all__ = ["default_max_cycle_age_s", "health"]


def default_max_cycle_age_s(cfg: KeeperConfig) -> float:
    """Three schedule periods, at least a minute (cron: the gap between its next two runs)."""
    period = cfg.schedule.interval_s
    if period is None and cfg.schedule.cron is not None:
        from datetime import UTC, datetime

        from apscheduler.triggers.cron import CronTrigger

        trig = CronTrigger.from_crontab(cfg.schedule.cron, timezone="UTC")
        first = trig.get_next_fire_time(None, datetime.now(UTC))
        second = trig.get_next_fire_time(first, first) if first is not None else None
        if first is not None and second is not None and second > first:
            period = (second - first).total_seconds()
    return max(60.0, 3.0 * (period or 3600.0))


def _check(ok: bool, detail: str) -> dict[str, Any]:
    return {"ok": ok, "detail": detail}


def _lease(cfg: KeeperConfig, leases: list[Lease], out: dict[str, Any], checks: dict[str, dict[str, Any]]) -> None:
    """Who leads the keepers sharing the journal; times on the lease clock (the PostgreSQL server's, or this
    host's for SQLite). With ``lease.enabled``, ready only while some keeper holds a live lease."""
    out["lease"] = [ls.to_record() for ls in leases]
    if cfg.lease.enabled:
        checks["lease"] = _check(any(ls.live for ls in leases), "; ".join(ls.describe() for ls in leases)
                                 if leases else "no keeper has taken the lease yet")


def health(cfg: KeeperConfig, *, max_cycle_age_s: float | None = None, rpc: RpcClient | None = None,
           now: Callable[[], float] = time.time) -> dict[str, Any]:
    """The readiness record (see the module docstring)."""
    checks: dict[str, dict[str, Any]] = {}
    max_age = max_cycle_age_s if max_cycle_age_s is not None else default_max_cycle_age_s(cfg)
    out: dict[str, Any] = {"last_successful_cycle_age_s": None, "halted": False, "paused": False,
                           "activated": False, "dry_run_reason": None, "lease": []}

    # journal: control state and the last cycles (read-only; a missing journal means the keeper never ran)
    journal: Journal | None = None
    try:
        journal = Journal.open(cfg.journal.target, readonly=True)
        state, cycles, leases = journal.control_state(), journal.recent_cycles(50), journal.leases()
        checks["journal"] = _check(True, f"{journal.where} readable ({journal.backend})")
    except KeeperError as exc:
        checks["journal"] = _check(False, str(exc))
    t = now()
    if journal is not None:
        out.update(halted=state.halted, paused=state.paused)
        checks["halted"] = _check(not state.halted, f"halted: {state.halt_reason}" if state.halted else "not halted")
        checks["paused"] = _check(not state.paused, f"paused by {state.paused_by}: {state.pause_reason}"
                                  if state.paused else "not paused")
        # A cycle finished as ok or skipped (paused: the loop ran and chose not to trade) is a successful one;
        # the field and the check's text are the same figure.
        done = [c.finished_at for c in cycles
                if c.finished_at is not None and c.status in (CycleStatus.OK, CycleStatus.SKIPPED)]
        if done:
            age = round(t - max(done), 1)
            out["last_successful_cycle_age_s"] = age
            checks["loop"] = _check(age <= max_age, f"last successful cycle (ok or skipped) finished {age:,.1f} s "
                                                    f"ago (limit {max_age:,.0f} s)")
        elif cycles:
            age = round(t - cycles[0].started_at, 1)
            checks["loop"] = _check(age <= max_age, f"no cycle finished; the last started {age:,.1f} s ago")
        else:
            checks["loop"] = _check(True, "no cycle yet")
        _lease(cfg, leases, out, checks)

    # chain: chain id, then one batch (block time, paramsHash, paused, feeds)
    rpc = rpc or RpcClient.http(str(cfg.chain.rpc_url), timeout_s=min(cfg.chain.timeout_s, 5.0))
    where = redact_url(str(cfg.chain.rpc_url))
    state_now: LiveState | None = None
    try:
        got = rpc.chain_id()
        checks["rpc"] = _check(got == cfg.chain.chain_id, f"{where}: chain id {got}"
                               + ("" if got == cfg.chain.chain_id else f", expected {cfg.chain.chain_id}"))
        if got == cfg.chain.chain_id:
            state_now = _chain(cfg, rpc, checks)
    except KeeperError as exc:
        checks["rpc"] = _check(False, f"{where}: {exc}")

    if journal is not None and state_now is not None:
        decision = compare(state.activation_fingerprint, last_golive(journal), state_now)
        out["activated"] = decision.live
        out["dry_run_reason"] = None if decision.live else decision.reason
        checks["activation"] = _check(decision.live, decision.reason)
    elif journal is not None:
        checks["activation"] = _check(False, "not verified (no chain)")
    if journal is not None:
        journal.close()

    healthy_keys = ("journal", "halted", "loop", "rpc")
    healthy = all(checks.get(k, {"ok": False})["ok"] for k in healthy_keys)
    ready = healthy and all(c["ok"] for c in checks.values())
    return {"healthy": healthy, "ready": ready, "checks": checks, **out}


def _chain(cfg: KeeperConfig, rpc: RpcClient, checks: dict[str, dict[str, Any]]) -> LiveState:
    block = rpc.block_number()
    module = cfg.treasury.hedge_module if cfg.treasury.mode == "safe-module" else None
    calls = [block_timestamp_call()]
    calls += [chainlink.latest_round_call(a.feed, a.symbol) for a in cfg.assets]
    if module is not None:
        calls += [hedge_module.params_hash_call(module), hedge_module.paused_call(module)]
    res = Multicall(rpc).execute(calls, block)
    ts = int(res[0].value[0]) if res[0].ok else int(time.time())  # type: ignore[union-attr]
    limit = cfg.oracles.max_feed_age_s
    stale: list[str] = []
    for a, r in zip(cfg.assets, res[1:1 + len(cfg.assets)], strict=True):
        if not r.ok:
            stale.append(f"{a.symbol} unreadable")
        elif ts - int(r.value[3]) > limit:  # type: ignore[union-attr]
            stale.append(f"{a.symbol} {ts - int(r.value[3]):,} s old")  # type: ignore[union-attr]
    checks["feeds"] = _check(not stale, "stale: " + ", ".join(stale) + f" (limit {limit:,} s)" if stale
                             else f"fresh at block {block}")
    params_hash = EOA_PARAMS
    if module is not None:
        ph, paused = res[-2], res[-1]
        if not ph.ok or not paused.ok:
            checks["module"] = _check(False, f"HedgeModule {module} unreadable")
            params_hash = "unreadable"
        else:
            params_hash = "0x" + bytes(ph.value[0]).hex()  # type: ignore[union-attr]
            is_paused = bool(paused.value[0])  # type: ignore[union-attr]
            checks["module"] = _check(not is_paused, "paused by its guardian" if is_paused else "not paused")
    venue = cfg.treasury.hedge_venue_module if module is not None else None
    if venue is None:
        return LiveState(cfg.chain.chain_id, cfg.fingerprint(), params_hash)
    try:
        v = read_venue_module(rpc, Multicall(rpc), venue, block)
    except KeeperError as exc:
        checks["venue_module"] = _check(False, f"HedgeVenueModule {venue} unreadable: {exc}")
        return LiveState(cfg.chain.chain_id, cfg.fingerprint(), params_hash, venue_params_hash="unreadable")
    checks["venue_module"] = _check(not v.code_mismatch, f"not the keeper's build: {v.code_mismatch}"
                                    if v.code_mismatch else "the keeper's build")
    return LiveState(cfg.chain.chain_id, cfg.fingerprint(), params_hash, venue_code_hash=v.code_hash,
                     venue_params_hash=v.params_hash)
