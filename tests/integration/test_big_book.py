"""A book of 1,000 LP positions and 200 option series is read correctly, in at most 5 round trips."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Iterator

import pytest
from eth_typing import ChecksumAddress
from web3 import Web3

from keeper.chain.rpc import RpcClient
from keeper.devnet.bigbook import big_book_variant
from keeper.devnet.sources import world_sources
from keeper.devnet.state import World, start_variant
from keeper.devnet.world import contract
from keeper.read.reader import BookReader
from tests.integration.test_lp_exact import check_every_position

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def big_world() -> Iterator[tuple[World, ChecksumAddress]]:
    """A separate anvil loaded with the big-book variant of the world (built once, then cached)."""
    world, extras = start_variant("bigbook", big_book_variant, progress=lambda m: print(m, file=sys.stderr))
    try:
        yield world, Web3.to_checksum_address(extras["owner"])
    finally:
        world.stop()


def test_thousand_lps_and_two_hundred_series(big_world: tuple[World, ChecksumAddress]) -> None:
    world, big_owner = big_world
    w3, manifest = world.web3(timeout=120), world.manifest
    src = dataclasses.replace(world_sources(manifest), owners=(big_owner,))
    rpc = RpcClient.http(world.url)
    snap = BookReader(rpc, src).read()
    assert snap.complete, snap.failures[:5]
    assert snap.round_trips <= 5
    assert len(snap.lps) == 1000
    assert len(snap.options) == 200
    assert len({o.series_id for o in snap.options}) == 200
    # Every LP's amounts and fees equal the chain's static decreaseLiquidity / collect.
    assert check_every_position(w3, manifest, snap) == 1000
    market = contract(w3, "OptionMarket", manifest.option_markets[0])
    for o in snap.options:
        details = market.functions.getSeriesDetails(o.series_id).call(block_identifier=snap.block_number)
        assert (o.strike, o.expiry, o.is_put) == (details[3], details[4], details[5])
        assert o.long_amount == market.functions.balanceOf(big_owner, o.series_id).call(
            block_identifier=snap.block_number)
        assert o.short_amount == market.functions.shortBalance(o.series_id, big_owner).call(
            block_identifier=snap.block_number)
        assert (o.long_amount > 0) == o.is_put and (o.short_amount > 0) == (not o.is_put)
