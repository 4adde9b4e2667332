// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {IERC1155Errors} from "@openzeppelin/contracts/interfaces/draft-IERC6093.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ERC1155Holder} from "@openzeppelin/contracts/token/ERC1155/utils/ERC1155Holder.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {OptionMarket} from "../src/OptionMarket.sol";
import {IOptionMarket} from "../src/interfaces/IOptionMarket.sol";
import {AggregatorV3Interface} from "../src/interfaces/AggregatorV3Interface.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {MockERC20} from "./mocks/MockERC20.sol";

abstract contract OptionFixture is Test {
    uint256 constant T0 = 1_700_000_000;
    uint64 constant EXPIRY = uint64(T0 + 7 days);
    uint256 constant MAX_AGE = 3600;

    MockERC20 usdc;
    MockERC20 weth;
    MockERC20 wbtc;
    PriceFeed ethFeed;
    PriceFeed btcFeed;
    OptionMarket market;
    address owner = address(0xA11CE);
    address writer = address(0xB0B);
    address holder = address(0xCAFE);
    address other = address(0xD00D);

    function _deploy() internal {
        vm.warp(T0);
        usdc = new MockERC20("USD Coin", "USDC", 6);
        weth = new MockERC20("Wrapped Ether", "WETH", 18);
        wbtc = new MockERC20("Wrapped BTC", "WBTC", 8);
        ethFeed = new PriceFeed(8, "ETH / USD", 3000e8);
        btcFeed = new PriceFeed(8, "BTC / USD", 60000e8);
        market = new OptionMarket(address(usdc), owner);
        vm.startPrank(owner);
        market.setUnderlying(address(weth), address(ethFeed), MAX_AGE);
        market.setUnderlying(address(wbtc), address(btcFeed), MAX_AGE);
        vm.stopPrank();
    }

    function _fund(address who) internal {
        usdc.mint(who, 1e40);
        weth.mint(who, 1e40);
        wbtc.mint(who, 1e40);
        vm.startPrank(who);
        usdc.approve(address(market), type(uint256).max);
        weth.approve(address(market), type(uint256).max);
        wbtc.approve(address(market), type(uint256).max);
        vm.stopPrank();
    }
}

