"""No-trade bands, the rolling-window budget and clip sizing of hedges.

Units
-----
Delta, band half-widths and sizes are in underlying units (1.0 = 1 ETH);
``gamma`` is d(delta)/dS in underlying units per 1 quote unit of spot
(ETH per USD); spot is quote per underlying unit; notionals and caps are in
quote units; times are unix seconds.

The fields of :class:`TriggerConfig` and :class:`SizingConfig` carry the names and defaults of the
config's ``[policy]`` keys (:class:`keeper.config.AssetPolicy` takes its defaults from here): a
``_usd`` field is in quote units (the config's ``quote.symbol``, USD unless set otherwise) and
``band_pct`` is in percent (2.0 = 2 %).

Bands
-----
``target +/- h`` with ``h`` from :class:`TriggerConfig`:

* ``fixed``: ``h = band_units``;
* ``pct_book``: ``h = band_pct / 100 * |book_value_quote| / spot`` (``band_pct`` in percent);
* ``ww`` (Whalley-Wilmott 1997)::

      h = (3 k S Gamma^2 / (2 lambda))^(1/3)

  with ``k`` the one-way proportional cost (fraction), ``S`` spot, ``Gamma`` the
  book's gamma and ``lambda`` the absolute risk aversion (1/quote).

  Dimensions, with U = underlying unit and Q = quote unit: delta is in U, spot
  in Q/U, so ``Gamma = d delta / dS`` is in U / (Q/U) = U^2/Q ("delta units per
  1 quote of spot"); ``lambda`` is in 1/Q and ``k`` is dimensionless. Then
  ``[S Gamma^2 / lambda] = (Q/U) (U^2/Q)^2 Q = U^3`` and ``h`` is in U.
  Re-denominating the quote (dollars -> cents, factor ``c``) maps
  ``S -> c S``, ``Gamma -> Gamma / c``, ``lambda -> lambda / c`` and leaves
  ``h`` unchanged (tested).

Then ``h = min(max(h, floor_units), ceiling_units)``. ``h`` grows as
``Gamma^(2/3)`` and ``k^(1/3)``; with ``Gamma = 0`` the WW band collapses to the
floor, so configure one.

Clips
-----
A hedge needing ``needed`` units is executed one clip per cycle,
``clip = min(needed, max_trade_usd / P, window_left_quote / P)`` with
``window_left = window_cap_usd - sum(notional of fills in (now - window_s, now])``.
The next cycle re-reads the book (post-trade state, not fill events), recomputes
``needed`` and sends the next clip.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from keeper.core._checks import check_finite, check_fraction, check_non_negative, check_positive
from keeper.errors import InputError

__all__ = [
    "Band",
    "BandKind",
    "Clip",
    "HedgeHistory",
    "HedgeTo",
    "PastHedge",
    "SizingConfig",
    "TriggerConfig",
    "band_half_width_array",
    "clip_size",
    "clip_size_array",
    "compute_band",
    "hedge_needed_array",
    "hedge_to_band_array",
    "hedge_trades_array",
    "min_trade_ok_array",
    "units_within_array",
    "window_left_quote",
    "window_reopens_in_s",
    "window_used_quote",
    "ww_half_width",
    "ww_half_width_array",
]

BandKind = Literal["fixed", "pct_book", "ww"]
HedgeTo = Literal["edge", "target"]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class TriggerConfig:
    """When to hedge: the no-trade band and the time trigger.

    Attributes
    ----------
    trigger : {"fixed", "pct_book", "ww"}
        Band kind.
    band_units : float
        Half-width for ``fixed``, underlying units.
    band_pct : float
        Half-width for ``pct_book`` in percent of the underlying's
        ``|book_value_quote|`` (2.0 = 2 %), converted to units at spot.
    risk_aversion_per_usd : float
        ``lambda`` of the WW band: absolute risk aversion, 1/quote unit.
        Larger = narrower band. A relative risk aversion ``R`` over a book
        worth ``W`` quote corresponds to ``lambda = R / W``.
    cost_fraction : float or None
        ``k`` for the WW band; ``None`` estimates it from the venues
        (cheapest ``fee + impact`` at the current deviation).
    floor_units, ceiling_units : float
        Clamp of the half-width (all kinds), underlying units.
    max_interval_s : float
        Time trigger: when at least this many seconds passed since the last
        hedge, hedge to target even inside the band, if the deviation clears
        the minimum trade. ``inf`` disables it.
    """

    trigger: BandKind = "ww"
    band_units: float = 0.0
    band_pct: float = 0.0
    risk_aversion_per_usd: float = 1e-4
    cost_fraction: float | None = None
    floor_units: float = 0.0
    ceiling_units: float = math.inf
    max_interval_s: float = math.inf

    def __post_init__(self) -> None:
        if self.trigger not in ("fixed", "pct_book", "ww"):
            raise InputError("trigger", f"must be 'fixed', 'pct_book' or 'ww', got {self.trigger!r}")
        check_non_negative("band_units", self.band_units)
        check_non_negative("band_pct", self.band_pct)
        if self.band_pct > 100.0:
            raise InputError("band_pct", f"must be a percentage in [0, 100] (2.0 = 2 %), got {self.band_pct!r}")
        check_positive("risk_aversion_per_usd", self.risk_aversion_per_usd)
        if self.cost_fraction is not None:
            check_fraction("cost_fraction", self.cost_fraction)
        check_non_negative("floor_units", self.floor_units)
        check_non_negative("ceiling_units", self.ceiling_units, allow_inf=True)
        if self.ceiling_units < self.floor_units:
            raise InputError("ceiling_units", f"{self.ceiling_units!r} is below floor_units {self.floor_units!r}")
        check_positive("max_interval_s", self.max_interval_s, allow_inf=True)
        if self.trigger == "fixed" and self.band_units == 0.0 and self.floor_units == 0.0:
            raise InputError("band_units", "must be > 0 for a fixed band (or set floor_units)")
        if self.trigger == "pct_book" and self.band_pct == 0.0 and self.floor_units == 0.0:
            raise InputError("band_pct", "must be > 0 for a pct_book band (or set floor_units)")


@dataclass(frozen=True, slots=True)
class SizingConfig:
    """How much to hedge.

    Attributes
    ----------
    hedge_to : {"edge", "target"}
        Trade back to the band's nearest edge (Whalley-Wilmott) or to the target.
    min_trade_units, min_trade_usd : float
        A clip must reach both (0 disables either), underlying / quote units.
    max_trade_usd : float
        Maximum notional of one clip, quote units (``inf``: no cap).
    window_cap_usd : float
        Maximum total notional hedged in any window of ``window_s`` seconds, quote units.
    window_s : float
        Rolling window length, seconds.
    """

    hedge_to: HedgeTo = "edge"
    min_trade_units: float = 0.0
    min_trade_usd: float = 0.0
    max_trade_usd: float = 250_000.0
    window_cap_usd: float = 1_000_000.0
    window_s: float = 86_400.0

    def __post_init__(self) -> None:
        if self.hedge_to not in ("edge", "target"):
            raise InputError("hedge_to", f"must be 'edge' or 'target', got {self.hedge_to!r}")
        check_non_negative("min_trade_units", self.min_trade_units)
        check_non_negative("min_trade_usd", self.min_trade_usd)
        check_positive("max_trade_usd", self.max_trade_usd, allow_inf=True)
        if self.max_trade_usd < self.min_trade_usd:
            raise InputError("max_trade_usd", f"{self.max_trade_usd!r} is below min_trade_usd "
                                              f"{self.min_trade_usd!r}: nothing could ever trade")
        check_positive("window_cap_usd", self.window_cap_usd, allow_inf=True)
        check_positive("window_s", self.window_s)


@dataclass(frozen=True, slots=True)
class PastHedge:
    """A past hedge: when (unix s) and how much notional (quote, >= 0)."""

    timestamp: float
    notional_quote: float

    def __post_init__(self) -> None:
        check_finite("timestamp", self.timestamp)
        check_non_negative("notional_quote", self.notional_quote)


@dataclass(frozen=True, slots=True)
class HedgeHistory:
    """Recent hedges of one underlying, from the journal.

    ``last_hedge_time`` (unix s) defaults to the latest fill; ``None`` with no
    fills means never hedged (a configured time trigger is then due).
    ``fills`` need only cover the rolling window.
    """

    last_hedge_time: float | None = None
    fills: tuple[PastHedge, ...] = ()

    def __post_init__(self) -> None:
        if self.last_hedge_time is not None:
            check_finite("last_hedge_time", self.last_hedge_time)

    @property
    def last_time(self) -> float | None:
        """``last_hedge_time`` or the latest fill's timestamp; ``None`` if never hedged."""
        if self.last_hedge_time is not None:
            return self.last_hedge_time
        if self.fills:
            return max(f.timestamp for f in self.fills)
        return None


