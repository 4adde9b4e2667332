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

from keeper.build.artifacts import forge_artifact
from keeper.build.paths import repo_root
from keeper.config import KeeperConfig, load_config
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.devnet.world_aave import FEED_OF, AaveMarket, aave_contract, deploy_aave
from keeper.devnet.world_v4 import deploy_v4
from keeper.node.anvil import free_port
from keeper.node.dev import DevChain, dev_account
from keeper.ops.doctor import Check, run_doctor
from keeper.venues.hedge_module import SENTINEL_MODULES, USD_WAD, calldata, disable_txs
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


def disable_hedge_module(chain: Web3, world: World) -> None:
    """The owners disable the HedgeModule (its predecessor in the Safe's module list found on chain: the world
    enables the HedgeVenueModule after it, so that one comes first)."""
    m = world.manifest
    modules = contract(chain, "Safe", m.safe.address).functions.getModulesPaginated(SENTINEL_MODULES, 10).call()[0]
    i = modules.index(Web3.to_checksum_address(m.hedge_module))
    [tx] = disable_txs(m.safe.address, m.hedge_module, modules[i - 1] if i else SENTINEL_MODULES)
    owners_exec(chain, world, tx.to, tx.data)


def test_doctor_passes_on_the_world(chain: Web3, world: World, tmp_path: Path) -> None:
    checks = doctor(world, tmp_path)
    assert failing(checks) == set(), {n: c.detail for n, c in checks.items() if c.status == "fail"}
    assert list(checks) == ["rpc", "signer", "safe", "module_enabled", "module_params", "venue_module", "keeper_caller",
                            "allowances", "perp_margin", "gas_balance", "feeds", "twap", "pool_prices", "quoter",
                            "uniswap_v4", "aave_market", "aave_oracle", "v4_venue", "aave_venue", "alerts",
                            "journal", "anvil"]
    assert "Safe 1.4.1" in checks["safe"].detail
    assert "module approves" in checks["allowances"].detail
    # The world's Safe holds margin in the ETH perp market only.
    assert checks["perp_margin"].status == "warn" and "BTC" in checks["perp_margin"].detail
    assert "oldest observation" in checks["twap"].detail
    for name in ("twap", "pool_prices", "quoter", "uniswap_v4", "aave_market", "aave_oracle"):
        assert checks[name].status == "pass", checks[name]
    m = world.manifest
    assert m.v4 is not None and m.aave is not None
    assert m.v4.pool_manager in checks["uniswap_v4"].detail
    assert m.aave.pool in checks["aave_market"].detail and m.aave.oracle in checks["aave_market"].detail
    assert m.feeds["ETH"].address in checks["aave_oracle"].detail


# ---------------------------------------------------------------------------- v4 and Aave: look-alikes


