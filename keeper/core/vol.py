"""Volatility models: a small interface and three estimators, plus realized volatility.

Conventions
-----------
* Time is in seconds; a year is :data:`SECONDS_PER_YEAR` ``= 365 * 24 * 3600``
  (crypto trades every day, so calendar time, no business-day count).
* Returns are log returns ``ln(p_i / p_{i-1})``.
* Every model answers :meth:`VolModel.annualized_vol`: the volatility,
  annualized, that applies on average over the next ``horizon_seconds``
  (the square root of the expected variance over the horizon divided by the
  horizon in years). Constant-vol models ignore the horizon.

Degenerate input (too short, constant, non-finite, non-increasing timestamps,
non-positive prices) raises :class:`keeper.errors.DegenerateSeriesError` or
:class:`keeper.errors.InputError` naming the argument.
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keeper.core.snapshot import PoolHistory, Snapshot
from keeper.errors import ChainError, DegenerateSeriesError, InputError, NumericalError

__all__ = [
    "SECONDS_PER_YEAR",
    "EWMAVol",
    "FixedVol",
    "GarchParams",
    "GarchVol",
    "PoolHistoryVol",
    "VolModel",
    "log_returns",
    "realized_vol",
]

FloatArray = NDArray[np.float64]
SECONDS_PER_YEAR: Final = 365.0 * 24.0 * 3600.0
"""Seconds per (calendar) year used to annualize: 31,536,000."""


class VolModel(ABC):
    """A volatility forecast."""

    @abstractmethod
    def annualized_vol(self, horizon_seconds: float) -> float:
        """Annualized volatility (0.5 = 50 %) expected over the next ``horizon_seconds`` (> 0)."""


def _check_horizon(horizon_seconds: float) -> None:
    if not (math.isfinite(horizon_seconds) and horizon_seconds > 0):
        raise InputError("horizon_seconds", f"must be finite and > 0 (got {horizon_seconds})")


def _finite_1d(name: str, values: ArrayLike, min_len: int) -> FloatArray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise InputError(name, f"must be one-dimensional (got shape {arr.shape})")
    if arr.size < min_len:
        raise DegenerateSeriesError(name, f"needs at least {min_len} points (got {arr.size})")
    if not np.all(np.isfinite(arr)):
        raise DegenerateSeriesError(name, "contains nan or inf")
    return arr


def log_returns(prices: ArrayLike, *, min_returns: int = 2) -> FloatArray:
    """Log returns ``ln(p_i / p_{i-1})`` of a positive price series.

    Raises
    ------
    DegenerateSeriesError
        Fewer than ``min_returns + 1`` prices, non-finite or all-equal prices.
    InputError
        A price ``<= 0``.
    """
    p = _finite_1d("prices", prices, min_returns + 1)
    if np.min(p) <= 0.0:
        raise InputError("prices", "must be > 0")
    if np.all(p == p[0]):
        raise DegenerateSeriesError("prices", "constant series has no volatility information")
    return np.asarray(np.diff(np.log(p)), dtype=np.float64)


def _intervals(timestamps: ArrayLike, n_prices: int) -> FloatArray:
    ts = _finite_1d("timestamps", timestamps, 2)
    if ts.size != n_prices:
        raise InputError("timestamps", f"must have one entry per price ({ts.size} != {n_prices})")
    dt = np.diff(ts)
    if np.min(dt) <= 0.0:
        raise InputError("timestamps", "must be strictly increasing")
    return np.asarray(dt, dtype=np.float64)


def realized_vol(prices: ArrayLike, timestamps: ArrayLike, *, min_returns: int = 2) -> float:
    """Annualized realized volatility of an irregularly sampled price series.

    ``sigma^2 = sum_i ln(p_i/p_{i-1})^2 / (t_n - t_0) * SECONDS_PER_YEAR`` -- the
    sum of squared log returns per unit of elapsed time, which needs no regular
    grid (e.g. Uniswap oracle observations at arbitrary blocks).

    Parameters
    ----------
    prices : array_like
        Positive prices, oldest first.
    timestamps : array_like
        Seconds (e.g. unix time), strictly increasing, one per price.
    min_returns : int
        Fewest returns accepted (default 2).

    Returns
    -------
    float
        Annualized volatility.
    """
    r = log_returns(prices, min_returns=min_returns)
    dt = _intervals(timestamps, r.size + 1)
    elapsed = float(np.sum(dt))
    return math.sqrt(float(np.dot(r, r)) / elapsed * SECONDS_PER_YEAR)


@dataclass(frozen=True, slots=True)
class FixedVol(VolModel):
    """A constant volatility (e.g. from configuration or an option market's implied vol).

    Attributes
    ----------
    sigma : annualized volatility, >= 0.
    """

    sigma: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sigma) and self.sigma >= 0):
            raise InputError("sigma", f"must be finite and >= 0 (got {self.sigma})")

    def annualized_vol(self, horizon_seconds: float) -> float:
        """The constant ``sigma`` for any horizon."""
        _check_horizon(horizon_seconds)
        return self.sigma


@dataclass(frozen=True, slots=True)
class EWMAVol(VolModel):
    """Exponentially weighted (RiskMetrics) volatility.

    ``v_i = lam v_{i-1} + (1 - lam) r_i^2 / dt_i`` with ``dt_i`` in years, so
    each squared return is first turned into an annualized variance; that
    handles irregular sampling. ``v_0`` is the plain mean of ``r_i^2 / dt_i``
    over the series (so the start-up weight is spread, not put on one return).
    The forecast is flat: the same vol for every horizon.

    Attributes
    ----------
    variance : annualized variance after the last return.
    lam : decay factor in (0, 1); RiskMetrics uses 0.94 for daily data.
    n_returns : number of returns used.
    """

    variance: float
    lam: float
    n_returns: int

    @classmethod
    def from_returns(cls, returns: ArrayLike, interval_seconds: float, lam: float = 0.94) -> EWMAVol:
        """Fit from log returns sampled every ``interval_seconds``."""
        r = _finite_1d("returns", returns, 2)
        if not (math.isfinite(interval_seconds) and interval_seconds > 0):
            raise InputError("interval_seconds", f"must be finite and > 0 (got {interval_seconds})")
        return cls._fit(r, np.full(r.size, interval_seconds / SECONDS_PER_YEAR), lam)

    @classmethod
    def from_prices(cls, prices: ArrayLike, timestamps: ArrayLike, lam: float = 0.94) -> EWMAVol:
        """Fit from prices at (possibly irregular) timestamps in seconds."""
        r = log_returns(prices)
        dt = _intervals(timestamps, r.size + 1)
        return cls._fit(r, dt / SECONDS_PER_YEAR, lam)

    @classmethod
    def _fit(cls, r: FloatArray, dt_years: FloatArray, lam: float) -> EWMAVol:
        if not (0.0 < lam < 1.0):
            raise InputError("lam", f"must be in (0, 1) (got {lam})")
        if np.all(r == 0.0):
            raise DegenerateSeriesError("returns", "all returns are zero")
        x = r * r / dt_years
        v = float(np.mean(x))
        for xi in x:  # short recursions; a python loop is exact and clear
            v = lam * v + (1.0 - lam) * float(xi)
        return cls(v, lam, int(r.size))

    def annualized_vol(self, horizon_seconds: float) -> float:
        """``sqrt(variance)``, for any horizon."""
        _check_horizon(horizon_seconds)
        return math.sqrt(self.variance)


@dataclass(frozen=True, slots=True)
class GarchParams:
    """GARCH(1,1) parameters in the units of the original (unscaled) per-step returns.

    ``s2_t = omega + alpha r_{t-1}^2 + beta s2_{t-1}``.

    Attributes
    ----------
    omega : per-step variance intercept (return units squared).
    alpha, beta : ARCH and GARCH coefficients (dimensionless).
    nu : Student-t degrees of freedom, or None for the normal distribution.
    """

    omega: float
    alpha: float
    beta: float
    nu: float | None

    @property
    def persistence(self) -> float:
        """``alpha + beta``; < 1 for a stationary process."""
        return self.alpha + self.beta

    @property
    def long_run_variance(self) -> float:
        """Unconditional per-step variance ``omega / (1 - alpha - beta)`` (inf if not stationary)."""
        p = self.persistence
        return self.omega / (1.0 - p) if p < 1.0 else math.inf


_TARGET_STD: Final = 10.0  # the optimizer is happiest with returns of order 1-1000


@dataclass(frozen=True, slots=True)
class GarchVol(VolModel):
    """GARCH(1,1) volatility fitted with ``arch`` on returns at a fixed sampling interval.

    The returns are multiplied by ``scale`` (so that their standard deviation
    is 10) before fitting, because the optimizer is badly conditioned on tiny
    numbers; parameters and forecasts are converted back (``omega / scale^2``,
    variances ``/ scale^2``).

    The horizon forecast uses ``res.forecast(horizon=h, reindex=False).variance``:
    the per-step conditional variances for steps ``1..h`` with
    ``h = ceil(horizon_seconds / interval_seconds)``; their sum is the variance
    over the horizon, annualized by dividing by ``h * interval_seconds`` in years.

    Attributes
    ----------
    params : fitted parameters, original units.
    interval_seconds : sampling interval of the returns.
    scale : factor applied to the returns before fitting.
    step_variances : forecast per-step variances (original units) for
        ``max_horizon_steps`` steps ahead.
    """

    params: GarchParams
    interval_seconds: float
    scale: float
    step_variances: tuple[float, ...]

    @classmethod
    def fit(
        cls, returns: ArrayLike, interval_seconds: float, *, dist: Literal["normal", "t"] = "normal",
        max_horizon_steps: int = 24 * 30, min_returns: int = 250,
    ) -> GarchVol:
        """Fit GARCH(1,1) (zero mean) by maximum likelihood.

        Parameters
        ----------
        returns : array_like
            Log returns, oldest first, one per ``interval_seconds``.
        interval_seconds : float
            Sampling interval (3600 for hourly returns).
        dist : {"normal", "t"}
            Innovation distribution.
        max_horizon_steps : int
            Steps of variance forecast kept (horizons beyond it are extrapolated
            with the long-run variance).
        min_returns : int
            Fewest returns accepted.

        Raises
        ------
        DegenerateSeriesError
            Too short, non-finite or constant series.
        NumericalError
            The optimizer did not converge (its warnings, captured during the
            fit so that they do not leak as process-wide noise, are in the message).
        """
        from arch import arch_model  # heavy import (pandas, scipy): only where used

        r = _finite_1d("returns", returns, min_returns)
        if not (math.isfinite(interval_seconds) and interval_seconds > 0):
            raise InputError("interval_seconds", f"must be finite and > 0 (got {interval_seconds})")
        if dist not in ("normal", "t"):
            raise InputError("dist", f"must be 'normal' or 't' (got {dist!r})")
        if max_horizon_steps < 1:
            raise InputError("max_horizon_steps", "must be >= 1")
        std = float(np.std(r))
        if not std > 0.0:
            raise DegenerateSeriesError("returns", "constant series has no volatility information")
        scale = _TARGET_STD / std
        model = arch_model(r * scale, mean="Zero", vol="GARCH", p=1, q=1, dist=dist, rescale=False)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = model.fit(disp="off", show_warning=False)
        if int(res.convergence_flag) != 0:
            raise NumericalError(f"GARCH fit did not converge (flag {res.convergence_flag}); "
                                 f"{[str(w.message) for w in caught]}")
        p = res.params
        params = GarchParams(
            omega=float(p["omega"]) / scale**2, alpha=float(p["alpha[1]"]), beta=float(p["beta[1]"]),
            nu=float(p["nu"]) if dist == "t" else None,
        )
        fc = res.forecast(horizon=max_horizon_steps, reindex=False).variance
        steps = np.asarray(fc, dtype=np.float64)[-1] / scale**2
        if not np.all(np.isfinite(steps)) or np.min(steps) <= 0.0:
            raise NumericalError("GARCH variance forecast is not finite and positive")
        return cls(params, float(interval_seconds), scale, tuple(float(v) for v in steps))

    def horizon_variance(self, horizon_seconds: float) -> float:
        """Expected variance of the log return over the horizon (original units)."""
        _check_horizon(horizon_seconds)
        h = max(1, math.ceil(horizon_seconds / self.interval_seconds))
        kept = self.step_variances
        total = sum(kept[:h])
        if h > len(kept):  # beyond the stored forecast: mean-revert with the GARCH recursion
            p = self.params
            lr = p.long_run_variance if p.persistence < 1.0 else kept[-1]
            last = kept[-1]
            for _ in range(h - len(kept)):
                last = lr + p.persistence * (last - lr)
                total += last
        return total

    def annualized_vol(self, horizon_seconds: float) -> float:
        """``sqrt(sum of per-step variances over h steps / (h * interval in years))``."""
        h = max(1, math.ceil(horizon_seconds / self.interval_seconds))
        years = h * self.interval_seconds / SECONDS_PER_YEAR
        return math.sqrt(self.horizon_variance(horizon_seconds) / years)


@dataclass(frozen=True, slots=True)
class PoolHistoryVol:
    """EWMA or GARCH(1,1) fitted on a Uniswap pool's own oracle, as read in the cycle's snapshot.

    The reader asks the pool for ``observe(seconds_agos())`` at the snapshot block (in the same
    Multicall3 round trip as the TWAP), so the vol comes from the same block as every other input of
    the plan: the same snapshot gives the same vol, whatever happened on chain since. Tick
    cumulatives at evenly spaced times give the mean tick per interval; ``log price = tick ln 1.0001``
    (negated when the underlying is token1), and the returns are its differences.
    """

    pool: str
    underlying_is_token0: bool
    model: Literal["ewma", "garch"]
    history_s: float
    sample_s: float
    ewma_lambda: float = 0.94
    garch_dist: Literal["normal", "t"] = "normal"

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sample_s) and self.sample_s > 0):
            raise InputError("sample_s", f"must be finite and > 0 (got {self.sample_s})")
        if not (math.isfinite(self.history_s) and self.history_s >= 3 * self.sample_s):
            raise InputError("history_s", f"must be at least 3 x sample_s ({3 * self.sample_s:g} s), "
                             f"got {self.history_s}")

    def seconds_agos(self) -> tuple[int, ...]:
        """What the reader asks ``observe`` for: every ``sample_s`` over ``history_s``, oldest first."""
        n = int(self.history_s // self.sample_s)
        return tuple(int(self.sample_s * k) for k in range(n, -1, -1))

    def returns(self, history: PoolHistory) -> list[float]:
        """Log returns per ``sample_s`` interval from the history's tick cumulatives."""
        if tuple(history.seconds_agos) != self.seconds_agos():
            raise InputError("history", f"pool {self.pool}: read at {len(history.seconds_agos)} points, "
                             f"the model needs {len(self.seconds_agos())} every {self.sample_s:g} s")
        cums = history.tick_cumulatives
        ticks = [(b - a) / self.sample_s for a, b in zip(cums, cums[1:], strict=False)]
        sign = 1.0 if self.underlying_is_token0 else -1.0
        lp = [sign * t * math.log(1.0001) for t in ticks]
        return [b - a for a, b in zip(lp, lp[1:], strict=False)]

    def at(self, snap: Snapshot) -> VolModel:
        """The model fitted on the snapshot's history of the pool."""
        history = snap.histories.get(self.pool)
        if history is None:
            why = "; ".join(f.reason for f in snap.failures if self.pool.lower() in f.what.lower()
                            and "history" in f.what) or "not read"
            raise ChainError(f"vol: no {self.history_s:g} s history of pool {self.pool} at block {snap.block_number}: "
                             f"{why} (raise the pool's observation cardinality or lower vol.history_s)")
        r = self.returns(history)
        if self.model == "ewma":
            return EWMAVol.from_returns(r, self.sample_s, self.ewma_lambda)
        return GarchVol.fit(r, self.sample_s, dist=self.garch_dist)
