"""read_book.1000lp_200series_10aave: the big book (1,000 LP positions with fees, 200 option series) plus
10 Aave v3 accounts (supplies and variable debt in WETH / WBTC / USDC) read at one block, batched
(BookReader over Multicall3: Aave rides in the existing rounds) versus a naive reader making one eth_call
per value.

``value`` is the batched reader's wall time; ``ratio`` is naive time / batched time (speed-up);
``round_trips`` the batched reader's JSON-RPC round trips (the issue allows 6 with v4 as well).
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from web3 import Web3

from benchmarks.naive_reader import batched_best, naive_timed
from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.devnet.bigbook import build_big_book
from keeper.devnet.sources import world_sources
from keeper.devnet.state import start_variant
from keeper.devnet.world import contract
from keeper.node.dev import DevChain, dev_account
from keeper.read.reader import BookReader

N_AAVE = 10


def big_book_aave_variant(w3: Web3, m: Manifest, progress: Any) -> dict[str, Any]:
    """The big book for dev account 8, and ``N_AAVE`` accounts (derived dev keys 20..) on Aave."""
    owner = build_big_book(w3, m, progress=progress)
    assert m.aave is not None
    dev = DevChain(w3)
    pool = contract(w3, "Pool", m.aave.pool)
    tokens = {s: contract(w3, "WETH9" if s == "WETH" else "DevToken", t.address) for s, t in m.tokens.items()}
    accounts = []
    for i in range(N_AAVE):
        a = dev_account(20 + i).address
        dev.rpc("anvil_impersonateAccount", a)
        dev.rpc("anvil_setBalance", a, hex(10_000 * 10**18))
        dev.send(tokens["WETH"].functions.deposit(), a, value=(10 + i) * 10**18)
        dev.send(tokens["USDC"].functions.mint(a, (50_000 + 1000 * i) * 10**6), m.deployer)  # type: ignore[arg-type]
        for sym, raw in (("WETH", (10 + i) * 10**18), ("USDC", (50_000 + 1000 * i) * 10**6)):
            dev.send(tokens[sym].functions.approve(pool.address, raw), a)
            dev.send(pool.functions.supply(tokens[sym].address, raw, a, 0), a)
        if i % 3 != 2:  # two in three borrow
            debt = ("WETH", (2 + i) * 10**18) if i % 2 else ("USDC", (10_000 + 500 * i) * 10**6)
            dev.send(pool.functions.borrow(tokens[debt[0]].address, debt[1], 2, 0, a), a)
        accounts.append(a)
    progress(f"  Aave accounts: {N_AAVE}")
    return {"owner": owner, "aave_owners": accounts}


def main() -> None:
    world, extras = start_variant("bigbook_aave", big_book_aave_variant, progress=lambda m: print(m, file=sys.stderr))
    try:
        src = dataclasses.replace(world_sources(world.manifest), owners=(extras["owner"], *extras["aave_owners"]))
        rpc = RpcClient.http(world.url, timeout_s=120)
        block = rpc.block_number()
        reader = BookReader(rpc, src)
        snap = reader.read(block=block)
        assert snap.complete and len(snap.lps) == 1000 and len(snap.options) == 200, snap.failures[:3]
        assert len(snap.aave_accounts) == N_AAVE, len(snap.aave_accounts)
        best, trips = batched_best(reader, rpc)
        naive, values, naive_trips = naive_timed(world.url, src, block)
        print(json.dumps({
            "name": "read_book.1000lp_200series_10aave", "value": round(best, 4), "unit": "s",
            "anchor": "naive", "anchor_value": round(naive, 4), "ratio": round(naive / best, 2),
            "ratio_meaning": "speed-up (anchor_value / value)", "round_trips": trips,
            "naive_round_trips": naive_trips, "naive_values": values,
            "lps": len(snap.lps), "series": len(snap.options), "aave_accounts": len(snap.aave_accounts),
        }), flush=True)
    finally:
        world.stop()


if __name__ == "__main__":
    main()
