"""Deploy and transact on the local chain from anvil's unlocked dev accounts."""

from __future__ import annotations

from functools import cache
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.contract.contract import ContractFunction
from web3.types import Wei

from keeper.build.artifacts import Artifact
from keeper.errors import DevnetError

__all__ = ["ANVIL_MNEMONIC", "DevChain", "dev_account"]

# anvil's published default mnemonic. These keys hold value on the local chain only.
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"


@cache
def dev_account(index: int) -> LocalAccount:
    """The anvil dev account at ``index`` (derived from the public default mnemonic)."""
    Account.enable_unaudited_hdwallet_features()
    acct: LocalAccount = Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")
    return acct


class DevChain:
    """Thin deploy/send helper over unlocked anvil accounts; every failure raises DevnetError."""

    def __init__(self, w3: Web3) -> None:
        self.w3 = w3

    def deploy(self, artifact: Artifact, *args: Any, sender: ChecksumAddress, value: int = 0) -> Contract:
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        try:
            tx_hash = factory.constructor(*args).transact({"from": sender, "value": Wei(value)})
        except Exception as exc:  # web3 raises many types; name the contract
            raise DevnetError(f"deploying {artifact.name} failed: {exc}") from exc
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1 or receipt["contractAddress"] is None:
            raise DevnetError(f"deploying {artifact.name} reverted (tx {tx_hash.to_0x_hex()})")
        return self.w3.eth.contract(address=receipt["contractAddress"], abi=artifact.abi)

    def deploy_raw(self, creation_code: str, sender: ChecksumAddress, name: str) -> ChecksumAddress:
        tx_hash = self.w3.eth.send_transaction({"from": sender, "data": creation_code})  # type: ignore[typeddict-item]
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1 or receipt["contractAddress"] is None:
            raise DevnetError(f"deploying {name} reverted")
        return receipt["contractAddress"]

    def send(self, fn: ContractFunction, sender: ChecksumAddress, value: int = 0) -> Any:
        """Send ``fn`` from ``sender`` and return its receipt; a revert raises DevnetError naming ``fn``."""
        try:
            tx_hash = fn.transact({"from": sender, "value": Wei(value)})
        except Exception as exc:
            raise DevnetError(f"{fn.fn_name} from {sender} failed: {exc}") from exc
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash)
        if receipt["status"] != 1:
            raise DevnetError(f"{fn.fn_name} from {sender} reverted (tx {tx_hash.to_0x_hex()})")
        return receipt

    def rpc(self, method: str, *params: Any) -> Any:
        response = self.w3.provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in response:
            raise DevnetError(f"{method} failed: {response['error']}")
        return response.get("result")

    def advance(self, seconds: int) -> None:
        """Move the chain clock forward by ``seconds`` (applies to the next mined block)."""
        self.rpc("evm_increaseTime", seconds)
