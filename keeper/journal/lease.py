"""The leader lease and its fencing token: at most one keeper of a (chain, treasury) pair may send.

A lease row per scope (``<chain id>:<treasury>``) names its holder, a fencing token and an expiry.
:meth:`LeaseMixin.acquire_lease` renews the holder's live lease, or, once it has expired, hands it
to the caller with the token + 1. Every check happens inside one journal write transaction, and
writers are serialized (SQLite ``BEGIN IMMEDIATE``; PostgreSQL's advisory lock), so two keepers
can never both see themselves as the holder.

Fencing: an intent created under a lease carries its token (:meth:`IntentsMixin.create_intent`);
the journal refuses to create it, or to record a signed transaction for it (the step before
broadcasting), when its token is not the current lease's or the lease has expired, raising
:class:`~keeper.errors.FencingError`. :meth:`LeaseMixin.renew_lease` is the same check for the
moment before signing.

Time: the *lease clock*. On PostgreSQL it is the database server's ``clock_timestamp()``, so keepers on
different hosts compare expiries on one clock; on SQLite (one host) it is the journal's clock (the
process clock, injectable). An injected clock on PostgreSQL replaces the server's (tests).
"""

from __future__ import annotations

from typing import Any

from keeper.errors import FencingError, InputError
from keeper.journal._base import Conn, check_text
from keeper.journal.control import ControlMixin
from keeper.journal.records import Lease

__all__ = ["LeaseMixin"]

_MAX_TTL_S = 86_400.0


def _lease(row: Any, now: float) -> Lease:
    return Lease(scope=row["scope"], holder=row["holder"], token=int(row["token"]), ttl_s=float(row["ttl_s"]),
                 acquired_at=float(row["acquired_at"]), renewed_at=float(row["renewed_at"]),
                 expires_at=float(row["expires_at"]), now=now)


def _ttl(ttl_s: float) -> float:
    if not isinstance(ttl_s, int | float) or isinstance(ttl_s, bool) or not 0 < ttl_s <= _MAX_TTL_S:
        raise InputError("ttl_s", f"expected seconds in (0, {_MAX_TTL_S:g}], got {ttl_s!r}")
    return float(ttl_s)


class LeaseMixin(ControlMixin):
    """Lease storage and the fencing checks; mixed into :class:`keeper.journal.Journal`."""

    def acquire_lease(self, scope: str, holder: str, ttl_s: float) -> Lease:
        """Take or renew the lease of ``scope`` for ``holder``; return the lease as it stands after.

        * no lease yet, or the current one has expired: ``holder`` gets it with token + 1 (1 for the first);
        * ``holder`` holds it (live): renewed until now + ``ttl_s``, same token;
        * another holder's lease is live: nothing changes (the caller is a follower; see ``Lease.held_by``).

        A change of holder appends a ``lease_acquired`` event (holder, token, previous holder and token).
        """
        check_text(scope, "scope")
        check_text(holder, "holder")
        ttl = _ttl(ttl_s)
        with self._write(f"acquire the lease {scope}") as conn:
            now = self._lease_now(conn)
            row = conn.execute("SELECT * FROM leases WHERE scope = ?", (scope,)).fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO leases (scope, holder, token, ttl_s, acquired_at, renewed_at, expires_at) "
                    "VALUES (?, ?, 1, ?, ?, ?, ?)", (scope, holder, ttl, now, now, now + ttl))
                self._lease_event(conn, scope, holder, 1, None, now)
            else:
                current = _lease(row, now)
                if current.held_by(holder):
                    conn.execute("UPDATE leases SET ttl_s = ?, renewed_at = ?, expires_at = ? WHERE scope = ?",
                                 (ttl, now, now + ttl, scope))
                elif not current.live:
                    token = current.token + 1
                    conn.execute(
                        "UPDATE leases SET holder = ?, token = ?, ttl_s = ?, acquired_at = ?, renewed_at = ?, "
                        "expires_at = ? WHERE scope = ?", (holder, token, ttl, now, now, now + ttl, scope))
                    self._lease_event(conn, scope, holder, token, current, now)
            return self._read_lease(conn, scope, now)

    def renew_lease(self, scope: str, holder: str, token: int) -> Lease:
        """The fence before signing: ``holder`` must hold the live lease with ``token``; it is renewed
        for its TTL. Otherwise :class:`~keeper.errors.FencingError` and nothing changes."""
        with self._write(f"renew the lease {scope}") as conn:
            now = self._lease_now(conn)
            current = self._fence(conn, scope, token, now)
            if current.holder != holder:
                raise FencingError(f"lease {scope}: held by {current.holder}, not {holder}")
            conn.execute("UPDATE leases SET renewed_at = ?, expires_at = ? WHERE scope = ?",
                         (now, now + current.ttl_s, scope))
            return self._read_lease(conn, scope, now)

    def release_lease(self, scope: str, holder: str, token: int) -> bool:
        """A graceful stop: end ``holder``'s lease now so a follower need not wait for the TTL.
        Returns whether it was released (False when the lease is no longer this holder's)."""
        with self._write(f"release the lease {scope}") as conn:
            now = self._lease_now(conn)
            row = conn.execute("SELECT * FROM leases WHERE scope = ?", (scope,)).fetchone()
            if row is None or row["holder"] != holder or int(row["token"]) != token:
                return False
            conn.execute("UPDATE leases SET expires_at = ? WHERE scope = ?", (now, scope))
            self._event(conn, "lease_released", {"scope": scope, "holder": holder, "token": token}, self._now())
            return True

    def lease(self, scope: str) -> Lease | None:
        """The lease of ``scope`` as it stands now (``None`` when no keeper ever took it)."""
        with self._read(f"read the lease {scope}") as conn:
            row = conn.execute("SELECT * FROM leases WHERE scope = ?", (scope,)).fetchone()
            return None if row is None else _lease(row, self._lease_now(conn))

    def leases(self) -> list[Lease]:
        """Every scope's lease, by scope (``keeper status`` shows them)."""
        with self._read("read the leases") as conn:
            rows = conn.execute("SELECT * FROM leases ORDER BY scope").fetchall()
            now = self._lease_now(conn) if rows else 0.0
            return [_lease(r, now) for r in rows]

    # --------------------------------------------------------------- helpers

    def _fence(self, conn: Conn, scope: str, token: int, now: float) -> Lease:
        """The current lease if ``token`` is its token and it is live; else :class:`FencingError`."""
        row = conn.execute("SELECT * FROM leases WHERE scope = ?", (scope,)).fetchone()
        if row is None:
            raise FencingError(f"lease {scope}: no keeper holds it; token {token} is not current")
        current = _lease(row, now)
        if current.token != token:
            raise FencingError(
                f"lease {scope}: token {token} is older than the current lease (token {current.token}, "
                f"held by {current.holder}); refusing to sign or send")
        if not current.live:
            raise FencingError(
                f"lease {scope}: token {token} expired {now - current.expires_at:.3f} s ago (lease clock); "
                "refusing to sign or send")
        return current

    def _read_lease(self, conn: Conn, scope: str, now: float) -> Lease:
        return _lease(conn.execute("SELECT * FROM leases WHERE scope = ?", (scope,)).fetchone(), now)

    def _lease_event(self, conn: Conn, scope: str, holder: str, token: int, previous: Lease | None,
                     now: float) -> None:
        data = {"scope": scope, "holder": holder, "token": token,
                "previous_holder": previous.holder if previous else None,
                "previous_token": previous.token if previous else None,
                "previous_expired_at": previous.expires_at if previous else None, "lease_clock": now}
        self._event(conn, "lease_acquired", data, self._now())
