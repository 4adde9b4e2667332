"""Uniswap v4 reads and calldata: pool keys and ids, the PositionManager, StateView and V4Quoter.

One PoolManager holds every pool; a pool is named by its key (currency0, currency1, fee, tick
spacing, hooks) and identified by ``keccak256(abi.encode(key))``. Native ETH is the currency
``address(0)``. A PositionManager position is the PoolManager position with owner = the
PositionManager, its range, and salt ``bytes32(tokenId)``; its state is read through StateView.

Finding a treasury's positions: the v4 PositionManager is a plain (solmate) ERC-721, not
enumerable, so there is no ``tokenOfOwnerByIndex``. The reader takes candidate token ids (from
the config, or from :func:`scan_token_ids`, which reads the PositionManager's ``Transfer`` logs to
the owners at the edge) and keeps, at the snapshot block, those whose ``ownerOf`` is an owner: a
token id that was sold or burnt since is dropped by the chain's own answer, never by a log.

Functions here build :class:`~keeper.chain.multicall.Call` objects, turn decoded outputs into
snapshot types, and encode ``modifyLiquidities`` action lists; the reader decides which stage
each call runs in.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from keeper.chain.abi_fast import checksum
from keeper.chain.multicall import Call, Failed, Ok, StateReader, selector
from keeper.chain.rpc import RpcClient
from keeper.core.snapshot import TickFees, V4LpPosition, V4PoolKey, V4PoolState
from keeper.errors import ChainError, InputError

__all__ = [
    "ACTIONS",
    "DYNAMIC_FEE_FLAG",
    "HOOK_FLAGS",
    "MODIFY_LIQUIDITIES",
    "NATIVE",
    "POOL_KEY_TYPE",
    "QUOTE_EXACT_INPUT_SINGLE",
    "TRANSFER_TOPIC",
    "V4SwapCost",
    "actions_data",
    "close_currency_params",
    "decrease_liquidity_params",
    "fee_growth_globals_call",
    "hook_permissions",
    "liquidity_call",
    "mint_position_params",
    "modify_liquidities",
    "next_token_id_call",
    "owner_of_call",
    "parse_key",
    "parse_pool",
    "parse_position",
    "parse_position_info",
    "parse_tick",
    "pool_and_position_info_call",
    "pool_calls",
    "pool_id",
    "position_info_call",
    "quote_cost",
    "quote_exact_input_single_call",
    "scan_token_ids",
    "settle_pair_params",
    "slot0_call",
    "swap_cost",
    "sweep_params",
    "take_pair_params",
    "tick_info_call",
]

NATIVE = "0x0000000000000000000000000000000000000000"
"""The currency of the chain's native coin in a pool key."""
POOL_KEY_TYPE = "(address,address,uint24,int24,address)"
"""``PoolKey``: currency0, currency1, fee, tickSpacing, hooks."""

# v4-periphery ``Actions`` (libraries/Actions.sol, 1.0.3).
ACTIONS: dict[str, int] = {
    "INCREASE_LIQUIDITY": 0x00, "DECREASE_LIQUIDITY": 0x01, "MINT_POSITION": 0x02, "BURN_POSITION": 0x03,
    "SWAP_EXACT_IN_SINGLE": 0x06, "SETTLE": 0x0B, "SETTLE_ALL": 0x0C, "SETTLE_PAIR": 0x0D, "TAKE": 0x0E,
    "TAKE_ALL": 0x0F, "TAKE_PAIR": 0x11, "CLOSE_CURRENCY": 0x12, "SWEEP": 0x14,
}

# v4-core ``Hooks`` permission flags: the low 14 bits of the hook contract's address.
HOOK_FLAGS: dict[str, int] = {
    "beforeInitialize": 1 << 13, "afterInitialize": 1 << 12,
    "beforeAddLiquidity": 1 << 11, "afterAddLiquidity": 1 << 10,
    "beforeRemoveLiquidity": 1 << 9, "afterRemoveLiquidity": 1 << 8,
    "beforeSwap": 1 << 7, "afterSwap": 1 << 6, "beforeDonate": 1 << 5, "afterDonate": 1 << 4,
    "beforeSwapReturnsDelta": 1 << 3, "afterSwapReturnsDelta": 1 << 2,
    "afterAddLiquidityReturnsDelta": 1 << 1, "afterRemoveLiquidityReturnsDelta": 1 << 0,
}
DYNAMIC_FEE_FLAG = 0x800000
"""``LPFeeLibrary.DYNAMIC_FEE_FLAG``: a key's fee with this value lets the hook set the LP fee."""

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()


