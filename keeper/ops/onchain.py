"""Reads of the HedgeModule's whole parameter set (``params()``, ``paramsHash()``) in human units.

Shared by ``keeper doctor`` (compare with the config) and the go-live gate (say which parameter
changed since activation).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from keeper.chain.multicall import Multicall
from keeper.errors import ChainError
from keeper.venues.hedge_module import (
    loss_usage_call,
    params_call,
    params_hash_call,
    parse_params,
    paused_call,
    window_usage_call,
)

__all__ = ["ModuleState", "decode_params", "read_module", "read_params_hash", "read_usage"]

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
