"""``KeeperConfig``: the whole validated configuration, its cross-section checks and its conversions.

The config is data: the conversions (:meth:`KeeperConfig.policy_config`,
:meth:`~KeeperConfig.underlying_venues`) only restate its values as the core's value types. The
objects that read, sign or load files (book sources, vol models, surface feeds, the signer's key
source, the OTC positions) are built from it by :mod:`keeper.cycle.sources`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak
from pydantic import Field, ValidationError, ValidationInfo, ValidatorFunctionWrapHandler, field_validator
from pydantic_core import InitErrorDetails

from keeper.config._types import CrossProblem, Model, cross_field_error, relocate
from keeper.config.sections import (
    AaveConfig,
    AlertsConfig,
    AssetConfig,
    ChainConfig,
    ExecutionConfig,
    JournalConfig,
    LeaseConfig,
    MetricsConfig,
    OraclesConfig,
    PolicyOverride,
    PositionsConfig,
    QuoteConfig,
    SafetyConfig,
    ScheduleConfig,
    SignerConfig,
    TreasuryConfig,
    UniswapConfig,
    UniswapV4Config,
    VolConfig,
    default_schedule,
    default_signer,
)
from keeper.core.costs import VenueConfig
from keeper.core.gates import GateConfig
from keeper.core.inputs import UnderlyingVenues
from keeper.core.margin import MarginConfig
from keeper.core.more_venues import LoanConfig
from keeper.core.policy import PolicyConfig, UnderlyingPolicy
from keeper.core.sizing import BandKind, HedgeTo, SizingConfig, TriggerConfig
from keeper.errors import InputError

__all__ = ["POLICY_PARTS", "AssetPolicy", "KeeperConfig", "core_default"]

DEFAULT_POLICY = "default"

POLICY_PARTS: tuple[type[Any], ...] = (TriggerConfig, SizingConfig, VenueConfig, GateConfig)
"""The core dataclasses the ``[policy]`` keys belong to: each key but ``target_delta_units`` (a field of
:class:`~keeper.core.policy.UnderlyingPolicy`) is the field of the same name of one of them."""


def core_default(key: str) -> Any:
    """The default of the ``[policy]`` key ``key``: the core's default of the field of that name."""
    owners: tuple[type[Any], ...] = (UnderlyingPolicy,) if key == "target_delta_units" else POLICY_PARTS
    for cls in owners:
        for f in dataclasses.fields(cls):
            if f.name == key:
                return f.default
    raise KeyError(key)


