// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {OptionMarket} from "../src/OptionMarket.sol";
import {IOptionMarket} from "../src/interfaces/IOptionMarket.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {MockERC20} from "./mocks/MockERC20.sol";
import {OptionMarketBase} from "./helpers/OptionMarketBase.sol";

/// Constructor, underlying registration (admin), and series creation and validation.
contract OptionMarketSeriesTest is OptionMarketBase {
    // ------------------------------------------------------------ constructor / admin

    function test_constructor() public {
        assertEq(market.quoteToken(), address(usdc));
        assertEq(market.quoteDecimals(), 6);
        assertEq(market.owner(), owner);
        vm.expectRevert(OptionMarket.ZeroAddress.selector);
        new OptionMarket(address(0), owner);
        MockERC20 big = new MockERC20("Big", "BIG", 19);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.DecimalsTooLarge.selector, uint8(19)));
        new OptionMarket(address(big), owner);
    }

    function test_setUnderlying() public {
        MockERC20 tok = new MockERC20("T", "T", 12);
        vm.expectEmit(true, true, false, true, address(market));
        emit OptionMarket.UnderlyingSet(address(tok), address(ethFeed), 60, 12);
        vm.prank(owner);
        market.setUnderlying(address(tok), address(ethFeed), 60);
        (address f, uint64 age, uint8 d, uint8 fd) = market.underlyings(address(tok));
        assertEq(f, address(ethFeed));
        assertEq(age, 60);
        assertEq(d, 12);
        assertEq(fd, 8);
    }

    function test_setUnderlying_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(Ownable.OwnableUnauthorizedAccount.selector, other));
        vm.prank(other);
        market.setUnderlying(address(weth), address(ethFeed), 60);
        vm.startPrank(owner);
        vm.expectRevert(OptionMarket.ZeroAddress.selector);
        market.setUnderlying(address(0), address(ethFeed), 60);
        vm.expectRevert(OptionMarket.ZeroAddress.selector);
        market.setUnderlying(address(weth), address(0), 60);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.InvalidUnderlying.selector, address(usdc)));
        market.setUnderlying(address(usdc), address(ethFeed), 60);
        vm.expectRevert(OptionMarket.InvalidMaxFeedAge.selector);
        market.setUnderlying(address(weth), address(ethFeed), 0);
        vm.expectRevert(OptionMarket.InvalidMaxFeedAge.selector);
        market.setUnderlying(address(weth), address(ethFeed), uint256(type(uint64).max) + 1);
        MockERC20 big = new MockERC20("Big", "BIG", 19);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.DecimalsTooLarge.selector, uint8(19)));
        market.setUnderlying(address(big), address(ethFeed), 60);
        PriceFeed wide = new PriceFeed(37, "wide", 1);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.DecimalsTooLarge.selector, uint8(37)));
        market.setUnderlying(address(weth), address(wide), 60);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ series

    function test_createSeries() public {
        assertEq(callId, 1);
        assertEq(putId, 2);
        assertEq(market.seriesCount(), 2);
        vm.expectEmit(true, true, false, true, address(market));
        emit IOptionMarket.SeriesCreated(3, address(wbtc), 50000e8, EXPIRY, true);
        uint256 id = market.createSeries(address(wbtc), 50000e8, EXPIRY, true);
        assertEq(id, 3);
        assertEq(market.findSeries(address(wbtc), 50000e8, EXPIRY, true), 3);
        assertEq(market.findSeries(address(wbtc), 50000e8, EXPIRY, false), 0);
    }

    function test_createSeries_duplicateReturnsExisting() public {
        vm.recordLogs();
        assertEq(market.createSeries(address(weth), 3000e8, EXPIRY, false), callId);
        assertEq(vm.getRecordedLogs().length, 0);
        assertEq(market.seriesCount(), 2);
    }

    function test_createSeries_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.UnderlyingNotRegistered.selector, address(usdc)));
        market.createSeries(address(usdc), 1e8, EXPIRY, false);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.InvalidStrike.selector, 0));
        market.createSeries(address(weth), 0, EXPIRY, false);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.InvalidStrike.selector, 1e36 + 1));
        market.createSeries(address(weth), 1e36 + 1, EXPIRY, false);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.InvalidExpiry.selector, uint64(T0)));
        market.createSeries(address(weth), 1e8, uint64(T0), false);
    }
}
