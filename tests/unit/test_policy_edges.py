"""Policy edges: reasons carry the config's underlying and quote symbols at every step, no-trade decisions keep
their trigger and target, the perp margin guard's boundaries (sub-unit reductions, the second perp, a small
long), the window left after a reduction, a pool's own price as its slippage basis, quote-only pools, a
missing TWAP and the perp order's reference price."""

from __future__ import annotations

import copy
import math
import re
from typing import Any

import pytest

from keeper.core.costs import SwapQuote, VenueConfig, estimate_perp
from keeper.core.gates import GateConfig
from keeper.core.hedge_types import Decision
from keeper.core.margin import MarginConfig
from keeper.core.policy import PolicyConfig, UnderlyingPolicy, decide
from keeper.core.sizing import HedgeHistory, PastHedge, SizingConfig, TriggerConfig
from keeper.errors import InputError
from tests.unit.test_policy import GAS, NOW, PRICE, inp, one, perp, policy, swap

FIXED = TriggerConfig(trigger="fixed", band_units=2.0)
GUARD = MarginConfig(reduce_below_bps=750, restore_to_bps=1000)


def usdc(**kw: Any) -> PolicyConfig:
    kw.setdefault("trigger", FIXED)
    return PolicyConfig(UnderlyingPolicy(**kw), quote_symbol="USDC")


def texts(d: Decision) -> list[str]:
    return [r.text for r in d.reasons] + [v.reason.text for v in d.venues]


def assert_symbols(d: Decision) -> None:
    """Every reason names ETH and USDC where it names a unit: never None, never the default USD."""
    for t in texts(d):
        assert "None" not in t, t
        assert not re.search(r"\bUSD\b", t), t


def codes(d: Decision) -> list[str]:
    return [r.code for r in d.reasons]


# ----------------------------------------------------------------------------- config


def test_deep_copy_keeps_a_policy_shared_between_underlyings_shared() -> None:
    shared = UnderlyingPolicy(target_delta_units=1.5)
    cfg = PolicyConfig(shared, {"ETH": shared, "BTC": shared})
    deep = copy.deepcopy(cfg)
    assert deep.per_underlying["ETH"] is deep.per_underlying["BTC"] is deep.default
    assert deep.default is not shared and deep.default == shared


def test_an_underlying_given_twice_is_named() -> None:
    with pytest.raises(InputError) as info:
        decide([inp(5.0), inp(6.0)], policy(), GAS)
    assert str(info.value) == "inputs: underlying 'ETH' given twice"


def test_a_policy_part_of_the_wrong_type_is_named() -> None:
    with pytest.raises(InputError) as info:
        UnderlyingPolicy(trigger="fixed")  # type: ignore[arg-type]
    assert str(info.value) == "trigger: must be a TriggerConfig, got str"


def test_ww_cost_of_a_quoted_pool_is_its_shortfall_against_the_feed() -> None:
    """k = fee + (feed - average sell price) / feed for a quote that covers the deviation (a sell here)."""
    quote = SwapQuote("sell", 50.0, PRICE * (1 - 0.0005 - 0.002))  # fee included: 25 bps below the feed
    pool = swap(quote=quote, liquidity=None, sqrt_price=None)
    d = one(inp(10.0, swaps=(pool,), perps=()), policy(trigger=TriggerConfig(trigger="ww", cost_fraction=None)))
    assert d.band.k_fraction == pytest.approx(0.0005 + 0.002, rel=1e-9)


# ----------------------------------------------------------------------------- symbols in every step


def test_ww_band_text_names_both_symbols() -> None:
    d = one(inp(0.1), usdc(trigger=TriggerConfig(trigger="ww", cost_fraction=0.001)))
    assert codes(d)[0] == "inside_band" and "ETH/USDC" in d.reasons[0].text
    assert_symbols(d)


def test_time_due_but_small_names_the_quote_minimum() -> None:
    hist = HedgeHistory(NOW - 7200.0, (PastHedge(NOW - 7200.0, PRICE),))
    d = one(inp(1.0, history=hist), usdc(trigger=TriggerConfig(trigger="fixed", band_units=2.0, max_interval_s=3600.0),
                                         sizing=SizingConfig(min_trade_usd=10_000.0)))
    assert codes(d)[-1] == "time_due_small"
    assert "3,000 USDC below min trade 10,000 USDC" in d.reasons[-1].text.replace(".00", "")
    assert_symbols(d)


