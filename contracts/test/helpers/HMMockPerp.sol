// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {AggregatorV3Interface} from "../../src/interfaces/AggregatorV3Interface.sol";

/// @notice A perp market shaped like IPerpMarket (`modifyPosition`, `positions`, `quoteToken`, `takerFeeBps`), for
///         HedgeModule tests.
/// @dev Fills at `acceptablePrice` (the worst price the caller allowed: adversarial) unless `fillAtOracle`, and
///      charges `takerFeeBps` of the filled notional. Tracks each account's cash (usd wad, signed: margin plus
///      realized flows) so equity at the oracle price is cash + size * oracle / 1e18. `positions` reports
///      entry = the last fill price and margin = cash + entry * size / 1e18, which gives the same equity.
///      The quote token has 18 decimals, so margin is usd wad. `fillFraction` (1e4 = all) models a market that
///      fills less than asked; `chargeExtraUsd` takes extra cash on each trade (a venue cheating on its fee).
contract HMMockPerp {
    AggregatorV3Interface public immutable feed;
    address public immutable quoteToken;
    bool public fillAtOracle;
    uint256 public fillFractionBps = 10_000;
    bool public shouldRevert;
    uint256 public takerFeeBps;
    uint256 public chargeExtraUsd;
    mapping(address => int256) public sizeOf;
    mapping(address => int256) public cashUsd;
    mapping(address => uint256) public lastFill;
    uint256 public trades;

    error PerpBoom(int256 sizeDelta);
    error MockInsufficientMargin();

    constructor(AggregatorV3Interface feed_, address quoteToken_) {
        feed = feed_;
        quoteToken = quoteToken_;
    }

    function setBehaviour(bool fillAtOracle_, uint256 fillFractionBps_, bool revert_) external {
        fillAtOracle = fillAtOracle_;
        fillFractionBps = fillFractionBps_;
        shouldRevert = revert_;
    }

    function setTakerFeeBps(uint256 bps) external {
        takerFeeBps = bps;
    }

    function setChargeExtra(uint256 usdWad) external {
        chargeExtraUsd = usdWad;
    }

    /// @notice Give `account` margin (usd wad) out of thin air.
    function creditMargin(address account, int256 usdWad) external {
        cashUsd[account] += usdWad;
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
        uint256 absFilled = uint256(filled < 0 ? -filled : filled);
        sizeOf[msg.sender] += filled;
        cashUsd[msg.sender] -= filled * int256(fill) / 1e18;
        cashUsd[msg.sender] -= int256(absFilled * fill * takerFeeBps / 1e22 + chargeExtraUsd);
        lastFill[msg.sender] = sizeOf[msg.sender] == 0 ? 0 : fill;
        if (_margin(msg.sender) < 0) revert MockInsufficientMargin();
        trades++;
    }

    function _margin(address account) internal view returns (int256) {
        return cashUsd[account] + int256(lastFill[account]) * sizeOf[account] / 1e18;
    }

    function positions(address account) external view returns (int256, uint256, uint256, int256) {
        int256 m = _margin(account);
        return (sizeOf[account], lastFill[account], m < 0 ? 0 : uint256(m), 0);
    }

    /// @notice Account equity at the oracle price, usd wad (rounded toward zero per term).
    function equityUsd(address account) external view returns (int256) {
        return cashUsd[account] + sizeOf[account] * int256(oraclePrice()) / 1e18;
    }
}
