"""The book a DAO really holds, at scale: 1,000 v3 and 1,000 v4 LPs, 200 option series and 10 Aave accounts
are read in at most 6 round trips, and every v4 and Aave figure equals the chain's per-item answers.

Per item means one ``eth_call`` per value, straight to the contract (sent as JSON-RPC batches to keep the
test fast, never through Multicall3): each v4 position's owner, key and range, its liquidity and fee
checkpoints, its pool's state and boundary ticks; each Aave owner's ``getUserAccountData`` and token
balances. A sample of v4 positions is also paid out for real (DECREASE_LIQUIDITY + TAKE_PAIR, reverted)
and must pay exactly what the book says, to the wei. The v3 LPs and series are checked the same way
by ``test_big_book.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import Any

import pytest
from eth_abi.abi import decode
from web3 import Web3

from benchmarks.bench_read_book_v4_aave import MAX_ROUND_TRIPS, big_sources
from keeper.chain.multicall import Call
from keeper.chain.rpc import RpcClient, RpcError
from keeper.core.book import aave_accounts, v4_lp_holdings
from keeper.core.snapshot import Snapshot
from keeper.devnet.bigbook_v4_aave import big_book_v4_aave_variant
from keeper.devnet.state import World, start_variant
from keeper.read.reader import BookReader
from keeper.venues import aave_v3, erc20
from keeper.venues import uniswap_v4 as v4
from tests.integration.test_v4_positions import chain_payout

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def big() -> Iterator[tuple[World, dict[str, Any]]]:
    """A separate anvil loaded with the bigbook_v4_aave variant (built once, then cached)."""
    world, extras = start_variant("bigbook_v4_aave", big_book_v4_aave_variant,
                                  progress=lambda m: print(m, file=sys.stderr))
    try:
        yield world, extras
    finally:
        world.stop()


def per_item(rpc: RpcClient, calls: list[Call], block: int) -> list[tuple[Any, ...]]:
    """Each call as its own eth_call at ``block`` (JSON-RPC batches of 500), decoded."""
    out: list[tuple[Any, ...]] = []
    for i in range(0, len(calls), 500):
        part = calls[i:i + 500]
        answers = rpc.batch([("eth_call", [{"to": c.target, "data": "0x" + c.calldata.hex()}, hex(block)])
                             for c in part])
        for c, a in zip(part, answers, strict=True):
            assert not isinstance(a, RpcError), f"{c.label}: {a}"
            out.append(tuple(decode(list(c.returns), bytes.fromhex(str(a)[2:]))))
    return out


def check_v4(rpc: RpcClient, snap: Snapshot, pm: str, state_view: str, owner: str) -> None:
    calls: list[Call] = []
    for lp in snap.v4_lps:
        calls += [v4.owner_of_call(pm, lp.token_id), v4.pool_and_position_info_call(pm, lp.token_id),
                  v4.position_info_call(state_view, lp.pool_id, pm, lp.tick_lower, lp.tick_upper, lp.token_id),
                  *v4.pool_calls(state_view, lp.pool_id), v4.tick_info_call(state_view, lp.pool_id, lp.tick_lower),
                  v4.tick_info_call(state_view, lp.pool_id, lp.tick_upper)]
    got = per_item(rpc, calls, snap.block_number)
    n = len(calls) // len(snap.v4_lps)
    for i, lp in enumerate(snap.v4_lps):
        holder, (key, info), pos, slot0, liq, fg, lo, hi = got[i * n:(i + 1) * n]
        pool = snap.v4_pools[lp.pool_id]
        assert Web3.to_checksum_address(holder[0]) == lp.owner == owner
        assert v4.parse_key(key) == pool.key and v4.pool_id(pool.key) == lp.pool_id
        assert v4.parse_position_info(int(info))[:2] == (lp.tick_lower, lp.tick_upper)
        assert pos == (lp.liquidity, lp.fee_growth_inside0_last_x128, lp.fee_growth_inside1_last_x128)
        assert slot0 == (pool.sqrt_price_x96, pool.tick, pool.protocol_fee, pool.lp_fee)
        assert (liq[0], *fg) == (pool.liquidity, pool.fee_growth_global0_x128, pool.fee_growth_global1_x128)
        for tick, raw in ((lp.tick_lower, lo), (lp.tick_upper, hi)):
            assert v4.parse_tick(tick, raw) == pool.ticks[tick], (lp.token_id, tick)


def check_aave(rpc: RpcClient, snap: Snapshot, pool: str, reserves: list[tuple[str, str, str]]) -> None:
    accounts = aave_accounts(snap)
    calls: list[Call] = []
    for a in accounts:
        calls.append(aave_v3.user_account_data_call(pool, a.owner))
        for _asset, a_token, v_token in reserves:
            calls += [erc20.balance_of_call(a_token, a.owner), erc20.balance_of_call(v_token, a.owner)]
    got = per_item(rpc, calls, snap.block_number)
    n = len(calls) // len(accounts)
    for i, a in enumerate(accounts):
        mine = got[i * n:(i + 1) * n]
        assert mine[0] == (a.collateral_base, a.debt_base, a.available_borrows_base, a.liquidation_threshold_bps,
                           a.ltv_bps, a.health_factor), a.owner
        for j, (asset, _a, _v) in enumerate(reserves):
            assert mine[1 + 2 * j][0] == a.supplied.get(asset, 0), (a.owner, asset)
            assert mine[2 + 2 * j][0] == a.variable_debt.get(asset, 0), (a.owner, asset)


def test_the_big_book_in_six_round_trips_equals_the_per_item_reads(big: tuple[World, dict[str, Any]]) -> None:
    world, extras = big
    m = world.manifest
    assert m.v4 is not None and m.aave is not None
    src = big_sources(world, extras)
    rpc = RpcClient.http(world.url, timeout_s=120)
    snap = BookReader(rpc, src).read()
    assert snap.complete, snap.failures[:5]
    assert snap.round_trips <= MAX_ROUND_TRIPS
    assert (len(snap.lps), len(snap.v4_lps), len(snap.options)) == (1000, 1000, 200)
    assert {lp.token_id for lp in snap.v4_lps} == set(extras["v4_token_ids"])
    assert len(snap.aave_accounts) == 10 and {a.owner for a in snap.aave_accounts} == set(src.owners)

    check_v4(rpc, snap, m.v4.position_manager, m.v4.state_view, extras["owner"])
    pools = {p.key.currency0 for p in snap.v4_pools.values()}
    assert v4.NATIVE in pools and len(snap.v4_pools) == 2  # both world pools, one on native ETH
    in_range = [lp for lp in snap.v4_lps
                if lp.tick_lower <= snap.v4_pools[lp.pool_id].tick < lp.tick_upper]
    assert 0 < len(in_range) < len(snap.v4_lps)  # some in range, some out

    reserves = [(r.asset, r.a_token, r.variable_debt_token) for r in m.aave.reserves.values()]
    check_aave(rpc, snap, m.aave.pool, reserves)
    accounts = aave_accounts(snap)
    weth = m.aave.reserves["WETH"].asset
    assert sum(a.variable_debt.get(weth, 0) > 0 for a in accounts) >= 4
    assert all(a.health_factor > 10**18 for a in accounts)

    # A sample of v4 positions pays exactly what the book says (a real payout, reverted).
    w3 = world.web3(timeout=120)
    out_of_range = [lp for lp in snap.v4_lps if lp not in in_range]
    for lp in [*in_range[:4], *out_of_range[:4]]:
        ours = v4_lp_holdings(snap, lp)
        assert (ours.amount0, ours.amount1) == chain_payout(world, w3, m, snap, lp), f"v4 LP {lp.token_id}"
