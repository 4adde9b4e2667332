"""The array gates and venue choice (keeper.core.gates / keeper.core.policy_arrays) agree with `decide` on random
inputs: the same orders (venue, side, size), the same refusals (failed gates, gas overrides, unavailable venues with
their reason codes, clips below the minimum) and the same cost breakdown."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.core.costs import GasView, PerpVenue, SwapVenue, VenueConfig, gas_cost_quote
from keeper.core.gates import GateConfig, OracleView, SnapshotStatus, evaluate_gates, evaluate_gates_array
from keeper.core.policy import Exposure, UnderlyingInput, UnderlyingPolicy, decide_underlying
from keeper.core.policy_arrays import (
    OUTCOMES,
    REFUSALS,
    VENUES,
    MarketArrays,
    PerpMarket,
    SwapPool,
    decide_arrays,
)
from keeper.core.sizing import HedgeHistory, PastHedge, SizingConfig, TriggerConfig, window_left_quote

NOW = 1_700_000_000.0
SWAP_GAS, PERP_GAS = 260_000.0, 320_000.0


def _random_policy(rng: np.random.Generator) -> UnderlyingPolicy:
    kind = str(rng.choice(["fixed", "pct_book", "ww"]))
    trig = TriggerConfig(
        trigger=kind,  # type: ignore[arg-type]
        band_units=float(rng.uniform(0.1, 20.0)), band_pct=float(rng.uniform(0.1, 5.0)),
        risk_aversion_per_usd=float(10 ** rng.uniform(-6, -2)),
        cost_fraction=None if rng.random() < 0.6 else float(rng.uniform(0.0, 0.01)),
        floor_units=float(rng.choice([0.0, rng.uniform(0.0, 2.0)])),
        max_interval_s=float(rng.choice([math.inf, rng.uniform(600.0, 86_400.0)])),
    )
    max_trade = float(rng.choice([math.inf, rng.uniform(5_000.0, 100_000.0)]))
    sizing = SizingConfig(
        hedge_to=str(rng.choice(["edge", "target"])),  # type: ignore[arg-type]
        min_trade_units=float(rng.choice([0.0, rng.uniform(0.0, 2.0)])),
        min_trade_usd=float(rng.choice([0.0, rng.uniform(0.0, 3000.0)])),
        max_trade_usd=max_trade,
        window_cap_usd=float(rng.choice([math.inf, rng.uniform(max_trade if math.isfinite(max_trade) else 1.0,
                                                               300_000.0)])),
        window_s=3600.0,
    )
    venues = VenueConfig(max_slippage_bps=float(rng.uniform(5.0, 120.0)), max_impact_bps=float(rng.uniform(2.0, 150.0)),
                         perp_holding_horizon_s=float(rng.uniform(0.0, 3 * 86_400.0)))
    gates = GateConfig(max_oracle_deviation_bps=float(rng.uniform(20.0, 200.0)),
                       max_feed_age_s=float(rng.uniform(600.0, 7200.0)), require_twap=bool(rng.random() < 0.7),
                       max_gas_gwei=float(rng.choice([math.inf, rng.uniform(10.0, 100.0)])),
                       urgent_deviation_units=float(rng.choice([math.inf, rng.uniform(0.5, 20.0)])))
    return UnderlyingPolicy(float(rng.uniform(-20, 20)), trig, sizing, venues, gates)


def _codes(reasons: tuple[str, ...]) -> str:
    if "gates_failed" in reasons:
        return "gates_failed"
    if "no_venue" in reasons:
        return "no_venue"
    if "window_cap" in reasons or "max_trade_below_min" in reasons:
        return "below_min_after_clip"
    return "order" if "order" in reasons else "none"


# Long on purpose: one random world per round, then every element checked against the scalar decision.
def test_decide_arrays_equal_decide_underlying() -> None:
    rng = np.random.default_rng(18)
    seen: dict[str, int] = {}
    for _ in range(250):
        pol = _random_policy(rng)
        n = 24
        spot = rng.uniform(1500.0, 4500.0, n)
        feed = spot * (1.0 + rng.normal(0.0, 0.006, n))
        pool = np.where(rng.random(n) < 0.5, spot, spot * (1.0 + rng.normal(0.0, 0.006, n)))
        twap = np.where(rng.random(n) < 0.1, np.nan, pool * (1.0 + rng.normal(0.0, 0.006, n)))
        updated = NOW - rng.uniform(-300.0, 9000.0, n)
        gwei = rng.uniform(1.0, 150.0, n)
        native = float(rng.uniform(1000.0, 4000.0))
        liq = float(10 ** rng.uniform(4.0, 7.0))
        fee = float(rng.choice([0.0001, 0.0005, 0.003, 0.01]))
        perp = None if rng.random() < 0.3 else PerpMarket(float(rng.uniform(0.0, 0.002)),
                                                          float(rng.uniform(-2e-8, 2e-8)))
        delta = pol.target_delta_units + rng.normal(0.0, 15.0, n)
        gamma = -rng.uniform(0.0, 0.2, n)
        book = rng.uniform(-2e6, 2e6, n)
        fills = tuple(PastHedge(NOW - float(rng.uniform(0, 7200)), float(rng.uniform(0, 100_000)))
                      for _ in range(int(rng.integers(0, 4))))
        hists = [HedgeHistory(None if rng.random() < 0.2 else NOW - float(rng.uniform(0.0, 2 * 86_400.0)), fills)
                 for _ in range(n)]
        elapsed = np.array([math.inf if h.last_time is None else NOW - h.last_time for h in hists])
        left = window_left_quote(fills, NOW, pol.sizing.window_s, pol.sizing.window_cap_usd)
        swap_gas = np.array([gas_cost_quote(SWAP_GAS, float(g), native) for g in gwei])
        perp_gas = np.array([gas_cost_quote(PERP_GAS, float(g), native) for g in gwei])
        market = MarketArrays(feed, updated, pool, twap, NOW, gwei, swap_gas, perp_gas)
        got = decide_arrays(pol, delta, spot, gamma, book, elapsed, left, market, SwapPool(fee, liq), perp)
        lean = decide_arrays(pol, delta, spot, gamma, book, elapsed, left, market, SwapPool(fee, liq), perp,
                             all_gates=False)  # the backtest's call: gates only where a hedge is due
        for f in ("trade", "needed", "outcome", "venue", "swap_refusal", "perp_refusal", "fee_quote", "gas_quote"):
            assert np.array_equal(getattr(lean, f), getattr(got, f)), f
        due = got.needed > 0.0
        for f in ("feed_staleness", "oracle_consistency", "gas", "gas_overridden"):
            assert np.array_equal(getattr(lean.gates, f)[due], getattr(got.gates, f)[due]), f
            assert not getattr(lean.gates, f)[~due].any(), f
        for j in range(n):
            perps = () if perp is None else (PerpVenue("perp", perp.taker_fee_fraction, perp.funding_rate_per_second,
                                                       1e18, 0.1, PERP_GAS),)
            inp = UnderlyingInput(
                Exposure("ETH", float(delta[j]), float(gamma[j]), float(book[j]), float(spot[j])),
                OracleView(float(feed[j]), float(updated[j]), float(pool[j]),
                           None if math.isnan(twap[j]) else float(twap[j]), NOW),
                (SwapVenue("pool", fee, SWAP_GAS, 1e12, 1e18, liq, math.sqrt(float(pool[j]))),), perps, hists[j])
            d = decide_underlying(inp, pol, GasView(float(gwei[j]), native))
            codes = d.reason_codes
            why = (j, codes, OUTCOMES[got.outcome[j]])
            outcome = _codes(codes)
            seen[outcome] = seen.get(outcome, 0) + 1
            assert OUTCOMES[got.outcome[j]] == outcome, why
            failed = {g.gate for g in d.gates if not g.passed}
            arr = {name for name, flag in (("feed_staleness", got.gates.feed_staleness[j]),
                                           ("oracle_consistency", got.gates.oracle_consistency[j]),
                                           ("gas", got.gates.gas[j])) if flag}
            assert arr == failed, why
            assert bool(got.gates.gas_overridden[j]) == any(g.overridden for g in d.gates), why
            if "gate_twap_missing" in codes:
                assert got.gates.twap_missing[j], why
            if d.order is None:
                assert got.venue[j] == 0 and got.trade[j] == 0.0, why
            else:
                o = d.order
                # the band's cube root is math.cbrt in the scalar rule, np.cbrt in its twin: sizes agree to an ulp
                assert VENUES[got.venue[j]] == o.venue and got.trade[j] == pytest.approx(o.signed_units, rel=1e-13), why
                parts = (got.fee_quote[j], got.impact_quote[j], got.funding_quote[j], got.gas_quote[j])
                want = (o.cost.fee_quote, o.cost.impact_quote, o.cost.funding_quote, o.cost.gas_quote)
                assert parts == pytest.approx(want, rel=1e-12), why
                seen["venue:" + o.venue] = seen.get("venue:" + o.venue, 0) + 1
            if outcome in ("order", "no_venue"):
                for est in d.venues:
                    code = REFUSALS[(got.swap_refusal if est.venue == "uniswap" else got.perp_refusal)[j]]
                    assert code == ("" if est.available else est.reason.code), why
                    if code:
                        seen[code] = seen.get(code, 0) + 1
    # every branch exercised, each many times (gate_pool_deviation cannot show: the oracle gate compares the same
    # pool with the same limit first, and the backtest hedges in the pool it reads)
    for key in ("none", "order", "gates_failed", "below_min_after_clip", "no_venue", "venue:uniswap", "venue:perp",
                "venue_impact", "venue_slippage"):
        assert seen.get(key, 0) >= 10, (key, seen)


_price = st.floats(100.0, 10_000.0)


@settings(max_examples=300, deadline=None)
@given(feed=_price, pool=_price, twap=st.one_of(st.none(), _price), age=st.floats(-600.0, 10_000.0),
       gas=st.floats(0.0, 500.0), dev=st.floats(-50.0, 50.0), max_dev=st.floats(1.0, 500.0),
       max_age=st.floats(60.0, 7200.0), require_twap=st.booleans(),
       max_gas=st.one_of(st.just(math.inf), st.floats(1.0, 300.0)),
       urgent=st.one_of(st.just(math.inf), st.floats(0.0, 40.0)))
def test_gate_arrays_equal_evaluate_gates(feed: float, pool: float, twap: float | None, age: float, gas: float,
                                          dev: float, max_dev: float, max_age: float, require_twap: bool,
                                          max_gas: float, urgent: float) -> None:
    cfg = GateConfig(max_dev, max_age, require_twap, max_gas, urgent)
    scalar = evaluate_gates(cfg, OracleView(feed, NOW - age, pool, twap, NOW), SnapshotStatus(), gas, dev)
    arr = evaluate_gates_array(cfg, feed, NOW - age, pool, math.nan if twap is None else twap, NOW, gas, dev)
    by = {g.gate: g for g in scalar}
    assert bool(arr.feed_staleness) == (not by["feed_staleness"].passed)
    assert bool(arr.oracle_consistency) == (not by["oracle_consistency"].passed)
    assert bool(arr.gas) == (not by["gas"].passed)
    assert bool(arr.gas_overridden) == by["gas"].overridden
    assert bool(arr.twap_missing) == (by["oracle_consistency"].reason.code == "gate_twap_missing")
    assert bool(arr.passed) == all(g.passed for g in scalar)


def test_an_urgent_hedge_passes_the_gas_cap_and_a_small_one_waits() -> None:
    pol = UnderlyingPolicy(0.0, TriggerConfig(trigger="fixed", band_units=1.0), SizingConfig(),
                           gates=GateConfig(max_gas_gwei=50.0, urgent_deviation_units=10.0))
    delta = np.array([5.0, 15.0, 5.0])
    gwei = np.array([80.0, 80.0, 20.0])
    market = MarketArrays(3000.0, NOW, 3000.0, 3000.0, NOW, gwei, 1.0)
    d = decide_arrays(pol, delta, 3000.0, 0.0, 1e6, math.inf, math.inf, market, SwapPool(0.0005, 1e7))
    assert [OUTCOMES[o] for o in d.outcome] == ["gates_failed", "order", "order"]
    assert d.gates.gas.tolist() == [True, False, False] and d.gates.gas_overridden.tolist() == [False, True, False]
    assert d.trade.tolist() == [0.0, -14.0, -4.0]


def test_a_cheaper_perp_wins_and_funding_can_make_it_dearer() -> None:
    pol = UnderlyingPolicy(0.0, TriggerConfig(trigger="fixed", band_units=1.0), SizingConfig(),
                           VenueConfig(perp_holding_horizon_s=86_400.0))
    market = MarketArrays(3000.0, NOW, 3000.0, 3000.0, NOW, 20.0, 5.0, 5.0)
    pool = SwapPool(0.003, 1e6)
    cheap = decide_arrays(pol, np.array([11.0, -11.0]), 3000.0, 0.0, 1e6, math.inf, math.inf, market, pool,
                          PerpMarket(0.0005, 0.0))
    assert [VENUES[v] for v in cheap.venue] == ["perp", "perp"]
    # 1e-7 per second for a day is 0.864 % of notional: longs pay, so a buy on the perp costs more than the pool
    paid = decide_arrays(pol, np.array([11.0, -11.0]), 3000.0, 0.0, 1e6, math.inf, math.inf, market, pool,
                         PerpMarket(0.0005, 1e-7))
    assert [VENUES[v] for v in paid.venue] == ["perp", "uniswap"]
    assert paid.funding_quote[0] == pytest.approx(-10.0 * 3000.0 * 1e-7 * 86_400.0)