def pool_id(key: V4PoolKey) -> str:
    """``PoolIdLibrary.toId``: ``keccak256(abi.encode(key))`` as 0x-hex."""
    raw = encode([POOL_KEY_TYPE], [(key.currency0, key.currency1, key.fee, key.tick_spacing, key.hooks)])
    return "0x" + keccak(raw).hex()


def _key_tuple(key: V4PoolKey) -> tuple[str, str, int, int, str]:
    return (key.currency0, key.currency1, key.fee, key.tick_spacing, key.hooks)


def _id_bytes(pid: str) -> bytes:
    raw = bytes.fromhex(pid.removeprefix("0x"))
    if len(raw) != 32:
        raise InputError("pool_id", f"must be 32 bytes of hex, got {pid!r}")
    return raw


# --------------------------------------------------------------------------- PositionManager reads


def pool_and_position_info_call(pm: str, token_id: int) -> Call:
    """``getPoolAndPositionInfo(tokenId)``: the pool key and the packed PositionInfo."""
    return Call(pm, "getPoolAndPositionInfo(uint256)", (token_id,), (POOL_KEY_TYPE, "uint256"),
                f"v4 position {token_id} pool and range", 30_000)


def owner_of_call(pm: str, token_id: int) -> Call:
    """ERC-721 ``ownerOf``: reverts for a burnt or never-minted id."""
    return Call(pm, "ownerOf(uint256)", (token_id,), ("address",), f"v4 position {token_id} owner", 15_000)


def next_token_id_call(pm: str) -> Call:
    return Call(pm, "nextTokenId()", (), ("uint256",), f"v4 PositionManager {pm} next token id", 10_000)


def parse_position_info(info: int) -> tuple[int, int, bool]:
    """(tickLower, tickUpper, hasSubscriber) of a packed ``PositionInfo``.

    Layout from the least significant bit: 8 bits hasSubscriber, 24 bits tickLower, 24 bits
    tickUpper, 200 bits of the pool id (``PositionInfoLibrary``).
    """

    def int24(v: int) -> int:
        v &= 0xFFFFFF
        return v - (1 << 24) if v >> 23 else v

    return int24(info >> 8), int24(info >> 32), bool(info & 0xFF)


def parse_key(value: Any) -> V4PoolKey:
    c0, c1, fee, spacing, hooks = value
    return V4PoolKey(checksum(str(c0)), checksum(str(c1)), int(fee), int(spacing), checksum(str(hooks)))


# --------------------------------------------------------------------------- StateView reads


def slot0_call(state_view: str, pid: str) -> Call:
    """``getSlot0(poolId)``: sqrtPriceX96, tick, protocolFee, lpFee."""
    return Call(state_view, "getSlot0(bytes32)", (_id_bytes(pid),), ("uint160", "int24", "uint24", "uint24"),
                f"v4 pool {pid} slot0", 20_000)


def liquidity_call(state_view: str, pid: str) -> Call:
    return Call(state_view, "getLiquidity(bytes32)", (_id_bytes(pid),), ("uint128",),
                f"v4 pool {pid} liquidity", 15_000)


def fee_growth_globals_call(state_view: str, pid: str) -> Call:
    return Call(state_view, "getFeeGrowthGlobals(bytes32)", (_id_bytes(pid),), ("uint256", "uint256"),
                f"v4 pool {pid} fee growth globals", 20_000)


def pool_calls(state_view: str, pid: str) -> list[Call]:
    """slot0, liquidity and fee growth globals, in that order (see :func:`parse_pool`)."""
    return [slot0_call(state_view, pid), liquidity_call(state_view, pid), fee_growth_globals_call(state_view, pid)]


def parse_pool(pid: str, key: V4PoolKey, parts: Sequence[tuple[Any, ...]], ticks: dict[int, TickFees]) -> V4PoolState:
    slot0, liq, fg = parts
    return V4PoolState(
        pool_id=pid, key=key, sqrt_price_x96=int(slot0[0]), tick=int(slot0[1]), protocol_fee=int(slot0[2]),
        lp_fee=int(slot0[3]), liquidity=int(liq[0]), fee_growth_global0_x128=int(fg[0]),
        fee_growth_global1_x128=int(fg[1]), ticks=ticks,
    )


def tick_info_call(state_view: str, pid: str, tick: int) -> Call:
    """``getTickInfo(poolId, tick)``: liquidityGross, liquidityNet, feeGrowthOutside0X128, feeGrowthOutside1X128."""
    return Call(state_view, "getTickInfo(bytes32,int24)", (_id_bytes(pid), tick),
                ("uint128", "int128", "uint256", "uint256"), f"v4 pool {pid} tick {tick}", 25_000)


