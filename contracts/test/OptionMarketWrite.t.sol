// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {OptionMarket} from "../src/OptionMarket.sol";
import {IOptionMarket} from "../src/interfaces/IOptionMarket.sol";
import {OptionMarketBase} from "./helpers/OptionMarketBase.sol";

/// Writing options against collateral (rounding, receivers, reentrancy) and closing positions.
contract OptionMarketWriteTest is OptionMarketBase {
    // ------------------------------------------------------------ write

    function test_write_call() public {
        vm.expectEmit(true, true, true, true, address(market));
        emit IOptionMarket.Written(callId, writer, holder, 2e18, 2e18);
        vm.prank(writer);
        market.write(callId, 2e18, holder);
        assertEq(market.balanceOf(holder, callId), 2e18);
        assertEq(market.shortBalance(callId, writer), 2e18);
        assertEq(market.collateralOf(callId, writer), 2e18);
        assertEq(weth.balanceOf(address(market)), 2e18);
        (bool settled,, uint256 longs, uint256 shorts, uint256 locked) = market.getSeriesState(callId);
        assertFalse(settled);
        assertEq(longs, 2e18);
        assertEq(shorts, 2e18);
        assertEq(locked, 2e18);
    }

    function test_write_put() public {
        vm.prank(writer);
        market.write(putId, 2e18, holder);
        assertEq(usdc.balanceOf(address(market)), 6000e6);
        assertEq(market.collateralOf(putId, writer), 6000e6);
    }

    function test_write_roundsCollateralUp() public {
        uint256 btcCall = market.createSeries(address(wbtc), 50000e8, EXPIRY, false);
        assertEq(market.collateralRequired(btcCall, 1), 1); // 1e-18 BTC needs 1 sat
        assertEq(market.collateralRequired(btcCall, 1e10), 1);
        assertEq(market.collateralRequired(btcCall, 1e10 + 1), 2);
        assertEq(market.collateralRequired(putId, 1), 1); // 3e-15 USDC rounds to 1 wei
        vm.prank(writer);
        market.write(btcCall, 1, holder);
        assertEq(wbtc.balanceOf(address(market)), 1);
    }

    function test_write_reverts() public {
        vm.startPrank(writer);
        vm.expectRevert(OptionMarket.ZeroAmount.selector);
        market.write(callId, 0, holder);
        vm.expectRevert(OptionMarket.ZeroAddress.selector);
        market.write(callId, 1e18, address(0));
        vm.warp(EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesExpired.selector, callId));
        market.write(callId, 1e18, holder);
        vm.stopPrank();
    }

    function test_write_rejectingReceiver() public {
        // this test contract does not implement onERC1155Received
        vm.prank(writer);
        vm.expectRevert(abi.encodeWithSelector(IERC1155Errors.ERC1155InvalidReceiver.selector, address(this)));
        market.write(callId, 1e18, address(this));
    }

    function test_write_reentrancyBlocked() public {
        Reenterer r = new Reenterer(market, callId);
        vm.prank(writer);
        vm.expectRevert(ReentrancyGuard.ReentrancyGuardReentrantCall.selector);
        market.write(callId, 1e18, address(r));
    }

    // ------------------------------------------------------------ close

    function test_closePosition() public {
        vm.startPrank(writer);
        market.write(callId, 3e18, writer);
        uint256 before = weth.balanceOf(writer);
        vm.expectEmit(true, true, false, true, address(market));
        emit IOptionMarket.Closed(callId, writer, 1e18, 1e18);
        market.closePosition(callId, 1e18);
        vm.stopPrank();
        assertEq(weth.balanceOf(writer) - before, 1e18);
        assertEq(market.balanceOf(writer, callId), 2e18);
        assertEq(market.shortBalance(callId, writer), 2e18);
        assertEq(market.collateralOf(callId, writer), 2e18);
    }

    function test_closePosition_proRataRoundsDown() public {
        uint256 btcCall = market.createSeries(address(wbtc), 50000e8, EXPIRY, false);
        vm.startPrank(writer);
        market.write(btcCall, 1, writer); // 1 sat locked for 1e-18
        market.write(btcCall, 1, writer); // 2 sats for 2e-18
        market.closePosition(btcCall, 1);
        vm.stopPrank();
        assertEq(market.collateralOf(btcCall, writer), 1);
        assertEq(wbtc.balanceOf(address(market)), 1);
    }

    function test_closePosition_reverts() public {
        vm.prank(writer);
        market.write(callId, 1e18, holder);
        vm.startPrank(writer);
        vm.expectRevert(OptionMarket.ZeroAmount.selector);
        market.closePosition(callId, 0);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.InsufficientShort.selector, 1e18, 2e18));
        market.closePosition(callId, 2e18);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, writer, 0, 1e18, callId)
        );
        market.closePosition(callId, 1e18); // longs are with the holder
        vm.warp(EXPIRY);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesExpired.selector, callId));
        market.closePosition(callId, 1e18);
        vm.stopPrank();
    }
}

/// ERC-1155 receiver that tries to re-enter write when it receives longs.
contract Reenterer is ERC1155Holder {
    OptionMarket immutable market;
    uint256 immutable id;

    constructor(OptionMarket m, uint256 id_) {
        market = m;
        id = id_;
    }

    function onERC1155Received(address, address, uint256, uint256, bytes memory) public override returns (bytes4) {
        market.write(id, 1, address(this));
        return this.onERC1155Received.selector;
    }
}
