"""LP fees earned against loss-versus-rebalancing (LVR), and perp funding, between two journaled cycles.

Pure: marks of the book at one block in (:class:`LpMark`, :class:`PerpMark`, built from the cycle's
:class:`~keeper.core.book.BookRisk` lines and its snapshot), one interval's figures out.

Loss-versus-rebalancing
-----------------------
Milionis, Moallemi, Roughgarden and Zhang, *Automated Market Making and Loss-Versus-Rebalancing*
(arXiv:2208.06046, 2022). An AMM whose risky holding at price ``P`` is ``x*(P)`` loses, against a
portfolio that holds the same ``x*(P_t)`` at every instant but trades at the market price, at the
instantaneous rate (their Theorem 1, for a price following ``dP = sigma P dB``)::

    l(sigma, P) = sigma^2 P^2 / 2 * |x*'(P)|                 quote per unit time

For a Uniswap v3 position of liquidity ``L`` on ``[p_a, p_b]`` (prices of the risky token in the
quote token, raw units), in range ``x*(P) = L (1/sqrt(P) - 1/sqrt(p_b))``, so ``|x*'(P)| = L / (2 P^1.5)``
and (the paper's concentrated-liquidity example)::

    l(sigma, P) = sigma^2 / 4 * L * sqrt(P)        for p_a < P < p_b, 0 outside

in raw quote units per unit of time of ``sigma^2``. For the whole range the pool's value is
``V(P) = 2 L sqrt(P)``, giving the paper's constant-product form ``l = sigma^2 / 8 * V(P)``
(:func:`full_range_lvr_rate`): the ``sigma^2 / 8`` is per unit of the pool's value, not per ``L sqrt(P)``.

Realized LVR over a step from cycle ``a`` to cycle ``b`` (:func:`discrete_lvr`) is the rebalancing
portfolio's P&L (holding ``x_a`` over the step, bought at ``P_a``) minus the LP's change of value::

    LVR_ab = x_a (P_b - P_a) - (V_b - V_a)   with V = x P + y (principal, no fees)

which equals the brief's "the previous amounts marked to the new price minus the LP's new value"
(``x_a P_b + y_a - V_b``). Summed over finer and finer steps it converges to ``integral l dt``
(checked on simulated GBM paths in the unit tests). Prices are the LP's own pool's (the price its
amounts follow), quote per unit of the risky token.

Fees earned over the step are ``L * (feeGrowthInside_b - feeGrowthInside_a) / 2^128`` per token (the
pool's fee growth inside the range, modulo 2^256): independent of collects, so fees collected between
the cycles are counted, and equal to the growth of ``collect``'s amounts when nothing was collected.
A step across which the position's liquidity or range changed is not comparable (a deposit or a
withdrawal is neither a fee nor LVR) and is left out (:func:`lp_step` says why).

Perp funding
------------
``PerpMarket`` charges ``ceil((fundingIndex - lastFundingIndex) * size / 10^(36 - quote decimals))``
(``accruedFunding``; positive = the account pays) and settles it into margin at every
``modifyPosition``, which moves ``lastFundingIndex`` to the index of that block. Between two marks the
funding paid is therefore the accrual at ``b`` minus the accrual at ``a``, plus, when the position was
modified in between, what that modification settled: ``ceil((last_b - last_a) * size_a / unit)``
(:func:`perp_funding_step`; exact for at most one modification between the marks, which is what one
keeper cycle sends per market).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from keeper.core.book import BookLine, LpLine, PerpLine
from keeper.core.lp_math import fee_growth_inside
from keeper.core.snapshot import Snapshot
from keeper.core.tick_math import Q128, UINT256_MAX, mul_div
from keeper.errors import InputError

__all__ = [
    "LpMark",
    "LpStep",
    "PerpMark",
    "cycle_marks",
    "discrete_lvr",
    "full_range_lvr_rate",
    "funding_accrued_usd",
    "lp_mark",
    "lp_step",
    "lvr_rate",
    "perp_accrued_funding",
    "perp_funding_step",
    "range_amounts",
]

SECONDS_PER_YEAR = 365.0 * 86_400.0
_Q96 = 2**96


def lvr_rate(sigma: float, liquidity: float, sqrt_price: float) -> float:
    """The in-range LVR rate of a v3 position, ``sigma^2 / 4 * L * sqrt(P)`` (module docstring).

    ``sigma`` per square root of the time unit (annualized: per year), ``L`` and ``sqrt(P)`` in raw
    units of the same pair; the result is raw quote per time unit. The caller applies the range
    (0 outside it)."""
    if not (math.isfinite(sigma) and sigma >= 0.0):
        raise InputError("sigma", f"expected a finite volatility >= 0, got {sigma!r}")
    if not (math.isfinite(liquidity) and liquidity >= 0.0):
        raise InputError("liquidity", f"expected a finite liquidity >= 0, got {liquidity!r}")
    if not (math.isfinite(sqrt_price) and sqrt_price > 0.0):
        raise InputError("sqrt_price", f"expected a finite square-root price > 0, got {sqrt_price!r}")
    return sigma * sigma / 4.0 * liquidity * sqrt_price


def full_range_lvr_rate(sigma: float, value: float) -> float:
    """The constant-product pool's LVR rate, ``sigma^2 / 8 * V`` (Milionis et al. 2022), quote per time unit."""
    if not (math.isfinite(sigma) and sigma >= 0.0):
        raise InputError("sigma", f"expected a finite volatility >= 0, got {sigma!r}")
    return sigma * sigma / 8.0 * value