@dataclass(frozen=True, slots=True)
class Band:
    """The no-trade band ``[target - half_width, target + half_width]``, underlying units.

    ``raw_half_width_units`` is before the floor/ceiling clamp; ``k_fraction``
    and ``gamma_units_per_quote`` are recorded for the WW band (0 otherwise).
    """

    kind: BandKind
    target_units: float
    half_width_units: float
    raw_half_width_units: float
    k_fraction: float = 0.0
    gamma_units_per_quote: float = 0.0

    @property
    def lower_units(self) -> float:
        return self.target_units - self.half_width_units

    @property
    def upper_units(self) -> float:
        return self.target_units + self.half_width_units


@dataclass(frozen=True, slots=True)
class Clip:
    """One cycle's share of a hedge, underlying units (unsigned).

    ``limited_by`` is ``"none"``, ``"max_trade"`` or ``"window"``.
    """

    needed_units: float
    clip_units: float
    remaining_units: float
    limited_by: Literal["none", "max_trade", "window"]
    window_left_quote: float


# --------------------------------------------------------------------------- bands


def ww_half_width(
    spot: float, gamma_units_per_quote: float, k_fraction: float, risk_aversion_per_quote: float
) -> float:
    """Whalley-Wilmott half-width ``(3 k S Gamma^2 / (2 lambda))^(1/3)``, underlying units.

    Parameters
    ----------
    spot : float
        ``S``, quote per underlying unit.
    gamma_units_per_quote : float
        ``Gamma = d delta / dS``, underlying units per quote unit (sign irrelevant).
    k_fraction : float
        One-way proportional cost ``k`` (0.0008 = 8 bps). ``inf`` gives ``inf``.
    risk_aversion_per_quote : float
        ``lambda``, 1/quote unit.
    """
    return math.cbrt(1.5 * k_fraction * spot * gamma_units_per_quote * gamma_units_per_quote / risk_aversion_per_quote)


