"""cycle.latency_100pos: one keeper cycle (read at one block, greeks, decide, send the hedge through the
Safe module, wait for its receipt, verify from state, journal) for a treasury holding 100+ positions.

Each timed cycle starts from the same chain state (evm_snapshot / evm_revert) with a delta breach, so
every cycle really trades. ``value`` is the median wall time over the runs.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from keeper.devnet.bigbook import treasury_book_variant
from keeper.devnet.keeper_setup import band_policy, world_keeper
from keeper.devnet.state import start_variant
from keeper.journal import Journal


def main(runs: int = 7) -> None:
    world, _ = start_variant("treasury100", treasury_book_variant, progress=lambda m: print(m, file=sys.stderr))
    try:
        m = world.manifest
        probe = world_keeper(world.url, m, Journal.memory(), band_policy({}), live=False)
        snap = probe.reader.read()
        positions = len(snap.lps) + len(snap.options) + sum(1 for p in snap.perps if p.size)
        risk, _ = probe.plan(snap)
        deltas = {k: v.delta for k, v in risk.summaries.items()}
        times, trades = [], 0
        for _ in range(runs):
            snap_id = world.node.rpc("evm_snapshot")
            k = world_keeper(world.url, m, Journal.memory(),
                             band_policy({"ETH": (deltas["ETH"] - 20, 10.0), "BTC": (deltas["BTC"], 0.5)}))
            t0 = time.perf_counter()
            report = k.cycle()
            times.append(time.perf_counter() - t0)
            trades += sum(1 for h in report.hedges if h.fill is not None)
            world.node.rpc("evm_revert", snap_id)
        print(json.dumps({
            "name": "cycle.latency_100pos", "value": round(statistics.median(times), 4), "unit": "s",
            "best_s": round(min(times), 4), "runs": runs, "positions": positions, "hedges_filled": trades,
            "goal_s": 0.5,
        }), flush=True)
    finally:
        world.stop()


if __name__ == "__main__":
    main()
