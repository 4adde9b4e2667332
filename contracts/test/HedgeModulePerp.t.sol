// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HedgeModule} from "../src/HedgeModule.sol";
import {IHedgeModule} from "../src/IHedgeModule.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {AggregatorV3Interface} from "../src/interfaces/AggregatorV3Interface.sol";
import {HMMockPerp} from "./helpers/HMMockPerp.sol";
import {HMTestBase} from "./helpers/HMTestBase.sol";

/// @notice hedgePerp: fills at the oracle-bounded acceptable price, rejections, market failures, position limits.
contract HedgeModulePerpTest is HMTestBase {
    function test_hedgePerp_buyAndSell_atBounds() public {
        (uint256 notional, uint256 px, uint256 maxBuy) = module.quotePerp(address(perp), 2e18);
        assertEq(notional, 4000e18);
        assertEq(px, 2000e18);
        assertEq(maxBuy, 2010e18);
        vm.expectEmit(address(module));
        emit IHedgeModule.PerpHedgeExecuted(address(perp), 2e18, maxBuy, px, notional, 2e18);
        vm.prank(keeper);
        module.hedgePerp(address(perp), 2e18, maxBuy);
        (,, uint256 minSell) = module.quotePerp(address(perp), -3e18);
        assertEq(minSell, 1990e18);
        vm.prank(keeper);
        module.hedgePerp(address(perp), -3e18, minSell);
        assertEq(perp.sizeOf(safe), -1e18);
        // filled at the worst allowed prices: loss = 2*10 + 3*10 = $50 = notional * 50 bps
        assertEq(perp.equityUsd(safe), PERP_MARGIN - 50e18);
    }

    function test_hedgePerp_rejections() public {
        vm.startPrank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.MarketNotAllowed.selector, address(0xdead)));
        module.hedgePerp(address(0xdead), 1e18, 2010e18);
        vm.expectRevert(IHedgeModule.ZeroAmount.selector);
        module.hedgePerp(address(perp), 0, 2010e18);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.AcceptablePriceOutOfBound.selector, 2010e18 + 1, 2010e18));
        module.hedgePerp(address(perp), 1e18, 2010e18 + 1);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.AcceptablePriceOutOfBound.selector, 1990e18 - 1, 1990e18));
        module.hedgePerp(address(perp), -1e18, 1990e18 - 1);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.TradeCapExceeded.selector, 100_002e18, PER_TRADE));
        module.hedgePerp(address(perp), -50.001e18, 2000e18);
        vm.stopPrank();
        vm.warp(block.timestamp + 1 hours + 1);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHedgeModule.StaleFeed.selector, address(ethFeed), block.timestamp - 1 hours - 1, 1 hours
            )
        );
        module.hedgePerp(address(perp), 1e18, 2010e18);
    }

    function test_hedgePerp_marketFailures() public {
        perp.setBehaviour(false, 10_000, true);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHedgeModule.PerpCallFailed.selector, abi.encodeWithSelector(HMMockPerp.PerpBoom.selector, int256(1e18))
            )
        );
        module.hedgePerp(address(perp), 1e18, 2010e18);
        perp.setBehaviour(false, 5_000, false); // fills half: state check catches it
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IHedgeModule.PerpFillMismatch.selector, int256(0), int256(0.5e18), int256(1e18))
        );
        module.hedgePerp(address(perp), 1e18, 2010e18);
    }

    function test_hedgePerp_positionLimit() public {
        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 3e18)));
        vm.startPrank(keeper);
        module.hedgePerp(address(perp), 3e18, 2010e18);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.PerpPositionLimitExceeded.selector, int256(3.1e18), 3e18));
        module.hedgePerp(address(perp), 0.1e18, 2010e18);
        module.hedgePerp(address(perp), -6e18, 1990e18); // flips to -3: at the limit
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.PerpPositionLimitExceeded.selector, int256(-4e18), 3e18));
        module.hedgePerp(address(perp), -1e18, 1990e18);
        vm.stopPrank();
        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 1e18)));
        vm.prank(keeper);
        module.hedgePerp(address(perp), 1e18, 2010e18); // |-3| -> |-2|: reducing is always allowed
        assertEq(perp.sizeOf(safe), -2e18);
    }

    function test_hedgePerp_usesModuleFeed_notMarketView() public {
        PriceFeed marketFeed = new PriceFeed(8, "manipulated", 4000e8);
        HMMockPerp bent = new HMMockPerp(AggregatorV3Interface(address(marketFeed)), address(musd));
        bent.creditMargin(safe, PERP_MARGIN);
        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(bent), PERP_LIMIT)));
        _asSafe(abi.encodeCall(HedgeModule.setPerpMarket, (address(bent), address(ethFeed), 1 hours, true)));
        (uint256 notional, uint256 px, uint256 minSell) = module.quotePerp(address(bent), -1e18);
        assertEq(px, 2000e18);
        assertEq(notional, 2000e18);
        assertEq(minSell, 1990e18);
        vm.prank(keeper); // a sell at 1990 is acceptable to the module; the market fills at the acceptable price
        module.hedgePerp(address(bent), -1e18, minSell);
        vm.prank(keeper); // a buy above the module's bound is refused even though the market thinks 4000 is fair
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.AcceptablePriceOutOfBound.selector, 4000e18, 2010e18));
        module.hedgePerp(address(bent), 1e18, 4000e18);
    }
}
