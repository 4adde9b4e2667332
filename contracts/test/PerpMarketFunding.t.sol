// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {PerpMarket} from "../src/PerpMarket.sol";
import {IPerpMarket} from "../src/interfaces/IPerpMarket.sol";
import {PerpMarketBase} from "./helpers/PerpMarketBase.sol";

/// Skew-based funding: rate, clamping, index accrual and settlement on trades.
contract PerpMarketFundingTest is PerpMarketBase {
    function test_funding_longsPayWhenSkewLong() public {
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
        int256 rate = perp.fundingRatePerSecond();
        assertEq(rate, int256(uint256(1e15) * 0.1e18 / (1e18 * 86400)));
        vm.warp(block.timestamp + 1 days);
        _setPrice(3000e8);
        int256 idx = perp.fundingIndex();
        assertEq(idx, rate * 3000e18 * 86400 / 1e18);
        assertApproxEqAbs(idx, 0.3e18, 1e9); // 0.01%/day of 3000
        assertEq(perp.accruedFunding(alice), 0.3e6); // rounded up
        assertEq(perp.remainingMargin(alice), 9997e6 - 0.3e6);
        uint256 pool = perp.poolBalance();
        vm.expectEmit(true, false, false, true, address(perp));
        emit PerpMarket.FundingSettled(alice, 0.3e6);
        vm.prank(alice);
        perp.modifyPosition(-1e18, 0);
        assertEq(_margin(alice), 9997e6 - 0.3e6 - 3e6);
        assertEq(perp.poolBalance(), pool + 0.3e6 + 3e6);
    }

    function test_funding_shortsReceive() public {
        vm.prank(alice);
        perp.modifyPosition(3e18, type(uint256).max);
        vm.prank(bob);
        perp.modifyPosition(-1e18, 0);
        vm.warp(block.timestamp + 1 days);
        _setPrice(3000e8);
        assertGt(perp.fundingRatePerSecond(), 0);
        assertLt(perp.accruedFunding(bob), 0);
        assertGt(perp.accruedFunding(alice), 0);
        // the short receives, rounded down in magnitude
        int256 idx = perp.fundingIndex();
        assertEq(perp.accruedFunding(bob), -idx / 1e12);
    }

    function test_funding_rateClamps() public {
        vm.prank(alice);
        perp.depositMargin(1_000_000e6);
        vm.prank(alice);
        perp.modifyPosition(2000e18, type(uint256).max);
        assertEq(perp.fundingRatePerSecond(), int256(0.1e18) / 86400);
        vm.prank(bob);
        perp.depositMargin(2_000_000e6);
        vm.prank(bob);
        perp.modifyPosition(-5000e18, 0);
        assertEq(perp.fundingRatePerSecond(), -int256(0.1e18) / 86400);
    }

    function test_fundingUpdatedEvent() public {
        vm.expectEmit(false, false, false, true, address(perp));
        emit IPerpMarket.FundingUpdated(0, int256(uint256(1e15) * 0.1e18 / (1e18 * 86400)), block.timestamp);
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
    }
}
