"""Read the whole book at one block in a few batched round trips.

Stages (each one Multicall3 ``execute``, i.e. one JSON-RPC round trip):

0. the block header (``eth_getBlockByNumber``: number, timestamp, base fee), latest or the pinned block;
1. LP NFT counts, option books, perp markets and positions, feeds, balances (tokens, and the
   owners' native coin through Multicall3's ``getEthBalance``), token metadata, oracle and hedge
   pools' state and TWAP;
   Uniswap v4 positions' owners (``ownerOf``) and pool keys and ranges (``getPoolAndPositionInfo``);
2. LP token ids (``tokenOfOwnerByIndex``) and option series details; the owners' v4 positions'
   liquidity and fee checkpoints, their pools (slot0, liquidity, fee growth) and boundary ticks
   (StateView);
3. LP positions (``positions``);
4. the LPs' pools (slot0, liquidity, fee growth) and their boundary ticks (fee growth outside).

Aave v3 pools ride in stages 1-3 (no round trip of their own): the pool's addresses provider, its
reserve list and each owner's configuration bitmap and e-mode (1); the price oracle and each reserve's
data and indexes at the block (2); oracle prices and each owner's scaled aToken / variable-debt and
stable-debt balances in every reserve (3).

A call that fails is recorded as a :class:`ReadFailure` naming what it was reading; the
position is then absent from the snapshot (never zero) and the snapshot is incomplete.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from keeper.chain.abi_fast import checksum
from keeper.chain.multicall import Call, Failed, Multicall, Result, eth_balance_call
from keeper.chain.rpc import RpcClient
from keeper.core.snapshot import (
    AaveAccountState,
    AaveMarketState,
    AaveReserveState,
    FeedReading,
    LpPosition,
    OptionPosition,
    PerpMarketState,
    PerpPosition,
    PoolHistory,
    PoolState,
    ReadFailure,
    Snapshot,
    TickFees,
    TokenMeta,
    TwapReading,
    V4LpPosition,
    V4PoolKey,
    V4PoolState,
    V4QuoteReading,
)
from keeper.errors import ChainError, InputError
from keeper.venues import aave_v3, chainlink, erc20, options, perps, uniswap_v3, uniswap_v4

__all__ = ["AssetSource", "BookReader", "BookSources", "PerpSource", "V4Sources"]


@dataclass(frozen=True)
class AssetSource:
    """An underlying the book has delta to."""

    symbol: str
    token: str
    """The token that carries it on-chain (WETH for ETH)."""
    feed: str
    """Chainlink-style USD feed."""
    oracle_pool: str | None = None
    """A Uniswap v3 pool against the quote token for spot and TWAP checks (None: feed only)."""
    hedge_pools: tuple[str, ...] = ()
    """Uniswap v3 pools (against the quote token) the keeper may swap in; read every cycle."""


@dataclass(frozen=True)
class PerpSource:
    market: str
    underlying: str


@dataclass(frozen=True)
class V4HedgeSource:
    """A Uniswap v4 pool the keeper may hedge ``symbol`` in: read every cycle (slot0, liquidity) and
    quoted by the V4Quoter, a sell of ``quote_size_units`` of the underlying and a buy with the quote
    token worth as much at the feed."""

    key: V4PoolKey
    symbol: str
    quote_size_units: float = 10.0


@dataclass(frozen=True)
class V4Sources:
    """Uniswap v4 positions to read: the PositionManager, StateView and candidate token ids.

    The v4 PositionManager cannot enumerate an owner's tokens, so the candidates come from the
    config or from :func:`keeper.venues.uniswap_v4.scan_token_ids` (``Transfer`` logs to the owners);
    at the snapshot block the reader keeps those whose ``ownerOf`` is one of the owners.
    """

    position_manager: str
    state_view: str
    token_ids: tuple[int, ...]
    native_asset: str | None = None
    """The asset a pool's native currency (the zero address) is exposure to (``ETH``)."""
    hedge_pools: tuple[V4HedgeSource, ...] = ()
    """Pools the keeper may swap in (through the UniversalRouter), quoted by ``quoter``."""
    quoter: str | None = None
    """The V4Quoter (``None``: hedge pools are estimated from their liquidity only)."""

    def __post_init__(self) -> None:
        if len(set(self.token_ids)) != len(self.token_ids):
            raise InputError("token_ids", f"duplicate v4 token ids in {list(self.token_ids)}")
        if any(t < 0 for t in self.token_ids):
            raise InputError("token_ids", f"v4 token ids are non-negative integers, got {list(self.token_ids)}")


