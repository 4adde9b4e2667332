"""Attacks around a hedge. A sandwich can cost the treasury at most the oracle-derived bound on the
swap's minimum output; a bigger one makes the hedge revert instead."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
from web3 import Web3
from web3.types import Wei

from keeper.cycle.runner import CycleReport
from keeper.devnet.keeper_setup import world_keeper, world_venues
from keeper.devnet.state import World
from keeper.devnet.world import contract, sqrt_price_x96_for_usd
from keeper.journal import Journal
from keeper.node.dev import DevChain
from tests.integration.test_hedge_cycle import current_deltas, policy

pytestmark = pytest.mark.anvil
SLIPPAGE_BPS = 50


def sandwich(chain: Web3, world: World, push_bps: float) -> tuple[CycleReport, float]:
    """The keeper sells ~30 ETH; an attacker front-runs it (pushing the pool ``push_bps`` down) and
    back-runs it, all in one block ordered by tip. Returns the cycle report and the oracle price."""
    m = world.manifest
    d = current_deltas(world, m)
    k = world_keeper(world.url, m, Journal.memory(), policy(d["ETH"] - 30, d["BTC"]),
                     venues=world_venues(m, perps=False), max_slippage_bps=SLIPPAGE_BPS,
                     tx_kwargs={"timeout_s": 20.0, "replace_after_s": 60.0})
    oracle = contract(chain, "PriceFeed", m.feeds["ETH"].address).functions.latestAnswer().call() / 1e8
    pool = m.pools["WETH/USDC-500"]
    attacker = Web3.to_checksum_address(m.actor)
    router = contract(chain, "SwapRouter", m.uniswap.router)
    dev = DevChain(chain)
    dev.send(contract(chain, "WETH9", m.tokens["WETH"].address).functions.deposit(), attacker, value=10**23)
    reports: list[CycleReport] = []
    world.node.rpc("evm_setAutomine", False)
    try:
        t = threading.Thread(target=lambda: reports.append(k.cycle()))
        t.start()
        pending: list[Any] = []
        deadline = time.monotonic() + 10
        while not pending and time.monotonic() < deadline:
            content = world.node.rpc("txpool_content")
            pending = [tx for txs in content.get("pending", {}).values() for tx in txs.values()]
            time.sleep(0.02)
        assert pending, "the keeper's hedge is in the mempool"
        tip = int(pending[0]["maxPriorityFeePerGas"], 16)
        fee = int(pending[0]["maxFeePerGas"], 16)
        target = sqrt_price_x96_for_usd(oracle * (1 - push_bps / 1e4), False, 18, 6)
        weth, usdc = m.tokens["WETH"].address, m.tokens["USDC"].address
        front = router.functions.exactInputSingle((weth, usdc, pool.fee, attacker, 2**63, 10**22, 0, target))
        back = router.functions.exactInputSingle((usdc, weth, pool.fee, attacker, 2**63, 10**13, 0, 0))
        front.transact({"from": attacker, "maxPriorityFeePerGas": Wei(tip * 10), "maxFeePerGas": Wei(fee * 10),
                        "gas": 500_000})
        back.transact({"from": attacker, "maxPriorityFeePerGas": Wei(0), "maxFeePerGas": Wei(fee), "gas": 500_000})
        world.node.rpc("anvil_mine", 1)
    finally:
        world.node.rpc("evm_setAutomine", True)
        world.node.rpc("anvil_mine", 1)
    t.join(30)
    assert reports, "the cycle finished"
    return reports[0], oracle


def test_small_sandwich_costs_at_most_the_oracle_bound(chain: Web3, world: World) -> None:
    report, oracle = sandwich(chain, world, push_bps=20)
    [h] = report.hedges
    assert h.fill is not None, h.error
    assert h.fill.realized_price >= oracle * (1 - SLIPPAGE_BPS / 1e4) - 1e-6
    assert h.fill.slippage_bps <= SLIPPAGE_BPS + 1e-6


def test_large_sandwich_makes_the_hedge_revert(chain: Web3, world: World) -> None:
    usdc = contract(chain, "DevToken", world.manifest.tokens["USDC"].address)
    weth = contract(chain, "WETH9", world.manifest.tokens["WETH"].address)
    safe = world.manifest.safe.address
    before = (usdc.functions.balanceOf(safe).call(), weth.functions.balanceOf(safe).call())
    report, _ = sandwich(chain, world, push_bps=300)
    [h] = report.hedges
    assert (h.fill is None and h.error and "Too little received" in h.error) or "SwapFailed" in (h.error or "")
    assert (usdc.functions.balanceOf(safe).call(), weth.functions.balanceOf(safe).call()) == before
