"""The reasons a decision gives (what the journal stores and a person reads): code, text and numbers
for each branch of the band and time triggers and the minimum trade, the quote symbol, and the policy
config's own errors. Inputs are the fixtures of test_policy."""

from __future__ import annotations

import copy
import math

import pytest

from keeper.core.policy import PolicyConfig, UnderlyingPolicy, decide_underlying
from keeper.core.reasons import Reason
from keeper.core.sizing import HedgeHistory, PastHedge, SizingConfig, TriggerConfig
from keeper.errors import InputError
from tests.unit.test_policy import GAS, NOW, inp, one, policy, swap

BAND = "band ±2 ETH around target 0 ETH (fixed)"


def same(r: Reason, code: str, text: str, **numbers: float) -> None:
    """``r`` has this code and text, and these numbers in this order (to float precision)."""
    assert (r.code, r.text) == (code, text)
    assert [k for k, _ in r.numbers] == list(numbers)
    assert dict(r.numbers) == pytest.approx(numbers, rel=1e-12)
TIMED = TriggerConfig(trigger="fixed", band_units=2.0, max_interval_s=3600.0)


def test_inside_band() -> None:
    d = one(inp(1.5), policy())
    assert (d.trigger, d.needed_units, d.remaining_units) == ("none", 0.0, 0.0)
    assert d.reasons == (Reason("inside_band", f"delta +1.5 ETH inside {BAND}", (
        ("delta_units", 1.5), ("target_units", 0.0), ("half_width_units", 2.0), ("k_fraction", 0.0))),)


def test_outside_band_to_the_edge_and_clamped_bands() -> None:
    d = one(inp(12.3), policy())
    same(d.reasons[0], "outside_band", f"delta +12.3 ETH outside {BAND}; hedging 10.3 ETH to the edge",
         delta_units=12.3, target_units=0.0, half_width_units=2.0, k_fraction=0.0, needed_units=10.3)
    floor = one(inp(12.3), policy(trigger=TriggerConfig(trigger="fixed", band_units=2.0, floor_units=3.0)))
    assert floor.reasons[0].text.startswith(
        "delta +12.3 ETH outside band ±3 ETH around target 0 ETH (fixed, clamped from 2 ETH); hedging 9.3 ETH")
    target = one(inp(-1.0), policy(target_delta_units=2.0, sizing=SizingConfig(hedge_to="target")))
    assert target.reasons[0].text == ("delta -1 ETH outside band ±2 ETH around target 2 ETH (fixed); "
                                      "hedging 3 ETH to the target")
    assert target.reasons[0].number("target_units") == 2.0 and target.order is not None
    assert target.order.side == "buy" and target.delta_after_units == pytest.approx(2.0)


def test_a_delta_exactly_on_the_band_edge_is_inside() -> None:
    for delta in (2.0, -2.0):
        d = one(inp(delta), policy(sizing=SizingConfig(hedge_to="target")))
        assert d.order is None and d.reasons[0].code == "inside_band"


def test_ww_band_reason_names_gamma_and_cost() -> None:
    d = one(inp(12.3), policy(trigger=TriggerConfig(trigger="ww", risk_aversion_per_usd=1e-4)))
    r = d.reasons[0]
    assert r.code == "outside_band" and r.number("k_fraction") > 0.0
    assert "(ww, gamma -0.01 ETH/USD, k 5.7 bps)" in r.text
    assert r.number("half_width_units") == pytest.approx(d.band.half_width_units)


def test_minimum_trade_reasons_and_their_boundaries() -> None:
    units = one(inp(2.03), policy(sizing=SizingConfig(min_trade_units=0.05)))
    same(units.reasons[-1], "below_min_trade", "0.03 ETH below min trade 0.05 ETH", size_units=0.03,
         min_trade_units=0.05)
    quote = one(inp(2.03), policy(sizing=SizingConfig(min_trade_usd=100.0)))
    same(quote.reasons[-1], "below_min_trade", "90.00 USD below min trade 100 USD", notional_quote=90.0,
         min_trade_quote=100.0)
    # exactly the minimum trades (4.0 - 2.0 = 2.0 units = 6,000 USD)
    exact = policy(sizing=SizingConfig(min_trade_units=2.0, min_trade_usd=6000.0))
    assert one(inp(4.0), exact).order is not None


