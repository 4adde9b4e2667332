"""Portfolio risk at its edges: LP positions valued from the Uniswap v3 amount formulas written
out here (token1 as the underlying, a basis, fees, exact amounts at the mark), the scenario grid
of several LPs and an option (with the first-order vol term from a finite-difference vega), and
every argument check with the field and the value in its message."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.core.options import bs_price
from keeper.core.portfolio import (
    LPPosition,
    OptionPosition,
    PerpPosition,
    SpotHolding,
    aggregate,
    lp_risk,
    scenario_grid,
)
from keeper.errors import InputError

D0, D1 = 6, 18   # USDC token0, WETH token1: the underlying is token1
LO, HI = 199_000, 201_000
L = 1e15


def amounts(liquidity: float, lo: int, hi: int, spot: float) -> tuple[float, float]:
    """(underlying WETH, quote USDC) human amounts of a USDC/WETH position at ``spot`` USDC per WETH.

    Raw pool price (WETH raw per USDC raw) ``p = 10**(D1 - D0) / spot``; in range
    ``x = L (1/sqrt p - 1/sqrt pb)`` USDC raw and ``y = L (sqrt p - sqrt pa)`` WETH raw.
    """
    p = 10.0 ** (D1 - D0) / spot
    sa, sb, sp = 1.0001 ** (lo / 2), 1.0001 ** (hi / 2), math.sqrt(p)
    sp = min(max(sp, sa), sb)
    x = liquidity * (1.0 / sp - 1.0 / sb)
    y = liquidity * (sp - sa)
    return y / 10.0**D1, x / 10.0**D0


def lp(basis: float = 1.0, fees: tuple[float, float] = (0.0, 0.0), liquidity: float = L) -> LPPosition:
    return LPPosition("ETH", liquidity, LO, HI, False, D0, D1, fees[0], fees[1], basis)


def value_by_hand(p: LPPosition, spot: float) -> float:
    u, q = amounts(p.liquidity, p.tick_lower, p.tick_upper, p.basis * spot)
    return (u + p.fees_underlying) * spot + q + p.fees_quote


def test_lp_risk_with_the_underlying_as_token1_and_a_basis() -> None:
    p = lp(basis=1.02, fees=(0.25, 40.0))
    value, delta, gamma = lp_risk(p, 2000.0)
    u, _ = amounts(L, LO, HI, 1.02 * 2000.0)
    assert u > 0.0 and delta == pytest.approx(u + 0.25, rel=1e-9)
    assert value == pytest.approx(value_by_hand(p, 2000.0), rel=1e-9)
    h = 0.01
    fd = (amounts(L, LO, HI, 1.02 * (2000.0 + h))[0] - amounts(L, LO, HI, 1.02 * (2000.0 - h))[0]) / (2 * h)
    assert gamma == pytest.approx(fd, rel=1e-5) and gamma < 0.0


def test_lp_risk_uses_the_exact_amounts_only_at_the_mark() -> None:
    exact = LPPosition("ETH", L, LO, HI, False, D0, D1, 0.5, 10.0, 1.0, 3.0, 1000.0, 2000.0)
    value, delta, _ = lp_risk(exact, 2000.0)
    assert delta == 3.5 and value == 3.5 * 2000.0 + 1000.0 + 10.0
    assert exact.exact_at(2000.0) == (3.0, 1000.0)
    assert exact.exact_at(2001.0) is None
    _, off_mark, _ = lp_risk(exact, 2001.0)
    assert off_mark == pytest.approx(amounts(L, LO, HI, 2001.0)[0] + 0.5, rel=1e-9)
    assert lp().exact_at(2000.0) is None


@pytest.mark.parametrize(("kw", "message"), [
    ({"basis": 0.0}, "basis: must be finite and > 0 (got 0.0)"),
    ({"basis": math.inf}, "basis: must be finite and > 0 (got inf)"),
    ({"mark": 1.0}, "amount_underlying: amount_underlying, amount_quote and mark go together"),
    ({"amount_underlying": 1.0, "amount_quote": 1.0}, "amount_underlying: amount_underlying, amount_quote and mark"
                                                       " go together"),
    ({"amount_underlying": -1.0, "amount_quote": 1.0, "mark": 1.0}, "amount_underlying: must be finite and >= 0"
                                                                     " (got -1.0)"),
    ({"amount_underlying": 1.0, "amount_quote": math.inf, "mark": 1.0}, "amount_quote: must be finite and >= 0"
                                                                         " (got inf)"),
    ({"amount_underlying": 1.0, "amount_quote": 1.0, "mark": 0.0}, "mark: must be finite and > 0 (got 0.0)"),
    ({"amount_underlying": 1.0, "amount_quote": 1.0, "mark": -2.0}, "mark: must be finite and > 0 (got -2.0)"),
    ({"amount_underlying": 1.0, "amount_quote": 1.0, "mark": math.inf}, "mark: must be finite and > 0 (got inf)"),
])
def test_lp_position_checks_name_the_field_and_value(kw: dict[str, float], message: str) -> None:
    with pytest.raises(InputError) as ei:
        LPPosition("ETH", L, LO, HI, False, D0, D1, **kw)
    assert str(ei.value) == message


def test_lp_position_accepts_zero_amounts_and_a_mark_below_one() -> None:
    p = LPPosition("ETH", L, LO, HI, False, D0, D1, amount_underlying=0.0, amount_quote=0.0, mark=0.5)
    assert p.exact_at(0.5) == (0.0, 0.0)


@pytest.mark.parametrize(("spots", "message"), [
    ({}, "spots: no spot price for 'ETH'"),
    ({"ETH": 0.0}, "spots: spot of 'ETH' must be finite and > 0 (got 0.0)"),
    ({"ETH": -5.0}, "spots: spot of 'ETH' must be finite and > 0 (got -5.0)"),
    ({"ETH": math.inf}, "spots: spot of 'ETH' must be finite and > 0 (got inf)"),
])
def test_a_missing_or_bad_spot_is_named(spots: dict[str, float], message: str) -> None:
    with pytest.raises(InputError) as ei:
        aggregate([SpotHolding("ETH", 1.0)], spots)
    assert str(ei.value) == message
    with pytest.raises(InputError) as ei:
        scenario_grid([SpotHolding("ETH", 1.0)], spots)
    assert str(ei.value) == message


def test_a_spot_below_one_is_valid() -> None:
    assert aggregate([SpotHolding("X", 4.0)], {"X": 0.25})["X"].value == 1.0


def test_grid_of_two_lps_matches_the_amount_formulas() -> None:
    """Two LPs of one orientation (summed along their own axis), one with a basis and fees.

    In range, ``u(bS) S + q(bS)`` is symmetric in ``b <-> 1/b`` (``L sqrt(S) (sqrt(b) + 1/sqrt(b))``
    plus constants), so the second LP's range (about 2100 to 2500 USD per WETH) holds its pool price
    ``1.1 S`` = 2200 and not ``S / 1.1``: a pool priced the wrong way round would show.
    """
    a = lp()
    b = LPPosition("ETH", 2 * L, 198_060, 199_800, False, D0, D1, 0.5, 25.0, 1.1)
    shocks, vols = (-0.02, 0.0, 0.03), (0.0, 0.5)
    grid = scenario_grid([a, b], {"ETH": 2000.0}, shocks, vols)["ETH"]
    base = value_by_hand(a, 2000.0) + value_by_hand(b, 2000.0)
    assert grid.base_value == pytest.approx(base, rel=1e-9)
    assert (grid.underlying, grid.spot_shocks, grid.vol_shocks) == ("ETH", shocks, vols)
    for i, sh in enumerate(shocks):
        s = 2000.0 * (1 + sh)
        want = value_by_hand(a, s) + value_by_hand(b, s) - base
        assert grid.pnl[i].tolist() == pytest.approx([want, want], rel=1e-7, abs=1e-6)


def test_grid_taylor_vol_term_is_quantity_times_vega_times_vol() -> None:
    opt = OptionPosition("ETH", -3.0, 2100.0, 0.25, False, 0.6, 0.02, 0.01)
    perp = PerpPosition("ETH", 2.0, 1900.0)
    vols = (-1.0, -0.5, 0.0, 0.25)
    grid = scenario_grid([opt, perp], {"ETH": 2000.0}, (0.0, 0.1), vols)["ETH"]
    h = 1e-4
    vega = (bs_price(2000.0, 2100.0, 0.25, 0.6 + h, 0.02, 0.01, False)
            - bs_price(2000.0, 2100.0, 0.25, 0.6 - h, 0.02, 0.01, False)) / (2 * h)
    # no spot move: the Taylor estimate is the vol term alone
    assert grid.taylor_pnl[0].tolist() == pytest.approx([-3.0 * float(vega) * 0.6 * v for v in vols], rel=1e-6)
    # a vol shock of -100 % is allowed (vol 0: the put is worth its discounted intrinsic value)
    intrinsic = (2100.0 * math.exp(-0.02 * 0.25) - 2000.0 * math.exp(-0.01 * 0.25))
    base = float(bs_price(2000.0, 2100.0, 0.25, 0.6, 0.02, 0.01, False))
    assert grid.pnl[0, 0] == pytest.approx(-3.0 * (intrinsic - base), rel=1e-9)
    # without options the vol term is 0
    plain = scenario_grid([perp], {"ETH": 2000.0}, (0.1,), vols)["ETH"]
    assert plain.taylor_pnl.tolist() == [[2.0 * 200.0] * 4]


def test_aggregate_adds_every_kind_of_position() -> None:
    opt = OptionPosition("ETH", 2.0, 2000.0, 0.5, True, 0.5, delta_adjustment=0.125)
    got = aggregate([opt, PerpPosition("ETH", -1.0, 1900.0), SpotHolding("ETH", 0.5), lp()], {"ETH": 2000.0})["ETH"]
    h = 0.01
    fd = (bs_price(2000.0 + h, 2000.0, 0.5, 0.5) - bs_price(2000.0 - h, 2000.0, 0.5, 0.5)) / (2 * h)
    u, _ = amounts(L, LO, HI, 2000.0)
    assert got.delta == pytest.approx(2.0 * (float(fd) + 0.125) - 1.0 + 0.5 + u, rel=1e-7)
    assert got.delta_quote == got.delta * 2000.0


@pytest.mark.parametrize(("spot_shocks", "vol_shocks", "field"), [
    ((), (0.0,), "spot_shocks"),
    (((0.1,),), (0.0,), "spot_shocks"),
    ((math.nan,), (0.0,), "spot_shocks"),
    ((-1.0,), (0.0,), "spot_shocks"),
    ((-1.5,), (0.0,), "spot_shocks"),
    ((0.0,), (), "vol_shocks"),
    ((0.0,), ((0.1,),), "vol_shocks"),
    ((0.0,), (math.nan,), "vol_shocks"),
    ((0.0,), (math.inf,), "vol_shocks"),
    ((0.0,), (-1.5,), "vol_shocks"),
])
def test_grid_shock_checks(spot_shocks: tuple[float, ...], vol_shocks: tuple[float, ...], field: str) -> None:
    with pytest.raises(InputError) as ei:
        scenario_grid([SpotHolding("ETH", 1.0)], {"ETH": 1.0}, spot_shocks, vol_shocks)
    bound = "> -1" if field == "spot_shocks" else ">= -1"
    assert str(ei.value) == f"{field}: must be a non-empty sequence of finite values {bound}"


def test_grid_shock_bounds_are_open_for_spot_and_closed_for_vol() -> None:
    grid = scenario_grid([SpotHolding("ETH", 1.0)], {"ETH": 1.0}, (-0.999,), (-1.0,))["ETH"]
    assert grid.pnl[0, 0] == pytest.approx(-0.999, rel=1e-12)
    assert np.asarray(grid.pnl).dtype == np.float64
