"""Read-only contract calls for onboarding: the Safe, the HedgeModule, tokens and pools, over :class:`RpcClient`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.chain.rpc import RpcClient, RpcError
from keeper.errors import ContractCallError
from keeper.venues.hedge_module import PARAMS_TYPE as HEDGE_MODULE_PARAMS_TYPE

__all__ = [
    "SENTINEL",
    "OnchainParams",
    "SafeState",
    "code_size",
    "module_onchain_params",
    "modules_of",
    "read_safe",
    "view",
]

SENTINEL = "0x0000000000000000000000000000000000000001"
ZERO = "0x0000000000000000000000000000000000000000"

PARAMS_TYPE = HEDGE_MODULE_PARAMS_TYPE


def view(rpc: RpcClient, to: str, signature: str, args: Sequence[Any] = (), out: Sequence[str] = (),
         *, block: str = "latest") -> tuple[Any, ...]:
    """Call ``signature`` (e.g. ``"fee()"``) on ``to`` and decode ``out``; a revert raises ContractCallError."""
    in_types = signature[signature.index("(") + 1:-1]
    types = [t for t in in_types.split(",") if t]
    data = keccak(text=signature)[:4] + (encode(types, list(args)) if args else b"")
    try:
        raw = rpc.call("eth_call", [{"to": to, "data": "0x" + data.hex()}, block])
    except RpcError as exc:
        raise ContractCallError(f"{signature} on {to} reverted: {exc.rpc_message}") from None
    body = bytes.fromhex(str(raw).removeprefix("0x"))
    if not out:
        return ()
    try:
        return tuple(decode(list(out), body))
    except Exception as exc:  # eth_abi raises several decoding errors
        raise ContractCallError(f"{signature} on {to}: answer does not decode as {list(out)} "
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
    (version,) = view(rpc, address, "VERSION()", out=["string"])
    (owners,) = view(rpc, address, "getOwners()", out=["address[]"])
    (threshold,) = view(rpc, address, "getThreshold()", out=["uint256"])
    (nonce,) = view(rpc, address, "nonce()", out=["uint256"])
    return SafeState(str(to_checksum_address(address)), str(version),
                     tuple(str(to_checksum_address(o)) for o in owners), int(threshold), int(nonce))


def modules_of(rpc: RpcClient, safe: str) -> list[str]:
    """Every enabled module of ``safe``, in its linked-list order (via ``getModulesPaginated``)."""
    out: list[str] = []
    start = SENTINEL
    for _ in range(100):
        page, nxt = view(rpc, safe, "getModulesPaginated(address,uint256)", [start, 50], ["address[]", "address"])
        out += [str(to_checksum_address(m)) for m in page]
        if str(nxt).lower() in (SENTINEL, ZERO) or not page:
            return out
        start = str(nxt)
    raise ContractCallError(f"{safe}: module list longer than 5000 entries")


@dataclass(frozen=True)
class OnchainParams:
    """``HedgeModule.params()`` in contract units (usd wad, seconds, bps; lists sorted ascending)."""

    version: bytes
    chain_id: int
    module: str
    safe: str
    keeper: str
    guardian: str
    router: str
    max_per_trade_wad: int
    max_per_window_wad: int
    window_s: int
    max_slippage_bps: int
    pools: tuple[tuple[str, str, str, int], ...]
    """(pool, token0, token1, fee in hundredths of a bip), sorted by pool address"""
    tokens: tuple[tuple[str, str, int, int], ...]
    """(token, feed, max feed age s, decimals)"""
    markets: tuple[tuple[str, str, int, int], ...]
    """(market, feed, max feed age s, max |size| 1e18 units)"""
    factory: str
    loss_budget_window_wad: int
    loss_budget_total_wad: int
    twap_s: int
    perp_min_margin_bps: int
    sequencer_feed: str
    sequencer_grace_s: int

    @property
    def fee_tiers(self) -> tuple[int, ...]:
        """The fee tiers of the allowed pools, sorted."""
        return tuple(sorted({p[3] for p in self.pools}))

    def as_tuple(self) -> tuple[Any, ...]:
        """The ``params()`` tuple, ready for ``abi.encode`` (and so for the hash)."""
        return (self.version, self.chain_id, self.module, self.safe, self.keeper, self.guardian, self.router,
                self.max_per_trade_wad, self.max_per_window_wad, self.window_s, self.max_slippage_bps,
                [list(p) for p in self.pools], [list(t) for t in self.tokens], [list(m) for m in self.markets],
                self.factory, self.loss_budget_window_wad, self.loss_budget_total_wad, self.twap_s,
                self.perp_min_margin_bps, self.sequencer_feed, self.sequencer_grace_s)

    def params_hash(self) -> bytes:
        """keccak256(abi.encode(params())), as ``HedgeModule.paramsHash()`` computes it."""
        return keccak(encode([PARAMS_TYPE], [self.as_tuple()]))


def _cs(a: Any) -> str:
    return str(to_checksum_address(a))


def module_onchain_params(rpc: RpcClient, module: str) -> OnchainParams:
    """Read ``params()`` of the HedgeModule at ``module``."""
    if code_size(rpc, module) == 0:
        raise ContractCallError(f"no contract at {module}: the HedgeModule is not deployed there")
    (p,) = view(rpc, module, "params()", out=[PARAMS_TYPE])
    return OnchainParams(
        version=bytes(p[0]), chain_id=int(p[1]), module=_cs(p[2]), safe=_cs(p[3]), keeper=_cs(p[4]),
        guardian=_cs(p[5]), router=_cs(p[6]), max_per_trade_wad=int(p[7]), max_per_window_wad=int(p[8]),
        window_s=int(p[9]), max_slippage_bps=int(p[10]),
        pools=tuple((_cs(x[0]), _cs(x[1]), _cs(x[2]), int(x[3])) for x in p[11]),
        tokens=tuple((_cs(t[0]), _cs(t[1]), int(t[2]), int(t[3])) for t in p[12]),
        markets=tuple((_cs(m[0]), _cs(m[1]), int(m[2]), int(m[3])) for m in p[13]),
        factory=_cs(p[14]), loss_budget_window_wad=int(p[15]), loss_budget_total_wad=int(p[16]), twap_s=int(p[17]),
        perp_min_margin_bps=int(p[18]), sequencer_feed=_cs(p[19]), sequencer_grace_s=int(p[20]),
    )
