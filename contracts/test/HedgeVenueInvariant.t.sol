// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Test} from "forge-std/Test.sol";
import {HVFixture} from "./helpers/HVFixture.sol";
import {HVMockAavePool} from "./helpers/HVMockAavePool.sol";
import {HMToken} from "./helpers/HMToken.sol";
import {HedgeVenueModule} from "../src/HedgeVenueModule.sol";
import {HedgeModule} from "../src/HedgeModule.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {PoolKey} from "../src/interfaces/IUniswapV4.sol";

/// @notice v4-periphery's PoolSwapTest (npm artifact): anyone's swap in a v4 pool.
interface IHVPoolSwap {
    struct SwapParams {
        bool zeroForOne;
        int256 amountSpecified;
        uint160 sqrtPriceLimitX96;
    }

    struct TestSettings {
        bool takeClaims;
        bool settleUsingBurn;
    }

    function swap(PoolKey memory key, SwapParams memory params, TestSettings memory settings, bytes memory hookData)
        external
        payable
        returns (int256);
}

/// @notice The attacker: a stolen keeper key calling every venue path (v4 swaps in allowed, hooked and
///         disallowed pool keys with any minimum, Aave on any reserve and amount, borrow-and-sell, buy-and-repay,
///         v3 swaps through the HedgeModule) in any order, while it also moves the v4 pools' prices with its own
///         swaps (sandwiches) and time passes. Feeds keep their price, so a health factor can fall only by trading.
contract HVStolenKeeperHandler is Test {
    struct World {
        HedgeModule module;
        HedgeVenueModule venue;
        HVMockAavePool aave;
        IHVPoolSwap swapper;
        address keeper;
        HMToken usdc;
        HMToken weth;
        HMToken junk;
        PriceFeed ethFeed;
        PriceFeed usdcFeed;
    }

    World internal w;
    PoolKey[4] internal keys; // allowed WETH/USDC, allowed ETH/USDC, a hooked twin, another fee tier
    uint256 public hedgesOk;
    uint256 public aaveOk;
    uint256 public wrongVenueOk; // hedges that executed in a key or reserve the owners did not allow

    constructor(World memory world, PoolKey memory kWeth, PoolKey memory kEth) {
        w = world;
        keys[0] = kWeth;
        keys[1] = kEth;
        keys[2] = PoolKey(kEth.currency0, kEth.currency1, kEth.fee, kEth.tickSpacing, address(0xB00C));
        keys[3] = PoolKey(kWeth.currency0, kWeth.currency1, 3000, 60, address(0));
        w.usdc.approve(address(world.swapper), type(uint256).max);
        w.weth.approve(address(world.swapper), type(uint256).max);
    }

    receive() external payable {}

    function v4Swap(uint256 keySeed, bool zeroForOne, uint256 amountSeed, uint256 slackBps) external {
        uint256 k = keySeed % 4;
        PoolKey memory key = keys[k];
        bool ethIn = zeroForOne ? key.currency0 != address(w.usdc) : key.currency1 != address(w.usdc);
        uint256 amountIn = ethIn ? bound(amountSeed, 1e15, 30e18) : bound(amountSeed, 1e6, 60_000e6);
        uint256 minOut = _boundOrGuess(key, zeroForOne, amountIn, slackBps);
        vm.prank(w.keeper);
        try w.venue.hedgeV4Swap(key, zeroForOne, amountIn, minOut, block.timestamp) {
            hedgesOk++;
            if (k >= 2) wrongVenueOk++;
        } catch {}
    }

    function aave(uint256 opSeed, uint256 assetSeed, uint256 amountSeed) external {
        HMToken[3] memory assets = [w.usdc, w.weth, w.junk];
        address asset = address(assets[assetSeed % 3]);
        uint256 amount = asset == address(w.usdc) ? bound(amountSeed, 1, 60_000e6) : bound(amountSeed, 1, 30e18);
        uint256 op = opSeed % 4;
        vm.startPrank(w.keeper);
        bool ok;
        if (op == 0) ok = _try(abi.encodeCall(HedgeVenueModule.aaveSupply, (asset, amount)));
        else if (op == 1) ok = _try(abi.encodeCall(HedgeVenueModule.aaveWithdraw, (asset, amount)));
        else if (op == 2) ok = _try(abi.encodeCall(HedgeVenueModule.aaveBorrow, (asset, amount)));
        else ok = _try(abi.encodeCall(HedgeVenueModule.aaveRepay, (asset, amount)));
        vm.stopPrank();
        if (ok) {
            aaveOk++;
            if (asset == address(w.junk)) wrongVenueOk++;
        }
    }

    function borrowSell(uint256 amountSeed, uint256 slackBps) external {
        bool wethIs0 = keys[0].currency0 == address(w.weth);
        uint256 amount = bound(amountSeed, 1e15, 30e18);
        uint256 minOut = _boundOrGuess(keys[0], wethIs0, amount, slackBps);
        vm.prank(w.keeper);
        try w.venue.hedgeBorrowSell(address(w.weth), amount, keys[0], wethIs0, minOut, block.timestamp) {
            hedgesOk++;
        } catch {}
    }

    function buyRepay(uint256 amountSeed, uint256 slackBps) external {
        bool wethIs0 = keys[0].currency0 == address(w.weth);
        uint256 amount = bound(amountSeed, 1e6, 80_000e6);
        uint256 minOut = _boundOrGuess(keys[0], !wethIs0, amount, slackBps);
        vm.prank(w.keeper);
        try w.venue.hedgeBuyRepay(keys[0], !wethIs0, amount, minOut, block.timestamp) {
            hedgesOk++;
        } catch {}
    }

    function v3Swap(uint256 amountSeed) external {
        uint256 amountIn = bound(amountSeed, 1e15, 40e18);
        (,, uint256 minOut) = w.module.quoteSwap(address(w.weth), address(w.usdc), 3000, amountIn);
        vm.prank(w.keeper);
        try w.module.hedgeSwap(address(w.weth), address(w.usdc), 3000, amountIn, minOut, block.timestamp) {
            hedgesOk++;
        } catch {}
    }

    /// @dev The attacker moves a pool's price with its own swap (up to 200 ETH or 400k USDC in).
    function movePool(bool eth, bool zeroForOne, uint256 amountSeed) external {
        PoolKey memory key = eth ? keys[1] : keys[0];
        bool ethIn = zeroForOne ? key.currency0 != address(w.usdc) : key.currency1 != address(w.usdc);
        uint256 amount = ethIn ? bound(amountSeed, 1e15, 200e18) : bound(amountSeed, 1e6, 400_000e6);
        uint256 value;
        if (ethIn && key.currency0 == address(0)) {
            vm.deal(address(this), amount);
            value = amount;
        } else {
            (ethIn ? w.weth : w.usdc).mint(address(this), amount);
        }
        uint160 limit = zeroForOne ? 4295128740 : 1461446703485210103287273052203988822378723970341;
        try w.swapper.swap{value: value}(
            key, IHVPoolSwap.SwapParams(zeroForOne, -int256(amount), limit), IHVPoolSwap.TestSettings(false, false), ""
        ) {}
            catch {}
    }

    function passTime(uint256 secs) external {
        vm.warp(block.timestamp + bound(secs, 1, 2 hours));
        w.ethFeed.setAnswer(w.ethFeed.latestAnswer());
        w.usdcFeed.setAnswer(w.usdcFeed.latestAnswer());
    }

    function _boundOrGuess(PoolKey memory key, bool zeroForOne, uint256 amountIn, uint256 slackBps)
        internal
        view
        returns (uint256 minOut)
    {
        try w.venue.quoteV4Swap(key, zeroForOne, amountIn) returns (uint256, uint256, uint256 m) {
            minOut = m - m * (slackBps % 3 == 0 ? slackBps % 100 : 0) / 10_000; // sometimes below the bound
        } catch {
            minOut = 1;
        }
    }

    function _try(bytes memory data) internal returns (bool ok) {
        (ok,) = address(w.venue).call(data);
    }
}

