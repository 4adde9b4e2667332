"""The config file's sections, one frozen pydantic model each (the top level is in :mod:`.model`).

Units are in the names: ``_s`` seconds, ``_bps`` basis points, ``_usd`` quote currency,
``_units`` underlying units (1.0 = 1 ETH), ``_pct`` percent (1.0 = 1 %), ``_gwei`` gwei.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Annotated, Literal

from apscheduler.triggers.cron import CronTrigger
from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from keeper.config._types import (
    Address,
    AddressList,
    Bps,
    ConfigPath,
    CrossProblem,
    Currency,
    EnvName,
    ExistingFile,
    Model,
    NonNeg,
    NonNegOrInf,
    Pos,
    PosInt,
    PosOrInf,
    cross_field_error,
)
from keeper.core.sizing import BandKind, HedgeTo
from keeper.core.surface import SurfaceGrid, build_surface
from keeper.core.surface_values import grid_from_mapping, parse_timestamp
from keeper.errors import InputError

__all__ = [
    "AaveConfig",
    "AlertsConfig",
    "AssetConfig",
    "ChainConfig",
    "ExecutionConfig",
    "JournalConfig",
    "MetricsConfig",
    "OraclesConfig",
    "PolicyOverride",
    "PositionsConfig",
    "QuoteConfig",
    "SafetyConfig",
    "ScheduleConfig",
    "SignerConfig",
    "SurfaceConfig",
    "SurfaceGridConfig",
    "TreasuryConfig",
    "UniswapConfig",
    "UniswapV4Config",
    "V4HedgePoolConfig",
    "VolConfig",
]

_URL = re.compile(r"https?://[^\s/?#]+(?:[/?#]\S*)?")
_SYMBOL = re.compile(r"[A-Z][A-Z0-9]{0,15}")


def _url(value: str) -> str:
    if _URL.fullmatch(value) is None:
        raise PydanticCustomError("url", "must be an http:// or https:// URL")
    return value


def _symbol(value: str) -> str:
    if _SYMBOL.fullmatch(value) is None:
        raise PydanticCustomError("symbol", "must be an upper-case symbol like ETH (A-Z, 0-9, at most 16 characters)")
    return value


def _cron(value: str) -> str:
    if len(value.split()) != 5:
        raise PydanticCustomError("cron", "must be a crontab string with 5 fields (minute hour day month weekday)")
    try:
        CronTrigger.from_crontab(value, timezone="UTC")
    except ValueError as exc:
        raise PydanticCustomError("cron", "not a valid crontab: {reason}", {"reason": str(exc)}) from None
    return value


HttpUrl = Annotated[str, AfterValidator(_url)]
Symbol = Annotated[str, AfterValidator(_symbol)]
Cron = Annotated[str, AfterValidator(_cron)]


class ChainConfig(Model):
    rpc_url: HttpUrl
    chain_id: PosInt
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 10.0


class SignerConfig(Model):
    """Where the signing key comes from: ``key_env`` or ``keystore`` with one password source."""

    key_env: EnvName | None = None
    keystore: ExistingFile | None = None
    password_file: ExistingFile | None = None
    password_env: EnvName | None = None

    @model_validator(mode="after")
    def _one_source(self) -> SignerConfig:
        problems: list[CrossProblem] = []
        if self.key_env is not None and self.keystore is not None:
            problems.append(("keystore", str(self.keystore), "give either key_env or keystore, not both"))
        elif self.key_env is None and self.keystore is None:
            problems.append(("key_env", None, 'required: set key_env (e.g. "KEEPER_PRIVATE_KEY") or keystore'))
        pw = [n for n in ("password_file", "password_env") if getattr(self, n) is not None]
        if self.keystore is not None and len(pw) != 1:
            problems.append(("password_file", None, "a keystore needs exactly one of password_file / password_env"))
        if self.keystore is None and pw:
            problems.append((pw[0], None, "only used with keystore"))
        if problems:
            raise cross_field_error(problems)
        return self


def default_signer() -> SignerConfig:
    return SignerConfig(key_env="KEEPER_PRIVATE_KEY")


class TreasuryConfig(Model):
    """Whose positions are read and which account trades.

    ``owners`` empty means the caller fills it: ``[safe]`` in ``safe-module`` mode, the
    signer's address in ``eoa`` mode. In ``eoa`` mode the signer trades its own funds, so it is
    always one of the owners the book reads, added after the listed ones when ``owners`` leaves
    it out (see :meth:`read_owners`).
    """

    mode: Literal["safe-module", "eoa"] = "safe-module"
    safe: Address | None = None
    hedge_module: Address | None = None
    hedge_venue_module: Address | None = None
    """The HedgeVenueModule (Uniswap v4 and Aave hedges through the Safe, booking into the HedgeModule's caps and
    budgets); used in safe-module mode only (ignored in eoa mode, like ``hedge_module``). None: no v4 / Aave hedges
    through the Safe."""
    owners: AddressList = ()
    count_native: bool = True
    """Count the owners' native coin (ETH) as exposure of the asset marked ``native = true``."""

    @model_validator(mode="after")
    def _mode_fields(self) -> TreasuryConfig:
        problems: list[CrossProblem] = []
        if self.mode == "safe-module":
            for name in ("safe", "hedge_module"):
                if getattr(self, name) is None:
                    problems.append((name, None, 'required when mode = "safe-module"'))
        venue = self.hedge_venue_module
        if venue is not None and venue in (self.safe, self.hedge_module):
            problems.append(("hedge_venue_module", venue,
                             "must be the HedgeVenueModule, not the Safe or the HedgeModule"))
        if len(set(self.owners)) != len(self.owners):
            problems.append(("owners", list(self.owners), "duplicate addresses"))
        if problems:
            raise cross_field_error(problems)
        return self

    def account(self, signer_address: str) -> str:
        """The account that holds the funds and trades: the Safe, or the signer in ``eoa`` mode."""
        if self.mode == "safe-module" and self.safe is not None:
            return self.safe
        return signer_address

    def read_owners(self, signer_address: str) -> tuple[str, ...]:
        """``owners`` as configured, else the trading account alone; in ``eoa`` mode the signer is
        always included (its balances are the inventory the hedges sell from)."""
        if not self.owners:
            return (self.account(signer_address),)
        if self.mode == "eoa" and signer_address.lower() not in {o.lower() for o in self.owners}:
            return (*self.owners, signer_address)
        return self.owners


