"""Read-only contract calls for onboarding: the Safe, the HedgeModule, tokens and pools, over :class:`RpcClient`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address

from keeper.chain.multicall import Call
from keeper.chain.rpc import RpcClient, RpcError
from keeper.errors import ContractCallError
from keeper.venues import safe as safe_reads
from keeper.venues.hedge_module import OnchainParams, params_call, parse_params

__all__ = [
    "SENTINEL",
    "SafeState",
    "code_size",
    "module_onchain_params",
    "modules_of",
    "read_safe",
    "view",
]

SENTINEL = "0x0000000000000000000000000000000000000001"
ZERO = "0x0000000000000000000000000000000000000000"

def view(rpc: RpcClient, call: Call, *, block: str = "latest") -> tuple[Any, ...]:
    """One adapter read (:mod:`keeper.venues`) as a single ``eth_call``, decoded; a revert raises
    ContractCallError naming the function and the contract."""
    signature, to, out = call.signature, call.target, list(call.returns)
    try:
        raw = rpc.call("eth_call", [{"to": to, "data": "0x" + call.calldata.hex()}, block])
    except RpcError as exc:
        raise ContractCallError(f"{signature} on {to} reverted: {exc.rpc_message}") from None
    body = bytes.fromhex(str(raw).removeprefix("0x"))
    if not out:
        return ()
    try:
        return tuple(decode(out, body))
    except Exception as exc:  # eth_abi raises several decoding errors
        raise ContractCallError(f"{signature} on {to}: answer does not decode as {out} "
                                f"({len(body)} bytes; is it the right contract?)") from exc


def code_size(rpc: RpcClient, address: str) -> int:
    code = str(rpc.call("eth_getCode", [address, "latest"]))
    return max(0, (len(code) - 2) // 2)


@dataclass(frozen=True)
class SafeState:
    address: str
    version: str
    owners: tuple[str, ...]
    threshold: int
    nonce: int


def read_safe(rpc: RpcClient, address: str) -> SafeState:
    """The Safe at ``address``; raises ContractCallError if there is no Safe there."""
    if code_size(rpc, address) == 0:
        raise ContractCallError(f"no contract at {address}: not a deployed Safe")
    (version,) = view(rpc, safe_reads.version_call(address))
    (owners,) = view(rpc, safe_reads.owners_call(address))
    (threshold,) = view(rpc, safe_reads.threshold_call(address))
    (nonce,) = view(rpc, safe_reads.nonce_call(address))
    return SafeState(str(to_checksum_address(address)), str(version),
                     tuple(str(to_checksum_address(o)) for o in owners), int(threshold), int(nonce))


def modules_of(rpc: RpcClient, safe: str) -> list[str]:
    """Every enabled module of ``safe``, in its linked-list order (via ``getModulesPaginated``)."""
    out: list[str] = []
    start = SENTINEL
    for _ in range(100):
        page, nxt = view(rpc, safe_reads.modules_page_call(safe, start, 50))
        out += [str(to_checksum_address(m)) for m in page]
        if str(nxt).lower() in (SENTINEL, ZERO) or not page:
            return out
        start = str(nxt)
    raise ContractCallError(f"{safe}: module list longer than 5000 entries")


def _cs(a: Any) -> str:
    return str(to_checksum_address(a))


def module_onchain_params(rpc: RpcClient, module: str) -> OnchainParams:
    """Read ``params()`` of the HedgeModule at ``module``."""
    if code_size(rpc, module) == 0:
        raise ContractCallError(f"no contract at {module}: the HedgeModule is not deployed there")
    (p,) = view(rpc, params_call(module))
    return parse_params(p)
