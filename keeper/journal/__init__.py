"""The keeper's journal: its durable record and its crash-safety mechanism.

"One intent, at most one trade": every hedge is written as an intent before its transaction is
signed, every signed transaction is recorded before it is broadcast, and at start any intent
still ``pending`` or ``sent`` is resolved from the chain before anything new is planned.

SQLite in WAL mode with ``synchronous=FULL``; one writer (the keeper), concurrent readers
(``Journal.open(path, readonly=True)``). See :mod:`keeper.journal.schema` for the tables.
"""

from __future__ import annotations

from keeper.journal._base import IllegalTransitionError, NotFoundError
from keeper.journal.codec import dumps, loads, to_jsonable
from keeper.journal.ledger import Finding, LedgerRecord, RecordSigner, Verdict
from keeper.journal.records import (
    LEGAL_TRANSITIONS,
    OPEN_STATUSES,
    TERMINAL_STATUSES,
    ControlState,
    CostTotals,
    Cycle,
    CycleStatus,
    Event,
    Fill,
    FillData,
    HedgeVolume,
    Intent,
    IntentStatus,
    LoopBeat,
    PlanRecord,
    RunMode,
    Side,
    SnapshotRecord,
    TxAttempt,
    TxParams,
)
from keeper.journal.schema import SCHEMA_VERSION
from keeper.journal.store import Journal

__all__ = [
    "LEGAL_TRANSITIONS",
    "OPEN_STATUSES",
    "SCHEMA_VERSION",
    "TERMINAL_STATUSES",
    "ControlState",
    "CostTotals",
    "Cycle",
    "CycleStatus",
    "Event",
    "Fill",
    "FillData",
    "Finding",
    "HedgeVolume",
    "IllegalTransitionError",
    "Intent",
    "IntentStatus",
    "Journal",
    "LedgerRecord",
    "LoopBeat",
    "NotFoundError",
    "PlanRecord",
    "RecordSigner",
    "RunMode",
    "Side",
    "SnapshotRecord",
    "TxAttempt",
    "TxParams",
    "Verdict",
    "dumps",
    "loads",
    "to_jsonable",
]
