// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {PerpMarket} from "../src/PerpMarket.sol";
import {IPerpMarket} from "../src/interfaces/IPerpMarket.sol";
import {AggregatorV3Interface} from "../src/interfaces/AggregatorV3Interface.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {MockERC20} from "./mocks/MockERC20.sol";

abstract contract PerpFixture is Test {
    uint256 constant T0 = 1_700_000_000;
    MockERC20 usdc;
    PriceFeed feed;
    PerpMarket perp;
    address owner = address(0xA11CE);
    address alice = address(0xA1);
    address bob = address(0xB0);
    address keeper = address(0xEE);

    function _params() internal pure returns (PerpMarket.Params memory) {
        return PerpMarket.Params({
            takerFeeBps: 10,
            initialMarginBps: 1000,
            maintenanceMarginBps: 500,
            liquidationRewardBps: 100,
            maxFundingRatePerDay: 0.1e18,
            skewScale: 1000e18,
            maxFeedAge: 3600
        });
    }

    function _deploy() internal {
        vm.warp(T0);
        usdc = new MockERC20("USD Coin", "USDC", 6);
        feed = new PriceFeed(8, "ETH / USD", 3000e8);
        perp = new PerpMarket(address(usdc), address(feed), owner, _params());
        usdc.mint(owner, 1e30);
        vm.startPrank(owner);
        usdc.approve(address(perp), type(uint256).max);
        perp.fundPool(1_000_000e6);
        vm.stopPrank();
    }

    function _fund(address who, uint256 deposit) internal {
        usdc.mint(who, 1e30);
        vm.startPrank(who);
        usdc.approve(address(perp), type(uint256).max);
        if (deposit > 0) perp.depositMargin(deposit);
        vm.stopPrank();
    }

    function _setPrice(uint256 p8) internal {
        feed.setAnswer(int256(p8));
    }

    function _margin(address who) internal view returns (uint256 m) {
        (,, m,) = perp.positions(who);
    }

    function _size(address who) internal view returns (int256 s) {
        (s,,,) = perp.positions(who);
    }

    function _entry(address who) internal view returns (uint256 e) {
        (, e,,) = perp.positions(who);
    }
}

