"""Seeded price paths: GBM, GARCH(1,1), Merton jump-diffusion, Heston, and a user's CSV of timestamps and prices.

Shapes and units
----------------
A path matrix is ``(n_steps + 1, n_paths)``, time-major (row ``i`` is every path at time
``seconds[i]``), float64 prices in quote per underlying unit. ``seconds`` is the time grid in
seconds from the start (exact integers as floats, so time triggers compare exactly).
Models are driftless in the quote (``E[S_t] = S_0``) unless ``mu`` is set: ``mu`` is the
annual log drift added to the martingale drift.

Seeding: every model draws from the ``numpy.random.Generator`` it is given; the parallel
runner hands each fixed-size chunk of paths its own child of ``SeedSequence(seed)``, so a
run's paths do not depend on how many workers run it.

Heston (:class:`HestonModel`) is the one model with a smile: it also returns the variance paths
(:meth:`HestonModel.simulate_with_variance`), which the option marks need (see
:mod:`keeper.backtest.flavours`).
"""

from __future__ import annotations

import csv
import math
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import numpy.typing as npt

from keeper.core.stochvol import HestonParams, simulate_heston
from keeper.errors import DegenerateSeriesError, InputError

__all__ = [
    "YEAR_S",
    "GBMModel",
    "GarchModel",
    "HestonModel",
    "MertonModel",
    "PathModel",
    "PriceSeries",
    "load_price_csv",
    "parse_step",
    "time_grid",
]

FloatArray = npt.NDArray[np.float64]
YEAR_S = 365.0 * 86_400.0
"""Seconds per year (calendar, as the option greeks' ``T``)."""


def parse_step(text: str) -> int:
    """``"1h"``, ``"15m"``, ``"30s"``, ``"1d"`` or plain seconds -> seconds (int > 0)."""
    t = text.strip().lower()
    mult = {"s": 1, "m": 60, "h": 3600, "d": 86_400}
    try:
        value = float(t[:-1]) * mult[t[-1]] if t and t[-1] in mult else float(t)
    except ValueError:
        raise InputError("step", f"not a duration like 1h, 15m, 1d or seconds: {text!r}") from None
    if not (math.isfinite(value) and value >= 1.0 and value == int(value)):
        raise InputError("step", f"must be a whole number of seconds >= 1, got {text!r}")
    return int(value)


def time_grid(days: float, step_s: int) -> FloatArray:
    """``0, step, 2 step, ..., days * 86400`` seconds (the horizon must be a whole number of steps)."""
    if not days > 0.0:
        raise InputError("days", f"must be > 0, got {days!r}")
    total = days * 86_400.0
    n = total / step_s
    if abs(n - round(n)) > 1e-9 or round(n) < 1:
        raise InputError("step", f"{days:g} days is not a whole number of {step_s} s steps")
    return np.arange(round(n) + 1, dtype=np.float64) * float(step_s)


class PathModel(ABC):
    """A price process simulated on a time grid."""

    @abstractmethod
    def simulate(self, s0: float, seconds: FloatArray, n_paths: int, rng: np.random.Generator) -> FloatArray:
        """Paths ``(len(seconds), n_paths)`` starting at ``s0``."""

    @property
    @abstractmethod
    def annual_vol(self) -> float:
        """The model's (long-run) annualized volatility of log returns."""


def _check_sim(s0: float, seconds: FloatArray, n_paths: int) -> FloatArray:
    if not (math.isfinite(s0) and s0 > 0.0):
        raise InputError("s0", f"must be finite and > 0, got {s0!r}")
    if n_paths < 1:
        raise InputError("n_paths", f"must be >= 1, got {n_paths!r}")
    dt = np.diff(np.asarray(seconds, dtype=np.float64)) / YEAR_S
    if dt.size == 0 or not np.all(dt > 0.0):
        raise InputError("seconds", "need at least two strictly increasing times")
    return dt


def _from_log_increments(s0: float, incr: FloatArray) -> FloatArray:
    out = np.empty((incr.shape[0] + 1, incr.shape[1]), dtype=np.float64)
    out[0] = s0
    np.cumsum(incr, axis=0, out=out[1:])
    np.exp(out[1:], out=out[1:])
    out[1:] *= s0
    return out


@dataclass(frozen=True, slots=True)
class GBMModel(PathModel):
    """Geometric Brownian motion ``dS/S = mu dt + sigma dW`` (``sigma``, ``mu`` annual)."""

    sigma: float
    mu: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sigma) and self.sigma >= 0.0):
            raise InputError("sigma", f"must be finite and >= 0, got {self.sigma!r}")

    @property
    def annual_vol(self) -> float:
        return self.sigma

    def simulate(self, s0: float, seconds: FloatArray, n_paths: int, rng: np.random.Generator) -> FloatArray:
        dt = _check_sim(s0, seconds, n_paths)[:, None]
        z = rng.standard_normal((dt.shape[0], n_paths))
        return _from_log_increments(s0, (self.mu - 0.5 * self.sigma**2) * dt + self.sigma * np.sqrt(dt) * z)