def ww_half_width_array(
    spot: npt.ArrayLike,
    gamma_units_per_quote: npt.ArrayLike,
    k_fraction: npt.ArrayLike,
    risk_aversion_per_quote: npt.ArrayLike,
) -> FloatArray:
    """Vectorized :func:`ww_half_width`: broadcasts its arguments, returns float64 (0-d for scalars)."""
    s = np.asarray(spot, dtype=np.float64)
    g = np.asarray(gamma_units_per_quote, dtype=np.float64)
    k = np.asarray(k_fraction, dtype=np.float64)
    lam = np.asarray(risk_aversion_per_quote, dtype=np.float64)
    out: FloatArray = np.cbrt(1.5 * k * s * g * g / lam)
    return out


def hedge_to_band_array(
    delta_units: npt.ArrayLike,
    target_units: npt.ArrayLike,
    half_width_units: npt.ArrayLike,
    hedge_to: HedgeTo = "edge",
) -> FloatArray:
    """Signed trades (+ buy, - sell; units) that bring ``delta`` back into ``target +/- h``.

    Zero inside the band (``|delta - target| <= h``); outside it,
    ``-sign(dev) (|dev| - h)`` to the edge or ``-dev`` to the target. No caps, no
    minimum trade: the backtest's inner loop.
    """
    dev = np.asarray(delta_units, dtype=np.float64) - np.asarray(target_units, dtype=np.float64)
    h = np.asarray(half_width_units, dtype=np.float64)
    adev = np.abs(dev)
    outside = adev > h
    if hedge_to == "edge":
        trade = -np.sign(dev) * np.where(outside, adev - h, 0.0)
    elif hedge_to == "target":
        trade = np.where(outside, -dev, 0.0)
    else:
        raise InputError("hedge_to", f"must be 'edge' or 'target', got {hedge_to!r}")
    out: FloatArray = trade + 0.0  # normalise -0.0
    return out


