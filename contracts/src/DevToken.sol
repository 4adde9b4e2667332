// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title DevToken
/// @notice An ERC-20 for the local chain only (a USDC-like 6-decimal and a WBTC-like 8-decimal token).
///         Its minter (the devnet deployer) can mint; everything else is plain OpenZeppelin ERC-20.
contract DevToken is ERC20 {
    uint8 private immutable _decimals;
    address public immutable minter;

    error NotMinter();

    constructor(string memory name_, string memory symbol_, uint8 decimals_) ERC20(name_, symbol_) {
        _decimals = decimals_;
        minter = msg.sender;
    }

    function decimals() public view override returns (uint8) {
        return _decimals;
    }

    /// @notice Mint `amount` raw units to `to`. Only the minter.
    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter();
        _mint(to, amount);
    }
}
