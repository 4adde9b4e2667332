"""HedgeModule: the owners' configuration as Safe transactions, and the keeper's hedge calldata.

Amount units follow the contract: USD notionals are "usd wad" (USD x 1e18), token amounts are
raw units, perp sizes and prices are 1e18-scaled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.chain.multicall import Call, selector
from keeper.errors import InputError, ModuleVenueUnsupportedError
from keeper.venues.safe import SafeTx

__all__ = [
    "HEDGE_PERP",
    "HEDGE_SWAP",
    "MAX_FEED_AGE_S",
    "MODULE_UNSUPPORTED",
    "PARAMS_TYPE",
    "PARAMS_VERSION_TEXT",
    "ModuleParams",
    "OnchainParams",
    "PerpArgs",
    "PerpLimit",
    "PoolAllow",
    "SwapArgs",
    "TokenFeed",
    "calldata",
    "decode_hedge_perp",
    "decode_hedge_swap",
    "disable_txs",
    "hedge_aave_loan",
    "hedge_perp",
    "hedge_swap",
    "hedge_v4_swap",
    "keeper_call",
    "loss_usage_call",
    "module_safe_call",
    "oracle_and_budget_txs",
    "params_call",
    "params_hash_call",
    "parse_params",
    "pause",
    "paused_call",
    "setup_txs",
    "window_usage_call",
]

USD_WAD = 10**18
MAX_FEED_AGE_S = 86_400
"""The module's ``MAX_FEED_AGE``: the ceiling of every feed's heartbeat, s."""
PARAMS_VERSION_TEXT = "HedgeModule.params.v2"
PARAMS_TYPE = (
    "(bytes32,uint256,address,address,address,address,address,uint256,uint256,uint256,uint256,"
    "(address,address,address,uint256)[],(address,address,uint256,uint256)[],(address,address,uint256,uint256)[],"
    "address,uint256,uint256,uint256,uint256,address,uint256)"
)
"""The ABI type of ``HedgeModule.params()`` (field order in the contract's ``Params`` struct): version, chain id,
module, safe, keeper, guardian, router, per-trade and per-window caps (usd wad), window (s), slippage (bps), pools
(pool, token0, token1, fee), tokens (token, feed, max age s, decimals), markets (market, feed, max age s, max
|size| 1e18 units), factory, loss budgets per window and total (usd wad), TWAP window (s), perp minimum margin
(bps), sequencer-uptime feed, sequencer grace (s)."""
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def calldata(signature: str, types: list[str], args: list[Any]) -> bytes:
    """ABI calldata for ``signature`` (e.g. ``"setLimits(uint256,uint256,uint256,uint256)"``)."""
    return selector(signature) + encode(types, args)


# ------------------------------------------------------------------ the keeper's calls
HEDGE_SWAP = "hedgeSwap(address,address,uint24,uint256,uint256,uint256)"
_HEDGE_SWAP_TYPES = ["address", "address", "uint24", "uint256", "uint256", "uint256"]
HEDGE_PERP = "hedgePerp(address,int256,uint256)"
_HEDGE_PERP_TYPES = ["address", "int256", "uint256"]


@dataclass(frozen=True)
class SwapArgs:
    """A swap's arguments as the module and the router take them (raw token units, unix s deadline)."""

    token_in: str
    token_out: str
    fee: int
    amount_in: int
    min_out: int
    deadline: int


@dataclass(frozen=True)
class PerpArgs:
    """A perp trade: signed size delta and worst acceptable price, both 1e18-scaled."""

    market: str
    size_delta: int
    acceptable_price: int


def hedge_swap(a: SwapArgs) -> bytes:
    """``hedgeSwap``: the module swaps the Safe's ``token_in`` for ``token_out`` in an allowed pool."""
    return calldata(HEDGE_SWAP, _HEDGE_SWAP_TYPES, [a.token_in, a.token_out, a.fee, a.amount_in, a.min_out,
                                                   a.deadline])


def hedge_perp(a: PerpArgs) -> bytes:
    """``hedgePerp``: the module changes the Safe's position in an allowed perp market."""
    return calldata(HEDGE_PERP, _HEDGE_PERP_TYPES, [a.market, a.size_delta, a.acceptable_price])


def decode_hedge_swap(data: bytes) -> SwapArgs:
    """The arguments of ``hedgeSwap`` calldata; another selector raises :class:`InputError`."""
    _expect(data, HEDGE_SWAP)
    t_in, t_out, fee, amount_in, min_out, deadline = decode(_HEDGE_SWAP_TYPES, data[4:])
    return SwapArgs(to_checksum_address(str(t_in)), to_checksum_address(str(t_out)), int(fee), int(amount_in),
                    int(min_out), int(deadline))


def decode_hedge_perp(data: bytes) -> PerpArgs:
    """The arguments of ``hedgePerp`` calldata; another selector raises :class:`InputError`."""
    _expect(data, HEDGE_PERP)
    market, delta, acceptable = decode(_HEDGE_PERP_TYPES, data[4:])
    return PerpArgs(to_checksum_address(str(market)), int(delta), int(acceptable))


def pause() -> bytes:
    """The guardian's (or an owner's) ``pause()``."""
    return selector("pause()")


def _expect(data: bytes, signature: str) -> None:
    if data[:4] != selector(signature):
        raise InputError("data", f"calldata selector 0x{data[:4].hex()} is not {signature}")


# ------------------------------------------------------------------ params() as the chain holds it
@dataclass(frozen=True)
class OnchainParams:
    """``HedgeModule.params()`` in contract units (usd wad, seconds, bps; lists sorted ascending)."""

    version: bytes
    chain_id: int
    module: str
    safe: str
    keeper: str
    guardian: str
    router: str
    max_per_trade_wad: int
    max_per_window_wad: int
    window_s: int
    max_slippage_bps: int
    pools: tuple[tuple[str, str, str, int], ...]
    """(pool, token0, token1, fee in hundredths of a bip), sorted by pool address"""
    tokens: tuple[tuple[str, str, int, int], ...]
    """(token, feed, max feed age s, decimals)"""
    markets: tuple[tuple[str, str, int, int], ...]
    """(market, feed, max feed age s, max |size| 1e18 units)"""
    factory: str
    loss_budget_window_wad: int
    loss_budget_total_wad: int
    twap_s: int
    perp_min_margin_bps: int
    sequencer_feed: str
    sequencer_grace_s: int

    @property
    def fee_tiers(self) -> tuple[int, ...]:
        """The fee tiers of the allowed pools, sorted."""
        return tuple(sorted({p[3] for p in self.pools}))

    def as_tuple(self) -> tuple[Any, ...]:
        """The ``params()`` tuple, ready for ``abi.encode`` (and so for the hash)."""
        return (self.version, self.chain_id, self.module, self.safe, self.keeper, self.guardian, self.router,
                self.max_per_trade_wad, self.max_per_window_wad, self.window_s, self.max_slippage_bps,
                [list(p) for p in self.pools], [list(t) for t in self.tokens], [list(m) for m in self.markets],
                self.factory, self.loss_budget_window_wad, self.loss_budget_total_wad, self.twap_s,
                self.perp_min_margin_bps, self.sequencer_feed, self.sequencer_grace_s)

    def params_hash(self) -> bytes:
        """keccak256(abi.encode(params())), as ``HedgeModule.paramsHash()`` computes it."""
        return keccak(encode([PARAMS_TYPE], [self.as_tuple()]))


def _cs(a: Any) -> str:
    return str(to_checksum_address(a))


def parse_params(raw: tuple[Any, ...]) -> OnchainParams:
    """The decoded ``params()`` tuple as :class:`OnchainParams` (addresses checksummed)."""
    p = raw
    return OnchainParams(
        version=bytes(p[0]), chain_id=int(p[1]), module=_cs(p[2]), safe=_cs(p[3]), keeper=_cs(p[4]),
        guardian=_cs(p[5]), router=_cs(p[6]), max_per_trade_wad=int(p[7]), max_per_window_wad=int(p[8]),
        window_s=int(p[9]), max_slippage_bps=int(p[10]),
        pools=tuple((_cs(x[0]), _cs(x[1]), _cs(x[2]), int(x[3])) for x in p[11]),
        tokens=tuple((_cs(t[0]), _cs(t[1]), int(t[2]), int(t[3])) for t in p[12]),
        markets=tuple((_cs(m[0]), _cs(m[1]), int(m[2]), int(m[3])) for m in p[13]),
        factory=_cs(p[14]), loss_budget_window_wad=int(p[15]), loss_budget_total_wad=int(p[16]), twap_s=int(p[17]),
        perp_min_margin_bps=int(p[18]), sequencer_feed=_cs(p[19]), sequencer_grace_s=int(p[20]),
    )


def params_hash_call(module: str) -> Call:
    """``paramsHash()``: keccak256(abi.encode(params())), bytes32."""
    return Call(module, "paramsHash()", (), ("bytes32",), "HedgeModule.paramsHash", 2_000_000)


def window_usage_call(module: str) -> Call:
    """``windowUsage()``: notional traded in the rolling window (USD wad) and the buckets it spans."""
    return Call(module, "windowUsage()", (), ("uint256", "uint256"), "HedgeModule.windowUsage")


def loss_usage_call(module: str) -> Call:
    """``lossUsage()``: loss at the oracle in the rolling window and since the last reset (USD wad)."""
    return Call(module, "lossUsage()", (), ("uint256", "uint256"), "HedgeModule.lossUsage")


def paused_call(module: str) -> Call:
    return Call(module, "paused()", (), ("bool",), "HedgeModule.paused")


def keeper_call(module: str) -> Call:
    """``keeper()``: the one address allowed to call hedgeSwap / hedgePerp."""
    return Call(module, "keeper()", (), ("address",), "HedgeModule.keeper")


def module_safe_call(module: str) -> Call:
    """``safe()``: the Safe the module acts for."""
    return Call(module, "safe()", (), ("address",), "HedgeModule.safe")


def params_call(module: str) -> Call:
    """``params()`` for a Multicall3 batch (decode with :func:`parse_params`)."""
    return Call(module, "params()", (), (PARAMS_TYPE,), "HedgeModule.params", 2_000_000)


# ------------------------------------------------------------------ the owners' configuration
@dataclass(frozen=True)
class TokenFeed:
    token: str
    feed: str
    max_feed_age_s: int


@dataclass(frozen=True)
class PoolAllow:
    """A Uniswap v3 pool the keeper may swap in: its two tokens (any order) and fee (hundredths of a bip)."""

    token_a: str
    token_b: str
    fee: int


@dataclass(frozen=True)
class PerpLimit:
    market: str
    feed: str
    max_feed_age_s: int
    max_abs_size: Decimal
    """Largest |position| the module lets the keeper build, in units of the underlying (0 = no perp trading)."""


@dataclass(frozen=True)
class ModuleParams:
    """What the Safe's owners allow the keeper to do, in human units."""

    keeper: str
    guardian: str
    router: str
    factory: str
    pools: tuple[PoolAllow, ...]
    tokens: tuple[TokenFeed, ...]
    perps: tuple[PerpLimit, ...] = ()
    max_notional_per_trade_usd: Decimal = Decimal(250_000)
    max_notional_per_window_usd: Decimal = Decimal(1_000_000)
    window_s: int = 86_400
    max_slippage_bps: int = 100
    loss_budget_window_usd: Decimal = Decimal(10_000)
    """Largest loss at the oracle per rolling window, USD."""
    loss_budget_total_usd: Decimal = Decimal(50_000)
    """Largest loss at the oracle since the owners last reset it, USD; when spent the module pauses itself."""
    twap_s: int = 1800
    """TWAP window of the allowed pools for the swap bound, s (0 = feeds only, else 60..86400)."""
    perp_min_margin_bps: int = 1000
    """Minimum margin ratio after a perp trade that grows a position, bps."""
    sequencer_feed: str = ZERO_ADDRESS
    """L2 sequencer-uptime feed (zero address = none)."""
    sequencer_grace_s: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def fee_tiers(self) -> tuple[int, ...]:
        """The fee tiers of the allowed pools, sorted (for display)."""
        return tuple(sorted({p.fee for p in self.pools}))

    # Long on purpose: one validation per HedgeModule parameter, each naming its field.
    def __post_init__(self) -> None:  # noqa: C901
        if not 0 < self.max_notional_per_trade_usd <= self.max_notional_per_window_usd:
            raise InputError("max_notional_per_trade_usd", "must be > 0 and <= max_notional_per_window_usd")
        if not 0 < self.window_s <= 30 * 86_400:
            raise InputError("window_s", f"must be in 1..2592000 s, got {self.window_s}")
        if not 0 <= self.max_slippage_bps <= 1000:
            raise InputError("max_slippage_bps", f"must be in 0..1000 bps, got {self.max_slippage_bps}")
        for pool in self.pools:
            if not 0 < pool.fee < 1_000_000:
                raise InputError("pools", f"{pool.fee} is not a Uniswap fee tier in hundredths of a bip")
        if not 0 <= self.loss_budget_window_usd <= self.loss_budget_total_usd <= Decimal(10**15):
            raise InputError("loss_budget_window_usd", "must be >= 0 and <= loss_budget_total_usd <= 1e15 USD, got "
                                                       f"{self.loss_budget_window_usd} / {self.loss_budget_total_usd}")
        if self.twap_s != 0 and not 60 <= self.twap_s <= 86_400:
            raise InputError("twap_s", f"must be 0 or 60..86400 s, got {self.twap_s}")
        if not 0 < self.perp_min_margin_bps <= 10_000:
            raise InputError("perp_min_margin_bps", f"must be in 1..10000 bps, got {self.perp_min_margin_bps}")
        if not 0 <= self.sequencer_grace_s <= 86_400:
            raise InputError("sequencer_grace_s", f"must be in 0..86400 s, got {self.sequencer_grace_s}")
        for perp in self.perps:
            if perp.max_abs_size <= 0:
                raise InputError("perps", f"{perp.market}: a position limit > 0 is required to trade a perp market")


def setup_txs(safe: str, module: str, p: ModuleParams, *, enable: bool = True) -> list[SafeTx]:
    """The owners' transactions that enable and configure the module (each a call from the Safe)."""
    m = to_checksum_address(module)
    txs: list[SafeTx] = []
    if enable:
        txs.append(SafeTx(to_checksum_address(safe), 0, calldata("enableModule(address)", ["address"], [m])))
    txs.append(SafeTx(m, 0, calldata("setKeeper(address)", ["address"], [p.keeper])))
    txs.append(SafeTx(m, 0, calldata("setGuardian(address)", ["address"], [p.guardian])))
    txs.append(SafeTx(m, 0, calldata("setRouter(address)", ["address"], [p.router])))
    txs.append(SafeTx(m, 0, calldata("setFactory(address)", ["address"], [p.factory])))
    for pool in p.pools:
        txs.append(SafeTx(m, 0, calldata("setPoolAllowed(address,address,uint24,bool)",
                                         ["address", "address", "uint24", "bool"],
                                         [pool.token_a, pool.token_b, pool.fee, True])))
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
    txs += oracle_and_budget_txs(m, p)
    return txs


def oracle_and_budget_txs(module: str, p: ModuleParams) -> list[SafeTx]:
    """The owners' calls that set the loss budgets, the perp margin floor, the TWAP window and the sequencer feed."""
    m = to_checksum_address(module)
    return [
        SafeTx(m, 0, calldata("setLossBudgets(uint256,uint256)", ["uint256", "uint256"],
                              [int(p.loss_budget_window_usd * USD_WAD), int(p.loss_budget_total_usd * USD_WAD)])),
        SafeTx(m, 0, calldata("setPerpMinMarginBps(uint256)", ["uint256"], [p.perp_min_margin_bps])),
        SafeTx(m, 0, calldata("setTwapWindow(uint256)", ["uint256"], [p.twap_s])),
        SafeTx(m, 0, calldata("setSequencerFeed(address,uint256)", ["address", "uint256"],
                              [p.sequencer_feed, p.sequencer_grace_s])),
    ]


SENTINEL_MODULES = "0x0000000000000000000000000000000000000001"


def disable_txs(safe: str, module: str, prev_module: str = SENTINEL_MODULES) -> list[SafeTx]:
    """The owners' transaction that disables the module (``prev_module`` is its predecessor in the list)."""
    return [SafeTx(to_checksum_address(safe), 0, calldata(
        "disableModule(address,address)", ["address", "address"], [prev_module, module]))]


# --------------------------------------------------------------------------- seams: venues the module lacks yet

MODULE_UNSUPPORTED = "not yet supported through the HedgeModule"
"""Why a Uniswap v4 swap or an Aave loan cannot go through the module (the keeper's ``eoa`` mode trades them)."""


def hedge_v4_swap(pool_id: str, zero_for_one: bool, amount_in: int, min_out: int, deadline: int) -> bytes:
    """The HedgeModule call of a Uniswap v4 exact-input swap in pool ``pool_id``.

    Seam: the module's v4 path is being added; until it lands this raises
    :class:`~keeper.errors.ModuleVenueUnsupportedError`.
    """
    raise ModuleVenueUnsupportedError(f"Uniswap v4 swap in pool {pool_id} ({amount_in} in, min {min_out} out): "
                                      f"{MODULE_UNSUPPORTED}; run the keeper in eoa mode to use v4 pools")


def hedge_aave_loan(action: str, pool: str, asset: str, amount: int) -> bytes:
    """The HedgeModule call of an Aave v3 ``borrow`` or ``repay`` of ``amount`` of ``asset`` in ``pool``.

    Seam: the module's Aave path (allowed reserves, a minimum health factor checked on-chain) is
    being added; until it lands this raises :class:`~keeper.errors.ModuleVenueUnsupportedError`.
    """
    raise ModuleVenueUnsupportedError(f"Aave {action} of {amount} {asset} in pool {pool}: {MODULE_UNSUPPORTED}; "
                                      "run the keeper in eoa mode to borrow-and-sell")
