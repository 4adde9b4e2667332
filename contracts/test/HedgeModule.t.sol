// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HMFixture} from "./helpers/HMFixture.sol";
import {HMToken} from "./helpers/HMToken.sol";
import {HMMockFeed} from "./helpers/HMMockFeed.sol";
import {HMMockPerp} from "./helpers/HMMockPerp.sol";
import {HedgeModule} from "../src/HedgeModule.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {AggregatorV3Interface} from "../src/interfaces/AggregatorV3Interface.sol";

contract HedgeModuleTest is HMFixture {
    event HedgeExecuted(
        address indexed venue, address indexed tokenIn, address indexed tokenOut, uint24 fee, uint256 amountIn,
        uint256 amountOut, uint256 notionalUsd, uint256 priceInUsd, uint256 priceOutUsd
    );
    event PerpHedgeExecuted(
        address indexed market, int256 sizeDelta, uint256 acceptablePrice, uint256 oraclePrice, uint256 notionalUsd,
        int256 newSize
    );
    event LimitsSet(uint256 perTradeUsd, uint256 perWindowUsd, uint256 windowSeconds, uint256 maxSlippageBps);
    event KeeperSet(address indexed previous, address indexed keeper);
    event ModulePaused(address indexed by);

    function setUp() public {
        _setUpFixture();
    }

    // ------------------------------------------------------------------ helpers

    /// @dev Minimum output the module accepts for selling `amountIn` WETH for USDC.
    function _minOutWethToUsdc(uint256 amountIn) internal view returns (uint256 minOut) {
        (,, minOut) = module.quoteSwap(address(weth), address(usdc), amountIn);
    }

    function _swapWeth(uint256 amountIn) internal returns (uint256) {
        uint256 minOut = _minOutWethToUsdc(amountIn);
        vm.prank(keeper);
        return module.hedgeSwap(address(weth), address(usdc), FEE, amountIn, minOut, block.timestamp);
    }

    // ------------------------------------------------------------------ real Safe wiring

    function test_realSafe_moduleEnabled_andConfiguredThroughExecTransaction() public view {
        assertEq(safeAcct.VERSION(), "1.4.1");
        assertTrue(safeAcct.isModuleEnabled(address(module)));
        assertEq(safeAcct.getOwners()[0], owner);
        assertEq(module.safe(), safe);
        assertEq(module.keeper(), keeper);
        assertEq(module.guardian(), guardian);
        assertEq(module.router(), address(mockRouter));
        assertTrue(module.feeTierAllowed(FEE));
        assertEq(module.maxNotionalPerTradeUsd(), PER_TRADE);
        assertEq(module.maxNotionalPerWindowUsd(), PER_WINDOW);
        assertEq(module.windowSeconds(), WINDOW);
        assertEq(module.maxSlippageBps(), SLIP_BPS);
        (address f, uint256 age, uint8 dec, bool ok) = module.tokenConfig(address(usdc));
        assertEq(f, address(usdcFeed));
        assertEq(age, 1 days);
        assertEq(dec, 6);
        assertTrue(ok);
        (f, age, ok,) = module.perpMarketConfig(address(perp));
        assertEq(f, address(ethFeed));
        assertEq(age, 1 hours);
        assertTrue(ok);
    }

    function test_constructor_rejectsZeroSafe() public {
        vm.expectRevert(HedgeModule.ZeroAddress.selector);
        new HedgeModule(address(0), keeper, guardian);
    }

    function test_freshModule_failsClosed() public {
        HedgeModule fresh = new HedgeModule(safe, keeper, guardian);
        vm.prank(keeper);
        vm.expectRevert(HedgeModule.RouterNotSet.selector);
        fresh.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 0, block.timestamp);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.MarketNotAllowed.selector, address(perp)));
        fresh.hedgePerp(address(perp), 1e18, 2100e18);
    }

    // ------------------------------------------------------------------ access control

    function _setterCalls() internal view returns (bytes[] memory c) {
        c = new bytes[](10);
        c[0] = abi.encodeCall(HedgeModule.setKeeper, (address(1)));
        c[1] = abi.encodeCall(HedgeModule.setGuardian, (address(1)));
        c[2] = abi.encodeCall(HedgeModule.setRouter, (address(1)));
        c[3] = abi.encodeCall(HedgeModule.setFeeTierAllowed, (500, true));
        c[4] = abi.encodeCall(HedgeModule.setTokenConfig, (address(junk), address(usdcFeed), 1 days, true));
        c[5] = abi.encodeCall(HedgeModule.setPerpMarket, (address(1), address(ethFeed), 1 hours, true));
        c[6] = abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 1));
        c[7] = abi.encodeCall(HedgeModule.setLimits, (1e30, 1e30, 1 days, 1000));
        c[8] = abi.encodeCall(HedgeModule.unpause, ());
        c[9] = abi.encodeCall(HedgeModule.setTokenConfig, (address(usdc), address(0), 0, false));
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
                assertEq(ret, abi.encodeWithSelector(HedgeModule.NotSafe.selector, callers[j]));
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
        assertEq(ret, abi.encodeWithSelector(HedgeModule.NotSafe.selector, caller));
    }

    function testFuzz_hedges_onlyKeeper(address caller) public {
        vm.assume(caller != keeper);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.NotKeeper.selector, caller));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 0, block.timestamp);
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.NotKeeper.selector, caller));
        module.hedgePerp(address(perp), 1e18, 2010e18);
    }

    function test_safeOwnersCanRotateKeeper() public {
        address k2 = makeAddr("keeper2");
        vm.expectEmit(address(module));
        emit KeeperSet(keeper, k2);
        _asSafe(abi.encodeCall(HedgeModule.setKeeper, (k2)));
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.NotKeeper.selector, keeper));
        module.hedgePerp(address(perp), 1e18, 2010e18);
        vm.prank(k2);
        module.hedgePerp(address(perp), 1e18, 2010e18);
        _asSafe(abi.encodeCall(HedgeModule.setGuardian, (k2)));
        assertEq(module.guardian(), k2);
    }

    function test_pause_byGuardian_blocksHedges_onlySafeUnpauses() public {
        vm.expectEmit(address(module));
        emit ModulePaused(guardian);
        vm.prank(guardian);
        module.pause();
        assertTrue(module.paused());
        vm.prank(keeper);
        vm.expectRevert(HedgeModule.Paused.selector);
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, block.timestamp);
        vm.prank(keeper);
        vm.expectRevert(HedgeModule.Paused.selector);
        module.hedgePerp(address(perp), 1e18, 2010e18);
        vm.prank(guardian);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.NotSafe.selector, guardian));
        module.unpause();
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.NotSafe.selector, keeper));
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
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.NotGuardian.selector, keeper));
        module.pause();
        vm.prank(safe);
        vm.expectRevert(HedgeModule.NotPaused.selector);
        module.unpause();
    }

    // ------------------------------------------------------------------ configuration validation

    function test_setLimits_validation() public {
        uint256[4][7] memory bad = [
            [uint256(0), PER_WINDOW, WINDOW, SLIP_BPS], // zero per-trade cap
            [PER_WINDOW + 1, PER_WINDOW, WINDOW, SLIP_BPS], // per-trade > per-window
            [PER_TRADE, 1e36 + 1, WINDOW, SLIP_BPS], // absurd window cap
            [PER_TRADE, PER_WINDOW, 0, SLIP_BPS], // zero window
            [PER_TRADE, PER_WINDOW, 30 days + 1, SLIP_BPS], // window too long
            [PER_TRADE, PER_WINDOW, WINDOW, 1001], // slippage above the 10% ceiling
            [PER_TRADE, 0, WINDOW, SLIP_BPS] // zero window cap
        ];
        for (uint256 i; i < bad.length; ++i) {
            vm.prank(safe);
            vm.expectRevert(HedgeModule.InvalidLimits.selector);
            module.setLimits(bad[i][0], bad[i][1], bad[i][2], bad[i][3]);
        }
        vm.expectEmit(address(module));
        emit LimitsSet(1e18, 1e36, 30 days, 1000);
        vm.prank(safe);
        module.setLimits(1e18, 1e36, 30 days, 1000);
    }

    function test_config_validation() public {
        vm.startPrank(safe);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.InvalidRouter.selector, safe));
        module.setRouter(safe);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.InvalidRouter.selector, address(module)));
        module.setRouter(address(module));
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.InvalidFeeTier.selector, 0));
        module.setFeeTierAllowed(0, true);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.InvalidFeeTier.selector, 1_000_000));
        module.setFeeTierAllowed(1_000_000, true);
        vm.expectRevert(HedgeModule.ZeroAddress.selector);
        module.setTokenConfig(address(0), address(usdcFeed), 1 days, true);
        vm.expectRevert(HedgeModule.ZeroAddress.selector);
        module.setTokenConfig(address(junk), address(0), 1 days, true);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.InvalidFeedAge.selector, 0));
        module.setTokenConfig(address(junk), address(usdcFeed), 0, true);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.InvalidFeedAge.selector, 3 days + 1));
        module.setTokenConfig(address(junk), address(usdcFeed), 3 days + 1, true);
        HMToken huge = new HMToken("Huge", "HUGE", 40);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.InvalidDecimals.selector, address(huge), 40));
        module.setTokenConfig(address(huge), address(usdcFeed), 1 days, true);
        HMMockFeed oddFeed = new HMMockFeed(40, 1);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.InvalidDecimals.selector, address(oddFeed), 40));
        module.setPerpMarket(address(perp), address(oddFeed), 1 hours, true);
        vm.expectRevert(HedgeModule.ZeroAddress.selector);
        module.setPerpMarket(address(0), address(ethFeed), 1 hours, true);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.InvalidFeedAge.selector, 0));
        module.setPerpMarket(address(perp), address(ethFeed), 0, true);
        vm.stopPrank();
    }

    function test_lists_boundedAndEnumerated() public {
        vm.startPrank(safe);
        for (uint24 f = 1; f <= 15; ++f) module.setFeeTierAllowed(f, true); // + FEE = 16
        vm.expectRevert(HedgeModule.ListFull.selector);
        module.setFeeTierAllowed(16, true);
        module.setFeeTierAllowed(FEE, true); // already allowed: no duplicate
        module.setFeeTierAllowed(7, false);
        module.setFeeTierAllowed(7, false); // idempotent
        vm.stopPrank();
        uint256[] memory tiers = module.params().feeTiers;
        assertEq(tiers.length, 15);
        for (uint256 i = 1; i < tiers.length; ++i) assertLt(tiers[i - 1], tiers[i]);
        assertEq(tiers[tiers.length - 1], FEE);
    }

    function test_disallowToken_removesConfig() public {
        _asSafe(abi.encodeCall(HedgeModule.setTokenConfig, (address(usdc), address(0), 0, false)));
        (address f,,, bool ok) = module.tokenConfig(address(usdc));
        assertEq(f, address(0));
        assertFalse(ok);
        assertEq(module.params().tokens.length, 1);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.TokenNotAllowed.selector, address(usdc)));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, block.timestamp);
        _asSafe(abi.encodeCall(HedgeModule.setPerpMarket, (address(perp), address(0), 0, false)));
        assertEq(module.params().markets.length, 0);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.MarketNotAllowed.selector, address(perp)));
        module.hedgePerp(address(perp), 1e18, 2010e18);
    }

    // ------------------------------------------------------------------ paramsHash

    function test_paramsHash_documentedEncoding() public {
        _asSafe(abi.encodeCall(HedgeModule.setFeeTierAllowed, (500, true)));
        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 50e18)));
        (address t0, address t1) = address(usdc) < address(weth) ? (address(usdc), address(weth)) : (address(weth), address(usdc));
        HedgeModule.TokenParams[] memory toks = new HedgeModule.TokenParams[](2);
        toks[0] = _tp(t0);
        toks[1] = _tp(t1);
        HedgeModule.MarketParams[] memory mkts = new HedgeModule.MarketParams[](1);
        mkts[0] = HedgeModule.MarketParams(address(perp), address(ethFeed), 1 hours, 50e18);
        uint256[] memory tiers = new uint256[](2);
        (tiers[0], tiers[1]) = (500, 3000);
        bytes memory head = abi.encode(
            keccak256("HedgeModule.params.v1"), block.chainid, address(module), safe, keeper, guardian,
            address(mockRouter), PER_TRADE, PER_WINDOW, WINDOW, SLIP_BPS
        );
        // abi.encode(params()) = abi.encode of ONE dynamic tuple: a 0x20 offset word, then the tuple's encoding.
        bytes memory tail = abi.encode(tiers, toks, mkts); // offsets relative to this tail start
        bytes memory expected = abi.encodePacked(
            uint256(0x20), head, _shiftOffsets(tail, 3, head.length), _slice(tail, 3 * 32)
        );
        assertEq(module.paramsHash(), keccak256(expected));
        assertEq(module.paramsHash(), keccak256(abi.encode(module.params())));
    }

    function _tp(address t) internal view returns (HedgeModule.TokenParams memory) {
        (address f, uint256 age, uint8 dec,) = module.tokenConfig(t);
        return HedgeModule.TokenParams(t, f, age, dec);
    }

    function _shiftOffsets(bytes memory tail, uint256 n, uint256 by) internal pure returns (bytes memory out) {
        out = new bytes(n * 32);
        for (uint256 i; i < n; ++i) {
            uint256 w;
            assembly {
                w := mload(add(add(tail, 0x20), mul(i, 0x20)))
            }
            w += by;
            assembly {
                mstore(add(add(out, 0x20), mul(i, 0x20)), w)
            }
        }
    }

    function _slice(bytes memory b, uint256 from) internal pure returns (bytes memory out) {
        out = new bytes(b.length - from);
        for (uint256 i; i < out.length; ++i) out[i] = b[from + i];
    }

    function test_paramsHash_changesWithEverySetter_notWithPause() public {
        bytes[] memory calls = new bytes[](8);
        calls[0] = abi.encodeCall(HedgeModule.setKeeper, (address(11)));
        calls[1] = abi.encodeCall(HedgeModule.setGuardian, (address(12)));
        calls[2] = abi.encodeCall(HedgeModule.setRouter, (address(13)));
        calls[3] = abi.encodeCall(HedgeModule.setFeeTierAllowed, (500, true));
        calls[4] = abi.encodeCall(HedgeModule.setTokenConfig, (address(junk), address(usdcFeed), 1 days, true));
        calls[5] = abi.encodeCall(HedgeModule.setPerpMarket, (address(perp), address(ethFeed), 2 hours, true));
        calls[6] = abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 7));
        calls[7] = abi.encodeCall(HedgeModule.setLimits, (PER_TRADE, PER_WINDOW, WINDOW, SLIP_BPS + 1));
        bytes32 h = module.paramsHash();
        for (uint256 i; i < calls.length; ++i) {
            _asSafe(calls[i]);
            bytes32 h2 = module.paramsHash();
            assertTrue(h2 != h, "setter did not change paramsHash");
            h = h2;
        }
        vm.prank(address(12)); // the new guardian
        module.pause();
        assertEq(module.paramsHash(), h);
    }

    function test_paramsHash_independentOfInsertionOrder() public {
        vm.startPrank(safe);
        module.setTokenConfig(address(junk), address(usdcFeed), 1 days, true);
        bytes32 a = module.paramsHash();
        module.setTokenConfig(address(usdc), address(0), 0, false);
        module.setTokenConfig(address(usdc), address(usdcFeed), 1 days, true);
        assertEq(module.paramsHash(), a);
        vm.stopPrank();
    }

    // ------------------------------------------------------------------ hedgeSwap: happy path

    function test_hedgeSwap_mockRouter_happyPath() public {
        uint256 amountIn = 10e18;
        (uint256 notional, uint256 expectedOut, uint256 minOut) = module.quoteSwap(address(weth), address(usdc), amountIn);
        assertEq(notional, 20_000e18);
        assertEq(expectedOut, 20_000e6);
        assertEq(minOut, 19_900e6); // 50 bps below the oracle
        uint256 wBefore = weth.balanceOf(safe);
        uint256 uBefore = usdc.balanceOf(safe);
        uint256 paid = mockRouter.quote(address(weth), address(usdc), amountIn); // 0.3% haircut
        vm.expectEmit(address(module));
        emit HedgeExecuted(address(mockRouter), address(weth), address(usdc), FEE, amountIn, paid, notional, ETH_USD, 1e18);
        vm.prank(keeper);
        uint256 out = module.hedgeSwap(address(weth), address(usdc), FEE, amountIn, minOut, block.timestamp);
        assertEq(out, paid);
        assertEq(weth.balanceOf(safe), wBefore - amountIn);
        assertEq(usdc.balanceOf(safe), uBefore + paid);
        assertEq(weth.allowance(safe, address(mockRouter)), 0, "no allowance left behind");
        assertEq(mockRouter.lastRecipient(), safe);
        (uint256 used, uint256 trades) = module.windowUsage();
        assertEq(used, notional);
        assertEq(trades, 1);
    }

    /// @notice hedgeSwap takes no recipient: its selector has exactly six arguments, and whatever the keeper
    ///         passes, the router is told to pay the Safe.
    function testFuzz_hedgeSwap_recipientIsAlwaysTheSafe(uint256 amountIn, bool wethIn) public {
        assertEq(
            HedgeModule.hedgeSwap.selector, bytes4(keccak256("hedgeSwap(address,address,uint24,uint256,uint256,uint256)"))
        );
        (HMToken tin, HMToken tout) = wethIn ? (weth, usdc) : (usdc, weth);
        amountIn = bound(amountIn, wethIn ? 1e15 : 1e6, wethIn ? 40e18 : 80_000e6);
        (,, uint256 minOut) = module.quoteSwap(address(tin), address(tout), amountIn);
        uint256 before = tout.balanceOf(safe);
        vm.prank(keeper);
        uint256 out = module.hedgeSwap(address(tin), address(tout), FEE, amountIn, minOut, block.timestamp);
        assertEq(mockRouter.lastRecipient(), safe);
        assertEq(tout.balanceOf(safe), before + out);
        assertEq(tout.balanceOf(keeper), 0);
    }

    // ------------------------------------------------------------------ hedgeSwap: rejections

    function test_hedgeSwap_rejections() public {
        uint256 t = block.timestamp;
        vm.startPrank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.FeeTierNotAllowed.selector, 500));
        module.hedgeSwap(address(weth), address(usdc), 500, 1e18, 1990e6, t);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.TokenNotAllowed.selector, address(junk)));
        module.hedgeSwap(address(junk), address(usdc), FEE, 1e18, 1990e6, t);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.TokenNotAllowed.selector, address(junk)));
        module.hedgeSwap(address(weth), address(junk), FEE, 1e18, 1990e6, t);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.SameToken.selector, address(weth)));
        module.hedgeSwap(address(weth), address(weth), FEE, 1e18, 1e18, t);
        vm.expectRevert(HedgeModule.ZeroAmount.selector);
        module.hedgeSwap(address(weth), address(usdc), FEE, 0, 0, t);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.DeadlineExpired.selector, t - 1, t));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, t - 1);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.TradeCapExceeded.selector, 100_002e18, PER_TRADE));
        module.hedgeSwap(address(weth), address(usdc), FEE, 50.001e18, 100_002e6, t);
        vm.stopPrank();
        _asSafe(abi.encodeCall(HedgeModule.setRouter, (address(0))));
        vm.prank(keeper);
        vm.expectRevert(HedgeModule.RouterNotSet.selector);
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, t);
    }

    function test_hedgeSwap_minOutBelowOracleBound() public {
        uint256 bound_ = _minOutWethToUsdc(1e18);
        assertEq(bound_, 1990e6);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.MinOutBelowOracleBound.selector, bound_ - 1, bound_));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, bound_ - 1, block.timestamp);
        vm.prank(keeper);
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, bound_, block.timestamp); // exactly the bound: ok
    }

    function test_hedgeSwap_staleFeed() public {
        vm.warp(block.timestamp + 1 hours + 1); // WETH feed max age 1 hour
        uint256 updatedAt = block.timestamp - 1 hours - 1;
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.StaleFeed.selector, address(ethFeed), updatedAt, 1 hours));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, block.timestamp);
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
            vm.expectRevert(abi.encodeWithSelector(HedgeModule.BadFeedAnswer.selector, address(f), answers[i]));
            module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 0, block.timestamp);
        }
        f.set(2000e8, block.timestamp + 1); // future timestamp
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.StaleFeed.selector, address(f), block.timestamp + 1, 1 hours));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 0, block.timestamp);
        f.set(2000e18, block.timestamp);
        f.setDecimals(18);
        _swapWeth(1e18); // decimals are read live: 2000e18 at 18 decimals is $2000
    }

    function test_hedgeSwap_routerFailureBubbles() public {
        mockRouter.setBehaviour(0, false, 0, address(0), true);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(HedgeModule.SwapFailed.selector, abi.encodeWithSignature("RouterBoom()"))
        );
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, block.timestamp);
        // an honest router that cannot meet the minimum: its Error(string) comes back inside SwapFailed
        mockRouter.setBehaviour(100, false, 0, address(0), false);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                HedgeModule.SwapFailed.selector, abi.encodeWithSignature("Error(string)", "Too little received")
            )
        );
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, block.timestamp);
    }

    function test_hedgeSwap_lyingRouter_caughtByBalanceCheck() public {
        mockRouter.setBehaviour(100, true, 0, address(0), false); // pays 1% less and ignores the minimum
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.OutputBelowMinimum.selector, 1980e6, 1990e6));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, block.timestamp);
        mockRouter.setBehaviour(0, true, 0, makeAddr("thief"), false); // pays someone else
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.OutputBelowMinimum.selector, 0, 1990e6));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, block.timestamp);
    }

    function test_hedgeSwap_routerCannotPullMoreThanAmountIn() public {
        mockRouter.setBehaviour(0, false, 1, address(0), false);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                HedgeModule.SwapFailed.selector, abi.encodeWithSignature("Error(string)", "HMToken: allowance")
            )
        );
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, block.timestamp);
    }

    function test_hedgeSwap_partialPull_leavesNoAllowance() public {
        mockRouter.setPullLess(0.5e18);
        uint256 w0 = weth.balanceOf(safe);
        _swapWeth(1e18); // the mock still pays for the full amount
        assertEq(weth.balanceOf(safe), w0 - 0.5e18);
        assertEq(weth.allowance(safe, address(mockRouter)), 0, "residual allowance reset");
    }

    function test_hedgeSwap_moduleNotEnabled_wrapsSafeRevert() public {
        HedgeModule other = new HedgeModule(safe, keeper, guardian);
        vm.startPrank(safe);
        other.setRouter(address(mockRouter));
        other.setFeeTierAllowed(FEE, true);
        other.setTokenConfig(address(weth), address(ethFeed), 1 hours, true);
        other.setTokenConfig(address(usdc), address(usdcFeed), 1 days, true);
        other.setLimits(PER_TRADE, PER_WINDOW, WINDOW, SLIP_BPS);
        vm.stopPrank();
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                HedgeModule.SafeCallReverted.selector, address(weth), abi.encodeWithSignature("Error(string)", "GS104")
            )
        );
        other.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, block.timestamp);
    }

    function test_hedgeSwap_usdtStyleToken_resetsStaleAllowanceFirst() public {
        weth.setQuirks(true, true, false); // zero-first and no return value
        require(_safeExec(address(weth), abi.encodeWithSignature("approve(address,uint256)", address(mockRouter), 5)));
        assertEq(weth.allowance(safe, address(mockRouter)), 5);
        _swapWeth(1e18);
        assertEq(weth.allowance(safe, address(mockRouter)), 0);
    }

    function test_hedgeSwap_approveReturningFalse() public {
        weth.setQuirks(false, false, true);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.ApproveFailed.selector, address(weth), abi.encode(false)));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, block.timestamp);
    }

    // ------------------------------------------------------------------ caps and the rolling window

    function test_window_capAndRolling() public {
        _swapWeth(50e18); // $100k
        _swapWeth(50e18); // $200k
        uint256 minOut = _minOutWethToUsdc(25.001e18);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.WindowCapExceeded.selector, 200_000e18, 50_002e18, PER_WINDOW));
        module.hedgeSwap(address(weth), address(usdc), FEE, 25.001e18, minOut, block.timestamp);
        _swapWeth(25e18); // exactly $250k: allowed
        (uint256 used, uint256 n) = module.windowUsage();
        assertEq(used, PER_WINDOW);
        assertEq(n, 3);
        // perps share the window
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.WindowCapExceeded.selector, PER_WINDOW, 2000e18, PER_WINDOW));
        module.hedgePerp(address(perp), 1e18, 2010e18);
        // one second before the first trade leaves the window: still full
        vm.warp(block.timestamp + WINDOW - 1);
        _refreshFeeds();
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.WindowCapExceeded.selector, PER_WINDOW, 2000e18, PER_WINDOW));
        module.hedgePerp(address(perp), 1e18, 2010e18);
        vm.warp(block.timestamp + 1);
        _refreshFeeds();
        (used, n) = module.windowUsage();
        assertEq(used, 0);
        assertEq(n, 0);
        _swapWeth(50e18);
        (used, n) = module.windowUsage();
        assertEq(used, 100_000e18);
        assertEq(n, 1);
    }

    function test_window_rollsEntryByEntry() public {
        _swapWeth(50e18); // t0: $100k
        vm.warp(block.timestamp + 20 minutes);
        _refreshFeeds();
        _swapWeth(50e18); // t0+20m: $100k
        vm.warp(block.timestamp + 40 minutes); // t0+60m: first entry expired
        _refreshFeeds();
        (uint256 used,) = module.windowUsage();
        assertEq(used, 100_000e18);
        _swapWeth(50e18);
        _swapWeth(25e18); // $250k in the window
        vm.prank(keeper);
        vm.expectRevert();
        module.hedgePerp(address(perp), 1e18, 2010e18);
    }

    function test_window_fullBuffer() public {
        _asSafe(abi.encodeCall(HedgeModule.setLimits, (PER_TRADE, 1e36, WINDOW, SLIP_BPS)));
        for (uint256 i; i < 32; ++i) _swapWeth(0.01e18);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.WindowFull.selector, 32));
        module.hedgeSwap(address(weth), address(usdc), FEE, 0.01e18, 19.9e6, block.timestamp);
        vm.warp(block.timestamp + WINDOW);
        _refreshFeeds();
        for (uint256 i; i < 32; ++i) _swapWeth(0.01e18); // the ring wraps around
        (uint256 used, uint256 n) = module.windowUsage();
        assertEq(n, 32);
        assertEq(used, 32 * 20e18);
    }

    // ------------------------------------------------------------------ hedgePerp

    function test_hedgePerp_buyAndSell_atBounds() public {
        (uint256 notional, uint256 px, uint256 maxBuy) = module.quotePerp(address(perp), 2e18);
        assertEq(notional, 4000e18);
        assertEq(px, 2000e18);
        assertEq(maxBuy, 2010e18);
        vm.expectEmit(address(module));
        emit PerpHedgeExecuted(address(perp), 2e18, maxBuy, px, notional, 2e18);
        vm.prank(keeper);
        module.hedgePerp(address(perp), 2e18, maxBuy);
        (,, uint256 minSell) = module.quotePerp(address(perp), -3e18);
        assertEq(minSell, 1990e18);
        vm.prank(keeper);
        module.hedgePerp(address(perp), -3e18, minSell);
        assertEq(perp.sizeOf(safe), -1e18);
        // filled at the worst allowed prices: loss = 2*10 + 3*10 = $50 = notional * 50 bps
        assertEq(perp.equityUsd(safe), -50e18);
    }

    function test_hedgePerp_rejections() public {
        vm.startPrank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.MarketNotAllowed.selector, address(0xdead)));
        module.hedgePerp(address(0xdead), 1e18, 2010e18);
        vm.expectRevert(HedgeModule.ZeroAmount.selector);
        module.hedgePerp(address(perp), 0, 2010e18);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.AcceptablePriceOutOfBound.selector, 2010e18 + 1, 2010e18));
        module.hedgePerp(address(perp), 1e18, 2010e18 + 1);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.AcceptablePriceOutOfBound.selector, 1990e18 - 1, 1990e18));
        module.hedgePerp(address(perp), -1e18, 1990e18 - 1);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.TradeCapExceeded.selector, 100_002e18, PER_TRADE));
        module.hedgePerp(address(perp), -50.001e18, 2000e18);
        vm.stopPrank();
        vm.warp(block.timestamp + 1 hours + 1);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(HedgeModule.StaleFeed.selector, address(ethFeed), block.timestamp - 1 hours - 1, 1 hours)
        );
        module.hedgePerp(address(perp), 1e18, 2010e18);
    }

    function test_hedgePerp_marketFailures() public {
        perp.setBehaviour(false, 10_000, true);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                HedgeModule.PerpCallFailed.selector, abi.encodeWithSelector(HMMockPerp.PerpBoom.selector, int256(1e18))
            )
        );
        module.hedgePerp(address(perp), 1e18, 2010e18);
        perp.setBehaviour(false, 5_000, false); // fills half: state check catches it
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.PerpFillMismatch.selector, int256(0), int256(0.5e18), int256(1e18)));
        module.hedgePerp(address(perp), 1e18, 2010e18);
    }

    function test_hedgePerp_positionLimit() public {
        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 3e18)));
        vm.startPrank(keeper);
        module.hedgePerp(address(perp), 3e18, 2010e18);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.PerpPositionLimitExceeded.selector, int256(3.1e18), 3e18));
        module.hedgePerp(address(perp), 0.1e18, 2010e18);
        module.hedgePerp(address(perp), -6e18, 1990e18); // flips to -3: at the limit
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.PerpPositionLimitExceeded.selector, int256(-4e18), 3e18));
        module.hedgePerp(address(perp), -1e18, 1990e18);
        vm.stopPrank();
        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 1e18)));
        vm.prank(keeper);
        module.hedgePerp(address(perp), 1e18, 2010e18); // |-3| -> |-2|: reducing is always allowed
        assertEq(perp.sizeOf(safe), -2e18);
    }

    function test_hedgePerp_usesModuleFeed_notMarketView() public {
        PriceFeed marketFeed = new PriceFeed(8, "manipulated", 4000e8);
        HMMockPerp bent = new HMMockPerp(AggregatorV3Interface(address(marketFeed)));
        _asSafe(abi.encodeCall(HedgeModule.setPerpMarket, (address(bent), address(ethFeed), 1 hours, true)));
        (uint256 notional, uint256 px, uint256 minSell) = module.quotePerp(address(bent), -1e18);
        assertEq(px, 2000e18);
        assertEq(notional, 2000e18);
        assertEq(minSell, 1990e18);
        vm.prank(keeper); // a sell at 1990 is acceptable to the module; the market fills at the acceptable price
        module.hedgePerp(address(bent), -1e18, minSell);
        vm.prank(keeper); // a buy above the module's bound is refused even though the market thinks 4000 is fair
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.AcceptablePriceOutOfBound.selector, 4000e18, 2010e18));
        module.hedgePerp(address(bent), 1e18, 4000e18);
    }

    // ------------------------------------------------------------------ fuzz

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

    function _checkSwapIfAccepted(HMToken tin, HMToken tout, uint256 amountIn, uint256 minOut, uint256 slipBps) internal {
        int256 v0 = _safeValueUsd();
        uint256 outBefore = tout.balanceOf(safe);
        vm.prank(keeper);
        try module.hedgeSwap(address(tin), address(tout), FEE, amountIn, minOut, block.timestamp) returns (uint256 out) {
            (uint256 notional, uint256 expectedOut,) = module.quoteSwap(address(tin), address(tout), amountIn);
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
            assertGe(perp.equityUsd(safe), -int256(notional * slipBps / 10_000) - 1);
        } catch (bytes memory) {}
    }

    function testFuzz_quoteSwap_matchesIndependentMath(uint256 amountIn, uint256 ethPrice8) public {
        ethPrice8 = bound(ethPrice8, 1, 1e14);
        amountIn = bound(amountIn, 1, 1e30);
        ethFeed.setAnswer(int256(ethPrice8));
        (uint256 notional, uint256 expectedOut, uint256 minOut) = module.quoteSwap(address(weth), address(usdc), amountIn);
        uint256 exactNum = amountIn * ethPrice8 * 1e10; // usd wad * 1e18
        assertEq(notional, (exactNum + 1e18 - 1) / 1e18);
        assertEq(expectedOut, (amountIn * ethPrice8 * 1e10 * 1e6 + 1e36 - 1) / 1e36);
        assertEq(minOut, (expectedOut * (10_000 - SLIP_BPS) + 9_999) / 10_000);
    }
}

