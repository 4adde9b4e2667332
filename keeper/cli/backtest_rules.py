"""``keeper backtest`` flags of the keeper's rules: the simulated oracle, TWAP, gas and perp the gates and the
venue choice read (:mod:`keeper.backtest.market`), and the gate limits every compared policy is held to.

``--rules keeper`` (the default) decides each hedge through the array twin of ``decide``: a hedge is
deferred when the feed is stale, when feed, pool and TWAP disagree, or when gas is above the cap (unless
urgent), and goes to the pool or the perp, whichever costs less all in. ``--rules ideal`` is the keeper
without gates, always swapping at the simulated price (the backtest before the rules were modelled).

Defaults come from the config (``-c``) where it has them: the TWAP window (``oracles.twap_window_s``),
the gate limits (``oracles.max_deviation_bps``, ``oracles.max_feed_age_s``, the policy's
``max_gas_gwei`` and ``urgent_deviation_units``), the venue limits (``max_slippage_bps``,
``max_impact_bps``, ``perp_holding_horizon_s``) and the perp's gas (``execution.perp_gas_units`` over
``swap_gas_units``). Every compared policy gets the same gate and venue limits, so the comparison is of
the trigger rules under one set of gates.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
from typing import Any

from keeper.errors import InputError

__all__ = ["add_rule_flags", "market_from_args", "rules_meta", "with_rule_limits"]


def add_rule_flags(p: argparse.ArgumentParser) -> None:
    """Register the rule flags on the ``backtest`` parser."""
    g = p.add_argument_group("the keeper's rules (gates and venue choice; see keeper.cli.backtest_rules)")
    g.add_argument("--rules", choices=("keeper", "ideal"), default="keeper",
                   help="keeper: the gates and venue choice of decide on a simulated feed, TWAP and gas (default); "
                        "ideal: no gates, swaps at the simulated price")
    g.add_argument("--oracle-lag", default="60s", help="age of the price the feed reports: 0, 30s, 5m (default 60s)")
    g.add_argument("--feed-heartbeat", default="1h", help="feed heartbeat: a round at least this often (default 1h)")
    g.add_argument("--feed-deviation-bps", type=float, default=50.0,
                   help="feed deviation threshold: a round when the price moved this much, bps (default 50)")
    g.add_argument("--feed-miss-prob", type=float, default=0.0,
                   help="probability that a due feed round is missed (an outage; default 0)")
    g.add_argument("--twap-window", default=None, help="pool TWAP window (default: the config's, else 30m)")
    g.add_argument("--gas-gwei", type=float, default=20.0,
                   help="base gas price, gwei (default 20); --gas-usd is a swap's gas at this price")
    g.add_argument("--gas-spikes-per-day", type=float, default=1.0, help="gas spikes per day (default 1)")
    g.add_argument("--gas-spike-x", type=float, default=3.0,
                   help="gas multiple of a spike, geometric mean (default 3: x3), decaying with a 42 min half-life")
    g.add_argument("--max-gas-gwei", type=float, default=None,
                   help="gas cap of every policy, gwei (default: the config's max_gas_gwei, else none)")
    g.add_argument("--urgent-units", type=float, default=None,
                   help="|delta - target| beyond which a hedge ignores the gas cap, underlying units (default: the "
                        "config's urgent_deviation_units, else never)")
    g.add_argument("--perp-fee-bps", type=float, default=None,
                   help="add a perp venue with this taker fee, bps (default: no perp)")
    g.add_argument("--perp-funding-apr", type=float, default=0.10,
                   help="perp funding, fraction of notional per year, > 0: longs pay (default 0.10)")


def _reflag(exc: InputError) -> InputError:
    """``exc`` with its argument spelled as the flag (``gas_spike_x`` -> ``--gas-spike-x``)."""
    message = str(exc).split(": ", 1)[-1]
    return InputError("--" + exc.argument.replace("_", "-"), message)


def _duration(flag: str, text: str) -> float:
    from keeper.backtest.paths import parse_step

    if text.strip() in ("0", "0s"):
        return 0.0
    try:
        return float(parse_step(text))
    except InputError as exc:
        raise InputError(flag, str(exc).split(": ", 1)[-1]) from None


def market_from_args(args: argparse.Namespace, cfg: Any) -> Any:
    """The :class:`~keeper.backtest.market.MarketModel` of the flags, or ``None`` with ``--rules ideal``.

    Each bad value raises an ``InputError`` naming its flag.
    """
    from keeper.backtest.market import MarketModel, PerpModel

    if args.rules == "ideal":
        given = [f for f in ("max_gas_gwei", "urgent_units", "perp_fee_bps", "twap_window") if getattr(args, f)
                 is not None]
        if given:
            raise InputError("--" + given[0].replace("_", "-"), "not with --rules ideal (no gates, no perp)")
        return None
    twap = (_duration("--twap-window", args.twap_window) if args.twap_window is not None
            else float(cfg.oracles.twap_window_s) if cfg is not None else 1800.0)
    try:
        perp = None
        if args.perp_fee_bps is not None:
            if not 0.0 <= args.perp_fee_bps <= 1000.0:
                raise InputError("perp_fee_bps", f"must be in [0, 1000] bps, got {args.perp_fee_bps!r}")
            ratio = (cfg.execution.perp_gas_units / cfg.execution.swap_gas_units if cfg is not None
                     else 320_000.0 / 260_000.0)
            perp = PerpModel(args.perp_fee_bps * 1e-4, args.perp_funding_apr, ratio)
        lag, heartbeat = _duration("--oracle-lag", args.oracle_lag), _duration("--feed-heartbeat", args.feed_heartbeat)
        return MarketModel(lag, heartbeat, args.feed_deviation_bps, args.feed_miss_prob, twap, args.gas_gwei,
                           gas_spikes_per_day=args.gas_spikes_per_day, gas_spike_x=args.gas_spike_x, perp=perp,
                           seed=max(args.seed, 0))
    except InputError as exc:
        if exc.argument.startswith("--"):
            raise
        raise _reflag(exc) from None


def with_rule_limits(specs: tuple[Any, ...], args: argparse.Namespace, configured: Any) -> tuple[Any, ...]:
    """Every policy with the configured (else the default) gate and venue limits, and the gas flags on top.

    ``--rules ideal`` leaves the specs as they are.
    """
    from keeper.core.gates import GateConfig
    from keeper.core.venue_inputs import VenueConfig

    if args.rules == "ideal":
        return specs
    gates = configured.gates if configured is not None else GateConfig()
    venues = configured.venues if configured is not None else VenueConfig()
    for flag, name, value in (("--max-gas-gwei", "max_gas_gwei", args.max_gas_gwei),
                              ("--urgent-units", "urgent_deviation_units", args.urgent_units)):
        if value is not None:
            if not (value > 0.0 if name == "max_gas_gwei" else value >= 0.0) or math.isnan(value):
                raise InputError(flag, f"must be {'> 0' if name == 'max_gas_gwei' else '>= 0'}, got {value!r}")
            gates = dataclasses.replace(gates, **{name: value})
    return tuple(s if s.policy is None else dataclasses.replace(
        s, policy=dataclasses.replace(s.policy, gates=gates, venues=venues)) for s in specs)


def rules_meta(market: Any, specs: tuple[Any, ...]) -> dict[str, Any] | None:
    """``meta["rules"]`` of the report: the market model and the gate limits (``None`` for the ideal keeper)."""
    if market is None:
        return None
    gates = next((s.policy.gates for s in specs if s.policy is not None), None)
    doc: dict[str, Any] = {k: v for k, v in dataclasses.asdict(market).items() if k not in ("perp", "seed")}
    doc["perp"] = None if market.perp is None else {"taker_fee_bps": market.perp.taker_fee_fraction * 1e4,
                                                     "funding_apr": market.perp.funding_apr,
                                                     "gas_ratio": market.perp.gas_ratio}
    if gates is not None:
        doc["gates"] = {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v))
                        for k, v in dataclasses.asdict(gates).items()}
    return doc
