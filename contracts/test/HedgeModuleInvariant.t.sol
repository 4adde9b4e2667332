// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Test} from "forge-std/Test.sol";
import {HMFixture} from "./helpers/HMFixture.sol";
import {HMToken} from "./helpers/HMToken.sol";
import {HMMockRouter} from "./helpers/HMMockRouter.sol";
import {HMMockPerp} from "./helpers/HMMockPerp.sol";
import {HMMockFactory} from "./helpers/HMMockPool.sol";
import {HedgeModule} from "../src/HedgeModule.sol";
import {PriceFeed} from "../src/PriceFeed.sol";
import {ISafe, Enum} from "../src/interfaces/ISafe.sol";

/// @notice The attacker: a stolen keeper key that calls the hedge functions with arbitrary arguments, controls the
///         venue's pricing (the mock router's haircut and honesty: think pool manipulation / sandwiches), and makes
///         arbitrary other calls to the module and the Safe from random addresses. Time passes; the oracle moves.
contract HMStolenKeeperHandler is Test {
    HedgeModule internal immutable module;
    address internal immutable safe;
    address internal immutable keeper;
    address internal immutable guardian;
    HMToken internal immutable usdc;
    HMToken internal immutable weth;
    HMToken internal immutable junk;
    PriceFeed internal immutable ethFeed;
    PriceFeed internal immutable usdcFeed;
    HMMockRouter internal immutable router;
    HMMockPerp internal immutable perp;
    HMMockFactory internal immutable factory;
    address internal constant THIEF = address(0x7417EF);

    // ghost state
    int256 public baselineValueUsd; // Safe value at the current oracle prices when the baseline was last reset
    uint256 public allowedLossUsd; // sum over executed trades since then of notional * maxSlippageBps / 1e4
    uint256 public chargedLossUsd; // loss the module charged to its budgets since then (usd wad)
    uint256 public selfPauses; // hedge calls after which the module had paused itself (budget spent)
    uint256 public ownerResumes;
    uint256 public offPoolSwapsOk; // swaps that executed at a fee tier whose pool the owners did not allow
    uint256 public attackerPools;
    uint256 public marginViolations; // perp trades that grew |size| and left equity < minMargin x notional
    uint256 public tradesSinceBaseline;
    uint256 public maxWindowSumUsd; // largest notional executed inside any window of `windowSeconds`
    uint256 public maxTradeUsd;
    uint256 public swapsOk;
    uint256 public perpsOk;
    uint256 public directSafeCallsOk; // the keeper calling the Safe's module entry points directly
    bytes public lastSwapError;
    uint256[] internal tradeTimes;
    uint256[] internal tradeNotionals;

    constructor(
        HedgeModule module_,
        address keeper_,
        address guardian_,
        HMToken[3] memory tokens,
        PriceFeed[2] memory feeds,
        HMMockRouter router_,
        HMMockPerp perp_,
        HMMockFactory factory_
    ) {
        factory = factory_;
        module = module_;
        safe = module_.safe();
        keeper = keeper_;
        guardian = guardian_;
        (usdc, weth, junk) = (tokens[0], tokens[1], tokens[2]);
        (ethFeed, usdcFeed) = (feeds[0], feeds[1]);
        router = router_;
        perp = perp_;
    }

    function resetBaseline() public {
        baselineValueUsd = valueUsd();
        allowedLossUsd = 0;
        chargedLossUsd = 0;
        tradesSinceBaseline = 0;
    }

    /// @dev Wraps every hedge call: records the loss the module charged and whether it paused itself.
    function _charged(uint256 totalBefore, bool pausedBefore) internal {
        uint256 t = module.lossTotalUsd();
        if (t > totalBefore) chargedLossUsd += t - totalBefore;
        if (!pausedBefore && module.paused()) selfPauses++;
    }

    /// @notice Safe value at the feeds' prices, usd wad: token balances plus perp equity.
    function valueUsd() public view returns (int256) {
        uint256 e = uint256(ethFeed.latestAnswer()) * 1e10;
        uint256 u = uint256(usdcFeed.latestAnswer()) * 1e10;
        uint256 tokens = usdc.balanceOf(safe) * u / 1e6 + weth.balanceOf(safe) * e / 1e18;
        return int256(tokens) + perp.equityUsd(safe);
    }

    // ------------------------------------------------------------------ the stolen keeper's hedges

    function _token(uint256 i) internal view returns (address) {
        i = i % 5;
        if (i == 0) return address(usdc);
        if (i == 1) return address(weth);
        if (i == 2) return address(junk);
        if (i == 3) return THIEF;
        return address(module);
    }

    /// @dev Fully arbitrary swap arguments.
    function swapArbitrary(uint256 inIdx, uint256 outIdx, uint24 fee, uint256 amountIn, uint256 minOut, uint256 dl)
        external
    {
        if (fee % 3 == 0) fee = 3000;
        else if (fee % 3 == 1) fee = 10_000; // the tier of the attacker's own pools
        amountIn = _bound(amountIn, 0, 2_000e18);
        minOut = _bound(minOut, 0, type(uint128).max);
        dl = _bound(dl, block.timestamp - 10, block.timestamp + 1 days);
        _swap(_token(inIdx), _token(outIdx), fee, amountIn, minOut, dl);
    }

    /// @dev The most damaging swap the bounds allow: minimum at the oracle bound, sized up to the caps.
    function swapAtBound(bool wethIn, uint256 amountIn, uint256 extraBps) external {
        (address tin, address tout) = wethIn ? (address(weth), address(usdc)) : (address(usdc), address(weth));
        amountIn = _bound(amountIn, 1, wethIn ? 60e18 : 120_000e6);
        try module.quoteSwap(tin, tout, 3000, amountIn) returns (uint256, uint256, uint256 minOut) {
            _swap(tin, tout, 3000, amountIn, minOut + _bound(extraBps, 0, 3) * minOut / 10_000, block.timestamp);
        } catch {}
    }

    function _swap(address tin, address tout, uint24 fee, uint256 amountIn, uint256 minOut, uint256 dl) internal {
        uint256 notional;
        try module.quoteSwap(tin, tout, 3000, amountIn) returns (uint256 n, uint256, uint256) {
            notional = n;
        } catch {}
        (uint256 total0, bool paused0) = (module.lossTotalUsd(), module.paused());
        vm.prank(keeper);
        try module.hedgeSwap(tin, tout, fee, amountIn, minOut, dl) returns (uint256 out) {
            if (out != 0) {
                swapsOk++;
                if (fee != 3000) offPoolSwapsOk++;
                _recordTrade(notional);
            }
        } catch (bytes memory r) {
            lastSwapError = r;
        }
        _charged(total0, paused0);
    }

    function perpArbitrary(uint256 mIdx, int256 sizeDelta, uint256 acceptablePrice) external {
        address market = mIdx % 3 == 0 ? address(router) : address(perp);
        sizeDelta = _bound(sizeDelta, -200e18, 200e18);
        acceptablePrice = _bound(acceptablePrice, 0, 10_000e18);
        if (mIdx % 5 == 1) acceptablePrice = sizeDelta > 0 ? 2_100e18 : 1_900e18;
        _perp(market, sizeDelta, acceptablePrice);
    }

    /// @dev Perp trade at the worst acceptable price the module allows (the mock perp fills exactly there).
    function perpAtBound(int256 sizeDelta) external {
        sizeDelta = _bound(sizeDelta, -60e18, 60e18);
        try module.quotePerp(address(perp), sizeDelta) returns (uint256, uint256, uint256 priceBound) {
            _perp(address(perp), sizeDelta, priceBound);
        } catch {}
    }

    function _perp(address market, int256 sizeDelta, uint256 acceptablePrice) internal {
        uint256 notional;
        try module.quotePerp(market, sizeDelta) returns (uint256 n, uint256, uint256) {
            notional = n;
        } catch {}
        (uint256 total0, bool paused0) = (module.lossTotalUsd(), module.paused());
        uint256 trades0 = perp.trades();
        int256 size0 = perp.sizeOf(safe);
        vm.prank(keeper);
        try module.hedgePerp(market, sizeDelta, acceptablePrice) {
            if (perp.trades() != trades0) {
                perpsOk++;
                _recordTrade(notional);
                int256 size1 = perp.sizeOf(safe);
                uint256 abs1 = size1 < 0 ? uint256(-size1) : uint256(size1);
                uint256 abs0 = size0 < 0 ? uint256(-size0) : uint256(size0);
                if (abs1 > abs0 || (size0 > 0 && size1 < 0) || (size0 < 0 && size1 > 0)) {
                    uint256 need = abs1 * perp.oraclePrice() / 1e18 * module.perpMinMarginBps();
                    if (perp.equityUsd(safe) * 10_000 + 10_000 < int256(need)) marginViolations++;
                }
            }
        } catch {}
        _charged(total0, paused0);
    }

    function _recordTrade(uint256 notional) internal {
        allowedLossUsd += notional * module.maxSlippageBps() / 10_000;
        tradesSinceBaseline++;
        if (notional > maxTradeUsd) maxTradeUsd = notional;
        tradeTimes.push(block.timestamp);
        tradeNotionals.push(notional);
        uint256 sum;
        uint256 w = module.windowSeconds();
        for (uint256 i = tradeTimes.length; i > 0; --i) {
            if (tradeTimes[i - 1] + w <= block.timestamp) break;
            sum += tradeNotionals[i - 1];
        }
        if (sum > maxWindowSumUsd) maxWindowSumUsd = sum;
    }

    // ------------------------------------------------------------------ the attacker's other levers

    /// @dev The attacker controls how the venue pays (pool manipulation): its haircut, and sometimes a venue that
    ///      ignores the minimum, tries to pull more than approved, pulls less (partial fill) or pays the thief.
    function bendVenue(uint256 haircutBps, uint8 mode) external {
        mode = mode % 7;
        router.setBehaviour(
            _bound(haircutBps, 0, 80), mode == 3, mode == 4 ? 1 : 0, mode == 5 ? THIEF : address(0), false
        );
        router.setPullLess(mode == 6 ? 1 : 0);
    }

    /// @dev A hostile perp venue: raises its taker fee (0..100 bps) or takes extra cash on each trade (0..$500).
    function bendPerpVenue(uint256 feeBps, uint256 extraUsd, bool cheat) external {
        perp.setTakerFeeBps(_bound(feeBps, 0, 100));
        perp.setChargeExtra(cheat ? _bound(extraUsd, 0, 500e18) : 0);
    }

    /// @dev The attacker creates its own pools for the allowed tokens at another fee tier (it is their only LP).
    function attackerCreatesPool() external {
        if (attackerPools != 0) return;
        attackerPools++;
        factory.createPool(address(weth), address(usdc), 10_000);
    }

    /// @dev The owners look at a spent budget: reset the total and unpause (as the Safe). A new baseline starts.
    function ownersResume() external {
        if (!module.paused()) return;
        vm.startPrank(safe);
        module.resetLossTotal();
        module.unpause();
        vm.stopPrank();
        ownerResumes++;
        resetBaseline();
    }

    /// @dev Any module function, from any address but the Safe and the guardian.
    function randomModuleCall(address caller, uint256 which, address a, uint256 x, bool flag) external {
        if (caller == safe || caller == guardian) caller = keeper;
        bytes memory data;
        which = which % 17;
        if (which == 0) {
            data = abi.encodeCall(HedgeModule.setKeeper, (a));
        } else if (which == 1) {
            data = abi.encodeCall(HedgeModule.setGuardian, (a));
        } else if (which == 2) {
            data = abi.encodeCall(HedgeModule.setRouter, (a));
        } else if (which == 3) {
            data = abi.encodeCall(HedgeModule.setPoolAllowed, (address(weth), address(usdc), uint24(x), flag));
        } else if (which == 4) {
            data = abi.encodeCall(HedgeModule.setTokenConfig, (a, address(ethFeed), x, flag));
        } else if (which == 5) {
            data = abi.encodeCall(HedgeModule.setPerpMarket, (a, address(ethFeed), x, flag));
        } else if (which == 6) {
            data = abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), x));
        } else if (which == 7) {
            data = abi.encodeCall(HedgeModule.setLimits, (x, x, x, x));
        } else if (which == 8) {
            data = abi.encodeCall(HedgeModule.unpause, ());
        } else if (which == 9) {
            data = abi.encodeCall(HedgeModule.pause, ());
        } else if (which == 10) {
            data = abi.encodeCall(HedgeModule.setLossBudgets, (x, x));
        } else if (which == 11) {
            data = abi.encodeCall(HedgeModule.resetLossTotal, ());
        } else if (which == 12) {
            data = abi.encodeCall(HedgeModule.setFactory, (a));
        } else if (which == 13) {
            data = abi.encodeCall(HedgeModule.setTwapWindow, (x));
        } else if (which == 14) {
            data = abi.encodeCall(HedgeModule.setPerpMinMarginBps, (x));
        } else if (which == 15) {
            data = abi.encodeCall(HedgeModule.guardianReducePerp, (address(perp), int256(x % 1e20)));
        } else {
            data = abi.encodeWithSignature("execTransactionFromModule(address,uint256,bytes,uint8)", a, 0, "", 0);
        }
        vm.prank(caller);
        (bool ok,) = address(module).call(data);
        ok; // all must fail: checked by the invariants on state
    }

    /// @dev The keeper key tries to use the Safe's module entry points itself (it is not a module).
    function keeperCallsSafe(uint256 amount, bool returnData) external {
        bytes memory data = abi.encodeWithSignature("transfer(address,uint256)", THIEF, _bound(amount, 1, 1e24));
        vm.prank(keeper);
        if (returnData) {
            try ISafe(safe).execTransactionFromModuleReturnData(address(usdc), 0, data, Enum.Operation.Call) returns (
                bool ok, bytes memory
            ) {
                if (ok) directSafeCallsOk++;
            } catch {}
        } else {
            try ISafe(safe).execTransactionFromModule(address(weth), 0, data, Enum.Operation.Call) returns (bool ok) {
                if (ok) directSafeCallsOk++;
            } catch {}
        }
    }

    // ------------------------------------------------------------------ the world

    /// @dev Time passes; the feeds usually keep publishing (one call in four leaves them to go stale).
    function passTime(uint256 secs, uint8 mode) external {
        vm.warp(block.timestamp + _bound(secs, 1, 2 hours));
        if (mode % 4 != 0) {
            ethFeed.setAnswer(ethFeed.latestAnswer());
            usdcFeed.setAnswer(usdcFeed.latestAnswer());
        }
    }

    /// @dev The market moves (not the attacker): re-mark the baseline at the new price.
    function movePrice(uint256 ethPrice8) external {
        ethPrice8 = _bound(ethPrice8, 500e8, 5_000e8);
        ethFeed.setAnswer(int256(ethPrice8));
        usdcFeed.setAnswer(usdcFeed.latestAnswer());
        router.setPrice(address(weth), ethPrice8 * 1e10);
        resetBaseline();
    }
}

