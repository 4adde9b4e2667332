// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {HMSafeBase} from "./HMSafeBase.sol";
import {HMToken} from "./HMToken.sol";
import {HMMockRouter} from "./HMMockRouter.sol";
import {HMMockPerp} from "./HMMockPerp.sol";
import {HMMockFactory} from "./HMMockPool.sol";
import {HedgeModule} from "../../src/HedgeModule.sol";
import {PriceFeed} from "../../src/PriceFeed.sol";
import {AggregatorV3Interface} from "../../src/interfaces/AggregatorV3Interface.sol";

/// @notice A real Safe 1.4.1 holding USDC (6 dec) and WETH (18 dec), a HedgeModule enabled on it through an
///         owner-signed execTransaction and configured the same way, a mock router (its WETH/USDC pool registered
///         in a mock factory), a mock perp holding PERP_MARGIN of the Safe's margin, and loss budgets.
abstract contract HMFixture is HMSafeBase {
    uint256 internal constant ETH_USD = 2000e18; // usd wad
    uint256 internal constant PER_TRADE = 100_000e18;
    uint256 internal constant PER_WINDOW = 250_000e18;
    uint256 internal constant WINDOW = 1 hours;
    uint256 internal constant SLIP_BPS = 50;
    uint24 internal constant FEE = 3000;
    uint256 internal constant LOSS_WINDOW = 1_250e18; // = PER_WINDOW x SLIP_BPS
    uint256 internal constant LOSS_TOTAL = 5_000e18;
    uint256 internal constant PERP_LIMIT = 100e18; // 100 ETH
    uint256 internal constant PERP_MIN_MARGIN_BPS = 1_000; // 10x max leverage
    int256 internal constant PERP_MARGIN = 100_000e18;

    address internal keeper = makeAddr("keeper");
    address internal guardian = makeAddr("guardian");
    address internal safe;
    HedgeModule internal module;
    HMToken internal usdc;
    HMToken internal weth;
    HMToken internal junk;
    PriceFeed internal ethFeed;
    PriceFeed internal usdcFeed;
    HMMockRouter internal mockRouter;
    HMMockPerp internal perp;
    HMMockFactory internal mockFactory;
    address internal mockPool;
    HMToken internal musd;

    function _setUpFixture() internal {
        vm.warp(1_700_000_000);
        safe = _deploySafe();
        usdc = new HMToken("USD Coin", "USDC", 6);
        weth = new HMToken("Wrapped Ether", "WETH", 18);
        junk = new HMToken("Junk", "JUNK", 18);
        ethFeed = new PriceFeed(8, "ETH / USD", 2000e8);
        usdcFeed = new PriceFeed(8, "USDC / USD", 1e8);
        mockRouter = new HMMockRouter();
        mockRouter.setPrice(address(usdc), 1e18);
        mockRouter.setPrice(address(weth), ETH_USD);
        mockRouter.setPrice(address(junk), 1e18);
        mockRouter.setBehaviour(30, false, 0, address(0), false); // a 0.3% pool fee, honest
        musd = new HMToken("Mock USD", "MUSD", 18);
        perp = new HMMockPerp(AggregatorV3Interface(address(ethFeed)), address(musd));
        mockFactory = new HMMockFactory();
        mockPool = mockFactory.createPool(address(weth), address(usdc), FEE);

        module = new HedgeModule(safe, keeper, guardian);
        require(_safeExec(safe, abi.encodeWithSignature("enableModule(address)", address(module))), "enable");
        _configure(address(mockRouter));
        usdc.mint(safe, 1_000_000e6);
        weth.mint(safe, 500e18);
        perp.creditMargin(safe, PERP_MARGIN);
    }

    function _configure(address router) internal {
        _asSafe(abi.encodeCall(HedgeModule.setRouter, (router)));
        _asSafe(abi.encodeCall(HedgeModule.setFactory, (address(mockFactory))));
        _asSafe(abi.encodeCall(HedgeModule.setPoolAllowed, (address(weth), address(usdc), FEE, true)));
        _asSafe(abi.encodeCall(HedgeModule.setTokenConfig, (address(usdc), address(usdcFeed), 1 days, true)));
        _asSafe(abi.encodeCall(HedgeModule.setTokenConfig, (address(weth), address(ethFeed), 1 hours, true)));
        _asSafe(abi.encodeCall(HedgeModule.setPerpMarket, (address(perp), address(ethFeed), 1 hours, true)));
        _asSafe(abi.encodeCall(HedgeModule.setPerpPositionLimit, (address(perp), PERP_LIMIT)));
        _asSafe(abi.encodeCall(HedgeModule.setPerpMinMarginBps, (PERP_MIN_MARGIN_BPS)));
        _asSafe(abi.encodeCall(HedgeModule.setLimits, (PER_TRADE, PER_WINDOW, WINDOW, SLIP_BPS)));
        _asSafe(abi.encodeCall(HedgeModule.setLossBudgets, (LOSS_WINDOW, LOSS_TOTAL)));
    }

    /// @dev A module call executed by the Safe's owner through the real execTransaction path.
    function _asSafe(bytes memory data) internal {
        require(_safeExec(address(module), data), "safe exec");
    }

    function _refreshFeeds() internal {
        ethFeed.setAnswer(ethFeed.latestAnswer());
        usdcFeed.setAnswer(usdcFeed.latestAnswer());
    }

    /// @dev Safe value at the feeds' prices, usd wad: USDC + WETH balances, plus perp equity.
    function _safeValueUsd() internal view returns (int256) {
        uint256 e = uint256(ethFeed.latestAnswer()) * 1e10;
        uint256 u = uint256(usdcFeed.latestAnswer()) * 1e10;
        uint256 tokens = usdc.balanceOf(safe) * u / 1e6 + weth.balanceOf(safe) * e / 1e18;
        return int256(tokens) + perp.equityUsd(safe);
    }
}
