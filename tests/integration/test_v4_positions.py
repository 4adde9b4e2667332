"""Uniswap v4 positions read by the book equal what the v4 contracts pay, to the wei.

For every v4 position the world's Safe holds, the book's principal + fees are compared with the
chain's own payout: the Safe (impersonated) runs ``modifyLiquidities(DECREASE_LIQUIDITY of the whole
liquidity, TAKE_PAIR to a fresh address)`` and the fresh address's balance changes are measured, then
the chain is reverted. Once at the world's block, once more after swaps that cross the ranges' ticks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.core.book import V4LpLine, book_risk, line_risk, v4_lp_holdings
from keeper.core.snapshot import Snapshot, V4LpPosition, V4PoolKey
from keeper.devnet.sources import world_sources
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.devnet.world_v4 import sqrt_price_x96_at
from keeper.node.dev import DevChain
from keeper.read.reader import BookReader
from keeper.venues import uniswap_v4 as v4

pytestmark = pytest.mark.anvil

FAR = 2**63


def read(world: World, manifest: Manifest) -> Snapshot:
    snap = BookReader(RpcClient.http(world.url), world_sources(manifest)).read()
    assert snap.complete, snap.failures
    return snap


def balance(w3: Web3, currency: str, who: str) -> int:
    if currency == v4.NATIVE:
        return int(w3.eth.get_balance(Web3.to_checksum_address(who)))
    return int(contract(w3, "WETH9", currency).functions.balanceOf(who).call())


def chain_payout(world: World, w3: Web3, manifest: Manifest, snap: Snapshot, lp: V4LpPosition) -> tuple[int, int]:
    """What the PositionManager pays the owner for decreasing the whole liquidity and taking both currencies
    (executed from the owner, measured at a fresh recipient, then reverted)."""
    assert manifest.v4 is not None
    key = snap.v4_pools[lp.pool_id].key
    recipient = Web3.to_checksum_address("0x" + "7e" * 18 + f"{lp.token_id:04x}")  # holds nothing before
    data = v4.modify_liquidities(
        ["DECREASE_LIQUIDITY", "TAKE_PAIR"],
        [v4.decrease_liquidity_params(lp.token_id, lp.liquidity),
         v4.take_pair_params(key.currency0, key.currency1, recipient)], FAR)
    node = world.node
    snap_id = node.rpc("evm_snapshot")
    try:
        assert w3.eth.block_number == snap.block_number
        before = (balance(w3, key.currency0, recipient), balance(w3, key.currency1, recipient))
        node.rpc("anvil_impersonateAccount", lp.owner)
        node.rpc("anvil_setBalance", lp.owner, hex(10**20))
        tx = w3.eth.send_transaction({"from": Web3.to_checksum_address(lp.owner), "to": manifest.v4.position_manager,
                                      "data": "0x" + data.hex(), "gas": 1_000_000})  # type: ignore[typeddict-item]
        assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
        after = (balance(w3, key.currency0, recipient), balance(w3, key.currency1, recipient))
        node.rpc("anvil_stopImpersonatingAccount", lp.owner)
    finally:
        node.rpc("evm_revert", snap_id)
    return after[0] - before[0], after[1] - before[1]


def check_all(world: World, w3: Web3, manifest: Manifest, snap: Snapshot) -> list[V4LpLine]:
    assert manifest.v4 is not None
    assert {lp.token_id for lp in snap.v4_lps} == set(manifest.v4.position_ids.values())
    for lp in snap.v4_lps:
        ours = v4_lp_holdings(snap, lp)
        assert (ours.amount0, ours.amount1) == chain_payout(world, w3, manifest, snap, lp), f"v4 LP {lp.token_id}"
    # delta of each v4 line is the risky amount it would be paid (principal + fees), in units
    spots = {k: f.price for k, f in snap.feeds.items()}
    risk = book_risk(snap, {"ETH": manifest.tokens["WETH"].address, "BTC": manifest.tokens["WBTC"].address},
                     manifest.tokens["USDC"].address, spots, {"ETH": 0.6, "BTC": 0.5})
    lines = [x for x in risk.lines if isinstance(x, V4LpLine)]
    assert len(lines) == len(snap.v4_lps)
    for line in lines:
        r = line_risk(line, spots)
        assert r is not None
        raw = line.holding.amount0 if line.underlying_is_token0 else line.holding.amount1
        dec = line.decimals0 if line.underlying_is_token0 else line.decimals1
        assert r.delta == pytest.approx(raw / 10**dec, rel=1e-12, abs=1e-15)
        assert line.hook_risks == ()  # the world's pools have no hooks
        if line.in_range:
            assert r.gamma < 0.0
        else:
            assert r.gamma == 0.0
    return lines


@pytest.fixture
def v4_chain(chain: Web3, manifest: Manifest) -> Iterator[Web3]:
    if manifest.v4 is None:
        pytest.fail("the world was built without Uniswap v4")
    yield chain


def test_principal_and_fees_equal_the_v4_payout_to_the_wei_before_and_after_tick_crossing_swaps(
    v4_chain: Web3, world: World, manifest: Manifest,
) -> None:
    w3 = v4_chain
    assert manifest.v4 is not None
    snap = read(world, manifest)
    lines = check_all(world, w3, manifest, snap)
    roles = {v: k for k, v in manifest.v4.position_ids.items()}
    by_role = {roles[x.lp.token_id]: x for x in lines}
    assert by_role["eth_narrow_in_range"].in_range and by_role["btc_in_range"].in_range
    assert not by_role["eth_out_of_range"].in_range
    assert by_role["eth_narrow_in_range"].holding.fees0 > 0 and by_role["eth_narrow_in_range"].holding.fees1 > 0
    assert by_role["eth_narrow_in_range"].key.currency0 == v4.NATIVE  # native ETH, no WETH

    # Swing both pools past the narrow ranges (+8 %, -8 %, then -3 %): ticks cross, fees accrue both ways.
    swapper = contract(w3, "PoolSwapTest", manifest.v4.pool_swap_test)
    actor = Web3.to_checksum_address(manifest.actor)
    dev = DevChain(w3)
    for info in manifest.v4.pools.values():
        line = next(x for x in lines if x.key.currency1 == info.currency1 and x.lp.pool_id == info.pool_id)
        usd = line.pool_price
        base_is_0 = line.underlying_is_token0
        for move in (1.08, 0.92, 0.97):
            target = sqrt_price_x96_at(usd * move, base_is_0, line.decimals0 if base_is_0 else line.decimals1,
                                       line.decimals1 if base_is_0 else line.decimals0)
            state = contract(w3, "StateView", manifest.v4.state_view)
            current = int(state.functions.getSlot0(bytes.fromhex(info.pool_id[2:])).call()[0])
            zero_for_one = target < current
            pay = info.currency0 if zero_for_one else info.currency1
            amount = balance(w3, pay, actor) // 4
            key = (info.currency0, info.currency1, info.fee, info.tick_spacing, info.hooks)
            dev.send(swapper.functions.swap(key, (zero_for_one, -amount, target), (False, False), b""), actor,
                     value=amount if pay == v4.NATIVE else 0)
    after = read(world, manifest)
    assert after.block_number > snap.block_number
    check_all(world, w3, manifest, after)
    narrow = manifest.v4.position_ids["eth_narrow_in_range"]
    f_before = next(x.holding for x in lines if x.lp.token_id == narrow)
    f_after = v4_lp_holdings(after, next(lp for lp in after.v4_lps if lp.token_id == narrow))
    assert f_after.fees0 > f_before.fees0 and f_after.fees1 > f_before.fees1


def test_positions_are_found_from_transfer_logs_and_a_sold_one_is_dropped(
    v4_chain: Web3, world: World, manifest: Manifest,
) -> None:
    w3 = v4_chain
    assert manifest.v4 is not None
    rpc = RpcClient.http(world.url)
    found = v4.scan_token_ids(rpc, manifest.v4.position_manager, [manifest.safe.address], 0,
                              manifest.block_number, step=25)
    assert set(found) == set(manifest.v4.position_ids.values())
    # the Safe gives one position away: the chain's ownerOf drops it from the book, the rest stay
    gone = manifest.v4.position_ids["eth_wide_in_range"]
    posm = contract(w3, "PositionManager", manifest.v4.position_manager)
    world.node.rpc("anvil_impersonateAccount", manifest.safe.address)
    world.node.rpc("anvil_setBalance", manifest.safe.address, hex(10**20))
    tx = posm.functions.transferFrom(manifest.safe.address, manifest.actor, gone).transact(
        {"from": Web3.to_checksum_address(manifest.safe.address)})
    assert w3.eth.wait_for_transaction_receipt(tx)["status"] == 1
    snap = read(world, manifest)
    assert {lp.token_id for lp in snap.v4_lps} == set(manifest.v4.position_ids.values()) - {gone}
    # the logs still name it as a candidate (received once); ownerOf at the block decides
    assert gone in v4.scan_token_ids(rpc, manifest.v4.position_manager, [manifest.safe.address], 0,
                                     w3.eth.block_number)


def test_the_pool_ids_are_the_ones_the_pool_manager_initialized(world: World, w3: Web3, manifest: Manifest) -> None:
    """The adapter's keccak of the key is the PoolManager's own id (its Initialize events), and its key fields."""
    assert manifest.v4 is not None
    pm = contract(w3, "PoolManager", manifest.v4.pool_manager)
    events = pm.events.Initialize().get_logs(from_block=0, to_block=manifest.block_number)
    got = {"0x" + bytes(e["args"]["id"]).hex(): e["args"] for e in events}
    assert set(got) == {p.pool_id for p in manifest.v4.pools.values()}
    for p in manifest.v4.pools.values():
        a = got[p.pool_id]
        assert (a["currency0"], a["currency1"], a["fee"], a["tickSpacing"], a["hooks"]) == (
            p.currency0, p.currency1, p.fee, p.tick_spacing, p.hooks)
        assert v4.pool_id(V4PoolKey(p.currency0, p.currency1, p.fee, p.tick_spacing, p.hooks)) == p.pool_id


def test_the_devnet_config_lists_the_worlds_v4_positions(manifest: Manifest) -> None:
    from keeper.build.paths import repo_root
    from keeper.config import load_config

    assert manifest.v4 is not None
    cfg = load_config(repo_root() / "examples" / "devnet.toml", {})
    assert cfg.uniswap_v4 is not None
    assert cfg.uniswap_v4.position_manager == manifest.v4.position_manager
    assert cfg.uniswap_v4.state_view == manifest.v4.state_view
    assert set(cfg.uniswap_v4.token_ids) == set(manifest.v4.position_ids.values())


def test_the_v4_quote_cost_is_what_a_swap_pays_and_tends_to_the_fee_for_small_sizes(
    v4_chain: Web3, world: World, manifest: Manifest,
) -> None:
    """V4Quoter's quote (read-only) equals the output of the same swap executed, and its cost over the pool's
    mid price is the LP fee plus impact: ~5 bps for a small sale on the 0.05 % pool, more for a large one."""
    from keeper.chain.multicall import Multicall

    assert manifest.v4 is not None
    w3 = v4_chain
    info = manifest.v4.pools["ETH/USDC-500"]
    key = V4PoolKey(info.currency0, info.currency1, info.fee, info.tick_spacing, info.hooks)
    reader = Multicall(RpcClient.http(world.url))
    block = w3.eth.block_number
    small = v4.quote_cost(reader, manifest.v4.quoter, manifest.v4.state_view, key, True, 10**16, block)
    large = v4.quote_cost(reader, manifest.v4.quoter, manifest.v4.state_view, key, True, 200 * 10**18, block)
    assert small.cost_bps == pytest.approx(info.fee / 100, abs=0.05)  # fee tier in hundredths of a bip
    assert large.cost_bps > small.cost_bps + 1.0 and large.gas_estimate > 0
    usdc_back = v4.quote_cost(reader, manifest.v4.quoter, manifest.v4.state_view, key, False, 10**9, block)
    assert usdc_back.cost_bps == pytest.approx(info.fee / 100, abs=0.5)
    # the quote is what the swap pays: sell 200 ETH through the PoolSwapTest (no price limit)
    actor = Web3.to_checksum_address(manifest.actor)
    before = balance(w3, info.currency1, actor)
    swapper = contract(w3, "PoolSwapTest", manifest.v4.pool_swap_test)
    DevChain(w3).send(swapper.functions.swap(
        (key.currency0, key.currency1, key.fee, key.tick_spacing, key.hooks),
        (True, -200 * 10**18, 4295128740), (False, False), b""), actor, value=200 * 10**18)
    assert balance(w3, info.currency1, actor) - before == large.amount_out