def test_time_trigger_reasons() -> None:
    cfg = policy(trigger=TIMED, sizing=SizingConfig(min_trade_units=0.1))
    due = one(inp(1.5, history=HedgeHistory(last_hedge_time=NOW - 3600.0)), cfg)
    assert due.reasons[1] == Reason("time_trigger", "last hedge 3,600 s ago >= max interval 3,600 s: hedging 1.5 ETH "
                                    "to the target", (("elapsed_s", 3600.0), ("max_interval_s", 3600.0),
                                                      ("needed_units", 1.5)))
    never = one(inp(1.5), cfg)
    assert never.reasons[1].text.startswith("never hedged >= max interval 3,600 s")
    assert never.reasons[1].number("elapsed_s") == math.inf
    not_due = one(inp(1.5, history=HedgeHistory(last_hedge_time=NOW - 3599.0)), cfg)
    assert (not_due.trigger, not_due.needed_units) == ("none", 0.0)
    assert not_due.reasons[1] == Reason("time_not_due", "last hedge 3,599 s ago < max interval 3,600 s", (
        ("elapsed_s", 3599.0), ("max_interval_s", 3600.0)))
    small = one(inp(0.05, history=HedgeHistory(last_hedge_time=NOW - 7200.0)), cfg)
    assert (small.trigger, small.needed_units, small.order) == ("none", 0.0, None)
    assert small.reasons[1] == Reason(
        "time_due_small", "last hedge 7,200 s ago >= max interval 3,600 s, but |delta - target| 0.05 ETH below min "
        "trade 0.1 ETH", (("elapsed_s", 7200.0), ("max_interval_s", 3600.0), ("deviation_units", 0.05)))


def test_the_quote_symbol_is_used_in_every_text() -> None:
    cfg = PolicyConfig(UnderlyingPolicy(trigger=TriggerConfig(trigger="fixed", band_units=2.0),
                                        sizing=SizingConfig(min_trade_usd=100.0)), quote_symbol="USDC")
    assert one(inp(2.03), cfg).reasons[-1].text == "90.00 USDC below min trade 100 USDC"
    direct = decide_underlying(inp(2.03), cfg.default, GAS)
    assert direct.reasons[-1].text == "90.00 USD below min trade 100 USD", "USD when not given"


def test_gate_reasons_name_the_underlying() -> None:
    d = one(inp(12.3, feed_updated_at=NOW - 7200.0), policy())
    assert d.order is None and d.reason_codes[-2:] == ("gate_feed_stale", "gates_failed")
    stale = next(g for g in d.gates if g.gate == "feed_staleness")
    assert not stale.passed and stale.reason.numbers == (("age_s", 7200.0), ("max_age_s", 3600.0))


def test_policy_config_errors_and_copies() -> None:
    with pytest.raises(InputError) as exc:
        PolicyConfig(default="ww")  # type: ignore[arg-type]
    assert str(exc.value) == "default: must be an UnderlyingPolicy, got str"
    with pytest.raises(InputError) as exc:
        PolicyConfig(per_underlying={"": UnderlyingPolicy()})
    assert str(exc.value) == "per_underlying: keys must be non-empty symbols, got ''"
    with pytest.raises(InputError) as exc:
        PolicyConfig(per_underlying={"ETH": 3})  # type: ignore[dict-item]
    assert str(exc.value) == "per_underlying: ETH: must be an UnderlyingPolicy, got int"
    with pytest.raises(InputError) as exc:
        PolicyConfig(quote_symbol="")
    assert str(exc.value) == "quote_symbol: must be a non-empty string"
    cfg = PolicyConfig(per_underlying={"ETH": UnderlyingPolicy(target_delta_units=1.0)})
    with pytest.raises(TypeError, match="^PolicyConfig.per_underlying is read-only$"):
        cfg.per_underlying["BTC"] = UnderlyingPolicy()  # type: ignore[index]
    deep = copy.deepcopy(cfg)
    assert deep == cfg and deep.per_underlying["ETH"] is not cfg.per_underlying["ETH"]
    with pytest.raises(TypeError, match="read-only"):
        deep.per_underlying.pop("ETH")  # type: ignore[attr-defined]


