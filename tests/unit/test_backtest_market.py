"""The simulated market the keeper's gates read (feed, TWAP, gas) and the backtest with the keeper's rules: a
neutral market reproduces the ideal keeper, a gas cap defers hedges unless they are urgent, a dead feed blocks
every hedge once stale, a perp with funding earns or pays it, and results do not depend on the workers."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from keeper.backtest import standard_book
from keeper.backtest.engine import COST_PARTS, RULE_COUNTS, CostModel, PolicySpec, run_paths
from keeper.backtest.market import MarketModel, PerpModel, simulate_market
from keeper.backtest.parallel import BacktestJob, run_backtest
from keeper.backtest.paths import GBMModel, time_grid
from keeper.backtest.policies import band_policy, interval_policy, ww_policy
from keeper.backtest.report import build_report, format_table, report_json
from keeper.core.gates import GateConfig
from keeper.core.venue_inputs import VenueConfig
from keeper.errors import InputError

GRID = time_grid(3.0, 3600)
BOOK = standard_book(3000.0, 0.6, days=3.0)
NEUTRAL = MarketModel(lag_s=0.0, feed_deviation_bps=0.0, gas_log_std=0.0, gas_spikes_per_day=0.0)
OPEN = GateConfig(max_oracle_deviation_bps=1e9, max_feed_age_s=1e9)


def _paths(n: int = 200, seed: int = 4) -> np.ndarray:
    return GBMModel(0.8).simulate(3000.0, GRID, n, np.random.default_rng(seed))


def _with(spec: PolicySpec, gates: GateConfig, venues: VenueConfig | None = None) -> PolicySpec:
    assert spec.policy is not None
    pol = dataclasses.replace(spec.policy, gates=gates, venues=venues or spec.policy.venues)
    return dataclasses.replace(spec, policy=pol)


def test_twap_is_the_time_average_of_log_price_on_the_straight_line() -> None:
    t = np.array([0.0, 100.0, 200.0, 300.0])
    s = np.array([[100.0], [110.0], [90.0], [120.0]])
    m = simulate_market(dataclasses.replace(NEUTRAL, twap_window_s=150.0), s, t)
    fine = np.linspace(150.0, 300.0, 300_001)  # a brute-force average of the interpolated log price
    logs = np.interp(fine, t, np.log(s[:, 0]))
    assert m.twap[3, 0] == pytest.approx(math.exp(np.trapezoid(logs, fine) / 150.0), rel=1e-9)
    # before the start the price is S0: over [-50, 100] a third at 100, then the first segment
    first = np.linspace(0.0, 100.0, 100_001)
    want = (50.0 * math.log(100.0) + np.trapezoid(np.interp(first, t, np.log(s[:, 0])), first)) / 150.0
    assert m.twap[1, 0] == pytest.approx(math.exp(want), rel=1e-9)
    assert m.twap[0, 0] == pytest.approx(100.0, rel=1e-12)


def test_the_feed_updates_on_deviation_or_heartbeat_and_reports_the_lagged_price() -> None:
    t = np.arange(6, dtype=np.float64) * 600.0
    s = np.array([100.0, 100.2, 100.3, 101.0, 101.0, 101.0])[:, None]
    m = simulate_market(MarketModel(lag_s=0.0, feed_heartbeat_s=1800.0, feed_deviation_bps=50.0, gas_log_std=0.0,
                                    gas_spikes_per_day=0.0), s, t)
    # 20 and 30 bps: no round; 100 bps at t=1800: a round (also the heartbeat); then none until 3600
    assert m.feed[:, 0].tolist() == [100.0, 100.0, 100.0, 101.0, 101.0, 101.0]
    assert m.feed_updated_at[:, 0].tolist() == [0.0, 0.0, 0.0, 1800.0, 1800.0, 1800.0]
    lagged = simulate_market(MarketModel(lag_s=300.0, feed_deviation_bps=0.0, gas_log_std=0.0,
                                         gas_spikes_per_day=0.0), s, t)
    assert lagged.feed[3, 0] == pytest.approx(math.sqrt(100.3 * 101.0), rel=1e-12)  # halfway, in log


def test_gas_is_seeded_by_the_paths_and_spikes_lift_it() -> None:
    s = _paths(400)
    a, b = (simulate_market(MarketModel(gas_spikes_per_day=6.0), s, GRID) for _ in range(2))
    assert np.array_equal(a.gas_gwei, b.gas_gwei)
    other = simulate_market(MarketModel(gas_spikes_per_day=6.0), _paths(400, seed=5), GRID)
    assert not np.array_equal(a.gas_gwei, other.gas_gwei)
    calm = simulate_market(MarketModel(gas_spikes_per_day=0.0), s, GRID)
    assert np.median(calm.gas_gwei) == pytest.approx(20.0, rel=0.05)
    assert (a.gas_gwei > 60.0).mean() > 5 * (calm.gas_gwei > 60.0).mean()
    assert np.array_equal(a.gas_gwei, 20.0 * a.gas_multiple)


def test_a_neutral_market_reproduces_the_ideal_keeper() -> None:
    spots = _paths()
    venues = VenueConfig(max_slippage_bps=9_999.0, max_impact_bps=30.0)
    specs = tuple(_with(s, OPEN, venues) for s in (interval_policy(4.0), band_policy(100.0), ww_policy(30.0, 1e6)))
    ideal = run_paths(BOOK, spots, GRID, specs, CostModel(0.003, 1e6, 2.0), 0.8)
    ruled = run_paths(BOOK, spots, GRID, specs, CostModel(0.003, 1e6, 2.0, NEUTRAL), 0.8)
    for s in specs:
        a, b = ideal.policies[s.name], ruled.policies[s.name]
        assert np.array_equal(a.trades, b.trades) and a.trades.sum() > 100
        assert np.array_equal(a.hedging_error, b.hedging_error)
        np.testing.assert_allclose(b.cost, a.cost, rtol=1e-12)
        assert b.cost_parts is not None and b.rule_counts is not None
        # the ideal keeper's "impact above max_impact_bps: no trade" is the rules' "no venue"
        no_venue = RULE_COUNTS.index("no_venue")
        assert np.delete(b.rule_counts, no_venue, axis=0).sum() == 0.0 and b.cost_parts[3].sum() == 0.0
        np.testing.assert_allclose(b.cost_parts[2], 2.0 * b.trades, rtol=1e-12)  # gas at the base price


def test_a_gas_cap_defers_hedges_unless_urgent() -> None:
    spots = _paths()
    market = MarketModel(gas_spikes_per_day=12.0, gas_spike_x=4.0)
    capped = GateConfig(max_gas_gwei=40.0)
    urgent = dataclasses.replace(capped, urgent_deviation_units=3.0)
    specs = (_with(band_policy(50.0), GateConfig()), dataclasses.replace(_with(band_policy(50.0), capped),
                                                                          name="capped"),
             dataclasses.replace(_with(band_policy(50.0), urgent), name="urgent"))
    res = run_paths(BOOK, spots, GRID, specs, CostModel(market=market), 0.8)
    free, cap, urg = (res.policies[n] for n in ("band:50bps", "capped", "urgent"))
    gas_row = RULE_COUNTS.index("gas")
    assert free.rule_counts is not None and cap.rule_counts is not None and urg.rule_counts is not None
    assert free.rule_counts[gas_row].sum() == 0.0 and cap.rule_counts[gas_row].sum() > 50
    assert np.array_equal(cap.rule_counts[0], cap.rule_counts[gas_row])  # nothing else blocked
    assert urg.rule_counts[RULE_COUNTS.index("gas_urgent")].sum() > 0
    assert urg.rule_counts[gas_row].sum() < cap.rule_counts[gas_row].sum()
    # a deferred hedge lets delta drift further before it is caught
    assert cap.max_abs_delta.mean() > free.max_abs_delta.mean()
    assert cap.cost_parts is not None and free.cost_parts is not None
    gas = COST_PARTS.index("gas")
    assert cap.cost_parts[gas].sum() / cap.trades.sum() < free.cost_parts[gas].sum() / free.trades.sum()


def test_a_dead_feed_blocks_every_hedge_once_stale() -> None:
    spots = _paths(50)
    dead = MarketModel(feed_miss_prob=1.0)
    gates = GateConfig(max_oracle_deviation_bps=1e9, max_feed_age_s=7200.0)  # only the age can fail
    wide = VenueConfig(max_slippage_bps=9_999.0)  # nor the stale feed's basis to the pool refuse the swap
    res = run_paths(BOOK, spots, GRID, (_with(interval_policy(1.0), gates, wide),), CostModel(market=dead), 0.8)
    r = res.policies["interval:1h"]
    assert r.rule_counts is not None
    # the feed's last round is at t=0: hedges at 1 h and 2 h go through, every later one is blocked
    assert np.all(r.trades == 2.0)
    assert np.all(r.rule_counts[RULE_COUNTS.index("feed_staleness")] == GRID.size - 2 - 2)


def test_a_lagging_feed_trips_the_oracle_gate() -> None:
    spots = _paths()
    lag = MarketModel(lag_s=3 * 3600.0, feed_deviation_bps=0.0)
    res = run_paths(BOOK, spots, GRID, (band_policy(50.0),), CostModel(market=lag), 0.8)
    r = res.policies["band:50bps"]
    assert r.rule_counts is not None and r.rule_counts[RULE_COUNTS.index("oracle_consistency")].sum() > 100


def test_the_perp_takes_sells_when_funding_pays_shorts_and_funding_accrues() -> None:
    spots = _paths()
    market = dataclasses.replace(NEUTRAL, perp=PerpModel(0.0005, 0.5))
    spec = _with(band_policy(50.0), OPEN, VenueConfig(max_slippage_bps=9_999.0))
    r = run_paths(BOOK, spots, GRID, (spec,), CostModel(0.0005, 2e7, 0.5, market), 0.8).policies["band:50bps"]
    assert r.rule_counts is not None and r.cost_parts is not None
    perp = r.rule_counts[RULE_COUNTS.index("perp_trades")]
    assert 0 < perp.sum() < r.trades.sum()  # sells (paid to be short) go to the perp, buys to the pool
    assert np.all(r.cost_parts[COST_PARTS.index("funding")] <= 0.0) and r.cost_parts[3].sum() < 0.0
    np.testing.assert_allclose(r.cost, r.cost_parts.sum(axis=0), rtol=1e-12)


def test_workers_do_not_change_the_results_and_the_report_shows_the_rules() -> None:
    market = MarketModel(gas_spikes_per_day=6.0, perp=PerpModel())
    specs = tuple(_with(s, GateConfig(max_gas_gwei=35.0, urgent_deviation_units=5.0))
                  for s in (interval_policy(4.0), ww_policy(30.0, 1e6)))
    job = BacktestJob(BOOK, specs, CostModel(market=market), GRID, 3000.0, 0.8, model=GBMModel(0.8), n_paths=300,
                      chunk_paths=100)
    one, two = run_backtest(job, workers=1), run_backtest(job, workers=2)
    for s in specs:
        a, b = one.runs[s.name], two.runs[s.name]
        assert a.rule_counts is not None and b.rule_counts is not None and a.cost_parts is not None
        assert a.rule_counts.shape == (len(RULE_COUNTS), 300) and a.cost_parts.shape == (len(COST_PARTS), 300)
        assert np.array_equal(a.pnl, b.pnl) and np.array_equal(a.rule_counts, b.rule_counts)
    rep = build_report(one, meta={"quote": "USD"})
    doc = report_json(rep)
    row = doc["policies"][0]
    assert set(row["cost_parts"]) == set(COST_PARTS) and set(row["rule_counts"]) == set(RULE_COUNTS)
    assert row["cost_parts"]["fee"] + row["cost_parts"]["impact"] + row["cost_parts"]["gas"] + \
        row["cost_parts"]["funding"] == pytest.approx(row["mean_cost"], rel=1e-9)
    table = format_table(rep)
    assert "fee USD" in table and "blocked" in table and "interval:4h" in table.split("Cost by part")[1]


def test_bad_market_values_name_their_field() -> None:
    for kwargs, field in (({"feed_miss_prob": 1.5}, "feed_miss_prob"), ({"twap_window_s": 0.0}, "twap_window"),
                          ({"gas_spike_x": 0.5}, "gas_spike_x"), ({"lag_s": -1.0}, "oracle_lag")):
        with pytest.raises(InputError, match=field):
            MarketModel(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(InputError, match="perp_funding_apr"):
        PerpModel(funding_apr=math.inf)
