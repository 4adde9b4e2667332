// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";
import {IHedgeModule} from "../IHedgeModule.sol";

/// @title HedgeOracle
/// @notice The feed checks HedgeModule and HedgeVenueModule share (internal: inlined into each, no linking).
library HedgeOracle {
    /// @dev IHedgeModule.MAX_PRICE_USD and MAX_DECIMALS.
    uint256 internal constant MAX_PRICE_USD = 1e36;
    uint256 internal constant MAX_DECIMALS = 36;

    /// @dev Feed answer normalized to usd wad; reverts on a non-positive, absurd, clamped, future or stale answer.
    function priceUsd(address feed, uint256 maxAge) internal view returns (uint256 price) {
        (, int256 answer,, uint256 updatedAt,) = AggregatorV3Interface(feed).latestRoundData();
        if (answer <= 0 || uint256(answer) > MAX_PRICE_USD) revert IHedgeModule.BadFeedAnswer(feed, answer);
        if (updatedAt > block.timestamp || block.timestamp - updatedAt > maxAge) {
            revert IHedgeModule.StaleFeed(feed, updatedAt, maxAge);
        }
        checkAnswerLimits(feed, answer);
        uint256 d = AggregatorV3Interface(feed).decimals();
        if (d > MAX_DECIMALS) revert IHedgeModule.InvalidDecimals(feed, d);
        price = d <= 18 ? uint256(answer) * 10 ** (18 - d) : uint256(answer) / 10 ** (d - 18);
        if (price == 0 || price > MAX_PRICE_USD) revert IHedgeModule.BadFeedAnswer(feed, answer);
    }

    /// @dev A Chainlink proxy's aggregator clamps answers to [minAnswer, maxAnswer]: an answer at either limit is
    ///      not a price. Feeds that expose no `aggregator()` with `minAnswer()`/`maxAnswer()` are not checked here.
    function checkAnswerLimits(address feed, int256 answer) internal view {
        (bool ok, uint256 agg) = word(feed, "aggregator()");
        if (!ok || agg >> 160 != 0 || address(uint160(agg)).code.length == 0) return;
        (bool okMin, uint256 lo) = word(address(uint160(agg)), "minAnswer()");
        (bool okMax, uint256 hi) = word(address(uint160(agg)), "maxAnswer()");
        if (okMin && okMax && (answer <= int256(lo) || answer >= int256(hi))) {
            revert IHedgeModule.FeedAnswerAtLimit(feed, answer, int256(lo), int256(hi));
        }
    }

    /// @dev One 32-byte word from a no-argument view, or ok = false.
    function word(address target, string memory sig) internal view returns (bool ok, uint256 value) {
        bytes memory ret;
        (ok, ret) = target.staticcall(abi.encodeWithSignature(sig));
        ok = ok && ret.length == 32;
        if (ok) value = abi.decode(ret, (uint256));
    }

    /// @dev An L2 sequencer-uptime feed `f` (0 = none): answer 0 = up; startedAt = when the status last changed.
    function checkSequencer(address f, uint256 grace) internal view {
        if (f == address(0)) return;
        (, int256 answer, uint256 startedAt,,) = AggregatorV3Interface(f).latestRoundData();
        if (answer != 0) revert IHedgeModule.SequencerDown(f);
        if (startedAt == 0 || block.timestamp - startedAt <= grace) {
            revert IHedgeModule.SequencerGracePeriod(f, startedAt, grace);
        }
    }
}
