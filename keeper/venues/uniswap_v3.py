"""Uniswap v3 reads: pool addresses, NonfungiblePositionManager enumeration, pool state, ticks, TWAP.

Functions here build :class:`~keeper.chain.multicall.Call` objects and turn their decoded
outputs into snapshot types; the reader decides which stage each call runs in.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.crypto import keccak

from keeper.chain.abi_fast import checksum
from keeper.chain.multicall import Call, selector
from keeper.core.snapshot import LpPosition, PoolState, TickFees, TwapReading
from keeper.errors import InputError

__all__ = [
    "EXACT_INPUT_SINGLE",
    "OBSERVATION_TYPES",
    "POOL_INIT_CODE_HASH",
    "QUOTE_EXACT_INPUT_SINGLE",
    "SLOT0_TYPES",
    "balance_call",
    "decode_exact_input_single",
    "exact_input_single",
    "fee_call",
    "get_pool_call",
    "observations_call",
    "observe_call",
    "parse_position",
    "parse_tick",
    "parse_twap",
    "pool_address",
    "pool_calls",
    "pool_from_parts",
    "position_call",
    "quote_exact_input_single_call",
    "slot0_call",
    "tick_call",
    "token0_call",
    "token1_call",
    "token_of_owner_call",
]

# keccak256 of UniswapV3Pool's creation code, as v3-periphery's PoolAddress library states it.
POOL_INIT_CODE_HASH = bytes.fromhex("e34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54")


@lru_cache(maxsize=16384)
def pool_address(factory: str, token_a: str, token_b: str, fee: int) -> str:
    """The CREATE2 address of the pool for (tokenA, tokenB, fee) under ``factory``."""
    t0, t1 = sorted((token_a, token_b), key=lambda a: int(a, 16))
    salt = keccak(encode(["address", "address", "uint24"], [t0, t1, fee]))
    raw = keccak(b"\xff" + bytes.fromhex(factory[2:]) + salt + POOL_INIT_CODE_HASH)[12:]
    return checksum("0x" + raw.hex())


def balance_call(npm: str, owner: str) -> Call:
    return Call(npm, "balanceOf(address)", (owner,), ("uint256",), f"LP NFT count of {owner}", 30_000)


def token_of_owner_call(npm: str, owner: str, index: int) -> Call:
    return Call(
        npm, "tokenOfOwnerByIndex(address,uint256)", (owner, index), ("uint256",),
        f"LP NFT #{index} of {owner}", 30_000,
    )


_POSITIONS_OUT = (
    "uint96", "address", "address", "address", "uint24", "int24", "int24", "uint128",
    "uint256", "uint256", "uint128", "uint128",
)


def position_call(npm: str, token_id: int) -> Call:
    return Call(npm, "positions(uint256)", (token_id,), _POSITIONS_OUT, f"LP {token_id} positions", 40_000)


def parse_position(token_id: int, owner: str, pool: str, value: tuple[Any, ...]) -> LpPosition:
    (_, _, token0, token1, fee, lower, upper, liq, fg0, fg1, owed0, owed1) = value
    return LpPosition(
        token_id=token_id, owner=owner, pool=pool, token0=checksum(str(token0)),
        token1=checksum(str(token1)), fee=int(fee),
        tick_lower=int(lower), tick_upper=int(upper), liquidity=int(liq),
        fee_growth_inside0_last_x128=int(fg0), fee_growth_inside1_last_x128=int(fg1),
        tokens_owed0=int(owed0), tokens_owed1=int(owed1),
    )


SLOT0_TYPES = ("uint160", "int24", "uint16", "uint16", "uint16", "uint8", "bool")
"""``slot0()``: sqrtPriceX96, tick, observationIndex, observationCardinality, observationCardinalityNext,
feeProtocol, unlocked."""


def token0_call(pool: str) -> Call:
    return Call(pool, "token0()", (), ("address",), f"pool {pool} token0", 5_000)


def token1_call(pool: str) -> Call:
    return Call(pool, "token1()", (), ("address",), f"pool {pool} token1", 5_000)


def fee_call(pool: str) -> Call:
    """``fee()``: the pool's fee tier in hundredths of a bip."""
    return Call(pool, "fee()", (), ("uint24",), f"pool {pool} fee", 5_000)


def get_pool_call(factory: str, token_a: str, token_b: str, fee: int) -> Call:
    """``UniswapV3Factory.getPool``: the zero address when no such pool exists."""
    return Call(factory, "getPool(address,address,uint24)", (token_a, token_b, fee), ("address",),
                f"factory {factory} getPool", 20_000)


QUOTE_EXACT_INPUT_SINGLE = "quoteExactInputSingle((address,address,uint256,uint24,uint160))"


def quote_exact_input_single_call(quoter: str, token_in: str, token_out: str, amount_in: int, fee: int) -> Call:
    """QuoterV2's quote (it simulates the swap and reverts internally; not a view, so give it gas): amountOut,
    sqrtPriceX96After, initializedTicksCrossed, gasEstimate."""
    return Call(quoter, QUOTE_EXACT_INPUT_SINGLE, ((token_in, token_out, amount_in, fee, 0),),
                ("uint256", "uint160", "uint32", "uint256"), "quoter", 2_000_000)


