"""The ``keeper`` command: the composition root. It builds objects and calls them, nothing else.

Exit codes: 0 success; 1 a keeper error at run time; 2 bad usage, input or config; 3 setup missing;
4 halted (circuit breaker or a halt recorded in the journal); 5 the audit ledger was tampered with and 6 some of
its records are unsigned (``keeper audit verify``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from pydantic import ValidationError

from keeper.cli.args import block_number, port, positive_int
from keeper.cli.exit_codes import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_HALTED, EXIT_OK, EXIT_SETUP, EXIT_USAGE
from keeper.config import format_config_error
from keeper.errors import (
    ChainIdMismatchError,
    ConfigError,
    InputError,
    JournalError,
    KeeperError,
    SetupError,
)

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_ERROR", "EXIT_HALTED", "EXIT_OK", "EXIT_SETUP", "EXIT_USAGE", "main",
           "run_command"]



def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_devnet(args: argparse.Namespace) -> int:
    """The local world until Ctrl-C (the demo's own command: the one place the CLI reaches keeper.devnet)."""
    from keeper.devnet.commands import serve_world

    if args.market is not None and not args.market > 0:
        raise InputError("--market", f"must be > 0 seconds, got {args.market:g}")
    serve_world(port=args.port, rebuild=args.rebuild, block_time=args.block_time, progress=_progress,
                market_every_s=args.market)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    """The local world, a market actor and the keeper hedging the treasury through its Safe module."""
    from keeper.devnet.commands import demo

    demo(config=args.config, cycles=args.cycles, progress=_progress)
    return EXIT_OK


def cmd_multicall3_install(args: argparse.Namespace) -> int:
    """Place Multicall3 at its canonical address on a local or forked anvil chain (refuses elsewhere)."""
    from pathlib import Path

    from keeper.chain.multicall3_install import install_multicall3
    from keeper.chain.rpc import RpcClient, redact_url
    from keeper.config import load_config

    if args.rpc_url:
        rpc = RpcClient.http(args.rpc_url)
        where = redact_url(args.rpc_url)
    else:
        cfg = load_config(Path(args.config), dict(os.environ))
        rpc = RpcClient.http(str(cfg.chain.rpc_url), timeout_s=cfg.chain.timeout_s)
        rpc.check_chain_id(cfg.chain.chain_id)
        where = redact_url(str(cfg.chain.rpc_url))
    print(install_multicall3(rpc, where).message())
    return EXIT_OK


# Long on purpose: the argparse declaration of every sub-command: long, flat, no logic.
def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("keeper")
    except PackageNotFoundError:  # running from a checkout that was never installed
        return "unknown (not installed: ./scripts/setup installs it)"


def _parser() -> argparse.ArgumentParser:  # noqa: PLR0915
    from keeper.cli import commands as c

    p = argparse.ArgumentParser(prog="keeper", description="On-chain DeFi hedging keeper.",
                                epilog="Exit codes: 0 ok; 1 runtime failure; 2 bad input or config; "
                                       "3 setup missing; 4 halted; 5 audit ledger tampered; "
                                       "6 audit ledger unsigned.")
    p.add_argument("--version", action="version", version=f"keeper {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", "-c", default="keeper.toml", help="TOML config (default: keeper.toml)")
        return sp

    run = with_config(sub.add_parser("run", help="the loop: cycles on the configured schedule"))
    run.add_argument("--dry-run", action="store_true", help="plan and journal, send nothing")
    run.add_argument("--max-cycles", type=positive_int, default=None, help="stop after N cycles")
    run.add_argument("--verbose", "-v", action="store_true",
                     help="also the libraries' own log lines (APScheduler, urllib3, web3)")
    run.set_defaults(func=c.cmd_run)

    once = with_config(sub.add_parser("once", help="a single cycle"))
    once.add_argument("--dry-run", action="store_true", help="plan and journal, send nothing")
    once.add_argument("--json", action="store_true")
    once.set_defaults(func=c.cmd_once)

    plan = with_config(sub.add_parser("plan", help="read and decide; print the book, greeks and proposed hedges"))
    plan.add_argument("--json", action="store_true")
    plan.add_argument("--block", type=block_number, default=None, help="read at this block (default: latest)")
    plan.add_argument("--positions", action="store_true",
                      help="list every position (LPs, options, perps, balances) with its greeks and the totals")
    plan.set_defaults(func=c.cmd_plan)

    sim = with_config(sub.add_parser("simulate", help="execute the plan on an anvil fork; nothing touches the chain"))
    sim.add_argument("--block", type=block_number, default=None, help="fork at this block (default: head)")
    sim.add_argument("--fork-url", default=None, help="fork this RPC instead of chain.rpc_url")
    sim.add_argument("--json", action="store_true")
    sim.set_defaults(func=c.cmd_simulate)

    st = with_config(sub.add_parser("status", help="exposure now, control state and recent cycles"))
    st.add_argument("--json", action="store_true")
    st.add_argument("--limit", type=positive_int, default=10)
    st.set_defaults(func=c.cmd_status)

    jr = with_config(sub.add_parser("journal", help="the history: cycles, intents, fills"))
    jr.add_argument("--json", action="store_true")
    jr.add_argument("--limit", type=positive_int, default=20)
    jr.set_defaults(func=c.cmd_journal)

    pa = with_config(sub.add_parser("pause", help="kill switch: the loop skips cycles until resumed"))
    pa.add_argument("--reason", required=True)
    pa.set_defaults(func=c.cmd_pause)
    re_ = with_config(sub.add_parser("resume", help="undo a pause (and clear a circuit-breaker halt)"))
    re_.add_argument("--reason", default="")
    re_.set_defaults(func=c.cmd_resume)

    d = sub.add_parser("devnet", help="start the local world (anvil with Uniswap v3, a Safe treasury, feeds)")
    d.add_argument("--port", type=port, default=None, help="TCP port on 127.0.0.1 (default: a free one)")
    d.add_argument("--rebuild", action="store_true", help="rebuild the world state even if cached")
    d.add_argument("--block-time", type=float, default=None, help="seconds per block (default: automine)")
    d.add_argument("--market", type=float, nargs="?", const=10.0, default=None, metavar="SECONDS",
                   help="move prices every SECONDS (default 10) so `keeper run` has something to hedge")
    d.set_defaults(func=cmd_devnet)

    from keeper.cli.onboarding import add_parsers as onboarding_parsers

    onboarding_parsers(sub)
    from keeper.cli.backtest import add_parsers as backtest_parsers

    backtest_parsers(sub)
    from keeper.cli.ops import add_parsers as ops_parsers

    ops_parsers(sub)
    from keeper.cli.audit import add_parsers as audit_parsers

    audit_parsers(sub)
    from keeper.cli.report import add_parser as report_parser

    report_parser(sub)

    mc3 = sub.add_parser("multicall3", help="Multicall3 on a local chain (the keeper reads through it)")
    mc3_sub = mc3.add_subparsers(dest="multicall3_command", required=True)
    mc3_install = with_config(mc3_sub.add_parser(
        "install", help="place Multicall3 at its canonical address on a local or forked anvil chain (refuses on "
                        "other nodes; does nothing when it is already there)"))
    mc3_install.add_argument("--rpc-url", default=None, help="the anvil node (default: chain.rpc_url of --config)")
    mc3_install.set_defaults(func=cmd_multicall3_install)

    demo = sub.add_parser("demo", help="the local world, a market actor and the keeper hedging for a few cycles")
    demo.add_argument("--config", "-c", default=None, help="default: examples/devnet.toml")
    demo.add_argument("--cycles", type=positive_int, default=10)
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    return run_command(parser.parse_args(argv))


def run_command(args: argparse.Namespace) -> int:
    """Run a parsed subcommand and map the error tree onto the documented exit codes.

    Every entry point (``keeper``, and the ``python -m keeper.cli.onboarding`` / ``keeper.cli.ops``
    shortcuts) goes through here, so an error means the same exit code wherever it is raised.
    """
    try:
        rc: int = args.func(args)
        return rc
    except ValidationError as exc:
        print(format_config_error(exc), file=sys.stderr)
        return EXIT_USAGE
    except (InputError, ConfigError, ChainIdMismatchError, JournalError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SetupError as exc:
        print(f"setup error: {exc}", file=sys.stderr)
        return EXIT_SETUP
    except KeeperError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (``keeper plan | head``): say nothing more, and keep the interpreter's
        # final flush of stdout from raising again on the closed pipe.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
