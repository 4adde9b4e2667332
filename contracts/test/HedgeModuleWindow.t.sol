// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HedgeModule} from "../src/HedgeModule.sol";
import {HMTestBase} from "./helpers/HMTestBase.sol";

/// @notice Per-trade and rolling-window notional caps, shared by swaps and perps.
contract HedgeModuleWindowTest is HMTestBase {
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
}
