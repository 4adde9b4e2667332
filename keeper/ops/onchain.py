"""Reads of the HedgeModule's whole parameter set (``params()``, ``paramsHash()``) in human units, and of the
HedgeVenueModule's (its parameters, ``paramsHash()`` and its runtime code against our build's fingerprint).

Shared by ``keeper doctor`` (compare with the config) and the go-live gate (say which parameter
changed since activation).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from keeper.build.fingerprint import VENUE_MODULE_FINGERPRINT, ModuleFingerprint, code_mismatch, masked_code_hash
from keeper.chain.multicall import Multicall
from keeper.chain.rpc import RpcClient
from keeper.errors import ChainError
from keeper.venues import hedge_venue_module as hv
from keeper.venues.hedge_module import (
    loss_usage_call,
    params_call,
    params_hash_call,
    parse_params,
    paused_call,
    window_usage_call,
)

__all__ = [
    "ModuleState",
    "VenueModuleState",
    "decode_params",
    "decode_venue_params",
    "read_module",
    "read_params_hash",
    "read_usage",
    "read_venue_module",
]

WAD = 10**18


def _units(wad: int) -> float:
    return float(Decimal(wad) / WAD)


def decode_params(raw: tuple[Any, ...]) -> dict[str, Any]:
    """The ``params()`` struct as a JSON-ready dict: USD and perp sizes in whole units, addresses checksummed."""
    p = parse_params(raw)
    return {
        "chain_id": p.chain_id, "module": p.module, "safe": p.safe, "keeper": p.keeper, "guardian": p.guardian,
        "router": p.router,
        "max_notional_per_trade_usd": _units(p.max_per_trade_wad),
        "max_notional_per_window_usd": _units(p.max_per_window_wad),
        "window_s": p.window_s, "max_slippage_bps": p.max_slippage_bps,
        "fee_tiers": list(p.fee_tiers),
        "pools": {pool: {"token0": t0, "token1": t1, "fee": fee} for pool, t0, t1, fee in p.pools},
        "factory": p.factory,
        "loss_budget_window_usd": _units(p.loss_budget_window_wad),
        "loss_budget_total_usd": _units(p.loss_budget_total_wad),
        "twap_window_s": p.twap_s, "perp_min_margin_bps": p.perp_min_margin_bps,
        "sequencer_feed": p.sequencer_feed, "sequencer_grace_s": p.sequencer_grace_s,
        "tokens": {t: {"feed": f, "max_feed_age_s": age, "decimals": d} for t, f, age, d in p.tokens},
        "perp_markets": {m: {"feed": f, "max_feed_age_s": age, "max_abs_size_units": _units(size)}
                         for m, f, age, size in p.markets},
    }


@dataclass(frozen=True)
class ModuleState:
    """The module as read at one block."""

    address: str
    params: dict[str, Any]
    params_hash: str
    paused: bool
    block: int


def read_params_hash(multicall: Multicall, module: str, block: int) -> str:
    """``paramsHash()`` as 0x-hex; raises ChainError when it cannot be read."""
    [res] = multicall.execute([params_hash_call(module)], block)
    if not res.ok:
        raise ChainError(f"HedgeModule {module}: paramsHash() unreadable: {getattr(res, 'reason', '')}")
    return "0x" + bytes(res.value[0]).hex()  # type: ignore[union-attr]


def read_module(multicall: Multicall, module: str, block: int) -> ModuleState:
    """``params()``, ``paramsHash()`` and ``paused()`` in one batch; raises ChainError when unreadable."""
    calls = [params_call(module),
             params_hash_call(module), paused_call(module)]
    res = multicall.execute(calls, block)
    bad = [f"{c.label}: {getattr(r, 'reason', '')}" for c, r in zip(calls, res, strict=True) if not r.ok]
    if bad:
        raise ChainError(f"HedgeModule {module} unreadable ({'; '.join(bad)}): is it a HedgeModule?")
    params = decode_params(res[0].value[0])  # type: ignore[union-attr]
    return ModuleState(module, params, "0x" + bytes(res[1].value[0]).hex(),  # type: ignore[union-attr]
                       bool(res[2].value[0]), block)  # type: ignore[union-attr]


def read_usage(multicall: Multicall, module: str, block: int) -> dict[str, float]:
    """What the module says the keeper used: ``windowUsage()`` and ``lossUsage()`` in USD (``window_notional_usd``,
    ``window_loss_usd``, ``total_loss_usd``); raises ChainError when unreadable."""
    calls = [window_usage_call(module), loss_usage_call(module)]
    res = multicall.execute(calls, block)
    bad = [f"{c.label}: {getattr(r, 'reason', '')}" for c, r in zip(calls, res, strict=True) if not r.ok]
    if bad:
        raise ChainError(f"HedgeModule {module} usage unreadable ({'; '.join(bad)})")
    window, loss = res[0].value, res[1].value  # type: ignore[union-attr]
    return {"window_notional_usd": _units(int(window[0])), "window_loss_usd": _units(int(loss[0])),
            "total_loss_usd": _units(int(loss[1]))}


def decode_venue_params(raw: tuple[Any, ...]) -> dict[str, Any]:
    """The HedgeVenueModule's ``params()`` as a JSON-ready dict (health factor as a number, pool keys by pool id)."""
    p = hv.parse_params(raw)
    return {
        "chain_id": p.chain_id, "module": p.module, "safe": p.safe, "hedge_module": p.hedge_module, "weth": p.weth,
        "universal_router": p.universal_router, "permit2": p.permit2, "aave_pool": p.aave_pool,
        "min_health_factor": _units(p.min_health_factor_wad),
        "pool_keys": {"0x" + k.pool_id().hex(): {"currency0": k.currency0, "currency1": k.currency1, "fee": k.fee,
                                                 "tick_spacing": k.tick_spacing, "hooks": k.hooks}
                      for k in p.pool_keys},
        "hooks": list(p.hooks),
        "reserves": {asset: {"a_token": a, "variable_debt_token": d} for asset, a, d in p.reserves},
    }


