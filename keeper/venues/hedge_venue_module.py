"""HedgeVenueModule: the keeper's Uniswap v4 and Aave v3 hedges through the Safe, and the owners' configuration.

A second Safe module beside the HedgeModule (whose runtime code has no room left under EIP-170). It has no caps or
budgets of its own: every action books its notional and its loss at the oracle in the HedgeModule
(``bookVenueTrade``, through the Safe), so the per-trade and window caps and both loss budgets are shared with v3
swaps and perps, and the HedgeModule's keeper, pause, token feeds and slippage bound apply. Units follow the
contract: token amounts raw, health factors wad (1e18 = 1.0), USD notionals usd wad.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.chain.multicall import Call, selector
from keeper.errors import InputError
from keeper.venues.safe import SafeTx

__all__ = [
    "AAVE_BORROW",
    "AAVE_REPAY",
    "AAVE_SUPPLY",
    "AAVE_WITHDRAW",
    "HEDGE_BORROW_SELL",
    "HEDGE_BUY_REPAY",
    "HEDGE_V4_SWAP",
    "MIN_HEALTH_FACTOR_FLOOR",
    "PARAMS_TYPE",
    "PARAMS_VERSION_TEXT",
    "POOL_KEY_TYPE",
    "AaveAction",
    "AaveArgs",
    "BorrowSellArgs",
    "BuyRepayArgs",
    "OnchainVenueParams",
    "PoolKey",
    "V4SwapArgs",
    "VenueParams",
    "aave_call",
    "decode_aave",
    "decode_hedge_borrow_sell",
    "decode_hedge_buy_repay",
    "decode_hedge_v4_swap",
    "hedge_borrow_sell",
    "hedge_buy_repay",
    "hedge_v4_swap",
    "params_call",
    "params_hash_call",
    "parse_params",
    "quote_v4_swap_call",
    "setup_txs",
]

WAD = 10**18
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
DYNAMIC_FEE_FLAG = 0x800000
MIN_HEALTH_FACTOR_FLOOR = Decimal("1.01")
"""The lowest minimum health factor the contract lets the owners set (``MIN_HEALTH_FACTOR_FLOOR``, 1.01e18)."""
MAX_LIST_LENGTH = 16
PARAMS_VERSION_TEXT = "HedgeVenueModule.params.v1"
POOL_KEY_TYPE = "(address,address,uint24,int24,address)"
"""A v4 ``PoolKey``: currency0, currency1 (native ETH = the zero address, always currency0), fee (hundredths of a
bip, or the dynamic-fee flag), tick spacing, hooks."""
PARAMS_TYPE = (
    "(bytes32,uint256,address,address,address,address,address,address,address,uint256,"
    f"{POOL_KEY_TYPE}[],address[],(address,address,address)[])"
)
"""The ABI type of ``HedgeVenueModule.params()``: version, chain id, module, safe, hedge module, WETH, universal
router, Permit2, Aave pool, minimum health factor (wad), pool keys (sorted by pool id), allowed hooks (sorted),
reserves (asset, aToken, variable debt token; sorted by asset)."""

HEDGE_V4_SWAP = f"hedgeV4Swap({POOL_KEY_TYPE},bool,uint256,uint256,uint256)"
_V4_SWAP_TYPES = [POOL_KEY_TYPE, "bool", "uint256", "uint256", "uint256"]
HEDGE_BORROW_SELL = f"hedgeBorrowSell(address,uint256,{POOL_KEY_TYPE},bool,uint256,uint256)"
_BORROW_SELL_TYPES = ["address", "uint256", POOL_KEY_TYPE, "bool", "uint256", "uint256"]
HEDGE_BUY_REPAY = f"hedgeBuyRepay({POOL_KEY_TYPE},bool,uint256,uint256,uint256)"
AAVE_SUPPLY = "aaveSupply(address,uint256)"
AAVE_WITHDRAW = "aaveWithdraw(address,uint256)"
AAVE_BORROW = "aaveBorrow(address,uint256)"
AAVE_REPAY = "aaveRepay(address,uint256)"


def _cs(a: Any) -> str:
    return str(to_checksum_address(a))


def _calldata(signature: str, types: list[str], args: list[Any]) -> bytes:
    return selector(signature) + encode(types, args)


def _expect(data: bytes, signature: str) -> None:
    if data[:4] != selector(signature):
        raise InputError("data", f"calldata selector 0x{data[:4].hex()} is not {signature}")


def _amount(name: str, value: int) -> None:
    if not 0 < value < 2**128:
        raise InputError(name, f"must be in 1..2^128-1 raw units, got {value}")


# ------------------------------------------------------------------ v4 pool keys
@dataclass(frozen=True)
class PoolKey:
    """A Uniswap v4 pool key as the PoolManager identifies a pool (native ETH = the zero address)."""

    currency0: str
    currency1: str
    fee: int
    """Hundredths of a bip (500 = 0.05 %), or ``DYNAMIC_FEE_FLAG`` for a hooked dynamic-fee pool."""
    tick_spacing: int
    hooks: str = ZERO_ADDRESS

    def __post_init__(self) -> None:
        if int(self.currency0, 16) >= int(self.currency1, 16):
            raise InputError("pool_key", f"currency0 {self.currency0} must sort below currency1 {self.currency1}")
        dynamic = self.fee == DYNAMIC_FEE_FLAG and int(self.hooks, 16) != 0
        if not (0 <= self.fee < 1_000_000 or dynamic):
            raise InputError("pool_key", f"fee {self.fee} is not a static fee below 100 % (hundredths of a bip) "
                                         "nor the dynamic-fee flag of a hooked pool")
        if not 0 < self.tick_spacing < 2**15:
            raise InputError("pool_key", f"tick spacing must be in 1..32767, got {self.tick_spacing}")

    @property
    def hooked(self) -> bool:
        return int(self.hooks, 16) != 0

    def as_tuple(self) -> tuple[str, str, int, int, str]:
        return (_cs(self.currency0), _cs(self.currency1), self.fee, self.tick_spacing, _cs(self.hooks))

    def pool_id(self) -> bytes:
        """keccak256(abi.encode(key)): the v4 PoolId."""
        return keccak(encode([POOL_KEY_TYPE], [self.as_tuple()]))

    @classmethod
    def of(cls, raw: Any) -> PoolKey:
        return cls(_cs(raw[0]), _cs(raw[1]), int(raw[2]), int(raw[3]), _cs(raw[4]))


# ------------------------------------------------------------------ the keeper's calls
@dataclass(frozen=True)
class V4SwapArgs:
    """An exact-input v4 swap of the Safe's ``amount_in`` (raw input units; unix s deadline)."""

    key: PoolKey
    zero_for_one: bool
    amount_in: int
    min_out: int
    deadline: int

    def __post_init__(self) -> None:
        _amount("amount_in", self.amount_in)
        if not 0 <= self.min_out < 2**128:
            raise InputError("min_out", f"must be in 0..2^128-1 raw units, got {self.min_out}")

    @property
    def currency_in(self) -> str:
        return self.key.currency0 if self.zero_for_one else self.key.currency1

    @property
    def currency_out(self) -> str:
        return self.key.currency1 if self.zero_for_one else self.key.currency0


