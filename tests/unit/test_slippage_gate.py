"""The planner never sends an order its own estimate says will revert: a venue whose fee + impact
(+ adverse pool basis) exceeds the slippage bound the order carries is unavailable, with the numbers."""

from __future__ import annotations

import dataclasses
import math

import pytest

from keeper.core.costs import GasView, PerpVenue, SwapVenue, VenueConfig, estimate_swap
from keeper.core.gates import GateConfig, OracleView, gate_slippage_estimate
from keeper.core.hedge_types import Exposure, UnderlyingInput
from keeper.core.policy import UnderlyingPolicy, decide_underlying
from keeper.core.sizing import SizingConfig, TriggerConfig

NOW = 1_700_000_000
POOL_30, POOL_5 = "0x" + "30" * 20, "0x" + "05" * 20
GAS = GasView(1.0, 3000.0)
ORACLE = OracleView(3000.0, NOW - 60, 3000.0, 3000.0, NOW)


def policy(max_slippage_bps: float) -> UnderlyingPolicy:
    return UnderlyingPolicy(trigger=TriggerConfig(trigger="fixed", band_units=1.0),
                            sizing=SizingConfig(hedge_to="target"),
                            venues=VenueConfig(max_slippage_bps=max_slippage_bps, max_impact_bps=500.0),
                            gates=GateConfig(max_oracle_deviation_bps=100.0))


def pool(pool_id: str, fee: float, usd: float = 3000.0, liquidity: float = 1e30) -> SwapVenue:
    return SwapVenue(pool_id, fee, 150_000.0, liquidity, 1e9, 1e12, math.sqrt(usd))


def test_a_pool_whose_fee_alone_exceeds_the_bound_is_not_used() -> None:
    inp = UnderlyingInput(Exposure("ETH", 20.0, 0.0, 1e6, 3000.0), ORACLE, (pool(POOL_30, 0.003),), ())
    d = decide_underlying(inp, policy(10.0), GAS)
    assert d.order is None and "no_venue" in d.reason_codes
    [est] = d.venues
    assert not est.available and est.reason.code == "venue_slippage"
    assert "30.0 bps fee" in est.reason.text and "exceeds max_slippage_bps 10 bps" in est.reason.text
    assert est.reason.number("total_bps") > 10.0
    # the same order under a 50 bps bound goes out on that pool
    ok = decide_underlying(inp, policy(50.0), GAS)
    assert ok.order is not None and ok.order.venue_id == POOL_30


def test_the_cheaper_pool_within_the_bound_or_a_perp_is_chosen_instead() -> None:
    ex = Exposure("ETH", 20.0, 0.0, 1e6, 3000.0)
    d = decide_underlying(UnderlyingInput(ex, ORACLE, (pool(POOL_30, 0.003), pool(POOL_5, 0.0005)), ()),
                          policy(20.0), GAS)
    assert d.order is not None and d.order.venue_id == POOL_5
    perp = PerpVenue("0xperp", 0.0005, 0.0, 1e9, 0.1, 300_000.0)
    d2 = decide_underlying(UnderlyingInput(ex, ORACLE, (pool(POOL_30, 0.003),), (perp,)), policy(20.0), GAS)
    assert d2.order is not None and d2.order.venue == "perp"


@pytest.mark.parametrize(("side", "pool_usd", "blocked"), [
    ("sell", 2988.0, True),   # sells into a pool 40 bps under the feed: 5 + 40 > 30
    ("sell", 3012.0, False),  # the basis is in the seller's favour
    ("buy", 3012.0, True),    # buys from a pool 40 bps over the feed
    ("buy", 2988.0, False),
])
def test_an_adverse_pool_basis_counts(side: str, pool_usd: float, blocked: bool) -> None:
    venue = pool(POOL_5, 0.0005, pool_usd)
    est = estimate_swap(venue, side, 1.0, 3000.0, GAS, VenueConfig(max_slippage_bps=30.0), underlying="ETH")  # type: ignore[arg-type]
    assert est.available and est.impact_source == "liquidity"
    gated = gate_slippage_estimate(est, 3000.0, 30.0, pool_price=pool_usd)
    assert gated.available is not blocked
    if blocked:
        assert gated.reason.number("basis_bps") == pytest.approx(40.0, rel=1e-3)
        assert "adverse basis to the bound price 3,000.00" in gated.reason.text
    # without the pool's price there is no basis to add: 5 bps fee alone passes
    assert gate_slippage_estimate(est, 3000.0, 30.0).available


def test_an_unavailable_estimate_keeps_its_own_reason() -> None:
    venue = dataclasses.replace(pool(POOL_30, 0.003), underlying_balance_units=0.0)
    est = estimate_swap(venue, "sell", 1.0, 3000.0, GAS, VenueConfig(), underlying="ETH")
    assert not est.available and est.reason.code == "venue_balance"
    assert gate_slippage_estimate(est, 3000.0, 1.0) is est


def test_a_swap_is_bounded_against_the_stricter_of_feed_and_twap() -> None:
    """As the HedgeModule bounds swaps: a sell's limit comes from the higher of feed and TWAP. With the
    TWAP 26 bps over the feed and the pool at the feed, 30 bps fee + 26 bps exceed a 50 bps bound."""
    over = OracleView(3000.0, NOW - 60, 3000.0, 3007.8, NOW)
    inp = UnderlyingInput(Exposure("ETH", 20.0, 0.0, 1e6, 3000.0), over, (pool(POOL_30, 0.003),), ())
    d = decide_underlying(inp, policy(50.0), GAS)
    assert d.order is None
    [est] = d.venues
    assert est.reason.code == "venue_slippage" and "adverse basis to the bound price 3,007.80" in est.reason.text
    assert est.reason.number("bound_price_quote") == pytest.approx(3007.8)
    # a buy is bounded by the lower of the two: the feed here, so the same pool is fine for a buy
    buy = decide_underlying(dataclasses.replace(inp, exposure=Exposure("ETH", -20.0, 0.0, 1e6, 3000.0)),
                            policy(50.0), GAS)
    assert buy.order is not None and buy.order.reference_price_quote == pytest.approx(3000.0)
    assert buy.order.limit_price_quote == pytest.approx(3000.0 * 1.005)
    # with room for it, the sell goes out with its limit set from the TWAP
    ok = decide_underlying(inp, policy(80.0), GAS)
    assert ok.order is not None and ok.order.reference_price_quote == pytest.approx(3007.8)
    assert ok.order.limit_price_quote == pytest.approx(3007.8 * (1 - 0.008))
