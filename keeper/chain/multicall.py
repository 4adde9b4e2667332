"""Multicall3 batching: typed calls in, per call either the decoded value or its error out.

Calls are packed into ``aggregate3`` chunks kept under a calldata and a gas budget; every
chunk is an ``eth_call`` pinned to the same block number, and all chunks of one
:meth:`Multicall.execute` go out as one JSON-RPC batch, so one ``execute`` is one round trip
(plus one per chunk that must be split after the node refuses it).

A chain without Multicall3 answers an ``eth_call`` to its address with empty data (there is no
code to run); :meth:`Multicall.execute` turns that into a :class:`~keeper.errors.SetupError` that
names Multicall3 and the fix (:func:`missing_multicall3_fix`), never into per-call failures that
would surface later as some unrelated read's error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import Any, Protocol

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from keeper.chain.abi_fast import decode_aggregate3, decode_values, encode_aggregate3, encode_args
from keeper.chain.rpc import HttpTransport, RpcClient, RpcError
from keeper.errors import ChainError, InputError, SetupError

__all__ = ["MULTICALL3", "MULTICALL3_DOCS", "Call", "Failed", "Multicall", "Ok", "Result", "StateReader",
           "block_timestamp_call", "decode_revert", "eth_balance_call", "install_command", "is_anvil_client",
           "missing_multicall3_fix", "selector"]

MULTICALL3 = "0xcA11bde05977b3631167028862bE2a173976CA11"
MULTICALL3_DOCS = "https://github.com/mds1/multicall3"
_AGGREGATE3 = keccak(text="aggregate3((address,bool,bytes)[])")[:4]
_ERROR_STRING = bytes.fromhex("08c379a0")
_PANIC = bytes.fromhex("4e487b71")


@lru_cache(maxsize=4096)
def selector(signature: str) -> bytes:
    """The 4-byte selector of a canonical signature such as ``balanceOf(address)``."""
    return keccak(text=signature)[:4]


@lru_cache(maxsize=4096)
def _arg_types(signature: str) -> list[str]:
    inner = signature[signature.index("(") + 1 : signature.rindex(")")]
    if not inner:
        return []
    # Split on top-level commas only (tuples nest).
    out, depth, cur = [], 0, ""
    for ch in inner:
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
            continue
        depth += ch == "("
        depth -= ch == ")"
        cur += ch
    out.append(cur)
    return out


def is_anvil_client(client_version: str) -> bool:
    """Whether a ``web3_clientVersion`` answer names anvil (``anvil/v1.7.1``)."""
    return client_version.strip().lower().startswith("anvil")


def install_command(rpc_url: str | None) -> str:
    """The command that places Multicall3 on the anvil chain at ``rpc_url``.

    A URL with a path, query or credentials may carry an API key: it is not repeated, the
    command reads it from the config instead.
    """
    from urllib.parse import urlsplit

    if rpc_url:
        p = urlsplit(rpc_url)
        if p.scheme in ("http", "https") and p.hostname and p.path in ("", "/") and not p.query \
                and p.username is None and p.password is None:
            return f"keeper multicall3 install --rpc-url {rpc_url.rstrip('/')}"
    return "keeper multicall3 install -c CONFIG"


def missing_multicall3_fix(client_version: str | None, rpc_url: str | None = None) -> str:
    """The one-line fix for a chain without Multicall3: install it on anvil, otherwise change chains."""
    if client_version is not None and is_anvil_client(client_version):
        return f"run `{install_command(rpc_url)}` (places it at its canonical address on this anvil chain)"
    return f"use a chain with the canonical Multicall3 deployment (see {MULTICALL3_DOCS})"


@dataclass(frozen=True)
class Call:
    """One read.

    Attributes
    ----------
    target: contract address.
    signature: canonical function signature, e.g. ``"positions(uint256)"``.
    args: arguments, ABI-encodable for the signature's types.
    returns: ABI output types, e.g. ``("uint256",)``.
    label: what this call reads, used in error reports (``"lp 42 positions"``).
    gas: the gas this call is budgeted for when packing chunks.
    """

    target: str
    signature: str
    args: tuple[Any, ...] = ()
    returns: tuple[str, ...] = ()
    label: str = ""
    gas: int = 60_000

    @cached_property
    def calldata(self) -> bytes:
        types = _arg_types(self.signature)
        if len(types) != len(self.args):
            raise InputError("args", f"{self.signature} takes {len(types)} arguments, got {len(self.args)}")
        return selector(self.signature) + encode_args(types, self.args)


@dataclass(frozen=True)
class Ok:
    """A call that succeeded; ``value`` is the decoded output tuple."""

    value: tuple[Any, ...]

    @property
    def ok(self) -> bool:
        return True


@dataclass(frozen=True)
class Failed:
    """A call that reverted, returned undecodable data, or could not be made; ``reason`` says which."""

    reason: str

    @property
    def ok(self) -> bool:
        return False


Result = Ok | Failed


class StateReader(Protocol):
    """Contract reads at one block, one result per call: :class:`Multicall`, or a test's in-memory chain."""

    @property
    def address(self) -> str:
        """The Multicall3 the reads go through (its own calls, such as the block timestamp, go to it)."""
        ...

    def execute(self, calls: Sequence[Call], block: int, /) -> list[Result]: ...