def test_unavailable_pools_and_perps_name_the_symbols() -> None:
    far = swap(sqrt_price=math.sqrt(PRICE * 1.02))  # 200 bps from the feed: unavailable
    d = one(inp(10.0, swaps=(far,), perps=(perp(),)), usdc())
    assert d.order is not None and d.order.venue == "perp"
    assert [v.available for v in d.venues] == [False, True]
    assert "ETH" in d.venues[0].reason.text
    assert_symbols(d)


def test_failed_gates_are_listed_and_the_decision_keeps_trigger_and_target() -> None:
    d = one(inp(10.0, feed_updated_at=NOW - 10_000.0, pool_spot=PRICE * 1.05, twap=PRICE * 1.05),
            usdc(target_delta_units=1.0))
    assert d.reasons[-1].code == "gates_failed"
    assert d.reasons[-1].text == "no trade: gate(s) failed: feed_staleness, oracle_consistency"
    assert (d.underlying, d.trigger, d.target_units, d.order) == ("ETH", "band", 1.0, None)
    assert_symbols(d)


def test_an_urgent_deviation_overriding_the_gas_cap_names_the_underlying() -> None:
    d = one(inp(10.0), usdc(gates=GateConfig(max_gas_gwei=10.0, urgent_deviation_units=5.0)))
    [over] = [g for g in d.gates if g.overridden]
    assert over.gate == "gas" and over.reason in d.reasons
    assert "10 ETH > urgent limit 5 ETH" in over.reason.text
    assert d.order is not None
    assert_symbols(d)


def test_a_no_trade_below_the_minimum_keeps_trigger_and_target() -> None:
    d = one(inp(4.0), usdc(target_delta_units=1.0, sizing=SizingConfig(min_trade_units=5.0)))
    assert codes(d)[-1] == "below_min_trade"
    assert (d.underlying, d.trigger, d.target_units, d.order) == ("ETH", "band", 1.0, None)


def test_the_only_venue_is_chosen_without_a_runner_up() -> None:
    d = one(inp(10.0, swaps=()), usdc(target_delta_units=1.0))
    chosen = [r for r in d.reasons if r.code == "venue_chosen"]
    assert len(chosen) == 1 and chosen[0].text == d.venues[0].reason.text
    assert d.target_units == 1.0 and d.order is not None


# ----------------------------------------------------------------------------- prices the orders are bounded by


def test_without_a_twap_the_swap_is_bounded_by_the_feed() -> None:
    d = one(inp(10.0, twap=None, perps=()), usdc(gates=GateConfig(require_twap=False)))
    assert d.order is not None and d.order.venue == "uniswap" and d.order.side == "sell"
    assert d.order.reference_price_quote == PRICE
    assert d.order.limit_price_quote == pytest.approx(PRICE * (1 - 0.005), rel=1e-15)


def test_a_perp_order_is_bounded_by_the_feed_not_the_twap() -> None:
    d = one(inp(10.0, swaps=(), twap=PRICE * 1.004, pool_spot=PRICE * 1.004), usdc())
    assert d.order is not None and d.order.venue == "perp"
    assert d.order.reference_price_quote == PRICE


def test_a_quote_only_pool_is_estimated_from_its_quote() -> None:
    q = SwapQuote("sell", 100.0, PRICE * (1 - 0.0005 - 0.0002))
    pool = swap(quote=q, liquidity=None, sqrt_price=None)
    d = one(inp(10.0, swaps=(pool,), perps=()), usdc())
    assert d.order is not None and d.order.venue == "uniswap"
    assert_symbols(d)


