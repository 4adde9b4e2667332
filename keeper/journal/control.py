"""Operator and circuit-breaker state that must survive restarts, and the append-only event log.

Control state is a small key/value table read at start; every change also appends an event
(``pause``, ``resume``, ``halt``, ``clear_halt``, ``activation``, ``failure_count``) in the same
transaction, so the history of who paused what, and why, is never lost.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from keeper.errors import InputError, JournalError
from keeper.journal._base import Conn, JournalBase, check_text
from keeper.journal.codec import dumps, loads
from keeper.journal.records import ControlState, Event, LoopBeat

__all__ = ["ControlMixin"]

_PAUSED = "paused"
_HALTED = "halted"
_FINGERPRINT = "activation_fingerprint"
_FAILURES = "consecutive_failures"
_BEAT = "loop_heartbeat"


class ControlMixin(JournalBase):
    """Pause, halt, activation fingerprint, failure counter, and events; mixed into :class:`keeper.journal.Journal`."""

    def control_state(self) -> ControlState:
        """The current control state (defaults: not paused, not halted, no fingerprint, 0 failures)."""
        with self._read("read control state") as conn:
            values = {k: loads(v) for k, v in conn.execute("SELECT key, value_json FROM control")}
        paused: dict[str, Any] = values.get(_PAUSED, {})
        halted: dict[str, Any] = values.get(_HALTED, {})
        return ControlState(
            paused=bool(paused.get("paused", False)),
            pause_reason=paused.get("reason"),
            paused_by=paused.get("by"),
            paused_at=paused.get("at"),
            halted=bool(halted.get("halted", False)),
            halt_reason=halted.get("reason"),
            halted_at=halted.get("at"),
            activation_fingerprint=values.get(_FINGERPRINT),
            consecutive_failures=int(values.get(_FAILURES, 0)),
        )

    def pause(self, reason: str, *, by: str) -> ControlState:
        """Pause the keeper (an operator action): no new hedges until :meth:`resume`."""
        check_text(reason, "reason")
        check_text(by, "by")
        with self._write("pause") as conn:
            now = self._now()
            self._set(conn, _PAUSED, {"paused": True, "reason": reason, "by": by, "at": now}, now)
            self._event(conn, "pause", {"reason": reason, "by": by}, now)
        return self.control_state()

    def resume(self, *, by: str, reason: str = "") -> ControlState:
        """Lift a pause. Resuming a keeper that is not paused is recorded too, and changes nothing else."""
        check_text(by, "by")
        check_text(reason, "reason", empty=True)
        with self._write("resume") as conn:
            now = self._now()
            self._set(conn, _PAUSED, {"paused": False, "reason": reason or None, "by": by, "at": now}, now)
            self._event(conn, "resume", {"reason": reason, "by": by}, now)
        return self.control_state()

    def halt(self, reason: str) -> ControlState:
        """Record that a circuit breaker tripped; the keeper refuses to trade until :meth:`clear_halt`."""
        check_text(reason, "reason")
        with self._write("halt") as conn:
            now = self._now()
            self._set(conn, _HALTED, {"halted": True, "reason": reason, "at": now}, now)
            self._event(conn, "halt", {"reason": reason}, now)
        return self.control_state()

    def clear_halt(self, *, by: str, reason: str) -> ControlState:
        """An operator clears a halt after investigating it; also resets the failure counter."""
        check_text(by, "by")
        check_text(reason, "reason")
        with self._write("clear halt") as conn:
            now = self._now()
            self._set(conn, _HALTED, {"halted": False, "reason": None, "at": now}, now)
            self._set(conn, _FAILURES, 0, now)
            self._event(conn, "clear_halt", {"reason": reason, "by": by}, now)
        return self.control_state()

    def set_activation_fingerprint(self, fingerprint: str | None, *, by: str) -> ControlState:
        """Store (or clear, with ``None``) the fingerprint of the configuration an operator activated for live use."""
        if fingerprint is not None:
            check_text(fingerprint, "fingerprint")
        check_text(by, "by")
        with self._write("set activation fingerprint") as conn:
            now = self._now()
            self._set(conn, _FINGERPRINT, fingerprint, now)
            self._event(conn, "activation", {"fingerprint": fingerprint, "by": by}, now)
        return self.control_state()

    def beat(self, *, pid: int, host: str, expected_gap_s: float, mode: str, starting: bool = False) -> None:
        """``keeper run`` is alive (written at start and after every cycle; no event, it would flood the log)."""
        if not expected_gap_s > 0:
            raise InputError("expected_gap_s", f"must be > 0, got {expected_gap_s}")
        with self._write("write the loop heartbeat") as conn:
            now = self._now()
            row = conn.execute("SELECT value_json FROM control WHERE key = ?", (_BEAT,)).fetchone()
            old = loads(row[0]) if row is not None else {}
            started = now if starting or old.get("pid") != pid else float(old.get("started_at", now))
            self._set(conn, _BEAT, {"pid": pid, "host": host, "at": now, "expected_gap_s": expected_gap_s,
                                    "mode": mode, "started_at": started, "stopped_at": None}, now)

    def beat_stopped(self, *, pid: int) -> None:
        """``keeper run`` stopped gracefully (its heartbeat says so, and an event records it)."""
        with self._write("mark the loop stopped") as conn:
            now = self._now()
            row = conn.execute("SELECT value_json FROM control WHERE key = ?", (_BEAT,)).fetchone()
            if row is None or loads(row[0]).get("pid") != pid:
                return  # another loop has taken over since: its beat stands
            self._set(conn, _BEAT, {**loads(row[0]), "stopped_at": now}, now)
            self._event(conn, "loop_stopped", {"pid": pid}, now)

    def last_beat(self) -> LoopBeat | None:
        """The loop's last heartbeat, or ``None`` when no loop ever ran on this journal."""
        with self._read("read the loop heartbeat") as conn:
            row = conn.execute("SELECT value_json FROM control WHERE key = ?", (_BEAT,)).fetchone()
        if row is None:
            return None
        v = loads(row[0])
        return LoopBeat(pid=int(v["pid"]), host=str(v["host"]), at=float(v["at"]),
                        expected_gap_s=float(v["expected_gap_s"]), mode=str(v["mode"]),
                        started_at=float(v["started_at"]),
                        stopped_at=None if v.get("stopped_at") is None else float(v["stopped_at"]))

    def record_failure(self, error: str) -> int:
        """Count one more consecutive failed cycle; return the new count (the caller decides when to halt)."""
        check_text(error, "error")
        with self._write("record a failure") as conn:
            now = self._now()
            row = conn.execute("SELECT value_json FROM control WHERE key = ?", (_FAILURES,)).fetchone()
            count = (int(loads(row[0])) if row is not None else 0) + 1
            self._set(conn, _FAILURES, count, now)
            self._event(conn, "failure_count", {"count": count, "error": error}, now)
        return count

    def reset_failures(self) -> None:
        """A successful cycle: the consecutive failure counter goes back to 0 (an event only if it was not 0)."""
        with self._write("reset failures") as conn:
            row = conn.execute("SELECT value_json FROM control WHERE key = ?", (_FAILURES,)).fetchone()
            if row is not None and int(loads(row[0])) != 0:
                now = self._now()
                self._set(conn, _FAILURES, 0, now)
                self._event(conn, "failure_count", {"count": 0}, now)

    def append_event(self, kind: str, data: object = None) -> Event:
        """Append an event (alerts, anything worth a line in the history); ``data`` goes through ``to_jsonable``."""
        check_text(kind, "kind", ident=True)
        text = dumps(data, path="data")
        with self._write(f"append a {kind} event") as conn:
            now = self._now()
            event_id = self._event_text(conn, kind, text, now)
        return Event(id=event_id, ts=now, kind=kind, data=loads(text))

    def events(
        self, *, since: float | None = None, kinds: Iterable[str] | None = None, limit: int | None = None
    ) -> list[Event]:
        """Events oldest first, optionally only from ``since`` (keeper clock), of some ``kinds``, the last ``limit``."""
        where: list[str] = []
        args: list[object] = []
        if since is not None:
            where.append("ts >= ?")
            args.append(since)
        if kinds is not None:
            kind_list = list(kinds)
            where.append(f"kind IN ({', '.join('?' * len(kind_list))})")
            args.extend(kind_list)
        sql = "SELECT id, ts, kind, data_json FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        if limit is not None:
            if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
                raise InputError("limit", f"expected a non-negative integer, got {limit!r}")
            sql += f" LIMIT {limit}"
        with self._read("read events") as conn:
            rows = conn.execute(sql, args).fetchall()
        return [Event(id=r[0], ts=r[1], kind=r[2], data=loads(r[3])) for r in reversed(rows)]

    # --------------------------------------------------------------- helpers

    @staticmethod
    def _set(conn: Conn, key: str, value: object, now: float) -> None:
        conn.execute(
            "INSERT INTO control (key, value_json, updated_at) VALUES (?, ?, ?) "
            "ON CONFLICT (key) DO UPDATE SET value_json = excluded.value_json, updated_at = excluded.updated_at",
            (key, dumps(value), now),
        )

    def _event(self, conn: Conn, kind: str, data: object, now: float) -> int:
        return self._event_text(conn, kind, dumps(data), now)

    def _event_text(self, conn: Conn, kind: str, text: str, now: float) -> int:
        row = conn.execute(
            "INSERT INTO events (ts, kind, data_json) VALUES (?, ?, ?) RETURNING id", (now, kind, text)
        ).fetchone()
        if row is None:
            raise JournalError(f"{self._where}: event {kind} was not written")
        return int(row[0])
