// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {AggregatorV3Interface} from "./interfaces/AggregatorV3Interface.sol";

/// @title PriceFeed
/// @notice A Chainlink-compatible feed for the local chain. Its owner (the devnet) pushes rounds;
///         readers see exactly what they would see from a Chainlink aggregator proxy.
/// @dev Rounds are kept so `getRoundData` answers historical reads. `setAnswerAt` lets tests
///      publish a round with an old `updatedAt` to model a stale feed.
contract PriceFeed is AggregatorV3Interface {
    struct Round {
        int256 answer;
        uint64 startedAt;
        uint64 updatedAt;
    }

    uint8 public immutable override decimals;
    string public override description;
    uint256 public constant override version = 4;
    address public owner;
    uint80 public latestRound;
    mapping(uint80 => Round) internal rounds;

    event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
    event OwnershipTransferred(address indexed previousOwner, address indexed newOwner);

    error NotOwner();
    error NonPositiveAnswer(int256 answer);
    error FutureTimestamp(uint256 updatedAt);
    error NoData();

    constructor(uint8 decimals_, string memory description_, int256 initialAnswer) {
        decimals = decimals_;
        description = description_;
        owner = msg.sender;
        emit OwnershipTransferred(address(0), msg.sender);
        _push(initialAnswer, block.timestamp);
    }

    modifier onlyOwner() {
        if (msg.sender != owner) revert NotOwner();
        _;
    }

    function transferOwnership(address newOwner) external onlyOwner {
        emit OwnershipTransferred(owner, newOwner);
        owner = newOwner;
    }

    /// @notice Publish a new round at the current block time.
    function setAnswer(int256 answer) external onlyOwner {
        _push(answer, block.timestamp);
    }

    /// @notice Publish a new round with an explicit `updatedAt` (not in the future).
    function setAnswerAt(int256 answer, uint256 updatedAt) external onlyOwner {
        if (updatedAt > block.timestamp) revert FutureTimestamp(updatedAt);
        _push(answer, updatedAt);
    }

    function latestRoundData() external view override returns (uint80, int256, uint256, uint256, uint80) {
        return _round(latestRound);
    }

    function getRoundData(uint80 roundId) external view override returns (uint80, int256, uint256, uint256, uint80) {
        if (roundId == 0 || roundId > latestRound) revert NoData();
        return _round(roundId);
    }

    function latestAnswer() external view returns (int256) {
        return rounds[latestRound].answer;
    }

    function _round(uint80 id) internal view returns (uint80, int256, uint256, uint256, uint80) {
        Round memory r = rounds[id];
        return (id, r.answer, r.startedAt, r.updatedAt, id);
    }

    function _push(int256 answer, uint256 updatedAt) internal {
        if (answer <= 0) revert NonPositiveAnswer(answer);
        uint80 id = latestRound + 1;
        latestRound = id;
        rounds[id] = Round(answer, uint64(updatedAt), uint64(updatedAt));
        emit AnswerUpdated(answer, id, updatedAt);
    }
}
