// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IHedgeModule
/// @notice A Safe module that lets one keeper key hedge with the Safe's funds inside on-chain bounds, so a stolen
///         keeper key (or a hostile venue) can take at most a loss budget the owners set.
///         Every trade is valued at the module's own feeds: a swap loses value(in) - value(out); a perp trade loses
///         the drop of the Safe's equity in the market at the oracle (fee, fill away from the oracle, funding
///         settled). The loss is kept per rolling window and in total since the owners last reset it; a trade that
///         would exceed either budget reverts, and when the total budget left is below a trade's worst case the
///         module pauses itself instead of trading. Swaps go only through pools the owners allowed (tokenA, tokenB,
///         fee, found in the Uniswap v3 factory), with a minimum output bounded by the stricter of the feeds and the
///         pool's TWAP. Perps need a position limit and keep a minimum margin ratio after each trade.
/// @dev Units: "usd wad" = US dollars scaled 1e18. Token amounts are raw token units. Perp sizes are 1e18 units of
///      the underlying; perp prices are 1e18 quote per underlying (the perp's quote is assumed to be a USD stable
///      worth 1 USD). Feed answers are normalized from the feed's decimals to usd wad. All Safe calls use
///      `Operation.Call` and one of three fixed shapes: `token.approve(router, x)`,
///      `router.exactInputSingle(.., recipient = safe, ..)` and `market.modifyPosition(..)`. Swaps approve exactly
///      `amountIn` and reset the allowance to 0 in the same transaction.
///      Rolling window: time is cut into buckets of `ceil(windowSeconds / 32)` seconds; every trade in one bucket
///      merges into one entry (notional and loss), so the accounting never fills up. A bucket counts while fewer
///      than 33 buckets have started since it: a trade counts for at least `windowSeconds` and at most
///      `33 * ceil(windowSeconds / 32)` seconds (a stricter cap than an exact rolling window, never a looser one).
///      Changing `windowSeconds` clears the window.
///      Roles: the Safe configures (`onlySafe` functions revert `NotSafe`); the keeper hedges (`NotKeeper`, and
///      `Paused` while paused); the guardian (or the Safe) may only pause and reduce perp positions (`NotGuardian`).
///      Every hedge is `nonReentrant`.
///      "Feed errors" below: `SequencerDown`, `SequencerGracePeriod` (sequencer feed set), `StaleFeed`,
///      `BadFeedAnswer`, `FeedAnswerAtLimit`, `InvalidDecimals` (feed decimals above `MAX_DECIMALS`). "Execution
///      errors": `SafeCallReverted` (the Safe itself reverted) and the wrapped failure of the inner call.
interface IHedgeModule {
    // ------------------------------------------------------------------ parameter structs (`params()`)

    /// @notice An allowed token as listed by `params()`.
    /// @param token The token.
    /// @param feed Its Chainlink-style USD feed.
    /// @param maxFeedAge Max age of the feed's answer, seconds.
    /// @param decimals The token's decimals, read at configuration.
    struct TokenParams {
        address token;
        address feed;
        uint256 maxFeedAge;
        uint256 decimals;
    }

    /// @notice An allowed perp market as listed by `params()`.
    /// @param market The market.
    /// @param feed The module's USD feed for the market's underlying.
    /// @param maxFeedAge Max age of the feed's answer, seconds.
    /// @param maxAbsSize Position limit, 1e18 underlying units (0 = the market cannot be traded).
    struct MarketParams {
        address market;
        address feed;
        uint256 maxFeedAge;
        uint256 maxAbsSize;
    }

    /// @notice An allowed Uniswap v3 pool as listed by `params()`.
    /// @param pool The pool, as the factory returned it.
    /// @param token0 The lower token address.
    /// @param token1 The higher token address (token0 < token1).
    /// @param fee Fee tier in hundredths of a bip.
    struct PoolParams {
        address pool;
        address token0;
        address token1;
        uint256 fee;
    }

    /// @notice Every parameter, in the order hashed by `paramsHash()` (lists sorted ascending). Units as the getters.
    struct Params {
        bytes32 version;
        uint256 chainId;
        address module;
        address safe;
        address keeper;
        address guardian;
        address router;
        uint256 maxNotionalPerTradeUsd;
        uint256 maxNotionalPerWindowUsd;
        uint256 windowSeconds;
        uint256 maxSlippageBps;
        PoolParams[] pools;
        TokenParams[] tokens;
        MarketParams[] markets;
        address factory;
        uint256 lossBudgetWindowUsd;
        uint256 lossBudgetTotalUsd;
        uint256 twapSeconds;
        uint256 perpMinMarginBps;
        address sequencerFeed;
        uint256 sequencerGraceSeconds;
    }

