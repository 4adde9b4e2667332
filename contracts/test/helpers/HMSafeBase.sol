// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Test} from "forge-std/Test.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {HMToken} from "./HMToken.sol";

/// @notice The parts of Safe 1.4.1 the tests drive (owner side).
interface IHMSafeOwnerSide {
    function setup(
        address[] calldata owners,
        uint256 threshold,
        address to,
        bytes calldata data,
        address fallbackHandler,
        address paymentToken,
        uint256 payment,
        address payable paymentReceiver
    ) external;
    function execTransaction(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address payable refundReceiver,
        bytes memory signatures
    ) external payable returns (bool);
    function getTransactionHash(
        address to,
        uint256 value,
        bytes calldata data,
        uint8 operation,
        uint256 safeTxGas,
        uint256 baseGas,
        uint256 gasPrice,
        address gasToken,
        address refundReceiver,
        uint256 nonce
    ) external view returns (bytes32);
    function nonce() external view returns (uint256);
    function enableModule(address module) external;
    function isModuleEnabled(address module) external view returns (bool);
    function getOwners() external view returns (address[] memory);
    function VERSION() external view returns (string memory);
}

interface IHMSafeProxyFactory {
    function createProxyWithNonce(address singleton, bytes memory initializer, uint256 saltNonce)
        external
        returns (address proxy);
}

interface IHMUniV3Factory {
    function createPool(address tokenA, address tokenB, uint24 fee) external returns (address pool);
}

interface IHMUniV3Pool {
    function initialize(uint160 sqrtPriceX96) external;
    function mint(address recipient, int24 tickLower, int24 tickUpper, uint128 amount, bytes calldata data)
        external
        returns (uint256 amount0, uint256 amount1);
    function token0() external view returns (address);
    function token1() external view returns (address);
}

/// @notice Mints full-range liquidity into a real Uniswap v3 pool, paying in the mint callback with freshly
///         minted HMToken.
contract HMUniV3LiquidityHelper {
    function addFullRange(address pool, int24 spacing, uint128 liquidity) external {
        int24 lower = (-887272 / spacing) * spacing;
        int24 upper = (887272 / spacing) * spacing;
        IHMUniV3Pool(pool).mint(address(this), lower, upper, liquidity, abi.encode(pool));
    }

    function uniswapV3MintCallback(uint256 amount0Owed, uint256 amount1Owed, bytes calldata) external {
        if (amount0Owed > 0) HMToken(IHMUniV3Pool(msg.sender).token0()).mint(msg.sender, amount0Owed);
        if (amount1Owed > 0) HMToken(IHMUniV3Pool(msg.sender).token1()).mint(msg.sender, amount1Owed);
    }
}

/// @notice Test base: deploys a REAL Safe 1.4.1 (singleton + proxy factory from the npm artifacts) with one owner
///         whose key the test knows, and optionally a REAL Uniswap v3 (factory, WETH9, SwapRouter).
abstract contract HMSafeBase is Test {
    string internal constant SAFE_ART = "../node_modules/@safe-global/safe-contracts/build/artifacts/contracts/";
    uint256 internal constant OWNER_PK = 0xA11CE;
    address internal owner;
    IHMSafeOwnerSide internal safeAcct;

    function _deployArtifact(string memory path, bytes memory args) internal returns (address deployed) {
        bytes memory code = abi.encodePacked(vm.parseJsonBytes(vm.readFile(path), ".bytecode"), args);
        assembly {
            deployed := create(0, add(code, 0x20), mload(code))
        }
        require(deployed != address(0) && deployed.code.length > 0, "artifact deploy failed");
    }

    function _deploySafe() internal returns (address) {
        owner = vm.addr(OWNER_PK);
        address singleton = _deployArtifact(string.concat(SAFE_ART, "Safe.sol/Safe.json"), "");
        address factory =
            _deployArtifact(string.concat(SAFE_ART, "proxies/SafeProxyFactory.sol/SafeProxyFactory.json"), "");
        address[] memory owners = new address[](1);
        owners[0] = owner;
        bytes memory init = abi.encodeCall(
            IHMSafeOwnerSide.setup, (owners, 1, address(0), "", address(0), address(0), 0, payable(address(0)))
        );
        safeAcct = IHMSafeOwnerSide(IHMSafeProxyFactory(factory).createProxyWithNonce(singleton, init, 1));
        return address(safeAcct);
    }

    /// @dev Owner-signed `execTransaction` (Call, no refund). Returns the Safe's result (it reverts GS013 on
    ///      an inner failure when safeTxGas = gasPrice = 0).
    function _safeExec(address to, bytes memory data) internal returns (bool) {
        bytes32 h = safeAcct.getTransactionHash(to, 0, data, 0, 0, 0, 0, address(0), address(0), safeAcct.nonce());
        (uint8 v, bytes32 r, bytes32 s) = vm.sign(OWNER_PK, h);
        return
            safeAcct.execTransaction(
                to, 0, data, 0, 0, 0, 0, address(0), payable(address(0)), abi.encodePacked(r, s, v)
            );
    }

    // ------------------------------------------------------------------ Uniswap v3

    function _deployUniswap() internal returns (address factory, address router) {
        factory = _deployArtifact(
            "../node_modules/@uniswap/v3-core/artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json", ""
        );
        address weth = _deployArtifact("../node_modules/canonical-weth/build/contracts/WETH9.json", "");
        router = _deployArtifact(
            "../node_modules/@uniswap/v3-periphery/artifacts/contracts/SwapRouter.sol/SwapRouter.json",
            abi.encode(factory, weth)
        );
    }

    /// @dev Create and initialize a pool at the USD prices given (usd wad per whole token), full-range liquidity.
    function _createPool(
        address factory,
        HMToken a,
        HMToken b,
        uint24 fee,
        int24 spacing,
        uint256 priceA,
        uint256 priceB,
        uint128 liquidity
    ) internal returns (address pool) {
        pool = IHMUniV3Factory(factory).createPool(address(a), address(b), fee);
        (HMToken t0, HMToken t1, uint256 p0, uint256 p1) =
            address(a) < address(b) ? (a, b, priceA, priceB) : (b, a, priceB, priceA);
        // raw token1 per raw token0 = (p0 / p1) * 10^dec1 / 10^dec0; sqrtPriceX96 = sqrt(ratio * 2^192)
        uint256 num = p0 * 10 ** t1.decimals();
        uint256 den = p1 * 10 ** t0.decimals();
        uint256 sqrtP = Math.sqrt(Math.mulDiv(num, 1 << 192, den));
        IHMUniV3Pool(pool).initialize(uint160(sqrtP));
        HMUniV3LiquidityHelper helper = new HMUniV3LiquidityHelper();
        helper.addFullRange(pool, spacing, liquidity);
    }
}
