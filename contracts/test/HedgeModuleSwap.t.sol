// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HedgeModule} from "../src/HedgeModule.sol";
import {IHedgeModule} from "../src/IHedgeModule.sol";
import {HMToken} from "./helpers/HMToken.sol";
import {HMTestBase} from "./helpers/HMTestBase.sol";

/// @notice hedgeSwap through the mock router: the happy path, argument rejections, and misbehaving routers and
///         tokens (failures, lies, over-pulls, allowance quirks).
contract HedgeModuleSwapTest is HMTestBase {
    // ------------------------------------------------------------ hedgeSwap: happy path

    function test_hedgeSwap_mockRouter_happyPath() public {
        uint256 amountIn = 10e18;
        (uint256 notional, uint256 expectedOut, uint256 minOut) =
            module.quoteSwap(address(weth), address(usdc), FEE, amountIn);
        assertEq(notional, 20_000e18);
        assertEq(expectedOut, 20_000e6);
        assertEq(minOut, 19_900e6); // 50 bps below the oracle
        uint256 wBefore = weth.balanceOf(safe);
        uint256 uBefore = usdc.balanceOf(safe);
        uint256 paid = mockRouter.quote(address(weth), address(usdc), amountIn); // 0.3% haircut
        vm.expectEmit(address(module));
        emit IHedgeModule.HedgeExecuted(
            address(mockRouter), address(weth), address(usdc), FEE, amountIn, paid, notional, ETH_USD, 1e18
        );
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
            HedgeModule.hedgeSwap.selector,
            bytes4(keccak256("hedgeSwap(address,address,uint24,uint256,uint256,uint256)"))
        );
        (HMToken tin, HMToken tout) = wethIn ? (weth, usdc) : (usdc, weth);
        amountIn = bound(amountIn, wethIn ? 1e15 : 1e6, wethIn ? 40e18 : 80_000e6);
        (,, uint256 minOut) = module.quoteSwap(address(tin), address(tout), FEE, amountIn);
        uint256 before = tout.balanceOf(safe);
        vm.prank(keeper);
        uint256 out = module.hedgeSwap(address(tin), address(tout), FEE, amountIn, minOut, block.timestamp);
        assertEq(mockRouter.lastRecipient(), safe);
        assertEq(tout.balanceOf(safe), before + out);
        assertEq(tout.balanceOf(keeper), 0);
    }

    // ------------------------------------------------------------ hedgeSwap: rejections

    function test_hedgeSwap_rejections() public {
        uint256 t = block.timestamp;
        mockFactory.createPool(address(junk), address(usdc), FEE);
        mockFactory.createPool(address(junk), address(weth), FEE);
        _asSafe(abi.encodeCall(HedgeModule.setPoolAllowed, (address(junk), address(usdc), FEE, true)));
        _asSafe(abi.encodeCall(HedgeModule.setPoolAllowed, (address(junk), address(weth), FEE, true)));
        vm.startPrank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.PoolNotAllowed.selector, address(weth), address(usdc), 500));
        module.hedgeSwap(address(weth), address(usdc), 500, 1e18, 1990e6, t);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.TokenNotAllowed.selector, address(junk)));
        module.hedgeSwap(address(junk), address(usdc), FEE, 1e18, 1990e6, t);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.TokenNotAllowed.selector, address(junk)));
        module.hedgeSwap(address(weth), address(junk), FEE, 1e18, 1990e6, t);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.PoolNotAllowed.selector, address(weth), address(weth), FEE));
        module.hedgeSwap(address(weth), address(weth), FEE, 1e18, 1e18, t);
        vm.expectRevert(IHedgeModule.ZeroAmount.selector);
        module.hedgeSwap(address(weth), address(usdc), FEE, 0, 0, t);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.DeadlineExpired.selector, t - 1, t));
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, t - 1);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.TradeCapExceeded.selector, 100_002e18, PER_TRADE));
        module.hedgeSwap(address(weth), address(usdc), FEE, 50.001e18, 100_002e6, t);
        vm.stopPrank();
        _asSafe(abi.encodeCall(HedgeModule.setRouter, (address(0))));
        vm.prank(keeper);
        vm.expectRevert(IHedgeModule.RouterNotSet.selector);
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, t);
    }

    // ------------------------------------------------------------ hedgeSwap: misbehaving routers and tokens

    function test_hedgeSwap_routerFailureBubbles() public {
        mockRouter.setBehaviour(0, false, 0, address(0), true);
        _hedgeOneWethExpectRevert(
            abi.encodeWithSelector(IHedgeModule.SwapFailed.selector, abi.encodeWithSignature("RouterBoom()"))
        );
        // an honest router that cannot meet the minimum: its Error(string) comes back inside SwapFailed
        mockRouter.setBehaviour(100, false, 0, address(0), false);
        _hedgeOneWethExpectRevert(_swapFailedWith("Too little received"));
    }

    function test_hedgeSwap_lyingRouter_caughtByBalanceCheck() public {
        mockRouter.setBehaviour(100, true, 0, address(0), false); // pays 1% less and ignores the minimum
        _hedgeOneWethExpectRevert(abi.encodeWithSelector(IHedgeModule.OutputBelowMinimum.selector, 1980e6, 1990e6));
        mockRouter.setBehaviour(0, true, 0, makeAddr("thief"), false); // pays someone else
        _hedgeOneWethExpectRevert(abi.encodeWithSelector(IHedgeModule.OutputBelowMinimum.selector, 0, 1990e6));
    }

    function test_hedgeSwap_routerCannotPullMoreThanAmountIn() public {
        mockRouter.setBehaviour(0, false, 1, address(0), false);
        _hedgeOneWethExpectRevert(_swapFailedWith("HMToken: allowance"));
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
        other.setFactory(address(mockFactory));
        other.setPoolAllowed(address(weth), address(usdc), FEE, true);
        other.setLossBudgets(LOSS_WINDOW, LOSS_TOTAL);
        other.setTokenConfig(address(weth), address(ethFeed), 1 hours, true);
        other.setTokenConfig(address(usdc), address(usdcFeed), 1 days, true);
        other.setLimits(PER_TRADE, PER_WINDOW, WINDOW, SLIP_BPS);
        vm.stopPrank();
        vm.prank(keeper);
        vm.expectRevert(
            abi.encodeWithSelector(
                IHedgeModule.SafeCallReverted.selector, address(weth), abi.encodeWithSignature("Error(string)", "GS104")
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
        _hedgeOneWethExpectRevert(
            abi.encodeWithSelector(IHedgeModule.ApproveFailed.selector, address(weth), abi.encode(false))
        );
    }
}