def range_amounts(liquidity: float, price: float, price_lower: float, price_upper: float) -> tuple[float, float]:
    """Risky and quote amounts ``(x, y)`` of liquidity ``L`` on ``[p_a, p_b]`` at price ``P`` (floats, raw units):
    ``x = L (1/sqrt(P') - 1/sqrt(p_b))``, ``y = L (sqrt(P') - sqrt(p_a))`` with ``P'`` = ``P`` clipped to the range."""
    if not 0.0 < price_lower < price_upper:
        raise InputError("price_lower", f"expected 0 < price_lower < price_upper, got {price_lower!r}, {price_upper!r}")
    if not (math.isfinite(price) and price > 0.0):
        raise InputError("price", f"expected a finite price > 0, got {price!r}")
    p = min(max(price, price_lower), price_upper)
    s = math.sqrt(p)
    return liquidity * (1.0 / s - 1.0 / math.sqrt(price_upper)), liquidity * (s - math.sqrt(price_lower))


def discrete_lvr(x_a: float, y_a: float, price_a: float, x_b: float, y_b: float, price_b: float) -> float:
    """Realized LVR of one step: ``x_a (P_b - P_a) - (V_b - V_a)`` with ``V = x P + y`` (quote units)."""
    return x_a * (price_b - price_a) - ((x_b * price_b + y_b) - (x_a * price_a + y_a))


@dataclass(frozen=True)
class LpMark:
    """One LP position at one cycle's block, as journaled (``keeper report`` attributes fees and LVR from it).

    Attributes
    ----------
    token_id, owner, pool, underlying : the position, its pool and the symbol of its risky token.
    underlying_is_token0 : whether the risky token sorts first in the pool.
    liquidity, tick_lower, tick_upper : the position (raw liquidity).
    pool_tick, sqrt_price_x96 : the pool's ``slot0`` at the block.
    price : the risky token's price in its own pool, quote per unit (human units).
    decimals_underlying, decimals_quote : token decimals.
    principal_underlying_raw, principal_quote_raw : what a full ``decreaseLiquidity`` pays, raw units
        (``principal_underlying`` / ``principal_quote``: the same in human units).
    fees_underlying_raw, fees_quote_raw : uncollected fees (what ``collect`` pays), raw units
        (``fees_underlying`` / ``fees_quote``: human units).
    fee_growth_inside0_x128, fee_growth_inside1_x128 : the pool's fee growth inside the range now
        (``Tick.getFeeGrowthInside``), Q128.128, meaningful as differences modulo 2^256.
    """

    token_id: int
    owner: str
    pool: str
    underlying: str
    underlying_is_token0: bool
    liquidity: int
    tick_lower: int
    tick_upper: int
    pool_tick: int
    sqrt_price_x96: int
    price: float
    decimals_underlying: int
    decimals_quote: int
    principal_underlying_raw: int
    principal_quote_raw: int
    fees_underlying_raw: int
    fees_quote_raw: int
    fee_growth_inside0_x128: int
    fee_growth_inside1_x128: int

    @property
    def principal_underlying(self) -> float:
        return self.principal_underlying_raw / float(10**self.decimals_underlying)

    @property
    def principal_quote(self) -> float:
        return self.principal_quote_raw / float(10**self.decimals_quote)

    @property
    def fees_underlying(self) -> float:
        return self.fees_underlying_raw / float(10**self.decimals_underlying)

    @property
    def fees_quote(self) -> float:
        return self.fees_quote_raw / float(10**self.decimals_quote)

    @property
    def in_range(self) -> bool:
        return self.tick_lower <= self.pool_tick < self.tick_upper

    @property
    def principal_value(self) -> float:
        """``x P + y`` at the pool's own price, quote units (no fees)."""
        return self.principal_underlying * self.price + self.principal_quote

    def lvr_rate_per_year(self, sigma: float) -> float:
        """The model LVR rate at annualized vol ``sigma`` now, quote units per year (0 out of range)."""
        if not self.in_range or self.liquidity == 0:
            return 0.0
        # sqrt of the risky token's price in raw quote units per raw risky unit
        root = self.sqrt_price_x96 / _Q96 if self.underlying_is_token0 else _Q96 / self.sqrt_price_x96
        return lvr_rate(sigma, float(self.liquidity), root) / float(10**self.decimals_quote)


