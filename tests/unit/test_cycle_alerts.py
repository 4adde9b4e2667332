"""The alerts a cycle raises, from whole cycles on in-memory ports (tests/fakes) into the alert port's
in-memory sink: a hedge with its size, price and costs; a reverted hedge with its reason; a feed that goes
stale, once. The production Alerter satisfies the same port (checked by mypy where it is composed)."""

from __future__ import annotations

from collections.abc import Sequence

from keeper.cycle.ports import AlertSink
from keeper.journal import Journal
from keeper.ops.alerts import Alerter, AlertSettings
from keeper.ops.watch import Alert, report_alerts
from tests.fakes import MAX_FEED_AGE_S, FakeClock, FakeSender, MemoryChain, MemoryKeeper, band, memory_keeper
from tests.fakes.alerts import ListAlerts


def deliver(sink: AlertSink, alerts: Sequence[Alert]) -> None:
    for a in alerts:
        sink.send(a.kind, a.text, **a.fields)


def keeper(chain: MemoryChain) -> MemoryKeeper:
    clock = FakeClock()
    sender = FakeSender(chain, clock)
    return memory_keeper(chain, sender, Journal.memory(clock=clock.now), band(10.0, 5.0), max_consecutive_failures=5)


def test_a_hedge_alert_carries_the_verified_fill() -> None:
    chain = MemoryChain()
    report = keeper(chain).cycle()
    alerts, stale = report_alerts(report, MAX_FEED_AGE_S)
    sink = ListAlerts()
    deliver(sink, alerts)
    assert sink.kinds() == ["hedge"] and stale == frozenset()
    _kind, text, fields = sink.sent[0]
    [hedge] = report.hedges
    assert hedge.fill is not None
    assert text == (f"sell 30.0000 ETH on uniswap at {hedge.fill.realized_price:,.2f} USD "
                    f"({hedge.fill.slippage_bps:+.1f} bps), tx {hedge.fill.tx_hash}")
    assert fields["units"] == 30.0 and fields["tx"] == hedge.fill.tx_hash and fields["fee_usd"] > 0


def test_a_reverted_hedge_alert_names_the_reason() -> None:
    chain = MemoryChain()
    chain.move_in_next_block = -0.02
    report = keeper(chain).cycle()
    alerts, _ = report_alerts(report, MAX_FEED_AGE_S)
    [a] = alerts
    assert a.kind == "failure" and "Too little received" in a.text and a.fields["underlying"] == "ETH"


def test_a_stale_feed_is_alerted_once_and_again_after_it_recovers() -> None:
    chain = MemoryChain()
    k = keeper(chain)
    chain.advance(2 * MAX_FEED_AGE_S)
    first, stale = report_alerts(k.cycle(), MAX_FEED_AGE_S)
    assert [a.kind for a in first] == ["stale_oracle"] and stale == frozenset({"ETH", "USDC"})
    assert first[0].text.startswith(f"ETH feed is {2 * MAX_FEED_AGE_S + 60:,} s old (limit {MAX_FEED_AGE_S:,} s)")
    again, stale = report_alerts(k.cycle(), MAX_FEED_AGE_S, stale)
    assert again == [], "still stale: not repeated"
    chain.set_eth_price(3_000.0)
    _, stale = report_alerts(k.cycle(), MAX_FEED_AGE_S, stale)
    assert "ETH" not in stale


def test_the_production_alerter_is_an_alert_sink_that_queues_only_with_a_target() -> None:
    posted: list[object] = []
    sinks: list[AlertSink] = [Alerter(AlertSettings()), Alerter(AlertSettings(url="http://127.0.0.1:9/hook"),
                                                                 post=lambda *a, **_k: posted.append(a))]
    assert [s.send("hedge", "sell 1 ETH") for s in sinks] == [False, True]
    assert sinks[1].flush(5.0) and len(posted) == 1
    for s in sinks:
        s.close(1.0)
