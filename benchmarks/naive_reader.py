"""The naive book reader: one ``eth_call`` per value, no batching, no de-duplication of shared reads.

The anchor of the ``read_book`` benchmarks, and the per-item reference the big-book test compares the
batched reader with. It makes the same reads as :class:`keeper.read.reader.BookReader` (v3 LPs and their
pools and ticks, option series, feeds, oracle pools, Uniswap v4 positions and their pools and ticks, Aave
markets and accounts), each as its own JSON-RPC request at the pinned block, and keeps every decoded
answer under :func:`key` of its call.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_abi.abi import decode

from keeper.chain.abi_fast import checksum
from keeper.chain.multicall import Call
from keeper.chain.rpc import RpcClient
from keeper.read.reader import BookReader, BookSources
from keeper.venues import aave_v3, chainlink, erc20, options, uniswap_v3, uniswap_v4

__all__ = ["NaiveBook", "batched_best", "key", "naive_read", "naive_timed"]


def key(c: Call) -> tuple[str, str, str]:
    """What a call reads: (target, signature, its arguments' repr)."""
    return (c.target.lower(), c.signature, repr(c.args))


@dataclass
class NaiveBook:
    calls: int = 0
    values: dict[tuple[str, str, str], tuple[Any, ...]] = field(default_factory=dict)

    def __getitem__(self, c: Call) -> tuple[Any, ...]:
        return self.values[key(c)]


def naive_read(rpc: RpcClient, src: BookSources, block: int) -> NaiveBook:
    """Read the book of ``src`` at ``block`` one value per request."""
    tag = hex(block)
    out = NaiveBook()

    def one(c: Call) -> tuple[Any, ...]:
        out.calls += 1
        raw = rpc.call("eth_call", [{"to": c.target, "data": "0x" + c.calldata.hex()}, tag])
        value = tuple(decode(list(c.returns), bytes.fromhex(str(raw)[2:])))
        out.values[key(c)] = value
        return value

    for asset in src.assets:
        one(chainlink.latest_round_call(asset.feed, asset.symbol))
        one(chainlink.decimals_call(asset.feed, asset.symbol))
        if asset.oracle_pool:
            for c in uniswap_v3.pool_calls(asset.oracle_pool):
                one(c)
            one(uniswap_v3.observe_call(asset.oracle_pool, src.twap_window_s))
    for owner in src.owners:
        for token in (src.quote_token, *(a.token for a in src.assets)):
            one(erc20.balance_of_call(token, owner))
        count = one(uniswap_v3.balance_call(src.position_manager, owner))[0]
        for i in range(count):
            token_id = one(uniswap_v3.token_of_owner_call(src.position_manager, owner, i))[0]
            pos = one(uniswap_v3.position_call(src.position_manager, token_id))
            pool = uniswap_v3.pool_address(src.factory, pos[2], pos[3], pos[4])
            for c in uniswap_v3.pool_calls(pool):
                one(c)
            one(uniswap_v3.tick_call(pool, pos[5]))
            one(uniswap_v3.tick_call(pool, pos[6]))
        for market in src.option_markets:
            ids, longs, shorts = one(options.account_book_call(market, owner))
            for sid, lg, sh in zip(ids, longs, shorts, strict=True):
                if lg or sh:
                    one(options.series_details_call(market, sid))
    _naive_v4(one, src)
    _naive_aave(one, src)
    return out


One = Callable[[Call], tuple[Any, ...]]


def _naive_v4(one: One, src: BookSources) -> None:
    if src.v4 is not None:
        v4 = src.v4
        owners = {o.lower() for o in src.owners}
        for token_id in v4.token_ids:
            holder = str(one(uniswap_v4.owner_of_call(v4.position_manager, token_id))[0])
            key_raw, info = one(uniswap_v4.pool_and_position_info_call(v4.position_manager, token_id))
            if holder.lower() not in owners:
                continue
            pk = uniswap_v4.parse_key(key_raw)
            pid = uniswap_v4.pool_id(pk)
            lower, upper, _ = uniswap_v4.parse_position_info(int(info))
            one(uniswap_v4.position_info_call(v4.state_view, pid, v4.position_manager, lower, upper, token_id))
            for c in uniswap_v4.pool_calls(v4.state_view, pid):
                one(c)
            one(uniswap_v4.tick_info_call(v4.state_view, pid, lower))
            one(uniswap_v4.tick_info_call(v4.state_view, pid, upper))


def _naive_aave(one: One, src: BookSources) -> None:
    for pool in src.aave_pools:
        provider = checksum(str(one(aave_v3.addresses_provider_call(pool))[0]))
        oracle = checksum(str(one(aave_v3.price_oracle_call(provider))[0]))
        reserves = [checksum(str(a)) for a in one(aave_v3.reserves_list_call(pool))[0]]
        tokens = {}
        for ra in reserves:
            d = one(aave_v3.reserve_data_call(pool, ra))
            one(aave_v3.normalized_income_call(pool, ra))
            one(aave_v3.normalized_debt_call(pool, ra))
            one(aave_v3.asset_price_call(oracle, ra))
            tokens[ra] = (str(d[8]), str(d[10]), str(d[9]))
        for owner in src.owners:
            one(aave_v3.user_configuration_call(pool, owner))
            one(aave_v3.user_emode_call(pool, owner))
            for a_token, v_token, s_token in tokens.values():
                one(aave_v3.scaled_balance_call(a_token, owner))
                one(aave_v3.scaled_balance_call(v_token, owner))
                one(aave_v3.balance_of_call(s_token, owner))


def batched_best(reader: BookReader, rpc: RpcClient, repeat: int = 5) -> tuple[float, int]:
    """The batched reader's best wall time over ``repeat`` unpinned reads (each includes the block-number
    round trip), in seconds, and the round trips of one read."""
    best, trips = float("inf"), 0
    for _ in range(repeat):
        before = rpc.round_trips
        t0 = time.perf_counter()
        reader.read()
        best = min(best, time.perf_counter() - t0)
        trips = rpc.round_trips - before
    return best, trips


def naive_timed(url: str, src: BookSources, block: int, timeout_s: float = 120) -> tuple[float, int, int]:
    """The naive reader on its own connection: (wall time in seconds, calls, round trips)."""
    rpc = RpcClient.http(url, timeout_s=timeout_s)
    t0 = time.perf_counter()
    calls = naive_read(rpc, src, block).calls
    return time.perf_counter() - t0, calls, rpc.round_trips
