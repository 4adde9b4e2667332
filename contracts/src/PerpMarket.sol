// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {SignedMath} from "@openzeppelin/contracts/utils/math/SignedMath.sol";
import {IPerpMarket} from "./interfaces/IPerpMarket.sol";
import {AggregatorV3Interface} from "./interfaces/AggregatorV3Interface.sol";

/// @title PerpMarket
/// @notice A linear perpetual on one Chainlink-style price, margined in one quote token, with the
///         market's pool (LP/insurance funds) as the counterparty of every trader.
/// @dev Units (see IPerpMarket): size 1e18 underlying (signed), prices and the funding index 1e18
///      quote per underlying, margin/fees/PnL raw quote units. A 1e36 value (size * price) becomes
///      raw quote units by dividing by 10^(36 - quoteDecimals).
///      Rounding always favours the pool: realized/unrealized PnL rounds toward -infinity, funding
///      owed and fees round up, margin requirements round up.
///      Pool: realized losses, funding paid and fees are credited to `poolBalance`; realized profits
///      and funding received are paid from it, and such a settlement reverts with PoolInsufficient
///      if the pool cannot cover it. Liquidation bad debt (remaining margin < 0) is absorbed by the
///      pool: it receives only the account's margin instead of the full loss. Hence, exactly,
///      token balance == totalMargin + poolBalance (plus any tokens sent to the contract directly).
///      Funding: rate/s = clamp(skew / skewScale, -1, 1) * maxFundingRatePerDay / 86400 with
///      skew = longOpenInterest - shortOpenInterest; index += rate * price * dt / 1e18. Positive
///      index growth is paid by longs and received by shorts (through the pool).
///      depositMargin and withdrawals while flat never read the oracle; everything else requires a
///      fresh oracle (updatedAt + maxFeedAge >= now). Views use the latest answer without the
///      staleness check so batched reads never revert on a stale feed.
///      Admin: every parameter is bounded (fee <= 1 %, initial margin 1-50 %, maintenance <= 25 %
///      and <= initial, liquidation reward <= 5 % and <= maintenance, funding <= 10 %/day, feed age
///      <= 1 day) and a change is timelocked: the owner queues a whole parameter set, which can be
///      executed PARAMS_DELAY (2 days) later, so traders see it coming and can leave. Pool
///      withdrawals (the pool pays trader profits) are queued with the same delay.
contract PerpMarket is IPerpMarket, Ownable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Constructor parameters (changed later only through queueParams / executeParams).
    struct Params {
        uint256 takerFeeBps; // fee in bps of notional per trade, <= MAX_FEE_BPS
        uint256 initialMarginBps; // [MIN_INITIAL_MARGIN_BPS, MAX_INITIAL_MARGIN_BPS]
        uint256 maintenanceMarginBps; // (0, min(initialMarginBps, MAX_MAINTENANCE_MARGIN_BPS)]
        uint256 liquidationRewardBps; // <= min(maintenanceMarginBps, MAX_LIQUIDATION_REWARD_BPS)
        uint256 maxFundingRatePerDay; // 1e18 = 100% of price per day at full skew, <= MAX_FUNDING_RATE_PER_DAY
        uint256 skewScale; // skew (1e18 underlying units) at which the rate saturates, > 0
        uint256 maxFeedAge; // seconds, (0, MAX_FEED_AGE]
    }

    uint256 public constant BPS = 1e4;
    uint256 public constant WAD = 1e18;
    /// @notice Bounds of the parameters (bps; 1e18 = 100 %/day; seconds) and the delay of a change (seconds).
    uint256 public constant MAX_FEE_BPS = 100;
    uint256 public constant MIN_INITIAL_MARGIN_BPS = 100;
    uint256 public constant MAX_INITIAL_MARGIN_BPS = 5000;
    uint256 public constant MAX_MAINTENANCE_MARGIN_BPS = 2500;
    uint256 public constant MAX_LIQUIDATION_REWARD_BPS = 500;
    uint256 public constant MAX_FUNDING_RATE_PER_DAY = 0.1e18;
    uint256 public constant MAX_FEED_AGE = 1 days;
    uint256 public constant PARAMS_DELAY = 2 days;
    /// @notice Largest absolute position size (1e18 units); keeps 1e36 products far from overflow.
    uint256 public constant MAX_SIZE = 1e30;
    /// @notice Largest accepted oracle price (1e18 scale).
    uint256 public constant MAX_PRICE = 1e30;

    /// @inheritdoc IPerpMarket
    address public immutable override quoteToken;
    /// @inheritdoc IPerpMarket
    address public immutable override feed;
    uint8 public immutable quoteDecimals;
    uint8 public immutable feedDecimals;
    uint256 internal immutable _quoteUnit; // 10^(36 - quoteDecimals)

    /// @inheritdoc IPerpMarket
    uint256 public override takerFeeBps;
    /// @inheritdoc IPerpMarket
    uint256 public override initialMarginBps;
    /// @inheritdoc IPerpMarket
    uint256 public override maintenanceMarginBps;
    /// @notice Liquidator reward, bps of notional, capped by the remaining margin.
    uint256 public liquidationRewardBps;
    /// @notice Funding rate at full skew, 1e18 = 100% of price per day.
    uint256 public maxFundingRatePerDay;
    /// @notice Skew (1e18 underlying) at which the funding rate saturates.
    uint256 public skewScale;
    /// @notice Seconds an oracle answer may lag block.timestamp for state changes.
    uint256 public maxFeedAge;

    /// @notice Sum of long sizes, 1e18 units.
    uint256 public longOpenInterest;
    /// @notice Sum of absolute short sizes, 1e18 units.
    uint256 public shortOpenInterest;
    /// @notice LP/insurance funds (raw quote units); counterparty to all PnL and funding.
    uint256 public poolBalance;
    /// @notice Sum of all accounts' margin (raw quote units).
    uint256 public totalMargin;
    /// @notice Timestamp of the last funding accrual.
    uint256 public lastFundingTime;
    int256 internal _fundingIndex;
    mapping(address => Position) internal _positions;
    /// @notice The queued parameter set and when it may be executed (unix seconds; 0 = none queued).
    Params public pendingParams;
    uint256 public pendingParamsEta;
    /// @notice The queued pool withdrawal (raw quote units), its recipient and when it may be executed
    ///         (unix seconds; 0 = none queued).
    uint256 public pendingWithdrawalAmount;
    address public pendingWithdrawalTo;
    uint256 public pendingWithdrawalEta;

    event FundingSettled(address indexed account, int256 amount);
    event BadDebt(address indexed account, uint256 amount);
    event PoolFunded(address indexed from, uint256 amount);
    event PoolWithdrawn(address indexed to, uint256 amount);
    /// @notice A pool withdrawal was queued; executable from `eta` (unix seconds).
    event PoolWithdrawalQueued(address indexed to, uint256 amount, uint256 eta);
    event PoolWithdrawalCancelled();
    event TakerFeeUpdated(uint256 takerFeeBps);
    event MarginParamsUpdated(uint256 initialMarginBps, uint256 maintenanceMarginBps, uint256 liquidationRewardBps);
    event FundingParamsUpdated(uint256 maxFundingRatePerDay, uint256 skewScale);
    event MaxFeedAgeUpdated(uint256 maxFeedAge);
    /// @notice A parameter change was queued; executable from `eta` (unix seconds).
    event ParamsQueued(
        uint256 takerFeeBps,
        uint256 initialMarginBps,
        uint256 maintenanceMarginBps,
        uint256 liquidationRewardBps,
        uint256 maxFundingRatePerDay,
        uint256 skewScale,
        uint256 maxFeedAge,
        uint256 eta
    );
    event ParamsCancelled();

    error ZeroAddress();
    error ZeroAmount();
    error InvalidParams();
    error DecimalsTooLarge(uint8 decimals);
    error InvalidPrice(int256 answer);
    error StalePrice(uint256 updatedAt, uint256 maxFeedAge);
    error SlippageExceeded(uint256 fillPrice, uint256 acceptablePrice);
    error SizeTooLarge(int256 size);
    error InsufficientMargin(int256 remaining, uint256 required);
    error PoolInsufficient(uint256 poolBalance, uint256 needed);
    error NotLiquidatable(address account);
    error NoParamsQueued();
    error NoWithdrawalQueued();
    error ParamsTimelocked(uint256 eta, uint256 nowTs);

    /// @param quoteToken_ Margin token (decimals <= 18).
    /// @param feed_ Chainlink-style feed of quote per underlying (decimals <= 36).
    /// @param owner_ Sets parameters and manages the pool.
    /// @param params Initial parameters (see Params).
    constructor(address quoteToken_, address feed_, address owner_, Params memory params) Ownable(owner_) {
        if (quoteToken_ == address(0) || feed_ == address(0)) revert ZeroAddress();
        uint8 qd = IERC20Metadata(quoteToken_).decimals();
        if (qd > 18) revert DecimalsTooLarge(qd);
        uint8 fd = AggregatorV3Interface(feed_).decimals();
        if (fd > 36) revert DecimalsTooLarge(fd);
        quoteToken = quoteToken_;
        feed = feed_;
        quoteDecimals = qd;
        feedDecimals = fd;
        _quoteUnit = 10 ** (36 - uint256(qd));
        lastFundingTime = block.timestamp;
        _checkParams(params);
        _setTakerFee(params.takerFeeBps);
        _setMarginParams(params.initialMarginBps, params.maintenanceMarginBps, params.liquidationRewardBps);
        _setFundingParams(params.maxFundingRatePerDay, params.skewScale);
        _setMaxFeedAge(params.maxFeedAge);
    }

    // ---------------------------------------------------------------- margin

    /// @inheritdoc IPerpMarket
    /// @param amount Raw quote units pulled from the caller (approve first). Needs no oracle.
    function depositMargin(uint256 amount) external override nonReentrant {
        if (amount == 0) revert ZeroAmount();
        _positions[msg.sender].margin += amount;
        totalMargin += amount;
        emit MarginDeposited(msg.sender, amount);
        IERC20(quoteToken).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IPerpMarket
    /// @param amount Raw quote units. With an open position the remaining margin afterwards must
    ///        stay >= the initial margin requirement (needs a fresh oracle); flat accounts may
    ///        withdraw everything without the oracle.
    function withdrawMargin(uint256 amount) external override nonReentrant {
        if (amount == 0) revert ZeroAmount();
        Position storage p = _positions[msg.sender];
        if (amount > p.margin) revert InsufficientMargin(int256(p.margin), amount);
        p.margin -= amount;
        totalMargin -= amount;
        if (p.size != 0) {
            uint256 price = _price(true);
            _accrue(price);
            int256 rem = _remaining(p, price, _fundingIndex);
            uint256 req = _requirement(p.size, price, initialMarginBps);
            if (rem < int256(req)) revert InsufficientMargin(rem, req);
            _emitFunding();
        }
        emit MarginWithdrawn(msg.sender, amount);
        IERC20(quoteToken).safeTransfer(msg.sender, amount);
    }

    // ---------------------------------------------------------------- trading

    /// @inheritdoc IPerpMarket
    /// @param sizeDelta 1e18 underlying units, + buys, - sells; may flip the position.
    /// @param acceptablePrice 1e18 quote per underlying: max for a buy, min for a sell.
    /// @dev Settles accrued funding, realized PnL of the reduced part and the fee
    ///      ceil(|sizeDelta| * price * takerFeeBps / 1e4) into margin (must stay >= 0). Increases and
    ///      flips must leave remainingMargin >= initialMarginBps of the new notional.
    function modifyPosition(int256 sizeDelta, uint256 acceptablePrice) external override nonReentrant {
        if (sizeDelta == 0) revert ZeroAmount();
        uint256 price = _price(true);
        if (sizeDelta > 0 ? price > acceptablePrice : price < acceptablePrice) {
            revert SlippageExceeded(price, acceptablePrice);
        }
        _accrue(price);
        int256 idx = _fundingIndex;
        Position storage p = _positions[msg.sender];
        int256 oldSize = p.size;
        int256 newSize = oldSize + sizeDelta;
        if (SignedMath.abs(newSize) > MAX_SIZE) revert SizeTooLarge(newSize);

        int256 funding = _fundingOwed(p, idx);
        int256 closed; // signed part of the old position that this trade closes
        if (oldSize != 0 && (oldSize > 0) != (sizeDelta > 0)) {
            closed = SignedMath.abs(sizeDelta) >= SignedMath.abs(oldSize) ? oldSize : -sizeDelta;
        }
        int256 realized = _floorDiv((int256(price) - int256(p.entryPrice)) * closed, _quoteUnit);
        uint256 fee = Math.mulDiv(SignedMath.abs(sizeDelta), price * takerFeeBps, BPS * _quoteUnit, Math.Rounding.Ceil);
        _settle(p, realized - funding - int256(fee));

        bool increases = oldSize == 0 || (oldSize > 0) == (sizeDelta > 0);
        bool flipped = oldSize != 0 && newSize != 0 && (newSize > 0) != (oldSize > 0);
        if (newSize == 0) {
            p.entryPrice = 0;
        } else if (oldSize == 0 || flipped) {
            p.entryPrice = price; // opened from flat, or the remainder of a flip
        } else if (increases) {
            // size-weighted average, rounded against the trader (up for longs, down for shorts)
            uint256 num = SignedMath.abs(oldSize) * p.entryPrice + SignedMath.abs(sizeDelta) * price;
            p.entryPrice = oldSize > 0 ? Math.ceilDiv(num, SignedMath.abs(newSize)) : num / SignedMath.abs(newSize);
        } // a pure reduction keeps the entry price
        _setSize(p, newSize);
        p.lastFundingIndex = idx;

        if (newSize != 0 && (increases || flipped)) {
            int256 rem = _remaining(p, price, idx);
            uint256 req = _requirement(newSize, price, initialMarginBps);
            if (rem < int256(req)) revert InsufficientMargin(rem, req);
        }
        if (funding != 0) emit FundingSettled(msg.sender, funding);
        emit PositionModified(msg.sender, sizeDelta, price, fee, realized, newSize);
        _emitFunding();
    }

    /// @inheritdoc IPerpMarket
    /// @notice Close a liquidatable position at the oracle price. The liquidator receives
    ///         min(liquidationRewardBps * notional / 1e4, remaining); what is left stays as the
    ///         account's margin. If remaining <= 0 the pool takes the whole margin, no reward is
    ///         paid and the shortfall is emitted as BadDebt.
    function liquidate(address account) external override nonReentrant {
        uint256 price = _price(true);
        _accrue(price);
        int256 idx = _fundingIndex;
        Position storage p = _positions[account];
        int256 size = p.size;
        if (size == 0 || !_liquidatable(p, price, idx)) revert NotLiquidatable(account);

        int256 net = _floorDiv((int256(price) - int256(p.entryPrice)) * size, _quoteUnit) - _fundingOwed(p, idx);
        int256 remaining = int256(p.margin) + net;
        uint256 reward;
        if (remaining <= 0) {
            poolBalance += p.margin;
            totalMargin -= p.margin;
            p.margin = 0;
            if (remaining < 0) emit BadDebt(account, uint256(-remaining));
        } else {
            reward = Math.mulDiv(SignedMath.abs(size), price * liquidationRewardBps, BPS * _quoteUnit);
            if (reward > uint256(remaining)) reward = uint256(remaining);
            _settle(p, net); // the pool settles PnL and funding
            p.margin -= reward; // the reward leaves the account's remaining margin
            totalMargin -= reward;
        }
        _setSize(p, 0);
        p.entryPrice = 0;
        p.lastFundingIndex = idx;
        emit Liquidated(account, msg.sender, size, price, reward);
        _emitFunding();
        if (reward > 0) IERC20(quoteToken).safeTransfer(msg.sender, reward);
    }

    // ---------------------------------------------------------------- pool and admin

    /// @notice Add LP/insurance funds to the pool (owner only), raw quote units pulled from the caller.
    function fundPool(uint256 amount) external onlyOwner nonReentrant {
        if (amount == 0) revert ZeroAmount();
        poolBalance += amount;
        emit PoolFunded(msg.sender, amount);
        IERC20(quoteToken).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Queue a withdrawal of pool funds (owner only), raw quote units, executable after PARAMS_DELAY
    ///         (2 days); replaces any queued withdrawal. The pool pays trader profits: an instant withdrawal
    ///         would leave profitable positions unable to close (their settlement reverts), so traders get the
    ///         same notice as for a parameter change.
    function queuePoolWithdrawal(uint256 amount, address to) external onlyOwner {
        if (amount == 0) revert ZeroAmount();
        if (to == address(0)) revert ZeroAddress();
        uint256 eta = block.timestamp + PARAMS_DELAY;
        pendingWithdrawalAmount = amount;
        pendingWithdrawalTo = to;
        pendingWithdrawalEta = eta;
        emit PoolWithdrawalQueued(to, amount, eta);
    }

    /// @notice Drop the queued pool withdrawal. Owner only.
    function cancelPoolWithdrawal() external onlyOwner {
        if (pendingWithdrawalEta == 0) revert NoWithdrawalQueued();
        _clearWithdrawal();
        emit PoolWithdrawalCancelled();
    }

    /// @notice Execute the queued pool withdrawal once its delay has passed (owner only); reverts with
    ///         PoolInsufficient if the pool no longer holds the amount.
    function withdrawPool() external onlyOwner nonReentrant {
        uint256 eta = pendingWithdrawalEta;
        if (eta == 0) revert NoWithdrawalQueued();
        if (block.timestamp < eta) revert ParamsTimelocked(eta, block.timestamp);
        uint256 amount = pendingWithdrawalAmount;
        address to = pendingWithdrawalTo;
        if (amount > poolBalance) revert PoolInsufficient(poolBalance, amount);
        _clearWithdrawal();
        poolBalance -= amount;
        emit PoolWithdrawn(to, amount);
        IERC20(quoteToken).safeTransfer(to, amount);
    }

    function _clearWithdrawal() internal {
        pendingWithdrawalAmount = 0;
        pendingWithdrawalTo = address(0);
        pendingWithdrawalEta = 0;
    }

    /// @notice Queue a whole new parameter set (bounds as in Params), executable after PARAMS_DELAY
    ///         (2 days); replaces any queued set. Owner only.
    function queueParams(Params calldata p) external onlyOwner {
        _checkParams(p);
        pendingParams = p;
        uint256 eta = block.timestamp + PARAMS_DELAY;
        pendingParamsEta = eta;
        emit ParamsQueued(
            p.takerFeeBps,
            p.initialMarginBps,
            p.maintenanceMarginBps,
            p.liquidationRewardBps,
            p.maxFundingRatePerDay,
            p.skewScale,
            p.maxFeedAge,
            eta
        );
    }

    /// @notice Drop the queued parameter set. Owner only.
    function cancelParams() external onlyOwner {
        if (pendingParamsEta == 0) revert NoParamsQueued();
        delete pendingParams;
        pendingParamsEta = 0;
        emit ParamsCancelled();
    }

    /// @notice Apply the queued parameter set once its delay has passed (funding is accrued at the old
    ///         parameters first; needs a fresh oracle if the current rate is non-zero). Owner only.
    function executeParams() external onlyOwner {
        uint256 eta = pendingParamsEta;
        if (eta == 0) revert NoParamsQueued();
        if (block.timestamp < eta) revert ParamsTimelocked(eta, block.timestamp);
        Params memory p = pendingParams;
        delete pendingParams;
        pendingParamsEta = 0;
        _accrue(0);
        _setTakerFee(p.takerFeeBps);
        _setMarginParams(p.initialMarginBps, p.maintenanceMarginBps, p.liquidationRewardBps);
        _setFundingParams(p.maxFundingRatePerDay, p.skewScale);
        _setMaxFeedAge(p.maxFeedAge);
        _emitFunding();
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IPerpMarket
    function positions(address account)
        external
        view
        override
        returns (int256 size, uint256 entryPrice, uint256 margin, int256 lastFundingIndex)
    {
        Position storage p = _positions[account];
        return (p.size, p.entryPrice, p.margin, p.lastFundingIndex);
    }

    /// @inheritdoc IPerpMarket
    /// @notice Latest feed answer scaled to 1e18 quote per underlying (no staleness check).
    function oraclePrice() external view override returns (uint256) {
        return _price(false);
    }

    /// @notice Whether the feed is fresh enough for state changes.
    function isOracleFresh() external view returns (bool) {
        (,,, uint256 updatedAt,) = AggregatorV3Interface(feed).latestRoundData();
        return updatedAt + maxFeedAge >= block.timestamp;
    }

    /// @inheritdoc IPerpMarket
    /// @notice Cumulative funding index including accrual since lastFundingTime (1e18 quote per underlying).
    function fundingIndex() public view override returns (int256) {
        return _pendingIndex(0, false);
    }

    /// @inheritdoc IPerpMarket
    /// @notice Current rate, 1e18-scaled fraction of price per second; > 0 means longs pay shorts.
    function fundingRatePerSecond() public view override returns (int256) {
        int256 skew = int256(longOpenInterest) - int256(shortOpenInterest);
        int256 prop = skew * int256(WAD) / int256(skewScale);
        if (prop > int256(WAD)) prop = int256(WAD);
        if (prop < -int256(WAD)) prop = -int256(WAD);
        return prop * int256(maxFundingRatePerDay) / int256(WAD * 1 days);
    }

    /// @notice Funding the account owes now (raw quote, rounded up; negative = receives).
    function accruedFunding(address account) external view returns (int256) {
        return _fundingOwed(_positions[account], fundingIndex());
    }

    /// @notice Unrealized PnL at the oracle price (raw quote, rounded down).
    function unrealizedPnl(address account) external view returns (int256) {
        Position storage p = _positions[account];
        return _floorDiv((int256(_price(false)) - int256(p.entryPrice)) * p.size, _quoteUnit);
    }

    /// @inheritdoc IPerpMarket
    function remainingMargin(address account) external view override returns (int256) {
        return _remaining(_positions[account], _price(false), fundingIndex());
    }

    /// @inheritdoc IPerpMarket
    /// @notice size != 0 and remainingMargin < ceil(maintenanceMarginBps * notional / 1e4).
    function isLiquidatable(address account) external view override returns (bool) {
        Position storage p = _positions[account];
        return p.size != 0 && _liquidatable(p, _price(false), fundingIndex());
    }

    // ---------------------------------------------------------------- internals

    function _price(bool strict) internal view returns (uint256 price) {
        (, int256 answer,, uint256 updatedAt,) = AggregatorV3Interface(feed).latestRoundData();
        if (answer <= 0) revert InvalidPrice(answer);
        if (strict && updatedAt + maxFeedAge < block.timestamp) revert StalePrice(updatedAt, maxFeedAge);
        price = feedDecimals <= 18
            ? uint256(answer) * 10 ** (18 - uint256(feedDecimals))
            : uint256(answer) / 10 ** (uint256(feedDecimals) - 18);
        if (price == 0 || price > MAX_PRICE) revert InvalidPrice(answer);
    }

    /// @dev Index with accrual since lastFundingTime; `price` 0 means read the oracle if needed.
    function _pendingIndex(uint256 price, bool strict) internal view returns (int256) {
        uint256 dt = block.timestamp - lastFundingTime;
        int256 rate = fundingRatePerSecond();
        if (dt == 0 || rate == 0) return _fundingIndex;
        if (price == 0) price = _price(strict);
        return _fundingIndex + rate * int256(price) * int256(dt) / int256(WAD);
    }

    function _accrue(uint256 price) internal {
        _fundingIndex = _pendingIndex(price, true);
        lastFundingTime = block.timestamp;
    }

    function _emitFunding() internal {
        emit FundingUpdated(_fundingIndex, fundingRatePerSecond(), block.timestamp);
    }

    /// @dev Move `net` (raw quote) from the pool into the account's margin (negative: margin to pool).
    function _settle(Position storage p, int256 net) internal {
        int256 newMargin = int256(p.margin) + net;
        if (newMargin < 0) revert InsufficientMargin(newMargin, 0);
        if (net > 0) {
            if (uint256(net) > poolBalance) revert PoolInsufficient(poolBalance, uint256(net));
            poolBalance -= uint256(net);
        } else {
            poolBalance += uint256(-net);
        }
        totalMargin = totalMargin - p.margin + uint256(newMargin);
        p.margin = uint256(newMargin);
    }

    function _setSize(Position storage p, int256 newSize) internal {
        int256 old = p.size;
        if (old > 0) longOpenInterest -= uint256(old);
        else shortOpenInterest -= uint256(-old);
        if (newSize > 0) longOpenInterest += uint256(newSize);
        else shortOpenInterest += uint256(-newSize);
        p.size = newSize;
    }

    function _fundingOwed(Position storage p, int256 idx) internal view returns (int256) {
        return _ceilDiv((idx - p.lastFundingIndex) * p.size, _quoteUnit);
    }

    function _remaining(Position storage p, uint256 price, int256 idx) internal view returns (int256) {
        return int256(p.margin) + _floorDiv((int256(price) - int256(p.entryPrice)) * p.size, _quoteUnit)
            - _fundingOwed(p, idx);
    }

    function _requirement(int256 size, uint256 price, uint256 bps) internal view returns (uint256) {
        return Math.mulDiv(SignedMath.abs(size), price * bps, BPS * _quoteUnit, Math.Rounding.Ceil);
    }

    function _liquidatable(Position storage p, uint256 price, int256 idx) internal view returns (bool) {
        return _remaining(p, price, idx) < int256(_requirement(p.size, price, maintenanceMarginBps));
    }

    function _floorDiv(int256 a, uint256 b) internal pure returns (int256 q) {
        q = a / int256(b);
        if (a % int256(b) != 0 && a < 0) q -= 1;
    }

    function _ceilDiv(int256 a, uint256 b) internal pure returns (int256 q) {
        q = a / int256(b);
        if (a % int256(b) != 0 && a > 0) q += 1;
    }

    function _checkParams(Params memory p) internal pure {
        if (
            p.takerFeeBps > MAX_FEE_BPS || p.initialMarginBps < MIN_INITIAL_MARGIN_BPS
                || p.initialMarginBps > MAX_INITIAL_MARGIN_BPS || p.maintenanceMarginBps == 0
                || p.maintenanceMarginBps > p.initialMarginBps || p.maintenanceMarginBps > MAX_MAINTENANCE_MARGIN_BPS
                || p.liquidationRewardBps > p.maintenanceMarginBps
                || p.liquidationRewardBps > MAX_LIQUIDATION_REWARD_BPS
                || p.maxFundingRatePerDay > MAX_FUNDING_RATE_PER_DAY || p.skewScale == 0 || p.maxFeedAge == 0
                || p.maxFeedAge > MAX_FEED_AGE
        ) revert InvalidParams();
    }

    function _setTakerFee(uint256 bps) internal {
        takerFeeBps = bps;
        emit TakerFeeUpdated(bps);
    }

    function _setMarginParams(uint256 im, uint256 mm, uint256 reward) internal {
        initialMarginBps = im;
        maintenanceMarginBps = mm;
        liquidationRewardBps = reward;
        emit MarginParamsUpdated(im, mm, reward);
    }

    function _setFundingParams(uint256 maxRatePerDay, uint256 scale) internal {
        maxFundingRatePerDay = maxRatePerDay;
        skewScale = scale;
        emit FundingParamsUpdated(maxRatePerDay, scale);
    }

    function _setMaxFeedAge(uint256 age) internal {
        maxFeedAge = age;
        emit MaxFeedAgeUpdated(age);
    }
}
