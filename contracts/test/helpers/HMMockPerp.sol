// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {AggregatorV3Interface} from "../../src/interfaces/AggregatorV3Interface.sol";

/// @notice A perp market shaped like IPerpMarket's `modifyPosition`/`positions`, for HedgeModule tests.
/// @dev Fills at `acceptablePrice` (the worst price the caller allowed: adversarial) unless `fillAtOracle`.
///      Tracks each account's cash (usd wad, signed) so equity at the oracle price can be measured:
///      equity = cash + size * oracle / 1e18. `fillFraction` (1e4 = all) models a market that fills less than asked.
contract HMMockPerp {
    AggregatorV3Interface public immutable feed;
    bool public fillAtOracle;
    uint256 public fillFractionBps = 10_000;
    bool public shouldRevert;
    mapping(address => int256) public sizeOf;
    mapping(address => int256) public cashUsd;
    uint256 public trades;

    error PerpBoom(int256 sizeDelta);

    constructor(AggregatorV3Interface feed_) {
        feed = feed_;
    }

    function setBehaviour(bool fillAtOracle_, uint256 fillFractionBps_, bool revert_) external {
        fillAtOracle = fillAtOracle_;
        fillFractionBps = fillFractionBps_;
        shouldRevert = revert_;
    }

    /// @notice Oracle price, 1e18 quote per underlying.
    function oraclePrice() public view returns (uint256) {
        (, int256 answer,,,) = feed.latestRoundData();
        return uint256(answer) * 10 ** (18 - feed.decimals());
    }

    function modifyPosition(int256 sizeDelta, uint256 acceptablePrice) external {
        if (shouldRevert) revert PerpBoom(sizeDelta);
        uint256 p = oraclePrice();
        if (sizeDelta > 0) require(p <= acceptablePrice, "price above acceptable");
        else require(p >= acceptablePrice, "price below acceptable");
        uint256 fill = fillAtOracle ? p : acceptablePrice;
        int256 filled = sizeDelta * int256(fillFractionBps) / 10_000;
        sizeOf[msg.sender] += filled;
        cashUsd[msg.sender] -= filled * int256(fill) / 1e18;
        trades++;
    }

    function positions(address account) external view returns (int256, uint256, uint256, int256) {
        return (sizeOf[account], 0, 0, 0);
    }

    /// @notice Account equity at the oracle price, usd wad (rounded toward zero per term).
    function equityUsd(address account) external view returns (int256) {
        return cashUsd[account] + sizeOf[account] * int256(oraclePrice()) / 1e18;
    }
}
