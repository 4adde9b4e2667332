// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice Cash-settled European options. One market has one quote (strike) asset.
/// Units: option amounts are 1e18 per one unit of underlying; strikes and settlement prices are
/// quote per underlying scaled 1e8 (as Opyn's oToken strikePrice). Long positions are ERC-1155
/// tokens whose id is the series id; short positions are tracked per writer.
interface IOptionMarket {
    event SeriesCreated(
        uint256 indexed seriesId, address indexed underlying, uint256 strikePrice, uint64 expiry, bool isPut
    );
    event Written(
        uint256 indexed seriesId,
        address indexed writer,
        address indexed longRecipient,
        uint256 amount,
        uint256 collateral
    );
    event Closed(uint256 indexed seriesId, address indexed writer, uint256 amount, uint256 collateralReturned);
    event Settled(uint256 indexed seriesId, uint256 settlementPrice);
    event Exercised(uint256 indexed seriesId, address indexed holder, uint256 amount, uint256 payout);
    event Redeemed(uint256 indexed seriesId, address indexed writer, uint256 amount, uint256 collateralReturned);

    function quoteToken() external view returns (address);

    function createSeries(address underlying, uint256 strikePrice, uint64 expiry, bool isPut)
        external
        returns (uint256 seriesId);
    function write(uint256 seriesId, uint256 amount, address longRecipient) external;
    function closePosition(uint256 seriesId, uint256 amount) external;
    function settle(uint256 seriesId) external;
    function exercise(uint256 seriesId, uint256 amount) external;
    function redeem(uint256 seriesId) external;

    /// @notice Shaped like Opyn's `getOtokenDetails`.
    function getSeriesDetails(uint256 seriesId)
        external
        view
        returns (
            address collateralAsset,
            address underlyingAsset,
            address strikeAsset,
            uint256 strikePrice,
            uint256 expiryTimestamp,
            bool isPut
        );
    function seriesCount() external view returns (uint256);
    function shortBalance(uint256 seriesId, address account) external view returns (uint256);
    /// @notice Every series the account has ever held long or short, and its balances now.
    function accountBook(address account)
        external
        view
        returns (uint256[] memory seriesIds, uint256[] memory longs, uint256[] memory shorts);
}
