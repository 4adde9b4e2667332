"""The ``keeper init`` and ``keeper propose`` subcommands (registered by :func:`add_parsers`).

Exit codes as the rest of the CLI: 0 ok; 1 runtime failure; 2 bad input or config; 3 setup missing
(``init --new-safe`` off the devnet prints the steps to create the Safe and exits 3).
"""

from __future__ import annotations

import argparse
import os
import sys
import tomllib
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from keeper.cli.args import chain_id, non_negative_decimal
from keeper.cli.exit_codes import EXIT_OK, EXIT_SETUP

__all__ = ["add_parsers", "cmd_init", "cmd_propose", "main"]



def _address(text: str) -> str:
    if not is_address(text):
        raise argparse.ArgumentTypeError(f"expected a 20-byte hex address, got {text!r}")
    return str(to_checksum_address(text))






def add_parsers(sub: Any) -> None:
    """Register ``init`` and ``propose`` on ``sub`` (the ``add_subparsers()`` object of the keeper CLI)."""
    i = sub.add_parser("init", help="onboarding: check the RPC, pick or create the Safe, create the keeper's key, "
                                     "write the config", description="Flags, else KEEPER_INIT_<FLAG> variables "
                                     "(KEEPER_INIT_RPC_URL, ..._SAFE, ..._OWNER, ..._PASSWORD_FILE, ...), else the "
                                     "existing config, else a prompt (--interactive) or a default.")
    i.add_argument("--config", "-c", default="keeper.toml", help="the config to write (default: keeper.toml)")
    i.add_argument("--rpc-url", default=None, help="checked: it must answer eth_chainId (default: the config's, "
                                                       "else http://127.0.0.1:8545)")
    i.add_argument("--chain-id", type=chain_id, default=None, help="expected chain id (default: what the RPC says)")
    i.add_argument("--safe", type=_address, default=None, help="an existing Safe 1.4.1 (the treasury)")
    i.add_argument("--new-safe", action="store_true", help="create a new Safe owned by --owner (devnet: deployed "
                                                           "here; elsewhere: the steps are printed)")
    i.add_argument("--owner", type=_address, default=None, help="the new Safe's owner (your wallet)")
    pw = i.add_mutually_exclusive_group()
    pw.add_argument("--password-file", type=Path, default=None, help="keystore password: first line of this file")
    pw.add_argument("--password-env", default=None, help="keystore password: this environment variable")
    i.add_argument("--keystore", type=Path, default=None, help="keystore path (default: keeper.keystore.json "
                                                               "beside the config)")
    i.add_argument("--devnet-manifest", type=Path, default=None, help="the world manifest (default: found in .state/)")
    i.add_argument("--force", action="store_true", help="change existing values without asking")
    mode = i.add_mutually_exclusive_group()
    mode.add_argument("--interactive", dest="interactive", action="store_true", default=None,
                      help="ask (default when stdin is a terminal)")
    mode.add_argument("--non-interactive", dest="interactive", action="store_false", help="never ask")
    i.add_argument("--kdf", choices=("scrypt", "pbkdf2"), default="scrypt", help=argparse.SUPPRESS)
    i.set_defaults(func=cmd_init)

    p = sub.add_parser("propose", help="owner actions as an unsigned Safe Transaction Builder batch (JSON)")
    p.add_argument("action", choices=("enable-module", "set-params", "approvals", "disable-module"))
    p.add_argument("--config", "-c", default="keeper.toml", help="TOML config (default: keeper.toml)")
    p.add_argument("--out", "-o", type=Path, default=None,
                   help="output file (default: proposals/<action>-<chainid>-<safe-short>.json in the config's folder)")
    p.add_argument("--module", type=_address, default=None, help="the HedgeModule (default: treasury.hedge_module)")
    p.add_argument("--deploy", action="store_true", help="enable-module on the devnet: deploy a fresh HedgeModule "
                                                         "for the Safe (keeper as caller) and record it in the config")
    p.add_argument("--with-params", action="store_true", help="enable-module: add the set-params transactions")
    p.add_argument("--force", action="store_true", help="--deploy even if the config names a deployed module")
    p.add_argument("--quote-feed", type=_address, default=None,
                   help="the quote token's USD feed (default: the module's current one; devnet: the manifest's)")
    p.add_argument("--quote-feed-max-age", type=int, default=None, help="seconds (default 86400)")
    p.add_argument("--guardian", type=_address, default=None, help="may only pause (default: the module's current)")
    p.add_argument("--keeper", type=_address, default=None, help="default: the config's signer address")
    p.add_argument("--cap-multiplier", type=non_negative_decimal, default=Decimal("1.25"),
                   help="on-chain caps and slippage bound = the policy's x this (default 1.25)")
    p.add_argument("--margin-allowance", type=non_negative_decimal, default=None,
                   help="approvals: margin-token units per perp market (default: the asset's window_cap_usd)")
    p.add_argument("--unknown-chain", action="store_true",
                   help="propose on a chain without known canonical Uniswap v3 deployments (e.g. a local anvil): "
                        "the router, factory and position manager are then UNVERIFIED and the batch says so")
    p.add_argument("--execute-on-devnet", action="store_true",
                   help="devnet only (chain id 31337): then execute the written batch with the Safe owners' anvil "
                        "dev keys and print the transaction and what changed on chain")
    p.set_defaults(func=cmd_propose)


