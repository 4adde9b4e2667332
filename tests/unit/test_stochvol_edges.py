"""Heston: input checks name the argument, defaults, and the simulated dynamics (mean reversion of the
variance, correlation of the two shocks) against their closed-form moments."""

from __future__ import annotations

import math

import numpy as np
import pytest

from keeper.core.stochvol import HestonParams, heston_price, simulate_heston
from keeper.errors import InputError

P = HestonParams(v0=0.3, kappa=3.0, theta=0.36, xi=1.2, rho=-0.6)


@pytest.mark.parametrize("field", ["v0", "kappa", "theta", "xi"])
def test_parameter_messages_name_the_field(field: str) -> None:
    args = {"v0": 0.1, "kappa": 1.0, "theta": 0.1, "xi": 0.5, "rho": 0.0, field: -1.0}
    with pytest.raises(InputError) as info:
        HestonParams(**args)
    assert str(info.value) == f"{field}: must be finite and > 0, got -1.0"
    with pytest.raises(InputError) as info:
        HestonParams(0.1, 1.0, 0.1, 0.5, -1.0)
    assert str(info.value) == "rho: must be in (-1, 1), got -1.0"


@pytest.mark.parametrize(("spot", "strike", "v"), [(0.0, 100.0, 0.1), (100.0, 0.0, 0.1), (100.0, 100.0, -0.1),
                                                   (100.0, 100.0, math.nan)])
def test_price_inputs_are_named(spot: float, strike: float, v: float) -> None:
    with pytest.raises(InputError) as info:
        heston_price(P, spot, strike, 0.5, v)
    assert str(info.value) == "spot/strike/v: spot and strike must be > 0, v finite and >= 0"
    with pytest.raises(InputError) as info:
        heston_price(P, 100.0, 100.0, math.inf, 0.1)
    assert info.value.argument == "t"


def test_zero_variance_spot_and_strike_below_one_and_default_call() -> None:
    small = heston_price(P, 0.5, np.array([0.4, 0.5, 0.6]), 0.25, 0.0)
    assert np.all(np.isfinite(small)) and np.all(small > 0)
    assert float(heston_price(P, 0.5, 0.5, 0.25, 0.0)) == pytest.approx(float(small[1]), rel=1e-12)
    call = heston_price(P, 2000.0, 2100.0, 0.25, P.v0)
    put = heston_price(P, 2000.0, 2100.0, 0.25, P.v0, False)
    assert float(call) - float(put) == pytest.approx(2000.0 - 2100.0, abs=1e-6)  # parity, r = q = 0
    assert float(call) < float(put)  # the default is a call: out of the money here


@pytest.mark.parametrize(
    "kwargs",
    [{"n_paths": 0}, {"n_steps": 0}, {"dt": 0.0}, {"substeps": 0}, {"s0": 0.0}],
)
def test_simulation_arguments_are_checked(kwargs: dict[str, float]) -> None:
    args: dict[str, float] = {"s0": 100.0, "n_paths": 1, "n_steps": 1, "dt": 0.01, "substeps": 1}
    args.update(kwargs)
    with pytest.raises(InputError) as info:
        simulate_heston(P, args["s0"], int(args["n_paths"]), int(args["n_steps"]), args["dt"], seed=1,
                        substeps=int(args["substeps"]))
    assert str(info.value) == "n_paths/n_steps/dt/substeps/s0: must be positive"
    spot, var = simulate_heston(P, 100.0, 1, 1, 0.01, seed=1, substeps=1)  # the smallest valid run
    assert spot.shape == var.shape == (2, 1)


def test_simulated_variance_reverts_and_shocks_are_correlated() -> None:
    """Euler mean reversion E[v_n] = theta + (v0 - theta)(1 - kappa h)^n (v stays positive here: Feller
    2 kappa theta > xi^2); corr(d ln S, d v) ~ rho over one short step."""
    p = HestonParams(v0=0.1, kappa=4.0, theta=0.5, xi=0.3, rho=-0.7)
    _, var = simulate_heston(p, 100.0, 40_000, 1, 0.25, seed=7)  # 8 substeps of h = 0.25 / 8
    expected = p.theta + (p.v0 - p.theta) * (1.0 - p.kappa * 0.25 / 8) ** 8
    assert float(var[1].mean()) == pytest.approx(expected, rel=0.005)
    s, v = simulate_heston(p, 100.0, 40_000, 1, 1e-4, seed=8, substeps=1)
    corr = float(np.corrcoef(np.log(s[1] / s[0]), v[1] - v[0])[0, 1])
    assert corr == pytest.approx(p.rho, abs=0.02)
    dv = v[1] - v[0]
    # Var(dv) = xi^2 v0 dt (the drift is O(dt)): checks that the second shock has unit variance
    assert float(dv.var()) == pytest.approx(p.xi**2 * p.v0 * 1e-4, rel=0.05)


def test_bad_maturity_message_is_verbatim() -> None:
    for t in (0.0, -1.0, math.nan):
        with pytest.raises(InputError) as info:
            heston_price(P, 100.0, 100.0, t, 0.1)
        assert str(info.value) == f"t: must be finite and > 0, got {t!r}"


def test_a_spot_below_one_simulates() -> None:
    """Any s0 > 0 is valid (a token quoted in a larger unit): the paths scale with s0."""
    small, _ = simulate_heston(P, 0.5, 4, 3, 0.01, seed=3)
    big, _ = simulate_heston(P, 100.0, 4, 3, 0.01, seed=3)
    assert small[0, 0] == 0.5
    np.testing.assert_allclose(small * 200.0, big, rtol=1e-12)