    // ------------------------------------------------------------------ events

    /// @notice The keeper key changed (0 = none).
    event KeeperSet(address indexed previous, address indexed keeper);
    /// @notice The guardian changed (0 = none).
    event GuardianSet(address indexed previous, address indexed guardian);
    /// @notice The swap router changed (0 = swaps disabled).
    event RouterSet(address indexed previous, address indexed router);
    /// @notice The Uniswap v3 factory in which pools are looked up changed.
    event FactorySet(address indexed previous, address indexed factory);
    /// @notice A pool was allowed or disallowed (`pool` = 0 when a pool that was not allowed is disallowed).
    ///         Fee in hundredths of a bip.
    event PoolSet(address indexed pool, address token0, address token1, uint24 fee, bool allowed);
    /// @notice A token was allowed (with its feed, max feed age in seconds and decimals) or disallowed (all 0).
    event TokenConfigSet(address indexed token, address feed, uint256 maxFeedAge, uint8 decimals, bool allowed);
    /// @notice A perp market was allowed (with its underlying feed and max feed age in seconds) or disallowed.
    event PerpMarketSet(address indexed market, address feed, uint256 maxFeedAge, bool allowed);
    /// @notice A perp position limit changed, 1e18 underlying units.
    event PerpPositionLimitSet(address indexed market, uint256 maxAbsSize);
    /// @notice The minimum margin ratio after a growing perp trade changed, bps.
    event PerpMinMarginSet(uint256 minMarginBps);
    /// @notice The caps changed: per trade and per window in usd wad, window in seconds, slippage in bps.
    event LimitsSet(uint256 perTradeUsd, uint256 perWindowUsd, uint256 windowSeconds, uint256 maxSlippageBps);
    /// @notice The loss budgets changed, usd wad.
    event LossBudgetsSet(uint256 perWindowUsd, uint256 totalUsd);
    /// @notice The total loss was reset to 0; it was `previousTotalUsd` (usd wad).
    event LossTotalReset(uint256 previousTotalUsd);
    /// @notice The TWAP window changed, seconds (0 = feeds only).
    event TwapWindowSet(uint256 twapSeconds);
    /// @notice The sequencer-uptime feed (0 = none) and its grace period (seconds) changed.
    event SequencerFeedSet(address indexed feed, uint256 graceSeconds);
    /// @notice Hedging stopped; `by` is the guardian, the Safe, or the module itself (loss budget spent).
    event ModulePaused(address indexed by);
    /// @notice Hedging resumed (by the Safe).
    event ModuleUnpaused(address indexed by);
    /// @notice A trade's loss at the oracle (usd wad) and the window's and total's losses after it.
    event LossCharged(uint256 lossUsd, uint256 windowLossUsd, uint256 totalLossUsd);
    /// @notice The total loss budget left (usd wad) is below a trade's worst case: the module paused itself.
    event LossBudgetSpent(uint256 totalLossUsd, uint256 budgetUsd, uint256 worstCaseUsd);
    /// @notice One swap hedge. Amounts raw token units; notional and prices usd wad (prices per whole token).
    event HedgeExecuted(
        address indexed venue,
        address indexed tokenIn,
        address indexed tokenOut,
        uint24 fee,
        uint256 amountIn,
        uint256 amountOut,
        uint256 notionalUsd,
        uint256 priceInUsd,
        uint256 priceOutUsd
    );
    /// @notice One perp hedge. Sizes 1e18 underlying units; prices 1e18 quote per underlying; notional usd wad.
    event PerpHedgeExecuted(
        address indexed market,
        int256 sizeDelta,
        uint256 acceptablePrice,
        uint256 oraclePrice,
        uint256 notionalUsd,
        int256 newSize
    );
    /// @notice The guardian reduced a perp position (sizes 1e18 units, loss usd wad).
    event GuardianPerpReduced(address indexed market, int256 sizeDelta, int256 newSize, uint256 lossUsd);

    // ------------------------------------------------------------------ errors: access and state

    /// @notice The caller is not the keeper.
    error NotKeeper(address caller);
    /// @notice The caller is not the Safe.
    error NotSafe(address caller);
    /// @notice The caller is neither the guardian nor the Safe.
    error NotGuardian(address caller);
    /// @notice The module is paused: no keeper hedge.
    error Paused();
    /// @notice `unpause` while not paused.
    error NotPaused();

    // ------------------------------------------------------------------ errors: configuration

