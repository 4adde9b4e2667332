// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {StdInvariant} from "forge-std/StdInvariant.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {OptionMarket} from "../src/OptionMarket.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {MockERC20} from "./mocks/MockERC20.sol";
import {OptionFunding, OptionFixture} from "./helpers/OptionMarketBase.sol";

/// Drives random writes, closes, transfers, settlements, exercises and redemptions.
contract OptionHandler is OptionFunding {
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
            _mintAndApprove([u, e, b], a, address(m), 1e30);
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
