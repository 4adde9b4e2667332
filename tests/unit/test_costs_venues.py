"""Venue estimates at their availability boundaries: a balance exactly covering a sell or a buy's
spend (notional + fee + impact), an impact exactly at the maximum, a perp's free margin exactly at the
initial margin, a quote that does not cover the order; with the exact reasons a person reads."""

from __future__ import annotations

import math

import pytest

from keeper.core.costs import SwapQuote, VenueConfig, estimate_perp, estimate_swap
from tests.unit.test_policy import GAS, PRICE, perp, swap

CFG = VenueConfig()


def test_a_buy_needs_notional_fee_and_impact_in_quote() -> None:
    ok = estimate_swap(swap(), "buy", 2.0, PRICE, GAS, CFG, underlying="ETH")
    assert ok.available and ok.cost.impact_quote > 0.0
    spend = ok.notional_quote + ok.cost.fee_quote + ok.cost.impact_quote
    assert estimate_swap(swap(quote_balance_quote=spend), "buy", 2.0, PRICE, GAS, CFG).available
    short = estimate_swap(swap(quote_balance_quote=spend - 0.01), "buy", 2.0, PRICE, GAS, CFG, quote_symbol="USDC")
    assert not short.available and short.size_units == 2.0 and short.venue == "uniswap"
    assert short.reason.code == "venue_balance"
    assert short.reason.text == (f"uniswap:pool500 (fee 5.0 bps) unavailable: balance {spend - 0.01:,.0f} USDC"
                                 f" < {spend:,.0f} USDC to spend")
    assert short.reason.numbers == (("balance_quote", spend - 0.01), ("spend_quote", spend))


def test_a_sell_of_exactly_the_balance_is_available() -> None:
    assert estimate_swap(swap(underlying_balance_units=2.0), "sell", 2.0, PRICE, GAS, CFG).available
    short = estimate_swap(swap(underlying_balance_units=1.5), "sell", 2.0, PRICE, GAS, CFG, underlying="ETH")
    assert (short.available, short.reason.code) == (False, "venue_balance")
    assert short.reason.text == "uniswap:pool500 (fee 5.0 bps) unavailable: balance 1.5 ETH < 2 ETH to sell"


def test_impact_exactly_at_the_maximum_is_allowed() -> None:
    quoted = swap(liquidity=None, sqrt_price=None, quote=SwapQuote("sell", 2.0, 2985.0))
    frac = max((PRICE - 2985.0) / PRICE - 0.0005, 0.0)  # shortfall to the reference less the fee
    at_max = estimate_swap(quoted, "sell", 2.0, PRICE, GAS, VenueConfig(max_impact_bps=frac * 1e4))
    assert at_max.available and at_max.impact_source == "quote"
    assert at_max.cost.impact_quote == pytest.approx(frac * 2.0 * PRICE, rel=1e-12)
    over = estimate_swap(quoted, "sell", 2.0, PRICE, GAS, VenueConfig(max_impact_bps=44.0))
    assert (over.available, over.reason.code) == (False, "venue_impact")
    assert over.reason.text == "uniswap:pool500 (fee 5.0 bps) unavailable: impact 45.0 bps > max 44.0 bps (quote)"


def test_a_small_order_still_pays_impact() -> None:
    half = estimate_swap(swap(), "sell", 0.5, PRICE, GAS, CFG)
    assert half.available and 0.0 < half.cost.impact_quote < estimate_swap(swap(), "sell", 1.0, PRICE, GAS,
                                                                           CFG).cost.impact_quote


def test_a_quote_that_does_not_cover_the_order_and_no_liquidity() -> None:
    quoted = swap(liquidity=None, sqrt_price=None, quote=SwapQuote("sell", 1.0, 2990.0))
    est = estimate_swap(quoted, "sell", 2.0, PRICE, GAS, CFG)
    assert (est.available, est.impact_source, est.size_units) == (False, "none", 2.0)
    assert est.reason.code == "venue_no_impact_data"
    assert est.reason.text == ("uniswap:pool500 (fee 5.0 bps) unavailable: quote (sell 1) does not cover sell 2 "
                               "and no liquidity data")
    assert math.isinf(est.cost.impact_quote)


def test_perp_free_margin_exactly_at_the_initial_margin() -> None:
    required = 2.0 * PRICE * 0.1
    assert estimate_perp(perp(free_margin_quote=required), "sell", 2.0, PRICE, GAS, CFG).available
    short = estimate_perp(perp(free_margin_quote=required - 1.0), "sell", 2.0, PRICE, GAS, CFG, quote_symbol="USDC")
    assert (short.venue, short.venue_id, short.fee_fraction, short.side, short.size_units, short.notional_quote,
            short.available) == ("perp", "perp", 0.001, "sell", 2.0, 2.0 * PRICE, False)
    assert short.cost.fee_quote == pytest.approx(2.0 * PRICE * 0.001)
    assert short.reason.code == "venue_margin" and short.label == "perp:perp"
    assert short.reason.text == "perp:perp unavailable: free margin 599 USDC < 600 USDC required"
    assert short.reason.numbers == (("free_margin_quote", required - 1.0), ("required_quote", required))
