"""Intents, their transaction attempts and fills: "one intent, at most one trade".

An intent is written (``pending``) before anything is signed. The caller records each signed
transaction with :meth:`IntentsMixin.record_attempt` *before* broadcasting it, so a restart
always knows every transaction that might be in flight. The state machine is enforced here
and, as a second line, by a trigger in the database.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Iterable
from typing import Any

from keeper.errors import InputError, JournalError
from keeper.journal._base import Conn, IllegalTransitionError, NotFoundError, check_text
from keeper.journal.codec import dumps, int_to_text, loads
from keeper.journal.lease import LeaseMixin
from keeper.journal.records import (
    LEGAL_TRANSITIONS,
    CostTotals,
    Fill,
    FillData,
    HedgeVolume,
    Intent,
    IntentStatus,
    Side,
    TxAttempt,
    TxParams,
)

__all__ = ["IntentsMixin"]

_HASH = re.compile(r"0x[0-9a-fA-F]{64}")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_HEX = re.compile(r"0x(?:[0-9a-fA-F]{2})*")
_UINT64_MAX = 2**64 - 1
_INT64_MAX = 2**63 - 1  # SQLite INTEGER; nonces, blocks, timestamps and gas fit in practice

_FILL_COLUMNS = (
    "f.id, f.intent_id, i.underlying, i.venue, i.side, i.size, f.recorded_at, f.block_number, f.block_timestamp, "
    "f.tx_hash, f.amount_in, f.amount_out, f.notional_quote, f.realized_price, f.oracle_price, f.slippage_bps, "
    "f.fee_quote, f.gas_used, f.effective_gas_price, f.gas_cost_native, f.gas_cost_quote"
)


def _hex(value: str, argument: str, pattern: re.Pattern[str], what: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise InputError(argument, f"expected {what}")
    return value


def _params_json(params: TxParams) -> str:
    if not isinstance(params, TxParams):
        raise InputError("params", f"expected TxParams, got {type(params).__name__}")
    _hex(params.to, "params.to", _ADDRESS, "a 0x-prefixed 20-byte address")
    _hex(params.data, "params.data", _HEX, "0x-prefixed hex calldata")
    int_to_text(params.value, "params.value")
    int_to_text(params.gas_limit, "params.gas_limit", low=1, high=_UINT64_MAX)
    return dumps(params)


def _params_from_json(text: str) -> TxParams:
    raw = loads(text)
    return TxParams(to=raw["to"], data=raw["data"], value=int(raw["value"]), gas_limit=int(raw["gas_limit"]))


def _finite(value: float, argument: str) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise InputError(argument, f"expected a finite number, got {value!r}")
    return float(value)


def _attempt(row: Any) -> TxAttempt:
    return TxAttempt(
        id=row["id"],
        intent_id=row["intent_id"],
        attempt=row["attempt"],
        nonce=row["nonce"],
        tx_hash=row["tx_hash"],
        raw_tx=row["raw_tx"],
        max_fee_per_gas=int(row["max_fee_per_gas"]),
        max_priority_fee_per_gas=int(row["max_priority_fee_per_gas"]),
        created_at=row["created_at"],
    )


def _fill(row: Any) -> Fill:
    data = FillData(
        block_number=row["block_number"],
        block_timestamp=row["block_timestamp"],
        tx_hash=row["tx_hash"],
        amount_in=int(row["amount_in"]),
        amount_out=int(row["amount_out"]),
        notional_quote=row["notional_quote"],
        realized_price=row["realized_price"],
        oracle_price=row["oracle_price"],
        slippage_bps=row["slippage_bps"],
        fee_quote=row["fee_quote"],
        gas_used=row["gas_used"],
        effective_gas_price=int(row["effective_gas_price"]),
        gas_cost_native=int(row["gas_cost_native"]),
        gas_cost_quote=row["gas_cost_quote"],
    )
    return Fill(
        id=row["id"],
        intent_id=row["intent_id"],
        underlying=row["underlying"],
        venue=row["venue"],
        side=Side(row["side"]),
        size=int(row["size"]),
        recorded_at=row["recorded_at"],
        data=data,
    )


class IntentsMixin(LeaseMixin):
    """Intent, attempt and fill storage; mixed into :class:`keeper.journal.Journal`."""

    # ----------------------------------------------------------------- writes

    def create_intent(
        self,
        cycle_id: int,
        *,
        underlying: str,
        venue: str,
        side: Side | str,
        size: int,
        params: TxParams,
        intent_id: str | None = None,
        lease: tuple[str, int] | None = None,
    ) -> Intent:
        """Write a new ``pending`` intent, before anything is signed; return it.

        ``lease`` is ``(scope, fencing token)`` of the lease the caller holds: the intent is refused
        with :class:`~keeper.errors.FencingError` unless that token is the current, live lease's, and it
        carries the token so :meth:`record_attempt` checks it again before the broadcast.

        ``intent_id`` may be a caller-chosen deterministic id (1-128 of ``A-Za-z0-9_.:-``); by
        default a uuid4 hex. An id that already exists raises :class:`JournalError`: the journal
        never lets one intent be created twice. ``size`` is in raw integer units (> 0).
        """
        iid = uuid.uuid4().hex if intent_id is None else check_text(intent_id, "intent_id", ident=True)
        check_text(underlying, "underlying")
        check_text(venue, "venue")
        try:
            side_value = Side(side)
        except ValueError:
            raise InputError("side", f"{side!r} is not one of {[s.value for s in Side]}") from None
        size_text = int_to_text(size, "size", low=1)
        params_text = _params_json(params)
        scope, token = (None, None) if lease is None else lease
        with self._write(f"create intent {iid}") as conn:
            if scope is not None and token is not None:
                self._fence(conn, scope, token, self._lease_now(conn))
            if conn.execute("SELECT 1 FROM intents WHERE id = ?", (iid,)).fetchone() is not None:
                raise JournalError(f"intent {iid} already exists")
            self._require_cycle(conn, cycle_id)
            now = self._now()
            conn.execute(
                "INSERT INTO intents (id, cycle_id, created_at, updated_at, underlying, venue, side, size, "
                "params_json, status, error, lease_scope, lease_token) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL, ?, ?)",
                (iid, cycle_id, now, now, underlying, venue, side_value.value, size_text, params_text, scope, token),
            )
            return self._intent(conn, iid)

    def record_attempt(
        self,
        intent_id: str,
        *,
        nonce: int,
        tx_hash: str,
        raw_tx: str,
        max_fee_per_gas: int,
        max_priority_fee_per_gas: int,
    ) -> TxAttempt:
        """Record a signed transaction for an intent; call it *before* broadcasting.

        The first attempt moves the intent ``pending -> sent``; later ones are replacements
        (``sent -> sent``): they must use the same nonce, must not lower either fee and must
        raise at least one. Anything else raises :class:`JournalError`. An intent created under a
        lease is fenced here: unless its token is still the current, live lease's, the attempt is
        refused with :class:`~keeper.errors.FencingError` (so the caller must not broadcast it).
        """
        int_to_text(nonce, "nonce", high=_INT64_MAX)
        tx_hash = _hex(tx_hash, "tx_hash", _HASH, "a 0x-prefixed 32-byte hash").lower()
        raw_tx = _hex(raw_tx, "raw_tx", _HEX, "0x-prefixed hex of the signed transaction").lower()
        if raw_tx == "0x":
            raise InputError("raw_tx", "must not be empty")
        max_fee_text = int_to_text(max_fee_per_gas, "max_fee_per_gas")
        tip_text = int_to_text(max_priority_fee_per_gas, "max_priority_fee_per_gas", high=max_fee_per_gas)
        with self._write(f"record an attempt for intent {intent_id}") as conn:
            intent = self._intent(conn, intent_id)
            if intent.lease_scope is not None and intent.lease_token is not None:
                self._fence(conn, intent.lease_scope, intent.lease_token, self._lease_now(conn))
            self._check_transition(intent, IntentStatus.SENT)
            if intent.attempts:
                last = intent.attempts[-1]
                if nonce != last.nonce:
                    raise IllegalTransitionError(
                        intent_id, "sent", "sent", f"a replacement must reuse nonce {last.nonce}, got {nonce}"
                    )
                old, new = (
                    (last.max_fee_per_gas, last.max_priority_fee_per_gas),
                    (max_fee_per_gas, max_priority_fee_per_gas),
                )
                if new[0] < old[0] or new[1] < old[1] or new == old:
                    raise IllegalTransitionError(
                        intent_id, "sent", "sent", "a replacement must raise the fees and lower neither"
                    )
            if conn.execute("SELECT 1 FROM tx_attempts WHERE tx_hash = ?", (tx_hash,)).fetchone() is not None:
                raise JournalError(f"intent {intent_id}: transaction {tx_hash} is already recorded")
            now = self._now()
            cursor = conn.execute(
                "INSERT INTO tx_attempts (intent_id, attempt, nonce, tx_hash, raw_tx, max_fee_per_gas, "
                "max_priority_fee_per_gas, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                (intent_id, len(intent.attempts) + 1, nonce, tx_hash, raw_tx, max_fee_text, tip_text, now),
            )
            self._set_status(conn, intent_id, IntentStatus.SENT, None, now)
            row = conn.execute("SELECT * FROM tx_attempts WHERE id = ?", (cursor.fetchone()[0],)).fetchone()
            return _attempt(row)

    def record_fill(self, intent_id: str, fill: FillData) -> Fill:
        """Record that one of the intent's attempts was mined and succeeded: ``sent -> mined``.

        ``fill.tx_hash`` must be one of the intent's recorded attempts.
        """
        if not isinstance(fill, FillData):
            raise InputError("fill", f"expected FillData, got {type(fill).__name__}")
        tx_hash = _hex(fill.tx_hash, "fill.tx_hash", _HASH, "a 0x-prefixed 32-byte hash").lower()
        int_to_text(fill.block_number, "fill.block_number", high=_INT64_MAX)
        int_to_text(fill.block_timestamp, "fill.block_timestamp", high=_INT64_MAX)
        int_to_text(fill.gas_used, "fill.gas_used", high=_INT64_MAX)
        values = (
            int_to_text(fill.amount_in, "fill.amount_in"),
            int_to_text(fill.amount_out, "fill.amount_out"),
            *(
                _finite(getattr(fill, name), f"fill.{name}")
                for name in ("notional_quote", "realized_price", "oracle_price", "slippage_bps", "fee_quote")
            ),
            fill.gas_used,
            int_to_text(fill.effective_gas_price, "fill.effective_gas_price"),
            int_to_text(fill.gas_cost_native, "fill.gas_cost_native"),
            _finite(fill.gas_cost_quote, "fill.gas_cost_quote"),
        )
        with self._write(f"record a fill for intent {intent_id}") as conn:
            intent = self._intent(conn, intent_id)
            self._check_transition(intent, IntentStatus.MINED)
            if tx_hash not in {a.tx_hash for a in intent.attempts}:
                raise JournalError(f"intent {intent_id}: fill transaction {tx_hash} is not one of its attempts")
            now = self._now()
            conn.execute(
                "INSERT INTO fills (intent_id, block_number, block_timestamp, tx_hash, amount_in, amount_out, "
                "notional_quote, realized_price, oracle_price, slippage_bps, fee_quote, gas_used, effective_gas_price, "
                "gas_cost_native, gas_cost_quote, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (intent_id, fill.block_number, fill.block_timestamp, tx_hash, *values, now),
            )
            self._set_status(conn, intent_id, IntentStatus.MINED, None, now)
            row = conn.execute(
                f"SELECT {_FILL_COLUMNS} FROM fills f JOIN intents i ON i.id = f.intent_id WHERE f.intent_id = ?",
                (intent_id,),
            ).fetchone()
            return _fill(row)

    def mark_reorged(self, intent_id: str, reason: str) -> Intent:
        """``mined -> sent``: a reorg removed the mined transaction from the chain.

        The fill is deleted from ``fills`` and kept in the append-only event log (kind ``reorg``),
        in the same transaction. The intent is open again: recovery resolves it from the chain
        (re-mined, nonce used elsewhere, or cancelled) before anything new is planned.
        """
        reason = "reorg: " + check_text(reason, "reason")
        with self._write(f"mark intent {intent_id} reorged") as conn:
            intent = self._intent(conn, intent_id)
            if intent.status is not IntentStatus.MINED:
                raise JournalError(f"intent {intent_id}: only a mined intent can be reorged, it is {intent.status}")
            row = conn.execute(
                f"SELECT {_FILL_COLUMNS} FROM fills f JOIN intents i ON i.id = f.intent_id WHERE f.intent_id = ?",
                (intent_id,),
            ).fetchone()
            fill = _fill(row)
            now = self._now()
            conn.execute("DELETE FROM fills WHERE intent_id = ?", (intent_id,))
            self._set_status(conn, intent_id, IntentStatus.SENT, reason, now)
            conn.execute(
                "INSERT INTO events (ts, kind, data_json) VALUES (?, 'reorg', ?)",
                (now, dumps({"intent_id": intent_id, "reason": reason, "fill": fill.data}, path="reorg")),
            )
            return self._intent(conn, intent_id)

    def mark_failed(self, intent_id: str, error: str) -> Intent:
        """``pending -> failed`` (never sent) or ``sent -> failed``; ``error`` says why.

        From ``sent``, only once the chain settled it: an attempt was mined and reverted, or the
        nonce is consumed and none of the attempts can be mined any more. Failing an intent whose
        transaction may still be mined would break "at most one trade".
        """
        return self._move(intent_id, IntentStatus.FAILED, check_text(error, "error"))

    def mark_replaced(self, intent_id: str, error: str) -> Intent:
        """``sent -> replaced``: the intent's nonce was consumed by a transaction that is not one of its attempts."""
        return self._move(intent_id, IntentStatus.REPLACED, check_text(error, "error"))

    # ------------------------------------------------------------------ reads

    def has_intent(self, intent_id: str) -> bool:
        """Whether an intent with this id exists."""
        with self._read("look up an intent") as conn:
            return conn.execute("SELECT 1 FROM intents WHERE id = ?", (intent_id,)).fetchone() is not None

    def intent(self, intent_id: str) -> Intent:
        """The intent with its attempts; :class:`NotFoundError` if there is none."""
        with self._read(f"read intent {intent_id}") as conn:
            return self._intent(conn, intent_id)

    def attempts(self, intent_id: str) -> list[TxAttempt]:
        """The intent's transaction attempts, oldest first."""
        return list(self.intent(intent_id).attempts)

    def own_transactions(self, tx_hashes: Iterable[str]) -> set[str]:
        """Which of ``tx_hashes`` this keeper signed (an attempt of any intent, in any state); lower case."""
        wanted = sorted({h.lower() for h in tx_hashes})
        found: set[str] = set()
        with self._read("look up transaction hashes") as conn:
            for i in range(0, len(wanted), 500):
                chunk = wanted[i:i + 500]
                rows = conn.execute(
                    f"SELECT lower(tx_hash) FROM tx_attempts WHERE lower(tx_hash) IN ({', '.join('?' * len(chunk))})",
                    chunk)
                found.update(r[0] for r in rows)
        return found

    def open_intents(self) -> list[Intent]:
        """Intents still ``pending`` or ``sent``, oldest first, with their attempts: resolve these before planning."""
        with self._read("list open intents") as conn:
            order = self._order("intents")
            sql = f"SELECT id FROM intents WHERE status IN ('pending', 'sent') ORDER BY created_at, {order}"
            ids = [r[0] for r in conn.execute(sql)]
            return [self._intent(conn, iid) for iid in ids]

    def intents_for_cycle(self, cycle_id: int) -> list[Intent]:
        """Every intent a cycle created, oldest first."""
        with self._read("list a cycle's intents") as conn:
            sql = f"SELECT id FROM intents WHERE cycle_id = ? ORDER BY created_at, {self._order('intents')}"
            ids = [r[0] for r in conn.execute(sql, (cycle_id,))]
            return [self._intent(conn, iid) for iid in ids]

    def fills_between(self, start: int, end: int, *, underlying: str | None = None) -> list[Fill]:
        """Fills with ``start <= block_timestamp < end``, oldest first, optionally of one underlying."""
        sql = (
            f"SELECT {_FILL_COLUMNS} FROM fills f JOIN intents i ON i.id = f.intent_id "
            "WHERE f.block_timestamp >= ? AND f.block_timestamp < ?"
        )
        args: tuple[Any, ...] = (start, end)
        if underlying is not None:
            sql, args = sql + " AND i.underlying = ?", (*args, underlying)
        with self._read("list fills") as conn:
            return [_fill(r) for r in conn.execute(sql + " ORDER BY f.block_timestamp, f.id", args)]

    def fills_for_cycle(self, cycle_id: int) -> list[Fill]:
        """The fills of the intents a cycle created, in the order they were recorded."""
        sql = f"SELECT {_FILL_COLUMNS} FROM fills f JOIN intents i ON i.id = f.intent_id WHERE i.cycle_id = ?"
        with self._read("list a cycle's fills") as conn:
            return [_fill(r) for r in conn.execute(sql + " ORDER BY f.id", (cycle_id,))]

    def hedge_volume_since(self, underlying: str, since: int) -> HedgeVolume:
        """Mined hedges of ``underlying`` with ``block_timestamp >= since``: the input to rolling-window caps."""
        fills = self.fills_between(since, 2**63 - 1, underlying=underlying)
        return HedgeVolume(
            underlying=underlying,
            since=since,
            fills=len(fills),
            notional_quote=sum(f.data.notional_quote for f in fills),
            bought=sum(f.size for f in fills if f.side is Side.BUY),
            sold=sum(f.size for f in fills if f.side is Side.SELL),
        )

    def last_hedge_times(self) -> dict[str, int]:
        """Block timestamp of the last mined hedge per underlying (underlyings never hedged are absent)."""
        with self._read("read last hedge times") as conn:
            rows = conn.execute(
                "SELECT i.underlying, MAX(f.block_timestamp) FROM fills f JOIN intents i ON i.id = f.intent_id "
                "GROUP BY i.underlying"
            ).fetchall()
        return {r[0]: r[1] for r in rows}

    def cost_totals(self, start: int, end: int) -> CostTotals:
        """Fees, gas and notional of fills with ``start <= block_timestamp < end``."""
        return CostTotals.of(self.fills_between(start, end), start, end)

    # --------------------------------------------------------------- helpers

    def _move(self, intent_id: str, to: IntentStatus, error: str | None) -> Intent:
        with self._write(f"mark intent {intent_id} {to}") as conn:
            intent = self._intent(conn, intent_id)
            self._check_transition(intent, to)
            self._set_status(conn, intent_id, to, error, self._now())
            return self._intent(conn, intent_id)

    @staticmethod
    def _check_transition(intent: Intent, to: IntentStatus) -> None:
        if to not in LEGAL_TRANSITIONS[intent.status]:
            raise IllegalTransitionError(intent.id, intent.status.value, to.value)

    @staticmethod
    def _set_status(conn: Conn, intent_id: str, to: IntentStatus, error: str | None, now: float) -> None:
        conn.execute(
            "UPDATE intents SET status = ?, error = COALESCE(?, error), updated_at = ? WHERE id = ?",
            (to.value, error, now, intent_id),
        )

    def _require_cycle(self, conn: Conn, cycle_id: int) -> None:
        if conn.execute("SELECT 1 FROM cycles WHERE id = ?", (cycle_id,)).fetchone() is None:
            raise NotFoundError(f"{self._where}: cycle {cycle_id} does not exist")

    def _intent(self, conn: Conn, intent_id: str) -> Intent:
        row = conn.execute("SELECT * FROM intents WHERE id = ?", (intent_id,)).fetchone()
        if row is None:
            raise NotFoundError(f"{self._where}: intent {intent_id} does not exist")
        attempts = tuple(
            _attempt(r)
            for r in conn.execute("SELECT * FROM tx_attempts WHERE intent_id = ? ORDER BY attempt", (intent_id,))
        )
        return Intent(
            id=row["id"],
            cycle_id=row["cycle_id"],
            created_at=row["created_at"],
            updated_at=row["updated_at"],
            underlying=row["underlying"],
            venue=row["venue"],
            side=Side(row["side"]),
            size=int(row["size"]),
            params=_params_from_json(row["params_json"]),
            status=IntentStatus(row["status"]),
            error=row["error"],
            attempts=attempts,
            lease_scope=row["lease_scope"],
            lease_token=None if row["lease_token"] is None else int(row["lease_token"]),
        )
