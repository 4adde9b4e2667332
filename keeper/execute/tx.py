"""The transaction manager: one nonce owner per signer, EIP-1559 fees, wait with a timeout,
replace at the same nonce with bumped fees, typed revert reasons.

The journal hook ``before_broadcast`` is called with every signed attempt *before* it is
broadcast, so a crash at any point leaves a record of every transaction that might be on chain.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_abi.abi import decode
from eth_abi.exceptions import DecodingError
from eth_utils.crypto import keccak

from keeper.chain.multicall import decode_revert
from keeper.chain.rpc import RpcClient, RpcError
from keeper.errors import InputError, TransactionError, TransportError
from keeper.execute.fees import FeeCapExceededError, FeePolicy, Fees, bump, fees_from_history

__all__ = [
    "Attempt",
    "ErrorDecoder",
    "Mined",
    "NonceConsumedError",
    "Signer",
    "TxManager",
    "TxRequest",
    "TxRevertedError",
    "TxTimeoutError",
]


class Signer(Protocol):
    @property
    def address(self) -> str: ...

    def sign_transaction(self, tx: dict[str, Any]) -> Any: ...


class TxRevertedError(TransactionError):
    """The transaction reverted (or would revert: ``preflight`` is then True and nothing was sent)."""

    def __init__(self, reason: str, *, error_name: str = "", args: tuple[Any, ...] = (), preflight: bool = False,
                 tx_hash: str = "") -> None:
        self.reason, self.error_name, self.error_args = reason, error_name, args
        self.preflight, self.tx_hash = preflight, tx_hash
        where = "would revert (not sent)" if preflight else f"reverted (tx {tx_hash})"
        super().__init__(f"transaction {where}: {reason}")


class TxTimeoutError(TransactionError):
    """No attempt was mined before the deadline. The intent stays open; a restart resolves it."""

    def __init__(self, message: str, attempts: Sequence[Attempt]) -> None:
        self.attempts = tuple(attempts)
        super().__init__(message)


class NonceConsumedError(TransactionError):
    """Our nonce was used by a transaction we did not send (a third party or an operator)."""


class ErrorDecoder:
    """Maps custom-error selectors to names and argument types, from contract ABIs."""

    def __init__(self, abis: Sequence[Sequence[dict[str, Any]]] = ()) -> None:
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") == "error":
                    types = [_abi_type(i) for i in item.get("inputs", [])]
                    sig = f"{item['name']}({','.join(types)})"
                    self._errors[keccak(text=sig)[:4]] = (item["name"], types)

    def decode(self, data: bytes) -> tuple[str, str, tuple[Any, ...]]:
        """(readable reason, error name or "", decoded args)."""
        known = self._errors.get(data[:4])
        if known is None:
            return decode_revert(data), "", ()
        name, types = known
        try:
            args = tuple(decode(types, data[4:]))
        except DecodingError:
            return f"{name}(<undecodable>)", name, ()
        return f"{name}({', '.join(self._readable(a) for a in args)})", name, args

    def _readable(self, arg: Any) -> str:
        """An argument for people: a ``bytes`` argument of our errors is a venue's revert data
        (``SwapFailed(bytes)``...), decoded in turn; never a Python bytes repr."""
        return self.decode(arg)[0] if isinstance(arg, bytes) else str(arg)


def _abi_type(item: dict[str, Any]) -> str:
    t: str = item["type"]
    if t.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + t[5:]
    return t


@dataclass(frozen=True)
class TxRequest:
    to: str
    data: bytes
    value: int = 0
    gas: int | None = None
    """Gas limit; ``None`` estimates it (plus ``gas_buffer``), which also pre-flights the call."""


@dataclass(frozen=True)
class Attempt:
    nonce: int
    tx_hash: str
    raw: bytes
    fees: Fees
    gas: int


@dataclass(frozen=True)
class Mined:
    receipt: dict[str, Any]
    attempt: Attempt
    attempts: tuple[Attempt, ...]

    @property
    def replaced(self) -> int:
        return len(self.attempts) - 1


@dataclass
class TxManager:
    """Sends one transaction at a time for one signer and owns its nonce.

    Parameters
    ----------
    replace_after_s: seconds without a receipt before a replacement with bumped fees.
    timeout_s: total seconds to wait before giving up with :class:`TxTimeoutError`.
    poll_s: receipt polling interval.
    gas_buffer: multiplier on estimated gas.
    """

    rpc: RpcClient
    signer: Signer
    chain_id: int
    policy: FeePolicy = field(default_factory=FeePolicy)
    errors: ErrorDecoder = field(default_factory=ErrorDecoder)
    replace_after_s: float = 30.0
    timeout_s: float = 180.0
    poll_s: float = 0.5
    gas_buffer: float = 1.2
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _nonce: int | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def __post_init__(self) -> None:
        if self.replace_after_s <= 0 or self.timeout_s <= 0 or self.poll_s <= 0:
            raise InputError("tx", "replace_after_s, timeout_s and poll_s must be positive")
        if self.gas_buffer < 1:
            raise InputError("gas_buffer", f"must be >= 1, got {self.gas_buffer}")

    # ------------------------------------------------------------------ pieces
    def chain_nonce(self, tag: str = "latest") -> int:
        return int(self.rpc.call("eth_getTransactionCount", [self.signer.address, tag]), 16)

    def next_nonce(self) -> int:
        if self._nonce is None:
            self._nonce = self.chain_nonce("pending")
        return self._nonce

    def resync_nonce(self) -> None:
        self._nonce = None

    def nonce_user(self, nonce: int, since_block: int, depth: int = 1024, batch: int = 16) -> str | None:
        """The hash of the mined transaction that used this signer's ``nonce``, or None when no
        visible block shows it.

        A node can expose an account's new nonce before the block and receipt that used it (anvil
        does under load; a load-balanced RPC does whenever two backends disagree on the head), so
        "the nonce is used and our receipt is missing" is not evidence that someone else used it.
        This reads blocks from the head back to ``since_block`` (at most ``depth`` of them, ``batch``
        per round trip; no historical state needed) and stops at the first transaction of ours at
        or below ``nonce``. None means undetermined: look again later.
        """
        me = self.signer.address.lower()
        try:
            head = self.rpc.block_number()
        except (RpcError, TransportError):
            return None
        low = max(since_block, head - depth + 1, 0)
        top = head
        while top >= low:
            numbers = range(top, max(top - batch, low - 1), -1)
            try:
                blocks = self.rpc.batch([("eth_getBlockByNumber", [hex(n), True]) for n in numbers])
            except TransportError:
                return None
            for block in blocks:
                if not isinstance(block, dict):
                    return None  # a block we cannot read: nothing below it can be trusted either
                ours = [t for t in block.get("transactions", [])
                        if isinstance(t, dict) and str(t.get("from", "")).lower() == me]
                for t in ours:
                    if int(t["nonce"], 16) == nonce:
                        return str(t["hash"])
                if any(int(t["nonce"], 16) < nonce for t in ours):
                    return None  # older than the nonce: the block that used it is not visible yet
            top = numbers[-1] - 1
        return None

    def suggest_fees(self) -> Fees:
        history = self.rpc.call(
            "eth_feeHistory", [hex(self.policy.history_blocks), "latest", [self.policy.reward_percentile]]
        )
        return fees_from_history(history, self.policy)

    def _call_params(self, req: TxRequest) -> dict[str, Any]:
        return {"from": self.signer.address, "to": req.to, "data": "0x" + req.data.hex(), "value": hex(req.value)}

    def preflight(self, req: TxRequest) -> int:
        """Estimate gas; a revert raises TxRevertedError(preflight=True) and nothing is sent."""
        try:
            est = int(self.rpc.call("eth_estimateGas", [self._call_params(req)]), 16)
        except RpcError as exc:
            reason, name, args = self._revert_from_rpc(exc)
            raise TxRevertedError(reason, error_name=name, args=args, preflight=True) from exc
        return int(est * self.gas_buffer)

    def _revert_from_rpc(self, exc: RpcError) -> tuple[str, str, tuple[Any, ...]]:
        data = exc.data
        if isinstance(data, dict):
            data = data.get("data")
        if isinstance(data, str) and data.startswith("0x"):
            return self.errors.decode(bytes.fromhex(data[2:]))
        return exc.rpc_message, "", ()

    def sign(self, req: TxRequest, nonce: int, fees: Fees, gas: int) -> Attempt:
        tx = {
            "type": 2, "chainId": self.chain_id, "nonce": nonce, "to": req.to, "value": req.value,
            "data": "0x" + req.data.hex(), "gas": gas, "maxFeePerGas": fees.max_fee_per_gas,
            "maxPriorityFeePerGas": fees.max_priority_fee_per_gas,
        }
        signed = self.signer.sign_transaction(tx)
        raw = bytes(signed.raw_transaction)
        return Attempt(nonce=nonce, tx_hash="0x" + keccak(raw).hex(), raw=raw, fees=fees, gas=gas)

    def broadcast(self, attempt: Attempt) -> None:
        try:
            self.rpc.call("eth_sendRawTransaction", ["0x" + attempt.raw.hex()])
        except RpcError as exc:
            msg = exc.rpc_message.lower()
            if "already known" in msg or "already imported" in msg:
                return
            if "nonce too low" in msg:
                self.resync_nonce()
                raise NonceConsumedError(f"nonce {attempt.nonce} is already used on chain") from exc
            raise TransactionError(f"broadcast of {attempt.tx_hash} refused: {exc.rpc_message}") from exc

    def receipts(self, attempts: Sequence[Attempt]) -> dict[str, dict[str, Any]]:
        answers = self.rpc.batch([("eth_getTransactionReceipt", [a.tx_hash]) for a in attempts])
        return {a.tx_hash: r for a, r in zip(attempts, answers, strict=True) if isinstance(r, dict)}

    def revert_reason(self, req: TxRequest, receipt: dict[str, Any]) -> tuple[str, str, tuple[Any, ...]]:
        """Why a mined transaction reverted: its trace's revert data where the node traces
        (``debug_traceTransaction``), else a replay with eth_call on the state before its block
        (which misses transactions earlier in the same block)."""
        try:
            trace = self.rpc.call("debug_traceTransaction", [receipt["transactionHash"], {"tracer": "callTracer"}])
        except (RpcError, TransportError):
            trace = None
        if isinstance(trace, dict) and isinstance(trace.get("output"), str) and len(trace["output"]) > 2:
            return self.errors.decode(bytes.fromhex(trace["output"][2:]))
        block = int(receipt["blockNumber"], 16)
        try:
            self.rpc.call("eth_call", [self._call_params(req), hex(max(block - 1, 0))])
        except RpcError as exc:
            return self._revert_from_rpc(exc)
        return "reverted (replay did not reproduce it)", "", ()

    def cancel(self, nonce: int, last_max_fee: int, last_tip: int, wait_s: float = 30.0) -> str:
        """Close ``nonce`` with a 0-value self-transfer priced above the last attempt; wait for the nonce.

        Returns the cancellation's hash. Whichever transaction at that nonce is mined, the nonce is
        used afterwards, so an older attempt can never land later. Raises TxTimeoutError if the nonce
        is still open after ``wait_s``.
        """
        with self._lock:
            base = self.suggest_fees()
            old = Fees(last_max_fee, last_tip, base.base_fee)
            fees = bump(old, self.policy, base.base_fee)
            req = TxRequest(to=self.signer.address, data=b"", value=0, gas=21_000)
            attempt = self.sign(req, nonce, fees, 21_000)
            try:
                self.broadcast(attempt)
            except NonceConsumedError:
                return attempt.tx_hash
            start = self.clock()
            while self.clock() - start < wait_s:
                if self.chain_nonce("latest") > nonce:
                    self.resync_nonce()
                    return attempt.tx_hash
                self.sleep(self.poll_s)
            raise TxTimeoutError(f"cancellation of nonce {nonce} not mined after {wait_s:g} s", [attempt])

    # ------------------------------------------------------------------ the loop
    def send(self, req: TxRequest, before_broadcast: Callable[[Attempt], None]) -> Mined:
        """Send ``req`` and wait for it. ``before_broadcast`` records each attempt before it leaves.

        Raises TxRevertedError (preflight or mined revert), TxTimeoutError, NonceConsumedError,
        FeeCapExceededError (nothing sent) or TransactionError.
        """
        with self._lock:
            gas = req.gas if req.gas is not None else self.preflight(req)
            fees = self.suggest_fees()
            nonce = self.next_nonce()
            since_block = self.rpc.block_number()  # where to look for whoever uses this nonce
            attempts = [self.sign(req, nonce, fees, gas)]
            before_broadcast(attempts[0])
            # "nonce too low" can also mean our own first broadcast went through and a retry of the
            # same request reached the node after it was mined: the wait below checks our receipts
            # before it concludes that someone else used the nonce.
            with contextlib.suppress(NonceConsumedError):
                self.broadcast(attempts[0])
            start = last = self.clock()
            try:
                mined = self._wait(req, attempts, start, last, before_broadcast, since_block)
            except (TxRevertedError, TxTimeoutError):
                raise
            except NonceConsumedError:
                self.resync_nonce()
                raise
            self._nonce = nonce + 1
            return mined

    # Long on purpose: the transaction wait loop: receipts, nonce evidence, timeout, replacement; one state machine.
    def _wait(  # noqa: C901, PLR0912
        self, req: TxRequest, attempts: list[Attempt], start: float, last: float,
        before_broadcast: Callable[[Attempt], None], since_block: int,
    ) -> Mined:
        nonce = attempts[0].nonce
        can_bump = True
        while True:
            found = self.receipts(attempts)
            for a in attempts:
                receipt = found.get(a.tx_hash)
                if receipt is None:
                    continue
                self._nonce = nonce + 1
                if int(receipt["status"], 16) != 1:
                    reason, name, args = self.revert_reason(req, receipt)
                    raise TxRevertedError(reason, error_name=name, args=args, tx_hash=a.tx_hash)
                return Mined(receipt=receipt, attempt=a, attempts=tuple(attempts))
            if self.chain_nonce("latest") > nonce:
                # Our nonce is used. One of ours may have been mined between the two reads, or the
                # node may show the new nonce before the receipt: only a transaction we can see,
                # that is not ours, proves someone else used it. Until then, keep waiting.
                if self.receipts(attempts):
                    continue
                user = self.nonce_user(nonce, since_block)
                if user is not None and user not in {a.tx_hash for a in attempts}:
                    raise NonceConsumedError(
                        f"nonce {nonce} was consumed by transaction {user}, not sent by this keeper "
                        f"(ours: {', '.join(a.tx_hash for a in attempts)})"
                    )
            now = self.clock()
            if now - start >= self.timeout_s:
                raise TxTimeoutError(
                    f"no receipt for nonce {nonce} after {now - start:.1f} s and {len(attempts)} attempt(s)", attempts
                )
            if can_bump and now - last >= self.replace_after_s:
                try:
                    base = self.suggest_fees().base_fee
                    fees = bump(attempts[-1].fees, self.policy, base)
                except FeeCapExceededError:
                    can_bump = False
                else:
                    attempt = self.sign(req, nonce, fees, attempts[-1].gas)
                    attempts.append(attempt)
                    before_broadcast(attempt)
                    try:
                        self.broadcast(attempt)
                    except NonceConsumedError:
                        continue  # re-check receipts: an earlier attempt may just have been mined
                    except TransactionError:
                        # e.g. "replacement transaction underpriced": keep waiting on what is out there.
                        can_bump = False
                    last = now
            self.sleep(self.poll_s)