def test_the_pool_s_own_price_is_its_adverse_basis() -> None:
    """Selling into a pool 60 bps below the feed (within the 100 bps deviation gate) pays 60 bps of adverse
    basis on top of the fee: above the 50 bps slippage bound, so the pool is unavailable."""
    pool = swap(sqrt_price=math.sqrt(PRICE * (1 - 0.006)))
    d = one(inp(10.0, swaps=(pool,), perps=()), usdc())
    assert d.order is None
    assert d.venues[0].reason.code == "venue_slippage" and "adverse basis" in d.venues[0].reason.text
    ok = one(inp(10.0, swaps=(swap(sqrt_price=math.sqrt(PRICE * (1 + 0.006))),), perps=()), usdc())
    assert ok.order is not None  # the favourable side: no basis


def test_a_perp_buy_is_estimated_as_a_buy() -> None:
    d = one(inp(-10.0, swaps=()), usdc())
    assert d.order is not None and d.order.side == "buy"
    assert [v.side for v in d.venues] == ["buy"]


# ----------------------------------------------------------------------------- margin guard


def test_a_sub_unit_reduction_is_still_made() -> None:
    # short 2 ETH with 420 USD equity: 7 % of 6,000; back to 10 % needs 180 / (3,000 x 0.094) = 0.64 ETH
    p = perp(position_units=-2.0, equity_quote=420.0, free_margin_quote=0.0)
    d = one(inp(0.0, perps=(p,)), usdc(margin=GUARD))
    assert d.margin_order is not None and 0.0 < d.margin_order.size_units < 1.0
    assert d.margin_order.side == "buy"


def test_a_small_long_is_reduced_by_selling() -> None:
    p = perp(position_units=0.5, equity_quote=30.0, free_margin_quote=0.0)  # 2 % of 1,500
    d = one(inp(0.0, perps=(p,)), usdc(margin=GUARD))
    assert d.margin_order is not None and d.margin_order.side == "sell"


def test_the_guard_looks_past_a_healthy_first_perp_and_the_hedge_avoids_the_reduced_one() -> None:
    healthy = perp(venue_id="p1", position_units=-10.0, equity_quote=30_000.0)
    low = perp(venue_id="p2", position_units=-100.0, equity_quote=15_000.0, free_margin_quote=0.0)
    d = one(inp(0.0, swaps=(), perps=(healthy, low)), usdc(margin=GUARD))
    assert d.margin_order is not None and d.margin_order.venue_id == "p2"
    assert [v.venue_id for v in d.venues] == ["p1"]
    assert d.order is not None and d.order.venue_id == "p1"


def test_the_reduction_uses_up_the_window_before_the_hedge() -> None:
    low = perp(venue_id="p2", position_units=-100.0, equity_quote=15_000.0, free_margin_quote=0.0)
    free = one(inp(0.0, perps=(low,)), usdc(margin=GUARD))
    assert free.margin_order is not None and free.order is not None
    cap = free.margin_order.notional_quote + 3_000.0  # one more ETH of room after the reduction
    d = one(inp(0.0, perps=(low,)), usdc(margin=GUARD, sizing=SizingConfig(window_cap_usd=cap)))
    assert d.margin_order is not None and d.margin_order.size_units == free.margin_order.size_units
    assert d.order is not None and d.order.size_units == pytest.approx(1.0, rel=1e-9)
    assert "clipped_window" in codes(d)
    # a cap the reduction uses up entirely leaves nothing for the hedge this cycle
    full = one(inp(0.0, perps=(low,)), usdc(margin=GUARD, sizing=SizingConfig(
        window_cap_usd=free.margin_order.notional_quote)))
    assert full.margin_order is not None and full.order is None
    assert codes(full)[-1] == "window_cap"


def test_a_short_reduction_is_costed_as_a_buy() -> None:
    low = perp(position_units=-100.0, equity_quote=15_000.0, free_margin_quote=0.0, funding_rate_per_second=1e-7)
    m = one(inp(0.0, perps=(low,)), usdc(margin=GUARD)).margin_order
    assert m is not None and m.side == "buy"
    buy = estimate_perp(low, "buy", m.size_units, PRICE, GAS, VenueConfig()).cost
    assert m.cost == buy and buy != estimate_perp(low, "sell", m.size_units, PRICE, GAS, VenueConfig()).cost


