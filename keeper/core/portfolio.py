"""Portfolio risk per underlying: greeks aggregation and a full-revaluation scenario grid.

Positions are small frozen dataclasses; every amount is in **human units** (1.0
= one ETH, one USDC), prices are quote currency per unit of underlying, and
all greeks are per the whole position (quantities already applied):

* ``delta``: units of underlying (dV/dS); ``delta_quote = delta * S``.
* ``gamma``: units of underlying per unit of price (d2V/dS2);
  ``gamma_quote = gamma * S^2 / 100`` is the change of ``delta_quote`` for a
  +1 % move ("cash gamma per 1 %").
* ``vega``: quote currency per 1.00 of volatility (per 100 vol points).
* ``theta``: quote currency per year (``/365`` per calendar day).

The scenario grid revalues every position in full at each shocked spot and
volatility -- an LP's or a short option's loss in a 20-30 % move is far larger
than ``delta dS + gamma dS^2 / 2`` suggests, and that gap is the point. The
second-order Taylor estimate is returned alongside for comparison.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
from numpy.typing import NDArray

from keeper.core.aave import LoanBook
from keeper.core.lp_math import lp_greeks
from keeper.core.options import bs_greeks, bs_price
from keeper.errors import InputError

__all__ = [
    "DEFAULT_SPOT_SHOCKS",
    "DEFAULT_VOL_SHOCKS",
    "LPPosition",
    "OptionPosition",
    "PerpPosition",
    "Position",
    "RiskSummary",
    "ScenarioGrid",
    "SpotHolding",
    "aggregate",
    "lp_risk",
    "scenario_grid",
]

FloatArray = NDArray[np.float64]

DEFAULT_SPOT_SHOCKS: Final = (-0.30, -0.20, -0.10, -0.05, -0.02, -0.01, 0.0,
                              0.01, 0.02, 0.05, 0.10, 0.20, 0.30)
"""Relative spot moves: S' = S (1 + shock)."""
DEFAULT_VOL_SHOCKS: Final = (-0.50, -0.25, 0.0, 0.25, 0.50)
"""Relative volatility moves: sigma' = sigma (1 + shock)."""


@dataclass(frozen=True, slots=True)
class OptionPosition:
    """A European option position valued with Black-Scholes-Merton.

    Attributes
    ----------
    underlying : asset symbol, e.g. "ETH".
    quantity : signed number of options, each on one unit of underlying (+ long).
    strike : quote currency per unit.
    expiry_years : time to expiry in years (<= 0: expired, intrinsic).
    is_call : True for a call, False for a put.
    vol : annualized volatility used for valuation (0.6 = 60 %).
    rate : continuously compounded rate per year.
    carry : carry/dividend yield per year (``b = rate - carry``).
    delta_adjustment : added to the Black-Scholes delta of one option, units of underlying per
        option: the smile-aware part of the delta flavour (:mod:`keeper.core.smile_delta`);
        0 for the plain Black-Scholes (sticky-strike) delta.
    """

    underlying: str
    quantity: float
    strike: float
    expiry_years: float
    is_call: bool
    vol: float
    rate: float = 0.0
    carry: float = 0.0
    delta_adjustment: float = 0.0


