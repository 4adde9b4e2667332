"""The ports of a keeper cycle: what :class:`~keeper.cycle.runner.Keeper` needs from the outside world.

Each is a small :class:`typing.Protocol` holding only the methods the cycle calls. The production
classes satisfy them structurally (no inheritance): :class:`~keeper.chain.rpc.RpcClient` (chain reads),
:class:`~keeper.read.reader.BookReader` (book reads), :class:`~keeper.chain.multicall.Multicall` (the
state reads that verify a fill), :class:`~keeper.journal.Journal` (the journal),
:class:`~keeper.execute.tx.TxManager` (sending) and :class:`SystemClock` (the clock); ``mypy --strict``
checks each at the composition root (:func:`keeper.cycle.compose.build_keeper`). The unit tests pass
in-memory fakes (``tests/fakes``), so a whole cycle, failure paths included, runs without a node.

The :class:`~keeper.execute.execution.Executor` is not a port: it only encodes calldata and compares
state read through a :class:`~keeper.chain.multicall.StateReader`, so tests use the real one.
Alerts are not a port of the cycle: it sends none. The hooks around it (:mod:`keeper.ops.watch`) turn
its :class:`~keeper.cycle.runner.CycleReport` into alerts, through an ``Alerter`` whose HTTP post is
injectable.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from keeper.chain.multicall import StateReader
from keeper.core.lvr import LpMark, PerpMark
from keeper.core.snapshot import Snapshot
from keeper.execute.tx import Attempt, Mined, TxRequest
from keeper.journal import (
    ControlState,
    Cycle,
    CycleStatus,
    Fill,
    FillData,
    Intent,
    LedgerRecord,
    PlanRecord,
    RecordSigner,
    RunMode,
    Side,
    SnapshotRecord,
    TxAttempt,
    TxParams,
)

__all__ = ["AlertSink", "BookReads", "ChainReads", "Clock", "JournalPort", "Sender", "StateReader", "SystemClock"]


class ChainReads(Protocol):
    """Raw JSON-RPC reads: the head (reorg check) and receipts (reorg check, recovery).

    Used methods: ``eth_getBlockByNumber`` (``latest``) through :meth:`call`, ``eth_getTransactionReceipt``
    through :meth:`batch` (each answer is the receipt dict, ``None`` when unknown, or an error object)."""

    def block_number(self) -> int: ...

    def call(self, method: str, params: Sequence[Any] = (), /) -> Any: ...

    def batch(self, requests: Sequence[tuple[str, Sequence[Any]]], /) -> list[Any]: ...


class BookReads(Protocol):
    """The book at one block (the head by default)."""

    def read(self, block: int | None = None, chain_id: int | None = None) -> Snapshot: ...


class Sender(Protocol):
    """The part of :class:`~keeper.execute.tx.TxManager` the cycle and its recovery use."""

    @property
    def poll_s(self) -> float:
        """How long recovery waits between two looks at the chain."""
        ...

    def preflight(self, req: TxRequest, /) -> int:
        """Gas limit for ``req``; raises TxRevertedError(preflight=True) when it would revert."""
        ...

    def send(self, req: TxRequest, before_broadcast: Callable[[Attempt], None], /) -> Mined:
        """Send and wait; ``before_broadcast`` is called with every signed attempt before it leaves."""
        ...

    def cancel(self, nonce: int, last_max_fee: int, last_tip: int, wait_s: float = 30.0, /) -> str:
        """Close ``nonce`` with a pricier 0-value self-transfer; its hash."""
        ...

    def chain_nonce(self, tag: str = "latest", /) -> int: ...

    def resync_nonce(self) -> None:
        """Forget the cached next nonce (another keeper with the same signer may have used some)."""
        ...

    def nonce_user(self, nonce: int, since_block: int, /) -> str | None:
        """The mined transaction that used the signer's ``nonce``; None while undetermined."""
        ...


class JournalPort(Protocol):
    """The journal methods the cycle calls. :class:`~keeper.journal.Journal` (SQLite or PostgreSQL) is the
    one implementation; tests use it too, in memory (``Journal.memory()``), on a temporary file or in a
    throw-away PostgreSQL cluster."""

    # control state and the circuit breaker
    def control_state(self) -> ControlState: ...

    def record_failure(self, error: str) -> int: ...

    def reset_failures(self) -> None: ...

    def halt(self, reason: str) -> ControlState: ...

    # cycles, snapshots, plans
    def start_cycle(self, mode: RunMode | str) -> Cycle: ...

    def set_cycle_block(self, cycle_id: int, block_number: int) -> Cycle: ...

    def finish_cycle(self, cycle_id: int, status: CycleStatus | str, *, error: str | None = None) -> Cycle: ...

    def cycle(self, cycle_id: int) -> Cycle: ...

    def record_snapshot(self, cycle_id: int, *, block_number: int, block_timestamp: int, complete: bool,
                        snapshot: object, failures: object = ()) -> SnapshotRecord: ...

    def record_plan(self, cycle_id: int, *, decisions: object, reasons: str | Sequence[str],
                    greeks: object) -> PlanRecord: ...

    def record_marks(self, cycle_id: int, *, lps: Sequence[LpMark] = (), perps: Sequence[PerpMark] = ()) -> int: ...

    # intents, attempts, fills
    def create_intent(self, cycle_id: int, *, underlying: str, venue: str, side: Side | str, size: int,
                      params: TxParams, intent_id: str | None = None,
                      lease: tuple[str, int] | None = None) -> Intent: ...

    def record_attempt(self, intent_id: str, *, nonce: int, tx_hash: str, raw_tx: str, max_fee_per_gas: int,
                       max_priority_fee_per_gas: int) -> TxAttempt: ...

    def record_fill(self, intent_id: str, fill: FillData) -> Fill: ...

    def mark_failed(self, intent_id: str, error: str) -> Intent: ...

    def mark_replaced(self, intent_id: str, error: str) -> Intent: ...

    def mark_reorged(self, intent_id: str, reason: str) -> Intent: ...

    def intent(self, intent_id: str) -> Intent: ...

    def open_intents(self) -> list[Intent]: ...

    def fills_between(self, start: int, end: int, *, underlying: str | None = None) -> list[Fill]: ...

    def last_hedge_times(self) -> dict[str, int]: ...

    # the audit ledger
    def seal(self, *, chain_id: int, treasury: str, signer: RecordSigner | None) -> LedgerRecord:
        """Append the hash-chained record of what finished or changed since the last one, signed by ``signer``."""
        ...


class Clock(Protocol):
    """Monotonic seconds and a way to wait (recovery's polling)."""

    def now(self) -> float: ...

    def sleep(self, seconds: float, /) -> None: ...


@dataclass(frozen=True)
class SystemClock:
    """The process's monotonic clock and :func:`time.sleep`."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float, /) -> None:
        time.sleep(seconds)



class AlertSink(Protocol):
    """Where alerts go (:class:`keeper.ops.alerts.Alerter`: rate-limited, retried, in the background; in unit
    tests a list). ``send`` never raises and never blocks on delivery; it says whether the alert was queued."""

    def send(self, kind: str, text: str, **fields: Any) -> bool: ...

    def flush(self, timeout_s: float = 5.0) -> bool: ...

    def close(self, timeout_s: float = 5.0) -> None: ...