    /// @notice A required address is 0.
    error ZeroAddress();
    /// @notice The router may be neither the Safe nor the module.
    error InvalidRouter(address router);
    /// @notice A pool fee must be in 1..999999 hundredths of a bip.
    error InvalidFeeTier(uint24 fee);
    /// @notice A list (tokens, markets or pools) already holds `MAX_LIST_LENGTH` entries.
    error ListFull();
    /// @notice A feed's max age must be in 1..`MAX_FEED_AGE` seconds.
    error InvalidFeedAge(uint256 maxFeedAge);
    /// @notice A token's or feed's decimals exceed `MAX_DECIMALS` (a perp quote token's: 18).
    error InvalidDecimals(address source, uint256 decimals);
    /// @notice `setLimits` arguments out of bounds.
    error InvalidLimits();
    /// @notice `setPoolAllowed` before `setFactory`.
    error FactoryNotSet();
    /// @notice The factory has no pool (with code) for (tokenA, tokenB, fee).
    error PoolNotFound(address tokenA, address tokenB, uint24 fee);
    /// @notice `setLossBudgets` arguments out of bounds.
    error InvalidLossBudgets();
    /// @notice The TWAP window must be 0 or in `MIN_TWAP_SECONDS`..`MAX_TWAP_SECONDS`.
    error InvalidTwapWindow(uint256 secs);
    /// @notice The minimum margin must be at most `BPS`.
    error InvalidMarginBps(uint256 bps);
    /// @notice The sequencer grace period must be at most `MAX_SEQUENCER_GRACE`.
    error InvalidSequencerGrace(uint256 secs);

    // ------------------------------------------------------------------ errors: hedge arguments
    // (amounts raw units / usd wad / 1e18 prices as in the hedge functions)

    /// @notice No router: swaps are disabled.
    error RouterNotSet();
    /// @notice (tokenIn, tokenOut, fee) is not an allowed pool.
    error PoolNotAllowed(address tokenIn, address tokenOut, uint24 fee);
    /// @notice The token is not allowed.
    error TokenNotAllowed(address token);
    /// @notice The two tokens are the same.
    error SameToken(address token);
    /// @notice The perp market is not allowed.
    error MarketNotAllowed(address market);
    /// @notice A zero amount or size.
    error ZeroAmount();
    /// @notice A swap's amountIn exceeds 2^128 - 1.
    error AmountTooLarge(uint256 amount);
    /// @notice The swap deadline (unix seconds) has passed.
    error DeadlineExpired(uint256 deadline, uint256 nowTs);
    /// @notice The feed's answer is from the future or older than its max age (seconds).
    error StaleFeed(address feed, uint256 updatedAt, uint256 maxFeedAge);
    /// @notice The feed's answer is non-positive, 0 after scaling, or above `MAX_PRICE_USD`.
    error BadFeedAnswer(address feed, int256 answer);
    /// @notice The feed's answer sits at its aggregator's minAnswer or maxAnswer clamp.
    error FeedAnswerAtLimit(address feed, int256 answer, int256 minAnswer, int256 maxAnswer);
    /// @notice The L2 sequencer is down.
    error SequencerDown(address feed);
    /// @notice The L2 sequencer came back up less than `grace` seconds ago.
    error SequencerGracePeriod(address feed, uint256 upSince, uint256 grace);
    /// @notice `amountOutMinimum` is below the oracle bound (the stricter expected output less max slippage).
    error MinOutBelowOracleBound(uint256 amountOutMinimum, uint256 oracleBound);
    /// @notice A perp's acceptable price is beyond the oracle bound.
    error AcceptablePriceOutOfBound(uint256 acceptablePrice, uint256 oracleBound);
    /// @notice The trade's notional (usd wad) exceeds the per-trade cap.
    error TradeCapExceeded(uint256 notionalUsd, uint256 cap);
    /// @notice The window's notional (usd wad) plus the trade's would exceed the per-window cap.
    error WindowCapExceeded(uint256 windowUsedUsd, uint256 notionalUsd, uint256 cap);
    /// @notice The window's loss (usd wad) plus the trade's would exceed the window loss budget.
    error WindowLossBudgetExceeded(uint256 windowLossUsd, uint256 lossUsd, uint256 budget);
    /// @notice The total loss (usd wad) plus the trade's would exceed the total loss budget.
    error TotalLossBudgetExceeded(uint256 totalLossUsd, uint256 lossUsd, uint256 budget);
    /// @notice The market has no position limit: the keeper cannot trade it.
    error PerpPositionLimitNotSet(address market);
    /// @notice No minimum margin set: no perp trading.
    error PerpMinMarginNotSet();
    /// @notice |new size| would exceed the market's position limit (1e18 underlying units).
    error PerpPositionLimitExceeded(int256 newSize, uint256 maxAbsSize);
    /// @notice The market's taker fee (bps) exceeds the max slippage: no acceptable price is within bounds.
    error PerpFeeAboveSlippage(uint256 takerFeeBps, uint256 maxSlippageBps);
    /// @notice After the trade the equity at the oracle (usd wad) is below the required margin.
    error PerpMarginTooLow(int256 equityUsd, uint256 requiredUsd);
    /// @notice `guardianReducePerp` with a delta that does not move the position toward 0 without crossing it.
    error NotAReduction(int256 size, int256 sizeDelta);