contract OptionMarketTest is OptionFixture {
    uint256 callId;
    uint256 putId;

    function setUp() public {
        _deploy();
        _fund(writer);
        _fund(other);
        callId = market.createSeries(address(weth), 3000e8, EXPIRY, false);
        putId = market.createSeries(address(weth), 3000e8, EXPIRY, true);
    }

    function _expireAt(uint256 price) internal {
        vm.warp(EXPIRY + 60);
        ethFeed.setAnswer(int256(price));
    }

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

    function test_getSeriesDetails() public view {
        (address coll, address und, address strikeAsset, uint256 k, uint256 exp, bool isPut) =
            market.getSeriesDetails(callId);
        assertEq(coll, address(weth));
        assertEq(und, address(weth));
        assertEq(strikeAsset, address(usdc));
        assertEq(k, 3000e8);
        assertEq(exp, EXPIRY);
        assertFalse(isPut);
        (coll,,,,, isPut) = market.getSeriesDetails(putId);
        assertEq(coll, address(usdc));
        assertTrue(isPut);
    }

    function test_seriesNotFound() public {
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotFound.selector, 0));
        market.getSeriesDetails(0);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotFound.selector, 3));
        market.getSeriesDetails(3);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotFound.selector, 3));
        market.getSeriesState(3);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotFound.selector, 3));
        vm.prank(writer);
        market.write(3, 1e18, holder);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotFound.selector, 9));
        market.settle(9);
    }

    // ------------------------------------------------------------ write / close

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

    // ------------------------------------------------------------ settle

    function test_settle() public {
        _expireAt(4000e8);
        vm.expectEmit(true, false, false, true, address(market));
        emit IOptionMarket.Settled(callId, 4000e8);
        market.settle(callId);
        (bool settled, uint256 sp,,,) = market.getSeriesState(callId);
        assertTrue(settled);
        assertEq(sp, 4000e8);
    }

    function test_settle_convertsFeedDecimals() public {
        MockERC20 tok = new MockERC20("T", "T", 18);
        PriceFeed f18 = new PriceFeed(18, "18", 1234.5678e18);
        PriceFeed f6 = new PriceFeed(6, "6", 1234.5678e6);
        MockERC20 tok2 = new MockERC20("U", "U", 18);
        vm.startPrank(owner);
        market.setUnderlying(address(tok), address(f18), MAX_AGE);
        market.setUnderlying(address(tok2), address(f6), MAX_AGE);
        vm.stopPrank();
        uint256 a = market.createSeries(address(tok), 1e8, EXPIRY, false);
        uint256 b = market.createSeries(address(tok2), 1e8, EXPIRY, false);
        vm.warp(EXPIRY);
        f18.setAnswer(1234.5678e18);
        f6.setAnswer(1234.5678e6);
        market.settle(a);
        market.settle(b);
        (, uint256 sa,,,) = market.getSeriesState(a);
        (, uint256 sb,,,) = market.getSeriesState(b);
        assertEq(sa, 1234.5678e8);
        assertEq(sb, 1234.5678e8);
    }

    function test_settle_reverts() public {
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotExpired.selector, callId));
        market.settle(callId);
        vm.warp(EXPIRY + 10);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.PriceBeforeExpiry.selector, T0, EXPIRY));
        market.settle(callId);
        ethFeed.setAnswer(3100e8);
        vm.warp(EXPIRY + 10 + MAX_AGE + 1);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.StalePrice.selector, EXPIRY + 10, MAX_AGE));
        market.settle(callId);
        vm.mockCall(
            address(ethFeed),
            abi.encodeWithSelector(AggregatorV3Interface.latestRoundData.selector),
            abi.encode(uint80(9), int256(0), block.timestamp, block.timestamp, uint80(9))
        );
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.InvalidPrice.selector, int256(0)));
        market.settle(callId);
        vm.clearMockedCalls();
        ethFeed.setAnswer(3100e8);
        market.settle(callId);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.AlreadySettled.selector, callId));
        market.settle(callId);
    }

    function test_settle_rejectsPriceRoundingToZero() public {
        MockERC20 tok = new MockERC20("T", "T", 18);
        PriceFeed f18 = new PriceFeed(18, "18", 1);
        vm.prank(owner);
        market.setUnderlying(address(tok), address(f18), MAX_AGE);
        uint256 id = market.createSeries(address(tok), 1e8, EXPIRY, false);
        vm.warp(EXPIRY);
        f18.setAnswer(1e9); // 1e-9 quote: below the 1e-8 strike scale
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.InvalidPrice.selector, int256(1e9)));
        market.settle(id);
    }

    // ------------------------------------------------------------ exercise / redeem

    function test_exerciseAndRedeem_call() public {
        vm.prank(writer);
        market.write(callId, 2e18, holder);
        _expireAt(4000e8);
        assertEq(market.exercisePayout(callId, 2e18), 0); // not settled yet
        vm.expectEmit(true, true, false, true, address(market));
        emit IOptionMarket.Exercised(callId, holder, 2e18, 0.5e18);
        vm.prank(holder); // auto-settles
        market.exercise(callId, 2e18);
        assertEq(weth.balanceOf(holder), 0.5e18);
        assertEq(market.balanceOf(holder, callId), 0);
        assertEq(market.redeemable(callId, writer), 1.5e18);
        uint256 before = weth.balanceOf(writer);
        vm.expectEmit(true, true, false, true, address(market));
        emit IOptionMarket.Redeemed(callId, writer, 2e18, 1.5e18);
        vm.prank(writer);
        market.redeem(callId);
        assertEq(weth.balanceOf(writer) - before, 1.5e18);
        assertEq(weth.balanceOf(address(market)), 0);
        assertEq(market.shortBalance(callId, writer), 0);
        (,, uint256 longs, uint256 shorts, uint256 locked) = market.getSeriesState(callId);
        assertEq(longs + shorts + locked, 0);
    }

    function test_exerciseAndRedeem_put() public {
        vm.prank(writer);
        market.write(putId, 2e18, holder);
        _expireAt(2500e8);
        market.settle(putId);
        assertEq(market.exercisePayout(putId, 2e18), 1000e6);
        vm.prank(writer); // redeem first: the holder's share stays locked
        market.redeem(putId);
        assertEq(usdc.balanceOf(address(market)), 1000e6);
        vm.prank(holder);
        market.exercise(putId, 2e18);
        assertEq(usdc.balanceOf(holder), 1000e6);
        assertEq(usdc.balanceOf(address(market)), 0);
    }

    function test_exercise_outOfTheMoney() public {
        vm.startPrank(writer);
        market.write(callId, 1e18, holder);
        market.write(putId, 1e18, holder);
        vm.stopPrank();
        _expireAt(3000e8); // at the money: both worthless
        vm.startPrank(holder);
        market.exercise(callId, 1e18);
        market.exercise(putId, 1e18);
        vm.stopPrank();
        assertEq(weth.balanceOf(holder) + usdc.balanceOf(holder), 0);
        assertEq(market.balanceOf(holder, callId), 0);
        vm.startPrank(writer);
        market.redeem(callId); // auto-settle not needed: already settled
        market.redeem(putId);
        vm.stopPrank();
        assertEq(weth.balanceOf(address(market)) + usdc.balanceOf(address(market)), 0);
    }

    function test_exercise_reverts() public {
        vm.prank(writer);
        market.write(callId, 1e18, holder);
        vm.prank(holder);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotExpired.selector, callId));
        market.exercise(callId, 1e18);
        _expireAt(4000e8);
        vm.prank(holder);
        vm.expectRevert(OptionMarket.ZeroAmount.selector);
        market.exercise(callId, 0);
        vm.prank(holder);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, holder, 1e18, 2e18, callId)
        );
        market.exercise(callId, 2e18);
        vm.expectRevert(
            abi.encodeWithSelector(IERC1155Errors.ERC1155InsufficientBalance.selector, other, 0, 1e18, callId)
        );
        vm.prank(other);
        market.exercise(callId, 1e18);
    }

    function test_redeem_reverts() public {
        vm.prank(writer);
        market.write(callId, 1e18, holder);
        vm.prank(writer);
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.SeriesNotExpired.selector, callId));
        market.redeem(callId);
        vm.warp(EXPIRY + 1);
        vm.prank(writer); // settlement needs a post-expiry round
        vm.expectRevert(abi.encodeWithSelector(OptionMarket.PriceBeforeExpiry.selector, T0, EXPIRY));
        market.redeem(callId);
        ethFeed.setAnswer(3500e8);
        vm.prank(other);
        vm.expectRevert(OptionMarket.NothingToRedeem.selector);
        market.redeem(callId);
        vm.startPrank(writer);
        market.redeem(callId);
        vm.expectRevert(OptionMarket.NothingToRedeem.selector);
        market.redeem(callId);
        vm.stopPrank();
    }

    // ------------------------------------------------------------ account book

    function test_accountBook_tracksMintsTransfersAndShorts() public {
        vm.startPrank(writer);
        market.write(callId, 2e18, holder);
        market.write(putId, 1e18, writer);
        vm.stopPrank();
        vm.prank(holder);
        market.safeTransferFrom(holder, other, callId, 0.5e18, "");
        vm.prank(writer);
        market.safeTransferFrom(writer, holder, putId, 0, ""); // zero-value: not recorded

        (uint256[] memory ids, uint256[] memory longs, uint256[] memory shorts) = market.accountBook(writer);
        assertEq(ids.length, 2);
        assertEq(ids[0], callId);
        assertEq(longs[0], 0);
        assertEq(shorts[0], 2e18);
        assertEq(ids[1], putId);
        assertEq(longs[1], 1e18);
        assertEq(shorts[1], 1e18);

        (ids, longs, shorts) = market.accountBook(holder);
        assertEq(ids.length, 1);
        assertEq(longs[0], 1.5e18);
        assertEq(shorts[0], 0);

        (ids, longs,) = market.accountBook(other);
        assertEq(ids.length, 1);
        assertEq(ids[0], callId);
        assertEq(longs[0], 0.5e18);

        // series stay listed after balances go to zero
        _expireAt(3500e8);
        vm.prank(other);
        market.exercise(callId, 0.5e18);
        (ids, longs,) = market.accountBook(other);
        assertEq(ids.length, 1);
        assertEq(longs[0], 0);
    }

    /// The Python readers cap multicall gas per call (details 30k, accountBook 400k).
    function test_viewGasFitsReaderBudgets() public {
        vm.startPrank(writer);
        for (uint256 i; i < 20; ++i) {
            uint256 id = market.createSeries(address(weth), (2000 + 100 * i) * 1e8, EXPIRY, i % 2 == 0);
            market.write(id, 1e18, writer);
        }
        vm.stopPrank();
        uint256 g = gasleft();
        market.getSeriesDetails(7);
        assertLt(g - gasleft(), 30_000, "getSeriesDetails");
        g = gasleft();
        (uint256[] memory ids,,) = market.accountBook(writer);
        assertLt(g - gasleft(), 400_000, "accountBook");
        assertEq(ids.length, 20);
    }

    // ------------------------------------------------------------ fuzz

    /// Payoffs match a reference formula, and holder + writer never receive more than was locked.
    function testFuzz_payoffMatchesReference(uint256 strike, uint256 price, uint256 amount, bool isPut) public {
        strike = bound(strike, 1, 1e14 * 1e8);
        price = bound(price, 1, 1e14 * 1e8);
        amount = bound(amount, 1, 1e30);
        uint256 id = market.createSeries(address(weth), strike, EXPIRY, isPut);
        vm.prank(writer);
        market.write(id, amount, holder);
        uint256 locked = market.collateralOf(id, writer);
        _expireAt(price);
        vm.prank(holder);
        market.exercise(id, amount);
        MockERC20 asset = isPut ? usdc : weth;
        uint256 paid = asset.balanceOf(holder);
        uint256 expected;
        if (isPut) {
            expected = price < strike ? Math.mulDiv(amount * (strike - price), 1e6, 1e26) : 0;
        } else {
            expected = price > strike ? Math.mulDiv(amount, price - strike, price) : 0; // 18-dec underlying
        }
        assertEq(paid, expected, "payout");
        uint256 before = asset.balanceOf(writer);
        vm.prank(writer);
        market.redeem(id);
        uint256 returned = asset.balanceOf(writer) - before;
        assertLe(paid + returned, locked, "solvency");
        assertLe(locked - paid - returned, 1, "dust");
        assertEq(asset.balanceOf(address(market)), locked - paid - returned);
    }

    /// Rounding with many writers/holders on a low-decimal underlying never pays out more than locked.
    function testFuzz_collateralRoundingSolvency(uint256[4] memory amounts, uint256 strike, uint256 price, bool isPut)
        public
    {
        strike = bound(strike, 1, 1e12);
        price = bound(price, 1, 1e12);
        uint256 id = market.createSeries(address(wbtc), strike, EXPIRY, isPut);
        MockERC20 asset = isPut ? usdc : wbtc;
        address[4] memory writers = [writer, other, address(0x1001), address(0x1002)];
        uint256 totalLocked;
        for (uint256 i; i < 4; ++i) {
            if (i >= 2) _fund(writers[i]);
            uint256 amt = bound(amounts[i], 1, 1e22);
            uint256 needed = market.collateralRequired(id, amt);
            uint256 exact = isPut ? amt * strike * 1e6 / 1e26 : amt * 1e8 / 1e18;
            assertGe(needed, exact);
            assertLe(needed, exact + 1);
            vm.prank(writers[i]);
            market.write(id, amt, address(uint160(0x2000 + i)));
            totalLocked += needed;
            if (i == 1) {
                vm.prank(address(0x2001));
                market.safeTransferFrom(address(0x2001), address(0x2000), id, amt / 3, "");
            }
        }
        vm.warp(EXPIRY + 60);
        btcFeed.setAnswer(int256(price));
        uint256 out;
        for (uint256 i; i < 4; ++i) {
            address h = address(uint160(0x2000 + i));
            uint256 bal = market.balanceOf(h, id);
            if (bal > 0) {
                vm.prank(h);
                market.exercise(id, bal);
            }
            out += asset.balanceOf(h);
            uint256 before = asset.balanceOf(writers[i]);
            vm.prank(writers[i]);
            market.redeem(id);
            out += asset.balanceOf(writers[i]) - before;
        }
        assertLe(out, totalLocked, "paid out more than locked");
        assertEq(asset.balanceOf(address(market)), totalLocked - out);
        assertLe(totalLocked - out, 8, "dust bounded");
    }

    /// Partial closes return collateral pro rata, never more than the exact share.
    function testFuzz_closeProRata(uint256 amount, uint256 closeAmt, uint256 strike) public {
        amount = bound(amount, 1, 1e30);
        closeAmt = bound(closeAmt, 1, amount);
        strike = bound(strike, 1, 1e20);
        uint256 id = market.createSeries(address(weth), strike, EXPIRY, true);
        vm.startPrank(writer);
        market.write(id, amount, writer);
        uint256 locked = market.collateralOf(id, writer);
        uint256 before = usdc.balanceOf(writer);
        market.closePosition(id, closeAmt);
        vm.stopPrank();
        uint256 got = usdc.balanceOf(writer) - before;
        assertEq(got, locked * closeAmt / amount);
        uint256 left = market.collateralOf(id, writer);
        assertEq(left + got, locked);
        assertGe(left * 1e26, (amount - closeAmt) * strike * 1e6); // still fully collateralized
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

/// Drives random writes, closes, transfers, settlements, exercises and redemptions.
contract OptionHandler is Test {
    OptionMarket public market;
    MockERC20 public usdc;
    MockERC20 public weth;
    MockERC20 public wbtc;
    PriceFeed public ethFeed;
    PriceFeed public btcFeed;
    uint256[] public ids;
    address[] public actors;
    uint64 public expiry;
    uint256 public calls;
    uint256 public writes;
    uint256 public exercises;
    uint256 public redeems;

    constructor(OptionMarket m, MockERC20 u, MockERC20 e, MockERC20 b, PriceFeed fe, PriceFeed fb, uint64 exp) {
        market = m;
        usdc = u;
        weth = e;
        wbtc = b;
        ethFeed = fe;
        btcFeed = fb;
        expiry = exp;
        ids.push(m.createSeries(address(e), 3000e8, exp, false));
        ids.push(m.createSeries(address(e), 2500e8, exp, true));
        ids.push(m.createSeries(address(b), 60000e8, exp, false));
        ids.push(m.createSeries(address(b), 55000e8, exp, true));
        for (uint256 i; i < 3; ++i) {
            address a = address(uint160(0x5000 + i));
            actors.push(a);
            u.mint(a, 1e30);
            e.mint(a, 1e30);
            b.mint(a, 1e30);
            vm.startPrank(a);
            u.approve(address(m), type(uint256).max);
            e.approve(address(m), type(uint256).max);
            b.approve(address(m), type(uint256).max);
            vm.stopPrank();
        }
    }

    function idCount() external view returns (uint256) {
        return ids.length;
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function write(uint256 a, uint256 s, uint256 r, uint256 amount) external {
        if (block.timestamp >= expiry) return;
        amount = bound(amount, 1, 1e24);
        vm.prank(actors[a % 3]);
        market.write(ids[s % 4], amount, actors[r % 3]);
        ++calls;
        ++writes;
    }

    function close(uint256 a, uint256 s, uint256 amount) external {
        if (block.timestamp >= expiry) return;
        address who = actors[a % 3];
        uint256 id = ids[s % 4];
        uint256 max = Math.min(market.balanceOf(who, id), market.shortBalance(id, who));
        if (max == 0) return;
        vm.prank(who);
        market.closePosition(id, bound(amount, 1, max));
        ++calls;
    }

    function transfer(uint256 a, uint256 b, uint256 s, uint256 amount) external {
        address from = actors[a % 3];
        uint256 id = ids[s % 4];
        uint256 bal = market.balanceOf(from, id);
        if (bal == 0) return;
        vm.prank(from);
        market.safeTransferFrom(from, actors[b % 3], id, bound(amount, 1, bal), "");
        ++calls;
    }

    function warp(uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 1, 3 days));
    }

    function settle(uint256 s, uint256 ethPrice, uint256 btcPrice) external {
        if (block.timestamp < expiry) {
            if (writes < 6) return; // let the book fill up before jumping to expiry
            vm.warp(expiry);
        }
        ethFeed.setAnswer(int256(bound(ethPrice, 1e8, 10000e8)));
        btcFeed.setAnswer(int256(bound(btcPrice, 1e8, 200000e8)));
        (bool settled,,,,) = market.getSeriesState(ids[s % 4]);
        if (!settled) market.settle(ids[s % 4]);
        ++calls;
    }

    function exercise(uint256 a, uint256 s, uint256 amount) external {
        address who = actors[a % 3];
        uint256 id = ids[s % 4];
        uint256 bal = market.balanceOf(who, id);
        (bool settled,,,,) = market.getSeriesState(id);
        if (bal == 0 || !settled) return;
        vm.prank(who);
        market.exercise(id, bound(amount, 1, bal));
        ++calls;
        ++exercises;
    }

    function redeem(uint256 a, uint256 s) external {
        address who = actors[a % 3];
        uint256 id = ids[s % 4];
        (bool settled,,,,) = market.getSeriesState(id);
        if (market.shortBalance(id, who) == 0 || !settled) return;
        vm.prank(who);
        market.redeem(id);
        ++calls;
        ++redeems;
    }
}

