"""Bring-up on a chain the keeper did not build: a missing Multicall3 is named as itself (and placed by
``keeper multicall3 install``), the doctor checks the quoter, the TWAP's coverage and each pool against its
feed, and in eoa mode the signer's inventory is part of the book."""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from eth_utils.crypto import keccak
from web3 import Web3
from web3.types import Wei

from keeper.build.artifacts import multicall3_creation_code
from keeper.build.paths import repo_root
from keeper.chain.multicall import MULTICALL3, Call, Multicall
from keeper.chain.multicall3_install import RUNTIME_KECCAK, runtime_code
from keeper.chain.rpc import RpcClient
from keeper.config import load_config
from keeper.cycle.compose import build_keeper
from keeper.devnet.state import World
from keeper.devnet.world import contract, sqrt_price_x96_for_usd
from keeper.journal import Journal
from keeper.node.anvil import AnvilNode
from keeper.node.dev import dev_account
from keeper.ops.doctor import Check, run_doctor

pytestmark = pytest.mark.anvil
CONFIG = repo_root() / "examples" / "devnet.toml"
SIGNER = dev_account(5)
KEY = "0x" + bytes(SIGNER.key).hex()


def env_for(world: World, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "KEEPER_CHAIN__RPC_URL": world.url, "KEEPER_JOURNAL__PATH": str(tmp_path / "j.sqlite"),
           "KEEPER_PRIVATE_KEY": KEY, **extra}
    env.pop("KEEPER_FORK_URL", None)
    return env


def doctor(world: World, tmp_path: Path, **extra: str) -> dict[str, Check]:
    env = env_for(world, tmp_path, **extra)
    return {c.name: c for c in run_doctor(load_config(CONFIG, env), env)}


def keeper_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keeper.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def mine_after(chain: Web3, world: World, seconds: int) -> None:
    world.node.rpc("evm_increaseTime", seconds)
    world.node.rpc("evm_mine")


# ------------------------------------------------------------------------------------------ Multicall3
def test_missing_multicall3_is_named_by_doctor_and_plan(chain: Web3, world: World, tmp_path: Path) -> None:
    world.node.rpc("anvil_setCode", MULTICALL3, "0x")
    checks = doctor(world, tmp_path)
    rpc = checks["rpc"]
    assert rpc.status == "fail" and "Multicall3" in rpc.detail and MULTICALL3 in rpc.detail
    assert "chain 31337" in rpc.detail
    assert rpc.fix.startswith(f"run `keeper multicall3 install --rpc-url {world.url}`"), rpc.fix
    assert "module_params" not in checks, "chain checks are skipped without Multicall3"

    plan = keeper_cli("plan", "-c", str(CONFIG), env=env_for(world, tmp_path))
    assert plan.returncode == 3, plan.stdout + plan.stderr
    assert "Multicall3" in plan.stderr and MULTICALL3 in plan.stderr and "chain 31337" in plan.stderr
    assert f"keeper multicall3 install --rpc-url {world.url}" in plan.stderr
    assert "tokens:" not in plan.stderr and "decimals" not in plan.stderr


def test_install_on_a_fresh_anvil_then_a_second_time_does_nothing() -> None:
    with AnvilNode() as node:
        rpc = RpcClient.http(node.url)
        assert rpc.call("eth_getCode", [MULTICALL3, "latest"]) == "0x", "a fresh anvil has no Multicall3"
        env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
        first = keeper_cli("multicall3", "install", "--rpc-url", node.url, env=env)
        assert first.returncode == 0, first.stderr
        assert "placed Multicall3 (5,561 bytes" in first.stdout and "chain 31337" in first.stdout
        code = rpc.call("eth_getCode", [MULTICALL3, "latest"])
        assert bytes.fromhex(code[2:]) == runtime_code()
        block = rpc.block_number()
        mc = Multicall(rpc)
        chain_id, number = mc.execute([Call(MULTICALL3, "getChainId()", (), ("uint256",)),
                                       Call(MULTICALL3, "getBlockNumber()", (), ("uint256",))], block)
        assert chain_id.value == (31337,) and number.value == (block,)  # type: ignore[union-attr]
        head = rpc.block_number()
        second = keeper_cli("multicall3", "install", "--rpc-url", node.url, env=env)
        assert second.returncode == 0, second.stderr
        assert "already at" in second.stdout and "nothing changed" in second.stdout
        assert rpc.call("eth_getCode", [MULTICALL3, "latest"]) == code and rpc.block_number() == head