def hedge_v4_swap(a: V4SwapArgs) -> bytes:
    """``hedgeV4Swap``: the Safe sells ``amount_in`` through an allowed v4 pool key (UniversalRouter)."""
    return _calldata(HEDGE_V4_SWAP, _V4_SWAP_TYPES, [a.key.as_tuple(), a.zero_for_one, a.amount_in, a.min_out,
                                                     a.deadline])


def decode_hedge_v4_swap(data: bytes) -> V4SwapArgs:
    _expect(data, HEDGE_V4_SWAP)
    key, z, amount_in, min_out, deadline = decode(_V4_SWAP_TYPES, data[4:])
    return V4SwapArgs(PoolKey.of(key), bool(z), int(amount_in), int(min_out), int(deadline))


class AaveAction(IntEnum):
    """The contract's ``Action`` enum (the ``AaveAction`` event's first topic)."""

    SUPPLY = 0
    WITHDRAW = 1
    BORROW = 2
    REPAY = 3


_AAVE_SIGNATURES = {AaveAction.SUPPLY: AAVE_SUPPLY, AaveAction.WITHDRAW: AAVE_WITHDRAW,
                    AaveAction.BORROW: AAVE_BORROW, AaveAction.REPAY: AAVE_REPAY}


@dataclass(frozen=True)
class AaveArgs:
    """One Aave action for the Safe on an allowed reserve (raw asset units; borrow = variable rate)."""

    action: AaveAction
    asset: str
    amount: int

    def __post_init__(self) -> None:
        _amount("amount", self.amount)


