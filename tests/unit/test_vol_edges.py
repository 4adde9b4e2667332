"""Volatility models at their edges: exact error messages naming the argument, the boundaries of every
check, defaults (RiskMetrics lambda 0.94, 2 returns, 250 for GARCH), the GARCH(1,1) forecast recursion
and its long-run variance, annualization by seconds per year, and the pool-history model's GARCH path."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from keeper.core.snapshot import PoolHistory, ReadFailure, Snapshot
from keeper.core.vol import (
    SECONDS_PER_YEAR,
    EWMAVol,
    FixedVol,
    GarchParams,
    GarchVol,
    PoolHistoryVol,
    log_returns,
    realized_vol,
)
from keeper.errors import DegenerateSeriesError, InputError, NumericalError
from tests.unit.test_vol import _simulate_garch

POOL = "0x" + "cd" * 20


def _msg(exc: pytest.ExceptionInfo[Exception]) -> str:
    return str(exc.value)


# ----------------------------------------------------------------------------- series checks


@pytest.mark.parametrize(("call", "error", "text"), [
    (lambda: log_returns([[1.0, 2.0, 3.0]]), InputError, "prices: must be one-dimensional (got shape (1, 3))"),
    (lambda: log_returns([1.0, 2.0]), DegenerateSeriesError, "prices: needs at least 3 points (got 2)"),
    (lambda: log_returns([1.0, math.inf, 2.0]), DegenerateSeriesError, "prices: contains nan or inf"),
    (lambda: log_returns([1.0, -1.0, 2.0]), InputError, "prices: must be > 0"),
    (lambda: log_returns([2.0, 2.0, 2.0]), DegenerateSeriesError,
     "prices: constant series has no volatility information"),
    (lambda: realized_vol([1.0, 2.0, 3.0], [0.0, 1.0]), InputError,
     "timestamps: must have one entry per price (2 != 3)"),
    (lambda: realized_vol([1.0, 2.0, 3.0], [0.0, 1.0, 1.0]), InputError, "timestamps: must be strictly increasing"),
    (lambda: EWMAVol.from_returns([0.01], 60.0), DegenerateSeriesError, "returns: needs at least 2 points (got 1)"),
    (lambda: EWMAVol.from_returns([0.01, math.nan], 60.0), DegenerateSeriesError, "returns: contains nan or inf"),
    (lambda: EWMAVol.from_returns([0.0, 0.0], 60.0), DegenerateSeriesError, "returns: all returns are zero"),
    (lambda: EWMAVol.from_returns([0.01, 0.02], 60.0, lam=0.0), InputError, "lam: must be in (0, 1) (got 0.0)"),
    (lambda: FixedVol(-0.5), InputError, "sigma: must be finite and >= 0 (got -0.5)"),
    (lambda: FixedVol(math.nan), InputError, "sigma: must be finite and >= 0 (got nan)"),
    (lambda: FixedVol(0.5).annualized_vol(-1.0), InputError, "horizon_seconds: must be finite and > 0 (got -1.0)"),
    (lambda: FixedVol(0.5).annualized_vol(math.inf), InputError,
     "horizon_seconds: must be finite and > 0 (got inf)"),
])
def test_errors_name_the_argument_verbatim(call: Any, error: type[Exception], text: str) -> None:
    with pytest.raises(error) as info:
        call()
    assert type(info.value) is error
    assert _msg(info) == text


@pytest.mark.parametrize("interval", [0.0, -60.0, math.inf, math.nan])
def test_ewma_interval_must_be_finite_and_positive(interval: float) -> None:
    with pytest.raises(InputError) as info:
        EWMAVol.from_returns([0.01, 0.02], interval)
    assert _msg(info) == f"interval_seconds: must be finite and > 0 (got {interval})"


def test_boundaries_that_are_valid() -> None:
    """Zero vol, sub-second horizons and intervals, prices below 1, lambda just inside (0, 1)."""
    assert FixedVol(0.0).annualized_vol(0.5) == 0.0
    # prices below 1 (a token priced in a larger unit) and timestamps half a second apart
    prices, ts = [0.5, 0.55, 0.5], [0.0, 0.5, 1.0]
    expected = math.sqrt(2 * math.log(1.1) ** 2 / 1.0 * SECONDS_PER_YEAR)
    assert realized_vol(prices, ts) == pytest.approx(expected, rel=1e-12)
    fit = EWMAVol.from_returns([0.001, -0.002], 0.5, lam=1e-9)
    x = [0.001**2 / (0.5 / SECONDS_PER_YEAR), 0.002**2 / (0.5 / SECONDS_PER_YEAR)]
    v = sum(x) / 2
    for xi in x:
        v = 1e-9 * v + (1 - 1e-9) * xi
    assert fit.variance == pytest.approx(v, rel=1e-12)
    assert fit.lam == 1e-9 and fit.n_returns == 2


def test_realized_vol_with_one_return_when_allowed() -> None:
    """min_returns is passed on: one return (two prices, two timestamps) is accepted when asked for."""
    vol = realized_vol([100.0, 110.0], [0.0, 3600.0], min_returns=1)
    assert vol == pytest.approx(abs(math.log(1.1)) * math.sqrt(SECONDS_PER_YEAR / 3600.0), rel=1e-12)
    with pytest.raises(DegenerateSeriesError):
        realized_vol([100.0, 110.0], [0.0, 3600.0])  # the default needs two returns


def test_riskmetrics_default_lambda() -> None:
    """The default decay is RiskMetrics' 0.94, for returns and for prices alike."""
    returns = [0.01, -0.02, 0.015, 0.0]
    assert EWMAVol.from_returns(returns, 86_400.0).lam == 0.94
    assert EWMAVol.from_returns(returns, 86_400.0).variance == EWMAVol.from_returns(returns, 86_400.0, 0.94).variance
    prices, ts = [100.0, 101.0, 99.0, 99.5], [0.0, 600.0, 1200.0, 1800.0]
    by_prices = EWMAVol.from_prices(prices, ts)
    assert by_prices.lam == 0.94
    assert by_prices.variance == EWMAVol.from_prices(prices, ts, 0.94).variance
    assert by_prices.variance != EWMAVol.from_prices(prices, ts, 0.95).variance


