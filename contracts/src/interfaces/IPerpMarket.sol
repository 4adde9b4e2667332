// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice A linear perpetual on one oracle price, margined in one quote token.
/// Units: `size` is signed, in 1e18 units of the underlying (+long, -short).
/// Prices are quote per one underlying, scaled 1e18 (converted from the feed's decimals).
/// Margin amounts are raw units of the quote token (e.g. 6 decimals for USDC).
/// The funding index is cumulative quote-per-underlying, scaled 1e18, signed:
/// a long pays (index_now - index_at_entry) * size / 1e18 (converted to quote raw units).
interface IPerpMarket {
    struct Position {
        int256 size;
        uint256 entryPrice;
        uint256 margin;
        int256 lastFundingIndex;
    }

    event MarginDeposited(address indexed account, uint256 amount);
    event MarginWithdrawn(address indexed account, uint256 amount);
    event PositionModified(
        address indexed account, int256 sizeDelta, uint256 fillPrice, uint256 fee, int256 realizedPnl, int256 newSize
    );
    event Liquidated(address indexed account, address indexed liquidator, int256 size, uint256 price, uint256 reward);
    event FundingUpdated(int256 fundingIndex, int256 fundingRatePerSecond, uint256 timestamp);

    function quoteToken() external view returns (address);
    function feed() external view returns (address);

    function depositMargin(uint256 amount) external;
    function withdrawMargin(uint256 amount) external;
    /// @notice Change the caller's position by `sizeDelta` at the oracle price; reverts if the fill
    /// price is worse than `acceptablePrice` (above it for a buy, below it for a sell).
    function modifyPosition(int256 sizeDelta, uint256 acceptablePrice) external;
    function liquidate(address account) external;

    function positions(address account)
        external
        view
        returns (int256 size, uint256 entryPrice, uint256 margin, int256 lastFundingIndex);
    function oraclePrice() external view returns (uint256);
    function fundingIndex() external view returns (int256);
    function fundingRatePerSecond() external view returns (int256);
    function takerFeeBps() external view returns (uint256);
    function maintenanceMarginBps() external view returns (uint256);
    function initialMarginBps() external view returns (uint256);
    /// @notice Margin after unrealized PnL and accrued funding, in quote raw units (may be negative).
    function remainingMargin(address account) external view returns (int256);
    function isLiquidatable(address account) external view returns (bool);
}
