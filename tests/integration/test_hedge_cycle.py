"""The keeper's cycle on the local world: a delta breach produces exactly one hedge through the Safe
module, and the re-read delta is inside the band; manipulated or stale prices produce no trade."""

from __future__ import annotations

import dataclasses

import pytest
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.core.gates import GateConfig
from keeper.core.policy import PolicyConfig
from keeper.core.sizing import HedgeTo
from keeper.cycle.compose import ChainKeeper
from keeper.devnet.keeper_setup import band_policy, world_deltas, world_keeper, world_venues
from keeper.devnet.state import World
from keeper.devnet.world import contract, sqrt_price_x96_for_usd
from keeper.journal import Journal
from keeper.node.dev import DevChain

pytestmark = pytest.mark.anvil
BAND = 10.0  # ETH


def policy(eth_target: float, btc_target: float, hedge_to: HedgeTo = "target") -> PolicyConfig:
    def band(target: float) -> float:
        return BAND if target > 100 else 1.0

    return band_policy({"ETH": (eth_target, band(eth_target)), "BTC": (btc_target, band(btc_target))},
                       hedge_to=hedge_to, window_cap_usd=1_500_000,
                       gates=GateConfig(max_oracle_deviation_bps=100, max_feed_age_s=3600))


def current_deltas(world: World, manifest: Manifest) -> dict[str, float]:
    return world_deltas(world.url, manifest)


def keeper_for(world: World, manifest: Manifest, journal: Journal, eth_off: float, **kw: object) -> ChainKeeper:
    d = current_deltas(world, manifest)
    return world_keeper(world.url, manifest, journal, policy(d["ETH"] + eth_off, d["BTC"]), **kw)  # type: ignore[arg-type]


def module_hedges(chain: Web3, manifest: Manifest, from_block: int) -> list[object]:
    module = contract(chain, "HedgeModule", manifest.hedge_module)
    return list(module.events.HedgeExecuted().get_logs(from_block=from_block))


def test_delta_breach_gives_exactly_one_swap_through_the_module(
    chain: Web3, world: World, manifest: Manifest
) -> None:
    journal = Journal.memory()
    k = keeper_for(world, manifest, journal, -30.0, venues=world_venues(manifest, perps=False))
    start = chain.eth.block_number
    report = k.cycle()
    assert report.status == "ok", report.message
    eth = report.plan.decision("ETH")  # type: ignore[union-attr]
    assert eth.order is not None and eth.order.side == "sell" and eth.order.venue == "uniswap"
    assert report.plan.decision("BTC").order is None  # type: ignore[union-attr]
    assert len(report.hedges) == 1 and report.hedges[0].fill is not None
    fill = report.hedges[0].fill
    assert fill.underlying_units == pytest.approx(30.0, rel=0.02)
    assert abs(fill.slippage_bps) < 50
    assert len(module_hedges(chain, manifest, start)) == 1, "exactly one swap through the Safe module"

    # Re-read: the portfolio delta is now inside the band, and a second cycle trades nothing.
    again = k.cycle()
    d = again.plan.decision("ETH")  # type: ignore[union-attr]
    assert d.band_lower_units <= d.delta_before_units <= d.band_upper_units
    assert again.hedges == ()
    assert len(module_hedges(chain, manifest, start)) == 1
    intents = journal.intents_for_cycle(report.cycle_id)
    assert [i.status.value for i in intents] == ["mined"]
    assert journal.open_intents() == []


def test_perp_hedge_through_the_module(chain: Web3, world: World, manifest: Manifest) -> None:
    journal = Journal.memory()
    k = keeper_for(world, manifest, journal, +15.0, venues=world_venues(manifest, swaps=False))
    perp = contract(chain, "PerpMarket", manifest.perp_markets["ETH"].address)
    before = perp.functions.positions(manifest.safe.address).call()[0]
    report = k.cycle()
    assert report.status == "ok", report.message
    assert len(report.hedges) == 1 and report.hedges[0].trade.venue == "perp"
    after = perp.functions.positions(manifest.safe.address).call()[0]
    assert after - before == pytest.approx(15 * 10**18, rel=0.02)  # bought 15 ETH-perp (less short)


