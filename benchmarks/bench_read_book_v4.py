"""read_book.1000lp_1000v4lp_200series: read 1,000 Uniswap v3 LPs, 1,000 Uniswap v4 positions (with fees), 200
option series and the oracles at one block, batched (BookReader over Multicall3) versus a naive reader making one
eth_call per value. The batched reader must stay within 6 round trips (the v4 reads share its existing rounds).

Both read the same values at the same pinned block from an anvil loaded with the big-v4-book world variant.
``value`` is the batched reader's wall time; ``ratio`` is naive time / batched time (speed-up).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.naive_reader import batched_best, naive_timed
from keeper.chain.rpc import RpcClient
from keeper.devnet.bigbook import big_v4_book_variant
from keeper.devnet.sources import world_sources
from keeper.devnet.state import start_variant
from keeper.read.reader import BookReader, V4Sources

MAX_ROUND_TRIPS = 6


def main() -> None:
    world, extras = start_variant("bigv4book", big_v4_book_variant, progress=lambda m: print(m, file=sys.stderr))
    try:
        base = world_sources(world.manifest)
        assert base.v4 is not None
        src = dataclasses.replace(base, owners=(extras["owner"],),
                                  v4=V4Sources(base.v4.position_manager, base.v4.state_view,
                                               tuple(extras["v4_token_ids"]), native_asset="ETH"))
        rpc = RpcClient.http(world.url, timeout_s=120)
        block = rpc.block_number()
        reader = BookReader(rpc, src)
        snap = reader.read(block=block)
        assert snap.complete and len(snap.lps) == 1000 and len(snap.v4_lps) == 1000, snap.failures[:3]
        assert len(snap.options) == 200
        best, trips = batched_best(reader, rpc)
        assert trips <= MAX_ROUND_TRIPS, f"{trips} round trips (at most {MAX_ROUND_TRIPS})"
        naive, values, naive_trips = naive_timed(world.url, src, block)
        print(json.dumps({
            "name": "read_book.1000lp_1000v4lp_200series", "value": round(best, 4), "unit": "s",
            "anchor": "naive", "anchor_value": round(naive, 4), "ratio": round(naive / best, 2),
            "ratio_meaning": "speed-up (anchor_value / value)", "round_trips": trips,
            "max_round_trips": MAX_ROUND_TRIPS, "naive_round_trips": naive_trips, "naive_values": values,
            "lps": len(snap.lps), "v4_lps": len(snap.v4_lps), "series": len(snap.options),
        }), flush=True)
    finally:
        world.stop()


if __name__ == "__main__":
    main()