@dataclass(frozen=True)
class BookSources:
    owners: tuple[str, ...]
    position_manager: str
    factory: str
    quote_token: str
    assets: tuple[AssetSource, ...]
    option_markets: tuple[str, ...] = ()
    perp_markets: tuple[PerpSource, ...] = ()
    twap_window_s: int = 1800
    otc_positions: tuple[OptionPosition, ...] = ()
    native_asset: str | None = None
    """The asset the owners' native balances count as (``ETH`` when its token is WETH); ``None``: the
    native balances are read and shown but are not exposure (see ``Snapshot.native_asset``)."""
    histories: tuple[tuple[str, tuple[int, ...]], ...] = ()
    """(pool, seconds_agos): oracle histories read at the snapshot block for the vol models
    (:class:`keeper.core.vol.PoolHistoryVol`)."""
    aave_pools: tuple[str, ...] = ()
    """Aave v3 Pool (proxy) addresses whose accounts of the owners are read."""
    v4: V4Sources | None = None
    """Uniswap v4 positions of the owners (``None``: none read)."""

    def __post_init__(self) -> None:
        if not self.owners:
            raise InputError("owners", "at least one owner address is needed")
        if self.twap_window_s <= 0:
            raise InputError("twap_window_s", f"must be positive seconds, got {self.twap_window_s}")
        symbols = [a.symbol for a in self.assets]
        if len(set(symbols)) != len(symbols):
            raise InputError("assets", f"duplicate asset symbols in {symbols}")
        if self.native_asset is not None and self.native_asset not in symbols:
            raise InputError("native_asset", f"{self.native_asset!r} is not one of {symbols}")
        if len(set(self.aave_pools)) != len(self.aave_pools):
            raise InputError("aave_pools", f"duplicate pools in {list(self.aave_pools)}")
        if self.v4 is not None and self.v4.native_asset is not None and self.v4.native_asset not in symbols:
            raise InputError("v4.native_asset", f"{self.v4.native_asset!r} is not one of {symbols}")
        for p in self.perp_markets:
            if p.underlying not in symbols:
                raise InputError("perp_markets", f"{p.market}: underlying {p.underlying!r} is not one of {symbols}")


Handler = Callable[[Result], None]


class _Stage:
    def __init__(self, failures: list[ReadFailure]) -> None:
        self.calls: list[Call] = []
        self.handlers: list[Handler] = []
        self._failures = failures

    def add(self, call: Call, on_ok: Callable[[tuple[Any, ...]], None]) -> None:
        def handle(r: Result) -> None:
            if isinstance(r, Failed):
                self._failures.append(ReadFailure(call.label, r.reason))
                return
            try:
                on_ok(r.value)
            except (ValueError, TypeError, KeyError, IndexError, AssertionError) as exc:
                self._failures.append(ReadFailure(call.label, f"unexpected value: {exc}"))

        self.calls.append(call)
        self.handlers.append(handle)

    def add_optional(self, call: Call, on_ok: Callable[[tuple[Any, ...]], None]) -> None:
        """A read whose failure leaves the snapshot complete (a quote: the venue falls back to its liquidity)."""

        def handle(r: Result) -> None:
            if not isinstance(r, Failed):
                try:
                    on_ok(r.value)
                except (ValueError, TypeError, KeyError, IndexError):
                    return

        self.calls.append(call)
        self.handlers.append(handle)

    def add_group(self, calls: Sequence[Call], what: str, on_ok: Callable[[list[tuple[Any, ...]]], None]) -> None:
        """All of ``calls`` must succeed; then ``on_ok`` gets their values in order."""
        got: dict[int, tuple[Any, ...]] = {}
        failed: list[str] = []

        def make(i: int, call: Call) -> Handler:
            def handle(r: Result) -> None:
                if isinstance(r, Failed):
                    failed.append(f"{call.label}: {r.reason}")
                else:
                    got[i] = r.value
                if len(got) + len(failed) == len(calls):
                    if failed:
                        self._failures.append(ReadFailure(what, "; ".join(failed)))
                        return
                    try:
                        on_ok([got[j] for j in range(len(calls))])
                    except (ValueError, TypeError, KeyError, IndexError, AssertionError) as exc:
                        self._failures.append(ReadFailure(what, f"unexpected value: {exc}"))

            return handle

        for i, c in enumerate(calls):
            self.calls.append(c)
            self.handlers.append(make(i, c))


