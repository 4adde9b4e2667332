"""The demo's commands (``keeper devnet``, ``keeper demo``): the local world, and the keeper hedging it."""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
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


def serve_world(*, port: int | None, rebuild: bool, block_time: float | None, progress: Callable[[str], None],
                market_every_s: float | None = None, config: Path | None = None) -> None:
    """Start the local world and keep it running until SIGTERM / SIGINT.

    Prints what a person needs to point the keeper at it: the RPC URL, the config, and the keeper's dev key
    (anvil's dev account #5: a published test key, the keeper of the local world only). With
    ``market_every_s`` a market actor moves prices every that many seconds (one hour of chain time in four
    moves each), so ``keeper run`` has something to hedge.
    """
    if rebuild:
        ensure_world_state(progress=progress, rebuild=True)
    world = start_world(port=port, progress=progress, block_time=block_time)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    cfg = config or repo_root() / "examples" / "devnet.toml"
    try:
        print(f"local world on {world.url} (chain id {world.manifest.chain_id})", flush=True)
        print(f"manifest: {world.manifest_path}", flush=True)
        print("point the keeper at it (anvil's published dev key #5, the keeper of this local world only):", flush=True)
        print(f"  export KEEPER_CHAIN__RPC_URL={world.url}", flush=True)
        print(f"  export KEEPER_PRIVATE_KEY=0x{bytes(dev_account(5).key).hex()}", flush=True)
        print(f"  keeper plan -c {cfg}", flush=True)
        actor = None
        if market_every_s is not None:
            from keeper.devnet.actor import MarketActor

            actor = MarketActor(world.web3(), world.manifest, seed=7, step_s=3600, annual_vol=0.9)
            print(f"market: prices move every {market_every_s:g} s (1 h of chain time each)", flush=True)
        print("Ctrl-C stops it.", flush=True)
        next_move = time.monotonic() + (market_every_s or 0.0)
        while not stop.wait(0.5):
            if not world.node.running:
                raise KeeperError("anvil exited unexpectedly")
            if actor is not None and market_every_s is not None and time.monotonic() >= next_move:
                prices = actor.step(substeps=4)
                print("market: " + ", ".join(f"{a} {p:,.2f} USD" for a, p in sorted(prices.items())), flush=True)
                next_move = time.monotonic() + market_every_s
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
