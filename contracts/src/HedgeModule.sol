// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SignedMath} from "@openzeppelin/contracts/utils/math/SignedMath.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {EnumerableSet} from "@openzeppelin/contracts/utils/structs/EnumerableSet.sol";
import {AggregatorV3Interface} from "./interfaces/AggregatorV3Interface.sol";
import {IPerpMarket} from "./interfaces/IPerpMarket.sol";
import {ISafe, Enum} from "./interfaces/ISafe.sol";
import {ISwapRouter} from "./interfaces/ISwapRouter.sol";
import {HedgeOracle} from "./libraries/HedgeOracle.sol";
import {HedgeTwap} from "./libraries/HedgeTwap.sol";
import {IHedgeModule} from "./IHedgeModule.sol";

/// @notice The Uniswap v3 factory's pool registry.
interface IUniswapV3FactoryPools {
    function getPool(address tokenA, address tokenB, uint24 fee) external view returns (address pool);
}

/// @title HedgeModule
/// @notice The Safe module that bounds what a keeper key can do with the Safe's funds: see `IHedgeModule` for what
///         it does, its units and every bound (the NatSpec lives there).
contract HedgeModule is IHedgeModule, ReentrancyGuard {
    using EnumerableSet for EnumerableSet.AddressSet;

    struct TokenConfig {
        address feed;
        uint32 maxFeedAge;
        uint8 decimals;
        bool allowed;
    }

    struct MarketConfig {
        address feed;
        uint32 maxFeedAge;
        uint8 quoteDecimals;
        bool allowed;
    }

    struct PoolConfig {
        address token0;
        address token1;
        uint24 fee;
    }

    /// @dev One time bucket of the rolling window: notional and loss in usd wad (< 2^112 each, see MAX_NOTIONAL_USD).
    struct Bucket {
        uint32 epoch;
        uint112 notionalUsd;
        uint112 lossUsd;
    }

    /// @dev A swap's notional and the feed prices it was valued at, usd wad.
    struct SwapQuote {
        uint256 notional;
        uint256 priceIn;
        uint256 priceOut;
    }

    /// @inheritdoc IHedgeModule
    uint256 public constant BPS = 10_000;
    /// @inheritdoc IHedgeModule
    uint256 public constant MAX_SLIPPAGE_BPS_CEILING = 1_000;
    /// @inheritdoc IHedgeModule
    uint256 public constant MAX_WINDOW_SECONDS = 30 days;
    /// @inheritdoc IHedgeModule
    uint256 public constant MAX_FEED_AGE = 1 days;
    /// @inheritdoc IHedgeModule
    uint256 public constant MAX_NOTIONAL_USD = 1e33;
    /// @inheritdoc IHedgeModule
    uint256 public constant MAX_PRICE_USD = 1e36;
    /// @inheritdoc IHedgeModule
    uint256 public constant MAX_DECIMALS = 36;
    /// @inheritdoc IHedgeModule
    uint256 public constant WINDOW_BUCKETS = 32;
    /// @inheritdoc IHedgeModule
    uint256 public constant MAX_LIST_LENGTH = 16;
    /// @inheritdoc IHedgeModule
    uint256 public constant MIN_TWAP_SECONDS = 60;
    /// @inheritdoc IHedgeModule
    uint256 public constant MAX_TWAP_SECONDS = 1 days;
    /// @inheritdoc IHedgeModule
    uint256 public constant MAX_SEQUENCER_GRACE = 1 days;
    /// @inheritdoc IHedgeModule
    bytes32 public constant PARAMS_VERSION = keccak256("HedgeModule.params.v2");
    uint256 internal constant RING = WINDOW_BUCKETS + 1;

    /// @inheritdoc IHedgeModule
    address public immutable safe;
    /// @inheritdoc IHedgeModule
    address public keeper;
    /// @inheritdoc IHedgeModule
    address public guardian;
    /// @inheritdoc IHedgeModule
    address public router;
    /// @inheritdoc IHedgeModule
    address public factory;
    /// @inheritdoc IHedgeModule
    bool public paused;
    /// @inheritdoc IHedgeModule
    uint256 public maxNotionalPerTradeUsd;
    /// @inheritdoc IHedgeModule
    uint256 public maxNotionalPerWindowUsd;
    /// @inheritdoc IHedgeModule
    uint256 public windowSeconds;
    /// @inheritdoc IHedgeModule
    uint256 public maxSlippageBps;
    /// @inheritdoc IHedgeModule
    uint256 public lossBudgetWindowUsd;
    /// @inheritdoc IHedgeModule
    uint256 public lossBudgetTotalUsd;
    /// @inheritdoc IHedgeModule
    uint256 public lossTotalUsd;
    /// @inheritdoc IHedgeModule
    uint256 public twapSeconds;
    /// @inheritdoc IHedgeModule
    uint256 public perpMinMarginBps;
    /// @inheritdoc IHedgeModule
    address public sequencerFeed;
    /// @inheritdoc IHedgeModule
    uint256 public sequencerGraceSeconds;
    /// @inheritdoc IHedgeModule
    mapping(address => uint256) public perpMaxAbsSize;
    /// @inheritdoc IHedgeModule
    mapping(bytes32 => address) public poolFor;
    mapping(address => TokenConfig) internal _tokens;
    mapping(address => MarketConfig) internal _markets;
    mapping(address => PoolConfig) internal _pools;
    /// @dev The allowed tokens, markets and pools (each at most MAX_LIST_LENGTH).
    EnumerableSet.AddressSet internal _tokenSet;
    EnumerableSet.AddressSet internal _marketSet;
    EnumerableSet.AddressSet internal _poolSet;
    Bucket[RING] internal _ring;
    uint256 internal _ringHead; // index of the oldest stored bucket
    uint256 internal _ringCount; // stored buckets (live or not yet pruned)
    uint256 internal _ringNotional; // usd wad, sum of stored buckets
    uint256 internal _ringLoss; // usd wad, sum of stored buckets

    modifier onlySafe() {
        if (msg.sender != safe) revert NotSafe(msg.sender);
        _;
    }

    modifier onlyActiveKeeper() {
        if (msg.sender != keeper) revert NotKeeper(msg.sender);
        if (paused) revert Paused();
        _;
    }

    /// @notice All limits and budgets start at 0, so every hedge reverts until the Safe configures them.
    /// @param safe_ The Safe (1.4.x) this module is enabled on.
    /// @param keeper_ The hedging key (0 = none).
    /// @param guardian_ A key that may only pause and reduce perp positions (0 = none).
    constructor(address safe_, address keeper_, address guardian_) {
        if (safe_ == address(0)) revert ZeroAddress();
        safe = safe_;
        keeper = keeper_;
        guardian = guardian_;
        emit KeeperSet(address(0), keeper_);
        emit GuardianSet(address(0), guardian_);
    }

    // ------------------------------------------------------------------ configuration (Safe only)

    /// @inheritdoc IHedgeModule
    function setKeeper(address newKeeper) external onlySafe {
        emit KeeperSet(keeper, newKeeper);
        keeper = newKeeper;
    }

    /// @inheritdoc IHedgeModule
    function setGuardian(address newGuardian) external onlySafe {
        emit GuardianSet(guardian, newGuardian);
        guardian = newGuardian;
    }

    /// @inheritdoc IHedgeModule
    function setRouter(address newRouter) external onlySafe {
        if (newRouter == safe || newRouter == address(this)) revert InvalidRouter(newRouter);
        emit RouterSet(router, newRouter);
        router = newRouter;
    }

    /// @inheritdoc IHedgeModule
    function setFactory(address newFactory) external onlySafe {
        if (newFactory == address(0)) revert ZeroAddress();
        emit FactorySet(factory, newFactory);
        factory = newFactory;
    }

    /// @inheritdoc IHedgeModule
    function setPoolAllowed(address tokenA, address tokenB, uint24 fee, bool allowed) external onlySafe {
        if (fee == 0 || fee >= 1_000_000) revert InvalidFeeTier(fee);
        if (tokenA == tokenB) revert SameToken(tokenA);
        (address t0, address t1) = tokenA < tokenB ? (tokenA, tokenB) : (tokenB, tokenA);
        bytes32 key = _poolKey(t0, t1, fee);
        address current = poolFor[key];
        if (!allowed) {
            if (current != address(0)) {
                delete poolFor[key];
                delete _pools[current];
                _poolSet.remove(current);
            }
            emit PoolSet(current, t0, t1, fee, false);
            return;
        }
        if (factory == address(0)) revert FactoryNotSet();
        address pool = IUniswapV3FactoryPools(factory).getPool(t0, t1, fee);
        if (pool == address(0) || pool.code.length == 0) revert PoolNotFound(t0, t1, fee);
        _poolSet.remove(current); // re-allowed, maybe from a new factory (no-op for 0)
        delete _pools[current];
        _add(_poolSet, pool);
        poolFor[key] = pool;
        _pools[pool] = PoolConfig(t0, t1, fee);
        emit PoolSet(pool, t0, t1, fee, true);
    }

    /// @inheritdoc IHedgeModule
    function setTokenConfig(address token, address feed, uint256 maxFeedAge, bool allowed) external onlySafe {
        if (token == address(0)) revert ZeroAddress();
        bool was = _tokens[token].allowed;
        if (!allowed) {
            delete _tokens[token];
            if (was) _tokenSet.remove(token);
            emit TokenConfigSet(token, address(0), 0, 0, false);
            return;
        }
        _checkFeed(feed, maxFeedAge);
        uint8 dec = IERC20Metadata(token).decimals();
        if (dec > MAX_DECIMALS) revert InvalidDecimals(token, dec);
        if (!was) _add(_tokenSet, token);
        _tokens[token] = TokenConfig(feed, uint32(maxFeedAge), dec, true);
        emit TokenConfigSet(token, feed, maxFeedAge, dec, true);
    }

    /// @inheritdoc IHedgeModule
    function setPerpMarket(address market, address underlyingFeed, uint256 maxFeedAge, bool allowed) external onlySafe {
        if (market == address(0)) revert ZeroAddress();
        bool was = _markets[market].allowed;
        if (!allowed) {
            delete _markets[market];
            if (was) _marketSet.remove(market);
            emit PerpMarketSet(market, address(0), 0, false);
            return;
        }
        _checkFeed(underlyingFeed, maxFeedAge);
        uint8 qd = IERC20Metadata(IPerpMarket(market).quoteToken()).decimals();
        if (qd > 18) revert InvalidDecimals(market, qd);
        if (!was) _add(_marketSet, market);
        _markets[market] = MarketConfig(underlyingFeed, uint32(maxFeedAge), qd, true);
        emit PerpMarketSet(market, underlyingFeed, maxFeedAge, true);
    }

    /// @inheritdoc IHedgeModule
    function setPerpPositionLimit(address market, uint256 maxAbsSize) external onlySafe {
        perpMaxAbsSize[market] = maxAbsSize;
        emit PerpPositionLimitSet(market, maxAbsSize);
    }

    /// @inheritdoc IHedgeModule
    function setPerpMinMarginBps(uint256 bps) external onlySafe {
        if (bps > BPS) revert InvalidMarginBps(bps);
        perpMinMarginBps = bps;
        emit PerpMinMarginSet(bps);
    }

    /// @inheritdoc IHedgeModule
    function setLimits(uint256 perTradeUsd, uint256 perWindowUsd, uint256 windowSecs, uint256 slippageBps)
        external
        onlySafe
    {
        if (
            perTradeUsd == 0 || perTradeUsd > perWindowUsd || perWindowUsd > MAX_NOTIONAL_USD || windowSecs == 0
                || windowSecs > MAX_WINDOW_SECONDS || slippageBps > MAX_SLIPPAGE_BPS_CEILING
        ) revert InvalidLimits();
        if (windowSecs != windowSeconds) _clearWindow();
        maxNotionalPerTradeUsd = perTradeUsd;
        maxNotionalPerWindowUsd = perWindowUsd;
        windowSeconds = windowSecs;
        maxSlippageBps = slippageBps;
        emit LimitsSet(perTradeUsd, perWindowUsd, windowSecs, slippageBps);
    }

    /// @inheritdoc IHedgeModule
    function setLossBudgets(uint256 perWindowUsd, uint256 totalUsd) external onlySafe {
        if (perWindowUsd > totalUsd || totalUsd > MAX_NOTIONAL_USD) revert InvalidLossBudgets();
        lossBudgetWindowUsd = perWindowUsd;
        lossBudgetTotalUsd = totalUsd;
        emit LossBudgetsSet(perWindowUsd, totalUsd);
    }

    /// @inheritdoc IHedgeModule
    function resetLossTotal() external onlySafe {
        emit LossTotalReset(lossTotalUsd);
        lossTotalUsd = 0;
    }

    /// @inheritdoc IHedgeModule
    function setTwapWindow(uint256 secs) external onlySafe {
        if (secs != 0 && (secs < MIN_TWAP_SECONDS || secs > MAX_TWAP_SECONDS)) revert InvalidTwapWindow(secs);
        twapSeconds = secs;
        emit TwapWindowSet(secs);
    }

    /// @inheritdoc IHedgeModule
    function setSequencerFeed(address feed, uint256 graceSecs) external onlySafe {
        if (graceSecs > MAX_SEQUENCER_GRACE) revert InvalidSequencerGrace(graceSecs);
        sequencerFeed = feed;
        sequencerGraceSeconds = graceSecs;
        emit SequencerFeedSet(feed, graceSecs);
    }

    /// @inheritdoc IHedgeModule
    function pause() external {
        if (msg.sender != guardian && msg.sender != safe) revert NotGuardian(msg.sender);
        paused = true;
        emit ModulePaused(msg.sender);
    }

    /// @inheritdoc IHedgeModule
    function unpause() external onlySafe {
        if (!paused) revert NotPaused();
        paused = false;
        emit ModuleUnpaused(msg.sender);
    }

    // ------------------------------------------------------------------ hedges (keeper only)

    /// @inheritdoc IHedgeModule
    function hedgeSwap(
        address tokenIn,
        address tokenOut,
        uint24 fee,
        uint256 amountIn,
        uint256 amountOutMinimum,
        uint256 deadline
    ) external onlyActiveKeeper nonReentrant returns (uint256 amountOut) {
        address venue = router;
        if (venue == address(0)) revert RouterNotSet();
        if (deadline < block.timestamp) revert DeadlineExpired(deadline, block.timestamp);
        SwapQuote memory q = _checkSwap(tokenIn, tokenOut, fee, amountIn, amountOutMinimum);
        if (!_consume(q.notional)) return 0;
        uint256 spent;
        (amountOut, spent) = _executeSwap(venue, tokenIn, tokenOut, fee, amountIn, amountOutMinimum, deadline);
        uint256 valueIn = Math.mulDiv(spent, q.priceIn, 10 ** _tokens[tokenIn].decimals, Math.Rounding.Ceil);
        uint256 valueOut = Math.mulDiv(amountOut, q.priceOut, 10 ** _tokens[tokenOut].decimals);
        _chargeLoss(valueIn > valueOut ? valueIn - valueOut : 0);
        emit HedgeExecuted(venue, tokenIn, tokenOut, fee, amountIn, amountOut, q.notional, q.priceIn, q.priceOut);
    }

    /// @inheritdoc IHedgeModule
    function hedgePerp(address market, int256 sizeDelta, uint256 acceptablePrice)
        external
        onlyActiveKeeper
        nonReentrant
    {
        (uint256 notional, uint256 oraclePrice, uint256 bound) = _quotePerp(market, sizeDelta);
        if (sizeDelta > 0 ? acceptablePrice > bound : acceptablePrice < bound) {
            revert AcceptablePriceOutOfBound(acceptablePrice, bound);
        }
        uint256 limit = perpMaxAbsSize[market];
        if (limit == 0) revert PerpPositionLimitNotSet(market);
        uint256 minMargin = perpMinMarginBps;
        if (minMargin == 0) revert PerpMinMarginNotSet();
        (int256 equityBefore, int256 sizeBefore) = _perpEquity(market, oraclePrice);
        int256 expected = sizeBefore + sizeDelta;
        bool reduces = _isReduction(sizeBefore, sizeDelta);
        if (!reduces && SignedMath.abs(expected) > limit) revert PerpPositionLimitExceeded(expected, limit);
        if (!_consume(notional)) return;
        (int256 equityAfter, int256 sizeAfter) = _tradePerp(market, sizeBefore, sizeDelta, acceptablePrice, oraclePrice);
        if (!reduces) {
            uint256 required =
                Math.mulDiv(SignedMath.abs(sizeAfter), oraclePrice * minMargin, 1e18 * BPS, Math.Rounding.Ceil);
            if (equityAfter < 0 || uint256(equityAfter) < required) revert PerpMarginTooLow(equityAfter, required);
        }
        _chargeLoss(equityBefore > equityAfter ? uint256(equityBefore - equityAfter) : 0);
        emit PerpHedgeExecuted(market, sizeDelta, acceptablePrice, oraclePrice, notional, sizeAfter);
    }

    /// @inheritdoc IHedgeModule
    function guardianReducePerp(address market, int256 sizeDelta) external nonReentrant {
        if (msg.sender != guardian && msg.sender != safe) revert NotGuardian(msg.sender);
        (, uint256 oraclePrice, uint256 bound) = _quotePerp(market, sizeDelta);
        (int256 equityBefore, int256 sizeBefore) = _perpEquity(market, oraclePrice);
        if (!_isReduction(sizeBefore, sizeDelta) || SignedMath.abs(sizeDelta) > SignedMath.abs(sizeBefore)) {
            revert NotAReduction(sizeBefore, sizeDelta);
        }
        (int256 equityAfter, int256 sizeAfter) = _tradePerp(market, sizeBefore, sizeDelta, bound, oraclePrice);
        uint256 loss = equityBefore > equityAfter ? uint256(equityBefore - equityAfter) : 0;
        if (loss != 0) {
            loss = Math.min(loss, MAX_NOTIONAL_USD); // keeps the bucket within 112 bits; only records
            (, uint256 windowLoss) = _pruneAndAdd(0, loss);
            lossTotalUsd += loss;
            emit LossCharged(loss, windowLoss, lossTotalUsd);
        }
        emit GuardianPerpReduced(market, sizeDelta, sizeAfter, loss);
    }

    /// @inheritdoc IHedgeModule
    function bookVenueTrade(uint256 notionalUsd, uint256 lossUsd) external onlySafe returns (bool) {
        if (notionalUsd == 0) {
            _chargeLoss(lossUsd);
            return true;
        }
        return _consume(notionalUsd);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IHedgeModule
    function quoteSwap(address tokenIn, address tokenOut, uint24 fee, uint256 amountIn)
        external
        view
        returns (uint256 notionalUsd, uint256 expectedOut, uint256 minAmountOut)
    {
        (notionalUsd, expectedOut,,) = _quoteSwap(_allowedPool(tokenIn, tokenOut, fee), tokenIn, tokenOut, amountIn);
        minAmountOut = _minOut(expectedOut);
    }

    /// @inheritdoc IHedgeModule
    function quotePerp(address market, int256 sizeDelta)
        external
        view
        returns (uint256 notionalUsd, uint256 oraclePrice, uint256 priceBound)
    {
        return _quotePerp(market, sizeDelta);
    }

    /// @inheritdoc IHedgeModule
    function tokenConfig(address token)
        external
        view
        returns (address feed, uint256 maxFeedAge, uint8 decimals, bool allowed)
    {
        TokenConfig memory c = _tokens[token];
        return (c.feed, c.maxFeedAge, c.decimals, c.allowed);
    }

    /// @inheritdoc IHedgeModule
    function windowUsage() external view returns (uint256 notionalUsd, uint256 buckets) {
        (notionalUsd,, buckets) = _windowSums();
    }

    /// @inheritdoc IHedgeModule
    function lossUsage() external view returns (uint256 windowLossUsd, uint256 totalLossUsd) {
        (, windowLossUsd,) = _windowSums();
        totalLossUsd = lossTotalUsd;
    }

    /// @inheritdoc IHedgeModule
    function params() public view returns (Params memory p) {
        (p.version, p.chainId, p.module, p.safe) = (PARAMS_VERSION, block.chainid, address(this), safe);
        (p.keeper, p.guardian, p.router) = (keeper, guardian, router);
        (p.maxNotionalPerTradeUsd, p.maxNotionalPerWindowUsd) = (maxNotionalPerTradeUsd, maxNotionalPerWindowUsd);
        (p.windowSeconds, p.maxSlippageBps) = (windowSeconds, maxSlippageBps);
        address[] memory pls = _sorted(_poolSet.values());
        p.pools = new PoolParams[](pls.length);
        for (uint256 i; i < pls.length; ++i) {
            PoolConfig memory c = _pools[pls[i]];
            p.pools[i] = PoolParams(pls[i], c.token0, c.token1, c.fee);
        }
        address[] memory toks = _sorted(_tokenSet.values());
        p.tokens = new TokenParams[](toks.length);
        for (uint256 i; i < toks.length; ++i) {
            TokenConfig memory c = _tokens[toks[i]];
            p.tokens[i] = TokenParams(toks[i], c.feed, c.maxFeedAge, c.decimals);
        }
        address[] memory mkts = _sorted(_marketSet.values());
        p.markets = new MarketParams[](mkts.length);
        for (uint256 i; i < mkts.length; ++i) {
            MarketConfig memory c = _markets[mkts[i]];
            p.markets[i] = MarketParams(mkts[i], c.feed, c.maxFeedAge, perpMaxAbsSize[mkts[i]]);
        }
        (p.factory, p.lossBudgetWindowUsd, p.lossBudgetTotalUsd) = (factory, lossBudgetWindowUsd, lossBudgetTotalUsd);
        (p.twapSeconds, p.perpMinMarginBps) = (twapSeconds, perpMinMarginBps);
        (p.sequencerFeed, p.sequencerGraceSeconds) = (sequencerFeed, sequencerGraceSeconds);
    }

    /// @inheritdoc IHedgeModule
    function paramsHash() external view returns (bytes32) {
        return keccak256(abi.encode(params()));
    }

    // ------------------------------------------------------------------ internals: quotes

    function _poolKey(address t0, address t1, uint24 fee) internal pure returns (bytes32) {
        return keccak256(abi.encode(t0, t1, fee));
    }

    function _allowedPool(address tokenIn, address tokenOut, uint24 fee) internal view returns (address pool) {
        (address t0, address t1) = tokenIn < tokenOut ? (tokenIn, tokenOut) : (tokenOut, tokenIn);
        pool = poolFor[_poolKey(t0, t1, fee)];
        if (pool == address(0)) revert PoolNotAllowed(tokenIn, tokenOut, fee);
    }

    /// @dev The allowed pool, the oracle bound on `amountOutMinimum`; returns the notional and feed prices.
    function _checkSwap(address tokenIn, address tokenOut, uint24 fee, uint256 amountIn, uint256 amountOutMinimum)
        internal
        view
        returns (SwapQuote memory q)
    {
        uint256 expectedOut;
        (q.notional, expectedOut, q.priceIn, q.priceOut) =
            _quoteSwap(_allowedPool(tokenIn, tokenOut, fee), tokenIn, tokenOut, amountIn);
        uint256 bound = _minOut(expectedOut);
        if (amountOutMinimum < bound) revert MinOutBelowOracleBound(amountOutMinimum, bound);
    }

    /// @dev Notional (usd wad, up), the stricter expected output (raw tokenOut) and both feed prices (usd wad).
    function _quoteSwap(address pool, address tokenIn, address tokenOut, uint256 amountIn)
        internal
        view
        returns (uint256 notional, uint256 expectedOut, uint256 priceIn, uint256 priceOut)
    {
        if (amountIn == 0) revert ZeroAmount();
        if (amountIn > type(uint128).max) revert AmountTooLarge(amountIn);
        if (tokenIn == tokenOut) revert SameToken(tokenIn);
        TokenConfig memory cin = _tokens[tokenIn];
        TokenConfig memory cout = _tokens[tokenOut];
        if (!cin.allowed) revert TokenNotAllowed(tokenIn);
        if (!cout.allowed) revert TokenNotAllowed(tokenOut);
        _checkSequencer();
        priceIn = _priceUsd(cin.feed, cin.maxFeedAge);
        priceOut = _priceUsd(cout.feed, cout.maxFeedAge);
        notional = Math.mulDiv(amountIn, priceIn, 10 ** cin.decimals, Math.Rounding.Ceil);
        // oracle output = amountIn * priceIn / 10^decIn * 10^decOut / priceOut (rounded up: stricter bound)
        expectedOut =
            Math.mulDiv(amountIn, priceIn * 10 ** cout.decimals, priceOut * 10 ** cin.decimals, Math.Rounding.Ceil);
        uint256 twap = twapSeconds;
        if (twap != 0) {
            uint256 twapOut = HedgeTwap.quote(pool, uint32(twap), tokenIn, tokenOut, amountIn);
            if (twapOut > expectedOut) expectedOut = twapOut; // the stricter bound
        }
    }

    function _minOut(uint256 expectedOut) internal view returns (uint256) {
        return Math.mulDiv(expectedOut, BPS - maxSlippageBps, BPS, Math.Rounding.Ceil);
    }

    function _quotePerp(address market, int256 sizeDelta)
        internal
        view
        returns (uint256 notional, uint256 oraclePrice, uint256 bound)
    {
        MarketConfig memory m = _markets[market];
        if (!m.allowed) revert MarketNotAllowed(market);
        if (sizeDelta == 0) revert ZeroAmount();
        _checkSequencer();
        oraclePrice = _priceUsd(m.feed, m.maxFeedAge);
        notional = Math.mulDiv(SignedMath.abs(sizeDelta), oraclePrice, 1e18, Math.Rounding.Ceil);
        uint256 fee = IPerpMarket(market).takerFeeBps();
        uint256 slip = maxSlippageBps;
        if (fee > slip) revert PerpFeeAboveSlippage(fee, slip);
        bound = sizeDelta > 0
            ? Math.mulDiv(oraclePrice, BPS + slip - fee, BPS)
            : Math.mulDiv(oraclePrice, BPS - slip + fee, BPS, Math.Rounding.Ceil);
    }

    function _priceUsd(address feed, uint256 maxAge) internal view returns (uint256) {
        return HedgeOracle.priceUsd(feed, maxAge);
    }

    function _checkSequencer() internal view {
        HedgeOracle.checkSequencer(sequencerFeed, sequencerGraceSeconds);
    }

    // ------------------------------------------------------------------ internals: perps

    /// @dev True when `sizeDelta` moves `size` toward 0 without crossing it.
    function _isReduction(int256 size, int256 sizeDelta) internal pure returns (bool) {
        return size != 0 && (size > 0) != (sizeDelta > 0) && SignedMath.abs(sizeDelta) <= SignedMath.abs(size);
    }

    /// @dev The Safe's equity in `market` at `price` (usd wad): margin + (price - entry) x size. Accrued funding not
    ///      yet settled is not counted (it is counted when a trade settles it).
    function _perpEquity(address market, uint256 price) internal view returns (int256 equity, int256 size) {
        uint256 entry;
        uint256 margin;
        (size, entry, margin,) = IPerpMarket(market).positions(safe);
        uint256 scale = 10 ** (18 - uint256(_markets[market].quoteDecimals));
        equity = int256(margin * scale) + (int256(price) - int256(entry)) * size / 1e18;
    }

    function _tradePerp(address market, int256 sizeBefore, int256 sizeDelta, uint256 acceptablePrice, uint256 price)
        internal
        returns (int256 equityAfter, int256 sizeAfter)
    {
        (bool ok, bytes memory ret) =
            _exec(market, abi.encodeCall(IPerpMarket.modifyPosition, (sizeDelta, acceptablePrice)));
        if (!ok) revert PerpCallFailed(ret);
        (equityAfter, sizeAfter) = _perpEquity(market, price);
        if (sizeAfter != sizeBefore + sizeDelta) revert PerpFillMismatch(sizeBefore, sizeAfter, sizeDelta);
    }

    // ------------------------------------------------------------------ internals: budgets and window

    function _epoch() internal view returns (uint256) {
        uint256 len = Math.ceilDiv(windowSeconds, WINDOW_BUCKETS);
        return len == 0 ? 0 : block.timestamp / len;
    }

    function _live(uint256 bucketEpoch, uint256 nowEpoch) internal pure returns (bool) {
        return bucketEpoch + RING > nowEpoch;
    }

    function _windowSums() internal view returns (uint256 notional, uint256 loss, uint256 buckets) {
        uint256 e = _epoch();
        for (uint256 i; i < _ringCount; ++i) {
            Bucket memory b = _ring[(_ringHead + i) % RING];
            if (_live(b.epoch, e)) {
                (notional, loss, buckets) = (notional + b.notionalUsd, loss + b.lossUsd, buckets + 1);
            }
        }
    }

    /// @dev Before a trade: check the per-trade and window caps and record `notional` (usd wad) in the current
    ///      bucket. Then, if the total loss budget left cannot cover the trade's worst case (notional x
    ///      maxSlippageBps), take the notional back, pause (the owners must act) and return false: the caller
    ///      returns without trading.
    function _consume(uint256 notional) internal returns (bool) {
        if (notional > maxNotionalPerTradeUsd) revert TradeCapExceeded(notional, maxNotionalPerTradeUsd);
        (uint256 windowNotional,) = _pruneAndAdd(notional, 0);
        if (windowNotional > maxNotionalPerWindowUsd) {
            revert WindowCapExceeded(windowNotional - notional, notional, maxNotionalPerWindowUsd);
        }
        uint256 worstCase = Math.mulDiv(notional, maxSlippageBps, BPS, Math.Rounding.Ceil);
        uint256 spent = lossTotalUsd;
        uint256 budget = lossBudgetTotalUsd;
        if (spent + worstCase <= budget) return true;
        Bucket storage t = _ring[(_ringHead + _ringCount - 1) % RING];
        t.notionalUsd = uint112(t.notionalUsd - notional);
        _ringNotional -= notional;
        paused = true;
        emit LossBudgetSpent(spent, budget, worstCase);
        emit ModulePaused(address(this));
        return false;
    }

    /// @dev After a trade: charge its loss at the oracle (usd wad) to the window and the total, reverting if
    ///      either budget would be exceeded. The current bucket exists (`_consume` made it in this transaction).
    function _chargeLoss(uint256 loss) internal {
        if (loss == 0) return;
        uint256 windowLoss = _ringLoss + loss;
        if (windowLoss > lossBudgetWindowUsd) {
            revert WindowLossBudgetExceeded(windowLoss - loss, loss, lossBudgetWindowUsd);
        }
        uint256 total = lossTotalUsd + loss;
        if (total > lossBudgetTotalUsd) revert TotalLossBudgetExceeded(lossTotalUsd, loss, lossBudgetTotalUsd);
        Bucket storage t = _ring[(_ringHead + _ringCount - 1) % RING];
        t.lossUsd = uint112(t.lossUsd + loss); // < 2 x MAX_NOTIONAL_USD < 2^112
        (_ringLoss, lossTotalUsd) = (windowLoss, total);
        emit LossCharged(loss, windowLoss, total);
    }

    /// @dev Prune expired buckets, add (notional, loss) to the current bucket; returns the window sums after.
    ///      At most RING buckets are ever live, so the ring never overflows.
    function _pruneAndAdd(uint256 notional, uint256 loss) internal returns (uint256 sumNotional, uint256 sumLoss) {
        uint256 e = _epoch();
        uint256 head = _ringHead;
        uint256 count = _ringCount;
        (sumNotional, sumLoss) = (_ringNotional, _ringLoss);
        while (count != 0) {
            Bucket memory b = _ring[head];
            if (_live(b.epoch, e)) break;
            (sumNotional, sumLoss) = (sumNotional - b.notionalUsd, sumLoss - b.lossUsd);
            head = (head + 1) % RING;
            --count;
        }
        uint256 tail = (head + count + RING - 1) % RING;
        if (count != 0 && _ring[tail].epoch == e) {
            Bucket storage t = _ring[tail];
            (t.notionalUsd, t.lossUsd) = (uint112(t.notionalUsd + notional), uint112(t.lossUsd + loss));
        } else {
            _ring[(head + count) % RING] = Bucket(uint32(e), uint112(notional), uint112(loss));
            ++count;
        }
        (sumNotional, sumLoss) = (sumNotional + notional, sumLoss + loss);
        (_ringHead, _ringCount, _ringNotional, _ringLoss) = (head, count, sumNotional, sumLoss);
    }

    function _clearWindow() internal {
        for (uint256 i; i < RING; ++i) {
            delete _ring[i];
        }
        (_ringHead, _ringCount, _ringNotional, _ringLoss) = (0, 0, 0, 0);
    }

    // ------------------------------------------------------------------ internals: execution

    function _executeSwap(
        address venue,
        address tokenIn,
        address tokenOut,
        uint24 fee,
        uint256 amountIn,
        uint256 minOut,
        uint256 deadline
    ) internal returns (uint256 amountOut, uint256 spent) {
        uint256 inBefore = IERC20(tokenIn).balanceOf(safe);
        uint256 outBefore = IERC20(tokenOut).balanceOf(safe);
        if (IERC20(tokenIn).allowance(safe, venue) != 0) _approve(tokenIn, venue, 0); // USDT-style tokens
        _approve(tokenIn, venue, amountIn);
        // recipient is always the Safe; no price limit (the oracle-bounded minOut is the protection)
        ISwapRouter.ExactInputSingleParams memory p =
            ISwapRouter.ExactInputSingleParams(tokenIn, tokenOut, fee, safe, deadline, amountIn, minOut, 0);
        (bool ok, bytes memory ret) = _exec(venue, abi.encodeCall(ISwapRouter.exactInputSingle, (p)));
        if (!ok) revert SwapFailed(ret);
        _approve(tokenIn, venue, 0);
        uint256 inAfter = IERC20(tokenIn).balanceOf(safe);
        uint256 outAfter = IERC20(tokenOut).balanceOf(safe);
        spent = inBefore > inAfter ? inBefore - inAfter : 0;
        if (spent > amountIn) revert InputOverspent(spent, amountIn);
        amountOut = outAfter > outBefore ? outAfter - outBefore : 0;
        if (amountOut < minOut) revert OutputBelowMinimum(amountOut, minOut);
    }

    /// @dev Safe executes `token.approve(spender, amount)`; accepts no return data or `true` (like SafeERC20).
    function _approve(address token, address spender, uint256 amount) internal {
        (bool ok, bytes memory ret) = _exec(token, abi.encodeCall(IERC20.approve, (spender, amount)));
        if (!ok || (ret.length != 0 && (ret.length != 32 || abi.decode(ret, (uint256)) != 1))) {
            revert ApproveFailed(token, ret);
        }
    }

    /// @dev The Safe executes `to.call(data)`; a revert of the Safe itself (e.g. module not enabled) is wrapped.
    function _exec(address to, bytes memory data) internal returns (bool ok, bytes memory ret) {
        try ISafe(safe).execTransactionFromModuleReturnData(to, 0, data, Enum.Operation.Call) returns (
            bool s, bytes memory r
        ) {
            return (s, r);
        } catch (bytes memory reason) {
            revert SafeCallReverted(to, reason);
        }
    }

    function _checkFeed(address feed, uint256 maxFeedAge) internal view {
        if (feed == address(0)) revert ZeroAddress();
        if (maxFeedAge == 0 || maxFeedAge > MAX_FEED_AGE) revert InvalidFeedAge(maxFeedAge);
        uint256 d = AggregatorV3Interface(feed).decimals();
        if (d > MAX_DECIMALS) revert InvalidDecimals(feed, d);
    }

    /// @dev Add `a` to `set`, keeping it at most MAX_LIST_LENGTH long.
    function _add(EnumerableSet.AddressSet storage set, address a) internal {
        if (set.add(a) && set.length() > MAX_LIST_LENGTH) revert ListFull();
    }

    /// @dev Insertion sort in place (lists hold <= MAX_LIST_LENGTH entries).
    function _sorted(address[] memory list) internal pure returns (address[] memory) {
        for (uint256 i = 1; i < list.length; ++i) {
            address v = list[i];
            uint256 j = i;
            for (; j > 0 && list[j - 1] > v; --j) {
                list[j] = list[j - 1];
            }
            list[j] = v;
        }
        return list;
    }
}
