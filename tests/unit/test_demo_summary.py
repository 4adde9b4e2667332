"""The demo ends with the book's greeks in a risk manager's units: vega per vol point (the core's is per 1.00
of vol), theta per day (the core's is per year), cash gamma per 1 % move."""

from __future__ import annotations

from keeper.core.portfolio import RiskSummary
from keeper.devnet.demo import greeks_lines


def test_the_demo_summary_shows_each_greek_with_its_unit() -> None:
    eth = RiskSummary("ETH", spot=3000.0, value=750_000.0, delta=250.0, delta_quote=750_000.0, gamma=-0.4,
                      gamma_quote=-36_000.0, vega=950_000.0, theta=-42_000.0 * 365)
    text = greeks_lines({"ETH": eth}, 1234)
    assert text.splitlines() == [
        "  book greeks at block 1234:",
        "    ETH: delta 250.000 ETH (750,000 USD), gamma -36,000 USD per 1 % move, vega 9,500 USD per vol point, "
        "theta -42,000 USD per day, value 750,000 USD at 3,000.00 USD",
    ]
