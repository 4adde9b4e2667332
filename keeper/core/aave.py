"""Aave v3 accounts from a snapshot: balances, collateral, debt and health factor, as the Pool computes them.

Pure integer mirrors of Aave v3's own arithmetic (core 1.19.3):

* ``WadRayMath.rayMul`` / ``wadDiv`` and ``PercentageMath.percentMul`` round half up;
* an aToken balance is ``scaledBalanceOf.rayMul(normalized income)``, a variable debt
  ``scaledBalanceOf.rayMul(normalized variable debt)``;
* ``GenericLogic.calculateUserAccountData``: per reserve the user uses (bitmap), collateral
  ``balance * price / 10**decimals`` (floor) if its liquidation threshold is not 0 and the user uses it
  as collateral; debt ``(variable + stable) * price / 10**decimals`` (floor) if the user borrows it;
  average LTV and threshold weighted by collateral (floor); health factor
  ``percentMul(collateral, avg threshold).wadDiv(debt)`` (``2**256 - 1`` without debt).

So :func:`account_data` equals ``Pool.getUserAccountData`` at the same block exactly (e-mode 0).

Then float views for the scenario grid: :class:`LoanBook` holds one account's collateral and debt in
quote currency per underlying; :func:`LoanBook.health_factor_at` revalues it under price multipliers,
:func:`LoanBook.liquidation_price` solves ``HF = 1`` for one collateral with everything else fixed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from keeper.core.gates import GateResult
from keeper.core.reasons import Reason
from keeper.core.snapshot import AaveAccountState, AaveMarketState, AaveReserveState
from keeper.errors import InputError

__all__ = [
    "HF_MAX",
    "RAY",
    "WAD",
    "AaveAccount",
    "LoanBook",
    "LoanLeg",
    "ReserveConfig",
    "account_data",
    "check_health_factor",
    "decode_reserve_config",
    "loan_book",
    "percent_mul",
    "ray_div",
    "ray_mul",
    "wad_div",
]

WAD = 10**18
RAY = 10**27
PERCENTAGE_FACTOR = 10_000
HF_MAX = 2**256 - 1
"""The health factor of an account without debt (``type(uint256).max``)."""


def ray_mul(a: int, b: int) -> int:
    """``WadRayMath.rayMul``: ``a * b / 1e27`` rounded half up."""
    return (a * b + RAY // 2) // RAY


def ray_div(a: int, b: int) -> int:
    """``WadRayMath.rayDiv``: ``a * 1e27 / b`` rounded half up (``b`` > 0)."""
    if b <= 0:
        raise InputError("b", f"rayDiv by {b}")
    return (a * RAY + b // 2) // b


def wad_div(a: int, b: int) -> int:
    """``WadRayMath.wadDiv``: ``a * 1e18 / b`` rounded half up (``b`` > 0)."""
    if b <= 0:
        raise InputError("b", f"wadDiv by {b}")
    return (a * WAD + b // 2) // b


def percent_mul(value: int, bps: int) -> int:
    """``PercentageMath.percentMul``: ``value * bps / 10,000`` rounded half up."""
    return (value * bps + PERCENTAGE_FACTOR // 2) // PERCENTAGE_FACTOR


@dataclass(frozen=True)
class ReserveConfig:
    """The fields of Aave's reserve-configuration bitmap the keeper uses."""

    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    decimals: int
    active: bool
    frozen: bool
    borrowing_enabled: bool
    paused: bool
    reserve_factor_bps: int
    borrow_cap: int
    """Whole tokens (0: no cap)."""
    supply_cap: int
    e_mode_category: int


