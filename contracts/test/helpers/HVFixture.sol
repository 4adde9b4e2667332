// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {HMFixture} from "./HMFixture.sol";
import {HVMockAavePool, HVPoolToken} from "./HVMockAavePool.sol";
import {HedgeVenueModule} from "../../src/HedgeVenueModule.sol";
import {PoolKey} from "../../src/interfaces/IUniswapV4.sol";
import {AggregatorV3Interface} from "../../src/interfaces/AggregatorV3Interface.sol";

interface IHVPoolManager {
    function initialize(PoolKey memory key, uint160 sqrtPriceX96) external returns (int24 tick);
}

/// @notice v4-periphery's PoolModifyLiquidityTest (the npm artifact): adds liquidity, paying from the caller.
interface IHVModifyLiquidity {
    struct ModifyLiquidityParams {
        int24 tickLower;
        int24 tickUpper;
        int256 liquidityDelta;
        bytes32 salt;
    }

    function modifyLiquidity(PoolKey memory key, ModifyLiquidityParams memory params, bytes memory hookData)
        external
        payable
        returns (int256 delta);
}

interface IHVApprove {
    function approve(address spender, uint256 amount) external returns (bool);
}

/// @notice The HedgeModule fixture (a real Safe 1.4.1, the module, feeds, mock v3 router and perp) plus the
///         v4 + Aave venues: the REAL Uniswap v4 PoolManager, Permit2 (runtime code from v4-periphery's
///         DeployPermit2 at the canonical address) and UniversalRouter 2.1.0 from their npm artifacts, two
///         hookless pools at the feeds' price with full-range liquidity (WETH/USDC and native ETH/USDC, 0.05 %),
///         an Aave v3 pool TEST DOUBLE (HVMockAavePool) with WETH and USDC reserves, and a HedgeVenueModule
///         enabled on the Safe and configured by the owner.
abstract contract HVFixture is HMFixture {
    address internal constant PERMIT2 = 0x000000000022D473030F116dDEE9F6B43aC78BA3;
    string internal constant V4_OUT = "../node_modules/@uniswap/v4-periphery/foundry-out/";
    uint24 internal constant V4_FEE = 500;
    int24 internal constant V4_SPACING = 10;
    uint256 internal constant MIN_HF = 1.5e18;

    address internal poolManager;
    address internal universalRouter;
    IHVModifyLiquidity internal liquidity;
    HedgeVenueModule internal venue;
    HVMockAavePool internal aave;
    PoolKey internal kWeth; // WETH/USDC, no hooks
    PoolKey internal kEth; // native ETH/USDC, no hooks

    receive() external payable {}

    function _setUpVenues() internal {
        _setUpFixture();
        poolManager =
            _deployFoundry(string.concat(V4_OUT, "PoolManager.sol/PoolManager.default.json"), abi.encode(this));
        string memory src =
            vm.readFile("../node_modules/@uniswap/v4-periphery/lib/permit2/test/utils/DeployPermit2.sol");
        vm.etch(PERMIT2, vm.parseBytes(string.concat("0x", vm.split(vm.split(src, 'hex"')[1], '"')[0])));
        universalRouter = _deployArtifact(
            "../node_modules/@uniswap/universal-router/artifacts/contracts/UniversalRouter.sol/UniversalRouter.json",
            abi.encode(
                PERMIT2,
                address(weth),
                address(0),
                address(0),
                bytes32(0),
                bytes32(0),
                poolManager,
                address(0),
                address(0),
                address(0)
            )
        );
        liquidity = IHVModifyLiquidity(
            _deployFoundry(
                string.concat(V4_OUT, "PoolModifyLiquidityTest.sol/PoolModifyLiquidityTest.default.json"),
                abi.encode(poolManager)
            )
        );
        (address a, address b) =
            address(weth) < address(usdc) ? (address(weth), address(usdc)) : (address(usdc), address(weth));
        kWeth = PoolKey(a, b, V4_FEE, V4_SPACING, address(0));
        kEth = PoolKey(address(0), address(usdc), V4_FEE, V4_SPACING, address(0));
        _initPool(kWeth, 1e18);
        _initPool(kEth, 1e18);

        aave = new HVMockAavePool();
        aave.addReserve(address(weth), AggregatorV3Interface(address(ethFeed)), 8_000, 8_250);
        aave.addReserve(address(usdc), AggregatorV3Interface(address(usdcFeed)), 8_000, 8_500);
        weth.mint(address(aave), 10_000e18);
        usdc.mint(address(aave), 50_000_000e6);

        venue = new HedgeVenueModule(module, address(weth));
        require(_safeExec(safe, abi.encodeWithSignature("enableModule(address)", address(venue))), "enable venue");
        _asVenue(abi.encodeCall(HedgeVenueModule.setUniversalRouter, (universalRouter, PERMIT2)));
        _asVenue(abi.encodeCall(HedgeVenueModule.setPoolKeyAllowed, (kWeth, true)));
        _asVenue(abi.encodeCall(HedgeVenueModule.setPoolKeyAllowed, (kEth, true)));
        _asVenue(abi.encodeCall(HedgeVenueModule.setAavePool, (address(aave))));
        _asVenue(abi.encodeCall(HedgeVenueModule.setReserveAllowed, (address(weth), true)));
        _asVenue(abi.encodeCall(HedgeVenueModule.setReserveAllowed, (address(usdc), true)));
        _asVenue(abi.encodeCall(HedgeVenueModule.setMinHealthFactor, (MIN_HF)));
        vm.deal(safe, 100 ether);
    }

    function _deployFoundry(string memory path, bytes memory args) internal returns (address deployed) {
        bytes memory code = abi.encodePacked(vm.parseJsonBytes(vm.readFile(path), ".bytecode.object"), args);
        assembly {
            deployed := create(0, add(code, 0x20), mload(code))
        }
        require(deployed != address(0) && deployed.code.length > 0, "foundry artifact deploy failed");
    }

    /// @dev Initialize `key` at the feeds' prices and add full-range liquidity `liq`, paid by this contract.
    function _initPool(PoolKey memory key, uint256 liq) internal {
        (uint256 p0, uint256 d0) = _usd(key.currency0);
        (uint256 p1, uint256 d1) = _usd(key.currency1);
        uint256 sqrtP = Math.sqrt(Math.mulDiv(p0 * 10 ** d1, 1 << 192, p1 * 10 ** d0));
        IHVPoolManager(poolManager).initialize(key, uint160(sqrtP));
        int24 hi = (887272 / key.tickSpacing) * key.tickSpacing;
        uint256 eth;
        if (key.currency0 == address(0)) {
            eth = 100_000 ether;
            vm.deal(address(this), eth);
        }
        address[2] memory cs = [key.currency0, key.currency1];
        for (uint256 i; i < 2; ++i) {
            if (cs[i] == address(0)) continue;
            (cs[i] == address(weth) ? weth : usdc).mint(address(this), 1e30);
            IHVApprove(cs[i]).approve(address(liquidity), type(uint256).max);
        }
        liquidity.modifyLiquidity{value: eth}(
            key, IHVModifyLiquidity.ModifyLiquidityParams(-hi, hi, int256(liq), bytes32(0)), ""
        );
    }

    function _usd(address currency) internal view returns (uint256 price, uint256 decimals) {
        if (currency == address(usdc)) return (1e18, 6);
        return (ETH_USD, 18); // WETH or native ETH
    }

    /// @dev A venue-module call executed by the Safe's owner through the real execTransaction path.
    function _asVenue(bytes memory data) internal {
        require(_safeExec(address(venue), data), "safe exec (venue)");
    }

    /// @dev The smallest minOut the module accepts.
    function _minOut(PoolKey memory key, bool zeroForOne, uint256 amountIn) internal view returns (uint256 m) {
        (,, m) = venue.quoteV4Swap(key, zeroForOne, amountIn);
    }

    /// @dev Whether selling WETH in kWeth is zeroForOne.
    function _wethIs0() internal view returns (bool) {
        return kWeth.currency0 == address(weth);
    }

    function _aToken(address asset) internal view returns (HVPoolToken t) {
        (t,,,,,) = aave.reserves(asset);
    }

    function _debt(address asset) internal view returns (HVPoolToken t) {
        (, t,,,,) = aave.reserves(asset);
    }

    function _hf() internal view returns (uint256 hf) {
        (,,,,, hf) = aave.getUserAccountData(safe);
    }

    /// @dev The Safe's value at the feeds (usd wad): USDC, WETH and native ETH, perp equity, aTokens − debt.
    function _venueValueUsd() internal view returns (int256 v) {
        uint256 e = uint256(ethFeed.latestAnswer()) * 1e10;
        uint256 u = uint256(usdcFeed.latestAnswer()) * 1e10;
        v = _safeValueUsd() + int256(safe.balance * e / 1e18);
        v += int256(_aToken(address(weth)).balanceOf(safe) * e / 1e18)
        - int256(_debt(address(weth)).balanceOf(safe) * e / 1e18);
        v += int256(_aToken(address(usdc)).balanceOf(safe) * u / 1e6)
        - int256(_debt(address(usdc)).balanceOf(safe) * u / 1e6);
    }
}
