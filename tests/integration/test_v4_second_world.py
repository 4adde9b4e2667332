"""Uniswap v4 positions on a second world that was not shaped for the reader.

Unlike the devnet world: its own anvil (chain id 1337), another deployer (dev account 8) so every
address differs; USDC sorts *before* WBTC (the risky currency is currency1, prices inverted); two
native-ETH/USDC pools of the same pair 7 % apart (0.05 % at ~3,000 USD, 0.30 % at ~2,800 USD), a
1 % USDC/WBTC pool (tick spacing 200), and a third ETH/USDC pool whose hook may take part of what a
withdrawal pays (permission bits ``afterRemoveLiquidity | afterRemoveLiquidityReturnsDelta`` in its
address; its code returns a zero delta). Positions belong to three EOAs: in range, out of range on
either side, one half decreased, one whose fees were collected once and then earned again, all with
fees left uncollected. The reader finds them from Transfer logs.

For every position: principal + fees equal what ``DECREASE_LIQUIDITY`` of the whole liquidity +
``TAKE_PAIR`` pays its owner, to the wei; its delta equals the risky amount; the hooked pool's
position, and only it, is flagged.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from web3 import Web3
from web3.contract import Contract

from keeper.build.artifacts import forge_artifact, multicall3_creation_code, npm_artifact
from keeper.build.manifest import V4PoolInfo
from keeper.chain.rpc import RpcClient
from keeper.core.book import V4LpLine, book_risk, line_risk, v4_lp_holdings
from keeper.core.snapshot import Snapshot, V4LpPosition
from keeper.devnet.world import MULTICALL3_ADDRESS
from keeper.devnet.world_v4 import V4Core, V4Pools, deploy_v4
from keeper.node.anvil import AnvilNode
from keeper.node.dev import DevChain, dev_account
from keeper.read.reader import AssetSource, BookReader, BookSources, V4Sources
from keeper.venues import uniswap_v4 as v4
from tests.integration.second_world import create_address

pytestmark = pytest.mark.anvil

DEPLOYER, LP, SWAPPER = 8, 9, 3
OWNERS = (1, 2, 4)
FAR = 2**63
ZERO = v4.NATIVE
# afterRemoveLiquidity (1 << 8) | afterRemoveLiquidityReturnsDelta (1 << 0) in the low 14 address bits
HOOK = Web3.to_checksum_address("0x" + "c0de" * 9 + "0101")
# Returns the called selector and one zero word: (bytes4 selector, BalanceDelta 0) for any hook call.
HOOK_CODE = "0x60003560e01c60e01b60005260406000f3"


@dataclass
class V4World:
    node: AnvilNode
    w3: Web3
    core: V4Core
    pools: V4Pools
    usdc: Contract
    wbtc: Contract
    weth: Contract
    factory: str
    npm: str
    feeds: dict[str, str]
    owners: tuple[str, ...]
    start_block: int


def _deploy_token(chain: DevChain, w3: Web3, deployer: str, name: str, sym: str, dec: int,
                  must_sort_after: str | None) -> Contract:
    """A DevToken, at a nonce whose CREATE address sorts after ``must_sort_after``."""
    if must_sort_after is not None:
        nonce = int(w3.eth.get_transaction_count(Web3.to_checksum_address(deployer)))
        while int(create_address(deployer, nonce), 16) <= int(must_sort_after, 16):
            nonce += 1
        chain.rpc("anvil_setNonce", deployer, hex(nonce))
    return chain.deploy(forge_artifact("DevToken"), name, sym, dec, sender=Web3.to_checksum_address(deployer))


def _build() -> V4World:
    node = AnvilNode(extra_args=["--chain-id", "1337"]).start()
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    chain = DevChain(w3)
    deployer = dev_account(DEPLOYER).address
    # Multicall3 at its canonical address, as every chain has it
    tmp = chain.deploy_raw(multicall3_creation_code(), deployer, "Multicall3")
    chain.rpc("anvil_setCode", MULTICALL3_ADDRESS, w3.eth.get_code(tmp).to_0x_hex())
    usdc = _deploy_token(chain, w3, deployer, "USD Coin (test)", "USDC", 6, None)
    wbtc = _deploy_token(chain, w3, deployer, "Wrapped BTC (test)", "WBTC", 8, usdc.address)  # USDC < WBTC
    weth = chain.deploy(npm_artifact("WETH9"), sender=deployer)
    factory = chain.deploy(npm_artifact("UniswapV3Factory"), sender=deployer)
    npm = chain.deploy(npm_artifact("NonfungiblePositionManager"), factory.address, weth.address, deployer,
                       sender=deployer)
    core = deploy_v4(w3, chain, deployer, weth.address, factory.address)
    pools = V4Pools(w3, chain, core, {ZERO: 18, usdc.address: 6, wbtc.address: 8},
                    {ZERO: "ETH", usdc.address: "USDC", wbtc.address: "WBTC"}, deployer)
    chain.rpc("anvil_setCode", HOOK, HOOK_CODE)
    pools.create_pool("ETH/USDC-500", ZERO, usdc.address, 500, 10, 3000.0)
    pools.create_pool("ETH/USDC-3000", ZERO, usdc.address, 3000, 60, 2800.0)
    pools.create_pool("USDC/WBTC-10000", wbtc.address, usdc.address, 10000, 200, 61000.0)
    pools.create_pool("ETH/USDC-500-hooked", ZERO, usdc.address, 500, 10, 3010.0, hooks=HOOK)

    lp, swapper = dev_account(LP).address, dev_account(SWAPPER).address
    for who in (lp, swapper):
        chain.send(usdc.functions.mint(who, 10**9 * 10**6), deployer)
        chain.send(wbtc.functions.mint(who, 10_000 * 10**8), deployer)
        pools.approve(who, [usdc.address, wbtc.address])
    depth = {"ETH/USDC-500": (300.0, 3000.0), "ETH/USDC-3000": (300.0, 2800.0), "USDC/WBTC-10000": (15.0, 61000.0),
             "ETH/USDC-500-hooked": (100.0, 3010.0)}
    for name, (units, usd) in depth.items():
        pools.mint(name, pools.full_range(name), units, units * usd, lp, lp)
        pools.mint(name, pools.ticks_for(name, usd * 0.85, usd * 1.2), units, units * usd, lp, lp)

    o1, o2, o3 = (dev_account(i).address for i in OWNERS)
    for o in (o1, o2, o3):
        pools.approve(o, [usdc.address, wbtc.address])
        chain.send(usdc.functions.mint(o, 10**7 * 10**6), deployer)
        chain.send(wbtc.functions.mint(o, 100 * 10**8), deployer)
    pools.mint("ETH/USDC-500", pools.ticks_for("ETH/USDC-500", 2900, 3100), 5, 15_000, o1, o1)       # narrow
    pools.mint("ETH/USDC-3000", pools.ticks_for("ETH/USDC-3000", 2500, 3300), 8, 22_400, o1, o1)     # same pair
    pools.mint("ETH/USDC-500", pools.ticks_for("ETH/USDC-500", 3300, 3600), 4, 0, o2, o2)             # above: ETH
    pools.mint("ETH/USDC-500", pools.ticks_for("ETH/USDC-500", 2200, 2500), 0, 9_000, o2, o2)         # below: USDC
    halved = pools.mint("USDC/WBTC-10000", pools.ticks_for("USDC/WBTC-10000", 55000, 68000), 0.5, 30_500, o3, o3)
    collected = pools.mint("ETH/USDC-3000", pools.ticks_for("ETH/USDC-3000", 2600, 3000), 3, 8_400, o3, o3)
    pools.mint("ETH/USDC-500-hooked", pools.ticks_for("ETH/USDC-500-hooked", 2800, 3200), 2, 6_020, o2, o2)

    budget = {ZERO: 60 * 10**18, usdc.address.lower(): 200_000 * 10**6, wbtc.address.lower(): 3 * 10**8}

    def swing(moves: tuple[float, ...]) -> None:
        for move in moves:
            for name, (_, usd) in depth.items():
                pools.move_to(name, usd * move, swapper, budget)

    chain.rpc("anvil_setBalance", swapper, hex(10**24))
    swing((1.06, 0.95, 1.02))
    # o3 takes half of one position's liquidity out (principal and fees paid, checkpoint moved) and
    # collects another's fees (decrease by 0), both without closing them; then more history.
    posm = core.position_manager
    for token_id, frac in ((halved, 2), (collected, 0)):
        info = pools.pools["USDC/WBTC-10000" if token_id == halved else "ETH/USDC-3000"]
        liq = int(posm.functions.getPositionLiquidity(token_id).call())
        data = v4.actions_data(["DECREASE_LIQUIDITY", "TAKE_PAIR"], [
            v4.decrease_liquidity_params(token_id, liq // frac if frac else 0),
            v4.take_pair_params(info.currency0, info.currency1, o3)])
        chain.send(posm.functions.modifyLiquidities(data, FAR), o3)
    swing((0.97, 1.04, 1.01))
    feeds: dict[str, str] = {}
    for asset, usd in (("ETH", pools.price_usd("ETH/USDC-500")), ("BTC", pools.price_usd("USDC/WBTC-10000"))):
        feeds[asset] = chain.deploy(forge_artifact("PriceFeed"), 8, f"{asset} / USD", round(usd * 1e8),
                                    sender=deployer).address
    return V4World(node, w3, core, pools, usdc, wbtc, weth, factory.address, npm.address, feeds,
                   (o1, o2, o3), 0)


@pytest.fixture(scope="module")
def second() -> Iterator[V4World]:
    world = _build()
    try:
        yield world
    finally:
        world.node.stop()


def sources(sw: V4World, token_ids: tuple[int, ...]) -> BookSources:
    return BookSources(
        owners=sw.owners, position_manager=sw.npm, factory=sw.factory, quote_token=sw.usdc.address,
        assets=(AssetSource("ETH", sw.weth.address, sw.feeds["ETH"]), AssetSource("BTC", sw.wbtc.address,
                                                                                   sw.feeds["BTC"])),
        v4=V4Sources(sw.core.position_manager.address, sw.core.state_view.address, token_ids, native_asset="ETH"),
    )


def read(sw: V4World) -> Snapshot:
    rpc = RpcClient.http(sw.node.url)
    ids = v4.scan_token_ids(rpc, sw.core.position_manager.address, sw.owners, 0, sw.w3.eth.block_number)
    snap = BookReader(rpc, sources(sw, ids)).read()
    assert snap.complete, snap.failures
    return snap


def balance(w3: Web3, currency: str, who: str) -> int:
    if currency == ZERO:
        return int(w3.eth.get_balance(Web3.to_checksum_address(who)))
    erc = w3.eth.contract(address=Web3.to_checksum_address(currency), abi=npm_artifact("WETH9").abi)
    return int(erc.functions.balanceOf(who).call())


def payout(sw: V4World, snap: Snapshot, lp: V4LpPosition) -> tuple[int, int]:
    """DECREASE_LIQUIDITY (all of it) + TAKE_PAIR sent by the owner to a fresh address; measured, reverted."""
    key = snap.v4_pools[lp.pool_id].key
    to = Web3.to_checksum_address("0x" + "5a" * 18 + f"{lp.token_id:04x}")
    data = v4.modify_liquidities(["DECREASE_LIQUIDITY", "TAKE_PAIR"], [
        v4.decrease_liquidity_params(lp.token_id, lp.liquidity), v4.take_pair_params(key.currency0, key.currency1, to)],
        FAR)
    snap_id = sw.node.rpc("evm_snapshot")
    try:
        before = balance(sw.w3, key.currency0, to), balance(sw.w3, key.currency1, to)
        tx = sw.w3.eth.send_transaction({"from": Web3.to_checksum_address(lp.owner),
                                         "to": sw.core.position_manager.address, "data": data})
        assert sw.w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        return balance(sw.w3, key.currency0, to) - before[0], balance(sw.w3, key.currency1, to) - before[1]
    finally:
        sw.node.rpc("evm_revert", snap_id)


def test_the_second_v4_world_is_not_the_devnet_world(second: V4World) -> None:
    assert second.w3.eth.chain_id == 1337
    usdc, wbtc = int(second.usdc.address, 16), int(second.wbtc.address, 16)
    assert usdc < wbtc  # WBTC is currency1 here (currency0 in the devnet world)
    eth = [p for p in second.pools.pools.values() if p.currency0 == ZERO]
    assert len({(p.currency0, p.currency1) for p in eth}) == 1 and len(eth) == 3  # one pair, three pools
    assert abs(second.pools.price_usd("ETH/USDC-500") / second.pools.price_usd("ETH/USDC-3000") - 1) > 0.05


def test_every_position_pays_what_the_book_says_to_the_wei(second: V4World) -> None:
    snap = read(second)
    infos: dict[str, V4PoolInfo] = {p.pool_id: p for p in second.pools.pools.values()}
    assert len(snap.v4_lps) == 7 and {lp.owner for lp in snap.v4_lps} == set(second.owners)
    spots = {k: f.price for k, f in snap.feeds.items()}
    risk = book_risk(snap, {"ETH": second.weth.address, "BTC": second.wbtc.address}, second.usdc.address, spots,
                     {"ETH": 0.6, "BTC": 0.5})
    lines = {x.lp.token_id: x for x in risk.lines if isinstance(x, V4LpLine)}
    states = set()
    for lp in snap.v4_lps:
        h = v4_lp_holdings(snap, lp)
        assert (h.amount0, h.amount1) == payout(second, snap, lp), f"v4 position {lp.token_id}"
        line = lines[lp.token_id]
        info = infos[lp.pool_id]
        assert line.underlying == ("BTC" if info.base == "WBTC" else "ETH")
        assert line.underlying_is_token0 == (info.currency0 == ZERO)  # WBTC is currency1 here
        r = line_risk(line, spots)
        assert r is not None
        risky = h.amount0 if line.underlying_is_token0 else h.amount1
        dec = line.decimals0 if line.underlying_is_token0 else line.decimals1
        assert r.delta == pytest.approx(risky / 10**dec, rel=1e-12, abs=1e-15)
        assert line.hooked == (info.hooks == HOOK)
        if line.hooked:
            assert any("afterRemoveLiquidityReturnsDelta" in x for x in line.hook_risks)
        states.add((line.in_range, h.principal0 == 0, h.principal1 == 0))
        if line.in_range:
            assert h.fees0 > 0 and h.fees1 > 0  # fees left uncollected
    assert (False, False, True) in states and (False, True, False) in states  # out of range on both sides
    # the position whose fees were collected once has a non-zero checkpoint and earned again since
    assert any(lp.fee_growth_inside0_last_x128 and v4_lp_holdings(snap, lp).fees0 for lp in snap.v4_lps)
    # two pools of one pair, each position valued at its own pool's price
    prices = {round(line.pool_price) for line in lines.values() if line.underlying == "ETH"}
    assert len(prices) == 3
