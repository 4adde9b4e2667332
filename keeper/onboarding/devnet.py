"""Devnet helpers: execute a batch file with the owners' keys, deploy a Safe or a HedgeModule.

Local chain only (anvil, chain id 31337): the payer is anvil's unlocked dev account 0 and the
owner keys are anvil's public dev keys. Production owners sign in the Safe web interface.
:func:`execute_on_devnet` is what ``keeper propose --execute-on-devnet`` runs: it finds the Safe's
owners among the dev keys, executes the file and reports what changed on chain, in units.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
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
from keeper.errors import ContractCallError, DevnetError, InputError, SetupError
from keeper.onboarding.reads import code_size, module_onchain_params, modules_of, read_safe, view
from keeper.onboarding.txbuilder import EmptyBatchError, multisend_tx, read_batch
from keeper.venues import erc20
from keeper.venues.hedge_module import USD_WAD, OnchainParams
from keeper.venues.safe import SafeTx, execute_safe_tx

__all__ = [
    "CANONICAL_MULTISEND_CALL_ONLY",
    "DEVNET_CHAIN_ID",
    "DEV_KEYS_SEARCHED",
    "DevnetExecution",
    "deploy_hedge_module",
    "deploy_safe",
    "dev_owner_keys",
    "execute_batch_json",
    "execute_on_devnet",
    "find_devnet_manifest",
]

DEVNET_CHAIN_ID = 31337
CANONICAL_MULTISEND_CALL_ONLY = "0x9641d764fc13c8B624c04430C7356C1C7C8102e2"
"""MultiSendCallOnly 1.4.1 at its deterministic address (every chain the Safe web interface serves)."""
DEV_KEYS_SEARCHED = 20
"""Dev accounts 0..19 of anvil's public mnemonic are tried as the Safe's owners."""


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


# ---------------------------------------------------------------------------- propose --execute-on-devnet

@dataclass(frozen=True)
class DevnetExecution:
    """What :func:`execute_on_devnet` did: the transaction, who signed and what changed on chain."""

    tx_hash: str
    gas_used: int
    signers: tuple[tuple[str, int], ...]
    """(owner address, anvil dev-account index), sorted as the Safe requires."""
    changes: tuple[str, ...]
    """One line per value that changed: ``what: before -> after``, with units."""

    def render(self) -> str:
        who = ", ".join(f"{a} (dev account {i})" for a, i in self.signers)
        lines = [f"executed on the devnet: tx {self.tx_hash}, {self.gas_used:,} gas, signed by {who}"]
        lines += [f"  {c}" for c in self.changes] or ["  nothing read on chain changed"]
        return "\n".join(lines)


def dev_owner_keys(rpc: RpcClient, safe: str) -> list[LocalAccount]:
    """As many of ``safe``'s owners as its threshold needs, found among anvil's dev keys.

    Raises InputError when fewer owners than the threshold are dev accounts: such a Safe's
    owners sign in the Safe web interface, never with the keeper.
    """
    from keeper.node.dev import dev_account

    state = read_safe(rpc, safe)
    owners = {o.lower() for o in state.owners}
    found = [a for a in (dev_account(i) for i in range(DEV_KEYS_SEARCHED)) if a.address.lower() in owners]
    if len(found) < state.threshold:
        raise InputError("--execute-on-devnet", f"Safe {state.address} needs {state.threshold} owner signature(s) "
                                                f"and {len(found)} of its {len(state.owners)} owners are anvil dev "
                                                f"accounts 0..{DEV_KEYS_SEARCHED - 1}: its owners must sign the batch "
                                                "in the Safe web interface")
    return found[:state.threshold]


def execute_on_devnet(w3: Web3, rpc: RpcClient, safe: str, batch_path: Path, module: str | None) -> DevnetExecution:
    """Execute the batch file at ``batch_path`` on the local chain with the Safe's dev owner keys.

    Only on chain id 31337 (raises InputError elsewhere). Reads, before and after, the Safe's nonce
    and modules, ``module``'s parameters and the allowances the batch's ``approve`` calls set, and
    reports what changed.
    """
    from keeper.node.dev import dev_account

    if w3.eth.chain_id != DEVNET_CHAIN_ID:
        raise InputError("--execute-on-devnet", f"executes only on the devnet (chain id {DEVNET_CHAIN_ID}); this "
                                                f"chain is {w3.eth.chain_id}: import the batch in the Safe web "
                                                "interface")
    signers = dev_owner_keys(rpc, safe)
    _, txs = read_batch(batch_path)
    before = _state(rpc, safe, module, txs)
    (tx_hash,) = execute_batch_json(w3, safe, batch_path, signers)
    after = _state(rpc, safe, module, txs)
    receipt = w3.eth.get_transaction_receipt(Web3.to_hex(tx_hash))
    index = {dev_account(i).address: i for i in range(DEV_KEYS_SEARCHED)}
    ordered = sorted(signers, key=lambda a: int(a.address, 16))
    changes = tuple(f"{k}: {before.get(k, 'none')} -> {v}" for k, v in after.items() if before.get(k) != v)
    return DevnetExecution(Web3.to_hex(tx_hash), int(receipt["gasUsed"]),
                           tuple((a.address, index[a.address]) for a in ordered), changes)


_APPROVE = Web3.keccak(text="approve(address,uint256)")[:4]


def _state(rpc: RpcClient, safe: str, module: str | None, txs: Sequence[SafeTx]) -> dict[str, str]:
    """Human-readable values (with units) that a batch may change, keyed by what they are."""
    from eth_abi.abi import decode

    state = read_safe(rpc, safe)
    mods = modules_of(rpc, safe)
    out = {"Safe nonce": str(state.nonce), "modules enabled on the Safe": ", ".join(mods) or "none"}
    if module is not None:
        out[f"HedgeModule {module} enabled"] = "yes" if module in mods else "no"
        if code_size(rpc, module) > 0:
            try:
                params = module_onchain_params(rpc, module)
            except ContractCallError:
                params = None
            if params is not None:
                out.update(_params_lines(params))
    for tx in txs:
        if tx.data[:4] == _APPROVE:
            spender, _ = decode(["address", "uint256"], tx.data[4:])
            (raw,) = view(rpc, erc20.allowance_call(tx.to, safe, spender))
            (dec,) = view(rpc, erc20.decimals_call(tx.to))
            (sym,) = view(rpc, erc20.symbol_call(tx.to))
            amount = (Decimal(int(raw)) / Decimal(10) ** int(dec)).normalize()
            out[f"allowance of {sym} {tx.to} to {to_checksum_address(spender)}"] = f"{amount:,f} {sym}"
    return out


def _params_lines(p: OnchainParams) -> dict[str, str]:
    def usd(wad: int) -> str:
        return f"{(Decimal(wad) / USD_WAD).normalize():,f} USD"

    pools = "; ".join(f"{pool} (fee {fee / 10_000:g} %)" for pool, _, _, fee in p.pools) or "none"
    tokens = "; ".join(f"{t} feed {f} max age {age:,} s" for t, f, age, _ in p.tokens) or "none"
    markets = "; ".join(f"{m} feed {f} max age {age:,} s, max |size| {(Decimal(size) / 10**18).normalize():,f} units"
                        for m, f, age, size in p.markets) or "none"
    return {
        "module keeper": p.keeper, "module guardian": p.guardian, "module router": p.router,
        "module factory": p.factory, "module cap per trade": usd(p.max_per_trade_wad),
        "module cap per window": usd(p.max_per_window_wad), "module window": f"{p.window_s:,} s",
        "module max slippage": f"{p.max_slippage_bps:,} bps", "module pools": pools, "module tokens": tokens,
        "module perp markets": markets, "module loss budget per window": usd(p.loss_budget_window_wad),
        "module loss budget in total": usd(p.loss_budget_total_wad), "module TWAP window": f"{p.twap_s:,} s",
        "module perp min margin": f"{p.perp_min_margin_bps:,} bps",
        "module sequencer feed": f"{p.sequencer_feed}, grace {p.sequencer_grace_s:,} s",
    }
