"""The book item by item on a small hand-built snapshot: every balance, option, perp and LP line
with the values worked out from the raw integers, the errors naming what cannot be valued, the
pools compared with the feed, and the options on a smile."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from keeper.core.book import (
    NATIVE,
    BalanceLine,
    LpLine,
    OptionLine,
    PerpLine,
    book_lines,
    book_positions,
    book_risk,
    lp_holdings,
    pool_bases,
    pool_price_quote,
)
from keeper.core.portfolio import LPPosition, OptionPosition, PerpPosition, SpotHolding
from keeper.core.smile_delta import MinVarianceCoefficients, OptionVols, SmilePolicy
from keeper.core.snapshot import (
    LpPosition,
    PerpMarketState,
    PoolState,
    Snapshot,
    TickFees,
    TokenMeta,
)
from keeper.core.snapshot import (
    OptionPosition as OptionHolding,
)
from keeper.core.snapshot import (
    PerpPosition as PerpHolding,
)
from keeper.errors import InputError

# Token order by address: DAI < WBTC < USDC < WETH (so USDC is token0 of its WETH pool, WBTC token0 of its own).
DAI = "0x" + "05" * 20
WBTC = "0x" + "0a" * 20
USDC = "0x" + "1b" * 20
WETH = "0x" + "2c" * 20
OWNER = "0x" + "aa" * 20
ASSETS = {"ETH": WETH, "BTC": WBTC}
TOKENS = {USDC: TokenMeta(USDC, "USDC", 6), WETH: TokenMeta(WETH, "WETH", 18), WBTC: TokenMeta(WBTC, "WBTC", 8),
          DAI: TokenMeta(DAI, "DAI", 18)}
NOW = 1_700_000_000
YEAR = 365 * 24 * 3600
Q96 = 2**96


def pool(addr: str, t0: str, t1: str, sqrt_x96: int, fee: int = 500, tick: int = 0) -> PoolState:
    return PoolState(addr, t0, t1, fee, sqrt_x96, tick, 0, 0, 0, 1, {})


def snap(**kw: Any) -> Snapshot:
    base: dict[str, Any] = dict(chain_id=1, block_number=1, block_timestamp=NOW, owners=(OWNER,), tokens=dict(TOKENS),
                                pools={}, lps=(), options=(), perp_markets={}, perps=(), feeds={}, twaps={},
                                balances={})
    base.update(kw)
    return Snapshot(**base)


# --------------------------------------------------------------------------- pool prices and bases


def test_pool_price_quote_by_hand_in_both_orientations() -> None:
    # sqrtPriceX96 = 2**96 * 2**-20: raw token1/token0 = 2**-40; USDC (6) token0, WETH (18) token1:
    # WETH per USDC human = 2**-40 * 10**(6 - 18); USDC per WETH = 2**40 * 1e-6 * ... inverted
    p = pool("0xp", USDC, WETH, Q96 >> 20)
    weth_per_usdc = 2.0**-40 * 10.0**-12
    assert pool_price_quote(snap(), p, WETH) == pytest.approx(1.0 / weth_per_usdc, rel=1e-15)
    assert pool_price_quote(snap(), p, USDC.upper().replace("0X", "0x")) == pytest.approx(weth_per_usdc, rel=1e-15)
    # the smallest initialized price is accepted (1 is not 0)
    assert pool_price_quote(snap(), pool("0xp", USDC, WETH, 1), WETH) > 0.0


def test_pool_price_quote_errors_name_the_pool() -> None:
    with pytest.raises(InputError) as ei:
        pool_price_quote(snap(), pool("0xp", USDC, WETH, 0), WETH)
    assert str(ei.value) == "pool 0xp: sqrtPriceX96 is 0 (pool not initialized)"
    with pytest.raises(InputError) as ei:
        pool_price_quote(snap(), pool("0xp", USDC, WETH, Q96), WBTC)
    assert str(ei.value) == f"pool 0xp: token {WBTC} is neither token0 nor token1"


def test_pool_bases_keep_only_initialized_asset_quote_pools_with_a_spot() -> None:
    pools = {
        "0xnone": pool("0xnone", USDC, WETH, 0),            # not initialized: left out, the rest still seen
        "0xbtc": pool("0xbtc", WBTC, USDC, Q96),            # no BTC spot below: left out
        "0xdai": pool("0xdai", DAI, WETH, Q96),             # DAI is neither an asset nor the quote
        "0xcross": pool("0xcross", WBTC, WETH, Q96),        # asset/asset
        "0xdaiq": pool("0xdaiq", DAI, USDC, Q96),           # other token/quote
        "0xb": pool("0xb", USDC, WETH, Q96, fee=3000),
        "0xa": pool("0xa", USDC, WETH, Q96, fee=3000),
        "0xlow": pool("0xlow", USDC, WETH, 1, fee=500),     # the smallest sqrtPriceX96 is initialized
    }
    lp = LpPosition(1, OWNER, "0xb", USDC, WETH, 3000, -10, 10, 1, 0, 0, 0, 0)
    out = pool_bases(snap(pools=pools, lps=(lp, lp)), ASSETS, USDC, {"ETH": 2000.0})
    assert [(b.pool, b.underlying, b.fee, b.lp_count) for b in out] == [
        ("0xlow", "ETH", 500, 0), ("0xa", "ETH", 3000, 0), ("0xb", "ETH", 3000, 2)]
    # raw price 1: WETH per USDC human 1e-12, so 1e12 USDC per WETH against a feed of 2000
    assert out[1].pool_price == pytest.approx(1e12, rel=1e-15) and out[1].feed_price == 2000.0


# --------------------------------------------------------------------------- LP errors


def lp_in(p: PoolState, lo: int = -60, hi: int = 60, token_id: int = 7) -> LpPosition:
    return LpPosition(token_id, OWNER, p.address, p.token0, p.token1, p.fee, lo, hi, 10**15, 0, 0, 0, 0)


def ticked(p: PoolState, *ticks: int) -> PoolState:
    return dataclasses.replace(p, ticks={t: TickFees(t, 0, 0, True) for t in ticks})


def test_lp_errors_name_the_position_and_what_is_missing() -> None:
    p = ticked(pool("0xp", USDC, WETH, Q96), -60)
    lp = lp_in(p)
    with pytest.raises(InputError) as ei:
        lp_holdings(snap(pools={}), lp)
    assert str(ei.value) == "LP 7: its pool 0xp is not in the snapshot"
    with pytest.raises(InputError) as ei:
        lp_holdings(snap(pools={"0xp": p}), lp)
    assert str(ei.value) == "LP 7: tick 60 of pool 0xp is not in the snapshot"
    cross = ticked(pool("0xc", DAI, WETH, Q96), -60, 60)
    with pytest.raises(InputError) as ei:
        book_lines(snap(pools={"0xc": cross}, lps=(lp_in(cross, token_id=8),)), ASSETS, USDC, {})
    assert str(ei.value) == "LP 8: pair is not <configured asset>/<quote token>; cannot value it"


@pytest.mark.parametrize(("spots", "marked"), [({}, None), ({"ETH": 0.0}, None), ({"ETH": 0.5}, 0.5)])
def test_an_lp_is_marked_only_at_a_positive_spot(spots: dict[str, float], marked: float | None) -> None:
    p = ticked(pool("0xp", USDC, WETH, Q96), -60, 60)
    [line] = book_lines(snap(pools={"0xp": p}, lps=(lp_in(p),)), ASSETS, USDC, {}, spots=spots)
    assert isinstance(line, LpLine)
    assert line.position.mark == marked
    assert line.underlying_is_token0 is False and line.underlying == "ETH"
    if marked is None:
        assert line.position.basis == 1.0 and line.position.amount_underlying is None
    else:
        assert line.position.basis == pytest.approx(line.pool_price / 0.5, rel=1e-15)


# --------------------------------------------------------------------------- balances and native


def test_balance_lines_by_hand_whatever_the_address_case() -> None:
    upper_weth, upper_usdc = "0x" + "2C" * 20, "0x" + "1B" * 20
    balances = {(OWNER, upper_weth): 7 * 10**18, (OWNER, upper_usdc): 1_234_500_000, (OWNER, DAI): 5 * 10**18}
    lines = book_lines(snap(balances=balances), ASSETS, USDC, {})
    assert lines == (
        BalanceLine(OWNER, upper_weth, "WETH", 7 * 10**18, 18, "ETH", (SpotHolding("ETH", 7.0),)),
        BalanceLine(OWNER, upper_usdc, "USDC", 1_234_500_000, 6, None, (), 1234.5),
        BalanceLine(OWNER, DAI, "DAI", 5 * 10**18, 18, None, (), 0.0),
    )
    positions, quote = book_positions(snap(balances=balances), ASSETS, USDC, {})
    assert positions == (SpotHolding("ETH", 7.0),) and quote == 1234.5


def test_native_balances_count_only_as_a_configured_asset() -> None:
    s = snap(native_balances={OWNER: 3 * 10**18}, native_asset="ETH")
    assert book_lines(s, ASSETS, USDC, {}) == (
        BalanceLine(OWNER, NATIVE, "ETH", 3 * 10**18, 18, "ETH", (SpotHolding("ETH", 3.0),)),)
    shown = book_lines(dataclasses.replace(s, native_asset=None), ASSETS, USDC, {})
    assert shown == (BalanceLine(OWNER, NATIVE, "native", 3 * 10**18, 18, None, ()),)
    with pytest.raises(InputError) as ei:
        book_lines(dataclasses.replace(s, native_asset="SOL"), ASSETS, USDC, {})
    assert str(ei.value) == "native_asset: 'SOL' is not a configured asset (ETH, BTC)"


def test_a_token_without_metadata_is_named() -> None:
    with pytest.raises(InputError) as ei:
        book_lines(snap(tokens={}), ASSETS, USDC, {})
    assert str(ei.value) == f"tokens: no decimals read for token {USDC}"


# --------------------------------------------------------------------------- options


def option(source: str, sid: int, und: str, strike: int, is_put: bool, long_: float, short: float,
           days: int = 73) -> OptionHolding:
    return OptionHolding(source, sid, OWNER, und, strike * 10**8, NOW + days * 86400, is_put,
                         int(long_ * 10**18), int(short * 10**18))


def test_option_lines_by_hand() -> None:
    opts = (
        option("onchain:0xm", 1, "ETH", 3000, False, 2.5, 0.0),    # long call: no collateral
        option("onchain:0xm", 2, "ETH", 2000, True, 0.0, 1.5),     # written put: 1.5 * 2000 quote locked
        option("onchain:0xm", 3, "ETH", 4000, False, 1.0, 3.0),    # net short call: 3 ETH locked
        option("otc:desk", 4, "ETH", 3500, False, 0.0, 2.0),       # OTC: no collateral on chain
        option("onchain:0xm", 5, "ETH", 2500, True, 1.0, 1.0),     # net zero, written put: collateral only
    )
    lines = book_lines(snap(options=opts), ASSETS, USDC, {"ETH": 0.7}, rate=0.03)
    t = 73 / 365
    assert lines == (
        OptionLine(opts[0], "ETH", (OptionPosition("ETH", 2.5, 3000.0, t, True, 0.7, 0.03),), 0.0),
        OptionLine(opts[1], "ETH", (OptionPosition("ETH", -1.5, 2000.0, t, False, 0.7, 0.03),), 3000.0),
        OptionLine(opts[2], "ETH", (OptionPosition("ETH", -2.0, 4000.0, t, True, 0.7, 0.03),
                                    SpotHolding("ETH", 3.0)), 0.0),
        OptionLine(opts[3], "ETH", (OptionPosition("ETH", -2.0, 3500.0, t, True, 0.7, 0.03),), 0.0),
        OptionLine(opts[4], "ETH", (), 2500.0),
    )
    positions, quote = book_positions(snap(options=opts), ASSETS, USDC, {"ETH": 0.7}, rate=0.03)
    assert quote == 5500.0 and len(positions) == 5
    default_rate = book_lines(snap(options=opts[:1]), ASSETS, USDC, {"ETH": 0.7})
    assert isinstance(default_rate[0], OptionLine)
    assert default_rate[0].positions == (OptionPosition("ETH", 2.5, 3000.0, t, True, 0.7, 0.0),)


def test_an_option_without_a_vol_is_named() -> None:
    s = snap(options=(option("otc:desk", 9, "SOL", 100, False, 1.0, 0.0),))
    with pytest.raises(InputError) as ei:
        book_lines(s, ASSETS, USDC, {"ETH": 0.5})
    assert str(ei.value) == "vols: no volatility for SOL (option series 9)"


def test_book_risk_passes_the_rate_and_lists_unvalued_underlyings() -> None:
    opts = (option("otc:d", 1, "ETH", 3000, False, 1.0, 0.0), option("otc:d", 2, "BTC", 60_000, False, 1.0, 0.0))
    risk = book_risk(snap(options=opts), ASSETS, USDC, {"ETH": 3000.0}, {"ETH": 0.5, "BTC": 0.5}, rate=0.04)
    assert [p.rate for p in risk.positions if isinstance(p, OptionPosition)] == [0.04, 0.04]
    assert risk.unvalued == ("BTC",) and list(risk.summaries) == ["ETH"]


# --------------------------------------------------------------------------- perps


def test_perp_lines_by_hand() -> None:
    market = PerpMarketState("0xpm", "ETH", 0, 0, 0, 5, 1000, 500, DAI)  # margin in an 18-decimal token
    perps = (PerpHolding("0xpm", OWNER, "ETH", -4 * 10**18, 2950 * 10**18, 7 * 10**18, 0, 0),
             PerpHolding("0xgone", OWNER, "ETH", 0, 0, 8 * 10**6, 0, 0))  # unknown market: quote decimals
    lines = book_lines(snap(perp_markets={"0xpm": market}, perps=perps), ASSETS, USDC, {})
    assert lines == (PerpLine(perps[0], "ETH", (PerpPosition("ETH", -4.0, 2950.0),), 7.0),
                     PerpLine(perps[1], "ETH", (), 8.0))
    positions, quote = book_positions(snap(perp_markets={"0xpm": market}, perps=perps), ASSETS, USDC, {})
    assert positions == (PerpPosition("ETH", -4.0, 2950.0),) and quote == 15.0


# --------------------------------------------------------------------------- options on a smile


def smile(und: str, model_vol: float = 0.5, spread: float = 0.1) -> OptionVols:
    policy = SmilePolicy("min_variance", fallback_spread=spread, mv=MinVarianceCoefficients(-0.2, 0.3, -0.1))
    return OptionVols(und, policy, "unavailable", model_vol, None, 0.0, "no surface")


def test_options_on_a_smile_take_its_vol_and_delta_adjustment() -> None:
    opts = (option("onchain:0xm", 1, "ETH", 3000, False, 0.0, 2.0),   # written call with its collateral
            option("otc:d", 2, "ETH", 2500, True, 1.0, 0.0),
            option("otc:d", 3, "BTC", 60_000, False, 1.0, 0.0))      # BTC has no smile: keeps its model vol
    smiles = {"SOL": smile("SOL"), "ETH": smile("ETH")}                # SOL first: nothing to do there
    s = snap(options=opts)
    lines = book_lines(s, ASSETS, USDC, {"BTC": 0.4}, rate=0.05, spots={"ETH": 2800.0, "BTC": 61_000.0},
                       smiles=smiles)
    t = 73 / 365
    vol, d = smile("ETH").deltas(2800.0, np.array([3000.0, 2500.0]), np.array([t, t]), np.array([True, False]),
                                 rate=np.array([0.05, 0.05]))
    assert vol.tolist() == pytest.approx([0.6, 0.6], abs=1e-15)  # the fallback: model 0.5 + spread 0.1
    assert d.adjustment[0] != 0.0 and d.adjustment[0] != d.adjustment[1]
    assert isinstance(lines[0], OptionLine) and isinstance(lines[1], OptionLine) and isinstance(lines[2], OptionLine)
    assert lines[0].positions == (
        OptionPosition("ETH", -2.0, 3000.0, t, True, float(vol[0]), 0.05, delta_adjustment=float(d.adjustment[0])),
        SpotHolding("ETH", 2.0))
    assert lines[1].positions == (
        OptionPosition("ETH", 1.0, 2500.0, t, False, float(vol[1]), 0.05, delta_adjustment=float(d.adjustment[1])),)
    assert lines[2].positions == (OptionPosition("BTC", 1.0, 60_000.0, t, True, 0.4, 0.05),)


def test_a_smile_without_a_spot_leaves_the_options_on_their_model_vol() -> None:
    s = snap(options=(option("otc:d", 1, "ETH", 3000, False, 1.0, 0.0),))
    lines = book_lines(s, ASSETS, USDC, {"ETH": 0.45}, smiles={"ETH": smile("ETH")})
    assert lines[0].positions == (OptionPosition("ETH", 1.0, 3000.0, 73 / 365, True, 0.45, 0.0),)
    with pytest.raises(InputError, match="vols: no volatility for ETH"):
        book_lines(s, ASSETS, USDC, {}, smiles={"ETH": smile("ETH")})


def test_book_positions_passes_rate_spots_and_smiles_through() -> None:
    opts = (option("otc:d", 1, "ETH", 3000, False, 1.0, 0.0),)
    p = ticked(pool("0xp", USDC, WETH, Q96), -60, 60)
    s = snap(options=opts, pools={"0xp": p}, lps=(lp_in(p),))
    plain, _ = book_positions(s, ASSETS, USDC, {"ETH": 0.45})
    lp_plain, opt_plain = plain  # LPs come before options
    assert isinstance(opt_plain, OptionPosition) and opt_plain.rate == 0.0 and opt_plain.vol == 0.45
    assert isinstance(lp_plain, LPPosition) and lp_plain.mark is None
    positions, _ = book_positions(s, ASSETS, USDC, {"ETH": 0.45}, rate=0.02, spots={"ETH": 2800.0},
                                  smiles={"ETH": smile("ETH", model_vol=0.3, spread=0.05)})
    lp_pos, opt = positions
    assert isinstance(opt, OptionPosition) and opt.rate == 0.02 and opt.vol == pytest.approx(0.35, abs=1e-15)
    assert opt.delta_adjustment != 0.0
    assert isinstance(lp_pos, LPPosition) and lp_pos.mark == 2800.0
