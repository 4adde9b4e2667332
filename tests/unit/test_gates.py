"""Safety gates: each passes and fails with a reason; the gas cap yields to urgency."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.core.gates import (
    GateConfig,
    OracleView,
    SnapshotStatus,
    all_passed,
    check_feed_staleness,
    check_gas,
    check_oracle_consistency,
    check_snapshot,
    deviation_bps,
    evaluate_gates,
)
from keeper.errors import InputError


def oracle(**kw: Any) -> OracleView:
    base: dict[str, Any] = {
        "feed_price": 3000.0,
        "feed_updated_at": 1_000.0,
        "pool_spot": 3001.0,
        "twap": 2999.0,
        "block_timestamp": 1_600.0,
    }
    base.update(kw)
    return OracleView(**base)


def test_snapshot_gate() -> None:
    ok = check_snapshot(SnapshotStatus())
    assert ok.passed and ok.gate == "snapshot"
    bad = check_snapshot(SnapshotStatus(False, ("lp 42: reverted", "feed ETH/USD: timeout")))
    assert not bad.passed and bad.reason.code == "gate_snapshot"
    assert "2 failed read(s)" in bad.reason.text and "lp 42: reverted" in bad.reason.text
    many = check_snapshot(SnapshotStatus(False, tuple(f"f{i}" for i in range(5))))
    assert "(+2 more)" in many.reason.text
    assert not check_snapshot(SnapshotStatus(False)).passed  # incomplete without details still fails
    with pytest.raises(InputError) as ei:
        SnapshotStatus(True, ("x",))
    assert ei.value.argument == "complete"


def test_staleness_gate() -> None:
    assert check_feed_staleness(oracle(), 3600.0).passed
    assert check_feed_staleness(oracle(feed_updated_at=1_600.0 - 3600.0), 3600.0).passed  # boundary: age == max
    stale = check_feed_staleness(oracle(feed_updated_at=1_600.0 - 3601.0), 3600.0)
    assert not stale.passed and stale.reason.code == "gate_feed_stale"
    assert stale.reason.number("age_s") == 3601.0
    future = check_feed_staleness(oracle(feed_updated_at=1_700.0), 3600.0)
    assert not future.passed and future.reason.code == "gate_feed_future"


def test_oracle_consistency_gate() -> None:
    assert check_oracle_consistency(oracle(), 50.0).passed
    # pool 1 % above the feed
    bad_pool = check_oracle_consistency(oracle(pool_spot=3030.0, twap=3000.0), 50.0)
    assert not bad_pool.passed and bad_pool.reason.code == "gate_oracle_deviation"
    assert bad_pool.reason.number("deviation_bps") == pytest.approx(100.0)
    assert "feed 3000 vs pool 3030" in bad_pool.reason.text
    # TWAP off while feed and pool agree (a pool just pushed back, say)
    bad_twap = check_oracle_consistency(oracle(pool_spot=3000.0, twap=2900.0), 50.0)
    assert not bad_twap.passed and "twap 2900" in bad_twap.reason.text
    missing = check_oracle_consistency(oracle(twap=None), 50.0)
    assert not missing.passed and missing.reason.code == "gate_twap_missing"
    assert check_oracle_consistency(oracle(twap=None), 50.0, require_twap=False).passed
    assert not check_oracle_consistency(oracle(twap=None, pool_spot=3100.0), 50.0, require_twap=False).passed


@given(a=st.floats(1e-6, 1e9), b=st.floats(1e-6, 1e9))
def test_deviation_is_symmetric_and_nonnegative(a: float, b: float) -> None:
    assert deviation_bps(a, b) == deviation_bps(b, a) >= 0.0


def test_gas_gate_and_urgent_override() -> None:
    assert check_gas(30.0, 50.0, 10.0, 5.0).passed
    assert check_gas(50.0, 50.0, 0.0, 5.0).passed  # at the cap
    deferred = check_gas(80.0, 50.0, 3.0, 5.0)
    assert not deferred.passed and not deferred.overridden and deferred.reason.code == "gate_gas"
    urgent = check_gas(80.0, 50.0, -7.5, 5.0, underlying="ETH")
    assert urgent.passed and urgent.overridden and urgent.reason.code == "gate_gas_urgent"
    assert "trading anyway" in urgent.reason.text and "7.5 ETH" in urgent.reason.text
    assert not check_gas(80.0, 50.0, 5.0, 5.0).passed  # exactly at the hard limit is not beyond it
    assert not check_gas(80.0, 50.0, 1e9, math.inf).passed  # never urgent by default


def test_evaluate_gates_order_and_all_passed() -> None:
    cfg = GateConfig(max_oracle_deviation_bps=50.0, max_feed_age_s=3600.0, max_gas_gwei=100.0)
    res = evaluate_gates(cfg, oracle(), SnapshotStatus(), 10.0, 0.0)
    assert [g.gate for g in res] == ["snapshot", "feed_staleness", "oracle_consistency", "gas"]
    assert all_passed(res)
    res = evaluate_gates(cfg, oracle(twap=None), SnapshotStatus(False, ("x",)), 200.0, 0.0)
    assert [g.passed for g in res] == [False, True, False, False]
    assert not all_passed(res)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_oracle_deviation_bps", 0.0),
        ("max_oracle_deviation_bps", math.nan),
        ("max_feed_age_s", -1.0),
        ("require_twap", 1),
        ("max_gas_gwei", 0.0),
        ("urgent_deviation_units", -1.0),
    ],
)
def test_gate_config_validation(field: str, value: object) -> None:
    with pytest.raises(InputError) as ei:
        GateConfig(**{field: value})  # type: ignore[arg-type]
    assert ei.value.argument == field


@pytest.mark.parametrize(
    ("field", "value"),
    [("feed_price", 0.0), ("feed_updated_at", math.inf), ("pool_spot", -1.0), ("twap", math.nan),
     ("block_timestamp", math.nan)],
)
def test_oracle_view_validation(field: str, value: float) -> None:
    with pytest.raises(InputError) as ei:
        oracle(**{field: value})
    assert ei.value.argument == field
