"""Build the world once, dump it, and load it in well under a second afterwards.

The dumped state lives in ``.state/`` under the checkout, keyed by a hash of everything
the build depends on (this package's sources, our contract builds, the npm lockfile and
the world config). A changed input rebuilds it; concurrent builders wait on a file lock.
"""

from __future__ import annotations

import fcntl
import hashlib
import inspect
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.build.paths import repo_root
from keeper.devnet.world import WorldConfig, build_world
from keeper.node.anvil import AnvilNode

__all__ = [
    "World",
    "build_key",
    "ensure_variant_state",
    "ensure_world_state",
    "start_variant",
    "start_world",
    "state_dir",
]

VariantBuilder = Callable[[Web3, Manifest, Callable[[str], None]], dict[str, Any]]

# Our contracts the world deploys; their builds are part of the cache key.
WORLD_CONTRACTS = ("DevToken", "PriceFeed", "OptionMarket", "PerpMarket", "HedgeModule", "HedgeVenueModule")


def state_dir() -> Path:
    path = repo_root() / ".state"
    path.mkdir(exist_ok=True)
    return path


def build_key(cfg: WorldConfig) -> str:
    """A hash of every input of the world build; a different key means the state is rebuilt."""
    h = hashlib.sha256(repr(cfg).encode())
    pkg = Path(__file__).resolve().parent
    for src in sorted(pkg.glob("*.py")):
        h.update(src.read_bytes())
    root = repo_root()
    for name in WORLD_CONTRACTS:
        art = root / "contracts" / "out" / f"{name}.sol" / f"{name}.json"
        if art.is_file():
            # Only what is deployed counts: forge rewrites metadata and ids on unrelated rebuilds.
            data = json.loads(art.read_text())
            h.update(data["bytecode"]["object"].encode())
            h.update(json.dumps(data["abi"], sort_keys=True).encode())
    lock = root / "package-lock.json"
    if lock.is_file():
        h.update(lock.read_bytes())
    return h.hexdigest()[:16]


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_world_state(
    cfg: WorldConfig | None = None, progress: Callable[[str], None] = print, *, rebuild: bool = False
) -> tuple[Path, Path]:
    """Return (manifest path, state path), building and dumping the world if missing or outdated."""
    cfg = cfg or WorldConfig()
    key = build_key(cfg)
    d = state_dir()
    manifest_path, state_path = d / f"world-{key}.json", d / f"world-{key}.state.json"
    with _file_lock(d / "build.lock"):
        if not rebuild and manifest_path.is_file() and state_path.is_file():
            return manifest_path, state_path
        t0 = time.monotonic()
        progress(f"building the local world (key {key}); this happens once per change of its inputs")
        with AnvilNode() as node:
            w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
            manifest = build_world(w3, cfg, progress).model_copy(update={"build_key": key})
            node.dump_state(state_path)
        manifest.write(manifest_path)
        for old in d.glob("world-*.json"):
            if key not in old.name:
                old.unlink(missing_ok=True)
        progress(f"world built and dumped in {time.monotonic() - t0:.1f} s -> {state_path}")
    return manifest_path, state_path


def ensure_variant_state(
    name: str, build: VariantBuilder, cfg: WorldConfig | None = None, progress: Callable[[str], None] = print
) -> tuple[Path, Path, dict[str, Any]]:
    """A world with more built on top (``build`` runs once on the loaded base world, then is dumped).

    Returns (manifest path, state path, the builder's extras such as the addresses it created).
    """
    base_manifest, base_state = ensure_world_state(cfg, progress)
    key = hashlib.sha256((build_key(cfg or WorldConfig()) + name + _source_of(build)).encode()).hexdigest()[:16]
    d = state_dir()
    state_path, extras_path = d / f"variant-{name}-{key}.state.json", d / f"variant-{name}-{key}.extras.json"
    with _file_lock(d / "build.lock"):
        if not (state_path.is_file() and extras_path.is_file()):
            t0 = time.monotonic()
            progress(f"building world variant {name!r} (key {key}) on top of the base world")
            manifest = Manifest.read(base_manifest)
            with AnvilNode(load_state=base_state) as node:
                node.rpc("evm_setTime", manifest.block_timestamp + 1)
                w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 120}))
                extras = build(w3, manifest, progress)
                extras["block_timestamp"] = w3.eth.get_block("latest")["timestamp"]
                node.dump_state(state_path)
            extras_path.write_text(json.dumps(extras))
            for old in d.glob(f"variant-{name}-*"):
                if key not in old.name:
                    old.unlink(missing_ok=True)
            progress(f"variant {name!r} built and dumped in {time.monotonic() - t0:.1f} s")
    return base_manifest, state_path, json.loads(extras_path.read_text())


def _source_of(build: VariantBuilder) -> str:
    module = inspect.getmodule(build)
    return inspect.getsource(module) if module is not None else inspect.getsource(build)


def start_variant(
    name: str, build: VariantBuilder, cfg: WorldConfig | None = None, progress: Callable[[str], None] = print
) -> tuple[World, dict[str, Any]]:
    """Start anvil loaded with a world variant (see :func:`ensure_variant_state`)."""
    manifest_path, state_path, extras = ensure_variant_state(name, build, cfg, progress)
    node = AnvilNode(load_state=state_path).start()
    try:
        node.rpc("evm_setTime", int(extras["block_timestamp"]) + 1)
    except Exception:
        node.stop()
        raise
    return World(node=node, manifest=Manifest.read(manifest_path), manifest_path=manifest_path), extras


@dataclass
class World:
    """A running local world: the anvil node and the manifest of what it holds."""

    node: AnvilNode
    manifest: Manifest
    manifest_path: Path

    @property
    def url(self) -> str:
        return self.node.url

    def web3(self, timeout: float = 30.0) -> Web3:
        return Web3(Web3.HTTPProvider(self.node.url, request_kwargs={"timeout": timeout}))

    def stop(self) -> None:
        self.node.stop()


def start_world(
    port: int | None = None,
    cfg: WorldConfig | None = None,
    progress: Callable[[str], None] = print,
    *,
    block_time: float | None = None,
) -> World:
    """Start anvil loaded with the dumped world (building it first if needed).

    The chain clock is set back to the world's own time, so feeds and option expiries look
    exactly as they did when the world was built, however old the dump is.
    """
    manifest_path, state_path = ensure_world_state(cfg, progress)
    manifest = Manifest.read(manifest_path)
    node = AnvilNode(port, load_state=state_path, block_time=block_time).start()
    try:
        node.rpc("evm_setTime", manifest.block_timestamp + 1)
    except Exception:
        node.stop()
        raise
    return World(node=node, manifest=manifest, manifest_path=manifest_path)
