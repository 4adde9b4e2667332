"""A position whose lower tick is exactly the pool's tick, on the real Uniswap v3 contracts.

The pool counts ``tick == tickLower`` as in range: the position earns the fees of swaps made while
the tick sits there, and a burn pays both tokens when the price is above the lower tick's own price.
Swaps through the real SwapRouter land the pool on the lower tick (a price limit equal to that
tick's sqrt price, from below), move it inside that tick, and land on it again after a round trip;
each time the keeper's principal and fees (read by the BookReader, computed by ``lp_holdings``)
equal the position manager's own static ``decreaseLiquidity`` (full liquidity) and ``collect``
answers to the last wei.
"""

from __future__ import annotations

import dataclasses

import pytest
from eth_typing import ChecksumAddress
from web3 import Web3
from web3.logs import DISCARD
from web3.types import TxParams

from keeper.build.manifest import Manifest, PoolInfo
from keeper.chain.rpc import RpcClient
from keeper.core.book import LpHolding, lp_holdings
from keeper.core.snapshot import LpPosition, Snapshot
from keeper.core.tick_math import get_sqrt_ratio_at_tick
from keeper.devnet.sources import world_sources
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.node.dev import DevChain
from keeper.read.reader import BookReader

pytestmark = pytest.mark.anvil

U128 = 2**128 - 1
FAR = 2**63
POOL = "WETH/USDC-500"


@dataclasses.dataclass
class Edge:
    chain: Web3
    world: World
    manifest: Manifest
    info: PoolInfo
    actor: ChecksumAddress

    def slot0(self) -> tuple[int, int]:
        s = contract(self.chain, "UniswapV3Pool", self.info.address).functions.slot0().call()
        return int(s[0]), int(s[1])

    def swap_to(self, sqrt_limit: int) -> None:
        """Swap through the router with price limit ``sqrt_limit`` (more input than needed: it stops there)."""
        cur, _ = self.slot0()
        zero_for_one = sqrt_limit < cur
        t_in, t_out = (self.info.token0, self.info.token1) if zero_for_one else (self.info.token1, self.info.token0)
        bal = contract(self.chain, "WETH9", t_in).functions.balanceOf(self.actor).call()
        router = contract(self.chain, "SwapRouter", self.manifest.uniswap.router)
        DevChain(self.chain).send(
            router.functions.exactInputSingle((t_in, t_out, self.info.fee, self.actor, FAR, bal, 0, sqrt_limit)),
            self.actor)
        assert self.slot0()[0] == sqrt_limit, "the swap stopped at its price limit"

    def read(self, token_id: int) -> tuple[Snapshot, LpPosition]:
        src = dataclasses.replace(world_sources(self.manifest), owners=(self.actor,))
        snap = BookReader(RpcClient.http(self.world.url), src).read()
        assert snap.complete, snap.failures
        return snap, next(lp for lp in snap.lps if lp.token_id == token_id)

    def chain_holding(self, snap: Snapshot, lp: LpPosition) -> LpHolding:
        """The position manager's static decreaseLiquidity (full liquidity) and collect, at the snapshot block."""
        npm = contract(self.chain, "NonfungiblePositionManager", self.manifest.uniswap.position_manager)
        at, who = snap.block_number, TxParams({"from": self.actor})
        p0, p1 = npm.functions.decreaseLiquidity((lp.token_id, lp.liquidity, 0, 0, FAR)).call(who, block_identifier=at)
        f0, f1 = npm.functions.collect((lp.token_id, self.actor, U128, U128)).call(who, block_identifier=at)
        return LpHolding(p0, p1, f0, f1)


@pytest.fixture
def edge(chain: Web3, world: World, manifest: Manifest) -> Edge:
    actor = Web3.to_checksum_address(manifest.actor)
    deployer = Web3.to_checksum_address(manifest.deployer)
    dev = DevChain(chain)
    dev.send(contract(chain, "DevToken", manifest.tokens["USDC"].address).functions.mint(actor, 10**15), deployer)
    weth = contract(chain, "WETH9", manifest.tokens["WETH"].address)
    dev.send(weth.functions.deposit(), actor, value=100_000 * 10**18)
    for token in (manifest.tokens["USDC"].address, weth.address):
        for spender in (manifest.uniswap.position_manager, manifest.uniswap.router):
            dev.send(contract(chain, "WETH9", token).functions.approve(spender, 2**256 - 1), actor)
    return Edge(chain, world, manifest, manifest.pools[POOL], actor)


def test_lower_tick_equal_to_the_pool_tick_matches_the_chain(edge: Edge) -> None:
    info, spacing = edge.info, edge.info.tick_spacing
    _, tick0 = edge.slot0()
    lower = (tick0 // spacing + 3) * spacing  # above the price: the mint takes token0 only
    upper = lower + 20 * spacing
    npm = contract(edge.chain, "NonfungiblePositionManager", edge.manifest.uniswap.position_manager)
    receipt = DevChain(edge.chain).send(npm.functions.mint(
        (info.token0, info.token1, info.fee, lower, upper, 10**11, 0, 0, 0, edge.actor, FAR)), edge.actor)
    token_id = npm.events.IncreaseLiquidity().process_receipt(receipt, errors=DISCARD)[0]["args"]["tokenId"]
    sa, s_next = get_sqrt_ratio_at_tick(lower), get_sqrt_ratio_at_tick(lower + 1)

    def check(expect_price: int, fees_in: tuple[bool, bool]) -> LpHolding:
        snap, lp = edge.read(token_id)
        pool = snap.pools[lp.pool]
        assert (pool.sqrt_price_x96, pool.tick) == (expect_price, lower), "the pool sits on the lower tick"
        ours, theirs = lp_holdings(snap, lp), edge.chain_holding(snap, lp)
        assert ours == theirs
        assert ((ours.fees0 > 0), (ours.fees1 > 0)) == fees_in, ours
        return ours

    # 1. From below, up to exactly the lower tick's price: the tick is the lower tick, all token0 still.
    edge.swap_to(sa)
    at_edge = check(sa, (False, False))
    assert at_edge.principal1 == 0 and at_edge.principal0 > 0
    # 2. A little further up, still inside the lower tick: both tokens, and token1 fees (the swaps paid in token1).
    inside = (sa + s_next) // 2
    edge.swap_to(inside)
    held = check(inside, (False, True))
    assert held.principal1 > 0 and held.principal0 < at_edge.principal0
    # 3. Down below the range (token0 fees earned on the way) and back up to exactly the lower tick's price.
    edge.swap_to(get_sqrt_ratio_at_tick(lower - 2 * spacing))
    assert edge.slot0()[1] < lower
    edge.swap_to(sa)
    again = check(sa, (True, True))
    assert again.principal0 == at_edge.principal0 and again.principal1 == 0
    assert again.fees1 == held.fees1, "the way back up stops where the range starts: no token1 fees from it"
