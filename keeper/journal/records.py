"""The journal's record types and the intent state machine.

Every record the journal returns is a frozen dataclass. On-chain integers are Python ``int``
(exact; they are stored as decimal TEXT). Times written by the keeper (``created_at``,
``updated_at``, ...) are seconds since the epoch from the journal's injected clock; block
timestamps are the chain's own seconds.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "LEGAL_TRANSITIONS",
    "OPEN_STATUSES",
    "TERMINAL_STATUSES",
    "ControlState",
    "CostTotals",
    "Cycle",
    "CycleStatus",
    "Event",
    "Fill",
    "FillData",
    "HedgeVolume",
    "Intent",
    "IntentStatus",
    "Lease",
    "LoopBeat",
    "PlanRecord",
    "RunMode",
    "Side",
    "SnapshotRecord",
    "TxAttempt",
    "TxParams",
]


class CycleStatus(enum.StrEnum):
    """Where a keeper cycle ended. ``running`` is the only non-final status."""

    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"
    ABANDONED = "abandoned"
    """The process died while the cycle ran; set at the next start."""


class RunMode(enum.StrEnum):
    """Whether a cycle may send transactions."""

    LIVE = "live"
    DRY_RUN = "dry-run"


class Side(enum.StrEnum):
    """Direction of a hedge trade on the underlying (a perp short is a ``sell``)."""

    BUY = "buy"
    SELL = "sell"


class IntentStatus(enum.StrEnum):
    """Life of an intent: one intent, at most one trade.

    ``pending`` is written before anything is signed. ``sent`` means a signed transaction was
    recorded and may have been broadcast (attempts are recorded *before* broadcasting).
    ``mined``: one of its attempts was included and succeeded (a fill exists). ``failed``: never
    sent, or an attempt was included and reverted, or the keeper gave up. ``replaced``: the
    intent's nonce was consumed by a transaction that is not one of its attempts.
    """

    PENDING = "pending"
    SENT = "sent"
    MINED = "mined"
    FAILED = "failed"
    REPLACED = "replaced"


LEGAL_TRANSITIONS: dict[IntentStatus, frozenset[IntentStatus]] = {
    IntentStatus.PENDING: frozenset({IntentStatus.SENT, IntentStatus.FAILED}),
    IntentStatus.SENT: frozenset({IntentStatus.SENT, IntentStatus.MINED, IntentStatus.FAILED, IntentStatus.REPLACED}),
    IntentStatus.MINED: frozenset(),
    IntentStatus.FAILED: frozenset(),
    IntentStatus.REPLACED: frozenset(),
}
"""from-status -> the statuses it may move to. ``sent -> sent`` is a replacement attempt (same nonce);
outside this table, ``mined -> sent`` happens only through :meth:`Journal.mark_reorged` (schema v2)."""

OPEN_STATUSES = frozenset({IntentStatus.PENDING, IntentStatus.SENT})
TERMINAL_STATUSES = frozenset({IntentStatus.MINED, IntentStatus.FAILED, IntentStatus.REPLACED})
"""Terminal for the keeper's own flow; a chain reorg alone can reopen ``mined`` (back to ``sent``)."""


@dataclass(frozen=True)
class Lease:
    """Who leads the keepers of one (chain, treasury) pair, and until when.

    Times are seconds since the epoch on the *lease clock*: the PostgreSQL server's clock for a
    PostgreSQL journal, the journal's clock (the keeper process's) for SQLite. ``now`` is that
    clock when the lease was read, so ``expires_at - now`` is the time left whoever reads it.
    """

    scope: str
    """``<chain id>:<treasury address>``."""
    holder: str
    token: int
    """The fencing token: +1 at every change of holder (or re-acquisition after expiry); never decreases."""
    ttl_s: float
    acquired_at: float
    renewed_at: float
    expires_at: float
    now: float

    @property
    def live(self) -> bool:
        """Whether the lease has not expired (at ``now``)."""
        return self.expires_at > self.now

    def held_by(self, holder: str) -> bool:
        """Whether ``holder`` holds the live lease."""
        return self.live and self.holder == holder

    @property
    def remaining_s(self) -> float:
        """Seconds until expiry (negative once expired)."""
        return self.expires_at - self.now

    def describe(self) -> str:
        """One line for a person: who leads, the token, and the time left on the lease clock."""
        if self.live:
            return (f"{self.holder} leads {self.scope} with fencing token {self.token}; the lease expires in "
                    f"{self.remaining_s:,.1f} s (TTL {self.ttl_s:g} s)")
        return (f"nobody leads {self.scope}: the lease of {self.holder} (token {self.token}) expired "
                f"{-self.remaining_s:,.1f} s ago; the next keeper to start a cycle takes it "
                f"with token {self.token + 1}")

    def to_record(self) -> dict[str, Any]:
        """JSON-ready, with units in the keys (``keeper health``, ``keeper status --json``)."""
        return {"scope": self.scope, "holder": self.holder if self.live else None, "last_holder": self.holder,
                "token": self.token, "live": self.live, "expires_in_s": round(self.remaining_s, 3),
                "ttl_s": self.ttl_s, "expires_at_unix_s": self.expires_at}


