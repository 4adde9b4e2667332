// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ISwapRouter} from "../../src/interfaces/ISwapRouter.sol";
import {HMToken} from "./HMToken.sol";

/// @notice A Uniswap-v3-shaped router for HedgeModule tests. It pays out at its own configurable USD prices
///         (usd wad per whole token) less `haircutBps`, minting the output token (HMToken) to `recipient`.
/// @dev Adversarial switches: `ignoreMinimum` pays even below `amountOutMinimum` (a lying router); `pullExtra`
///      tries to pull more than `amountIn`; `pullLess` pulls less (a partial fill: leaves allowance unless reset);
///      `payTo` overrides the recipient; `shouldRevert` makes it revert.
contract HMMockRouter is ISwapRouter {
    mapping(address => uint256) public priceUsd;
    uint256 public haircutBps;
    bool public ignoreMinimum;
    uint256 public pullExtra;
    uint256 public pullLess;
    address public payTo;
    bool public shouldRevert;
    address public lastRecipient;
    uint256 public swaps;

    error RouterBoom();

    function setPrice(address token, uint256 usdWad) external {
        priceUsd[token] = usdWad;
    }

    function setBehaviour(uint256 haircutBps_, bool ignoreMinimum_, uint256 pullExtra_, address payTo_, bool revert_)
        external
    {
        haircutBps = haircutBps_;
        ignoreMinimum = ignoreMinimum_;
        pullExtra = pullExtra_;
        payTo = payTo_;
        shouldRevert = revert_;
    }

    function setPullLess(uint256 pullLess_) external {
        pullLess = pullLess_;
    }

    /// @notice Raw tokenOut units this router would pay for `amountIn` raw tokenIn units.
    function quote(address tokenIn, address tokenOut, uint256 amountIn) public view returns (uint256) {
        uint256 num = amountIn * priceUsd[tokenIn] * 10 ** HMToken(tokenOut).decimals() * (10_000 - haircutBps);
        return num / (priceUsd[tokenOut] * 10 ** HMToken(tokenIn).decimals() * 10_000);
    }

    function exactInputSingle(ExactInputSingleParams calldata p) external payable returns (uint256 amountOut) {
        if (shouldRevert) revert RouterBoom();
        require(block.timestamp <= p.deadline, "Transaction too old");
        uint256 pulled = p.amountIn + pullExtra - (pullLess < p.amountIn ? pullLess : 0);
        HMToken(p.tokenIn).transferFrom(msg.sender, address(this), pulled);
        amountOut = quote(p.tokenIn, p.tokenOut, p.amountIn);
        require(ignoreMinimum || amountOut >= p.amountOutMinimum, "Too little received");
        address to = payTo == address(0) ? p.recipient : payTo;
        lastRecipient = p.recipient;
        swaps++;
        HMToken(p.tokenOut).mint(to, amountOut);
    }
}
