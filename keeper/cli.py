"""The ``keeper`` command: the composition root. It builds objects and calls them, nothing else.

Exit codes: 0 success; 1 a keeper error at run time; 2 bad usage or input; 3 setup missing.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from keeper.errors import InputError, KeeperError, SetupError

__all__ = ["EXIT_ERROR", "EXIT_OK", "EXIT_SETUP", "EXIT_USAGE", "main"]

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_SETUP = 0, 1, 2, 3


def _progress(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cmd_devnet(args: argparse.Namespace) -> int:
    from keeper.devnet.state import ensure_world_state, start_world

    if args.rebuild:
        ensure_world_state(progress=_progress, rebuild=True)
    world = start_world(port=args.port, progress=_progress, block_time=args.block_time)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        print(f"local world on {world.url} (chain id {world.manifest.chain_id})", flush=True)
        print(f"manifest: {world.manifest_path}", flush=True)
        print("Ctrl-C stops it.", flush=True)
        while not stop.wait(0.5):
            if not world.node.running:
                raise KeeperError("anvil exited unexpectedly")
    finally:
        world.stop()
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from keeper.chain.rpc import RpcClient
    from keeper.devnet.sources import world_sources
    from keeper.devnet.state import start_world
    from keeper.reader import BookReader
    from keeper.report import render_snapshot

    world = start_world(progress=_progress)
    try:
        m = world.manifest
        print(f"Treasury: Safe 1.4.1 at {m.safe.address}, {m.safe.threshold}-of-{len(m.safe.owners)} owners")
        snap = BookReader(RpcClient.http(world.url), world_sources(m)).read(chain_id=m.chain_id)
        print(render_snapshot(snap))
    finally:
        world.stop()
    return EXIT_OK


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="keeper", description="On-chain DeFi hedging keeper.")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("devnet", help="start the local world (anvil with Uniswap v3, a Safe treasury, feeds)")
    d.add_argument("--port", type=int, default=None, help="TCP port on 127.0.0.1 (default: a free one)")
    d.add_argument("--rebuild", action="store_true", help="rebuild the world state even if cached")
    d.add_argument("--block-time", type=float, default=None, help="seconds per block (default: automine)")
    d.set_defaults(func=cmd_devnet)

    demo = sub.add_parser("demo", help="start the local world and show the treasury's book")
    demo.set_defaults(func=cmd_demo)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if getattr(args, "port", None) is not None and not 0 < args.port < 65536:
        parser.error(f"--port: must be in 1..65535, got {args.port}")
    try:
        rc: int = args.func(args)
        return rc
    except InputError as exc:
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


if __name__ == "__main__":
    sys.exit(main())
