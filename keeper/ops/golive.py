"""Two-stage go-live: the keeper sends transactions only while the activation recorded in the journal
matches the config and the module it runs against.

The **activation fingerprint** is ``sha256`` of the canonical JSON
``{"chain_id": <int>, "config": <KeeperConfig.fingerprint()>, "params": <HedgeModule.paramsHash() as 0x-hex>}``
(keys sorted, no whitespace), plus ``"venue_module": {"code": <its masked code hash>, "params": <its paramsHash()>}``
when ``treasury.hedge_venue_module`` is set: the HedgeVenueModule's runtime code must be our build
(:data:`keeper.build.fingerprint.VENUE_MODULE_FINGERPRINT`) for the keeper to go or stay live, and a change of its
parameters (pool keys, reserves, minimum health factor...) sends the keeper back to dry-run like the HedgeModule's.
In ``eoa`` mode there is no module and ``params`` is the constant
:data:`EOA_PARAMS`. ``keeper activate`` records it (``Journal.set_activation_fingerprint``) together with
a ``golive`` event holding its parts, the strategy config and the module's parameters, so that a later
mismatch can say which part changed and how. ``keeper deactivate`` clears it (a ``golive`` event records
who and why); both survive restarts because they live in the journal.

:func:`compare` is the pure decision; :func:`gate` reads the chain and the journal and calls it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from keeper.chain.multicall import Multicall
from keeper.chain.rpc import RpcClient
from keeper.config import KeeperConfig
from keeper.errors import ConfigError, KeeperError
from keeper.journal import Journal
from keeper.ops.onchain import read_module, read_params_hash, read_venue_module

__all__ = [
    "EOA_PARAMS",
    "GateDecision",
    "GoliveEvent",
    "LiveState",
    "activate",
    "activation_fingerprint",
    "compare",
    "deactivate",
    "diff",
    "gate",
    "last_golive",
    "live_state",
]

EOA_PARAMS = "eoa-mode:no-module"
EVENT = "golive"


def activation_fingerprint(config_fingerprint: str, params_hash: str, chain_id: int, venue_code_hash: str = "",
                           venue_params_hash: str = "") -> str:
    """sha256 hex of ``{"chain_id", "config", "params"[, "venue_module"]}`` as canonical JSON (see the module
    docstring); without a venue module the value is what it was before venue modules existed."""
    parts: dict[str, Any] = {"chain_id": chain_id, "config": config_fingerprint, "params": params_hash.lower()}
    if venue_params_hash:
        parts["venue_module"] = {"code": venue_code_hash.lower(), "params": venue_params_hash.lower()}
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class LiveState:
    """What the keeper runs against now."""

    chain_id: int
    config_fingerprint: str
    params_hash: str
    strategy: Mapping[str, Any] | None = None
    params: Mapping[str, Any] | None = None
    venue_code_hash: str = ""
    venue_params_hash: str = ""
    """The HedgeVenueModule's masked code hash and ``paramsHash()`` ("" without one)."""
    venue_params: Mapping[str, Any] | None = None

    @property
    def fingerprint(self) -> str:
        return activation_fingerprint(self.config_fingerprint, self.params_hash, self.chain_id,
                                      self.venue_code_hash, self.venue_params_hash)


@dataclass(frozen=True)
class GoliveEvent:
    """The last ``golive`` event: an activation (with its parts) or a deactivation."""

    action: str
    by: str
    at: float
    reason: str = ""
    fingerprint: str | None = None
    chain_id: int | None = None
    config_fingerprint: str | None = None
    params_hash: str | None = None
    strategy: Mapping[str, Any] | None = None
    params: Mapping[str, Any] | None = None
    venue_code_hash: str | None = None
    venue_params_hash: str | None = None
    venue_params: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class GateDecision:
    """``live``: may send. ``changed``: which parts differ (``config``, ``params``, ``venue``, ``chain``), or
    ``not_activated`` / ``deactivated`` / ``unknown`` / ``unverified``."""

    live: bool
    reason: str
    changed: tuple[str, ...] = ()


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value}


