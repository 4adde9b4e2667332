// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HVFixture} from "./helpers/HVFixture.sol";
import {HedgeVenueModule} from "../src/HedgeVenueModule.sol";
import {PoolKey, IWETH} from "../src/interfaces/IUniswapV4.sol";
import {HedgeModule} from "../src/HedgeModule.sol";
import {AggregatorV3Interface} from "../src/interfaces/AggregatorV3Interface.sol";

interface IHVWeth9 {
    function balanceOf(address) external view returns (uint256);
    function transfer(address to, uint256 amount) external returns (bool);
}

/// @notice The venue module's paths on the real v4 PoolManager / UniversalRouter / Permit2 and the Aave double:
///         what moves, what is booked in the HedgeModule, what the owners' parameters hash to.
contract HedgeVenueModuleTest is HVFixture {
    function setUp() public {
        _setUpVenues();
    }

    function test_v4SwapSellsWethThroughTheRouterAndBooksNotionalAndLossInTheHedgeModule() public {
        uint256 usdcBefore = usdc.balanceOf(safe);
        uint256 wethBefore = weth.balanceOf(safe);
        int256 valueBefore = _venueValueUsd();
        (uint256 notional, uint256 expected, uint256 minOut) = venue.quoteV4Swap(kWeth, _wethIs0(), 2e18);
        assertEq(notional, 4_000e18);
        assertEq(expected, 4_000e6);
        assertEq(minOut, 3_980e6); // 50 bps below the feeds
        vm.prank(keeper);
        uint256 out = venue.hedgeV4Swap(kWeth, _wethIs0(), 2e18, minOut, block.timestamp);
        assertEq(weth.balanceOf(safe), wethBefore - 2e18);
        assertEq(usdc.balanceOf(safe), usdcBefore + out);
        assertGe(out, minOut);
        (uint256 windowNotional,) = module.windowUsage();
        assertEq(windowNotional, notional);
        (uint256 windowLoss, uint256 totalLoss) = module.lossUsage();
        // the loss booked is value in - value out at the feeds, to the wei
        assertEq(totalLoss, 4_000e18 - out * 1e12);
        assertEq(windowLoss, totalLoss);
        assertEq(_venueValueUsd(), valueBefore - int256(totalLoss));
        // approvals are back to zero: ERC20 -> Permit2 and Permit2 -> router
        assertEq(weth.allowance(safe, PERMIT2), 0);
        (bool ok, bytes memory ret) = PERMIT2.staticcall(
            abi.encodeWithSignature("allowance(address,address,address)", safe, address(weth), universalRouter)
        );
        require(ok, "permit2 allowance");
        (uint160 amount,,) = abi.decode(ret, (uint160, uint48, uint48));
        assertEq(amount, 0);
    }

    function test_v4SwapSellsNativeEthAndBuysItBack() public {
        uint256 ethBefore = safe.balance;
        uint256 minOut = _minOut(kEth, true, 1e18);
        vm.prank(keeper);
        uint256 out = venue.hedgeV4Swap(kEth, true, 1e18, minOut, block.timestamp);
        assertEq(safe.balance, ethBefore - 1e18);
        assertGe(out, minOut);
        uint256 back = _minOut(kEth, false, 1_000e6);
        vm.prank(keeper);
        uint256 eth = venue.hedgeV4Swap(kEth, false, 1_000e6, back, block.timestamp);
        assertEq(safe.balance, ethBefore - 1e18 + eth);
        assertGe(eth, back);
        assertEq(usdc.allowance(safe, PERMIT2), 0);
    }

    function test_aaveSupplyBorrowRepayWithdrawMoveTheReserveAndKeepTheHealthFactor() public {
        vm.startPrank(keeper);
        venue.aaveSupply(address(usdc), 100_000e6);
        assertEq(_aToken(address(usdc)).balanceOf(safe), 100_000e6);
        venue.aaveBorrow(address(weth), 10e18); // 20k debt on 85k threshold-weighted collateral: HF 4.25
        assertEq(_debt(address(weth)).balanceOf(safe), 10e18);
        assertEq(_hf(), 4.25e18);
        venue.aaveRepay(address(weth), 4e18);
        assertEq(_debt(address(weth)).balanceOf(safe), 6e18);
        venue.aaveWithdraw(address(usdc), 50_000e6);
        assertEq(_aToken(address(usdc)).balanceOf(safe), 50_000e6);
        vm.stopPrank();
        (uint256 windowNotional,) = module.windowUsage();
        assertEq(windowNotional, 100_000e18 + 20_000e18 + 8_000e18 + 50_000e18);
        (, uint256 totalLoss) = module.lossUsage();
        assertEq(totalLoss, 0); // value-neutral at the feeds
        assertEq(weth.allowance(safe, address(aave)), 0);
        assertEq(usdc.allowance(safe, address(aave)), 0);
    }

    function test_borrowAndSellAddsShortDeltaAndBuyAndRepayRemovesIt() public {
        vm.startPrank(keeper);
        venue.aaveSupply(address(usdc), 100_000e6);
        uint256 wethBefore = weth.balanceOf(safe);
        uint256 minOut = _minOut(kWeth, _wethIs0(), 5e18);
        uint256 out = venue.hedgeBorrowSell(address(weth), 5e18, kWeth, _wethIs0(), minOut, block.timestamp);
        assertEq(weth.balanceOf(safe), wethBefore); // borrowed and sold: the wallet is unchanged
        assertEq(_debt(address(weth)).balanceOf(safe), 5e18); // -5 ETH delta
        assertGe(out, minOut);
        uint256 buyMin = _minOut(kWeth, !_wethIs0(), 6_000e6);
        uint256 bought = venue.hedgeBuyRepay(kWeth, !_wethIs0(), 6_000e6, buyMin, block.timestamp);
        assertEq(_debt(address(weth)).balanceOf(safe), 5e18 - bought);
        vm.stopPrank();
        (, uint256 totalLoss) = module.lossUsage();
        assertGt(totalLoss, 0);
        assertLe(totalLoss, (10_000e18 + 6_000e18) * 50 / 10_000);
    }

    /// @dev With the real WETH9 as the wrapped native token: a borrowed WETH9 is unwrapped and sold in the native
    ///      ETH/USDC pool, and native ETH bought there is wrapped and repaid.
    function test_borrowSellAndBuyRepayThroughTheNativeEthPoolWrapAndUnwrapWeth9() public {
        address weth9 = _deployArtifact("../node_modules/canonical-weth/build/contracts/WETH9.json", "");
        _asSafe(abi.encodeCall(HedgeModule.setTokenConfig, (weth9, address(ethFeed), 1 hours, true)));
        aave.addReserve(weth9, AggregatorV3Interface(address(ethFeed)), 8_000, 8_250);
        vm.deal(address(this), 1_000 ether);
        IWETH(weth9).deposit{value: 1_000 ether}();
        IHVWeth9(weth9).transfer(address(aave), 1_000 ether);
        HedgeVenueModule v = new HedgeVenueModule(module, weth9);
        require(_safeExec(safe, abi.encodeWithSignature("enableModule(address)", address(v))), "enable");
        bytes[6] memory setup = [
            abi.encodeCall(HedgeVenueModule.setUniversalRouter, (universalRouter, PERMIT2)),
            abi.encodeCall(HedgeVenueModule.setPoolKeyAllowed, (kEth, true)),
            abi.encodeCall(HedgeVenueModule.setAavePool, (address(aave))),
            abi.encodeCall(HedgeVenueModule.setReserveAllowed, (weth9, true)),
            abi.encodeCall(HedgeVenueModule.setReserveAllowed, (address(usdc), true)),
            abi.encodeCall(HedgeVenueModule.setMinHealthFactor, (MIN_HF))
        ];
        for (uint256 i; i < setup.length; ++i) {
            require(_safeExec(address(v), setup[i]), "setup");
        }
        uint256 ethBefore = safe.balance;
        uint256 usdcBefore = usdc.balanceOf(safe);
        vm.startPrank(keeper);
        v.aaveSupply(address(usdc), 100_000e6);
        (,, uint256 minOut) = v.quoteV4Swap(kEth, true, 5e18);
        uint256 out = v.hedgeBorrowSell(weth9, 5e18, kEth, true, minOut, block.timestamp);
        assertEq(_debt(weth9).balanceOf(safe), 5e18);
        assertEq(safe.balance, ethBefore); // borrowed WETH9 unwrapped and sold: no ETH or WETH9 left over
        assertEq(IHVWeth9(weth9).balanceOf(safe), 0);
        assertEq(usdc.balanceOf(safe), usdcBefore - 100_000e6 + out);
        (,, uint256 buyMin) = v.quoteV4Swap(kEth, false, 6_000e6);
        uint256 bought = v.hedgeBuyRepay(kEth, false, 6_000e6, buyMin, block.timestamp);
        vm.stopPrank();
        assertGe(bought, buyMin);
        assertEq(_debt(weth9).balanceOf(safe), 5e18 - bought); // native ETH wrapped and repaid
        assertEq(safe.balance, ethBefore);
        assertEq(IHVWeth9(weth9).balanceOf(safe), 0);
    }

    function test_paramsListTheOwnersChoicesAndTheHashCoversThem() public {
        HedgeVenueModule.Params memory p = venue.params();
        assertEq(p.safe, safe);
        assertEq(p.hedgeModule, address(module));
        assertEq(p.universalRouter, universalRouter);
        assertEq(p.permit2, PERMIT2);
        assertEq(p.aavePool, address(aave));
        assertEq(p.minHealthFactor, MIN_HF);
        assertEq(p.poolKeys.length, 2);
        assertLt(uint256(venue.poolId(p.poolKeys[0])), uint256(venue.poolId(p.poolKeys[1])));
        assertEq(p.reserves.length, 2);
        assertLt(uint160(p.reserves[0].asset), uint160(p.reserves[1].asset));
        bytes32 h = venue.paramsHash();
        assertEq(h, keccak256(abi.encode(p)));
        _asVenue(abi.encodeCall(HedgeVenueModule.setMinHealthFactor, (2e18)));
        assertTrue(venue.paramsHash() != h);
    }

    function test_ownersCanDisallowAPoolKeyAndAReserve() public {
        _asVenue(abi.encodeCall(HedgeVenueModule.setPoolKeyAllowed, (kWeth, false)));
        assertFalse(venue.isPoolKeyAllowed(kWeth));
        _asVenue(abi.encodeCall(HedgeVenueModule.setReserveAllowed, (address(weth), false)));
        assertEq(venue.reserve(address(weth)).aToken, address(0));
        assertEq(venue.params().poolKeys.length, 1);
        assertEq(venue.params().reserves.length, 1);
    }

    function test_aHookedKeyNeedsItsHooksAllowedFirst() public {
        address hooks = makeAddr("hooks");
        PoolKey memory k = PoolKey(address(0), address(usdc), V4_FEE, V4_SPACING, hooks);
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.HooksNotAllowed.selector, hooks));
        venue.setPoolKeyAllowed(k, true);
        _asVenue(abi.encodeCall(HedgeVenueModule.setHooksAllowed, (hooks, true)));
        _asVenue(abi.encodeCall(HedgeVenueModule.setPoolKeyAllowed, (k, true)));
        assertTrue(venue.isPoolKeyAllowed(k));
        _asVenue(abi.encodeCall(HedgeVenueModule.setHooksAllowed, (hooks, false)));
        assertFalse(venue.isPoolKeyAllowed(k)); // the key stays listed but is unusable
    }

    function test_minHealthFactorHasAFloor() public {
        vm.prank(safe);
        vm.expectRevert(abi.encodeWithSelector(HedgeVenueModule.InvalidHealthFactor.selector, 1e18));
        venue.setMinHealthFactor(1e18);
    }

    function test_invalidPoolKeysAreRefused() public {
        PoolKey[3] memory bad = [
            PoolKey(address(usdc), address(0), V4_FEE, V4_SPACING, address(0)), // unsorted
            PoolKey(address(0), address(usdc), V4_FEE, 0, address(0)), // no tick spacing
            PoolKey(address(0), address(usdc), 0x800000, V4_SPACING, address(0)) // dynamic fee without hooks
        ];
        for (uint256 i; i < bad.length; ++i) {
            vm.prank(safe);
            vm.expectRevert(HedgeVenueModule.InvalidPoolKey.selector);
            venue.setPoolKeyAllowed(bad[i], true);
        }
    }
}
