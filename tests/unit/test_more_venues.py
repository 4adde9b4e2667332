"""The second venue step (keeper.core.more_venues): v4 pools and Aave loans chosen by the same all-in cost
as v3 pools and perps; the exact health factor after a borrow or repay; the health-factor floor; the
borrow interest over the horizon; the step never changes how much decide_underlying hedges."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.core.aave import HF_MAX, RAY, WAD, account_data, ray_div, ray_mul
from keeper.core.costs import GasView, SwapQuote, SwapVenue, VenueConfig
from keeper.core.gates import GateConfig, OracleView
from keeper.core.hedge_types import Exposure, UnderlyingInput
from keeper.core.more_venues import (
    SECONDS_PER_YEAR,
    LoanConfig,
    LoanVenue,
    MoreVenues,
    V4Venue,
    borrow_interest_quote,
    decide_more,
    estimate_loan,
    gate_health_factor,
    health_factor_after,
)
from keeper.core.policy import PolicyConfig, UnderlyingPolicy, decide_underlying
from keeper.core.sizing import SizingConfig, TriggerConfig
from keeper.core.snapshot import AaveAccountState, AaveMarketState, AaveReserveState
from keeper.errors import InputError

NOW = 1_700_000_000.0
PRICE = 3000.0
GAS = GasView(gas_price_gwei=20.0, native_price_quote=PRICE)
WETH, USDC, POOL, ME = "0x" + "e" * 40, "0x" + "c" * 40, "0x" + "a" * 40, "0x" + "1" * 40


def bits(ltv: int, lt: int, dec: int, *, borrowing: bool = True, frozen: bool = False) -> int:
    """A reserve-configuration bitmap (Aave v3 ReserveConfiguration layout)."""
    return (ltv | lt << 16 | 10_500 << 32 | dec << 48 | 1 << 56 | int(frozen) << 57 | int(borrowing) << 58)


def market(*, borrowing: bool = True, rate: float = 0.05, eth_index: int = RAY + 10**24) -> AaveMarketState:
    weth = AaveReserveState(WETH, 0, bits(8_000, 8_250, 18, borrowing=borrowing), "0x" + "2" * 40, "0x" + "3" * 40,
                            "0x" + "4" * 40, RAY, eth_index, 0, int(rate * RAY), int(PRICE * 1e8))
    usdc = AaveReserveState(USDC, 1, bits(7_500, 7_800, 6), "0x" + "5" * 40, "0x" + "6" * 40, "0x" + "7" * 40,
                            RAY + 3 * 10**24, RAY, 0, int(0.04 * RAY), 10**8)
    return AaveMarketState(POOL, "0x" + "8" * 40, {WETH: weth, USDC: usdc})


def account(usdc_supplied: int = 300_000 * 10**6, weth_debt_scaled: int = 0) -> AaveAccountState:
    config = 1 << (2 * 1 + 1)  # USDC as collateral
    if weth_debt_scaled:
        config |= 1 << 0
    return AaveAccountState(POOL, ME, config, 0, {USDC: usdc_supplied}, {WETH: weth_debt_scaled} if weth_debt_scaled
                            else {}, {})


def loan(**kw: Any) -> LoanVenue:
    m = kw.pop("m", market())
    return LoanVenue(f"{POOL}:{WETH}", m, kw.pop("acct", account()), WETH, **kw)


def swap(**kw: Any) -> SwapVenue:
    base: dict[str, Any] = {"venue_id": "pool500", "fee_fraction": 0.0005, "gas_units": 150_000.0,
                            "underlying_balance_units": 10_000.0, "quote_balance_quote": 1e9,
                            "liquidity": 1e7, "sqrt_price": math.sqrt(PRICE)}
    base.update(kw)
    return SwapVenue(**base)


def oracle() -> OracleView:
    return OracleView(feed_price=PRICE, feed_updated_at=NOW - 60, pool_spot=PRICE, twap=PRICE, block_timestamp=NOW)


def policy() -> UnderlyingPolicy:
    return UnderlyingPolicy(trigger=TriggerConfig(trigger="fixed", band_units=2.0),
                            sizing=SizingConfig(max_trade_usd=math.inf, window_cap_usd=math.inf),
                            venues=VenueConfig(max_slippage_bps=50), gates=GateConfig())


def run(delta: float, swaps: tuple[SwapVenue, ...], more: MoreVenues, loan_cfg: LoanConfig | None = None
        ) -> tuple[Any, Any]:
    i = UnderlyingInput(Exposure("ETH", delta, -0.01, 3e6, PRICE), oracle(), swaps, ())
    p = policy()
    d = decide_underlying(i, p, GAS)
    return d, decide_more(d, i, more, p.venues, p.gates.max_oracle_deviation_bps, loan_cfg or LoanConfig(), GAS)


# ------------------------------------------------------------------ health factor


def test_health_factor_after_a_borrow_is_aave_arithmetic_by_hand() -> None:
    m, a = market(), account()
    before, after = health_factor_after(m, a, WETH, 10 * 10**18)
    assert before == HF_MAX
    index = m.reserves[WETH].variable_borrow_index
    debt_base = ray_mul(ray_div(10 * 10**18, index), index) * int(PRICE * 1e8) // 10**18
    coll_base = ray_mul(300_000 * 10**6, m.reserves[USDC].liquidity_index) * 10**8 // 10**6
    expected = ((coll_base * 7_800 + 5_000) // 10_000 * WAD + debt_base // 2) // debt_base
    assert after == expected
    assert after / WAD == pytest.approx(300_000 * 1.003 * 0.78 / 30_000, rel=1e-9)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 10**22), st.integers(0, 10**22), st.integers(RAY, 2 * RAY))
def test_borrow_then_repay_of_the_same_amount_restores_the_health_factor(amount: int, scaled0: int,
                                                                         index: int) -> None:
    m = market(eth_index=index)
    a = account(weth_debt_scaled=scaled0)
    before, after = health_factor_after(m, a, WETH, amount)
    assert after <= before
    moved = ray_div(amount, index)
    a2 = dataclasses.replace(a, scaled_variable_debt={WETH: scaled0 + moved},
                             user_configuration=a.user_configuration | 1)
    assert account_data(m, a2).health_factor == after
    back, restored = health_factor_after(m, a2, WETH, -amount)
    assert back == after and restored == before


def test_the_floor_refuses_only_a_hedge_that_lowers_the_health_factor_below_it() -> None:
    r = gate_health_factor(2 * WAD, int(1.4 * WAD), 1.5, label="aave:x", action="borrowing 5 ETH")
    assert r is not None and r.code == "venue_health_factor"
    assert "from 2.0000 to 1.4000" in r.text and "floor 1.5" in r.text and "borrowing 5 ETH" in r.text
    assert r.number("health_factor_before") == 2.0 and r.number("min_health_factor") == 1.5
    assert gate_health_factor(2 * WAD, int(1.6 * WAD), 1.5, label="x", action="y") is None
    # a repay that leaves HF below the floor still raises it: allowed
    assert gate_health_factor(int(1.1 * WAD), int(1.3 * WAD), 1.5, label="x", action="y") is None
    none = gate_health_factor(HF_MAX, int(1.2 * WAD), 1.5, label="x", action="y")
    assert none is not None and "no debt" in none.text


def test_loan_config_validates_the_floor() -> None:
    with pytest.raises(InputError, match="min_health_factor"):
        LoanConfig(min_health_factor=1.0)
    with pytest.raises(InputError, match="holding_horizon_s"):
        LoanConfig(holding_horizon_s=-1.0)


# ------------------------------------------------------------------ the loan's cost


@given(st.floats(1.0, 1e7), st.floats(0.0, 2.0), st.floats(0.0, 365 * 86_400.0))
def test_interest_is_the_apr_over_the_horizon(notional: float, rate: float, horizon: float) -> None:
    got = borrow_interest_quote(notional, rate, horizon)
    assert got == pytest.approx(notional * rate * horizon / SECONDS_PER_YEAR)
    assert borrow_interest_quote(2 * notional, rate, horizon) == pytest.approx(2 * got)


def test_borrow_and_sell_cost_is_the_leg_plus_interest_plus_both_gases() -> None:
    lv = loan()
    est, leg = estimate_loan(lv, [("uniswap", swap(underlying_balance_units=0.0))], "sell", 5.0, PRICE, GAS,
                             VenueConfig(), LoanConfig(1.5, 86_400.0), 100.0, PRICE, underlying="ETH")
    assert est.available and leg is not None and leg.available  # the borrowed ETH is what the leg sells
    interest = 5.0 * PRICE * 0.05 * 86_400 / SECONDS_PER_YEAR
    assert est.cost.funding_quote == pytest.approx(interest)
    assert est.cost.fee_quote == leg.cost.fee_quote and est.cost.impact_quote == leg.cost.impact_quote
    assert est.cost.gas_quote == pytest.approx(leg.cost.gas_quote + 300_000 * 20e-9 * PRICE)
    assert "interest" in est.reason.text and "% APR" in est.reason.text and "USD" in est.reason.text
    # buy-and-repay: the interest is saved (a credit), the repay needs the debt
    owed = loan(acct=account(weth_debt_scaled=10 * 10**18))
    buy, _ = estimate_loan(owed, [("uniswap", swap())], "buy", 5.0, PRICE, GAS, VenueConfig(), LoanConfig(), 100.0,
                           PRICE, underlying="ETH")
    assert buy.available and buy.cost.funding_quote == pytest.approx(-interest)
    short, _ = estimate_loan(loan(), [("uniswap", swap())], "buy", 5.0, PRICE, GAS, VenueConfig(), LoanConfig(),
                             100.0, PRICE, underlying="ETH")
    assert not short.available and "variable debt" in short.reason.text


@pytest.mark.parametrize(("lv", "why"), [
    (loan(m=market(borrowing=False)), "borrowing off"),
    (loan(acct=account(usdc_supplied=10_000 * 10**6)), "borrowing power"),
    (loan(acct=account(usdc_supplied=40_000 * 10**6)), "below the floor"),
])
def test_a_borrow_is_refused_with_its_reason(lv: LoanVenue, why: str) -> None:
    est, _ = estimate_loan(lv, [("uniswap", swap())], "sell", 10.0, PRICE, GAS, VenueConfig(), LoanConfig(1.5), 100.0,
                           PRICE, underlying="ETH")
    assert not est.available and why in est.reason.text


# ------------------------------------------------------------------ the step


def test_a_cheaper_v4_pool_takes_the_order_at_the_same_size_and_side() -> None:
    v3 = swap(fee_fraction=0.003)
    v4 = V4Venue(swap(venue_id="0xpool", fee_fraction=0.0005), native=True)
    d, d2 = run(20.0, (v3,), MoreVenues((v4,)))
    assert d.order is not None and d.order.venue == "uniswap"
    assert d2.order is not None and d2.order.venue == "uniswap_v4" and d2.order.venue_id == "0xpool"
    assert (d2.order.side, d2.order.size_units) == (d.order.side, d.order.size_units)
    assert d2.delta_after_units == d.delta_after_units and d2.remaining_units == d.remaining_units
    assert d2.order.cost.total_quote < d.order.cost.total_quote
    assert [r.code for r in d2.reasons].count("venue_chosen") == 1
    assert len(d2.venues) == 2


def test_a_dearer_v4_pool_is_listed_and_not_chosen() -> None:
    v4 = V4Venue(swap(venue_id="0xpool", fee_fraction=0.01), native=True)
    d, d2 = run(20.0, (swap(),), MoreVenues((v4,)))
    assert d2.order == d.order and len(d2.venues) == 2


def test_no_v3_balance_then_borrow_and_sell_hedges() -> None:
    d, d2 = run(20.0, (swap(underlying_balance_units=0.0),), MoreVenues(loans=(loan(),)))
    assert d.order is None and d.reasons[-1].code == "no_venue"
    assert d2.order is not None and d2.order.venue == "aave" and d2.order.leg is not None
    assert d2.order.leg.venue == "uniswap" and d2.order.size_units == d2.order.leg.size_units == d.venues[0].size_units
    assert d2.delta_after_units == pytest.approx(d.delta_after_units - d2.order.size_units)
    assert d2.reasons[-1].code == "order"


def test_the_floor_leaves_the_cycle_without_a_venue() -> None:
    lv = loan(acct=account(usdc_supplied=200_000 * 10**6))  # 18 ETH borrowed: HF ~ 2.9
    _, d2 = run(20.0, (swap(underlying_balance_units=0.0),), MoreVenues(loans=(lv,)), LoanConfig(3.0))
    assert d2.order is None
    assert "venue_health_factor" in [r.code for r in d2.reasons] and d2.reasons[-1].code == "no_venue"


def test_through_the_venue_module_a_loans_leg_is_a_v4_pool_native_included() -> None:
    """The HedgeVenueModule borrows WETH and sells it in a v4 pool (unwrapping it for native ETH): with
    ``module_legs`` the v3 pools are no legs and a native v4 pool is one; without it, the reverse."""
    v4 = V4Venue(swap(venue_id="0xnative", underlying_balance_units=0.0), native=True)
    no_v3 = (swap(underlying_balance_units=0.0),)
    _, d2 = run(20.0, no_v3, MoreVenues((v4,), (loan(),), module_legs=True))
    assert d2.order is not None and d2.order.venue == "aave" and d2.order.leg is not None
    assert (d2.order.leg.venue, d2.order.leg.venue_id) == ("uniswap_v4", "0xnative")
    _, d3 = run(20.0, no_v3, MoreVenues((v4,), (loan(),)))
    assert d3.order is not None and d3.order.leg is not None and d3.order.leg.venue == "uniswap"
    _, d4 = run(20.0, no_v3, MoreVenues((), (loan(),), module_legs=True))  # no v4 pool: no leg
    assert d4.order is None


def test_unsupported_venues_are_never_chosen() -> None:
    v4 = V4Venue(swap(venue_id="0xpool", fee_fraction=0.0001), native=True)
    d, d2 = run(20.0, (swap(),), MoreVenues((v4,), (loan(),), unsupported="not yet supported through the HedgeModule"))
    assert d2.order == d.order
    assert all(not e.available for e in d2.venues if e.venue in ("uniswap_v4", "aave"))
    assert any("not yet supported through the HedgeModule" in r.text for r in d2.reasons)


@settings(max_examples=40, deadline=None)
@given(st.floats(-60.0, 60.0), st.floats(0.0001, 0.01), st.floats(0.0, 1e4))
def test_the_step_never_changes_whether_or_how_much_to_hedge(delta: float, fee: float, bal: float) -> None:
    v4 = V4Venue(swap(venue_id="0xpool", fee_fraction=fee, underlying_balance_units=bal), native=False,
                 buy_quote=SwapQuote("buy", 100.0, PRICE * 1.001))
    d, d2 = run(delta, (swap(),), MoreVenues((v4,), (loan(acct=account(weth_debt_scaled=50 * 10**18)),)))
    assert (d.order is None) == (d2.order is None)
    if d.order is not None and d2.order is not None:
        assert (d2.order.side, d2.order.size_units) == (d.order.side, d.order.size_units)
        assert d2.order.cost.total_quote <= d.order.cost.total_quote + 1e-9
    assert d2.delta_after_units == pytest.approx(d.delta_after_units)
    assert d2.band == d.band and d2.trigger == d.trigger and d2.gates == d.gates


def test_decide_is_untouched_so_the_backtest_twin_stays_true() -> None:
    """decide_underlying's decision is the input of the step, never recomputed by it: the twin test
    (tests/unit/test_backtest_rules.py) compares decide_underlying, which knows no v4 or Aave venue."""
    cfg = PolicyConfig(policy())
    i = UnderlyingInput(Exposure("ETH", 20.0, -0.01, 3e6, PRICE), oracle(), (swap(),), ())
    assert decide_underlying(i, cfg.default, GAS) == decide_underlying(i, cfg.default, GAS)
