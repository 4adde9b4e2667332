"""`keeper doctor` on the local world: everything passes as built; each failing check has its own test
that breaks the world (or the config) in exactly that way and expects that check to fail with a fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from web3 import Web3

from keeper.build.paths import repo_root
from keeper.config import KeeperConfig, load_config
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.node.anvil import free_port
from keeper.node.dev import dev_account
from keeper.ops.doctor import Check, run_doctor
from keeper.venues.hedge_module import USD_WAD, calldata, disable_txs
from keeper.venues.safe import SafeTx, execute_safe_tx

pytestmark = pytest.mark.anvil
CONFIG = repo_root() / "examples" / "devnet.toml"
KEY = "0x" + bytes(dev_account(5).key).hex()


def env_for(world: World, journal: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "KEEPER_CHAIN__RPC_URL": world.url, "KEEPER_JOURNAL__PATH": str(journal),
           "KEEPER_PRIVATE_KEY": KEY, **extra}
    env.pop("KEEPER_FORK_URL", None)
    return env


def doctor(world: World, tmp_path: Path, **extra: str) -> dict[str, Check]:
    env = env_for(world, tmp_path / "journal.sqlite", **extra)
    cfg: KeeperConfig = load_config(CONFIG, env)
    return {c.name: c for c in run_doctor(cfg, env)}


def failing(checks: dict[str, Check]) -> set[str]:
    return {n for n, c in checks.items() if c.status == "fail"}


def owners_exec(w3: Web3, world: World, to: str, data: bytes) -> None:
    safe = contract(w3, "Safe", world.manifest.safe.address)
    execute_safe_tx(w3, safe, SafeTx(Web3.to_checksum_address(to), 0, data), [dev_account(2), dev_account(3)],
                    sender=dev_account(0).address)


def test_doctor_passes_on_the_world(chain: Web3, world: World, tmp_path: Path) -> None:
    checks = doctor(world, tmp_path)
    assert failing(checks) == set(), {n: c.detail for n, c in checks.items() if c.status == "fail"}
    assert list(checks) == ["rpc", "signer", "safe", "module_enabled", "module_params", "keeper_caller",
                            "allowances", "perp_margin", "gas_balance", "feeds", "twap", "pool_prices", "quoter",
                            "v4_venue", "aave_venue", "alerts", "journal", "anvil"]
    assert "Safe 1.4.1" in checks["safe"].detail
    assert "module approves" in checks["allowances"].detail
    # The world's Safe holds margin in the ETH perp market only.
    assert checks["perp_margin"].status == "warn" and "BTC" in checks["perp_margin"].detail
    assert "oldest observation" in checks["twap"].detail
    for name in ("twap", "pool_prices", "quoter"):
        assert checks[name].status == "pass", checks[name]


def test_module_not_enabled(chain: Web3, world: World, tmp_path: Path) -> None:
    m = world.manifest
    [tx] = disable_txs(m.safe.address, m.hedge_module)
    owners_exec(chain, world, tx.to, tx.data)
    checks = doctor(world, tmp_path)
    assert failing(checks) == {"module_enabled"}
    assert "not enabled" in checks["module_enabled"].detail
    assert "keeper propose enable-module" in checks["module_enabled"].fix


def test_module_paused_by_guardian(chain: Web3, world: World, tmp_path: Path) -> None:
    module = contract(chain, "HedgeModule", world.manifest.hedge_module)
    chain.eth.wait_for_transaction_receipt(module.functions.pause().transact({"from": dev_account(2).address}))
    checks = doctor(world, tmp_path)
    assert failing(checks) == {"module_enabled"} and "paused" in checks["module_enabled"].detail


def test_cap_below_policy_names_both_values(chain: Web3, world: World, tmp_path: Path) -> None:
    data = calldata("setLimits(uint256,uint256,uint256,uint256)", ["uint256"] * 4,
                    [int(Decimal(300_000) * USD_WAD), int(Decimal(2_000_000) * USD_WAD), 86_400, 100])
    owners_exec(chain, world, world.manifest.hedge_module, data)
    checks = doctor(world, tmp_path)
    assert failing(checks) == {"module_params"}
    assert "per-trade cap: on-chain 300,000 < policy max_trade_usd 400,000" in checks["module_params"].detail
    assert "keeper propose set-params" in checks["module_params"].fix


def test_config_mismatches_are_each_reported(chain: Web3, world: World, tmp_path: Path) -> None:
    other = "0x" + "ab" * 20
    checks = doctor(world, tmp_path, KEEPER_UNISWAP__ROUTER=f'"{other}"', KEEPER_ASSETS__1__PERP_MAX_ABS_UNITS="30",
                    KEEPER_POLICY__DEFAULT__MAX_SLIPPAGE_BPS="150")
    detail = checks["module_params"].detail
    assert checks["module_params"].status == "fail"
    assert f"router: on-chain {world.manifest.uniswap.router}, config uniswap.router " \
           f"{Web3.to_checksum_address(other)}" in detail
    assert "BTC perp max abs size: on-chain 25, config perp_max_abs_units 30" in detail
    assert "max slippage: on-chain 100 < policy max_slippage_bps 150" in detail


def test_wrong_keeper(chain: Web3, world: World, tmp_path: Path) -> None:
    owners_exec(chain, world, world.manifest.hedge_module,
                calldata("setKeeper(address)", ["address"], [dev_account(6).address]))
    checks = doctor(world, tmp_path)
    assert failing(checks) == {"keeper_caller"}
    assert dev_account(6).address in checks["keeper_caller"].detail
    assert dev_account(5).address in checks["keeper_caller"].detail


def test_stale_feed(chain: Web3, world: World, tmp_path: Path) -> None:
    feed = contract(chain, "PriceFeed", world.manifest.feeds["ETH"].address)
    now = chain.eth.get_block("latest")["timestamp"]
    answer = feed.functions.latestRoundData().call()[1]
    tx = feed.functions.setAnswerAt(answer, now - 7200).transact({"from": dev_account(0).address})
    chain.eth.wait_for_transaction_receipt(tx)
    checks = doctor(world, tmp_path)
    assert failing(checks) == {"feeds"}
    assert "ETH feed" in checks["feeds"].detail and "limit 3,600 s" in checks["feeds"].detail


def test_twap_window_longer_than_history(chain: Web3, world: World, tmp_path: Path) -> None:
    checks = doctor(world, tmp_path, KEEPER_ORACLES__TWAP_WINDOW_S=str(2 * 86_400))
    assert failing(checks) == {"twap"}
    assert "observe([172800, 0]) fails" in checks["twap"].detail and "cardinality" in checks["twap"].detail


def test_journal_not_writable(chain: Web3, world: World, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    checks = doctor(world, tmp_path, KEEPER_JOURNAL__PATH=str(blocker / "journal.sqlite"))
    assert failing(checks) == {"journal"} and "is not a directory" in checks["journal"].detail


def test_missing_anvil(chain: Web3, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_ANVIL", str(tmp_path / "no-anvil"))
    checks = doctor(world, tmp_path)
    assert failing(checks) == {"anvil"} and "KEEPER_ANVIL" in checks["anvil"].fix


def test_wrong_chain_id(world: World, tmp_path: Path) -> None:
    checks = doctor(world, tmp_path, KEEPER_CHAIN__CHAIN_ID="1")
    assert failing(checks) == {"rpc"}
    assert "serves chain id 31337, the config expects 1" in checks["rpc"].detail
    assert "module_params" not in checks, "chain checks are skipped on the wrong chain"


def test_rpc_down(world: World, tmp_path: Path) -> None:
    checks = doctor(world, tmp_path, KEEPER_CHAIN__RPC_URL=f"http://127.0.0.1:{free_port()}")
    assert failing(checks) == {"rpc"} and "does not answer" in checks["rpc"].detail


def test_no_safe_code(chain: Web3, world: World, tmp_path: Path) -> None:
    nowhere = "0x" + "12" * 20
    checks = doctor(world, tmp_path, KEEPER_TREASURY__SAFE=f'"{nowhere}"')
    assert "safe" in failing(checks)
    assert "no contract at treasury.safe" in checks["safe"].detail


def test_low_signer_balance(chain: Web3, world: World, tmp_path: Path) -> None:
    world.node.rpc("anvil_setBalance", dev_account(5).address, hex(10**17))
    checks = doctor(world, tmp_path)
    assert failing(checks) == {"gas_balance"}
    assert "20 hedges at 500 gwei x 260,000 gas need 2.600000" in checks["gas_balance"].detail


def test_missing_key(world: World, tmp_path: Path) -> None:
    env = env_for(world, tmp_path / "j.sqlite")
    env.pop("KEEPER_PRIVATE_KEY")
    checks = {c.name: c for c in run_doctor(load_config(CONFIG, env), env)}
    assert {"signer", "keeper_caller", "gas_balance"} <= failing(checks)
    assert "KEEPER_PRIVATE_KEY" in checks["signer"].detail


def test_eoa_mode_needs_router_allowances(chain: Web3, world: World, tmp_path: Path) -> None:
    checks = doctor(world, tmp_path, KEEPER_TREASURY__MODE='"eoa"')
    assert failing(checks) == {"allowances"}
    assert "no allowance to the router" in checks["allowances"].detail
    assert checks["keeper_caller"].status == "pass"


def test_cli_exit_code_json_and_fix(chain: Web3, world: World, tmp_path: Path) -> None:
    env = env_for(world, tmp_path / "j.sqlite")
    ok = ops_cli("doctor", "--config", str(CONFIG), env=env)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "18 checks:" in ok.stdout and "0 fail" in ok.stdout
    m = world.manifest
    [tx] = disable_txs(m.safe.address, m.hedge_module)
    owners_exec(chain, world, tx.to, tx.data)
    bad = ops_cli("doctor", "--config", str(CONFIG), env=env)
    assert bad.returncode == 1
    assert "FAIL  module_enabled" in bad.stdout and "fix: have the Safe owners execute" in bad.stdout
    as_json = ops_cli("doctor", "--config", str(CONFIG), "--json", env=env)
    rec = json.loads(as_json.stdout)
    assert as_json.returncode == 1 and rec["ok"] is False
    assert [c["name"] for c in rec["checks"] if c["status"] == "fail"] == ["module_enabled"]
    assert KEY[2:] not in as_json.stdout + bad.stdout, "the key never shows"


def ops_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``keeper <args>``; until keeper/cli/main.py registers the ops commands, their own entry point."""
    proc = subprocess.run([sys.executable, "-m", "keeper.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    if proc.returncode == 2 and "invalid choice" in proc.stderr:
        proc = subprocess.run([sys.executable, "-m", "keeper.cli.ops", *args], env=env, capture_output=True,
                              text=True, timeout=120, check=False)
    return proc
