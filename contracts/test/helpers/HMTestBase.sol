// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HMFixture} from "./HMFixture.sol";
import {HedgeModule} from "../../src/HedgeModule.sol";
import {IHedgeModule} from "../../src/IHedgeModule.sol";

/// @notice Unit-test base for the HedgeModule: the fixture set up per test and shorthands for the common keeper
///         swaps. Tests emit the module's events through `IHedgeModule.X` (declared once, in the interface).
abstract contract HMTestBase is HMFixture {
    function setUp() public virtual {
        _setUpFixture();
    }

    /// @dev Minimum output the module accepts for selling `amountIn` WETH for USDC.
    function _minOutWethToUsdc(uint256 amountIn) internal view returns (uint256 minOut) {
        (,, minOut) = module.quoteSwap(address(weth), address(usdc), FEE, amountIn);
    }

    function _swapWeth(uint256 amountIn) internal returns (uint256) {
        uint256 minOut = _minOutWethToUsdc(amountIn);
        vm.prank(keeper);
        return module.hedgeSwap(address(weth), address(usdc), FEE, amountIn, minOut, block.timestamp);
    }

    /// @dev The keeper sells 1 WETH for USDC at the oracle-bounded minimum (1990 USDC); the call must revert `err`.
    function _hedgeOneWethExpectRevert(bytes memory err) internal {
        vm.prank(keeper);
        vm.expectRevert(err);
        module.hedgeSwap(address(weth), address(usdc), FEE, 1e18, 1990e6, block.timestamp);
    }

    /// @dev The module's SwapFailed error wrapping a router revert with `Error(reason)`.
    function _swapFailedWith(string memory reason) internal pure returns (bytes memory) {
        return
            abi.encodeWithSelector(IHedgeModule.SwapFailed.selector, abi.encodeWithSignature("Error(string)", reason));
    }
}
