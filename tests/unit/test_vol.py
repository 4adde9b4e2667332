"""Volatility models: known answers, GARCH parameter recovery, degenerate series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.core.vol import (
    SECONDS_PER_YEAR,
    EWMAVol,
    FixedVol,
    GarchVol,
    VolModel,
    realized_vol,
)
from keeper.errors import DegenerateSeriesError, InputError

OMEGA, ALPHA, BETA = 2e-6, 0.08, 0.90


def _simulate_garch(n: int, seed: int, nu: float | None = None) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n) if nu is None else rng.standard_t(nu, n) / math.sqrt(nu / (nu - 2.0))
    r = np.empty(n)
    s2 = OMEGA / (1.0 - ALPHA - BETA)
    for i in range(n):
        r[i] = math.sqrt(s2) * z[i]
        s2 = OMEGA + ALPHA * r[i] * r[i] + BETA * s2
    return r


@pytest.fixture(scope="module")
def garch_fit() -> GarchVol:
    return GarchVol.fit(_simulate_garch(20_000, seed=2024), 3600.0)


def test_garch_recovers_simulated_parameters(garch_fit: GarchVol) -> None:
    """20,000 hourly steps of GARCH(1,1) (omega 2e-6, alpha 0.08, beta 0.90), seeded.

    Tolerances: alpha +-0.03, beta +-0.05, alpha+beta +-0.02, omega within a
    factor 2 and the long-run variance within 25 %.
    """
    p = garch_fit.params
    assert abs(p.alpha - ALPHA) <= 0.03
    assert abs(p.beta - BETA) <= 0.05
    assert abs(p.persistence - (ALPHA + BETA)) <= 0.02
    assert OMEGA / 2 <= p.omega <= OMEGA * 2
    assert p.long_run_variance == pytest.approx(OMEGA / (1 - ALPHA - BETA), rel=0.25)
    assert p.nu is None


def test_garch_horizon_annualization(garch_fit: GarchVol) -> None:
    one_step = garch_fit.step_variances[0]
    assert garch_fit.annualized_vol(3600.0) == pytest.approx(math.sqrt(one_step * 24 * 365), rel=1e-12)
    day = sum(garch_fit.step_variances[:24])
    assert garch_fit.annualized_vol(86_400.0) == pytest.approx(math.sqrt(day / (1 / 365)), rel=1e-12)
    # a horizon beyond the stored forecast mean-reverts towards the long-run vol
    long_run = math.sqrt(garch_fit.params.long_run_variance * 24 * 365)
    far = garch_fit.annualized_vol(5 * 365 * 86_400.0)
    assert far == pytest.approx(long_run, rel=0.05)
    assert isinstance(garch_fit, VolModel)


def test_garch_student_t_fits() -> None:
    fit = GarchVol.fit(_simulate_garch(8760, seed=5, nu=6.0), 3600.0, dist="t")
    assert fit.params.nu is not None
    assert 3.0 < fit.params.nu < 30.0
    assert abs(fit.params.alpha - ALPHA) <= 0.05
    assert abs(fit.params.beta - BETA) <= 0.08


def test_garch_rejects_degenerate_series() -> None:
    with pytest.raises(DegenerateSeriesError):
        GarchVol.fit(np.zeros(1000), 3600.0)
    with pytest.raises(DegenerateSeriesError):
        GarchVol.fit(np.ones(10), 3600.0)
    with pytest.raises(DegenerateSeriesError):
        GarchVol.fit(np.r_[np.full(500, 0.01), np.nan], 3600.0)
    with pytest.raises(InputError):
        GarchVol.fit(_simulate_garch(500, 1), 3600.0, dist="skewt")  # type: ignore[arg-type]


def test_ewma_known_answer() -> None:
    returns = [0.01, -0.02, 0.03]
    dt = 1.0 / 365.0
    x = [r * r / dt for r in returns]
    v = sum(x) / 3
    for xi in x:
        v = 0.9 * v + 0.1 * xi
    fit = EWMAVol.from_returns(returns, 86_400.0, lam=0.9)
    assert fit.variance == pytest.approx(v, rel=1e-14)
    assert fit.annualized_vol(60.0) == pytest.approx(math.sqrt(v), rel=1e-14)
    assert fit.n_returns == 3


def test_ewma_from_irregular_prices() -> None:
    prices = [100.0, 101.0, 99.0, 99.5]
    ts = [0.0, 600.0, 4200.0, 4300.0]
    fit = EWMAVol.from_prices(prices, ts, lam=0.5)
    r = np.diff(np.log(prices))
    x = r * r / (np.diff(ts) / SECONDS_PER_YEAR)
    v = float(np.mean(x))
    for xi in x:
        v = 0.5 * v + 0.5 * float(xi)
    assert fit.variance == pytest.approx(v, rel=1e-13)
    # constant returns of size c every dt: variance c^2 / dt whatever lambda
    const = EWMAVol.from_returns([0.001] * 50, 60.0, lam=0.97)
    assert const.variance == pytest.approx(0.001**2 / (60.0 / SECONDS_PER_YEAR), rel=1e-12)


def test_realized_vol_known_answer_and_units() -> None:
    prices = [100.0, 101.0, 99.0]
    ts = [1_700_000_000.0, 1_700_003_600.0, 1_700_010_800.0]
    expected = math.sqrt((math.log(1.01) ** 2 + math.log(99 / 101) ** 2) / 10_800.0 * 31_536_000.0)
    assert realized_vol(prices, ts) == pytest.approx(expected, rel=1e-14)
    assert SECONDS_PER_YEAR == 31_536_000.0


@pytest.mark.parametrize(
    ("prices", "ts", "error", "argument"),
    [
        ([100.0, 100.0, 100.0], [0, 1, 2], DegenerateSeriesError, "prices"),
        ([100.0, 101.0], [0, 1], DegenerateSeriesError, "prices"),
        ([100.0, math.nan, 101.0], [0, 1, 2], DegenerateSeriesError, "prices"),
        ([100.0, 0.0, 101.0], [0, 1, 2], InputError, "prices"),
        ([100.0, 101.0, 102.0], [0, 2, 2], InputError, "timestamps"),
        ([100.0, 101.0, 102.0], [0, 3, 2], InputError, "timestamps"),
        ([100.0, 101.0, 102.0], [0, 1], InputError, "timestamps"),
        ([100.0, 101.0, 102.0], [0, 1, math.inf], DegenerateSeriesError, "timestamps"),
    ],
)
def test_degenerate_series_name_the_argument(
    prices: list[float], ts: list[float], error: type[Exception], argument: str
) -> None:
    with pytest.raises(error) as info:
        realized_vol(prices, ts)
    assert isinstance(info.value, InputError)
    assert info.value.argument == argument
    with pytest.raises(error):
        EWMAVol.from_prices(prices, ts)


def test_fixed_vol_and_bad_arguments() -> None:
    assert FixedVol(0.65).annualized_vol(3600.0) == 0.65
    with pytest.raises(InputError):
        FixedVol(-0.1)
    with pytest.raises(InputError):
        FixedVol(0.5).annualized_vol(0.0)
    with pytest.raises(InputError):
        EWMAVol.from_returns([0.01, 0.02], 60.0, lam=1.0)
    with pytest.raises(DegenerateSeriesError):
        EWMAVol.from_returns([0.0, 0.0, 0.0], 60.0)