@dataclass(frozen=True, slots=True)
class LPPosition:
    """A Uniswap v3 liquidity position, priced at its own pool's price and marked at the spot.

    Model
    -----
    Let ``S`` be the spot (the feed: quote per unit of underlying) and ``b`` the position's
    ``basis``, the price of its own pool over the feed. The pool's price is ``P = b S`` and moves
    with the feed (``b`` held fixed). At pool price ``P`` the position would pay ``u(P)`` units of
    the underlying and ``q(P)`` units of quote (principal, from
    :func:`keeper.core.lp_math.lp_greeks`), plus its fees ``u_f``, ``q_f`` (constant in ``S``).
    The book marks the holdings at the spot::

        value(S) = (u(bS) + u_f) S + q(bS) + q_f                  quote units
        delta    = u(bS) + u_f                                    underlying units
        gamma    = d delta / dS = b u'(bS)                        underlying units per quote unit

    ``delta`` is the risky amount the position holds (what a full burn and collect pays), the
    hedge ratio the keeper offsets; ``u'(P)``, the second derivative of the pool-priced value
    ``u(P) P + q(P)``, is :attr:`keeper.core.lp_math.LPGreeks.gamma` at ``P`` (``-L / (2 P^1.5)`` in raw units when the
    underlying is token0; 0 out of range). With ``b = 1`` this is the position at the feed price.

    When ``amount_underlying`` / ``amount_quote`` are given they are the exact principal at pool
    price ``b * mark`` (integer v3 math, the chain's rounding), used instead of the floating-point
    ``u``, ``q`` whenever the spot equals ``mark``; at other spots (scenario shocks) the float model
    is used. Gamma always comes from the float model (the exact amounts are a step function).

    Attributes
    ----------
    underlying : symbol of the risky token of the pair.
    liquidity : raw liquidity ``L``.
    tick_lower, tick_upper : range ticks.
    underlying_is_token0 : whether the risky token sorts first in the pool.
    decimals0, decimals1 : token decimals.
    fees_underlying, fees_quote : uncollected fees, human units; part of the holding.
    basis : pool price / feed price of the position's own pool (dimensionless, > 0; 1.0 = at the feed).
    amount_underlying, amount_quote : exact principal at pool price ``basis * mark``, human units
        (both or neither, with ``mark``).
    mark : the spot (quote per unit) at which the exact amounts hold.
    """

    underlying: str
    liquidity: float
    tick_lower: int
    tick_upper: int
    underlying_is_token0: bool
    decimals0: int
    decimals1: int
    fees_underlying: float = 0.0
    fees_quote: float = 0.0
    basis: float = 1.0
    amount_underlying: float | None = None
    amount_quote: float | None = None
    mark: float | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.basis) and self.basis > 0.0):
            raise InputError("basis", f"must be finite and > 0 (got {self.basis})")
        given = [x is not None for x in (self.amount_underlying, self.amount_quote, self.mark)]
        if any(given) and not all(given):
            raise InputError("amount_underlying", "amount_underlying, amount_quote and mark go together")
        for name in ("amount_underlying", "amount_quote"):
            v = getattr(self, name)
            if v is not None and not (math.isfinite(v) and v >= 0.0):
                raise InputError(name, f"must be finite and >= 0 (got {v})")
        if self.mark is not None and not (math.isfinite(self.mark) and self.mark > 0.0):
            raise InputError("mark", f"must be finite and > 0 (got {self.mark})")

    def exact_at(self, spot: float) -> tuple[float, float] | None:
        """The exact ``(underlying, quote)`` principal when ``spot`` is the mark, else ``None``."""
        if self.mark is None or self.amount_underlying is None or self.amount_quote is None or spot != self.mark:
            return None
        return self.amount_underlying, self.amount_quote


@dataclass(frozen=True, slots=True)
class PerpPosition:
    """A linear perpetual future.

    Attributes
    ----------
    underlying : asset symbol.
    size : signed size in units of underlying (+ long).
    entry_price : average entry, quote per unit; value is the unrealized P&L ``size (S - entry)``.
    """

    underlying: str
    size: float
    entry_price: float


@dataclass(frozen=True, slots=True)
class SpotHolding:
    """Units of the underlying held outright (negative: borrowed).

    Attributes
    ----------
    underlying : asset symbol.
    amount : units of underlying.
    """

    underlying: str
    amount: float


Position = OptionPosition | LPPosition | PerpPosition | SpotHolding


@dataclass(frozen=True, slots=True)
class RiskSummary:
    """Aggregated risk of one underlying (units in the module docstring).

    Attributes
    ----------
    underlying : asset symbol.
    spot : quote per unit used.
    value : mark-to-model value, quote currency.
    delta : units of underlying.
    delta_quote : ``delta * spot``, quote currency.
    gamma : units of underlying per unit of price.
    gamma_quote : cash gamma per 1 % move, quote currency.
    vega : quote currency per 1.00 vol.
    theta : quote currency per year.
    """

    underlying: str
    spot: float
    value: float
    delta: float
    delta_quote: float
    gamma: float
    gamma_quote: float
    vega: float
    theta: float


@dataclass(frozen=True, slots=True)
class ScenarioGrid:
    """P&L of one underlying's positions under spot x vol shocks.

    Attributes
    ----------
    underlying : asset symbol.
    spot_shocks : relative spot moves (rows).
    vol_shocks : relative vol moves (columns).
    base_value : value at the unshocked state, quote currency.
    pnl : full-revaluation P&L, shape (len(spot_shocks), len(vol_shocks)), quote currency.
    taylor_pnl : ``delta dS + gamma dS^2/2 + vega dsigma`` estimate, same shape, for comparison.
    """

    underlying: str
    spot_shocks: tuple[float, ...]
    vol_shocks: tuple[float, ...]
    base_value: float
    pnl: FloatArray
    taylor_pnl: FloatArray
    health_factors: dict[str, FloatArray] = field(default_factory=dict)
    """Per Aave account (:attr:`LoanBook.label`) with a collateral or a debt in this underlying: its
    health factor at each shock, same shape as ``pnl`` (vol moves leave it unchanged; ``inf``: no debt)."""
    liquidation_prices: dict[str, float | None] = field(default_factory=dict)
    """Per such account: the underlying's price (quote per unit, others fixed) at which its health
    factor reaches 1 (below spot for a long account, above it for one short through debt); ``None``
    when no price of this underlying alone can bring it to 1."""

    @property
    def worst(self) -> float:
        """The most negative P&L in the grid (quote currency)."""
        return float(np.min(self.pnl))


