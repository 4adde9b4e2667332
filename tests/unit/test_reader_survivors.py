"""BookReader behaviours the mutation run of keeper/read/reader.py found untested (docs/mutation/group-e.md):
pool oracle histories, a malformed block header, the header request itself, a multicall that answers
too few results, token metadata read once per token, native balances read through the configured
Multicall3, and an option book whose arrays differ in length. Same in-memory chains as
test_reader_fake_chain and test_reader_options_perps."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import pytest

from keeper.chain.multicall import MULTICALL3, Call, Multicall, Result, selector
from keeper.chain.rpc import RpcClient
from keeper.core.snapshot import PoolHistory, ReadFailure
from keeper.read.reader import BookReader
from tests.unit.chain.fakes import FakeTransport
from tests.unit.test_reader_fake_chain import (
    DAI,
    DAI_POOL,
    ETH_POOL,
    OTHER,
    OWNER,
    TOKENS,
    BlockChain,
    _addr,
    read,
    sources,
    state,
)
from tests.unit.test_reader_options_perps import MARKET, MarketChain, markets


def test_pool_histories_are_read_at_the_snapshot_block() -> None:
    chain = BlockChain([state(100, 0), state(101, 7)])
    snap = read(chain, block=100, src=sources(histories=((ETH_POOL, (1800, 0)), (DAI_POOL, (600, 0)))))
    assert snap.complete, snap.failures
    assert snap.histories == {
        ETH_POOL: PoolHistory(ETH_POOL, (1800, 0), (1800 * 195_000, 0)),
        DAI_POOL: PoolHistory(DAI_POOL, (600, 0), (0, 0)),
    }
    assert set(chain.blocks_seen) == {hex(100)}
    assert snap.round_trips == 5, "histories ride in stage 1"


def test_a_history_with_the_wrong_number_of_points_is_a_failure() -> None:
    # the fake pool answers two cumulatives whatever it is asked: three asked for is a malformed answer
    snap = read(BlockChain([state(100, 0)]), src=sources(histories=((ETH_POOL, (1200, 600, 0)),)))
    assert snap.histories == {}
    assert [f.what for f in snap.failures] == [f"pool {ETH_POOL} history over 1,200 s"]
    assert snap.failures[0].reason.startswith("unexpected value")


class _BadHeader(BlockChain):
    def handle(self, method: str, params: list[Any]) -> Any:
        if method == "eth_getBlockByNumber":
            header = dict(super().handle(method, params))
            return header | {"timestamp": "-0x1", "baseFeePerGas": "-0x2"}
        return super().handle(method, params)


def test_a_negative_header_timestamp_or_base_fee_is_named_as_not_read() -> None:
    snap = read(_BadHeader([state(100, 0)]))
    assert not snap.complete
    assert [f for f in snap.failures if f.what.startswith("block ")] == [
        ReadFailure("block timestamp", "not read"), ReadFailure("block base fee", "not read")]


class _Recording(BlockChain):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_params: list[list[Any]] = []
        self.decimals_read: dict[str, int] = {}

    def handle(self, method: str, params: list[Any]) -> Any:
        if method == "eth_getBlockByNumber":
            self.header_params.append(params)
        return super().handle(method, params)

    def _token(self, target: str, data: bytes) -> tuple[bool, bytes]:
        if data[:4] == selector("decimals()"):
            self.decimals_read[target.lower()] = self.decimals_read.get(target.lower(), 0) + 1
        return super()._token(target, data)


def test_the_header_is_asked_for_without_transactions() -> None:
    chain = _Recording([state(100, 0)])
    read(chain, block=100)
    assert chain.header_params == [[hex(100), False]]


def test_each_token_s_metadata_is_read_once() -> None:
    chain = _Recording([state(100, 0)])
    snap = read(chain)
    assert snap.complete, snap.failures
    # USDC and WETH are configured and also LP tokens; DAI is only an LP token (read in stage 4)
    assert chain.decimals_read == {t.lower(): 1 for t in TOKENS}
    assert DAI in snap.tokens


class _ShortMulticall(Multicall):
    """Answers one result fewer than it was asked for."""

    def execute(self, calls: Sequence[Call], block: int, /) -> list[Result]:
        return super().execute(calls, block)[:-1]


def test_a_multicall_answering_too_few_results_is_an_error_not_a_shorter_book() -> None:
    chain = BlockChain([state(100, 0)])
    rpc = RpcClient(FakeTransport(chain.handle), sleep=lambda _s: None)
    reader = BookReader(rpc, sources(), multicall=_ShortMulticall(rpc))
    with pytest.raises(ValueError, match="zip"):
        reader.read()


ALT_MULTICALL = _addr(0x3C)


class _RelocatedMulticall(Multicall):
    """A Multicall3 deployed at ALT_MULTICALL: records the calls, relays them to the fake chain's one."""

    def __init__(self, rpc: RpcClient) -> None:
        super().__init__(rpc, address=ALT_MULTICALL)
        self.inner = Multicall(rpc)
        self.targets: list[tuple[str, str]] = []

    def execute(self, calls: Sequence[Call], block: int, /) -> list[Result]:
        self.targets += [(c.target, c.signature) for c in calls]
        relayed = [dataclasses.replace(c, target=MULTICALL3) if c.target == ALT_MULTICALL else c for c in calls]
        return self.inner.execute(relayed, block)


def test_native_balances_are_read_through_the_configured_multicall() -> None:
    chain = BlockChain([state(100, 0)])
    rpc = RpcClient(FakeTransport(chain.handle), sleep=lambda _s: None)
    mc = _RelocatedMulticall(rpc)
    snap = BookReader(rpc, sources(), multicall=mc).read()
    assert snap.native_balances == {OWNER: 10**18, OTHER: 0}
    assert [t for t, sig in mc.targets if sig == "getEthBalance(address)"] == [ALT_MULTICALL, ALT_MULTICALL]


def test_an_option_book_with_arrays_of_unequal_length_is_a_failure_of_that_book_only() -> None:
    # Found by the mutation run: such an answer used to escape read() as a bare ValueError from zip(strict=True).
    chain = MarketChain([state(100, 0)], books={OWNER: ([1, 2], [10**18], [0, 0]), OTHER: ([1], [10**18], [0])})
    snap = read(chain, src=markets())
    assert [(f.what, f.reason) for f in snap.failures] == [(
        f"option book of {OWNER} in {MARKET}",
        "unexpected value: series ids, longs and shorts differ in length (2, 1, 2)")]
    assert [(o.owner, o.series_id, o.long_amount) for o in snap.options] == [(OTHER, 1, 10**18)]


def test_a_token_whose_symbol_failed_is_named_once() -> None:
    snap = read(BlockChain([state(100, 0)], broken={(DAI, "symbol()")}))
    assert [f.what for f in snap.failures] == [f"symbol of {DAI}"]
    assert DAI not in snap.tokens and [lp.token_id for lp in snap.lps] == [4, 7, 9]
