// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";

/// @notice The part of a Uniswap v3 pool the TWAP reads.
interface IUniswapV3PoolOracle {
    /// @return tickCumulatives Cumulative tick (tick x seconds) at each `secondsAgos[i]` before now.
    function observe(uint32[] calldata secondsAgos)
        external
        view
        returns (int56[] memory tickCumulatives, uint160[] memory secondsPerLiquidityCumulativeX128s);
}

/// @title HedgeTwap
/// @notice A Uniswap v3 time-weighted mean tick and the quote at a tick, written for solc 0.8 after the
///         published formulas of v3-core `TickMath.getSqrtRatioAtTick` and v3-periphery `OracleLibrary`
///         (`consult` and `getQuoteAtTick`). Price at tick t: 1.0001^t raw token1 per raw token0.
library HedgeTwap {
    int24 internal constant MAX_TICK = 887272;

    error TickOutOfRange(int256 tick);

    /// @notice Arithmetic mean tick over the last `secondsAgo` seconds, rounded toward negative infinity.
    ///         Reverts (the pool's "OLD") when the pool's observations do not reach that far back.
    function meanTick(address pool, uint32 secondsAgo) internal view returns (int24) {
        uint32[] memory ago = new uint32[](2);
        ago[0] = secondsAgo;
        (int56[] memory cum,) = IUniswapV3PoolOracle(pool).observe(ago);
        int56 delta = cum[1] - cum[0];
        int56 mean = delta / int56(uint56(secondsAgo));
        if (delta < 0 && delta % int56(uint56(secondsAgo)) != 0) mean--;
        return int24(mean);
    }

    /// @notice sqrt(1.0001^tick) as Q64.96 (TickMath.getSqrtRatioAtTick, same constants, same rounding).
    function sqrtRatioAtTick(int24 tick) internal pure returns (uint160) {
        unchecked {
            uint256 absTick = tick < 0 ? uint256(-int256(tick)) : uint256(int256(tick));
            if (absTick > uint256(int256(MAX_TICK))) revert TickOutOfRange(tick);
            uint256 ratio =
                absTick & 0x1 != 0 ? 0xfffcb933bd6fad37aa2d162d1a594001 : 0x100000000000000000000000000000000;
            if (absTick & 0x2 != 0) ratio = (ratio * 0xfff97272373d413259a46990580e213a) >> 128;
            if (absTick & 0x4 != 0) ratio = (ratio * 0xfff2e50f5f656932ef12357cf3c7fdcc) >> 128;
            if (absTick & 0x8 != 0) ratio = (ratio * 0xffe5caca7e10e4e61c3624eaa0941cd0) >> 128;
            if (absTick & 0x10 != 0) ratio = (ratio * 0xffcb9843d60f6159c9db58835c926644) >> 128;
            if (absTick & 0x20 != 0) ratio = (ratio * 0xff973b41fa98c081472e6896dfb254c0) >> 128;
            if (absTick & 0x40 != 0) ratio = (ratio * 0xff2ea16466c96a3843ec78b326b52861) >> 128;
            if (absTick & 0x80 != 0) ratio = (ratio * 0xfe5dee046a99a2a811c461f1969c3053) >> 128;
            if (absTick & 0x100 != 0) ratio = (ratio * 0xfcbe86c7900a88aedcffc83b479aa3a4) >> 128;
            if (absTick & 0x200 != 0) ratio = (ratio * 0xf987a7253ac413176f2b074cf7815e54) >> 128;
            if (absTick & 0x400 != 0) ratio = (ratio * 0xf3392b0822b70005940c7a398e4b70f3) >> 128;
            if (absTick & 0x800 != 0) ratio = (ratio * 0xe7159475a2c29b7443b29c7fa6e889d9) >> 128;
            if (absTick & 0x1000 != 0) ratio = (ratio * 0xd097f3bdfd2022b8845ad8f792aa5825) >> 128;
            if (absTick & 0x2000 != 0) ratio = (ratio * 0xa9f746462d870fdf8a65dc1f90e061e5) >> 128;
            if (absTick & 0x4000 != 0) ratio = (ratio * 0x70d869a156d2a1b890bb3df62baf32f7) >> 128;
            if (absTick & 0x8000 != 0) ratio = (ratio * 0x31be135f97d08fd981231505542fcfa6) >> 128;
            if (absTick & 0x10000 != 0) ratio = (ratio * 0x9aa508b5b7a84e1c677de54f3e99bc9) >> 128;
            if (absTick & 0x20000 != 0) ratio = (ratio * 0x5d6af8dedb81196699c329225ee604) >> 128;
            if (absTick & 0x40000 != 0) ratio = (ratio * 0x2216e584f5fa1ea926041bedfe98) >> 128;
            if (absTick & 0x80000 != 0) ratio = (ratio * 0x48a170391f7dc42444e8fa2) >> 128;
            if (tick > 0) ratio = type(uint256).max / ratio;
            return uint160((ratio >> 32) + (ratio % (1 << 32) == 0 ? 0 : 1));
        }
    }

    /// @notice Raw `quoteToken` units worth `baseAmount` raw `baseToken` units at `tick` (OracleLibrary.getQuoteAtTick).
    function quoteAtTick(int24 tick, uint128 baseAmount, address baseToken, address quoteToken)
        internal
        pure
        returns (uint256)
    {
        uint160 sqrtRatioX96 = sqrtRatioAtTick(tick);
        if (sqrtRatioX96 <= type(uint128).max) {
            uint256 ratioX192 = uint256(sqrtRatioX96) * sqrtRatioX96;
            return baseToken < quoteToken
                ? Math.mulDiv(ratioX192, baseAmount, 1 << 192)
                : Math.mulDiv(1 << 192, baseAmount, ratioX192);
        }
        uint256 ratioX128 = Math.mulDiv(sqrtRatioX96, sqrtRatioX96, 1 << 64);
        return baseToken < quoteToken
            ? Math.mulDiv(ratioX128, baseAmount, 1 << 128)
            : Math.mulDiv(1 << 128, baseAmount, ratioX128);
    }

    /// @notice Output (raw `tokenOut` units) for `amountIn` raw `tokenIn` units at the pool's mean tick over
    ///         `secondsAgo` seconds. `amountIn` must fit in 128 bits.
    function quote(address pool, uint32 secondsAgo, address tokenIn, address tokenOut, uint256 amountIn)
        internal
        view
        returns (uint256)
    {
        return quoteAtTick(meanTick(pool, secondsAgo), uint128(amountIn), tokenIn, tokenOut);
    }
}
