// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Test} from "forge-std/Test.sol";
import {PerpMarket} from "../../src/PerpMarket.sol";
import {PriceFeed} from "../../src/PriceFeed.sol";
import {MockERC20} from "../mocks/MockERC20.sol";

/// A USDC-margined ETH perp on a PriceFeed at 3000, owned by `owner`, with a 1M USDC pool.
abstract contract PerpFixture is Test {
    uint256 constant T0 = 1_700_000_000;
    MockERC20 usdc;
    PriceFeed feed;
    PerpMarket perp;
    address owner = address(0xA11CE);
    address alice = address(0xA1);
    address bob = address(0xB0);
    address keeper = address(0xEE);

    function _params() internal pure returns (PerpMarket.Params memory) {
        return PerpMarket.Params({
            takerFeeBps: 10,
            initialMarginBps: 1000,
            maintenanceMarginBps: 500,
            liquidationRewardBps: 100,
            maxFundingRatePerDay: 0.1e18,
            skewScale: 1000e18,
            maxFeedAge: 3600
        });
    }

    function _deploy() internal {
        vm.warp(T0);
        usdc = new MockERC20("USD Coin", "USDC", 6);
        feed = new PriceFeed(8, "ETH / USD", 3000e8);
        perp = new PerpMarket(address(usdc), address(feed), owner, _params());
        usdc.mint(owner, 1e30);
        vm.startPrank(owner);
        usdc.approve(address(perp), type(uint256).max);
        perp.fundPool(1_000_000e6);
        vm.stopPrank();
    }

    function _fund(address who, uint256 deposit) internal {
        usdc.mint(who, 1e30);
        vm.startPrank(who);
        usdc.approve(address(perp), type(uint256).max);
        if (deposit > 0) perp.depositMargin(deposit);
        vm.stopPrank();
    }

    function _setPrice(uint256 p8) internal {
        feed.setAnswer(int256(p8));
    }

    function _margin(address who) internal view returns (uint256 m) {
        (,, m,) = perp.positions(who);
    }

    function _size(address who) internal view returns (int256 s) {
        (s,,,) = perp.positions(who);
    }

    function _entry(address who) internal view returns (uint256 e) {
        (, e,,) = perp.positions(who);
    }

    /// @dev Asserts every risk parameter, in `Params` field order.
    function _assertParams(
        uint256 takerFeeBps,
        uint256 initialMarginBps,
        uint256 maintenanceMarginBps,
        uint256 liquidationRewardBps,
        uint256 maxFundingRatePerDay,
        uint256 skewScale,
        uint256 maxFeedAge
    ) internal view {
        assertEq(perp.takerFeeBps(), takerFeeBps);
        assertEq(perp.initialMarginBps(), initialMarginBps);
        assertEq(perp.maintenanceMarginBps(), maintenanceMarginBps);
        assertEq(perp.liquidationRewardBps(), liquidationRewardBps);
        assertEq(perp.maxFundingRatePerDay(), maxFundingRatePerDay);
        assertEq(perp.skewScale(), skewScale);
        assertEq(perp.maxFeedAge(), maxFeedAge);
    }
}

/// Unit-test base: alice and bob each hold 10,000 USDC of margin.
abstract contract PerpMarketBase is PerpFixture {
    function setUp() public virtual {
        _deploy();
        _fund(alice, 10_000e6);
        _fund(bob, 10_000e6);
    }

    function _aliceLong3() internal {
        vm.startPrank(alice);
        perp.withdrawMargin(9000e6);
        perp.modifyPosition(3e18, type(uint256).max); // margin 991
        vm.stopPrank();
    }
}
