// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HVFixture} from "./helpers/HVFixture.sol";
import {HedgeVenueModule} from "../src/HedgeVenueModule.sol";
import {HedgeModule} from "../src/HedgeModule.sol";
import {IHedgeModule} from "../src/IHedgeModule.sol";
import {PoolKey} from "../src/interfaces/IUniswapV4.sol";

/// @notice A stolen keeper key against the venue module, on the real v4 contracts and the Aave double: each test
///         is one attack, and asserts the revert (or the pause) and that nothing moved.
contract HedgeVenueAttacksTest is HVFixture {
    function setUp() public {
        _setUpVenues();
    }

    function _expectV4Revert(PoolKey memory key, bool zeroForOne, uint256 amountIn, uint256 minOut, bytes memory err)
        internal
    {
        uint256 wethBefore = weth.balanceOf(safe);
        uint256 ethBefore = safe.balance;
        vm.prank(keeper);
        vm.expectRevert(err);
        venue.hedgeV4Swap(key, zeroForOne, amountIn, minOut, block.timestamp);
        assertEq(weth.balanceOf(safe), wethBefore);
        assertEq(safe.balance, ethBefore);
    }

    function test_stolenKeyTriesAHookedPool() public {
        // a pool with the same currencies and fee but hooks the attacker deployed: not an allowed key
        PoolKey memory hooked = PoolKey(address(0), address(usdc), V4_FEE, V4_SPACING, makeAddr("attackerHooks"));
        _expectV4Revert(
            hooked,
            true,
            1e18,
            1_990e6,
            abi.encodeWithSelector(HedgeVenueModule.PoolKeyNotAllowed.selector, venue.poolId(hooked))
        );
    }

    function test_stolenKeyTriesAHookedPoolWhoseHooksTheOwnersRevoked() public {
        address hooks = makeAddr("hooks");
        PoolKey memory k = PoolKey(address(0), address(usdc), V4_FEE, V4_SPACING, hooks);
        _asVenue(abi.encodeCall(HedgeVenueModule.setHooksAllowed, (hooks, true)));
        _asVenue(abi.encodeCall(HedgeVenueModule.setPoolKeyAllowed, (k, true)));
        _asVenue(abi.encodeCall(HedgeVenueModule.setHooksAllowed, (hooks, false)));
        _expectV4Revert(
            k, true, 1e18, 1_990e6, abi.encodeWithSelector(HedgeVenueModule.HooksNotAllowed.selector, hooks)
        );
    }

    function test_stolenKeyTriesADisallowedPoolKey() public {
        PoolKey memory k = kEth;
        k.fee = 3000; // another fee tier of the same pair
        k.tickSpacing = 60;
        _expectV4Revert(
            k, true, 1e18, 1_990e6, abi.encodeWithSelector(HedgeVenueModule.PoolKeyNotAllowed.selector, venue.poolId(k))
        );
    }

    function test_stolenKeyAsksForLessThanTheOracleBound() public {
        uint256 minOut = _minOut(kEth, true, 1e18);
        _expectV4Revert(
            kEth,
            true,
            1e18,
            minOut - 1,
            abi.encodeWithSelector(HedgeVenueModule.MinOutBelowOracleBound.selector, minOut - 1, minOut)
        );
    }

    function test_stolenKeyTriesADisallowedReserve() public {
        vm.startPrank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.ReserveNotAllowed.selector, address(junk)));
        venue.aaveBorrow(address(junk), 1e18);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.ReserveNotAllowed.selector, address(junk)));
        venue.aaveSupply(address(junk), 1e18);
        vm.stopPrank();
        // a reserve the owners disallowed later
        _asVenue(abi.encodeCall(HedgeVenueModule.setReserveAllowed, (address(weth), false)));
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.ReserveNotAllowed.selector, address(weth)));
        venue.hedgeBorrowSell(address(weth), 1e18, kWeth, _wethIs0(), 1_990e6, block.timestamp);
    }

    function test_stolenKeyBorrowsBelowTheMinimumHealthFactor() public {
        vm.startPrank(keeper);
        venue.aaveSupply(address(usdc), 100_000e6); // 85k after the liquidation threshold
        // 30 WETH = 60k debt: HF 1.4167 >= 1 (Aave would allow it) but < 1.5 (the owners' floor)
        vm.expectRevert(
            abi.encodeWithSelector(HedgeVenueModule.HealthFactorTooLow.selector, 1_416_666_666_666_666_666, MIN_HF)
        );
        venue.aaveBorrow(address(weth), 30e18);
        // the same borrow as borrow-and-sell
        uint256 minOut = _minOut(kWeth, _wethIs0(), 30e18);
        vm.expectRevert(
            abi.encodeWithSelector(HedgeVenueModule.HealthFactorTooLow.selector, 1_416_666_666_666_666_666, MIN_HF)
        );
        venue.hedgeBorrowSell(address(weth), 30e18, kWeth, _wethIs0(), minOut, block.timestamp);
        vm.stopPrank();
        assertEq(_debt(address(weth)).balanceOf(safe), 0);
    }

    function test_stolenKeyWithdrawsBelowTheMinimumHealthFactor() public {
        vm.startPrank(keeper);
        venue.aaveSupply(address(usdc), 100_000e6);
        venue.aaveBorrow(address(weth), 20e18); // HF 2.125
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.HealthFactorTooLow.selector, 1.275e18, MIN_HF));
        venue.aaveWithdraw(address(usdc), 40_000e6);
        vm.stopPrank();
        assertEq(_aToken(address(usdc)).balanceOf(safe), 100_000e6);
    }

    function test_withoutAMinimumHealthFactorNoBorrowAndNoWithdraw() public {
        HedgeVenueModule fresh = new HedgeVenueModule(module, address(weth));
        require(_safeExec(safe, abi.encodeWithSignature("enableModule(address)", address(fresh))), "enable");
        require(_safeExec(address(fresh), abi.encodeCall(HedgeVenueModule.setAavePool, (address(aave)))), "pool");
        require(
            _safeExec(address(fresh), abi.encodeCall(HedgeVenueModule.setReserveAllowed, (address(weth), true))), "r"
        );
        vm.prank(keeper);
        vm.expectRevert(HedgeVenueModule.MinHealthFactorNotSet.selector);
        fresh.aaveBorrow(address(weth), 1e18);
    }

    function test_stolenKeyExceedsThePerTradeCapViaV4AndViaAave() public {
        uint256 minOut = _minOut(kWeth, _wethIs0(), 51e18);
        _expectV4Revert(
            kWeth,
            _wethIs0(),
            51e18,
            minOut,
            abi.encodeWithSelector(IHedgeModule.TradeCapExceeded.selector, 102_000e18, PER_TRADE)
        );
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.TradeCapExceeded.selector, 100_001e18, PER_TRADE));
        venue.aaveSupply(address(usdc), 100_001e6);
    }

    function test_theWindowCapIsSharedByV3SwapsV4SwapsAndAave() public {
        vm.startPrank(keeper);
        module.hedgeSwap(address(weth), address(usdc), FEE, 40e18, 79_600e6, block.timestamp); // v3: 80k
        venue.hedgeV4Swap(kWeth, _wethIs0(), 40e18, _minOut(kWeth, _wethIs0(), 40e18), block.timestamp); // 80k
        venue.aaveSupply(address(usdc), 80_000e6); // 80k
        uint256 minOut = _minOut(kEth, true, 10e18);
        vm.expectRevert(
            abi.encodeWithSelector(IHedgeModule.WindowCapExceeded.selector, 240_000e18, 20_000e18, PER_WINDOW)
        );
        venue.hedgeV4Swap(kEth, true, 10e18, minOut, block.timestamp);
        vm.expectRevert(
            abi.encodeWithSelector(IHedgeModule.WindowCapExceeded.selector, 240_000e18, 20_000e18, PER_WINDOW)
        );
        venue.aaveBorrow(address(weth), 10e18);
        vm.stopPrank();
        vm.warp(block.timestamp + 2 * WINDOW); // the last of the window's 33 time buckets has passed
        _refreshFeeds();
        vm.prank(keeper);
        venue.hedgeV4Swap(kEth, true, 10e18, minOut, block.timestamp); // a new window
    }

    function test_theLossBudgetIsSharedAndPausesBothModules() public {
        _asSafe(abi.encodeCall(HedgeModule.setLossBudgets, (100e18, 100e18)));
        uint256 wethBefore = weth.balanceOf(safe);
        uint256 minOut = _minOut(kWeth, _wethIs0(), 15e18); // 30k notional: worst case 150 > 100 left
        vm.prank(keeper);
        vm.expectEmit(address(module));
        emit IHedgeModule.LossBudgetSpent(0, 100e18, 150e18);
        uint256 out = venue.hedgeV4Swap(kWeth, _wethIs0(), 15e18, minOut, block.timestamp);
        assertEq(out, 0);
        assertEq(weth.balanceOf(safe), wethBefore); // no trade
        assertTrue(module.paused());
        (uint256 windowNotional,) = module.windowUsage();
        assertEq(windowNotional, 0); // the notional was taken back
        vm.startPrank(keeper);
        vm.expectRevert(HedgeVenueModule.Paused.selector);
        venue.aaveSupply(address(usdc), 1e6);
        vm.expectRevert(IHedgeModule.Paused.selector);
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1_990e6, block.timestamp);
        vm.stopPrank();
    }

    function test_aV4LossBeyondTheWindowLossBudgetReverts() public {
        _asSafe(abi.encodeCall(HedgeModule.setLossBudgets, (5e18, LOSS_TOTAL)));
        uint256 minOut = _minOut(kWeth, _wethIs0(), 10e18); // 20k: fee alone is 10 USD > 5
        vm.prank(keeper);
        vm.expectPartialRevert(IHedgeModule.WindowLossBudgetExceeded.selector);
        venue.hedgeV4Swap(kWeth, _wethIs0(), 10e18, minOut, block.timestamp);
    }

    function test_theGuardiansPauseAndTheOwnersKeyRotationStopTheVenues() public {
        vm.prank(guardian);
        module.pause();
        vm.prank(keeper);
        vm.expectRevert(HedgeVenueModule.Paused.selector);
        venue.aaveSupply(address(usdc), 1e6);
        _asSafe(abi.encodeCall(HedgeModule.unpause, ()));
        _asSafe(abi.encodeCall(HedgeModule.setKeeper, (makeAddr("newKeeper"))));
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.NotKeeper.selector, keeper));
        venue.aaveSupply(address(usdc), 1e6);
    }

    function test_stolenKeyCannotBookOrConfigure() public {
        vm.startPrank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.NotSafe.selector, keeper));
        module.bookVenueTrade(0, 0); // e.g. to free budget: it can only add, and only the Safe may call
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.NotSafe.selector, keeper));
        venue.setMinHealthFactor(type(uint256).max);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.NotSafe.selector, keeper));
        venue.setPoolKeyAllowed(PoolKey(address(0), address(usdc), 100, 1, address(0)), true);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.NotSafe.selector, keeper));
        venue.setHooksAllowed(keeper, true);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.NotSafe.selector, keeper));
        venue.setReserveAllowed(address(junk), true);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.NotSafe.selector, keeper));
        venue.setUniversalRouter(keeper, keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.NotSafe.selector, keeper));
        venue.setAavePool(keeper);
        vm.stopPrank();
    }

    function test_othersCannotHedge() public {
        address thief = makeAddr("thief");
        vm.startPrank(thief);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.NotKeeper.selector, thief));
        venue.hedgeV4Swap(kEth, true, 1e18, 1_990e6, block.timestamp);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.NotKeeper.selector, thief));
        venue.aaveWithdraw(address(usdc), 1);
        vm.stopPrank();
    }

    function test_borrowAndSellMustSellTheBorrowedAsset() public {
        vm.startPrank(keeper);
        venue.aaveSupply(address(usdc), 100_000e6);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.WrongCurrency.selector, address(usdc), address(weth)));
        venue.hedgeBorrowSell(address(weth), 1e18, kEth, false, 0, block.timestamp);
        vm.stopPrank();
    }

    function test_aStaleFeedStopsV4AndAave() public {
        vm.warp(block.timestamp + 2 hours); // the WETH feed's max age is 1 hour
        vm.startPrank(keeper);
        vm.expectRevert();
        venue.hedgeV4Swap(kEth, true, 1e18, 1_990e6, block.timestamp);
        vm.expectRevert();
        venue.aaveBorrow(address(weth), 1e18);
        vm.stopPrank();
    }
}
