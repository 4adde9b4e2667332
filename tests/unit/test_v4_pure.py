"""Uniswap v4 pure pieces: fee math, PositionInfo decoding, pool ids, hook flags, the book's v4 lines,
and the reader/config inputs."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from keeper.config import UniswapV4Config
from keeper.core.book import V4_NATIVE, V4LpLine, book_risk, line_risk, v4_hook_risks, v4_lp_holdings
from keeper.core.lp_math import fee_growth_inside, get_amount0_delta, get_amount1_delta, v4_fees_owed
from keeper.core.snapshot import (
    FeedReading,
    Snapshot,
    TickFees,
    TokenMeta,
    V4LpPosition,
    V4PoolKey,
    V4PoolState,
)
from keeper.core.tick_math import Q128, UINT256_MAX, get_sqrt_ratio_at_tick
from keeper.errors import InputError
from keeper.read.reader import AssetSource, BookSources, V4Sources
from keeper.venues import uniswap_v4 as v4
from keeper.view.report import position_records, render_positions, render_snapshot

USDC = "0x" + "1b" * 20
WBTC = "0x" + "2c" * 20  # sorts after USDC: the risky currency is currency1
OWNER = "0x" + "aa" * 20
NOW = 1_700_000_000


# --------------------------------------------------------------------------- fee math


def test_v4_fees_are_the_growth_since_the_checkpoint_times_liquidity_shifted_128_with_wrap_around() -> None:
    liq = 10**18
    assert v4_fees_owed(liq, 5 * Q128, 7 * Q128, 2 * Q128, 7 * Q128) == (3 * liq, 0)
    # the checkpoint above the current growth: uint256 wrap-around, as the contract's unchecked subtraction
    last = UINT256_MAX - Q128 + 1  # == -Q128 mod 2^256
    assert v4_fees_owed(liq, Q128, 0, last, 0) == (2 * liq, 0)
    # floor, not round
    assert v4_fees_owed(3, Q128 // 2, 0, 0, 0) == (1, 0)


def test_v4_fees_beyond_int128_are_refused_as_the_pool_manager_reverts() -> None:
    with pytest.raises(InputError, match="int128"):
        v4_fees_owed(2**127, 2 * Q128, 0, 0, 0)
    with pytest.raises(InputError, match="liquidity"):
        v4_fees_owed(-1, 0, 0, 0, 0)


# --------------------------------------------------------------------------- adapter decoding


@pytest.mark.parametrize(("lower", "upper", "sub"), [(-887220, 887220, False), (-200, -100, True), (60, 120, False)])
def test_position_info_unpacks_ticks_with_their_sign_and_the_subscriber_bit(lower: int, upper: int, sub: bool) -> None:
    pool_bits = int("ab" * 25, 16) << 56  # the truncated pool id in the top 200 bits
    packed = pool_bits | ((upper & 0xFFFFFF) << 32) | ((lower & 0xFFFFFF) << 8) | int(sub)
    assert v4.parse_position_info(packed) == (lower, upper, sub)


def test_pool_id_is_the_keccak_of_the_abi_encoded_key_and_each_field_counts() -> None:
    key = V4PoolKey(V4_NATIVE, USDC, 500, 10, V4_NATIVE)
    words = b"".join(x.to_bytes(32, "big") for x in (0, int(USDC, 16), 500, 10, 0))
    assert v4.pool_id(key) == "0x" + keccak(words).hex()
    assert encode([v4.POOL_KEY_TYPE], [(V4_NATIVE, USDC, 500, 10, V4_NATIVE)]) == words
    others = {v4.pool_id(V4PoolKey(V4_NATIVE, USDC, 3000, 10, V4_NATIVE)),
              v4.pool_id(V4PoolKey(V4_NATIVE, USDC, 500, 60, V4_NATIVE)),
              v4.pool_id(V4PoolKey(V4_NATIVE, USDC, 500, 10, "0x" + "00" * 18 + "0101"))}
    assert v4.pool_id(key) not in others and len(others) == 3


def test_negative_ticks_are_encoded_as_int24_in_reads() -> None:
    call = v4.tick_info_call("0x" + "11" * 20, "0x" + "ab" * 32, -887220)
    assert call.calldata[4 + 32:4 + 64] == (-887220 % 2**256).to_bytes(32, "big")
    with pytest.raises(InputError, match="pool_id"):
        v4.slot0_call("0x" + "11" * 20, "0xabcd")


# --------------------------------------------------------------------------- hooks


def test_hook_risks_come_from_the_address_bits_and_the_dynamic_fee_flag() -> None:
    assert v4_hook_risks(V4PoolKey(V4_NATIVE, USDC, 500, 10, V4_NATIVE)) == ()
    only_swap = "0x" + "c0de" * 9 + "00c0"  # beforeSwap | afterSwap: no change to what LPs are paid
    assert v4_hook_risks(V4PoolKey(V4_NATIVE, USDC, 500, 10, only_swap)) == ()
    remove = "0x" + "c0de" * 9 + "0101"  # afterRemoveLiquidity | afterRemoveLiquidityReturnsDelta
    risks = v4_hook_risks(V4PoolKey(V4_NATIVE, USDC, 500, 10, remove))
    assert len(risks) == 2 and risks[0].startswith("afterRemoveLiquidity:")
    assert "take part of what a withdrawal pays" in risks[1]
    dynamic = v4_hook_risks(V4PoolKey(V4_NATIVE, USDC, v4.DYNAMIC_FEE_FLAG, 10, only_swap))
    assert dynamic == ("dynamic fee: the hook sets the LP fee of every swap",)
    assert v4.hook_permissions(remove) == ("afterRemoveLiquidity", "afterRemoveLiquidityReturnsDelta")
    # bits above the low 14 are not permissions
    assert v4.hook_permissions("0x" + "ff" * 18 + "0000") == ()


# --------------------------------------------------------------------------- the book


def _snapshot(lps: tuple[V4LpPosition, ...], pools: dict[str, V4PoolState], native: str | None = "ETH") -> Snapshot:
    return Snapshot(
        chain_id=1, block_number=10, block_timestamp=NOW, owners=(OWNER,),
        tokens={USDC: TokenMeta(USDC, "USDC", 6), WBTC: TokenMeta(WBTC, "WBTC", 8)},
        pools={}, lps=(), options=(), perp_markets={}, perps=(),
        feeds={"ETH": FeedReading("ETH", "0x" + "f1" * 20, 3000 * 10**8, 8, NOW, 1),
               "BTC": FeedReading("BTC", "0x" + "f2" * 20, 60000 * 10**8, 8, NOW, 1)},
        twaps={}, balances={}, v4_pools=pools, v4_lps=lps, v4_native_asset=native,
    )


def _pool(key: V4PoolKey, tick: int, ticks: tuple[int, ...], g0: int, g1: int) -> tuple[str, V4PoolState]:
    pid = v4.pool_id(key)
    # growth "outside" a tick shrinks with its distance from the current tick (consistent with the globals)
    def out(t: int, g: int) -> int:
        return g // 4 * 1000 // (abs(t - tick) + 1000)

    fees = {t: TickFees(t, out(t, g0), out(t, g1), True) for t in ticks}
    return pid, V4PoolState(pid, key, get_sqrt_ratio_at_tick(tick) + 12345, tick, 0, key.fee, 10**20, g0, g1, fees)


ETH_KEY = V4PoolKey(V4_NATIVE, USDC, 500, 10, V4_NATIVE)
BTC_KEY = V4PoolKey(USDC, WBTC, 3000, 60, V4_NATIVE)
ETH_TICK = -196_250  # ~3,000 USDC per ETH (raw units: 6 - 18 decimals)
BTC_TICK = 195_780  # WBTC is currency1: raw USDC per raw WBTC inverted


def _book() -> tuple[Snapshot, dict[int, V4LpPosition]]:
    eth_pid, eth_pool = _pool(ETH_KEY, ETH_TICK, (-196_800, -195_700, -190_000, -189_000), 9 * Q128, 4 * Q128)
    btc_pid, btc_pool = _pool(BTC_KEY, BTC_TICK, (195_000, 196_500), 3 * Q128, 10 * Q128)
    lps = {
        1: V4LpPosition(1, OWNER, eth_pid, -196_800, -195_700, 10**16, Q128, Q128 // 2),      # in range
        2: V4LpPosition(2, OWNER, eth_pid, -190_000, -189_000, 10**15, 0, 0),                 # above: all ETH
        3: V4LpPosition(3, OWNER, btc_pid, 195_000, 196_500, 10**12, Q128 // 2, UINT256_MAX),  # wrapped checkpoint
    }
    return _snapshot(tuple(lps.values()), {eth_pid: eth_pool, btc_pid: btc_pool}), lps


def test_v4_holdings_are_the_pool_math_at_slot0_and_the_fee_growth_inside() -> None:
    snap, lps = _book()
    for lp in lps.values():
        pool = snap.v4_pools[lp.pool_id]
        h = v4_lp_holdings(snap, lp)
        sa, sb = get_sqrt_ratio_at_tick(lp.tick_lower), get_sqrt_ratio_at_tick(lp.tick_upper)
        if pool.tick < lp.tick_lower:
            assert (h.principal0, h.principal1) == (get_amount0_delta(sa, sb, lp.liquidity, False), 0)
        elif pool.tick < lp.tick_upper:
            assert h.principal0 == get_amount0_delta(pool.sqrt_price_x96, sb, lp.liquidity, False)
            assert h.principal1 == get_amount1_delta(sa, pool.sqrt_price_x96, lp.liquidity, False)
        lo, hi = pool.ticks[lp.tick_lower], pool.ticks[lp.tick_upper]
        in0, in1 = fee_growth_inside(pool.tick, lp.tick_lower, lp.tick_upper, pool.fee_growth_global0_x128,
                                     pool.fee_growth_global1_x128, lo.fee_growth_outside0_x128,
                                     lo.fee_growth_outside1_x128, hi.fee_growth_outside0_x128,
                                     hi.fee_growth_outside1_x128)
        assert (h.fees0, h.fees1) == (((in0 - lp.fee_growth_inside0_last_x128) % 2**256) * lp.liquidity >> 128,
                                      ((in1 - lp.fee_growth_inside1_last_x128) % 2**256) * lp.liquidity >> 128)


def test_v4_lines_map_native_eth_and_an_inverted_pair_and_their_delta_is_the_risky_amount() -> None:
    snap, lps = _book()
    spots = {"ETH": 3000.0, "BTC": 60000.0}
    risk = book_risk(snap, {"ETH": "0x" + "ee" * 20, "BTC": WBTC}, USDC, spots, {"ETH": 0.6, "BTC": 0.5})
    lines = {x.lp.token_id: x for x in risk.lines if isinstance(x, V4LpLine)}
    assert lines[1].underlying == "ETH" and lines[1].underlying_is_token0 and lines[1].decimals0 == 18
    assert lines[3].underlying == "BTC" and not lines[3].underlying_is_token0 and lines[3].decimals1 == 8
    for tid, line in lines.items():
        r = line_risk(line, spots)
        assert r is not None
        h = v4_lp_holdings(snap, lps[tid])
        risky = (h.amount0 / 1e18) if line.underlying_is_token0 else (h.amount1 / 1e8)
        assert r.delta == pytest.approx(risky, rel=1e-12)
        assert (r.gamma < 0) == line.in_range and (r.gamma == 0) == (not line.in_range)
    assert not lines[2].in_range and v4_lp_holdings(snap, lps[2]).principal1 == 0
    # the pool's own price: ETH ~3,000 USD per ETH from the tick, BTC inverted (currency1)
    assert lines[1].pool_price == pytest.approx(1.0001**ETH_TICK * 1e12, rel=1e-3)
    assert lines[3].pool_price == pytest.approx(1 / (1.0001**BTC_TICK) * 1e2, rel=1e-3)
    # the records and the text name the hooks and add up to the book
    recs = position_records(snap, risk)
    assert sum(x["delta"] for x in recs["v4_lps"] if x["underlying"] == "ETH") == pytest.approx(
        risk.summaries["ETH"].delta, rel=1e-12)
    text = render_positions({"positions": recs, "greeks": {u: {"delta_units": s.delta, "spot_usd": s.spot,
                                                                 "gamma_usd_per_1pct": s.gamma_quote}
                                                             for u, s in risk.summaries.items()}, "block": 10})
    assert "Uniswap v4 LP positions (3)" in text and "ETH (native)/USDC" in text and "out of range" in text
    assert "Uniswap v4 positions (3)" in render_snapshot(snap)


def test_a_native_pool_without_a_native_asset_is_refused_naming_it() -> None:
    snap, _ = _book()
    no_native = _snapshot(snap.v4_lps, snap.v4_pools, native=None)
    with pytest.raises(InputError, match="native asset"):
        book_risk(no_native, {"ETH": "0x" + "ee" * 20, "BTC": WBTC}, USDC, {"ETH": 3000.0, "BTC": 6e4}, {})


def test_a_position_whose_ticks_were_not_read_is_refused() -> None:
    snap, lps = _book()
    pool = snap.v4_pools[lps[1].pool_id]
    broken = _snapshot(snap.v4_lps, {**snap.v4_pools, pool.pool_id: V4PoolState(
        pool.pool_id, pool.key, pool.sqrt_price_x96, pool.tick, 0, 500, 1, 0, 0, {})})
    with pytest.raises(InputError, match="tick -196800"):
        v4_lp_holdings(broken, lps[1])


# --------------------------------------------------------------------------- inputs


def test_sources_and_config_refuse_duplicate_ids_and_unknown_native_assets() -> None:
    pm, sv = "0x" + "11" * 20, "0x" + "22" * 20
    with pytest.raises(InputError, match="token_ids"):
        V4Sources(pm, sv, (1, 1))
    with pytest.raises(InputError, match="v4.native_asset"):
        BookSources(owners=(OWNER,), position_manager=pm, factory=pm, quote_token=USDC,
                    assets=(AssetSource("BTC", WBTC, pm),), v4=V4Sources(pm, sv, (1,), native_asset="ETH"))
    cfg = UniswapV4Config.model_validate({"position_manager": pm, "state_view": sv, "token_ids": [3, 1]})
    assert cfg.token_ids == (3, 1)
    with pytest.raises(ValueError, match="duplicate token ids"):
        UniswapV4Config.model_validate({"position_manager": pm, "state_view": sv, "token_ids": [3, 3]})
    with pytest.raises(ValueError, match="greater than or equal to 0"):
        UniswapV4Config.model_validate({"position_manager": pm, "state_view": sv, "token_ids": [-1]})