@dataclass(frozen=True, slots=True)
class GarchModel(PathModel):
    """GARCH(1,1) log returns per step: ``h_t = omega + alpha r_{t-1}^2 + beta h_{t-1}``, ``r_t = sqrt(h_t) z_t``.

    ``omega`` is set so that the long-run variance is ``sigma^2 dt`` for the grid's step
    (``sigma`` annual); ``h_0`` is the long-run variance. ``nu`` (> 2) draws ``z`` from a
    Student t scaled to unit variance; ``None`` is normal. The drift ``mu - h_t / 2`` makes
    the price a martingale when ``mu = 0``. Assumes a regular grid.
    """

    sigma: float
    alpha: float = 0.08
    beta: float = 0.90
    nu: float | None = None
    mu: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.sigma) and self.sigma > 0.0):
            raise InputError("sigma", f"must be finite and > 0, got {self.sigma!r}")
        if not (self.alpha >= 0.0 and self.beta >= 0.0 and self.alpha + self.beta < 1.0):
            raise InputError("alpha", f"need alpha, beta >= 0 and alpha + beta < 1, got {self.alpha}, {self.beta}")
        if self.nu is not None and not self.nu > 2.0:
            raise InputError("nu", f"must be > 2 (finite variance), got {self.nu!r}")

    @property
    def annual_vol(self) -> float:
        return self.sigma

    def simulate(self, s0: float, seconds: FloatArray, n_paths: int, rng: np.random.Generator) -> FloatArray:
        dt = _check_sim(s0, seconds, n_paths)
        n = dt.shape[0]
        long_run = self.sigma**2 * float(dt[0])
        omega = long_run * (1.0 - self.alpha - self.beta)
        if self.nu is None:
            z = rng.standard_normal((n, n_paths))
        else:
            z = rng.standard_t(self.nu, (n, n_paths)) * math.sqrt((self.nu - 2.0) / self.nu)
        incr = np.empty((n, n_paths), dtype=np.float64)
        h = np.full(n_paths, long_run)
        for i in range(n):
            r = np.sqrt(h) * z[i]
            incr[i] = self.mu * dt[i] - 0.5 * h + r
            h = omega + self.alpha * r * r + self.beta * h
        return _from_log_increments(s0, incr)


@dataclass(frozen=True, slots=True)
class MertonModel(PathModel):
    """Merton jump-diffusion: GBM plus Poisson jumps (``jump_rate`` per year) of log size ``N(jump_mean, jump_std^2)``.

    The drift is compensated (``- jump_rate * kappa``, ``kappa = exp(jump_mean + jump_std^2 / 2) - 1``)
    so the price is a martingale when ``mu = 0``.
    """

    sigma: float
    jump_rate: float = 12.0
    jump_mean: float = -0.02
    jump_std: float = 0.05
    mu: float = 0.0

    def __post_init__(self) -> None:
        for name in ("sigma", "jump_rate", "jump_std"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0.0):
                raise InputError(name, f"must be finite and >= 0, got {v!r}")
        if not math.isfinite(self.jump_mean):
            raise InputError("jump_mean", f"must be finite, got {self.jump_mean!r}")

    @property
    def annual_vol(self) -> float:
        jump_var = self.jump_rate * (self.jump_mean**2 + self.jump_std**2)
        return math.sqrt(self.sigma**2 + jump_var)

    def simulate(self, s0: float, seconds: FloatArray, n_paths: int, rng: np.random.Generator) -> FloatArray:
        dt = _check_sim(s0, seconds, n_paths)[:, None]
        shape = (dt.shape[0], n_paths)
        kappa = math.exp(self.jump_mean + 0.5 * self.jump_std**2) - 1.0
        drift = (self.mu - 0.5 * self.sigma**2 - self.jump_rate * kappa) * dt
        incr = drift + self.sigma * np.sqrt(dt) * rng.standard_normal(shape)
        n_jumps = rng.poisson(self.jump_rate * np.broadcast_to(dt, shape))
        incr += n_jumps * self.jump_mean + np.sqrt(n_jumps) * self.jump_std * rng.standard_normal(shape)
        return _from_log_increments(s0, incr)