contract PerpMarketTest is PerpFixture {
    function setUp() public {
        _deploy();
        _fund(alice, 10_000e6);
        _fund(bob, 10_000e6);
    }

    // ------------------------------------------------------------ constructor / admin

    function test_constructor() public view {
        assertEq(perp.quoteToken(), address(usdc));
        assertEq(perp.feed(), address(feed));
        assertEq(perp.owner(), owner);
        assertEq(perp.quoteDecimals(), 6);
        assertEq(perp.feedDecimals(), 8);
        assertEq(perp.takerFeeBps(), 10);
        assertEq(perp.initialMarginBps(), 1000);
        assertEq(perp.maintenanceMarginBps(), 500);
        assertEq(perp.liquidationRewardBps(), 100);
        assertEq(perp.maxFundingRatePerDay(), 0.1e18);
        assertEq(perp.skewScale(), 1000e18);
        assertEq(perp.maxFeedAge(), 3600);
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
        assertEq(perp.takerFeeBps(), 5);
        assertEq(perp.initialMarginBps(), 2000);
        assertEq(perp.maintenanceMarginBps(), 800);
        assertEq(perp.liquidationRewardBps(), 50);
        assertEq(perp.maxFundingRatePerDay(), 0.2e18);
        assertEq(perp.skewScale(), 500e18);
        assertEq(perp.maxFeedAge(), 60);
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

    // ------------------------------------------------------------ margin

    function test_depositMargin() public {
        vm.expectEmit(true, false, false, true, address(perp));
        emit IPerpMarket.MarginDeposited(alice, 1e6);
        vm.prank(alice);
        perp.depositMargin(1e6);
        assertEq(_margin(alice), 10_001e6);
        assertEq(perp.totalMargin(), 20_001e6);
        vm.expectRevert(PerpMarket.ZeroAmount.selector);
        vm.prank(alice);
        perp.depositMargin(0);
    }

    function test_withdrawMargin_flat() public {
        vm.warp(block.timestamp + 1 days); // oracle stale: flat withdrawals do not need it
        uint256 before = usdc.balanceOf(alice);
        vm.expectEmit(true, false, false, true, address(perp));
        emit IPerpMarket.MarginWithdrawn(alice, 10_000e6);
        vm.prank(alice);
        perp.withdrawMargin(10_000e6);
        assertEq(usdc.balanceOf(alice) - before, 10_000e6);
        assertEq(_margin(alice), 0);
        assertEq(perp.totalMargin(), 10_000e6);
    }

    function test_withdrawMargin_reverts() public {
        vm.startPrank(alice);
        vm.expectRevert(PerpMarket.ZeroAmount.selector);
        perp.withdrawMargin(0);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.InsufficientMargin.selector, int256(10_000e6), 10_000e6 + 1));
        perp.withdrawMargin(10_000e6 + 1);
        perp.modifyPosition(10e18, type(uint256).max); // notional 30k, IM 3k, fee 30
        // remaining 9970 -> may withdraw down to 3000
        perp.withdrawMargin(6970e6);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.InsufficientMargin.selector, int256(3000e6 - 1), 3000e6));
        perp.withdrawMargin(1);
        vm.warp(block.timestamp + 3601);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.StalePrice.selector, T0, 3600));
        perp.withdrawMargin(1);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ trading

    function test_openLong() public {
        vm.expectEmit(true, false, false, true, address(perp));
        emit IPerpMarket.PositionModified(alice, 1e18, 3000e18, 3e6, 0, 1e18);
        vm.prank(alice);
        perp.modifyPosition(1e18, 3000e18);
        (int256 size, uint256 entry, uint256 margin, int256 idx) = perp.positions(alice);
        assertEq(size, 1e18);
        assertEq(entry, 3000e18);
        assertEq(margin, 9997e6);
        assertEq(idx, 0);
        assertEq(perp.poolBalance(), 1_000_003e6);
        assertEq(perp.longOpenInterest(), 1e18);
        assertEq(perp.shortOpenInterest(), 0);
        assertEq(perp.remainingMargin(alice), 9997e6);
    }

    function test_openShortAndProfit() public {
        vm.prank(bob);
        perp.modifyPosition(-2e18, 3000e18);
        assertEq(_size(bob), -2e18);
        assertEq(_entry(bob), 3000e18);
        assertEq(perp.shortOpenInterest(), 2e18);
        _setPrice(2900e8);
        assertEq(perp.unrealizedPnl(bob), 200e6);
        vm.prank(bob);
        perp.modifyPosition(2e18, 2900e18);
        // 10000 - 6 (open fee) + 200 - 5.8 (close fee)
        assertEq(_margin(bob), 10_188.2e6);
        assertEq(_entry(bob), 0);
        assertEq(perp.shortOpenInterest(), 0);
    }

    function test_increaseAveragesEntry() public {
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
        _setPrice(3300e8);
        vm.prank(alice);
        perp.modifyPosition(2e18, type(uint256).max);
        assertEq(_entry(alice), 3200e18);
        assertEq(_size(alice), 3e18);
    }

    function test_averageEntryRoundsAgainstTrader() public {
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
        _setPrice(3000.00000001e8);
        vm.prank(alice);
        perp.modifyPosition(2e18, type(uint256).max);
        // exact: 3000.0000000066..., longs round up
        assertEq(_entry(alice), 3000000000006666666667);
        vm.prank(bob);
        perp.modifyPosition(-1e18, 0);
        _setPrice(3000e8);
        vm.prank(bob);
        perp.modifyPosition(-2e18, 0);
        assertEq(_entry(bob), 3000000000003333333333); // shorts round down
    }

    function test_partialReduceRealizesPnl() public {
        vm.prank(alice);
        perp.modifyPosition(2e18, type(uint256).max);
        _setPrice(3500e8);
        vm.expectEmit(true, false, false, true, address(perp));
        emit IPerpMarket.PositionModified(alice, -1e18, 3500e18, 3.5e6, 500e6, 1e18);
        vm.prank(alice);
        perp.modifyPosition(-1e18, 3500e18);
        assertEq(_entry(alice), 3000e18); // unchanged on reductions
        assertEq(_margin(alice), 10_000e6 - 6e6 + 500e6 - 3.5e6);
    }

    function test_flip() public {
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
        _setPrice(2800e8);
        vm.prank(alice);
        perp.modifyPosition(-3e18, 0);
        assertEq(_size(alice), -2e18);
        assertEq(_entry(alice), 2800e18);
        assertEq(perp.longOpenInterest(), 0);
        assertEq(perp.shortOpenInterest(), 2e18);
        // 10000 - 3 - 200 (loss on the long) - 8.4 (fee on 3 ETH at 2800)
        assertEq(_margin(alice), 9788.6e6);
    }

    function test_modifyPosition_reverts() public {
        vm.startPrank(alice);
        vm.expectRevert(PerpMarket.ZeroAmount.selector);
        perp.modifyPosition(0, 0);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.SlippageExceeded.selector, 3000e18, 2999e18));
        perp.modifyPosition(1e18, 2999e18);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.SlippageExceeded.selector, 3000e18, 3001e18));
        perp.modifyPosition(-1e18, 3001e18);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.SizeTooLarge.selector, int256(1e30 + 1)));
        perp.modifyPosition(1e30 + 1, type(uint256).max);
        // 40 ETH = 120k notional needs 12k initial margin
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.InsufficientMargin.selector, int256(9880e6), 12_000e6));
        perp.modifyPosition(40e18, type(uint256).max);
        vm.warp(block.timestamp + 3601);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.StalePrice.selector, T0, 3600));
        perp.modifyPosition(1e18, type(uint256).max);
        vm.stopPrank();
    }

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

    function test_reductionAllowedBelowInitialMargin() public {
        vm.prank(alice);
        perp.modifyPosition(30e18, type(uint256).max); // 90k notional, 9k IM, margin 9910
        _setPrice(2960e8); // remaining 9910 - 1200 = 8710 < IM 8880, above MM 4440
        vm.prank(alice);
        vm.expectRevert();
        perp.modifyPosition(1e18, type(uint256).max); // increases are blocked
        vm.prank(alice);
        perp.modifyPosition(-10e18, 0); // reductions are allowed
        assertEq(_size(alice), 20e18);
    }

    function test_reductionRevertsWhenLossExceedsMargin() public {
        vm.prank(alice);
        perp.modifyPosition(30e18, type(uint256).max); // margin 9910
        _setPrice(2600e8); // loss 12k: insolvent
        vm.prank(alice);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.InsufficientMargin.selector, int256(9910e6 - 12_000e6 - 78e6), 0));
        perp.modifyPosition(-30e18, 0);
    }

    function test_profitExceedingPoolReverts() public {
        PerpMarket small = new PerpMarket(address(usdc), address(feed), owner, _params());
        vm.startPrank(alice);
        usdc.approve(address(small), type(uint256).max);
        small.depositMargin(1000e6);
        small.modifyPosition(1e18, type(uint256).max); // fee 3 -> pool 3
        vm.stopPrank();
        _setPrice(3100e8);
        vm.startPrank(alice);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.PoolInsufficient.selector, 3e6, 100e6 - 3.1e6));
        small.modifyPosition(-1e18, 0);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ funding

    function test_funding_longsPayWhenSkewLong() public {
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
        int256 rate = perp.fundingRatePerSecond();
        assertEq(rate, int256(uint256(1e15) * 0.1e18 / (1e18 * 86400)));
        vm.warp(block.timestamp + 1 days);
        _setPrice(3000e8);
        int256 idx = perp.fundingIndex();
        assertEq(idx, rate * 3000e18 * 86400 / 1e18);
        assertApproxEqAbs(idx, 0.3e18, 1e9); // 0.01%/day of 3000
        assertEq(perp.accruedFunding(alice), 0.3e6); // rounded up
        assertEq(perp.remainingMargin(alice), 9997e6 - 0.3e6);
        uint256 pool = perp.poolBalance();
        vm.expectEmit(true, false, false, true, address(perp));
        emit PerpMarket.FundingSettled(alice, 0.3e6);
        vm.prank(alice);
        perp.modifyPosition(-1e18, 0);
        assertEq(_margin(alice), 9997e6 - 0.3e6 - 3e6);
        assertEq(perp.poolBalance(), pool + 0.3e6 + 3e6);
    }

    function test_funding_shortsReceive() public {
        vm.prank(alice);
        perp.modifyPosition(3e18, type(uint256).max);
        vm.prank(bob);
        perp.modifyPosition(-1e18, 0);
        vm.warp(block.timestamp + 1 days);
        _setPrice(3000e8);
        assertGt(perp.fundingRatePerSecond(), 0);
        assertLt(perp.accruedFunding(bob), 0);
        assertGt(perp.accruedFunding(alice), 0);
        // the short receives, rounded down in magnitude
        int256 idx = perp.fundingIndex();
        assertEq(perp.accruedFunding(bob), -idx / 1e12);
    }

    function test_funding_rateClamps() public {
        vm.prank(alice);
        perp.depositMargin(1_000_000e6);
        vm.prank(alice);
        perp.modifyPosition(2000e18, type(uint256).max);
        assertEq(perp.fundingRatePerSecond(), int256(0.1e18) / 86400);
        vm.prank(bob);
        perp.depositMargin(2_000_000e6);
        vm.prank(bob);
        perp.modifyPosition(-5000e18, 0);
        assertEq(perp.fundingRatePerSecond(), -int256(0.1e18) / 86400);
    }

    function test_fundingUpdatedEvent() public {
        vm.expectEmit(false, false, false, true, address(perp));
        emit IPerpMarket.FundingUpdated(0, int256(uint256(1e15) * 0.1e18 / (1e18 * 86400)), block.timestamp);
        vm.prank(alice);
        perp.modifyPosition(1e18, type(uint256).max);
    }

    // ------------------------------------------------------------ liquidation

    function _aliceLong3() internal {
        vm.startPrank(alice);
        perp.withdrawMargin(9000e6);
        perp.modifyPosition(3e18, type(uint256).max); // margin 991
        vm.stopPrank();
    }

    function test_liquidate() public {
        _aliceLong3();
        _setPrice(2820e8); // remaining 451 >= 423
        assertFalse(perp.isLiquidatable(alice));
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.NotLiquidatable.selector, alice));
        vm.prank(keeper);
        perp.liquidate(alice);
        _setPrice(2800e8); // remaining 391 < 420
        assertTrue(perp.isLiquidatable(alice));
        assertEq(perp.remainingMargin(alice), 391e6);
        uint256 pool = perp.poolBalance();
        vm.expectEmit(true, true, false, true, address(perp));
        emit IPerpMarket.Liquidated(alice, keeper, 3e18, 2800e18, 84e6);
        vm.prank(keeper);
        perp.liquidate(alice);
        assertEq(usdc.balanceOf(keeper), 84e6);
        assertEq(_margin(alice), 307e6);
        assertEq(_size(alice), 0);
        assertEq(perp.longOpenInterest(), 0);
        assertEq(perp.poolBalance(), pool + 600e6);
        assertEq(usdc.balanceOf(address(perp)), perp.totalMargin() + perp.poolBalance());
    }

    function test_liquidate_rewardCappedByRemaining() public {
        _aliceLong3();
        _setPrice(2670e8); // remaining 1, reward would be 80.1
        vm.prank(keeper);
        perp.liquidate(alice);
        assertEq(usdc.balanceOf(keeper), 1e6);
        assertEq(_margin(alice), 0);
    }

    function test_liquidate_badDebt() public {
        _aliceLong3();
        _setPrice(2500e8); // remaining -509
        uint256 pool = perp.poolBalance();
        vm.expectEmit(true, false, false, true, address(perp));
        emit PerpMarket.BadDebt(alice, 509e6);
        vm.prank(keeper);
        perp.liquidate(alice);
        assertEq(usdc.balanceOf(keeper), 0);
        assertEq(_margin(alice), 0);
        assertEq(perp.poolBalance(), pool + 991e6);
    }

    function test_liquidate_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.NotLiquidatable.selector, bob));
        perp.liquidate(bob); // flat
        _aliceLong3();
        _setPrice(2500e8);
        vm.warp(block.timestamp + 3601);
        vm.expectRevert(abi.encodeWithSelector(PerpMarket.StalePrice.selector, block.timestamp - 3601, 3600));
        perp.liquidate(alice);
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

    // ------------------------------------------------------------ fuzz

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