@dataclass
class _AaveRead:
    providers: dict[str, str] = field(default_factory=dict)
    reserve_lists: dict[str, list[str]] = field(default_factory=dict)
    user_config: dict[tuple[str, str], int] = field(default_factory=dict)
    e_mode: dict[tuple[str, str], int] = field(default_factory=dict)
    oracles: dict[str, str] = field(default_factory=dict)
    reserve_parts: dict[tuple[str, str], list[tuple[Any, ...]]] = field(default_factory=dict)
    prices: dict[tuple[str, str], int] = field(default_factory=dict)
    balances: dict[tuple[str, str, str, str], int] = field(default_factory=dict)
    """(pool, owner, asset, kind: a | v | s) -> raw."""


@dataclass
class _Book:
    timestamp: int = -1
    tokens: dict[str, TokenMeta] = field(default_factory=dict)
    token_parts: dict[str, dict[str, Any]] = field(default_factory=dict)
    pools: dict[str, PoolState] = field(default_factory=dict)
    twaps: dict[str, TwapReading] = field(default_factory=dict)
    histories: dict[str, PoolHistory] = field(default_factory=dict)
    feeds: dict[str, FeedReading] = field(default_factory=dict)
    balances: dict[tuple[str, str], int] = field(default_factory=dict)
    native_balances: dict[str, int] = field(default_factory=dict)
    lp_counts: dict[str, int] = field(default_factory=dict)
    lp_ids: list[tuple[str, int]] = field(default_factory=list)
    lps: list[LpPosition] = field(default_factory=list)
    books: list[tuple[str, str, list[int], list[int], list[int]]] = field(default_factory=list)
    options: list[OptionPosition] = field(default_factory=list)
    perp_markets: dict[str, PerpMarketState] = field(default_factory=dict)
    perps: list[PerpPosition] = field(default_factory=list)
    base_fee: int = -1
    aave: _AaveRead = field(default_factory=_AaveRead)
    v4_owned: list[tuple[int, str, V4PoolKey, int, int]] = field(default_factory=list)
    """(token id, owner, key, tick lower, tick upper) of the owners' v4 positions (stage 1)."""
    v4_pool_parts: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    v4_ticks: dict[str, dict[int, TickFees]] = field(default_factory=dict)
    v4_lps: list[V4LpPosition] = field(default_factory=list)
    v4_quotes: list[V4QuoteReading] = field(default_factory=list)


