"""The demo ends with the book's greeks in a risk manager's units: vega per vol point (the core's is per 1.00
of vol), theta per day (the core's is per year), cash gamma per 1 % move."""

from __future__ import annotations

import dataclasses

from keeper.core.portfolio import RiskSummary
from keeper.devnet.demo import _why_not, greeks_lines
from tests.fakes import MemoryChain
from tests.unit.test_cycle_alerts import keeper


def test_the_demo_summary_shows_each_greek_with_its_unit() -> None:
    eth = RiskSummary("ETH", spot=3000.0, value=750_000.0, delta=250.0, delta_quote=750_000.0, gamma=-0.4,
                      gamma_quote=-36_000.0, vega=950_000.0, theta=-42_000.0 * 365)
    text = greeks_lines({"ETH": eth}, 1234)
    assert text.splitlines() == [
        "  book greeks at block 1234:",
        "    ETH: delta 250.000 ETH (750,000 USD), gamma -36,000 USD per 1 % move, vega 9,500 USD per vol point, "
        "theta -42,000 USD per day, value 750,000 USD at 3,000.00 USD",
    ]



def test_a_held_hedge_names_the_failed_gate_with_its_prices() -> None:
    """The demo's row for a cycle that did not hedge shows the gate's own sentence (both prices and the
    disagreement in bps), not only the gate's name."""
    k = keeper(MemoryChain())
    snap = k.reader.read(chain_id=k.chain_id)
    eth = snap.feeds["ETH"]
    # the feed 5 % under the pool and its TWAP
    low = dataclasses.replace(eth, answer=eth.answer * 95 // 100)
    off = dataclasses.replace(snap, feeds={**snap.feeds, "ETH": low})
    _, plan = k.plan(off)
    assert plan.orders == ()
    text = _why_not(plan)
    assert text.startswith("no hedge: oracle_consistency: prices disagree: "), text
    assert "bps > max 100.0 bps" in text