    // ------------------------------------------------------------------ errors: execution through the Safe
    // (reason = the inner call's raw revert data)

    /// @notice The Safe itself reverted (e.g. the module is not enabled).
    error SafeCallReverted(address target, bytes reason);
    /// @notice The token's approve failed or returned something other than nothing or `true`.
    error ApproveFailed(address token, bytes reason);
    /// @notice The router's swap reverted.
    error SwapFailed(bytes reason);
    /// @notice The market's `modifyPosition` reverted.
    error PerpCallFailed(bytes reason);
    /// @notice The Safe received less tokenOut than `amountOutMinimum`.
    error OutputBelowMinimum(uint256 received, uint256 amountOutMinimum);
    /// @notice The router took more tokenIn than `amountIn`.
    error InputOverspent(uint256 spent, uint256 amountIn);
    /// @notice The market filled a size other than `sizeDelta`.
    error PerpFillMismatch(int256 sizeBefore, int256 sizeAfter, int256 sizeDelta);

    // ------------------------------------------------------------------ constants

    /// @notice Basis points in 1 (10,000).
    function BPS() external view returns (uint256);
    /// @notice Ceiling of `maxSlippageBps`: 1,000 bps (10%).
    function MAX_SLIPPAGE_BPS_CEILING() external view returns (uint256);
    /// @notice Ceiling of `windowSeconds`: 30 days, in seconds.
    function MAX_WINDOW_SECONDS() external view returns (uint256);
    /// @notice Ceiling of every feed's max age (its heartbeat), seconds.
    function MAX_FEED_AGE() external view returns (uint256);
    /// @notice Ceiling of the notional caps and the loss budgets: 1e33 usd wad ($1e15).
    function MAX_NOTIONAL_USD() external view returns (uint256);
    /// @notice Ceiling of a feed price: 1e36 usd wad per whole token.
    function MAX_PRICE_USD() external view returns (uint256);
    /// @notice Ceiling of token and feed decimals (36).
    function MAX_DECIMALS() external view returns (uint256);
    /// @notice Buckets per window; the window keeps WINDOW_BUCKETS + 1 live buckets at most.
    function WINDOW_BUCKETS() external view returns (uint256);
    /// @notice Most entries per list (tokens, markets, pools): 16.
    function MAX_LIST_LENGTH() external view returns (uint256);
    /// @notice Shortest non-zero TWAP window, seconds.
    function MIN_TWAP_SECONDS() external view returns (uint256);
    /// @notice Longest TWAP window, seconds.
    function MAX_TWAP_SECONDS() external view returns (uint256);
    /// @notice Longest sequencer grace period, seconds.
    function MAX_SEQUENCER_GRACE() external view returns (uint256);
    /// @notice keccak256("HedgeModule.params.v2"): the first field of `params()`.
    function PARAMS_VERSION() external view returns (bytes32);

    // ------------------------------------------------------------------ state getters