def compute_band(
    trigger: TriggerConfig,
    target_units: float,
    spot: float,
    gamma_units_per_quote: float,
    book_value_quote: float,
    k_fraction: float,
) -> Band:
    """The band for one underlying (see the module docstring); ``k_fraction`` is used by ``ww`` only."""
    kind = trigger.trigger
    if kind == "ww":
        raw = ww_half_width(spot, gamma_units_per_quote, k_fraction, trigger.risk_aversion_per_usd)
        h = min(max(raw, trigger.floor_units), trigger.ceiling_units)
        return Band(kind, target_units, h, raw, k_fraction, gamma_units_per_quote)
    raw = trigger.band_units if kind == "fixed" else trigger.band_pct / 100.0 * abs(book_value_quote) / spot
    h = min(max(raw, trigger.floor_units), trigger.ceiling_units)
    return Band(kind, target_units, h, raw)


# --------------------------------------------------------------------------- window and clips


def window_used_quote(fills: Sequence[PastHedge], now_s: float, window_s: float) -> float:
    """Notional of the fills in ``(now - window_s, now]`` plus any later ones (clock skew counts), quote."""
    start = now_s - window_s
    return sum(f.notional_quote for f in fills if f.timestamp > start)


def window_left_quote(fills: Sequence[PastHedge], now_s: float, window_s: float, cap_quote: float) -> float:
    """``max(cap - used, 0)``, quote units."""
    return max(cap_quote - window_used_quote(fills, now_s, window_s), 0.0)


def window_reopens_in_s(fills: Sequence[PastHedge], now_s: float, window_s: float) -> float:
    """Seconds until the oldest fill in the window leaves it (``0`` if the window is empty)."""
    start = now_s - window_s
    inside = [f.timestamp for f in fills if f.timestamp > start]
    if not inside:
        return 0.0
    return max(min(inside) + window_s - now_s, 0.0)


def _units_within(cap_quote: float, price: float) -> float:
    """Largest ``u ~ cap / price`` with ``u * price <= cap`` in floating point (a cap is never exceeded)."""
    u = cap_quote / price
    while u * price > cap_quote:  # at most a step or two
        u = math.nextafter(u, 0.0)
    return u


def clip_size(needed_units: float, price: float, max_trade_quote: float, window_left: float) -> Clip:
    """``clip = min(needed, max_trade_quote / price, window_left / price)`` (units, unsigned).

    When both caps bind equally the max-per-trade cap is reported. The clip's
    notional ``clip * price`` never exceeds either cap, also in floating point.
    """
    by_trade = _units_within(max_trade_quote, price)
    by_window = _units_within(window_left, price)
    if needed_units <= by_trade and needed_units <= by_window:
        return Clip(needed_units, needed_units, 0.0, "none", window_left)
    if by_trade <= by_window:
        return Clip(needed_units, by_trade, needed_units - by_trade, "max_trade", window_left)
    return Clip(needed_units, by_window, needed_units - by_window, "window", window_left)


# --------------------------------------------------------------------------- array twins (the backtest)
# Twins of the scalar rules above and of decide_underlying's steps 1-4 and 6; tests/unit/test_backtest_twins.py
# checks both agree on random inputs, so the backtest runs the keeper's rules, not a copy.


def band_half_width_array(trigger: TriggerConfig, spot: npt.ArrayLike, gamma_units_per_quote: npt.ArrayLike,
                          book_value_quote: npt.ArrayLike, k_fraction: npt.ArrayLike) -> FloatArray:
    """Vectorized ``compute_band(...).half_width_units`` (clamped), underlying units."""
    s = np.asarray(spot, dtype=np.float64)
    if trigger.trigger == "ww":
        raw = ww_half_width_array(s, gamma_units_per_quote, k_fraction, trigger.risk_aversion_per_usd)
    elif trigger.trigger == "fixed":
        raw = np.full(np.broadcast(s, np.asarray(gamma_units_per_quote)).shape, trigger.band_units)
    else:
        raw = trigger.band_pct / 100.0 * np.abs(np.asarray(book_value_quote, dtype=np.float64)) / s
    out: FloatArray = np.minimum(np.maximum(raw, trigger.floor_units), trigger.ceiling_units)
    return out


def min_trade_ok_array(units: npt.ArrayLike, price: npt.ArrayLike, sizing: SizingConfig) -> npt.NDArray[np.bool_]:
    """True where ``units`` clears the minimum trade (``> 0``, ``>= min_trade_units``, ``>= min_trade_usd``)."""
    u = np.asarray(units, dtype=np.float64)
    ok: npt.NDArray[np.bool_] = (u > 0.0) & (u >= sizing.min_trade_units)
    return ok & (u * np.asarray(price, dtype=np.float64) >= sizing.min_trade_usd)