@dataclass(frozen=True)
class VenueModuleState:
    """The HedgeVenueModule as read at one block."""

    address: str
    params: dict[str, Any]
    params_hash: str
    code_hash: str
    """keccak256 of its runtime code with our build's immutables zeroed (0x hex)."""
    code_mismatch: str
    """"" when the code is our build (:data:`VENUE_MODULE_FINGERPRINT`); else what differs."""
    block: int


def read_venue_module(rpc: RpcClient, multicall: Multicall, module: str, block: int,
                      expected: ModuleFingerprint | None = None) -> VenueModuleState:
    """Its code, ``params()`` and ``paramsHash()`` at ``block``; raises ChainError when there is no contract or it
    does not answer as a HedgeVenueModule."""
    want = expected or ModuleFingerprint.load(VENUE_MODULE_FINGERPRINT)
    code = bytes.fromhex(str(rpc.call("eth_getCode", [module, hex(block)])).removeprefix("0x"))
    if not code:
        raise ChainError(f"no contract at HedgeVenueModule address {module}")
    calls = [hv.params_call(module), hv.params_hash_call(module)]
    res = multicall.execute(calls, block)
    bad = [f"{c.label}: {getattr(r, 'reason', '')}" for c, r in zip(calls, res, strict=True) if not r.ok]
    mismatch = code_mismatch(code, want)
    if bad and mismatch:
        raise ChainError(f"{module} is not the keeper's HedgeVenueModule: {mismatch}")
    if bad:
        raise ChainError(f"HedgeVenueModule {module} unreadable ({'; '.join(bad)}): is it a HedgeVenueModule?")
    params = decode_venue_params(tuple(res[0].value[0]))  # type: ignore[union-attr]
    return VenueModuleState(module, params, "0x" + bytes(res[1].value[0]).hex(),  # type: ignore[union-attr]
                            masked_code_hash(code, want.immutables), mismatch, block)