HEAD = "perp:perp margin 5.00 % of notional < 7.5 % (position -100 ETH, equity 15,000 USDC)"
DATA = (("margin_ratio", 0.05), ("reduce_below_bps", 750), ("restore_to_bps", 1000), ("position_units", -100.0),
        ("equity_quote", 15000.0))


def _guard_reason(d: Decision) -> tuple[str, str, tuple[tuple[str, float], ...]]:
    [r] = [r for r in d.reasons if r.code.startswith("perp_margin")]
    return r.code, r.text, r.numbers


def test_margin_guard_reasons_verbatim() -> None:
    low = perp(position_units=-100.0, equity_quote=15_000.0, free_margin_quote=0.0)
    code, text, numbers = _guard_reason(one(inp(0.0, perps=(low,)), usdc(margin=GUARD)))
    size = (0.10 * 300_000.0 - 15_000.0) / (PRICE * (0.10 - 0.006))
    assert (code, text) == ("perp_margin_low", f"{HEAD}: buy {size:.2f} ETH on perp:perp to restore 10 %")
    assert numbers[0][0] == "size_units" and numbers[0][1] == pytest.approx(size, rel=1e-12)
    assert numbers[1:] == DATA
    stale = inp(0.0, perps=(low,), feed_updated_at=NOW - 10_000.0, pool_spot=PRICE * 1.05, twap=PRICE * 1.05)
    assert _guard_reason(one(stale, usdc(margin=GUARD))) == (
        "perp_margin_blocked", f"{HEAD}; not reduced: gate(s) failed: feed_staleness, oracle_consistency", DATA)
    used = HedgeHistory(NOW - 60.0, (PastHedge(NOW - 60.0, 5000.0),))
    d = one(inp(0.0, perps=(low,), history=used), usdc(margin=GUARD, sizing=SizingConfig(window_cap_usd=5000.0)))
    assert d.margin_order is None
    assert _guard_reason(d) == ("perp_margin_blocked", f"{HEAD}; not reduced: window cap 5,000 USDC reached", DATA)


def test_a_long_position_is_shown_signed() -> None:
    p = perp(position_units=50.0, equity_quote=3_000.0, free_margin_quote=0.0)  # 2 %
    _, text, _ = _guard_reason(one(inp(0.0, perps=(p,)), usdc(margin=GUARD)))
    assert text.startswith("perp:perp margin 2.00 % of notional < 7.5 % (position +50 ETH, equity 3,000 USDC): sell ")


def test_a_clipped_long_reduction_order_and_its_reason() -> None:
    """Long 50 ETH at 2 % margin: sold at the feed less the slippage bound, costed as a sell (funding paid by the
    long), clipped by the per-trade cap with half an ETH left for later cycles."""
    p = perp(position_units=50.0, equity_quote=3_000.0, free_margin_quote=0.0, funding_rate_per_second=1e-7,
             taker_fee_fraction=0.0007)
    full = one(inp(0.0, perps=(p,)), usdc(margin=GUARD)).margin_order
    assert full is not None
    cap = (full.size_units - 0.5) * PRICE
    d = one(inp(0.0, perps=(p,)), usdc(margin=GUARD, sizing=SizingConfig(max_trade_usd=cap)))
    m = d.margin_order
    assert m is not None
    assert (m.underlying, m.side, m.venue, m.venue_id) == ("ETH", "sell", "perp", "perp")
    assert m.size_units == pytest.approx(full.size_units - 0.5, rel=1e-12)
    assert (m.fee_fraction, m.reference_price_quote) == (0.0007, PRICE)
    assert m.limit_price_quote == pytest.approx(PRICE * (1 - 0.005), rel=1e-15)
    want = estimate_perp(p, "sell", m.size_units, PRICE, GAS, VenueConfig(), quote_symbol="USDC").cost
    assert m.cost == want and want.funding_quote != estimate_perp(p, "buy", m.size_units, PRICE, GAS,
                                                                   VenueConfig()).cost.funding_quote
    [r] = [r for r in d.reasons if r.code == "perp_margin_low"]
    assert r.text.endswith(f"on perp:perp to restore 10 %; {0.5:g} ETH left for later cycles")
