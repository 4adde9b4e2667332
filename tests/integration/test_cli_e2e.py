"""End to end through the CLI on the local world: `keeper run` (once activated) keeps delta in band after every hedge;
`keeper simulate` on a fork reports the same plan as `keeper plan` and leaves the upstream untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from web3 import Web3

from keeper.build.paths import repo_root
from keeper.chain.rpc import RpcClient
from keeper.config import load_config
from keeper.core.book import book_risk
from keeper.cycle.sources import book_sources
from keeper.devnet.actor import MarketActor
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.errors import DevnetError, KeeperError
from keeper.journal import Journal
from keeper.node.dev import dev_account
from keeper.read.reader import BookReader
from tests.conftest import pool_is_empty

pytestmark = pytest.mark.anvil
CONFIG = repo_root() / "examples" / "devnet.toml"


def env_for(world: World, journal: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, KEEPER_CHAIN__RPC_URL=world.url, KEEPER_JOURNAL__PATH=str(journal),
               KEEPER_PRIVATE_KEY="0x" + bytes(dev_account(5).key).hex(), **extra)
    env.pop("KEEPER_FORK_URL", None)
    return env


def keeper_cli(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keeper.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def ops_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``keeper activate`` & co.; until keeper/cli/main.py registers the ops commands, their own entry point."""
    proc = keeper_cli(*args, env=env)
    if proc.returncode == 2 and "invalid choice" in proc.stderr:
        proc = subprocess.run([sys.executable, "-m", "keeper.cli.ops", *args], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
    return proc


def test_run_keeps_delta_in_band_after_every_hedge(chain: Web3, world: World, tmp_path: Path) -> None:
    journal = tmp_path / "journal.sqlite"
    env = env_for(world, journal, KEEPER_SCHEDULE__INTERVAL_S="2", KEEPER_SCHEDULE__PRICE_MOVE_PCT="0")
    activated = ops_cli("activate", "--config", str(CONFIG), "--by", "test", env=env)  # run is dry until then
    assert activated.returncode == 0, activated.stdout + activated.stderr[-3000:]
    actor = MarketActor(chain, world.manifest, seed=11, step_s=2 * 3600, annual_vol=1.2)
    stop = threading.Event()
    skipped: list[str] = []

    def finished_cycles() -> int:
        try:
            return sum(c.status.value != "running" for c in Journal.open(journal, readonly=True).recent_cycles(100))
        except KeeperError:  # not created yet
            return 0

    def move() -> None:
        # One market step after each finished cycle, never before the first: the world's book starts
        # outside the band with feed, spot and TWAP in agreement, so cycle 1 hedges whatever the host's
        # speed. Substeps keep the TWAP following spot so later cycles can pass the oracle gate too, and
        # each advances the clock by 30 min, under the feeds' 1 h heartbeat: a hedge that is mined just
        # after a substep still meets a fresh feed.
        seen = 0
        while not stop.wait(0.05):
            done = finished_cycles()
            if done > seen:
                seen = done
                try:
                    actor.step(substeps=4)
                except DevnetError as exc:
                    # The keeper's own hedge can move a pool between the actor's quote and its swap
                    # (the swap then reverts on its price limit): the market skips this step.
                    skipped.append(str(exc))

    mover = threading.Thread(target=move, daemon=True)
    mover.start()
    try:
        proc = keeper_cli("run", "--config", str(CONFIG), "--max-cycles", "8", env=env)
    finally:
        stop.set()
        mover.join(5)
    assert proc.returncode == 0, proc.stderr[-3000:]

    cfg = load_config(CONFIG, env)
    j = Journal.open(journal)
    cycles = j.recent_cycles(100)
    assert len(cycles) == 8
    # The market actor is another process's clock and prices: if it steps while a hedge is in flight,
    # the module's own bounds refuse the stale plan, in preflight (nothing sent) or on chain (a revert
    # naming the bound). Any other failure is a bug.
    race_bounds = ("StaleFeed", "AcceptablePriceOutOfBound", "MinOutBelowOracleBound", "OutputBelowMinimum",
                   "SwapFailed")
    for c in cycles:
        err = c.error or ""
        assert c.status.value == "ok" or "would revert (not sent)" in err or (
            "transaction reverted" in err and any(b in err for b in race_bounds)), err
    fills = j.fills_between(0, 2**62)
    assert fills, "the market moved enough for at least one hedge"
    reader = BookReader(RpcClient.http(world.url), book_sources(cfg, (world.manifest.safe.address,)))
    tokens = {a.symbol: a.token for a in cfg.assets}
    policy = {s: cfg.effective_policy(s) for s in cfg.symbols}
    for f in fills:
        # The book as it stood right after the hedge's block: delta is inside the band.
        snap = reader.read(block=f.data.block_number)
        risk = book_risk(snap, tokens, cfg.quote.token, {a: x.price for a, x in snap.feeds.items()},
                         dict(cfg.vol.fixed))
        p = policy[f.underlying]
        delta = risk.summaries[f.underlying].delta
        assert abs(delta - p.target_delta_units) <= p.band_units + 1e-6, (f.underlying, delta, f.data.block_number)


def test_simulate_matches_plan_and_leaves_upstream_untouched(chain: Web3, world: World, tmp_path: Path) -> None:
    env = env_for(world, tmp_path / "journal.sqlite")
    block = chain.eth.block_number
    m = world.manifest
    tokens = [contract(chain, "WETH9", m.tokens[s].address) for s in ("WETH", "USDC", "WBTC")]
    balances = [t.functions.balanceOf(m.safe.address).call() for t in tokens]

    plan = keeper_cli("plan", "--config", str(CONFIG), "--json", "--block", str(block), env=env)
    assert plan.returncode == 0, plan.stderr[-2000:]
    sim = keeper_cli("simulate", "--config", str(CONFIG), "--json", "--block", str(block), env=env)
    assert sim.returncode == 0, sim.stderr[-2000:]
    planned, simulated = json.loads(plan.stdout), json.loads(sim.stdout)

    assert simulated["fork"]["fork_block"] == block
    assert simulated["plan"]["decisions"] == planned["decisions"]
    assert simulated["plan"]["greeks"] == planned["greeks"]
    orders = [d for d in planned["decisions"] if d["order"]]
    assert orders, "the world's book is outside the devnet bands at start, so the plan trades"
    assert [h["fill"] is not None for h in simulated["hedges"]] == [True] * len(orders)
    traded = {d["underlying"] for d in orders}
    for sym, d in simulated["delta"].items():
        # An untraded book still drifts by ~1e-7 units when the fork's clock moves a second (option deltas
        # decay with time); a hedge moves it by its size.
        moved = abs(d["after_units"] - d["before_units"]) > 1e-4
        assert moved == (sym in traded), (sym, d)

    # The fork is gone with the simulate process: nothing can reach the upstream later. It mined no
    # block and holds no pooled transaction from the dry run.
    assert chain.eth.block_number == block, "nothing was mined on the upstream"
    assert pool_is_empty(world.node), "nothing was sent to the upstream"
    assert [t.functions.balanceOf(m.safe.address).call() for t in tokens] == balances


def test_plan_needs_no_key_and_bad_config_names_the_field(world: World, tmp_path: Path) -> None:
    env = env_for(world, tmp_path / "j.sqlite")
    env.pop("KEEPER_PRIVATE_KEY")
    ok = keeper_cli("plan", "--config", str(CONFIG), env=env)
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert "Decisions:" in ok.stdout and "delta" in ok.stdout
    bad = keeper_cli("plan", "--config", str(CONFIG), env=dict(env, KEEPER_POLICY__ETH__MAX_TRADE_USD="-5"))
    assert bad.returncode == 2
    assert "policy.ETH.max_trade_usd" in bad.stderr and "Traceback" not in bad.stderr
    wrong_chain = keeper_cli("plan", "--config", str(CONFIG), env=dict(env, KEEPER_CHAIN__CHAIN_ID="1"))
    assert wrong_chain.returncode == 2 and "chain id 31337" in wrong_chain.stderr