def _spot_of(spots: Mapping[str, float], underlying: str) -> float:
    if underlying not in spots:
        raise InputError("spots", f"no spot price for {underlying!r}")
    s = float(spots[underlying])
    if not (math.isfinite(s) and s > 0):
        raise InputError("spots", f"spot of {underlying!r} must be finite and > 0 (got {s})")
    return s


def _group(positions: Iterable[Position]) -> dict[str, list[Position]]:
    groups: dict[str, list[Position]] = defaultdict(list)
    for p in positions:
        groups[p.underlying].append(p)
    return groups


def _options_arrays(opts: list[OptionPosition]) -> tuple[FloatArray, ...]:
    return tuple(np.array([getattr(o, f) for o in opts], dtype=np.float64)
                 for f in ("quantity", "strike", "expiry_years", "vol", "rate", "carry", "is_call"))


def _value(group: list[Position], spot: FloatArray, vol_mult: FloatArray) -> FloatArray:
    """Full value of a group at spots ``spot`` (shape (m, 1)) and vol multipliers (shape (1, k))."""
    total = np.zeros(np.broadcast_shapes(spot.shape, vol_mult.shape))
    opts = [p for p in group if isinstance(p, OptionPosition)]
    if opts:
        qty, k, t, vol, r, q, call = _options_arrays(opts)
        prices = bs_price(spot[..., None], k, t, vol * vol_mult[..., None], r, q, call.astype(bool))
        total = total + prices @ qty
    lps: dict[tuple[bool, int, int], list[LPPosition]] = defaultdict(list)
    for p in group:
        if isinstance(p, LPPosition):
            lps[(p.underlying_is_token0, p.decimals0, p.decimals1)].append(p)
        elif isinstance(p, PerpPosition):
            total = total + p.size * (spot - p.entry_price)
        elif isinstance(p, SpotHolding):
            total = total + p.amount * spot
    for (is0, d0, d1), items in lps.items():
        total = total + _lp_value(items, spot, is0, d0, d1)
    return np.asarray(total, dtype=np.float64)


def _lp_value(items: list[LPPosition], spot: FloatArray, is0: bool, d0: int, d1: int) -> FloatArray:
    """Float value at the spot of LPs of one orientation: ``(u(bS) + u_f) S + q(bS) + q_f`` summed.

    ``spot`` has any shape; the positions run along a new last axis that is summed away.
    """
    basis = np.array([p.basis for p in items])
    s = spot[..., None]
    g = lp_greeks(
        np.array([p.liquidity for p in items]), np.array([p.tick_lower for p in items]),
        np.array([p.tick_upper for p in items]), s * basis,
        underlying_is_token0=is0, decimals0=d0, decimals1=d1,
    )
    under, quote = (g.amount0, g.amount1) if is0 else (g.amount1, g.amount0)
    fees_u = np.array([p.fees_underlying for p in items])
    fees_q = np.array([p.fees_quote for p in items])
    return np.asarray(np.sum((under + fees_u) * s + quote + fees_q, axis=-1), dtype=np.float64)


def lp_risk(p: LPPosition, spot: float) -> tuple[float, float, float]:
    """``(value, delta, gamma)`` of one LP at spot ``spot`` (see :class:`LPPosition` for the model).

    value in quote units, delta in underlying units (the risky amount held, fees included), gamma
    in underlying units per quote unit. The exact amounts are used when ``spot`` is the mark.
    """
    lg = lp_greeks(p.liquidity, p.tick_lower, p.tick_upper, spot * p.basis,
                   underlying_is_token0=p.underlying_is_token0, decimals0=p.decimals0, decimals1=p.decimals1)
    exact = p.exact_at(spot)
    if exact is not None:
        under, quote = exact
    elif p.underlying_is_token0:
        under, quote = float(lg.amount0), float(lg.amount1)
    else:
        under, quote = float(lg.amount1), float(lg.amount0)
    delta = under + p.fees_underlying
    return delta * spot + quote + p.fees_quote, delta, p.basis * float(lg.gamma)


