"""The policies compared side by side, each expressed as the keeper's own :class:`UnderlyingPolicy`.

================  ==========================================================================
name              policy
================  ==========================================================================
``none``          no hedge
``interval:4h``   every 4 h hedge to the target: the keeper's time trigger
                  (``max_interval_s``) with a band no deviation reaches
``band:200bps``   ``pct_book`` band of 200 bps of ``|book value|``, hedged to the target (a
                  fixed band like the best public hedger's 2 % default)
``ww:3``          Whalley-Wilmott band with relative risk aversion 3, i.e.
                  ``lambda = 3 / gross book value`` (1/quote), ``k`` from the venue, to the edge
``config``        the configured policy of the underlying (``KeeperConfig.policy_config()``)
================  ==========================================================================

Besides the configured one, the policies have no minimum trade and no caps, so that the
comparison is of the trigger rule alone. :func:`with_flavours` runs each policy once per option
delta flavour (names ``ww:3@ss``, ``ww:3@sm``, ``ww:3@mv`` when there are several).
"""

from __future__ import annotations

import math
import re
from dataclasses import replace

from keeper.backtest.engine import PolicySpec
from keeper.backtest.flavours import FLAVOUR_TAGS
from keeper.core.policy import UnderlyingPolicy
from keeper.core.sizing import SizingConfig, TriggerConfig
from keeper.core.smile_delta import DeltaFlavour
from keeper.errors import InputError

__all__ = ["DEFAULT_BANDS_BPS", "DEFAULT_INTERVALS_H", "DEFAULT_WW_RISK", "NEVER_UNITS", "comparison_set",
           "parse_policies", "with_flavours"]

DEFAULT_INTERVALS_H = (1.0, 2.0, 4.0, 8.0, 12.0, 24.0)
DEFAULT_BANDS_BPS = (50.0, 100.0, 200.0, 400.0)
DEFAULT_WW_RISK = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1e3, 3e3, 1e4, 3e4, 1e5)
NEVER_UNITS = 1e15
"""Half-width of the interval policies' band: no book's deviation reaches it, so only time triggers."""

_UNCAPPED = SizingConfig(hedge_to="target", max_trade_usd=math.inf, window_cap_usd=math.inf)


def interval_policy(hours: float, target: float = 0.0) -> PolicySpec:
    if not hours > 0.0:
        raise InputError("policies", f"interval must be > 0 h, got {hours!r}")
    trig = TriggerConfig(trigger="fixed", band_units=NEVER_UNITS, max_interval_s=hours * 3600.0)
    return PolicySpec(f"interval:{hours:g}h", "interval", UnderlyingPolicy(target, trig, _UNCAPPED), hours)


def band_policy(bps: float, target: float = 0.0) -> PolicySpec:
    if not 0.0 < bps <= 10_000.0:
        raise InputError("policies", f"band must be in (0, 10000] bps, got {bps!r}")
    trig = TriggerConfig(trigger="pct_book", band_pct=bps / 100.0)
    return PolicySpec(f"band:{bps:g}bps", "band", UnderlyingPolicy(target, trig, _UNCAPPED), bps)


def ww_policy(risk: float, scale_quote: float, target: float = 0.0) -> PolicySpec:
    if not (risk > 0.0 and scale_quote > 0.0):
        raise InputError("policies", f"ww risk aversion and book scale must be > 0, got {risk!r}, {scale_quote!r}")
    trig = TriggerConfig(trigger="ww", risk_aversion_per_usd=risk / scale_quote)
    sizing = SizingConfig(hedge_to="edge", max_trade_usd=math.inf, window_cap_usd=math.inf)
    return PolicySpec(f"ww:{risk:g}", "ww", UnderlyingPolicy(target, trig, sizing), risk)


def comparison_set(scale_quote: float, configured: UnderlyingPolicy | None = None, *,
                   intervals_h: tuple[float, ...] = DEFAULT_INTERVALS_H,
                   bands_bps: tuple[float, ...] = DEFAULT_BANDS_BPS,
                   ww_risk: tuple[float, ...] = DEFAULT_WW_RISK, target: float = 0.0) -> tuple[PolicySpec, ...]:
    """No hedge, the intervals, the bands, the WW bands and (when given) the configured policy."""
    out = [PolicySpec("none", "none", None, target_units=target)]
    out += [interval_policy(h, target) for h in intervals_h]
    out += [band_policy(b, target) for b in bands_bps]
    out += [ww_policy(r, scale_quote, target) for r in ww_risk]
    if configured is not None:
        out.append(PolicySpec("config", "config", configured))
    return tuple(out)


_PATTERN = re.compile(r"^(none|config|interval:(?P<h>[0-9.]+)h|band:(?P<b>[0-9.]+)bps|ww:(?P<w>[0-9.eE+-]+))$")


# Long on purpose: a small grammar (interval/band/ww/none with options): one branch per form and error.
def parse_policies(names: list[str], scale_quote: float, configured: UnderlyingPolicy | None,  # noqa: C901, PLR0912
                   target: float = 0.0) -> tuple[PolicySpec, ...]:
    """Policies by name (``none``, ``config``, ``interval:4h``, ``band:200bps``, ``ww:3``;
    ``intervals``, ``bands``, ``ww``, ``all`` expand to the defaults)."""
    out: list[PolicySpec] = []
    groups = {"intervals": "interval", "bands": "band", "ww": "ww"}
    for raw in names:
        for name in (n.strip() for n in raw.split(",") if n.strip()):
            if name == "all":
                out += comparison_set(scale_quote, configured, target=target)
                continue
            if name in groups:
                out += [s for s in comparison_set(scale_quote, None, target=target) if s.family == groups[name]]
                continue
            m = _PATTERN.match(name)
            if m is None:
                raise InputError("policies", f"unknown policy {name!r} (none, config, interval:4h, band:200bps, "
                                             "ww:3, intervals, bands, ww, all)")
            try:
                if name == "none":
                    out.append(PolicySpec("none", "none", None, target_units=target))
                elif name == "config":
                    if configured is None:
                        raise InputError("policies", "'config' needs --config")
                    out.append(PolicySpec("config", "config", configured))
                elif m.group("h"):
                    out.append(interval_policy(float(m.group("h")), target))
                elif m.group("b"):
                    out.append(band_policy(float(m.group("b")), target))
                else:
                    out.append(ww_policy(float(m.group("w")), scale_quote, target))
            except ValueError as exc:
                if isinstance(exc, InputError):
                    raise
                raise InputError("policies", f"bad number in {name!r}") from None
    seen: dict[str, PolicySpec] = {}
    for s in out:
        seen.setdefault(s.name, s)
    if not seen:
        raise InputError("policies", "no policy given")
    return tuple(seen.values())


def with_flavours(specs: tuple[PolicySpec, ...], flavours: tuple[DeltaFlavour, ...]) -> tuple[PolicySpec, ...]:
    """Every spec once per flavour (flavour-major order). One flavour keeps the names; several
    suffix them with the flavour's tag (``interval:4h@mv``) so that every run has its own name."""
    if not flavours:
        raise InputError("delta_flavours", "no delta flavour given")
    if len(flavours) == 1:
        return tuple(replace(s, flavour=flavours[0]) for s in specs)
    return tuple(replace(s, name=f"{s.name}@{FLAVOUR_TAGS[f]}", flavour=f) for f in flavours for s in specs)
