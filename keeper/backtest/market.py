"""What the keeper's gates read, simulated along the price paths: a lagging oracle feed, the pool's TWAP,
gas prices with spikes, and a perp market.

The simulated price ``S`` is the hedge pool's spot (arbitrage keeps the pool at the market). From it:

* **Feed** (a Chainlink-style push oracle): at each grid time ``t`` the feed's node sees the price
  ``lag_s`` seconds earlier, ``S(t - lag_s)``. A new round is written when that price deviates from
  the last answer by at least ``feed_deviation_bps`` or when ``feed_heartbeat_s`` has passed since
  the last round; the round's ``updatedAt`` is ``t``. A due round is missed with probability
  ``feed_miss_prob`` (an outage: the answer and its ``updatedAt`` stay, and the staleness gate sees
  the age grow). Rounds are written at grid times only.
* **TWAP** over ``twap_window_s``: the time average of ``log S`` (a Uniswap tick accumulator),
  ``exp(mean log S)`` over ``[t - window, t]``.
* Between grid points the price is taken on the straight line in ``log S`` (the Brownian bridge's
  mean), for the feed's lagged price and the TWAP; before the start it is ``S_0``. A path's moves
  within a step are thus smoother than a real path's: a TWAP or a lag shorter than a step
  understates the disagreement the keeper would see within it.
* **Gas**: ``gwei = gas_base_gwei * exp(x)``, ``x`` an Ornstein-Uhlenbeck process in log gas
  (mean 0, reversion ``gas_reversion_per_day``, stationary std ``gas_log_std``) plus spikes: a
  Poisson number of jumps per step (``gas_spikes_per_day``), each of exponential size with mean
  ``log(gas_spike_x)`` in ``x`` (``gas_spike_x = 3``: a spike multiplies the gas price by 3 in the
  geometric mean), decaying with the same reversion (24 per day: a half-life of 42 minutes). A
  swap's gas in quote is the cost model's ``gas_quote`` at the base price, scaled by
  ``gwei / gas_base_gwei`` (``gas_units x gwei x 1e-9 x native price`` with the native price
  fixed); a perp order's is ``PerpModel.gas_ratio`` times a swap's.
* **Perp**: a taker fee and a constant funding rate (``funding_apr``, a fraction of notional per
  year, > 0: longs pay), with free margin assumed sufficient. Funding accrues on the hedge's perp
  position each step, ``position x S x rate x dt``.

Seeding: the draws (gas, missed rounds) of a chunk come from
``SeedSequence(seed, spawn_key=(digest of the chunk's price matrix,))``: a function of the chunk's
paths alone, so results do not depend on the number of workers or on which one ran the chunk, and
every policy of a chunk sees the same market.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from keeper.core.policy_arrays import PerpMarket
from keeper.errors import InputError

__all__ = ["MarketModel", "MarketPaths", "PerpModel", "chunk_seed", "simulate_market"]

FloatArray = npt.NDArray[np.float64]
_YEAR_S = 365.0 * 86_400.0


def _check(name: str, value: float, *, low: float = 0.0, strict: bool = False, upper: float = math.inf) -> None:
    ok = math.isfinite(value) and (value > low if strict else value >= low) and value <= upper
    if not ok:
        raise InputError(name, f"must be finite and {'>' if strict else '>='} {low:g}"
                               f"{'' if math.isinf(upper) else f' and <= {upper:g}'}, got {value!r}")


@dataclass(frozen=True, slots=True)
class PerpModel:
    """The perp venue: ``taker_fee_fraction`` of notional, ``funding_apr`` (signed fraction of notional
    per year, > 0: longs pay), gas of one order as ``gas_ratio`` times a swap's."""

    taker_fee_fraction: float = 0.0005
    funding_apr: float = 0.10
    gas_ratio: float = 320_000.0 / 260_000.0

    def __post_init__(self) -> None:
        _check("perp_fee", self.taker_fee_fraction, upper=0.1)
        if not (math.isfinite(self.funding_apr) and abs(self.funding_apr) <= 10.0):
            raise InputError("perp_funding_apr", f"must be finite, |rate| <= 10 per year, got {self.funding_apr!r}")
        _check("perp_gas_ratio", self.gas_ratio)

    @property
    def funding_rate_per_second(self) -> float:
        return self.funding_apr / _YEAR_S

    @property
    def market(self) -> PerpMarket:
        return PerpMarket(self.taker_fee_fraction, self.funding_rate_per_second)


@dataclass(frozen=True, slots=True)
class MarketModel:
    """The simulated oracle, TWAP, gas and perp (see the module docstring; seconds, bps, gwei)."""

    lag_s: float = 60.0
    feed_heartbeat_s: float = 3600.0
    feed_deviation_bps: float = 50.0
    feed_miss_prob: float = 0.0
    twap_window_s: float = 1800.0
    gas_base_gwei: float = 20.0
    gas_log_std: float = 0.3
    gas_reversion_per_day: float = 24.0
    gas_spikes_per_day: float = 1.0
    gas_spike_x: float = 3.0
    perp: PerpModel | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        _check("oracle_lag", self.lag_s)
        _check("feed_heartbeat", self.feed_heartbeat_s, strict=True)
        _check("feed_deviation_bps", self.feed_deviation_bps)
        _check("feed_miss_prob", self.feed_miss_prob, upper=1.0)
        _check("twap_window", self.twap_window_s, strict=True)
        _check("gas_gwei", self.gas_base_gwei, strict=True)
        _check("gas_log_std", self.gas_log_std)
        _check("gas_reversion_per_day", self.gas_reversion_per_day, strict=True)
        _check("gas_spikes_per_day", self.gas_spikes_per_day)
        _check("gas_spike_x", self.gas_spike_x, low=1.0)
        if self.seed < 0:
            raise InputError("seed", f"must be >= 0, got {self.seed!r}")


