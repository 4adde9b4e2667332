"""LP fees against loss-versus-rebalancing, and perp funding between marks (keeper/core/lvr.py).

The LVR checks are against the paper's continuous-time statement, never against our own step
function: the realized (discrete) LVR summed along simulated GBM paths converges to the integral of
sigma^2/4 L sqrt(P) over the time in range (and to sigma^2/8 V for a full-range position), and the
rate itself equals Theorem 1's sigma^2 P^2 / 2 |x'(P)| with x' taken by finite differences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.core.lp_math import npm_collect_amounts
from keeper.core.lvr import (
    PerpMark,
    discrete_lvr,
    full_range_lvr_rate,
    lp_mark,
    lp_step,
    lvr_rate,
    perp_accrued_funding,
    perp_funding_step,
    range_amounts,
)
from keeper.core.tick_math import Q128
from keeper.errors import InputError

YEAR = 365.0 * 86_400.0


@given(sigma=st.floats(0.05, 3.0), lo=st.floats(0.2, 0.95), hi=st.floats(1.05, 5.0), at=st.floats(0.0, 1.0))
def test_rate_is_theorem_1_for_a_range(sigma: float, lo: float, hi: float, at: float) -> None:
    pa, pb, liq = 1000.0 * lo, 1000.0 * hi, 7.5e4
    p = pa + (pb - pa) * (0.02 + 0.96 * at)
    h = p * 1e-6
    dx = (range_amounts(liq, p + h, pa, pb)[0] - range_amounts(liq, p - h, pa, pb)[0]) / (2 * h)
    theorem = sigma**2 * p**2 / 2 * abs(dx)
    assert lvr_rate(sigma, liq, math.sqrt(p)) == pytest.approx(theorem, rel=1e-6)


def test_full_range_rate_is_sigma_squared_over_8_of_the_value() -> None:
    liq, p, sigma = 3.0e5, 2500.0, 0.8
    value = 2 * liq * math.sqrt(p)  # x P + y on the whole range
    x, y = range_amounts(liq, p, 1e-30, 1e30)
    assert x * p + y == pytest.approx(value, rel=1e-9)
    assert lvr_rate(sigma, liq, math.sqrt(p)) == pytest.approx(full_range_lvr_rate(sigma, value), rel=1e-12)


def _gbm(rng: np.random.Generator, s0: float, sigma: float, years: float, steps: int, paths: int) -> np.ndarray:
    dt = years / steps
    z = rng.standard_normal((paths, steps))
    logs = np.cumsum((-0.5 * sigma**2) * dt + sigma * math.sqrt(dt) * z, axis=1)
    return np.concatenate([np.full((paths, 1), s0), s0 * np.exp(logs)], axis=1)


def _realized_and_model(prices: np.ndarray, liq: float, pa: float, pb: float, sigma: float, dt: float
                        ) -> tuple[float, float]:
    """Mean over paths of the summed discrete LVR, and of the integral of the model rate while in range."""
    realized = model = 0.0
    for path in prices:
        xy = [range_amounts(liq, float(p), pa, pb) for p in path]
        for i in range(len(path) - 1):
            realized += discrete_lvr(xy[i][0], xy[i][1], float(path[i]), xy[i + 1][0], xy[i + 1][1],
                                     float(path[i + 1]))
            if pa < path[i] < pb:
                model += lvr_rate(sigma, liq, math.sqrt(float(path[i]))) * dt
    return realized / len(prices), model / len(prices)


@settings(max_examples=8, deadline=None)
@given(sigma=st.floats(0.3, 1.5), width=st.floats(0.15, 0.6), seed=st.integers(0, 2**32 - 1))
def test_discrete_lvr_converges_to_the_rate_on_gbm_paths(sigma: float, width: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    s0, liq, years, steps = 2000.0, 1.0e4, 7.0 / 365.0, 2000
    pa, pb = s0 * (1 - width), s0 * (1 + width)
    prices = _gbm(rng, s0, sigma, years, steps, paths=12)
    realized, model = _realized_and_model(prices, liq, pa, pb, sigma, years / steps)
    assert model > 0.0
    # The sum of squared returns over 2,000 steps has a relative std of sqrt(2/2000) ~ 3 % per path.
    assert realized == pytest.approx(model, rel=0.06)
    # Coarser steps drift away from the rate only by the (small) discretization: 20 steps, same paths.
    coarse = prices[:, ::100]
    realized_c, model_c = _realized_and_model(coarse, liq, pa, pb, sigma, years / 20)
    assert realized_c == pytest.approx(model_c, rel=0.5)


@settings(max_examples=5, deadline=None)
@given(sigma=st.floats(0.3, 1.5), seed=st.integers(0, 2**32 - 1))
def test_full_range_discrete_lvr_converges_to_sigma_squared_over_8_of_the_value(sigma: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    s0, liq, years, steps = 3000.0, 5.0e3, 3.0 / 365.0, 2000
    prices = _gbm(rng, s0, sigma, years, steps, paths=10)
    dt = years / steps
    realized = model = 0.0
    for path in prices:
        for p0, p1 in zip(path[:-1], path[1:], strict=True):
            x0, y0 = range_amounts(liq, float(p0), 1e-30, 1e30)
            x1, y1 = range_amounts(liq, float(p1), 1e-30, 1e30)
            realized += discrete_lvr(x0, y0, float(p0), x1, y1, float(p1))
            model += full_range_lvr_rate(sigma, x0 * float(p0) + y0) * dt
    assert realized / len(prices) == pytest.approx(model / len(prices), rel=0.06)


def _mark(*, liquidity: int = 10**18, g0: int = 0, g1: int = 0, last0: int = 0, last1: int = 0,
          sqrt_price_x96: int = 2**96, tick: int = 0, price: float = 1.0, p0: int = 0, p1: int = 0,
          lower: int = -600, upper: int = 600, risky0: bool = True) -> object:
    f0, f1 = npm_collect_amounts(liquidity, tick, lower, upper, g0, g1, 0, 0, 0, 0, last0, last1, 0, 0)
    return lp_mark(token_id=7, owner="0xo", pool="0xp", underlying="ETH", underlying_is_token0=risky0,
                   liquidity=liquidity, tick_lower=lower, tick_upper=upper, pool_tick=tick,
                   sqrt_price_x96=sqrt_price_x96, price=price, decimals0=18, decimals1=6, principal0=p0,
                   principal1=p1, fees0=f0, fees1=f1, fee_growth_global0_x128=g0, fee_growth_global1_x128=g1,
                   lower_outside0_x128=0, lower_outside1_x128=0, upper_outside0_x128=0, upper_outside1_x128=0)


def test_fees_earned_equal_the_growth_of_what_collect_pays() -> None:
    # ETH token0 (18 decimals), USD token1 (6): 3 ETH-wei-ish and 5 USDC of growth per unit liquidity.
    g0a, g1a = 123 * Q128 // 10**9, 77 * Q128 // 10**6
    g0b, g1b = g0a + 3 * Q128 // 10**3 + 12345, g1a + 5 * Q128 // 10**12 + 999
    a = _mark(g0=g0a, g1=g1a, price=2000.0)
    b = _mark(g0=g0b, g1=g1b, price=2100.0)
    step = lp_step(a, b, 100, 200)  # type: ignore[arg-type]
    raw_u = b.fees_underlying_raw - a.fees_underlying_raw  # type: ignore[attr-defined]
    raw_q = b.fees_quote_raw - a.fees_quote_raw  # type: ignore[attr-defined]
    assert abs(round(step.fees_underlying * 1e18) - raw_u) <= 1 and abs(round(step.fees_quote * 1e6) - raw_q) <= 1
    assert step.fees == pytest.approx(step.fees_underlying * 2100.0 + step.fees_quote, rel=1e-12)
    assert step.fees > 0 and step.comparable


def test_fees_survive_a_collect_and_the_uint256_wrap() -> None:
    # Fee growth wraps modulo 2^256: a growth across the wrap still counts as the difference.
    a = _mark(g0=2**256 - 10 * Q128, g1=5)
    b = _mark(g0=3 * Q128, g1=5)
    assert lp_step(a, b, 0, 60).fees_underlying == pytest.approx(13 * 10**18 / 1e18)  # type: ignore[arg-type]


def test_a_changed_liquidity_or_range_is_not_comparable() -> None:
    a, b = _mark(liquidity=10**18), _mark(liquidity=2 * 10**18)
    step = lp_step(a, b, 0, 60)  # type: ignore[arg-type]
    assert not step.comparable and "liquidity" in step.why and step.fees == step.lvr == 0.0
    moved = lp_step(_mark(), _mark(lower=-1200), 0, 60)  # type: ignore[arg-type]
    assert not moved.comparable and "range" in moved.why
    with pytest.raises(InputError, match="end"):
        lp_step(_mark(), _mark(), 60, 0)  # type: ignore[arg-type]


def test_realized_lvr_of_a_step_is_previous_amounts_at_the_new_price_minus_the_new_value() -> None:
    liq, pa, pb = 5.0e4, 1500.0, 2500.0
    x0, y0 = range_amounts(liq, 2000.0, pa, pb)
    x1, y1 = range_amounts(liq, 2150.0, pa, pb)
    lvr = discrete_lvr(x0, y0, 2000.0, x1, y1, 2150.0)
    assert lvr == pytest.approx((x0 * 2150.0 + y0) - (x1 * 2150.0 + y1), rel=1e-12)
    assert lvr > 0  # a concave value: the LP always loses against rebalancing, up or down
    x2, y2 = range_amounts(liq, 1850.0, pa, pb)
    assert discrete_lvr(x0, y0, 2000.0, x2, y2, 1850.0) > 0


def test_model_lvr_of_a_mark_uses_the_raw_square_root_price_and_the_range() -> None:
    sqrt_x96 = int(math.sqrt(2000e-12) * 2**96)  # 2,000 USD per ETH with 18 / 6 decimals, ETH token0
    m = _mark(sqrt_price_x96=sqrt_x96, liquidity=10**15)
    rate = m.lvr_rate_per_year(0.6)  # type: ignore[attr-defined]
    assert rate == pytest.approx(0.36 / 4 * 1e15 * math.sqrt(2000e-12) / 1e6, rel=1e-9)
    out = _mark(sqrt_price_x96=sqrt_x96, liquidity=10**15, tick=700)
    assert out.lvr_rate_per_year(0.6) == 0.0  # type: ignore[attr-defined]
    # The same position seen with the risky token as token1: sqrt of 1/P in raw units.
    flipped = _mark(sqrt_price_x96=int(2**96 / math.sqrt(2000e-12)), liquidity=10**15, risky0=False)
    assert flipped.lvr_rate_per_year(0.6) == pytest.approx(0.36 / 4 * 1e15 * math.sqrt(2000e-12) / 1e18,  # type: ignore[attr-defined]
                                                           rel=1e-9)


UNIT6 = 10**30  # 10^(36 - 6): a 6-decimal quote


def test_accrued_funding_rounds_up_like_the_contract() -> None:
    assert perp_accrued_funding(10**18, 10**18 + 1, 10**18, 6) == 1  # 1e18 / 1e30 rounds up to 1 wei
    assert perp_accrued_funding(-(10**18), 10**18 + 1, 10**18, 6) == 0  # -1e-12 rounds up (toward 0)
    assert perp_accrued_funding(-5 * 10**18, 10**18 + 3 * 10**15, 10**18, 6) == -15000  # a short receives
    with pytest.raises(InputError, match="quote_decimals"):
        perp_accrued_funding(1, 1, 0, 40)


@given(s_a=st.integers(-(10**21), 10**21), s_b=st.integers(-(10**21), 10**21),
       last=st.integers(-(10**20), 10**20), d1=st.integers(0, 10**17), d2=st.integers(0, 10**17),
       d3=st.integers(0, 10**17))
def test_funding_between_marks_with_one_modification(s_a: int, s_b: int, last: int, d1: int, d2: int,
                                                     d3: int) -> None:
    idx_a, idx_h, idx_b = last + d1, last + d1 + d2, last + d1 + d2 + d3
    a = PerpMark("0xm", "0xk", "ETH", s_a, last, idx_a, 6)
    b = PerpMark("0xm", "0xk", "ETH", s_b, idx_h, idx_b, 6)  # modified at idx_h: last index moved there
    paid = perp_funding_step(a, b)
    continuous = ((idx_h - idx_a) * s_a + (idx_b - idx_h) * s_b) / UNIT6
    assert abs(paid - continuous) <= 2  # the contract rounds each settlement up: at most 1 wei each
    # Without a modification the funding is the growth of the accrual.
    c = PerpMark("0xm", "0xk", "ETH", s_a, last, idx_b, 6)
    assert perp_funding_step(a, c) == c.accrued_raw - a.accrued_raw
    assert abs(perp_funding_step(a, c) - (idx_b - idx_a) * s_a / UNIT6) <= 2