class BookReader:
    """Reads a :class:`Snapshot` of ``sources`` through ``multicall``."""

    def __init__(self, rpc: RpcClient, sources: BookSources, multicall: Multicall | None = None) -> None:
        self.rpc = rpc
        self.sources = sources
        self.multicall = multicall or Multicall(rpc)

    def _run(self, stage: _Stage, block: int) -> None:
        if not stage.calls:
            return
        for handler, result in zip(stage.handlers, self.multicall.execute(stage.calls, block), strict=True):
            handler(result)

    # Long on purpose: the reader's five staged round trips, each stage's calls and handlers in order.
    def read(self, block: int | None = None, chain_id: int | None = None) -> Snapshot:  # noqa: C901, PLR0912, PLR0915
        src = self.sources
        trips0 = self.rpc.round_trips
        failures: list[ReadFailure] = []
        book = _Book()
        # The block header pins the read and gives its timestamp and base fee exactly as mined (an
        # eth_call's own environment may differ on a node's pending block, or on a fork).
        header = self.rpc.call("eth_getBlockByNumber", ["latest" if block is None else hex(block), False])
        if not isinstance(header, dict):
            raise ChainError(f"block {block if block is not None else 'latest'}: the node has no such block")
        block = int(header["number"], 16)
        book.timestamp = int(header["timestamp"], 16)
        book.base_fee = int(header.get("baseFeePerGas", "0x0"), 16)

        # ---- stage 1
        s1 = _Stage(failures)
        known_tokens = {src.quote_token, *(a.token for a in src.assets)}
        for token in known_tokens:
            self._add_token_meta(s1, book, token)
        for owner in src.owners:
            s1.add(uniswap_v3.balance_call(src.position_manager, owner), _put_int(book.lp_counts, owner))
            for token in known_tokens:
                s1.add(erc20.balance_of_call(token, owner), _put_int(book.balances, (owner, token)))
            s1.add(self._native_balance_call(owner), _put_int(book.native_balances, owner))
            for market in src.option_markets:
                s1.add(options.account_book_call(market, owner), _append_book(book, market, owner))
        for asset in src.assets:
            self._add_feed(s1, book, asset)
            if asset.oracle_pool is not None:
                self._add_pool(s1, book, asset.oracle_pool)
                self._add_twap(s1, book, asset.oracle_pool, src.twap_window_s)
            for pool in asset.hedge_pools:
                if pool != asset.oracle_pool:
                    self._add_pool(s1, book, pool)
        for pool, agos in src.histories:
            self._add_history(s1, book, pool, agos)
        av = book.aave
        for pool in src.aave_pools:
            s1.add(aave_v3.addresses_provider_call(pool), _put_str(av.providers, pool))
            s1.add(aave_v3.reserves_list_call(pool), _put_list(av.reserve_lists, pool))
            for owner in src.owners:
                s1.add(aave_v3.user_configuration_call(pool, owner), _put_int(av.user_config, (pool, owner)))
                s1.add(aave_v3.user_emode_call(pool, owner), _put_int(av.e_mode, (pool, owner)))
        for perp in src.perp_markets:
            s1.add_group(perps.market_calls(perp.market), f"perp market {perp.market}", _perp_market(book, perp))
            for owner in src.owners:
                s1.add_group(
                    perps.position_calls(perp.market, owner), f"perp position of {owner} in {perp.market}",
                    _perp_position(book, perp, owner),
                )
        if src.v4 is not None:
            owners = {o.lower() for o in src.owners}
            for token_id in src.v4.token_ids:
                s1.add_group([uniswap_v4.owner_of_call(src.v4.position_manager, token_id),
                              uniswap_v4.pool_and_position_info_call(src.v4.position_manager, token_id)],
                             f"v4 position {token_id}", _v4_owned(book, token_id, owners))
        self._run(s1, block)

        # ---- stage 2
        s2 = _Stage(failures)
        for owner, count in book.lp_counts.items():
            for i in range(count):
                s2.add(uniswap_v3.token_of_owner_call(src.position_manager, owner, i), _append_lp_id(book, owner))
        by_token = {a.token.lower(): a.symbol for a in src.assets}
        for market, owner, ids, longs, shorts in book.books:
            for sid, lg, sh in zip(ids, longs, shorts, strict=True):
                if lg == 0 and sh == 0:
                    continue

                def on_series(v: tuple[Any, ...], m: str = market, o: str = owner, sid: int = sid,
                              lg: int = lg, sh: int = sh) -> None:
                    symbol = by_token.get(str(v[1]).lower())
                    if symbol is None:
                        raise ValueError(f"underlying {v[1]} is not a configured asset")
                    book.options.append(options.parse_series(m, o, sid, lg, sh, symbol, v))

                s2.add(options.series_details_call(market, sid), on_series)
        for pool, provider in av.providers.items():
            s2.add(aave_v3.price_oracle_call(provider), _put_str(av.oracles, pool))
        for pool, reserve_assets in av.reserve_lists.items():
            for ra in reserve_assets:
                s2.add_group(
                    [aave_v3.reserve_data_call(pool, ra), aave_v3.normalized_income_call(pool, ra),
                     aave_v3.normalized_debt_call(pool, ra)],
                    f"Aave reserve {ra} in {pool}", _put_parts(av.reserve_parts, (pool, ra)),
                )
        v4_keys = self._add_v4_positions(s2, book) if src.v4 is not None else {}
        self._run(s2, block)

        # ---- stage 3
        s3 = _Stage(failures)
        raw_positions: list[tuple[str, int, tuple[Any, ...]]] = []
        for owner, token_id in book.lp_ids:
            call = uniswap_v3.position_call(src.position_manager, token_id)
            s3.add(call, _append_raw(raw_positions, owner, token_id))
        for (pool, ra), parts in av.reserve_parts.items():
            oracle = av.oracles.get(pool)
            if oracle is not None:
                s3.add(aave_v3.asset_price_call(oracle, ra), _put_int(av.prices, (pool, ra)))
            d = parts[0]
            for owner in src.owners:
                for kind, call in (("a", aave_v3.scaled_balance_call(str(d[8]), owner)),
                                   ("v", aave_v3.scaled_balance_call(str(d[10]), owner)),
                                   ("s", aave_v3.balance_of_call(str(d[9]), owner))):
                    s3.add(call, _put_int(av.balances, (pool, owner, ra, kind)))
        self._run(s3, block)
        aave_markets, aave_accounts = _aave_book(src, av, failures)

        # ---- stage 4
        s4 = _Stage(failures)
        needed_ticks: dict[str, set[int]] = {}
        pool_keys: dict[str, tuple[str, str, int]] = {}
        for owner, token_id, v in raw_positions:
            token0, token1, fee = checksum(v[2]), checksum(v[3]), int(v[4])
            pool = uniswap_v3.pool_address(src.factory, token0, token1, fee)
            book.lps.append(uniswap_v3.parse_position(token_id, owner, pool, v))
            pool_keys[pool] = (token0, token1, fee)
            needed_ticks.setdefault(pool, set()).update((int(v[5]), int(v[6])))
            for token in (token0, token1):
                if token not in book.tokens and token not in book.token_parts:
                    self._add_token_meta(s4, book, token)
        pool_parts: dict[str, list[tuple[Any, ...]]] = {}
        tick_data: dict[str, dict[int, TickFees]] = {}
        for pool in pool_keys:
            if pool in book.pools:
                continue
            s4.add_group(uniswap_v3.pool_calls(pool), f"pool {pool}", _put_parts(pool_parts, pool))
        for pool, tick_set in needed_ticks.items():
            for tick in sorted(tick_set):
                s4.add(uniswap_v3.tick_call(pool, tick), _put_tick(tick_data.setdefault(pool, {}), tick))
        self._run(s4, block)

        for pool, parts in pool_parts.items():
            t0, t1, fee = pool_keys[pool]
            book.pools[pool] = uniswap_v3.pool_from_parts(pool, t0, t1, fee, parts, tick_data.get(pool, {}))
        for pool, ticks in tick_data.items():
            if pool in book.pools and pool not in pool_parts:
                old = book.pools[pool]
                book.pools[pool] = replace(old, ticks={**old.ticks, **ticks})
        lps = []
        for lp in book.lps:
            state = book.pools.get(lp.pool)
            if state is None or lp.tick_lower not in state.ticks or lp.tick_upper not in state.ticks:
                failures.append(ReadFailure(f"LP {lp.token_id}", "its pool or boundary ticks could not be read"))
                continue
            lps.append(lp)
        v4_pools = self._finish_v4(book, v4_keys, failures)
        self._finish_tokens(book, failures)
        if book.timestamp < 0:
            failures.append(ReadFailure("block timestamp", "not read"))
        if book.base_fee < 0:
            failures.append(ReadFailure("block base fee", "not read"))

        return Snapshot(
            chain_id=chain_id if chain_id is not None else -1,
            block_number=block,
            block_timestamp=book.timestamp,
            owners=src.owners,
            tokens=book.tokens,
            pools=book.pools,
            lps=tuple(sorted(lps, key=lambda p: p.token_id)),
            options=tuple(sorted(book.options, key=lambda o: (o.source, o.series_id, o.owner))) + src.otc_positions,
            perp_markets=book.perp_markets,
            perps=tuple(book.perps),
            feeds=book.feeds,
            twaps=book.twaps,
            histories=book.histories,
            balances=book.balances,
            base_fee_wei=book.base_fee,
            failures=tuple(failures),
            round_trips=self.rpc.round_trips - trips0,
            native_balances=book.native_balances,
            native_asset=src.native_asset,
            aave_markets=aave_markets,
            aave_accounts=aave_accounts,
            v4_pools=v4_pools,
            v4_lps=tuple(sorted(book.v4_lps, key=lambda p: p.token_id)),
            v4_native_asset=src.v4.native_asset if src.v4 is not None else None,
            v4_quotes=tuple(book.v4_quotes),
        )

    # ------------------------------------------------------------------ Uniswap v4
    def _add_v4_positions(self, stage: _Stage, book: _Book) -> dict[str, V4PoolKey]:
        """Stage 2: each owned v4 position's liquidity and checkpoints, its pool and boundary ticks."""
        v4 = self.sources.v4
        assert v4 is not None
        keys: dict[str, V4PoolKey] = {}
        ticks: dict[str, set[int]] = {}
        for token_id, owner, key, lower, upper in book.v4_owned:
            pid = uniswap_v4.pool_id(key)
            keys[pid] = key
            ticks.setdefault(pid, set()).update((lower, upper))
            call = uniswap_v4.position_info_call(v4.state_view, pid, v4.position_manager, lower, upper, token_id)

            def on_position(v: tuple[Any, ...], t: int = token_id, o: str = owner, p: str = pid,
                            lo: int = lower, hi: int = upper) -> None:
                book.v4_lps.append(uniswap_v4.parse_position(t, o, p, lo, hi, v))

            stage.add(call, on_position)
            for currency in (key.currency0, key.currency1):
                if currency != uniswap_v4.NATIVE and currency not in book.tokens and currency not in book.token_parts:
                    self._add_token_meta(stage, book, currency)
        self._add_v4_hedge_pools(stage, book, keys, ticks)
        for pid in keys:
            stage.add_group(uniswap_v4.pool_calls(v4.state_view, pid), f"v4 pool {pid}",
                            _put_parts(book.v4_pool_parts, pid))
            for tick in sorted(ticks[pid]):
                stage.add(uniswap_v4.tick_info_call(v4.state_view, pid, tick),
                          _put_v4_tick(book.v4_ticks.setdefault(pid, {}), tick))
        return keys

    def _add_v4_hedge_pools(self, stage: _Stage, book: _Book, keys: dict[str, V4PoolKey],
                            ticks: dict[str, set[int]]) -> None:
        """Stage 2: the hedge pools join the pools read (no ticks needed), and the V4Quoter prices a sell
        of each pool's ``quote_size_units`` and a buy with as much quote token at the feed (stage 1's)."""
        v4 = self.sources.v4
        assert v4 is not None
        quote = self.sources.quote_token
        for h in v4.hedge_pools:
            pid = uniswap_v4.pool_id(h.key)
            keys[pid] = h.key
            ticks.setdefault(pid, set())
            if v4.quoter is None:
                continue
            u_is_0 = h.key.currency1.lower() == quote.lower()
            under = h.key.currency0 if u_is_0 else h.key.currency1
            dec_u = 18 if under == uniswap_v4.NATIVE else book.token_parts.get(under, {}).get("decimals")
            dec_q = book.token_parts.get(quote, {}).get("decimals")
            feed = book.feeds.get(h.symbol)
            if dec_u is None or dec_q is None or feed is None:
                continue  # the token or feed read failed in stage 1: already a failure of the snapshot
            sell_in = int(h.quote_size_units * 10**dec_u)
            buy_in = int(h.quote_size_units * feed.price * 10**dec_q)
            for zfo, amount in ((u_is_0, sell_in), (not u_is_0, buy_in)):
                if amount <= 0:
                    continue

                def on_quote(v: tuple[Any, ...], p: str = pid, z: bool = zfo, a: int = amount) -> None:
                    book.v4_quotes.append(V4QuoteReading(p, z, a, int(v[0])))

                stage.add_optional(uniswap_v4.quote_exact_input_single_call(v4.quoter, h.key, zfo, amount), on_quote)

    @staticmethod
    def _finish_v4(book: _Book, keys: dict[str, V4PoolKey], failures: list[ReadFailure]) -> dict[str, V4PoolState]:
        pools = {pid: uniswap_v4.parse_pool(pid, keys[pid], parts, book.v4_ticks.get(pid, {}))
                 for pid, parts in book.v4_pool_parts.items()}
        kept = []
        for lp in book.v4_lps:
            pool = pools.get(lp.pool_id)
            if pool is None or lp.tick_lower not in pool.ticks or lp.tick_upper not in pool.ticks:
                failures.append(ReadFailure(f"v4 LP {lp.token_id}", "its pool or boundary ticks could not be read"))
                continue
            kept.append(lp)
        book.v4_lps = kept
        return pools

    # ------------------------------------------------------------------ helpers
    def _native_balance_call(self, owner: str) -> Call:
        """Multicall3's own ``getEthBalance(owner)``: the native balance in wei, in the same batch."""
        return eth_balance_call(owner, self.multicall.address)

    @staticmethod
    def _add_token_meta(stage: _Stage, book: _Book, token: str) -> None:
        parts = book.token_parts.setdefault(token, {})
        stage.add(erc20.decimals_call(token), lambda v: parts.__setitem__("decimals", int(v[0])))
        stage.add(erc20.symbol_call(token), lambda v: parts.__setitem__("symbol", str(v[0])))

    @staticmethod
    def _finish_tokens(book: _Book, failures: list[ReadFailure]) -> None:
        for token, parts in book.token_parts.items():
            if "decimals" in parts and "symbol" in parts:
                book.tokens[token] = TokenMeta(token, parts["symbol"], parts["decimals"])
            elif not any(token in f.what for f in failures):
                failures.append(ReadFailure(f"token {token}", "decimals or symbol missing"))

    @staticmethod
    def _add_feed(stage: _Stage, book: _Book, asset: AssetSource) -> None:
        calls = [
            chainlink.latest_round_call(asset.feed, asset.symbol), chainlink.decimals_call(asset.feed, asset.symbol)
        ]

        def on_ok(parts: list[tuple[Any, ...]]) -> None:
            reading = chainlink.parse_round(asset.symbol, asset.feed, int(parts[1][0]), parts[0])
            if reading.answer <= 0:
                raise ValueError(f"non-positive answer {reading.answer}")
            book.feeds[asset.symbol] = reading

        stage.add_group(calls, f"feed {asset.symbol}", on_ok)

    @staticmethod
    def _add_pool(stage: _Stage, book: _Book, pool: str) -> None:
        calls = [
            *uniswap_v3.pool_calls(pool),
            uniswap_v3.token0_call(pool),
            uniswap_v3.token1_call(pool),
            uniswap_v3.fee_call(pool),
        ]

        def on_pool(parts: list[tuple[Any, ...]]) -> None:
            t0, t1, fee = checksum(parts[4][0]), checksum(parts[5][0]), int(parts[6][0])
            book.pools[pool] = uniswap_v3.pool_from_parts(pool, t0, t1, fee, parts[:4], {})

        stage.add_group(calls, f"pool {pool}", on_pool)

    @staticmethod
    def _add_history(stage: _Stage, book: _Book, pool: str, agos: tuple[int, ...]) -> None:
        def on_history(v: tuple[Any, ...]) -> None:
            cums = tuple(int(c) for c in v[0])
            assert len(cums) == len(agos)
            book.histories[pool] = PoolHistory(pool, agos, cums)

        stage.add(uniswap_v3.history_call(pool, agos), on_history)

    @staticmethod
    def _add_twap(stage: _Stage, book: _Book, pool: str, window_s: int) -> None:
        # observe() reverts with "OLD" when the oldest observation is younger than the window,
        # i.e. when observation cardinality does not cover it: the TWAP is then reported missing.
        def on_twap(v: tuple[Any, ...]) -> None:
            book.twaps[pool] = uniswap_v3.parse_twap(pool, window_s, v)

        stage.add(uniswap_v3.observe_call(pool, window_s), on_twap)