def test_shipped_runtime_is_what_the_creation_code_deploys() -> None:
    """The package's hex file cannot drift from viem's creation code (node_modules, dev only)."""
    with AnvilNode() as node:
        sender = node.rpc("eth_accounts")[0]
        tx = node.rpc("eth_sendTransaction", {"from": sender, "data": multicall3_creation_code(),
                                              "gas": hex(5_000_000)})
        receipt = None
        deadline = time.monotonic() + 30
        while receipt is None and time.monotonic() < deadline:  # anvil may answer before it has mined
            receipt = node.rpc("eth_getTransactionReceipt", tx)
            if receipt is None:
                time.sleep(0.05)
        assert receipt is not None, "the deployment was mined"
        address = receipt["contractAddress"]
        deployed = bytes.fromhex(node.rpc("eth_getCode", address, "latest")[2:])
    assert deployed == runtime_code()
    assert "0x" + keccak(deployed).hex() == RUNTIME_KECCAK


def test_install_refuses_when_other_code_sits_at_the_address(chain: Web3, world: World) -> None:
    world.node.rpc("anvil_setCode", MULTICALL3, "0x6000")
    proc = keeper_cli("multicall3", "install", "--rpc-url", world.url, env=dict(os.environ))
    assert proc.returncode == 3 and "do not answer aggregate3: not replaced" in proc.stderr
    assert world.node.rpc("eth_getCode", MULTICALL3, "latest") == "0x6000"


# ------------------------------------------------------------------------------------------ quoter
@pytest.mark.parametrize("what", ["eoa", "router"])
def test_bogus_quoter_fails_with_its_fix(chain: Web3, world: World, tmp_path: Path, what: str) -> None:
    bogus = dev_account(7).address if what == "eoa" else world.manifest.uniswap.router
    checks = doctor(world, tmp_path, KEEPER_UNISWAP__QUOTER=f'"{bogus}"')
    q = checks["quoter"]
    assert {n for n, c in checks.items() if c.status == "fail"} == {"quoter"}, q
    assert bogus in q.detail and q.fix == "set uniswap.quoter to the Uniswap v3 QuoterV2 on chain 31337"
    if what == "eoa":
        assert "no contract at uniswap.quoter" in q.detail
    else:
        assert "is not a working QuoterV2: quoteExactInputSingle of 0.0001 ETH" in q.detail


def test_quoter_quote_is_the_pool_price(chain: Web3, world: World, tmp_path: Path) -> None:
    q = doctor(world, tmp_path)["quoter"]
    assert q.status == "pass", q
    got = float(re.search(r"quotes ([\d,.]+) USD", q.detail).group(1).replace(",", ""))  # type: ignore[union-attr]
    eth = world.manifest.feeds["ETH"].address
    answer = contract(chain, "PriceFeed", eth).functions.latestRoundData().call()[1] / 1e8
    # 0.0001 ETH into the 0.05 % pool: the feed price less the fee, within the pool-to-feed basis.
    assert got == pytest.approx(1e-4 * answer * (1 - 0.0005), rel=2e-3)


# ------------------------------------------------------------------------------------------ twap
def new_pool(chain: Web3, world: World, fee: int) -> str:
    """A WETH/USDC pool at a fee tier the world does not use, initialized at the ETH feed's price."""
    m = world.manifest
    weth, usdc = m.tokens["WETH"].address, m.tokens["USDC"].address
    factory = contract(chain, "UniswapV3Factory", m.uniswap.factory)
    deployer = dev_account(0).address
    chain.eth.wait_for_transaction_receipt(factory.functions.createPool(weth, usdc, fee).transact({"from": deployer}))
    address: str = factory.functions.getPool(weth, usdc, fee).call()
    usd = contract(chain, "PriceFeed", m.feeds["ETH"].address).functions.latestRoundData().call()[1] / 1e8
    base_is_token0 = int(weth, 16) < int(usdc, 16)
    sqrt_p = sqrt_price_x96_for_usd(usd, base_is_token0, 18, 6)
    pool = contract(chain, "UniswapV3Pool", address)
    chain.eth.wait_for_transaction_receipt(pool.functions.initialize(sqrt_p).transact({"from": deployer}))
    return address