    /// @notice The Safe this module acts for; immutable.
    function safe() external view returns (address);
    /// @notice The hedging key (0 = none: hedging disabled).
    function keeper() external view returns (address);
    /// @notice The key that may only pause and reduce perp positions (0 = none).
    function guardian() external view returns (address);
    /// @notice The Uniswap v3 SwapRouter `hedgeSwap` trades through (0 = swaps disabled).
    function router() external view returns (address);
    /// @notice The Uniswap v3 factory in which allowed pools are looked up.
    function factory() external view returns (address);
    /// @notice True while keeper hedges are stopped.
    function paused() external view returns (bool);
    /// @notice Largest notional of one keeper trade, usd wad.
    function maxNotionalPerTradeUsd() external view returns (uint256);
    /// @notice Largest notional of keeper trades inside the rolling window, usd wad.
    function maxNotionalPerWindowUsd() external view returns (uint256);
    /// @notice Length of the rolling window, seconds.
    function windowSeconds() external view returns (uint256);
    /// @notice Largest slippage below the oracle a trade may accept (and worst case assumed), bps.
    function maxSlippageBps() external view returns (uint256);
    /// @notice Largest loss at the oracle inside the rolling window, usd wad.
    function lossBudgetWindowUsd() external view returns (uint256);
    /// @notice Largest loss at the oracle since the owners last reset the total, usd wad.
    function lossBudgetTotalUsd() external view returns (uint256);
    /// @notice Loss at the oracle since the last `resetLossTotal` (a budget change keeps it), usd wad.
    function lossTotalUsd() external view returns (uint256);
    /// @notice TWAP window of the allowed pools, seconds; 0 = swaps bounded by the feeds only.
    function twapSeconds() external view returns (uint256);
    /// @notice Minimum (equity at the oracle) / (|size| x oracle) after a perp trade that grows or flips, bps.
    function perpMinMarginBps() external view returns (uint256);
    /// @notice Optional L2 sequencer-uptime feed (answer 0 = up; startedAt = when the status last changed).
    function sequencerFeed() external view returns (address);
    /// @notice Seconds after the sequencer comes back up during which no trade is allowed.
    function sequencerGraceSeconds() external view returns (uint256);
    /// @notice Max |position size| the keeper may grow a perp position to, 1e18 underlying units; 0 = no trading.
    function perpMaxAbsSize(address market) external view returns (uint256);
    /// @notice Allowed pool for keccak256(abi.encode(token0, token1, fee)) (tokens sorted), 0 if not allowed.
    function poolFor(bytes32 key) external view returns (address);

    // ------------------------------------------------------------------ configuration (Safe only)

    /// @notice Replace the keeper key (0 disables hedging). Only the Safe.
    /// @param newKeeper The new hedging key.
    function setKeeper(address newKeeper) external;

    /// @notice Replace the guardian (0 = none). Only the Safe.
    /// @param newGuardian The new guardian.
    function setGuardian(address newGuardian) external;

    /// @notice Set the Uniswap v3 SwapRouter used by `hedgeSwap` (0 disables swaps). Only the Safe.
    /// @dev Reverts `InvalidRouter` for the Safe or the module itself.
    /// @param newRouter The new router.
    function setRouter(address newRouter) external;

    /// @notice Set the Uniswap v3 factory in which `setPoolAllowed` looks pools up (the router's factory). Pools
    ///         already allowed stay allowed (the owners disallow them explicitly). Only the Safe.
    /// @dev Reverts `ZeroAddress` for 0.
    /// @param newFactory The new factory.
    function setFactory(address newFactory) external;

    /// @notice Allow or disallow the factory's pool of (tokenA, tokenB, fee). Swaps go only through allowed pools.
    ///         Re-allowing a pair and fee looks the pool up again (maybe in a new factory). Only the Safe.
    /// @dev Reverts `InvalidFeeTier` unless 0 < fee < 1e6, `SameToken` for tokenA == tokenB; when allowing,
    ///      `FactoryNotSet`, `PoolNotFound` (no pool, or no code at it) and `ListFull` past `MAX_LIST_LENGTH` pools.
    ///      Disallowing a pool that is not allowed only emits `PoolSet(0, ..)`.
    /// @param tokenA One token of the pair (any order).
    /// @param tokenB The other token.
    /// @param fee Fee tier in hundredths of a bip.
    /// @param allowed True to allow, false to disallow.
    function setPoolAllowed(address tokenA, address tokenB, uint24 fee, bool allowed) external;

    /// @notice Allow a token with its Chainlink-style USD feed and max feed age, or disallow it (`allowed = false`
    ///         deletes its config). The token's decimals are read once here. A stablecoin needs its own (1.00)
    ///         feed. Only the Safe.
    /// @dev Reverts `ZeroAddress` for token 0; when allowing, `ZeroAddress` for feed 0, `InvalidFeedAge` unless
    ///      0 < maxFeedAge <= `MAX_FEED_AGE`, `InvalidDecimals` if the feed's or the token's decimals exceed
    ///      `MAX_DECIMALS`, and `ListFull` past `MAX_LIST_LENGTH` tokens.
    /// @param token The token.
    /// @param feed Its USD feed (ignored when disallowing).
    /// @param maxFeedAge Max age of the feed's answer, seconds: the feed's heartbeat (ignored when disallowing).
    /// @param allowed True to allow (or update), false to disallow.
    function setTokenConfig(address token, address feed, uint256 maxFeedAge, bool allowed) external;

