// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HedgeModule} from "../src/HedgeModule.sol";
import {IHedgeModule} from "../src/IHedgeModule.sol";
import {PerpMarket} from "../src/PerpMarket.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {HMToken} from "./helpers/HMToken.sol";
import {HMMockFeed} from "./helpers/HMMockFeed.sol";
import {HMTestBase} from "./helpers/HMTestBase.sol";

/// @notice A Chainlink proxy's aggregator with the answer clamps `minAnswer`/`maxAnswer`.
contract HMClampedAggregator {
    int192 public minAnswer = 100e8;
    int192 public maxAnswer = 10_000e8;
}

/// @notice A Chainlink-style proxy: a PriceFeed that also exposes `aggregator()`.
contract HMProxyFeed is PriceFeed {
    address public aggregator;

    constructor(int256 answer, address aggregator_) PriceFeed(8, "ETH / USD proxy", answer) {
        aggregator = aggregator_;
    }
}

/// @notice The red team's attacks, replayed by a stolen keeper key (and hostile venue admins) against the module
///         on a REAL Safe 1.4.1, with the REAL PerpMarket and REAL Uniswap v3 where the attack needs them. Each test
///         is written as the attacker and shows the attack now fails or is bounded (figures in the comments, USD).
contract HedgeModuleAttacksTest is HMTestBase {
    address internal venueOwner = makeAddr("venueOwner");
    address internal attacker = makeAddr("attacker");
    PerpMarket internal pm;

    /// @dev A real PerpMarket on the module's ETH feed, margined in USDC (6 dec), 5 bps fee (or `feeBps`), 10 % initial and 5 %
    ///      maintenance margin, funding up to 1 %/day at a 100 ETH skew; the Safe deposits `margin` USDC.
    function _realPerp(uint256 margin) internal {
        _realPerp(margin, 5);
    }

    function _realPerp(uint256 margin, uint256 feeBps) internal {
        pm = new PerpMarket(
            address(usdc),
            address(ethFeed),
            venueOwner,
            PerpMarket.Params({
                takerFeeBps: feeBps,
                initialMarginBps: 1000,
                maintenanceMarginBps: 500,
                liquidationRewardBps: 100,
                maxFundingRatePerDay: 0.01e18,
                skewScale: 100e18,
                maxFeedAge: 1 days
            })
        );
        usdc.mint(venueOwner, 10_000_000e6);
        vm.startPrank(venueOwner);
        usdc.approve(address(pm), type(uint256).max);
        pm.fundPool(5_000_000e6);
        vm.stopPrank();
        require(_safeExec(address(usdc), abi.encodeWithSignature("approve(address,uint256)", address(pm), margin)));
        require(_safeExec(address(pm), abi.encodeWithSignature("depositMargin(uint256)", margin)));
        _asSafe(abi.encodeCall(HedgeModule.setPerpMarket, (address(pm), address(ethFeed), 1 hours, true)));
    }

    function _bound(int256 sizeDelta) internal view returns (uint256 b) {
        (,, b) = module.quotePerp(address(pm), sizeDelta);
    }

    /// @dev The keeper's perp trade on the real market at the module's acceptable-price bound.
    function _keeperPerp(int256 sizeDelta) internal {
        uint256 b = _bound(sizeDelta);
        vm.prank(keeper);
        module.hedgePerp(address(pm), sizeDelta, b);
    }

    /// @dev As `_keeperPerp`, expecting the revert `err`.
    function _keeperPerpReverts(int256 sizeDelta, bytes memory err) internal {
        uint256 b = _bound(sizeDelta);
        vm.prank(keeper);
        vm.expectRevert(err);
        module.hedgePerp(address(pm), sizeDelta, b);
    }

    function _pmEquityUsd() internal view returns (int256) {
        return pm.remainingMargin(safe) * 1e12;
    }

    function _nextWindow() internal {
        vm.warp(block.timestamp + 2 hours);
        _refreshFeeds();
    }

    // ------------------------------------------------------------------ attack 1: perps escape the caps

    /// @notice Before: no position limit (0 = none), no leverage check: the key built 500 ETH / $1M long over 4
    ///         windows and funding took $175k of the Safe's $200k margin in 7 days. Now: no limit, no trading; with a
    ///         50 ETH limit the position stops there, and 7 days of saturated funding cost at most
    ///         limit x price x max rate x days = 50 x 2,000 x 1 % x 7 = $7,000; the Safe is never liquidatable.
    function test_attack1_perpsEscapeTheCaps_boundedByLimitAndFunding() public {
        _realPerp(200_000e6);
        _keeperPerpReverts(40e18, abi.encodeWithSelector(IHedgeModule.PerpPositionLimitNotSet.selector, address(pm)));

        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(pm), 50e18)));
        _keeperPerp(40e18); // $80k
        // the attacker keeps pushing, one window after another
        for (uint256 w; w < 4; ++w) {
            _nextWindow();
            _keeperPerpReverts(
                40e18, abi.encodeWithSelector(IHedgeModule.PerpPositionLimitExceeded.selector, int256(80e18), 50e18)
            );
        }
        _keeperPerp(10e18); // exactly the limit
        (int256 size,,,) = pm.positions(safe);
        assertEq(size, 50e18);

        // the attacker's own long saturates the skew; funding runs 7 days; the attacker shorts nothing
        usdc.mint(attacker, 1_000_000e6);
        vm.startPrank(attacker);
        usdc.approve(address(pm), type(uint256).max);
        pm.depositMargin(1_000_000e6);
        pm.modifyPosition(100e18, type(uint256).max);
        vm.stopPrank();
        int256 before = _pmEquityUsd();
        for (uint256 d; d < 7; ++d) {
            vm.warp(block.timestamp + 1 days);
            _refreshFeeds();
        }
        int256 fundingPaid = before - _pmEquityUsd();
        emit log_named_decimal_int("funding paid by the Safe in 7 days, USD", fundingPaid, 18);
        assertGt(fundingPaid, 6_900e18);
        assertLe(fundingPaid, 7_000e18 + 1e12); // limit x price x max rate x days
        assertFalse(pm.isLiquidatable(safe));
    }

    /// @notice Leverage: with 4x at most (2,500 bps), $20k of margin carries at most $80k of position.
    function test_attack1_leverageCapped() public {
        _realPerp(20_000e6);
        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(pm), 100e18)));
        _asSafe(abi.encodeCall(HedgeModule.setPerpMinMarginBps, (2_500)));
        uint256 b = _bound(45e18);
        vm.prank(keeper);
        vm.expectPartialRevert(IHedgeModule.PerpMarginTooLow.selector);
        module.hedgePerp(address(pm), 45e18, b); // $90k on $20k
        _keeperPerp(39e18); // $78k: 25.6 %
    }

    // ------------------------------------------------------------------ attack 3: perp fees outside the bound

    /// @notice Before: the owner raised takerFee to 10 % and one window of churn cost $25k against a $1,250
    ///         allowance. Now the venue's fee is at most 1 % and timelocked, and it counts against the module's
    ///         slippage bound: at 40 bps (inside the 50 bps bound) a window of churn costs the fees ($1,000, within the
    ///         $1,250 window loss budget); at 1 % no trade passes.
    function test_attack3_perpFeeChurn_bounded() public {
        _realPerp(200_000e6, 40);
        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(pm), 100e18)));
        int256 v0 = _pmEquityUsd();
        uint256 trades;
        for (uint256 i; i < 20; ++i) {
            int256 d = i % 2 == 0 ? int256(25e18) : -25e18; // $50k each way
            uint256 b = _bound(d);
            vm.prank(keeper);
            try module.hedgePerp(address(pm), d, b) {
                trades++;
            } catch {
                break;
            }
        }
        int256 lost = v0 - _pmEquityUsd();
        emit log_named_decimal_int("churn loss in one window, USD", lost, 18);
        assertEq(trades, 5); // $250k of notional: the window cap
        assertLe(lost, int256(LOSS_WINDOW));
        (uint256 windowLoss, uint256 total) = module.lossUsage();
        assertEq(windowLoss, total);
        assertApproxEqAbs(int256(total), lost, 1e13); // the module charged what the Safe lost

        PerpMarket.Params memory p = PerpMarket.Params(1000, 1000, 500, 100, 0.01e18, 100e18, 1 days);
        vm.startPrank(venueOwner);
        vm.expectRevert(PerpMarket.InvalidParams.selector); // 10 %: above the venue's own 1 % ceiling
        pm.queueParams(p);
        p.takerFeeBps = 100;
        pm.queueParams(p);
        vm.stopPrank();
        vm.warp(block.timestamp + 2 days);
        _refreshFeeds();
        vm.prank(venueOwner);
        pm.executeParams();
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.PerpFeeAboveSlippage.selector, 100, SLIP_BPS));
        module.hedgePerp(address(pm), 10e18, 2_500e18);
    }

    /// @notice A venue that takes more than its stated fee is stopped by the loss budget, not the slippage bound.
    function test_attack3_cheatingVenue_stoppedByLossBudget() public {
        perp.setChargeExtra(400e18); // $400 extra per trade
        uint256 ok;
        for (uint256 i; i < 10; ++i) {
            vm.prank(keeper);
            try module.hedgePerp(address(perp), 1e18, 2010e18) {
                ok++;
            } catch (bytes memory r) {
                assertEq(bytes4(r), IHedgeModule.WindowLossBudgetExceeded.selector);
                break;
            }
        }
        assertEq(ok, 3); // 3 x ($400 + $10) <= $1,250 < 4 x $410
        (uint256 windowLoss,) = module.lossUsage();
        assertLe(windowLoss, LOSS_WINDOW);
    }

    // ------------------------------------------------------------------ attack 4: the attacker's own pool

    /// @notice Before: fee tiers were allowed globally; the attacker made its own pool at an allowed tier, was its
    ///         only LP and captured $3,401 of a $3,750 allowance over 3 windows, with no lifetime limit. Now only
    ///         the pools the owners allowed can be used, and over any number of windows the attacker's capture
    ///         stops at the total loss budget ($5,000) with the module paused.
    function test_attack4_ownPool_rejected_andCaptureBoundedForLife() public {
        (address uniFactory, address uniRouter) = _deployUniswap();
        _createPool(uniFactory, weth, usdc, FEE, 60, ETH_USD, 1e18, 4.47e16);
        _asSafe(abi.encodeCall(HedgeModule.setRouter, (uniRouter)));
        _asSafe(abi.encodeCall(HedgeModule.setFactory, (uniFactory)));
        _asSafe(abi.encodeCall(HedgeModule.setPoolAllowed, (address(weth), address(usdc), FEE, true)));
        // the attacker's pool: same tokens, another tier, priced 0.5 % below the oracle, a thin single LP
        _createPool(uniFactory, weth, usdc, 500, 10, 1990e18, 1e18, 1e13);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.PoolNotAllowed.selector, address(weth), address(usdc), 500));
        module.hedgeSwap(address(weth), address(usdc), 500, 1e18, 1990e6, block.timestamp);

        // the attacker controls the venue (the mock router: pays 49 bps below the oracle, every window, forever)
        _asSafe(abi.encodeCall(HedgeModule.setRouter, (address(mockRouter))));
        mockRouter.setBehaviour(49, false, 0, address(0), false);
        int256 v0 = _safeValueUsd();
        uint256 windows;
        for (; windows < 20 && !module.paused(); ++windows) {
            for (uint256 i; i < 3; ++i) {
                (,, uint256 minOut) = module.quoteSwap(address(weth), address(usdc), FEE, 40e18);
                vm.prank(keeper);
                try module.hedgeSwap(address(weth), address(usdc), FEE, 40e18, minOut, block.timestamp) {} catch {}
            }
            _nextWindow();
        }
        int256 captured = v0 - _safeValueUsd();
        emit log_named_decimal_int("captured by the attacker over its windows, USD", captured, 18);
        emit log_named_uint("windows until the module paused itself", windows);
        assertTrue(module.paused());
        assertLe(captured, int256(LOSS_TOTAL));
        assertGt(captured, int256(LOSS_TOTAL) * 9 / 10);
        // the owners look, reset and resume
        _asSafe(abi.encodeCall(HedgeModule.resetLossTotal, ()));
        _asSafe(abi.encodeCall(HedgeModule.unpause, ()));
        assertEq(module.lossTotalUsd(), 0);
    }

    // ------------------------------------------------------------------ attack 5: feed, not market

    /// @notice Before: with the market 0.5 % above a not-yet-updated feed, a sale at the feed bound lost 99 bps
    ///         against a 50 bps bound. Now the bound is the stricter of feed and the pool's TWAP: the feed-only
    ///         minimum is refused, and the TWAP minimum leaves at most 50 bps against the market.
    function test_attack5_marketOffTheFeed_twapBound() public {
        (address uniFactory, address uniRouter) = _deployUniswap();
        _createPool(uniFactory, weth, usdc, FEE, 60, 2010e18, 1e18, 4.47e16); // the market: 0.5 % above the feed
        _asSafe(abi.encodeCall(HedgeModule.setRouter, (uniRouter)));
        _asSafe(abi.encodeCall(HedgeModule.setFactory, (uniFactory)));
        _asSafe(abi.encodeCall(HedgeModule.setPoolAllowed, (address(weth), address(usdc), FEE, true)));
        (,, uint256 feedMin) = module.quoteSwap(address(weth), address(usdc), FEE, 1e18);
        assertEq(feedMin, 1990e6); // feed only: 2,000 less 50 bps, 1 % below the market
        _asSafe(abi.encodeCall(HedgeModule.setTwapWindow, (1800)));
        vm.warp(block.timestamp + 1800);
        _refreshFeeds();
        (,, uint256 twapMin) = module.quoteSwap(address(weth), address(usdc), FEE, 1e18);
        assertApproxEqRel(twapMin, 2010e6 * 9950 / 10_000, 0.0002e18); // the market less 50 bps
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.MinOutBelowOracleBound.selector, feedMin, twapMin));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, feedMin, block.timestamp);
    }

    /// @notice maxFeedAge above the 1-day heartbeat ceiling is refused (was up to 3 days).
    function test_attack5_feedAgeCeiling() public {
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidFeedAge.selector, 3 days));
        module.setTokenConfig(address(weth), address(ethFeed), 3 days, true);
        assertEq(module.MAX_FEED_AGE(), 1 days);
    }

    /// @notice An L2 sequencer that is down, or up for less than the grace period, stops every trade.
    function test_attack5_sequencerDownOrInGrace() public {
        HMMockFeed seq = new HMMockFeed(0, 1); // answer 1 = down
        _asSafe(abi.encodeCall(HedgeModule.setSequencerFeed, (address(seq), 1 hours)));
        _hedgeOneWethExpectRevert(abi.encodeWithSelector(IHedgeModule.SequencerDown.selector, address(seq)));
        seq.set(0, block.timestamp - 10 minutes); // up again 10 minutes ago
        _hedgeOneWethExpectRevert(
            abi.encodeWithSelector(
                IHedgeModule.SequencerGracePeriod.selector, address(seq), block.timestamp - 10 minutes, 1 hours
            )
        );
        seq.set(1, block.timestamp);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.SequencerDown.selector, address(seq)));
        module.hedgePerp(address(perp), 1e18, 2010e18);
        seq.set(0, block.timestamp - 2 hours);
        assertGt(_swapWeth(1e18), 0);
    }

    /// @notice A feed answer at its aggregator's clamp (a Chainlink circuit breaker) is not a price.
    function test_attack5_answerAtAggregatorLimit() public {
        HMClampedAggregator agg = new HMClampedAggregator();
        HMProxyFeed proxy = new HMProxyFeed(10_000e8, address(agg)); // at maxAnswer
        _asSafe(abi.encodeCall(HedgeModule.setTokenConfig, (address(weth), address(proxy), 1 hours, true)));
        _hedgeOneWethExpectRevert(
            abi.encodeWithSelector(
                IHedgeModule.FeedAnswerAtLimit.selector,
                address(proxy),
                int256(10_000e8),
                int256(100e8),
                int256(10_000e8)
            )
        );
        proxy.setAnswer(2000e8);
        assertGt(_swapWeth(1e18), 0);
    }

    // ------------------------------------------------------------------ attack 6: a flip passes the limit

    /// @notice Before: after the owners lowered the limit to 10 ETH, the key flipped +25 to -25. Now a flip counts
    ///         as its full new size; only a move toward 0 is allowed; the guardian can reduce, never grow or flip.
    function test_attack6_flipCountsInFull() public {
        vm.prank(keeper);
        module.hedgePerp(address(perp), 25e18, 2010e18);
        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 10e18)));
        vm.startPrank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.PerpPositionLimitExceeded.selector, int256(-25e18), 10e18));
        module.hedgePerp(address(perp), -50e18, 1990e18);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.PerpPositionLimitExceeded.selector, int256(-11e18), 10e18));
        module.hedgePerp(address(perp), -36e18, 1990e18);
        module.hedgePerp(address(perp), -20e18, 1990e18); // +25 -> +5: a reduction
        module.hedgePerp(address(perp), -15e18, 1990e18); // +5 -> -10: a flip within the limit
        vm.stopPrank();
        assertEq(perp.sizeOf(safe), -10e18);

        // the guardian: reduce only, also while paused; never grow, never flip
        vm.prank(guardian);
        module.pause();
        vm.startPrank(guardian);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.NotAReduction.selector, int256(-10e18), int256(-1e18)));
        module.guardianReducePerp(address(perp), -1e18);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.NotAReduction.selector, int256(-10e18), int256(11e18)));
        module.guardianReducePerp(address(perp), 11e18);
        module.guardianReducePerp(address(perp), 4e18);
        vm.stopPrank();
        assertEq(perp.sizeOf(safe), -6e18);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.NotGuardian.selector, keeper));
        module.guardianReducePerp(address(perp), 1e18);
    }
}
