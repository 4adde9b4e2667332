"""lease.failover_s: from the leader's death (SIGKILL) to the follower's first hedge, at the default lease TTL.

Two keepers share one journal (a throw-away PostgreSQL cluster when its server binaries exist, else a
SQLite file) and one anvil chain. The leader runs in a child process, cycling every ``INTERVAL_S`` with
nothing to hedge; the follower runs dry cycles every ``INTERVAL_S`` with a target that needs a hedge
(so its first live cycle hedges). The parent kills the leader mid-interval and times the follower's
first fill (journaled). Anchor: the TTL itself; ``ratio = failover / TTL``. The failover is bounded by
what was left of the leader's lease at the kill (at most the TTL) plus one follower cycle period
(``INTERVAL_S`` plus a cycle) plus the hedge itself; ``bound_s`` reports that bound for this run.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import emit, emit_error
from keeper.config import LeaseConfig
from keeper.devnet.keeper_setup import world_deltas
from keeper.devnet.state import start_world
from tests.pg import PgCluster, find_pg_bin
from tests.reliability.failover import FOLLOWER, LEADER, idle_leader_process, keeper_with_lease

INTERVAL_S = 5.0
"""Both keepers' cycle interval (the config allows up to TTL / 2)."""


def main() -> None:
    ttl_s = LeaseConfig().ttl_s
    world = start_world(progress=lambda m: print(m, file=sys.stderr))
    bin_dir = find_pg_bin()
    cluster = PgCluster.start(bin_dir) if bin_dir is not None else None
    try:
        target = (cluster.url(schema=cluster.new_schema()) if cluster is not None
                  else str(Path(tempfile.mkdtemp(prefix="keeper-bench-")) / "journal.sqlite"))
        m = world.manifest
        d = world_deltas(world.url, m)
        ctx = multiprocessing.get_context("forkserver")
        leader = ctx.Process(target=idle_leader_process, args=(world.url, m.model_dump_json(), target, d["ETH"],
                                                               d["BTC"], ttl_s, INTERVAL_S))
        leader.start()
        follower = keeper_with_lease(world.url, m.model_dump_json(), target, d["ETH"] - 25.0, d["BTC"], FOLLOWER,
                                     ttl_s)
        assert follower.lease is not None
        scope, j = follower.lease.scope, follower.journal
        while (lease := j.lease(scope)) is None or lease.holder != LEADER:
            time.sleep(0.05)
        filled: list[float] = []
        follower.hooks = {"after_fill": lambda: filled.append(time.monotonic())}
        killed_at, left_at_kill, longest, cycles = None, 0.0, 0.0, 0
        deadline = time.monotonic() + 3 * ttl_s + 120
        while not filled and time.monotonic() < deadline:
            t0 = time.monotonic()
            follower.cycle()
            longest = max(longest, time.monotonic() - t0)
            cycles += 1
            if cycles == 2 and killed_at is None:
                time.sleep(INTERVAL_S / 2)  # mid-interval: the leader's last renewal is some seconds old
                current = j.lease(scope)
                assert current is not None and current.holder == LEADER
                os.kill(leader.pid or 0, signal.SIGKILL)
                killed_at, left_at_kill = time.monotonic(), current.remaining_s
                continue
            time.sleep(INTERVAL_S)
        leader.join(10)
        if not filled or killed_at is None:
            emit_error("lease.failover_s", "the follower did not hedge after the leader was killed")
            return
        failover = filled[0] - killed_at
        emit("lease.failover_s", failover, "s", anchor="lease.ttl_s (default)", anchor_value=ttl_s,
             interval_s=INTERVAL_S, lease_left_at_kill_s=round(left_at_kill, 3),
             bound_s=round(left_at_kill + INTERVAL_S + 2 * longest, 3), follower_cycle_max_s=round(longest, 3),
             backend="postgresql" if cluster is not None else "sqlite")
        j.close()
    finally:
        if cluster is not None:
            cluster.stop()
        world.stop()


if __name__ == "__main__":
    main()