def test_clip_and_window_reasons() -> None:
    clipped = one(inp(12.0), policy(sizing=SizingConfig(hedge_to="target", max_trade_usd=15_000.0)))
    same(clipped.reasons[1], "clipped_max_trade", "clipped to max per trade 15,000 USD; 7 ETH remains",
         max_trade_quote=15_000.0, clip_units=5.0, remaining_units=7.0)
    assert (clipped.trigger, clipped.needed_units, clipped.remaining_units) == ("band", 12.0, 7.0)
    below = one(inp(12.0), policy(sizing=SizingConfig(hedge_to="target", max_trade_usd=1_500.0,
                                                      min_trade_units=1.0)))
    assert (below.order, below.trigger, below.needed_units, below.remaining_units) == (None, "band", 12.0, 12.0)
    same(below.reasons[-1], "max_trade_below_min", "max per trade 1,500 USD allows only 0.5 ETH below min trade 1 ETH",
         max_trade_quote=1_500.0, clip_units=0.5)
    window = SizingConfig(hedge_to="target", window_cap_usd=30_000.0, window_s=3600.0, min_trade_units=1.0)
    part = one(inp(12.0, history=HedgeHistory(fills=(PastHedge(NOW - 600.0, 12_000.0),))), policy(sizing=window))
    same(part.reasons[1], "clipped_window", "clipped to window remainder 18,000 USD of cap 30,000 USD; 6 ETH remains",
         window_left_quote=18_000.0, clip_units=6.0, remaining_units=6.0)
    full = one(inp(12.0, history=HedgeHistory(fills=(PastHedge(NOW - 600.0, 29_000.0),))), policy(sizing=window))
    assert (full.order, full.trigger, full.needed_units, full.remaining_units) == (None, "band", 12.0, 12.0)
    same(full.reasons[-1], "window_cap", "window cap 30,000 USD reached: 1,000 USD left for 3,000 s",
         window_cap_quote=30_000.0, window_left_quote=1_000.0, reopens_in_s=3_000.0)


def test_venue_and_order_reasons() -> None:
    usdc = PolicyConfig(UnderlyingPolicy(trigger=TriggerConfig(trigger="fixed", band_units=2.0)), quote_symbol="USDC")
    only_pool = one(inp(5.0, perps=()), usdc)
    chosen, order = only_pool.reasons[1], only_pool.reasons[2]
    assert chosen.code == "venue_chosen" and "next" not in chosen.text
    assert chosen.text.startswith("uniswap:pool500 (fee 5.0 bps): 13.65 USDC (fee 4.50 USDC, impact 0.15 USDC")
    assert only_pool.order is not None and only_pool.order.underlying == "ETH"
    assert chosen.numbers == (("total_quote", only_pool.order.cost.total_quote),)
    same(order, "order", "sell 3 ETH (9,000 USDC) on uniswap:pool500 (fee 5.0 bps), limit 2985; delta +5 ETH -> +2 ETH",
         size_units=3.0, notional_quote=9_000.0, limit_price_quote=2_985.0, delta_after_units=2.0)
    both = one(inp(-5.0), usdc)
    assert both.reasons[1].text.endswith("; next perp:perp 27.00 USDC")
    same(both.reasons[2], "order", "buy 3 ETH (9,000 USDC) on uniswap:pool500 (fee 5.0 bps), limit 3015; "
         "delta -5 ETH -> -2 ETH", size_units=3.0, notional_quote=9_000.0, limit_price_quote=3_015.0,
         delta_after_units=-2.0)


def test_no_venue_reason() -> None:
    d = one(inp(5.0, perps=(), swaps=(swap(underlying_balance_units=0.0),)), policy())
    assert (d.order, d.trigger, d.needed_units, d.remaining_units) == (None, "band", 3.0, 3.0)
    assert [r.code for r in d.reasons] == ["outside_band", "venue_balance", "no_venue"]
    same(d.reasons[1], "venue_balance", "uniswap:pool500 (fee 5.0 bps) unavailable: balance 0 ETH < 3 ETH to sell",
         balance_units=0.0, size_units=3.0)
    assert d.reasons[2] == Reason("no_venue", "no venue available for sell 3 ETH")
    assert len(d.venues) == 1 and not d.venues[0].available
