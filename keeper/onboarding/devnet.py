"""Devnet helpers: execute a batch file with the owners' keys, deploy a Safe or a HedgeModule.

Local chain only (anvil, chain id 31337): the payer is anvil's unlocked dev account 0 and the
owner keys are anvil's public dev keys. Production owners sign in the Safe web interface.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from eth_typing import ChecksumAddress
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.errors import DevnetError, InputError, SetupError
from keeper.onboarding.reads import code_size
from keeper.onboarding.txbuilder import EmptyBatchError, multisend_tx, read_batch
from keeper.venues.safe import SafeTx, execute_safe_tx

__all__ = [
    "CANONICAL_MULTISEND_CALL_ONLY",
    "DEVNET_CHAIN_ID",
    "deploy_hedge_module",
    "deploy_safe",
    "execute_batch_json",
    "find_devnet_manifest",
]

DEVNET_CHAIN_ID = 31337
CANONICAL_MULTISEND_CALL_ONLY = "0x9641d764fc13c8B624c04430C7356C1C7C8102e2"
"""MultiSendCallOnly 1.4.1 at its deterministic address (every chain the Safe web interface serves)."""


def find_devnet_manifest(rpc: RpcClient, explicit: Path | None = None) -> Manifest:
    """The world manifest whose contracts exist on ``rpc`` (``explicit``, else the newest in ``.state/``).

    Raises SetupError when there is none.
    """
    from keeper.build.paths import repo_root

    candidates = [explicit] if explicit is not None else sorted(
        (repo_root() / ".state").glob("world-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in candidates:
        if path.name.endswith(".state.json"):
            continue
        try:
            m = Manifest.read(path)
        except (OSError, ValueError) as exc:
            if explicit is not None:
                raise InputError("devnet_manifest", f"{path}: not a world manifest: {exc}") from None
            continue
        if code_size(rpc, m.uniswap.factory) > 0 and code_size(rpc, m.safe.proxy_factory) > 0:
            return m
        if explicit is not None:
            raise InputError("devnet_manifest", f"{path}: its contracts are not on this chain")
    raise SetupError("no devnet world manifest matches this chain (start it with `keeper devnet`, or give "
                     "--devnet-manifest .state/world-<key>.json)")


def _multisend_address(w3: Web3, given: str | None) -> str:
    if given is not None:
        return given
    if w3.eth.get_code(Web3.to_checksum_address(CANONICAL_MULTISEND_CALL_ONLY)):
        return CANONICAL_MULTISEND_CALL_ONLY
    rpc = RpcClient.http(str(getattr(w3.provider, "endpoint_uri", "")))
    return find_devnet_manifest(rpc).safe.multisend_call_only


def execute_batch_json(w3: Web3, safe: Contract | str, batch_path: Path | str,
                       owner_accounts: Sequence[LocalAccount], *, multisend_call_only: str | None = None,
                       sender: ChecksumAddress | None = None) -> list[bytes]:
    """Execute exactly the transactions of the Transaction Builder file at ``batch_path`` on ``safe``.

    The transactions are read as the web interface's importer reads them (:func:`read_batch`). One
    transaction is one ``execTransaction`` call; several are one ``execTransaction`` of a
    DELEGATECALL to ``MultiSendCallOnly`` (as the web interface sends a batch). ``owner_accounts``
    sign (at least the threshold); ``sender`` pays gas (default: anvil's dev account 0). Returns
    the transaction hashes. The file's chain id and Safe must be this chain and ``safe``; a file
    without a transaction is refused (EmptyBatchError).
    """
    from keeper.build.artifacts import npm_artifact
    from keeper.node.dev import dev_account

    if isinstance(safe, str):
        safe = w3.eth.contract(address=Web3.to_checksum_address(safe), abi=npm_artifact("Safe").abi)
    batch, txs = read_batch(Path(batch_path))
    if str(batch.get("chainId")) != str(w3.eth.chain_id):
        raise InputError("batch", f"{batch_path} is for chain {batch.get('chainId')}, this chain is {w3.eth.chain_id}")
    made_for = str(batch.get("meta", {}).get("createdFromSafeAddress", ""))
    if made_for and made_for.lower() != str(safe.address).lower():
        raise InputError("batch", f"{batch_path} was made for Safe {made_for}, not {safe.address}")
    if not txs:
        raise EmptyBatchError("batch", f"{batch_path} has no transaction: nothing to execute")
    payer = sender or dev_account(0).address
    one: SafeTx = txs[0] if len(txs) == 1 else multisend_tx(_multisend_address(w3, multisend_call_only), txs)
    return [execute_safe_tx(w3, safe, one, owner_accounts, sender=payer)]


def deploy_safe(w3: Web3, owners: Sequence[str], threshold: int, *, singleton: str, proxy_factory: str,
                fallback_handler: str, payer: ChecksumAddress | None = None, salt: int | None = None) -> str:
    """Deploy a Safe proxy (``owners``, ``threshold``) through ``SafeProxyFactory``; return its address."""
    from keeper.build.artifacts import npm_artifact
    from keeper.node.dev import DevChain, dev_account

    if not 1 <= threshold <= len(owners):
        raise InputError("threshold", f"must be in 1..{len(owners)}, got {threshold}")
    zero = "0x" + "0" * 40
    single: Any = w3.eth.contract(address=Web3.to_checksum_address(singleton), abi=npm_artifact("Safe").abi)
    factory = w3.eth.contract(address=Web3.to_checksum_address(proxy_factory),
                              abi=npm_artifact("SafeProxyFactory").abi)
    init = single.encode_abi("setup", [[Web3.to_checksum_address(o) for o in owners], threshold, zero, b"",
                                       Web3.to_checksum_address(fallback_handler), zero, 0, zero])
    receipt = DevChain(w3).send(
        factory.functions.createProxyWithNonce(single.address, init, secrets.randbits(64) if salt is None else salt),
        payer or dev_account(0).address)
    created = factory.events.ProxyCreation().process_receipt(receipt, errors=DISCARD)
    if not created:
        raise DevnetError("SafeProxyFactory emitted no ProxyCreation")
    return str(to_checksum_address(created[0]["args"]["proxy"]))


def deploy_hedge_module(w3: Web3, safe: str, keeper: str, guardian: str,
                        payer: ChecksumAddress | None = None) -> str:
    """Deploy a HedgeModule for ``safe`` (keeper, guardian as given; every limit 0 until the owners set them)."""
    from keeper.build.artifacts import forge_artifact
    from keeper.node.dev import DevChain, dev_account

    module = DevChain(w3).deploy(forge_artifact("HedgeModule"), Web3.to_checksum_address(safe),
                                 Web3.to_checksum_address(keeper), Web3.to_checksum_address(guardian),
                                 sender=payer or dev_account(0).address)
    return str(module.address)