def test_cardinality_one_oracle_pool_fails_with_the_cardinality_to_set(
        chain: Web3, world: World, tmp_path: Path) -> None:
    pool = new_pool(chain, world, 10_000)
    env = {"KEEPER_ASSETS__0__ORACLE_POOL": f'"{pool}"'}
    young = doctor(world, tmp_path, **env)["twap"]
    assert young.status == "fail" and pool in young.detail and "cardinality 1" in young.detail
    assert "observe([1800, 0]) fails" in young.detail

    # Two hours later observe() answers (one observation, extrapolated at the spot tick): still a fail.
    mine_after(chain, world, 7200)
    twap = doctor(world, tmp_path, **env)["twap"]
    assert twap.status == "fail" and "one observation" in twap.detail and pool in twap.detail
    m = re.search(r"call increaseObservationCardinalityNext\((\d+)\) on (0x[0-9a-fA-F]{40}) \(1,800 s window / "
                  r"([\d,.]+) s per block \+ 1\)", twap.fix)
    assert m is not None, twap.fix
    n, where, block_time = int(m.group(1)), m.group(2), float(m.group(3).replace(",", ""))
    assert where == pool and n == min(math.ceil(1800 / block_time) + 1, 65_535) and n > 1
    assert "then let it fill for 1,800 s of trading" in twap.fix

    # Growing it is pending until swaps fill the new slots: still a fail, and the fix says it is growing.
    p = contract(chain, "UniswapV3Pool", pool)
    chain.eth.wait_for_transaction_receipt(
        p.functions.increaseObservationCardinalityNext(n).transact({"from": dev_account(0).address}))
    growing = doctor(world, tmp_path, **env)["twap"]
    assert growing.status == "fail" and f"growing to {n}" in growing.detail
    assert f"{pool} already has room for {n:,} observations (needs {n:,})" in growing.fix


def test_world_oracle_pools_cover_the_window(chain: Web3, world: World, tmp_path: Path) -> None:
    twap = doctor(world, tmp_path)["twap"]
    assert twap.status == "pass" and "cardinality 200" in twap.detail
    short = doctor(world, tmp_path, KEEPER_ORACLES__TWAP_WINDOW_S="20000")["twap"]
    # 3 h of history: observe() fails beyond it; the fix names the pool to grow.
    assert short.status == "fail" and "increaseObservationCardinalityNext(" in short.fix


# ------------------------------------------------------------------------------------------ pool prices
def test_pool_far_from_the_feed_warns_with_both_prices(chain: Web3, world: World, tmp_path: Path) -> None:
    m = world.manifest
    feed = contract(chain, "PriceFeed", m.feeds["ETH"].address)
    answer = feed.functions.latestRoundData().call()[1]
    now = chain.eth.get_block("latest")["timestamp"]
    chain.eth.wait_for_transaction_receipt(
        feed.functions.setAnswerAt(answer * 105 // 100, now).transact({"from": dev_account(0).address}))
    checks = doctor(world, tmp_path)
    pp = checks["pool_prices"]
    assert pp.status == "warn", pp
    eth_pools = [p.address for p in m.pools.values() if p.base == "WETH"]
    assert len(eth_pools) == 2
    feed_usd = answer * 105 // 100 / 1e8
    for pool in eth_pools:
        hit = re.search(rf"ETH pool {pool} ([\d,.]+) USD vs feed ([\d,.]+) USD \(([-+][\d,.]+) bps\)", pp.detail)
        assert hit is not None, pp.detail
        pool_usd, shown_feed, bps = (float(hit.group(i).replace(",", "")) for i in (1, 2, 3))
        assert shown_feed == pytest.approx(feed_usd, abs=0.006)
        assert bps == pytest.approx((pool_usd / feed_usd - 1) * 1e4, abs=0.1)
        assert bps == pytest.approx((1 / 1.05 - 1) * 1e4, abs=5)  # the pools sat at the old feed price
    assert "limit oracles.max_deviation_bps 100 bps" in pp.detail
    assert "within: BTC pool" in pp.detail


# ------------------------------------------------------------------------------------------ eoa owners
def test_eoa_signer_inventory_is_in_the_book(chain: Web3, world: World, tmp_path: Path) -> None:
    """owners lists only the Safe (whose LPs give the delta); only the signer holds WETH to sell."""
    m = world.manifest
    weth = contract(chain, "WETH9", m.tokens["WETH"].address)
    world.node.rpc("anvil_setBalance", SIGNER.address, hex(2_000 * 10**18))
    chain.eth.wait_for_transaction_receipt(
        weth.functions.deposit().transact({"from": SIGNER.address, "value": Wei(1_000 * 10**18)}))
    env = env_for(world, tmp_path, KEEPER_TREASURY__MODE='"eoa"', KEEPER_TREASURY__OWNERS=f'["{m.safe.address}"]')
    cfg = load_config(CONFIG, env)
    assert cfg.treasury.owners == (m.safe.address,)
    k = build_keeper(cfg, env=env, live=False, need_key=False, journal=Journal.memory())
    snap = k.reader.read(chain_id=cfg.chain.chain_id)
    assert snap.owners == (m.safe.address, SIGNER.address)
    assert snap.balances[(SIGNER.address, m.tokens["WETH"].address)] == 1_000 * 10**18
    _, plan = k.plan(snap)
    sells = [o for o in plan.orders if o.underlying == "ETH" and o.side == "sell"]
    reasons = " ".join(r.text for r in plan.decision("ETH").reasons)
    assert sells, reasons
    assert "no venue available" not in reasons and "balance 0 ETH" not in reasons
    assert sells[0].venue == "uniswap" and sells[0].size_units <= 1_000
