"""Cost estimates at their edges: argument errors that name the value, the quote/liquidity
choice at the quote's exact size, a zero-size order, every number and the units of the
reasons, and the array twins at the reserve boundary. Expected values are worked by hand
with binary-exact inputs (1/4, 1/1024...) so that equalities are exact."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.core.costs import (
    GasView,
    PerpVenue,
    SwapQuote,
    SwapVenue,
    VenueConfig,
    estimate_perp,
    estimate_swap,
    one_way_cost_fraction,
    swap_cost_quote_array,
    v3_impact_fraction,
    v3_impact_fraction_array,
    v3_impact_quote,
)
from keeper.errors import InputError

NO_GAS = GasView(0.0, 0.0)
CFG = VenueConfig(max_slippage_bps=50.0, max_impact_bps=10_000.0)


@pytest.mark.parametrize(("args", "field", "message"), [
    ((-1.0, "sell", 1.0, 1.0), "size_units", "must be >= 0, got -1.0"),
    ((1.0, "sell", -2.0, 1.0), "liquidity", "must be >= 0, got -2.0"),
    ((1.0, "sell", math.nan, 1.0), "liquidity", "must be >= 0, got nan"),
    ((1.0, "sell", 1.0, 0.0), "sqrt_price", "must be > 0, got 0.0"),
    ((1.0, "buy", 1.0, -1.0), "sqrt_price", "must be > 0, got -1.0"),
    ((1.0, "hold", 1.0, 1.0), "side", "must be 'buy' or 'sell', got 'hold'"),
])
def test_impact_fraction_errors_name_the_argument_and_value(args: tuple[float, str, float, float], field: str,
                                                            message: str) -> None:
    with pytest.raises(InputError) as ei:
        v3_impact_fraction(*args)  # type: ignore[arg-type]
    assert ei.value.argument == field
    assert str(ei.value) == f"{field}: {message}"


def test_impact_quote_where_the_fraction_is_exactly_one_and_zero() -> None:
    # buy dx = 1 at sqrtP = 1 from L = 2: fraction 1 / (2 - 1) = 1, impact = 1 * dx * P = 1
    assert v3_impact_fraction(1.0, "buy", 2.0, 1.0) == 1.0
    assert v3_impact_quote(1.0, "buy", 2.0, 1.0) == 1.0
    # sqrtP = 2 (P = 4), dx = 1, L = 6: buy fraction 2 / (6 - 2) = 1/2, impact = 1/2 * 1 * 4 = 2
    assert v3_impact_quote(1.0, "buy", 6.0, 2.0) == 2.0
    assert v3_impact_quote(0.0, "buy", 6.0, 2.0) == 0.0
    assert v3_impact_quote(0.0, "sell", 0.0, 1.0) == 0.0


def quote_only(side: str, size: float, avg: float, fee: float = 1 / 1024) -> SwapVenue:
    return SwapVenue("0xq", fee, 0.0, 1e9, 1e12, quote=SwapQuote(side, size, avg))  # type: ignore[arg-type]


def test_a_quote_covers_an_order_up_to_its_own_size_less_a_relative_1e_12() -> None:
    edge = 1.0 * (1.0 - 1e-12)
    est = estimate_swap(quote_only("sell", edge, 1024.0), "sell", 1.0, 1024.0, NO_GAS, CFG)
    assert est.available and est.impact_source == "quote"
    below = math.nextafter(edge, 0.0)
    short = estimate_swap(quote_only("sell", below, 1024.0), "sell", 1.0, 1024.0, NO_GAS, CFG)
    assert not short.available and short.impact_source == "none"
    assert short.reason.code == "venue_no_impact_data"


def test_buy_quote_shortfall_is_relative_to_the_reference_price() -> None:
    # pays 1040 against a reference of 1024: shortfall 16 / 1024 = 1/64; minus the fee 1/1024 -> 15/1024
    est = estimate_swap(quote_only("buy", 2.0, 1040.0), "buy", 2.0, 1024.0, NO_GAS, CFG)
    assert est.cost.impact_quote == 15 / 1024 * 2048.0 == 30.0
    assert est.cost.fee_quote == 2.0


def test_a_zero_size_order_has_no_impact_even_without_an_estimate() -> None:
    # the quote is for the other side and there is no liquidity: the fraction is inf, the impact of nothing is 0
    est = estimate_swap(quote_only("buy", 1.0, 1024.0), "sell", 0.0, 1024.0, NO_GAS, CFG)
    assert est.cost.impact_quote == 0.0 and est.cost.total_quote == 0.0
    assert est.reason.code == "venue_no_impact_data"
    liq = SwapVenue("0xp", 1 / 1024, 0.0, 0.0, 0.0, 1.0, 1.0)
    zero = estimate_swap(liq, "buy", 0.0, 1024.0, NO_GAS, CFG)
    assert zero.available and zero.cost.impact_quote == 0.0


def test_swap_ok_reason_numbers_and_default_units() -> None:
    # sell 1 at 1024 into L = 3, sqrtP = 1: fraction 1 / (3 + 1) = 1/4 -> impact 256; fee 1; gas 1e5 * 2 gwei * 5000 = 1
    venue = SwapVenue("0xp", 1 / 1024, 100_000.0, 1.0, 0.0, 3.0, 1.0)
    est = estimate_swap(venue, "sell", 1.0, 1024.0, GasView(2.0, 5000.0), CFG)
    assert est.available and est.reason.code == "venue_ok"
    assert est.reason.text == ("uniswap:0xp (fee 9.8 bps): 258 USD (fee 1.00 USD, impact 256 USD [liquidity],"
                               " gas 1.00 USD)")
    assert est.reason.numbers == (("total_quote", 258.0), ("fee_quote", 1.0), ("impact_quote", 256.0),
                                  ("gas_quote", 1.0))
    assert (est.side, est.size_units, est.notional_quote) == ("sell", 1.0, 1024.0)


def test_swap_balance_reasons_use_the_default_symbols() -> None:
    venue = SwapVenue("0xp", 1 / 1024, 0.0, 0.5, 10.0, 1e9, 1.0)
    sell = estimate_swap(venue, "sell", 1.0, 1024.0, NO_GAS, CFG)
    assert sell.reason.text == "uniswap:0xp (fee 9.8 bps) unavailable: balance 0.5  < 1  to sell"
    buy = estimate_swap(venue, "buy", 1.0, 1024.0, NO_GAS, CFG)
    assert buy.reason.text.startswith("uniswap:0xp (fee 9.8 bps) unavailable: balance 10.00 USD < 1,025 USD")


def test_swap_impact_reason_numbers_at_and_past_the_limit() -> None:
    venue = SwapVenue("0xp", 0.0, 0.0, 1.0, 0.0, 3.0, 1.0)  # sell fraction 1/4 = 2500 bps
    assert estimate_swap(venue, "sell", 1.0, 1.0, NO_GAS, VenueConfig(max_impact_bps=2500.0)).available
    est = estimate_swap(venue, "sell", 1.0, 1.0, NO_GAS, VenueConfig(max_impact_bps=2499.5))
    assert not est.available and est.reason.code == "venue_impact"
    assert est.reason.text == "uniswap:0xp (fee 0.0 bps) unavailable: impact 2500.0 bps > max 2499.5 bps (liquidity)"
    assert est.reason.numbers == (("impact_bps", 2500.0), ("max_impact_bps", 2499.5))


def test_perp_ok_reason_numbers_and_default_units() -> None:
    # buy 2 at 1024: notional 2048; fee 1/1024 -> 2; funding +1/2048 per s for 1 s -> +1; gas 1
    perp = PerpVenue("0xm", 1 / 1024, 1 / 2048, 1e9, 0.5, 100_000.0)
    cfg = VenueConfig(perp_holding_horizon_s=1.0)
    est = estimate_perp(perp, "buy", 2.0, 1024.0, GasView(2.0, 5000.0), cfg)
    assert est.available and est.reason.code == "venue_ok"
    assert est.reason.text == "perp:0xm: 4.00 USD (fee 2.00 USD, funding 1.00 USD, gas 1.00 USD)"
    assert est.reason.numbers == (("total_quote", 4.0), ("fee_quote", 2.0), ("funding_quote", 1.0),
                                  ("gas_quote", 1.0))
    assert (est.venue, est.venue_id, est.side, est.size_units, est.notional_quote) == ("perp", "0xm", "buy", 2.0,
                                                                                        2048.0)
    sell = estimate_perp(perp, "sell", 2.0, 1024.0, NO_GAS, cfg, quote_symbol="USDC")
    assert sell.cost.funding_quote == -1.0 and sell.side == "sell"
    assert sell.reason.text == "perp:0xm: 1.00 USDC (fee 2.00 USDC, funding -1.00 USDC, gas 0.00 USDC)"


def test_one_way_cost_uses_the_reference_price_for_a_quote() -> None:
    # sells at 1008 against 1024: shortfall 16/1024 = 1/64; k = fee + (1/64 - fee) = 1/64
    k = one_way_cost_fraction([quote_only("sell", 1.0, 1008.0)], [], "sell", 1.0, 1024.0)
    assert k == 1 / 64


def test_impact_array_small_denominators_and_the_reserve_boundary() -> None:
    # sell 1/4 at sqrtP 1 into L 1/4: 1/4 / (1/4 + 1/4) = 1/2 (a denominator below 1)
    assert v3_impact_fraction_array([0.25], [True], 0.25, [1.0]).tolist() == [0.5]
    # buy exactly the virtual reserve: inf (no division by zero); just under it: finite
    assert v3_impact_fraction_array([1.0], [False], 1.0, [1.0]).tolist() == [math.inf]
    assert v3_impact_fraction_array([0.5], [False], 1.0, [1.0]).tolist() == [1.0]
    # zero size costs nothing even from an empty pool; size 1 is not zero
    assert v3_impact_fraction_array([0.0, 1.0], [False, True], 0.0, [1.0, 1.0]).tolist() == [0.0, 1.0]


def test_impact_array_matches_the_scalar_function() -> None:
    sizes, sells, sp = np.array([0.0, 0.3, 0.3, 2.0, 5.0]), np.array([True, True, False, False, True]), 1.5
    got = v3_impact_fraction_array(sizes, sells, 3.0, np.full(5, sp))
    want = [v3_impact_fraction(float(s), "sell" if b else "buy", 3.0, sp) for s, b in zip(sizes, sells, strict=True)]
    assert got.tolist() == want


def test_swap_cost_array_charges_orders_below_one_unit() -> None:
    # size 1/2 at P 4 (sqrtP 2), L 1e9 ~ no impact; fee 1/4 -> 1/2; gas 1
    cost = swap_cost_quote_array([0.5, 0.0], [True, True], [4.0, 4.0], 0.25, 1e300, 1.0)
    assert cost[1] == 0.0
    assert cost[0] == pytest.approx(1.5, rel=1e-12)


def test_every_unavailable_swap_says_false_not_just_falsy() -> None:
    venue = SwapVenue("0xp", 1 / 1024, 0.0, 0.5, 10.0, 3.0, 1.0)
    unavailable = [
        estimate_swap(venue, "sell", 1.0, 1024.0, NO_GAS, CFG),                               # balance
        estimate_swap(venue, "buy", 1.0, 1024.0, NO_GAS, CFG),                                # quote balance
        estimate_swap(venue, "sell", 0.5, 1.0, NO_GAS, VenueConfig(max_impact_bps=1.0)),      # impact
        estimate_swap(quote_only("buy", 1.0, 1.0), "sell", 1.0, 1.0, NO_GAS, CFG),            # no estimate
        estimate_perp(PerpVenue("0xm", 0.0, 0.0, 0.0, 0.5, 0.0), "buy", 1.0, 1.0, NO_GAS, CFG),  # margin
    ]
    assert [e.available for e in unavailable] == [False] * 5
    assert all(e.available is False for e in unavailable)
