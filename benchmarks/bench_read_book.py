"""read_book.1000lp_200series: read 1,000 LP positions with fees, 200 option series and the oracles at one
block, batched (BookReader over Multicall3) versus a naive reader making one eth_call per value.

Both read the same values at the same pinned block from an anvil loaded with the big-book world variant.
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
from keeper.devnet.bigbook import big_book_variant
from keeper.devnet.sources import world_sources
from keeper.devnet.state import start_variant
from keeper.read.reader import BookReader


def main() -> None:
    world, extras = start_variant("bigbook", big_book_variant, progress=lambda m: print(m, file=sys.stderr))
    try:
        src = dataclasses.replace(world_sources(world.manifest), owners=(extras["owner"],))
        rpc = RpcClient.http(world.url, timeout_s=120)
        block = rpc.block_number()
        reader = BookReader(rpc, src)
        snap = reader.read(block=block)
        assert snap.complete and len(snap.lps) == 1000 and len(snap.options) == 200, snap.failures[:3]
        best, trips = batched_best(reader, rpc)
        naive, values, naive_trips = naive_timed(world.url, src, block)
        # ratio = naive time / batched time: how many times faster the batched reader is.
        print(json.dumps({
            "name": "read_book.1000lp_200series", "value": round(best, 4), "unit": "s",
            "anchor": "naive", "anchor_value": round(naive, 4), "ratio": round(naive / best, 2),
            "ratio_meaning": "speed-up (anchor_value / value)", "round_trips": trips,
            "naive_round_trips": naive_trips, "naive_values": values,
            "lps": len(snap.lps), "series": len(snap.options),
        }), flush=True)
    finally:
        world.stop()


if __name__ == "__main__":
    main()
