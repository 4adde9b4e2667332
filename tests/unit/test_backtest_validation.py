"""Validation of the backtest against closed forms: Derman-Kamal hedging error and LP loss-versus-rebalancing."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.backtest.book import Book, LPLeg, OptionLeg
from keeper.backtest.engine import CostModel, run_paths
from keeper.backtest.paths import YEAR_S, GBMModel, time_grid
from keeper.backtest.policies import interval_policy
from keeper.core.options import bs_vega

FREE = CostModel(fee_fraction=0.0, liquidity=1e30, gas_quote=0.0)
S0, SIGMA, DAYS = 100.0, 0.2, 84.0


def dk_ratio(n_rebalances: int, n_paths: int = 20_000, seed: int = 7) -> float:
    """Measured std of the hedging error of one short ATM call / sqrt(pi/4) vega sigma / sqrt(N)."""
    seconds = time_grid(DAYS, int(DAYS * 86_400 / n_rebalances))
    book = Book("X", options=(OptionLeg(-1.0, S0, DAYS * 86_400.0, True, SIGMA),))
    spots = GBMModel(SIGMA).simulate(S0, seconds, n_paths, np.random.default_rng(seed))
    spec = interval_policy(DAYS * 24.0 / n_rebalances)
    res = run_paths(book, spots, seconds, (spec,), FREE, SIGMA)
    measured = float(np.std(res.policies[spec.name].hedging_error, ddof=1))
    vega = float(bs_vega(S0, S0, DAYS * 86_400.0 / YEAR_S, SIGMA))
    return measured / (math.sqrt(math.pi / 4.0) * vega * SIGMA / math.sqrt(n_rebalances))


@pytest.mark.parametrize("n", [21, 84])
def test_derman_kamal_error_within_10pct(n: int) -> None:
    ratio = dk_ratio(n)
    print(f"Derman-Kamal N={n}: ratio {ratio:.4f}")
    assert abs(ratio - 1.0) < 0.10


def test_dk_error_falls_as_one_over_sqrt_n() -> None:
    assert dk_ratio(84, 5000) == pytest.approx(dk_ratio(21, 5000), rel=0.1)


def test_lvr_matches_sigma2_over_4_l_sqrtp_within_5pct() -> None:
    """An in-range LP (wide range, short horizon): measured LVR / (sigma^2/4 L sqrtP dt) per unit time."""
    sigma, spot = 0.5, 3000.0
    lp = LPLeg.around(spot, 1_000_000.0, 3.0, decimals=(18, 6))  # token0 = ETH(18), token1 = USDC(6)
    book = Book("ETH", lps=(lp,))
    seconds = time_grid(7.0, 3600)
    spots = GBMModel(sigma).simulate(spot, seconds, 4000, np.random.default_rng(3))
    assert spots.min() > spot / 4.0 and spots.max() < spot * 4.0  # in range throughout
    res = run_paths(book, spots, seconds, (), FREE, sigma)
    dt = np.diff(seconds)[:, None] / YEAR_S
    formula = (sigma**2 / 4.0 * lp.human_liquidity * np.sqrt(spots[:-1]) * dt).sum(axis=0)  # Milionis et al.
    ratio = float(res.lvr.mean() / formula.mean())
    print(f"LVR measured / formula: {ratio:.4f}")
    assert abs(ratio - 1.0) < 0.05
    assert res.lvr_predicted.mean() == pytest.approx(formula.mean(), rel=1e-9)  # the engine's -Gamma S^2 form