# ---------------------------------------------------------------------- typed result handlers
K = TypeVar("K")
OnOk = Callable[[tuple[Any, ...]], None]
OnGroup = Callable[[list[tuple[Any, ...]]], None]


def _put_int(d: dict[K, int], key: K) -> OnOk:
    def put(v: tuple[Any, ...]) -> None:
        d[key] = int(v[0])

    return put


def _put_str(d: dict[str, str], key: str) -> OnOk:
    def put(v: tuple[Any, ...]) -> None:
        d[key] = checksum(str(v[0]))

    return put


def _put_list(d: dict[str, list[str]], key: str) -> OnOk:
    def put(v: tuple[Any, ...]) -> None:
        d[key] = [checksum(str(a)) for a in v[0]]

    return put


def _aave_book(
    src: BookSources, av: _AaveRead, failures: list[ReadFailure]
) -> tuple[dict[str, AaveMarketState], tuple[AaveAccountState, ...]]:
    """Assemble the Aave markets and the owners' accounts; an owner whose account touches a reserve
    that could not be read is a failure (never a zero)."""
    markets: dict[str, AaveMarketState] = {}
    accounts: list[AaveAccountState] = []
    for pool in src.aave_pools:
        if pool not in av.reserve_lists or pool not in av.oracles:
            continue  # its failure is already recorded
        market = _aave_market(pool, av, failures)
        markets[pool] = market
        for owner in src.owners:
            acct = _aave_account(market, owner, av, failures)
            if acct is not None:
                accounts.append(acct)
    return markets, tuple(accounts)


