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

from keeper.core.costs import VenueConfig
from keeper.core.gates import GateConfig
from keeper.core.policy import PolicyConfig, UnderlyingPolicy
from keeper.core.sizing import SizingConfig, TriggerConfig
from keeper.devnet.bigbook import treasury_book_variant
from keeper.devnet.keeper_setup import world_keeper
from keeper.devnet.state import start_variant
from keeper.journal import Journal


def policy(eth_target: float, btc_target: float) -> PolicyConfig:
    def one(target: float, band: float) -> UnderlyingPolicy:
        return UnderlyingPolicy(
            target_delta_units=target, trigger=TriggerConfig(kind="fixed", fixed_units=band),
            sizing=SizingConfig(hedge_to="target", max_trade_quote=400_000, window_cap_quote=10**9),
            venues=VenueConfig(max_slippage_bps=50), gates=GateConfig(max_oracle_deviation_bps=150),
        )
    return PolicyConfig(default=one(0.0, 1.0), per_underlying={"ETH": one(eth_target, 10.0),
                                                                "BTC": one(btc_target, 0.5)})


def main(runs: int = 7) -> None:
    world, _ = start_variant("treasury100", treasury_book_variant, progress=lambda m: print(m, file=sys.stderr))
    try:
        m = world.manifest
        probe = world_keeper(world.url, m, Journal.memory(), policy(0, 0), live=False)
        snap = probe.reader.read()
        positions = len(snap.lps) + len(snap.options) + sum(1 for p in snap.perps if p.size)
        risk, _ = probe.plan(snap)
        deltas = {k: v.delta for k, v in risk.summaries.items()}
        times, trades = [], 0
        for _ in range(runs):
            snap_id = world.node.rpc("evm_snapshot")
            k = world_keeper(world.url, m, Journal.memory(), policy(deltas["ETH"] - 20, deltas["BTC"]))
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