def decode_reserve_config(data: int) -> ReserveConfig:
    """Decode ``ReserveConfigurationMap.data`` (bit layout of Aave v3's ``ReserveConfiguration``)."""
    if not 0 <= data < 2**256:
        raise InputError("configuration", "must be a uint256 bitmap")

    def bits(lo: int, width: int) -> int:
        return (data >> lo) & ((1 << width) - 1)

    return ReserveConfig(
        ltv_bps=bits(0, 16), liquidation_threshold_bps=bits(16, 16), liquidation_bonus_bps=bits(32, 16),
        decimals=bits(48, 8), active=bool(bits(56, 1)), frozen=bool(bits(57, 1)),
        borrowing_enabled=bool(bits(58, 1)), paused=bool(bits(60, 1)), reserve_factor_bps=bits(64, 16),
        borrow_cap=bits(80, 36), supply_cap=bits(116, 36), e_mode_category=bits(168, 8),
    )


@dataclass(frozen=True)
class AaveAccount:
    """One owner's account, in raw token units per reserve and Aave's base currency.

    Attributes
    ----------
    supplied, variable_debt, stable_debt : underlying token -> raw amount (aToken balance, debts).
    collateral_base, debt_base : ``totalCollateralBase``, ``totalDebtBase`` (base-currency units).
    ltv_bps, liquidation_threshold_bps : the collateral-weighted averages (floor).
    health_factor : wad (1e18 = 1.0); :data:`HF_MAX` without debt.
    available_borrows_base : ``availableBorrowsBase``.
    collateral_assets : underlyings counted as collateral (bit set and threshold not 0).
    """

    pool: str
    owner: str
    supplied: dict[str, int]
    variable_debt: dict[str, int]
    stable_debt: dict[str, int]
    collateral_base: int
    debt_base: int
    ltv_bps: int
    liquidation_threshold_bps: int
    health_factor: int
    available_borrows_base: int
    collateral_assets: tuple[str, ...]

    def debt(self, asset: str) -> int:
        return self.variable_debt.get(asset, 0) + self.stable_debt.get(asset, 0)

    def net(self, asset: str) -> int:
        """Supplied minus owed, raw units of ``asset`` (the account's exposure to it)."""
        return self.supplied.get(asset, 0) - self.debt(asset)

    @property
    def health_factor_float(self) -> float:
        return math.inf if self.health_factor == HF_MAX else self.health_factor / WAD


def _find(market: AaveMarketState, asset: str) -> AaveReserveState:
    r = market.reserves.get(asset)
    if r is None:
        raise InputError("aave", f"reserve {asset} not read in pool {market.pool}")
    return r


def account_data(market: AaveMarketState, acct: AaveAccountState) -> AaveAccount:
    """``getUserAccountData`` and the per-reserve balances, computed from the snapshot's integers."""
    if acct.e_mode != 0:
        raise InputError("aave", f"{acct.owner} is in e-mode category {acct.e_mode}; only e-mode 0 is modelled")
    supplied = {a: ray_mul(s, _find(market, a).liquidity_index) for a, s in acct.scaled_supply.items() if s}
    variable = {a: ray_mul(s, _find(market, a).variable_borrow_index)
                for a, s in acct.scaled_variable_debt.items() if s}
    stable = {a: s for a, s in acct.stable_debt.items() if s}
    coll = debt = ltv_sum = lt_sum = 0
    coll_assets: list[str] = []
    cfg_bits = acct.user_configuration
    for asset, r in market.reserves.items():
        i = r.reserve_id
        using_coll = bool((cfg_bits >> (2 * i + 1)) & 1)
        borrowing = bool((cfg_bits >> (2 * i)) & 1)
        if not (using_coll or borrowing):
            continue
        c = decode_reserve_config(r.configuration)
        unit = 10**c.decimals
        if c.liquidation_threshold_bps != 0 and using_coll:
            value = supplied.get(asset, 0) * r.price // unit
            coll += value
            ltv_sum += value * c.ltv_bps
            lt_sum += value * c.liquidation_threshold_bps
            coll_assets.append(asset)
        if borrowing:
            debt += (variable.get(asset, 0) + stable.get(asset, 0)) * r.price // unit
    avg_ltv = ltv_sum // coll if coll else 0
    avg_lt = lt_sum // coll if coll else 0
    hf = HF_MAX if debt == 0 else wad_div(percent_mul(coll, avg_lt), debt)
    room = percent_mul(coll, avg_ltv)
    return AaveAccount(
        pool=market.pool, owner=acct.owner, supplied=supplied, variable_debt=variable, stable_debt=stable,
        collateral_base=coll, debt_base=debt, ltv_bps=avg_ltv, liquidation_threshold_bps=avg_lt,
        health_factor=hf, available_borrows_base=max(room - debt, 0), collateral_assets=tuple(coll_assets),
    )