/// Drives random deposits, withdrawals, trades, liquidations, price moves and time.
contract PerpHandler is Test {
    PerpMarket public perp;
    MockERC20 public usdc;
    PriceFeed public feed;
    address[] public actors;
    uint256 public ghostIn;
    uint256 public ghostOut;
    uint256 public trades;
    uint256 public liquidations;

    constructor(PerpMarket p, MockERC20 u, PriceFeed f, uint256 initialIn) {
        perp = p;
        usdc = u;
        feed = f;
        ghostIn = initialIn;
        for (uint256 i; i < 3; ++i) {
            address a = address(uint160(0x7000 + i));
            actors.push(a);
            u.mint(a, 1e30);
            vm.startPrank(a);
            u.approve(address(p), type(uint256).max);
            p.depositMargin(20_000e6);
            vm.stopPrank();
            ghostIn += 20_000e6;
        }
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function deposit(uint256 a, uint256 amount) external {
        amount = bound(amount, 1, 50_000e6);
        vm.prank(actors[a % 3]);
        perp.depositMargin(amount);
        ghostIn += amount;
    }

    function withdraw(uint256 a, uint256 amount) external {
        address who = actors[a % 3];
        (,, uint256 m,) = perp.positions(who);
        if (m == 0) return;
        amount = bound(amount, 1, m);
        vm.prank(who);
        try perp.withdrawMargin(amount) {
            ghostOut += amount;
        } catch {}
    }

    function trade(uint256 a, int256 delta) external {
        delta = bound(delta, -60e18, 60e18);
        if (delta == 0) return;
        vm.prank(actors[a % 3]);
        try perp.modifyPosition(delta, delta > 0 ? type(uint256).max : 0) {
            ++trades;
        } catch {}
    }

    /// Open near the initial-margin limit so small moves make the position liquidatable.
    function openLevered(uint256 a, bool isLong, uint256 frac) external {
        address who = actors[a % 3];
        (int256 s,,,) = perp.positions(who);
        int256 rem = perp.remainingMargin(who);
        if (s != 0 || rem <= 0) return;
        uint256 max = uint256(rem) * 1e30 * 1e4 / (perp.initialMarginBps() * perp.oraclePrice());
        int256 size = int256(max * bound(frac, 50, 95) / 100);
        if (size == 0) return;
        vm.prank(who);
        try perp.modifyPosition(isLong ? size : -size, isLong ? type(uint256).max : 0) {
            ++trades;
        } catch {}
    }

    function close(uint256 a) external {
        address who = actors[a % 3];
        (int256 s,,,) = perp.positions(who);
        if (s == 0) return;
        vm.prank(who);
        try perp.modifyPosition(-s, s > 0 ? 0 : type(uint256).max) {
            ++trades;
        } catch {}
    }

    function liquidate(uint256 a) external {
        for (uint256 i; i < 3; ++i) {
            address who = actors[(a % 3 + i) % 3];
            if (!perp.isLiquidatable(who)) continue;
            uint256 before = usdc.balanceOf(address(this));
            try perp.liquidate(who) {
                ++liquidations;
                ghostOut += usdc.balanceOf(address(this)) - before;
            } catch {}
        }
    }

    /// Move time (staleness is refreshed) and the price by up to +/-25%, within [500, 10000].
    function move(uint256 bps, uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 1 days));
        uint256 p = uint256(feed.latestAnswer()) * bound(bps, 7500, 12_500) / 10_000;
        feed.setAnswer(int256(bound(p, 500e8, 10_000e8)));
    }
}

