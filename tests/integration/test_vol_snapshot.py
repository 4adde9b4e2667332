"""One block per cycle, vol included: EWMA / GARCH fit on the oracle pool's history as read in the
snapshot, so a plan at block N is a function of the snapshot whatever happens on chain afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from web3 import Web3

from keeper.config import KeeperConfig, load_config
from keeper.core.vol import EWMAVol, PoolHistoryVol
from keeper.cycle.compose import ChainKeeper, build_keeper
from keeper.devnet.state import World
from keeper.devnet.world import contract, sqrt_price_x96_for_usd
from keeper.journal import Journal
from keeper.node.dev import DevChain
from keeper.view.report import plan_record
from tests.integration.test_bringup import CONFIG, env_for

pytestmark = pytest.mark.anvil


def push_oracle_pool(chain: Web3, world: World, factor: float) -> None:
    """A large swap moving the WETH/USDC-500 pool to ``factor`` x the feed, then 10 minutes pass."""
    m = world.manifest
    p = m.pools["WETH/USDC-500"]
    pool = contract(chain, "UniswapV3Pool", p.address)
    feed = contract(chain, "PriceFeed", m.feeds["ETH"].address).functions.latestAnswer().call() / 1e8
    weth_is_token0 = p.token0.lower() == m.tokens["WETH"].address.lower()
    target = sqrt_price_x96_for_usd(feed * factor, not weth_is_token0, 18, 6)
    actor, deployer = Web3.to_checksum_address(m.actor), Web3.to_checksum_address(m.deployer)
    dev = DevChain(chain)
    assert factor > 1, "raising ETH's price: USDC (a DevToken we can mint) goes in"
    usdc = m.tokens["USDC"].address
    weth = m.tokens["WETH"].address
    dev.send(contract(chain, "DevToken", usdc).functions.mint(actor, 10**30), deployer)
    router = contract(chain, "SwapRouter", m.uniswap.router)
    dev.send(contract(chain, "DevToken", usdc).functions.approve(router.address, 2**256 - 1), actor)
    dev.send(router.functions.exactInputSingle((usdc, weth, p.fee, actor, 2**63, 10**30, 0, target)), actor)
    assert abs(pool.functions.slot0().call()[0] - target) <= 1
    dev.advance(600)
    dev.rpc("evm_mine")


def ewma_keeper(world: World, tmp_path: Path, history_s: int, sample_s: int
                ) -> tuple[KeeperConfig, ChainKeeper, PoolHistoryVol]:
    """A dry-run keeper from the devnet example with EWMA vol over ``history_s`` sampled every ``sample_s``."""
    env = env_for(world, tmp_path, KEEPER_VOL__MODEL='"ewma"', KEEPER_VOL__HISTORY_S=str(history_s),
                  KEEPER_VOL__SAMPLE_S=str(sample_s))
    cfg = load_config(CONFIG, env)
    k = build_keeper(cfg, env=env, live=False, need_key=False, journal=Journal.memory())
    model = k.vol_models["ETH"]
    assert isinstance(model, PoolHistoryVol)
    return cfg, k, model


def test_plan_from_a_snapshot_keeps_its_vol_and_its_hedges_after_the_chain_moves(
        chain: Web3, world: World, tmp_path: Path) -> None:
    cfg, k, model = ewma_keeper(world, tmp_path, history_s=7200, sample_s=300)
    snap = k.reader.read(chain_id=cfg.chain.chain_id)
    assert snap.complete, snap.failures
    assert snap.round_trips <= 5, "the history rides in the snapshot's existing round trips"
    history = snap.histories[model.pool]
    # The history is the pool's own answer at the snapshot block, not at "latest".
    pool = contract(chain, "UniswapV3Pool", model.pool)
    direct = pool.functions.observe(list(model.seconds_agos())).call(block_identifier=snap.block_number)[0]
    assert history.tick_cumulatives == tuple(direct)
    vol = model.at(snap)
    assert isinstance(vol, EWMAVol) and vol.n_returns == 23  # 7200 / 300 = 24 intervals, 23 returns
    sigma = vol.annualized_vol(cfg.vol.horizon_s)
    risk1, plan1 = k.plan(snap)

    push_oracle_pool(chain, world, 1.08)

    assert model.at(snap).annualized_vol(cfg.vol.horizon_s) == sigma
    risk2, plan2 = k.plan(snap)
    assert plan2 == plan1, "the same snapshot gives the same plan"
    assert {s: r.vega for s, r in risk2.summaries.items()} == {s: r.vega for s, r in risk1.summaries.items()}
    # A new snapshot sees the move: the test would notice a vol read at "latest".
    later = k.reader.read(chain_id=cfg.chain.chain_id)
    assert later.histories[model.pool] != history
    assert model.at(later).annualized_vol(cfg.vol.horizon_s) != sigma


def test_a_history_the_pool_cannot_give_is_a_snapshot_failure_naming_the_pool(
        chain: Web3, world: World, tmp_path: Path) -> None:
    cfg, k, model = ewma_keeper(world, tmp_path, history_s=864000, sample_s=3600)
    snap = k.reader.read(chain_id=cfg.chain.chain_id)
    assert any(model.pool in f.what and "history" in f.what for f in snap.failures)
    with pytest.raises(Exception, match=f"no 864000 s history of pool {model.pool}.*observation cardinality"):
        model.at(snap)


def test_simulate_at_a_past_block_plans_the_hedges_of_that_blocks_snapshot(
        chain: Web3, world: World, tmp_path: Path) -> None:
    """`keeper simulate --block N` after the oracle pool moved: the fork reads block N, so its vol, greeks
    and orders are those of the snapshot taken at N, not of the moved chain."""
    cfg, k, _model = ewma_keeper(world, tmp_path, history_s=7200, sample_s=300)
    snap = k.reader.read(chain_id=cfg.chain.chain_id)
    risk, plan = k.plan(snap)
    assert plan.orders, "the world's book is outside the devnet bands at start, so the plan trades"
    expected = json.loads(json.dumps(plan_record(snap, risk, plan), default=str))

    push_oracle_pool(chain, world, 1.08)
    moved = k.plan(k.reader.read(chain_id=cfg.chain.chain_id))[0]
    assert moved.summaries["ETH"].vega != risk.summaries["ETH"].vega, "the test would notice a vol from the head"

    env = env_for(world, tmp_path, KEEPER_VOL__MODEL='"ewma"', KEEPER_VOL__HISTORY_S="7200",
                  KEEPER_VOL__SAMPLE_S="300")
    proc = subprocess.run([sys.executable, "-m", "keeper.cli.main", "simulate", "--config", str(CONFIG), "--json",
                           "--block", str(snap.block_number)], env=env, capture_output=True, text=True, timeout=180,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    simulated = json.loads(proc.stdout)
    assert simulated["fork"]["fork_block"] == snap.block_number
    assert simulated["plan"]["vol_sources"] == expected["vol_sources"]
    assert simulated["plan"]["greeks"] == expected["greeks"]
    assert simulated["plan"]["decisions"] == expected["decisions"]
    assert [(h["underlying"], h["side"], h["size_units"]) for h in simulated["hedges"]] == \
        [(o.underlying, o.side, o.size_units) for o in plan.orders]
