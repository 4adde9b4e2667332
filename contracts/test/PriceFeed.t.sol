// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Test} from "forge-std/Test.sol";
import {PriceFeed} from "../src/PriceFeed.sol";

contract PriceFeedTest is Test {
    PriceFeed feed;
    address stranger = address(0xBEEF);

    function setUp() public {
        vm.warp(1_700_000_000);
        feed = new PriceFeed(8, "ETH / USD", 3000e8);
    }

    function test_initialRound() public view {
        (uint80 id, int256 answer,, uint256 updatedAt, uint80 answeredIn) = feed.latestRoundData();
        assertEq(id, 1);
        assertEq(answer, 3000e8);
        assertEq(updatedAt, 1_700_000_000);
        assertEq(answeredIn, 1);
        assertEq(feed.decimals(), 8);
    }

    function testFuzz_setAnswer(int256 answer, uint32 dt) public {
        answer = bound(answer, 1, type(int128).max);
        vm.warp(block.timestamp + dt);
        feed.setAnswer(answer);
        (uint80 id, int256 got,, uint256 updatedAt,) = feed.latestRoundData();
        assertEq(id, 2);
        assertEq(got, answer);
        assertEq(updatedAt, block.timestamp);
        (, int256 old,,,) = feed.getRoundData(1);
        assertEq(old, 3000e8);
    }

    function test_staleRound() public {
        feed.setAnswerAt(2900e8, block.timestamp - 7200);
        (,,, uint256 updatedAt,) = feed.latestRoundData();
        assertEq(updatedAt, block.timestamp - 7200);
    }

    function test_rejects() public {
        vm.expectRevert(PriceFeed.NotOwner.selector);
        vm.prank(stranger);
        feed.setAnswer(1);
        vm.expectRevert(abi.encodeWithSelector(PriceFeed.NonPositiveAnswer.selector, int256(0)));
        feed.setAnswer(0);
        vm.expectRevert(abi.encodeWithSelector(PriceFeed.FutureTimestamp.selector, block.timestamp + 1));
        feed.setAnswerAt(1, block.timestamp + 1);
        vm.expectRevert(PriceFeed.NoData.selector);
        feed.getRoundData(9);
    }
}