# ---------------------------------------------------------------------------- init

def cmd_init(args: argparse.Namespace) -> int:
    from keeper.onboarding.init import InitOptions, SafeSetupNeededError, run_init

    interactive = sys.stdin.isatty() if args.interactive is None else args.interactive
    opts = InitOptions(
        config=Path(args.config), rpc_url=args.rpc_url, chain_id=args.chain_id, safe=args.safe,
        new_safe=args.new_safe, owner=args.owner, password_file=args.password_file,
        password_env=args.password_env, keystore=args.keystore, devnet_manifest=args.devnet_manifest,
        force=args.force, interactive=interactive, kdf=args.kdf,
    )
    try:
        result = run_init(opts, env=dict(os.environ), ask=input, say=print)
    except SafeSetupNeededError as exc:
        print(str(exc))
        return EXIT_SETUP
    print(f"keeper {result.keeper or '(key from the environment)'} for Safe {result.safe}: config {result.config}"
          + (f"; changed {', '.join(result.changed)}" if result.changed else ""))
    return EXIT_OK


# ---------------------------------------------------------------------------- propose

def cmd_propose(args: argparse.Namespace) -> int:
    from keeper.chain.rpc import RpcClient
    from keeper.config import load_config
    from keeper.onboarding import propose as pr
    from keeper.onboarding.txbuilder import write_batch

    env = dict(os.environ)
    path = Path(args.config)
    cfg = load_config(path, env)
    rpc = RpcClient.http(cfg.chain.rpc_url, timeout_s=cfg.chain.timeout_s)
    rpc.check_chain_id(cfg.chain.chain_id)
    if args.deploy:
        if args.action != "enable-module":
            raise _usage("--deploy", "only with enable-module")
        _deploy(args, cfg, rpc, path, env)
        cfg = load_config(path, env)
    module = args.module or cfg.treasury.hedge_module
    if module is None:
        raise _usage("module", "the config names no treasury.hedge_module; give --module")
    if args.action == "enable-module":
        params = _intent(args, cfg, rpc, module, env) if args.with_params else None
        proposal = pr.propose_enable(cfg, rpc, module, params, unknown_chain_ok=args.unknown_chain)
    elif args.action == "set-params":
        from keeper.onboarding.intent import expected_onchain

        params = _intent(args, cfg, rpc, module, env)
        want = expected_onchain(params, rpc, chain_id=cfg.chain.chain_id, module=module, safe=str(cfg.treasury.safe))
        proposal = pr.propose_set_params(cfg, rpc, module, params, want, unknown_chain_ok=args.unknown_chain)
    elif args.action == "approvals":
        proposal = pr.propose_approvals(cfg, rpc, args.margin_allowance)
    else:
        proposal = pr.propose_disable(cfg, rpc, module)
    if args.execute_on_devnet:
        from keeper.onboarding.devnet import dev_owner_keys

        _check_devnet(cfg)
        dev_owner_keys(rpc, proposal.safe)  # refuses a Safe whose owners are not dev accounts, before writing
    batch = proposal.batch()  # refuses an empty batch (EmptyBatchError, exit 2) before anything is written
    out = args.out or pr.default_out(args.action, cfg.chain.chain_id, proposal.safe, path)
    write_batch(out, batch)
    print(pr.render(proposal, out, executing=args.execute_on_devnet))
    if args.execute_on_devnet:
        from web3 import Web3

        from keeper.onboarding.devnet import execute_on_devnet

        w3 = Web3(Web3.HTTPProvider(cfg.chain.rpc_url))
        print(execute_on_devnet(w3, rpc, proposal.safe, out, module).render())
    return EXIT_OK


def _check_devnet(cfg: Any) -> None:
    from keeper.onboarding.devnet import DEVNET_CHAIN_ID

    if cfg.chain.chain_id != DEVNET_CHAIN_ID:
        raise _usage("--execute-on-devnet", f"executes only on the devnet (chain id {DEVNET_CHAIN_ID}); the config's "
                                            f"chain is {cfg.chain.chain_id}: have the owners import the batch in the "
                                            "Safe web interface")


def _usage(argument: str, message: str) -> Exception:
    from keeper.errors import InputError

    return InputError(argument, message)


def _current(rpc: Any, module: str) -> Any:
    from keeper.errors import ContractCallError
    from keeper.onboarding.reads import code_size, module_onchain_params

    if code_size(rpc, module) == 0:
        return None
    try:
        return module_onchain_params(rpc, module)
    except ContractCallError:
        return None


