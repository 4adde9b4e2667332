// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {PerpMarket} from "../src/PerpMarket.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {MockERC20} from "./mocks/MockERC20.sol";
import {PerpMarketBase} from "./helpers/PerpMarketBase.sol";

/// Constructor, owner-only parameter setters and the insurance pool.
contract PerpMarketAdminTest is PerpMarketBase {
    // ------------------------------------------------------------ constructor / admin

    function test_constructor() public view {
        assertEq(perp.quoteToken(), address(usdc));
        assertEq(perp.feed(), address(feed));
        assertEq(perp.owner(), owner);
        assertEq(perp.quoteDecimals(), 6);
        assertEq(perp.feedDecimals(), 8);
        _assertParams(10, 1000, 500, 100, 0.1e18, 1000e18, 3600);
        assertEq(perp.lastFundingTime(), T0);
        assertEq(perp.poolBalance(), 1_000_000e6);
    }

    function test_constructor_reverts() public {
        PerpMarket.Params memory p = _params();
        vm.expectRevert(PerpMarket.ZeroAddress.selector);
        new PerpMarket(address(0), address(feed), owner, p);
        vm.expectRevert(PerpMarket.ZeroAddress.selector);
        new PerpMarket(address(usdc), address(0), owner, p);
        MockERC20 big = new MockERC20("B", "B", 19);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.DecimalsTooLarge.selector, uint8(19)));
        new PerpMarket(address(big), address(feed), owner, p);
        PriceFeed wide = new PriceFeed(37, "w", 1);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.DecimalsTooLarge.selector, uint8(37)));
        new PerpMarket(address(usdc), address(wide), owner, p);
        p.takerFeeBps = 1001;
        vm.expectRevert(PerpMarket.InvalidParams.selector);
        new PerpMarket(address(usdc), address(feed), owner, p);
    }

    function test_setters() public {
        vm.startPrank(owner);
        vm.expectEmit(false, false, false, true, address(perp));
        emit PerpMarket.TakerFeeUpdated(5);
        perp.setTakerFee(5);
        vm.expectEmit(false, false, false, true, address(perp));
        emit PerpMarket.MarginParamsUpdated(2000, 800, 50);
        perp.setMarginParams(2000, 800, 50);
        vm.expectEmit(false, false, false, true, address(perp));
        emit PerpMarket.FundingParamsUpdated(0.2e18, 500e18);
        perp.setFundingParams(0.2e18, 500e18);
        vm.expectEmit(false, false, false, true, address(perp));
        emit PerpMarket.MaxFeedAgeUpdated(60);
        perp.setMaxFeedAge(60);
        vm.stopPrank();
        _assertParams(5, 2000, 800, 50, 0.2e18, 500e18, 60);
    }

    function test_setters_reverts() public {
        bytes memory notOwner = abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice);
        vm.startPrank(alice);
        vm.expectRevert(notOwner);
        perp.setTakerFee(1);
        vm.expectRevert(notOwner);
        perp.setMarginParams(1000, 500, 100);
        vm.expectRevert(notOwner);
        perp.setFundingParams(1, 1);
        vm.expectRevert(notOwner);
        perp.setMaxFeedAge(1);
        vm.expectRevert(notOwner);
        perp.fundPool(1);
        vm.expectRevert(notOwner);
        perp.withdrawPool(1, alice);
        vm.stopPrank();
        vm.startPrank(owner);
        vm.expectRevert(PerpMarket.InvalidParams.selector);
        perp.setTakerFee(1001);
        vm.expectRevert(PerpMarket.InvalidParams.selector);
        perp.setMarginParams(1000, 0, 0); // zero maintenance
        vm.expectRevert(PerpMarket.InvalidParams.selector);
        perp.setMarginParams(1000, 1001, 0); // maintenance above initial
        vm.expectRevert(PerpMarket.InvalidParams.selector);
        perp.setMarginParams(10_001, 500, 0); // initial above 100%
        vm.expectRevert(PerpMarket.InvalidParams.selector);
        perp.setMarginParams(1000, 500, 501); // reward above maintenance
        vm.expectRevert(PerpMarket.InvalidParams.selector);
        perp.setFundingParams(0.1e18, 0);
        vm.expectRevert(PerpMarket.InvalidParams.selector);
        perp.setFundingParams(1e18 + 1, 1e18);
        vm.expectRevert(PerpMarket.InvalidParams.selector);
        perp.setMaxFeedAge(0);
        vm.stopPrank();
    }

    function test_setFundingParams_accruesFirst() public {
        vm.prank(alice);
        perp.modifyPosition(30e18, type(uint256).max);
        vm.warp(block.timestamp + 1 days);
        _setPrice(3000e8);
        int256 pending = perp.fundingIndex();
        vm.prank(owner);
        perp.setFundingParams(0, 1000e18);
        assertEq(perp.fundingIndex(), pending);
        assertEq(perp.lastFundingTime(), block.timestamp);
        assertEq(perp.fundingRatePerSecond(), 0);
    }

    // ------------------------------------------------------------ pool

    function test_pool() public {
        vm.startPrank(owner);
        vm.expectEmit(true, false, false, true, address(perp));
        emit PerpMarket.PoolFunded(owner, 5e6);
        perp.fundPool(5e6);
        assertEq(perp.poolBalance(), 1_000_005e6);
        vm.expectEmit(true, false, false, true, address(perp));
        emit PerpMarket.PoolWithdrawn(bob, 5e6);
        perp.withdrawPool(5e6, bob);
        assertEq(usdc.balanceOf(bob), 1e30 - 10_000e6 + 5e6);
        vm.expectRevert(PerpMarket.ZeroAmount.selector);
        perp.fundPool(0);
        vm.expectRevert(PerpMarket.ZeroAmount.selector);
        perp.withdrawPool(0, bob);
        vm.expectRevert(PerpMarket.ZeroAddress.selector);
        perp.withdrawPool(1, address(0));
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.PoolInsufficient.selector, 1_000_000e6, 1_000_000e6 + 1));
        perp.withdrawPool(1_000_000e6 + 1, bob);
        vm.stopPrank();
    }
}
