// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice A Uniswap v4 pool key (v4-core `PoolKey`: Currency and IHooks are addresses in the ABI; native ETH is
///         currency 0 = address(0)).
struct PoolKey {
    address currency0;
    address currency1;
    uint24 fee;
    int24 tickSpacing;
    address hooks;
}

/// @notice The subset of UniversalRouter 2.1.0 the HedgeVenueModule calls (command V4_SWAP = 0x10 takes
///         abi.encode(bytes actions, bytes[] params) of v4-periphery 1.0.3's V4Router).
interface IUniversalRouter {
    /// @notice v4-periphery 1.0.3 `IV4Router.ExactInputSingleParams`.
    struct ExactInputSingleParams {
        PoolKey poolKey;
        bool zeroForOne;
        uint128 amountIn;
        uint128 amountOutMinimum;
        bytes hookData;
    }

    function execute(bytes calldata commands, bytes[] calldata inputs, uint256 deadline) external payable;
}

/// @notice Permit2's allowance setter (an `expiration` of 0 means: this block only).
interface IPermit2 {
    function approve(address token, address spender, uint160 amount, uint48 expiration) external;
}

/// @notice WETH9.
interface IWETH {
    function deposit() external payable;
    function withdraw(uint256 amount) external;
}