@dataclass(frozen=True, slots=True)
class AssetPolicy:
    """The effective policy of one asset: built-in defaults < ``[policy.default]`` < ``[policy.<SYMBOL>]``.

    The keys are fields of the core's policy dataclasses (:data:`POLICY_PARTS`), with the same names,
    units and defaults: the built-in defaults are the core's. ``inf`` means no limit; ``band_pct`` is
    in percent (2.0 = 2 % of the asset's book value); ``_usd`` is the quote currency.
    """

    target_delta_units: float = core_default("target_delta_units")
    trigger: BandKind = core_default("trigger")  # noqa: RUF009 (a str: immutable)
    band_units: float = core_default("band_units")
    band_pct: float = core_default("band_pct")
    risk_aversion_per_usd: float = core_default("risk_aversion_per_usd")
    cost_fraction: float | None = core_default("cost_fraction")
    floor_units: float = core_default("floor_units")
    ceiling_units: float = core_default("ceiling_units")
    max_interval_s: float = core_default("max_interval_s")
    hedge_to: HedgeTo = core_default("hedge_to")  # noqa: RUF009 (a str: immutable)
    min_trade_units: float = core_default("min_trade_units")
    min_trade_usd: float = core_default("min_trade_usd")
    max_trade_usd: float = core_default("max_trade_usd")
    window_cap_usd: float = core_default("window_cap_usd")
    window_s: float = core_default("window_s")
    max_slippage_bps: float = core_default("max_slippage_bps")
    max_impact_bps: float = core_default("max_impact_bps")
    perp_holding_horizon_s: float = core_default("perp_holding_horizon_s")
    max_gas_gwei: float = core_default("max_gas_gwei")
    urgent_deviation_units: float = core_default("urgent_deviation_units")

    def problems(self) -> list[CrossProblem]:
        """Cross-field problems: (field, value, message)."""
        out: list[CrossProblem] = []
        if self.trigger == "fixed" and self.band_units <= 0.0:
            out.append(("band_units", self.band_units, 'must be > 0 for trigger = "fixed"'))
        if self.trigger == "pct_book" and self.band_pct <= 0.0:
            out.append(("band_pct", self.band_pct, 'must be > 0 for trigger = "pct_book"'))
        if self.floor_units > self.ceiling_units:
            out.append(("floor_units", self.floor_units, f"must be <= ceiling_units ({self.ceiling_units:g})"))
        if self.min_trade_usd > self.max_trade_usd:
            out.append(("min_trade_usd", self.min_trade_usd, f"must be <= max_trade_usd ({self.max_trade_usd:g})"))
        if self.max_trade_usd > self.window_cap_usd:
            out.append(("max_trade_usd", self.max_trade_usd, f"must be <= window_cap_usd ({self.window_cap_usd:g})"))
        return out

    def to_core(self, gates: GateConfig, margin: MarginConfig | None = None) -> UnderlyingPolicy:
        """The :class:`~keeper.core.policy.UnderlyingPolicy`: each key goes to the core field of its name
        (``gates`` carries the oracle limits of ``[oracles]``, ``margin`` the perp margin guard of ``[safety]``)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

        def own(cls: type[Any]) -> dict[str, Any]:
            return {f.name: values[f.name] for f in dataclasses.fields(cls) if f.name in values}

        return UnderlyingPolicy(
            target_delta_units=self.target_delta_units,
            trigger=TriggerConfig(**own(TriggerConfig)),
            sizing=SizingConfig(**own(SizingConfig)),
            venues=VenueConfig(**own(VenueConfig)),
            gates=dataclasses.replace(gates, **own(GateConfig)),
            margin=margin or MarginConfig(),
        )


def merge_policy(*layers: PolicyOverride | None) -> AssetPolicy:
    """Built-in defaults overlaid with each layer's set keys, in order."""
    values: dict[str, Any] = {}
    for layer in layers:
        if layer is not None:
            values.update(layer.set_fields())
    return AssetPolicy(**values)


def _policy_problems(
    policy: Mapping[str, PolicyOverride], failed: set[str], symbols: Sequence[str] | None
) -> list[CrossProblem]:
    """Unknown assets, and the checks of each merged policy whose tables are all valid."""
    problems: list[CrossProblem] = []
    if symbols is not None:
        problems += [(key, None, f"not a declared asset (assets: {', '.join(symbols)}; or use [policy.default])")
                     for key in [*policy, *failed] if key != DEFAULT_POLICY and key not in symbols]
    if DEFAULT_POLICY in failed:
        return problems
    default = policy.get(DEFAULT_POLICY)
    reported = {(f, m) for f, _, m in merge_policy(default).problems()}
    problems += [(f"{DEFAULT_POLICY}.{f}", v, m) for f, v, m in merge_policy(default).problems()]
    for sym in symbols if symbols is not None else [k for k in policy if k != DEFAULT_POLICY]:
        if sym in failed:
            continue
        own = policy.get(sym)
        for f, v, m in merge_policy(default, own).problems():
            if (own is None or f not in own.model_fields_set) and (f, m) in reported:
                continue  # the same problem as [policy.default]'s, reported once
            problems.append((f"{sym}.{f}", v, m))
    return problems


def _v4_dump(v4: UniswapV4Config) -> dict[str, Any]:
    """``[uniswap_v4]`` for the fingerprint without the token ids; the hedge-venue keys only when set away
    from their defaults (configs that only read v4 positions keep the fingerprint they had before the keys
    existed)."""
    out = v4.model_dump(exclude={"token_ids", "pool_manager"})
    for k in ("universal_router", "quoter", "permit2", "hedge_pools", "swap_gas_units", "native_reserve_units"):
        if out[k] == UniswapV4Config.model_fields[k].default:
            del out[k]
    return out


def v4_pool_id(currency0: str, currency1: str, fee: int, tick_spacing: int, hooks: str) -> str:
    """``keccak256(abi.encode(PoolKey))`` (the pool id), computed here so the config imports no venue code."""
    raw = encode(["(address,address,uint24,int24,address)"], [(currency0, currency1, fee, tick_spacing, hooks)])
    return "0x" + keccak(raw).hex()


def _dupes(items: Sequence[str]) -> set[str]:
    return {x for x, n in Counter(items).items() if n > 1}


