// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HedgeModule} from "../src/HedgeModule.sol";
import {IHedgeModule} from "../src/IHedgeModule.sol";
import {HMToken} from "./helpers/HMToken.sol";
import {HMMockFeed} from "./helpers/HMMockFeed.sol";
import {HMTestBase} from "./helpers/HMTestBase.sol";

/// @notice Oracle bounds: minimum outputs and acceptable prices derived from the module's feeds, feed staleness
///         and bad answers, and fuzzed "accepted implies within the oracle bound" properties.
contract HedgeModuleOracleTest is HMTestBase {
    // ------------------------------------------------------------ oracle-bounded minimum and feed checks

    function test_hedgeSwap_minOutBelowOracleBound() public {
        uint256 bound_ = _minOutWethToUsdc(1e18);
        assertEq(bound_, 1990e6);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.MinOutBelowOracleBound.selector, bound_ - 1, bound_));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, bound_ - 1, block.timestamp);
        vm.prank(keeper);
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, bound_, block.timestamp); // exactly the bound: ok
    }

    function test_hedgeSwap_staleFeed() public {
        vm.warp(block.timestamp + 1 hours + 1); // WETH feed max age 1 hour
        uint256 updatedAt = block.timestamp - 1 hours - 1;
        _hedgeOneWethExpectRevert(
            abi.encodeWithSelector(IHedgeModule.StaleFeed.selector, address(ethFeed), updatedAt, 1 hours)
        );
        ethFeed.setAnswer(2000e8);
        _swapWeth(1e18);
    }

    function test_hedgeSwap_badFeedAnswers() public {
        HMMockFeed f = new HMMockFeed(8, 2000e8);
        _asSafe(abi.encodeCall(HedgeModule.setTokenConfig, (address(weth), address(f), 1 hours, true)));
        int256[3] memory answers = [int256(0), -1, int256(1e36) + 1];
        for (uint256 i; i < answers.length; ++i) {
            f.set(answers[i], block.timestamp);
            vm.prank(keeper);
            vm.expectRevert(abi.encodeWithSelector(IHedgeModule.BadFeedAnswer.selector, address(f), answers[i]));
            module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 0, block.timestamp);
        }
        f.set(2000e8, block.timestamp + 1); // future timestamp
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IHedgeModule.StaleFeed.selector, address(f), block.timestamp + 1, 1 hours)
        );
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 0, block.timestamp);
        f.set(2000e18, block.timestamp);
        f.setDecimals(18);
        _swapWeth(1e18); // decimals are read live: 2000e18 at 18 decimals is $2000
    }

    // ------------------------------------------------------------ fuzz

    /// @notice Any swap the module accepts pays at least the oracle value less maxSlippage, within the caps.
    function testFuzz_swap_acceptedImpliesOracleBound(
        uint256 amountIn,
        uint256 ethPrice8,
        uint256 slipBps,
        uint256 haircutBps,
        uint256 minOut,
        bool lying,
        bool wethIn
    ) public {
        ethPrice8 = bound(ethPrice8, 1e8, 100_000e8);
        slipBps = bound(slipBps, 0, 1000);
        haircutBps = bound(haircutBps, 0, 2000);
        amountIn = bound(amountIn, 1, wethIn ? 1_000e18 : 1_000_000e6);
        ethFeed.setAnswer(int256(ethPrice8));
        mockRouter.setPrice(address(weth), ethPrice8 * 1e10);
        mockRouter.setBehaviour(haircutBps, lying, 0, address(0), false);
        _asSafe(abi.encodeCall(HedgeModule.setLimits, (PER_TRADE, PER_WINDOW, WINDOW, slipBps)));
        (HMToken tin, HMToken tout) = wethIn ? (weth, usdc) : (usdc, weth);
        tin.mint(safe, amountIn);
        _checkSwapIfAccepted(tin, tout, amountIn, bound(minOut, 0, amountIn * 1e20), slipBps);
    }

    function _checkSwapIfAccepted(HMToken tin, HMToken tout, uint256 amountIn, uint256 minOut, uint256 slipBps)
        internal
    {
        int256 v0 = _safeValueUsd();
        uint256 outBefore = tout.balanceOf(safe);
        vm.prank(keeper);
        try module.hedgeSwap(address(tin), address(tout), FEE, amountIn, minOut, block.timestamp) returns (
            uint256 out
        ) {
            if (out == 0) {
                // the worst case exceeded the total loss budget left: no trade, the module paused itself
                assertTrue(module.paused());
                assertEq(tout.balanceOf(safe), outBefore);
                return;
            }
            (uint256 notional, uint256 expectedOut,) = module.quoteSwap(address(tin), address(tout), FEE, amountIn);
            assertLe(notional, PER_TRADE);
            assertGe(out, minOut);
            assertEq(tout.balanceOf(safe), outBefore + out);
            assertGe(out * 10_000, expectedOut * (10_000 - slipBps));
            int256 loss = v0 - _safeValueUsd();
            assertLe(loss, int256(notional * slipBps / 10_000) + 3, "value loss above the slippage allowance");
            assertEq(tin.allowance(safe, address(mockRouter)), 0);
        } catch (bytes memory) {}
    }

    function testFuzz_perp_acceptedImpliesPriceBound(int256 sizeDelta, uint256 acceptable, uint256 slipBps) public {
        slipBps = bound(slipBps, 0, 1000);
        sizeDelta = bound(sizeDelta, -60e18, 60e18);
        acceptable = bound(acceptable, 1500e18, 2500e18);
        _asSafe(abi.encodeCall(HedgeModule.setLimits, (PER_TRADE, PER_WINDOW, WINDOW, slipBps)));
        vm.prank(keeper);
        try module.hedgePerp(address(perp), sizeDelta, acceptable) {
            uint256 notional = uint256(sizeDelta > 0 ? sizeDelta : -sizeDelta) * 2000;
            assertLe(notional, PER_TRADE);
            if (sizeDelta > 0) assertLe(acceptable * 10_000, 2000e18 * (10_000 + slipBps));
            else assertGe(acceptable * 10_000, 2000e18 * (10_000 - slipBps));
            assertGe(perp.equityUsd(safe), PERP_MARGIN - int256(notional * slipBps / 10_000) - 1);
        } catch (bytes memory) {}
    }

    function testFuzz_quoteSwap_matchesIndependentMath(uint256 amountIn, uint256 ethPrice8) public {
        ethPrice8 = bound(ethPrice8, 1, 1e14);
        amountIn = bound(amountIn, 1, 1e30);
        ethFeed.setAnswer(int256(ethPrice8));
        (uint256 notional, uint256 expectedOut, uint256 minOut) =
            module.quoteSwap(address(weth), address(usdc), FEE, amountIn);
        uint256 exactNum = amountIn * ethPrice8 * 1e10; // usd wad * 1e18
        assertEq(notional, (exactNum + 1e18 - 1) / 1e18);
        assertEq(expectedOut, (amountIn * ethPrice8 * 1e10 * 1e6 + 1e36 - 1) / 1e36);
        assertEq(minOut, (expectedOut * (10_000 - SLIP_BPS) + 9_999) / 10_000);
    }
}