    /// @notice Allow a perp market with the module's own USD feed for its underlying (the market's own price view
    ///         is never trusted), or disallow it (config deleted). The quote token's decimals are read here. A
    ///         market is traded only once it also has a position limit (`setPerpPositionLimit`). Only the Safe.
    /// @dev Reverts `ZeroAddress` for market 0; when allowing, as `setTokenConfig` for the feed, `InvalidDecimals`
    ///      if the quote token has more than 18 decimals, and `ListFull` past `MAX_LIST_LENGTH` markets.
    /// @param market The perp market.
    /// @param underlyingFeed USD feed of the market's underlying (ignored when disallowing).
    /// @param maxFeedAge Max age of the feed's answer, seconds (ignored when disallowing).
    /// @param allowed True to allow (or update), false to disallow.
    function setPerpMarket(address market, address underlyingFeed, uint256 maxFeedAge, bool allowed) external;

    /// @notice Cap |position size| a keeper trade may leave on `market`; a flip counts as its full new size; a
    ///         trade that only shrinks |size| is always allowed. 0 = the keeper cannot trade the market. Only the
    ///         Safe.
    /// @param market The perp market (need not be allowed yet).
    /// @param maxAbsSize The cap, 1e18 underlying units.
    function setPerpPositionLimit(address market, uint256 maxAbsSize) external;

    /// @notice Minimum margin ratio after a perp trade that grows or flips a position: equity at the module's
    ///         oracle >= |size| x oracle x bps / 1e4 (0 = no perp trading). Only the Safe.
    /// @dev Reverts `InvalidMarginBps` above `BPS`.
    /// @param bps The minimum ratio, bps (0..10000).
    function setPerpMinMarginBps(uint256 bps) external;

    /// @notice Set the caps. A new window length clears the window's notional and loss (not the total loss).
    ///         Only the Safe.
    /// @dev Reverts `InvalidLimits` unless 0 < perTradeUsd <= perWindowUsd <= `MAX_NOTIONAL_USD`,
    ///      0 < windowSecs <= `MAX_WINDOW_SECONDS` and slippageBps <= `MAX_SLIPPAGE_BPS_CEILING`.
    /// @param perTradeUsd Largest notional of one trade, usd wad.
    /// @param perWindowUsd Largest notional inside the rolling window, usd wad.
    /// @param windowSecs Rolling window, seconds.
    /// @param slippageBps Largest slippage below the oracle, bps.
    function setLimits(uint256 perTradeUsd, uint256 perWindowUsd, uint256 windowSecs, uint256 slippageBps) external;

    /// @notice Set the loss budgets. The total spent so far is kept. Only the Safe.
    /// @dev Reverts `InvalidLossBudgets` unless perWindowUsd <= totalUsd <= `MAX_NOTIONAL_USD`.
    /// @param perWindowUsd Largest loss at the oracle per rolling window, usd wad.
    /// @param totalUsd Largest loss at the oracle since the last reset, usd wad.
    function setLossBudgets(uint256 perWindowUsd, uint256 totalUsd) external;

    /// @notice Start the total loss over at 0 (the owners have looked at what was lost). Only the Safe.
    function resetLossTotal() external;

    /// @notice TWAP window of the allowed pools for the swap bound. The pools need enough observation cardinality
    ///         to reach that far back, else swaps revert. Only the Safe.
    /// @dev Reverts `InvalidTwapWindow` unless secs == 0 or `MIN_TWAP_SECONDS` <= secs <= `MAX_TWAP_SECONDS`.
    /// @param secs The window, seconds (0 = feeds only).
    function setTwapWindow(uint256 secs) external;

    /// @notice Set (or clear with 0) the L2 sequencer-uptime feed and the grace period after it comes back up
    ///         during which no trade is allowed. Only the Safe.
    /// @dev Reverts `InvalidSequencerGrace` above `MAX_SEQUENCER_GRACE`.
    /// @param feed The sequencer-uptime feed (0 = none).
    /// @param graceSecs The grace period, seconds.
    function setSequencerFeed(address feed, uint256 graceSecs) external;

    /// @notice Stop all hedging. The guardian or the Safe (`NotGuardian` otherwise).
    function pause() external;

    /// @notice Resume hedging. Only the Safe; reverts `NotPaused` when not paused.
    function unpause() external;

    // ------------------------------------------------------------------ hedges