# ----------------------------------------------------------------------------- GARCH


@pytest.fixture(scope="module")
def garch() -> GarchVol:
    return GarchVol.fit(_simulate_garch(3000, seed=11), 3600.0)


def test_garch_forecast_follows_the_garch_recursion(garch: GarchVol) -> None:
    """E[s2_{t+h+1}] = omega + (alpha + beta) E[s2_{t+h}] in original return units, converging to the
    long-run variance omega / (1 - alpha - beta)."""
    s = np.array(garch.step_variances)
    p = garch.params
    assert s.size == 24 * 30  # the default max_horizon_steps
    assert p.persistence < 1.0
    np.testing.assert_allclose(s[1:], p.omega + p.persistence * s[:-1], rtol=1e-9)
    assert s[-1] == pytest.approx(p.long_run_variance, rel=1e-3)
    # the returns' own variance is of the same order (original units, not the scaled ones)
    r = _simulate_garch(3000, seed=11)
    assert 0.5 < p.long_run_variance / float(np.var(r)) < 2.0
    assert garch.interval_seconds == 3600.0
    assert garch.scale == pytest.approx(10.0 / float(np.std(r)), rel=1e-12)


def test_garch_is_zero_mean_so_a_drift_counts_as_variance() -> None:
    """The model has no mean: a constant drift mu adds mu^2 to the per-step variance."""
    rng = np.random.default_rng(3)
    mu, sd = 0.01, 0.01
    fit = GarchVol.fit(mu + sd * rng.standard_normal(2000), 3600.0, max_horizon_steps=5)
    assert fit.step_variances[-1] == pytest.approx(mu * mu + sd * sd, rel=0.2)
    assert len(fit.step_variances) == 5


def test_garch_fit_prints_nothing_and_leaks_no_warning(capsys: pytest.CaptureFixture[str]) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = GarchVol.fit(_simulate_garch(300, seed=4), 0.5, max_horizon_steps=1, min_returns=300)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""
    assert len(fit.step_variances) == 1 and fit.interval_seconds == 0.5
    # annualization of a sub-second interval: one step of 0.5 s
    assert fit.annualized_vol(0.5) == pytest.approx(math.sqrt(fit.step_variances[0] / (0.5 / SECONDS_PER_YEAR)))


