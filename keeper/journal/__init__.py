"""The keeper's journal: its durable record and its crash-safety mechanism.

"One intent, at most one trade": every hedge is written as an intent before its transaction is
signed, every signed transaction is recorded before it is broadcast, and at start any intent
still ``pending`` or ``sent`` is resolved from the chain before anything new is planned.

SQLite in WAL mode with ``synchronous=FULL`` (the embedded default), or PostgreSQL through psycopg 3
(``Journal.open("postgresql://...")``) for keepers on several hosts; one set of migrations for both
(:mod:`keeper.journal.schema`). Writers are serialized, readers see consistent snapshots
(``Journal.open(target, readonly=True)``). The leader lease and its fencing token: :mod:`keeper.journal.lease`.
"""

from __future__ import annotations

from keeper.journal._base import IllegalTransitionError, NotFoundError
from keeper.journal.codec import dumps, loads, to_jsonable
from keeper.journal.ledger import Finding, LedgerRecord, RecordSigner, Verdict
from keeper.journal.marks import CycleMarks
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
    Lease,
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
    "CycleMarks",
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
    "Lease",
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
