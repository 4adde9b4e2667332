// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @notice Safe's operation kinds (Safe 1.4.1 `Enum.Operation`). Our module only ever uses `Call`.
library Enum {
    enum Operation {
        Call,
        DelegateCall
    }
}

/// @notice The subset of Safe 1.4.1's ModuleManager that a module uses.
/// @dev An enabled module may make the Safe execute any call; that is why HedgeModule only ever builds
///      three fixed call shapes (token approve, router swap, perp modifyPosition), always with `Operation.Call`.
interface ISafe {
    /// @notice Execute `to.call{value: value}(data)` (or a delegatecall) as the Safe. Only for enabled modules.
    /// @return success Whether the inner call succeeded (the Safe does not revert on inner failure).
    function execTransactionFromModule(address to, uint256 value, bytes calldata data, Enum.Operation operation)
        external
        returns (bool success);

    /// @notice As `execTransactionFromModule`, also returning the inner call's return (or revert) data.
    function execTransactionFromModuleReturnData(
        address to,
        uint256 value,
        bytes calldata data,
        Enum.Operation operation
    ) external returns (bool success, bytes memory returnData);

    /// @notice Whether `module` is enabled on this Safe.
    function isModuleEnabled(address module) external view returns (bool);
}