def _aave_market(pool: str, av: _AaveRead, failures: list[ReadFailure]) -> AaveMarketState:
    reserves: dict[str, AaveReserveState] = {}
    for asset in av.reserve_lists[pool]:
        parts, price = av.reserve_parts.get((pool, asset)), av.prices.get((pool, asset))
        if parts is None:
            continue  # recorded by its group
        if price is None:
            failures.append(ReadFailure(f"Aave reserve {asset} in {pool}", "its oracle price is missing"))
            continue
        try:
            reserves[asset] = aave_v3.parse_reserve(asset, parts[0], int(parts[1][0]), int(parts[2][0]), price)
        except ValueError as exc:
            failures.append(ReadFailure(f"Aave reserve {asset} in {pool}", f"unexpected value: {exc}"))
    return AaveMarketState(pool=pool, oracle=av.oracles[pool], reserves=reserves)


def _aave_account(
    market: AaveMarketState, owner: str, av: _AaveRead, failures: list[ReadFailure]
) -> AaveAccountState | None:
    """``None``: the owner has nothing there, or its account is a failure (recorded)."""
    pool = market.pool
    cfg, mode = av.user_config.get((pool, owner)), av.e_mode.get((pool, owner))
    if cfg is None or mode is None:
        return None  # recorded
    what = f"Aave account of {owner} in {pool}"
    got: dict[str, dict[str, int]] = {"a": {}, "v": {}, "s": {}}
    missing: set[str] = set()
    for asset in av.reserve_lists[pool]:
        for kind, held in got.items():
            raw = av.balances.get((pool, owner, asset, kind))
            if raw is None:
                missing.add(asset)
            elif raw:
                held[asset] = raw
    unread = sorted(missing | {a for held in got.values() for a in held if a not in market.reserves})
    if unread:
        failures.append(ReadFailure(what, f"reserves unread: {', '.join(unread)}"))
        return None
    if cfg == 0 and not any(got.values()):
        return None
    return AaveAccountState(pool=pool, owner=owner, user_configuration=cfg, e_mode=mode,
                            scaled_supply=got["a"], scaled_variable_debt=got["v"], stable_debt=got["s"])