@dataclass(frozen=True)
class Cycle:
    """One keeper cycle."""

    id: int
    started_at: float
    finished_at: float | None
    block_number: int | None
    status: CycleStatus
    mode: RunMode
    error: str | None


@dataclass(frozen=True)
class SnapshotRecord:
    """A journaled snapshot: the book at one block, as JSON-ready data."""

    id: int
    cycle_id: int
    block_number: int
    block_timestamp: int
    complete: bool
    snapshot: Any
    failures: Any
    recorded_at: float


@dataclass(frozen=True)
class PlanRecord:
    """A journaled hedge plan: the decisions, the reasons behind them, and the greeks they came from."""

    id: int
    cycle_id: int
    decisions: Any
    reasons: str
    greeks: Any
    recorded_at: float


@dataclass(frozen=True)
class TxParams:
    """Exactly what an intent would send (before fees and nonce are chosen)."""

    to: str
    data: str
    """Calldata, ``0x``-prefixed hex."""
    value: int
    """Wei."""
    gas_limit: int


@dataclass(frozen=True)
class TxAttempt:
    """One signed transaction for an intent; replacements share the nonce and raise the fees."""

    id: int
    intent_id: str
    attempt: int
    """1 for the first transaction, 2 for its first replacement, ..."""
    nonce: int
    tx_hash: str
    raw_tx: str
    """The signed transaction, ``0x`` hex, for re-checking or rebroadcasting after a restart."""
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    created_at: float


@dataclass(frozen=True)
class Intent:
    """A hedge the keeper decided to make, and what became of it."""

    id: str
    cycle_id: int
    created_at: float
    updated_at: float
    underlying: str
    venue: str
    side: Side
    size: int
    """Raw integer units of the traded token or contract."""
    params: TxParams
    status: IntentStatus
    error: str | None
    attempts: tuple[TxAttempt, ...] = field(default=())
    """Oldest first."""
    lease_scope: str | None = None
    lease_token: int | None = None
    """The fencing token of the lease the intent was created under (None: created without a lease)."""


@dataclass(frozen=True)
class FillData:
    """What a mined hedge did, read from its receipt and the chain (input to ``record_fill``)."""

    block_number: int
    block_timestamp: int
    tx_hash: str
    amount_in: int
    """Raw units paid."""
    amount_out: int
    """Raw units received."""
    notional_quote: float
    """Traded value in quote units (for rolling-window caps)."""
    realized_price: float
    oracle_price: float
    slippage_bps: float
    fee_quote: float
    """Venue fee in quote units."""
    gas_used: int
    effective_gas_price: int
    """Wei per gas."""
    gas_cost_native: int
    """Wei."""
    gas_cost_quote: float


