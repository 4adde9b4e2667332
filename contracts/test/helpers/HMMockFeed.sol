// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice A Chainlink-shaped feed whose answer, timestamp and decimals can be anything (incl. <= 0), for the
///         HedgeModule's feed-validation tests. PriceFeed.sol refuses non-positive answers, so it cannot model them.
contract HMMockFeed {
    int256 public answer;
    uint256 public updatedAt;
    uint8 public decimals;

    constructor(uint8 decimals_, int256 answer_) {
        decimals = decimals_;
        answer = answer_;
        updatedAt = block.timestamp;
    }

    function set(int256 answer_, uint256 updatedAt_) external {
        answer = answer_;
        updatedAt = updatedAt_;
    }

    function setDecimals(uint8 d) external {
        decimals = d;
    }

    function latestRoundData() external view returns (uint80, int256, uint256, uint256, uint80) {
        return (1, answer, updatedAt, updatedAt, 1);
    }
}
