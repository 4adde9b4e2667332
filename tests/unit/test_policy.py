"""The hedge decision: bands, triggers, sizing, clips across cycles, venue choice, gates, determinism."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from keeper.core.costs import GasView, PerpVenue, SwapVenue, VenueConfig
from keeper.core.gates import GateConfig, OracleView, SnapshotStatus
from keeper.core.policy import (
    Decision,
    Exposure,
    Plan,
    PolicyConfig,
    UnderlyingInput,
    UnderlyingPolicy,
    decide,
)
from keeper.core.sizing import (
    HedgeHistory,
    PastHedge,
    SizingConfig,
    TriggerConfig,
    clip_size,
    compute_band,
    hedge_to_band_array,
    window_left_quote,
    ww_half_width,
    ww_half_width_array,
)
from keeper.errors import InputError

NOW = 1_700_000_000.0
PRICE = 3000.0
GAS = GasView(gas_price_gwei=20.0, native_price_quote=PRICE)


def exposure(delta: float, gamma: float = -0.01, book: float = 3_000_000.0, spot: float = PRICE) -> Exposure:
    return Exposure("ETH", delta, gamma, book, spot)


def oracle(**kw: Any) -> OracleView:
    base: dict[str, Any] = {"feed_price": PRICE, "feed_updated_at": NOW - 60.0, "pool_spot": PRICE, "twap": PRICE,
                            "block_timestamp": NOW}
    base.update(kw)
    return OracleView(**base)


def swap(**kw: Any) -> SwapVenue:
    base: dict[str, Any] = {"venue_id": "pool500", "fee_fraction": 0.0005, "gas_units": 150_000.0,
                            "underlying_balance_units": 10_000.0, "quote_balance_quote": 1e9,
                            "liquidity": 1e7, "sqrt_price": math.sqrt(PRICE)}
    base.update(kw)
    return SwapVenue(**base)


def perp(**kw: Any) -> PerpVenue:
    base: dict[str, Any] = {"venue_id": "perp", "taker_fee_fraction": 0.001, "funding_rate_per_second": 0.0,
                            "free_margin_quote": 1e9, "initial_margin_fraction": 0.1, "gas_units": 300_000.0}
    base.update(kw)
    return PerpVenue(**base)


def inp(delta: float, *, history: HedgeHistory | None = None, swaps: tuple[SwapVenue, ...] | None = None,
        perps: tuple[PerpVenue, ...] | None = None, ex: Exposure | None = None, **okw: Any) -> UnderlyingInput:
    return UnderlyingInput(
        ex or exposure(delta),
        oracle(**okw),
        (swap(),) if swaps is None else swaps,
        (perp(),) if perps is None else perps,
        history or HedgeHistory(),
    )


def policy(**kw: Any) -> PolicyConfig:
    trig = kw.pop("trigger", TriggerConfig(trigger="fixed", band_units=2.0))
    sizing = kw.pop("sizing", SizingConfig(max_trade_usd=math.inf, window_cap_usd=math.inf))  # uncapped
    gates = kw.pop("gates", GateConfig())
    return PolicyConfig(UnderlyingPolicy(trigger=trig, sizing=sizing, gates=gates, **kw))


def one(i: UnderlyingInput, cfg: PolicyConfig, gas: GasView = GAS, snap: SnapshotStatus | None = None) -> Decision:
    return decide([i], cfg, gas, snap or SnapshotStatus()).decisions[0]


# ------------------------------------------------------------------ Whalley-Wilmott band


def test_ww_band_by_hand() -> None:
    # S 3000, Gamma -0.01 ETH/USD, k 4 bps, lambda 1e-4/USD: 1.5 * 0.0004 * 3000 * 1e-4 / 1e-4 = 1.8
    assert ww_half_width(3000.0, -0.01, 0.0004, 1e-4) == pytest.approx(1.8 ** (1 / 3), rel=1e-14)
    # S 2000, Gamma 0.002, k 30 bps, lambda 1e-5: 1.5 * 0.003 * 2000 * 4e-6 / 1e-5 = 3.6
    assert ww_half_width(2000.0, 0.002, 0.003, 1e-5) == pytest.approx(3.6 ** (1 / 3), rel=1e-14)
    assert ww_half_width(3000.0, 0.0, 0.0004, 1e-4) == 0.0


@given(
    s=st.floats(1.0, 1e5), g=st.floats(1e-8, 1.0), k=st.floats(1e-6, 0.05),
    lam=st.floats(1e-9, 1.0), c=st.floats(0.01, 100.0),
)
def test_ww_scaling_laws(s: float, g: float, k: float, lam: float, c: float) -> None:
    h = ww_half_width(s, g, k, lam)
    assume(h > 1e-100)
    assert ww_half_width(s, c * g, k, lam) == pytest.approx(c ** (2 / 3) * h, rel=1e-12)
    assert ww_half_width(s, g, c * k, lam) == pytest.approx(c ** (1 / 3) * h, rel=1e-12)
    assert ww_half_width(s, -g, k, lam) == h


@given(s=st.floats(1.0, 1e5), g=st.floats(1e-8, 1.0), k=st.floats(1e-6, 0.05), lam=st.floats(1e-9, 1.0))
def test_ww_band_is_invariant_to_the_quote_denomination(s: float, g: float, k: float, lam: float) -> None:
    # dollars -> cents: S x100, Gamma (ETH per cent) /100, risk aversion (per cent) /100; band in ETH unchanged
    assert ww_half_width(100 * s, g / 100, k, lam / 100) == pytest.approx(ww_half_width(s, g, k, lam), rel=1e-12)


def test_decision_band_is_invariant_to_the_quote_denomination() -> None:
    trig_usd = TriggerConfig(trigger="ww", risk_aversion_per_usd=1e-4)
    trig_cents = TriggerConfig(trigger="ww", risk_aversion_per_usd=1e-6)
    usd = one(inp(5.0), policy(trigger=trig_usd))
    cents_ex = Exposure("ETH", 5.0, -0.01 / 100, 3_000_000.0 * 100, PRICE * 100)
    cents = one(
        inp(5.0, ex=cents_ex, feed_price=PRICE * 100, pool_spot=PRICE * 100, twap=PRICE * 100,
            swaps=(swap(sqrt_price=math.sqrt(PRICE * 100), liquidity=1e7 * 10, quote_balance_quote=1e11),)),
        policy(trigger=trig_cents),
        GasView(20.0, PRICE * 100),
    )
    assert cents.band.k_fraction == pytest.approx(usd.band.k_fraction, rel=1e-12)
    assert cents.band.half_width_units == pytest.approx(usd.band.half_width_units, rel=1e-12)
    assert usd.order is not None and cents.order is not None
    assert cents.order.size_units == pytest.approx(usd.order.size_units, rel=1e-12)


def test_ww_vectorized_matches_scalar() -> None:
    rng = np.random.default_rng(7)
    s = rng.uniform(100, 5000, 50)
    g = rng.normal(0, 0.01, 50)
    k = rng.uniform(1e-4, 1e-2, 50)
    vec = ww_half_width_array(s, g, k, 1e-4)
    assert vec.shape == (50,) and vec.dtype == np.float64
    for i in range(50):
        assert vec[i] == pytest.approx(ww_half_width(float(s[i]), float(g[i]), float(k[i]), 1e-4), rel=1e-14)
    assert ww_half_width_array(3000.0, -0.01, 0.0004, 1e-4).shape == ()


def test_hedge_to_band_array() -> None:
    d = np.array([5.0, -5.0, 1.0, -1.0, 2.0])
    assert hedge_to_band_array(d, 0.0, 2.0).tolist() == [-3.0, 3.0, 0.0, 0.0, 0.0]
    assert hedge_to_band_array(d, 0.0, 2.0, "target").tolist() == [-5.0, 5.0, 0.0, 0.0, 0.0]
    assert hedge_to_band_array(d, 1.0, np.array([1.0, 1.0, 1.0, 1.0, 10.0])).tolist() == [-3.0, 5.0, 0.0, 1.0, 0.0]
    with pytest.raises(InputError):
        hedge_to_band_array(d, 0.0, 1.0, "middle")  # type: ignore[arg-type]


def test_fixed_pct_and_clamped_bands() -> None:
    assert compute_band(TriggerConfig(trigger="fixed", band_units=2.0), 1.0, PRICE, 0.0, 0.0, 0.0).upper_units == 3.0
    # 1 % of a 3M USD book at 3,000 USD/ETH = 10 ETH
    pct = compute_band(TriggerConfig(trigger="pct_book", band_pct=1.0), 0.0, PRICE, 0.0, -3e6, 0.0)
    assert pct.half_width_units == pytest.approx(10.0) and pct.lower_units == pytest.approx(-10.0)
    floored = compute_band(TriggerConfig(trigger="ww", floor_units=0.5), 0.0, PRICE, 0.0, 0.0, 0.001)
    assert floored.raw_half_width_units == 0.0 and floored.half_width_units == 0.5
    capped = compute_band(TriggerConfig(trigger="ww", ceiling_units=1.0), 0.0, PRICE, -0.1, 0.0, 0.001)
    assert capped.half_width_units == 1.0 and capped.raw_half_width_units > 1.0


def test_ww_k_is_estimated_from_the_cheapest_venue() -> None:
    d = one(inp(0.5), policy(trigger=TriggerConfig(trigger="ww")))
    frac = 0.5 * math.sqrt(PRICE) / (1e7 + 0.5 * math.sqrt(PRICE))
    assert d.band.k_fraction == pytest.approx(0.0005 + frac, rel=1e-12)  # swap (5 bps + impact) beats perp (10 bps)
    d = one(inp(0.5), policy(trigger=TriggerConfig(trigger="ww", cost_fraction=0.002)))
    assert d.band.k_fraction == 0.002
    assert d.band.half_width_units == pytest.approx(ww_half_width(PRICE, -0.01, 0.002, 1e-4), rel=1e-14)


# ------------------------------------------------------------------ triggers and sizing


def test_inside_band_no_trade_with_reason() -> None:
    d = one(inp(1.5), policy())
    assert d.order is None and d.trigger == "none"
    assert d.reason_codes == ("inside_band",)
    assert d.reasons[0].text.startswith("delta +1.5 ETH inside band ±2 ETH")
    assert d.delta_after_units == d.delta_before_units == 1.5
    assert (d.band_lower_units, d.band_upper_units, d.band_kind) == (-2.0, 2.0, "fixed")
    assert [g.gate for g in d.gates] == ["snapshot", "feed_staleness", "oracle_consistency", "gas"]


def test_outside_band_hedges_to_edge_or_target() -> None:
    edge = one(inp(12.3), policy())
    assert edge.order is not None and edge.trigger == "band"
    assert edge.order.side == "sell" and edge.order.size_units == pytest.approx(10.3)
    assert edge.delta_after_units == pytest.approx(2.0)
    assert edge.reasons[0].code == "outside_band"
    assert "delta +12.3 ETH outside band ±2 ETH" in edge.reasons[0].text
    tgt = one(inp(-12.3), policy(sizing=SizingConfig(hedge_to="target")))
    assert tgt.order is not None and tgt.order.side == "buy"
    assert tgt.order.size_units == pytest.approx(12.3) and tgt.delta_after_units == pytest.approx(0.0)
    off = one(inp(12.3), policy(target_delta_units=5.0))  # band around a non-zero target
    assert off.order is not None and off.delta_after_units == pytest.approx(7.0)


def test_order_fields_and_limit_price() -> None:
    cfg = policy(venues=VenueConfig(max_slippage_bps=30.0))
    sell = one(inp(5.0), cfg).order
    buy = one(inp(-5.0), cfg).order
    assert sell is not None and buy is not None
    assert sell.limit_price_quote == pytest.approx(PRICE * (1 - 0.003))
    assert buy.limit_price_quote == pytest.approx(PRICE * (1 + 0.003))
    assert sell.notional_quote == pytest.approx(3.0 * PRICE)
    assert sell.reference_price_quote == PRICE
    assert (sell.venue, sell.venue_id, sell.fee_fraction) == ("uniswap", "pool500", 0.0005)
    assert sell.cost.fee_quote == pytest.approx(3.0 * PRICE * 0.0005)
    assert sell.signed_units == -sell.size_units and buy.signed_units == buy.size_units


def test_min_trade_in_units_and_quote() -> None:
    d = one(inp(2.03), policy(sizing=SizingConfig(min_trade_units=0.05)))
    assert d.order is None and d.reasons[-1].code == "below_min_trade"
    assert "0.03 ETH below min trade 0.05 ETH" in d.reasons[-1].text
    assert d.remaining_units == pytest.approx(0.03)
    d = one(inp(2.03), policy(sizing=SizingConfig(min_trade_usd=100.0)))  # 0.03 * 3000 = 90 USD
    assert d.order is None and "90.00 USD below min trade 100 USD" in d.reasons[-1].text
    assert one(inp(2.1), policy(sizing=SizingConfig(min_trade_units=0.05, min_trade_usd=100.0))).order is not None


def test_time_trigger() -> None:
    cfg = policy(trigger=TriggerConfig(trigger="fixed", band_units=2.0, max_interval_s=3600.0),
                 sizing=SizingConfig(min_trade_units=0.1))
    due = one(inp(1.5, history=HedgeHistory(last_hedge_time=NOW - 3600.0)), cfg)
    assert due.order is not None and due.trigger == "time"
    assert due.order.size_units == pytest.approx(1.5) and due.delta_after_units == pytest.approx(0.0)
    assert due.reason_codes[:2] == ("inside_band", "time_trigger")
    not_due = one(inp(1.5, history=HedgeHistory(last_hedge_time=NOW - 3599.0)), cfg)
    assert not_due.order is None and not_due.reason_codes == ("inside_band", "time_not_due")
    small = one(inp(0.05, history=HedgeHistory(last_hedge_time=NOW - 7200.0)), cfg)
    assert small.order is None and small.reason_codes == ("inside_band", "time_due_small")
    # last hedge time defaults to the latest fill; never hedged means due
    from_fills = one(inp(1.5, history=HedgeHistory(fills=(PastHedge(NOW - 100.0, 1.0),))), cfg)
    assert from_fills.order is None
    assert one(inp(1.5), cfg).trigger == "time"


def test_clip_across_three_cycles_with_history() -> None:
    cfg = policy(sizing=SizingConfig(hedge_to="target", max_trade_usd=100_000.0))
    delta, history, t = 100.0, HedgeHistory(), NOW
    sizes = []
    for cycle in range(3):
        d = one(inp(delta, history=history, block_timestamp=t), cfg)
        assert d.order is not None and d.order.notional_quote <= 100_000.0
        sizes.append(d.order.size_units)
        if cycle < 2:
            assert d.reason_codes[1] == "clipped_max_trade"
            assert "clipped to max per trade 100,000 USD;" in d.reasons[1].text
        assert d.remaining_units == pytest.approx(100.0 - sum(sizes))
        delta = d.delta_after_units  # the next cycle re-reads the (filled) book
        history = HedgeHistory(t, (*history.fills, PastHedge(t, d.order.notional_quote)))
        t += 60.0
    assert sizes == pytest.approx([100 / 3] * 3)
    assert delta == pytest.approx(0.0, abs=1e-9)
    d = one(inp(delta, history=history, block_timestamp=t), cfg)
    assert d.order is None


def test_rolling_window_cap() -> None:
    cfg = policy(sizing=SizingConfig(hedge_to="target", max_trade_usd=100_000.0, window_cap_usd=250_000.0,
                                     window_s=3600.0))
    delta, history, t = 200.0, HedgeHistory(), NOW
    notionals = []
    for _ in range(3):
        d = one(inp(delta, history=history, block_timestamp=t), cfg)
        assert d.order is not None
        notionals.append(d.order.notional_quote)
        delta = d.delta_after_units
        history = HedgeHistory(t, (*history.fills, PastHedge(t, d.order.notional_quote)))
        t += 160.0
    assert notionals == pytest.approx([100_000.0, 100_000.0, 50_000.0])
    d = one(inp(delta, history=history, block_timestamp=t), cfg)
    assert d.order is None and d.reasons[-1].code == "window_cap"
    # the first fill (at NOW) leaves the window at NOW + 3600; t = NOW + 480
    assert d.reasons[-1].text == "window cap 250,000 USD reached: 0.00 USD left for 3,120 s"
    # once the first fill has left the window, 100k is free again
    later = one(inp(delta, history=history, block_timestamp=NOW + 3600.0, feed_updated_at=NOW + 3590.0), cfg)
    assert later.order is not None and later.order.notional_quote == pytest.approx(100_000.0)


def test_third_cycle_reports_window_clip() -> None:
    cfg = policy(sizing=SizingConfig(max_trade_usd=100_000.0, window_cap_usd=250_000.0, window_s=3600.0))
    h = HedgeHistory(NOW - 10, (PastHedge(NOW - 20, 100_000.0), PastHedge(NOW - 10, 100_000.0)))
    d = one(inp(60.0, history=h), cfg)
    assert d.order is not None and d.order.notional_quote == pytest.approx(50_000.0)
    assert d.reason_codes[1] == "clipped_window"


def test_clip_size_never_exceeds_caps_in_floating_point() -> None:
    for price in (3000.0, 2999.99, 0.1 + 0.2, 1 / 3):
        for cap in (100_000.0, 0.3, 1e-7, 123_456.789):
            c = clip_size(1e12, price, cap, math.inf)
            assert c.clip_units * price <= cap and c.limited_by == "max_trade"
            w = clip_size(1e12, price, math.inf, cap)
            assert w.clip_units * price <= cap and w.limited_by == "window"


# ------------------------------------------------------------------ venues


def test_venue_choice_picks_the_cheaper_venue() -> None:
    d = one(inp(12.0), policy())
    assert d.order is not None and d.order.venue == "uniswap"
    assert {e.venue for e in d.venues} == {"uniswap", "perp"}
    assert d.reasons[-2].code == "venue_chosen" and "next perp:perp" in d.reasons[-2].text
    cheap_perp = one(inp(12.0, perps=(perp(taker_fee_fraction=0.0001, gas_units=100_000.0),)), policy())
    assert cheap_perp.order is not None and cheap_perp.order.venue == "perp"
    assert cheap_perp.order.cost.total_quote < min(e.cost.total_quote for e in cheap_perp.venues if e.venue != "perp")


def test_venue_falls_back_when_one_is_unavailable() -> None:
    d = one(inp(12.0, swaps=(swap(underlying_balance_units=1.0),)), policy())
    assert d.order is not None and d.order.venue == "perp"
    assert "venue_balance" in d.reason_codes
    d = one(inp(12.0, swaps=(swap(underlying_balance_units=1.0),), perps=(perp(free_margin_quote=10.0),)), policy())
    assert d.order is None and d.reason_codes[-3:] == ("venue_balance", "venue_margin", "no_venue")
    assert len(d.venues) == 2 and d.remaining_units == pytest.approx(10.0)
    only_perp = one(inp(12.0, swaps=()), policy())
    assert only_perp.order is not None and only_perp.order.venue == "perp"


# ------------------------------------------------------------------ gates in the decision


def test_failed_gates_block_the_trade() -> None:
    cfg = policy(gates=GateConfig(max_oracle_deviation_bps=50.0, max_feed_age_s=600.0))
    for kw in ({"pool_spot": PRICE * 1.01}, {"feed_updated_at": NOW - 601.0}, {"twap": None}):
        d = one(inp(12.0, **kw), cfg)
        assert d.order is None and d.reasons[-1].code == "gates_failed"
        assert d.remaining_units == pytest.approx(10.0)
    d = one(inp(12.0), cfg, snap=SnapshotStatus(False, ("lp 7: call reverted",)))
    assert d.order is None and "gate_snapshot" in d.reason_codes
    assert "snapshot" in d.reasons[-1].text


def test_gas_cap_defers_unless_urgent() -> None:
    cfg = policy(gates=GateConfig(max_gas_gwei=50.0, urgent_deviation_units=20.0))
    hot = GasView(gas_price_gwei=120.0, native_price_quote=PRICE)
    deferred = one(inp(12.0), cfg, hot)
    assert deferred.order is None and "gate_gas" in deferred.reason_codes
    urgent = one(inp(25.0), cfg, hot)
    assert urgent.order is not None and "gate_gas_urgent" in urgent.reason_codes
    assert any(g.overridden for g in urgent.gates)


# ------------------------------------------------------------------ plan, determinism, config


def test_plan_over_underlyings_with_overrides() -> None:
    btc = UnderlyingInput(Exposure("BTC", 0.5, 0.0, 0.0, 60_000.0),
                          oracle(feed_price=60_000.0, pool_spot=60_000.0, twap=60_000.0),
                          (swap(sqrt_price=math.sqrt(60_000.0)),), ())
    base = policy()
    cfg = PolicyConfig(base.default, {"BTC": dataclasses.replace(base.default, target_delta_units=3.0)})
    plan = decide([inp(12.0), btc], cfg, GAS)
    assert [d.underlying for d in plan.decisions] == ["ETH", "BTC"]
    assert plan.decision("BTC").order is not None and plan.decision("BTC").order.side == "buy"  # type: ignore[union-attr]
    assert plan.decision("BTC").delta_after_units == pytest.approx(1.0)
    assert len(plan.orders) == 2
    with pytest.raises(KeyError):
        plan.decision("SOL")
    with pytest.raises(InputError) as ei:
        decide([inp(1.0), inp(2.0)], cfg, GAS)
    assert ei.value.argument == "inputs"


def test_determinism() -> None:
    cfg = policy(trigger=TriggerConfig(trigger="ww", max_interval_s=600.0),
                 sizing=SizingConfig(max_trade_usd=20_000.0, window_cap_usd=50_000.0))
    inputs = [inp(12.0, history=HedgeHistory(NOW - 900, (PastHedge(NOW - 900, 10_000.0),)))]
    a = decide(inputs, cfg, GAS)
    b = decide(copy.deepcopy(inputs), copy.deepcopy(cfg), copy.deepcopy(GAS))
    assert a == b
    assert isinstance(a, Plan) and a.orders


@pytest.mark.parametrize(
    ("cls", "kwargs", "field"),
    [
        (TriggerConfig, {"trigger": "wide"}, "trigger"),
        (TriggerConfig, {"trigger": "fixed", "band_units": -1.0}, "band_units"),
        (TriggerConfig, {"trigger": "fixed"}, "band_units"),
        (TriggerConfig, {"trigger": "pct_book", "band_pct": 100.5}, "band_pct"),
        (TriggerConfig, {"trigger": "pct_book", "band_pct": -0.5}, "band_pct"),
        (TriggerConfig, {"trigger": "pct_book"}, "band_pct"),
        (TriggerConfig, {"risk_aversion_per_usd": 0.0}, "risk_aversion_per_usd"),
        (TriggerConfig, {"cost_fraction": 1.0}, "cost_fraction"),
        (TriggerConfig, {"floor_units": math.nan}, "floor_units"),
        (TriggerConfig, {"ceiling_units": -1.0}, "ceiling_units"),
        (TriggerConfig, {"floor_units": 2.0, "ceiling_units": 1.0}, "ceiling_units"),
        (TriggerConfig, {"max_interval_s": 0.0}, "max_interval_s"),
        (SizingConfig, {"hedge_to": "middle"}, "hedge_to"),
        (SizingConfig, {"min_trade_units": -0.1}, "min_trade_units"),
        (SizingConfig, {"min_trade_usd": math.inf}, "min_trade_usd"),
        (SizingConfig, {"max_trade_usd": 0.0}, "max_trade_usd"),
        (SizingConfig, {"min_trade_usd": 100.0, "max_trade_usd": 50.0}, "max_trade_usd"),
        (SizingConfig, {"window_cap_usd": -1.0}, "window_cap_usd"),
        (SizingConfig, {"window_s": math.inf}, "window_s"),
        (UnderlyingPolicy, {"target_delta_units": math.nan}, "target_delta_units"),
        (UnderlyingPolicy, {"trigger": "ww"}, "trigger"),
        (PolicyConfig, {"default": None}, "default"),
        (PolicyConfig, {"per_underlying": {"": UnderlyingPolicy()}}, "per_underlying"),
        (PolicyConfig, {"quote_symbol": ""}, "quote_symbol"),
        (Exposure, {"underlying": "", "delta_units": 0, "gamma_units_per_quote": 0, "book_value_quote": 0,
                    "spot": 1}, "underlying"),
        (Exposure, {"underlying": "ETH", "delta_units": math.inf, "gamma_units_per_quote": 0,
                    "book_value_quote": 0, "spot": 1}, "delta_units"),
        (Exposure, {"underlying": "ETH", "delta_units": 0, "gamma_units_per_quote": math.nan,
                    "book_value_quote": 0, "spot": 1}, "gamma_units_per_quote"),
        (Exposure, {"underlying": "ETH", "delta_units": 0, "gamma_units_per_quote": 0,
                    "book_value_quote": 0, "spot": 0}, "spot"),
        (PastHedge, {"timestamp": math.nan, "notional_quote": 1.0}, "timestamp"),
        (PastHedge, {"timestamp": 0.0, "notional_quote": -1.0}, "notional_quote"),
        (HedgeHistory, {"last_hedge_time": math.inf}, "last_hedge_time"),
    ],
)
def test_invalid_config_names_the_field(cls: Any, kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as ei:
        cls(**kwargs)
    assert ei.value.argument == field
    assert str(ei.value).startswith(field + ":")


def test_input_needs_a_venue() -> None:
    with pytest.raises(InputError) as ei:
        UnderlyingInput(exposure(1.0), oracle(), (), ())
    assert ei.value.argument == "swaps"


def test_config_is_frozen() -> None:
    cfg = policy()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.default.sizing.max_trade_usd = 1.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        cfg.per_underlying["ETH"] = UnderlyingPolicy()  # type: ignore[index]
    assert pickle.loads(pickle.dumps(cfg)) == cfg  # a backtest may ship it to worker processes


# ------------------------------------------------------------------ properties


@settings(max_examples=300, deadline=None)
@given(
    delta=st.floats(-500.0, 500.0),
    target=st.floats(-50.0, 50.0),
    band=st.floats(0.01, 20.0),
    hedge_to=st.sampled_from(["edge", "target"]),
    max_trade=st.floats(1_000.0, 2_000_000.0),
    cap=st.floats(1_000.0, 5_000_000.0),
    fills=st.lists(st.tuples(st.floats(0.0, 7200.0), st.floats(0.0, 500_000.0)), max_size=6),
    min_units=st.floats(0.0, 0.5),
)
def test_hedge_stays_within_band_and_caps(
    delta: float, target: float, band: float, hedge_to: str, max_trade: float, cap: float,
    fills: list[tuple[float, float]], min_units: float,
) -> None:
    sizing = SizingConfig(hedge_to=hedge_to, min_trade_units=min_units, max_trade_usd=max_trade,  # type: ignore[arg-type]
                          window_cap_usd=cap, window_s=3600.0)
    cfg = policy(target_delta_units=target, trigger=TriggerConfig(trigger="fixed", band_units=band), sizing=sizing)
    hist = HedgeHistory(fills=tuple(PastHedge(NOW - age, n) for age, n in fills))
    d = one(inp(delta, history=hist), cfg)
    left = window_left_quote(hist.fills, NOW, 3600.0, cap)
    if d.order is None:
        assert d.delta_after_units == delta
        return
    o = d.order
    assert o.size_units > 0.0 and o.size_units >= min_units
    assert o.notional_quote <= max_trade
    assert o.notional_quote <= left
    assert (o.side == "sell") == (delta > target)
    moved_toward = abs(d.delta_after_units - target) < abs(delta - target)
    assert moved_toward
    if d.remaining_units == 0.0:  # not clipped
        assert abs(d.delta_after_units - target) <= band * (1 + 1e-12) + 1e-12
    else:
        assert d.remaining_units > 0.0 and d.reason_codes[1] in ("clipped_max_trade", "clipped_window")


def test_decision_modules_are_pure() -> None:
    """The decision imports numpy and the stdlib only: no web3, no I/O libraries, no clock-reading helpers."""
    import subprocess
    import sys

    code = (
        "import sys, keeper.core.policy, keeper.core.costs, keeper.core.gates, keeper.core.sizing\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('web3', 'eth_abi', 'eth_account', 'pydantic', 'requests', 'sqlite3', 'arch', 'scipy', 'pandas'))\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
