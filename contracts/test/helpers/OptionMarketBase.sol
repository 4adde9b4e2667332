// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Test} from "forge-std/Test.sol";
import {OptionMarket} from "../../src/OptionMarket.sol";
import {PriceFeed} from "../../src/PriceFeed.sol";
import {MockERC20} from "../mocks/MockERC20.sol";

/// Mints the three test tokens (quote, WETH, WBTC) to an account and approves a spender for all of them.
abstract contract OptionFunding is Test {
    function _mintAndApprove(MockERC20[3] memory tokens, address who, address spender, uint256 amount) internal {
        for (uint256 i; i < tokens.length; ++i) {
            tokens[i].mint(who, amount);
        }
        vm.startPrank(who);
        for (uint256 i; i < tokens.length; ++i) {
            tokens[i].approve(spender, type(uint256).max);
        }
        vm.stopPrank();
    }
}

/// USDC quote, WETH and WBTC underlyings with their feeds, and an OptionMarket owned by `owner`.
abstract contract OptionFixture is OptionFunding {
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
        _mintAndApprove([usdc, weth, wbtc], who, address(market), 1e40);
    }
}

/// Unit-test base: a WETH call and put at 3000 expiring at EXPIRY, with `writer` and `other` funded.
abstract contract OptionMarketBase is OptionFixture {
    uint256 callId;
    uint256 putId;

    function setUp() public virtual {
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
}
