"""The operator commands ``doctor``, ``health``, ``activate`` and ``deactivate``.

``keeper/cli/main.py`` registers them with :func:`add_parsers`. Exit codes follow the CLI's: 0 ok,
1 a failing check / not healthy or not ready / activation refused, 2 bad config.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

from keeper.cli.args import positive_float, positive_int

__all__ = ["add_parsers", "cmd_activate", "cmd_deactivate", "cmd_doctor", "cmd_health", "main"]

_NOT_BLOCKING = frozenset({"anvil"})
"""Doctor checks that do not block ``activate`` (anvil only serves ``keeper simulate``)."""


def _err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _by(args: argparse.Namespace) -> str:
    return str(args.by or os.environ.get("USER") or "operator")


def cmd_doctor(args: argparse.Namespace) -> int:
    from keeper.cli.commands import load
    from keeper.ops.doctor import render, run_doctor

    cfg = load(args)
    checks = run_doctor(cfg, dict(os.environ), hedges=args.hedges)
    failed = any(c.status == "fail" for c in checks)
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [c.record() for c in checks]}, indent=2))
    else:
        print(f"keeper doctor: {args.config} (chain {cfg.chain.chain_id}, {cfg.treasury.mode})")
        print(render(checks))
    return 1 if failed else 0


def cmd_health(args: argparse.Namespace) -> int:
    from keeper.cli.commands import load
    from keeper.ops.health import health

    cfg = load(args)
    rec = health(cfg, max_cycle_age_s=args.max_cycle_age_s)
    print(json.dumps(rec, indent=None if args.compact else 2, allow_nan=False))
    return 0 if rec["healthy"] and rec["ready"] else 1


def cmd_activate(args: argparse.Namespace) -> int:
    from keeper.chain.rpc import RpcClient
    from keeper.cli.commands import load
    from keeper.journal import Journal
    from keeper.ops.alerts import alerter_from_env
    from keeper.ops.doctor import render, run_doctor
    from keeper.ops.golive import activate, live_state

    cfg = load(args)
    env = dict(os.environ)
    alerts = alerter_from_env(env, cfg.alerts)  # a bad alert URL refuses here, before anything is recorded
    rpc = RpcClient.http(str(cfg.chain.rpc_url), timeout_s=cfg.chain.timeout_s)
    if not args.force:
        checks = run_doctor(cfg, env, rpc=rpc)
        blocking = [c for c in checks if c.status == "fail" and c.name not in _NOT_BLOCKING]
        if blocking:
            print(render(checks))
            _err(f"refusing to activate: {len(blocking)} doctor check(s) fail "
                 f"({', '.join(c.name for c in blocking)}); fix them, or pass --force")
            return 1
    rpc.check_chain_id(cfg.chain.chain_id)
    state = live_state(cfg, rpc, detail=True)
    journal = Journal.open(cfg.journal.target)
    by = _by(args)
    fp = activate(journal, state, by=by)
    print(f"activated by {by}: fingerprint {fp}")
    print(f"  config fingerprint  {state.config_fingerprint}")
    print(f"  module paramsHash   {state.params_hash}")
    print(f"  chain id            {state.chain_id}")
    if state.params is not None:
        p: dict[str, Any] = dict(state.params)
        print(f"  on-chain limits     {p['max_notional_per_trade_usd']:,.0f} USD per trade, "
              f"{p['max_notional_per_window_usd']:,.0f} USD per {p['window_s']} s, {p['max_slippage_bps']} bps")
    print("`keeper run` / `keeper once` now send hedges; a change to the strategy config or to the module's "
          "parameters sends them back to dry-run until you activate again.")
    alerts.send("activation", f"activated by {by} (fingerprint {fp[:12]})", fingerprint=fp, by=by,
                chain_id=state.chain_id, params_hash=state.params_hash)
    alerts.close()
    return 0


def cmd_deactivate(args: argparse.Namespace) -> int:
    from keeper.cli.commands import load
    from keeper.journal import Journal
    from keeper.ops.alerts import alerter_from_env
    from keeper.ops.golive import deactivate

    cfg = load(args)
    journal = Journal.open(cfg.journal.target)
    by = _by(args)
    deactivate(journal, by=by, reason=args.reason)
    print(f"deactivated by {by}: {args.reason}")
    print("Every cycle from the next one on is a dry run (a running `keeper run` re-checks before each cycle); "
          "this survives restarts until `keeper activate`. To stop on-chain too, the guardian can call "
          "HedgeModule.pause().")
    alerts = alerter_from_env(dict(os.environ), cfg.alerts)
    alerts.send("activation", f"deactivated by {by}: {args.reason}", by=by, reason=args.reason)
    alerts.close()
    return 0






def add_parsers(sub: Any) -> None:
    """Register ``doctor``, ``health``, ``activate`` and ``deactivate`` on ``sub`` (``add_subparsers()``'s result)."""

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", "-c", default="keeper.toml", help="TOML config (default: keeper.toml)")
        return sp

    doc = with_config(sub.add_parser("doctor", help="preflight: every check passes, warns or fails with a fix"))
    doc.add_argument("--json", action="store_true")
    doc.add_argument("--hedges", type=positive_int, default=20,
                     help="the signer's balance must cover this many hedges (default 20)")
    doc.set_defaults(func=cmd_doctor)

    h = with_config(sub.add_parser("health", help="readiness probe: JSON; exit 0 only if healthy and ready"))
    h.add_argument("--max-cycle-age-s", type=positive_float, default=None,
                   help="the loop is stuck if no cycle finished for this long (default: 3 schedule periods)")
    h.add_argument("--compact", action="store_true", help="one line of JSON")
    h.set_defaults(func=cmd_health)

    a = with_config(sub.add_parser("activate", help="go live: record the config and module fingerprint"))
    a.add_argument("--by", default=None, help="who activates (default: $USER)")
    a.add_argument("--force", action="store_true", help="activate even if `keeper doctor` fails")
    a.set_defaults(func=cmd_activate)

    d = with_config(sub.add_parser("deactivate", help="emergency kill: back to dry-run until activated again"))
    d.add_argument("--reason", required=True)
    d.add_argument("--by", default=None, help="who deactivates (default: $USER)")
    d.set_defaults(func=cmd_deactivate)


def main(argv: list[str] | None = None) -> int:
    """``python -m keeper.cli.ops <command>``: the same commands with the CLI's exit codes, usable before
    (and independently of) their registration in ``keeper/cli/main.py``."""
    from keeper.cli.main import run_command

    parser = argparse.ArgumentParser(prog="keeper", description="Operator commands of the keeper.")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
