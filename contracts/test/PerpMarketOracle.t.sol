// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {PerpMarket} from "../src/PerpMarket.sol";
import {AggregatorV3Interface} from "../src/interfaces/AggregatorV3Interface.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {PerpMarketBase} from "./helpers/PerpMarketBase.sol";

/// Oracle price validation and decimals, views under a stale feed, and view gas budgets.
contract PerpMarketOracleTest is PerpMarketBase {
    function test_invalidOraclePrice() public {
        vm.mockCall(
            address(feed),
            abi.encodeWithSelector(AggregatorV3Interface.latestRoundData.selector),
            abi.encode(uint80(1), int256(-1), block.timestamp, block.timestamp, uint80(1))
        );
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.InvalidPrice.selector, int256(-1)));
        perp.oraclePrice();
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.InvalidPrice.selector, int256(-1)));
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
    }

    function test_viewsIgnoreStaleness() public {
        _aliceLong3();
        vm.warp(block.timestamp + 1 days);
        assertFalse(perp.isOracleFresh());
        assertEq(perp.oraclePrice(), 3000e18);
        perp.remainingMargin(alice);
        perp.isLiquidatable(alice);
        perp.fundingIndex();
        _setPrice(3000e8);
        assertTrue(perp.isOracleFresh());
    }

    function test_feedDecimalsConversion() public {
        PriceFeed f18 = new PriceFeed(18, "18", 1234.5e18);
        PriceFeed f20 = new PriceFeed(20, "20", 1234.5e20);
        PerpMarket a = new PerpMarket(address(usdc), address(f18), owner, _params());
        PerpMarket b = new PerpMarket(address(usdc), address(f20), owner, _params());
        assertEq(a.oraclePrice(), 1234.5e18);
        assertEq(b.oraclePrice(), 1234.5e18);
        f20.setAnswer(99); // rounds to 0 at 1e18 scale
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.InvalidPrice.selector, int256(99)));
        b.oraclePrice();
        f18.setAnswer(1e30 + 1); // above MAX_PRICE
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.InvalidPrice.selector, int256(1e30 + 1)));
        a.oraclePrice();
    }

    /// The Python readers cap multicall gas per call.
    function test_viewGasFitsReaderBudgets() public {
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
        vm.warp(block.timestamp + 1 hours); // pending funding accrual in the views
        uint256 g = gasleft();
        perp.positions(alice);
        assertLt(g - gasleft(), 30_000, "positions");
        g = gasleft();
        perp.remainingMargin(alice);
        assertLt(g - gasleft(), 80_000, "remainingMargin");
        g = gasleft();
        perp.fundingIndex();
        assertLt(g - gasleft(), 60_000, "fundingIndex");
        g = gasleft();
        perp.oraclePrice();
        assertLt(g - gasleft(), 40_000, "oraclePrice");
        g = gasleft();
        perp.fundingRatePerSecond();
        assertLt(g - gasleft(), 40_000, "fundingRatePerSecond");
    }
}
