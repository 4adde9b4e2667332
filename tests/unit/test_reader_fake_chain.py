"""The BookReader against an in-memory chain whose every contract answers per block.

Checks that every value lands where it belongs (tokens, balances, native balances, LPs, pools and
their boundary ticks, feeds, TWAPs, block header), in 5 round trips, that every read is pinned to
the header's block (an old block re-read after the head moved gives the same snapshot, and no call
is made at another block), and that unreadable sources are named and left out, never zero.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_abi.abi import decode, encode

from keeper.chain.abi_fast import checksum
from keeper.chain.multicall import MULTICALL3, selector
from keeper.chain.rpc import RpcClient
from keeper.core.snapshot import FeedReading, LpPosition, Snapshot, TickFees, TokenMeta
from keeper.errors import ChainError, InputError
from keeper.read.reader import AssetSource, BookReader, BookSources, PerpSource
from keeper.venues.uniswap_v3 import pool_address
from tests.unit.chain.fakes import FakeChain, FakeTransport


def _addr(byte: int) -> str:
    return checksum("0x" + f"{byte:02x}" * 20)


USDC, WBTC, WETH, DAI = _addr(0x10), _addr(0x20), _addr(0x30), _addr(0x05)
NPM, FACTORY = _addr(0xA1), _addr(0xFA)
FEED_ETH, FEED_BTC = _addr(0xE1), _addr(0xB1)
OWNER, OTHER = _addr(0x0A), _addr(0x0B)
ETH_POOL = pool_address(FACTORY, WETH, USDC, 500)  # the oracle and hedge pool: read in stage 1
DAI_POOL = pool_address(FACTORY, DAI, USDC, 100)  # only an LP's pool: read in stage 4, with DAI's metadata
TOKENS = {USDC: ("USDC", 6), WBTC: ("WBTC", 8), WETH: ("WETH", 18), DAI: ("DAI", 18)}
# token id -> (owner, token0, token1, fee, lower, upper, liquidity)
LPS = {
    7: (OWNER, USDC, WETH, 500, -200_000, -190_000, 10**18),
    9: (OWNER, DAI, USDC, 100, -10, 10, 5 * 10**20),
    4: (OTHER, USDC, WETH, 500, -199_000, -191_000, 3 * 10**17),
}


@dataclass
class PoolAt:
    sqrt_price_x96: int
    tick: int
    liquidity: int
    fg: tuple[int, int]
    ticks: dict[int, tuple[int, int]]
    tick_cumulatives: tuple[int, int] = (0, 0)


@dataclass
class BlockState:
    """Everything the fake contracts answer at one block."""

    number: int
    timestamp: int
    base_fee: int
    pools: dict[str, PoolAt]
    feeds: dict[str, tuple[int, int, int]]  # feed -> (round id, answer, updated at)
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    native: dict[str, int] = field(default_factory=dict)
    owed: int = 0


def state(number: int, k: int) -> BlockState:
    """A block's state; ``k`` shifts every value so two blocks differ everywhere."""
    return BlockState(
        number=number, timestamp=1_700_000_000 + 12 * number, base_fee=10**9 + k,
        pools={
            ETH_POOL: PoolAt(2**96 // 40 + k, -195_000 + k, 10**21 + k, (11 * 2**128 + k, 13 * 2**128 + k),
                             {t: (-t * 7 + k, -t * 11 + k) for t in (-200_000, -190_000, -199_000, -191_000)},
                             (1800 * 195_000 + k, 2 * k)),
            DAI_POOL: PoolAt(2**96 * 10**6 + k, 276_324 + k, 10**22 + k, (3 * 2**128 + k, 5 * 2**128 + k),
                             {-10: (1 + k, 2 + k), 10: (3 + k, 4 + k)}),
        },
        feeds={FEED_ETH: (100 + k, 3000_00000000 + k, 1_700_000_000 + k),
               FEED_BTC: (200 + k, 60000_00000000 + k, 1_700_000_100 + k)},
        balances={(OWNER, USDC): 5_000_000 + k, (OWNER, WETH): 2 * 10**18 + k, (OTHER, WBTC): 3 * 10**8 + k},
        native={OWNER: 10**18 + k, OTHER: k},
        owed=k,
    )