def parse_tick(tick: int, value: tuple[Any, ...]) -> TickFees:
    return TickFees(tick=tick, fee_growth_outside0_x128=int(value[2]), fee_growth_outside1_x128=int(value[3]),
                    initialized=int(value[0]) > 0)


def position_info_call(state_view: str, pid: str, pm: str, tick_lower: int, tick_upper: int, token_id: int) -> Call:
    """``getPositionInfo(poolId, owner, tickLower, tickUpper, salt)`` of a PositionManager position:
    liquidity, feeGrowthInside0LastX128, feeGrowthInside1LastX128."""
    salt = token_id.to_bytes(32, "big")
    return Call(state_view, "getPositionInfo(bytes32,address,int24,int24,bytes32)",
                (_id_bytes(pid), pm, tick_lower, tick_upper, salt), ("uint128", "uint256", "uint256"),
                f"v4 position {token_id} liquidity and fee checkpoints", 30_000)


def parse_position(token_id: int, owner: str, pid: str, tick_lower: int, tick_upper: int,
                   value: tuple[Any, ...]) -> V4LpPosition:
    return V4LpPosition(token_id=token_id, owner=owner, pool_id=pid, tick_lower=tick_lower, tick_upper=tick_upper,
                        liquidity=int(value[0]), fee_growth_inside0_last_x128=int(value[1]),
                        fee_growth_inside1_last_x128=int(value[2]))


# --------------------------------------------------------------------------- finding positions


def scan_token_ids(rpc: RpcClient, pm: str, owners: Sequence[str], from_block: int, to_block: int,
                   *, step: int = 50_000) -> tuple[int, ...]:
    """Token ids the PositionManager ever transferred (or minted) to one of ``owners`` in the block range.

    Candidates only: the reader keeps those whose ``ownerOf`` at the snapshot block is an owner.
    ``eth_getLogs`` is asked in windows of ``step`` blocks (providers cap the range).
    """
    if not owners:
        raise InputError("owners", "at least one owner address is needed")
    if from_block < 0 or to_block < from_block:
        raise InputError("from_block", f"block range {from_block}..{to_block} is empty or negative")
    topics_to = ["0x" + "00" * 12 + checksum(o)[2:].lower() for o in owners]
    found: set[int] = set()
    start = from_block
    while start <= to_block:
        end = min(start + step - 1, to_block)
        logs = rpc.call("eth_getLogs", [{"address": checksum(pm), "fromBlock": hex(start), "toBlock": hex(end),
                                         "topics": [TRANSFER_TOPIC, None, topics_to]}])
        if not isinstance(logs, list):
            raise ChainError(f"eth_getLogs for {pm}: unexpected answer {type(logs).__name__}")
        for log in logs:
            topics = log.get("topics", [])
            if len(topics) == 4:  # ERC-721 Transfer: the token id is indexed
                found.add(int(topics[3], 16))
        start = end + 1
    return tuple(sorted(found))


# --------------------------------------------------------------------------- hooks


def hook_permissions(hooks: str) -> tuple[str, ...]:
    """Names of the permission flags set in a hook address (empty for no hook)."""
    bits = int(hooks, 16) & ((1 << 14) - 1)
    return tuple(name for name, flag in HOOK_FLAGS.items() if bits & flag)


# --------------------------------------------------------------------------- modifyLiquidities calldata

MODIFY_LIQUIDITIES = "modifyLiquidities(bytes,uint256)"


def actions_data(actions: Sequence[str], params: Sequence[bytes]) -> bytes:
    """``abi.encode(bytes actions, bytes[] params)``: the unlock data of ``modifyLiquidities``."""
    if len(actions) != len(params):
        raise InputError("params", f"{len(actions)} actions need {len(actions)} params, got {len(params)}")
    codes = bytes(ACTIONS[a] for a in actions)
    return encode(["bytes", "bytes[]"], [codes, list(params)])


def modify_liquidities(actions: Sequence[str], params: Sequence[bytes], deadline: int) -> bytes:
    """PositionManager calldata: run ``actions`` with their ``params`` before ``deadline``."""
    return selector(MODIFY_LIQUIDITIES) + encode(["bytes", "uint256"], [actions_data(actions, params), deadline])


