"""The array twins in keeper.core.sizing / keeper.core.costs give the same results as the keeper's scalar code."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.core.costs import (
    GasView,
    VenueConfig,
    estimate_swap,
    swap_cost_quote_array,
    v3_impact_fraction,
    v3_impact_fraction_array,
)
from keeper.core.gates import OracleView
from keeper.core.policy import Exposure, UnderlyingInput, UnderlyingPolicy, decide_underlying
from keeper.core.sizing import (
    HedgeHistory,
    PastHedge,
    SizingConfig,
    TriggerConfig,
    band_half_width_array,
    clip_size,
    clip_size_array,
    compute_band,
    hedge_trades_array,
    window_left_quote,
)
from keeper.core.venue_inputs import Side, SwapVenue

NOW = 1_700_000_000.0
GAS = GasView(gas_price_gwei=0.0, native_price_quote=3000.0)


def _random_policy(rng: np.random.Generator) -> UnderlyingPolicy:
    kind = str(rng.choice(["fixed", "pct_book", "ww"]))
    trig = TriggerConfig(
        trigger=kind,  # type: ignore[arg-type]
        band_units=float(rng.uniform(0.1, 20.0)), band_pct=float(rng.uniform(0.1, 5.0)),
        risk_aversion_per_usd=float(10 ** rng.uniform(-6, -2)),
        cost_fraction=None if rng.random() < 0.6 else float(rng.uniform(0.0, 0.01)),
        floor_units=float(rng.choice([0.0, rng.uniform(0.0, 2.0)])),
        ceiling_units=float(rng.choice([math.inf, rng.uniform(2.0, 30.0)])),
        max_interval_s=float(rng.choice([math.inf, rng.uniform(600.0, 86_400.0)])),
    )
    max_trade = float(rng.choice([math.inf, rng.uniform(5_000.0, 100_000.0)]))
    sizing = SizingConfig(
        hedge_to=str(rng.choice(["edge", "target"])),  # type: ignore[arg-type]
        min_trade_units=float(rng.choice([0.0, rng.uniform(0.0, 2.0)])),
        min_trade_usd=float(rng.choice([0.0, rng.uniform(0.0, 3000.0)])),
        max_trade_usd=max_trade,
        window_cap_usd=float(rng.choice([math.inf, rng.uniform(max(max_trade, 1.0) if math.isfinite(max_trade)
                                                                  else 1.0, 300_000.0)])),
        window_s=3600.0,
    )
    return UnderlyingPolicy(float(rng.uniform(-20, 20)), trig, sizing, VenueConfig(max_impact_bps=10_000.0))


def test_hedge_trades_array_equals_decide_underlying() -> None:
    rng = np.random.default_rng(2024)
    liq, fee = 5e6, 0.0005
    trades = 0
    for _ in range(300):
        pol = _random_policy(rng)
        n = 20
        spot = rng.uniform(1500.0, 4500.0, n)
        delta = pol.target_delta_units + rng.normal(0.0, 15.0, n)
        gamma = -rng.uniform(0.0, 0.2, n)
        book = rng.uniform(-2e6, 2e6, n)
        fills = tuple(PastHedge(NOW - float(rng.uniform(0, 7200)), float(rng.uniform(0, 100_000)))
                      for _ in range(int(rng.integers(0, 4))))
        last = [None if rng.random() < 0.2 else NOW - float(rng.uniform(0.0, 2 * 86_400.0)) for _ in range(n)]
        hists = [HedgeHistory(t, fills) for t in last]
        elapsed = np.array([math.inf if h.last_time is None else NOW - h.last_time for h in hists])
        left = window_left_quote(fills, NOW, pol.sizing.window_s, pol.sizing.window_cap_usd)
        dev = delta - pol.target_delta_units
        k = (fee + v3_impact_fraction_array(np.abs(dev), dev > 0, liq, np.sqrt(spot))
             if pol.trigger.cost_fraction is None else pol.trigger.cost_fraction)
        got = hedge_trades_array(pol.trigger, pol.sizing, pol.target_delta_units, delta, spot, gamma, book, k,
                                 elapsed, left)
        for j in range(n):
            hist = hists[j]
            inp = UnderlyingInput(
                Exposure("ETH", float(delta[j]), float(gamma[j]), float(book[j]), float(spot[j])),
                OracleView(float(spot[j]), NOW - 10.0, float(spot[j]), float(spot[j]), NOW),
                (SwapVenue("pool", fee, 0.0, 1e12, 1e18, liq, math.sqrt(float(spot[j]))),), (), hist)
            d = decide_underlying(inp, pol, GAS)
            want = 0.0 if d.order is None else d.order.signed_units
            assert (want == 0.0) == (got[j] == 0.0), (pol, j, want, got[j], d.reason_codes)
            assert got[j] == pytest.approx(want, rel=1e-12, abs=0.0)
            trades += want != 0.0
    assert 1000 < trades < 5800  # both branches exercised


def test_band_and_clip_twins() -> None:
    rng = np.random.default_rng(5)
    for _ in range(200):
        pol = _random_policy(rng)
        s, g, b, k = (float(rng.uniform(100, 5000)), float(-rng.uniform(0, 1)), float(rng.uniform(-1e6, 1e6)),
                      float(rng.uniform(0, 0.01)))
        h = float(band_half_width_array(pol.trigger, s, g, b, k))
        assert h == pytest.approx(compute_band(pol.trigger, 0.0, s, g, b, k).half_width_units, rel=1e-14)
        needed, left = float(rng.uniform(0, 100)), float(rng.choice([math.inf, rng.uniform(0, 1e5)]))
        c = clip_size(needed, s, pol.sizing.max_trade_usd, left)
        assert float(clip_size_array(needed, s, pol.sizing.max_trade_usd, left)) == c.clip_units


def test_impact_and_swap_cost_twins() -> None:
    rng = np.random.default_rng(9)
    size = np.concatenate([[0.0], rng.uniform(0.0, 2000.0, 500)])
    sell = rng.random(size.size) < 0.5
    price = rng.uniform(1000.0, 5000.0, size.size)
    liq = 3e4
    frac = v3_impact_fraction_array(size, sell, liq, np.sqrt(price))
    cost = swap_cost_quote_array(size, sell, price, 0.003, liq, 2.5)
    venue_cfg = VenueConfig(max_impact_bps=10_000.0)
    for j in range(size.size):
        side: Side = "sell" if sell[j] else "buy"
        assert frac[j] == v3_impact_fraction(float(size[j]), side, liq, math.sqrt(float(price[j])))
        if size[j] > 0 and math.isfinite(frac[j]):
            v = SwapVenue("p", 0.003, 1.0, 1e12, 1e18, liq, math.sqrt(float(price[j])))
            est = estimate_swap(v, side, float(size[j]), float(price[j]), GasView(2.5e9, 1.0), venue_cfg)
            assert cost[j] == pytest.approx(est.cost.total_quote, rel=1e-13)
    assert np.isinf(frac).any() and cost[0] == 0.0
