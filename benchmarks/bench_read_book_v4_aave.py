"""read_book.v3_v4_aave: the book a DAO really holds, read at one block.

1,000 Uniswap v3 LP NFTs, 1,000 Uniswap v4 positions, 200 option series and 10 Aave v3 accounts (plus
the feeds, oracle pools and balances), read by the batched reader (BookReader over Multicall3, at most 6
round trips) versus the naive reader making one ``eth_call`` per value (:mod:`benchmarks.naive_reader`),
both at the same pinned block of an anvil loaded with the ``bigbook_v4_aave`` world variant.

``value`` is the batched reader's best wall time of 5 (unpinned: its block-header round trip included);
``anchor_value`` the naive reader's one run; ``ratio = value / anchor_value`` (below 1: the batched
reader is faster; ``speed_up`` is its inverse).
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import emit, emit_error, machine
from benchmarks.naive_reader import naive_read
from keeper.chain.rpc import RpcClient
from keeper.devnet.bigbook_v4_aave import big_book_v4_aave_variant
from keeper.devnet.sources import world_sources
from keeper.devnet.state import World, start_variant
from keeper.read.reader import BookReader, BookSources, V4Sources

NAME = "read_book.v3_v4_aave"
MAX_ROUND_TRIPS = 6


def big_sources(world: World, extras: dict[str, object]) -> BookSources:
    """The big book's sources: its 10 owners, their 1,000 v4 token ids, the world's Aave pool."""
    m = world.manifest
    assert m.v4 is not None and m.aave is not None
    owners = tuple(str(o) for o in extras["owners"])  # type: ignore[attr-defined]
    ids = tuple(int(i) for i in extras["v4_token_ids"])  # type: ignore[attr-defined]
    return dataclasses.replace(
        world_sources(m), owners=owners,
        v4=V4Sources(m.v4.position_manager, m.v4.state_view, ids, native_asset="ETH"),
    )


def main() -> None:
    world, extras = start_variant("bigbook_v4_aave", big_book_v4_aave_variant,
                                  progress=lambda msg: print(msg, file=sys.stderr))
    try:
        src = big_sources(world, extras)
        rpc = RpcClient.http(world.url, timeout_s=300)
        block = rpc.block_number()
        reader = BookReader(rpc, src)
        snap = reader.read(block=block)
        counts = {"v3_lps": len(snap.lps), "v4_lps": len(snap.v4_lps), "series": len(snap.options),
                  "aave_accounts": len(snap.aave_accounts)}
        if not snap.complete or counts != {"v3_lps": 1000, "v4_lps": 1000, "series": 200, "aave_accounts": 10}:
            emit_error(NAME, f"the big book did not read whole: {counts}, failures {snap.failures[:3]}")
            return
        best, trips = float("inf"), 0
        for _ in range(5):
            before = rpc.round_trips
            t0 = time.perf_counter()
            reader.read()  # unpinned: includes the block-header round trip
            best = min(best, time.perf_counter() - t0)
            trips = max(trips, rpc.round_trips - before)
        if trips > MAX_ROUND_TRIPS:
            emit_error(NAME, f"{trips} round trips, more than {MAX_ROUND_TRIPS}")
            return
        naive_rpc = RpcClient.http(world.url, timeout_s=300)
        t0 = time.perf_counter()
        naive = naive_read(naive_rpc, src, block)
        naive_s = time.perf_counter() - t0
        emit(NAME, best, "s", anchor="naive (one eth_call per value)", anchor_value=naive_s,
             speed_up=round(naive_s / best, 1), round_trips=trips, naive_round_trips=naive_rpc.round_trips,
             naive_values=naive.calls, **counts, owners=len(src.owners), **machine())
    finally:
        world.stop()


if __name__ == "__main__":
    main()