@dataclass(frozen=True, slots=True)
class HestonModel(PathModel):
    """Heston stochastic volatility (:mod:`keeper.core.stochvol`), driftless:
    ``dS = S sqrt(v) dW1``, ``dv = kappa (theta - v) dt + xi sqrt(v) dW2``, ``dW1 dW2 = rho dt``.

    ``v0``, ``theta`` are annual variances (0.36 = 60 % vol), ``kappa`` per year, ``xi`` the vol
    of variance. Simulated by :func:`keeper.core.stochvol.simulate_heston` (full-truncation Euler)
    with sub-steps of at most ``max_substep_s`` seconds; needs a regular grid. Its seed is drawn
    from the given generator, so chunks stay reproducible.
    """

    v0: float = 0.36
    kappa: float = 3.0
    theta: float = 0.36
    xi: float = 1.2
    rho: float = -0.6
    max_substep_s: float = 900.0

    def __post_init__(self) -> None:
        for name in ("v0", "kappa", "theta", "xi"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v > 0.0):
                raise InputError(name, f"must be finite and > 0, got {v!r}")
        if not (math.isfinite(self.rho) and -1.0 < self.rho < 1.0):
            raise InputError("rho", f"must be in (-1, 1), got {self.rho!r}")
        if not (math.isfinite(self.max_substep_s) and self.max_substep_s > 0.0):
            raise InputError("max_substep_s", f"must be finite and > 0, got {self.max_substep_s!r}")

    @property
    def params(self) -> HestonParams:
        return HestonParams(self.v0, self.kappa, self.theta, self.xi, self.rho)

    @property
    def annual_vol(self) -> float:
        """The long-run vol ``sqrt(theta)``."""
        return math.sqrt(self.theta)

    def simulate_with_variance(self, s0: float, seconds: FloatArray, n_paths: int,
                               rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
        """(spots, variances), each ``(len(seconds), n_paths)``."""
        dt = _check_sim(s0, seconds, n_paths)
        if not np.allclose(dt, dt[0], rtol=1e-9, atol=0.0):
            raise InputError("seconds", "the Heston model needs a regular time grid")
        step_s = float(dt[0]) * YEAR_S
        substeps = max(1, math.ceil(step_s / self.max_substep_s - 1e-9))
        seed = int(rng.integers(0, 2**63 - 1))
        spot, var = simulate_heston(self.params, s0, n_paths, dt.shape[0], float(dt[0]), seed=seed,
                                    substeps=substeps)
        return np.asarray(spot, dtype=np.float64), np.asarray(var, dtype=np.float64)

    def simulate(self, s0: float, seconds: FloatArray, n_paths: int, rng: np.random.Generator) -> FloatArray:
        return self.simulate_with_variance(s0, seconds, n_paths, rng)[0]


# --------------------------------------------------------------------------- historical CSV


@dataclass(frozen=True, slots=True)
class PriceSeries:
    """A historical series: ``timestamps`` (unix seconds, strictly increasing) and ``prices`` (> 0)."""

    timestamps: FloatArray
    prices: FloatArray

    @property
    def seconds(self) -> FloatArray:
        """Seconds from the first timestamp."""
        out: FloatArray = self.timestamps - self.timestamps[0]
        return out

    def path_matrix(self) -> FloatArray:
        """The series as a one-path matrix ``(n, 1)``."""
        return self.prices[:, None].copy()


def _timestamp(text: str, where: str) -> float:
    t = text.strip()
    try:
        return float(int(t)) if t.lstrip("-").isdigit() else float(t)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise InputError("csv", f"{where}: timestamp {text!r} is neither unix seconds nor ISO-8601") from None
    if dt.tzinfo is None:
        raise InputError("csv", f"{where}: timestamp {text!r} needs a timezone (e.g. ...Z)")
    return dt.timestamp()


# Long on purpose: one branch per malformed-row case, each with its own message naming the row and column.
def load_price_csv(path: str | Path) -> PriceSeries:  # noqa: C901
    """Read ``timestamp,price`` rows (a header line is optional; extra columns are an error).

    Timestamps are unix seconds (ms if > 1e11 are rejected as ambiguous) or ISO-8601 with a
    timezone, strictly increasing; prices finite and > 0. Every problem raises
    :class:`~keeper.errors.InputError` naming the file and the row (1-based line number).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError("csv", f"{p}: cannot read: {exc.strerror or exc}") from None
    ts: list[float] = []
    px: list[float] = []
    for line_no, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or all(not c.strip() for c in row) or row[0].lstrip().startswith("#"):
            continue
        where = f"{p}: row {line_no}"
        if len(row) != 2:
            raise InputError("csv", f"{where}: expected 2 columns (timestamp, price), got {len(row)}")
        if not ts and not px and row[0].strip().lower() in ("timestamp", "time", "date", "ts"):
            continue  # header
        t = _timestamp(row[0], where)
        if not math.isfinite(t) or t > 1e11:
            raise InputError("csv", f"{where}: timestamp {row[0].strip()!r} is not unix seconds")
        try:
            price = float(row[1])
        except ValueError:
            raise InputError("csv", f"{where}: price {row[1].strip()!r} is not a number") from None
        if not (math.isfinite(price) and price > 0.0):
            raise InputError("csv", f"{where}: price must be finite and > 0, got {row[1].strip()!r}")
        if ts and t <= ts[-1]:
            raise InputError("csv", f"{where}: timestamp {row[0].strip()!r} is not after the previous row's")
        ts.append(t)
        px.append(price)
    if len(ts) < 2:
        raise DegenerateSeriesError("csv", f"{p}: need at least 2 price rows, got {len(ts)}")
    return PriceSeries(np.asarray(ts, dtype=np.float64), np.asarray(px, dtype=np.float64))