class BlockChain(FakeChain):
    """A FakeChain whose contracts answer from the state of the block each call names."""

    def __init__(self, states: list[BlockState], broken: set[tuple[str, str]] | None = None) -> None:
        self.states = {s.number: s for s in states}
        self.head = max(self.states)
        self.at = self.states[self.head]
        self.broken = broken or set()
        contracts: dict[str, Any] = {t: self._token for t in TOKENS}
        contracts |= {NPM: self._npm, ETH_POOL: self._pool, DAI_POOL: self._pool, FEED_ETH: self._feed,
                      FEED_BTC: self._feed, MULTICALL3: self._multicall}
        super().__init__(contracts, block=self.head)

    def handle(self, method: str, params: list[Any]) -> Any:
        if method == "eth_getBlockByNumber":
            tag = params[0]
            s = self.states.get(self.head if tag == "latest" else int(tag, 16))
            if s is None:
                return None
            return {"number": hex(s.number), "timestamp": hex(s.timestamp), "baseFeePerGas": hex(s.base_fee)}
        if method == "eth_call":
            tag = params[1]
            self.at = self.states[self.head if tag == "latest" else int(tag, 16)]
        return super().handle(method, params)

    def _answer(self, target: str, sig: str, types: list[str], values: list[Any]) -> tuple[bool, bytes]:
        if (checksum(target), sig) in self.broken:
            return False, selector("Error(string)") + encode(["string"], [f"{sig} is broken"])
        return True, encode(types, values)

    def _token(self, target: str, data: bytes) -> tuple[bool, bytes]:
        sym, dec = TOKENS[checksum(target)]
        if data[:4] == selector("decimals()"):
            return self._answer(target, "decimals()", ["uint8"], [dec])
        if data[:4] == selector("symbol()"):
            return self._answer(target, "symbol()", ["string"], [sym])
        (who,) = decode(["address"], data[4:])
        return self._answer(target, "balanceOf(address)", ["uint256"],
                            [self.at.balances.get((checksum(who), checksum(target)), 0)])

    def _multicall(self, target: str, data: bytes) -> tuple[bool, bytes]:
        assert data[:4] == selector("getEthBalance(address)")
        (who,) = decode(["address"], data[4:])
        return True, encode(["uint256"], [self.at.native.get(checksum(who), 0)])

    def _npm(self, target: str, data: bytes) -> tuple[bool, bytes]:
        def mine(who: str) -> list[int]:
            return sorted(i for i, lp in LPS.items() if lp[0] == who)

        if data[:4] == selector("balanceOf(address)"):
            (who,) = decode(["address"], data[4:])
            return True, encode(["uint256"], [len(mine(checksum(who)))])
        if data[:4] == selector("tokenOfOwnerByIndex(address,uint256)"):
            who, i = decode(["address", "uint256"], data[4:])
            return True, encode(["uint256"], [mine(checksum(who))[i]])
        assert data[:4] == selector("positions(uint256)")
        (token_id,) = decode(["uint256"], data[4:])
        _, t0, t1, fee, lo, hi, liq = LPS[token_id]
        return self._answer(
            target, "positions(uint256)",
            ["uint96", "address", "address", "address", "uint24", "int24", "int24", "uint128", "uint256", "uint256",
             "uint128", "uint128"],
            [0, "0x" + "00" * 20, t0, t1, fee, lo, hi, liq, token_id * 2**128, token_id * 2**120,
             self.at.owed + token_id, 2 * token_id])

    def _pool(self, target: str, data: bytes) -> tuple[bool, bytes]:
        p = self.at.pools[checksum(target)]
        sel = data[:4]
        simple: dict[str, tuple[list[str], list[Any]]] = {
                  "liquidity()": (["uint128"], [p.liquidity]), "feeGrowthGlobal0X128()": (["uint256"], [p.fg[0]]),
                  "feeGrowthGlobal1X128()": (["uint256"], [p.fg[1]]), "token0()": (["address"], [USDC]),
                  "token1()": (["address"], [WETH]), "fee()": (["uint24"], [500]),
                  "slot0()": (["uint160", "int24", "uint16", "uint16", "uint16", "uint8", "bool"],
                              [p.sqrt_price_x96, p.tick, 1, 50, 50, 0, True])}
        for sig, (types, values) in simple.items():
            if sel == selector(sig):
                return self._answer(target, sig, types, values)
        if sel == selector("ticks(int24)"):
            (t,) = decode(["int24"], data[4:])
            o0, o1 = p.ticks[t]
            return self._answer(target, f"ticks({t})", ["uint128", "int128", "uint256", "uint256", "int56", "uint160",
                                                        "uint32", "bool"], [1, 0, o0, o1, 0, 0, 0, True])
        assert sel == selector("observe(uint32[])")
        return self._answer(target, "observe(uint32[])", ["int56[]", "uint160[]"], [list(p.tick_cumulatives), [0, 0]])

    def _feed(self, target: str, data: bytes) -> tuple[bool, bytes]:
        if data[:4] == selector("decimals()"):
            return self._answer(target, "decimals()", ["uint8"], [8])
        rid, answer, updated = self.at.feeds[checksum(target)]
        return self._answer(target, "latestRoundData()", ["uint80", "int256", "uint256", "uint256", "uint80"],
                            [rid, answer, updated, updated, rid])


