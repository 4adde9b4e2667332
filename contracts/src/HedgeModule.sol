// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SignedMath} from "@openzeppelin/contracts/utils/math/SignedMath.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {AggregatorV3Interface} from "./interfaces/AggregatorV3Interface.sol";
import {IPerpMarket} from "./interfaces/IPerpMarket.sol";
import {ISafe, Enum} from "./interfaces/ISafe.sol";
import {ISwapRouter} from "./interfaces/ISwapRouter.sol";

/// @title HedgeModule
/// @notice A Safe module that lets one keeper key hedge with the Safe's funds inside on-chain bounds, so a stolen
///         keeper key cannot drain the treasury. Per trade the Safe loses at most `notional * maxSlippageBps / 1e4`
///         (at oracle prices), and the notional traded over any `windowSeconds` is capped.
/// @dev Units: "usd wad" = US dollars scaled 1e18. Token amounts are raw token units. Perp sizes are 1e18 units of
///      the underlying; perp prices are 1e18 quote per underlying (the perp's quote is assumed to be a USD stable).
///      Feed answers are normalized from the feed's decimals to usd wad. All Safe calls use `Operation.Call` and
///      one of three fixed shapes: `token.approve(router, x)`, `router.exactInputSingle(.., recipient = safe, ..)`
///      and `market.modifyPosition(..)`. Swaps approve exactly `amountIn` and reset the allowance to 0 in the same
///      transaction, so the Safe keeps no standing allowance. Rolling window: a ring buffer of at most
///      `MAX_WINDOW_TRADES` (timestamp, notional) entries; an entry counts while `timestamp + windowSeconds >
///      block.timestamp` and is pruned on the next trade. A trade reverts if the window sum would exceed the cap
///      or the buffer holds `MAX_WINDOW_TRADES` live entries. Raising `windowSeconds` does not revive pruned entries.
contract HedgeModule is ReentrancyGuard {
    /// @dev maxFeedAge in seconds; decimals = the token's, read at configuration.
    struct TokenParams { address token; address feed; uint256 maxFeedAge; uint256 decimals; }
    /// @dev maxFeedAge in seconds; maxAbsSize in 1e18 underlying units (0 = no position limit).
    struct MarketParams { address market; address feed; uint256 maxFeedAge; uint256 maxAbsSize; }
    /// @notice Every parameter, in the order hashed by `paramsHash()` (lists sorted ascending). Units as the getters.
    struct Params {
        bytes32 version; uint256 chainId; address module; address safe; address keeper; address guardian;
        address router; uint256 maxNotionalPerTradeUsd; uint256 maxNotionalPerWindowUsd; uint256 windowSeconds;
        uint256 maxSlippageBps; uint256[] feeTiers; TokenParams[] tokens; MarketParams[] markets;
    }
    struct TokenConfig { address feed; uint32 maxFeedAge; uint8 decimals; bool allowed; }
    struct MarketConfig { address feed; uint32 maxFeedAge; bool allowed; }
    struct WindowEntry { uint64 timestamp; uint192 notionalUsd; }

    uint256 public constant BPS = 10_000;
    uint256 public constant MAX_SLIPPAGE_BPS_CEILING = 1_000; // 10%
    uint256 public constant MAX_WINDOW_SECONDS = 30 days;
    uint256 public constant MAX_FEED_AGE = 3 days;
    uint256 public constant MAX_NOTIONAL_USD = 1e36; // usd wad ($1e18)
    uint256 public constant MAX_PRICE_USD = 1e36; // usd wad per whole token
    uint256 public constant MAX_DECIMALS = 36; // token and feed decimals
    uint256 public constant MAX_WINDOW_TRADES = 32;
    uint256 public constant MAX_LIST_LENGTH = 16; // per list: tokens, markets, fee tiers
    bytes32 public constant PARAMS_VERSION = keccak256("HedgeModule.params.v1");

    /// @notice The Safe this module acts for; immutable.
    address public immutable safe;
    address public keeper;
    address public guardian;
    address public router;
    bool public paused;
    uint256 public maxNotionalPerTradeUsd; // usd wad
    uint256 public maxNotionalPerWindowUsd; // usd wad
    uint256 public windowSeconds; // seconds
    uint256 public maxSlippageBps; // basis points
    mapping(uint24 => bool) public feeTierAllowed;
    /// @notice Max |position size| the keeper may grow a perp position to, 1e18 underlying units; 0 = no limit.
    mapping(address => uint256) public perpMaxAbsSize;
    mapping(address => TokenConfig) internal _tokens;
    mapping(address => MarketConfig) internal _markets;
    uint256[] internal _tokenList; // addresses as uint256, so one set of list helpers serves all three lists
    uint256[] internal _marketList;
    uint256[] internal _feeTierList;
    WindowEntry[MAX_WINDOW_TRADES] internal _ring;
    uint256 internal _ringHead; // index of the oldest stored entry
    uint256 internal _ringCount; // stored entries (live or not yet pruned)
    uint256 internal _ringSum; // usd wad, sum of stored entries

    event KeeperSet(address indexed previous, address indexed keeper);
    event GuardianSet(address indexed previous, address indexed guardian);
    event RouterSet(address indexed previous, address indexed router);
    event FeeTierSet(uint24 indexed fee, bool allowed);
    event TokenConfigSet(address indexed token, address feed, uint256 maxFeedAge, uint8 decimals, bool allowed);
    event PerpMarketSet(address indexed market, address feed, uint256 maxFeedAge, bool allowed);
    event PerpPositionLimitSet(address indexed market, uint256 maxAbsSize);
    event LimitsSet(uint256 perTradeUsd, uint256 perWindowUsd, uint256 windowSeconds, uint256 maxSlippageBps);
    event ModulePaused(address indexed by);
    event ModuleUnpaused(address indexed by);
    /// @notice One swap hedge. Amounts raw token units; notional and prices usd wad (prices per whole token).
    event HedgeExecuted(
        address indexed venue, address indexed tokenIn, address indexed tokenOut, uint24 fee, uint256 amountIn,
        uint256 amountOut, uint256 notionalUsd, uint256 priceInUsd, uint256 priceOutUsd
    );
    /// @notice One perp hedge. Sizes 1e18 underlying units; prices 1e18 quote per underlying; notional usd wad.
    event PerpHedgeExecuted(
        address indexed market, int256 sizeDelta, uint256 acceptablePrice, uint256 oraclePrice, uint256 notionalUsd,
        int256 newSize
    );

    // access and state
    error NotKeeper(address caller); error NotSafe(address caller); error NotGuardian(address caller);
    error Paused(); error NotPaused();
    // configuration
    error ZeroAddress(); error InvalidRouter(address router); error InvalidFeeTier(uint24 fee); error ListFull();
    error InvalidFeedAge(uint256 maxFeedAge); error InvalidDecimals(address source, uint256 decimals); error InvalidLimits();
    // hedge arguments (amounts raw units / usd wad / 1e18 prices as in the hedge functions)
    error RouterNotSet(); error FeeTierNotAllowed(uint24 fee); error TokenNotAllowed(address token);
    error SameToken(address token); error MarketNotAllowed(address market); error ZeroAmount();
    error DeadlineExpired(uint256 deadline, uint256 nowTs);
    error StaleFeed(address feed, uint256 updatedAt, uint256 maxFeedAge); error BadFeedAnswer(address feed, int256 answer);
    error MinOutBelowOracleBound(uint256 amountOutMinimum, uint256 oracleBound);
    error AcceptablePriceOutOfBound(uint256 acceptablePrice, uint256 oracleBound);
    error TradeCapExceeded(uint256 notionalUsd, uint256 cap);
    error WindowCapExceeded(uint256 windowUsedUsd, uint256 notionalUsd, uint256 cap); error WindowFull(uint256 maxTrades);
    error PerpPositionLimitExceeded(int256 newSize, uint256 maxAbsSize);
    // execution through the Safe (reason = the inner call's raw revert data)
    error SafeCallReverted(address target, bytes reason); error ApproveFailed(address token, bytes reason);
    error SwapFailed(bytes reason); error PerpCallFailed(bytes reason);
    error OutputBelowMinimum(uint256 received, uint256 amountOutMinimum); error InputOverspent(uint256 spent, uint256 amountIn);
    error PerpFillMismatch(int256 sizeBefore, int256 sizeAfter, int256 sizeDelta);

    modifier onlySafe() {
        if (msg.sender != safe) revert NotSafe(msg.sender);
        _;
    }

    modifier onlyActiveKeeper() {
        if (msg.sender != keeper) revert NotKeeper(msg.sender);
        if (paused) revert Paused();
        _;
    }

    /// @notice All limits start at 0, so every hedge reverts until the Safe configures limits and venues.
    /// @param safe_ The Safe (1.4.x) this module is enabled on.
    /// @param keeper_ The hedging key (0 = none).
    /// @param guardian_ A key that may only pause (0 = none).
    constructor(address safe_, address keeper_, address guardian_) {
        if (safe_ == address(0)) revert ZeroAddress();
        safe = safe_;
        keeper = keeper_;
        guardian = guardian_;
        emit KeeperSet(address(0), keeper_);
        emit GuardianSet(address(0), guardian_);
    }

    // ------------------------------------------------------------------ configuration (Safe only)

    /// @notice Replace the keeper key (0 disables hedging). Only the Safe.
    function setKeeper(address newKeeper) external onlySafe {
        emit KeeperSet(keeper, newKeeper);
        keeper = newKeeper;
    }

    /// @notice Replace the guardian (0 = none). Only the Safe.
    function setGuardian(address newGuardian) external onlySafe {
        emit GuardianSet(guardian, newGuardian);
        guardian = newGuardian;
    }

    /// @notice Set the Uniswap v3 SwapRouter used by `hedgeSwap` (0 disables swaps). Only the Safe.
    function setRouter(address newRouter) external onlySafe {
        if (newRouter == safe || newRouter == address(this)) revert InvalidRouter(newRouter);
        emit RouterSet(router, newRouter);
        router = newRouter;
    }

    /// @notice Allow or disallow a Uniswap v3 fee tier (hundredths of a bip, 0 < fee < 1e6). Only the Safe.
    function setFeeTierAllowed(uint24 fee, bool allowed) external onlySafe {
        if (fee == 0 || fee >= 1_000_000) revert InvalidFeeTier(fee);
        if (allowed && !feeTierAllowed[fee]) _push(_feeTierList, fee);
        else if (!allowed && feeTierAllowed[fee]) _remove(_feeTierList, fee);
        feeTierAllowed[fee] = allowed;
        emit FeeTierSet(fee, allowed);
    }

    /// @notice Allow a token with its Chainlink-style USD feed and max feed age (seconds, <= MAX_FEED_AGE), or
    ///         disallow it (`allowed = false` deletes its config; feed and age are then ignored). The token's
    ///         decimals are read once here. A stablecoin needs its own (1.00) feed. Only the Safe.
    function setTokenConfig(address token, address feed, uint256 maxFeedAge, bool allowed) external onlySafe {
        if (token == address(0)) revert ZeroAddress();
        bool was = _tokens[token].allowed;
        if (!allowed) {
            delete _tokens[token];
            if (was) _remove(_tokenList, uint160(token));
            emit TokenConfigSet(token, address(0), 0, 0, false);
            return;
        }
        _checkFeed(feed, maxFeedAge);
        uint8 dec = IERC20Metadata(token).decimals();
        if (dec > MAX_DECIMALS) revert InvalidDecimals(token, dec);
        if (!was) _push(_tokenList, uint160(token));
        _tokens[token] = TokenConfig(feed, uint32(maxFeedAge), dec, true);
        emit TokenConfigSet(token, feed, maxFeedAge, dec, true);
    }

    /// @notice Allow a perp market with the module's own USD feed for its underlying (the market's own price view
    ///         is never trusted), or disallow it (config deleted). Only the Safe.
    function setPerpMarket(address market, address underlyingFeed, uint256 maxFeedAge, bool allowed) external onlySafe {
        if (market == address(0)) revert ZeroAddress();
        bool was = _markets[market].allowed;
        if (!allowed) {
            delete _markets[market];
            if (was) _remove(_marketList, uint160(market));
            emit PerpMarketSet(market, address(0), 0, false);
            return;
        }
        _checkFeed(underlyingFeed, maxFeedAge);
        if (!was) _push(_marketList, uint160(market));
        _markets[market] = MarketConfig(underlyingFeed, uint32(maxFeedAge), true);
        emit PerpMarketSet(market, underlyingFeed, maxFeedAge, true);
    }

    /// @notice Cap |position size| (1e18 underlying units) that a keeper trade may grow to on `market`; a trade that
    ///         shrinks |size| is always allowed. 0 = no limit beyond the notional caps. Only the Safe.
    function setPerpPositionLimit(address market, uint256 maxAbsSize) external onlySafe {
        perpMaxAbsSize[market] = maxAbsSize;
        emit PerpPositionLimitSet(market, maxAbsSize);
    }

    /// @notice Set the caps. `perTradeUsd` and `perWindowUsd` in usd wad (0 < perTrade <= perWindow <= 1e36),
    ///         `windowSecs` in seconds (0 < w <= 30 days), `slippageBps` in bps (<= 1000). Only the Safe.
    function setLimits(uint256 perTradeUsd, uint256 perWindowUsd, uint256 windowSecs, uint256 slippageBps)
        external onlySafe {
        if (perTradeUsd == 0 || perTradeUsd > perWindowUsd || perWindowUsd > MAX_NOTIONAL_USD || windowSecs == 0
            || windowSecs > MAX_WINDOW_SECONDS || slippageBps > MAX_SLIPPAGE_BPS_CEILING) revert InvalidLimits();
        maxNotionalPerTradeUsd = perTradeUsd;
        maxNotionalPerWindowUsd = perWindowUsd;
        windowSeconds = windowSecs;
        maxSlippageBps = slippageBps;
        emit LimitsSet(perTradeUsd, perWindowUsd, windowSecs, slippageBps);
    }

    /// @notice Stop all hedging. The guardian or the Safe.
    function pause() external {
        if (msg.sender != guardian && msg.sender != safe) revert NotGuardian(msg.sender);
        paused = true;
        emit ModulePaused(msg.sender);
    }

    /// @notice Resume hedging. Only the Safe.
    function unpause() external onlySafe {
        if (!paused) revert NotPaused();
        paused = false;
        emit ModuleUnpaused(msg.sender);
    }

    // ------------------------------------------------------------------ hedges (keeper only)

    /// @notice Swap `amountIn` raw units of `tokenIn` for `tokenOut` on the configured Uniswap v3 router, from and
    ///         to the Safe (the recipient is always the Safe). `amountOutMinimum` (raw tokenOut units) must be at
    ///         least the oracle-implied output less `maxSlippageBps`; `deadline` is unix seconds.
    /// @return amountOut Raw tokenOut units the Safe received, measured from its balance.
    function hedgeSwap(address tokenIn, address tokenOut, uint24 fee, uint256 amountIn, uint256 amountOutMinimum, uint256 deadline)
        external onlyActiveKeeper nonReentrant returns (uint256 amountOut) {
        address venue = router;
        if (venue == address(0)) revert RouterNotSet();
        if (!feeTierAllowed[fee]) revert FeeTierNotAllowed(fee);
        if (deadline < block.timestamp) revert DeadlineExpired(deadline, block.timestamp);
        (uint256 notional, uint256 expectedOut, uint256 priceIn, uint256 priceOut) = _quoteSwap(tokenIn, tokenOut, amountIn);
        uint256 minOutBound = _minOut(expectedOut);
        if (amountOutMinimum < minOutBound) revert MinOutBelowOracleBound(amountOutMinimum, minOutBound);
        _consumeWindow(notional);
        amountOut = _executeSwap(venue, tokenIn, tokenOut, fee, amountIn, amountOutMinimum, deadline);
        emit HedgeExecuted(venue, tokenIn, tokenOut, fee, amountIn, amountOut, notional, priceIn, priceOut);
    }

    /// @notice Change the Safe's perp position on `market` by `sizeDelta` (1e18 underlying units, + buys). For a buy
    ///         `acceptablePrice` (1e18 quote per underlying) must be <= oracle * (1 + maxSlippage); for a sell >=
    ///         oracle * (1 - maxSlippage). Margin must already be in the market (the module never moves margin).
    function hedgePerp(address market, int256 sizeDelta, uint256 acceptablePrice) external onlyActiveKeeper nonReentrant {
        (uint256 notional, uint256 oraclePrice, uint256 bound) = _quotePerp(market, sizeDelta);
        if (sizeDelta > 0 ? acceptablePrice > bound : acceptablePrice < bound) revert AcceptablePriceOutOfBound(acceptablePrice, bound);
        (int256 sizeBefore,,,) = IPerpMarket(market).positions(safe);
        int256 expected = sizeBefore + sizeDelta;
        uint256 limit = perpMaxAbsSize[market];
        uint256 absAfter = SignedMath.abs(expected);
        if (limit != 0 && absAfter > limit && absAfter > SignedMath.abs(sizeBefore)) revert PerpPositionLimitExceeded(expected, limit);
        _consumeWindow(notional);
        (bool ok, bytes memory ret) = _exec(market, abi.encodeCall(IPerpMarket.modifyPosition, (sizeDelta, acceptablePrice)));
        if (!ok) revert PerpCallFailed(ret);
        (int256 sizeAfter,,,) = IPerpMarket(market).positions(safe);
        if (sizeAfter != expected) revert PerpFillMismatch(sizeBefore, sizeAfter, sizeDelta);
        emit PerpHedgeExecuted(market, sizeDelta, acceptablePrice, oraclePrice, notional, sizeAfter);
    }

    // ------------------------------------------------------------------ views

    /// @notice Oracle quote for a swap of `amountIn` raw tokenIn units: notional (usd wad, rounded up), the oracle
    ///         output (raw tokenOut units, rounded up) and the smallest `amountOutMinimum` `hedgeSwap` accepts.
    function quoteSwap(address tokenIn, address tokenOut, uint256 amountIn)
        external view returns (uint256 notionalUsd, uint256 expectedOut, uint256 minAmountOut) {
        (notionalUsd, expectedOut,,) = _quoteSwap(tokenIn, tokenOut, amountIn);
        minAmountOut = _minOut(expectedOut);
    }

    /// @notice Oracle quote for a perp trade: notional (usd wad), oracle price and the acceptable-price bound
    ///         (1e18 quote per underlying; a max for buys, a min for sells).
    function quotePerp(address market, int256 sizeDelta)
        external view returns (uint256 notionalUsd, uint256 oraclePrice, uint256 priceBound) {
        return _quotePerp(market, sizeDelta);
    }

    /// @notice Config of `token`: feed, max feed age (seconds), decimals, allowed.
    function tokenConfig(address token)
        external view returns (address feed, uint256 maxFeedAge, uint8 decimals, bool allowed) {
        TokenConfig memory c = _tokens[token];
        return (c.feed, c.maxFeedAge, c.decimals, c.allowed);
    }

    /// @notice Config of perp `market`: underlying USD feed, max feed age (seconds), allowed, max |size| (1e18 units).
    function perpMarketConfig(address market)
        external view returns (address feed, uint256 maxFeedAge, bool allowed, uint256 maxAbsSize) {
        MarketConfig memory c = _markets[market];
        return (c.feed, c.maxFeedAge, c.allowed, perpMaxAbsSize[market]);
    }

    /// @notice Notional (usd wad) and number of trades inside the rolling window now.
    function windowUsage() external view returns (uint256 notionalUsd, uint256 trades) {
        uint256 w = windowSeconds;
        for (uint256 i; i < _ringCount; ++i) {
            WindowEntry memory e = _ring[(_ringHead + i) % MAX_WINDOW_TRADES];
            if (e.timestamp + w > block.timestamp) (notionalUsd, trades) = (notionalUsd + e.notionalUsd, trades + 1);
        }
    }

    /// @notice Every parameter (not the paused flag, not window state); the allowed fee tiers, tokens and markets
    ///         are listed sorted ascending (by fee / address).
    function params() public view returns (Params memory p) {
        (p.version, p.chainId, p.module, p.safe) = (PARAMS_VERSION, block.chainid, address(this), safe);
        (p.keeper, p.guardian, p.router) = (keeper, guardian, router);
        (p.maxNotionalPerTradeUsd, p.maxNotionalPerWindowUsd) = (maxNotionalPerTradeUsd, maxNotionalPerWindowUsd);
        (p.windowSeconds, p.maxSlippageBps) = (windowSeconds, maxSlippageBps);
        p.feeTiers = _sorted(_feeTierList);
        address[] memory toks = _asAddresses(_sorted(_tokenList));
        p.tokens = new TokenParams[](toks.length);
        for (uint256 i; i < toks.length; ++i) {
            TokenConfig memory c = _tokens[toks[i]];
            p.tokens[i] = TokenParams(toks[i], c.feed, c.maxFeedAge, c.decimals);
        }
        address[] memory mkts = _asAddresses(_sorted(_marketList));
        p.markets = new MarketParams[](mkts.length);
        for (uint256 i; i < mkts.length; ++i) {
            MarketConfig memory c = _markets[mkts[i]];
            p.markets[i] = MarketParams(mkts[i], c.feed, c.maxFeedAge, perpMaxAbsSize[mkts[i]]);
        }
    }

    /// @notice keccak256(abi.encode(params())): the ABI encoding of the single tuple
    ///         (bytes32 version, uint256 chainId, address module, address safe, address keeper, address guardian,
    ///          address router, uint256 maxNotionalPerTradeUsd, uint256 maxNotionalPerWindowUsd, uint256 windowSeconds,
    ///          uint256 maxSlippageBps, uint256[] feeTiers, (address token, address feed, uint256 maxFeedAge,
    ///          uint256 decimals)[] tokens, (address market, address feed, uint256 maxFeedAge, uint256 maxAbsSize)[] markets).
    function paramsHash() external view returns (bytes32) {
        return keccak256(abi.encode(params()));
    }

    // ------------------------------------------------------------------ internals

    function _quoteSwap(address tokenIn, address tokenOut, uint256 amountIn)
        internal view returns (uint256 notional, uint256 expectedOut, uint256 priceIn, uint256 priceOut) {
        if (amountIn == 0) revert ZeroAmount();
        if (tokenIn == tokenOut) revert SameToken(tokenIn);
        TokenConfig memory cin = _tokens[tokenIn];
        TokenConfig memory cout = _tokens[tokenOut];
        if (!cin.allowed) revert TokenNotAllowed(tokenIn);
        if (!cout.allowed) revert TokenNotAllowed(tokenOut);
        priceIn = _priceUsd(cin.feed, cin.maxFeedAge);
        priceOut = _priceUsd(cout.feed, cout.maxFeedAge);
        notional = Math.mulDiv(amountIn, priceIn, 10 ** cin.decimals, Math.Rounding.Ceil);
        // oracle output = amountIn * priceIn / 10^decIn * 10^decOut / priceOut (rounded up: stricter bound)
        expectedOut =
            Math.mulDiv(amountIn, priceIn * 10 ** cout.decimals, priceOut * 10 ** cin.decimals, Math.Rounding.Ceil);
    }

    function _minOut(uint256 expectedOut) internal view returns (uint256) {
        return Math.mulDiv(expectedOut, BPS - maxSlippageBps, BPS, Math.Rounding.Ceil);
    }

    function _quotePerp(address market, int256 sizeDelta)
        internal view returns (uint256 notional, uint256 oraclePrice, uint256 bound) {
        MarketConfig memory m = _markets[market];
        if (!m.allowed) revert MarketNotAllowed(market);
        if (sizeDelta == 0) revert ZeroAmount();
        oraclePrice = _priceUsd(m.feed, m.maxFeedAge);
        notional = Math.mulDiv(SignedMath.abs(sizeDelta), oraclePrice, 1e18, Math.Rounding.Ceil);
        bound = sizeDelta > 0
            ? Math.mulDiv(oraclePrice, BPS + maxSlippageBps, BPS)
            : Math.mulDiv(oraclePrice, BPS - maxSlippageBps, BPS, Math.Rounding.Ceil);
    }

    /// @dev Feed answer normalized to usd wad; reverts on a non-positive, absurd, future or stale answer.
    function _priceUsd(address feed, uint256 maxAge) internal view returns (uint256 price) {
        (, int256 answer,, uint256 updatedAt,) = AggregatorV3Interface(feed).latestRoundData();
        if (answer <= 0 || uint256(answer) > MAX_PRICE_USD) revert BadFeedAnswer(feed, answer);
        if (updatedAt > block.timestamp || block.timestamp - updatedAt > maxAge) revert StaleFeed(feed, updatedAt, maxAge);
        uint256 d = AggregatorV3Interface(feed).decimals();
        if (d > MAX_DECIMALS) revert InvalidDecimals(feed, d);
        price = d <= 18 ? uint256(answer) * 10 ** (18 - d) : uint256(answer) / 10 ** (d - 18);
        if (price == 0 || price > MAX_PRICE_USD) revert BadFeedAnswer(feed, answer);
    }

    /// @dev Check the per-trade cap, prune expired entries, then record `notional` or revert if the window cap or
    ///      the buffer would overflow.
    function _consumeWindow(uint256 notional) internal {
        if (notional > maxNotionalPerTradeUsd) revert TradeCapExceeded(notional, maxNotionalPerTradeUsd);
        uint256 head = _ringHead;
        uint256 count = _ringCount;
        uint256 sum = _ringSum;
        uint256 w = windowSeconds;
        while (count != 0) {
            WindowEntry memory e = _ring[head];
            if (e.timestamp + w > block.timestamp) break;
            sum -= e.notionalUsd;
            head = (head + 1) % MAX_WINDOW_TRADES;
            --count;
        }
        if (sum + notional > maxNotionalPerWindowUsd) revert WindowCapExceeded(sum, notional, maxNotionalPerWindowUsd);
        if (count == MAX_WINDOW_TRADES) revert WindowFull(MAX_WINDOW_TRADES);
        // notional <= maxNotionalPerTradeUsd <= 1e36 < 2^192
        _ring[(head + count) % MAX_WINDOW_TRADES] = WindowEntry(uint64(block.timestamp), uint192(notional));
        _ringHead = head;
        _ringCount = count + 1;
        _ringSum = sum + notional;
    }

    function _executeSwap(address venue, address tokenIn, address tokenOut, uint24 fee, uint256 amountIn, uint256 minOut, uint256 deadline)
        internal returns (uint256 amountOut) {
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
        uint256 spent = inBefore > inAfter ? inBefore - inAfter : 0;
        if (spent > amountIn) revert InputOverspent(spent, amountIn);
        amountOut = outAfter > outBefore ? outAfter - outBefore : 0;
        if (amountOut < minOut) revert OutputBelowMinimum(amountOut, minOut);
    }

    /// @dev Safe executes `token.approve(spender, amount)`; accepts no return data or `true` (like SafeERC20).
    function _approve(address token, address spender, uint256 amount) internal {
        (bool ok, bytes memory ret) = _exec(token, abi.encodeCall(IERC20.approve, (spender, amount)));
        if (!ok || (ret.length != 0 && (ret.length != 32 || abi.decode(ret, (uint256)) != 1))) revert ApproveFailed(token, ret);
    }

    /// @dev The Safe executes `to.call(data)`; a revert of the Safe itself (e.g. module not enabled) is wrapped.
    function _exec(address to, bytes memory data) internal returns (bool ok, bytes memory ret) {
        try ISafe(safe).execTransactionFromModuleReturnData(to, 0, data, Enum.Operation.Call) returns (bool s, bytes memory r) {
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

    function _push(uint256[] storage list, uint256 a) internal {
        if (list.length >= MAX_LIST_LENGTH) revert ListFull();
        list.push(a);
    }

    function _remove(uint256[] storage list, uint256 a) internal {
        uint256 n = list.length;
        for (uint256 i; i < n; ++i) {
            if (list[i] == a) {
                list[i] = list[n - 1];
                list.pop();
                return;
            }
        }
    }

    /// @dev Insertion sort of a copy (lists hold <= MAX_LIST_LENGTH entries).
    function _sorted(uint256[] storage list) internal view returns (uint256[] memory out) {
        out = new uint256[](list.length);
        for (uint256 i; i < out.length; ++i) {
            uint256 v = list[i];
            uint256 j = i;
            for (; j > 0 && out[j - 1] > v; --j) out[j] = out[j - 1];
            out[j] = v;
        }
    }

    /// @dev Reinterpret a uint256[] of values < 2^160 as address[] (identical memory layout).
    function _asAddresses(uint256[] memory values) internal pure returns (address[] memory out) {
        assembly ("memory-safe") {
            out := values
        }
    }
}
