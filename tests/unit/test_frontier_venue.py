"""The report's policy frontier runs on the config's vol model and on the configured hedge venue as read at
the block (keeper/backtest/frontier.py): the venue's cost model is the pool's fee tier and active liquidity
(so the backtest's impact of a trade equals the v3 price move of that liquidity), a perp fills at the oracle
with its taker fee, the cheapest venue for the book's trade wins; GARCH configs simulate GARCH paths with the
persistence fitted on the oracle pool."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.backtest.engine import CostModel
from keeper.backtest.frontier import path_model, venue_cost_model
from keeper.backtest.paths import GarchModel, GBMModel
from keeper.core.costs import v3_impact_fraction_array
from keeper.core.inputs import UnderlyingVenues
from keeper.core.snapshot import PerpMarketState, PoolState, Snapshot, TokenMeta
from keeper.core.vol import FixedVol, GarchVol, PoolHistoryVol
from tests.unit.test_vol import _simulate_garch
from tests.unit.test_vol_edges import POOL, _history, _snapshot

WETH, USDC = "0x" + "0e" * 20, "0x" + "0c" * 20
P500, P3000, PERP = "0x" + "05" * 20, "0x" + "30" * 20, "0x" + "99" * 20


def pool(addr: str, fee: int, liquidity: int, usd: float) -> PoolState:
    # WETH token0 (18), USDC token1 (6): raw price = usd * 1e-12
    return PoolState(addr, WETH, USDC, fee, int(math.sqrt(usd * 1e-12) * 2**96), 0, liquidity, 0, 0, 100)


def snap(pools: list[PoolState], taker_bps: int = 5, base_fee: int = 20 * 10**9) -> Snapshot:
    perp = PerpMarketState(PERP, "ETH", 3000 * 10**18, 0, 0, taker_bps, 1000, 500, USDC)
    return Snapshot(chain_id=1, block_number=9, block_timestamp=1_800_000_000, owners=(), tokens={
        WETH: TokenMeta(WETH, "WETH", 18), USDC: TokenMeta(USDC, "USDC", 6)}, pools={p.address: p for p in pools},
        lps=(), options=(), perp_markets={PERP: perp}, perps=(), feeds={}, twaps={}, balances={},
        base_fee_wei=base_fee)


VENUES = UnderlyingVenues("ETH", WETH, P500, (P500, P3000), PERP, swap_gas_units=260_000, perp_gas_units=320_000)


def test_the_pools_liquidity_in_human_units_moves_the_price_as_the_pool_would() -> None:
    s = snap([pool(P500, 500, 4 * 10**18, 3000.0)])
    v = venue_cost_model(s, UnderlyingVenues("ETH", WETH, P500, (P500,)), spot=3000.0, size_units=10.0,
                         native_price=3000.0, tip_wei=10**9)
    assert v.costs.fee_fraction == 0.0005 and "pool " + P500 in v.description
    # Selling 10 ETH into L: the exact v3 move is 1/sqrt(P') = 1/sqrt(P) + dx/L in raw units.
    sqrt_p = math.sqrt(3000.0 * 1e-12)
    sqrt_after = 1 / (1 / sqrt_p + 10 * 1e18 / (4 * 10**18))
    usdc_out = 4 * 10**18 * (sqrt_p - sqrt_after) / 1e6
    exact_impact = 1 - usdc_out / 10 / 3000.0  # the average price's shortfall, before the fee
    model = float(v3_impact_fraction_array(np.array([10.0]), np.array([True]), v.costs.liquidity,
                                           np.array([math.sqrt(3000.0)]))[0])
    assert model == pytest.approx(exact_impact, rel=1e-6)
    assert v.costs.gas_quote == pytest.approx(260_000 * 21e9 / 1e18 * 3000.0)


def test_the_cheapest_configured_venue_wins() -> None:
    thin, deep = pool(P500, 500, 10**15, 3000.0), pool(P3000, 3000, 10**22, 3000.0)
    big = venue_cost_model(snap([thin, deep], taker_bps=50), VENUES, spot=3000.0, size_units=-200.0,
                           native_price=3000.0, tip_wei=0)
    assert big.costs.fee_fraction == 0.003, "200 ETH: the thin 0.05 % pool's impact costs more than 0.3 %"
    small = venue_cost_model(snap([thin, deep], taker_bps=50), VENUES, spot=3000.0, size_units=0.01,
                             native_price=3000.0, tip_wei=0)
    assert small.costs.fee_fraction == 0.0005
    perp = venue_cost_model(snap([thin, deep], taker_bps=1), VENUES, spot=3000.0, size_units=-200.0,
                            native_price=3000.0, tip_wei=0)
    assert perp.costs.fee_fraction == 1e-4 and perp.costs.liquidity >= 1e29 and "perp " + PERP in perp.description
    none = venue_cost_model(snap([]), UnderlyingVenues("ETH", WETH, None, ()), spot=3000.0, size_units=1.0,
                            native_price=None, tip_wei=0)
    assert none.costs == CostModel() and "no configured venue was readable" in none.description


def test_the_paths_follow_the_configs_vol_model() -> None:
    fixed, text = path_model(FixedVol(0.6), snap([]), 0.6)
    assert fixed == GBMModel(0.6) and "fixed" in text
    m = PoolHistoryVol(POOL, True, "garch", history_s=600 * 301, sample_s=600)
    r = _simulate_garch(300, seed=21)
    ticks = [0, *np.cumsum(np.round(r / math.log(1.0001))).astype(int).tolist()]
    s = _snapshot({POOL: _history(m, ticks)})
    got, text = path_model(m, s, 0.55)
    fitted = m.at(s)
    assert isinstance(fitted, GarchVol) and isinstance(got, GarchModel)
    assert (got.sigma, got.alpha, got.beta) == (0.55, fitted.params.alpha, fitted.params.beta)
    assert text.startswith("GARCH(1,1)")
    ewma = PoolHistoryVol(POOL, True, "ewma", history_s=600 * 20, sample_s=600)
    assert path_model(ewma, s, 0.4)[0] == GBMModel(0.4)
    broken, why = path_model(m, _snapshot({}), 0.5)  # no history read: GBM, and the text says why
    assert broken == GBMModel(0.5) and "GARCH fit failed" in why