@dataclass(frozen=True)
class Fill:
    """A journaled fill, with the intent's identity for convenience."""

    id: int
    intent_id: str
    underlying: str
    venue: str
    side: Side
    size: int
    recorded_at: float
    data: FillData

    @property
    def size_units(self) -> float:
        """Units of the underlying traded: notional / oracle price, as the executor records the notional
        (units x oracle price; 0 when the price is unknown). Dividing by the realized price instead would be
        off by the slippage."""
        return self.data.notional_quote / self.data.oracle_price if self.data.oracle_price > 0 else 0.0

    def line(self, quote_symbol: str = "USD") -> str:
        """One line a person reads: what was traded, at what price and cost, where on chain."""
        d = self.data
        verb = "bought" if self.side.value == "buy" else "sold"
        return (f"{verb} {self.size_units:,.6f} {self.underlying} on {self.venue} at {d.realized_price:,.2f} "
                f"{quote_symbol} (notional {d.notional_quote:,.2f} {quote_symbol}, {d.slippage_bps:+.1f} bps vs "
                f"oracle), fee {d.fee_quote:,.2f} {quote_symbol}, gas {d.gas_cost_quote:,.4f} {quote_symbol}, "
                f"block {d.block_number}, tx {d.tx_hash}")


@dataclass(frozen=True)
class HedgeVolume:
    """Mined hedges of one underlying over a window (by block timestamp)."""

    underlying: str
    since: int
    fills: int
    notional_quote: float
    bought: int
    """Sum of intent sizes of ``buy`` fills, raw units."""
    sold: int
    """Sum of intent sizes of ``sell`` fills, raw units."""


@dataclass(frozen=True)
class CostTotals:
    """Costs of mined hedges over a window (by block timestamp), ``[start, end)``."""

    start: int
    end: int
    fills: int
    fees_quote: float
    gas_cost_native: int
    """Wei."""
    gas_cost_quote: float
    notional_quote: float

    @classmethod
    def of(cls, fills: Sequence[Fill], start: int, end: int) -> CostTotals:
        """The totals of ``fills`` (already those of ``[start, end)``)."""
        return cls(
            start=start, end=end, fills=len(fills),
            fees_quote=sum(f.data.fee_quote for f in fills),
            gas_cost_native=sum(f.data.gas_cost_native for f in fills),
            gas_cost_quote=sum(f.data.gas_cost_quote for f in fills),
            notional_quote=sum(f.data.notional_quote for f in fills),
        )


@dataclass(frozen=True)
class ControlState:
    """Operator and circuit-breaker state, read at start. ``None`` fields mean "never set"."""

    paused: bool
    pause_reason: str | None
    paused_by: str | None
    paused_at: float | None
    halted: bool
    halt_reason: str | None
    halted_at: float | None
    activation_fingerprint: str | None
    consecutive_failures: int


@dataclass(frozen=True)
class LoopBeat:
    """The last sign of life of ``keeper run``: written when the loop starts, after every cycle, and when it
    stops. Times are the loop host's wall clock (unix s): they say whether a process is alive."""

    pid: int
    host: str
    at: float
    """The last beat."""
    expected_gap_s: float
    """The longest the loop should go between beats (its interval, or its cron's longest gap)."""
    mode: str
    """``live`` or ``dry-run``."""
    started_at: float
    stopped_at: float | None
    """Set on a graceful stop; ``None`` while it runs (or after a crash)."""

    def running(self, now: float) -> bool:
        """Alive: not stopped, and the last beat within twice the expected gap plus a minute."""
        return self.stopped_at is None and now - self.at <= 2 * self.expected_gap_s + 60

    def sentence(self, now: float) -> str:
        """One line a person reads."""
        age = _age(now - self.at)
        if self.stopped_at is not None:
            return f"not running: stopped {_age(now - self.stopped_at)} ago (pid {self.pid} on {self.host})"
        if self.running(now):
            return (f"running ({self.mode}): pid {self.pid} on {self.host}, last beat {age} ago, a cycle at least "
                    f"every {_age(self.expected_gap_s)}")
        return (f"not running: no beat for {age} (expected within {_age(self.expected_gap_s)}); pid {self.pid} on "
                f"{self.host} stopped without saying so (killed or crashed)")


def _age(seconds: float) -> str:
    s = max(0.0, seconds)
    if s < 120:
        return f"{s:.0f} s"
    if s < 7200:
        return f"{s / 60:.0f} min"
    if s < 172_800:
        return f"{s / 3600:.1f} h"
    return f"{s / 86_400:.1f} days"


@dataclass(frozen=True)
class Event:
    """One row of the append-only event log."""

    id: int
    ts: float
    kind: str
    data: Any