class UniswapConfig(Model):
    factory: Address
    position_manager: Address
    router: Address
    quoter: Address


def _ids_tuple(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


_ZERO = "0x0000000000000000000000000000000000000000"


class V4HedgePoolConfig(Model):
    """A Uniswap v4 pool the keeper may hedge ``asset`` in (``[[uniswap_v4.hedge_pools]]``): its key.

    ``currency0 < currency1`` (the native coin is the zero address); no hooks unless ``allow_hooks``
    (a hook can change what a swap pays). ``quote_size_units``: the V4Quoter is asked each cycle for
    a sell of this many units of the asset and a buy with as much quote token at the feed.
    """

    asset: Symbol
    currency0: Currency
    currency1: Currency
    fee: Annotated[int, Field(ge=0, lt=1_000_000)]
    """LP fee in hundredths of a bip (500 = 0.05 %)."""
    tick_spacing: Annotated[int, Field(ge=1, le=32_767)]
    hooks: Currency = _ZERO
    allow_hooks: bool = False
    quote_size_units: Pos = 10.0

    @model_validator(mode="after")
    def _key(self) -> V4HedgePoolConfig:
        problems: list[CrossProblem] = []
        if int(self.currency0, 16) >= int(self.currency1, 16):
            problems.append(("currency0", self.currency0, "must sort below currency1 (a v4 pool key's order)"))
        if int(self.hooks, 16) != 0 and not self.allow_hooks:
            problems.append(("hooks", self.hooks, "a pool with hooks is refused unless allow_hooks = true"))
        if problems:
            raise cross_field_error(problems)
        return self


class UniswapV4Config(Model):
    """Uniswap v4 positions to read and pools to hedge in (``[uniswap_v4]``).

    The v4 PositionManager cannot list an owner's tokens: ``token_ids`` names the candidates, and the
    reader keeps those the owners hold at the snapshot block (``ownerOf``). A pool's native currency
    counts as the asset marked ``native``. ``hedge_pools`` are swapped in through ``universal_router``
    (eoa mode; Permit2 allowances) and quoted by ``quoter``.
    """

    position_manager: Address
    state_view: Address
    pool_manager: Address | None = None
    """The PoolManager both must use (``keeper doctor`` checks ``poolManager()`` of each against it)."""
    token_ids: Annotated[tuple[Annotated[int, Field(ge=0)], ...], BeforeValidator(_ids_tuple)] = ()
    universal_router: Address | None = None
    quoter: Address | None = None
    """The V4Quoter (absent: hedge pools are estimated from their liquidity)."""
    permit2: Address = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
    hedge_pools: tuple[V4HedgePoolConfig, ...] = ()
    swap_gas_units: Annotated[int, Field(gt=0, le=30_000_000)] = 220_000
    native_reserve_units: NonNeg = 0.5
    """Native coin (ETH) a native pool never sells from the keeper's account: kept for gas."""

    @field_validator("hedge_pools", mode="before")
    @classmethod
    def _pools_tuple(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _router(self) -> UniswapV4Config:
        if self.hedge_pools and self.universal_router is None:
            raise cross_field_error([("universal_router", None, "hedge_pools need the UniversalRouter address")])
        return self

    @field_validator("token_ids")
    @classmethod
    def _unique_ids(cls, ids: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(ids)) != len(ids):
            raise PydanticCustomError("duplicate_ids", "duplicate token ids: list each once")
        return ids


class AaveConfig(Model):
    """Aave v3 (``[aave]``). Where the market is anchored: ``keeper doctor`` checks that every pool in
    ``positions.aave_pools`` (and ``pool``) is the one ``addresses_provider`` returns (``getPool()``) and
    ``oracle`` its price oracle (``getPriceOracle()``), so a look-alike pool or oracle is flagged. With
    ``pool``, Aave is also a hedge venue: borrow-and-sell, buy-and-repay, and the health-factor floor."""

    addresses_provider: Address | None = None
    oracle: Address | None = None
    pool: Address | None = None
    """The Aave v3 Pool (proxy) hedged through; also read as a position (``None``: no Aave hedge venue)."""
    assets: tuple[Symbol, ...] = ()
    """The underlyings whose token may be borrowed and sold (their tokens must be reserves of ``pool``)."""
    min_health_factor: Annotated[float, Field(gt=1.0, le=100.0)] = 1.5
    """A borrow that leaves the health factor below this (plain ratio; liquidation is below 1.0) is refused."""
    holding_horizon_s: Annotated[float, Field(ge=0, le=365 * 86_400)] = 86_400.0
    """Seconds of variable borrow interest counted in a borrow-and-sell's all-in cost."""
    borrow_gas_units: Annotated[int, Field(gt=0, le=30_000_000)] = 300_000
    repay_gas_units: Annotated[int, Field(gt=0, le=30_000_000)] = 250_000

    @field_validator("assets", mode="before")
    @classmethod
    def _assets_tuple(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _venue_needs_pool(self) -> AaveConfig:
        problems: list[CrossProblem] = []
        if self.assets and self.pool is None:
            problems.append(("pool", None, "required when assets names assets to borrow and sell"))
        if self.pool is None and self.addresses_provider is None:
            problems.append(("addresses_provider", None,
                             "set addresses_provider (the market's anchor) or pool (the hedge venue)"))
        if problems:
            raise cross_field_error(problems)
        return self


class QuoteConfig(Model):
    token: Address
    symbol: Annotated[str, Field(min_length=1, max_length=16)] = "USD"


class AssetConfig(Model):
    """An underlying the book has delta to, and where it is priced and hedged."""

    symbol: Symbol
    token: Address
    feed: Address
    oracle_pool: Address | None = None
    hedge_pools: AddressList = ()
    perp_market: Address | None = None
    perp_max_abs_units: Pos | None = None
    native: bool = False
    """This asset's token is the chain's wrapped native coin (WETH for ETH): the owners' native
    balances count as this asset when ``treasury.count_native`` (the default). At most one asset."""

    @model_validator(mode="after")
    def _venues(self) -> AssetConfig:
        problems: list[CrossProblem] = []
        if not self.hedge_pools and self.perp_market is None:
            problems.append(("hedge_pools", [], "no venue to hedge on: give hedge_pools or perp_market"))
        if len(set(self.hedge_pools)) != len(self.hedge_pools):
            problems.append(("hedge_pools", list(self.hedge_pools), "duplicate pools"))
        if self.perp_max_abs_units is not None and self.perp_market is None:
            problems.append(("perp_max_abs_units", self.perp_max_abs_units, "only used with perp_market"))
        if self.token in (self.feed, self.oracle_pool, self.perp_market, *self.hedge_pools):
            problems.append(("token", self.token, "the same address is given as a feed, pool or market"))
        if problems:
            raise cross_field_error(problems)
        return self


class PositionsConfig(Model):
    option_markets: AddressList = ()
    otc_file: ExistingFile | None = None
    """A CSV or JSON file of OTC option positions (see :mod:`keeper.venues.otc`)."""
    aave_pools: AddressList = ()
    """Aave v3 Pool (proxy) addresses: the owners' supplies and debts there are part of the book."""

    @model_validator(mode="after")
    def _unique(self) -> PositionsConfig:
        for name, addrs in (("option_markets", self.option_markets), ("aave_pools", self.aave_pools)):
            if len(set(addrs)) != len(addrs):
                raise cross_field_error([(name, list(addrs), "duplicate addresses")])
        return self


class OraclesConfig(Model):
    twap_window_s: Annotated[int, Field(gt=0, le=7 * 86_400)] = 1800
    max_feed_age_s: Annotated[int, Field(gt=0, le=7 * 86_400)] = 3600
    max_deviation_bps: Annotated[float, Field(gt=0, le=10_000)] = 100.0
    module_twap_window_s: Annotated[int, Field(ge=0, le=86_400)] | None = None
    """The HedgeModule's TWAP window for its swap bound, s (0 = feeds only; absent: ``twap_window_s``)."""
    sequencer_uptime_feed: Address | None = None
    """An L2 sequencer-uptime feed the HedgeModule honours (absent: none, as on L1)."""
    sequencer_grace_s: Annotated[int, Field(ge=0, le=86_400)] = 3600
    """Seconds after the sequencer comes back up during which the module allows no trade."""


Vol = Annotated[float, Field(gt=0, lt=10)]
"""Annualized volatility (0.6 = 60 %)."""

MIN_SAMPLES = {"ewma": 10, "garch": 250}
"""Fewest returns (``history_s / sample_s``) each sampled model is fit on (GARCH needs many)."""


def _timestamp(value: int | str) -> int:
    try:
        return parse_timestamp(value, "timestamp")
    except InputError:
        raise PydanticCustomError("timestamp", "must be unix seconds or an ISO 8601 date") from None


Timestamp = Annotated[int | str, AfterValidator(_timestamp)]
"""Unix seconds, or an ISO 8601 date/time (no zone: UTC); stored as unix seconds."""


def _tuples(value: object) -> object:
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


class SurfaceGridConfig(Model):
    """An inline implied-vol grid: ``vols[i][j]`` at ``expiries[i]`` and ``columns[j]``
    (see :mod:`keeper.core.surface_values`)."""

    kind: Literal["strike", "moneyness", "delta"]
    expiries: Annotated[tuple[Timestamp, ...], Field(min_length=1), BeforeValidator(_tuples)]
    columns: Annotated[tuple[float, ...], Field(min_length=5), BeforeValidator(_tuples)]
    vols: Annotated[tuple[tuple[float, ...], ...], BeforeValidator(_tuples)]
    spot: Pos | None = None
    """The spot at ``as_of``, quote per unit (required for ``kind = "strike"``)."""


class MinVarianceConfig(Model):
    """Hull-White coefficients: E[dsigma] = (a + b delta + c delta^2) dS / (S sqrt T)."""

    a: float
    b: float
    c: float


class SurfaceConfig(Model):
    """``[vol.surfaces.<SYMBOL>]``: the asset's implied-vol surface and how its options' deltas are taken.

    ``fallback_spread`` is annualized vol added to the model vol when the surface is stale or
    unavailable (0.05 = 5 vol points).
    """

    file: ExistingFile | None = None
    grid: SurfaceGridConfig | None = None
    as_of: Timestamp | None = None
    max_age_s: Annotated[float, Field(gt=0, le=30 * 86_400)] = 3600.0
    fallback_spread: Annotated[float, Field(ge=0, lt=5)] = 0.0
    strict: bool = False
    delta_flavour: Literal["sticky_strike", "sticky_moneyness", "min_variance"] = "sticky_strike"
    min_variance: MinVarianceConfig | None = None
    min_variance_history: ExistingFile | None = None
    """A vol-history CSV (timestamp, spot, strike, expiry, vol) to fit the Hull-White coefficients on."""

    @model_validator(mode="after")
    def _sources(self) -> SurfaceConfig:
        problems: list[CrossProblem] = []
        if (self.file is None) == (self.grid is None):
            problems.append(("file", None, "give exactly one of file or grid"))
        if self.grid is not None and self.as_of is None:
            problems.append(("as_of", None, "required with an inline grid"))
        if self.file is not None and self.as_of is not None:
            problems.append(("as_of", self.as_of, "only used with grid (a surface file carries its own as_of)"))
        mv = [n for n in ("min_variance", "min_variance_history") if getattr(self, n) is not None]
        if self.delta_flavour == "min_variance" and len(mv) != 1:
            problems.append(("min_variance", None, 'delta_flavour = "min_variance" needs exactly one of '
                                                   "min_variance = {a, b, c} or min_variance_history"))
        if self.delta_flavour != "min_variance" and mv:
            problems.append((mv[0], None, 'only used with delta_flavour = "min_variance"'))
        if not problems and self.grid is not None:
            problems += self._grid_problems()
        if problems:
            raise cross_field_error(problems)
        return self

    def _grid_problems(self) -> list[CrossProblem]:
        try:
            with warnings.catch_warnings():  # arbitrage warns when the keeper builds it; strict rejects here
                warnings.simplefilter("ignore")
                build_surface(self.core_grid("ASSET"), strict=self.strict)
        except InputError as exc:
            return [("grid", None, str(exc).replace("ASSET surface", "surface").replace("ASSET ", ""))]
        return []

    def core_grid(self, underlying: str) -> SurfaceGrid:
        """The inline grid as a :class:`keeper.core.surface.SurfaceGrid`."""
        assert self.grid is not None
        g = self.grid
        data = {"kind": g.kind, "expiries": list(g.expiries), "columns": list(g.columns),
                "vols": [list(r) for r in g.vols], "spot": g.spot, "as_of": self.as_of}
        return grid_from_mapping({k: v for k, v in data.items() if v is not None}, underlying, where="grid")


class VolConfig(Model):
    model: Literal["fixed", "ewma", "garch"] = "fixed"
    fixed: dict[str, Vol] = Field(default_factory=dict)
    ewma_lambda: Annotated[float, Field(gt=0, lt=1)] = 0.94
    garch_dist: Literal["normal", "t"] = "normal"
    history_s: Annotated[float, Field(gt=0, le=365 * 86_400)] = 86_400.0
    sample_s: Annotated[float, Field(gt=0)] = 300.0
    horizon_s: Annotated[float, Field(gt=0, le=365 * 86_400)] = 86_400.0
    surfaces: dict[str, SurfaceConfig] = Field(default_factory=dict)
    """``[vol.surfaces.<SYMBOL>]``: implied-vol surfaces; assets without one use the model vol."""

    @field_validator("history_s", "sample_s")
    @classmethod
    def _whole_seconds(cls, v: float) -> float:
        # The oracle pool's observe() takes whole seconds ago: a fractional step would sample unevenly.
        if not float(v).is_integer():
            raise ValueError(f"must be a whole number of seconds (the pool's observe() takes whole seconds), got {v:g}")
        return v

    @model_validator(mode="after")
    def _samples(self) -> VolConfig:
        need = MIN_SAMPLES.get(self.model)
        if need is not None and self.history_s / self.sample_s < need:
            raise cross_field_error([("history_s", self.history_s, f"history_s / sample_s must give at least {need}"
                                      f" samples for model {self.model!r} (got {self.history_s / self.sample_s:g})")])
        return self


Slippage = Annotated[float, Field(gt=0, le=1000)]


class PolicyOverride(Model):
    """One ``[policy.default]`` or ``[policy.<SYMBOL>]`` table as written: every key optional (``None``: not set).

    The effective policy of an asset is the built-in defaults, then ``[policy.default]``,
    then ``[policy.<SYMBOL>]`` (see :class:`keeper.config.model.AssetPolicy`). The keys, their units
    and their defaults are the core's (:mod:`keeper.core.sizing` and its siblings); this model adds
    the limits a config value must respect.
    """

    target_delta_units: float | None = None
    trigger: BandKind | None = None
    band_units: NonNeg | None = None
    band_pct: Annotated[float, Field(ge=0, le=100)] | None = None
    risk_aversion_per_usd: Pos | None = None
    cost_fraction: Annotated[float, Field(ge=0, lt=1)] | None = None
    floor_units: NonNeg | None = None
    ceiling_units: NonNegOrInf | None = None
    max_interval_s: PosOrInf | None = None
    hedge_to: HedgeTo | None = None
    min_trade_units: NonNeg | None = None
    min_trade_usd: NonNeg | None = None
    max_trade_usd: Pos | None = None
    window_cap_usd: Pos | None = None
    window_s: Annotated[float, Field(gt=0, le=30 * 86_400)] | None = None
    max_slippage_bps: Slippage | None = None
    max_impact_bps: Bps | None = None
    perp_holding_horizon_s: NonNeg | None = None
    max_gas_gwei: PosOrInf | None = None
    urgent_deviation_units: NonNegOrInf | None = None

    def set_fields(self) -> dict[str, object]:
        """The keys this table sets."""
        return {k: getattr(self, k) for k in self.model_fields_set}


Gwei = Annotated[float, Field(gt=0, le=100_000)]
GasUnits = Annotated[int, Field(gt=0, le=30_000_000)]


class ExecutionConfig(Model):
    deadline_s: Annotated[int, Field(gt=0, le=86_400)] = 300
    max_fee_gwei: Gwei = 500.0
    max_priority_gwei: Annotated[float, Field(ge=0, le=100_000)] = 5.0
    replace_after_s: Annotated[float, Field(gt=0)] = 30.0
    tx_timeout_s: Annotated[float, Field(gt=0, le=86_400)] = 180.0
    swap_gas_units: GasUnits = 260_000
    perp_gas_units: GasUnits = 320_000

    @model_validator(mode="after")
    def _order(self) -> ExecutionConfig:
        problems: list[CrossProblem] = []
        if self.max_priority_gwei > self.max_fee_gwei:
            problems.append(("max_priority_gwei", self.max_priority_gwei,
                             f"must be <= max_fee_gwei ({self.max_fee_gwei:g})"))
        if self.replace_after_s > self.tx_timeout_s:
            problems.append(("replace_after_s", self.replace_after_s,
                             f"must be <= tx_timeout_s ({self.tx_timeout_s:g})"))
        if problems:
            raise cross_field_error(problems)
        return self


class ScheduleConfig(Model):
    """When cycles run: every ``interval_s``, on ``cron``, or both; plus early cycles on price moves."""

    interval_s: Annotated[float, Field(gt=0, le=86_400)] | None = None
    cron: Cron | None = None
    price_move_pct: Annotated[float, Field(ge=0, le=100)] = 1.0
    block_poll_s: Annotated[float, Field(gt=0, le=3600)] = 2.0

    @model_validator(mode="after")
    def _some_schedule(self) -> ScheduleConfig:
        if self.interval_s is None and self.cron is None:
            raise cross_field_error([("interval_s", None, "required: set interval_s or cron (or both)")])
        return self


def default_schedule() -> ScheduleConfig:
    return ScheduleConfig(interval_s=300.0)


def _secret_free_env(value: str) -> str:
    """An environment variable's *name*: a URL here (``tgram://...``) would put the secret in the file."""
    if "://" in value or "@" in value or "/" in value:
        raise PydanticCustomError(
            "env_name", "must name the environment variable that holds the URLs (e.g. \"KEEPER_ALERT_URLS\"), "
                        "never a URL itself: alert URLs carry tokens and stay out of the config file")
    return value


AlertEnvName = Annotated[str, AfterValidator(_secret_free_env)]


class AlertsConfig(Model):
    """Where alerts go and how often: the target URLs come from environment variables named here (their
    tokens are secrets and never sit in the file); rate limit and retries as ``keeper/ops/alerts.py`` applies
    them. ``KEEPER_ALERT_WINDOW_S`` / ``_MAX_PER_WINDOW`` / ``_RETRIES`` / ``_TIMEOUT_S``, when set, still win."""

    urls_env: AlertEnvName = "KEEPER_ALERT_URLS"
    """The variable holding apprise URLs (``tgram://``, ``discord://``, ``slack://``, ...), whitespace separated."""
    webhook_env: AlertEnvName = "KEEPER_ALERT_WEBHOOK"
    """The variable holding a generic JSON webhook URL (http or https)."""
    window_s: Annotated[float, Field(gt=0, le=86_400)] = 60.0
    """Rate-limit window per alert kind, seconds."""
    max_per_window: Annotated[int, Field(ge=1, le=10_000)] = 5
    """Alerts of one kind per window, all targets together; the rest are counted and dropped."""
    retries: Annotated[int, Field(ge=1, le=100)] = 4
    """Attempts per alert and target, with exponential backoff."""
    timeout_s: Annotated[float, Field(gt=0, le=600)] = 5.0
    """HTTP timeout per attempt, seconds."""

    @field_validator("urls_env", "webhook_env")
    @classmethod
    def _name(cls, value: str) -> str:
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) is None:
            raise PydanticCustomError("env_name", "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
        return value


class JournalConfig(Model):
    path: ConfigPath = Field(default=Path("keeper.sqlite"), validate_default=True)
    """The SQLite journal (the embedded default), used when ``url`` is not set."""
    url: str | None = None
    """A PostgreSQL journal shared by keepers on several hosts: ``postgresql://user[:password]@host[:port]/db``
    (psycopg 3; libpq's query options such as ``sslmode`` or ``options=-csearch_path%3Dschema`` pass through).
    Prefer ``KEEPER_JOURNAL__URL`` in the environment over a password in the file."""

    @field_validator("url")
    @classmethod
    def _postgres_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("postgresql://", "postgres://")):
            raise PydanticCustomError("journal_url", "expected a postgresql:// URL (a SQLite journal uses path)")
        return url

    @property
    def target(self) -> str:
        """What :meth:`keeper.journal.Journal.open` opens: the URL if set, else the SQLite path."""
        return self.url if self.url is not None else str(self.path)

    @property
    def is_postgres(self) -> bool:
        return self.url is not None


class LeaseConfig(Model):
    """The leader lease: with ``enabled``, keepers sharing a journal elect one sender per (chain, treasury).

    The holder renews it every cycle; it expires ``ttl_s`` seconds after the last renewal (on the lease
    clock: the PostgreSQL server's, or the process clock for SQLite). A follower runs dry-run cycles and
    takes over once it has expired. ``schedule.interval_s`` must be at most half of ``ttl_s``.
    """

    enabled: bool = False
    ttl_s: Annotated[float, Field(gt=0, le=3600)] = 30.0
    holder: Annotated[str, Field(min_length=1, max_length=128,
                                 pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]*$")] | None = None
    """This keeper's name in the lease (default ``<host name>:<process id>``): unique per running keeper."""


class MetricsConfig(Model):
    port: Annotated[int, Field(ge=0, le=65_535)] = 9464
    """0 disables the metrics endpoint."""
    log_format: Literal["text", "json"] = "text"


class SafetyConfig(Model):
    max_consecutive_failures: Annotated[int, Field(ge=1, le=1000)] = 5
    dry_run: bool = False
    loss_budget_window_usd: Annotated[float, Field(gt=0, le=1e15)] | None = None
    """The HedgeModule's loss budget at the oracle per rolling window, USD (absent: the module's per-window
    notional cap x its slippage bound, i.e. what the slippage bound allows)."""
    loss_budget_total_usd: Annotated[float, Field(gt=0, le=1e15)] | None = None
    """The HedgeModule's loss budget at the oracle since the owners last reset it, USD (absent: 5 windows' budget);
    when spent the module pauses itself until the owners reset it."""
    perp_min_margin_bps: Annotated[int, Field(gt=0, le=10_000)] = 1000
    """The HedgeModule's minimum margin ratio after a perp trade that grows a position, bps (1000 = 10x leverage)."""
    perp_reduce_margin_bps: Annotated[int, Field(ge=0, le=10_000)] = 750
    """The keeper reduces a perp whose equity falls below this share of its notional, bps, back to
    ``perp_min_margin_bps`` (0 = never); must be below ``perp_min_margin_bps``."""

    @model_validator(mode="after")
    def _margins(self) -> SafetyConfig:
        if self.perp_reduce_margin_bps >= self.perp_min_margin_bps:
            raise cross_field_error([("perp_reduce_margin_bps", self.perp_reduce_margin_bps,
                                      f"must be below perp_min_margin_bps ({self.perp_min_margin_bps}), the ratio "
                                      "a reduction restores")])
        return self