def _intent(args: argparse.Namespace, cfg: Any, rpc: Any, module: str, env: dict[str, str]) -> Any:
    from keeper.onboarding.intent import QUOTE_FEED_MAX_AGE_S, intended_params
    from keeper.onboarding.reads import ZERO

    cur = _current(rpc, module)
    keeper = args.keeper or _keeper_or_empty(cfg, env) or (cur.keeper if cur else "")
    if not keeper:
        raise _usage("keeper", "cannot tell the keeper's address: give --keeper")
    guardian = args.guardian or (cur.guardian if cur else ZERO)
    quote_feed = args.quote_feed or _quote_feed(cfg, rpc, cur)
    age = args.quote_feed_max_age
    if age is None:
        age = next((t[2] for t in cur.tokens if t[0] == cfg.quote.token), QUOTE_FEED_MAX_AGE_S) if cur \
            else QUOTE_FEED_MAX_AGE_S
    return intended_params(cfg, rpc, keeper=keeper, guardian=guardian, quote_feed=quote_feed,
                           quote_feed_max_age_s=age, cap_multiplier=args.cap_multiplier)


def _keeper_or_empty(cfg: Any, env: dict[str, str]) -> str:
    from keeper.errors import ConfigError
    from keeper.execute.signer import KeystoreTamperedError
    from keeper.onboarding.intent import keeper_address

    try:
        return keeper_address(cfg, env)
    except KeystoreTamperedError:
        raise  # never fall back to another source of the keeper's address: say so and stop
    except ConfigError:
        return ""


def _quote_feed(cfg: Any, rpc: Any, cur: Any) -> str:
    from keeper.errors import SetupError
    from keeper.onboarding.devnet import DEVNET_CHAIN_ID, find_devnet_manifest
    from keeper.onboarding.templates import MAINNET_CHAIN_ID, MAINNET_QUOTE_FEED

    if cur is not None:
        for token, feed, _, _ in cur.tokens:
            if token == cfg.quote.token:
                return str(feed)
    if cfg.chain.chain_id == DEVNET_CHAIN_ID:
        try:
            m = find_devnet_manifest(rpc)
        except SetupError:
            m = None
        if m is not None and m.tokens["USDC"].address == cfg.quote.token and "USDC" in m.feeds:
            return m.feeds["USDC"].address
    if cfg.chain.chain_id == MAINNET_CHAIN_ID and cfg.quote.token == "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48":
        return MAINNET_QUOTE_FEED
    raise _usage("quote_feed", f"the quote token {cfg.quote.token} needs a USD feed in the module: give --quote-feed")


def _deploy(args: argparse.Namespace, cfg: Any, rpc: Any, path: Path, env: dict[str, str]) -> None:
    from web3 import Web3

    from keeper.onboarding.devnet import DEVNET_CHAIN_ID, deploy_hedge_module
    from keeper.onboarding.init import write_config
    from keeper.onboarding.reads import ZERO, code_size

    safe = str(cfg.treasury.safe)
    keeper = args.keeper or _keeper_or_empty(cfg, env)
    if not keeper:
        raise _usage("keeper", "cannot tell the keeper's address from the config's signer: give --keeper")
    if cfg.chain.chain_id != DEVNET_CHAIN_ID:
        raise _usage("--deploy", f"deploys only on the devnet (chain id {DEVNET_CHAIN_ID}). On chain "
                                 f"{cfg.chain.chain_id}, deploy contracts/src/HedgeModule.sol yourself with "
                                 f"constructor (safe {safe}, keeper {keeper}, guardian <address or 0x0>), e.g. "
                                 "`forge create HedgeModule --constructor-args ...`, set treasury.hedge_module "
                                 "to it, and re-run keeper propose enable-module")
    configured = cfg.treasury.hedge_module
    if configured and code_size(rpc, configured) > 0 and not args.force:
        raise _usage("--deploy", f"the config already names a deployed module {configured}; drop --deploy, or "
                                 "add --force to deploy and record another")
    guardian = args.guardian or ZERO
    module = deploy_hedge_module(Web3(Web3.HTTPProvider(cfg.chain.rpc_url)), safe, keeper, guardian)
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    raw.setdefault("treasury", {})["hedge_module"] = module
    backup = write_config(path, raw, env)
    print(f"deployed HedgeModule {module} for Safe {safe} (keeper {keeper}); recorded as treasury.hedge_module in "
          f"{path} (previous version in {backup})")


# ---------------------------------------------------------------------------- standalone

def main(argv: Sequence[str] | None = None) -> int:
    """``init`` / ``propose`` alone, with the keeper CLI's exit codes (for tests and until wired into ``keeper``)."""
    from keeper.cli.main import run_command

    parser = argparse.ArgumentParser(prog="keeper")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return run_command(parser.parse_args(argv))
