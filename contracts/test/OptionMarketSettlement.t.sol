// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {OptionMarket} from "../src/OptionMarket.sol";
import {IOptionMarket} from "../src/interfaces/IOptionMarket.sol";
import {AggregatorV3Interface} from "../src/interfaces/AggregatorV3Interface.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {MockERC20} from "./mocks/MockERC20.sol";
import {OptionMarketBase} from "./helpers/OptionMarketBase.sol";

/// Settlement at the post-expiry oracle price, then exercise by holders and redemption by writers.
contract OptionMarketSettlementTest is OptionMarketBase {
    // ------------------------------------------------------------ settle

    function test_settle() public {
        _expireAt(4000e8);
        vm.expectEmit(true, false, false, true, address(market));
        emit IOptionMarket.Settled(callId, 4000e8);
        market.settle(callId);
        (bool settled, uint256 sp,,,) = market.getSeriesState(callId);
        assertTrue(settled);
        assertEq(sp, 4000e8);
    }

    function test_settle_convertsFeedDecimals() public {
        MockERC20 tok = new MockERC20("T", "T", 18);
        PriceFeed f18 = new PriceFeed(18, "18", 1234.5678e18);
        PriceFeed f6 = new PriceFeed(6, "6", 1234.5678e6);
        MockERC20 tok2 = new MockERC20("U", "U", 18);
        vm.startPrank(owner);
        market.setUnderlying(address(tok), address(f18), MAX_AGE);
        market.setUnderlying(address(tok2), address(f6), MAX_AGE);
        vm.stopPrank();
        uint256 a = market.createSeries(address(tok), 1e8, EXPIRY, false);
        uint256 b = market.createSeries(address(tok2), 1e8, EXPIRY, false);
        vm.warp(EXPIRY);
        f18.setAnswer(1234.5678e18);
        f6.setAnswer(1234.5678e6);
        market.settle(a);
        market.settle(b);
        (, uint256 sa,,,) = market.getSeriesState(a);
        (, uint256 sb,,,) = market.getSeriesState(b);
        assertEq(sa, 1234.5678e8);
        assertEq(sb, 1234.5678e8);
    }

    function test_settle_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotExpired.selector, callId));
        market.settle(callId);
        vm.warp(EXPIRY + 10);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.PriceBeforeExpiry.selector, T0, EXPIRY));
        market.settle(callId);
        ethFeed.setAnswer(3100e8);
        vm.warp(EXPIRY + 10 + MAX_AGE + 1); // late, but the round is still the first after expiry
        vm.mockCall(
            address(ethFeed),
            abi.encodeWithSelector(AggregatorV3Interface.latestRoundData.selector),
            abi.encode(uint80(9), int256(0), block.timestamp, block.timestamp, uint80(9))
        );
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.InvalidPrice.selector, int256(0)));
        market.settle(callId);
        vm.clearMockedCalls();
        ethFeed.setAnswer(3100e8);
        market.settle(callId);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.AlreadySettled.selector, callId));
        market.settle(callId);
    }

    /// @notice Attack 10a. Before: the owner could re-point the feed of unsettled series. Now a series keeps the
    ///         feed it was created with; a change of a registered underlying's feed is queued for 2 days and
    ///         applies to new series only.
    function test_attack10_ownerCannotRepointAnUnsettledSeries() public {
        PriceFeed evil = new PriceFeed(8, "evil", 100_000e8);
        vm.prank(owner);
        vm.expectEmit(true, true, false, true, address(market));
        emit OptionMarket.UnderlyingUpdateQueued(address(weth), address(evil), MAX_AGE, block.timestamp + 2 days);
        market.setUnderlying(address(weth), address(evil), MAX_AGE);
        (address f,,,) = market.underlyings(address(weth));
        assertEq(f, address(ethFeed)); // not yet
        vm.prank(owner);
        vm.expectPartialRevert(OptionMarket.UnderlyingTimelocked.selector);
        market.executeUnderlyingUpdate(address(weth));
        vm.warp(block.timestamp + 2 days);
        vm.prank(owner);
        market.executeUnderlyingUpdate(address(weth));
        (f,,,) = market.underlyings(address(weth));
        assertEq(f, address(evil)); // for new series
        _expireAt(3500e8);
        market.settle(callId); // the existing series still settles on its own feed
        (, uint256 sp,,,) = market.getSeriesState(callId);
        assertEq(sp, 3500e8);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.NoUpdateQueued.selector, address(weth)));
        market.executeUnderlyingUpdate(address(weth));
    }

    /// @notice Attack 10b. Before: whoever settled first after expiry picked the round (a free look-back: wait,
    ///         then settle when the latest answer suits). Now the series settles at the first round at or after
    ///         expiry, whoever settles and whenever; a later round cannot be proven as the settlement round.
    function test_attack10_noLookBack_firstRoundAfterExpiry() public {
        vm.warp(EXPIRY - 5);
        ethFeed.setAnswer(3000e8); // before expiry
        vm.warp(EXPIRY + 10);
        ethFeed.setAnswer(3100e8); // the settlement round (3)
        uint80 first = ethFeed.latestRound();
        vm.warp(EXPIRY + 2 hours);
        ethFeed.setAnswer(3600e8); // the attacker waits for a better answer...
        vm.warp(EXPIRY + 3 hours);
        ethFeed.setAnswer(3700e8);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.NotFirstRoundAfterExpiry.selector, first + 1));
        market.settleAtRound(callId, first + 1); // ...and cannot prove it
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.PriceBeforeExpiry.selector, EXPIRY - 5, EXPIRY));
        market.settleAtRound(callId, first - 1);
        vm.expectEmit(true, false, false, true, address(market));
        emit OptionMarket.SettlementRound(callId, first, EXPIRY + 10);
        market.settle(callId);
        (, uint256 sp,,,) = market.getSeriesState(callId);
        assertEq(sp, 3100e8);
        // the same answer through the proof path
        market.settleAtRound(putId, first);
        (, sp,,,) = market.getSeriesState(putId);
        assertEq(sp, 3100e8);
    }

    /// @notice Beyond MAX_ROUND_LOOKBACK rounds after expiry, `settle` asks for the proof path.
    function test_settle_lookbackBounded() public {
        vm.warp(EXPIRY);
        ethFeed.setAnswer(3100e8);
        uint80 first = ethFeed.latestRound();
        for (uint256 i; i < 70; ++i) {
            ethFeed.setAnswer(int256(3200e8 + i));
        }
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SettlementRoundNotFound.selector, callId));
        market.settle(callId);
        market.settleAtRound(callId, first);
        (, uint256 sp,,,) = market.getSeriesState(callId);
        assertEq(sp, 3100e8);
    }

    function test_settle_rejectsPriceRoundingToZero() public {
        MockERC20 tok = new MockERC20("T", "T", 18);
        PriceFeed f18 = new PriceFeed(18, "18", 1);
        vm.prank(owner);
        market.setUnderlying(address(tok), address(f18), MAX_AGE);
        uint256 id = market.createSeries(address(tok), 1e8, EXPIRY, false);
        vm.warp(EXPIRY);
        f18.setAnswer(1e9); // 1e-9 quote: below the 1e-8 strike scale
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.InvalidPrice.selector, int256(1e9)));
        market.settle(id);
    }

    // ------------------------------------------------------------ exercise / redeem

    function test_exerciseAndRedeem_call() public {
        vm.prank(writer);
        market.write(callId, 2e18, holder);
        _expireAt(4000e8);
        assertEq(market.exercisePayout(callId, 2e18), 0); // not settled yet
        vm.expectEmit(true, true, false, true, address(market));
        emit IOptionMarket.Exercised(callId, holder, 2e18, 0.5e18);
        vm.prank(holder); // auto-settles
        market.exercise(callId, 2e18);
        assertEq(weth.balanceOf(holder), 0.5e18);
        assertEq(market.balanceOf(holder, callId), 0);
        assertEq(market.redeemable(callId, writer), 1.5e18);
        uint256 before = weth.balanceOf(writer);
        vm.expectEmit(true, true, false, true, address(market));
        emit IOptionMarket.Redeemed(callId, writer, 2e18, 1.5e18);
        vm.prank(writer);
        market.redeem(callId);
        assertEq(weth.balanceOf(writer) - before, 1.5e18);
        assertEq(weth.balanceOf(address(market)), 0);
        assertEq(market.shortBalance(callId, writer), 0);
        (,, uint256 longs, uint256 shorts, uint256 locked) = market.getSeriesState(callId);
        assertEq(longs + shorts + locked, 0);
    }

    function test_exerciseAndRedeem_put() public {
        vm.prank(writer);
        market.write(putId, 2e18, holder);
        _expireAt(2500e8);
        market.settle(putId);
        assertEq(market.exercisePayout(putId, 2e18), 1000e6);
        vm.prank(writer); // redeem first: the holder's share stays locked
        market.redeem(putId);
        assertEq(usdc.balanceOf(address(market)), 1000e6);
        vm.prank(holder);
        market.exercise(putId, 2e18);
        assertEq(usdc.balanceOf(holder), 1000e6);
        assertEq(usdc.balanceOf(address(market)), 0);
    }

    function test_exercise_outOfTheMoney() public {
        vm.startPrank(writer);
        market.write(callId, 1e18, holder);
        market.write(putId, 1e18, holder);
        vm.stopPrank();
        _expireAt(3000e8); // at the money: both worthless
        vm.startPrank(holder);
        market.exercise(callId, 1e18);
        market.exercise(putId, 1e18);
        vm.stopPrank();
        assertEq(weth.balanceOf(holder) + usdc.balanceOf(holder), 0);
        assertEq(market.balanceOf(holder, callId), 0);
        vm.startPrank(writer);
        market.redeem(callId); // auto-settle not needed: already settled
        market.redeem(putId);
        vm.stopPrank();
        assertEq(weth.balanceOf(address(market)) + usdc.balanceOf(address(market)), 0);
    }

    function test_exercise_reverts() public {
        vm.prank(writer);
        market.write(callId, 1e18, holder);
        vm.prank(holder);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotExpired.selector, callId));
        market.exercise(callId, 1e18);
        _expireAt(4000e8);
        vm.prank(holder);
        vm.expectRevert(OptionMarket.ZeroAmount.selector);
        market.exercise(callId, 0);
        vm.prank(holder);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, holder, 1e18, 2e18, callId)
        );
        market.exercise(callId, 2e18);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, other, 0, 1e18, callId)
        );
        vm.prank(other);
        market.exercise(callId, 1e18);
    }

    function test_redeem_reverts() public {
        vm.prank(writer);
        market.write(callId, 1e18, holder);
        vm.prank(writer);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotExpired.selector, callId));
        market.redeem(callId);
        vm.warp(EXPIRY + 1);
        vm.prank(writer); // settlement needs a post-expiry round
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.PriceBeforeExpiry.selector, T0, EXPIRY));
        market.redeem(callId);
        ethFeed.setAnswer(3500e8);
        vm.prank(other);
        vm.expectRevert(OptionMarket.NothingToRedeem.selector);
        market.redeem(callId);
        vm.startPrank(writer);
        market.redeem(callId);
        vm.expectRevert(OptionMarket.NothingToRedeem.selector);
        market.redeem(callId);
        vm.stopPrank();
    }
}