def aave_call(a: AaveArgs) -> bytes:
    """``aaveSupply`` / ``aaveWithdraw`` / ``aaveBorrow`` / ``aaveRepay``."""
    return _calldata(_AAVE_SIGNATURES[a.action], ["address", "uint256"], [a.asset, a.amount])


def decode_aave(data: bytes) -> AaveArgs:
    for action, sig in _AAVE_SIGNATURES.items():
        if data[:4] == selector(sig):
            asset, amount = decode(["address", "uint256"], data[4:])
            return AaveArgs(action, _cs(asset), int(amount))
    raise InputError("data", f"calldata selector 0x{data[:4].hex()} is not an Aave action of the venue module")


@dataclass(frozen=True)
class BorrowSellArgs:
    """Borrow ``amount`` of ``asset`` and sell all of it through ``key`` (input currency = the asset, or native ETH
    when the asset is WETH): adds short delta."""

    asset: str
    amount: int
    key: PoolKey
    zero_for_one: bool
    min_out: int
    deadline: int

    def __post_init__(self) -> None:
        _amount("amount", self.amount)


def hedge_borrow_sell(a: BorrowSellArgs) -> bytes:
    return _calldata(HEDGE_BORROW_SELL, _BORROW_SELL_TYPES, [a.asset, a.amount, a.key.as_tuple(), a.zero_for_one,
                                                             a.min_out, a.deadline])


def decode_hedge_borrow_sell(data: bytes) -> BorrowSellArgs:
    _expect(data, HEDGE_BORROW_SELL)
    asset, amount, key, z, min_out, deadline = decode(_BORROW_SELL_TYPES, data[4:])
    return BorrowSellArgs(_cs(asset), int(amount), PoolKey.of(key), bool(z), int(min_out), int(deadline))


@dataclass(frozen=True)
class BuyRepayArgs:
    """Sell ``amount_in`` through ``key`` and repay the Safe's debt in the output currency: removes short delta."""

    key: PoolKey
    zero_for_one: bool
    amount_in: int
    min_out: int
    deadline: int

    def __post_init__(self) -> None:
        _amount("amount_in", self.amount_in)


def hedge_buy_repay(a: BuyRepayArgs) -> bytes:
    return _calldata(HEDGE_BUY_REPAY, _V4_SWAP_TYPES, [a.key.as_tuple(), a.zero_for_one, a.amount_in, a.min_out,
                                                       a.deadline])


def decode_hedge_buy_repay(data: bytes) -> BuyRepayArgs:
    _expect(data, HEDGE_BUY_REPAY)
    key, z, amount_in, min_out, deadline = decode(_V4_SWAP_TYPES, data[4:])
    return BuyRepayArgs(PoolKey.of(key), bool(z), int(amount_in), int(min_out), int(deadline))


# ------------------------------------------------------------------ reads
def quote_v4_swap_call(module: str, key: PoolKey, zero_for_one: bool, amount_in: int) -> Call:
    """``quoteV4Swap``: notional (usd wad), the feeds' output and the smallest accepted minimum (raw output)."""
    return Call(module, f"quoteV4Swap({POOL_KEY_TYPE},bool,uint256)", (key.as_tuple(), zero_for_one, amount_in),
                ("uint256", "uint256", "uint256"), "HedgeVenueModule.quoteV4Swap")


def params_call(module: str) -> Call:
    """``params()`` for a Multicall3 batch (decode with :func:`parse_params`)."""
    return Call(module, "params()", (), (PARAMS_TYPE,), "HedgeVenueModule.params", 2_000_000)


def params_hash_call(module: str) -> Call:
    return Call(module, "paramsHash()", (), ("bytes32",), "HedgeVenueModule.paramsHash", 2_000_000)


@dataclass(frozen=True)
class OnchainVenueParams:
    """``HedgeVenueModule.params()`` in contract units (lists sorted as the contract sorts them)."""

    version: bytes
    chain_id: int
    module: str
    safe: str
    hedge_module: str
    weth: str
    universal_router: str
    permit2: str
    aave_pool: str
    min_health_factor_wad: int
    pool_keys: tuple[PoolKey, ...]
    hooks: tuple[str, ...]
    reserves: tuple[tuple[str, str, str], ...]
    """(asset, aToken, variable debt token)"""

    def as_tuple(self) -> tuple[Any, ...]:
        return (self.version, self.chain_id, self.module, self.safe, self.hedge_module, self.weth,
                self.universal_router, self.permit2, self.aave_pool, self.min_health_factor_wad,
                [k.as_tuple() for k in self.pool_keys], list(self.hooks), [list(r) for r in self.reserves])

    def params_hash(self) -> bytes:
        """keccak256(abi.encode(params())), as ``HedgeVenueModule.paramsHash()`` computes it."""
        return keccak(encode([PARAMS_TYPE], [self.as_tuple()]))


