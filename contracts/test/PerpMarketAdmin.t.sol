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

    function _p(uint256 fee, uint256 im, uint256 mm, uint256 reward, uint256 rate, uint256 scale, uint256 age)
        internal
        pure
        returns (PerpMarket.Params memory)
    {
        return PerpMarket.Params(fee, im, mm, reward, rate, scale, age);
    }

    function test_params_queuedThenExecutedAfterTheDelay() public {
        vm.startPrank(owner);
        vm.expectEmit(false, false, false, true, address(perp));
        emit PerpMarket.ParamsQueued(5, 2000, 800, 50, 0.05e18, 500e18, 60, T0 + 2 days);
        perp.queueParams(_p(5, 2000, 800, 50, 0.05e18, 500e18, 60));
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.ParamsTimelocked.selector, T0 + 2 days, T0 + 2 days - 1));
        vm.warp(T0 + 2 days - 1);
        perp.executeParams();
        _assertParams(10, 1000, 500, 100, 0.1e18, 1000e18, 3600); // unchanged until executed
        vm.warp(T0 + 2 days);
        vm.stopPrank();
        _setPrice(3000e8);
        vm.startPrank(owner);
        vm.expectEmit(false, false, false, true, address(perp));
        emit PerpMarket.TakerFeeUpdated(5);
        vm.expectEmit(false, false, false, true, address(perp));
        emit PerpMarket.MarginParamsUpdated(2000, 800, 50);
        vm.expectEmit(false, false, false, true, address(perp));
        emit PerpMarket.FundingParamsUpdated(0.05e18, 500e18);
        vm.expectEmit(false, false, false, true, address(perp));
        emit PerpMarket.MaxFeedAgeUpdated(60);
        perp.executeParams();
        vm.expectRevert(PerpMarket.NoParamsQueued.selector);
        perp.executeParams();
        vm.stopPrank();
        _assertParams(5, 2000, 800, 50, 0.05e18, 500e18, 60);
    }

    function test_params_cancel() public {
        vm.startPrank(owner);
        vm.expectRevert(PerpMarket.NoParamsQueued.selector);
        perp.cancelParams();
        perp.queueParams(_p(5, 2000, 800, 50, 0.05e18, 500e18, 60));
        vm.expectEmit(false, false, false, true, address(perp));
        emit PerpMarket.ParamsCancelled();
        perp.cancelParams();
        vm.warp(T0 + 3 days);
        vm.expectRevert(PerpMarket.NoParamsQueued.selector);
        perp.executeParams();
        vm.stopPrank();
        _assertParams(10, 1000, 500, 100, 0.1e18, 1000e18, 3600);
    }

    function test_params_reverts() public {
        bytes memory notOwner = abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, alice);
        vm.startPrank(alice);
        vm.expectRevert(notOwner);
        perp.queueParams(_params());
        vm.expectRevert(notOwner);
        perp.executeParams();
        vm.expectRevert(notOwner);
        perp.cancelParams();
        vm.expectRevert(notOwner);
        perp.fundPool(1);
        vm.expectRevert(notOwner);
        perp.queuePoolWithdrawal(1, alice);
        vm.expectRevert(notOwner);
        perp.cancelPoolWithdrawal();
        vm.expectRevert(notOwner);
        perp.withdrawPool();
        vm.stopPrank();
        PerpMarket.Params[12] memory bad = [
            _p(101, 1000, 500, 100, 0.1e18, 1e18, 3600), // fee above 1 %
            _p(10, 99, 50, 10, 0.1e18, 1e18, 3600), // initial margin below 1 %
            _p(10, 5001, 500, 100, 0.1e18, 1e18, 3600), // initial margin above 50 %
            _p(10, 1000, 0, 0, 0.1e18, 1e18, 3600), // zero maintenance
            _p(10, 1000, 1001, 0, 0.1e18, 1e18, 3600), // maintenance above initial
            _p(10, 5000, 2501, 100, 0.1e18, 1e18, 3600), // maintenance above 25 %
            _p(10, 1000, 500, 501, 0.1e18, 1e18, 3600), // reward above maintenance
            _p(10, 5000, 2500, 501, 0.1e18, 1e18, 3600), // reward above 5 %
            _p(10, 1000, 500, 100, 0.1e18 + 1, 1e18, 3600), // funding above 10 %/day
            _p(10, 1000, 500, 100, 0.1e18, 0, 3600), // zero skew scale
            _p(10, 1000, 500, 100, 0.1e18, 1e18, 0), // zero feed age
            _p(10, 1000, 500, 100, 0.1e18, 1e18, 1 days + 1) // feed age above a day
        ];
        vm.startPrank(owner);
        for (uint256 i; i < bad.length; ++i) {
            vm.expectRevert(PerpMarket.InvalidParams.selector);
            perp.queueParams(bad[i]);
        }
        vm.stopPrank();
    }

    function test_executeParams_accruesFundingFirst() public {
        vm.prank(alice);
        perp.modifyPosition(30e18, type(uint256).max);
        vm.prank(owner);
        perp.queueParams(_p(10, 1000, 500, 100, 0, 1000e18, 3600));
        vm.warp(block.timestamp + 2 days);
        _setPrice(3000e8);
        int256 pending = perp.fundingIndex();
        vm.prank(owner);
        perp.executeParams();
        assertEq(perp.fundingIndex(), pending);
        assertEq(perp.lastFundingTime(), block.timestamp);
        assertEq(perp.fundingRatePerSecond(), 0);
    }

    /// @notice Attack 2. Before: the owner set margin params to (10000, 10000, 10000) and liquidated the Safe for
    ///         all its margin, at once. Now those values are refused, and the worst legal change (50 % initial,
    ///         25 % maintenance, 5 % reward) takes 2 days: the trader sees it queued and leaves with its margin.
    function test_attack2_ownerCannotLiquidateByParams() public {
        vm.prank(alice);
        perp.modifyPosition(3e18, type(uint256).max); // $9k on $10k of margin
        vm.startPrank(owner);
        vm.expectRevert(PerpMarket.InvalidParams.selector);
        perp.queueParams(_p(10, 10_000, 10_000, 10_000, 0.1e18, 1000e18, 3600));
        perp.queueParams(_p(100, 5000, 2500, 500, 0.1e18, 1000e18, 3600));
        vm.expectPartialRevert(PerpMarket.ParamsTimelocked.selector);
        perp.executeParams();
        vm.stopPrank();
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.NotLiquidatable.selector, alice));
        perp.liquidate(alice);
        // the trader saw ParamsQueued and closes within the 2 days
        vm.warp(block.timestamp + 1 days);
        _setPrice(3000e8);
        vm.startPrank(alice);
        perp.modifyPosition(-3e18, 0);
        uint256 m = _margin(alice);
        perp.withdrawMargin(m);
        vm.stopPrank();
        assertGt(m, 9_970e6); // fees and a day of funding only
        vm.warp(block.timestamp + 1 days);
        _setPrice(3000e8);
        vm.prank(owner);
        perp.executeParams();
        assertEq(_margin(alice), 0);
    }

    /// The owner would empty the pool to trap a profitable position (its close settles the profit from
    /// the pool and would revert): the withdrawal is queued, the trader closes within the 2 days and is
    /// paid in full, and the owner takes only what is left.
    function test_attack_ownerCannotTrapProfitsByEmptyingThePool() public {
        vm.prank(alice);
        perp.modifyPosition(3e18, type(uint256).max);
        _setPrice(3300e8); // +$300 x 3 for alice
        uint256 pool = perp.poolBalance();
        vm.startPrank(owner);
        perp.queuePoolWithdrawal(pool, owner);
        vm.expectPartialRevert(PerpMarket.ParamsTimelocked.selector);
        perp.withdrawPool();
        vm.stopPrank();
        vm.warp(block.timestamp + 1 days);
        _setPrice(3300e8);
        vm.startPrank(alice);
        perp.modifyPosition(-3e18, 0);
        uint256 m = _margin(alice);
        perp.withdrawMargin(m);
        vm.stopPrank();
        assertGt(m, 10_800e6); // $10k margin + ~$900 profit, less fees and a day of funding
        vm.warp(block.timestamp + 1 days);
        uint256 left = perp.poolBalance();
        assertLt(left, pool);
        vm.prank(owner);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.PoolInsufficient.selector, left, pool));
        perp.withdrawPool(); // the pool paid alice: the queued amount is no longer there
    }

    // ------------------------------------------------------------ pool

    function test_pool() public {
        vm.startPrank(owner);
        vm.expectEmit(true, false, false, true, address(perp));
        emit PerpMarket.PoolFunded(owner, 5e6);
        perp.fundPool(5e6);
        assertEq(perp.poolBalance(), 1_000_005e6);
        uint256 eta = block.timestamp + perp.PARAMS_DELAY();
        vm.expectEmit(true, false, false, true, address(perp));
        emit PerpMarket.PoolWithdrawalQueued(bob, 5e6, eta);
        perp.queuePoolWithdrawal(5e6, bob);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.ParamsTimelocked.selector, eta, block.timestamp));
        perp.withdrawPool();
        vm.warp(eta);
        vm.expectEmit(true, false, false, true, address(perp));
        emit PerpMarket.PoolWithdrawn(bob, 5e6);
        perp.withdrawPool();
        assertEq(usdc.balanceOf(bob), 1e30 - 10_000e6 + 5e6);
        assertEq(perp.poolBalance(), 1_000_000e6);
        vm.expectRevert(PerpMarket.NoWithdrawalQueued.selector);
        perp.withdrawPool(); // executed once, not twice
        vm.expectRevert(PerpMarket.ZeroAmount.selector);
        perp.fundPool(0);
        vm.expectRevert(PerpMarket.ZeroAmount.selector);
        perp.queuePoolWithdrawal(0, bob);
        vm.expectRevert(PerpMarket.ZeroAddress.selector);
        perp.queuePoolWithdrawal(1, address(0));
        perp.queuePoolWithdrawal(1_000_000e6 + 1, bob);
        vm.warp(block.timestamp + perp.PARAMS_DELAY());
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.PoolInsufficient.selector, 1_000_000e6, 1_000_000e6 + 1));
        perp.withdrawPool();
        perp.cancelPoolWithdrawal();
        vm.expectRevert(PerpMarket.NoWithdrawalQueued.selector);
        perp.cancelPoolWithdrawal();
        vm.stopPrank();
    }
}
