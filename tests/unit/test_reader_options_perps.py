"""The BookReader's option and perp reads, and its header and failure edge cases, on the in-memory
chain of test_reader_fake_chain (option market and perp market fakes added here)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from eth_abi.abi import decode

from keeper.chain.abi_fast import checksum
from keeper.chain.multicall import selector
from keeper.chain.rpc import RpcClient
from keeper.core.snapshot import OptionPosition, PerpMarketState, PerpPosition
from keeper.errors import ChainError
from keeper.read.reader import BookReader, PerpSource
from tests.unit.chain.fakes import FakeTransport
from tests.unit.test_reader_fake_chain import (
    DAI_POOL,
    NPM,
    OTHER,
    OWNER,
    USDC,
    WBTC,
    WETH,
    BlockChain,
    BlockState,
    _addr,
    read,
    sources,
    state,
)

MARKET, PERP_ETH, PERP_BTC = _addr(0x0C), _addr(0x0D), _addr(0x0E)
UNKNOWN_TOKEN = _addr(0x77)
# series id -> (underlying token, strike, expiry, is put)
SERIES = {1: (WETH, 3000 * 10**18, 1_800_000_000, False), 2: (WBTC, 50_000 * 10**18, 1_800_000_500, True),
          3: (WETH, 2500 * 10**18, 1_800_000_000, True), 8: (UNKNOWN_TOKEN, 1, 1, False)}
# owner -> (ids, longs, shorts)
BOOKS = {OWNER: ([5, 3, 1, 2], [0, 0, 4 * 10**18, 0], [0, 2 * 10**18, 0, 10**17]),  # series 5: nothing held
         OTHER: ([1], [10**18], [0])}


class MarketChain(BlockChain):
    def __init__(self, states: list[BlockState], broken: set[tuple[str, str]] | None = None,
                 books: dict[str, tuple[list[int], list[int], list[int]]] | None = None) -> None:
        super().__init__(states, broken)
        self.books = BOOKS if books is None else books
        self.contracts |= {MARKET.lower(): self._market, PERP_ETH.lower(): self._perp, PERP_BTC.lower(): self._perp}

    def _market(self, target: str, data: bytes) -> tuple[bool, bytes]:
        if data[:4] == selector("accountBook(address)"):
            (who,) = decode(["address"], data[4:])
            ids, longs, shorts = self.books.get(checksum(who), ([], [], []))
            return self._answer(target, "accountBook(address)", ["uint256[]", "uint256[]", "uint256[]"],
                                [ids, longs, shorts])
        assert data[:4] == selector("getSeriesDetails(uint256)")
        (sid,) = decode(["uint256"], data[4:])
        token, strike, expiry, is_put = SERIES[sid]
        return self._answer(target, f"getSeriesDetails({sid})",
                            ["address", "address", "address", "uint256", "uint256", "bool"],
                            [USDC, token, USDC, strike, expiry, is_put])  # collateral, underlying, strike asset

    def _perp(self, target: str, data: bytes) -> tuple[bool, bytes]:
        k = 1 if checksum(target) == PERP_ETH else 2
        simple: dict[str, tuple[str, int | str]] = {
            "oraclePrice()": ("uint256", 3000 * 10**18 * k), "fundingRatePerSecond()": ("int256", -5 * k),
            "fundingIndex()": ("int256", -77 * k), "takerFeeBps()": ("uint256", 5 * k),
            "initialMarginBps()": ("uint256", 1000 * k), "maintenanceMarginBps()": ("uint256", 500 * k),
            "quoteToken()": ("address", USDC)}
        for sig, (typ, value) in simple.items():
            if data[:4] == selector(sig):
                return self._answer(target, sig, [typ], [value])
        (who,) = decode(["address"], data[4:])
        n = 1 if checksum(who) == OWNER else 3
        if data[:4] == selector("positions(address)"):
            return self._answer(target, "positions(address)", ["int256", "uint256", "uint256", "int256"],
                                [-20 * 10**18 * n * k, 2900 * 10**18, 10**10 * n, -70 * n])
        assert data[:4] == selector("remainingMargin(address)")
        return self._answer(target, "remainingMargin(address)", ["int256"], [-(10**6) * n * k])


def markets(**changes: Any) -> Any:
    return sources(option_markets=(MARKET,), perp_markets=(PerpSource(PERP_ETH, "ETH"), PerpSource(PERP_BTC, "BTC")),
                   **changes)


def test_options_are_read_per_owner_and_sorted() -> None:
    snap = read(MarketChain([state(100, 0)]), src=markets())
    assert snap.complete, snap.failures
    src = f"onchain:{MARKET}"
    # series 5 (no long, no short) is skipped; sorted by (source, series id, owner)
    assert snap.options == (
        OptionPosition(src, 1, OWNER, "ETH", 3000 * 10**18, 1_800_000_000, False, 4 * 10**18, 0),
        OptionPosition(src, 1, OTHER, "ETH", 3000 * 10**18, 1_800_000_000, False, 10**18, 0),
        OptionPosition(src, 2, OWNER, "BTC", 50_000 * 10**18, 1_800_000_500, True, 0, 10**17),
        OptionPosition(src, 3, OWNER, "ETH", 2500 * 10**18, 1_800_000_000, True, 0, 2 * 10**18),
    )
    assert snap.round_trips == 5


def test_otc_positions_follow_the_onchain_ones() -> None:
    otc = OptionPosition("otc:desk", 1, OWNER, "ETH", 1, 1, False, 1, 0)
    snap = read(MarketChain([state(100, 0)]), src=markets(otc_positions=(otc,)))
    assert snap.options[-1] == otc and len(snap.options) == 5


def test_a_series_on_an_unknown_underlying_is_named_and_left_out() -> None:
    chain = MarketChain([state(100, 0)], books={OWNER: ([8, 1], [1, 1], [0, 0])})
    snap = read(chain, src=markets())
    assert [o.series_id for o in snap.options] == [1]
    assert [(f.what, f.reason) for f in snap.failures] == [
        (f"option series 8 in {MARKET}", f"unexpected value: underlying {UNKNOWN_TOKEN} is not a configured asset")]


def test_perp_markets_and_positions_per_owner() -> None:
    snap = read(MarketChain([state(100, 0)]), src=markets())
    assert snap.perp_markets == {
        PERP_ETH: PerpMarketState(PERP_ETH, "ETH", 3000 * 10**18, -5, -77, 5, 1000, 500, USDC),
        PERP_BTC: PerpMarketState(PERP_BTC, "BTC", 6000 * 10**18, -10, -154, 10, 2000, 1000, USDC),
    }
    assert snap.perps == (
        PerpPosition(PERP_ETH, OWNER, "ETH", -20 * 10**18, 2900 * 10**18, 10**10, -70, -(10**6)),
        PerpPosition(PERP_ETH, OTHER, "ETH", -60 * 10**18, 2900 * 10**18, 3 * 10**10, -210, -3 * 10**6),
        PerpPosition(PERP_BTC, OWNER, "BTC", -40 * 10**18, 2900 * 10**18, 10**10, -70, -2 * 10**6),
        PerpPosition(PERP_BTC, OTHER, "BTC", -120 * 10**18, 2900 * 10**18, 3 * 10**10, -210, -6 * 10**6),
    )


def test_unreadable_markets_are_named() -> None:
    broken = {(MARKET, "getSeriesDetails(2)"), (PERP_BTC, "takerFeeBps()"), (PERP_ETH, "remainingMargin(address)"),
              (MARKET, "accountBook(address)")}
    snap = read(MarketChain([state(100, 0)], broken=broken), src=markets())
    whats = {f.what: f.reason for f in snap.failures}
    assert snap.options == () and PERP_BTC not in snap.perp_markets and PERP_ETH in snap.perp_markets
    assert "accountBook(address) is broken" in whats[f"option book of {OWNER} in {MARKET}"]
    assert "takerFeeBps() is broken" in whats[f"perp market {PERP_BTC}"]
    assert whats[f"perp market {PERP_BTC}"].startswith(f"perp {PERP_BTC} takerFeeBps: ")
    assert "remainingMargin(address) is broken" in whats[f"perp position of {OWNER} in {PERP_ETH}"]
    assert [p.market for p in snap.perps] == [PERP_BTC, PERP_BTC]


def test_failures_in_the_lp_stages_are_named() -> None:
    broken = {(NPM, "positions(uint256)"), (DAI_POOL, "slot0()")}
    snap = read(BlockChain([state(100, 0)], broken=broken))
    assert snap.lps == () and not snap.complete
    whats = [f.what for f in snap.failures]
    assert {f"LP {i} positions" for i in (4, 7, 9)} <= set(whats)

    snap = read(BlockChain([state(100, 0)], broken={(DAI_POOL, "slot0()")}))
    whats = [f.what for f in snap.failures]
    assert f"pool {DAI_POOL}" in whats and "LP 9" in whats and DAI_POOL not in snap.pools
    assert [lp.token_id for lp in snap.lps] == [4, 7]


def test_header_defaults_and_round_trips_of_a_reused_client() -> None:
    chain = BlockChain([state(100, 0)])
    base = chain.handle

    def no_base_fee(method: str, params: list[Any]) -> Any:
        out = base(method, params)
        if method == "eth_getBlockByNumber" and out is not None:
            del out["baseFeePerGas"]
        return out

    rpc = RpcClient(FakeTransport(no_base_fee), sleep=lambda _s: None)
    reader = BookReader(rpc, sources())
    first = reader.read()
    second = reader.read()
    assert first.base_fee_wei == 0 and first.complete, "a chain without base fee (pre-London) reads 0"
    assert first.chain_id == -1, "no chain id given"
    assert (first.round_trips, second.round_trips) == (5, 5)
    assert dataclasses.replace(second, round_trips=5) == first


def test_a_block_with_timestamp_zero_is_complete() -> None:
    s = state(100, 0)
    s.timestamp = 0
    snap = read(BlockChain([s]))
    assert snap.complete and snap.block_timestamp == 0


def test_no_head_block_is_an_error_naming_latest() -> None:
    chain = BlockChain([state(100, 0)])
    chain.head = 999  # the node answers no block for it
    with pytest.raises(ChainError, match="^block latest: the node has no such block$"):
        read(chain)
