"""Uniswap v3 position math: exact integer amounts and fees, and float greeks.

Exact part (Python ints, bit-exact with the contracts)
------------------------------------------------------
* ``SqrtPriceMath.getAmount0Delta / getAmount1Delta`` with either rounding;
* periphery ``LiquidityAmounts.getAmountsForLiquidity`` (rounds down, picks the
  branch by **sqrt price**);
* :func:`position_amounts`: what the pool pays when the whole liquidity is
  burnt (``_modifyPosition`` with a negative delta rounds **down**; the branch
  is picked by the pool's **current tick**, ``tick < tickLower`` -> all token0,
  ``tick < tickUpper`` -> both, else all token1). This equals a static call of
  ``NonfungiblePositionManager.decreaseLiquidity`` for the full liquidity;
* :func:`fee_growth_inside` (``Tick.getFeeGrowthInside``, uint256 wrap-around)
  and :func:`collectable_fees` (``Position.update`` / the NPM's ``collect``).

Float part (numpy, vectorized over positions)
---------------------------------------------
With ``P`` the raw price (token1 units per token0 unit), range ``[pa, pb]`` and
liquidity ``L``, in range::

    amount0 = L (1/sqrt P - 1/sqrt pb),   amount1 = L (sqrt P - sqrt pa)
    V = amount0 P + amount1 = L (2 sqrt P - P / sqrt pb - sqrt pa)     (token1 units)
    dV/dP = amount0,   d2V/dP2 = -L / (2 P^1.5)                        (an LP is short gamma)

below the range everything is token0 (delta ``L (1/sqrt pa - 1/sqrt pb)``), above
it everything is token1 (delta 0); gamma is 0 outside. When the *underlying*
(risky asset) is token1, its price in token0 is ``S = 1/P`` and the same
formulas hold with the roles of the tokens swapped: ``V(S) = amount0 + amount1 S``,
delta ``= amount1``, gamma ``= -L / (2 S^1.5)`` in raw units. :func:`lp_greeks`
handles both orientations and the decimals.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keeper.core.tick_math import (
    MAX_TICK,
    MIN_TICK,
    Q96,
    Q128,
    UINT128_MAX,
    UINT160_MAX,
    UINT256_MAX,
    get_sqrt_ratio_at_tick,
    mul_div,
    mul_div_rounding_up,
)
from keeper.errors import InputError

__all__ = [
    "LPGreeks",
    "collectable_fees",
    "fee_growth_inside",
    "from_raw",
    "get_amount0_delta",
    "get_amount1_delta",
    "get_amounts_for_liquidity",
    "lp_greeks",
    "npm_collect_amounts",
    "position_amounts",
    "price_to_sqrt_price_x96",
    "sqrt_price_x96_to_price",
    "tick_to_price",
    "to_raw",
    "v4_fees_owed",
]

FloatArray = NDArray[np.float64]
_HALF_LN_1_0001: Final = 0.5 * math.log(1.0001)


def _uint(name: str, value: int, bits: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, f"must be an int (got {type(value).__name__})")
    if value < 0 or value >> bits:
        raise InputError(name, f"must be a uint{bits} (got {value})")


def _tick(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(name, f"must be an int (got {type(value).__name__})")
    if not MIN_TICK <= value <= MAX_TICK:
        raise InputError(name, f"must be in [{MIN_TICK}, {MAX_TICK}] (got {value})")


# --------------------------------------------------------------------------- exact amounts


def get_amount0_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """SqrtPriceMath.getAmount0Delta: ``L 2^96 (sqrt_b - sqrt_a) / (sqrt_b sqrt_a)``.

    Rounded up (``round_up=True``, what a mint charges) or down (what a burn
    pays). The two sqrt prices may come in either order. Raw token0 units.
    """
    _uint("sqrt_ratio_a_x96", sqrt_ratio_a_x96, 160)
    _uint("sqrt_ratio_b_x96", sqrt_ratio_b_x96, 160)
    _uint("liquidity", liquidity, 128)
    lo, hi = sorted((sqrt_ratio_a_x96, sqrt_ratio_b_x96))
    if lo == 0:
        raise InputError("sqrt_ratio_a_x96", "sqrt prices must be > 0")
    num1 = liquidity << 96
    num2 = hi - lo
    if round_up:
        q = mul_div_rounding_up(num1, num2, hi)
        return q // lo + (1 if q % lo else 0)
    return mul_div(num1, num2, hi) // lo


def get_amount1_delta(sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int, round_up: bool) -> int:
    """SqrtPriceMath.getAmount1Delta: ``L (sqrt_b - sqrt_a) / 2^96``, rounded up or down. Raw token1 units."""
    _uint("sqrt_ratio_a_x96", sqrt_ratio_a_x96, 160)
    _uint("sqrt_ratio_b_x96", sqrt_ratio_b_x96, 160)
    _uint("liquidity", liquidity, 128)
    lo, hi = sorted((sqrt_ratio_a_x96, sqrt_ratio_b_x96))
    if round_up:
        return mul_div_rounding_up(liquidity, hi - lo, Q96)
    return mul_div(liquidity, hi - lo, Q96)


def get_amounts_for_liquidity(
    sqrt_price_x96: int, sqrt_ratio_a_x96: int, sqrt_ratio_b_x96: int, liquidity: int
) -> tuple[int, int]:
    """Periphery ``LiquidityAmounts.getAmountsForLiquidity`` (rounds down; branch by sqrt price).

    Returns
    -------
    (amount0, amount1) : tuple of int
        Raw token units.
    """
    _uint("sqrt_price_x96", sqrt_price_x96, 160)
    lo, hi = sorted((sqrt_ratio_a_x96, sqrt_ratio_b_x96))
    if sqrt_price_x96 <= lo:
        return get_amount0_delta(lo, hi, liquidity, False), 0
    if sqrt_price_x96 < hi:
        return (get_amount0_delta(sqrt_price_x96, hi, liquidity, False),
                get_amount1_delta(lo, sqrt_price_x96, liquidity, False))
    return 0, get_amount1_delta(lo, hi, liquidity, False)


def position_amounts(
    sqrt_price_x96: int, tick_current: int, tick_lower: int, tick_upper: int, liquidity: int
) -> tuple[int, int]:
    """Token amounts the pool pays for burning ``liquidity`` of a position (fees excluded).

    Mirrors ``UniswapV3Pool._modifyPosition`` with ``liquidityDelta = -liquidity``:
    amounts round **down**, and the branch is chosen by ``tick_current`` (the
    pool's ``slot0.tick``), not by the sqrt price -- the two can disagree at a
    tick boundary. Equals a static call of the position manager's
    ``decreaseLiquidity`` for the position's full liquidity.

    Parameters
    ----------
    sqrt_price_x96 : int
        ``slot0.sqrtPriceX96``.
    tick_current : int
        ``slot0.tick``.
    tick_lower, tick_upper : int
        The position's range, ``tick_lower < tick_upper``.
    liquidity : int
        uint128 liquidity to burn.

    Returns
    -------
    (amount0, amount1) : tuple of int
        Raw token units.
    """
    _tick("tick_current", tick_current)
    _tick("tick_lower", tick_lower)
    _tick("tick_upper", tick_upper)
    if tick_lower >= tick_upper:
        raise InputError("tick_lower", f"must be < tick_upper ({tick_lower} >= {tick_upper})")
    sa, sb = get_sqrt_ratio_at_tick(tick_lower), get_sqrt_ratio_at_tick(tick_upper)
    if tick_current < tick_lower:
        return get_amount0_delta(sa, sb, liquidity, False), 0
    if tick_current < tick_upper:
        return (get_amount0_delta(sqrt_price_x96, sb, liquidity, False),
                get_amount1_delta(sa, sqrt_price_x96, liquidity, False))
    return 0, get_amount1_delta(sa, sb, liquidity, False)


# --------------------------------------------------------------------------- exact fees


def fee_growth_inside(
    tick_current: int, tick_lower: int, tick_upper: int,
    fee_growth_global0_x128: int, fee_growth_global1_x128: int,
    lower_outside0_x128: int, lower_outside1_x128: int,
    upper_outside0_x128: int, upper_outside1_x128: int,
) -> tuple[int, int]:
    """``Tick.getFeeGrowthInside``: fee growth per unit liquidity inside the range, Q128.128.

    All arithmetic is uint256 modulo ``2^256`` (the contract relies on
    wrap-around: the values are meaningful only as differences).

    Returns
    -------
    (inside0_x128, inside1_x128) : tuple of int
    """
    _tick("tick_current", tick_current)
    _tick("tick_lower", tick_lower)
    _tick("tick_upper", tick_upper)
    for name, v in (("fee_growth_global0_x128", fee_growth_global0_x128),
                    ("fee_growth_global1_x128", fee_growth_global1_x128),
                    ("lower_outside0_x128", lower_outside0_x128), ("lower_outside1_x128", lower_outside1_x128),
                    ("upper_outside0_x128", upper_outside0_x128), ("upper_outside1_x128", upper_outside1_x128)):
        _uint(name, v, 256)
    out = []
    for glob, lower, upper in ((fee_growth_global0_x128, lower_outside0_x128, upper_outside0_x128),
                               (fee_growth_global1_x128, lower_outside1_x128, upper_outside1_x128)):
        below = lower if tick_current >= tick_lower else (glob - lower) & UINT256_MAX
        above = upper if tick_current < tick_upper else (glob - upper) & UINT256_MAX
        out.append((glob - below - above) & UINT256_MAX)
    return out[0], out[1]


def collectable_fees(
    liquidity: int,
    fee_growth_inside0_x128: int, fee_growth_inside1_x128: int,
    fee_growth_inside0_last_x128: int, fee_growth_inside1_last_x128: int,
    tokens_owed0: int = 0, tokens_owed1: int = 0,
) -> tuple[int, int]:
    """Fees owed to a position: ``tokensOwed + mulDiv(inside - insideLast mod 2^256, L, 2^128)``.

    This is ``Position.update`` in the pool and the fee step of the
    NonfungiblePositionManager's ``collect``/``decreaseLiquidity``. The NPM stores
    ``tokensOwed`` as uint128: each accrual is cast with ``uint128(...)``
    (truncation mod ``2^128``) and added without overflow check (Solidity 0.7),
    so the sums wrap modulo ``2^128`` -- reproduced here.

    Parameters
    ----------
    liquidity : int
        The position's uint128 liquidity.
    fee_growth_inside{0,1}_x128 : int
        Current fee growth inside the range (:func:`fee_growth_inside`).
    fee_growth_inside{0,1}_last_x128 : int
        The position's checkpoint (``positions(tokenId)`` for the NPM).
    tokens_owed0, tokens_owed1 : int
        Fees already credited (``positions(tokenId).tokensOwed0/1``).

    Returns
    -------
    (fees0, fees1) : tuple of int
        Raw token units.
    """
    _uint("liquidity", liquidity, 128)
    _uint("tokens_owed0", tokens_owed0, 128)
    _uint("tokens_owed1", tokens_owed1, 128)
    res = []
    for name, now, last, owed in (
        ("fee_growth_inside0", fee_growth_inside0_x128, fee_growth_inside0_last_x128, tokens_owed0),
        ("fee_growth_inside1", fee_growth_inside1_x128, fee_growth_inside1_last_x128, tokens_owed1),
    ):
        _uint(f"{name}_x128", now, 256)
        _uint(f"{name}_last_x128", last, 256)
        accrued = mul_div((now - last) & UINT256_MAX, liquidity, Q128) & UINT128_MAX
        res.append((owed + accrued) & UINT128_MAX)
    return res[0], res[1]


def npm_collect_amounts(
    liquidity: int, tick_current: int, tick_lower: int, tick_upper: int,
    fee_growth_global0_x128: int, fee_growth_global1_x128: int,
    lower_outside0_x128: int, lower_outside1_x128: int,
    upper_outside0_x128: int, upper_outside1_x128: int,
    fee_growth_inside0_last_x128: int, fee_growth_inside1_last_x128: int,
    tokens_owed0: int, tokens_owed1: int,
) -> tuple[int, int]:
    """What a static ``NonfungiblePositionManager.collect`` (max amounts) returns.

    ``collect`` first pokes the pool (``burn(0)``, only when ``liquidity > 0``),
    which brings the pool's fee growth inside up to date; the NPM then credits
    ``mulDiv(inside_now - position.feeGrowthInsideLast, L, 2^128)`` to its stored
    ``tokensOwed``. Inputs: ``positions(tokenId)`` of the NPM, the pool's
    ``slot0.tick`` and ``feeGrowthGlobal{0,1}X128``, and ``ticks(lower/upper)``'s
    ``feeGrowthOutside{0,1}X128``. Raw token units.
    """
    if liquidity == 0:
        _uint("tokens_owed0", tokens_owed0, 128)
        _uint("tokens_owed1", tokens_owed1, 128)
        return tokens_owed0, tokens_owed1
    inside0, inside1 = fee_growth_inside(
        tick_current, tick_lower, tick_upper, fee_growth_global0_x128, fee_growth_global1_x128,
        lower_outside0_x128, lower_outside1_x128, upper_outside0_x128, upper_outside1_x128,
    )
    return collectable_fees(liquidity, inside0, inside1, fee_growth_inside0_last_x128,
                            fee_growth_inside1_last_x128, tokens_owed0, tokens_owed1)


def v4_fees_owed(
    liquidity: int, fee_growth_inside0_x128: int, fee_growth_inside1_x128: int,
    fee_growth_inside0_last_x128: int, fee_growth_inside1_last_x128: int,
) -> tuple[int, int]:
    """Fees a Uniswap v4 position is owed: ``mulDiv(inside - insideLast mod 2^256, L, 2^128)`` per token.

    v4-core's ``Position.update``: there is no ``tokensOwed`` (v4 pays fees out on every modification),
    and the PoolManager casts each amount with ``toInt128`` (a revert above ``2^127 - 1``), mirrored
    here as an :class:`~keeper.errors.InputError`. Raw token units.
    """
    _uint("liquidity", liquidity, 128)
    out = []
    for name, now, last in (("fee_growth_inside0", fee_growth_inside0_x128, fee_growth_inside0_last_x128),
                            ("fee_growth_inside1", fee_growth_inside1_x128, fee_growth_inside1_last_x128)):
        _uint(f"{name}_x128", now, 256)
        _uint(f"{name}_last_x128", last, 256)
        owed = mul_div((now - last) & UINT256_MAX, liquidity, Q128)
        if owed >= 1 << 127:
            raise InputError(name, f"fees owed {owed} exceed int128: the PoolManager would revert (SafeCast)")
        out.append(owed)
    return out[0], out[1]


# --------------------------------------------------------------------------- units


def from_raw(amount: ArrayLike, decimals: int) -> FloatArray:
    """Raw integer token units to human units: ``amount / 10^decimals`` (float64)."""
    _uint("decimals", decimals, 8)
    return np.asarray(amount, dtype=np.float64) / (10.0 ** decimals)


def to_raw(amount: Decimal | str | int | float, decimals: int) -> int:
    """Human units to raw integer units, ``amount * 10^decimals`` rounded toward zero.

    Exact for ``Decimal``, ``str`` and ``int``; a float goes through its shortest
    ``repr`` (so ``to_raw(0.1, 18) == 10**17``).
    """
    _uint("decimals", decimals, 8)
    try:
        dec = Decimal(str(amount)) if isinstance(amount, float) else Decimal(amount)
    except InvalidOperation as exc:
        raise InputError("amount", f"not a number: {amount!r}") from exc
    if not dec.is_finite():
        raise InputError("amount", "must be finite")
    # Integer arithmetic on the digits: Decimal arithmetic would round to the context's 28 digits.
    sign, digits, exponent = dec.as_tuple()
    magnitude = int("".join(map(str, digits)))
    shift = int(exponent) + decimals
    raw: int = magnitude * 10**shift if shift >= 0 else magnitude // 10**-shift
    return -raw if sign else raw


def sqrt_price_x96_to_price(sqrt_price_x96: int, decimals0: int, decimals1: int) -> float:
    """Human price of token0 in token1: ``(sqrtPriceX96 / 2^96)^2 * 10^(decimals0 - decimals1)``."""
    _uint("sqrt_price_x96", sqrt_price_x96, 160)
    _uint("decimals0", decimals0, 8)
    _uint("decimals1", decimals1, 8)
    ratio = (sqrt_price_x96 / Q96) ** 2
    return ratio * 10.0 ** (decimals0 - decimals1)


def tick_to_price(tick: float, decimals0: int, decimals1: int) -> float:
    """Human price of token0 in token1 at ``tick`` (or a mean tick): ``1.0001^tick * 10^(decimals0 - decimals1)``."""
    return math.exp(tick * math.log(1.0001)) * 10.0 ** (decimals0 - decimals1)


def price_to_sqrt_price_x96(price: float, decimals0: int, decimals1: int) -> int:
    """Inverse of :func:`sqrt_price_x96_to_price` (float precision, about 1e-16 relative)."""
    if not (math.isfinite(price) and price > 0):
        raise InputError("price", f"must be finite and > 0 (got {price})")
    raw = price * 10.0 ** (decimals1 - decimals0)
    value = round(math.sqrt(raw) * Q96)
    if not 0 < value <= UINT160_MAX:
        raise InputError("price", "sqrtPriceX96 out of uint160 range")
    return value


# --------------------------------------------------------------------------- float greeks


@dataclass(frozen=True, slots=True)
class LPGreeks:
    """Value and greeks of LP positions in human units (arrays, broadcast shape).

    Attributes
    ----------
    value : quote currency (the non-underlying token), fees excluded.
    delta : dV/dS in units of the underlying token (= the underlying amount held).
    gamma : d2V/dS2 in underlying units per unit of quote price (<= 0).
    amount0, amount1 : token0 and token1 held, human units.
    """

    value: FloatArray
    delta: FloatArray
    gamma: FloatArray
    amount0: FloatArray
    amount1: FloatArray


def lp_greeks(
    liquidity: ArrayLike, tick_lower: ArrayLike, tick_upper: ArrayLike, spot: ArrayLike,
    *, underlying_is_token0: bool = True, decimals0: int = 18, decimals1: int = 18,
) -> LPGreeks:
    """Value, delta and gamma of many Uniswap v3 positions at once.

    Parameters
    ----------
    liquidity : array_like
        Raw liquidity ``L`` (the uint128 as a float).
    tick_lower, tick_upper : array_like of int
        Range ticks, ``tick_lower < tick_upper``.
    spot : array_like
        Price of the **underlying** in the **quote** token, human units (e.g.
        3000.0 USDC per WETH), whichever of token0/token1 the underlying is.
    underlying_is_token0 : bool
        True when the risky asset is token0 (pool price = spot); False when it
        is token1 (pool price token1-per-token0 = 1/spot, handled by inversion).
    decimals0, decimals1 : int
        Token decimals (WETH 18, USDC 6).

    Returns
    -------
    LPGreeks
        In range the position holds both tokens; the branch is chosen by price
        against ``1.0001^tick`` bounds.

    Raises
    ------
    InputError
        Non-finite or non-positive spot, negative liquidity, ``tick_lower >= tick_upper``
        or ticks out of range.
    """
    liq = np.asarray(liquidity, dtype=np.float64)
    tl = np.asarray(tick_lower, dtype=np.float64)
    tu = np.asarray(tick_upper, dtype=np.float64)
    s = np.asarray(spot, dtype=np.float64)
    _uint("decimals0", decimals0, 8)
    _uint("decimals1", decimals1, 8)
    if liq.size and not (np.min(liq) >= 0.0 and np.max(liq) < math.inf):
        raise InputError("liquidity", "must be finite and >= 0")
    if s.size and not (np.min(s) > 0.0 and np.max(s) < math.inf):
        raise InputError("spot", "must be finite and > 0")
    if tl.size and tu.size and not (np.min(tl) >= MIN_TICK and np.max(tu) <= MAX_TICK):
        raise InputError("tick_lower", f"ticks must lie in [{MIN_TICK}, {MAX_TICK}]")
    if np.any(tl >= tu):
        raise InputError("tick_lower", "must be < tick_upper")
    c = 10.0 ** (decimals1 - decimals0)  # raw price = human price * c (token1 per token0)
    # sqrt of the raw pool price (token1 per token0) and of the bounds
    sqrt_p = np.sqrt(s * c) if underlying_is_token0 else np.sqrt(c / s)
    sqrt_a = np.exp(tl * _HALF_LN_1_0001)
    sqrt_b = np.exp(tu * _HALF_LN_1_0001)
    sp = np.minimum(np.maximum(sqrt_p, sqrt_a), sqrt_b)  # clamped price: out of range -> a bound
    amount0_raw = liq * (1.0 / sp - 1.0 / sqrt_b)
    amount1_raw = liq * (sp - sqrt_a)
    in_range = (sqrt_p > sqrt_a) & (sqrt_p < sqrt_b)
    scale0, scale1 = 10.0 ** -decimals0, 10.0 ** -decimals1
    amount0 = amount0_raw * scale0
    amount1 = amount1_raw * scale1
    if underlying_is_token0:
        value = amount0 * s + amount1
        delta = amount0
        # d amount0 / d spot = -L/2 P^-1.5 * c / 10^d0,  P = sqrt_p^2
        gamma = np.where(in_range, -0.5 * liq * c * scale0 / (sqrt_p * sqrt_p * sqrt_p), 0.0)
    else:
        value = amount0 + amount1 * s
        delta = amount1
        # amount1 = L (sqrt P - sqrt pa) / 10^d1,  P = c / S:  d/dS = -L c / (2 sqrt P S^2) / 10^d1
        gamma = np.where(in_range, -0.5 * liq * c * scale1 / (sqrt_p * s * s), 0.0)
    return LPGreeks(
        np.asarray(value, dtype=np.float64), np.asarray(delta, dtype=np.float64),
        np.asarray(gamma, dtype=np.float64), np.asarray(amount0, dtype=np.float64),
        np.asarray(amount1, dtype=np.float64),
    )