def slot0_call(pool: str) -> Call:
    return Call(pool, "slot0()", (), SLOT0_TYPES, f"pool {pool} slot0", 20_000)


def pool_calls(pool: str) -> list[Call]:
    """slot0, liquidity and both fee growth globals, in that order."""
    return [
        slot0_call(pool),
        Call(pool, "liquidity()", (), ("uint128",), f"pool {pool} liquidity", 10_000),
        Call(pool, "feeGrowthGlobal0X128()", (), ("uint256",), f"pool {pool} feeGrowthGlobal0", 10_000),
        Call(pool, "feeGrowthGlobal1X128()", (), ("uint256",), f"pool {pool} feeGrowthGlobal1", 10_000),
    ]


def pool_from_parts(
    pool: str, token0: str, token1: str, fee: int, parts: list[tuple[Any, ...]], ticks: dict[int, TickFees]
) -> PoolState:
    slot0, liq, fg0, fg1 = parts
    return PoolState(
        address=pool, token0=token0, token1=token1, fee=fee,
        sqrt_price_x96=int(slot0[0]), tick=int(slot0[1]),
        observation_cardinality=int(slot0[3]),
        liquidity=int(liq[0]), fee_growth_global0_x128=int(fg0[0]),
        fee_growth_global1_x128=int(fg1[0]), ticks=ticks,
    )


def tick_call(pool: str, tick: int) -> Call:
    return Call(
        pool, "ticks(int24)", (tick,),
        ("uint128", "int128", "uint256", "uint256", "int56", "uint160", "uint32", "bool"),
        f"pool {pool} tick {tick}", 25_000,
    )


def parse_tick(tick: int, value: tuple[Any, ...]) -> TickFees:
    return TickFees(
        tick=tick, fee_growth_outside0_x128=int(value[2]),
        fee_growth_outside1_x128=int(value[3]), initialized=bool(value[7]),
    )


OBSERVATION_TYPES = ("uint32", "int56", "uint160", "bool")
"""``observations(i)``: blockTimestamp, tickCumulative, secondsPerLiquidityCumulativeX128, initialized."""


def observations_call(pool: str, index: int) -> Call:
    return Call(pool, "observations(uint256)", (index,), OBSERVATION_TYPES, f"pool {pool} observation {index}", 20_000)


def observe_call(pool: str, window_s: int) -> Call:
    return Call(
        pool, "observe(uint32[])", ([window_s, 0],), ("int56[]", "uint160[]"),
        f"pool {pool} TWAP over {window_s} s", 120_000,
    )


def history_call(pool: str, seconds_agos: tuple[int, ...]) -> Call:
    """``observe(seconds_agos)``: the pool's tick cumulatives at each time (for the vol models)."""
    return Call(pool, "observe(uint32[])", (list(seconds_agos),), ("int56[]", "uint160[]"),
                f"pool {pool} history over {max(seconds_agos, default=0):,} s", 50_000 + 40_000 * len(seconds_agos))


def parse_twap(pool: str, window_s: int, value: tuple[Any, ...]) -> TwapReading:
    """Mean tick = floor((cum[now] - cum[now - window]) / window), as OracleLibrary.consult."""
    cums = value[0]
    assert isinstance(cums, (list, tuple))
    delta = int(cums[1]) - int(cums[0])
    mean = delta // window_s  # Python floors toward -inf, which is what consult's rounding amounts to
    return TwapReading(pool=pool, window_s=window_s, mean_tick=mean)


# SwapRouter (v3-periphery) ``exactInputSingle(ExactInputSingleParams)``.
EXACT_INPUT_SINGLE = "exactInputSingle((address,address,uint24,address,uint256,uint256,uint256,uint160))"
_EXACT_INPUT_SINGLE_TYPES = ["(address,address,uint24,address,uint256,uint256,uint256,uint160)"]


def exact_input_single(token_in: str, token_out: str, fee: int, recipient: str, deadline: int, amount_in: int,
                       min_out: int) -> bytes:
    """SwapRouter calldata: swap exactly ``amount_in`` for at least ``min_out``, no price limit."""
    return selector(EXACT_INPUT_SINGLE) + encode(
        _EXACT_INPUT_SINGLE_TYPES, [(token_in, token_out, fee, recipient, deadline, amount_in, min_out, 0)])


def decode_exact_input_single(data: bytes) -> tuple[str, str, int, str, int, int, int]:
    """(token_in, token_out, fee, recipient, deadline, amount_in, min_out) of ``exactInputSingle`` calldata;
    another selector raises :class:`~keeper.errors.InputError`."""
    if data[:4] != selector(EXACT_INPUT_SINGLE):
        raise InputError("data", f"calldata selector 0x{data[:4].hex()} is not {EXACT_INPUT_SINGLE}")
    (t_in, t_out, fee, recipient, deadline, amount_in, min_out, _), = decode(_EXACT_INPUT_SINGLE_TYPES, data[4:])
    return (checksum(str(t_in)), checksum(str(t_out)), int(fee), checksum(str(recipient)), int(deadline),
            int(amount_in), int(min_out))