class KeeperConfig(Model):
    """The keeper's configuration (one TOML file plus ``KEEPER_*`` overrides); see ``load_config``."""

    chain: ChainConfig
    signer: SignerConfig = Field(default_factory=default_signer)
    treasury: TreasuryConfig
    uniswap: UniswapConfig
    uniswap_v4: UniswapV4Config | None = None
    aave: AaveConfig | None = None
    """Aave v3: where the market is anchored (doctor) and, with ``pool``, the borrow-and-sell hedge venue."""
    quote: QuoteConfig
    assets: tuple[AssetConfig, ...] = Field(min_length=1)
    positions: PositionsConfig = Field(default_factory=PositionsConfig)
    oracles: OraclesConfig = Field(default_factory=OraclesConfig)
    vol: VolConfig = Field(default_factory=VolConfig)
    policy: dict[str, PolicyOverride] = Field(default_factory=dict)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)
    schedule: ScheduleConfig = Field(default_factory=default_schedule)
    journal: JournalConfig = Field(default_factory=dict, validate_default=True)  # resolves the default path
    lease: LeaseConfig = Field(default_factory=LeaseConfig)
    metrics: MetricsConfig = Field(default_factory=MetricsConfig)
    safety: SafetyConfig = Field(default_factory=SafetyConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

    # ------------------------------------------------------------------ cross-section checks
    # Field validators run in field order and see the fields validated before them in
    # ``info.data``, so each check reports alongside every other problem of the file.

    @field_validator("assets", mode="before")
    @classmethod
    def _assets_tuple(cls, value: object) -> object:
        return tuple(value) if isinstance(value, list) else value

    @field_validator("assets")
    @classmethod
    def _assets_unique(cls, assets: tuple[AssetConfig, ...], info: ValidationInfo) -> tuple[AssetConfig, ...]:
        problems: list[CrossProblem] = []
        for attr, what in (("symbol", "symbol"), ("token", "token"), ("feed", "feed")):
            dup = _dupes([getattr(a, attr) for a in assets])
            problems += [(f"{i}.{attr}", getattr(a, attr), f"duplicate {what}: each asset needs its own")
                         for i, a in enumerate(assets) if getattr(a, attr) in dup]
        natives = [i for i, a in enumerate(assets) if a.native]
        problems += [(f"{i}.native", True, "only one asset can be the chain's native coin") for i in natives[1:]]
        pools = [(i, p) for i, a in enumerate(assets) for p in a.hedge_pools]
        dup = _dupes([p for a in assets for p in set(a.hedge_pools)])
        problems += [(f"{i}.hedge_pools", p, "pool listed under more than one asset") for i, p in pools if p in dup]
        symbols = {a.symbol for a in assets}
        aave, v4 = info.data.get("aave"), info.data.get("uniswap_v4")
        if isinstance(aave, AaveConfig):
            problems += [("symbol", s, f"aave.assets names {s}, which is not a declared asset")
                         for s in aave.assets if s not in symbols]
        if isinstance(v4, UniswapV4Config):
            problems += [("symbol", p.asset, f"uniswap_v4.hedge_pools names {p.asset}, which is not a declared asset")
                         for p in v4.hedge_pools if p.asset not in symbols]
        quote = info.data.get("quote")
        if isinstance(quote, QuoteConfig):
            problems += [(f"{i}.token", a.token, "is the quote token") for i, a in enumerate(assets)
                         if a.token == quote.token]
        if problems:
            raise cross_field_error(problems)
        return assets

    @field_validator("lease")
    @classmethod
    def _lease_renewed_in_time(cls, lease: LeaseConfig, info: ValidationInfo) -> LeaseConfig:
        schedule = info.data.get("schedule")
        if not lease.enabled or not isinstance(schedule, ScheduleConfig):
            return lease
        if schedule.interval_s is None:
            raise cross_field_error([("enabled", True, "the lease is renewed every cycle: set schedule.interval_s "
                                      f"(at most ttl_s / 2 = {lease.ttl_s / 2:g} s)")])
        if schedule.interval_s > lease.ttl_s / 2:
            raise cross_field_error([("ttl_s", lease.ttl_s, f"must be at least twice schedule.interval_s "
                                      f"({schedule.interval_s:g} s): the holder renews it once per cycle")])
        return lease

    @field_validator("vol")
    @classmethod
    def _vol_assets(cls, vol: VolConfig, info: ValidationInfo) -> VolConfig:
        assets = info.data.get("assets")
        if assets is None:
            return vol
        symbols = [a.symbol for a in assets]
        problems: list[CrossProblem] = [(f"fixed.{s}", v, f"not a declared asset (assets: {', '.join(symbols)})")
                                        for s, v in vol.fixed.items() if s not in symbols]
        problems += [(f"surfaces.{s}", None, f"not a declared asset (assets: {', '.join(symbols)})")
                     for s in vol.surfaces if s not in symbols]
        if vol.model == "fixed":
            problems += [(f"fixed.{s}", None, 'required: model = "fixed" needs a volatility for every asset')
                         for s in symbols if s not in vol.fixed]
        else:
            missing = [a.symbol for a in assets if a.oracle_pool is None]
            if missing:
                problems.append(("model", vol.model, f"samples each asset's oracle_pool; {', '.join(missing)}"
                                 " has none (set assets.oracle_pool or use model = \"fixed\")"))
        if problems:
            raise cross_field_error(problems)
        return vol

    @field_validator("policy", mode="wrap")
    @classmethod
    def _policy(cls, value: object, handler: ValidatorFunctionWrapHandler,
                info: ValidationInfo) -> dict[str, PolicyOverride]:
        # Each table is validated on its own so that the merged checks still run for the
        # tables that are valid, alongside the problems of those that are not.
        if not isinstance(value, dict):
            out: dict[str, PolicyOverride] = handler(value)
            return out
        good: dict[str, PolicyOverride] = {}
        errors: list[InitErrorDetails] = []
        for key, table in value.items():
            try:
                good[key] = PolicyOverride.model_validate(table, context=info.context)
            except ValidationError as exc:
                errors += relocate(exc, (key,))
        assets = info.data.get("assets")
        symbols = None if assets is None else [a.symbol for a in assets]
        problems = _policy_problems(good, set(value) - set(good), symbols)
        if problems:
            errors.append(InitErrorDetails(type=cross_field_error(problems), loc=(), input=value))
        if errors:
            raise ValidationError.from_exception_data("policy", errors)
        return good

    # ------------------------------------------------------------------ lookups

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(a.symbol for a in self.assets)

    def asset(self, symbol: str) -> AssetConfig:
        for a in self.assets:
            if a.symbol == symbol:
                return a
        raise InputError("symbol", f"{symbol!r} is not a declared asset ({', '.join(self.symbols)})")

    def effective_policy(self, symbol: str = DEFAULT_POLICY) -> AssetPolicy:
        """The merged policy of ``symbol`` (``"default"``: the default alone)."""
        default = self.policy.get(DEFAULT_POLICY)
        if symbol == DEFAULT_POLICY:
            return merge_policy(default)
        self.asset(symbol)
        return merge_policy(default, self.policy.get(symbol))

    # ------------------------------------------------------------------ conversions

    def _gates(self, require_twap: bool) -> GateConfig:
        return GateConfig(max_oracle_deviation_bps=self.oracles.max_deviation_bps,
                          max_feed_age_s=float(self.oracles.max_feed_age_s), require_twap=require_twap)

    def policy_config(self) -> PolicyConfig:
        """The core :class:`~keeper.core.policy.PolicyConfig`: the default plus one policy per asset.

        Every asset gets its merged policy. The oracle gate requires a TWAP for assets with an
        ``oracle_pool``; an asset without one is checked against its feed and hedge pool only.
        """
        margin = MarginConfig(reduce_below_bps=float(self.safety.perp_reduce_margin_bps),
                              restore_to_bps=float(self.safety.perp_min_margin_bps))
        return PolicyConfig(
            default=self.effective_policy().to_core(self._gates(require_twap=True), margin),
            per_underlying={a.symbol: self.effective_policy(a.symbol).to_core(self._gates(a.oracle_pool is not None),
                                                                              margin)
                            for a in self.assets},
            quote_symbol=self.quote.symbol,
        )

    def underlying_venues(self) -> dict[str, UnderlyingVenues]:
        """Where each asset is priced and hedged, with the configured gas estimates."""
        v4, aave = self.uniswap_v4, self.aave
        return {
            a.symbol: UnderlyingVenues(
                symbol=a.symbol, token=a.token, oracle_pool=a.oracle_pool, hedge_pools=a.hedge_pools,
                perp_market=a.perp_market, swap_gas_units=self.execution.swap_gas_units,
                perp_gas_units=self.execution.perp_gas_units,
                v4_pools=() if v4 is None else tuple(
                    v4_pool_id(p.currency0, p.currency1, p.fee, p.tick_spacing, p.hooks)
                    for p in v4.hedge_pools if p.asset == a.symbol),
                aave_pool=aave.pool if aave is not None and a.symbol in aave.assets else None,
                v4_gas_units=v4.swap_gas_units if v4 is not None else 220_000,
                borrow_gas_units=aave.borrow_gas_units if aave is not None else 300_000,
                repay_gas_units=aave.repay_gas_units if aave is not None else 250_000,
            )
            for a in self.assets
        }

    def loan_config(self) -> LoanConfig:
        """The Aave venue's floor and horizon (defaults when ``[aave]`` is absent)."""
        if self.aave is None:
            return LoanConfig()
        return LoanConfig(self.aave.min_health_factor, self.aave.holding_horizon_s)

    @property
    def native_symbol(self) -> str | None:
        """The asset marked ``native`` (a v4 pool's native currency counts as it), whatever ``count_native`` says."""
        return next((a.symbol for a in self.assets if a.native), None)

    @property
    def native_asset(self) -> str | None:
        """The asset the owners' native balances count as: the one marked ``native``, if ``count_native``."""
        if not self.treasury.count_native:
            return None
        return next((a.symbol for a in self.assets if a.native), None)

    # ------------------------------------------------------------------ fingerprint

    def strategy(self) -> dict[str, Any]:
        """The strategy-relevant part, JSON-ready: what the keeper trades, where, and within which limits.

        Excluded: the RPC endpoint, signer, schedule, journal, metrics and safety switches, the
        OTC file's path, and the Uniswap v4 token ids read (``[uniswap_v4] token_ids``: like the OTC file, a
        list of holdings that grows as the treasury adds liquidity, not a trading limit; the v4 contracts the
        book is read from are in it, as the v3 ones are, but for ``pool_manager``, which like the ``[aave]``
        section only anchors ``keeper doctor``'s checks). Policies are
        the merged ones, so moving a key between
        ``[policy.default]`` and ``[policy.<SYMBOL>]`` without changing its effect keeps the result.
        """
        out: dict[str, Any] = _canonical({
            "chain_id": self.chain.chain_id,
            # native / count_native only when set away from their defaults: configs that do not use
            # native balances keep the fingerprint they had before the fields existed.
            # hedge_venue_module only when set: configs without one keep their fingerprint.
            "treasury": self.treasury.model_dump(exclude=({"count_native"} if self.treasury.count_native else set())
                                                 | ({"hedge_venue_module"} if self.treasury.hedge_venue_module is None
                                                    else set())),
            "uniswap": self.uniswap.model_dump(),
            # the Aave hedge venue only when configured (``aave.pool``): configs without it keep their fingerprint;
            # addresses_provider and oracle only anchor `keeper doctor`'s checks.
            **({"aave": self.aave.model_dump(exclude={"addresses_provider", "oracle"})}
               if self.aave is not None and self.aave.pool is not None else {}),
            "quote": self.quote.model_dump(),
            "assets": {a.symbol: a.model_dump(exclude=set() if a.native else {"native"}) for a in self.assets},
            "option_markets": sorted(self.positions.option_markets),
            # Aave pools only when given: configs without them keep their fingerprint.
            **({"aave_pools": sorted(self.positions.aave_pools)} if self.positions.aave_pools else {}),
            # The v4 contracts only when given (a tampered StateView would fake the book); not the token ids,
            # nor pool_manager (an anchor of `keeper doctor`'s checks: the book is not read from it).
            **({"uniswap_v4": _v4_dump(self.uniswap_v4)} if self.uniswap_v4 else {}),
            "policy": {s: dataclasses.asdict(self.effective_policy(s)) for s in (DEFAULT_POLICY, *self.symbols)},
            "oracles": self.oracles.model_dump(),
            "vol": self.vol.model_dump(exclude=None if self.vol.surfaces else {"surfaces"}),
            "execution": self.execution.model_dump(),
        })
        return out

    def fingerprint(self) -> str:
        """SHA-256 hex of the canonical JSON of :meth:`strategy` (sorted keys, no whitespace)."""
        text = json.dumps(self.strategy(), sort_keys=True, separators=(",", ":"), allow_nan=False)
        return hashlib.sha256(text.encode()).hexdigest()


def _canonical(value: Any) -> Any:
    """JSON-ready: ``inf`` spelled as a string, tuples as lists, paths as strings."""
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, int | float):
        return value
    return str(value)
