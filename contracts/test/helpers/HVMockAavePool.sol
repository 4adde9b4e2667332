// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IAavePool} from "../../src/interfaces/IAavePool.sol";
import {AggregatorV3Interface} from "../../src/interfaces/AggregatorV3Interface.sol";

interface IHVERC20 {
    function transferFrom(address from, address to, uint256 amount) external returns (bool);
    function transfer(address to, uint256 amount) external returns (bool);
    function decimals() external view returns (uint8);
}

/// @notice A balance the test Aave pool mints and burns (aToken or variable debt token), 1:1 with the asset.
contract HVPoolToken {
    address public immutable pool;
    uint8 public immutable decimals;
    mapping(address => uint256) public balanceOf;

    constructor(uint8 decimals_) {
        pool = msg.sender;
        decimals = decimals_;
    }

    function mint(address to, uint256 amount) external {
        require(msg.sender == pool, "pool only");
        balanceOf[to] += amount;
    }

    function burn(address from, uint256 amount) external {
        require(msg.sender == pool, "pool only");
        balanceOf[from] -= amount;
    }
}

/// @notice TEST DOUBLE of Aave v3's Pool, not Aave: the five calls and two views the HedgeVenueModule uses, with
///         Aave's health-factor formula (sum of collateral x liquidation threshold over debt, both valued at
///         Chainlink-style feeds in 8-decimal base currency; type(uint256).max without debt), no interest, and
///         Aave's own refusals of a borrow or withdrawal that leaves the health factor below 1 or a borrow beyond
///         the LTV. The real Pool (library-linked, awkward in forge) is exercised by the Python integration tests.
contract HVMockAavePool is IAavePool {
    struct Reserve {
        HVPoolToken aToken;
        HVPoolToken debt;
        AggregatorV3Interface feed;
        uint256 ltvBps;
        uint256 thresholdBps;
        uint8 decimals;
    }

    mapping(address => Reserve) public reserves;
    address[] public assets;

    function addReserve(address asset, AggregatorV3Interface feed, uint256 ltvBps, uint256 thresholdBps) external {
        uint8 d = IHVERC20(asset).decimals();
        reserves[asset] = Reserve(new HVPoolToken(d), new HVPoolToken(d), feed, ltvBps, thresholdBps, d);
        assets.push(asset);
    }

    function supply(address asset, uint256 amount, address onBehalfOf, uint16) external {
        Reserve storage r = _r(asset);
        require(IHVERC20(asset).transferFrom(msg.sender, address(this), amount), "transferFrom");
        r.aToken.mint(onBehalfOf, amount);
    }

    function withdraw(address asset, uint256 amount, address to) external returns (uint256) {
        Reserve storage r = _r(asset);
        r.aToken.burn(msg.sender, amount);
        require(IHVERC20(asset).transfer(to, amount), "transfer");
        (,,,,, uint256 hf) = getUserAccountData(msg.sender);
        require(hf >= 1e18, "HF < 1");
        return amount;
    }

    function borrow(address asset, uint256 amount, uint256 mode, uint16, address onBehalfOf) external {
        require(mode == 2, "variable only");
        require(onBehalfOf == msg.sender, "no delegation");
        Reserve storage r = _r(asset);
        r.debt.mint(onBehalfOf, amount);
        require(IHVERC20(asset).transfer(msg.sender, amount), "transfer");
        (uint256 coll, uint256 debt,,, uint256 ltv, uint256 hf) = getUserAccountData(onBehalfOf);
        require(hf >= 1e18 && debt * 10_000 <= coll * ltv, "collateral");
    }

    function repay(address asset, uint256 amount, uint256 mode, address onBehalfOf) external returns (uint256) {
        require(mode == 2, "variable only");
        Reserve storage r = _r(asset);
        uint256 owed = r.debt.balanceOf(onBehalfOf);
        uint256 paid = amount < owed ? amount : owed;
        require(IHVERC20(asset).transferFrom(msg.sender, address(this), paid), "transferFrom");
        r.debt.burn(onBehalfOf, paid);
        return paid;
    }

    function getReserveData(address asset) external view returns (ReserveData memory d) {
        Reserve storage r = reserves[asset];
        d.aTokenAddress = address(r.aToken);
        d.variableDebtTokenAddress = address(r.debt);
    }

    /// @dev Base currency: USD with 8 decimals, as Aave's oracle reports it.
    function getUserAccountData(address user)
        public
        view
        returns (uint256 coll, uint256 debt, uint256 available, uint256 threshold, uint256 ltv, uint256 hf)
    {
        uint256[4] memory sum; // collateral, debt, collateral x threshold, collateral x ltv
        for (uint256 i; i < assets.length; ++i) {
            (uint256 c, uint256 d, uint256 t, uint256 l) = _position(reserves[assets[i]], user);
            (sum[0], sum[1], sum[2], sum[3]) = (sum[0] + c, sum[1] + d, sum[2] + c * t, sum[3] + c * l);
        }
        (coll, debt) = (sum[0], sum[1]);
        threshold = coll == 0 ? 0 : sum[2] / coll;
        ltv = coll == 0 ? 0 : sum[3] / coll;
        uint256 maxDebt = sum[3] / 10_000;
        available = maxDebt > debt ? maxDebt - debt : 0;
        hf = debt == 0 ? type(uint256).max : sum[2] * 1e14 / debt; // (coll x threshold / 1e4) x 1e18 / debt
    }

    /// @dev One reserve: collateral and debt in base (8 decimals; debt rounded up), threshold and LTV (bps).
    function _position(Reserve storage r, address user)
        internal
        view
        returns (uint256 c, uint256 d, uint256 threshold, uint256 ltv)
    {
        (, int256 p,,,) = r.feed.latestRoundData();
        uint256 unit = 10 ** r.decimals;
        c = r.aToken.balanceOf(user) * uint256(p) / unit;
        d = (r.debt.balanceOf(user) * uint256(p) + unit - 1) / unit;
        (threshold, ltv) = (r.thresholdBps, r.ltvBps);
    }

    function _r(address asset) internal view returns (Reserve storage r) {
        r = reserves[asset];
        require(address(r.aToken) != address(0), "no reserve");
    }
}