# --------------------------------------------------------------------------- float views for scenarios


@dataclass(frozen=True)
class LoanLeg:
    """One reserve of an account in quote currency: ``underlying`` is the asset whose price moves it
    (``None``: the quote token itself, which never moves)."""

    underlying: str | None
    collateral_value: float
    """Counted collateral, quote currency (0 when not used as collateral)."""
    liquidation_threshold: float
    """Fraction (0.825 = 82.5 %)."""
    debt_value: float
    price: float
    """The underlying's price at Aave's oracle, quote per unit."""


@dataclass(frozen=True)
class LoanBook:
    """One Aave account as a health-factor function of the prices of its underlyings."""

    pool: str
    owner: str
    legs: tuple[LoanLeg, ...]

    @property
    def label(self) -> str:
        """The account as scenario grids key it: ``owner@pool``."""
        return f"{self.owner}@{self.pool}"

    def health_factor_at(self, multipliers: Mapping[str, float]) -> float:
        """HF when each underlying's price is multiplied by ``multipliers[u]`` (missing: 1); ``inf``
        without debt."""
        adj = 0.0
        debt = 0.0
        for leg in self.legs:
            m = 1.0 if leg.underlying is None else float(multipliers.get(leg.underlying, 1.0))
            adj += m * leg.collateral_value * leg.liquidation_threshold
            debt += m * leg.debt_value
        return math.inf if debt <= 0 else adj / debt

    @property
    def health_factor(self) -> float:
        return self.health_factor_at({})

    def liquidation_multiplier(self, underlying: str) -> float | None:
        """The multiplier ``x > 0`` of ``underlying``'s price (others fixed) at which HF = 1, or ``None``
        if no price of it alone brings HF to 1 (no debt, or the crossing would need a price <= 0).

        With ``c`` / ``d`` the threshold-weighted collateral / the debt in ``underlying`` and ``rc`` /
        ``rd`` the rest: ``HF(x) = (x c + rc) / (x d + rd)``, so ``x = (rd - rc) / (c - d)``: below 1
        (a fall liquidates) when the account is long the underlying (``c > d``), above 1 (a rise
        liquidates, as for a borrowed-and-sold asset) when it is short (``c < d``).
        """
        c = sum(leg.collateral_value * leg.liquidation_threshold for leg in self.legs if leg.underlying == underlying)
        d = sum(leg.debt_value for leg in self.legs if leg.underlying == underlying)
        rest_c = sum(leg.collateral_value * leg.liquidation_threshold for leg in self.legs
                     if leg.underlying != underlying)
        rest_d = sum(leg.debt_value for leg in self.legs if leg.underlying != underlying)
        if rest_d + d <= 0 or c == d or not any(leg.underlying == underlying for leg in self.legs):
            return None
        x = (rest_d - rest_c) / (c - d)
        return x if x > 0 and math.isfinite(x) else None

    def liquidation_price(self, underlying: str) -> float | None:
        """The oracle price of ``underlying`` (quote per unit) at which the account reaches HF = 1."""
        x = self.liquidation_multiplier(underlying)
        price = next((leg.price for leg in self.legs if leg.underlying == underlying), None)
        return None if x is None or price is None else x * price

    def after(self, borrow_units: Mapping[str, float] | None = None,
              supply_units: Mapping[str, float] | None = None) -> LoanBook:
        """The account after borrowing ``borrow_units[u]`` units of each underlying (negative: repaying)
        and supplying ``supply_units[u]`` (negative: withdrawing), at the legs' prices. A supply change
        needs an existing collateral leg of that underlying (its threshold); a borrow needs an existing
        leg of that underlying (its price); otherwise the change is refused, naming the field."""
        legs = list(self.legs)
        for u, units in (borrow_units or {}).items():
            check = [leg for leg in legs if leg.underlying == u]
            if not check:
                raise InputError("borrow_units", f"no price for {u} in the account of {self.owner}; add its leg first")
            legs.append(LoanLeg(u, 0.0, check[0].liquidation_threshold, float(units) * check[0].price, check[0].price))
        for u, units in (supply_units or {}).items():
            coll = [leg for leg in legs if leg.underlying == u and leg.collateral_value > 0]
            if not coll:
                raise InputError("supply_units", f"{self.owner} has no {u} collateral whose threshold to use")
            legs.append(LoanLeg(u, float(units) * coll[0].price, coll[0].liquidation_threshold, 0.0, coll[0].price))
        return LoanBook(self.pool, self.owner, tuple(legs))

    def underlyings(self) -> tuple[str, ...]:
        return tuple(sorted({leg.underlying for leg in self.legs if leg.underlying is not None}))


