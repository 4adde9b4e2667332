"""The perp margin guard on the local chain: the keeper reduces the Safe's perp through the HedgeModule
when its margin ratio is below the configured threshold, the chain's own ratio afterwards is back at
the target, and the delta the reduction gave up is sold on the swap pool in the same cycle."""

from __future__ import annotations

import dataclasses

import pytest
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.core.margin import MarginConfig
from keeper.core.policy import PolicyConfig
from keeper.devnet.keeper_setup import band_policy, world_deltas, world_keeper, world_venues
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.journal import Journal
from keeper.node.dev import DevChain

pytestmark = pytest.mark.anvil


def chain_ratio(chain: Web3, manifest: Manifest) -> tuple[float, float]:
    """(position in ETH, equity / notional) of the Safe's ETH perp, from the market's own views."""
    perp = contract(chain, "PerpMarket", manifest.perp_markets["ETH"].address)
    safe = manifest.safe.address
    size = perp.functions.positions(safe).call()[0] / 1e18
    equity = perp.functions.remainingMargin(safe).call() / 1e6
    price = perp.functions.oraclePrice().call() / 1e18
    return size, equity / (abs(size) * price)


def test_low_margin_perp_is_reduced_and_its_delta_hedged_on_the_pool(
        chain: Web3, world: World, manifest: Manifest) -> None:
    size0, ratio0 = chain_ratio(chain, manifest)
    assert size0 < 0, "the world's Safe holds a short ETH perp"
    # Take margin out (as the Safe's owners could) down to 12 % of notional, below a 15 % threshold.
    perp = contract(chain, "PerpMarket", manifest.perp_markets["ETH"].address)
    safe = Web3.to_checksum_address(manifest.safe.address)
    equity = perp.functions.remainingMargin(safe).call()
    dev = DevChain(chain)
    dev.rpc("anvil_impersonateAccount", safe)
    dev.rpc("anvil_setBalance", safe, hex(10**18))
    try:
        dev.send(perp.functions.withdrawMargin(equity - int(equity * 0.12 / ratio0)), safe)
    finally:
        dev.rpc("anvil_stopImpersonatingAccount", safe)
    size0, ratio0 = chain_ratio(chain, manifest)
    assert ratio0 == pytest.approx(0.12, rel=1e-3)
    reduce_bps, restore_bps = 1500.0, 2500.0
    d = world_deltas(world.url, manifest)
    base = band_policy({"ETH": (d["ETH"], 1.0), "BTC": (d["BTC"], 1.0)})
    guard = MarginConfig(reduce_below_bps=reduce_bps, restore_to_bps=restore_bps)
    policy = PolicyConfig(default=base.default, per_underlying={
        s: dataclasses.replace(p, margin=guard) for s, p in base.per_underlying.items()})
    k = world_keeper(world.url, manifest, Journal.memory(), policy, venues=world_venues(manifest))
    start = chain.eth.block_number
    report = k.cycle()
    assert report.status == "ok", report.message
    eth = report.plan.decision("ETH")  # type: ignore[union-attr]
    assert eth.margin_order is not None and eth.margin_order.side == "buy", eth.reasons
    assert [h.trade.venue for h in report.hedges] == ["perp", "uniswap"], [h.error for h in report.hedges]
    assert all(h.fill is not None for h in report.hedges), [h.error for h in report.hedges]

    size1, ratio1 = chain_ratio(chain, manifest)
    bought = size1 - size0
    assert bought == pytest.approx(eth.margin_order.size_units, rel=1e-6)
    # The chain's ratio is back at the target: at least it (the size allows for fee + max slippage) and
    # not far above (the fill was near the oracle, so little of the allowance was used).
    print(f"perp {size0:.4f} ETH at {ratio0:.2%} margin -> bought {bought:.4f} ETH -> {size1:.4f} ETH at {ratio1:.2%}")
    assert restore_bps * 1e-4 <= ratio1 <= restore_bps * 1e-4 + 0.01, (ratio0, ratio1)
    module = contract(chain, "HedgeModule", manifest.hedge_module)
    perps = module.events.PerpHedgeExecuted().get_logs(from_block=start + 1)
    swaps = module.events.HedgeExecuted().get_logs(from_block=start + 1)
    assert len(perps) == 1 and perps[0]["args"]["sizeDelta"] == pytest.approx(bought * 1e18, rel=1e-9)
    assert len(swaps) == 1
    # The book's delta ends within the band: the pool sold what the perp reduction bought.
    after = world_deltas(world.url, manifest)["ETH"]
    assert abs(after - d["ETH"]) <= 1.0 + 0.05, (d["ETH"], after)
    # And the next cycle leaves the perp alone: its ratio is above the threshold now.
    again = k.cycle()
    assert again.plan.decision("ETH").margin_order is None  # type: ignore[union-attr]
