// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HedgeModule} from "../src/HedgeModule.sol";
import {IHedgeModule} from "../src/IHedgeModule.sol";
import {HMTestBase} from "./helpers/HMTestBase.sol";

/// @notice Per-trade and rolling-window notional caps, shared by swaps and perps. The window is kept in 32 time
///         buckets of ceil(W / 32) seconds (113 s for W = 1 h): a trade counts for at least W and at most
///         33 buckets (3,729 s); trades in one bucket merge, so the accounting never fills up.
contract HedgeModuleWindowTest is HMTestBase {
    uint256 internal constant BUCKET = 113; // ceil(3600 / 32)

    function _bucketStart() internal view returns (uint256) {
        return block.timestamp / BUCKET * BUCKET;
    }

    function test_window_capAndRolling() public {
        uint256 start = _bucketStart();
        _swapWeth(50e18); // $100k
        _swapWeth(50e18); // $200k
        uint256 minOut = _minOutWethToUsdc(25.001e18);
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IHedgeModule.WindowCapExceeded.selector, 200_000e18, 50_002e18, PER_WINDOW)
        );
        module.hedgeSwap(address(weth), address(usdc), FEE, 25.001e18, minOut, block.timestamp);
        _swapWeth(25e18); // exactly $250k: allowed
        (uint256 used, uint256 n) = module.windowUsage();
        assertEq(used, PER_WINDOW);
        assertEq(n, 1); // three trades, one bucket
        // perps share the window
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IHedgeModule.WindowCapExceeded.selector, PER_WINDOW, 2000e18, PER_WINDOW)
        );
        module.hedgePerp(address(perp), 1e18, 2010e18);
        // one second before W has passed since the trades: still full (a trade counts for at least W)
        vm.warp(block.timestamp + WINDOW - 1);
        _refreshFeeds();
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(IHedgeModule.WindowCapExceeded.selector, PER_WINDOW, 2000e18, PER_WINDOW)
        );
        module.hedgePerp(address(perp), 1e18, 2010e18);
        // the bucket expires 33 buckets after it started (<= W + 2 buckets after the trades)
        vm.warp(start + 33 * BUCKET - 1);
        _refreshFeeds();
        (used,) = module.windowUsage();
        assertEq(used, PER_WINDOW);
        vm.warp(start + 33 * BUCKET);
        _refreshFeeds();
        (used, n) = module.windowUsage();
        assertEq(used, 0);
        assertEq(n, 0);
        _swapWeth(50e18);
        (used, n) = module.windowUsage();
        assertEq(used, 100_000e18);
        assertEq(n, 1);
    }

    function test_window_rollsBucketByBucket() public {
        uint256 start = _bucketStart();
        _swapWeth(50e18); // t0: $100k
        vm.warp(block.timestamp + 20 minutes);
        _refreshFeeds();
        _swapWeth(50e18); // t0+20m: $100k
        vm.warp(start + 33 * BUCKET); // the first bucket expired, the second not
        _refreshFeeds();
        (uint256 used, uint256 n) = module.windowUsage();
        assertEq(used, 100_000e18);
        assertEq(n, 1);
        _swapWeth(50e18);
        _swapWeth(25e18); // $250k in the window
        vm.prank(keeper);
        vm.expectRevert();
        module.hedgePerp(address(perp), 1e18, 2010e18);
    }

    /// @notice Attack 11 (the key blocks hedging by filling the 32-slot trade ring): 300 tiny trades, ten seconds
    ///         apart, never fill the accounting; at most 33 buckets are ever live.
    function test_attack11_tinyTradesNeverFillTheWindow() public {
        _asSafe(abi.encodeCall(HedgeModule.setLimits, (PER_TRADE, 1e33, WINDOW, SLIP_BPS)));
        for (uint256 i; i < 300; ++i) {
            _swapWeth(0.001e18); // $2 each
            (, uint256 n) = module.windowUsage();
            assertLe(n, 33);
            vm.warp(block.timestamp + 10);
            _refreshFeeds();
        }
        // an honest hedge still goes through
        assertGt(_swapWeth(10e18), 0);
    }

    /// @notice A new window length clears the window (the owners' decision); the total loss is kept.
    function test_window_newLengthClears() public {
        _swapWeth(50e18);
        uint256 total = module.lossTotalUsd();
        assertGt(total, 0);
        _asSafe(abi.encodeCall(HedgeModule.setLimits, (PER_TRADE, PER_WINDOW, 2 hours, SLIP_BPS)));
        (uint256 used, uint256 n) = module.windowUsage();
        (used, n) = (used, n);
        assertEq(used, 0);
        assertEq(module.lossTotalUsd(), total);
    }
}
