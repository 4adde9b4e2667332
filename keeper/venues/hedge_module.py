"""HedgeModule: the owners' configuration as Safe transactions, and the keeper's hedge calldata.

Amount units follow the contract: USD notionals are "usd wad" (USD x 1e18), token amounts are
raw units, perp sizes and prices are 1e18-scaled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.errors import InputError
from keeper.venues.safe import SafeTx

__all__ = ["ModuleParams", "PerpLimit", "TokenFeed", "calldata", "disable_txs", "setup_txs"]

USD_WAD = 10**18


def _selector(sig: str) -> bytes:
    return keccak(text=sig)[:4]


def calldata(signature: str, types: list[str], args: list[Any]) -> bytes:
    """ABI calldata for ``signature`` (e.g. ``"setLimits(uint256,uint256,uint256,uint256)"``)."""
    return _selector(signature) + encode(types, args)


@dataclass(frozen=True)
class TokenFeed:
    token: str
    feed: str
    max_feed_age_s: int


@dataclass(frozen=True)
class PerpLimit:
    market: str
    feed: str
    max_feed_age_s: int
    max_abs_size: Decimal
    """Largest |position| the module lets the keeper build, in units of the underlying (0 = no limit)."""


@dataclass(frozen=True)
class ModuleParams:
    """What the Safe's owners allow the keeper to do, in human units."""

    keeper: str
    guardian: str
    router: str
    fee_tiers: tuple[int, ...]
    tokens: tuple[TokenFeed, ...]
    perps: tuple[PerpLimit, ...] = ()
    max_notional_per_trade_usd: Decimal = Decimal(250_000)
    max_notional_per_window_usd: Decimal = Decimal(1_000_000)
    window_s: int = 86_400
    max_slippage_bps: int = 100
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.max_notional_per_trade_usd <= self.max_notional_per_window_usd:
            raise InputError("max_notional_per_trade_usd", "must be > 0 and <= max_notional_per_window_usd")
        if not 0 < self.window_s <= 30 * 86_400:
            raise InputError("window_s", f"must be in 1..2592000 s, got {self.window_s}")
        if not 0 <= self.max_slippage_bps <= 1000:
            raise InputError("max_slippage_bps", f"must be in 0..1000 bps, got {self.max_slippage_bps}")
        for fee in self.fee_tiers:
            if not 0 < fee < 1_000_000:
                raise InputError("fee_tiers", f"{fee} is not a Uniswap fee tier in hundredths of a bip")


def setup_txs(safe: str, module: str, p: ModuleParams, *, enable: bool = True) -> list[SafeTx]:
    """The owners' transactions that enable and configure the module (each a call from the Safe)."""
    m = to_checksum_address(module)
    txs: list[SafeTx] = []
    if enable:
        txs.append(SafeTx(to_checksum_address(safe), 0, calldata("enableModule(address)", ["address"], [m])))
    txs.append(SafeTx(m, 0, calldata("setKeeper(address)", ["address"], [p.keeper])))
    txs.append(SafeTx(m, 0, calldata("setGuardian(address)", ["address"], [p.guardian])))
    txs.append(SafeTx(m, 0, calldata("setRouter(address)", ["address"], [p.router])))
    for fee in p.fee_tiers:
        txs.append(SafeTx(m, 0, calldata("setFeeTierAllowed(uint24,bool)", ["uint24", "bool"], [fee, True])))
    for t in p.tokens:
        txs.append(SafeTx(m, 0, calldata(
            "setTokenConfig(address,address,uint256,bool)", ["address", "address", "uint256", "bool"],
            [t.token, t.feed, t.max_feed_age_s, True])))
    for perp in p.perps:
        txs.append(SafeTx(m, 0, calldata(
            "setPerpMarket(address,address,uint256,bool)", ["address", "address", "uint256", "bool"],
            [perp.market, perp.feed, perp.max_feed_age_s, True])))
        txs.append(SafeTx(m, 0, calldata(
            "setPerpPositionLimit(address,uint256)", ["address", "uint256"],
            [perp.market, int(perp.max_abs_size * 10**18)])))
    txs.append(SafeTx(m, 0, calldata(
        "setLimits(uint256,uint256,uint256,uint256)", ["uint256"] * 4,
        [int(p.max_notional_per_trade_usd * USD_WAD), int(p.max_notional_per_window_usd * USD_WAD), p.window_s,
         p.max_slippage_bps])))
    return txs


SENTINEL_MODULES = "0x0000000000000000000000000000000000000001"


def disable_txs(safe: str, module: str, prev_module: str = SENTINEL_MODULES) -> list[SafeTx]:
    """The owners' transaction that disables the module (``prev_module`` is its predecessor in the list)."""
    return [SafeTx(to_checksum_address(safe), 0, calldata(
        "disableModule(address,address)", ["address", "address"], [prev_module, module]))]
