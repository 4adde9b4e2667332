"""The keeper's side of the leader lease: lead, follow, take over, and stop sending in time.

:class:`LeaseGuard` is what :class:`~keeper.cycle.runner.Keeper` consults:

* :meth:`LeaseGuard.tick` at the start of every cycle takes or renews the lease (the journal decides,
  in one transaction: see :mod:`keeper.journal.lease`). The holder runs a live cycle; every other
  keeper runs a dry-run cycle (read, plan, journal; nothing signed). A keeper that has just taken
  the lease over runs recovery first, as a restart does, and only then hedges.
* :meth:`LeaseGuard.ensure` before signing: the journal renews the lease only if this keeper's token
  is still the current, live one (else :class:`~keeper.errors.FencingError`).
* :meth:`LeaseGuard.ensure_local` before broadcasting (then ``record_attempt`` checks the token in the
  journal, in the transaction that records the signed transaction).

Both checks also hold a local deadline on this process's monotonic clock: :data:`LOCAL_SHARE` of the
TTL after the start of the last confirmed renewal. A leader cut off from the database cannot renew,
so it stops sending at that deadline, before the lease can expire on the database's clock and a
follower can take over (clock *rates* may differ by up to 1 - LOCAL_SHARE = 20 %).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from typing import Protocol

from keeper.cycle.ports import Clock, SystemClock
from keeper.errors import FencingError
from keeper.journal import Lease

__all__ = ["LOCAL_SHARE", "LeaseGuard", "LeasePort", "LeaseTick", "default_holder", "lease_scope"]

LOCAL_SHARE = 0.8
"""A leader stops sending this share of the TTL after the start of its last confirmed renewal (local clock)."""


class LeasePort(Protocol):
    """The journal's lease methods (:class:`keeper.journal.Journal`)."""

    def acquire_lease(self, scope: str, holder: str, ttl_s: float) -> Lease: ...

    def renew_lease(self, scope: str, holder: str, token: int) -> Lease: ...

    def release_lease(self, scope: str, holder: str, token: int) -> bool: ...

    def lease(self, scope: str) -> Lease | None: ...


def lease_scope(chain_id: int, treasury: str) -> str:
    """The lease's scope for a (chain, treasury) pair: ``<chain id>:<treasury address, lower case>``."""
    return f"{chain_id}:{treasury.lower()}"


def default_holder() -> str:
    """``<host name>:<process id>``: unique per running keeper, on one host or several."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class LeaseTick:
    """What a cycle start found: who leads, and whether this keeper just took over."""

    lease: Lease
    leader: bool
    took_over: bool

    def describe(self) -> str:
        """One line for a person (the follower's dry-run reason, the logs)."""
        return self.lease.describe()


@dataclass
class LeaseGuard:
    """One keeper's hold on the lease of one (chain, treasury) pair."""

    journal: LeasePort
    scope: str
    holder: str
    ttl_s: float
    clock: Clock = field(default_factory=SystemClock)
    token: int | None = None
    """The fencing token while this keeper leads; None while it follows."""
    deadline: float = float("-inf")
    """Local monotonic time after which this keeper sends nothing without a new confirmed renewal."""

    @property
    def fence(self) -> tuple[str, int] | None:
        """``(scope, token)`` for the intents this keeper creates; None while it follows."""
        return None if self.token is None else (self.scope, self.token)

    def tick(self) -> LeaseTick:
        """At the start of a cycle: take or renew the lease. A failure to reach the journal makes this
        keeper a follower before the error propagates."""
        start = self.clock.now()
        try:
            lease = self.journal.acquire_lease(self.scope, self.holder, self.ttl_s)
        except BaseException:
            self.step_down()
            raise
        if lease.held_by(self.holder):
            took_over = self.token != lease.token
            self.token, self.deadline = lease.token, start + LOCAL_SHARE * self.ttl_s
            return LeaseTick(lease, leader=True, took_over=took_over)
        self.step_down()
        return LeaseTick(lease, leader=False, took_over=False)

    def ensure(self) -> None:
        """Before signing: the local deadline, then the journal's fence (renewing the lease)."""
        self.ensure_local()
        assert self.token is not None  # ensure_local raised otherwise
        start = self.clock.now()
        try:
            self.journal.renew_lease(self.scope, self.holder, self.token)
        except FencingError:
            self.step_down()
            raise
        self.deadline = start + LOCAL_SHARE * self.ttl_s

    def ensure_local(self) -> None:
        """Before broadcasting (the journal's own check follows in ``record_attempt``): this keeper
        leads and its last confirmed renewal is recent enough on its own clock."""
        if self.token is None:
            raise FencingError(f"lease {self.scope}: {self.holder} does not hold it; refusing to sign or send")
        late = self.clock.now() - self.deadline
        if late >= 0:
            token = self.token
            self.step_down()
            raise FencingError(
                f"lease {self.scope}: token {token} not renewed for {LOCAL_SHARE * self.ttl_s + late:.1f} s "
                f"(local clock; TTL {self.ttl_s:g} s): refusing to sign or send")

    def step_down(self) -> None:
        self.token, self.deadline = None, float("-inf")

    def release(self) -> bool:
        """A graceful stop: hand the lease back at once (a follower need not wait for the TTL)."""
        token, self.token = self.token, None
        if token is None:
            return False
        return self.journal.release_lease(self.scope, self.holder, token)
