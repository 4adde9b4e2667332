"""Prometheus metrics: names, labels and values on a private registry; the HTTP endpoint."""

from __future__ import annotations

import math
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from keeper.core.portfolio import RiskSummary
from keeper.errors import InputError, SetupError
from keeper.obs.metrics import (
    CONTENT_TYPE,
    CYCLE_BUCKETS,
    KeeperMetrics,
    NullMetricsServer,
    PrometheusServer,
)


def summary(underlying: str, scale: float = 1.0) -> RiskSummary:
    return RiskSummary(
        underlying=underlying,
        spot=2000.0,
        value=10_000.0 * scale,
        delta=1.5 * scale,
        delta_quote=3000.0 * scale,
        gamma=0.002 * scale,
        gamma_quote=80.0 * scale,
        vega=120.0 * scale,
        theta=-365.0 * scale,
    )


def samples(m: KeeperMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the rendered text, keyed by (name, sorted labels) -- parses what Prometheus would scrape."""
    out: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(m.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


@pytest.fixture
def metrics() -> KeeperMetrics:
    return KeeperMetrics(process_metrics=False, clock=lambda: 1_700_000_000.0)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_greeks_rendered_per_underlying(metrics: KeeperMetrics) -> None:
    metrics.set_greeks({"ETH": summary("ETH"), "BTC": summary("BTC", 2.0)})
    got = samples(metrics)
    eth = (("underlying", "ETH"),)
    btc = (("underlying", "BTC"),)
    assert got[("keeper_delta_units", eth)] == 1.5
    assert got[("keeper_delta_usd", eth)] == 3000.0
    assert got[("keeper_gamma_units_per_usd", eth)] == 0.002
    # the CLI's units: vega per vol point (the core's is per 1.00 of vol), theta per day (the core's per year)
    assert got[("keeper_vega_usd_per_vol_point", eth)] == 1.2
    assert got[("keeper_theta_usd_per_day", eth)] == -1.0
    assert got[("keeper_book_value_usd", eth)] == 10_000.0
    assert got[("keeper_delta_units", btc)] == 3.0
    text = metrics.render().decode()
    assert 'keeper_delta_usd{underlying="ETH"} 3000.0' in text
    assert "# TYPE keeper_gamma_units_per_usd gauge" in text


def test_underlying_leaving_the_book_is_removed(metrics: KeeperMetrics) -> None:
    metrics.set_greeks({"ETH": summary("ETH"), "BTC": summary("BTC")})
    metrics.set_greeks({"ETH": summary("ETH", 3.0)})
    got = samples(metrics)
    assert got[("keeper_delta_units", (("underlying", "ETH"),))] == 4.5
    assert not any(labels == (("underlying", "BTC"),) for _, labels in got)


def test_any_object_with_the_greek_attributes_is_accepted(metrics: KeeperMetrics) -> None:
    @dataclass
    class Plain:
        delta: float = 1.0
        delta_quote: float = 2.0
        gamma: float = 3.0
        vega: float = 4.0
        theta: float = 5.0
        value: float = 6.0

    metrics.set_greeks({"ARB": Plain()})
    assert metrics.registry.get_sample_value("keeper_book_value_usd", {"underlying": "ARB"}) == 6.0


def test_counters(metrics: KeeperMetrics) -> None:
    metrics.hedge("ETH", "perp")
    metrics.hedge("ETH", "perp")
    metrics.hedge("ETH", "otc")
    metrics.failure("slippage")
    metrics.failure(TimeoutError("rpc"))
    got = samples(metrics)
    assert got[("keeper_hedges_total", (("underlying", "ETH"), ("venue", "perp")))] == 2.0
    assert got[("keeper_hedges_total", (("underlying", "ETH"), ("venue", "otc")))] == 1.0
    assert got[("keeper_hedge_failures_total", (("kind", "slippage"),))] == 1.0
    assert got[("keeper_hedge_failures_total", (("kind", "TimeoutError"),))] == 1.0


def test_cost_counters_add_each_fill_and_refuse_a_negative(metrics: KeeperMetrics) -> None:
    metrics.fill_costs("ETH", "uniswap", notional_usd=90_000.0, fees_usd=45.0, gas_usd=0.75)
    metrics.fill_costs("ETH", "uniswap", notional_usd=10_000.0, fees_usd=5.0, gas_usd=0.25)
    metrics.fill_costs("ETH", "perp", notional_usd=30_000.0, fees_usd=15.0, gas_usd=0.5)
    got = samples(metrics)
    uni = (("underlying", "ETH"), ("venue", "uniswap"))
    assert got[("keeper_hedge_notional_usd_total", uni)] == 100_000.0
    assert got[("keeper_hedge_fees_usd_total", uni)] == 50.0
    assert got[("keeper_hedge_gas_usd_total", uni)] == 1.0
    assert got[("keeper_hedge_fees_usd_total", (("underlying", "ETH"), ("venue", "perp")))] == 15.0
    with pytest.raises(InputError, match="fees_usd"):
        metrics.fill_costs("ETH", "perp", notional_usd=1.0, fees_usd=-1.0, gas_usd=0.0)


def test_the_live_gauge_follows_the_go_live_gate(metrics: KeeperMetrics) -> None:
    metrics.set_live(True)
    assert metrics.registry.get_sample_value("keeper_live") == 1.0
    metrics.set_live(False)
    assert metrics.registry.get_sample_value("keeper_live") == 0.0


def test_observe_cycle(metrics: KeeperMetrics) -> None:
    metrics.observe_cycle("ok", 0.3, block=19_000_000)
    metrics.observe_cycle("error", 12.0)
    got = samples(metrics)
    assert got[("keeper_cycles_total", (("status", "ok"),))] == 1.0
    assert got[("keeper_cycles_total", (("status", "error"),))] == 1.0
    assert got[("keeper_cycle_duration_seconds_count", ())] == 2.0
    assert got[("keeper_cycle_duration_seconds_sum", ())] == pytest.approx(12.3)
    assert got[("keeper_cycle_duration_seconds_bucket", (("le", "0.25"),))] == 0.0
    assert got[("keeper_cycle_duration_seconds_bucket", (("le", "0.5"),))] == 1.0
    assert got[("keeper_cycle_duration_seconds_bucket", (("le", "15.0"),))] == 2.0
    assert got[("keeper_snapshot_block", ())] == 19_000_000
    assert got[("keeper_last_success_timestamp_seconds", ())] == 1_700_000_000.0


def test_failed_cycle_does_not_stamp_last_success() -> None:
    now = [100.0]
    m = KeeperMetrics(process_metrics=False, clock=lambda: now[0])
    m.observe_cycle("ok", 1.0)
    now[0] = 200.0
    m.observe_cycle("error", 1.0)
    assert m.registry.get_sample_value("keeper_last_success_timestamp_seconds") == 100.0


def test_buckets_span_50ms_to_30s() -> None:
    assert CYCLE_BUCKETS[0] == 0.05
    assert CYCLE_BUCKETS[-1] == 30.0
    assert list(CYCLE_BUCKETS) == sorted(CYCLE_BUCKETS)


def test_gauges_balance_and_control(metrics: KeeperMetrics) -> None:
    balance = metrics.registry.get_sample_value("keeper_signer_balance_eth")
    assert balance is not None and math.isnan(balance)  # unknown until read, not a false "0 ETH" alert
    metrics.set_signer_balance(0.42)
    metrics.set_control(paused=True, halted=False)
    got = samples(metrics)
    assert got[("keeper_signer_balance_eth", ())] == 0.42
    assert got[("keeper_paused", ())] == 1.0
    assert got[("keeper_halted", ())] == 0.0
    metrics.set_control(paused=False, halted=True)
    assert metrics.registry.get_sample_value("keeper_halted") == 1.0
    assert metrics.registry.get_sample_value("keeper_paused") == 0.0


def test_every_keeper_metric_is_prefixed_and_unit_named(metrics: KeeperMetrics) -> None:
    names = {f.name for f in text_string_to_metric_families(metrics.render().decode())}
    assert names >= {
        "keeper_delta_units",
        "keeper_delta_usd",
        "keeper_gamma_units_per_usd",
        "keeper_vega_usd_per_vol_point",
        "keeper_theta_usd_per_day",
        "keeper_hedge_notional_usd",
        "keeper_hedge_fees_usd",
        "keeper_hedge_gas_usd",
        "keeper_live",
        "keeper_book_value_usd",
        "keeper_hedges",
        "keeper_hedge_failures",
        "keeper_cycles",
        "keeper_cycle_duration_seconds",
        "keeper_last_success_timestamp_seconds",
        "keeper_signer_balance_eth",
        "keeper_paused",
        "keeper_halted",
        "keeper_snapshot_block",
    }
    assert all(n.startswith("keeper_") for n in names)


@pytest.mark.parametrize(
    ("call", "argument"),
    [
        (lambda m: m.observe_cycle("ok", -1.0), "seconds"),
        (lambda m: m.observe_cycle("ok", math.nan), "seconds"),
        (lambda m: m.observe_cycle("", 1.0), "status"),
        (lambda m: m.observe_cycle("ok", 1.0, block=-5), "block"),
        (lambda m: m.hedge("", "perp"), "underlying"),
        (lambda m: m.failure(""), "kind"),
        (lambda m: m.set_signer_balance(-0.1), "eth"),
        (lambda m: m.serve(70_000), "port"),
    ],
)
def test_bad_arguments(metrics: KeeperMetrics, call: Callable[[KeeperMetrics], object], argument: str) -> None:
    with pytest.raises(InputError) as info:
        call(metrics)
    assert info.value.argument == argument


def test_two_instances_do_not_collide() -> None:
    a = KeeperMetrics()
    b = KeeperMetrics()  # would raise "Duplicated timeseries" on a shared registry
    a.hedge("ETH", "perp")
    b.set_control(paused=True, halted=True)
    assert a.registry is not b.registry
    assert a.registry.get_sample_value("keeper_hedges_total", {"underlying": "ETH", "venue": "perp"}) == 1.0
    assert b.registry.get_sample_value("keeper_hedges_total", {"underlying": "ETH", "venue": "perp"}) is None
    assert a.registry.get_sample_value("keeper_halted") == 0.0
    assert REGISTRY.get_sample_value("keeper_halted") is None  # the global registry is untouched
    assert b"process_" in a.render()


@pytest.fixture
def served(metrics: KeeperMetrics) -> Iterator[PrometheusServer]:
    server = metrics.serve(free_port(), addr="127.0.0.1")
    assert isinstance(server, PrometheusServer)
    try:
        yield server
    finally:
        server.stop()


def test_http_endpoint_serves_and_stops(metrics: KeeperMetrics, served: PrometheusServer) -> None:
    metrics.hedge("ETH", "perp")
    url = f"http://127.0.0.1:{served.port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == CONTENT_TYPE
        body = resp.read().decode()
    assert 'keeper_hedges_total{underlying="ETH",venue="perp"} 1.0' in body
    assert served.running
    served.stop()
    assert not served.running
    served.stop()  # idempotent
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(url, timeout=2)


def test_port_zero_disables(metrics: KeeperMetrics) -> None:
    with metrics.serve(0) as server:
        assert isinstance(server, NullMetricsServer)
        assert server.port == 0
    server.stop()


def test_busy_port_is_a_setup_error(metrics: KeeperMetrics, served: PrometheusServer) -> None:
    with pytest.raises(SetupError, match=str(served.port)):
        metrics.serve(served.port, addr="127.0.0.1")


def test_perp_funding_accrued_is_a_gauge_per_underlying_and_dropped_when_gone() -> None:
    m = KeeperMetrics(process_metrics=False)
    m.set_funding_accrued({"ETH": -12.5, "BTC": 3.25})
    text = m.render().decode()
    assert 'keeper_perp_funding_accrued_usd{underlying="ETH"} -12.5' in text
    assert 'keeper_perp_funding_accrued_usd{underlying="BTC"} 3.25' in text
    m.set_funding_accrued({"ETH": -13.0})
    text = m.render().decode()
    assert 'keeper_perp_funding_accrued_usd{underlying="BTC"}' not in text
    with pytest.raises(InputError, match="ETH"):
        m.set_funding_accrued({"ETH": float("nan")})
