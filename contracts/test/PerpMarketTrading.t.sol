// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {PerpMarket} from "../src/PerpMarket.sol";
import {IPerpMarket} from "../src/interfaces/IPerpMarket.sol";
import {PerpMarketBase} from "./helpers/PerpMarketBase.sol";

/// Margin deposits and withdrawals, and opening, increasing, reducing, flipping and closing positions.
contract PerpMarketTradingTest is PerpMarketBase {
    // ------------------------------------------------------------ margin

    function test_depositMargin() public {
        vm.expectEmit(true, false, false, true, address(perp));
        emit IPerpMarket.MarginDeposited(alice, 1e6);
        vm.prank(alice);
        perp.depositMargin(1e6);
        assertEq(_margin(alice), 10_001e6);
        assertEq(perp.totalMargin(), 20_001e6);
        vm.expectRevert(PerpMarket.ZeroAmount.selector);
        vm.prank(alice);
        perp.depositMargin(0);
    }

    function test_withdrawMargin_flat() public {
        vm.warp(block.timestamp + 1 days); // oracle stale: flat withdrawals do not need it
        uint256 before = usdc.balanceOf(alice);
        vm.expectEmit(true, false, false, true, address(perp));
        emit IPerpMarket.MarginWithdrawn(alice, 10_000e6);
        vm.prank(alice);
        perp.withdrawMargin(10_000e6);
        assertEq(usdc.balanceOf(alice) - before, 10_000e6);
        assertEq(_margin(alice), 0);
        assertEq(perp.totalMargin(), 10_000e6);
    }

    function test_withdrawMargin_reverts() public {
        vm.startPrank(alice);
        vm.expectRevert(PerpMarket.ZeroAmount.selector);
        perp.withdrawMargin(0);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.InsufficientMargin.selector, int256(10_000e6), 10_000e6 + 1));
        perp.withdrawMargin(10_000e6 + 1);
        perp.modifyPosition(10e18, type(uint256).max); // notional 30k, IM 3k, fee 30
        // remaining 9970 -> may withdraw down to 3000
        perp.withdrawMargin(6970e6);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.InsufficientMargin.selector, int256(3000e6 - 1), 3000e6));
        perp.withdrawMargin(1);
        vm.warp(block.timestamp + 3601);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.StalePrice.selector, T0, 3600));
        perp.withdrawMargin(1);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ open / close

    function test_openLong() public {
        vm.expectEmit(true, false, false, true, address(perp));
        emit IPerpMarket.PositionModified(alice, 1e18, 3000e18, 3e6, 0, 1e18);
        vm.prank(alice);
        perp.modifyPosition(1e18, 3000e18);
        (int256 size, uint256 entry, uint256 margin, int256 idx) = perp.positions(alice);
        assertEq(size, 1e18);
        assertEq(entry, 3000e18);
        assertEq(margin, 9997e6);
        assertEq(idx, 0);
        assertEq(perp.poolBalance(), 1_000_003e6);
        assertEq(perp.longOpenInterest(), 1e18);
        assertEq(perp.shortOpenInterest(), 0);
        assertEq(perp.remainingMargin(alice), 9997e6);
    }

    function test_openShortAndProfit() public {
        vm.prank(bob);
        perp.modifyPosition(-2e18, 3000e18);
        assertEq(_size(bob), -2e18);
        assertEq(_entry(bob), 3000e18);
        assertEq(perp.shortOpenInterest(), 2e18);
        _setPrice(2900e8);
        assertEq(perp.unrealizedPnl(bob), 200e6);
        vm.prank(bob);
        perp.modifyPosition(2e18, 2900e18);
        // 10000 - 6 (open fee) + 200 - 5.8 (close fee)
        assertEq(_margin(bob), 10_188.2e6);
        assertEq(_entry(bob), 0);
        assertEq(perp.shortOpenInterest(), 0);
    }

    function test_increaseAveragesEntry() public {
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
        _setPrice(3300e8);
        vm.prank(alice);
        perp.modifyPosition(2e18, type(uint256).max);
        assertEq(_entry(alice), 3200e18);
        assertEq(_size(alice), 3e18);
    }

    function test_averageEntryRoundsAgainstTrader() public {
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
        _setPrice(3000.00000001e8);
        vm.prank(alice);
        perp.modifyPosition(2e18, type(uint256).max);
        // exact: 3000.0000000066..., longs round up
        assertEq(_entry(alice), 3000000000006666666667);
        vm.prank(bob);
        perp.modifyPosition(-1e18, 0);
        _setPrice(3000e8);
        vm.prank(bob);
        perp.modifyPosition(-2e18, 0);
        assertEq(_entry(bob), 3000000000003333333333); // shorts round down
    }

    function test_partialReduceRealizesPnl() public {
        vm.prank(alice);
        perp.modifyPosition(2e18, type(uint256).max);
        _setPrice(3500e8);
        vm.expectEmit(true, false, false, true, address(perp));
        emit IPerpMarket.PositionModified(alice, -1e18, 3500e18, 3.5e6, 500e6, 1e18);
        vm.prank(alice);
        perp.modifyPosition(-1e18, 3500e18);
        assertEq(_entry(alice), 3000e18); // unchanged on reductions
        assertEq(_margin(alice), 10_000e6 - 6e6 + 500e6 - 3.5e6);
    }

    function test_flip() public {
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
        _setPrice(2800e8);
        vm.prank(alice);
        perp.modifyPosition(-3e18, 0);
        assertEq(_size(alice), -2e18);
        assertEq(_entry(alice), 2800e18);
        assertEq(perp.longOpenInterest(), 0);
        assertEq(perp.shortOpenInterest(), 2e18);
        // 10000 - 3 - 200 (loss on the long) - 8.4 (fee on 3 ETH at 2800)
        assertEq(_margin(alice), 9788.6e6);
    }

    function test_modifyPosition_reverts() public {
        vm.startPrank(alice);
        vm.expectRevert(PerpMarket.ZeroAmount.selector);
        perp.modifyPosition(0, 0);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.SlippageExceeded.selector, 3000e18, 2999e18));
        perp.modifyPosition(1e18, 2999e18);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.SlippageExceeded.selector, 3000e18, 3001e18));
        perp.modifyPosition(-1e18, 3001e18);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.SizeTooLarge.selector, int256(1e30 + 1)));
        perp.modifyPosition(1e30 + 1, type(uint256).max);
        // 40 ETH = 120k notional needs 12k initial margin
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.InsufficientMargin.selector, int256(9880e6), 12_000e6));
        perp.modifyPosition(40e18, type(uint256).max);
        vm.warp(block.timestamp + 3601);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.StalePrice.selector, T0, 3600));
        perp.modifyPosition(1e18, type(uint256).max);
        vm.stopPrank();
    }

    function test_reductionAllowedBelowInitialMargin() public {
        vm.prank(alice);
        perp.modifyPosition(30e18, type(uint256).max); // 90k notional, 9k IM, margin 9910
        _setPrice(2960e8); // remaining 9910 - 1200 = 8710 < IM 8880, above MM 4440
        vm.prank(alice);
        vm.expectRevert();
        perp.modifyPosition(1e18, type(uint256).max); // increases are blocked
        vm.prank(alice);
        perp.modifyPosition(-10e18, 0); // reductions are allowed
        assertEq(_size(alice), 20e18);
    }

    function test_reductionRevertsWhenLossExceedsMargin() public {
        vm.prank(alice);
        perp.modifyPosition(30e18, type(uint256).max); // margin 9910
        _setPrice(2600e8); // loss 12k: insolvent
        vm.prank(alice);
        vm.expectRevert(
            abi.encodeWithSelector(PerpMarket.InsufficientMargin.selector, int256(9910e6 - 12_000e6 - 78e6), 0)
        );
        perp.modifyPosition(-30e18, 0);
    }

    function test_profitExceedingPoolReverts() public {
        PerpMarket small = new PerpMarket(address(usdc), address(feed), owner, _params());
        vm.startPrank(alice);
        usdc.approve(address(small), type(uint256).max);
        small.depositMargin(1000e6);
        small.modifyPosition(1e18, type(uint256).max); // fee 3 -> pool 3
        vm.stopPrank();
        _setPrice(3100e8);
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.PoolInsufficient.selector, 3e6, 100e6 - 3.1e6));
        small.modifyPosition(-1e18, 0);
        vm.stopPrank();
    }
}
