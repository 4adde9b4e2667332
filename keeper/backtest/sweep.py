"""Parameter sweeps of ``keeper backtest --sweep KEY=VALUES``: policies x models, each a grid of values.

Values (one ``--sweep`` per key, each key at most once):

==================  ==========================================================================
``a,b,c``           the listed numbers (``5,10,20``)
``lo..hi:n``        ``n`` (>= 2) values spaced evenly in log from ``lo`` to ``hi`` (both ends
                    included; needs ``0 < lo < hi``): ``1e-6..1e-2:20``. Scale parameters (risk
                    aversions, bands, intervals) are swept by ratio, so this is the plain range.
``log:lo..hi:n``    the same, spelled out
``lin:lo..hi:n``    ``n`` values spaced evenly from ``lo`` to ``hi`` (any signs): ``lin:-0.9..-0.3:4``
==================  ==========================================================================

Policy keys: each value is one policy, hedged to the book's target; the swept policies of every
policy key run together (their union, in the order given), besides the ``--policies`` given:

=============================  =================================================================
``ww.risk_aversion_per_usd``   Whalley-Wilmott band with absolute risk aversion ``lambda`` (1/USD),
                               hedged to the band's edge: policy ``ww:<lambda>/usd``
``ww.risk``                    the same with relative risk aversion ``R`` (``lambda = R / |book|``):
                               ``ww:<R>`` as in ``--policies ww:3``
``band_units``                 fixed band of half-width ``u`` underlying units: ``band:<u>u``
``band_bps``                   band of ``b`` bps of the book's gross value: ``band:<b>bps``
``interval_h``                 hedge to target every ``h`` hours: ``interval:<h>h``
=============================  =================================================================

Model keys: every combination of their values is one scenario (the cross product), each run on
the same seeded paths' random draws (common random numbers); the book is the one built at the
base ``--vol`` (the world changes, not the position):

=========================================  ======================================================
``vol``                                    annual vol of the gbm, garch or merton paths (and of the
                                           LPs' LVR formula)
``heston.v0``, ``.kappa``, ``.theta``,     a Heston parameter (``--model heston``)
``.xi``, ``.rho``
``fee_bps``, ``liquidity``, ``gas_usd``    the hedge pool's fee tier (bps), active liquidity (human
                                           units) and gas per swap (USD)
=========================================  ======================================================

Every error names the flag and the value it rejects.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from keeper.backtest.engine import PolicySpec
from keeper.backtest.parallel import BacktestJob
from keeper.backtest.paths import GarchModel, GBMModel, HestonModel, MertonModel
from keeper.backtest.policies import band_policy, interval_policy, ww_policy
from keeper.core.policy import UnderlyingPolicy
from keeper.core.sizing import SizingConfig, TriggerConfig
from keeper.errors import InputError

__all__ = ["MAX_VALUES", "MODEL_KEYS", "POLICY_KEYS", "Scenario", "SweepAxis", "apply_scenario", "check_axes",
           "parse_sweep", "scenarios", "sweep_policies"]

MAX_VALUES = 1000
"""Values one axis may have (a typo such as ``:2000`` would otherwise queue a very long run)."""

_UNCAPPED_EDGE = SizingConfig(hedge_to="edge", max_trade_usd=math.inf, window_cap_usd=math.inf)
_UNCAPPED_TARGET = SizingConfig(hedge_to="target", max_trade_usd=math.inf, window_cap_usd=math.inf)


def _positive(v: float) -> bool:
    return v > 0.0


# key -> (valid value?, what a valid value is)
POLICY_KEYS: dict[str, tuple[Callable[[float], bool], str]] = {
    "ww.risk_aversion_per_usd": (_positive, "> 0 (1/USD)"),
    "ww.risk": (_positive, "> 0"),
    "band_units": (_positive, "> 0 (underlying units)"),
    "band_bps": (lambda v: 0.0 < v <= 10_000.0, "in (0, 10000] bps"),
    "interval_h": (_positive, "> 0 hours"),
}
MODEL_KEYS: dict[str, tuple[Callable[[float], bool], str]] = {
    "vol": (lambda v: 0.0 < v < 10.0, "in (0, 10) (annual)"),
    "heston.v0": (_positive, "> 0 (variance per year)"),
    "heston.kappa": (_positive, "> 0 (per year)"),
    "heston.theta": (_positive, "> 0 (variance per year)"),
    "heston.xi": (_positive, "> 0"),
    "heston.rho": (lambda v: -1.0 < v < 1.0, "in (-1, 1)"),
    "fee_bps": (lambda v: 0.0 <= v < 10_000.0, "in [0, 10000) bps"),
    "liquidity": (_positive, "> 0 (human units)"),
    "gas_usd": (lambda v: v >= 0.0, ">= 0 USD"),
}

_RANGE = re.compile(r"^(?:(?P<kind>lin|log):)?(?P<lo>[^.:]+(?:\.[^.:]+)?)\.\.(?P<hi>[^:]+):(?P<n>[^:]+)$")


@dataclass(frozen=True, slots=True)
class SweepAxis:
    """One ``--sweep``: a key and its values, in order."""

    key: str
    values: tuple[float, ...]

    @property
    def is_policy(self) -> bool:
        return self.key in POLICY_KEYS


def _number(flag: str, text: str, part: str) -> float:
    try:
        v = float(part)
    except ValueError:
        raise InputError(flag, f"{text!r}: {part.strip()!r} is not a number") from None
    if not math.isfinite(v):
        raise InputError(flag, f"{text!r}: {part.strip()!r} is not a finite number")
    return v


def _values(flag: str, text: str, spec: str) -> tuple[float, ...]:
    m = _RANGE.match(spec.replace(" ", ""))
    if m is None:
        if ".." in spec:
            raise InputError(flag, f"{text!r}: a range is lo..hi:n, log:lo..hi:n or lin:lo..hi:n (n >= 2 values)")
        return tuple(_number(flag, text, p) for p in spec.split(","))
    lo, hi = _number(flag, text, m["lo"]), _number(flag, text, m["hi"])
    try:
        n = int(m["n"])
    except ValueError:
        raise InputError(flag, f"{text!r}: the count after ':' must be a whole number, got {m['n']!r}") from None
    if not 2 <= n <= MAX_VALUES:
        raise InputError(flag, f"{text!r}: the count must be in 2..{MAX_VALUES}, got {n}")
    if not lo < hi:
        raise InputError(flag, f"{text!r}: a range needs lo < hi, got {lo:g}..{hi:g}")
    if m["kind"] == "lin":
        return tuple(float(x) for x in np.linspace(lo, hi, n))
    if lo <= 0.0:
        raise InputError(flag, f"{text!r}: a log-spaced range needs 0 < lo; use lin:{m['lo']}..{m['hi']}:{n} "
                               "for evenly spaced values")
    out = np.geomspace(lo, hi, n)
    out[0], out[-1] = lo, hi  # the ends exactly as written
    return tuple(float(x) for x in out)


def parse_sweep(text: str, flag: str = "--sweep") -> SweepAxis:
    """``KEY=VALUES`` (see the module docstring); raises :class:`InputError` naming ``flag`` and ``text``."""
    key, sep, spec = text.partition("=")
    key = key.strip()
    if not sep or not key or not spec.strip():
        raise InputError(flag, f"{text!r}: expected KEY=VALUES, e.g. ww.risk_aversion_per_usd=1e-6..1e-2:20 "
                               "or band_units=5,10,20")
    known = POLICY_KEYS | MODEL_KEYS
    if key not in known:
        raise InputError(flag, f"{text!r}: unknown key {key!r} (policies: {', '.join(POLICY_KEYS)}; models: "
                               f"{', '.join(MODEL_KEYS)})")
    values = _values(flag, text, spec.strip())
    ok, what = known[key]
    for v in values:
        if not ok(v):
            raise InputError(flag, f"{text!r}: {key} must be {what}, got {v:g}")
    if len(set(values)) != len(values):
        raise InputError(flag, f"{text!r}: a value is given twice")
    if len(values) > MAX_VALUES:
        raise InputError(flag, f"{text!r}: at most {MAX_VALUES} values per key, got {len(values)}")
    return SweepAxis(key, values)


def check_axes(axes: Sequence[SweepAxis], model: str, flag: str = "--sweep") -> None:
    """Each key once, and the model keys the ``model`` (gbm, garch, merton, heston, csv) has."""
    seen: set[str] = set()
    for a in axes:
        if a.key in seen:
            raise InputError(flag, f"{a.key} is swept twice: give its values in one --sweep")
        seen.add(a.key)
        if a.key == "vol" and model not in ("gbm", "garch", "merton"):
            raise InputError(flag, f"vol: the {model} model has no single vol to sweep"
                                   + ("; sweep heston.v0 and heston.theta" if model == "heston" else ""))
        if a.key.startswith("heston.") and model != "heston":
            raise InputError(flag, f"{a.key}: needs --model heston (got --model {model})")


def _name(prefix: str, v: float, suffix: str) -> str:
    return f"{prefix}{v:.6g}{suffix}"


def sweep_policies(axes: Sequence[SweepAxis], scale_quote: float, target: float = 0.0) -> tuple[PolicySpec, ...]:
    """The policies of the policy axes, in order (``scale_quote``: the book's gross value, USD, for ``ww.risk``
    and the plotted relative risk aversion of ``ww.risk_aversion_per_usd``)."""
    out: list[PolicySpec] = []
    for a in axes:
        for v in a.values:
            if a.key == "ww.risk_aversion_per_usd":
                trig = TriggerConfig(trigger="ww", risk_aversion_per_usd=v)
                out.append(PolicySpec(_name("ww:", v, "/usd"), "ww", UnderlyingPolicy(target, trig, _UNCAPPED_EDGE),
                                      v * scale_quote))
            elif a.key == "ww.risk":
                out.append(ww_policy(v, scale_quote, target))
            elif a.key == "band_units":
                trig = TriggerConfig(trigger="fixed", band_units=v)
                out.append(PolicySpec(_name("band:", v, "u"), "band", UnderlyingPolicy(target, trig, _UNCAPPED_TARGET),
                                      v))
            elif a.key == "band_bps":
                out.append(band_policy(v, target))
            elif a.key == "interval_h":
                out.append(interval_policy(v, target))
    names = [s.name for s in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup is not None:
        raise InputError("--sweep", f"two swept values give the same policy {dup!r} (6 significant digits): "
                                    "space them further apart")
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Scenario:
    """One combination of the model axes' values (empty: the base model)."""

    settings: tuple[tuple[str, float], ...] = ()

    @property
    def label(self) -> str:
        """``vol=0.4 fee_bps=5`` (``base`` for no setting)."""
        return " ".join(f"{k}={v:g}" for k, v in self.settings) or "base"

    @property
    def slug(self) -> str:
        """A folder name: ``vol-0.4_fee_bps-5``."""
        return "_".join(f"{k.replace('.', '-')}-{v:g}" for k, v in self.settings) or "base"


