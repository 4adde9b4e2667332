"""Chain fixtures shared by every test folder.

- ``world``: one anvil per session, loaded from the dumped local world (built once if missing),
  on a free port; killed at teardown, even after a failure.
- ``chain``: snapshot before a test, revert after it (use it in every test that writes).
- ``forked_world``: a second anvil with ``--fork-url`` pointed at the world, or at
  ``KEEPER_FORK_URL`` when the environment gives a real RPC.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.devnet.state import World, start_world
from keeper.node.anvil import AnvilNode
from tests.pg import pg_cluster, pg_url  # noqa: F401 (fixtures: a throw-away PostgreSQL cluster)


def _progress(msg: str) -> None:
    print(f"[world] {msg}", file=sys.stderr, flush=True)


@pytest.fixture(scope="session")
def world() -> Iterator[World]:
    w = start_world(progress=_progress)
    try:
        yield w
    finally:
        w.stop()


@pytest.fixture(scope="session")
def w3(world: World) -> Web3:
    return world.web3()


@pytest.fixture(scope="session")
def manifest(world: World) -> Manifest:
    return world.manifest


def pool_is_empty(node: AnvilNode) -> bool:
    """True when anvil's transaction pool holds nothing (pending or queued)."""
    status = node.rpc("txpool_status")
    return int(status["pending"], 16) == 0 and int(status["queued"], 16) == 0


def revert_clean(node: AnvilNode, snap: str) -> None:
    """Revert to ``snap`` and leave nothing of the reverted test behind.

    anvil's ``evm_revert`` restores state, blocks and nonces but NOT its transaction pool: a
    transaction still pooled at revert time (a cancellation that lost a race with the transaction it
    cancels, a hedge sent while mining was paused) becomes valid again once the nonces go back, and
    lands in whatever the next test mines first, at a nonce that test's keeper believes is free.
    So: the pool dropped before and after the revert (before mining is switched back on, which
    would mine what is pooled), then mining on, and the clock on the restored head.
    """
    node.rpc("anvil_dropAllTransactions")
    node.rpc("evm_revert", snap)
    node.rpc("anvil_dropAllTransactions")
    node.rpc("evm_setAutomine", True)
    head = node.rpc("eth_getBlockByNumber", "latest", False)
    node.rpc("evm_setTime", int(head["timestamp"], 16) + 1)


@pytest.fixture
def chain(world: World, w3: Web3) -> Iterator[Web3]:
    """The world's web3, with the chain reverted to its pre-test state afterwards (see revert_clean)."""
    snap = world.node.rpc("evm_snapshot")
    try:
        yield w3
    finally:
        revert_clean(world.node, snap)


@dataclass
class Fork:
    node: AnvilNode
    upstream_url: str
    local_upstream: bool
    """True when the upstream is our local world (so the manifest's addresses exist)."""

    def web3(self) -> Web3:
        return Web3(Web3.HTTPProvider(self.node.url, request_kwargs={"timeout": 60}))


@pytest.fixture
def forked_world(request: pytest.FixtureRequest) -> Iterator[Fork]:
    url = os.environ.get("KEEPER_FORK_URL")
    local = not url
    if local:
        upstream: World = request.getfixturevalue("world")
        url = upstream.url
    assert url is not None
    with AnvilNode(fork_url=url) as node:
        yield Fork(node=node, upstream_url=url, local_upstream=local)
