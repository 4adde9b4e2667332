// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HedgeModule} from "../src/HedgeModule.sol";
import {IHedgeModule} from "../src/IHedgeModule.sol";
import {HMTestBase} from "./helpers/HMTestBase.sol";

/// @notice Wiring through the real Safe, construction, and access control: only the Safe configures, only the
///         keeper hedges, the guardian (or Safe) pauses and only the Safe unpauses.
contract HedgeModuleAccessTest is HMTestBase {
    // ------------------------------------------------------------ real Safe wiring

    function test_realSafe_moduleEnabled_andConfiguredThroughExecTransaction() public view {
        assertEq(safeAcct.VERSION(), "1.4.1");
        assertTrue(safeAcct.isModuleEnabled(address(module)));
        assertEq(safeAcct.getOwners()[0], owner);
        assertEq(module.safe(), safe);
        assertEq(module.keeper(), keeper);
        assertEq(module.guardian(), guardian);
        assertEq(module.router(), address(mockRouter));
        assertEq(module.factory(), address(mockFactory));
        assertEq(module.poolFor(_key(address(weth), address(usdc), FEE)), mockPool);
        assertEq(module.lossBudgetWindowUsd(), LOSS_WINDOW);
        assertEq(module.lossBudgetTotalUsd(), LOSS_TOTAL);
        assertEq(module.perpMinMarginBps(), PERP_MIN_MARGIN_BPS);
        assertEq(module.maxNotionalPerTradeUsd(), PER_TRADE);
        assertEq(module.maxNotionalPerWindowUsd(), PER_WINDOW);
        assertEq(module.windowSeconds(), WINDOW);
        assertEq(module.maxSlippageBps(), SLIP_BPS);
        (address f, uint256 age, uint8 dec, bool ok) = module.tokenConfig(address(usdc));
        assertEq(f, address(usdcFeed));
        assertEq(age, 1 days);
        assertEq(dec, 6);
        assertTrue(ok);
        IHedgeModule.MarketParams memory mp = module.params().markets[0];
        assertEq(mp.market, address(perp));
        assertEq(mp.feed, address(ethFeed));
        assertEq(mp.maxFeedAge, 1 hours);
        assertEq(mp.maxAbsSize, PERP_LIMIT);
    }

    function _key(address a, address b, uint24 fee) internal pure returns (bytes32) {
        (address t0, address t1) = a < b ? (a, b) : (b, a);
        return keccak256(abi.encode(t0, t1, fee));
    }

    function test_constructor_rejectsZeroSafe() public {
        vm.expectRevert(IHedgeModule.ZeroAddress.selector);
        new HedgeModule(address(0), keeper, guardian);
    }

    function test_freshModule_failsClosed() public {
        HedgeModule fresh = new HedgeModule(safe, keeper, guardian);
        vm.prank(keeper);
        vm.expectRevert(IHedgeModule.RouterNotSet.selector);
        fresh.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 0, block.timestamp);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.MarketNotAllowed.selector, address(perp)));
        fresh.hedgePerp(address(perp), 1e18, 2100e18);
    }

    // ------------------------------------------------------------ access control

    function _setterCalls() internal view returns (bytes[] memory c) {
        c = new bytes[](17);
        c[0] = abi.encodeCall(HedgeModule.setKeeper, (address(1)));
        c[1] = abi.encodeCall(HedgeModule.setGuardian, (address(1)));
        c[2] = abi.encodeCall(HedgeModule.setRouter, (address(1)));
        c[3] = abi.encodeCall(HedgeModule.setPoolAllowed, (address(weth), address(usdc), FEE, false));
        c[4] = abi.encodeCall(HedgeModule.setTokenConfig, (address(junk), address(usdcFeed), 1 days, true));
        c[5] = abi.encodeCall(HedgeModule.setPerpMarket, (address(1), address(ethFeed), 1 hours, true));
        c[6] = abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 1));
        c[7] = abi.encodeCall(HedgeModule.setLimits, (1e30, 1e30, 1 days, 1000));
        c[8] = abi.encodeCall(HedgeModule.unpause, ());
        c[9] = abi.encodeCall(HedgeModule.setTokenConfig, (address(usdc), address(0), 0, false));
        c[10] = abi.encodeCall(HedgeModule.setFactory, (address(1)));
        c[11] = abi.encodeCall(HedgeModule.setLossBudgets, (1e30, 1e30));
        c[12] = abi.encodeCall(HedgeModule.resetLossTotal, ());
        c[13] = abi.encodeCall(HedgeModule.setTwapWindow, (600));
        c[14] = abi.encodeCall(HedgeModule.setSequencerFeed, (address(1), 0));
        c[15] = abi.encodeCall(HedgeModule.setPerpMinMarginBps, (1));
        c[16] = abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 1e30));
    }

    function test_setters_onlySafe() public {
        bytes[] memory calls = _setterCalls();
        address[4] memory callers = [keeper, guardian, owner, makeAddr("random")];
        bytes32 before = module.paramsHash();
        for (uint256 i; i < calls.length; ++i) {
            for (uint256 j; j < callers.length; ++j) {
                vm.prank(callers[j]);
                (bool ok, bytes memory ret) = address(module).call(calls[i]);
                assertFalse(ok);
                assertEq(ret, abi.encodeWithSelector(IHedgeModule.NotSafe.selector, callers[j]));
            }
        }
        assertEq(module.paramsHash(), before);
    }

    function testFuzz_setters_onlySafe(address caller, uint8 which) public {
        vm.assume(caller != safe);
        bytes[] memory calls = _setterCalls();
        vm.prank(caller);
        (bool ok, bytes memory ret) = address(module).call(calls[which % calls.length]);
        assertFalse(ok);
        assertEq(ret, abi.encodeWithSelector(IHedgeModule.NotSafe.selector, caller));
    }

    function testFuzz_hedges_onlyKeeper(address caller) public {
        vm.assume(caller != keeper);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.NotKeeper.selector, caller));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 0, block.timestamp);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.NotKeeper.selector, caller));
        module.hedgePerp(address(perp), 1e18, 2010e18);
    }

    function test_safeOwnersCanRotateKeeper() public {
        address k2 = makeAddr("keeper2");
        vm.expectEmit(address(module));
        emit IHedgeModule.KeeperSet(keeper, k2);
        _asSafe(abi.encodeCall(HedgeModule.setKeeper, (k2)));
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.NotKeeper.selector, keeper));
        module.hedgePerp(address(perp), 1e18, 2010e18);
        vm.prank(k2);
        module.hedgePerp(address(perp), 1e18, 2010e18);
        _asSafe(abi.encodeCall(HedgeModule.setGuardian, (k2)));
        assertEq(module.guardian(), k2);
    }

    // ------------------------------------------------------------ pause

    function test_pause_byGuardian_blocksHedges_onlySafeUnpauses() public {
        vm.expectEmit(address(module));
        emit IHedgeModule.ModulePaused(guardian);
        vm.prank(guardian);
        module.pause();
        assertTrue(module.paused());
        _hedgeOneWethExpectRevert(abi.encodeWithSelector(IHedgeModule.Paused.selector));
        vm.prank(keeper);
        vm.expectRevert(IHedgeModule.Paused.selector);
        module.hedgePerp(address(perp), 1e18, 2010e18);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.NotSafe.selector, guardian));
        module.unpause();
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.NotSafe.selector, keeper));
        module.unpause();
        _asSafe(abi.encodeCall(HedgeModule.unpause, ()));
        assertFalse(module.paused());
        _swapWeth(1e18);
    }

    function test_pause_bySafe_andOthersCannotPause() public {
        _asSafe(abi.encodeCall(HedgeModule.pause, ()));
        assertTrue(module.paused());
        _asSafe(abi.encodeCall(HedgeModule.unpause, ()));
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.NotGuardian.selector, keeper));
        module.pause();
        vm.prank(safe);
        vm.expectRevert(IHedgeModule.NotPaused.selector);
        module.unpause();
    }
}
