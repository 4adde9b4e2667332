"""The perp margin guard: a perp hedge whose margin ratio runs low is reduced back to the module's minimum,
and the delta it gives up is hedged on another venue in the same cycle."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.config import load_config
from keeper.core.gates import GateConfig
from keeper.core.hedge_types import Decision, HedgeOrder, Plan
from keeper.core.margin import MarginConfig, margin_ratio, margin_reduction_units
from keeper.core.policy import PolicyConfig, UnderlyingPolicy
from keeper.core.sizing import HedgeHistory, PastHedge, SizingConfig, TriggerConfig
from keeper.core.venue_inputs import PerpVenue
from keeper.errors import InputError
from tests.unit.test_config import devnet_data, edited, load_error, write
from tests.unit.test_policy import NOW, PRICE, inp, one, perp, swap

__all__ = ["write"]  # the fixture, imported from test_config

GUARD = MarginConfig(reduce_below_bps=750, restore_to_bps=1000)


def guarded(**kw: object) -> PolicyConfig:
    return PolicyConfig(UnderlyingPolicy(trigger=TriggerConfig(trigger="fixed", band_units=2.0), margin=GUARD,
                                         **kw))  # type: ignore[arg-type]


# ------------------------------------------------------------------ the formula


def test_reduction_by_hand() -> None:
    # Short 100 ETH at 3,000 USD with 18,000 USD of equity: 6 % of 300,000 USD.
    assert margin_ratio(-100.0, 18_000.0, 3000.0) == pytest.approx(0.06, rel=1e-15)
    # Back to 10 % paying 0.6 %: (0.10 * 300,000 - 18,000) / (3,000 * (0.10 - 0.006)) = 42.553... ETH
    d = margin_reduction_units(-100.0, 18_000.0, 3000.0, 0.006, GUARD)
    assert d == pytest.approx(12_000.0 / (3000.0 * 0.094), rel=1e-12)
    equity_after = 18_000.0 - 0.006 * d * 3000.0
    assert equity_after / ((100.0 - d) * 3000.0) == pytest.approx(0.10, rel=1e-12)


def test_no_reduction_at_or_above_the_threshold_or_when_off() -> None:
    assert margin_reduction_units(-100.0, 22_500.0, 3000.0, 0.006, GUARD) == 0.0  # exactly 7.5 %
    assert margin_reduction_units(-100.0, 22_499.0, 3000.0, 0.006, GUARD) > 0.0  # just below
    assert margin_reduction_units(-100.0, 1.0, 3000.0, 0.006, MarginConfig(reduce_below_bps=0)) == 0.0
    assert margin_reduction_units(0.0, 0.0, 3000.0, 0.006, GUARD) == 0.0
    assert margin_ratio(0.0, 5.0, 3000.0) == math.inf


def test_underwater_or_unrestorable_positions_close_in_full() -> None:
    assert margin_reduction_units(40.0, -500.0, 3000.0, 0.006, GUARD) == 40.0  # negative equity
    assert margin_reduction_units(40.0, 0.0, 3000.0, 0.006, GUARD) == 40.0
    # Paying 12 % to close cannot restore 10 %: close it all.
    assert margin_reduction_units(40.0, 1_000.0, 3000.0, 0.12, GUARD) == 40.0


@given(size=st.floats(0.01, 1e5), ratio=st.floats(0.0001, 0.0749), cost=st.floats(0.0, 0.05),
       price=st.floats(10.0, 1e5), short=st.booleans())
def test_the_reduction_restores_the_ratio(size: float, ratio: float, cost: float, price: float, short: bool) -> None:
    equity = ratio * size * price
    d = margin_reduction_units(-size if short else size, equity, price, cost, GUARD)
    assert 0.0 < d <= size
    if d < size * (1 - 1e-6):  # (closing nearly all of it leaves a ratio of two tiny numbers)
        after = (equity - cost * d * price) / ((size - d) * price)
        assert after == pytest.approx(0.10, rel=1e-9)


def test_config_errors_name_the_field() -> None:
    with pytest.raises(InputError, match="reduce_below_bps.*below restore_to_bps"):
        MarginConfig(reduce_below_bps=1000, restore_to_bps=1000)
    with pytest.raises(InputError, match="restore_to_bps"):
        MarginConfig(restore_to_bps=20_000)
    with pytest.raises(InputError, match="equity_quote"):
        perp(equity_quote=math.nan)


def test_keeper_config_carries_the_guard_and_checks_its_order(write: Callable[..., Path]) -> None:
    cfg = load_config(write(edited([("set", "safety.perp_min_margin_bps", 1200),
                                    ("set", "safety.perp_reduce_margin_bps", 800)])), env={})
    m = cfg.policy_config().default.margin
    assert (m.reduce_below_bps, m.restore_to_bps) == (800.0, 1200.0)
    assert load_config(write(devnet_data()), env={}).policy_config().default.margin == MarginConfig(750.0, 1000.0)
    msg = load_error(write(edited([("set", "safety.perp_min_margin_bps", 1000),
                                   ("set", "safety.perp_reduce_margin_bps", 1000)])))
    assert "safety.perp_reduce_margin_bps" in msg and "must be below perp_min_margin_bps (1000)" in msg


# ------------------------------------------------------------------ the decision


def low_short(**kw: object) -> PerpVenue:
    # Short 100 ETH with 15,000 USD equity: 5 % of notional at 3,000 USD.
    return perp(position_units=-100.0, equity_quote=15_000.0, free_margin_quote=0.0, **kw)


def test_low_margin_short_is_bought_back_and_the_delta_sold_on_the_pool() -> None:
    # The book is hedged (delta 0 incl. the short perp): the reduction adds +d ETH of delta, which the
    # band (2 ETH) sends to the swap pool in the same cycle.
    d = one(inp(0.0, perps=(low_short(),)), guarded())
    cost = 0.001 + 50 * 1e-4  # taker fee + max slippage
    expected = (0.10 * 300_000.0 - 15_000.0) / (PRICE * (0.10 - cost))
    assert d.margin_order is not None
    assert (d.margin_order.side, d.margin_order.venue, d.margin_order.venue_id) == ("buy", "perp", "perp")
    assert d.margin_order.size_units == pytest.approx(expected, rel=1e-12)
    assert d.margin_order.limit_price_quote == pytest.approx(PRICE * 1.005, rel=1e-12)
    assert "perp_margin_low" in d.reason_codes
    assert d.order is not None and d.order.venue == "uniswap" and d.order.side == "sell"
    assert d.delta_before_units == 0.0
    # hedged to the band's edge: the reduction's +d less the order's size leaves the delta 2 ETH above target
    assert d.delta_after_units == pytest.approx(2.0, rel=1e-9)
    orders = decide_orders(d)
    assert orders[0] is d.margin_order and orders[1] is d.order, "the reduction goes first"


def decide_orders(d: Decision) -> tuple[HedgeOrder, ...]:
    return Plan((d,)).orders


def test_low_margin_long_is_sold() -> None:
    p = perp(position_units=50.0, equity_quote=3_000.0, free_margin_quote=0.0)  # 2 %
    d = one(inp(0.0, perps=(p,)), guarded())
    assert d.margin_order is not None and d.margin_order.side == "sell"
    assert d.order is not None and d.order.side == "buy"


def test_healthy_margin_leaves_the_perp_alone() -> None:
    p = perp(position_units=-100.0, equity_quote=30_000.0)  # 10 %
    d = one(inp(0.0, perps=(p,)), guarded())
    assert d.margin_order is None and d.order is None
    assert "perp_margin_low" not in d.reason_codes


def test_the_reduced_perp_is_not_used_for_the_rest_of_the_hedge() -> None:
    d = one(inp(0.0, perps=(low_short(),), swaps=()), guarded())
    assert d.margin_order is not None
    assert d.order is None and "no_venue" in d.reason_codes, "no other venue: the delta waits, the perp is not regrown"


def test_gas_does_not_defer_a_reduction_but_a_stale_feed_blocks_it() -> None:
    d = one(inp(0.0, perps=(low_short(),)), guarded(gates=GateConfig(max_gas_gwei=1.0)))
    assert d.margin_order is not None
    stale = one(inp(0.0, perps=(low_short(),), feed_updated_at=NOW - 10 * 3600), guarded())
    assert stale.margin_order is None and "perp_margin_blocked" in stale.reason_codes
    assert any("feed_staleness" in r.text for r in stale.reasons if r.code == "perp_margin_blocked")


def test_the_reduction_respects_the_caps_and_leaves_the_rest_for_later() -> None:
    sizing = SizingConfig(max_trade_usd=30_000.0, window_cap_usd=1e9)
    d = one(inp(0.0, perps=(low_short(),)), guarded(sizing=sizing))
    assert d.margin_order is not None
    assert d.margin_order.notional_quote == pytest.approx(30_000.0, rel=1e-9)
    assert any("left for later cycles" in r.text for r in d.reasons if r.code == "perp_margin_low")
    # a spent window blocks it, with the reason
    full = SizingConfig(max_trade_usd=30_000.0, window_cap_usd=60_000.0, window_s=3600.0)
    history = HedgeHistory(NOW - 60.0, (PastHedge(NOW - 60.0, 60_000.0),))
    blocked = one(inp(0.0, perps=(low_short(),), history=history), guarded(sizing=full))
    assert blocked.margin_order is None and "perp_margin_blocked" in blocked.reason_codes


def test_reasons_read_as_text_with_units() -> None:
    d = one(inp(0.0, perps=(low_short(),), swaps=(swap(),)), guarded())
    [r] = [r for r in d.reasons if r.code == "perp_margin_low"]
    assert "margin 5.00 % of notional < 7.5 %" in r.text and "USD" in r.text and "ETH" in r.text
    assert "restore 10 %" in r.text


# ------------------------------------------------------------------ edges (from mutation testing)


def test_every_bad_argument_is_named_with_its_value() -> None:
    with pytest.raises(InputError, match="^reduce_below_bps"):
        MarginConfig(reduce_below_bps=-1.0)
    with pytest.raises(InputError, match="^restore_to_bps"):
        MarginConfig(restore_to_bps=0.0)
    with pytest.raises(InputError, match=r"^restore_to_bps: must be <= 10000 \(100 %\), got 20000$"):
        MarginConfig(restore_to_bps=20_000)
    with pytest.raises(InputError, match=r"^reduce_below_bps: must be below restore_to_bps \(900\), got 900$"):
        MarginConfig(reduce_below_bps=900, restore_to_bps=900)
    with pytest.raises(InputError, match="^position_units"):
        margin_ratio(math.inf, 1.0, 3000.0)
    with pytest.raises(InputError, match="^equity_quote"):
        margin_ratio(1.0, math.nan, 3000.0)
    with pytest.raises(InputError, match="^price"):
        margin_ratio(1.0, 1.0, 0.0)
    with pytest.raises(InputError, match="^cost_fraction"):
        margin_reduction_units(1.0, 1.0, 3000.0, -0.001, GUARD)


def test_restore_to_the_whole_notional_is_allowed_and_no_more() -> None:
    assert MarginConfig(reduce_below_bps=5000, restore_to_bps=10_000).restore_to_bps == 10_000
    with pytest.raises(InputError, match="restore_to_bps"):
        MarginConfig(restore_to_bps=10_000.5)


def test_a_one_bp_threshold_still_acts() -> None:
    cfg = MarginConfig(reduce_below_bps=1.0, restore_to_bps=2.0)
    # 0.5 bp of margin on 100 ETH at 3,000 USD (15 USD): d = (0.0002 * 300,000 - 15) / (3,000 * 0.0002) = 75
    assert margin_reduction_units(-100.0, 15.0, 3000.0, 0.0, cfg) == pytest.approx(75.0, rel=1e-9)


def test_small_positive_equity_is_reduced_partly_not_closed() -> None:
    # 1e-4 ETH at 3,000 USD (0.30 USD notional) with 0.01 USD of equity (3.3 %), no cost: back to 10 %
    # needs d = (0.10 * 0.30 - 0.01) / (3,000 * 0.10) = 6.67e-5 ETH, not the whole 1e-4.
    d = margin_reduction_units(1e-4, 0.01, 3000.0, 0.0, GUARD)
    assert d == pytest.approx(0.02 / 300.0, rel=1e-12) and d < 1e-4


def test_a_cost_equal_to_the_target_ratio_closes_everything() -> None:
    # Paying exactly r on the closed notional can never raise the ratio to r: close it all (no division by 0).
    assert margin_reduction_units(10.0, 1_000.0, 3000.0, 0.10, GUARD) == 10.0