def test_garch_input_errors_name_the_argument() -> None:
    r = _simulate_garch(300, seed=4)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"interval_seconds": 0.0}, "interval_seconds: must be finite and > 0 (got 0.0)"),
        ({"interval_seconds": math.inf}, "interval_seconds: must be finite and > 0 (got inf)"),
        ({"dist": "skewt"}, "dist: must be 'normal' or 't' (got 'skewt')"),
        ({"max_horizon_steps": 0}, "max_horizon_steps: must be >= 1"),
    ]
    for kwargs, text in cases:
        args: dict[str, Any] = {"interval_seconds": 3600.0, **kwargs}
        with pytest.raises(InputError) as info:
            GarchVol.fit(r, **args)
        assert _msg(info) == text
    with pytest.raises(DegenerateSeriesError) as info:
        GarchVol.fit(r[:249], 3600.0)
    assert _msg(info) == "returns: needs at least 250 points (got 249)"
    with pytest.raises(DegenerateSeriesError) as info:
        GarchVol.fit(np.full(300, 0.01), 3600.0)
    assert _msg(info) == "returns: constant series has no volatility information"


def test_garch_accepts_exactly_250_returns_by_default() -> None:
    fit = GarchVol.fit(_simulate_garch(250, seed=9), 3600.0, max_horizon_steps=2)
    assert len(fit.step_variances) == 2


class _FakeResult:
    convergence_flag = 4


class _FakeModel:
    def fit(self, **kwargs: Any) -> _FakeResult:
        warnings.warn("optimizer gave up", RuntimeWarning, stacklevel=1)
        return _FakeResult()


def test_a_fit_that_does_not_converge_names_the_flag_and_the_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    import arch

    monkeypatch.setattr(arch, "arch_model", lambda *a, **k: _FakeModel())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # captured during the fit, not leaked
        with pytest.raises(NumericalError) as info:
            GarchVol.fit(_simulate_garch(300, seed=4), 3600.0)
    assert str(info.value) == "GARCH fit did not converge (flag 4); ['optimizer gave up']"


def _garch(steps: tuple[float, ...], alpha: float, beta: float, omega: float = 1e-6) -> GarchVol:
    return GarchVol(GarchParams(omega, alpha, beta, None), 3600.0, 1.0, steps)


def test_horizon_beyond_the_stored_forecast_mean_reverts_step_by_step() -> None:
    g = _garch((4e-6, 5e-6, 6e-6), alpha=0.1, beta=0.8)  # long-run variance 1e-6 / 0.1 = 1e-5
    lr = 1e-5
    assert g.horizon_variance(3 * 3600) == pytest.approx(15e-6, rel=1e-15)  # exactly the stored steps
    s4 = lr + 0.9 * (6e-6 - lr)
    s5 = lr + 0.9 * (s4 - lr)
    assert g.horizon_variance(5 * 3600) == pytest.approx(15e-6 + s4 + s5, rel=1e-14)
    assert g.horizon_variance(4 * 3600 + 1) == pytest.approx(15e-6 + s4 + s5, rel=1e-14)  # ceil to 5 steps
    assert g.annualized_vol(5 * 3600) == pytest.approx(
        math.sqrt((15e-6 + s4 + s5) / (5 * 3600 / SECONDS_PER_YEAR)), rel=1e-14)


def test_a_non_stationary_garch_holds_the_last_step_variance() -> None:
    """alpha + beta >= 1: no long-run variance (inf); beyond the forecast each step keeps the last one."""
    for beta in (0.9, 0.95):  # persistence exactly 1, and above 1
        g = _garch((4e-6, 5e-6, 6e-6), alpha=0.1, beta=beta)
        assert g.params.long_run_variance == math.inf
        assert g.horizon_variance(5 * 3600) == pytest.approx(15e-6 + 2 * 6e-6, rel=1e-14)


def test_a_garch_with_a_single_stored_step() -> None:
    g = _garch((2e-6,), alpha=0.05, beta=0.85)  # long-run 1e-5
    s2 = 1e-5 + 0.9 * (2e-6 - 1e-5)
    assert g.horizon_variance(2 * 3600) == pytest.approx(2e-6 + s2, rel=1e-14)


# ----------------------------------------------------------------------------- pool history


def _snapshot(histories: dict[str, PoolHistory], failures: tuple[ReadFailure, ...] = ()) -> Snapshot:
    return Snapshot(chain_id=1, block_number=7, block_timestamp=1_700_000_000, owners=("0x" + "01" * 20,),
                    tokens={}, pools={}, lps=(), options=(), perp_markets={}, perps=(), feeds={}, twaps={},
                    balances={}, failures=failures, histories=histories)


def _history(model: PoolHistoryVol, mean_ticks: list[int]) -> PoolHistory:
    cums = [0]
    for t in mean_ticks:
        cums.append(cums[-1] + t * int(model.sample_s))
    return PoolHistory(POOL, model.seconds_agos(), tuple(cums))


