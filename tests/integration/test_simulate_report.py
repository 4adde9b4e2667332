"""`keeper simulate` tries every planned hedge on a fork and reports each one: a reverting hedge no longer
stops the dry run, it is reported with its decoded reason and its trade (a slippage revert also with the
planner's estimated cost against the limit: tests/unit/test_simulate_report.py); the exit code says
whether all filled. A hedge the planner's own estimate says would revert is not sent at all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from web3 import Web3

from keeper.config import load_config
from keeper.devnet.state import World
from tests.integration.test_cli_e2e import CONFIG, env_for, keeper_cli
from tests.integration.test_golive_gate import set_trade_cap

pytestmark = pytest.mark.anvil


def test_a_reverting_hedge_is_reported_and_the_others_still_fill(chain: Web3, world: World, tmp_path: Path) -> None:
    # The owners lowered the module's per-trade cap to 130,000 USD without telling the keeper (doctor
    # would flag the drift; simulate must show its effect): the BTC hedge (a buy of ~2.6 BTC, ~156,000
    # USD, toward a target of 11 BTC) reverts in the module, the ETH hedge (a sell of ~36 ETH toward a
    # target of 295 ETH, ~108,000 USD on its perp) fills.
    set_trade_cap(chain, world, 130_000)
    env = env_for(world, tmp_path / "journal.sqlite", KEEPER_POLICY__BTC__TARGET_DELTA_UNITS="11",
                  KEEPER_POLICY__ETH__TARGET_DELTA_UNITS="295")
    block = chain.eth.block_number
    btc_pool = load_config(CONFIG, env).asset("BTC").hedge_pools[0]
    assert world.manifest.pools["WBTC/USDC-3000"].address == btc_pool

    proc = keeper_cli("simulate", "--config", str(CONFIG), "--json", env=env)
    assert proc.returncode == 1, proc.stdout[-2000:] + proc.stderr[-2000:]
    rec = json.loads(proc.stdout)
    assert rec["all_filled"] is False
    planned = [d["underlying"] for d in rec["plan"]["decisions"] if d["order"]]
    assert sorted(planned) == ["BTC", "ETH"], "the world's book starts outside both bands"
    assert [h["underlying"] for h in rec["hedges"]] == planned, "every planned hedge was tried, in plan order"
    by = {h["underlying"]: h for h in rec["hedges"]}

    eth = by["ETH"]
    assert eth["status"] == "filled" and eth["error"] is None
    f = eth["fill"]
    assert f["units"] == pytest.approx(eth["size_units"], rel=1e-9) and f["realized_price_usd"] > 0
    assert f["gas_used"] > 21_000 and f["gas_usd"] > 0
    policy = load_config(CONFIG, env).effective_policy("ETH")
    assert abs(eth["delta_after_units"] - policy.target_delta_units) <= policy.band_units
    assert eth["delta_after_units"] != pytest.approx(eth["delta_before_units"])

    btc = by["BTC"]
    assert btc["status"] == "reverted" and btc["fill"] is None
    assert (btc["venue"], btc["venue_id"], btc["side"]) == ("uniswap", btc_pool, "buy")
    assert btc["size_units"] > 0
    err = btc["error"]
    assert "TradeCapExceeded" in err["reason"] and err["slippage"] is False and err["explanation"] is None
    assert btc["delta_after_units"] == pytest.approx(btc["delta_before_units"], abs=1e-12), "nothing traded"

    text = keeper_cli("simulate", "--config", str(CONFIG), env=env)
    assert text.returncode == 1
    out = text.stdout
    assert "Traceback" not in text.stderr and "b'" not in out
    assert "FILLED sell" in out and "ETH on perp" in out
    line = next(x for x in out.splitlines() if "REVERTED buy" in x)
    assert "BTC on uniswap" in line and btc_pool in line and "TradeCapExceeded" in line
    assert chain.eth.block_number == block, "the upstream was not written by the dry run"


def test_a_hedge_its_own_estimate_says_would_revert_is_not_sent(chain: Web3, world: World, tmp_path: Path) -> None:
    # BTC's only venue is the 0.3 % pool: under a 10 bps slippage bound its fee alone makes the swap
    # revert, so the planner does not send it and says why; ETH still hedges.
    env = env_for(world, tmp_path / "journal.sqlite", KEEPER_POLICY__BTC__MAX_SLIPPAGE_BPS="10")
    proc = keeper_cli("simulate", "--config", str(CONFIG), "--json", env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rec = json.loads(proc.stdout)
    assert [h["underlying"] for h in rec["hedges"]] == ["ETH"] and rec["all_filled"] is True
    [btc] = [d for d in rec["plan"]["decisions"] if d["underlying"] == "BTC"]
    assert btc["order"] is None
    text = " ".join(str(r) for r in btc["reasons"])
    assert "30.0 bps fee" in text and "exceeds max_slippage_bps 10 bps" in text


def test_all_hedges_fill_exit_zero(chain: Web3, world: World, tmp_path: Path) -> None:
    env = env_for(world, tmp_path / "journal.sqlite")
    proc = keeper_cli("simulate", "--config", str(CONFIG), "--json", env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rec = json.loads(proc.stdout)
    assert rec["all_filled"] is True and rec["hedges"]
    assert rec["summary"]["filled"] == rec["summary"]["planned"] == len(rec["hedges"])
    for h in rec["hedges"]:
        assert h["status"] == "filled" and h["fill"]["units"] > 0 and h["fill"]["gas_used"] > 0
        assert h["estimated_cost"]["total_bps"] <= h["estimated_cost"]["limit_bps"]
    text = keeper_cli("simulate", "--config", str(CONFIG), env=env)
    assert text.returncode == 0 and "All hedges filled." in text.stdout
