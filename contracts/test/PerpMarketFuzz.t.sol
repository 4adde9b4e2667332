// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {PerpMarket} from "../src/PerpMarket.sol";
import {PerpMarketBase} from "./helpers/PerpMarketBase.sol";

/// Fuzzed funding, liquidation threshold and token conservation against reference formulas.
contract PerpMarketFuzzTest is PerpMarketBase {
    /// Funding index grows by rate * price * dt / 1e18, with the sign of the skew.
    function testFuzz_fundingSignAndMagnitude(int256 size, uint256 price, uint256 dt) public {
        size = bound(size, -500e18, 500e18);
        vm.assume(size != 0);
        price = bound(price, 100e8, 10_000e8);
        dt = bound(dt, 1, 30 days);
        _setPrice(price);
        address t = size > 0 ? alice : bob;
        vm.prank(t);
        perp.depositMargin(10_000_000e6);
        vm.prank(t);
        perp.modifyPosition(size, size > 0 ? type(uint256).max : 0);
        int256 rate = perp.fundingRatePerSecond();
        int256 expectedRate = size * 1e18 / 1000e18 * 0.1e18 / int256(1e18 * 86400);
        assertEq(rate, expectedRate);
        assertTrue(size > 0 ? rate >= 0 : rate <= 0);
        vm.warp(block.timestamp + dt);
        _setPrice(price);
        int256 idx = perp.fundingIndex();
        assertEq(idx, rate * int256(price * 1e10) * int256(dt) / 1e18);
        int256 owed = perp.accruedFunding(t);
        assertGe(owed, 0); // the heavy side pays (or nothing after rounding)
        int256 exact = idx * size / 1e18; // 1e18 quote
        assertGe(owed * 1e12, exact);
        assertLt(owed * 1e12 - exact, 1e12 + 1);
    }

    /// isLiquidatable matches a reference formula and liquidate succeeds exactly when it is true.
    function testFuzz_liquidationThreshold(uint256 size, uint256 price) public {
        size = bound(size, 1e15, 30e18);
        price = bound(price, 1000e8, 6000e8);
        vm.prank(alice);
        perp.modifyPosition(int256(size), type(uint256).max);
        _setPrice(price);
        uint256 m = _margin(alice);
        int256 pnl = (int256(price) * 1e10 - 3000e18) * int256(size);
        int256 pnlRaw = pnl / 1e30;
        if (pnl < 0 && pnl % 1e30 != 0) pnlRaw -= 1;
        int256 remaining = int256(m) + pnlRaw;
        uint256 notional = size * price * 1e10; // 1e36
        // ceil(notional * 5%) in raw units
        uint256 req = (notional * 500) % 1e34 == 0 ? notional * 500 / 1e34 : notional * 500 / 1e34 + 1;
        bool expected = remaining < int256(req);
        assertEq(perp.remainingMargin(alice), remaining);
        assertEq(perp.isLiquidatable(alice), expected);
        vm.prank(keeper);
        if (!expected) vm.expectRevert(abi.encodeWithSelector(PerpMarket.NotLiquidatable.selector, alice));
        perp.liquidate(alice);
        assertEq(usdc.balanceOf(address(perp)), perp.totalMargin() + perp.poolBalance());
    }

    /// Sum of margins + pool == token balance over random sequences of actions.
    function testFuzz_conservation(uint256 seed) public {
        address[3] memory actors = [alice, bob, keeper];
        _fund(keeper, 5_000e6);
        for (uint256 i; i < 24; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            address who = actors[r % 3];
            uint256 op = (r >> 8) % 6;
            vm.startPrank(who);
            if (op == 0) {
                perp.depositMargin(bound(r >> 16, 1, 5_000e6));
            } else if (op == 1) {
                try perp.withdrawMargin(bound(r >> 16, 1, 5_000e6)) {} catch {}
            } else if (op == 2) {
                int256 d = int256(bound(r >> 16, 1, 20e18)) * ((r >> 100) % 2 == 0 ? int256(1) : -1);
                try perp.modifyPosition(d, d > 0 ? type(uint256).max : 0) {} catch {}
            } else if (op == 3) {
                try perp.liquidate(actors[(r >> 16) % 3]) {} catch {}
            } else if (op == 4) {
                vm.stopPrank();
                vm.warp(block.timestamp + bound(r >> 16, 1, 2 days));
                _setPrice(bound(r >> 64, 2000e8, 4000e8));
                vm.startPrank(who);
            } else {
                int256 s = _size(who);
                if (s != 0) try perp.modifyPosition(-s, s > 0 ? 0 : type(uint256).max) {} catch {}
            }
            vm.stopPrank();
            assertEq(usdc.balanceOf(address(perp)), perp.totalMargin() + perp.poolBalance(), "conservation");
            assertEq(perp.totalMargin(), _margin(alice) + _margin(bob) + _margin(keeper), "margins");
        }
    }
}