def lp_mark(*, token_id: int, owner: str, pool: str, underlying: str, underlying_is_token0: bool, liquidity: int,
            tick_lower: int, tick_upper: int, pool_tick: int, sqrt_price_x96: int, price: float,
            decimals0: int, decimals1: int, principal0: int, principal1: int, fees0: int, fees1: int,
            fee_growth_global0_x128: int, fee_growth_global1_x128: int, lower_outside0_x128: int,
            lower_outside1_x128: int, upper_outside0_x128: int, upper_outside1_x128: int) -> LpMark:
    """An :class:`LpMark` from the raw figures of a position, its pool and its boundary ticks."""
    inside0, inside1 = fee_growth_inside(pool_tick, tick_lower, tick_upper, fee_growth_global0_x128,
                                         fee_growth_global1_x128, lower_outside0_x128, lower_outside1_x128,
                                         upper_outside0_x128, upper_outside1_x128)
    if underlying_is_token0:
        du, dq, pu, pq, fu, fq = decimals0, decimals1, principal0, principal1, fees0, fees1
    else:
        du, dq, pu, pq, fu, fq = decimals1, decimals0, principal1, principal0, fees1, fees0
    return LpMark(token_id, owner, pool, underlying, underlying_is_token0, liquidity, tick_lower, tick_upper,
                  pool_tick, sqrt_price_x96, price, du, dq, pu, pq, fu, fq, inside0, inside1)


@dataclass(frozen=True)
class LpStep:
    """One LP position between two cycles, quote units (USD in the report).

    ``fees`` earned (valued at the end's pool price), realized ``lvr`` (:func:`discrete_lvr`) and
    ``model_lvr``, the rate ``sigma^2/4 L sqrt(P)`` at the start times the step's length (``None``
    without a vol). ``comparable`` is False, and the figures 0, when the liquidity or range changed
    (``why`` says which)."""

    token_id: int
    underlying: str
    start: int
    end: int
    fees: float
    fees_underlying: float
    fees_quote: float
    lvr: float
    model_lvr: float | None
    comparable: bool = True
    why: str = ""

    @property
    def net(self) -> float:
        """Fees earned minus realized LVR."""
        return self.fees - self.lvr


def lp_step(a: LpMark, b: LpMark, start: int, end: int, sigma: float | None = None) -> LpStep:
    """Fees against LVR of one position between marks ``a`` (block time ``start``) and ``b`` (``end``)."""
    if a.token_id != b.token_id or a.pool.lower() != b.pool.lower():
        raise InputError("lp_step", f"marks of different positions ({a.token_id} in {a.pool}, "
                                    f"{b.token_id} in {b.pool})")
    if end < start:
        raise InputError("end", f"must not be before start (got {start} .. {end})")
    changed = []
    if a.liquidity != b.liquidity:
        changed.append(f"liquidity {a.liquidity} -> {b.liquidity}")
    if (a.tick_lower, a.tick_upper) != (b.tick_lower, b.tick_upper):
        changed.append(f"range [{a.tick_lower}, {a.tick_upper}) -> [{b.tick_lower}, {b.tick_upper})")
    if changed:
        return LpStep(a.token_id, a.underlying, start, end, 0.0, 0.0, 0.0, 0.0, None, False, "; ".join(changed))
    raw = [mul_div((gb - ga) & UINT256_MAX, a.liquidity, Q128)
           for ga, gb in ((a.fee_growth_inside0_x128, b.fee_growth_inside0_x128),
                          (a.fee_growth_inside1_x128, b.fee_growth_inside1_x128))]
    raw_u, raw_q = (raw[0], raw[1]) if a.underlying_is_token0 else (raw[1], raw[0])
    fu, fq = raw_u / 10**a.decimals_underlying, raw_q / 10**a.decimals_quote
    lvr = discrete_lvr(a.principal_underlying, a.principal_quote, a.price,
                       b.principal_underlying, b.principal_quote, b.price)
    model = None if sigma is None else a.lvr_rate_per_year(sigma) * (end - start) / SECONDS_PER_YEAR
    return LpStep(a.token_id, a.underlying, start, end, fu * b.price + fq, fu, fq, lvr, model)


