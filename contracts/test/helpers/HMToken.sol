// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice Test ERC20 for HedgeModule tests: anyone may mint; optional USDT-like quirks.
/// @dev `requireZeroFirst`: approve reverts when changing a non-zero allowance to another non-zero one (USDT).
///      `approveReturnsNothing`: approve returns no data (USDT). `approveReturnsFalse`: approve returns false.
contract HMToken {
    string public name;
    string public symbol;
    uint8 public immutable decimals;
    uint256 public totalSupply;
    mapping(address => uint256) public balanceOf;
    mapping(address => mapping(address => uint256)) public allowance;
    bool public requireZeroFirst;
    bool public approveReturnsNothing;
    bool public approveReturnsFalse;

    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    constructor(string memory name_, string memory symbol_, uint8 decimals_) {
        name = name_;
        symbol = symbol_;
        decimals = decimals_;
    }

    function setQuirks(bool zeroFirst, bool returnsNothing, bool returnsFalse) external {
        requireZeroFirst = zeroFirst;
        approveReturnsNothing = returnsNothing;
        approveReturnsFalse = returnsFalse;
    }

    function mint(address to, uint256 amount) external {
        totalSupply += amount;
        balanceOf[to] += amount;
        emit Transfer(address(0), to, amount);
    }

    function approve(address spender, uint256 amount) external returns (bool) {
        if (approveReturnsFalse) return false;
        require(!(requireZeroFirst && amount != 0 && allowance[msg.sender][spender] != 0), "HMToken: zero first");
        allowance[msg.sender][spender] = amount;
        emit Approval(msg.sender, spender, amount);
        if (approveReturnsNothing) {
            assembly {
                return(0, 0)
            }
        }
        return true;
    }

    function transfer(address to, uint256 amount) external returns (bool) {
        _move(msg.sender, to, amount);
        return true;
    }

    function transferFrom(address from, address to, uint256 amount) external returns (bool) {
        uint256 a = allowance[from][msg.sender];
        require(a >= amount, "HMToken: allowance");
        if (a != type(uint256).max) allowance[from][msg.sender] = a - amount;
        _move(from, to, amount);
        return true;
    }

    function _move(address from, address to, uint256 amount) internal {
        require(balanceOf[from] >= amount, "HMToken: balance");
        balanceOf[from] -= amount;
        balanceOf[to] += amount;
        emit Transfer(from, to, amount);
    }
}