def scenarios(axes: Sequence[SweepAxis]) -> tuple[Scenario, ...]:
    """The cross product of the model axes (in the order given; the last varies fastest)."""
    model_axes = [a for a in axes if not a.is_policy]
    return tuple(Scenario(tuple(zip((a.key for a in model_axes), combo, strict=True)))
                 for combo in itertools.product(*(a.values for a in model_axes)))


def apply_scenario(job: BacktestJob, scenario: Scenario) -> BacktestJob:
    """``job`` with the scenario's model and venue settings (the book, policies and seed unchanged).

    ``vol`` sets the path model's ``sigma`` and the LVR formula's vol; Heston settings replace the
    model's parameters (and drop a minimum-variance fit of the old ones, so it is fitted again).
    """
    s = dict(scenario.settings)
    model = job.model
    changes: dict[str, Any] = {}
    if "vol" in s:
        if not isinstance(model, GBMModel | GarchModel | MertonModel):
            raise InputError("--sweep", f"vol: the {type(model).__name__} has no single vol to sweep")
        model = replace(model, sigma=s["vol"])
        changes["sigma"] = s["vol"]
    heston = {k.removeprefix("heston."): v for k, v in s.items() if k.startswith("heston.")}
    if heston:
        if not isinstance(model, HestonModel):
            raise InputError("--sweep", f"{', '.join('heston.' + k for k in heston)}: needs --model heston")
        new = replace(model, **heston)
        if job.sigma == model.annual_vol:  # the LVR formula's vol followed the model's: it follows it still
            changes["sigma"] = new.annual_vol
        model = new
        changes["mv_fit"] = None
    if model is not job.model:
        changes["model"] = model
    venue = {field: scale * s[key] for key, (field, scale) in _VENUE.items() if key in s}
    if venue:
        c = job.costs
        changes["costs"] = replace(c, fee_fraction=venue.get("fee_fraction", c.fee_fraction),
                                   liquidity=venue.get("liquidity", c.liquidity),
                                   gas_quote=venue.get("gas_quote", c.gas_quote))
    return replace(job, **changes) if changes else job


_VENUE = {"fee_bps": ("fee_fraction", 1e-4), "liquidity": ("liquidity", 1.0), "gas_usd": ("gas_quote", 1.0)}
"""Venue sweep key -> (:class:`~keeper.backtest.engine.CostModel` field, factor)."""
