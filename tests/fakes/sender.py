"""A sender for the memory chain: the :class:`~keeper.cycle.ports.Sender` port, with TxManager's contract.

Like :class:`~keeper.execute.tx.TxManager` it preflights (an estimate on a copy of the next block:
a revert raises ``TxRevertedError(preflight=True)``), signs one attempt at the signer's pending nonce,
hands it to ``before_broadcast`` before it leaves, broadcasts it, and waits for its receipt on the
clock (a mined revert raises ``TxRevertedError`` with the decoded reason; no receipt within
``timeout_s`` raises ``TxTimeoutError``). ``cancel`` closes a nonce with a pricier self-transfer.
It does not replace a slow transaction with bumped fees (TxManager's own tests cover that).

``after_broadcast`` runs right after the broadcast: raising :class:`Killed` there is the process
dying between sending a hedge and journaling its fill.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from keeper.chain.multicall import decode_revert
from keeper.chain.rpc import RpcError
from keeper.execute.fees import FeePolicy, Fees, bump
from keeper.execute.tx import Attempt, Mined, NonceConsumedError, TxRequest, TxRevertedError, TxTimeoutError
from tests.fakes.chain import CHAIN_ID, KEEPER, MemoryChain, PendingTx, revert_data
from tests.fakes.clock import FakeClock

GAS_ESTIMATE = 180_000
TIP_WEI = 10**9


class Killed(BaseException):
    """The keeper process dies here (SIGKILL): nothing after this line of the cycle runs, no handler
    catches it (it is not an Exception, let alone a KeeperError)."""


@dataclass
class FakeSender:
    chain: MemoryChain
    clock: FakeClock
    address: str = KEEPER
    timeout_s: float = 60.0
    poll_s: float = 0.5
    after_broadcast: Callable[[Attempt], None] | None = None
    sent: list[Attempt] = field(default_factory=list)
    """Every attempt broadcast, cancellations included."""

    # ------------------------------------------------------------------ pieces
    def chain_nonce(self, tag: str = "latest", /) -> int:
        latest = self.chain.nonce(self.address)
        if tag == "pending":
            return latest + sum(1 for t in self.chain.mempool.values() if t.sender == self.address)
        return latest

    def resync_nonce(self) -> None:
        """Nothing to forget: every attempt is signed at the chain's pending nonce."""

    def preflight(self, req: TxRequest, /) -> int:
        error = self.chain.estimate(self._pending(req, Attempt(0, "0x" + "00" * 32, b"", self._fees(), 0)))
        if error is not None:
            raise TxRevertedError(decode_revert(revert_data(error)), preflight=True)
        return GAS_ESTIMATE

    def nonce_user(self, nonce: int, since_block: int, /) -> str | None:
        for block in reversed(self.chain.blocks):
            if block.number < since_block:
                break
            for t in block.transactions:
                if t["from"] == self.address and int(t["nonce"], 16) == nonce:
                    return str(t["hash"])
        return None

    def _fees(self) -> Fees:
        base = self.chain.base_fee_wei
        return Fees(2 * base + TIP_WEI, TIP_WEI, base)

    def _sign(self, req: TxRequest, nonce: int, fees: Fees, gas: int) -> Attempt:
        raw = b"\x02" + encode(
            ["uint256", "uint256", "address", "bytes", "uint256", "uint256", "uint256"],
            [CHAIN_ID, nonce, req.to, req.data, fees.max_fee_per_gas, fees.max_priority_fee_per_gas, gas],
        )
        return Attempt(nonce=nonce, tx_hash="0x" + keccak(raw).hex(), raw=raw, fees=fees, gas=gas)

    def _pending(self, req: TxRequest, a: Attempt) -> PendingTx:
        return PendingTx(a.tx_hash, self.address, a.nonce, req.to, req.data, a.fees.max_fee_per_gas,
                         a.fees.max_priority_fee_per_gas)

    def _broadcast(self, req: TxRequest, attempt: Attempt) -> None:
        try:
            self.chain.broadcast(self._pending(req, attempt))
        except RpcError as exc:
            if "nonce too low" in exc.rpc_message:
                raise NonceConsumedError(f"nonce {attempt.nonce} is already used on chain") from exc
            raise
        self.sent.append(attempt)
        if self.after_broadcast is not None:
            self.after_broadcast(attempt)

    # ------------------------------------------------------------------ the port
    def send(self, req: TxRequest, before_broadcast: Callable[[Attempt], None], /) -> Mined:
        gas = req.gas if req.gas is not None else self.preflight(req)
        attempt = self._sign(req, self.chain_nonce("pending"), self._fees(), gas)
        before_broadcast(attempt)
        self._broadcast(req, attempt)
        start = self.clock.now()
        while True:
            receipt = self.chain.receipts.get(attempt.tx_hash)
            if receipt is not None:
                if int(receipt["status"], 16) != 1:
                    reason = decode_revert(self.chain.revert_reasons[attempt.tx_hash])
                    raise TxRevertedError(reason, tx_hash=attempt.tx_hash)
                return Mined(receipt=dict(receipt), attempt=attempt, attempts=(attempt,))
            if self.clock.now() - start >= self.timeout_s:
                raise TxTimeoutError(f"no receipt for nonce {attempt.nonce} after {self.timeout_s:g} s", [attempt])
            self.clock.sleep(self.poll_s)

    def cancel(self, nonce: int, last_max_fee: int, last_tip: int, wait_s: float = 30.0, /) -> str:
        fees = bump(Fees(last_max_fee, last_tip, self.chain.base_fee_wei), FeePolicy(), self.chain.base_fee_wei)
        req = TxRequest(to=self.address, data=b"", value=0, gas=21_000)
        attempt = self._sign(req, nonce, fees, 21_000)
        try:
            self._broadcast(req, attempt)
        except NonceConsumedError:
            return attempt.tx_hash
        start = self.clock.now()
        while self.clock.now() - start < wait_s:
            if self.chain_nonce("latest") > nonce:
                return attempt.tx_hash
            self.clock.sleep(self.poll_s)
        raise TxTimeoutError(f"cancellation of nonce {nonce} not mined after {wait_s:g} s", [attempt])
