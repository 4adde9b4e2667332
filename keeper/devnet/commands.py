"""The demo's commands (``keeper devnet``, ``keeper demo``): the local world, and the keeper hedging it."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path

from keeper.build.paths import repo_root
from keeper.config import load_config
from keeper.cycle.compose import build_keeper
from keeper.devnet.demo import run_demo
from keeper.devnet.state import ensure_world_state, start_world
from keeper.errors import KeeperError
from keeper.node.dev import dev_account

__all__ = ["demo", "serve_world"]


def serve_world(*, port: int | None, rebuild: bool, block_time: float | None, progress: Callable[[str], None]) -> None:
    """Start the local world and keep it running until SIGTERM / SIGINT."""
    if rebuild:
        ensure_world_state(progress=progress, rebuild=True)
    world = start_world(port=port, progress=progress, block_time=block_time)
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


def demo(*, config: str | None, cycles: int, progress: Callable[[str], None]) -> None:
    """The local world, a market actor and the keeper hedging the treasury through its Safe module."""
    world = start_world(progress=progress)
    try:
        m = world.manifest
        print(f"Local world on {world.url}: Safe 1.4.1 treasury {m.safe.address} "
              f"({m.safe.threshold}-of-{len(m.safe.owners)}), HedgeModule {m.hedge_module}")
        journal = Path(tempfile.mkdtemp(prefix="keeper-demo-")) / "journal.sqlite"
        env = dict(os.environ, KEEPER_CHAIN__RPC_URL=world.url, KEEPER_JOURNAL__PATH=str(journal))
        # anvil's dev key #5, the keeper of the local world only; never printed.
        env["KEEPER_PRIVATE_KEY"] = "0x" + bytes(dev_account(5).key).hex()
        cfg = load_config(Path(config) if config else repo_root() / "examples" / "devnet.toml", env)
        keeper = build_keeper(cfg, env=env, live=True, log=lambda _m: None)
        print(f"Config: {config or 'examples/devnet.toml'}; journal {journal}")
        run_demo(world, keeper, cycles=cycles)
    finally:
        world.stop()