@dataclass(frozen=True)
class PerpMark:
    """A perp position at one cycle's block (``PerpMarket.positions`` and ``fundingIndex``)."""

    market: str
    account: str
    underlying: str
    size: int
    """Signed, 1e18 units of the underlying."""
    last_funding_index: int
    funding_index: int
    """The market's ``fundingIndex()`` at the block (accrual included), 1e18 quote per underlying."""
    quote_decimals: int

    @property
    def accrued_raw(self) -> int:
        """``accruedFunding(account)``: funding owed now, raw quote (positive = the account pays)."""
        return perp_accrued_funding(self.size, self.funding_index, self.last_funding_index, self.quote_decimals)


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def perp_accrued_funding(size: int, funding_index: int, last_funding_index: int, quote_decimals: int) -> int:
    """``PerpMarket._fundingOwed``: ``ceil((index - last) * size / 10^(36 - quote decimals))``, raw quote."""
    if not 0 <= quote_decimals <= 36:
        raise InputError("quote_decimals", f"expected 0..36, got {quote_decimals}")
    return _ceil_div((funding_index - last_funding_index) * size, 10 ** (36 - quote_decimals))


def perp_funding_step(a: PerpMark, b: PerpMark) -> int:
    """Funding the position paid between marks ``a`` and ``b``, raw quote (negative = received); see the module
    docstring for the settlement at a modification between them."""
    if (a.market.lower(), a.account.lower()) != (b.market.lower(), b.account.lower()):
        raise InputError("perp_funding_step", f"marks of different positions ({a.market}/{a.account}, "
                                              f"{b.market}/{b.account})")
    settled = 0
    if b.last_funding_index != a.last_funding_index or b.size != a.size:
        settled = perp_accrued_funding(a.size, b.last_funding_index, a.last_funding_index, a.quote_decimals)
    return settled + b.accrued_raw - a.accrued_raw


def cycle_marks(snap: Snapshot, lines: Sequence[BookLine]) -> tuple[tuple[LpMark, ...], tuple[PerpMark, ...]]:
    """The LP and perp marks of a cycle: every LP line of the book (:class:`~keeper.core.book.BookRisk` ``lines``)
    with its pool's fee growth inside, and every perp line with its market's funding index."""
    lps: list[LpMark] = []
    perps: list[PerpMark] = []
    for line in lines:
        if isinstance(line, LpLine):
            lp, pool = line.lp, snap.pools[line.lp.pool]
            lo, hi = pool.ticks[lp.tick_lower], pool.ticks[lp.tick_upper]
            h = line.holding
            lps.append(lp_mark(
                token_id=lp.token_id, owner=lp.owner, pool=lp.pool, underlying=line.underlying,
                underlying_is_token0=line.underlying_is_token0, liquidity=lp.liquidity, tick_lower=lp.tick_lower,
                tick_upper=lp.tick_upper, pool_tick=pool.tick, sqrt_price_x96=pool.sqrt_price_x96,
                price=line.pool_price, decimals0=line.position.decimals0, decimals1=line.position.decimals1,
                principal0=h.principal0, principal1=h.principal1, fees0=h.fees0, fees1=h.fees1,
                fee_growth_global0_x128=pool.fee_growth_global0_x128,
                fee_growth_global1_x128=pool.fee_growth_global1_x128,
                lower_outside0_x128=lo.fee_growth_outside0_x128, lower_outside1_x128=lo.fee_growth_outside1_x128,
                upper_outside0_x128=hi.fee_growth_outside0_x128, upper_outside1_x128=hi.fee_growth_outside1_x128))
        elif isinstance(line, PerpLine):
            market = snap.perp_markets.get(line.perp.market)
            if market is None:
                continue  # the snapshot is then incomplete (its failure names the market)
            qdec = next((m.decimals for a, m in snap.tokens.items() if a.lower() == market.quote_token.lower()), None)
            if qdec is None:
                raise InputError("tokens", f"no decimals read for perp quote token {market.quote_token}")
            perps.append(PerpMark(line.perp.market, line.perp.account, line.underlying, line.perp.size,
                                  line.perp.last_funding_index, market.funding_index, qdec))
    return tuple(lps), tuple(perps)


def funding_accrued_usd(snap: Snapshot, lines: Sequence[BookLine]) -> dict[str, float]:
    """Funding the book's perp positions owe now per underlying, quote units (``accruedFunding``; + pays)."""
    out: dict[str, float] = {}
    for m in cycle_marks(snap, lines)[1]:
        out[m.underlying] = out.get(m.underlying, 0.0) + m.accrued_raw / float(10**m.quote_decimals)
    return out
