// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {PerpMarket} from "../src/PerpMarket.sol";
import {IPerpMarket} from "../src/interfaces/IPerpMarket.sol";
import {PerpMarketBase} from "./helpers/PerpMarketBase.sol";

/// Liquidation threshold, keeper reward, bad debt and staleness.
contract PerpMarketLiquidationTest is PerpMarketBase {
    function test_liquidate() public {
        _aliceLong3();
        _setPrice(2820e8); // remaining 451 >= 423
        assertFalse(perp.isLiquidatable(alice));
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.NotLiquidatable.selector, alice));
        vm.prank(keeper);
        perp.liquidate(alice);
        _setPrice(2800e8); // remaining 391 < 420
        assertTrue(perp.isLiquidatable(alice));
        assertEq(perp.remainingMargin(alice), 391e6);
        uint256 pool = perp.poolBalance();
        vm.expectEmit(true, true, false, true, address(perp));
        emit IPerpMarket.Liquidated(alice, keeper, 3e18, 2800e18, 84e6);
        vm.prank(keeper);
        perp.liquidate(alice);
        assertEq(usdc.balanceOf(keeper), 84e6);
        assertEq(_margin(alice), 307e6);
        assertEq(_size(alice), 0);
        assertEq(perp.longOpenInterest(), 0);
        assertEq(perp.poolBalance(), pool + 600e6);
        assertEq(usdc.balanceOf(address(perp)), perp.totalMargin() + perp.poolBalance());
    }

    function test_liquidate_rewardCappedByRemaining() public {
        _aliceLong3();
        _setPrice(2670e8); // remaining 1, reward would be 80.1
        vm.prank(keeper);
        perp.liquidate(alice);
        assertEq(usdc.balanceOf(keeper), 1e6);
        assertEq(_margin(alice), 0);
    }

    function test_liquidate_badDebt() public {
        _aliceLong3();
        _setPrice(2500e8); // remaining -509
        uint256 pool = perp.poolBalance();
        vm.expectEmit(true, false, false, true, address(perp));
        emit PerpMarket.BadDebt(alice, 509e6);
        vm.prank(keeper);
        perp.liquidate(alice);
        assertEq(usdc.balanceOf(keeper), 0);
        assertEq(_margin(alice), 0);
        assertEq(perp.poolBalance(), pool + 991e6);
    }

    function test_liquidate_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.NotLiquidatable.selector, bob));
        perp.liquidate(bob); // flat
        _aliceLong3();
        _setPrice(2500e8);
        vm.warp(block.timestamp + 3601);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.StalePrice.selector, block.timestamp - 3601, 3600));
        perp.liquidate(alice);
    }
}
