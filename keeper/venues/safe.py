"""Safe (1.4.1) transactions: hash, owner signatures, execution.

The keeper never holds an owner key in production. This module signs only where the
caller supplies owner keys: the devnet and tests, which prove that batches the keeper
proposes execute on a real Safe.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from keeper.chain.multicall import Call
from keeper.errors import InputError, TransactionError

__all__ = ["Operation", "SafeTx", "execute_safe_tx", "is_module_enabled_call", "modules_page_call", "nonce_call",
           "owners_call", "safe_tx_hash", "sign_safe_tx", "threshold_call", "version_call"]

ZERO = "0x0000000000000000000000000000000000000000"


class Operation(IntEnum):
    CALL = 0
    DELEGATECALL = 1


@dataclass(frozen=True)
class SafeTx:
    """One Safe transaction (no gas refund: safeTxGas, baseGas, gasPrice are 0)."""

    to: ChecksumAddress
    value: int
    data: bytes
    operation: Operation = Operation.CALL


def safe_tx_hash(safe: Contract, tx: SafeTx, nonce: int) -> bytes:
    """The EIP-712 hash owners sign, as the Safe itself computes it."""
    h: bytes = safe.functions.getTransactionHash(
        tx.to, tx.value, tx.data, int(tx.operation), 0, 0, 0, ZERO, ZERO, nonce
    ).call()
    return h


def sign_safe_tx(tx_hash: bytes, owners: Sequence[LocalAccount]) -> bytes:
    """Concatenated ECDSA signatures (r, s, v), sorted by owner address as the Safe requires."""
    if not owners:
        raise InputError("owners", "at least one owner key is needed to sign")
    sigs = []
    for owner in sorted(owners, key=lambda a: int(a.address, 16)):
        signed = Account.unsafe_sign_hash(tx_hash, owner.key)
        sigs.append(signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v]))
    return b"".join(sigs)


def execute_safe_tx(
    w3: Web3, safe: Contract, tx: SafeTx, owners: Sequence[LocalAccount], sender: ChecksumAddress
) -> bytes:
    """Sign ``tx`` with ``owners`` at the Safe's current nonce and execute it; return the tx hash.

    Raises TransactionError if the Safe rejects it or the inner call fails (ExecutionFailure).
    """
    nonce = safe.functions.nonce().call()
    sigs = sign_safe_tx(safe_tx_hash(safe, tx, nonce), owners)
    fn = safe.functions.execTransaction(tx.to, tx.value, tx.data, int(tx.operation), 0, 0, 0, ZERO, ZERO, sigs)
    try:
        tx_hash = fn.transact({"from": sender})
    except Exception as exc:
        raise TransactionError(f"Safe execTransaction rejected: {exc}") from exc
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash)
    if receipt["status"] != 1:
        raise TransactionError(f"Safe execTransaction reverted (tx {tx_hash.to_0x_hex()})")
    failure_topic = Web3.keccak(text="ExecutionFailure(bytes32,uint256)")
    if any(log["topics"] and log["topics"][0] == failure_topic for log in receipt["logs"]):
        raise TransactionError(f"Safe transaction's inner call failed (tx {tx_hash.to_0x_hex()})")
    return bytes(tx_hash)


# ------------------------------------------------------------------ reads (Safe 1.4.1)
def version_call(safe: str) -> Call:
    return Call(safe, "VERSION()", (), ("string",), "Safe.VERSION", 20_000)


def owners_call(safe: str) -> Call:
    return Call(safe, "getOwners()", (), ("address[]",), "Safe.getOwners", 60_000)


def threshold_call(safe: str) -> Call:
    return Call(safe, "getThreshold()", (), ("uint256",), "Safe.getThreshold", 10_000)


def nonce_call(safe: str) -> Call:
    return Call(safe, "nonce()", (), ("uint256",), "Safe.nonce", 10_000)


def is_module_enabled_call(safe: str, module: str) -> Call:
    return Call(safe, "isModuleEnabled(address)", (module,), ("bool",), "Safe.isModuleEnabled", 20_000)


def modules_page_call(safe: str, start: str, page_size: int) -> Call:
    """``getModulesPaginated(start, pageSize)``: (modules, next) in the Safe's linked-list order."""
    return Call(safe, "getModulesPaginated(address,uint256)", (start, page_size), ("address[]", "address"),
                "Safe.getModulesPaginated", 200_000)