@pytest.mark.parametrize("dist", ["normal", "t"])
def test_pool_history_garch_is_the_garch_fit_of_its_returns(dist: str) -> None:
    m = PoolHistoryVol(POOL, True, "garch", history_s=600 * 301, sample_s=600, garch_dist=dist)  # type: ignore[arg-type]
    r = _simulate_garch(300, seed=21)
    ticks = [0, *np.cumsum(np.round(r / math.log(1.0001))).astype(int).tolist()]  # mean tick per interval
    vol = m.at(_snapshot({POOL: _history(m, ticks)}))
    assert isinstance(vol, GarchVol)
    want = GarchVol.fit(m.returns(_history(m, ticks)), 600.0, dist=dist)  # type: ignore[arg-type]
    assert vol.interval_seconds == 600.0
    assert vol.params == want.params and vol.step_variances == want.step_variances
    assert (vol.params.nu is not None) == (dist == "t")


def test_pool_history_bounds_and_messages() -> None:
    assert PoolHistoryVol(POOL, True, "ewma", history_s=3, sample_s=1).seconds_agos() == (3, 2, 1, 0)
    assert PoolHistoryVol(POOL, True, "ewma", history_s=900, sample_s=300).seconds_agos() == (900, 600, 300, 0)
    assert PoolHistoryVol(POOL, True, "ewma", history_s=1000, sample_s=300).seconds_agos() == (900, 600, 300, 0)
    with pytest.raises(InputError) as info:
        PoolHistoryVol(POOL, True, "ewma", history_s=900, sample_s=0)
    assert _msg(info) == "sample_s: must be finite and > 0 (got 0)"
    with pytest.raises(InputError) as info:
        PoolHistoryVol(POOL, True, "ewma", history_s=899, sample_s=300)
    assert _msg(info) == "history_s: must be at least 3 x sample_s (900 s), got 899"
    m = PoolHistoryVol(POOL, True, "ewma", history_s=1200, sample_s=300)
    with pytest.raises(InputError) as info:
        m.returns(PoolHistory(POOL, (900, 600, 300, 0), (0, 1, 2, 3)))
    assert info.value.argument == "history"


def test_missing_history_lists_only_this_pools_history_failures() -> None:
    m = PoolHistoryVol(POOL, True, "ewma", history_s=1200, sample_s=300)
    failures = (ReadFailure(f"pool {POOL.upper()} history over 1,200 s", "OLD"),
                ReadFailure(f"pool {POOL} history (retry)", "STILL OLD"),
                ReadFailure(f"pool {POOL} price", "NOT THIS"),
                ReadFailure("pool 0xother history over 1,200 s", "NOR THIS"))
    with pytest.raises(Exception) as info:
        m.at(_snapshot({}, failures))
    assert str(info.value) == (f"vol: no 1200 s history of pool {POOL} at block 7: OLD; STILL OLD "
                               "(raise the pool's observation cardinality or lower vol.history_s)")
    with pytest.raises(Exception) as info:
        m.at(_snapshot({}))
    assert str(info.value) == (f"vol: no 1200 s history of pool {POOL} at block 7: not read "
                               "(raise the pool's observation cardinality or lower vol.history_s)")


class _Forecast:
    def __init__(self, variance: list[float]) -> None:
        self.variance = [variance]


class _FittedResult:
    convergence_flag = 0

    def __init__(self, variance: list[float]) -> None:
        self.params = {"omega": 1.0, "alpha[1]": 0.1, "beta[1]": 0.8}
        self._variance = variance

    def forecast(self, **kwargs: Any) -> _Forecast:
        return _Forecast(self._variance)


@pytest.mark.parametrize("bad", [[1.0, math.nan], [1.0, 0.0], [math.inf, 1.0]])
def test_a_forecast_that_is_not_finite_and_positive_is_an_error(monkeypatch: pytest.MonkeyPatch,
                                                                bad: list[float]) -> None:
    import arch

    class _Model:
        def fit(self, **kwargs: Any) -> _FittedResult:
            return _FittedResult(bad)

    monkeypatch.setattr(arch, "arch_model", lambda *a, **k: _Model())
    with pytest.raises(NumericalError) as info, np.errstate(invalid="ignore"):
        GarchVol.fit(_simulate_garch(300, seed=4), 3600.0, max_horizon_steps=2)
    assert str(info.value) == "GARCH variance forecast is not finite and positive"