def decode_revert(data: bytes) -> str:
    """A readable reason for revert data: Error(string), Panic(uint256), a custom error's selector."""
    if not data:
        return "reverted without reason"
    if data[:4] == _ERROR_STRING:
        try:
            return f"reverted: {decode(['string'], data[4:])[0]}"
        except DecodingError:
            return "reverted: malformed Error(string)"
    if data[:4] == _PANIC:
        try:
            return f"panicked: code 0x{decode(['uint256'], data[4:])[0]:02x}"
        except DecodingError:
            return "panicked"
    return f"reverted with custom error 0x{data[:4].hex()}"


@dataclass
class Multicall:
    """Batched, block-pinned reads through Multicall3.

    Parameters
    ----------
    rpc: the JSON-RPC client (its round-trip counter counts our requests).
    address: Multicall3's address (canonical by default).
    max_calldata_bytes: calldata budget per ``eth_call`` chunk.
    max_gas: gas budget per chunk (sum of the calls' ``gas``), under common ``eth_call`` caps.
    max_chunks_per_request: chunks sent in one JSON-RPC batch (some providers cap batch size).
    """

    rpc: RpcClient
    address: str = MULTICALL3
    max_calldata_bytes: int = 200_000
    max_gas: int = 25_000_000
    max_chunks_per_request: int = 20
    chunks_sent: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        for name in ("max_calldata_bytes", "max_gas", "max_chunks_per_request"):
            if getattr(self, name) <= 0:
                raise InputError(name, f"must be positive, got {getattr(self, name)}")

    def chunk(self, calls: Sequence[Call]) -> list[list[int]]:
        """Indexes of ``calls`` grouped into chunks under both budgets (each chunk has >= 1 call)."""
        chunks: list[list[int]] = []
        cur: list[int] = []
        size = gas = 0
        for i, c in enumerate(calls):
            c_size = len(c.calldata) + 160  # tuple head, offsets, length word and padding
            if cur and (size + c_size > self.max_calldata_bytes or gas + c.gas > self.max_gas):
                chunks.append(cur)
                cur, size, gas = [], 0, 0
            cur.append(i)
            size += c_size
            gas += c.gas
        if cur:
            chunks.append(cur)
        return chunks

    def _encode(self, calls: Sequence[Call], idx: Sequence[int]) -> str:
        payload = [(calls[i].target, True, calls[i].calldata) for i in idx]
        return "0x" + (_AGGREGATE3 + encode_aggregate3(payload)).hex()

    @staticmethod
    def _decode_one(call: Call, success: bool, data: bytes) -> Result:
        if not success:
            return Failed(decode_revert(data))
        if not call.returns:
            return Ok(())
        if not data:
            return Failed("returned no data (no contract at the address, or a different ABI)")
        try:
            return Ok(decode_values(call.returns, data))
        except (DecodingError, OverflowError, ValueError) as exc:
            return Failed(f"returned {len(data)} bytes that do not decode as ({','.join(call.returns)}): {exc}")

    def _missing(self, block: int) -> SetupError:
        """The error for an empty ``aggregate3`` answer: no code at :attr:`address`."""
        chain, client = "", None
        try:
            chain = f" on chain {self.rpc.chain_id()}"
            client = str(self.rpc.call("web3_clientVersion"))
        except ChainError:
            pass
        url = self.rpc.transport.url if isinstance(self.rpc.transport, HttpTransport) else None
        where = "its canonical address" if self.address == MULTICALL3 else "the configured address"
        return SetupError(
            f"no Multicall3 contract at {where} {self.address}{chain} (block {block}): the keeper batches "
            f"every chain read through it; fix: {missing_multicall3_fix(client, url)}"
        )

    # Long on purpose: stages, gas-bounded batching and per-call results: the order of the branches is the protocol.
    def execute(self, calls: Sequence[Call], block: int) -> list[Result]:  # noqa: C901
        """Run ``calls`` at ``block``; the result list matches ``calls`` one to one.

        Raises SetupError when there is no Multicall3 at :attr:`address` (the node answers the
        ``eth_call`` with empty data) and TransportError when the node cannot be reached after
        retries; every other problem is reported per call as :class:`Failed`.
        """
        if block < 0:
            raise InputError("block", f"must be a block number >= 0, got {block}")
        results: list[Result | None] = [None] * len(calls)
        pending = self.chunk(calls)
        tag = hex(block)
        splits_left = 8
        while pending:
            wave, pending = pending[: self.max_chunks_per_request], pending[self.max_chunks_per_request :]
            reqs = [("eth_call", [{"to": self.address, "data": self._encode(calls, idx)}, tag]) for idx in wave]
            self.chunks_sent += len(wave)
            answers = self.rpc.batch(reqs)
            for idx, answer in zip(wave, answers, strict=True):
                if isinstance(answer, RpcError):
                    if len(idx) > 1 and splits_left > 0:
                        splits_left -= 1
                        half = len(idx) // 2
                        pending += [idx[:half], idx[half:]]
                        continue
                    for i in idx:
                        results[i] = Failed(f"multicall chunk failed: {answer.rpc_message}")
                    continue
                if str(answer) in ("0x", ""):
                    raise self._missing(block)
                try:
                    decoded = decode_aggregate3(bytes.fromhex(str(answer).removeprefix("0x")))
                except (DecodingError, ValueError) as exc:
                    for i in idx:
                        results[i] = Failed(f"multicall answer does not decode: {exc}")
                    continue
                if len(decoded) != len(idx):
                    for i in idx:
                        results[i] = Failed("multicall answer has the wrong number of results")
                    continue
                for i, (success, data) in zip(idx, decoded, strict=True):
                    results[i] = self._decode_one(calls[i], success, data)
        assert all(r is not None for r in results)
        return [r for r in results if r is not None]


# Multicall3's own reads, batched with the calls they accompany (same block).
def block_timestamp_call(address: str = MULTICALL3) -> Call:
    """``getCurrentBlockTimestamp()``: the timestamp of the block the batch runs in, s."""
    return Call(address, "getCurrentBlockTimestamp()", (), ("uint256",), "block timestamp")


def eth_balance_call(owner: str, address: str = MULTICALL3) -> Call:
    """``getEthBalance(owner)``: the native balance in wei."""
    return Call(address, "getEthBalance(address)", (owner,), ("uint256",), f"native balance of {owner}", 10_000)
