// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HedgeModule} from "../src/HedgeModule.sol";
import {IHedgeModule} from "../src/IHedgeModule.sol";
import {HMToken} from "./helpers/HMToken.sol";
import {HMMockFeed} from "./helpers/HMMockFeed.sol";
import {HMTestBase} from "./helpers/HMTestBase.sol";

/// @notice Admin configuration: validation of every setter, bounded lists, and the paramsHash commitment.
contract HedgeModuleConfigTest is HMTestBase {
    // ------------------------------------------------------------ configuration validation

    function test_setLimits_validation() public {
        uint256[4][7] memory bad = [
            [uint256(0), PER_WINDOW, WINDOW, SLIP_BPS], // zero per-trade cap
            [PER_WINDOW + 1, PER_WINDOW, WINDOW, SLIP_BPS], // per-trade > per-window
            [PER_TRADE, 1e33 + 1, WINDOW, SLIP_BPS], // absurd window cap
            [PER_TRADE, PER_WINDOW, 0, SLIP_BPS], // zero window
            [PER_TRADE, PER_WINDOW, 30 days + 1, SLIP_BPS], // window too long
            [PER_TRADE, PER_WINDOW, WINDOW, 1001], // slippage above the 10% ceiling
            [PER_TRADE, 0, WINDOW, SLIP_BPS] // zero window cap
        ];
        for (uint256 i; i < bad.length; ++i) {
            vm.prank(safe);
            vm.expectRevert(IHedgeModule.InvalidLimits.selector);
            module.setLimits(bad[i][0], bad[i][1], bad[i][2], bad[i][3]);
        }
        vm.expectEmit(address(module));
        emit IHedgeModule.LimitsSet(1e18, 1e33, 30 days, 1000);
        vm.prank(safe);
        module.setLimits(1e18, 1e33, 30 days, 1000);
    }

    function test_config_validation() public {
        vm.startPrank(safe);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidRouter.selector, safe));
        module.setRouter(safe);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidRouter.selector, address(module)));
        module.setRouter(address(module));
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidFeeTier.selector, 0));
        module.setPoolAllowed(address(weth), address(usdc), 0, true);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidFeeTier.selector, 1_000_000));
        module.setPoolAllowed(address(weth), address(usdc), 1_000_000, true);
        (address t0, address t1) =
            address(weth) < address(junk) ? (address(weth), address(junk)) : (address(junk), address(weth));
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.PoolNotFound.selector, t0, t1, uint24(500)));
        module.setPoolAllowed(address(weth), address(junk), 500, true);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.SameToken.selector, address(weth)));
        module.setPoolAllowed(address(weth), address(weth), 500, true);
        vm.expectRevert(IHedgeModule.InvalidLossBudgets.selector);
        module.setLossBudgets(2, 1);
        vm.expectRevert(IHedgeModule.InvalidLossBudgets.selector);
        module.setLossBudgets(1, 1e33 + 1);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidTwapWindow.selector, 59));
        module.setTwapWindow(59);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidTwapWindow.selector, 1 days + 1));
        module.setTwapWindow(1 days + 1);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidMarginBps.selector, 10_001));
        module.setPerpMinMarginBps(10_001);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidSequencerGrace.selector, 1 days + 1));
        module.setSequencerFeed(address(1), 1 days + 1);
        vm.expectRevert(IHedgeModule.ZeroAddress.selector);
        module.setFactory(address(0));
        vm.expectRevert(IHedgeModule.ZeroAddress.selector);
        module.setTokenConfig(address(0), address(usdcFeed), 1 days, true);
        vm.expectRevert(IHedgeModule.ZeroAddress.selector);
        module.setTokenConfig(address(junk), address(0), 1 days, true);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidFeedAge.selector, 0));
        module.setTokenConfig(address(junk), address(usdcFeed), 0, true);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidFeedAge.selector, 1 days + 1));
        module.setTokenConfig(address(junk), address(usdcFeed), 1 days + 1, true);
        HMToken huge = new HMToken("Huge", "HUGE", 40);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidDecimals.selector, address(huge), 40));
        module.setTokenConfig(address(huge), address(usdcFeed), 1 days, true);
        HMMockFeed oddFeed = new HMMockFeed(40, 1);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidDecimals.selector, address(oddFeed), 40));
        module.setPerpMarket(address(perp), address(oddFeed), 1 hours, true);
        vm.expectRevert(IHedgeModule.ZeroAddress.selector);
        module.setPerpMarket(address(0), address(ethFeed), 1 hours, true);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.InvalidFeedAge.selector, 0));
        module.setPerpMarket(address(perp), address(ethFeed), 0, true);
        vm.stopPrank();
    }

    function test_lists_boundedAndEnumerated() public {
        vm.startPrank(safe);
        for (uint24 f = 1; f <= 16; ++f) {
            mockFactory.createPool(address(weth), address(usdc), f);
        }
        // 15 here + FEE = 16
        for (uint24 f = 1; f <= 15; ++f) {
            module.setPoolAllowed(address(usdc), address(weth), f, true);
        }
        vm.expectRevert(IHedgeModule.ListFull.selector);
        module.setPoolAllowed(address(weth), address(usdc), 16, true);
        module.setPoolAllowed(address(weth), address(usdc), FEE, true); // already allowed: no duplicate
        module.setPoolAllowed(address(weth), address(usdc), 7, false);
        module.setPoolAllowed(address(weth), address(usdc), 7, false); // idempotent
        module.setPoolAllowed(address(weth), address(usdc), 16, true); // the freed place is usable again
        vm.expectRevert(IHedgeModule.ListFull.selector);
        module.setPoolAllowed(address(weth), address(usdc), 7, true);
        vm.stopPrank();
        IHedgeModule.PoolParams[] memory pools = module.params().pools;
        assertEq(pools.length, 16);
        for (uint256 i = 1; i < pools.length; ++i) {
            assertLt(uint160(pools[i - 1].pool), uint160(pools[i].pool));
        }
        for (uint256 i; i < pools.length; ++i) {
            assertLt(uint160(pools[i].token0), uint160(pools[i].token1));
            assertEq(mockFactory.getPool(pools[i].token0, pools[i].token1, uint24(pools[i].fee)), pools[i].pool);
            assertTrue(pools[i].fee != 7);
        }
    }

    function test_disallowToken_removesConfig() public {
        _asSafe(abi.encodeCall(HedgeModule.setTokenConfig, (address(usdc), address(0), 0, false)));
        (address f,,, bool ok) = module.tokenConfig(address(usdc));
        assertEq(f, address(0));
        assertFalse(ok);
        assertEq(module.params().tokens.length, 1);
        _hedgeOneWethExpectRevert(abi.encodeWithSelector(IHedgeModule.TokenNotAllowed.selector, address(usdc)));
        _asSafe(abi.encodeCall(HedgeModule.setPerpMarket, (address(perp), address(0), 0, false)));
        assertEq(module.params().markets.length, 0);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.MarketNotAllowed.selector, address(perp)));
        module.hedgePerp(address(perp), 1e18, 2010e18);
    }

    // ------------------------------------------------------------ paramsHash

    function test_paramsHash_documentedEncoding() public {
        address pool500 = mockFactory.createPool(address(weth), address(usdc), 500);
        _asSafe(abi.encodeCall(HedgeModule.setPoolAllowed, (address(weth), address(usdc), 500, true)));
        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 50e18)));
        _asSafe(abi.encodeCall(HedgeModule.setTwapWindow, (900)));
        _asSafe(abi.encodeCall(HedgeModule.setSequencerFeed, (address(0x5E0), 3600)));
        (address t0, address t1) =
            address(usdc) < address(weth) ? (address(usdc), address(weth)) : (address(weth), address(usdc));
        IHedgeModule.TokenParams[] memory toks = new IHedgeModule.TokenParams[](2);
        toks[0] = _tp(t0);
        toks[1] = _tp(t1);
        IHedgeModule.MarketParams[] memory mkts = new IHedgeModule.MarketParams[](1);
        mkts[0] = IHedgeModule.MarketParams(address(perp), address(ethFeed), 1 hours, 50e18);
        IHedgeModule.PoolParams[] memory pools = new IHedgeModule.PoolParams[](2);
        (address pa, uint256 fa, address pb, uint256 fb) =
            mockPool < pool500 ? (mockPool, uint256(FEE), pool500, uint256(500)) : (pool500, 500, mockPool, FEE);
        pools[0] = IHedgeModule.PoolParams(pa, t0, t1, fa);
        pools[1] = IHedgeModule.PoolParams(pb, t0, t1, fb);
        bytes memory head1 = abi.encode(
            keccak256("HedgeModule.params.v2"),
            block.chainid,
            address(module),
            safe,
            keeper,
            guardian,
            address(mockRouter),
            PER_TRADE,
            PER_WINDOW,
            WINDOW,
            SLIP_BPS
        );
        bytes memory head2 = abi.encode(
            address(mockFactory),
            LOSS_WINDOW,
            LOSS_TOTAL,
            uint256(900),
            PERP_MIN_MARGIN_BPS,
            address(0x5E0),
            uint256(3600)
        );
        // abi.encode(params()) = abi.encode of ONE dynamic tuple: a 0x20 offset word, then the tuple's encoding:
        // its 21 head words (3 of them offsets of the lists, relative to the tuple's start), then the lists.
        bytes memory tail = abi.encode(pools, toks, mkts); // offsets relative to this tail start
        bytes memory expected = abi.encodePacked(
            uint256(0x20), head1, _shiftOffsets(tail, 3, 21 * 32 - 3 * 32), head2, _slice(tail, 3 * 32)
        );
        assertEq(module.paramsHash(), keccak256(expected));
        assertEq(module.paramsHash(), keccak256(abi.encode(module.params())));
    }

    function _tp(address t) internal view returns (IHedgeModule.TokenParams memory) {
        (address f, uint256 age, uint8 dec,) = module.tokenConfig(t);
        return IHedgeModule.TokenParams(t, f, age, dec);
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
        for (uint256 i; i < out.length; ++i) {
            out[i] = b[from + i];
        }
    }

    function test_paramsHash_changesWithEverySetter_notWithPause() public {
        mockFactory.createPool(address(weth), address(usdc), 500);
        bytes[] memory calls = new bytes[](15);
        calls[0] = abi.encodeCall(HedgeModule.setKeeper, (address(11)));
        calls[1] = abi.encodeCall(HedgeModule.setGuardian, (address(12)));
        calls[2] = abi.encodeCall(HedgeModule.setRouter, (address(13)));
        calls[3] = abi.encodeCall(HedgeModule.setPoolAllowed, (address(weth), address(usdc), 500, true));
        calls[4] = abi.encodeCall(HedgeModule.setTokenConfig, (address(junk), address(usdcFeed), 1 days, true));
        calls[5] = abi.encodeCall(HedgeModule.setPerpMarket, (address(perp), address(ethFeed), 2 hours, true));
        calls[6] = abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), 7));
        calls[7] = abi.encodeCall(HedgeModule.setLimits, (PER_TRADE, PER_WINDOW, WINDOW, SLIP_BPS + 1));
        calls[8] = abi.encodeCall(HedgeModule.setLossBudgets, (LOSS_WINDOW, LOSS_TOTAL + 1));
        calls[9] = abi.encodeCall(HedgeModule.setLossBudgets, (LOSS_WINDOW + 1, LOSS_TOTAL + 1));
        calls[10] = abi.encodeCall(HedgeModule.setTwapWindow, (600));
        calls[11] = abi.encodeCall(HedgeModule.setSequencerFeed, (address(14), 0));
        calls[12] = abi.encodeCall(HedgeModule.setSequencerFeed, (address(14), 60));
        calls[13] = abi.encodeCall(HedgeModule.setPerpMinMarginBps, (PERP_MIN_MARGIN_BPS + 1));
        calls[14] = abi.encodeCall(HedgeModule.setFactory, (address(15)));
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
}