def parse_params(raw: tuple[Any, ...]) -> OnchainVenueParams:
    p = raw
    return OnchainVenueParams(
        version=bytes(p[0]), chain_id=int(p[1]), module=_cs(p[2]), safe=_cs(p[3]), hedge_module=_cs(p[4]),
        weth=_cs(p[5]), universal_router=_cs(p[6]), permit2=_cs(p[7]), aave_pool=_cs(p[8]),
        min_health_factor_wad=int(p[9]), pool_keys=tuple(PoolKey.of(k) for k in p[10]),
        hooks=tuple(_cs(h) for h in p[11]), reserves=tuple((_cs(r[0]), _cs(r[1]), _cs(r[2])) for r in p[12]),
    )


# ------------------------------------------------------------------ the owners' configuration
@dataclass(frozen=True)
class VenueParams:
    """What the Safe's owners allow on v4 and Aave, in human units."""

    universal_router: str = ZERO_ADDRESS
    permit2: str = ZERO_ADDRESS
    pool_keys: tuple[PoolKey, ...] = ()
    hooks: tuple[str, ...] = ()
    """Hooks contracts the owners trust; a hooked pool key is refused unless its hooks are listed here."""
    aave_pool: str = ZERO_ADDRESS
    reserves: tuple[str, ...] = ()
    """Assets of the Aave reserves the keeper may supply, withdraw, borrow and repay."""
    min_health_factor: Decimal = Decimal("1.5")
    """The health factor every borrow and withdrawal must leave (>= 1.01)."""

    def __post_init__(self) -> None:
        if self.min_health_factor < MIN_HEALTH_FACTOR_FLOOR:
            raise InputError("min_health_factor",
                             f"must be >= {MIN_HEALTH_FACTOR_FLOOR} (1.0 is liquidation), got {self.min_health_factor}")
        allowed = {int(h, 16) for h in self.hooks}
        for key in self.pool_keys:
            if key.hooked and int(key.hooks, 16) not in allowed:
                raise InputError("pool_keys", f"pool key with hooks {key.hooks}: list the hooks in `hooks` first")
        for name, n in (("pool_keys", len(self.pool_keys)), ("hooks", len(self.hooks)),
                        ("reserves", len(self.reserves))):
            if n > MAX_LIST_LENGTH:
                raise InputError(name, f"at most {MAX_LIST_LENGTH} entries, got {n}")
        if self.pool_keys and int(self.universal_router, 16) == 0:
            raise InputError("universal_router", "pool keys are allowed but no UniversalRouter is set")
        if self.reserves and int(self.aave_pool, 16) == 0:
            raise InputError("aave_pool", "reserves are allowed but no Aave pool is set")


def setup_txs(safe: str, module: str, p: VenueParams, *, enable: bool = True) -> list[SafeTx]:
    """The owners' transactions that enable and configure the venue module (each a call from the Safe). Hooks are
    allowed before the keys that use them; the Aave pool before its reserves."""
    m = to_checksum_address(module)
    txs: list[SafeTx] = []
    if enable:
        txs.append(SafeTx(to_checksum_address(safe), 0, _calldata("enableModule(address)", ["address"], [m])))
    txs.append(SafeTx(m, 0, _calldata("setUniversalRouter(address,address)", ["address", "address"],
                                      [p.universal_router, p.permit2])))
    for h in p.hooks:
        txs.append(SafeTx(m, 0, _calldata("setHooksAllowed(address,bool)", ["address", "bool"], [h, True])))
    for key in p.pool_keys:
        txs.append(SafeTx(m, 0, _calldata(f"setPoolKeyAllowed({POOL_KEY_TYPE},bool)", [POOL_KEY_TYPE, "bool"],
                                          [key.as_tuple(), True])))
    txs.append(SafeTx(m, 0, _calldata("setAavePool(address)", ["address"], [p.aave_pool])))
    for asset in p.reserves:
        txs.append(SafeTx(m, 0, _calldata("setReserveAllowed(address,bool)", ["address", "bool"], [asset, True])))
    txs.append(SafeTx(m, 0, _calldata("setMinHealthFactor(uint256)", ["uint256"],
                                      [int(p.min_health_factor * WAD)])))
    return txs