def _summary(underlying: str, group: list[Position], spot: float) -> RiskSummary:
    others: list[Position] = [p for p in group if not isinstance(p, LPPosition)]
    value = float(_value(others, np.array([[spot]]), np.array([[1.0]]))[0, 0])
    delta = gamma = vega = theta = 0.0
    opts = [p for p in group if isinstance(p, OptionPosition)]
    if opts:
        qty, k, t, vol, r, q, call = _options_arrays(opts)
        g = bs_greeks(spot, k, t, vol, r, q, call.astype(bool))
        delta += float(g.delta @ qty) + sum(o.quantity * o.delta_adjustment for o in opts)
        gamma += float(g.gamma @ qty)
        vega += float(g.vega @ qty)
        theta += float(g.theta @ qty)
    for p in group:
        if isinstance(p, LPPosition):
            lp_v, lp_d, lp_g = lp_risk(p, spot)
            value += lp_v
            delta += lp_d
            gamma += lp_g
        elif isinstance(p, PerpPosition):
            delta += p.size
        elif isinstance(p, SpotHolding):
            delta += p.amount
    return RiskSummary(underlying, spot, value, delta, delta * spot, gamma, gamma * spot * spot / 100.0,
                       vega, theta)


def aggregate(positions: Iterable[Position], spots: Mapping[str, float]) -> dict[str, RiskSummary]:
    """Value and greeks per underlying.

    Parameters
    ----------
    positions : iterable of Position
        Options, LPs, perps and spot holdings, any underlyings.
    spots : mapping
        Quote price per unit of each underlying present.

    Returns
    -------
    dict
        ``{underlying: RiskSummary}``.

    Raises
    ------
    InputError
        A missing or invalid spot, or invalid position fields.
    """
    return {u: _summary(u, g, _spot_of(spots, u)) for u, g in sorted(_group(positions).items())}


def scenario_grid(
    positions: Iterable[Position], spots: Mapping[str, float],
    spot_shocks: tuple[float, ...] = DEFAULT_SPOT_SHOCKS,
    vol_shocks: tuple[float, ...] = DEFAULT_VOL_SHOCKS,
    loans: Sequence[LoanBook] = (),
) -> dict[str, ScenarioGrid]:
    """Full-revaluation P&L per underlying under relative spot and vol shocks.

    Each underlying is shocked on its own (a grid per underlying); time is held
    fixed. ``S' = S (1 + spot_shock)``, ``sigma' = sigma (1 + vol_shock)``. Each Aave account of
    ``loans`` exposed to the underlying adds its health factor at every shock (its oracle price moved
    by the same relative shock) and that collateral's liquidation price.

    Raises
    ------
    InputError
        A spot shock ``<= -1`` or a vol shock ``< -1``, or as :func:`aggregate`.
    """
    ss = np.asarray(spot_shocks, dtype=np.float64)
    vs = np.asarray(vol_shocks, dtype=np.float64)
    if ss.ndim != 1 or not ss.size or not np.all(np.isfinite(ss)) or np.min(ss) <= -1.0:
        raise InputError("spot_shocks", "must be a non-empty sequence of finite values > -1")
    if vs.ndim != 1 or not vs.size or not np.all(np.isfinite(vs)) or np.min(vs) < -1.0:
        raise InputError("vol_shocks", "must be a non-empty sequence of finite values >= -1")
    out: dict[str, ScenarioGrid] = {}
    for u, group in sorted(_group(positions).items()):
        s0 = _spot_of(spots, u)
        base = float(_value(group, np.array([[s0]]), np.array([[1.0]]))[0, 0])
        shocked = _value(group, (s0 * (1.0 + ss))[:, None], (1.0 + vs)[None, :])
        risk = _summary(u, group, s0)
        ds = (s0 * ss)[:, None]
        vol_move = _vega_weighted_vol_move(group, s0, vs)
        taylor = risk.delta * ds + 0.5 * risk.gamma * ds * ds + vol_move[None, :]
        hfs: dict[str, FloatArray] = {}
        liq: dict[str, float | None] = {}
        for loan in loans:
            if u not in loan.underlyings():
                continue
            col = np.array([loan.health_factor_at({u: 1.0 + x}) for x in ss], dtype=np.float64)
            hfs[loan.label] = np.repeat(col[:, None], vs.size, axis=1)
            liq[loan.label] = loan.liquidation_price(u)
        out[u] = ScenarioGrid(u, tuple(float(x) for x in ss), tuple(float(x) for x in vs), base,
                              np.asarray(shocked - base, dtype=np.float64),
                              np.asarray(taylor, dtype=np.float64), hfs, liq)
    return out


def _vega_weighted_vol_move(group: list[Position], spot: float, vs: FloatArray) -> FloatArray:
    """``sum_i q_i vega_i sigma_i * shock`` for each relative vol shock (first-order vol P&L)."""
    opts = [p for p in group if isinstance(p, OptionPosition)]
    if not opts:
        return np.zeros(vs.size)
    qty, k, t, vol, r, q, call = _options_arrays(opts)
    g = bs_greeks(spot, k, t, vol, r, q, call.astype(bool))
    return np.asarray(float((g.vega * vol) @ qty) * vs, dtype=np.float64)
