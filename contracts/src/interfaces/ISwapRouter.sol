// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice The Uniswap v3 periphery SwapRouter (v1, `@uniswap/v3-periphery` 1.x) single-pool exact-input swap.
/// @dev Amounts are raw token units. The router pulls `amountIn` of `tokenIn` from `msg.sender` with
///      `transferFrom` and sends the output to `recipient`; it reverts ("Too little received") if the
///      output is below `amountOutMinimum`, and ("Transaction too old") if `block.timestamp > deadline`.
interface ISwapRouter {
    struct ExactInputSingleParams {
        address tokenIn;
        address tokenOut;
        uint24 fee; // pool fee tier in hundredths of a bip (500 = 0.05%, 3000 = 0.3%)
        address recipient;
        uint256 deadline; // unix seconds
        uint256 amountIn; // raw units of tokenIn
        uint256 amountOutMinimum; // raw units of tokenOut
        uint160 sqrtPriceLimitX96; // 0 = no limit
    }

    /// @return amountOut Raw units of `tokenOut` sent to `recipient`.
    function exactInputSingle(ExactInputSingleParams calldata params) external payable returns (uint256 amountOut);
}
