"""Every numeric field of the core's validated inputs rejects NaN (and a wrong type) with an
InputError naming exactly that field, so a person reading the error knows what to fix."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from keeper.core import gates, hedge_types, portfolio, sizing, smile_delta, stochvol, svi, venue_inputs, vol
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
    sizing.Fill: dict(timestamp=1_700_000_000.0, notional_quote=10.0),
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
