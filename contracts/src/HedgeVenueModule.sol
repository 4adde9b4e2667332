// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {ISafe, Enum} from "./interfaces/ISafe.sol";
import {IAavePool} from "./interfaces/IAavePool.sol";
import {PoolKey, IUniversalRouter, IPermit2, IWETH} from "./interfaces/IUniswapV4.sol";
import {HedgeOracle} from "./libraries/HedgeOracle.sol";
import {IHedgeModule} from "./IHedgeModule.sol";

/// @title HedgeVenueModule
/// @notice A second Safe module, beside the HedgeModule on the same Safe, that lets the keeper key hedge through
///         Uniswap v4 (UniversalRouter, single-hop exact input) and Aave v3 (supply, withdraw, variable borrow,
///         repay, borrow-and-sell, buy-and-repay). It has no caps or budgets of its own: every action books its
///         notional and its loss at the oracle in the HedgeModule (`bookVenueTrade`, called through the Safe), so
///         the per-trade cap, the window cap and both loss budgets are shared with v3 swaps and perps. The
///         HedgeModule's keeper, pause, token feeds, slippage bound and sequencer feed apply here too.
/// @dev Why a second module: the HedgeModule's runtime code is within a few bytes of EIP-170. Every external
///      call the keeper can cause has a fixed shape built here; the Safe's owners set every address.
contract HedgeVenueModule is ReentrancyGuard {
    using EnumerableSet for EnumerableSet.AddressSet;
    using EnumerableSet for EnumerableSet.Bytes32Set;

    /// @notice An allowed Aave reserve and its tokens (read from the pool when allowed).
    struct ReserveParams {
        address asset;
        address aToken;
        address variableDebtToken;
    }

    /// @notice Every parameter (`params()`); lists sorted ascending (pool keys by pool id).
    struct Params {
        bytes32 version;
        uint256 chainId;
        address module;
        address safe;
        address hedgeModule;
        address weth;
        address universalRouter;
        address permit2;
        address aavePool;
        uint256 minHealthFactor;
        PoolKey[] poolKeys;
        address[] hooks;
        ReserveParams[] reserves;
    }

    /// @notice Aave's action kinds, as `AaveAction` reports them.
    enum Action {
        Supply,
        Withdraw,
        Borrow,
        Repay
    }

    uint256 internal constant BPS = 10_000;
    uint256 internal constant VARIABLE_RATE = 2;
    bytes1 internal constant V4_SWAP = 0x10; // UniversalRouter command
    uint8 internal constant SWAP_EXACT_IN_SINGLE = 0x06; // v4-periphery Actions
    uint8 internal constant SETTLE_ALL = 0x0c;
    uint8 internal constant TAKE_ALL = 0x0f;
    /// @notice The lowest minimum health factor the owners may set (1.0 is liquidation), wad.
    uint256 public constant MIN_HEALTH_FACTOR_FLOOR = 1.01e18;
    /// @notice Most pool keys, hooks and reserves each list holds.
    uint256 public constant MAX_LIST_LENGTH = 16;
    /// @notice v4's dynamic-fee flag (only a hooked pool may use it).
    uint24 public constant DYNAMIC_FEE_FLAG = 0x800000;
    /// @notice Version tag of `params()`.
    bytes32 public constant PARAMS_VERSION = keccak256("HedgeVenueModule.params.v1");

    /// @notice The HedgeModule whose caps, budgets, keeper, pause and feeds apply.
    IHedgeModule public immutable hedgeModule;
    /// @notice Its Safe.
    address public immutable safe;
    /// @notice Wrapped native token: native ETH (currency 0 in v4) is priced with its feed, and Aave's WETH
    ///         is unwrapped / wrapped for a native pool.
    address public immutable weth;
    /// @notice UniversalRouter (0 = v4 swaps off).
    address public universalRouter;
    /// @notice Permit2, through which the router pulls ERC20 input.
    address public permit2;
    /// @notice Aave v3 Pool (0 = Aave off).
    address public aavePool;
    /// @notice Health factor (wad) the Safe must keep after every borrow and withdraw (0 = both refused).
    uint256 public minHealthFactor;
    mapping(bytes32 => PoolKey) internal _keys;
    mapping(address => ReserveParams) internal _reserves;
    EnumerableSet.Bytes32Set internal _keySet;
    EnumerableSet.AddressSet internal _hookSet;
    EnumerableSet.AddressSet internal _reserveSet;

    event UniversalRouterSet(address router, address permit2);
    event AavePoolSet(address pool);
    event MinHealthFactorSet(uint256 minHealthFactor);
    event HooksSet(address indexed hooks, bool allowed);
    event PoolKeySet(bytes32 indexed poolId, PoolKey key, bool allowed);
    event ReserveSet(address indexed asset, address aToken, address variableDebtToken, bool allowed);
    /// @notice A v4 swap (amounts raw; notional and prices usd wad).
    event V4HedgeExecuted(
        bytes32 indexed poolId,
        bool zeroForOne,
        uint256 amountIn,
        uint256 amountOut,
        uint256 notionalUsd,
        uint256 priceInUsd,
        uint256 priceOutUsd
    );
    /// @notice An Aave action on `asset` (amount raw; health factor wad after it).
    event AaveAction(Action indexed action, address indexed asset, uint256 amount, uint256 healthFactor);

    error NotSafe(address caller);
    error NotKeeper(address caller);
    error Paused();
    error ZeroAddress();
    error ZeroAmount();
    error AmountTooLarge(uint256 amount);
    error ListFull();
    error DeadlineExpired(uint256 deadline, uint256 nowTs);
    error RouterNotSet();
    error AavePoolNotSet();
    error InvalidPoolKey();
    error HooksNotAllowed(address hooks);
    error PoolKeyNotAllowed(bytes32 poolId);
    error ReserveNotAllowed(address asset);
    error ReserveNotFound(address asset);
    error TokenNotAllowed(address currency);
    error MinOutBelowOracleBound(uint256 amountOutMinimum, uint256 oracleBound);
    error OutputBelowMinimum(uint256 received, uint256 amountOutMinimum);
    error InputOverspent(uint256 spent, uint256 amountIn);
    error InvalidHealthFactor(uint256 minHealthFactor);
    error MinHealthFactorNotSet();
    error HealthFactorTooLow(uint256 healthFactor, uint256 minHealthFactor);
    error WrongCurrency(address currency, address asset);
    error SafeCallReverted(address target, bytes reason);
    error CallFailed(address target, bytes reason);

    modifier onlySafe() {
        if (msg.sender != safe) revert NotSafe(msg.sender);
        _;
    }

    modifier onlyActiveKeeper() {
        if (msg.sender != hedgeModule.keeper()) revert NotKeeper(msg.sender);
        if (hedgeModule.paused()) revert Paused();
        _;
    }

    /// @param hedgeModule_ The HedgeModule (its Safe becomes this module's Safe).
    /// @param weth_ The wrapped native token.
    constructor(IHedgeModule hedgeModule_, address weth_) {
        if (address(hedgeModule_) == address(0) || weth_ == address(0)) revert ZeroAddress();
        hedgeModule = hedgeModule_;
        safe = hedgeModule_.safe();
        weth = weth_;
    }

    // ------------------------------------------------------------------ configuration (Safe only)

    /// @notice Set the UniversalRouter and Permit2 (router 0 = v4 swaps off).
    function setUniversalRouter(address router, address permit2_) external onlySafe {
        if (router == safe || router == address(this) || (router != address(0) && permit2_ == address(0))) {
            revert ZeroAddress();
        }
        (universalRouter, permit2) = (router, permit2_);
        emit UniversalRouterSet(router, permit2_);
    }

    /// @notice Set the Aave v3 Pool (0 = Aave off). Reserves allowed under another pool must be allowed again.
    function setAavePool(address pool) external onlySafe {
        for (uint256 i = _reserveSet.length(); i > 0; --i) {
            address a = _reserveSet.at(i - 1);
            delete _reserves[a];
            _reserveSet.remove(a);
        }
        aavePool = pool;
        emit AavePoolSet(pool);
    }

    /// @notice Set the health factor (wad, >= MIN_HEALTH_FACTOR_FLOOR) every borrow and withdraw must leave.
    function setMinHealthFactor(uint256 hf) external onlySafe {
        if (hf < MIN_HEALTH_FACTOR_FLOOR) revert InvalidHealthFactor(hf);
        minHealthFactor = hf;
        emit MinHealthFactorSet(hf);
    }

    /// @notice Allow or disallow a hooks contract; a pool key with hooks != 0 is usable only while its hooks are.
    function setHooksAllowed(address hooks, bool allowed) external onlySafe {
        if (hooks == address(0)) revert ZeroAddress();
        if (allowed) _add(_hookSet, hooks);
        else _hookSet.remove(hooks);
        emit HooksSet(hooks, allowed);
    }

    /// @notice Allow or disallow a v4 pool key. Sorted currencies (native ETH = 0 first), a static fee < 100 %
    ///         or the dynamic-fee flag with hooks, a positive tick spacing; hooks must be allowed first.
    function setPoolKeyAllowed(PoolKey calldata key, bool allowed) external onlySafe {
        bytes32 id = poolId(key);
        if (!allowed) {
            delete _keys[id];
            _keySet.remove(id);
            emit PoolKeySet(id, key, false);
            return;
        }
        bool staticFee = key.fee < 1_000_000;
        if (
            key.currency0 >= key.currency1 || key.tickSpacing <= 0
                || !(staticFee || (key.fee == DYNAMIC_FEE_FLAG && key.hooks != address(0)))
        ) revert InvalidPoolKey();
        if (key.hooks != address(0) && !_hookSet.contains(key.hooks)) revert HooksNotAllowed(key.hooks);
        if (_keySet.add(id) && _keySet.length() > MAX_LIST_LENGTH) revert ListFull();
        _keys[id] = key;
        emit PoolKeySet(id, key, true);
    }

    /// @notice Allow or disallow an Aave reserve (its aToken and variable debt token are read from the pool).
    function setReserveAllowed(address asset, bool allowed) external onlySafe {
        if (!allowed) {
            delete _reserves[asset];
            _reserveSet.remove(asset);
            emit ReserveSet(asset, address(0), address(0), false);
            return;
        }
        address pool = aavePool;
        if (pool == address(0)) revert AavePoolNotSet();
        IAavePool.ReserveData memory d = IAavePool(pool).getReserveData(asset);
        if (d.aTokenAddress == address(0) || d.variableDebtTokenAddress == address(0)) revert ReserveNotFound(asset);
        _add(_reserveSet, asset);
        _reserves[asset] = ReserveParams(asset, d.aTokenAddress, d.variableDebtTokenAddress);
        emit ReserveSet(asset, d.aTokenAddress, d.variableDebtTokenAddress, true);
    }

    // ------------------------------------------------------------------ hedges (the HedgeModule's keeper only)

    /// @notice Swap exactly `amountIn` through an allowed v4 pool key (UniversalRouter V4_SWAP: one exact-input
    ///         hop, SETTLE_ALL, TAKE_ALL to the Safe). `amountOutMinimum` must be at least the feeds' output less
    ///         the HedgeModule's maxSlippageBps; notional and loss (value in − value out at the feeds) are booked
    ///         in the HedgeModule. Returns 0 without trading when the HedgeModule paused itself (budget left too
    ///         small for the trade's worst case).
    function hedgeV4Swap(
        PoolKey calldata key,
        bool zeroForOne,
        uint256 amountIn,
        uint256 amountOutMinimum,
        uint256 deadline
    ) external onlyActiveKeeper nonReentrant returns (uint256 amountOut) {
        uint256 notional = _checkV4(key, zeroForOne, amountIn, amountOutMinimum, deadline);
        if (!_book(notional, 0)) return 0;
        uint256 loss;
        (amountOut, loss) = _v4Swap(key, zeroForOne, amountIn, amountOutMinimum, deadline, notional);
        _book(0, loss);
    }

    /// @notice Supply `amount` of an allowed reserve's asset to Aave for the Safe.
    function aaveSupply(address asset, uint256 amount) external onlyActiveKeeper nonReentrant {
        _aaveBooked(Action.Supply, asset, amount);
    }

    /// @notice Withdraw `amount` of an allowed reserve's asset to the Safe; the health factor after must be
    ///         >= minHealthFactor.
    function aaveWithdraw(address asset, uint256 amount) external onlyActiveKeeper nonReentrant {
        _aaveBooked(Action.Withdraw, asset, amount);
    }

    /// @notice Borrow `amount` (variable rate) of an allowed reserve's asset for the Safe; the health factor
    ///         after must be >= minHealthFactor.
    function aaveBorrow(address asset, uint256 amount) external onlyActiveKeeper nonReentrant {
        _aaveBooked(Action.Borrow, asset, amount);
    }

    /// @notice Repay up to `amount` of the Safe's variable debt in an allowed reserve's asset.
    function aaveRepay(address asset, uint256 amount) external onlyActiveKeeper nonReentrant {
        _aaveBooked(Action.Repay, asset, amount);
    }

    /// @notice Borrow-and-sell, one hedge that adds short delta: borrow `amount` of `asset` (an allowed reserve)
    ///         and sell all of it through an allowed v4 pool key whose input currency is `asset` (or native ETH
    ///         when `asset` is WETH: it is unwrapped first). One notional (the sale's) and the sum of both losses
    ///         are booked; the health factor after must be >= minHealthFactor.
    function hedgeBorrowSell(
        address asset,
        uint256 amount,
        PoolKey calldata key,
        bool zeroForOne,
        uint256 amountOutMinimum,
        uint256 deadline
    ) external onlyActiveKeeper nonReentrant returns (uint256 amountOut) {
        address cin = zeroForOne ? key.currency0 : key.currency1;
        if (_asset(cin) != asset) revert WrongCurrency(cin, asset);
        uint256 notional = _checkV4(key, zeroForOne, amount, amountOutMinimum, deadline);
        if (!_book(notional, 0)) return 0;
        uint256 loss = _aave(Action.Borrow, asset, amount);
        if (cin == address(0)) _call(weth, 0, abi.encodeCall(IWETH.withdraw, (amount)));
        uint256 swapLoss;
        (amountOut, swapLoss) = _v4Swap(key, zeroForOne, amount, amountOutMinimum, deadline, notional);
        _book(0, loss + swapLoss);
    }

    /// @notice Buy-and-repay, one hedge that removes short delta: sell `amountIn` through an allowed v4 pool key
    ///         for the pool's output currency and repay the Safe's variable debt in it (WETH when the output is
    ///         native ETH: it is wrapped first), an allowed reserve. Debt left over stays; output above the debt
    ///         stays in the Safe.
    function hedgeBuyRepay(
        PoolKey calldata key,
        bool zeroForOne,
        uint256 amountIn,
        uint256 amountOutMinimum,
        uint256 deadline
    ) external onlyActiveKeeper nonReentrant returns (uint256 amountOut) {
        address cout = zeroForOne ? key.currency1 : key.currency0;
        address asset = _asset(cout);
        _reserve(asset);
        uint256 notional = _checkV4(key, zeroForOne, amountIn, amountOutMinimum, deadline);
        if (!_book(notional, 0)) return 0;
        uint256 loss;
        (amountOut, loss) = _v4Swap(key, zeroForOne, amountIn, amountOutMinimum, deadline, notional);
        if (cout == address(0)) _call(weth, amountOut, abi.encodeCall(IWETH.deposit, ()));
        loss += _aave(Action.Repay, asset, amountOut);
        _book(0, loss);
    }

    // ------------------------------------------------------------------ views

    /// @notice The v4 pool id of `key` (keccak256 of its ABI encoding, as the PoolManager computes it).
    function poolId(PoolKey calldata key) public pure returns (bytes32) {
        return keccak256(abi.encode(key));
    }

    /// @notice The oracle quote of a v4 swap: notional (usd wad, up), the feeds' output and the smallest
    ///         `amountOutMinimum` accepted (raw output units). Reverts as `hedgeV4Swap`'s checks.
    function quoteV4Swap(PoolKey calldata key, bool zeroForOne, uint256 amountIn)
        external
        view
        returns (uint256 notionalUsd, uint256 expectedOut, uint256 minAmountOut)
    {
        (notionalUsd, expectedOut,,) = _quoteV4(key, zeroForOne, amountIn);
        minAmountOut = _minOut(expectedOut);
    }

    /// @notice Every parameter; see `Params`.
    function params() public view returns (Params memory p) {
        (p.version, p.chainId, p.module, p.safe) = (PARAMS_VERSION, block.chainid, address(this), safe);
        (p.hedgeModule, p.weth, p.universalRouter, p.permit2) = (address(hedgeModule), weth, universalRouter, permit2);
        (p.aavePool, p.minHealthFactor) = (aavePool, minHealthFactor);
        bytes32[] memory ids = _keySet.values();
        _sort(ids);
        p.poolKeys = new PoolKey[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            p.poolKeys[i] = _keys[ids[i]];
        }
        p.hooks = _sortedAddresses(_hookSet.values());
        address[] memory rs = _sortedAddresses(_reserveSet.values());
        p.reserves = new ReserveParams[](rs.length);
        for (uint256 i; i < rs.length; ++i) {
            p.reserves[i] = _reserves[rs[i]];
        }
    }

    /// @notice keccak256(abi.encode(params())).
    function paramsHash() external view returns (bytes32) {
        return keccak256(abi.encode(params()));
    }

    /// @notice Whether `key` is allowed now (its hooks, if any, still allowed).
    function isPoolKeyAllowed(PoolKey calldata key) external view returns (bool) {
        return _allowedKey(key);
    }

    /// @notice The allowed reserve's tokens (all 0 when not allowed).
    function reserve(address asset) external view returns (ReserveParams memory) {
        return _reserves[asset];
    }

    // ------------------------------------------------------------------ internals: v4

    function _allowedKey(PoolKey calldata key) internal view returns (bool) {
        bytes32 id = poolId(key);
        return _keySet.contains(id) && (key.hooks == address(0) || _hookSet.contains(key.hooks));
    }

    /// @dev Every check of a v4 swap before it is booked; returns its notional (usd wad).
    function _checkV4(PoolKey calldata key, bool zeroForOne, uint256 amountIn, uint256 minOut, uint256 deadline)
        internal
        view
        returns (uint256 notional)
    {
        if (universalRouter == address(0)) revert RouterNotSet();
        if (deadline < block.timestamp) revert DeadlineExpired(deadline, block.timestamp);
        uint256 expectedOut;
        (notional, expectedOut,,) = _quoteV4(key, zeroForOne, amountIn);
        uint256 bound = _minOut(expectedOut);
        if (minOut < bound) revert MinOutBelowOracleBound(minOut, bound);
    }

    function _quoteV4(PoolKey calldata key, bool zeroForOne, uint256 amountIn)
        internal
        view
        returns (uint256 notional, uint256 expectedOut, uint256 priceIn, uint256 priceOut)
    {
        if (!_allowedKey(key)) {
            bytes32 id = poolId(key);
            if (key.hooks != address(0) && _keySet.contains(id)) revert HooksNotAllowed(key.hooks);
            revert PoolKeyNotAllowed(id);
        }
        if (amountIn == 0) revert ZeroAmount();
        if (amountIn > type(uint128).max) revert AmountTooLarge(amountIn);
        (address cin, address cout) = zeroForOne ? (key.currency0, key.currency1) : (key.currency1, key.currency0);
        uint8 decIn;
        uint8 decOut;
        (priceIn, decIn) = _price(cin);
        (priceOut, decOut) = _price(cout);
        notional = Math.mulDiv(amountIn, priceIn, 10 ** decIn, Math.Rounding.Ceil);
        expectedOut = Math.mulDiv(amountIn, priceIn * 10 ** decOut, priceOut * 10 ** decIn, Math.Rounding.Ceil);
    }

    function _minOut(uint256 expectedOut) internal view returns (uint256) {
        return Math.mulDiv(expectedOut, BPS - hedgeModule.maxSlippageBps(), BPS, Math.Rounding.Ceil);
    }

    /// @dev Execute the swap the checks passed; returns the output and the loss at the feeds (usd wad).
    function _v4Swap(
        PoolKey calldata key,
        bool zeroForOne,
        uint256 amountIn,
        uint256 minOut,
        uint256 deadline,
        uint256 notional
    ) internal returns (uint256 amountOut, uint256 loss) {
        uint256 spent;
        (spent, amountOut) = _routerSwap(key, zeroForOne, amountIn, minOut, deadline);
        (address cin, address cout) = zeroForOne ? (key.currency0, key.currency1) : (key.currency1, key.currency0);
        uint256 priceIn;
        uint256 priceOut;
        (loss, priceIn, priceOut) = _swapLoss(cin, cout, spent, amountOut);
        emit V4HedgeExecuted(poolId(key), zeroForOne, amountIn, amountOut, notional, priceIn, priceOut);
    }

    /// @dev value(spent) − value(out) at the feeds (usd wad, 0 when positive), and both prices.
    function _swapLoss(address cin, address cout, uint256 spent, uint256 amountOut)
        internal
        view
        returns (uint256 loss, uint256 priceIn, uint256 priceOut)
    {
        uint8 decIn;
        uint8 decOut;
        (priceIn, decIn) = _price(cin);
        (priceOut, decOut) = _price(cout);
        uint256 valueIn = Math.mulDiv(spent, priceIn, 10 ** decIn, Math.Rounding.Ceil);
        uint256 valueOut = Math.mulDiv(amountOut, priceOut, 10 ** decOut);
        loss = valueIn > valueOut ? valueIn - valueOut : 0;
    }

    /// @dev The Safe calls UniversalRouter.execute(V4_SWAP: SWAP_EXACT_IN_SINGLE, SETTLE_ALL, TAKE_ALL): ERC20
    ///      input through exact Permit2 allowances valid this block and reset after, native input as value.
    function _routerSwap(PoolKey calldata key, bool zeroForOne, uint256 amountIn, uint256 minOut, uint256 deadline)
        internal
        returns (uint256 spent, uint256 amountOut)
    {
        (address cin, address cout) = zeroForOne ? (key.currency0, key.currency1) : (key.currency1, key.currency0);
        uint256 inBefore = _balance(cin);
        uint256 outBefore = _balance(cout);
        _routerCall(key, zeroForOne, amountIn, minOut, deadline, cin, cout);
        spent = inBefore - Math.min(inBefore, _balance(cin));
        if (spent > amountIn) revert InputOverspent(spent, amountIn);
        uint256 outAfter = _balance(cout);
        amountOut = outAfter > outBefore ? outAfter - outBefore : 0;
        if (amountOut < minOut) revert OutputBelowMinimum(amountOut, minOut);
    }

    function _routerCall(
        PoolKey calldata key,
        bool zeroForOne,
        uint256 amountIn,
        uint256 minOut,
        uint256 deadline,
        address cin,
        address cout
    ) internal {
        address router = universalRouter;
        if (cin != address(0)) {
            _approve(cin, permit2, amountIn);
            _call(permit2, 0, abi.encodeCall(IPermit2.approve, (cin, router, uint160(amountIn), uint48(0))));
        }
        bytes[] memory actionParams = new bytes[](3);
        actionParams[0] = abi.encode(
            IUniversalRouter.ExactInputSingleParams(key, zeroForOne, uint128(amountIn), uint128(minOut), "")
        );
        actionParams[1] = abi.encode(cin, amountIn);
        actionParams[2] = abi.encode(cout, minOut);
        bytes[] memory inputs = new bytes[](1);
        inputs[0] = abi.encode(abi.encodePacked(SWAP_EXACT_IN_SINGLE, SETTLE_ALL, TAKE_ALL), actionParams);
        _call(
            router,
            cin == address(0) ? amountIn : 0,
            abi.encodeCall(IUniversalRouter.execute, (abi.encodePacked(V4_SWAP), inputs, deadline))
        );
        if (cin != address(0)) {
            _approve(cin, permit2, 0);
            _call(permit2, 0, abi.encodeCall(IPermit2.approve, (cin, router, uint160(0), uint48(0))));
        }
    }

    // ------------------------------------------------------------------ internals: Aave

    /// @dev One booked Aave action: notional = amount at the feed; loss = the drop of the Safe's net position in
    ///      the reserve (wallet + aToken − variable debt) at the feed.
    function _aaveBooked(Action action, address asset, uint256 amount) internal {
        _reserve(asset);
        if (amount == 0) revert ZeroAmount();
        if (amount > type(uint128).max) revert AmountTooLarge(amount);
        HedgeOracle.checkSequencer(hedgeModule.sequencerFeed(), hedgeModule.sequencerGraceSeconds());
        (uint256 price, uint8 dec) = _price(asset);
        if (!_book(Math.mulDiv(amount, price, 10 ** dec, Math.Rounding.Ceil), 0)) return;
        _book(0, _aave(action, asset, amount));
    }

    /// @dev Run one Aave action for the Safe; returns its loss (usd wad). Borrow and withdraw check the health
    ///      factor after.
    function _aave(Action action, address asset, uint256 amount) internal returns (uint256 loss) {
        ReserveParams memory r = _reserve(asset);
        address pool = aavePool;
        bool risky = action == Action.Borrow || action == Action.Withdraw;
        if (risky && minHealthFactor == 0) revert MinHealthFactorNotSet();
        int256 before = _net(r);
        if (action == Action.Supply) {
            _approve(asset, pool, amount);
            _call(pool, 0, abi.encodeCall(IAavePool.supply, (asset, amount, safe, 0)));
            _approve(asset, pool, 0);
        } else if (action == Action.Withdraw) {
            _call(pool, 0, abi.encodeCall(IAavePool.withdraw, (asset, amount, safe)));
        } else if (action == Action.Borrow) {
            _call(pool, 0, abi.encodeCall(IAavePool.borrow, (asset, amount, VARIABLE_RATE, 0, safe)));
        } else {
            _approve(asset, pool, amount);
            _call(pool, 0, abi.encodeCall(IAavePool.repay, (asset, amount, VARIABLE_RATE, safe)));
            _approve(asset, pool, 0);
        }
        (,,,,, uint256 hf) = IAavePool(pool).getUserAccountData(safe);
        if (risky && hf < minHealthFactor) revert HealthFactorTooLow(hf, minHealthFactor);
        int256 afterNet = _net(r);
        if (afterNet < before) {
            (uint256 price, uint8 dec) = _price(asset);
            loss = Math.mulDiv(uint256(before - afterNet), price, 10 ** dec, Math.Rounding.Ceil);
        }
        emit AaveAction(action, asset, amount, hf);
    }

    function _reserve(address asset) internal view returns (ReserveParams memory r) {
        if (aavePool == address(0)) revert AavePoolNotSet();
        r = _reserves[asset];
        if (r.aToken == address(0)) revert ReserveNotAllowed(asset);
    }

    /// @dev The Safe's net position in a reserve, raw units: wallet + aToken − variable debt.
    function _net(ReserveParams memory r) internal view returns (int256) {
        return int256(IERC20(r.asset).balanceOf(safe)) + int256(IERC20(r.aToken).balanceOf(safe))
            - int256(IERC20(r.variableDebtToken).balanceOf(safe));
    }

    // ------------------------------------------------------------------ internals: shared

    /// @dev The token a currency is priced as (native ETH as WETH).
    function _asset(address currency) internal view returns (address) {
        return currency == address(0) ? weth : currency;
    }

    /// @dev The HedgeModule's feed price (usd wad) and decimals of a currency; the sequencer is checked first.
    function _price(address currency) internal view returns (uint256 price, uint8 decimals) {
        (address feed, uint256 maxAge, uint8 dec, bool allowed) = hedgeModule.tokenConfig(_asset(currency));
        if (!allowed) revert TokenNotAllowed(currency);
        HedgeOracle.checkSequencer(hedgeModule.sequencerFeed(), hedgeModule.sequencerGraceSeconds());
        return (HedgeOracle.priceUsd(feed, maxAge), dec);
    }

    function _balance(address currency) internal view returns (uint256) {
        return currency == address(0) ? safe.balance : IERC20(currency).balanceOf(safe);
    }

    /// @dev Book in the HedgeModule through the Safe (its `onlySafe`); see IHedgeModule.bookVenueTrade.
    function _book(uint256 notional, uint256 loss) internal returns (bool) {
        bytes memory ret = _call(address(hedgeModule), 0, abi.encodeCall(IHedgeModule.bookVenueTrade, (notional, loss)));
        return abi.decode(ret, (bool));
    }

    /// @dev Safe executes `token.approve(spender, amount)` (resetting a non-zero allowance first: USDT-style).
    function _approve(address token, address spender, uint256 amount) internal {
        if (amount != 0 && IERC20(token).allowance(safe, spender) != 0) _approve(token, spender, 0);
        bytes memory ret = _call(token, 0, abi.encodeCall(IERC20.approve, (spender, amount)));
        if (ret.length != 0 && (ret.length != 32 || abi.decode(ret, (uint256)) != 1)) revert CallFailed(token, ret);
    }

    /// @dev The Safe executes `to.call{value}(data)`; reverts with the inner reason when it fails.
    function _call(address to, uint256 value, bytes memory data) internal returns (bytes memory ret) {
        bool ok;
        try ISafe(safe).execTransactionFromModuleReturnData(to, value, data, Enum.Operation.Call) returns (
            bool s, bytes memory r
        ) {
            (ok, ret) = (s, r);
        } catch (bytes memory reason) {
            revert SafeCallReverted(to, reason);
        }
        if (!ok) {
            if (to == address(hedgeModule)) _bubble(ret); // the budget's own error, for the keeper to decode
            revert CallFailed(to, ret);
        }
    }

    function _bubble(bytes memory ret) internal pure {
        assembly ("memory-safe") {
            revert(add(ret, 32), mload(ret))
        }
    }

    function _add(EnumerableSet.AddressSet storage set, address a) internal {
        if (set.add(a) && set.length() > MAX_LIST_LENGTH) revert ListFull();
    }

    function _sortedAddresses(address[] memory list) internal pure returns (address[] memory) {
        bytes32[] memory words;
        assembly ("memory-safe") {
            words := list
        }
        _sort(words);
        return list;
    }

    /// @dev Insertion sort in place (lists hold <= MAX_LIST_LENGTH entries).
    function _sort(bytes32[] memory list) internal pure {
        for (uint256 i = 1; i < list.length; ++i) {
            bytes32 v = list[i];
            uint256 j = i;
            for (; j > 0 && list[j - 1] > v; --j) {
                list[j] = list[j - 1];
            }
            list[j] = v;
        }
    }
}
