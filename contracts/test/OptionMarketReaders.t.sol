// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {OptionMarket} from "../src/OptionMarket.sol";
import {OptionMarketBase} from "./helpers/OptionMarketBase.sol";

/// Read side used by the Python readers: series lookup, the per-account book, and view gas budgets.
contract OptionMarketReadersTest is OptionMarketBase {
    // ------------------------------------------------------------ series lookup

    function test_getSeriesDetails() public view {
        (address coll, address und, address strikeAsset, uint256 k, uint256 exp, bool isPut) =
            market.getSeriesDetails(callId);
        assertEq(coll, address(weth));
        assertEq(und, address(weth));
        assertEq(strikeAsset, address(usdc));
        assertEq(k, 3000e8);
        assertEq(exp, EXPIRY);
        assertFalse(isPut);
        (coll,,,,, isPut) = market.getSeriesDetails(putId);
        assertEq(coll, address(usdc));
        assertTrue(isPut);
    }

    function test_seriesNotFound() public {
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotFound.selector, 0));
        market.getSeriesDetails(0);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotFound.selector, 3));
        market.getSeriesDetails(3);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotFound.selector, 3));
        market.getSeriesState(3);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotFound.selector, 3));
        vm.prank(writer);
        market.write(3, 1e18, holder);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotFound.selector, 9));
        market.settle(9);
    }

    // ------------------------------------------------------------ account book

    function test_accountBook_tracksMintsTransfersAndShorts() public {
        vm.startPrank(writer);
        market.write(callId, 2e18, holder);
        market.write(putId, 1e18, writer);
        vm.stopPrank();
        vm.prank(holder);
        market.safeTransferFrom(holder, other, callId, 0.5e18, "");
        vm.prank(writer);
        market.safeTransferFrom(writer, holder, putId, 0, ""); // zero-value: not recorded

        (uint256[] memory ids, uint256[] memory longs, uint256[] memory shorts) = market.accountBook(writer);
        assertEq(ids.length, 2);
        assertEq(ids[0], callId);
        assertEq(longs[0], 0);
        assertEq(shorts[0], 2e18);
        assertEq(ids[1], putId);
        assertEq(longs[1], 1e18);
        assertEq(shorts[1], 1e18);

        (ids, longs, shorts) = market.accountBook(holder);
        assertEq(ids.length, 1);
        assertEq(longs[0], 1.5e18);
        assertEq(shorts[0], 0);

        (ids, longs,) = market.accountBook(other);
        assertEq(ids.length, 1);
        assertEq(ids[0], callId);
        assertEq(longs[0], 0.5e18);

        // series stay listed after balances go to zero
        _expireAt(3500e8);
        vm.prank(other);
        market.exercise(callId, 0.5e18);
        (ids, longs,) = market.accountBook(other);
        assertEq(ids.length, 1);
        assertEq(longs[0], 0);
    }

    /// The Python readers cap multicall gas per call (details 30k, accountBook 400k).
    function test_viewGasFitsReaderBudgets() public {
        vm.startPrank(writer);
        for (uint256 i; i < 20; ++i) {
            uint256 id = market.createSeries(address(weth), (2000 + 100 * i) * 1e8, EXPIRY, i % 2 == 0);
            market.write(id, 1e18, writer);
        }
        vm.stopPrank();
        uint256 g = gasleft();
        market.getSeriesDetails(7);
        assertLt(g - gasleft(), 30_000, "getSeriesDetails");
        g = gasleft();
        (uint256[] memory ids,,) = market.accountBook(writer);
        assertLt(g - gasleft(), 400_000, "accountBook");
        assertEq(ids.length, 20);
    }
}