def test_v4_look_alike_state_view_or_pool_manager_is_flagged(chain: Web3, world: World, tmp_path: Path) -> None:
    """An attacker's v4 deployment (real bytecode, its own PoolManager) named in the config: the StateView
    would value the Safe's positions from another pool manager's state."""
    m = world.manifest
    assert m.v4 is not None
    fake = deploy_v4(chain, DevChain(chain), dev_account(9).address, m.tokens["WETH"].address)
    checks = doctor(world, tmp_path, KEEPER_UNISWAP_V4__STATE_VIEW=f'"{fake.state_view.address}"')
    assert failing(checks) == {"uniswap_v4"}
    detail = checks["uniswap_v4"].detail
    assert f"reads PoolManager {fake.pool_manager.address}" in detail and m.v4.pool_manager in detail
    assert "look-alike" in detail and "docs.uniswap.org" in checks["uniswap_v4"].fix
    checks = doctor(world, tmp_path, KEEPER_UNISWAP_V4__POOL_MANAGER=f'"{fake.pool_manager.address}"')
    assert failing(checks) == {"uniswap_v4"}
    assert f"not uniswap_v4.pool_manager {fake.pool_manager.address}" in checks["uniswap_v4"].detail
    # not a v4 contract at all, and no contract at all
    checks = doctor(world, tmp_path, KEEPER_UNISWAP_V4__STATE_VIEW=f'"{m.safe.address}"')
    assert failing(checks) == {"uniswap_v4"} and "poolManager() unreadable" in checks["uniswap_v4"].detail
    nobody = "0x" + "5e" * 20
    checks = doctor(world, tmp_path, KEEPER_UNISWAP_V4__POSITION_MANAGER=f'"{nobody}"')
    assert failing(checks) == {"uniswap_v4"}
    assert f"no contract at uniswap_v4.position_manager {Web3.to_checksum_address(nobody)}" in \
        checks["uniswap_v4"].detail
    # without a pinned pool manager the pair is still checked, and the doctor asks to pin the one they use
    cfg = load_config(CONFIG, env_for(world, tmp_path / "j.sqlite"))
    assert cfg.uniswap_v4 is not None
    unpinned = cfg.model_copy(update={"uniswap_v4": cfg.uniswap_v4.model_copy(update={"pool_manager": None})})
    checks = {c.name: c for c in run_doctor(unpinned, env_for(world, tmp_path / "j.sqlite"))}
    assert checks["uniswap_v4"].status == "warn" and "not pinned" in checks["uniswap_v4"].detail
    assert f'pool_manager = "{m.v4.pool_manager}"' in checks["uniswap_v4"].fix


def look_alike_aave(w3: Web3, world: World) -> AaveMarket:
    """A second, attacker-run Aave market on the world's own tokens and feeds (the same npm bytecode)."""
    m = world.manifest
    tokens = {"WETH": contract(w3, "WETH9", m.tokens["WETH"].address),
              "WBTC": contract(w3, "DevToken", m.tokens["WBTC"].address),
              "USDC": contract(w3, "DevToken", m.tokens["USDC"].address)}
    feeds = {s: contract(w3, "PriceFeed", m.feeds[FEED_OF[s]].address) for s in tokens}
    return deploy_aave(w3, DevChain(w3), deployer=dev_account(9).address, tokens=tokens,
                       decimals={s: m.tokens[s].decimals for s in tokens}, feeds=feeds, progress=lambda _m: None)


def test_aave_look_alike_pool_or_oracle_is_flagged(chain: Web3, world: World, tmp_path: Path) -> None:
    m = world.manifest
    assert m.aave is not None
    fake = look_alike_aave(chain, world)
    checks = doctor(world, tmp_path, KEEPER_POSITIONS__AAVE_POOLS=f'["{fake.pool.address}"]')
    assert "aave_market" in failing(checks)
    detail = checks["aave_market"].detail
    assert f"positions.aave_pools {fake.pool.address} is not the provider's Pool {m.aave.pool}" in detail
    assert "look-alike" in detail and "address book" in checks["aave_market"].fix
    checks = doctor(world, tmp_path, KEEPER_AAVE__ORACLE=f'"{fake.oracle.address}"')
    assert "aave_market" in failing(checks)
    assert f"aave.oracle {fake.oracle.address} is not the provider's price oracle {m.aave.oracle}" in \
        checks["aave_market"].detail
    # the look-alike's own provider vouches for its pool: only the pinned provider tells them apart
    checks = doctor(world, tmp_path, KEEPER_AAVE__ADDRESSES_PROVIDER=f'"{fake.provider.address}"')
    assert "aave_market" in failing(checks) and m.aave.pool in checks["aave_market"].detail
    # an account without code where the provider should be
    nobody = Web3.to_checksum_address("0x" + "5e" * 20)
    checks = doctor(world, tmp_path, KEEPER_AAVE__ADDRESSES_PROVIDER=f'"{nobody}"')
    assert f"no contract at aave.addresses_provider {nobody}" in checks["aave_market"].detail


