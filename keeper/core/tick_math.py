"""Uniswap v3 TickMath and FullMath in exact integer arithmetic (Python ints).

Bit-exact with ``v3-core`` ``libraries/TickMath.sol`` and ``FullMath.sol``:

* ``sqrtPriceX96 = sqrt(1.0001^tick) * 2^96`` as a Q64.96 fixed-point number,
  computed the way the contract does: a product of precomputed Q128.128
  factors ``2^128 / sqrt(1.0001)^(2^i)``, one per set bit of ``|tick|``,
  inverted for positive ticks, then shifted to Q64.96 **rounding up**.
* The inverse returns the **greatest** tick whose sqrt ratio is ``<=`` the input,
  through the contract's fixed-point ``log2`` (14 squaring steps) scaled by
  ``1 / log2(sqrt(1.0001))`` and two error bounds that bracket the tick.

The magic constants are facts from the published contract. Everything else
here (structure, names) is this project's own. Out-of-range inputs raise
:class:`keeper.errors.InputError` naming the argument (the contract reverts
with ``'T'`` / ``'R'``).
"""

from __future__ import annotations

from typing import Final

from keeper.errors import InputError

__all__ = [
    "MAX_SQRT_RATIO",
    "MAX_TICK",
    "MIN_SQRT_RATIO",
    "MIN_TICK",
    "Q96",
    "Q128",
    "UINT128_MAX",
    "UINT256_MAX",
    "get_sqrt_ratio_at_tick",
    "get_tick_at_sqrt_ratio",
    "mul_div",
    "mul_div_rounding_up",
    "nearest_usable_tick",
]

MIN_TICK: Final = -887272
"""Lowest tick: ``log_1.0001(2^-128)`` rounded toward zero."""
MAX_TICK: Final = 887272
"""Highest tick."""
MIN_SQRT_RATIO: Final = 4295128739
"""``get_sqrt_ratio_at_tick(MIN_TICK)``."""
MAX_SQRT_RATIO: Final = 1461446703485210103287273052203988822378723970342
"""``get_sqrt_ratio_at_tick(MAX_TICK)`` (as in TickMath.sol; the inverse accepts values below it)."""
Q96: Final = 1 << 96
Q128: Final = 1 << 128
UINT128_MAX: Final = (1 << 128) - 1
UINT256_MAX: Final = (1 << 256) - 1
UINT160_MAX: Final = (1 << 160) - 1

# Q128.128 factors 2^128 / 1.0001^(2^i / 2) for bits i = 0..19 of |tick| (TickMath.sol).
_BIT_FACTORS: Final = (
    0xFFFCB933BD6FAD37AA2D162D1A594001,
    0xFFF97272373D413259A46990580E213A,
    0xFFF2E50F5F656932EF12357CF3C7FDCC,
    0xFFE5CACA7E10E4E61C3624EAA0941CD0,
    0xFFCB9843D60F6159C9DB58835C926644,
    0xFF973B41FA98C081472E6896DFB254C0,
    0xFF2EA16466C96A3843EC78B326B52861,
    0xFE5DEE046A99A2A811C461F1969C3053,
    0xFCBE86C7900A88AEDCFFC83B479AA3A4,
    0xF987A7253AC413176F2B074CF7815E54,
    0xF3392B0822B70005940C7A398E4B70F3,
    0xE7159475A2C29B7443B29C7FA6E889D9,
    0xD097F3BDFD2022B8845AD8F792AA5825,
    0xA9F746462D870FDF8A65DC1F90E061E5,
    0x70D869A156D2A1B890BB3DF62BAF32F7,
    0x31BE135F97D08FD981231505542FCFA6,
    0x9AA508B5B7A84E1C677DE54F3E99BC9,
    0x5D6AF8DEDB81196699C329225EE604,
    0x2216E584F5FA1EA926041BEDFE98,
    0x48A170391F7DC42444E8FA2,
)
# 2^64 / log2(sqrt(1.0001)) as a Q64 multiplier, and the two error bounds (TickMath.sol).
_LOG_SQRT10001_MUL: Final = 255738958999603826347141
_TICK_LOW_ERR: Final = 3402992956809132418596140100660247210
_TICK_HI_ERR: Final = 291339464771989622907027621153398088495


def _require_int(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, f"must be an int (got {type(value).__name__})")


