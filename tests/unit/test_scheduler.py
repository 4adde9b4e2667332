"""The loop: no overlapping cycles, early cycles on price moves, bounded runs, graceful stop."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest

from keeper.cycle.scheduler import Loop, price_moved
from keeper.errors import HaltError, InputError, KeeperError


def test_price_moved_is_relative_and_strict() -> None:
    assert price_moved({"ETH": 100.0}, {"ETH": 101.5}, 1.0) == ["ETH"]
    assert price_moved({"ETH": 100.0}, {"ETH": 100.9}, 1.0) == []
    assert price_moved({"ETH": 100.0}, {"ETH": 98.9, "BTC": 5.0}, 1.0) == ["ETH"]
    assert price_moved({"ETH": 100.0}, {"ETH": 200.0}, 0.0) == [], "0 disables early cycles"


def test_bad_schedules_are_named() -> None:
    with pytest.raises(InputError, match="^schedule"):
        Loop(cycle=dict, head=lambda: 0, prices=dict, interval_s=None, cron=None)
    with pytest.raises(InputError, match=r"^schedule\.interval_s"):
        Loop(cycle=dict, head=lambda: 0, prices=dict, interval_s=0)
    with pytest.raises(InputError, match="^max_cycles"):
        Loop(cycle=dict, head=lambda: 0, prices=dict, max_cycles=0)


def test_cycles_never_overlap() -> None:
    running = threading.Event()
    release = threading.Event()
    overlaps: list[int] = []

    def cycle() -> Mapping[str, float]:
        if running.is_set():
            overlaps.append(1)
        running.set()
        release.wait(2)
        running.clear()
        return {"ETH": 1.0}

    loop = Loop(cycle=cycle, head=lambda: 0, prices=dict, interval_s=100)
    t = threading.Thread(target=loop.trigger, args=["first"])
    t.start()
    assert running.wait(10), "the first cycle started"
    assert loop.trigger("second") is False  # coalesced, not queued
    release.set()
    t.join()
    assert overlaps == [] and loop.stats.coalesced == 1 and loop.stats.cycles == 1


def test_bounded_run_with_early_cycle_on_price_move() -> None:
    block = [100]
    price = [{"ETH": 3000.0}]
    calls: list[str] = []

    def cycle() -> Mapping[str, float]:
        calls.append("c")
        p = dict(price[0])
        if len(calls) == 1:  # after the first cycle the market jumps 5 %
            price[0] = {"ETH": 3150.0}
            block[0] += 1
        return p

    loop = Loop(cycle=cycle, head=lambda: block[0], prices=lambda: price[0], interval_s=60,
                price_move_pct=1.0, block_poll_s=0.01, max_cycles=2)
    stats = loop.run()
    assert stats.cycles == 2 and stats.early == 1


def test_failures_are_counted_and_halt_stops_the_loop() -> None:
    n = [0]

    def cycle() -> Mapping[str, float]:
        n[0] += 1
        if n[0] == 1:
            raise KeeperError("rpc down")
        raise HaltError("5 consecutive failed cycles")

    loop = Loop(cycle=cycle, head=lambda: 0, prices=dict, interval_s=0.05, block_poll_s=0.01)
    stats = loop.run()
    assert stats.failures == 1 and stats.halted.startswith("5 consecutive")