    /// @notice Swap `amountIn` of `tokenIn` for `tokenOut` through the allowed pool (tokenIn, tokenOut, fee) on the
    ///         configured router, from and to the Safe. `amountOutMinimum` must be at least the stricter of the
    ///         feed-implied and the TWAP-implied output less `maxSlippageBps`. The loss at the feeds is charged to
    ///         the loss budgets. Only the keeper, not while paused.
    /// @dev Reverts, in this order, `NotKeeper`, `Paused`, `RouterNotSet`, `DeadlineExpired`, `PoolNotAllowed`,
    ///      `ZeroAmount`, `AmountTooLarge` (above 2^128 - 1), `SameToken`, `TokenNotAllowed`, feed errors, the
    ///      pool's TWAP failure (if a TWAP window is set), `MinOutBelowOracleBound`, `TradeCapExceeded`,
    ///      `WindowCapExceeded`, execution errors (`ApproveFailed`, `SwapFailed`), `InputOverspent`,
    ///      `OutputBelowMinimum`, `WindowLossBudgetExceeded` and `TotalLossBudgetExceeded`. If the total loss budget left is below notional x maxSlippageBps the module
    ///      pauses itself (`LossBudgetSpent`, `ModulePaused`) and returns 0 without trading.
    /// @param tokenIn The token the Safe sells.
    /// @param tokenOut The token the Safe buys.
    /// @param fee The pool's fee tier, hundredths of a bip.
    /// @param amountIn Raw tokenIn units to sell.
    /// @param amountOutMinimum Smallest raw tokenOut output accepted.
    /// @param deadline Unix seconds.
    /// @return amountOut Raw tokenOut units the Safe received (0 if the module paused itself: budget spent).
    function hedgeSwap(
        address tokenIn,
        address tokenOut,
        uint24 fee,
        uint256 amountIn,
        uint256 amountOutMinimum,
        uint256 deadline
    ) external returns (uint256 amountOut);

    /// @notice Change the Safe's perp position on `market` by `sizeDelta`. For a buy `acceptablePrice` must be
    ///         <= oracle * (1 + maxSlippage - takerFee); for a sell >= oracle * (1 - maxSlippage + takerFee).
    ///         |new size| must stay within the market's limit (a flip counts in full) and the margin ratio at the
    ///         oracle >= perpMinMarginBps after a trade that grows or flips. The drop of the Safe's equity in the
    ///         market at the oracle is charged to the loss budgets. Margin must already be in the market (the
    ///         module never moves margin). Only the keeper, not while paused.
    /// @dev Reverts, in this order, `NotKeeper`, `Paused`, `MarketNotAllowed`, `ZeroAmount`, feed errors,
    ///      `PerpFeeAboveSlippage`, `AcceptablePriceOutOfBound`, `PerpPositionLimitNotSet`, `PerpMinMarginNotSet`,
    ///      `PerpPositionLimitExceeded`, `TradeCapExceeded`, `WindowCapExceeded`, execution errors
    ///      (`PerpCallFailed`), `PerpFillMismatch`, `PerpMarginTooLow`, `WindowLossBudgetExceeded` and
    ///      `TotalLossBudgetExceeded`. Pauses itself and returns without
    ///      trading when the total loss budget left is below the worst case, as `hedgeSwap`.
    /// @param market The perp market.
    /// @param sizeDelta Size change, 1e18 underlying units (+ buys, - sells).
    /// @param acceptablePrice Worst fill price, 1e18 quote per underlying.
    function hedgePerp(address market, int256 sizeDelta, uint256 acceptablePrice) external;

    /// @notice The guardian (or the Safe) moves a perp position toward 0 by `sizeDelta` (opposite sign to the
    ///         position, |sizeDelta| <= |size|; never a flip) at the oracle-bounded acceptable price. Allowed while
    ///         paused; uses no window notional; its loss is recorded in the window and total but never blocks it.
    /// @dev Reverts, in this order, `NotGuardian`, `MarketNotAllowed`, `ZeroAmount`, feed errors,
    ///      `PerpFeeAboveSlippage`, `NotAReduction`, execution errors (`PerpCallFailed`) and `PerpFillMismatch`. The recorded loss is
    ///      capped at `MAX_NOTIONAL_USD`.
    /// @param market The perp market.
    /// @param sizeDelta Size change toward 0, 1e18 underlying units.
    function guardianReducePerp(address market, int256 sizeDelta) external;