def units_within_array(cap_quote: npt.ArrayLike, price: npt.ArrayLike) -> FloatArray:
    """Vectorized ``_units_within``: the largest ``u ~ cap / price`` with ``u * price <= cap``."""
    cap, p = np.asarray(cap_quote, dtype=np.float64), np.asarray(price, dtype=np.float64)
    u: FloatArray = cap / p
    while np.any(over := u * p > cap):  # at most a step or two
        u = np.where(over, np.nextafter(u, 0.0), u)
    return u


def clip_size_array(needed_units: npt.ArrayLike, price: npt.ArrayLike, max_trade_quote: float,
                    window_left: npt.ArrayLike) -> FloatArray:
    """Vectorized ``clip_size(...).clip_units``: ``min(needed, max_trade / price, window_left / price)``."""
    by_trade, by_window = units_within_array(max_trade_quote, price), units_within_array(window_left, price)
    out: FloatArray = np.minimum(np.asarray(needed_units, dtype=np.float64), np.minimum(by_trade, by_window))
    return out


def hedge_needed_array(trigger: TriggerConfig, sizing: SizingConfig, target_units: float, delta_units: npt.ArrayLike,
                       spot: npt.ArrayLike, gamma_units_per_quote: npt.ArrayLike, book_value_quote: npt.ArrayLike,
                       k_fraction: npt.ArrayLike, elapsed_s: npt.ArrayLike, *,
                       price: npt.ArrayLike | None = None) -> FloatArray:
    """Unsigned amounts (units) ``decide_underlying`` sets out to hedge before its gates and clip: 0 inside
    the band (unless the time trigger is due) and where the amount misses the minimum trade.

    ``spot`` is the greeks' spot (the band's ``S``); ``price`` the oracle price money is measured at
    (``None``: ``spot``), as :func:`keeper.core.policy.decide_underlying` uses ``Exposure.spot`` and
    ``OracleView.feed_price``.
    """
    s = np.asarray(spot, dtype=np.float64)
    p = s if price is None else np.asarray(price, dtype=np.float64)
    dev = np.asarray(delta_units, dtype=np.float64) - target_units
    adev = np.abs(dev)
    h = band_half_width_array(trigger, s, gamma_units_per_quote, book_value_quote, k_fraction)
    outside = adev > h
    needed = np.where(outside, adev - h if sizing.hedge_to == "edge" else adev, 0.0)
    if not math.isinf(trigger.max_interval_s):
        due = ~outside & (np.asarray(elapsed_s, dtype=np.float64) >= trigger.max_interval_s)
        needed = np.where(due & min_trade_ok_array(adev, p, sizing), adev, needed)
    out: FloatArray = np.where(min_trade_ok_array(needed, p, sizing), needed, 0.0)
    return out


def hedge_trades_array(trigger: TriggerConfig, sizing: SizingConfig, target_units: float, delta_units: npt.ArrayLike,
                       spot: npt.ArrayLike, gamma_units_per_quote: npt.ArrayLike, book_value_quote: npt.ArrayLike,
                       k_fraction: npt.ArrayLike, elapsed_s: npt.ArrayLike, window_left: npt.ArrayLike, *,
                       price: npt.ArrayLike | None = None) -> FloatArray:
    """Signed clips (+ buy, - sell; units) of many books: ``decide_underlying`` with passing gates.

    ``spot`` is the greeks' spot and, unless ``price`` is given, the oracle price; band (``k_fraction``
    for ``ww``), band trigger to the edge or target, time trigger (``elapsed_s >= max_interval_s``;
    ``inf`` = never hedged), minimum trade, max-per-trade and window clip (``window_left``, quote).
    """
    s = np.asarray(spot, dtype=np.float64)
    p = s if price is None else np.asarray(price, dtype=np.float64)
    dev = np.asarray(delta_units, dtype=np.float64) - target_units
    needed = hedge_needed_array(trigger, sizing, target_units, delta_units, s,
                                gamma_units_per_quote, book_value_quote, k_fraction, elapsed_s, price=p)
    size = clip_size_array(needed, p, sizing.max_trade_usd, window_left)
    size = np.where(min_trade_ok_array(size, p, sizing), size, 0.0)
    out: FloatArray = np.where(dev > 0.0, -size, size) + 0.0
    return out
