// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Test} from "forge-std/Test.sol";
import {StdInvariant} from "forge-std/StdInvariant.sol";
import {PerpMarket} from "../src/PerpMarket.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {MockERC20} from "./mocks/MockERC20.sol";
import {PerpFixture} from "./helpers/PerpMarketBase.sol";

/// Drives random deposits, withdrawals, trades, liquidations, price moves and time.
contract PerpHandler is Test {
    PerpMarket public perp;
    MockERC20 public usdc;
    PriceFeed public feed;
    address[] public actors;
    uint256 public ghostIn;
    uint256 public ghostOut;
    uint256 public trades;
    uint256 public liquidations;

    constructor(PerpMarket p, MockERC20 u, PriceFeed f, uint256 initialIn) {
        perp = p;
        usdc = u;
        feed = f;
        ghostIn = initialIn;
        for (uint256 i; i < 3; ++i) {
            address a = address(uint160(0x7000 + i));
            actors.push(a);
            u.mint(a, 1e30);
            vm.startPrank(a);
            u.approve(address(p), type(uint256).max);
            p.depositMargin(20_000e6);
            vm.stopPrank();
            ghostIn += 20_000e6;
        }
    }

    function actorCount() external view returns (uint256) {
        return actors.length;
    }

    function deposit(uint256 a, uint256 amount) external {
        amount = bound(amount, 1, 50_000e6);
        vm.prank(actors[a % 3]);
        perp.depositMargin(amount);
        ghostIn += amount;
    }

    function withdraw(uint256 a, uint256 amount) external {
        address who = actors[a % 3];
        (,, uint256 m,) = perp.positions(who);
        if (m == 0) return;
        amount = bound(amount, 1, m);
        vm.prank(who);
        try perp.withdrawMargin(amount) {
            ghostOut += amount;
        } catch {}
    }

    function trade(uint256 a, int256 delta) external {
        delta = bound(delta, -60e18, 60e18);
        if (delta == 0) return;
        vm.prank(actors[a % 3]);
        try perp.modifyPosition(delta, delta > 0 ? type(uint256).max : 0) {
            ++trades;
        } catch {}
    }

    /// Open near the initial-margin limit so small moves make the position liquidatable.
    function openLevered(uint256 a, bool isLong, uint256 frac) external {
        address who = actors[a % 3];
        (int256 s,,,) = perp.positions(who);
        int256 rem = perp.remainingMargin(who);
        if (s != 0 || rem <= 0) return;
        uint256 max = uint256(rem) * 1e30 * 1e4 / (perp.initialMarginBps() * perp.oraclePrice());
        int256 size = int256(max * bound(frac, 50, 95) / 100);
        if (size == 0) return;
        vm.prank(who);
        try perp.modifyPosition(isLong ? size : -size, isLong ? type(uint256).max : 0) {
            ++trades;
        } catch {}
    }

    function close(uint256 a) external {
        address who = actors[a % 3];
        (int256 s,,,) = perp.positions(who);
        if (s == 0) return;
        vm.prank(who);
        try perp.modifyPosition(-s, s > 0 ? 0 : type(uint256).max) {
            ++trades;
        } catch {}
    }

    function liquidate(uint256 a) external {
        for (uint256 i; i < 3; ++i) {
            address who = actors[(a % 3 + i) % 3];
            if (!perp.isLiquidatable(who)) continue;
            uint256 before = usdc.balanceOf(address(this));
            try perp.liquidate(who) {
                ++liquidations;
                ghostOut += usdc.balanceOf(address(this)) - before;
            } catch {}
        }
    }

    /// Move time (staleness is refreshed) and the price by up to +/-25%, within [500, 10000].
    function move(uint256 bps, uint256 dt) external {
        vm.warp(block.timestamp + bound(dt, 0, 1 days));
        uint256 p = uint256(feed.latestAnswer()) * bound(bps, 7500, 12_500) / 10_000;
        feed.setAnswer(int256(bound(p, 500e8, 10_000e8)));
    }
}

contract PerpMarketInvariantTest is StdInvariant, PerpFixture {
    PerpHandler handler;

    function setUp() public {
        _deploy();
        handler = new PerpHandler(perp, usdc, feed, 1_000_000e6);
        feed.transferOwnership(address(handler));
        targetContract(address(handler));
    }

    /// The token balance exactly equals every account's margin plus the pool, and tokens in minus
    /// tokens out equals the balance (no value is created or lost).
    function invariant_solvency() public view {
        uint256 sum;
        int256 longs;
        int256 shorts;
        for (uint256 i; i < handler.actorCount(); ++i) {
            (int256 s,, uint256 m,) = perp.positions(handler.actors(i));
            sum += m;
            if (s > 0) longs += s;
            else shorts -= s;
        }
        assertEq(perp.totalMargin(), sum, "margins");
        uint256 bal = usdc.balanceOf(address(perp));
        assertEq(bal, perp.totalMargin() + perp.poolBalance(), "balance == margins + pool");
        assertEq(bal, handler.ghostIn() - handler.ghostOut(), "flows");
        assertEq(perp.longOpenInterest(), uint256(longs), "long OI");
        assertEq(perp.shortOpenInterest(), uint256(shorts), "short OI");
    }

    function afterInvariant() public {
        emit log_named_uint("trades", handler.trades());
        emit log_named_uint("liquidations", handler.liquidations());
    }
}