def test_spot_pushed_ten_percent_from_the_feed_gives_no_trade(
    chain: Web3, world: World, manifest: Manifest
) -> None:
    journal = Journal.memory()
    k = keeper_for(world, manifest, journal, -30.0)
    # Push the oracle pool 10 % above the feed with a large swap.
    p = manifest.pools["WETH/USDC-500"]
    pool = contract(chain, "UniswapV3Pool", p.address)
    feed = contract(chain, "PriceFeed", manifest.feeds["ETH"].address).functions.latestAnswer().call() / 1e8
    target = sqrt_price_x96_for_usd(feed * 1.10, False, 18, 6)
    actor = Web3.to_checksum_address(manifest.actor)
    dev = DevChain(chain)
    deployer = Web3.to_checksum_address(manifest.deployer)
    dev.send(contract(chain, "DevToken", p.token0).functions.mint(actor, 10**15), deployer)
    router = contract(chain, "SwapRouter", manifest.uniswap.router)
    dev.send(router.functions.exactInputSingle((p.token0, p.token1, p.fee, actor, 2**63, 10**15, 0, target)), actor)
    assert pool.functions.slot0().call()[0] == target
    start = chain.eth.block_number
    report = k.cycle()
    d = report.plan.decision("ETH")  # type: ignore[union-attr]
    assert d.order is None
    assert "oracle_consistency" in [g.gate for g in d.gates if not g.passed]
    assert report.hedges == ()
    assert module_hedges(chain, manifest, start) == []


def test_stale_feed_gives_no_trade(chain: Web3, world: World, manifest: Manifest) -> None:
    journal = Journal.memory()
    k = keeper_for(world, manifest, journal, -30.0)
    feed = contract(chain, "PriceFeed", manifest.feeds["ETH"].address)
    now = chain.eth.get_block("latest")["timestamp"]
    answer = feed.functions.latestAnswer().call()
    DevChain(chain).send(feed.functions.setAnswerAt(answer, now - 7200), Web3.to_checksum_address(manifest.deployer))
    report = k.cycle()
    d = report.plan.decision("ETH")  # type: ignore[union-attr]
    assert d.order is None and report.hedges == ()
    assert "feed_staleness" in [g.gate for g in d.gates if not g.passed]


def test_incomplete_snapshot_gives_no_trade(chain: Web3, world: World, manifest: Manifest) -> None:
    journal = Journal.memory()
    k = keeper_for(world, manifest, journal, -30.0)
    # A source that cannot be read: the BTC feed points at a contract with the wrong ABI.
    src = k.reader.sources
    bad = dataclasses.replace(src.assets[1], feed=manifest.tokens["USDC"].address)
    k.reader.sources = dataclasses.replace(src, assets=(src.assets[0], bad))
    report = k.cycle()
    assert not report.snapshot.complete  # type: ignore[union-attr]
    assert report.hedges == ()
    assert all(d.order is None for d in report.plan.decisions)  # type: ignore[union-attr]


def test_eoa_mode_trades_the_keepers_own_funds(chain: Web3, world: World, manifest: Manifest) -> None:
    from keeper.node.dev import dev_account

    keeper = dev_account(5).address
    weth = contract(chain, "WETH9", manifest.tokens["WETH"].address)
    usdc = contract(chain, "DevToken", manifest.tokens["USDC"].address)
    dev = DevChain(chain)
    dev.send(weth.functions.deposit(), keeper, value=100 * 10**18)
    dev.send(weth.functions.approve(manifest.uniswap.router, 2**256 - 1), keeper)
    # The keeper's account joins the book; it hedges with its own WETH through the router, not the module.
    probe = world_keeper(world.url, manifest, Journal.memory(), policy(0, 0), mode="eoa", live=False)
    risk, _ = probe.plan(probe.reader.read())
    d = {k: v.delta for k, v in risk.summaries.items()}
    k = world_keeper(world.url, manifest, Journal.memory(), policy(d["ETH"] - 20, d["BTC"]), mode="eoa",
                     venues=world_venues(manifest, perps=False))
    before = (weth.functions.balanceOf(keeper).call(), usdc.functions.balanceOf(keeper).call())
    start = chain.eth.block_number
    report = k.cycle()
    assert report.status == "ok", report.message
    [h] = report.hedges
    assert h.fill is not None and h.trade.request.to == manifest.uniswap.router
    assert weth.functions.balanceOf(keeper).call() == before[0] - h.fill.amount_in
    assert usdc.functions.balanceOf(keeper).call() == before[1] + h.fill.amount_out
    assert module_hedges(chain, manifest, start) == [], "the module was not used"
