"""The simulated book: options, Uniswap v3 LPs, perps and spot, revalued along whole path matrices.

* Options decay: each step is a Black-Scholes revaluation (:func:`keeper.core.options.bs_greeks`)
  at the remaining time to expiry and the leg's volatility. At expiry a leg settles in cash at
  the intrinsic value of the first grid price at or after expiry; from then on its value is
  frozen and its delta and gamma are 0.
* LPs are revalued with exact v3 position math (:func:`keeper.core.lp_math.lp_greeks`): value,
  delta (the underlying held) and gamma (``-L / (2 S^1.5)`` in range, 0 outside); a leg with a
  ``basis`` is priced at its own pool's price ``basis S`` and marked at ``S``. Fee income,
  when a leg has ``fee_vol``, accrues while in range at ``fee_vol^2 / 4 * L * sqrtS`` per year
  (human units): the fee yield that breaks even with loss-versus-rebalancing at volatility
  ``fee_vol`` -- the LP's "theta", as an option's time decay pays for its gamma. The LVR
  itself is measured separately by the engine.
* Perps: value ``size (S - entry)``, delta ``size``; funding is paid each step on the
  notional at the step's start, ``-size S rate dt`` (a positive rate: longs pay).

Units: quote for values, underlying units for delta, underlying per quote for gamma.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from keeper.backtest.paths import YEAR_S
from keeper.core.lp_math import lp_greeks
from keeper.core.options import bs_greeks
from keeper.errors import InputError

__all__ = ["Book", "BookMarks", "LPLeg", "OptionLeg", "PerpLeg", "book_from_dict", "settle", "standard_book"]

FloatArray = npt.NDArray[np.float64]
_HALF_LN_1_0001 = 0.5 * math.log(1.0001)


@dataclass(frozen=True, slots=True)
class OptionLeg:
    """``quantity`` (signed, + long) European options; ``expiry_s`` seconds from the start; ``vol`` annual."""

    quantity: float
    strike: float
    expiry_s: float
    is_call: bool
    vol: float
    rate: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.quantity) and math.isfinite(self.strike) and self.strike > 0.0):
            raise InputError("option", f"quantity must be finite and strike > 0, got {self.quantity}, {self.strike}")
        if not (math.isfinite(self.vol) and self.vol > 0.0 and math.isfinite(self.expiry_s)):
            raise InputError("option", f"vol must be > 0 and expiry finite, got {self.vol}, {self.expiry_s}")


@dataclass(frozen=True, slots=True)
class LPLeg:
    """A Uniswap v3 position: raw ``liquidity`` on ``[tick_lower, tick_upper]`` (see :func:`lp_greeks`).

    ``basis`` is its own pool's price over the simulated (feed) price, held fixed: the position is
    priced at the pool price ``basis * S`` and its holdings marked at ``S``, as the keeper values a
    read LP (:class:`keeper.core.portfolio.LPPosition`); 1.0 prices it at ``S``.
    """

    liquidity: float
    tick_lower: int
    tick_upper: int
    underlying_is_token0: bool = True
    decimals0: int = 18
    decimals1: int = 18
    fee_vol: float = 0.0
    basis: float = 1.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fee_vol) and self.fee_vol >= 0.0):
            raise InputError("lp", f"fee_vol must be finite and >= 0, got {self.fee_vol!r}")
        if not (math.isfinite(self.basis) and self.basis > 0.0):
            raise InputError("lp", f"basis must be finite and > 0, got {self.basis!r}")
        if not (math.isfinite(self.liquidity) and self.liquidity >= 0.0 and self.tick_lower < self.tick_upper):
            raise InputError("lp", f"need liquidity >= 0 and tick_lower < tick_upper, got {self}")

    @property
    def human_liquidity(self) -> float:
        """``L`` in human units, ``L_raw / 10^((d0 + d1) / 2)`` (``amount0 = L / sqrtS`` ... in human units)."""
        return float(self.liquidity / 10.0 ** ((self.decimals0 + self.decimals1) / 2.0))

    def marks(self, spots: FloatArray | float) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
        """``(value, delta, gamma, fee_gamma_s2)`` at the simulated prices ``spots``.

        The position is priced at the pool price ``P = basis S`` and its holdings ``u(P)``, ``q(P)``
        marked at ``S``: value ``u S + q``, delta ``u``, gamma ``basis u'(P)``. ``fee_gamma_s2`` is
        ``-u'(P) P^2`` (``L sqrtP / 2`` in range, human units), the fee accrual's base in the pool.
        """
        s = np.asarray(spots, dtype=np.float64)
        p = s * self.basis
        lg = lp_greeks(self.liquidity, self.tick_lower, self.tick_upper, p,
                       underlying_is_token0=self.underlying_is_token0, decimals0=self.decimals0,
                       decimals1=self.decimals1)
        value = np.asarray(lg.value, dtype=np.float64)
        delta = np.asarray(lg.delta, dtype=np.float64)
        gamma = np.asarray(lg.gamma, dtype=np.float64)
        if self.basis != 1.0:
            value = value + delta * (s - p)
        return value, delta, self.basis * gamma, -gamma * p * p

    @classmethod
    def around(cls, spot: float, value_quote: float, width: float, *, decimals: tuple[int, int] = (18, 18),
               fee_vol: float = 0.0) -> LPLeg:
        """An LP worth ``value_quote`` on ``[spot / (1 + width), spot (1 + width)]`` (underlying = token0)."""
        d0, d1 = decimals
        c = 10.0 ** (d1 - d0)
        lo = math.floor(math.log(spot * c / (1.0 + width)) / (2 * _HALF_LN_1_0001))
        hi = math.ceil(math.log(spot * c * (1.0 + width)) / (2 * _HALF_LN_1_0001))
        unit = float(lp_greeks(1.0, lo, hi, spot, decimals0=d0, decimals1=d1).value)
        return cls(value_quote / unit, lo, hi, True, d0, d1, fee_vol)


@dataclass(frozen=True, slots=True)
class PerpLeg:
    """A perp of signed ``size`` (underlying units) entered at ``entry_price``; funding per second (+ longs pay)."""

    size: float
    entry_price: float
    funding_rate_per_second: float = 0.0


@dataclass(frozen=True, slots=True)
class BookMarks:
    """The book along the paths, each ``(n_steps + 1, n_paths)`` except the cash flows ``funding``
    (perps, paid) and ``fees`` (LPs, earned), ``(n_steps, n_paths)`` each.

    ``lp_value``, ``lp_delta`` and ``lp_gamma`` are the LPs' part, for the loss-versus-rebalancing measure.
    """

    value: FloatArray
    delta: FloatArray
    gamma: FloatArray
    funding: FloatArray
    fees: FloatArray
    lp_value: FloatArray
    lp_delta: FloatArray
    lp_gamma: FloatArray


@dataclass(frozen=True, slots=True)
class Book:
    """The positions of one underlying (the hedge itself is kept by the engine, not here)."""

    underlying: str = "ETH"
    options: tuple[OptionLeg, ...] = ()
    lps: tuple[LPLeg, ...] = ()
    perps: tuple[PerpLeg, ...] = ()
    spot_units: float = 0.0
    description: str = ""
    cash: float = 0.0
    """Quote held with the positions, constant (an LP's uncollected quote fees): part of the value only."""

    def __post_init__(self) -> None:
        if not (self.options or self.lps or self.perps or self.spot_units):
            raise InputError("book", "is empty: give at least one option, LP, perp or spot holding")
        if not math.isfinite(self.cash):
            raise InputError("book", f"cash must be finite, got {self.cash!r}")

    def gross_value(self, spot: float) -> float:
        """A scale for risk aversions and bands: ``|LP value| + |option notional| + |perp notional|``, quote."""
        lp = sum(float(x.marks(spot)[0]) for x in self.lps)
        return lp + spot * (sum(abs(o.quantity) for o in self.options) + sum(abs(p.size) for p in self.perps)
                            + abs(self.spot_units))

    def lp_liquidity_human(self) -> float:
        """Total human-unit ``L`` of the LP legs."""
        return sum(x.human_liquidity for x in self.lps)

    def revalue(self, spots: FloatArray, seconds: FloatArray, *, options: bool = True) -> BookMarks:
        """Value, delta and gamma of the whole book at every grid point of every path.

        ``options=False`` leaves the option legs out (the Heston marks of
        :mod:`keeper.backtest.flavours` add them).
        """
        s = np.asarray(spots, dtype=np.float64)
        t = np.asarray(seconds, dtype=np.float64)[:, None]
        value = np.full_like(s, self.spot_units) * s + self.cash
        delta = np.full_like(s, self.spot_units)
        gamma = np.zeros_like(s)
        for o in self.options if options else ():
            tau = (o.expiry_s - t) / YEAR_S
            g = bs_greeks(s, o.strike, np.maximum(tau, 0.0), o.vol, o.rate, 0.0, o.is_call)
            live = np.broadcast_to(tau > 0.0, s.shape)
            value += o.quantity * settle(o, s, t[:, 0], live, g.price)
            delta += o.quantity * np.where(live, g.delta, 0.0)
            gamma += o.quantity * np.where(live, g.gamma, 0.0)
        lp_value = np.zeros_like(s)
        lp_delta = np.zeros_like(s)
        lp_gamma = np.zeros_like(s)
        dt = np.diff(t[:, 0])[:, None]
        fees = np.zeros((s.shape[0] - 1, s.shape[1]))
        for x in self.lps:
            lv, ld, lgam, fee_base = x.marks(s)
            lp_value += lv
            lp_delta += ld
            lp_gamma += lgam
            if x.fee_vol > 0.0:  # -gamma P^2 / 2 = L sqrtP / 4 in range, 0 outside (any orientation)
                fees += 0.5 * fee_base[:-1] * x.fee_vol**2 * dt / YEAR_S
        value += lp_value
        delta += lp_delta
        gamma += lp_gamma
        funding = np.zeros((s.shape[0] - 1, s.shape[1]))
        for p in self.perps:
            value += p.size * (s - p.entry_price)
            delta += p.size
            funding -= p.size * s[:-1] * p.funding_rate_per_second * dt
        return BookMarks(value, delta, gamma, funding, fees, lp_value, lp_delta, lp_gamma)


def settle(leg: OptionLeg, spots: FloatArray, seconds: FloatArray, live: npt.NDArray[np.bool_],
           price: FloatArray) -> FloatArray:
    """``price`` while live; from expiry on, the intrinsic value at the first grid price at or after expiry."""
    settle_row = int(np.searchsorted(seconds, leg.expiry_s))
    if settle_row >= spots.shape[0]:
        return price
    w = 1.0 if leg.is_call else -1.0
    payoff = np.maximum(w * (spots[settle_row] - leg.strike), 0.0)
    out: FloatArray = np.where(live, price, payoff[None, :])
    return out


def standard_book(spot: float = 3000.0, vol: float = 0.6, *, calls: float = 100.0, lp_value_quote: float = 300_000.0,
                  lp_width: float = 0.10, days: float = 30.0) -> Book:
    """The benchmark book: ``calls`` short ``days``-day ATM calls plus a narrow (+/- ``lp_width``) in-range LP.

    Options are priced at ``vol``; the LP earns fees that break even with its LVR at ``vol``.
    """
    return Book(
        "ETH",
        options=(OptionLeg(-calls, spot, days * 86_400.0, True, vol),),
        lps=(LPLeg.around(spot, lp_value_quote, lp_width, fee_vol=vol),),
        description=f"short {calls:g} {days:g}-day ATM calls + LP ${lp_value_quote:,.0f} at +/-{lp_width:.0%}",
    )


def _num(d: dict[str, Any], key: str, where: str, default: float | None = None) -> float:
    if key not in d:
        if default is None:
            raise InputError("book", f"{where}: missing {key!r}")
        return default
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise InputError("book", f"{where}: {key} must be a finite number, got {v!r}")
    return float(v)


def book_from_dict(data: dict[str, Any], *, spot: float, vol: float, underlying: str = "ETH") -> Book:
    """A book from JSON-like data: ``{"options": [...], "lps": [...], "perps": [...], "spot_units": x}``.

    Option: ``quantity``, ``strike`` (default ATM), ``expiry_days``, ``type`` (call/put), ``vol``
    (default the model's). LP: ``value_usd`` and ``width`` (fraction) around spot, or raw
    ``liquidity``, ``tick_lower``, ``tick_upper`` (+ ``decimals0/1``, ``underlying_is_token0``).
    Perp: ``size``, ``entry_price`` (default spot), ``funding_rate_per_second``.
    """
    opts: list[OptionLeg] = []
    for i, o in enumerate(data.get("options", [])):
        w = f"options[{i}]"
        kind = str(o.get("type", "call")).lower()
        if kind not in ("call", "put"):
            raise InputError("book", f"{w}: type must be call or put, got {kind!r}")
        opts.append(OptionLeg(_num(o, "quantity", w), _num(o, "strike", w, spot), _num(o, "expiry_days", w) * 86_400.0,
                              kind == "call", _num(o, "vol", w, vol)))
    lps: list[LPLeg] = []
    for i, x in enumerate(data.get("lps", [])):
        w = f"lps[{i}]"
        if "value_usd" in x:
            lps.append(LPLeg.around(spot, _num(x, "value_usd", w), _num(x, "width", w, 0.1)))
        else:
            lps.append(LPLeg(_num(x, "liquidity", w), int(_num(x, "tick_lower", w)), int(_num(x, "tick_upper", w)),
                             bool(x.get("underlying_is_token0", True)), int(_num(x, "decimals0", w, 18)),
                             int(_num(x, "decimals1", w, 18))))
    perps = [PerpLeg(_num(p, "size", f"perps[{i}]"), _num(p, "entry_price", f"perps[{i}]", spot),
                     _num(p, "funding_rate_per_second", f"perps[{i}]", 0.0))
             for i, p in enumerate(data.get("perps", []))]
    return Book(underlying, tuple(opts), tuple(lps), tuple(perps), _num(data, "spot_units", "book", 0.0),
                description=str(data.get("description", "from file")))