def mint_position_params(key: V4PoolKey, tick_lower: int, tick_upper: int, liquidity: int, amount0_max: int,
                         amount1_max: int, owner: str, hook_data: bytes = b"") -> bytes:
    return encode([POOL_KEY_TYPE, "int24", "int24", "uint256", "uint128", "uint128", "address", "bytes"],
                  [_key_tuple(key), tick_lower, tick_upper, liquidity, amount0_max, amount1_max, owner, hook_data])


def decrease_liquidity_params(token_id: int, liquidity: int, amount0_min: int = 0, amount1_min: int = 0,
                              hook_data: bytes = b"") -> bytes:
    return encode(["uint256", "uint256", "uint128", "uint128", "bytes"],
                  [token_id, liquidity, amount0_min, amount1_min, hook_data])


def settle_pair_params(currency0: str, currency1: str) -> bytes:
    return encode(["address", "address"], [currency0, currency1])


def take_pair_params(currency0: str, currency1: str, recipient: str) -> bytes:
    return encode(["address", "address", "address"], [currency0, currency1, recipient])


def close_currency_params(currency: str) -> bytes:
    return encode(["address"], [currency])


def sweep_params(currency: str, to: str) -> bytes:
    return encode(["address", "address"], [currency, to])


# --------------------------------------------------------------------------- V4Quoter

QUOTE_EXACT_INPUT_SINGLE = f"quoteExactInputSingle(({POOL_KEY_TYPE},bool,uint128,bytes))"


def quote_exact_input_single_call(quoter: str, key: V4PoolKey, zero_for_one: bool, amount_in: int,
                                  hook_data: bytes = b"") -> Call:
    """V4Quoter's quote (it simulates the swap and reverts internally; give it gas): amountOut, gasEstimate."""
    if amount_in <= 0 or amount_in >> 128:
        raise InputError("amount_in", f"must be a positive uint128, got {amount_in}")
    return Call(quoter, QUOTE_EXACT_INPUT_SINGLE, ((_key_tuple(key), zero_for_one, amount_in, hook_data),),
                ("uint256", "uint256"), f"v4 quote {key.currency0}/{key.currency1} fee {key.fee}", 2_000_000)


@dataclass(frozen=True)
class V4SwapCost:
    """What a v4 swap of ``amount_in`` would cost, from a V4Quoter quote and the pool's price before it.

    Attributes
    ----------
    amount_in, amount_out : raw units of the input and output currency (the quoter's answer).
    gas_estimate : the quoter's own gas estimate of the swap, gas units.
    mid_out : raw output the same input buys at the pool's current price (``sqrtPriceX96``), no fee,
        no impact.
    """

    amount_in: int
    amount_out: int
    gas_estimate: int
    mid_out: float

    @property
    def cost_bps(self) -> float:
        """LP fee + price impact, bps of the mid value: ``(1 - amount_out / mid_out) * 1e4``."""
        return (1.0 - self.amount_out / self.mid_out) * 1e4


def swap_cost(sqrt_price_x96: int, zero_for_one: bool, amount_in: int, quoted: tuple[Any, ...]) -> V4SwapCost:
    """A :class:`V4SwapCost` from the pool's ``slot0.sqrtPriceX96`` and a decoded V4Quoter answer."""
    if sqrt_price_x96 <= 0:
        raise InputError("sqrt_price_x96", "the pool is not initialized (sqrtPriceX96 = 0)")
    out, gas = int(quoted[0]), int(quoted[1])
    p = sqrt_price_x96 * sqrt_price_x96  # currency1 per currency0, x 2^192
    mid = amount_in * p / 2**192 if zero_for_one else amount_in * 2**192 / p
    return V4SwapCost(amount_in, out, gas, mid)


def quote_cost(reader: StateReader, quoter: str, state_view: str, key: V4PoolKey, zero_for_one: bool,
               amount_in: int, block: int) -> V4SwapCost:
    """Read-only cost estimate of an exact-input swap in one v4 pool at ``block``: the pool's price and the
    V4Quoter's quote in one Multicall3 batch. A failed read raises :class:`~keeper.errors.ChainError`."""
    pid = pool_id(key)
    slot0, quote = reader.execute([slot0_call(state_view, pid),
                                   quote_exact_input_single_call(quoter, key, zero_for_one, amount_in)], block)
    for what, r in (("slot0", slot0), ("quote", quote)):
        if isinstance(r, Failed):
            raise ChainError(f"v4 pool {pid} {what} at block {block}: {r.reason}")
    assert isinstance(slot0, Ok) and isinstance(quote, Ok)
    return swap_cost(int(slot0.value[0]), zero_for_one, amount_in, quote.value)