    /// @notice The shared caps and loss budgets for another module the owners enabled on the same Safe (the
    ///         `HedgeVenueModule`: Uniswap v4 and Aave v3), which calls it through the Safe
    ///         (`execTransactionFromModule`). Only the Safe may call it, so only its owners or a module they
    ///         enabled can book here; the keeper cannot add a caller and gets no budget of its own. With
    ///         `notionalUsd` != 0 it is `hedgeSwap`'s pre-trade step: the per-trade and window caps (revert),
    ///         then the total loss budget against notional x maxSlippageBps (short: pause, return false; the
    ///         caller must not trade). With `notionalUsd` = 0 it is the post-trade step: charge `lossUsd` to the
    ///         window and total budgets (revert when either would be exceeded); the caller books the notional
    ///         first, in the same transaction. The caller checks `paused` itself.
    /// @param notionalUsd The trade's notional, usd wad (0 = charge the loss).
    /// @param lossUsd The trade's loss at the oracle, usd wad (ignored when `notionalUsd` != 0).
    /// @return ok False when the module paused itself because the loss budget left cannot cover the trade.
    function bookVenueTrade(uint256 notionalUsd, uint256 lossUsd) external returns (bool ok);

    // ------------------------------------------------------------------ views

    /// @notice Oracle quote for a swap in the allowed pool (tokenIn, tokenOut, fee); reverts as `hedgeSwap`'s
    ///         checks of the pool, tokens, amount, sequencer and feeds.
    /// @param tokenIn The token sold.
    /// @param tokenOut The token bought.
    /// @param fee The pool's fee tier, hundredths of a bip.
    /// @param amountIn Raw tokenIn units.
    /// @return notionalUsd The notional, usd wad (rounded up).
    /// @return expectedOut The oracle output, raw tokenOut units: the stricter of the feeds and the pool's TWAP.
    /// @return minAmountOut The smallest `amountOutMinimum` `hedgeSwap` accepts (expectedOut less maxSlippageBps).
    function quoteSwap(address tokenIn, address tokenOut, uint24 fee, uint256 amountIn)
        external
        view
        returns (uint256 notionalUsd, uint256 expectedOut, uint256 minAmountOut);

    /// @notice Oracle quote for a perp trade; reverts as `hedgePerp`'s checks of the market, size, sequencer,
    ///         feed and taker fee.
    /// @param market The perp market.
    /// @param sizeDelta Size change, 1e18 underlying units.
    /// @return notionalUsd The notional, usd wad (rounded up).
    /// @return oraclePrice The module's oracle price, 1e18 quote per underlying.
    /// @return priceBound The acceptable-price bound (a max for buys, a min for sells; the taker fee included).
    function quotePerp(address market, int256 sizeDelta)
        external
        view
        returns (uint256 notionalUsd, uint256 oraclePrice, uint256 priceBound);

    /// @notice Config of `token` (all 0 if not allowed).
    /// @param token The token.
    /// @return feed Its USD feed.
    /// @return maxFeedAge Max age of the feed's answer, seconds.
    /// @return decimals The token's decimals.
    /// @return allowed Whether the token is allowed.
    function tokenConfig(address token)
        external
        view
        returns (address feed, uint256 maxFeedAge, uint8 decimals, bool allowed);

    /// @notice Usage of the rolling window now.
    /// @return notionalUsd Notional inside the window, usd wad.
    /// @return buckets Time buckets inside the window (<= 33).
    function windowUsage() external view returns (uint256 notionalUsd, uint256 buckets);

    /// @notice Loss at the oracle (the budgets are `lossBudgetWindowUsd` and `lossBudgetTotalUsd`).
    /// @return windowLossUsd Inside the rolling window, usd wad.
    /// @return totalLossUsd Since the last reset, usd wad.
    function lossUsage() external view returns (uint256 windowLossUsd, uint256 totalLossUsd);

    /// @notice Every parameter (not the paused flag, not window or loss state); the allowed pools, tokens and
    ///         markets are listed sorted ascending by address.
    /// @return p The parameters.
    function params() external view returns (Params memory p);

    /// @notice keccak256(abi.encode(params())): the ABI encoding of the single tuple
    ///         (bytes32 version, uint256 chainId, address module, address safe, address keeper, address guardian,
    ///          address router, uint256 maxNotionalPerTradeUsd, uint256 maxNotionalPerWindowUsd, uint256 windowSeconds,
    ///          uint256 maxSlippageBps, (address pool, address token0, address token1, uint256 fee)[] pools,
    ///          (address token, address feed, uint256 maxFeedAge, uint256 decimals)[] tokens,
    ///          (address market, address feed, uint256 maxFeedAge, uint256 maxAbsSize)[] markets, address factory,
    ///          uint256 lossBudgetWindowUsd, uint256 lossBudgetTotalUsd, uint256 twapSeconds,
    ///          uint256 perpMinMarginBps, address sequencerFeed, uint256 sequencerGraceSeconds).
    /// @return The hash.
    function paramsHash() external view returns (bytes32);
}