/// @notice Invariants of a HedgeModule on a REAL Safe 1.4.1 against a stolen keeper key.
contract HedgeModuleInvariantTest is HMFixture {
    HMStolenKeeperHandler internal handler;
    bytes32 internal initialParamsHash;
    uint256 internal initialSafeNonce;

    function setUp() public {
        _setUpFixture();
        handler = new HMStolenKeeperHandler(
            module, keeper, guardian, [usdc, weth, junk], [ethFeed, usdcFeed], mockRouter, perp, mockFactory
        );
        ethFeed.transferOwnership(address(handler));
        usdcFeed.transferOwnership(address(handler));
        handler.resetBaseline();
        initialParamsHash = module.paramsHash();
        initialSafeNonce = safeAcct.nonce();
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](16);
        selectors[0] = HMStolenKeeperHandler.swapArbitrary.selector;
        selectors[1] = HMStolenKeeperHandler.swapAtBound.selector;
        selectors[2] = HMStolenKeeperHandler.perpArbitrary.selector;
        selectors[3] = HMStolenKeeperHandler.perpAtBound.selector;
        selectors[4] = HMStolenKeeperHandler.bendVenue.selector;
        selectors[5] = HMStolenKeeperHandler.randomModuleCall.selector;
        selectors[6] = HMStolenKeeperHandler.keeperCallsSafe.selector;
        selectors[7] = HMStolenKeeperHandler.passTime.selector;
        selectors[8] = HMStolenKeeperHandler.movePrice.selector;
        selectors[9] = HMStolenKeeperHandler.bendPerpVenue.selector;
        selectors[10] = HMStolenKeeperHandler.attackerCreatesPool.selector;
        selectors[11] = HMStolenKeeperHandler.ownersResume.selector;
        // the most damaging hedges, drawn more often
        selectors[12] = HMStolenKeeperHandler.swapAtBound.selector;
        selectors[13] = HMStolenKeeperHandler.swapAtBound.selector;
        selectors[14] = HMStolenKeeperHandler.perpAtBound.selector;
        selectors[15] = HMStolenKeeperHandler.perpAtBound.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors})); // not resetBaseline
    }

    /// @notice The Safe's value at the oracle (tokens and perp equity) falls by at most the loss the module charged
    ///         to its budgets (plus rounding: a few wei per trade), and that is at most the total loss budget. (Not
    ///         bounded by the slippage allowance: a hostile perp venue may take more than its fee; the budget
    ///         catches it.)
    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 128
    function invariant_valueLossBoundedByBudget() public view {
        int256 loss = handler.baselineValueUsd() - handler.valueUsd();
        int256 rounding = int256(4 * handler.tradesSinceBaseline() + 4);
        assertLe(loss, int256(handler.chargedLossUsd()) + rounding, "Safe lost more than the module charged");
        assertLe(loss, int256(LOSS_TOTAL) + rounding, "Safe lost more than the total loss budget");
        assertLe(module.lossTotalUsd(), LOSS_TOTAL);
        (uint256 windowLoss,) = module.lossUsage();
        assertLe(windowLoss, LOSS_WINDOW);
    }

    /// @notice Only the allowed pool is ever used; perp positions stay within the limit and the margin ratio.
    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 128
    function invariant_poolsAndPerpsBounded() public view {
        assertEq(handler.offPoolSwapsOk(), 0, "a swap went through a pool the owners did not allow");
        int256 size = perp.sizeOf(safe);
        assertLe(size < 0 ? uint256(-size) : uint256(size), PERP_LIMIT, "perp position above the limit");
        assertEq(handler.marginViolations(), 0, "a perp trade that grew the position left margin below the minimum");
    }

    /// @notice Notional executed inside any rolling window, and in any one trade, stays within the caps.
    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 128
    function invariant_capsHold() public view {
        assertLe(handler.maxWindowSumUsd(), PER_WINDOW);
        assertLe(handler.maxTradeUsd(), PER_TRADE);
        (uint256 used, uint256 n) = module.windowUsage();
        assertLe(used, PER_WINDOW);
        assertLe(n, module.WINDOW_BUCKETS() + 1);
    }

    /// @notice No allowance is ever left behind and no token reaches anyone but the Safe and the swap counterparty.
    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 128
    function invariant_noLeaks() public view {
        HMToken[3] memory toks = [usdc, weth, junk];
        for (uint256 i; i < toks.length; ++i) {
            assertEq(toks[i].allowance(safe, address(mockRouter)), 0, "allowance left to the router");
            assertEq(toks[i].allowance(safe, address(perp)), 0);
            assertEq(toks[i].allowance(safe, keeper), 0);
            assertEq(toks[i].balanceOf(keeper), 0);
            assertEq(toks[i].balanceOf(address(0x7417EF)), 0, "tokens reached the thief");
            // every token is held by the Safe or by the router (the only swap counterparty)
            assertEq(toks[i].totalSupply(), toks[i].balanceOf(safe) + toks[i].balanceOf(address(mockRouter)));
        }
        assertEq(handler.directSafeCallsOk(), 0);
    }

    /// @notice Configuration never changes except through the Safe; the Safe's own setup is untouched.
    /// forge-config: default.invariant.runs = 64
    /// forge-config: default.invariant.depth = 128
    function invariant_configOnlyViaSafe() public view {
        assertEq(module.paramsHash(), initialParamsHash);
        assertEq(module.keeper(), keeper);
        assertEq(module.paused(), handler.selfPauses() > handler.ownerResumes(), "paused only by a spent budget");
        assertEq(safeAcct.nonce(), initialSafeNonce);
        assertTrue(safeAcct.isModuleEnabled(address(module)));
        address[] memory owners = safeAcct.getOwners();
        assertEq(owners.length, 1);
        assertEq(owners[0], owner);
    }

    /// @dev Printed with -vv for the last run: shows the campaign really executed hedges.
    function afterInvariant() public {
        emit log_named_uint("swaps executed", handler.swapsOk());
        emit log_named_bytes("last swap error", handler.lastSwapError());
        emit log_named_uint("perp trades executed", handler.perpsOk());
        emit log_named_uint("self pauses (budget spent)", handler.selfPauses());
        emit log_named_uint("loss charged since baseline (usd wad)", handler.chargedLossUsd());
        emit log_named_uint("max window notional (usd wad)", handler.maxWindowSumUsd());
        emit log_named_int("loss since baseline (usd wad)", handler.baselineValueUsd() - handler.valueUsd());
        emit log_named_uint("allowed loss (usd wad)", handler.allowedLossUsd());
    }
}