def sources(**changes: Any) -> BookSources:
    src = BookSources(
        owners=(OWNER, OTHER), position_manager=NPM, factory=FACTORY, quote_token=USDC,
        assets=(AssetSource("ETH", WETH, FEED_ETH, ETH_POOL, hedge_pools=(ETH_POOL,)),
                AssetSource("BTC", WBTC, FEED_BTC)),
        twap_window_s=1800,
    )
    return dataclasses.replace(src, **changes)


def read(chain: BlockChain, block: int | None = None, src: BookSources | None = None) -> Snapshot:
    rpc = RpcClient(FakeTransport(chain.handle), sleep=lambda _s: None)
    return BookReader(rpc, src or sources()).read(block=block, chain_id=31337)


def test_every_value_lands_where_it_belongs_in_five_round_trips() -> None:
    chain = BlockChain([state(100, 0)])
    snap = read(chain)
    assert snap.complete, snap.failures
    assert (snap.chain_id, snap.block_number, snap.block_timestamp, snap.base_fee_wei) == (
        31337, 100, 1_700_001_200, 10**9)
    assert snap.round_trips == 5  # header + 4 stages
    assert set(chain.blocks_seen) == {hex(100)}
    assert snap.tokens == {t: TokenMeta(t, s, d) for t, (s, d) in TOKENS.items()}
    assert snap.balances == {(OWNER, USDC): 5_000_000, (OWNER, WETH): 2 * 10**18, (OWNER, WBTC): 0,
                             (OTHER, USDC): 0, (OTHER, WETH): 0, (OTHER, WBTC): 3 * 10**8}
    assert snap.native_balances == {OWNER: 10**18, OTHER: 0}
    assert snap.owners == (OWNER, OTHER) and snap.native_asset is None
    # LPs sorted by token id, each with its own pool's address, positions() fields in place
    assert [lp.token_id for lp in snap.lps] == [4, 7, 9]
    assert snap.lps[2] == LpPosition(9, OWNER, DAI_POOL, DAI, USDC, 100, -10, 10, 5 * 10**20, 9 * 2**128,
                                     9 * 2**120, 9, 18)
    assert (snap.lps[0].owner, snap.lps[0].pool, snap.lps[1].pool) == (OTHER, ETH_POOL, ETH_POOL)
    # pools: slot0, liquidity, fee growth; boundary ticks of every LP in the pool
    eth, dai = snap.pools[ETH_POOL], snap.pools[DAI_POOL]
    assert (eth.sqrt_price_x96, eth.tick, eth.liquidity, eth.observation_cardinality) == (
        2**96 // 40, -195_000, 10**21, 50)
    assert (eth.fee_growth_global0_x128, eth.fee_growth_global1_x128) == (11 * 2**128, 13 * 2**128)
    assert (eth.address, eth.token0, eth.token1, eth.fee) == (ETH_POOL, USDC, WETH, 500)
    assert eth.ticks == {t: TickFees(t, -t * 7, -t * 11, True) for t in (-200_000, -199_000, -191_000, -190_000)}
    assert (dai.address, dai.token0, dai.token1, dai.fee, dai.tick, dai.liquidity) == (
        DAI_POOL, DAI, USDC, 100, 276_324, 10**22)
    assert dai.ticks == {-10: TickFees(-10, 1, 2, True), 10: TickFees(10, 3, 4, True)}
    assert set(snap.pools) == {ETH_POOL, DAI_POOL}
    assert snap.feeds == {"ETH": FeedReading("ETH", FEED_ETH, 3000_00000000, 8, 1_700_000_000, 100),
                          "BTC": FeedReading("BTC", FEED_BTC, 60000_00000000, 8, 1_700_000_100, 200)}
    twap = snap.twaps[ETH_POOL]
    assert (twap.pool, twap.window_s, twap.mean_tick) == (ETH_POOL, 1800, -195_000)
    assert set(snap.twaps) == {ETH_POOL} and snap.options == () and snap.perps == ()


def test_an_old_block_reads_the_same_after_the_head_moved() -> None:
    first = read(BlockChain([state(100, 0)]))
    moved = BlockChain([state(100, 0), state(101, 7)])
    head = read(moved)
    assert head.block_number == 101 and head != first
    for pool in (ETH_POOL, DAI_POOL):
        assert head.pools[pool] != first.pools[pool]
    moved.blocks_seen.clear()
    again = read(moved, block=100)
    assert set(moved.blocks_seen) == {hex(100)}, "every call is pinned to the block asked for"
    assert again.pools == first.pools and again.lps == first.lps and again.feeds == first.feeds
    assert again == first


def test_a_block_the_node_does_not_have_is_an_error() -> None:
    with pytest.raises(ChainError, match="^block 99: the node has no such block$"):
        read(BlockChain([state(100, 0)]), block=99)


def test_unreadable_sources_are_named_and_left_out() -> None:
    broken = {(FEED_BTC, "latestRoundData()"), (DAI_POOL, "ticks(10)"), (DAI, "symbol()"),
              (ETH_POOL, "observe(uint32[])")}
    snap = read(BlockChain([state(100, 0)], broken=broken))
    assert not snap.complete
    whats = {f.what: f.reason for f in snap.failures}
    assert "BTC" not in snap.feeds and "ETH" in snap.feeds
    assert "latestRoundData() is broken" in whats["feed BTC"]
    assert whats["LP 9"] == "its pool or boundary ticks could not be read"
    assert [lp.token_id for lp in snap.lps] == [4, 7], "the LP without its ticks is left out, never zero"
    assert "symbol() is broken" in whats[f"symbol of {DAI}"] and DAI not in snap.tokens
    assert not any(f.what == f"token {DAI}" for f in snap.failures), "named once"
    assert ETH_POOL not in snap.twaps and "observe(uint32[]) is broken" in whats[f"pool {ETH_POOL} TWAP over 1800 s"]
    assert len(snap.failures) == 5  # the four calls and the LP they leave incomplete


def test_a_non_positive_feed_answer_is_a_failure_not_a_price() -> None:
    s = state(100, 0)
    s.feeds[FEED_ETH] = (100, 0, 1_700_000_000)
    snap = read(BlockChain([s]))
    assert "ETH" not in snap.feeds
    assert [(f.what, f.reason) for f in snap.failures] == [("feed ETH", "unexpected value: non-positive answer 0")]


def test_a_pool_shared_by_lp_and_hedge_is_read_once_with_the_lp_ticks() -> None:
    chain = BlockChain([state(100, 0)])
    snap = read(chain, src=sources(owners=(OWNER,)))
    assert [lp.token_id for lp in snap.lps] == [7, 9]
    assert set(snap.pools[ETH_POOL].ticks) == {-200_000, -190_000}
    assert snap.balances[(OWNER, WBTC)] == 0 and OTHER not in snap.native_balances


@pytest.mark.parametrize(
    ("changes", "argument", "message"),
    [
        ({"owners": ()}, "owners", "at least one owner address is needed"),
        ({"twap_window_s": 0}, "twap_window_s", "must be positive seconds, got 0"),
        ({"assets": (AssetSource("ETH", WETH, FEED_ETH), AssetSource("ETH", WBTC, FEED_BTC))}, "assets",
         "duplicate asset symbols in ['ETH', 'ETH']"),
        ({"native_asset": "SOL"}, "native_asset", "'SOL' is not one of ['ETH', 'BTC']"),
        ({"perp_markets": (PerpSource(_addr(0x99), "SOL"),)}, "perp_markets",
         f"{_addr(0x99)}: underlying 'SOL' is not one of ['ETH', 'BTC']"),
    ],
)
def test_bad_sources_name_the_field(changes: dict[str, Any], argument: str, message: str) -> None:
    with pytest.raises(InputError) as exc:
        sources(**changes)
    assert exc.value.argument == argument and str(exc.value) == f"{argument}: {message}"


def test_valid_sources_edge_values() -> None:
    src = sources(twap_window_s=1, native_asset="ETH", perp_markets=(PerpSource(_addr(0x99), "BTC"),))
    assert src.twap_window_s == 1 and src.native_asset == "ETH"