def loan_book(
    market: AaveMarketState,
    account: AaveAccount,
    underlying_of: Mapping[str, str | None],
    base_per_quote: float,
) -> LoanBook:
    """``account`` in quote currency, each leg at Aave's oracle price converted with ``base_per_quote``
    (base-currency units per quote unit: 1e8 for a USD market against USDC), so the health factor at
    no shock is Aave's own (to float rounding). ``underlying_of`` maps each reserve's token (lower-case
    address) to the book's underlying (``None``: the quote token); any other reserve raises.
    """
    if not (math.isfinite(base_per_quote) and base_per_quote > 0):
        raise InputError("base_per_quote", f"must be > 0, got {base_per_quote}")
    legs = []
    coll_set = {a.lower() for a in account.collateral_assets}
    for asset, r in market.reserves.items():
        sup, owed = account.supplied.get(asset, 0), account.debt(asset)
        if not sup and not owed:
            continue
        c = decode_reserve_config(r.configuration)
        if asset.lower() not in underlying_of:
            raise InputError("aave", f"reserve {asset} of {account.owner} has no configured underlying or quote")
        u = underlying_of[asset.lower()]
        price = r.price / base_per_quote
        unit = 10.0**c.decimals
        counted = asset.lower() in coll_set
        legs.append(LoanLeg(u, sup / unit * price if counted else 0.0,
                            c.liquidation_threshold_bps / PERCENTAGE_FACTOR, owed / unit * price, price))
    return LoanBook(pool=account.pool, owner=account.owner, legs=tuple(legs))


def check_health_factor(before: LoanBook, after: LoanBook, floor: float) -> GateResult:
    """Pass iff the account's health factor after a hedge is at least ``floor`` (> 1), or the hedge
    does not lower it (repaying debt below the floor is never refused: it is the way back up).

    Not yet wired into the decision; a hedge that borrows gets its ``after`` from :meth:`LoanBook.after`.
    """
    if not (math.isfinite(floor) and floor > 1.0):
        raise InputError("floor", f"a health-factor floor must be a finite number above 1, got {floor}")
    hf0, hf1 = before.health_factor, after.health_factor
    shown = "no debt" if math.isinf(hf1) else f"{hf1:.3f}"
    was = "no debt" if math.isinf(hf0) else f"{hf0:.3f}"
    numbers = {"health_factor_before": hf0, "health_factor_after": hf1, "floor": floor}
    if hf1 >= floor:
        return GateResult("health_factor", True, Reason.of(
            "gate_ok", f"Aave health factor of {after.owner} {was} -> {shown} >= floor {floor:.3f}", **numbers))
    if hf1 >= hf0:
        return GateResult("health_factor", True, Reason.of(
            "gate_ok", f"Aave health factor of {after.owner} {was} -> {shown}: below the floor {floor:.3f} but "
                       "not lowered by this hedge", **numbers))
    return GateResult("health_factor", False, Reason.of(
        "gate_health_factor", f"Aave health factor of {after.owner} would fall {was} -> {shown} < floor "
                              f"{floor:.3f}: hedge refused", **numbers))
