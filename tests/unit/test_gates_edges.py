"""Gates at their boundaries: each opens exactly at its limit and closes one step past it, with a
reason whose text and numbers are checked against values worked out by hand.

Prices are chosen as binary fractions (1024, 1025, 1/1024...) so that the deviations, bases and
bps sums are exact floats and an ``==`` boundary is really on the boundary.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from keeper.core.costs import CostEstimate, SwapQuote, SwapVenue, VenueEstimate
from keeper.core.gates import (
    GateConfig,
    GateResult,
    OracleView,
    SnapshotStatus,
    all_passed,
    check_feed_staleness,
    check_gas,
    check_oracle_consistency,
    check_pool_deviation,
    check_snapshot,
    deviation_bps,
    evaluate_gates,
    gate_slippage_estimate,
    gate_swap_estimate,
    pool_within_deviation,
)
from keeper.core.reasons import Reason
from keeper.errors import InputError

# 1025 / 1024 - 1 = 2**-10 exactly: 9.765625 bps.
STEP_BPS = 1e4 / 1024


def oracle(**kw: Any) -> OracleView:
    base: dict[str, Any] = {"feed_price": 1024.0, "feed_updated_at": 1_000.0, "pool_spot": 1024.0,
                            "twap": 1024.0, "block_timestamp": 1_600.0}
    base.update(kw)
    return OracleView(**base)


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(("field", "value", "words"), [
    ("feed_price", 0.0, "must be > 0, got 0.0"),
    ("feed_price", -3.0, "must be > 0, got -3.0"),
    ("feed_updated_at", math.inf, "must be finite, got inf"),
    ("pool_spot", 0.0, "must be > 0, got 0.0"),
    ("twap", -1.0, "must be > 0, got -1.0"),
    ("twap", math.inf, "must be finite, got inf"),
    ("block_timestamp", -math.inf, "must be finite, got -inf"),
])
def test_oracle_view_names_the_bad_field_and_value(field: str, value: float, words: str) -> None:
    with pytest.raises(InputError) as ei:
        oracle(**{field: value})
    assert ei.value.argument == field
    assert str(ei.value) == f"{field}: {words}"


def test_oracle_view_accepts_a_missing_twap_and_negative_timestamps() -> None:
    o = oracle(twap=None, feed_updated_at=-5.0, block_timestamp=-1.0)
    assert o.twap is None and o.feed_updated_at == -5.0


def test_snapshot_status_complete_with_failures_is_refused_with_the_count() -> None:
    with pytest.raises(InputError) as ei:
        SnapshotStatus(True, ("a", "b"))
    assert str(ei.value) == "complete: True but 2 failure(s) listed"
    assert not SnapshotStatus(False, ("a",)).complete
    assert SnapshotStatus(False).failures == ()


@pytest.mark.parametrize(("field", "value", "words"), [
    ("max_oracle_deviation_bps", math.inf, "must be finite, got inf"),
    ("max_oracle_deviation_bps", -1.0, "must be > 0, got -1.0"),
    ("max_feed_age_s", math.inf, "must be finite, got inf"),
    ("max_feed_age_s", 0.0, "must be > 0, got 0.0"),
    ("require_twap", "yes", "must be a bool, got 'yes'"),
    ("require_twap", 0, "must be a bool, got 0"),
    ("max_gas_gwei", 0.0, "must be > 0, got 0.0"),
    ("urgent_deviation_units", -0.5, "must be >= 0, got -0.5"),
])
def test_gate_config_names_the_bad_field_and_value(field: str, value: object, words: str) -> None:
    with pytest.raises(InputError) as ei:
        GateConfig(**{field: value})  # type: ignore[arg-type]
    assert ei.value.argument == field
    assert str(ei.value) == f"{field}: {words}"


def test_gate_config_allows_no_gas_cap_and_never_or_always_urgent() -> None:
    GateConfig(max_gas_gwei=math.inf, urgent_deviation_units=math.inf)
    GateConfig(urgent_deviation_units=0.0, require_twap=False)


def test_gate_config_defaults_behave_as_documented() -> None:
    """100 bps, one hour, TWAP required, no gas cap, never urgent."""
    cfg = GateConfig()
    assert [r.passed for r in evaluate_gates(cfg, oracle(feed_updated_at=1_600.0 - 3_600.0), SnapshotStatus(),
                                             1e12, 1e12)] == [True, True, True, True]
    late = evaluate_gates(cfg, oracle(feed_updated_at=1_600.0 - 3_601.0), SnapshotStatus(), 1.0, 0.0)
    assert not late[1].passed
    # 0.99 % and 1.01 % off the feed, on either side of 100 bps
    assert evaluate_gates(cfg, oracle(pool_spot=1024.0 * 1.0099), SnapshotStatus(), 1.0, 0.0)[2].passed
    assert not evaluate_gates(cfg, oracle(pool_spot=1024.0 * 1.0101), SnapshotStatus(), 1.0, 0.0)[2].passed
    assert not evaluate_gates(cfg, oracle(twap=None), SnapshotStatus(), 1.0, 0.0)[2].passed
    gas = evaluate_gates(cfg, oracle(), SnapshotStatus(), 1e300, 1e300)[3]
    assert gas.passed and not gas.overridden


# --------------------------------------------------------------------------- deviation


def test_deviation_divides_by_the_smaller_price() -> None:
    assert deviation_bps(1024.0, 1025.0) == STEP_BPS * 1024 / 1024
    assert deviation_bps(1.0, 2.0) == 10_000.0  # |1 - 2| / 1, not / 2
    assert deviation_bps(2.0, 1.0) == 10_000.0
    assert deviation_bps(3.0, 3.0) == 0.0


# --------------------------------------------------------------------------- snapshot


def test_snapshot_gate_texts() -> None:
    ok = check_snapshot(SnapshotStatus())
    assert (ok.gate, ok.passed, ok.reason.code, ok.reason.text, ok.overridden) == (
        "snapshot", True, "gate_ok", "snapshot complete", False)
    none = check_snapshot(SnapshotStatus(False))
    assert none.gate == "snapshot" and not none.passed and none.reason.code == "gate_snapshot"
    assert none.reason.text == "snapshot incomplete, 0 failed read(s): no details"
    assert none.reason.number("failures") == 0.0
    three = check_snapshot(SnapshotStatus(False, ("a", "b", "c")))
    assert three.reason.text == "snapshot incomplete, 3 failed read(s): a; b; c"
    four = check_snapshot(SnapshotStatus(False, ("a", "b", "c", "d")))
    assert four.reason.text == "snapshot incomplete, 4 failed read(s): a; b; c (+1 more)"
    assert four.reason.number("failures") == 4.0


# --------------------------------------------------------------------------- staleness


def test_staleness_opens_from_age_zero_to_the_limit_and_closes_outside() -> None:
    at_block = check_feed_staleness(oracle(feed_updated_at=1_600.0), 60.0)
    assert at_block.passed and at_block.gate == "feed_staleness" and at_block.reason.code == "gate_ok"
    assert at_block.reason.text == "feed age 0 s" and at_block.reason.number("age_s") == 0.0
    at_limit = check_feed_staleness(oracle(feed_updated_at=1_540.0), 60.0)
    assert at_limit.passed and at_limit.reason.text == "feed age 60 s"
    past = check_feed_staleness(oracle(feed_updated_at=1_539.0), 60.0)
    assert not past.passed and past.gate == "feed_staleness" and past.reason.code == "gate_feed_stale"
    assert past.reason.text == "feed is 61 s old > max 60 s"
    assert past.reason.numbers == (("age_s", 61.0), ("max_age_s", 60.0))
    future = check_feed_staleness(oracle(feed_updated_at=1_601.0), 60.0)
    assert not future.passed and future.gate == "feed_staleness" and future.reason.code == "gate_feed_future"
    assert future.reason.text == "feed updatedAt is 1 s after the block"
    assert future.reason.numbers == (("age_s", -1.0),)


# --------------------------------------------------------------------------- oracle consistency


def test_oracle_gate_opens_at_the_limit_and_closes_just_past_it() -> None:
    o = oracle(pool_spot=1025.0)  # feed-pool and pool-twap both 9.765625 bps
    at = check_oracle_consistency(o, STEP_BPS)
    assert at.passed and at.gate == "oracle_consistency" and at.reason.code == "gate_ok"
    assert at.reason.text == "prices agree within 9.8 bps"
    assert at.reason.numbers == (("deviation_bps", STEP_BPS),)
    past = check_oracle_consistency(o, STEP_BPS - 1e-9)
    assert not past.passed and past.gate == "oracle_consistency" and past.reason.code == "gate_oracle_deviation"
    assert past.reason.text == "prices disagree: feed 1024 vs pool 1025 (9.8 bps > max 9.8 bps)"
    assert past.reason.numbers == (("deviation_bps", STEP_BPS), ("max_deviation_bps", STEP_BPS - 1e-9))


@pytest.mark.parametrize(("pool", "twap", "pair"), [
    (1024.0, 1025.0, "feed 1024 vs twap 1025"),   # the TWAP alone is off
    (1023.0, 1025.0, "pool 1023 vs twap 1025"),   # pool and TWAP on either side: the widest pair
    (1025.0, 1024.5, "feed 1024 vs pool 1025"),   # the first pair stays the worst
])
def test_oracle_gate_reports_the_worst_pair(pool: float, twap: float, pair: str) -> None:
    res = check_oracle_consistency(oracle(pool_spot=pool, twap=twap), 1.0)
    worst = max(deviation_bps(1024.0, pool), deviation_bps(1024.0, twap), deviation_bps(pool, twap))
    assert not res.passed and f"prices disagree: {pair} (" in res.reason.text
    assert res.reason.number("deviation_bps") == worst


def test_oracle_gate_without_twap() -> None:
    required = check_oracle_consistency(oracle(twap=None), 100.0)
    assert (required.gate, required.passed, required.reason.code, required.reason.text) == (
        "oracle_consistency", False, "gate_twap_missing", "pool TWAP missing")
    assert check_oracle_consistency(oracle(twap=None), 100.0, require_twap=False).passed
    assert not check_oracle_consistency(oracle(twap=None, pool_spot=1025.0), 1.0, require_twap=False).passed
    # the default is to require it
    assert not check_oracle_consistency(oracle(twap=None), 1e9).passed


def test_oracle_gate_with_twap_when_not_required_still_checks_it() -> None:
    res = check_oracle_consistency(oracle(twap=1025.0), 1.0, require_twap=False)
    assert not res.passed and "twap 1025" in res.reason.text


# --------------------------------------------------------------------------- gas


def test_gas_gate_at_and_past_the_cap() -> None:
    at = check_gas(50.0, 50.0, 0.0, 1.0)
    assert (at.gate, at.passed, at.overridden, at.reason.code, at.reason.text) == (
        "gas", True, False, "gate_ok", "gas 50 gwei")
    assert at.reason.numbers == (("gas_gwei", 50.0),)
    past = check_gas(50.5, 50.0, 1.0, 1.0)  # |deviation| == urgent limit: not beyond it
    assert (past.gate, past.passed, past.overridden, past.reason.code) == ("gas", False, False, "gate_gas")
    assert past.reason.text == "gas 50.5 gwei > cap 50 gwei: deferred"
    assert past.reason.numbers == (("gas_gwei", 50.5), ("max_gas_gwei", 50.0))


@pytest.mark.parametrize("deviation", [1.25, -1.25])
def test_gas_gate_urgent_override_uses_the_absolute_deviation(deviation: float) -> None:
    res = check_gas(60.0, 50.0, deviation, 1.0, underlying="ETH")
    assert (res.gate, res.passed, res.overridden, res.reason.code) == ("gas", True, True, "gate_gas_urgent")
    assert res.reason.text == ("gas 60 gwei > cap 50 gwei, but |delta - target| 1.25 ETH > urgent limit 1 ETH:"
                               " trading anyway")
    assert res.reason.numbers == (("gas_gwei", 60.0), ("max_gas_gwei", 50.0), ("deviation_units", 1.25),
                                  ("urgent_deviation_units", 1.0))


def test_gas_gate_underlying_defaults_to_no_symbol() -> None:
    res = check_gas(60.0, 50.0, 2.0, 1.0)
    assert "|delta - target| 2  > urgent limit 1 :" in res.reason.text


# --------------------------------------------------------------------------- pool deviation


@pytest.mark.parametrize(("field", "args"), [
    ("pool_price", (0.0, 1.0, 1.0)),
    ("feed_price", (1.0, -1.0, 1.0)),
    ("max_deviation_bps", (1.0, 1.0, 0.0)),
])
def test_pool_deviation_names_the_bad_argument(field: str, args: tuple[float, float, float]) -> None:
    with pytest.raises(InputError) as ei:
        check_pool_deviation("0xpool", "ETH", *args)
    assert ei.value.argument == field
    bad = args[("pool_price", "feed_price", "max_deviation_bps").index(field)]
    assert str(ei.value) == f"{field}: must be > 0, got {bad!r}"


def test_pool_deviation_passes_at_the_limit_with_its_numbers() -> None:
    res = check_pool_deviation("0xp", "ETH", 1025.0, 1024.0, STEP_BPS)
    assert (res.gate, res.passed, res.reason.code) == ("pool_deviation", True, "gate_ok")
    assert res.reason.text == ("pool 0xp prices ETH at 1,025.00 USD/ETH vs feed 1,024.00 USD/ETH: deviation 9.8 bps"
                               " (basis +9.8 bps) <= max 9.8 bps")
    assert res.reason.numbers == (("pool_price_quote", 1025.0), ("feed_price_quote", 1024.0),
                                  ("deviation_bps", STEP_BPS), ("basis_bps", STEP_BPS),
                                  ("max_deviation_bps", STEP_BPS))


def test_pool_deviation_fails_just_past_the_limit_with_a_signed_basis() -> None:
    # a pool under the feed: basis (1024/1025 - 1) * 1e4 < 0; deviation |1024 - 1025| / 1024
    res = check_pool_deviation("0xp", "BTC", 1024.0, 1025.0, STEP_BPS - 1e-9, quote_symbol="USDC")
    assert (res.gate, res.passed, res.reason.code) == ("pool_deviation", False, "gate_pool_deviation")
    assert res.reason.text == ("pool 0xp prices BTC at 1,024.00 USDC/BTC vs feed 1,025.00 USDC/BTC: deviation 9.8 bps"
                               " (basis -9.8 bps) > max 9.8 bps: no hedge in this pool")
    assert res.reason.number("basis_bps") == pytest.approx((1024.0 / 1025.0 - 1.0) * 1e4, rel=1e-15)
    assert res.reason.number("deviation_bps") == STEP_BPS


def test_pool_deviation_prices_below_one_and_without_underlying() -> None:
    res = check_pool_deviation("0xp", "", 0.5, 1.0, 20_000.0)
    assert res.reason.text.startswith("pool 0xp prices  at 0.5 USD vs feed 1.00 USD: deviation 10000.0 bps")
    small = check_pool_deviation("0xp", "X", 0.000123456789, 0.000123456789, 1.0)
    assert "at 0.000123457 USD/X vs feed 0.000123457 USD/X" in small.reason.text
    assert small.passed


def swap(sqrt_price: float | None, venue_id: str = "0xpool") -> SwapVenue:
    if sqrt_price is None:
        return SwapVenue(venue_id, 0.0005, 1.0, 1.0, 1.0, quote=SwapQuote("sell", 1.0, 1.0))
    return SwapVenue(venue_id, 0.0005, 1.0, 1.0, 1.0, 1e6, sqrt_price)


def test_pool_within_deviation_at_the_limit() -> None:
    # sqrt_price 32 -> pool price 1024; against a feed of 1025: 9.765625 bps
    assert pool_within_deviation(swap(32.0), 1025.0, STEP_BPS)
    assert not pool_within_deviation(swap(32.0), 1025.0, STEP_BPS - 1e-9)
    assert pool_within_deviation(swap(None), 1e9, 1.0)  # a quoter-only venue is not checked


def estimate(**kw: Any) -> VenueEstimate:
    base: dict[str, Any] = {
        "venue": "uniswap", "venue_id": "0xpool", "fee_fraction": 1 / 1024, "side": "sell", "size_units": 1.0,
        "notional_quote": 1024.0, "cost": CostEstimate(1.0, 1.0, 0.0, 0.0), "available": True,
        "reason": Reason("venue_ok", "ok"), "impact_source": "liquidity",
    }
    base.update(kw)
    return VenueEstimate(**base)


def test_gate_swap_estimate_blocks_only_a_deviating_pool() -> None:
    est = estimate()
    assert gate_swap_estimate(est, swap(None), 1e9, 1.0) is est
    assert gate_swap_estimate(est, swap(32.0), 1025.0, STEP_BPS) is est
    out = gate_swap_estimate(est, swap(32.0, "0xabc"), 1025.0, STEP_BPS - 1e-9, underlying="ETH",
                             quote_symbol="USDC")
    assert not out.available and out.reason.code == "gate_pool_deviation"
    assert out.reason.text.startswith("pool 0xabc prices ETH at 1,024.00 USDC/ETH vs feed 1,025.00 USDC/ETH")
    assert out.cost == est.cost and out.venue_id == est.venue_id
    default = gate_swap_estimate(est, swap(32.0), 1025.0, 1.0)
    assert "prices  at 1,024.00 USD vs" in default.reason.text


# --------------------------------------------------------------------------- slippage


def test_slippage_gate_skips_unavailable_and_empty_estimates() -> None:
    off = estimate(available=False, reason=Reason("venue_balance", "no"))
    assert gate_slippage_estimate(off, 1024.0, 0.001) is off
    empty = estimate(notional_quote=0.0, size_units=0.0)
    assert gate_slippage_estimate(empty, 1024.0, 0.001) is empty


def test_slippage_gate_fee_plus_impact_at_and_past_the_bound() -> None:
    est = estimate()  # fee 1/1024 and impact 1 / 1024: 9.765625 bps each
    assert gate_slippage_estimate(est, 1024.0, 2 * STEP_BPS) is est
    out = gate_slippage_estimate(est, 1024.0, 19.5)
    assert not out.available and out.reason.code == "venue_slippage"
    assert out.reason.text == ("uniswap:0xpool (fee 9.8 bps) unavailable: estimated 9.8 bps fee + 9.8 bps impact"
                               " = 19.5 bps exceeds max_slippage_bps 19.5 bps, so the trade would revert")
    assert out.reason.numbers == (("fee_bps", STEP_BPS), ("impact_bps", STEP_BPS), ("basis_bps", 0.0),
                                  ("total_bps", 2 * STEP_BPS), ("max_slippage_bps", 19.5),
                                  ("bound_price_quote", 1024.0))


@pytest.mark.parametrize(("side", "pool_price", "basis"), [
    ("sell", 1023.0, 1e4 * (1 - 1023 / 1024)),  # selling into a pool under the bound: adverse
    ("sell", 1025.0, 0.0),                      # in the seller's favour: no credit
    ("buy", 1025.0, STEP_BPS),                  # buying from a pool over the bound: adverse
    ("buy", 1023.0, 0.0),
])
def test_slippage_gate_counts_only_an_adverse_pool_basis(side: str, pool_price: float, basis: float) -> None:
    est = estimate(side=side)
    limit = 2 * STEP_BPS + basis
    assert gate_slippage_estimate(est, 1024.0, limit, pool_price=pool_price) is est
    out = gate_slippage_estimate(est, 1024.0, limit - 1e-9, pool_price=pool_price)
    assert out.reason.number("basis_bps") == pytest.approx(basis, rel=1e-12, abs=0.0)
    if basis > 0.0:
        assert f" + {basis:.1f} bps adverse basis to the bound price 1,024.00 = " in out.reason.text
    else:
        assert "adverse basis" not in out.reason.text


def test_slippage_gate_bound_price_replaces_the_feed() -> None:
    # feed 1025 vs bound 1024: a quoter estimate is measured from the feed, 9.765625 bps over the bound
    est = estimate(side="buy", impact_source="quote")
    out = gate_slippage_estimate(est, 1025.0, 2 * STEP_BPS + STEP_BPS - 1e-9, bound_price=1024.0, pool_price=1.0)
    assert out.reason.number("basis_bps") == STEP_BPS
    assert out.reason.number("bound_price_quote") == 1024.0
    assert gate_slippage_estimate(est, 1025.0, 3 * STEP_BPS, bound_price=1024.0, pool_price=1.0) is est


@pytest.mark.parametrize("change", [{"venue": "perp"}, {"impact_source": "quote"}])
def test_slippage_gate_uses_the_pool_price_only_for_a_pool_measured_impact(change: dict[str, Any]) -> None:
    """A perp or a quoter estimate is measured from the feed: a far-off pool price is ignored."""
    est = estimate(side="buy", **change)
    assert gate_slippage_estimate(est, 1024.0, 2 * STEP_BPS, pool_price=2048.0) is est


def test_slippage_gate_without_pool_price_measures_from_the_feed() -> None:
    est = estimate(side="buy")
    assert gate_slippage_estimate(est, 1024.0, 2 * STEP_BPS) is est


# --------------------------------------------------------------------------- evaluate / all_passed


def test_evaluate_gates_passes_each_config_field_to_its_gate() -> None:
    o = oracle(feed_updated_at=1_540.0, pool_spot=1025.0, twap=None)
    cfg = GateConfig(max_oracle_deviation_bps=STEP_BPS, max_feed_age_s=60.0, require_twap=False,
                     max_gas_gwei=50.0, urgent_deviation_units=1.0)
    res = evaluate_gates(cfg, o, SnapshotStatus(), 50.0, 0.0)
    assert [r.gate for r in res] == ["snapshot", "feed_staleness", "oracle_consistency", "gas"]
    assert [r.passed for r in res] == [True, True, True, True]
    tight = GateConfig(max_oracle_deviation_bps=STEP_BPS - 1e-9, max_feed_age_s=59.0, require_twap=True,
                       max_gas_gwei=49.0, urgent_deviation_units=1.0)
    res = evaluate_gates(tight, o, SnapshotStatus(False), 50.0, 0.0)
    assert [r.passed for r in res] == [False, False, False, False]
    assert res[2].reason.code == "gate_twap_missing"
    urgent = evaluate_gates(tight, o, SnapshotStatus(), 50.0, -2.0, underlying="BTC")[3]
    assert urgent.overridden and "2 BTC > urgent limit 1 BTC" in urgent.reason.text
    deviating = evaluate_gates(GateConfig(max_oracle_deviation_bps=STEP_BPS - 1e-9, require_twap=False), o,
                               SnapshotStatus(), 1.0, 0.0)[2]
    assert deviating.reason.code == "gate_oracle_deviation"


def test_all_passed_needs_every_gate() -> None:
    ok = GateResult("a", True, Reason("gate_ok", ""))
    bad = GateResult("b", False, Reason("gate_x", ""))
    overridden = GateResult("gas", True, Reason("gate_gas_urgent", ""), overridden=True)
    assert all_passed([ok, overridden])
    assert not all_passed([ok, bad])
    assert not all_passed([bad, ok])
    assert all_passed([])


def test_slippage_gate_checks_an_order_below_one_quote_unit() -> None:
    """Only a zero notional is skipped: half a quote unit of notional is still checked."""
    est = estimate(notional_quote=0.5, size_units=0.5 / 1024, cost=CostEstimate(0.0, 0.5 / 1024, 0.0, 0.0))
    out = gate_slippage_estimate(est, 1024.0, 19.5)
    assert not out.available and out.reason.number("impact_bps") == STEP_BPS


@pytest.mark.parametrize(("price", "shown"), [
    (1.0, "1.00 USD/X"), (1.5, "1.50 USD/X"), (1234.5, "1,234.50 USD/X"), (0.99, "0.99 USD/X"),
])
def test_pool_deviation_price_format_switches_at_one(price: float, shown: str) -> None:
    res = check_pool_deviation("0xp", "X", price, price, 1.0)
    assert f"prices X at {shown} vs feed {shown}:" in res.reason.text


def test_failed_gates_and_blocked_estimates_say_false_not_just_falsy() -> None:
    assert check_feed_staleness(oracle(feed_updated_at=1_601.0), 60.0).passed is False
    assert check_feed_staleness(oracle(feed_updated_at=1_000.0), 60.0).passed is False
    assert check_oracle_consistency(oracle(pool_spot=1025.0), 1.0).passed is False
    assert check_oracle_consistency(oracle(twap=None), 1.0).passed is False
    assert check_gas(2.0, 1.0, 0.0, 1.0).passed is False
    assert check_snapshot(SnapshotStatus(False)).passed is False
    assert check_pool_deviation("0xp", "X", 1025.0, 1024.0, 1.0).passed is False
    assert gate_swap_estimate(estimate(), swap(32.0), 1025.0, 1.0).available is False
    assert gate_slippage_estimate(estimate(), 1024.0, 1.0).available is False


def test_slippage_gate_names_an_adverse_basis_below_one_bp() -> None:
    # buying from a pool 0.5 bps over the bound: still adverse, still named
    out = gate_slippage_estimate(estimate(side="buy"), 1024.0, 2 * STEP_BPS, pool_price=1024.0512)
    assert not out.available
    assert " + 0.5 bps adverse basis to the bound price 1,024.00 = 20.0 bps" in out.reason.text


def test_evaluate_gates_underlying_defaults_to_no_symbol() -> None:
    cfg = GateConfig(max_gas_gwei=1.0, urgent_deviation_units=1.0)
    gas = evaluate_gates(cfg, oracle(), SnapshotStatus(), 2.0, 2.0)[3]
    assert gas.overridden and "|delta - target| 2  > urgent limit 1 : trading anyway" in gas.reason.text
