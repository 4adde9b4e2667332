"""`keeper status` says whether a loop runs from the heartbeat the loop writes, not from the absence of a
pause: alive, stopped on purpose, or silent (killed or crashed)."""

from __future__ import annotations

import pytest

from keeper.errors import InputError
from keeper.journal import Journal


def test_a_beating_loop_runs_a_stopped_one_says_so_and_a_silent_one_is_called_dead() -> None:
    j = Journal.memory()
    assert j.last_beat() is None
    j.beat(pid=4242, host="keeper-1", expected_gap_s=60.0, mode="live", starting=True)
    b = j.last_beat()
    assert b is not None and (b.pid, b.host, b.mode, b.stopped_at) == (4242, "keeper-1", "live", None)
    assert b.running(b.at + 10)
    assert b.sentence(b.at + 10) == ("running (live): pid 4242 on keeper-1, last beat 10 s ago, a cycle at least "
                                     "every 60 s")
    # 2 x 60 s + 60 s of grace: alive at 180 s, dead after
    assert b.running(b.at + 180) and not b.running(b.at + 181)
    assert b.sentence(b.at + 3600).startswith("not running: no beat for 60 min (expected within 60 s); pid 4242")
    j.beat_stopped(pid=4242)
    stopped = j.last_beat()
    assert stopped is not None and stopped.stopped_at is not None and not stopped.running(stopped.at)
    assert stopped.sentence(stopped.stopped_at + 7200).startswith("not running: stopped 2.0 h ago (pid 4242")
    assert [e.kind for e in j.events()][-1] == "loop_stopped"


def test_a_later_loop_keeps_its_beat_when_an_older_one_stops() -> None:
    j = Journal.memory()
    j.beat(pid=1, host="a", expected_gap_s=60.0, mode="live", starting=True)
    j.beat(pid=2, host="b", expected_gap_s=60.0, mode="dry-run", starting=True)
    j.beat_stopped(pid=1)
    b = j.last_beat()
    assert b is not None and (b.pid, b.stopped_at, b.mode) == (2, None, "dry-run")


def test_the_start_time_is_kept_across_beats_of_one_loop() -> None:
    j = Journal.memory()
    j.beat(pid=7, host="h", expected_gap_s=30.0, mode="live", starting=True)
    first = j.last_beat()
    j.beat(pid=7, host="h", expected_gap_s=30.0, mode="live")
    again = j.last_beat()
    assert first is not None and again is not None
    assert again.started_at == first.started_at and again.at >= first.at


def test_a_gap_must_be_positive() -> None:
    with pytest.raises(InputError, match="expected_gap_s"):
        Journal.memory().beat(pid=1, host="h", expected_gap_s=0.0, mode="live")
