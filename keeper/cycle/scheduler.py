"""The loop: cycles on an interval, a cron schedule, or both, plus early cycles on price moves.

* APScheduler runs the time-based triggers; every trigger calls :meth:`Loop.trigger`, and a lock
  makes sure cycles never overlap (a trigger that fires during a cycle is coalesced, not queued).
* A block watcher polls the chain head; on each new block it reads the assets' feed prices (one
  batched call) and runs an early cycle when any moved more than ``price_move_pct`` since the
  prices the last cycle used.
* SIGTERM or SIGINT stops the loop gracefully: the running cycle finishes, nothing new starts.
  A second signal abandons the running cycle (journaled as abandoned) and exits at once.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import FrameType

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from keeper.errors import HaltError, InputError, KeeperError

__all__ = ["Loop", "LoopStats", "price_moved"]


def price_moved(last: Mapping[str, float], now: Mapping[str, float], pct: float) -> list[str]:
    """Assets whose price moved more than ``pct`` percent from ``last`` (pure)."""
    if pct <= 0:
        return []
    moved = []
    for asset, p in now.items():
        ref = last.get(asset)
        if ref is not None and ref > 0 and abs(p / ref - 1.0) * 100.0 > pct:
            moved.append(asset)
    return moved


@dataclass
class LoopStats:
    cycles: int = 0
    early: int = 0
    coalesced: int = 0
    failures: int = 0
    last_error: str = ""
    halted: str = ""


@dataclass
class Loop:
    """Runs ``cycle`` on a schedule until stopped (or ``max_cycles`` are done).

    Parameters
    ----------
    cycle: one keeper cycle; returns the prices it used (asset -> quote per unit).
    head: returns the chain's latest block number (for the block watcher).
    prices: returns the assets' current feed prices (one batched read).
    """

    cycle: Callable[[], Mapping[str, float]]
    head: Callable[[], int]
    prices: Callable[[], Mapping[str, float]]
    interval_s: float | None = 300.0
    cron: str | None = None
    price_move_pct: float = 1.0
    block_poll_s: float = 2.0
    max_cycles: int | None = None
    log: Callable[[str], None] = field(default=lambda _m: None)
    stats: LoopStats = field(default_factory=LoopStats)

    def __post_init__(self) -> None:
        if self.interval_s is None and self.cron is None:
            raise InputError("schedule", "set interval_s, cron, or both")
        if self.interval_s is not None and self.interval_s <= 0:
            raise InputError("schedule.interval_s", f"must be > 0 s, got {self.interval_s}")
        if self.max_cycles is not None and self.max_cycles < 1:
            raise InputError("max_cycles", f"must be >= 1, got {self.max_cycles}")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._abandon = threading.Event()
        self._last_prices: dict[str, float] = {}
        self._signals = 0

    # ------------------------------------------------------------------ control
    def stop(self) -> None:
        """Graceful stop: the running cycle (if any) finishes; no new cycle starts."""
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    @property
    def abandoning(self) -> bool:
        return self._abandon.is_set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._signals += 1
        if self._signals == 1:
            self.log(f"signal {signal.Signals(signum).name}: finishing the current cycle, then stopping")
            self.stop()
        else:
            self.log("second signal: abandoning the current cycle")
            self._abandon.set()
            self.stop()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)

    # ------------------------------------------------------------------ cycles
    def trigger(self, why: str) -> bool:
        """Run one cycle now unless one is running (then coalesce). Returns whether it ran."""
        if self._stop.is_set():
            return False
        if not self._lock.acquire(blocking=False):
            self.stats.coalesced += 1
            return False
        try:
            self.log(f"cycle ({why})")
            try:
                self._last_prices = dict(self.cycle())
            except HaltError as exc:
                self.stats.halted = str(exc)
                self.log(f"halted: {exc}")
                self.stop()
            except KeeperError as exc:
                self.stats.failures += 1
                self.stats.last_error = str(exc)
                self.log(f"cycle failed: {exc}")
            self.stats.cycles += 1
            if self.max_cycles is not None and self.stats.cycles >= self.max_cycles:
                self.stop()
            return True
        finally:
            self._lock.release()

    def _watch_blocks(self) -> None:
        last_block = -1
        while not self._stop.wait(self.block_poll_s):
            try:
                block = self.head()
                if block == last_block:
                    continue
                last_block = block
                if not self._last_prices or self.price_move_pct <= 0:
                    continue
                moved = price_moved(self._last_prices, self.prices(), self.price_move_pct)
            except KeeperError as exc:
                self.log(f"block watcher: {exc}")
                continue
            if moved:
                self.stats.early += 1
                self.trigger(f"early: {', '.join(moved)} moved > {self.price_move_pct:g} % at block {block}")

    def run(self) -> LoopStats:
        """Block until stopped. The first cycle runs at once."""
        sched = BackgroundScheduler()
        if self.interval_s is not None:
            sched.add_job(self.trigger, IntervalTrigger(seconds=self.interval_s), args=["interval"],
                          max_instances=1, coalesce=True, misfire_grace_time=None)
        if self.cron is not None:
            sched.add_job(self.trigger, CronTrigger.from_crontab(self.cron), args=["cron"],
                          max_instances=1, coalesce=True, misfire_grace_time=None)
        watcher = threading.Thread(target=self._watch_blocks, name="keeper-blocks", daemon=True)
        sched.start()
        watcher.start()
        try:
            self.trigger("start")
            while not self._stop.wait(0.2):
                pass
        finally:
            sched.shutdown(wait=not self._abandon.is_set())
            watcher.join(timeout=self.block_poll_s + 1)
            deadline = time.monotonic() + 600
            while not self._abandon.is_set() and self._lock.locked() and time.monotonic() < deadline:
                time.sleep(0.05)  # a trigger from the watcher may still be finishing its cycle
        return self.stats
