"""Implied volatility: argument shapes, degenerate inputs flagged without warnings, defaults,
small prices and strikes, the status dtype, and how fast the safeguarded Newton iteration converges."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.core.implied_vol import IVStatus, implied_vol_black76, implied_vol_bs
from keeper.core.options import black76_price, bs_price
from keeper.errors import InputError

SHAPE_ARG = "price/forward/strike/t/r/is_call"


@pytest.mark.parametrize("bad", range(7))
def test_bs_every_argument_takes_part_in_broadcasting(bad: int) -> None:
    args: list[object] = [5.0, 100.0, 100.0, 1.0, 0.0, 0.0, True]
    args[bad] = np.ones(3) if bad != 6 else np.ones(3, dtype=bool)
    args[0 if bad else 1] = np.full(2, args[0 if bad else 1])
    with pytest.raises(InputError) as info:
        implied_vol_bs(*args)  # type: ignore[arg-type]
    assert info.value.argument == SHAPE_ARG
    assert "shapes do not broadcast" in str(info.value)


@pytest.mark.parametrize("bad", range(6))
def test_black76_every_argument_takes_part_in_broadcasting(bad: int) -> None:
    args: list[object] = [5.0, 100.0, 100.0, 1.0, 0.0, True]
    args[bad] = np.ones(3) if bad != 5 else np.ones(3, dtype=bool)
    args[0 if bad else 1] = np.full(2, args[0 if bad else 1])
    with pytest.raises(InputError) as info:
        implied_vol_black76(*args)  # type: ignore[arg-type]
    assert info.value.argument == SHAPE_ARG
    assert "shapes do not broadcast" in str(info.value)


def test_broadcast_grid_and_status_dtype() -> None:
    k = np.array([[90.0], [100.0], [110.0]])
    t = np.array([0.25, 0.5, 1.0, 2.0])
    price = bs_price(100.0, k, t, 0.4, 0.02, 0.01, False)
    res = implied_vol_bs(price, 100.0, k, t, 0.02, 0.01, False)
    assert res.vol.shape == (3, 4)
    assert res.status.shape == (3, 4)
    assert res.status.dtype == np.int8  # documented: ndarray of int8
    np.testing.assert_allclose(res.vol, 0.4, rtol=1e-10)


def test_black76_defaults_are_an_undiscounted_call() -> None:
    price = float(black76_price(100.0, 120.0, 0.5, 0.45))
    res = implied_vol_black76(price, 100.0, 120.0, 0.5)
    assert int(res.status) == IVStatus.OK
    assert float(res.vol) == pytest.approx(0.45, rel=1e-10)


@pytest.mark.parametrize("scale", [1e-6, 0.05, 0.5, 1e6])
def test_prices_strikes_and_forwards_below_one(scale: float) -> None:
    """A token worth 0.05 (or 1e-6) of the quote currency is as valid as one worth 2,000."""
    f, k = 1.0 * scale, np.array([0.8, 1.0, 1.3]) * scale
    price = black76_price(f, k, 0.3, 0.9, 0.01, True)
    res = implied_vol_black76(price, f, k, 0.3, 0.01, True)
    np.testing.assert_array_equal(res.status, IVStatus.OK)
    np.testing.assert_allclose(res.vol, 0.9, rtol=1e-10)
    res_bs = implied_vol_bs(bs_price(f, k, 0.3, 0.9), f, k, 0.3)
    np.testing.assert_allclose(res_bs.vol, 0.9, rtol=1e-10)


def test_degenerate_inputs_are_invalid_without_warnings() -> None:
    # zero forward / strike, a discount factor that underflows to 0, an infinite term, a forward
    # that overflows (warnings are errors in this test suite)
    res = implied_vol_bs([1.0, 1.0, 1.0, 1.0, 1.0, 1.0], [0.0, 100.0, 100.0, 100.0, 100.0, 100.0],
                         [100.0, 0.0, 100.0, 100.0, 100.0, 100.0], [1.0, 1.0, 1.0, math.inf, 1.0, 1.0],
                         [0.0, 0.0, 800.0, 0.0, -800.0, 0.0], [0.0, 0.0, 0.0, 0.0, 0.0, -800.0])
    np.testing.assert_array_equal(res.status, IVStatus.INVALID_INPUT)
    assert np.all(np.isnan(res.vol))
    assert res.iterations == 0
    res76 = implied_vol_black76([1.0, 1.0, 1.0, 1.0], [0.0, 100.0, 100.0, 100.0], [100.0, 0.0, 100.0, 100.0],
                                [1.0, 1.0, math.inf, 1.0], [0.0, 0.0, 0.0, -800.0])
    np.testing.assert_array_equal(res76.status, IVStatus.INVALID_INPUT)
    res76 = implied_vol_black76(1.0, 100.0, 100.0, 1.0, 800.0)  # discount exp(-800) = 0
    assert int(res76.status) == IVStatus.INVALID_INPUT


def test_no_iterations_when_nothing_needs_solving() -> None:
    """Only intrinsic and out-of-bounds prices: the result needs no iteration."""
    res = implied_vol_bs([0.0, 20.0, -1.0, 150.0], 100.0, [100.0, 80.0, 100.0, 100.0], 1.0)
    np.testing.assert_array_equal(res.status, [IVStatus.AT_INTRINSIC, IVStatus.AT_INTRINSIC,
                                               IVStatus.BELOW_INTRINSIC, IVStatus.ABOVE_UPPER_BOUND])
    assert res.iterations == 0
    np.testing.assert_array_equal(res.vol[:2], 0.0)


def test_in_the_money_prices_go_through_parity_for_calls_and_puts() -> None:
    k = np.array([60.0, 80.0, 100.0, 125.0, 160.0])
    for call in (True, False):
        price = bs_price(100.0, k, 0.75, 0.35, 0.04, 0.0, call)
        res = implied_vol_bs(price, 100.0, k, 0.75, 0.04, 0.0, call)
        np.testing.assert_array_equal(res.status, IVStatus.OK)
        np.testing.assert_allclose(res.vol, 0.35, rtol=1e-10)


def test_newton_from_the_corrado_miller_guess_converges_in_a_few_steps() -> None:
    """Near the money the Corrado-Miller start is close and Newton is quadratic: a handful of steps
    for a whole batch (bisection alone would need about 45 to reach 1e-13)."""
    rng = np.random.default_rng(21)
    n = 400
    k = 100.0 * rng.uniform(0.8, 1.25, n)
    t = rng.uniform(0.05, 2.0, n)
    sig = rng.uniform(0.1, 1.5, n)
    call = rng.random(n) < 0.5
    res = implied_vol_bs(bs_price(100.0, k, t, sig, 0.0, 0.0, call), 100.0, k, t, 0.0, 0.0, call)
    np.testing.assert_allclose(res.vol, sig, rtol=1e-10)
    # a start good to ~1e-2 needs at least three quadratic steps to reach 1e-14, and the count says so
    assert 3 <= res.iterations <= 10


def test_small_price_asymptote_start_converges_in_a_few_steps() -> None:
    """Far out of the money (tiny normalized prices) the start is the asymptote ``|x| / sqrt(-2 ln beta)``."""
    k = np.array([150.0, 200.0, 250.0, 60.0, 45.0])
    call = np.array([True, True, True, False, False])
    price = bs_price(100.0, k, 0.1, 0.5, 0.0, 0.0, call)
    res = implied_vol_bs(price, 100.0, k, 0.1, 0.0, 0.0, call)
    np.testing.assert_array_equal(res.status, IVStatus.OK)
    np.testing.assert_allclose(res.vol, 0.5, rtol=1e-8)
    assert 3 <= res.iterations <= 10


def test_corrado_miller_start_needs_about_five_newton_steps_per_option() -> None:
    """One option at a time (so the count is per option): near the money the Corrado-Miller start is
    within a few per cent of the root, and quadratic Newton squares the error each step (3e-2, 1e-3,
    1e-6, 1e-12, then below 1e-14): about five iterations per option including the one that confirms
    convergence -- at most 5.5 on average over this grid, never more than 10."""
    counts = []
    for m in (0.8, 0.9, 1.0, 1.1, 1.25):
        for sig in (0.2, 0.5, 1.0):
            for t in (0.1, 1.0):
                for call in (True, False):
                    k = 100.0 * m
                    price = float(bs_price(100.0, k, t, sig, 0.0, 0.0, call))
                    res = implied_vol_bs(price, 100.0, k, t, 0.0, 0.0, call)
                    assert float(res.vol) == pytest.approx(sig, rel=1e-9)
                    counts.append(res.iterations)
    assert max(counts) <= 10
    assert sum(counts) / len(counts) <= 5.5


@pytest.mark.parametrize("s", [1e-6, 1e-5, 1e-4, 1e-3, 1e-2])
def test_at_the_money_tiny_total_vol_starts_from_the_linear_price(s: float) -> None:
    """At the money ``b(0, s) = 2 N(s/2) - 1 = s / sqrt(2 pi) (1 - s^2/24 + ...)``: the start
    ``sqrt(2 pi) beta`` is good to ``s^2 / 24`` relative, so Newton needs at most three steps. Unit
    forward and strike and no discounting, so the price is exactly the normalized ``b`` the solver
    evaluates (with other scales, rounding of the price against ``b``'s own cancellation at tiny ``s``
    costs bisection steps near the root, not a different start)."""
    for call in (True, False):
        price = float(black76_price(1.0, 1.0, 1.0, s, 0.0, call))
        res = implied_vol_black76(price, 1.0, 1.0, 1.0, 0.0, call)
        assert int(res.status) == IVStatus.OK
        assert float(res.vol) == pytest.approx(s, rel=1e-9)  # b itself loses digits to cancellation at tiny s
        assert 1 <= res.iterations <= 3
        scaled = implied_vol_black76(price * 2000.0, 2000.0, 2000.0, 1.0, 0.0, call)
        assert int(scaled.status) == IVStatus.OK
        assert float(scaled.vol) == pytest.approx(s, rel=1e-9)


def test_tiny_prices_at_and_next_to_the_money_converge_without_warnings() -> None:
    """The start is floored at 1e-8: from there a root of 2.5e-10 (at the money) is reached by the
    bracketed iteration; just off the money (|x| = 1e-8) the same holds. Warnings are errors here."""
    x = np.array([0.0, 1e-8, -1e-8, 1e-8, -1e-8])
    k = np.exp(-x)
    s = np.array([2.5e-10, 1e-4, 1e-4, 1e-6, 1e-6])
    for call in (True, False):
        price = black76_price(1.0, k, 1.0, s, 0.0, call)
        res = implied_vol_black76(price, 1.0, k, 1.0, 0.0, call)
        np.testing.assert_array_equal(res.status, IVStatus.OK)
        np.testing.assert_allclose(res.vol, s, rtol=1e-5)
        for i in range(x.size):  # one at a time as well: the batch must not hide a slow element
            one = implied_vol_black76(float(price[i]), 1.0, float(k[i]), 1.0, 0.0, call)
            assert int(one.status) == IVStatus.OK
            assert float(one.vol) == pytest.approx(float(res.vol[i]), rel=1e-12)
            assert one.iterations < 60


@pytest.mark.parametrize("missing", range(6))
def test_bs_missing_quotes_as_none_are_invalid_elements_not_errors(missing: int) -> None:
    """A ``None`` in a list (a missing mark in an option chain) becomes NaN and only its element is
    INVALID_INPUT; the others are solved."""
    cols: list[list[object]] = [[float(bs_price(100.0, 110.0, 0.5, 0.6, 0.02, 0.01))] * 2, [100.0] * 2,
                                [110.0] * 2, [0.5] * 2, [0.02] * 2, [0.01] * 2]
    cols[missing][1] = None
    res = implied_vol_bs(*cols)  # type: ignore[arg-type]
    assert int(res.status[0]) == IVStatus.OK and float(res.vol[0]) == pytest.approx(0.6, rel=1e-10)
    assert int(res.status[1]) == IVStatus.INVALID_INPUT and math.isnan(float(res.vol[1]))


@pytest.mark.parametrize("missing", range(5))
def test_black76_missing_quotes_as_none_are_invalid_elements_not_errors(missing: int) -> None:
    cols: list[list[object]] = [[float(black76_price(100.0, 90.0, 0.25, 0.4, 0.03, False))] * 2, [100.0] * 2,
                                [90.0] * 2, [0.25] * 2, [0.03] * 2]
    cols[missing][1] = None
    price, forward, strike, t, r = cols
    res = implied_vol_black76(price, forward, strike, t, r, False)  # type: ignore[arg-type]
    assert int(res.status[0]) == IVStatus.OK and float(res.vol[0]) == pytest.approx(0.4, rel=1e-10)
    assert int(res.status[1]) == IVStatus.INVALID_INPUT and math.isnan(float(res.vol[1]))


def test_far_out_of_the_money_asymptote_start_needs_few_steps() -> None:
    """Far out of the money (K/S from 1.5 to 20, calls and puts, a week to six months) the start is
    the small-price asymptote ``|x| / sqrt(-2 ln beta)`` (or Corrado-Miller where it applies), within a
    few per cent of the root; quadratic Newton then needs three or four steps plus the one that
    confirms convergence: at most 9 per option and 6.5 on average over this grid (one option per call,
    so the count is per option)."""
    counts = []
    for m in (1.5, 2.0, 3.0, 5.0, 10.0, 20.0):
        for sig in (0.3, 0.6, 1.0, 1.5):
            for t in (0.02, 0.1, 0.5):
                for call in (True, False):
                    k = 100.0 * (m if call else 1.0 / m)
                    price = float(bs_price(100.0, k, t, sig, 0.0, 0.0, call))
                    res = implied_vol_bs(price, 100.0, k, t, 0.0, 0.0, call)
                    if int(res.status) == IVStatus.AT_INTRINSIC:  # price below rounding of the strike: no vol
                        continue
                    assert int(res.status) == IVStatus.OK
                    assert float(res.vol) == pytest.approx(sig, rel=1e-12)
                    counts.append(res.iterations)
    assert len(counts) >= 80
    assert max(counts) <= 9
    assert sum(counts) / len(counts) <= 6.5
