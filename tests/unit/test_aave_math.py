"""The pure Aave v3 account math: WadRayMath / PercentageMath rounding, the reserve-configuration
bitmap, collateral / debt / health factor from scaled balances, and the scenario views (health factor
under price moves, liquidation price) against their definitions."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.core.aave import (
    HF_MAX,
    RAY,
    WAD,
    LoanBook,
    LoanLeg,
    account_data,
    check_health_factor,
    decode_reserve_config,
    loan_book,
    percent_mul,
    ray_mul,
    wad_div,
)
from keeper.core.portfolio import SpotHolding, scenario_grid
from keeper.core.snapshot import AaveAccountState, AaveMarketState, AaveReserveState
from keeper.errors import InputError

WETH, USDC, WBTC = "0x" + "0e" * 20, "0x" + "0c" * 20, "0x" + "0b" * 20
POOL, OWNER = "0x" + "99" * 20, "0x" + "55" * 20


def config(ltv: int, lt: int, bonus: int, decimals: int, *, borrowing: bool = True, factor: int = 1000) -> int:
    return ltv | lt << 16 | bonus << 32 | decimals << 48 | 1 << 56 | int(borrowing) << 58 | factor << 64


def reserve(asset: str, rid: int, cfg: int, price: int, income: int = RAY, debt_index: int = RAY) -> AaveReserveState:
    return AaveReserveState(asset, rid, cfg, "0x" + "a1" * 20, "0x" + "d1" * 20, "0x" + "5d" * 20, income,
                            debt_index, 0, 0, price)


def market(income: int = RAY, debt_index: int = RAY) -> AaveMarketState:
    return AaveMarketState(POOL, "0x" + "07" * 20, {
        WETH: reserve(WETH, 0, config(8000, 8250, 10500, 18), 3000 * 10**8, income, debt_index),
        WBTC: reserve(WBTC, 1, config(7000, 7500, 10650, 8), 60000 * 10**8),
        USDC: reserve(USDC, 2, config(7700, 8000, 10500, 6), 10**8),
    })


def bits(*, coll: tuple[int, ...] = (), borrow: tuple[int, ...] = ()) -> int:
    return sum(1 << (2 * i + 1) for i in coll) + sum(1 << (2 * i) for i in borrow)


# ----------------------------------------------------------------------------- rounding


@given(st.integers(0, 2**128), st.integers(0, 2**100))
def test_ray_mul_is_half_up(a: int, b: int) -> None:
    exact = Fraction(a * b, RAY)
    assert ray_mul(a, b) == math.floor(exact + Fraction(1, 2))


@given(st.integers(0, 2**128), st.integers(1, 2**128))
def test_wad_div_is_half_up(a: int, b: int) -> None:
    assert wad_div(a, b) == math.floor(Fraction(a * WAD, b) + Fraction(1, 2))


def test_wad_div_by_zero_is_refused() -> None:
    with pytest.raises(InputError):
        wad_div(1, 0)


@given(st.integers(0, 2**200), st.integers(0, 10_000))
def test_percent_mul_is_half_up(v: int, bps: int) -> None:
    assert percent_mul(v, bps) == math.floor(Fraction(v * bps, 10_000) + Fraction(1, 2))


def test_percent_mul_rounds_a_half_up_not_to_even() -> None:
    assert percent_mul(1, 5000) == 1 and percent_mul(3, 5000) == 2


# ----------------------------------------------------------------------------- configuration


@given(st.integers(0, 10_000), st.integers(0, 10_000), st.integers(0, 2**16 - 1), st.integers(0, 255),
       st.booleans(), st.integers(0, 2**16 - 1))
def test_config_decodes_what_was_packed(ltv: int, lt: int, bonus: int, dec: int, borrowing: bool, factor: int) -> None:
    c = decode_reserve_config(config(ltv, lt, bonus, dec, borrowing=borrowing, factor=factor))
    assert (c.ltv_bps, c.liquidation_threshold_bps, c.liquidation_bonus_bps, c.decimals) == (ltv, lt, bonus, dec)
    assert c.active and not c.frozen and not c.paused and c.borrowing_enabled is borrowing
    assert c.reserve_factor_bps == factor and c.borrow_cap == 0 and c.supply_cap == 0


def test_config_rejects_a_non_uint256() -> None:
    with pytest.raises(InputError):
        decode_reserve_config(-1)


# ----------------------------------------------------------------------------- account data


def test_account_by_hand() -> None:
    """40 WETH + 300,000 USDC supplied, 15 WETH borrowed, indexes 1.01 / 1.02 (figures by hand)."""
    m = market(income=RAY * 101 // 100, debt_index=RAY * 102 // 100)
    acct = AaveAccountState(POOL, OWNER, bits(coll=(0, 2), borrow=(0,)), 0,
                            {WETH: 40 * 10**18, USDC: 300_000 * 10**6}, {WETH: 15 * 10**18}, {})
    a = account_data(m, acct)
    assert a.supplied == {WETH: 404 * 10**17, USDC: 300_000 * 10**6}  # USDC's index is 1
    assert a.variable_debt == {WETH: 153 * 10**17}
    coll_weth = 404 * 10**17 * (3000 * 10**8) // 10**18  # balance x price / 10**decimals
    coll_usdc = 300_000 * 10**6 * 10**8 // 10**6
    assert a.collateral_base == coll_weth + coll_usdc
    assert a.debt_base == 153 * 3000 * 10**7
    lt = (coll_weth * 8250 + coll_usdc * 8000) // (coll_weth + coll_usdc)
    ltv = (coll_weth * 8000 + coll_usdc * 7700) // (coll_weth + coll_usdc)
    assert (a.liquidation_threshold_bps, a.ltv_bps) == (lt, ltv)
    hf = ((coll_weth + coll_usdc) * lt + 5000) // 10_000 * WAD
    assert a.health_factor == (hf + a.debt_base // 2) // a.debt_base
    room = ((coll_weth + coll_usdc) * ltv + 5000) // 10_000
    assert a.available_borrows_base == room - a.debt_base
    assert a.net(WETH) == 404 * 10**17 - 153 * 10**17
    assert a.collateral_assets == (WETH, USDC)


def test_supply_only_has_no_debt_and_the_max_health_factor() -> None:
    acct = AaveAccountState(POOL, OWNER, bits(coll=(1,)), 0, {WBTC: 3 * 10**8}, {}, {})
    a = account_data(market(), acct)
    assert a.debt_base == 0 and a.health_factor == HF_MAX and math.isinf(a.health_factor_float)
    assert a.collateral_base == 3 * 60000 * 10**8


def test_a_supply_not_used_as_collateral_is_held_but_not_collateral() -> None:
    acct = AaveAccountState(POOL, OWNER, bits(coll=(2,), borrow=(2,)), 0,
                            {WETH: 10**18, USDC: 10_000 * 10**6}, {USDC: 1000 * 10**6}, {})
    a = account_data(market(), acct)
    assert a.supplied[WETH] == 10**18  # exposure, still
    assert a.collateral_base == 10_000 * 10**8 and a.collateral_assets == (USDC,)


def test_e_mode_is_refused_not_misread() -> None:
    acct = AaveAccountState(POOL, OWNER, bits(coll=(0,)), 1, {WETH: 10**18}, {}, {})
    with pytest.raises(InputError, match="e-mode"):
        account_data(market(), acct)


def test_a_position_in_an_unread_reserve_is_refused() -> None:
    acct = AaveAccountState(POOL, OWNER, bits(coll=(0,)), 0, {"0x" + "ff" * 20: 1}, {}, {})
    with pytest.raises(InputError, match="not read"):
        account_data(market(), acct)


# ----------------------------------------------------------------------------- scenarios


def legs_strategy() -> st.SearchStrategy[tuple[LoanLeg, ...]]:
    leg = st.builds(
        LoanLeg, st.sampled_from(["ETH", "BTC", None]), st.floats(0, 1e7), st.floats(0.5, 0.95),
        st.floats(0, 5e6), st.floats(1, 1e5),
    )
    return st.lists(leg, min_size=1, max_size=5).map(tuple)


@given(legs_strategy())
def test_at_the_liquidation_price_the_health_factor_is_one(legs: tuple[LoanLeg, ...]) -> None:
    book = LoanBook(POOL, OWNER, legs)
    for u in ("ETH", "BTC"):
        x = book.liquidation_multiplier(u)
        hf0 = book.health_factor
        if x is None:
            # then no price of u alone moves the account across HF 1
            if math.isfinite(hf0) and abs(hf0 - 1) > 1e-6:
                for m in (1e-6, 0.1, 0.5, 2.0, 10.0, 1e6):
                    assert (book.health_factor_at({u: m}) - 1) * (hf0 - 1) >= -1e-9, m
            continue
        assert book.health_factor_at({u: x}) == pytest.approx(1.0, rel=1e-9)


@given(legs_strategy(), st.floats(0.01, 3.0))
def test_health_factor_at_is_its_definition(legs: tuple[LoanLeg, ...], m: float) -> None:
    book = LoanBook(POOL, OWNER, legs)
    adj = sum((m if leg.underlying == "ETH" else 1.0) * leg.collateral_value * leg.liquidation_threshold
              for leg in legs)
    debt = sum((m if leg.underlying == "ETH" else 1.0) * leg.debt_value for leg in legs)
    got = book.health_factor_at({"ETH": m})
    assert (math.isinf(got) and debt <= 0) or got == pytest.approx(adj / debt, rel=1e-12)


def test_liquidation_price_by_hand() -> None:
    """100 ETH at 3,000 (LT 80 %) against 120,000 USDC of debt: HF 2; liquidation at 1,500."""
    book = LoanBook(POOL, OWNER, (LoanLeg("ETH", 300_000.0, 0.8, 0.0, 3000.0), LoanLeg(None, 0.0, 0.8, 120_000.0, 1.0)))
    assert book.health_factor == pytest.approx(2.0)
    assert book.liquidation_price("ETH") == pytest.approx(1500.0)
    assert book.liquidation_price("BTC") is None  # no BTC leg


def test_debt_in_the_collateral_asset_alone_cannot_be_liquidated_by_its_price() -> None:
    """ETH collateral against ETH debt: both fall together, HF is constant in the ETH price."""
    book = LoanBook(POOL, OWNER, (LoanLeg("ETH", 300_000.0, 0.8, 150_000.0, 3000.0),))
    assert book.liquidation_price("ETH") is None
    assert book.health_factor_at({"ETH": 0.2}) == pytest.approx(book.health_factor)


def test_borrowed_eth_against_usdc_is_liquidated_by_a_rise() -> None:
    """300,000 USDC (LT 80 %) against 40 ETH borrowed at 3,000: HF 2; liquidation at 6,000 (above spot)."""
    book = LoanBook(POOL, OWNER, (LoanLeg(None, 300_000.0, 0.8, 0.0, 1.0), LoanLeg("ETH", 0.0, 0.8, 120_000.0, 3000.0)))
    assert book.health_factor == pytest.approx(2.0)
    assert book.liquidation_price("ETH") == pytest.approx(6000.0)
    assert book.health_factor_at({"ETH": 2.0}) == pytest.approx(1.0)


def test_loan_book_at_no_shock_is_aaves_health_factor_within_a_bp_of_threshold() -> None:
    m = market(income=RAY * 101 // 100, debt_index=RAY * 102 // 100)
    acct = AaveAccountState(POOL, OWNER, bits(coll=(0, 2), borrow=(0,)), 0,
                            {WETH: 40 * 10**18, USDC: 300_000 * 10**6}, {WETH: 15 * 10**18}, {})
    a = account_data(m, acct)
    book = loan_book(m, a, {WETH.lower(): "ETH", USDC.lower(): None, WBTC.lower(): "BTC"}, 1e8)
    hf = a.health_factor / WAD
    assert abs(book.health_factor - hf) <= hf / a.liquidation_threshold_bps
    with pytest.raises(InputError, match="no configured underlying"):
        loan_book(m, a, {WETH.lower(): "ETH"}, 1e8)


def test_scenario_grid_carries_health_factor_and_liquidation_price() -> None:
    book = LoanBook(POOL, OWNER, (LoanLeg("ETH", 300_000.0, 0.8, 0.0, 3000.0), LoanLeg(None, 0.0, 0.8, 120_000.0, 1.0)))
    grids = scenario_grid([SpotHolding("ETH", 100.0)], {"ETH": 3000.0}, (-0.6, -0.5, 0.0, 0.2), (-0.5, 0.0, 0.5),
                          loans=[book])
    g = grids["ETH"]
    hf = g.health_factors[book.label]
    assert hf.shape == g.pnl.shape
    assert hf[:, 0].tolist() == pytest.approx([0.8, 1.0, 2.0, 2.4])
    assert (hf == hf[:, :1]).all()  # vol moves leave it
    assert g.liquidation_prices[book.label] == pytest.approx(1500.0)
    assert scenario_grid([SpotHolding("ETH", 1.0)], {"ETH": 3000.0}, loans=[])["ETH"].health_factors == {}


# ----------------------------------------------------------------------------- the health-factor gate


def usdc_against_eth() -> LoanBook:
    """300,000 USDC collateral (LT 80 %) and a 1 ETH debt at 3,000: HF 80."""
    return LoanBook(POOL, OWNER, (LoanLeg(None, 300_000.0, 0.8, 0.0, 1.0), LoanLeg("ETH", 0.0, 0.8, 3000.0, 3000.0)))


def test_a_borrow_that_keeps_the_floor_passes() -> None:
    before = usdc_against_eth()
    after = before.after(borrow_units={"ETH": 39.0})  # 40 ETH owed: HF 2
    assert after.health_factor == pytest.approx(2.0)
    res = check_health_factor(before, after, 1.5)
    assert res.passed and res.gate == "health_factor" and res.reason.number("health_factor_after") == pytest.approx(2)


def test_a_borrow_below_the_floor_is_refused_with_both_figures() -> None:
    before = usdc_against_eth()
    after = before.after(borrow_units={"ETH": 59.0})  # 60 ETH owed: HF 1.333
    res = check_health_factor(before, after, 1.5)
    assert not res.passed and res.reason.code == "gate_health_factor"
    assert "80.000 -> 1.333" in res.reason.text and "1.500" in res.reason.text


def test_repaying_below_the_floor_is_never_refused() -> None:
    before = usdc_against_eth().after(borrow_units={"ETH": 69.0})  # HF 1.143
    after = before.after(borrow_units={"ETH": -5.0})
    assert before.health_factor < after.health_factor < 1.5
    assert check_health_factor(before, after, 1.5).passed


def test_withdrawing_collateral_counts_and_unknown_legs_are_refused() -> None:
    before = LoanBook(POOL, OWNER, (LoanLeg("ETH", 300_000.0, 0.8, 0.0, 3000.0),
                                    LoanLeg(None, 0.0, 0.8, 120_000.0, 1.0)))
    after = before.after(supply_units={"ETH": -50.0})  # half the ETH withdrawn: HF 1
    assert after.health_factor == pytest.approx(1.0)
    assert not check_health_factor(before, after, 1.2).passed
    with pytest.raises(InputError, match="borrow_units"):
        before.after(borrow_units={"BTC": 1.0})
    with pytest.raises(InputError, match="supply_units"):
        usdc_against_eth().after(supply_units={"ETH": 1.0})
    with pytest.raises(InputError, match="floor"):
        check_health_factor(before, after, 1.0)


@given(st.floats(0, 200), st.floats(1.01, 5))
def test_the_gate_is_monotone_in_the_borrow(units: float, floor: float) -> None:
    before = usdc_against_eth()
    after = before.after(borrow_units={"ETH": units})
    assert check_health_factor(before, after, floor).passed is (after.health_factor >= floor)