/// @notice Invariants of the venue module and the HedgeModule together, on a real Safe, real v4 contracts and the
///         Aave double, against a stolen keeper key.
contract HedgeVenueInvariantTest is HVFixture {
    HVStolenKeeperHandler internal handler;
    int256 internal valueBefore;
    bytes32 internal venueParams;
    bytes32 internal moduleParams;

    function setUp() public {
        _setUpVenues();
        address swapper = _deployFoundry(
            string.concat(V4_OUT, "PoolSwapTest.sol/PoolSwapTest.default.json"), abi.encode(poolManager)
        );
        handler = new HVStolenKeeperHandler(
            HVStolenKeeperHandler.World(
                module, venue, aave, IHVPoolSwap(swapper), keeper, usdc, weth, junk, ethFeed, usdcFeed
            ),
            kWeth,
            kEth
        );
        vm.prank(keeper);
        venue.aaveSupply(address(usdc), 90_000e6); // collateral, so that borrows can happen
        vm.warp(block.timestamp + 2 * WINDOW);
        _refreshFeeds();
        ethFeed.transferOwnership(address(handler));
        usdcFeed.transferOwnership(address(handler));
        valueBefore = _venueValueUsd();
        venueParams = venue.paramsHash();
        moduleParams = module.paramsHash();
        targetContract(address(handler));
    }

    /// @notice The Safe's value at the feeds (tokens, native ETH, perp equity, aTokens − debt) falls by at most the
    ///         loss booked in the HedgeModule (+ a wei per action for rounding), which stays within the budgets.
    /// forge-config: default.invariant.runs = 32
    /// forge-config: default.invariant.depth = 48
    function invariant_valueLossBoundedByTheSharedBudget() public view {
        int256 loss = valueBefore - _venueValueUsd();
        int256 rounding = int256(4 * (handler.hedgesOk() + handler.aaveOk()) + 4);
        assertLe(loss, int256(module.lossTotalUsd()) + rounding, "the Safe lost more than the module booked");
        assertLe(module.lossTotalUsd(), LOSS_TOTAL);
        (uint256 windowLoss,) = module.lossUsage();
        assertLe(windowLoss, LOSS_WINDOW);
        (uint256 used,) = module.windowUsage();
        assertLe(used, PER_WINDOW);
    }

    /// @notice No borrow or withdrawal ever left the health factor below the owners' minimum; no hedge ever ran
    ///         in a pool key or reserve the owners did not allow.
    /// forge-config: default.invariant.runs = 32
    /// forge-config: default.invariant.depth = 48
    function invariant_healthFactorAndVenuesBounded() public view {
        assertGe(_hf(), MIN_HF, "health factor below the owners' minimum");
        assertEq(handler.wrongVenueOk(), 0, "a hedge ran in a key or reserve the owners did not allow");
    }

    /// @notice No allowance is left to Permit2, the router or the Aave pool; parameters only change via the Safe.
    /// forge-config: default.invariant.runs = 32
    /// forge-config: default.invariant.depth = 48
    function invariant_noAllowanceLeftAndParamsFixed() public view {
        HMToken[2] memory toks = [usdc, weth];
        for (uint256 i; i < toks.length; ++i) {
            assertEq(toks[i].allowance(safe, PERMIT2), 0);
            assertEq(toks[i].allowance(safe, universalRouter), 0);
            assertEq(toks[i].allowance(safe, address(aave)), 0);
        }
        assertEq(venue.paramsHash(), venueParams);
        assertEq(module.paramsHash(), moduleParams);
    }

    function afterInvariant() public {
        emit log_named_uint("hedges executed", handler.hedgesOk());
        emit log_named_uint("aave actions executed", handler.aaveOk());
        emit log_named_uint("loss booked (usd wad)", module.lossTotalUsd());
        emit log_named_int("health factor (wad)", int256(_hf() > uint256(type(int256).max) ? 0 : _hf()));
    }
}