def test_aave_oracle_reading_weth_from_another_feed_is_flagged(chain: Web3, world: World, tmp_path: Path) -> None:
    m = world.manifest
    assert m.aave is not None
    oracle = aave_contract(chain, "AaveOracle", m.aave.oracle)
    weth, btc_feed = m.tokens["WETH"].address, m.feeds["BTC"].address
    DevChain(chain).send(oracle.functions.setAssetSources([weth], [btc_feed]), Web3.to_checksum_address(m.deployer))
    checks = doctor(world, tmp_path)
    assert checks["aave_oracle"].status == "warn", checks["aave_oracle"]
    assert f"ETH: AaveOracle {m.aave.oracle} prices {weth} from {btc_feed}, the config's feed is " \
           f"{m.feeds['ETH'].address}" in checks["aave_oracle"].detail
    assert "BTC" not in checks["aave_oracle"].detail.split(":")[0]


def test_aave_not_pinned_is_a_warning(chain: Web3, world: World, tmp_path: Path) -> None:
    cfg = load_config(CONFIG, env_for(world, tmp_path / "j.sqlite"))
    checks = {c.name: c for c in run_doctor(cfg.model_copy(update={"aave": None}),
                                            env_for(world, tmp_path / "j.sqlite"))}
    assert checks["aave_market"].status == "warn" and "not pinned" in checks["aave_market"].detail
    assert checks["aave_oracle"].status == "pass"  # the pool's own provider names the oracle


def test_module_not_enabled(chain: Web3, world: World, tmp_path: Path) -> None:
    disable_hedge_module(chain, world)
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
    assert "22 checks:" in ok.stdout and "0 fail" in ok.stdout
    disable_hedge_module(chain, world)
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


# ---------------------------------------------------------------------------------------------- the venue module
def test_venue_module_not_enabled(chain: Web3, world: World, tmp_path: Path) -> None:
    m = world.manifest
    modules = contract(chain, "Safe", m.safe.address).functions.getModulesPaginated(SENTINEL_MODULES, 10).call()[0]
    assert modules[0] == Web3.to_checksum_address(m.hedge_venue_module)  # enabled last: first in the list
    [tx] = disable_txs(m.safe.address, m.hedge_venue_module)
    owners_exec(chain, world, tx.to, tx.data)
    checks = doctor(world, tmp_path)
    assert failing(checks) == {"venue_module"}
    assert "is not enabled on Safe" in checks["venue_module"].detail and "enableModule" in checks["venue_module"].fix


def test_venue_module_that_is_not_our_build_or_another_modules(chain: Web3, world: World, tmp_path: Path) -> None:
    m = world.manifest
    checks = doctor(world, tmp_path, KEEPER_TREASURY__HEDGE_VENUE_MODULE=m.perp_markets["ETH"].address)
    assert failing(checks) == {"venue_module"}
    assert "is not the keeper's HedgeVenueModule: its runtime code" in checks["venue_module"].detail
    # A genuine HedgeVenueModule, enabled on the Safe, but bound to another HedgeModule of the same Safe.
    dev = DevChain(chain)
    other = dev.deploy(forge_artifact("HedgeModule"), m.safe.address, m.keeper, dev_account(2).address,
                       sender=dev_account(0).address)
    venue = dev.deploy(forge_artifact("HedgeVenueModule"), other.address, m.tokens["WETH"].address,
                       sender=dev_account(0).address)
    owners_exec(chain, world, m.safe.address, calldata("enableModule(address)", ["address"], [venue.address]))
    checks = doctor(world, tmp_path, KEEPER_TREASURY__HEDGE_VENUE_MODULE=venue.address)
    assert failing(checks) == {"venue_module"}
    assert f"bound to Safe {Web3.to_checksum_address(m.safe.address)} and HedgeModule {other.address}" \
        in checks["venue_module"].detail
