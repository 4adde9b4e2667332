"""One tick -> price conversion for the reader's inputs and the reports: it agrees with the exact
TickMath square root at every tick, for any decimals."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.core.lp_math import sqrt_price_x96_to_price, tick_to_price
from keeper.core.tick_math import MAX_TICK, MIN_TICK, get_sqrt_ratio_at_tick


@given(tick=st.integers(MIN_TICK // 2, MAX_TICK // 2), d0=st.integers(0, 18), d1=st.integers(0, 18))
def test_tick_to_price_matches_the_exact_sqrt_ratio(tick: int, d0: int, d1: int) -> None:
    exact = sqrt_price_x96_to_price(get_sqrt_ratio_at_tick(tick), d0, d1)
    assert tick_to_price(tick, d0, d1) == pytest.approx(exact, rel=1e-9)


def test_tick_to_price_by_hand() -> None:
    assert tick_to_price(0, 18, 6) == pytest.approx(1e12, rel=1e-15)  # 1 raw per raw, 18 vs 6 decimals
    assert tick_to_price(10_000, 0, 0) == pytest.approx(1.0001**10_000, rel=1e-12)
    assert tick_to_price(-0.5, 0, 0) == pytest.approx(1.0001**-0.5, rel=1e-15)  # a mean tick need not be whole