contract OptionMarketInvariantTest is StdInvariant, OptionFixture {
    OptionHandler handler;

    function setUp() public {
        _deploy();
        handler = new OptionHandler(market, usdc, weth, wbtc, ethFeed, btcFeed, EXPIRY);
        ethFeed.transferOwnership(address(handler));
        btcFeed.transferOwnership(address(handler));
        targetContract(address(handler));
    }

    /// Each asset's balance covers the collateral of every series, and each series' collateral
    /// covers its obligations: unsettled, every writer's collateral; settled, every outstanding
    /// long's payout plus every unredeemed writer's remainder. Before expiry longs == shorts.
    function invariant_solvency() public view {
        uint256 needUsdc;
        uint256 needWeth;
        uint256 needWbtc;
        for (uint256 i; i < handler.idCount(); ++i) {
            uint256 id = handler.ids(i);
            (address coll,,,,,) = market.getSeriesDetails(id);
            (bool settled,, uint256 longs, uint256 shorts, uint256 locked) = market.getSeriesState(id);
            uint256 obligations = settled ? market.exercisePayout(id, longs) : 0;
            for (uint256 a; a < handler.actorCount(); ++a) {
                address who = handler.actors(a);
                obligations += settled ? market.redeemable(id, who) : market.collateralOf(id, who);
            }
            assertGe(locked, obligations, "series under-collateralized");
            if (block.timestamp < EXPIRY) assertEq(longs, shorts, "longs == shorts before expiry");
            if (!settled) assertEq(locked, obligations, "unsettled collateral mismatch");
            if (coll == address(usdc)) needUsdc += locked;
            else if (coll == address(weth)) needWeth += locked;
            else needWbtc += locked;
        }
        assertEq(usdc.balanceOf(address(market)), needUsdc);
        assertEq(weth.balanceOf(address(market)), needWeth);
        assertEq(wbtc.balanceOf(address(market)), needWbtc);
    }

    /// After each run: settle everything, exercise every long and redeem every short. Nothing may
    /// revert, the books must empty, and only rounding dust may stay behind.
    function afterInvariant() public {
        if (block.timestamp < EXPIRY) vm.warp(EXPIRY);
        vm.startPrank(address(handler));
        ethFeed.setAnswer(3333e8);
        btcFeed.setAnswer(58_000e8);
        vm.stopPrank();
        uint256 n = handler.actorCount();
        for (uint256 i; i < handler.idCount(); ++i) {
            uint256 id = handler.ids(i);
            (bool settled,,,,) = market.getSeriesState(id);
            if (!settled) market.settle(id);
            for (uint256 a; a < n; ++a) {
                address who = handler.actors(a);
                uint256 bal = market.balanceOf(who, id);
                vm.startPrank(who);
                if (bal > 0) market.exercise(id, bal);
                if (market.shortBalance(id, who) > 0) market.redeem(id);
                vm.stopPrank();
            }
            (,, uint256 longs, uint256 shorts, uint256 locked) = market.getSeriesState(id);
            assertEq(longs + shorts, 0, "books empty");
            assertLe(locked, 2 * n, "only dust left");
        }
        invariant_solvency();
    }
}
