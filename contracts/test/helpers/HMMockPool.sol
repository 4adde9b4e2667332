// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice A Uniswap-v3-shaped pool registry and pool for HedgeModule tests with the mock router: the factory maps
///         (token0, token1, fee) to a pool; the pool answers `observe` as if its tick had been `tick` forever.
contract HMMockPool {
    address public immutable token0;
    address public immutable token1;
    uint24 public immutable fee;
    int24 public tick;

    constructor(address a, address b, uint24 fee_) {
        (token0, token1) = a < b ? (a, b) : (b, a);
        fee = fee_;
    }

    function setTick(int24 tick_) external {
        tick = tick_;
    }

    function observe(uint32[] calldata secondsAgos) external view returns (int56[] memory cum, uint160[] memory spl) {
        cum = new int56[](secondsAgos.length);
        spl = new uint160[](secondsAgos.length);
        for (uint256 i; i < secondsAgos.length; ++i) {
            cum[i] = int56(tick) * int56(uint56(block.timestamp - secondsAgos[i]));
        }
    }
}

contract HMMockFactory {
    mapping(address => mapping(address => mapping(uint24 => address))) public getPool;

    function createPool(address a, address b, uint24 fee) external returns (address pool) {
        pool = address(new HMMockPool(a, b, fee));
        getPool[a][b][fee] = pool;
        getPool[b][a][fee] = pool;
    }
}
