// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HedgeModule} from "../src/HedgeModule.sol";
import {IHedgeModule} from "../src/IHedgeModule.sol";
import {HMToken} from "./helpers/HMToken.sol";
import {HMTestBase} from "./helpers/HMTestBase.sol";

/// @notice The same module against REAL Uniswap v3 (factory, pool, SwapRouter from the npm artifacts).
contract HedgeModuleUniswapTest is HMTestBase {
    address internal uniFactory;
    address internal uniRouter;

    function setUp() public override {
        super.setUp();
        (uniFactory, uniRouter) = _deployUniswap();
        // ~1,000 WETH + ~2,000,000 USDC full range at the oracle price
        _createPool(uniFactory, weth, usdc, FEE, 60, ETH_USD, 1e18, 4.47e16);
        _asSafe(abi.encodeCall(HedgeModule.setRouter, (uniRouter)));
        _asSafe(abi.encodeCall(HedgeModule.setFactory, (uniFactory)));
        _asSafe(abi.encodeCall(HedgeModule.setPoolAllowed, (address(weth), address(usdc), FEE, true)));
    }

    /// @notice The pool the module allows is the one the router swaps in: the CREATE2 address from the factory
    ///         and periphery's POOL_INIT_CODE_HASH.
    function test_realUniswap_allowedPoolIsTheCreate2Pool() public view {
        (address t0, address t1) =
            address(weth) < address(usdc) ? (address(weth), address(usdc)) : (address(usdc), address(weth));
        bytes32 salt = keccak256(abi.encode(t0, t1, FEE));
        bytes32 initCodeHash = 0xe34f199b19b2b4f47f68442619d555527d244f78a3297ea89325f843f87b8b54;
        address expected =
            address(uint160(uint256(keccak256(abi.encodePacked(hex"ff", uniFactory, salt, initCodeHash)))));
        assertEq(module.poolFor(keccak256(abi.encode(t0, t1, FEE))), expected);
        assertEq(module.params().pools[0].pool, expected);
    }

    function test_realUniswap_wethToUsdc() public {
        (uint256 notional,, uint256 minOut) = module.quoteSwap(address(weth), address(usdc), FEE, 1e18);
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
        (,, uint256 minOut) = module.quoteSwap(address(usdc), address(weth), FEE, 2_000e6);
        vm.prank(keeper);
        uint256 out = module.hedgeSwap(address(usdc), address(weth), FEE, 2_000e6, minOut, block.timestamp);
        assertGe(out, minOut);
        assertGt(out, 0.996e18);
        assertEq(usdc.allowance(safe, uniRouter), 0);
    }

    /// @notice 10,000 USDC into a ~2M USDC pool: ~0.5% impact + 0.3% fee > 50 bps, so the real router refuses.
    function test_realUniswap_priceImpactBeyondSlippage_reverts() public {
        (,, uint256 minOut) = module.quoteSwap(address(usdc), address(weth), FEE, 10_000e6);
        vm.prank(keeper);
        vm.expectRevert(_swapFailedWith("Too little received"));
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
        _asSafe(abi.encodeCall(HedgeModule.setPoolAllowed, (address(weth2), address(usdc), FEE, true)));
        (,, uint256 minOut) = module.quoteSwap(address(weth2), address(usdc), FEE, 1e18);
        vm.prank(keeper);
        vm.expectRevert(_swapFailedWith("Too little received"));
        module.hedgeSwap(address(weth2), address(usdc), FEE, 1e18, minOut, block.timestamp);
        assertEq(weth2.balanceOf(safe), 10e18);
        assertEq(weth2.allowance(safe, uniRouter), 0);
    }

    function test_realUniswap_disallowedPool_evenIfItExists() public {
        _createPool(uniFactory, weth, usdc, 500, 10, ETH_USD, 1e18, 4.47e16);
        vm.prank(keeper);
        vm.expectRevert(abi.encodeWithSelector(IHedgeModule.PoolNotAllowed.selector, address(weth), address(usdc), 500));
        module.hedgeSwap(address(weth), address(usdc), 500, 1e18, 1990e6, block.timestamp);
    }
}