def _append_book(book: _Book, market: str, owner: str) -> OnOk:
    def put(v: tuple[Any, ...]) -> None:
        ids, longs, shorts = [int(x) for x in v[0]], [int(x) for x in v[1]], [int(x) for x in v[2]]
        if not len(ids) == len(longs) == len(shorts):  # a failure of this book, not of the whole read
            raise ValueError(f"series ids, longs and shorts differ in length ({len(ids)}, {len(longs)}, {len(shorts)})")
        book.books.append((market, owner, ids, longs, shorts))

    return put


def _append_lp_id(book: _Book, owner: str) -> OnOk:
    def put(v: tuple[Any, ...]) -> None:
        book.lp_ids.append((owner, int(v[0])))

    return put


def _append_raw(out: list[tuple[str, int, tuple[Any, ...]]], owner: str, token_id: int) -> OnOk:
    def put(v: tuple[Any, ...]) -> None:
        out.append((owner, token_id, v))

    return put


def _put_tick(d: dict[int, TickFees], tick: int) -> OnOk:
    def put(v: tuple[Any, ...]) -> None:
        d[tick] = uniswap_v3.parse_tick(tick, v)

    return put


def _v4_owned(book: _Book, token_id: int, owners: set[str]) -> OnGroup:
    """Keep a v4 token id when its owner at the snapshot block is one of ``owners``."""
    def put(parts: list[tuple[Any, ...]]) -> None:
        owner = checksum(str(parts[0][0]))
        if owner.lower() not in owners:
            return  # sold or moved: not the treasury's any more, by the chain's own answer
        key = uniswap_v4.parse_key(parts[1][0])
        lower, upper, _ = uniswap_v4.parse_position_info(int(parts[1][1]))
        book.v4_owned.append((token_id, owner, key, lower, upper))

    return put


def _put_v4_tick(d: dict[int, TickFees], tick: int) -> OnOk:
    def put(v: tuple[Any, ...]) -> None:
        d[tick] = uniswap_v4.parse_tick(tick, v)

    return put


def _put_parts(d: dict[K, list[tuple[Any, ...]]], pool: K) -> OnGroup:
    def put(parts: list[tuple[Any, ...]]) -> None:
        d[pool] = parts

    return put


def _perp_market(book: _Book, perp: PerpSource) -> OnGroup:
    def put(parts: list[tuple[Any, ...]]) -> None:
        book.perp_markets[perp.market] = perps.parse_market(perp.market, perp.underlying, parts)

    return put


def _perp_position(book: _Book, perp: PerpSource, owner: str) -> OnGroup:
    def put(parts: list[tuple[Any, ...]]) -> None:
        book.perps.append(perps.parse_position(perp.market, owner, perp.underlying, parts))

    return put