@dataclass(frozen=True, slots=True)
class MarketPaths:
    """The market along the paths, each ``(n_steps + 1, n_paths)``: feed answer and ``updatedAt``
    (seconds on the grid's clock), TWAP, gas price (gwei) and gas multiple ``gwei / base``."""

    feed: FloatArray
    feed_updated_at: FloatArray
    twap: FloatArray
    gas_gwei: FloatArray
    gas_multiple: FloatArray


def _log_price_at(logs: FloatArray, seconds: FloatArray, t: FloatArray) -> FloatArray:
    """``log S`` at times ``t`` (one per row), on the straight line between grid points; ``log S_0`` before."""
    tc = np.clip(t, seconds[0], seconds[-1])
    k = np.clip(np.searchsorted(seconds, tc, side="right") - 1, 0, seconds.size - 2)
    u = ((tc - seconds[k]) / (seconds[k + 1] - seconds[k]))[:, None]
    out: FloatArray = logs[k] + u * (logs[k + 1] - logs[k])
    return out


def _twap(logs: FloatArray, seconds: FloatArray, window: float) -> FloatArray:
    """``exp`` of the time average of piecewise-linear ``log S`` over ``[t_i - window, t_i]``, every row."""
    dt = np.diff(seconds)[:, None]
    cum = np.zeros_like(logs)
    np.cumsum(0.5 * (logs[1:] + logs[:-1]) * dt, axis=0, out=cum[1:])  # integral of log S from t_0 to t_i
    start = seconds - window
    inside = start >= seconds[0]
    l_start = _log_price_at(logs, seconds, start)
    k = np.clip(np.searchsorted(seconds, np.maximum(start, seconds[0]), side="right") - 1, 0, seconds.size - 2)
    # integral from start to t_i: the partial segment [start, t_{k+1}] plus the whole ones after it
    partial = 0.5 * (l_start + logs[k + 1]) * (seconds[k + 1] - start)[:, None]
    from_start = partial + cum - cum[k + 1]
    before = (seconds[0] - start)[:, None] * logs[0] + cum  # S_0 before the start, then the path
    integral = np.where(inside[:, None], from_start, before)
    out: FloatArray = np.exp(integral / window)
    return out


def _gas(model: MarketModel, seconds: FloatArray, n: int, rng: np.random.Generator) -> FloatArray:
    """``x``, the log gas multiple, ``(len(seconds), n)``: exact OU steps plus exponential jumps."""
    x = np.zeros((seconds.size, n))
    kappa = model.gas_reversion_per_day / 86_400.0
    mean_jump = math.log(model.gas_spike_x)
    for i in range(1, seconds.size):
        dt = float(seconds[i] - seconds[i - 1])
        decay = math.exp(-kappa * dt)
        noise = model.gas_log_std * math.sqrt(1.0 - decay * decay)
        jumps = rng.poisson(model.gas_spikes_per_day * dt / 86_400.0, n)
        size = np.where(jumps > 0, rng.gamma(np.maximum(jumps, 1), 1.0), 0.0) * mean_jump  # sum of exponentials
        x[i] = x[i - 1] * decay + noise * rng.standard_normal(n) + size
    return x


def chunk_seed(model: MarketModel, spots: FloatArray) -> np.random.SeedSequence:
    """``SeedSequence(model.seed, spawn_key=(digest,))`` with the digest of the chunk's price matrix."""
    digest = hashlib.blake2b(np.ascontiguousarray(spots, dtype=np.float64).tobytes(), digest_size=8).digest()
    return np.random.SeedSequence(model.seed, spawn_key=(int.from_bytes(digest, "little"),))


def simulate_market(model: MarketModel, spots: FloatArray, seconds: FloatArray) -> MarketPaths:
    """The feed, TWAP and gas along ``spots`` (``(n_steps + 1, n_paths)`` pool prices) on ``seconds``."""
    t = np.asarray(seconds, dtype=np.float64)
    if spots.ndim != 2 or spots.shape[0] != t.size or t.size < 2:
        raise InputError("spots", f"must be (n_steps + 1, n_paths) matching seconds, got {spots.shape}")
    n = spots.shape[1]
    rng = np.random.default_rng(chunk_seed(model, spots))
    logs = np.log(spots)
    seen = spots if model.lag_s == 0.0 else np.exp(_log_price_at(logs, t, t - model.lag_s))
    feed = np.empty_like(spots)
    updated = np.empty_like(spots)
    feed[0], updated[0] = seen[0], t[0]
    threshold = model.feed_deviation_bps
    miss = rng.random((t.size, n)) < model.feed_miss_prob if model.feed_miss_prob > 0.0 else None
    for i in range(1, t.size):
        prev, last = feed[i - 1], updated[i - 1]
        moved = np.abs(seen[i] - prev) / np.minimum(seen[i], prev) * 1e4 >= threshold
        due = moved | (t[i] - last >= model.feed_heartbeat_s)
        if miss is not None:
            due &= ~miss[i]
        feed[i] = np.where(due, seen[i], prev)
        updated[i] = np.where(due, t[i], last)
    x = _gas(model, t, n, rng)
    multiple = np.exp(x)
    return MarketPaths(feed, updated, _twap(logs, t, model.twap_window_s), model.gas_base_gwei * multiple, multiple)
