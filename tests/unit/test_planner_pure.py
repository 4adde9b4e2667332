"""A plan is a function of its snapshot and a context loaded before it: Planner.plan reads nothing else,
so equal inputs give equal plans, and the context (history, surfaces) is what changes them."""

from __future__ import annotations

import math

from keeper.core.gates import GateConfig
from keeper.core.inputs import UnderlyingVenues
from keeper.core.policy import PolicyConfig, UnderlyingPolicy
from keeper.core.sizing import HedgeHistory, PastHedge, SizingConfig, TriggerConfig
from keeper.core.snapshot import FeedReading, PoolState, Snapshot, TokenMeta, TwapReading
from keeper.core.vol import FixedVol
from keeper.cycle.plan import PlanContext, Planner

USDC = "0x" + "1b" * 20  # token0 (the lower address)
WETH = "0x" + "2c" * 20
POOL = "0x" + "3d" * 20
SAFE = "0x" + "aa" * 20
NOW = 1_700_000_000
PRICE = 3000.0
# WETH per USDC in raw units at 3,000 USD: 1e18 / 3000e6; sqrtPriceX96 = sqrt(that) * 2**96.
SQRT_X96 = int(math.sqrt(1e18 / 3000e6) * 2**96)
TICK = math.floor(math.log(1e18 / 3000e6) / math.log(1.0001))


def snapshot() -> Snapshot:
    pool = PoolState(POOL, USDC, WETH, 500, SQRT_X96, TICK, 10**22, 0, 0, 100, {})
    return Snapshot(
        chain_id=1, block_number=100, block_timestamp=NOW, owners=(SAFE,),
        tokens={USDC: TokenMeta(USDC, "USDC", 6), WETH: TokenMeta(WETH, "WETH", 18)},
        pools={POOL: pool}, lps=(), options=(), perp_markets={}, perps=(),
        feeds={"ETH": FeedReading("ETH", "0x" + "fe" * 20, int(PRICE * 1e8), 8, NOW - 60, 1),
               "USDC": FeedReading("USDC", "0x" + "fd" * 20, 10**8, 8, NOW - 60, 1)},
        twaps={POOL: TwapReading(POOL, 1800, TICK)},
        balances={(SAFE, WETH): 40 * 10**18, (SAFE, USDC): 10**12},
    )


def planner(window_cap: float = 1e9) -> Planner:
    policy = UnderlyingPolicy(trigger=TriggerConfig(trigger="fixed", band_units=1.0),
                              sizing=SizingConfig(max_trade_usd=1e9, window_cap_usd=window_cap, window_s=86_400),
                              gates=GateConfig(max_oracle_deviation_bps=100, max_feed_age_s=3600))
    venues = {"ETH": UnderlyingVenues("ETH", WETH, POOL, (POOL,))}
    return Planner(PolicyConfig(policy), venues, {"ETH": FixedVol(0.6)}, USDC, SAFE)


def test_the_same_snapshot_and_context_give_the_same_plan() -> None:
    snap, ctx = snapshot(), PlanContext()
    risk1, plan1 = planner().plan(snap, ctx)
    risk2, plan2 = planner().plan(snap, ctx)
    assert plan1 == plan2 and risk1.summaries == risk2.summaries
    eth = plan1.decision("ETH")
    assert risk1.summaries["ETH"].delta == 40.0, "40 WETH held: 40 ETH of delta"
    assert eth.order is not None and eth.order.side == "sell" and eth.order.venue == "uniswap"
    assert eth.order.size_units == 39.0, "hedged to the band's edge: 40 ETH - the 1 ETH half-width"


def test_the_context_is_what_changes_the_plan() -> None:
    snap = snapshot()
    # A window cap of 100,000 USD of which 90,000 USD was used an hour ago: only 10,000 USD left.
    used = PlanContext(history={"ETH": HedgeHistory(NOW - 3600.0, (PastHedge(NOW - 3600.0, 90_000.0),))})
    _, fresh = planner(window_cap=100_000.0).plan(snap, PlanContext())
    _, capped = planner(window_cap=100_000.0).plan(snap, used)
    assert fresh.decision("ETH").order is not None and capped.decision("ETH").order is not None
    assert fresh.decision("ETH").order.size_units == 100_000.0 / PRICE  # type: ignore[union-attr]
    assert capped.decision("ETH").order.size_units == 10_000.0 / PRICE  # type: ignore[union-attr]