contract PerpMarketInvariantTest is StdInvariant, PerpFixture {
    PerpHandler handler;

    function setUp() public {
        _deploy();
        handler = new PerpHandler(perp, usdc, feed, 1_000_000e6);
        feed.transferOwnership(address(handler));
        targetContract(address(handler));
    }

    /// The token balance exactly equals every account's margin plus the pool, and tokens in minus
    /// tokens out equals the balance (no value is created or lost).
    function invariant_solvency() public view {
        uint256 sum;
        int256 longs;
        int256 shorts;
        for (uint256 i; i < handler.actorCount(); ++i) {
            (int256 s,, uint256 m,) = perp.positions(handler.actors(i));
            sum += m;
            if (s > 0) longs += s;
            else shorts -= s;
        }
        assertEq(perp.totalMargin(), sum, "margins");
        uint256 bal = usdc.balanceOf(address(perp));
        assertEq(bal, perp.totalMargin() + perp.poolBalance(), "balance == margins + pool");
        assertEq(bal, handler.ghostIn() - handler.ghostOut(), "flows");
        assertEq(perp.longOpenInterest(), uint256(longs), "long OI");
        assertEq(perp.shortOpenInterest(), uint256(shorts), "short OI");
    }

    function afterInvariant() public {
        emit log_named_uint("trades", handler.trades());
        emit log_named_uint("liquidations", handler.liquidations());
    }
}
