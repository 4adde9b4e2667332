// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {MockERC20} from "./mocks/MockERC20.sol";
import {OptionMarketBase} from "./helpers/OptionMarketBase.sol";

/// Fuzzed payoffs, collateral rounding and pro-rata closes against reference formulas.
contract OptionMarketFuzzTest is OptionMarketBase {
    /// Payoffs match a reference formula, and holder + writer never receive more than was locked.
    function testFuzz_payoffMatchesReference(uint256 strike, uint256 price, uint256 amount, bool isPut) public {
        strike = bound(strike, 1, 1e14 * 1e8);
        price = bound(price, 1, 1e14 * 1e8);
        amount = bound(amount, 1, 1e30);
        uint256 id = market.createSeries(address(weth), strike, EXPIRY, isPut);
        vm.prank(writer);
        market.write(id, amount, holder);
        uint256 locked = market.collateralOf(id, writer);
        _expireAt(price);
        vm.prank(holder);
        market.exercise(id, amount);
        MockERC20 asset = isPut ? usdc : weth;
        uint256 paid = asset.balanceOf(holder);
        uint256 expected;
        if (isPut) {
            expected = price < strike ? Math.mulDiv(amount * (strike - price), 1e6, 1e26) : 0;
        } else {
            expected = price > strike ? Math.mulDiv(amount, price - strike, price) : 0; // 18-dec underlying
        }
        assertEq(paid, expected, "payout");
        uint256 before = asset.balanceOf(writer);
        vm.prank(writer);
        market.redeem(id);
        uint256 returned = asset.balanceOf(writer) - before;
        assertLe(paid + returned, locked, "solvency");
        assertLe(locked - paid - returned, 1, "dust");
        assertEq(asset.balanceOf(address(market)), locked - paid - returned);
    }

    /// Rounding with many writers/holders on a low-decimal underlying never pays out more than locked.
    function testFuzz_collateralRoundingSolvency(uint256[4] memory amounts, uint256 strike, uint256 price, bool isPut)
        public
    {
        strike = bound(strike, 1, 1e12);
        price = bound(price, 1, 1e12);
        uint256 id = market.createSeries(address(wbtc), strike, EXPIRY, isPut);
        MockERC20 asset = isPut ? usdc : wbtc;
        address[4] memory writers = [writer, other, address(0x1001), address(0x1002)];
        uint256 totalLocked;
        for (uint256 i; i < 4; ++i) {
            if (i >= 2) _fund(writers[i]);
            uint256 amt = bound(amounts[i], 1, 1e22);
            uint256 needed = market.collateralRequired(id, amt);
            uint256 exact = isPut ? amt * strike * 1e6 / 1e26 : amt * 1e8 / 1e18;
            assertGe(needed, exact);
            assertLe(needed, exact + 1);
            vm.prank(writers[i]);
            market.write(id, amt, address(uint160(0x2000 + i)));
            totalLocked += needed;
            if (i == 1) {
                vm.prank(address(0x2001));
                market.safeTransferFrom(address(0x2001), address(0x2000), id, amt / 3, "");
            }
        }
        vm.warp(EXPIRY + 60);
        btcFeed.setAnswer(int256(price));
        uint256 out;
        for (uint256 i; i < 4; ++i) {
            address h = address(uint160(0x2000 + i));
            uint256 bal = market.balanceOf(h, id);
            if (bal > 0) {
                vm.prank(h);
                market.exercise(id, bal);
            }
            out += asset.balanceOf(h);
            uint256 before = asset.balanceOf(writers[i]);
            vm.prank(writers[i]);
            market.redeem(id);
            out += asset.balanceOf(writers[i]) - before;
        }
        assertLe(out, totalLocked, "paid out more than locked");
        assertEq(asset.balanceOf(address(market)), totalLocked - out);
        assertLe(totalLocked - out, 8, "dust bounded");
    }

    /// Partial closes return collateral pro rata, never more than the exact share.
    function testFuzz_closeProRata(uint256 amount, uint256 closeAmt, uint256 strike) public {
        amount = bound(amount, 1, 1e30);
        closeAmt = bound(closeAmt, 1, amount);
        strike = bound(strike, 1, 1e20);
        uint256 id = market.createSeries(address(weth), strike, EXPIRY, true);
        vm.startPrank(writer);
        market.write(id, amount, writer);
        uint256 locked = market.collateralOf(id, writer);
        uint256 before = usdc.balanceOf(writer);
        market.closePosition(id, closeAmt);
        vm.stopPrank();
        uint256 got = usdc.balanceOf(writer) - before;
        assertEq(got, locked * closeAmt / amount);
        uint256 left = market.collateralOf(id, writer);
        assertEq(left + got, locked);
        assertGe(left * 1e26, (amount - closeAmt) * strike * 1e6); // still fully collateralized
    }
}
