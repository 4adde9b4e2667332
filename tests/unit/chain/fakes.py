"""In-memory fakes for the chain edge: a transport and a Multicall3 that answers from Python functions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_abi.abi import decode, encode

from keeper.chain.multicall import MULTICALL3, selector
from keeper.errors import TransportError

# (target, calldata) -> (success, returndata)
Contract = Callable[[str, bytes], tuple[bool, bytes]]


class FakeTransport:
    """Answers JSON-RPC from ``handle(method, params)``; ``faults`` is a queue of exceptions or raw bodies."""

    def __init__(self, handle: Callable[[str, list[Any]], Any]) -> None:
        self.handle = handle
        self.faults: list[Any] = []
        self.requests: list[Any] = []

    def _one(self, req: dict[str, Any]) -> dict[str, Any]:
        try:
            return {"jsonrpc": "2.0", "id": req["id"], "result": self.handle(req["method"], req["params"])}
        except RpcFault as f:
            return {"jsonrpc": "2.0", "id": req["id"], "error": {"code": f.code, "message": f.message}}

    def send(self, payload: Any, timeout: float) -> Any:
        self.requests.append(payload)
        if self.faults:
            fault = self.faults.pop(0)
            if isinstance(fault, BaseException):
                raise fault
            return fault
        if isinstance(payload, list):
            return [self._one(r) for r in payload]
        return self._one(payload)


class RpcFault(Exception):
    def __init__(self, code: int, message: str) -> None:
        self.code, self.message = code, message


class FakeChain:
    """A chain with a Multicall3 whose targets are Python functions; records the blocks asked for."""

    def __init__(self, contracts: dict[str, Contract], block: int = 100, max_calls_per_eth_call: int = 10**9) -> None:
        self.contracts = {k.lower(): v for k, v in contracts.items()}
        self.block = block
        self.blocks_seen: list[str] = []
        self.max_calls = max_calls_per_eth_call

    def handle(self, method: str, params: list[Any]) -> Any:
        if method == "eth_blockNumber":
            return hex(self.block)
        if method == "eth_chainId":
            return hex(31337)
        if method == "eth_call":
            tx, tag = params
            self.blocks_seen.append(tag)
            assert tx["to"].lower() == MULTICALL3.lower()
            data = bytes.fromhex(tx["data"][2:])
            assert data[:4] == selector("aggregate3((address,bool,bytes)[])")
            (calls,) = decode(["(address,bool,bytes)[]"], data[4:])
            if len(calls) > self.max_calls:
                raise RpcFault(-32000, "out of gas")
            out = []
            for target, _allow, calldata in calls:
                fn = self.contracts.get(target.lower())
                out.append((True, b"") if fn is None else fn(target, calldata))
            return "0x" + encode(["(bool,bytes)[]"], [out]).hex()
        raise TransportError(f"fake chain: unknown method {method}")


def transport_error(msg: str = "connection reset") -> TransportError:
    return TransportError(msg)