def diff(old: Mapping[str, Any], new: Mapping[str, Any], limit: int = 6) -> list[str]:
    """``path: old -> new`` for each leaf that differs (dicts flattened, lists compared whole), sorted."""
    a, b = _flatten(old), _flatten(new)
    missing = object()
    lines = [f"{k}: {_show(a.get(k, missing), missing)} -> {_show(b.get(k, missing), missing)}"
             for k in sorted(set(a) | set(b)) if a.get(k, missing) != b.get(k, missing)]
    if len(lines) > limit:
        lines = [*lines[:limit], f"... and {len(lines) - limit} more"]
    return lines


def _show(v: Any, missing: object) -> str:
    if v is missing:
        return "(absent)"
    if isinstance(v, float) and v.is_integer():
        return f"{v:g}" if abs(v) < 1e15 else str(v)
    return json.dumps(v) if isinstance(v, list | str | bool) or v is None else str(v)


def compare(recorded: str | None, last: GoliveEvent | None, current: LiveState) -> GateDecision:
    """Pure: may the keeper send, given the recorded fingerprint, the last go-live event and the current state?"""
    again = "run `keeper activate` to go live"
    if recorded is None:
        if last is not None and last.action == "deactivate":
            why = f": {last.reason}" if last.reason else ""
            return GateDecision(False, f"deactivated by {last.by}{why} ({again} again)", ("deactivated",))
        return GateDecision(False, f"not activated ({again} once `keeper doctor` passes)", ("not_activated",))
    if recorded == current.fingerprint:
        return GateDecision(True, "activated")
    if last is None or last.action != "activate" or last.fingerprint != recorded:
        return GateDecision(False, f"the recorded activation {recorded[:12]} does not match the config and module "
                                   f"now ({current.fingerprint[:12]}); re-check and {again} again", ("unknown",))
    parts: list[str] = []
    changed: list[str] = []
    if last.chain_id != current.chain_id:
        changed.append("chain")
        parts.append(f"the chain id changed since activation: {last.chain_id} -> {current.chain_id}")
    if last.config_fingerprint != current.config_fingerprint:
        changed.append("config")
        lines = diff(last.strategy, current.strategy) if last.strategy is not None and current.strategy else []
        parts.append("the strategy config changed since activation: " + ("; ".join(lines) if lines else
                     f"fingerprint {str(last.config_fingerprint)[:12]} -> {current.config_fingerprint[:12]}"))
    if (last.params_hash or "").lower() != current.params_hash.lower():
        changed.append("params")
        lines = diff(last.params, current.params) if last.params is not None and current.params else []
        parts.append("the HedgeModule's on-chain parameters changed since activation: " + ("; ".join(lines) if lines
                     else f"paramsHash {last.params_hash} -> {current.params_hash}"))
    venue = _venue_change(last, current)
    if venue:
        changed.append("venue")
        parts.append(venue)
    if not parts:  # same parts, different fingerprint: the recorded one was written by another definition
        return GateDecision(False, f"the recorded activation does not match ({again} again)", ("unknown",))
    return GateDecision(False, "; ".join(parts) + f" ({again} again)", tuple(changed))


def _venue_change(last: GoliveEvent, current: LiveState) -> str:
    """How the HedgeVenueModule differs from the activation's ("" when it does not)."""
    if (last.venue_code_hash or "").lower() != current.venue_code_hash.lower():
        return ("the HedgeVenueModule's code changed since activation: "
                f"{last.venue_code_hash or '(none)'} -> {current.venue_code_hash or '(none)'}")
    if (last.venue_params_hash or "").lower() != current.venue_params_hash.lower():
        lines = (diff(last.venue_params, current.venue_params)
                 if last.venue_params is not None and current.venue_params else [])
        return "the HedgeVenueModule's on-chain parameters changed since activation: " + (
            "; ".join(lines) if lines else
            f"paramsHash {last.venue_params_hash or '(none)'} -> {current.venue_params_hash or '(none)'}")
    return ""


