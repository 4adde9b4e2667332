"""Reads of the HedgeModule's whole parameter set (``params()``, ``paramsHash()``) in human units.

Shared by ``keeper doctor`` (compare with the config) and the go-live gate (say which parameter
changed since activation).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_utils.address import to_checksum_address

from keeper.chain.multicall import Call, Multicall
from keeper.errors import ChainError
from keeper.venues.hedge_module import PARAMS_TYPE

__all__ = ["PARAMS_RETURNS", "ModuleState", "decode_params", "read_module", "read_params_hash"]

PARAMS_RETURNS = (PARAMS_TYPE,)
WAD = 10**18


def _units(wad: int) -> float:
    return float(Decimal(wad) / WAD)


def decode_params(raw: tuple[Any, ...]) -> dict[str, Any]:
    """The ``params()`` struct as a JSON-ready dict: USD and perp sizes in whole units, addresses checksummed."""
    (_version, chain_id, module, safe, keeper, guardian, router, per_trade, per_window, window_s, slippage,
     pools, tokens, markets, factory, loss_window, loss_total, twap_s, min_margin, seq_feed, seq_grace) = raw
    return {
        "chain_id": int(chain_id), "module": to_checksum_address(module), "safe": to_checksum_address(safe),
        "keeper": to_checksum_address(keeper), "guardian": to_checksum_address(guardian),
        "router": to_checksum_address(router),
        "max_notional_per_trade_usd": _units(per_trade), "max_notional_per_window_usd": _units(per_window),
        "window_s": int(window_s), "max_slippage_bps": int(slippage),
        "fee_tiers": sorted({int(fee) for _, _, _, fee in pools}),
        "pools": {to_checksum_address(pool): {"token0": to_checksum_address(t0), "token1": to_checksum_address(t1),
                                              "fee": int(fee)} for pool, t0, t1, fee in pools},
        "factory": to_checksum_address(factory),
        "loss_budget_window_usd": _units(loss_window), "loss_budget_total_usd": _units(loss_total),
        "twap_window_s": int(twap_s), "perp_min_margin_bps": int(min_margin),
        "sequencer_feed": to_checksum_address(seq_feed), "sequencer_grace_s": int(seq_grace),
        "tokens": {to_checksum_address(t): {"feed": to_checksum_address(f), "max_feed_age_s": int(age),
                                            "decimals": int(d)} for t, f, age, d in tokens},
        "perp_markets": {to_checksum_address(m): {"feed": to_checksum_address(f), "max_feed_age_s": int(age),
                                                  "max_abs_size_units": _units(size)}
                         for m, f, age, size in markets},
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
    [res] = multicall.execute([Call(module, "paramsHash()", (), ("bytes32",), "HedgeModule.paramsHash")], block)
    if not res.ok:
        raise ChainError(f"HedgeModule {module}: paramsHash() unreadable: {getattr(res, 'reason', '')}")
    return "0x" + bytes(res.value[0]).hex()  # type: ignore[union-attr]


def read_module(multicall: Multicall, module: str, block: int) -> ModuleState:
    """``params()``, ``paramsHash()`` and ``paused()`` in one batch; raises ChainError when unreadable."""
    calls = [Call(module, "params()", (), PARAMS_RETURNS, "HedgeModule.params", 2_000_000),
             Call(module, "paramsHash()", (), ("bytes32",), "HedgeModule.paramsHash", 2_000_000),
             Call(module, "paused()", (), ("bool",), "HedgeModule.paused")]
    res = multicall.execute(calls, block)
    bad = [f"{c.label}: {getattr(r, 'reason', '')}" for c, r in zip(calls, res, strict=True) if not r.ok]
    if bad:
        raise ChainError(f"HedgeModule {module} unreadable ({'; '.join(bad)}): is it a HedgeModule?")
    params = decode_params(res[0].value[0])  # type: ignore[union-attr]
    return ModuleState(module, params, "0x" + bytes(res[1].value[0]).hex(),  # type: ignore[union-attr]
                       bool(res[2].value[0]), block)  # type: ignore[union-attr]
