"""Field names of the core's validated inputs.

Every numeric field rejects NaN (and a wrong type) with an InputError naming exactly that field, so a
person reading the error knows what to fix. And the config's ``[policy]`` keys are the core's policy
fields: same name, same unit, same default (no renames on the way from the TOML file to the core)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from keeper.config import AssetPolicy, PolicyOverride
from keeper.config.model import POLICY_PARTS
from keeper.core import gates, hedge_types, portfolio, sizing, smile_delta, stochvol, svi, venue_inputs, vol
from keeper.core.policy import UnderlyingPolicy
from keeper.errors import InputError

# a valid instance's arguments per class
BASELINES: dict[type[Any], dict[str, Any]] = {
    gates.OracleView: dict(feed_price=3000.0, feed_updated_at=1_700_000_000.0, pool_spot=3001.0, twap=2999.0,
                           block_timestamp=1_700_000_100.0),
    gates.GateConfig: {},
    hedge_types.Exposure: dict(underlying="ETH", delta_units=1.5, gamma_units_per_quote=-1e-3,
                               book_value_quote=1e6, spot=3000.0),
    sizing.TriggerConfig: dict(cost_fraction=0.001),
    sizing.SizingConfig: {},
    sizing.PastHedge: dict(timestamp=1_700_000_000.0, notional_quote=10.0),
    venue_inputs.GasView: dict(gas_price_gwei=20.0, native_price_quote=3000.0),
    venue_inputs.SwapVenue: dict(venue_id="uni", fee_fraction=0.0005, gas_units=150_000.0,
                                 underlying_balance_units=10.0, quote_balance_quote=1e5, liquidity=1e7,
                                 sqrt_price=55.0),
    venue_inputs.PerpVenue: dict(venue_id="perp", taker_fee_fraction=0.0005, funding_rate_per_second=1e-9,
                                 free_margin_quote=1e5, initial_margin_fraction=0.1, gas_units=200_000.0),
    venue_inputs.VenueConfig: {},
    venue_inputs.SwapQuote: dict(side="buy", size_units=1.0, avg_price_quote=3000.0),
    stochvol.HestonParams: dict(v0=0.36, kappa=2.0, theta=0.36, xi=0.8, rho=-0.5),
    svi.SviParams: dict(a=0.04, b=0.1, rho=-0.3, m=0.0, sigma=0.2),
    vol.FixedVol: dict(sigma=0.6),
    smile_delta.SmilePolicy: {},
    smile_delta.MinVarianceCoefficients: dict(a=-0.2, b=0.1, c=0.0),
    portfolio.LPPosition: dict(underlying="ETH", liquidity=1e18, tick_lower=-600, tick_upper=600,
                               underlying_is_token0=True, decimals0=18, decimals1=6, amount_underlying=1.0,
                               amount_quote=3000.0, mark=3000.0),
}

# LPPosition leaves liquidity to lp_greeks (InputError "liquidity") and its fees to the Exposure the
# book builds (InputError "delta_units"); both come from exact integers read from the chain.
DOWNSTREAM = {(portfolio.LPPosition, "liquidity"), (portfolio.LPPosition, "fees_underlying"),
              (portfolio.LPPosition, "fees_quote")}
CASES = [(cls, f.name) for cls in BASELINES for f in dataclasses.fields(cls)
         if "float" in str(f.type) and (cls, f.name) not in DOWNSTREAM]


def test_baselines_are_valid() -> None:
    for cls, kwargs in BASELINES.items():
        cls(**kwargs)


@pytest.mark.parametrize(("cls", "name"), CASES, ids=[f"{c.__name__}.{n}" for c, n in CASES])
def test_nan_is_rejected_naming_the_field(cls: type[Any], name: str) -> None:
    with pytest.raises(InputError) as exc:
        cls(**{**BASELINES[cls], name: math.nan})
    assert exc.value.argument == name
    assert str(exc.value).startswith(f"{name}: ")


# ----------------------------------------------------------------------------- config keys = core fields

POLICY_KEYS = [f.name for f in dataclasses.fields(AssetPolicy)]
NOT_POLICY_KEYS = {"max_oracle_deviation_bps", "max_feed_age_s", "require_twap"}
"""Core policy fields set from other config sections ([oracles]), not from a [policy] table."""


def _owners(key: str) -> list[type[Any]]:
    if key == "target_delta_units":
        return [UnderlyingPolicy]
    return [cls for cls in POLICY_PARTS if key in {f.name for f in dataclasses.fields(cls)}]


def _core_field(key: str) -> dataclasses.Field[Any]:
    (owner,) = _owners(key)
    (field,) = [f for f in dataclasses.fields(owner) if f.name == key]
    return field


def test_the_policy_table_and_the_effective_policy_have_the_same_keys() -> None:
    assert set(PolicyOverride.model_fields) == set(POLICY_KEYS)


@pytest.mark.parametrize("key", POLICY_KEYS)
def test_every_policy_key_is_one_core_field_with_the_same_default(key: str) -> None:
    assert len(_owners(key)) == 1, f"[policy] key {key!r} is a field of {_owners(key)} (want exactly one)"
    default = _core_field(key).default
    assert default is not dataclasses.MISSING
    (mine,) = [f for f in dataclasses.fields(AssetPolicy) if f.name == key]
    assert mine.default == default and type(mine.default) is type(default)


def test_every_core_policy_field_is_a_policy_key() -> None:
    core = {f.name for cls in POLICY_PARTS for f in dataclasses.fields(cls)}
    assert core - NOT_POLICY_KEYS == set(POLICY_KEYS) - {"target_delta_units"}


def test_the_config_defaults_are_the_core_defaults() -> None:
    assert AssetPolicy().to_core(gates.GateConfig()) == UnderlyingPolicy()


def test_band_pct_is_percent_in_the_config_and_the_core() -> None:
    # 2 % of a 3M USD book at 3,000 USD/ETH = 20 ETH, whether the band comes from the config or the core
    core = sizing.TriggerConfig(trigger="pct_book", band_pct=2.0)
    via_config = AssetPolicy(trigger="pct_book", band_pct=2.0).to_core(gates.GateConfig()).trigger
    assert via_config == core
    assert sizing.compute_band(core, 0.0, 3000.0, 0.0, 3e6, 0.0).half_width_units == pytest.approx(20.0)