/// @notice The same module against REAL Uniswap v3 (factory, pool, SwapRouter from the npm artifacts).
contract HedgeModuleUniswapTest is HMFixture {
    address internal uniFactory;
    address internal uniRouter;

    function setUp() public {
        _setUpFixture();
        (uniFactory, uniRouter) = _deployUniswap();
        // ~1,000 WETH + ~2,000,000 USDC full range at the oracle price
        _createPool(uniFactory, weth, usdc, FEE, 60, ETH_USD, 1e18, 4.47e16);
        _asSafe(abi.encodeCall(HedgeModule.setRouter, (uniRouter)));
    }

    function test_realUniswap_wethToUsdc() public {
        (uint256 notional,, uint256 minOut) = module.quoteSwap(address(weth), address(usdc), 1e18);
        uint256 u0 = usdc.balanceOf(safe);
        uint256 w0 = weth.balanceOf(safe);
        vm.prank(keeper);
        uint256 out = module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, minOut, block.timestamp);
        assertEq(notional, 2000e18);
        assertGe(out, minOut);
        assertGt(out, 1992e6); // 0.3% pool fee + ~0.1% impact
        assertLt(out, 1994e6);
        assertEq(usdc.balanceOf(safe), u0 + out);
        assertEq(weth.balanceOf(safe), w0 - 1e18);
        assertEq(weth.allowance(safe, uniRouter), 0);
        (uint256 used,) = module.windowUsage();
        assertEq(used, 2000e18);
    }

    function test_realUniswap_usdcToWeth() public {
        (,, uint256 minOut) = module.quoteSwap(address(usdc), address(weth), 2_000e6);
        vm.prank(keeper);
        uint256 out = module.hedgeSwap(address(usdc), address(weth), FEE, 2_000e6, minOut, block.timestamp);
        assertGe(out, minOut);
        assertGt(out, 0.996e18);
        assertEq(usdc.allowance(safe, uniRouter), 0);
    }

    /// @notice 10,000 USDC into a ~2M USDC pool: ~0.5% impact + 0.3% fee > 50 bps, so the real router refuses.
    function test_realUniswap_priceImpactBeyondSlippage_reverts() public {
        (,, uint256 minOut) = module.quoteSwap(address(usdc), address(weth), 10_000e6);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                HedgeModule.SwapFailed.selector, abi.encodeWithSignature("Error(string)", "Too little received")
            )
        );
        module.hedgeSwap(address(usdc), address(weth), FEE, 10_000e6, minOut, block.timestamp);
        (uint256 used,) = module.windowUsage();
        assertEq(used, 0); // the failed trade did not consume the window
    }

    /// @notice A pool pushed off the oracle price (say by a sandwich) cannot fill at the oracle-bounded minimum.
    function test_realUniswap_offPricePool_reverts() public {
        HMToken weth2 = new HMToken("Wrapped Ether 2", "WETH2", 18);
        weth2.mint(safe, 10e18);
        _asSafe(abi.encodeCall(HedgeModule.setTokenConfig, (address(weth2), address(ethFeed), 1 hours, true)));
        _createPool(uniFactory, weth2, usdc, FEE, 60, 1950e18, 1e18, 4.47e16); // 2.5% below the oracle
        (,, uint256 minOut) = module.quoteSwap(address(weth2), address(usdc), 1e18);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                HedgeModule.SwapFailed.selector, abi.encodeWithSignature("Error(string)", "Too little received")
            )
        );
        module.hedgeSwap(address(weth2), address(usdc), FEE, 1e18, minOut, block.timestamp);
        assertEq(weth2.balanceOf(safe), 10e18);
        assertEq(weth2.allowance(safe, uniRouter), 0);
    }

    function test_realUniswap_disallowedFeeTier_evenIfPoolExists() public {
        _createPool(uniFactory, weth, usdc, 500, 10, ETH_USD, 1e18, 4.47e16);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(HedgeModule.FeeTierNotAllowed.selector, 500));
        module.hedgeSwap(address(weth), address(usdc), 500, 1e18, 1990e6, block.timestamp);
    }
}
