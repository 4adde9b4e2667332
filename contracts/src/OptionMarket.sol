// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC1155} from "@openzeppelin/contracts/token/ERC1155/ERC1155.sol";
import {Ownable} from "@openzeppelin/contracts/access/Ownable.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {IOptionMarket} from "./interfaces/IOptionMarket.sol";
import {AggregatorV3Interface} from "./interfaces/AggregatorV3Interface.sol";

/// @title OptionMarket
/// @notice Fully collateralized, cash-settled European calls and puts. Longs are ERC-1155 tokens
///         (id = series id); shorts are per-writer balances backed by per-writer collateral.
/// @dev Units: option amounts 1e18 per one underlying; strike and settlement prices quote per
///      underlying scaled 1e8; collateral and payouts are raw token units. With S the settlement
///      price, K the strike, ud/qd the underlying/quote decimals:
///      - call collateral  = ceil(amount * 10^ud / 1e18)                    (underlying)
///      - put collateral   = ceil(amount * K * 10^qd / (1e18 * 1e8))          (quote)
///      - call payout      = floor(amount * max(S-K,0) * 10^ud / (S * 1e18))  (underlying)
///      - put payout       = floor(amount * max(K-S,0) * 10^qd / (1e18 * 1e8)) (quote)
///      - writer redeem    = collateralOf(writer) - ceil(payout formula on shortBalance(writer))
///      Holders round down and writers' liabilities round up, so the sum of all payouts and returns
///      never exceeds the collateral locked (any dust stays in the contract). Because
///      ceil(payout(w)) <= ceil(w * maxPayoutPerUnit) <= collateralOf(writer), a writer's
///      liability is always covered by that writer's own collateral.
///      Fee-on-transfer and rebasing tokens are not supported.
///      Settlement: a series settles at the FIRST round of its feed with updatedAt >= expiry, whoever
///      settles and whenever: `settle` walks back from the latest round (at most MAX_ROUND_LOOKBACK
///      rounds), `settleAtRound` takes the round id and proves it (its updatedAt >= expiry and the
///      previous round's < expiry, or no previous round). Round ids of one feed are consecutive (as in
///      PriceFeed and within one Chainlink phase). A feed that is down at expiry settles at its first
///      answer after it comes back. Nobody can pick a later, more favourable round (no look-back).
///      Each series keeps the feed (and decimals) its underlying had when it was created: an owner
///      change of an underlying's feed is timelocked (UNDERLYING_DELAY) and applies to new series only.
contract OptionMarket is IOptionMarket, ERC1155, Ownable, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Scale of strike and settlement prices.
    uint256 public constant PRICE_SCALE = 1e8;
    /// @notice Scale of option amounts (1e18 = one unit of underlying).
    uint256 public constant AMOUNT_SCALE = 1e18;
    /// @notice Largest strike or settlement price accepted (1e8 scale); keeps the math far from overflow.
    uint256 public constant MAX_PRICE = 1e36;
    /// @notice Largest token decimals accepted for the quote token and underlyings.
    uint8 public constant MAX_DECIMALS = 18;
    /// @notice Rounds `settle` walks back from the latest to find the first one at or after expiry.
    uint256 public constant MAX_ROUND_LOOKBACK = 64;
    /// @notice Delay of an owner change to a registered underlying's feed, seconds.
    uint256 public constant UNDERLYING_DELAY = 2 days;

    struct UnderlyingConfig {
        address feed; // quote-per-underlying Chainlink-style feed
        uint64 maxFeedAge; // seconds: the feed's heartbeat, for readers (settlement uses the round rule)
        uint8 decimals; // underlying token decimals
        uint8 feedDecimals; // feed answer decimals
    }

    struct Series {
        address underlying;
        uint64 expiry;
        bool isPut;
        bool settled;
        uint256 strikePrice; // 1e8
        uint256 settlementPrice; // 1e8, set by settle
        uint256 longOutstanding; // 1e18 option units in ERC-1155 balances
        uint256 shortOutstanding; // 1e18 option units still owed by writers
        uint256 collateralLocked; // raw units of the collateral asset held for this series
        address feed; // the underlying's feed when the series was created (never changes)
        uint8 feedDecimals;
    }

    /// @dev A queued change of a registered underlying's feed.
    struct PendingUnderlying {
        address feed;
        uint64 maxFeedAge;
        uint64 eta; // unix seconds
    }

    /// @inheritdoc IOptionMarket
    address public immutable override quoteToken;
    /// @notice Decimals of the quote token.
    uint8 public immutable quoteDecimals;

    /// @notice Registered underlyings (feed == 0 means not registered).
    mapping(address => UnderlyingConfig) public underlyings;
    /// @notice Series id for keccak256(underlying, strikePrice, expiry, isPut); 0 if none.
    mapping(bytes32 => uint256) public seriesIdByKey;
    /// @inheritdoc IOptionMarket
    mapping(uint256 => mapping(address => uint256)) public override shortBalance;
    /// @notice Collateral (raw units of the series' collateral asset) locked by a writer.
    mapping(uint256 => mapping(address => uint256)) public collateralOf;

    uint256 internal _seriesCount;
    mapping(uint256 => Series) internal _series;
    mapping(address => uint256[]) internal _book;
    mapping(address => mapping(uint256 => bool)) internal _inBook;
    /// @notice Queued feed changes of registered underlyings (eta 0 = none).
    mapping(address => PendingUnderlying) public pendingUnderlyings;

    event UnderlyingSet(address indexed underlying, address indexed feed, uint256 maxFeedAge, uint8 decimals);
    /// @notice A registered underlying's feed change was queued; executable from `eta` (unix seconds).
    event UnderlyingUpdateQueued(address indexed underlying, address indexed feed, uint256 maxFeedAge, uint256 eta);
    /// @notice The feed round a series settled at (its updatedAt is the first at or after expiry).
    event SettlementRound(uint256 indexed seriesId, uint80 roundId, uint256 updatedAt);

    error ZeroAddress();
    error ZeroAmount();
    error InvalidUnderlying(address underlying);
    error UnderlyingNotRegistered(address underlying);
    error DecimalsTooLarge(uint8 decimals);
    error InvalidMaxFeedAge();
    error InvalidStrike(uint256 strikePrice);
    error InvalidExpiry(uint64 expiry);
    error SeriesNotFound(uint256 seriesId);
    error SeriesExpired(uint256 seriesId);
    error SeriesNotExpired(uint256 seriesId);
    error AlreadySettled(uint256 seriesId);
    error InsufficientShort(uint256 have, uint256 want);
    error NothingToRedeem();
    error InvalidPrice(int256 answer);
    error PriceBeforeExpiry(uint256 updatedAt, uint256 expiry);
    error NotFirstRoundAfterExpiry(uint80 roundId);
    error SettlementRoundNotFound(uint256 seriesId);
    error NoUpdateQueued(address underlying);
    error UnderlyingTimelocked(uint256 eta, uint256 nowTs);

    /// @param quoteToken_ The strike/quote asset (put collateral), e.g. USDC; decimals <= 18.
    /// @param owner_ May register underlyings.
    constructor(address quoteToken_, address owner_) ERC1155("") Ownable(owner_) {
        if (quoteToken_ == address(0)) revert ZeroAddress();
        uint8 d = IERC20Metadata(quoteToken_).decimals();
        if (d > MAX_DECIMALS) revert DecimalsTooLarge(d);
        quoteToken = quoteToken_;
        quoteDecimals = d;
    }

    // ---------------------------------------------------------------- admin

    /// @notice Register an underlying and its feed (owner only), at once; for an underlying already
    ///         registered the change is queued and applies after UNDERLYING_DELAY (executeUnderlyingUpdate),
    ///         to series created after that only (each series keeps its own feed).
    /// @param underlying ERC20 with decimals <= 18, not the quote token.
    /// @param feed Chainlink-style feed of quote per underlying (any decimals <= 36).
    /// @param maxFeedAge The feed's heartbeat, seconds (> 0), for readers.
    function setUnderlying(address underlying, address feed, uint256 maxFeedAge) external onlyOwner {
        if (underlying == address(0) || feed == address(0)) revert ZeroAddress();
        if (underlying == quoteToken) revert InvalidUnderlying(underlying);
        if (maxFeedAge == 0 || maxFeedAge > type(uint64).max) revert InvalidMaxFeedAge();
        uint8 d = IERC20Metadata(underlying).decimals();
        if (d > MAX_DECIMALS) revert DecimalsTooLarge(d);
        uint8 fd = AggregatorV3Interface(feed).decimals();
        if (fd > 36) revert DecimalsTooLarge(fd);
        if (underlyings[underlying].feed != address(0)) {
            uint256 eta = block.timestamp + UNDERLYING_DELAY;
            pendingUnderlyings[underlying] = PendingUnderlying(feed, uint64(maxFeedAge), uint64(eta));
            emit UnderlyingUpdateQueued(underlying, feed, maxFeedAge, eta);
            return;
        }
        underlyings[underlying] = UnderlyingConfig(feed, uint64(maxFeedAge), d, fd);
        emit UnderlyingSet(underlying, feed, maxFeedAge, d);
    }

    /// @notice Apply a queued feed change once its delay has passed (owner only); existing series keep
    ///         their feed.
    function executeUnderlyingUpdate(address underlying) external onlyOwner {
        PendingUnderlying memory q = pendingUnderlyings[underlying];
        if (q.eta == 0) revert NoUpdateQueued(underlying);
        if (block.timestamp < q.eta) revert UnderlyingTimelocked(q.eta, block.timestamp);
        delete pendingUnderlyings[underlying];
        uint8 d = IERC20Metadata(underlying).decimals();
        underlyings[underlying] = UnderlyingConfig(q.feed, q.maxFeedAge, d, AggregatorV3Interface(q.feed).decimals());
        emit UnderlyingSet(underlying, q.feed, q.maxFeedAge, d);
    }

    // ---------------------------------------------------------------- series

    /// @inheritdoc IOptionMarket
    /// @notice Create a series, or return the id of the identical existing one (no revert, no event).
    /// @param strikePrice Quote per underlying, 1e8 scale, in (0, 1e36].
    /// @param expiry Unix seconds, strictly in the future.
    /// @return seriesId Ids start at 1.
    function createSeries(address underlying, uint256 strikePrice, uint64 expiry, bool isPut)
        external
        override
        returns (uint256 seriesId)
    {
        if (underlyings[underlying].feed == address(0)) revert UnderlyingNotRegistered(underlying);
        if (strikePrice == 0 || strikePrice > MAX_PRICE) revert InvalidStrike(strikePrice);
        if (expiry <= block.timestamp) revert InvalidExpiry(expiry);
        bytes32 key = keccak256(abi.encode(underlying, strikePrice, expiry, isPut));
        seriesId = seriesIdByKey[key];
        if (seriesId != 0) return seriesId;
        seriesId = ++_seriesCount;
        seriesIdByKey[key] = seriesId;
        Series storage s = _series[seriesId];
        s.underlying = underlying;
        s.expiry = expiry;
        s.isPut = isPut;
        s.strikePrice = strikePrice;
        s.feed = underlyings[underlying].feed;
        s.feedDecimals = underlyings[underlying].feedDecimals;
        emit SeriesCreated(seriesId, underlying, strikePrice, expiry, isPut);
    }

    /// @inheritdoc IOptionMarket
    /// @notice Lock collateral (pulled from the caller; approve first) for `amount` options before
    ///         expiry; the caller's short grows by `amount` and `amount` longs are minted to
    ///         `longRecipient` (ERC-1155 acceptance check applies to contracts).
    /// @param amount Option units, 1e18 = one underlying.
    function write(uint256 seriesId, uint256 amount, address longRecipient) external override nonReentrant {
        Series storage s = _live(seriesId);
        if (amount == 0) revert ZeroAmount();
        if (longRecipient == address(0)) revert ZeroAddress();
        uint256 collateral = collateralRequired(seriesId, amount);
        shortBalance[seriesId][msg.sender] += amount;
        collateralOf[seriesId][msg.sender] += collateral;
        s.shortOutstanding += amount;
        s.longOutstanding += amount;
        s.collateralLocked += collateral;
        _track(msg.sender, seriesId);
        emit Written(seriesId, msg.sender, longRecipient, amount, collateral);
        IERC20(_collateralAsset(s)).safeTransferFrom(msg.sender, address(this), collateral);
        _mint(longRecipient, seriesId, amount, "");
    }

    /// @inheritdoc IOptionMarket
    /// @notice Before expiry, burn `amount` of the caller's longs against the same amount of their
    ///         short and return collateral pro rata: floor(collateralOf * amount / shortBalance).
    function closePosition(uint256 seriesId, uint256 amount) external override nonReentrant {
        Series storage s = _live(seriesId);
        if (amount == 0) revert ZeroAmount();
        uint256 short_ = shortBalance[seriesId][msg.sender];
        if (amount > short_) revert InsufficientShort(short_, amount);
        _burn(msg.sender, seriesId, amount); // reverts ERC1155InsufficientBalance; burning calls no hook
        uint256 returned = Math.mulDiv(collateralOf[seriesId][msg.sender], amount, short_);
        shortBalance[seriesId][msg.sender] = short_ - amount;
        collateralOf[seriesId][msg.sender] -= returned;
        s.shortOutstanding -= amount;
        s.longOutstanding -= amount;
        s.collateralLocked -= returned;
        emit Closed(seriesId, msg.sender, amount, returned);
        if (returned > 0) IERC20(_collateralAsset(s)).safeTransfer(msg.sender, returned);
    }

    /// @inheritdoc IOptionMarket
    /// @notice Fix the settlement price at or after expiry: the answer of the series feed's first round
    ///         with updatedAt >= expiry (found by walking back from the latest round, at most
    ///         MAX_ROUND_LOOKBACK rounds; beyond that use settleAtRound). Answer must be > 0.
    ///         exercise and redeem settle automatically if nobody has.
    function settle(uint256 seriesId) external override {
        Series storage s = _get(seriesId);
        if (block.timestamp < s.expiry) revert SeriesNotExpired(seriesId);
        if (s.settled) revert AlreadySettled(seriesId);
        _settle(seriesId, s);
    }

    /// @notice Settle at feed round `roundId`, which must be the first with updatedAt >= expiry: its own
    ///         updatedAt >= expiry and the previous round's < expiry (or no previous round).
    function settleAtRound(uint256 seriesId, uint80 roundId) external {
        Series storage s = _get(seriesId);
        if (block.timestamp < s.expiry) revert SeriesNotExpired(seriesId);
        if (s.settled) revert AlreadySettled(seriesId);
        (, int256 answer,, uint256 updatedAt,) = AggregatorV3Interface(s.feed).getRoundData(roundId);
        if (updatedAt < s.expiry) revert PriceBeforeExpiry(updatedAt, s.expiry);
        if (roundId > 1) {
            try AggregatorV3Interface(s.feed).getRoundData(roundId - 1) returns (
                uint80, int256, uint256, uint256 prevUpdatedAt, uint80
            ) {
                if (prevUpdatedAt >= s.expiry) revert NotFirstRoundAfterExpiry(roundId);
            } catch {} // no previous round
        }
        _fix(seriesId, s, roundId, answer, updatedAt);
    }

    /// @inheritdoc IOptionMarket
    /// @notice After expiry, burn `amount` of the caller's longs and pay the cash-settled payoff in
    ///         the collateral asset (formulas in the contract NatSpec; zero when out of the money).
    function exercise(uint256 seriesId, uint256 amount) external override nonReentrant {
        Series storage s = _expired(seriesId);
        if (amount == 0) revert ZeroAmount();
        uint256 payout = _payoff(s, amount, Math.Rounding.Floor);
        _burn(msg.sender, seriesId, amount); // reverts ERC1155InsufficientBalance; burning calls no hook
        s.longOutstanding -= amount;
        s.collateralLocked -= payout;
        emit Exercised(seriesId, msg.sender, amount, payout);
        if (payout > 0) IERC20(_collateralAsset(s)).safeTransfer(msg.sender, payout);
    }

    /// @inheritdoc IOptionMarket
    /// @notice After expiry, close the caller's whole short: return collateralOf - ceil(payoff of
    ///         shortBalance). Event `amount` is the short redeemed (1e18 units).
    function redeem(uint256 seriesId) external override nonReentrant {
        Series storage s = _expired(seriesId);
        uint256 short_ = shortBalance[seriesId][msg.sender];
        if (short_ == 0) revert NothingToRedeem();
        uint256 returned = _redeemable(s, seriesId, msg.sender);
        shortBalance[seriesId][msg.sender] = 0;
        collateralOf[seriesId][msg.sender] = 0;
        s.shortOutstanding -= short_;
        s.collateralLocked -= returned;
        emit Redeemed(seriesId, msg.sender, short_, returned);
        if (returned > 0) IERC20(_collateralAsset(s)).safeTransfer(msg.sender, returned);
    }

    // ---------------------------------------------------------------- views

    /// @inheritdoc IOptionMarket
    function getSeriesDetails(uint256 seriesId)
        external
        view
        override
        returns (address, address, address, uint256, uint256, bool)
    {
        Series storage s = _get(seriesId);
        return (_collateralAsset(s), s.underlying, quoteToken, s.strikePrice, s.expiry, s.isPut);
    }

    /// @notice Settlement and accounting state of a series.
    /// @return settled Whether the settlement price is fixed.
    /// @return settlementPrice Quote per underlying, 1e8 (0 until settled).
    /// @return longOutstanding Long supply, 1e18 units.
    /// @return shortOutstanding Unredeemed shorts, 1e18 units.
    /// @return collateralLocked Raw units of the collateral asset held for the series.
    function getSeriesState(uint256 seriesId)
        external
        view
        returns (
            bool settled,
            uint256 settlementPrice,
            uint256 longOutstanding,
            uint256 shortOutstanding,
            uint256 collateralLocked
        )
    {
        Series storage s = _get(seriesId);
        return (s.settled, s.settlementPrice, s.longOutstanding, s.shortOutstanding, s.collateralLocked);
    }

    /// @inheritdoc IOptionMarket
    function seriesCount() external view override returns (uint256) {
        return _seriesCount;
    }

    /// @notice Id of the series with these parameters, 0 if none.
    function findSeries(address underlying, uint256 strikePrice, uint64 expiry, bool isPut)
        external
        view
        returns (uint256)
    {
        return seriesIdByKey[keccak256(abi.encode(underlying, strikePrice, expiry, isPut))];
    }

    /// @notice Collateral (raw units of the collateral asset) that writing `amount` locks, rounded up.
    function collateralRequired(uint256 seriesId, uint256 amount) public view returns (uint256) {
        Series storage s = _get(seriesId);
        if (s.isPut) {
            return
                Math.mulDiv(amount, s.strikePrice * 10 ** quoteDecimals, AMOUNT_SCALE * PRICE_SCALE, Math.Rounding.Ceil);
        }
        return Math.mulDiv(amount, 10 ** underlyings[s.underlying].decimals, AMOUNT_SCALE, Math.Rounding.Ceil);
    }

    /// @notice Payout (raw units of the collateral asset) for exercising `amount`; 0 until settled.
    function exercisePayout(uint256 seriesId, uint256 amount) external view returns (uint256) {
        Series storage s = _get(seriesId);
        return s.settled ? _payoff(s, amount, Math.Rounding.Floor) : 0;
    }

    /// @notice Collateral `writer` would get back from redeem (raw units); 0 until settled.
    function redeemable(uint256 seriesId, address writer) external view returns (uint256) {
        Series storage s = _get(seriesId);
        return s.settled ? _redeemable(s, seriesId, writer) : 0;
    }

    /// @inheritdoc IOptionMarket
    function accountBook(address account)
        external
        view
        override
        returns (uint256[] memory seriesIds, uint256[] memory longs, uint256[] memory shorts)
    {
        seriesIds = _book[account];
        uint256 n = seriesIds.length;
        longs = new uint256[](n);
        shorts = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            longs[i] = balanceOf(account, seriesIds[i]);
            shorts[i] = shortBalance[seriesIds[i]][account];
        }
    }

    // ---------------------------------------------------------------- internals

    /// @dev Records every series an account receives longs of (mint or transfer, value > 0).
    function _update(address from, address to, uint256[] memory ids, uint256[] memory values) internal override {
        super._update(from, to, ids, values);
        if (to != address(0)) {
            for (uint256 i; i < ids.length; ++i) {
                if (values[i] > 0) _track(to, ids[i]);
            }
        }
    }

    function _track(address account, uint256 seriesId) internal {
        if (!_inBook[account][seriesId]) {
            _inBook[account][seriesId] = true;
            _book[account].push(seriesId);
        }
    }

    function _get(uint256 seriesId) internal view returns (Series storage s) {
        if (seriesId == 0 || seriesId > _seriesCount) revert SeriesNotFound(seriesId);
        s = _series[seriesId];
    }

    function _live(uint256 seriesId) internal view returns (Series storage s) {
        s = _get(seriesId);
        if (block.timestamp >= s.expiry) revert SeriesExpired(seriesId);
    }

    function _expired(uint256 seriesId) internal returns (Series storage s) {
        s = _get(seriesId);
        if (block.timestamp < s.expiry) revert SeriesNotExpired(seriesId);
        if (!s.settled) _settle(seriesId, s);
    }

    /// @dev Walk back from the latest round to the first with updatedAt >= expiry and settle at it.
    function _settle(uint256 seriesId, Series storage s) internal {
        AggregatorV3Interface f = AggregatorV3Interface(s.feed);
        (uint80 id, int256 answer,, uint256 updatedAt,) = f.latestRoundData();
        if (updatedAt < s.expiry) revert PriceBeforeExpiry(updatedAt, s.expiry);
        bool found;
        for (uint256 i; i < MAX_ROUND_LOOKBACK; ++i) {
            if (id <= 1) {
                found = true;
                break;
            }
            try f.getRoundData(id - 1) returns (uint80, int256 a, uint256, uint256 u, uint80) {
                if (u < s.expiry) {
                    found = true;
                    break;
                }
                (id, answer, updatedAt) = (id - 1, a, u);
            } catch {
                found = true; // no previous round
                break;
            }
        }
        if (!found) revert SettlementRoundNotFound(seriesId);
        _fix(seriesId, s, id, answer, updatedAt);
    }

    function _fix(uint256 seriesId, Series storage s, uint80 roundId, int256 answer, uint256 updatedAt) internal {
        if (answer <= 0) revert InvalidPrice(answer);
        uint8 fdec = s.feedDecimals;
        uint256 price = fdec >= 8 ? uint256(answer) / 10 ** (fdec - 8) : uint256(answer) * 10 ** (8 - fdec);
        if (price == 0 || price > MAX_PRICE) revert InvalidPrice(answer);
        s.settled = true;
        s.settlementPrice = price;
        emit SettlementRound(seriesId, roundId, updatedAt);
        emit Settled(seriesId, price);
    }

    /// @dev Cash payoff of `amount` options at the settlement price, in collateral raw units.
    function _payoff(Series storage s, uint256 amount, Math.Rounding r) internal view returns (uint256) {
        uint256 sp = s.settlementPrice;
        uint256 k = s.strikePrice;
        if (s.isPut) {
            if (sp >= k) return 0;
            return Math.mulDiv(amount, (k - sp) * 10 ** quoteDecimals, AMOUNT_SCALE * PRICE_SCALE, r);
        }
        if (sp <= k) return 0;
        return Math.mulDiv(amount, (sp - k) * 10 ** underlyings[s.underlying].decimals, sp * AMOUNT_SCALE, r);
    }

    function _redeemable(Series storage s, uint256 seriesId, address writer) internal view returns (uint256) {
        uint256 owed = _payoff(s, shortBalance[seriesId][writer], Math.Rounding.Ceil);
        uint256 c = collateralOf[seriesId][writer];
        return c > owed ? c - owed : 0;
    }

    function _collateralAsset(Series storage s) internal view returns (address) {
        return s.isPut ? quoteToken : s.underlying;
    }
}