def get_sqrt_ratio_at_tick(tick: int) -> int:
    """``sqrt(1.0001^tick) * 2^96`` as the pool computes it (Q64.96, uint160).

    Parameters
    ----------
    tick : int
        ``MIN_TICK <= tick <= MAX_TICK``.

    Returns
    -------
    int
        ``sqrtPriceX96``; ``MIN_SQRT_RATIO`` at ``MIN_TICK``, ``2^96`` at 0,
        ``MAX_SQRT_RATIO`` at ``MAX_TICK``.

    Raises
    ------
    InputError
        ``tick`` outside ``[MIN_TICK, MAX_TICK]`` or not an int.
    """
    _require_int("tick", tick)
    abs_tick = -tick if tick < 0 else tick
    if abs_tick > MAX_TICK:
        raise InputError("tick", f"|tick| must be <= {MAX_TICK} (got {tick})")
    ratio = _BIT_FACTORS[0] if abs_tick & 1 else Q128
    bit = 1
    for factor in _BIT_FACTORS[1:]:
        if abs_tick & (1 << bit):
            ratio = (ratio * factor) >> 128
        bit += 1
    if tick > 0:
        ratio = UINT256_MAX // ratio
    # Q128.128 -> Q64.96, rounding up
    return (ratio >> 32) + (0 if ratio & 0xFFFFFFFF == 0 else 1)


def get_tick_at_sqrt_ratio(sqrt_price_x96: int) -> int:
    """Greatest tick with ``get_sqrt_ratio_at_tick(tick) <= sqrt_price_x96``.

    Parameters
    ----------
    sqrt_price_x96 : int
        ``MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO``.

    Returns
    -------
    int
        The tick, bit-exact with ``TickMath.getTickAtSqrtRatio``.

    Raises
    ------
    InputError
        Out-of-range or non-int input.
    """
    _require_int("sqrt_price_x96", sqrt_price_x96)
    if not (MIN_SQRT_RATIO <= sqrt_price_x96 < MAX_SQRT_RATIO):
        raise InputError(
            "sqrt_price_x96", f"must be in [MIN_SQRT_RATIO, MAX_SQRT_RATIO) (got {sqrt_price_x96})"
        )
    ratio = sqrt_price_x96 << 32  # Q128.128
    msb = ratio.bit_length() - 1
    r = ratio >> (msb - 127) if msb >= 128 else ratio << (127 - msb)
    log_2 = (msb - 128) << 64  # Q64.64, integer part
    for shift in range(63, 49, -1):  # 14 fractional bits by repeated squaring
        r = (r * r) >> 127
        f = r >> 128
        log_2 |= f << shift
        r >>= f
    log_sqrt10001 = log_2 * _LOG_SQRT10001_MUL  # Q128.128
    tick_low = (log_sqrt10001 - _TICK_LOW_ERR) >> 128
    tick_hi = (log_sqrt10001 + _TICK_HI_ERR) >> 128
    if tick_low == tick_hi:
        return tick_low
    return tick_hi if get_sqrt_ratio_at_tick(tick_hi) <= sqrt_price_x96 else tick_low


def nearest_usable_tick(tick: int, tick_spacing: int) -> int:
    """The multiple of ``tick_spacing`` nearest to ``tick`` (ties away from zero), clamped into range.

    Parameters
    ----------
    tick : int
    tick_spacing : int
        Positive pool tick spacing (1, 10, 60, 200, ...).
    """
    _require_int("tick", tick)
    _require_int("tick_spacing", tick_spacing)
    if tick_spacing <= 0:
        raise InputError("tick_spacing", f"must be > 0 (got {tick_spacing})")
    if not MIN_TICK <= tick <= MAX_TICK:
        raise InputError("tick", f"must be in [{MIN_TICK}, {MAX_TICK}] (got {tick})")
    q, rem = divmod(abs(tick), tick_spacing)
    mag = (q + (1 if 2 * rem >= tick_spacing else 0)) * tick_spacing
    rounded = mag if tick >= 0 else -mag
    if rounded < MIN_TICK:
        return rounded + tick_spacing
    if rounded > MAX_TICK:
        return rounded - tick_spacing
    return rounded


def _check_uint(name: str, value: int, bits: int) -> None:
    _require_int(name, value)
    if value < 0 or value >> bits:
        raise InputError(name, f"must be a uint{bits} (got {value})")


def mul_div(a: int, b: int, denominator: int) -> int:
    """FullMath.mulDiv: ``floor(a * b / denominator)`` with a 512-bit intermediate.

    Raises
    ------
    InputError
        Any argument not a uint256, ``denominator == 0`` or a result that
        overflows uint256 (where the contract reverts).
    """
    _check_uint("a", a, 256)
    _check_uint("b", b, 256)
    _check_uint("denominator", denominator, 256)
    if denominator == 0:
        raise InputError("denominator", "must be > 0")
    result = (a * b) // denominator
    if result > UINT256_MAX:
        raise InputError("denominator", "result overflows uint256")
    return result


def mul_div_rounding_up(a: int, b: int, denominator: int) -> int:
    """FullMath.mulDivRoundingUp: ``ceil(a * b / denominator)``; same errors as :func:`mul_div`."""
    result = mul_div(a, b, denominator)
    if (a * b) % denominator:
        if result == UINT256_MAX:
            raise InputError("denominator", "result overflows uint256")
        result += 1
    return result