# ---------------------------------------------------------------------------- I/O
def live_state(cfg: KeeperConfig, rpc: RpcClient, *, detail: bool = False, block: int | None = None) -> LiveState:
    """The current state: chain id from the RPC, the config's fingerprint, the module's ``paramsHash()``
    (with ``detail``, also the strategy and the module's parameters for diffs), and the HedgeVenueModule's code hash
    and ``paramsHash()`` when one is configured. Raises on RPC failure, and (ConfigError) when the configured
    HedgeVenueModule is not our build or not bound to the same Safe and HedgeModule."""
    chain_id = rpc.chain_id()
    module = cfg.treasury.hedge_module if cfg.treasury.mode == "safe-module" else None
    params: dict[str, Any] | None = None
    if module is None:
        return LiveState(chain_id, cfg.fingerprint(), EOA_PARAMS, cfg.strategy() if detail else None, None)
    mc = Multicall(rpc)
    at = block if block is not None else rpc.block_number()
    if detail:
        state = read_module(mc, module, at)
        params_hash, params = state.params_hash, state.params
    else:
        params_hash = read_params_hash(mc, module, at)
    venue = cfg.treasury.hedge_venue_module
    if venue is None:
        return LiveState(chain_id, cfg.fingerprint(), params_hash, cfg.strategy() if detail else None, params)
    v = read_venue_module(rpc, mc, venue, at)
    if v.code_mismatch:
        raise ConfigError(f"treasury.hedge_venue_module {venue} is not the keeper's HedgeVenueModule: "
                          f"{v.code_mismatch}")
    bound = (v.params["safe"], v.params["hedge_module"])
    if bound != (cfg.treasury.safe, module):
        raise ConfigError(f"treasury.hedge_venue_module {venue} acts for Safe {bound[0]} and HedgeModule {bound[1]}, "
                          f"not treasury.safe {cfg.treasury.safe} and treasury.hedge_module {module}")
    return LiveState(chain_id, cfg.fingerprint(), params_hash, cfg.strategy() if detail else None, params,
                     v.code_hash, v.params_hash, v.params if detail else None)


def last_golive(journal: Journal) -> GoliveEvent | None:
    events = journal.events(kinds=[EVENT], limit=1)
    if not events:
        return None
    e = events[-1]
    d: dict[str, Any] = e.data if isinstance(e.data, dict) else {}
    return GoliveEvent(
        action=str(d.get("action", "")), by=str(d.get("by", "")), at=e.ts, reason=str(d.get("reason") or ""),
        fingerprint=d.get("fingerprint"), chain_id=d.get("chain_id"), config_fingerprint=d.get("config_fingerprint"),
        params_hash=d.get("params_hash"), strategy=d.get("strategy"), params=d.get("params"),
        venue_code_hash=d.get("venue_code_hash"), venue_params_hash=d.get("venue_params_hash"),
        venue_params=d.get("venue_params"),
    )


def gate(cfg: KeeperConfig, rpc: RpcClient, journal: Journal) -> GateDecision:
    """The decision for the next cycle; fails closed (dry-run) when the chain cannot be read."""
    recorded = journal.control_state().activation_fingerprint
    last = last_golive(journal)
    try:
        state = live_state(cfg, rpc)
        decision = compare(recorded, last, state)
        if not decision.live and recorded is not None:
            decision = compare(recorded, last, live_state(cfg, rpc, detail=True))
    except KeeperError as exc:
        return GateDecision(False, f"cannot verify the activation against the chain: {exc}", ("unverified",))
    return decision


def activate(journal: Journal, state: LiveState, *, by: str) -> str:
    """Record ``state`` as activated (its parts first, as an event; then the fingerprint). Returns the fingerprint."""
    fp = state.fingerprint
    journal.append_event(EVENT, {
        "action": "activate", "by": by, "fingerprint": fp, "chain_id": state.chain_id,
        "config_fingerprint": state.config_fingerprint, "params_hash": state.params_hash,
        "strategy": state.strategy, "params": state.params,
        **({"venue_code_hash": state.venue_code_hash, "venue_params_hash": state.venue_params_hash,
            "venue_params": state.venue_params} if state.venue_params_hash else {}),
    })
    journal.set_activation_fingerprint(fp, by=by)
    return fp


def deactivate(journal: Journal, *, by: str, reason: str) -> None:
    """Clear the activation: every later cycle is a dry run until :func:`activate` runs again."""
    journal.set_activation_fingerprint(None, by=by)
    journal.append_event(EVENT, {"action": "deactivate", "by": by, "reason": reason})
