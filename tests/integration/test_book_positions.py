"""The book against the local world: every LP's exact holdings equal the position manager's static
decreaseLiquidity + collect to the wei; `keeper plan --json`'s positions add up to its per-underlying
deltas and name each LP's pool price and basis; an owner's native ETH moves the ETH delta by itself."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.build.paths import repo_root
from keeper.chain.rpc import RpcClient
from keeper.core.book import V4_NATIVE, lp_holdings, v4_lp_holdings
from keeper.core.snapshot import Snapshot
from keeper.devnet.sources import world_sources
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.node.dev import dev_account
from keeper.read.reader import BookReader

pytestmark = pytest.mark.anvil

U128 = 2**128 - 1
FAR = 2**63
CONFIG = repo_root() / "examples" / "devnet.toml"


def read(world: World, manifest: Manifest, block: int | None = None, native_asset: str | None = None) -> Snapshot:
    src = dataclasses.replace(world_sources(manifest), owners=(manifest.safe.address, manifest.market_maker),
                              native_asset=native_asset)
    snap = BookReader(RpcClient.http(world.url), src).read(block=block)
    assert snap.complete, snap.failures
    return snap


def keeper_json(*args: str, env: dict[str, str]) -> Any:
    proc = subprocess.run([sys.executable, "-m", "keeper.cli.main", *args, "--json"], env=env, capture_output=True,
                          text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def env_for(world: World, tmp: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ, KEEPER_CHAIN__RPC_URL=world.url, KEEPER_JOURNAL__PATH=str(tmp / "journal.sqlite"),
               KEEPER_PRIVATE_KEY="0x" + bytes(dev_account(5).key).hex(), **extra)
    env.pop("KEEPER_FORK_URL", None)
    return env


def native_config(tmp: Path) -> Path:
    """examples/devnet.toml, which marks ETH as the native coin's asset (checked here)."""
    text = CONFIG.read_text()
    assert 'symbol = "ETH"\n' in text and "\nnative = true" in text
    path = tmp / "keeper.toml"
    path.write_text(text)
    return path


def test_lp_holdings_equal_static_decrease_liquidity_and_collect(world: World, manifest: Manifest) -> None:
    snap = read(world, manifest)
    chain = Web3(Web3.HTTPProvider(world.url))
    npm = contract(chain, "NonfungiblePositionManager", manifest.uniswap.position_manager)
    at = hex(snap.block_number)
    requests = []
    for lp in snap.lps:
        dec = npm.encode_abi("decreaseLiquidity", [(lp.token_id, lp.liquidity, 0, 0, FAR)])
        col = npm.encode_abi("collect", [(lp.token_id, lp.owner, U128, U128)])
        requests += [("eth_call", [{"from": lp.owner, "to": npm.address, "data": d}, at]) for d in (dec, col)]
    answers = RpcClient.http(world.url, timeout_s=120).batch(requests)
    pools = {lp.pool for lp in snap.lps}
    assert len(snap.lps) >= 10 and len(pools) >= 3
    for i, lp in enumerate(snap.lps):
        h = lp_holdings(snap, lp)
        principal = decode(["uint256", "uint256"], bytes.fromhex(str(answers[2 * i])[2:]))
        fees = decode(["uint256", "uint256"], bytes.fromhex(str(answers[2 * i + 1])[2:]))
        assert (h.principal0, h.principal1) == tuple(principal), f"LP {lp.token_id} principal"
        assert (h.fees0, h.fees1) == tuple(fees), f"LP {lp.token_id} fees"


def test_plan_json_positions_add_up_to_the_per_underlying_deltas(world: World, manifest: Manifest,
                                                                 tmp_path: Path) -> None:
    block = Web3(Web3.HTTPProvider(world.url)).eth.block_number
    plan = keeper_json("plan", "--config", str(CONFIG), "--block", str(block), env=env_for(world, tmp_path))
    positions, greeks = plan["positions"], plan["greeks"]
    assert isinstance(positions, dict) and isinstance(greeks, dict)
    assert set(positions) == {"lps", "v4_lps", "options", "perps", "balances", "aave"}
    assert positions["lps"] and positions["options"] and positions["perps"] and positions["balances"]
    assert positions["v4_lps"] and positions["aave"]
    # The Safe's Aave lines are its aToken balances minus its debt, as the tokens answer at the block.
    assert manifest.aave is not None
    w3 = Web3(Web3.HTTPProvider(world.url))
    safe_aave = {x["symbol"]: x for x in positions["aave"] if x["owner"] == manifest.safe.address}
    assert set(safe_aave) == {"WETH", "USDC"}
    for sym, x in safe_aave.items():
        r = manifest.aave.reserves[sym]
        a_bal = contract(w3, "AToken", r.a_token).functions.balanceOf(manifest.safe.address).call(
            block_identifier=block)
        debt = contract(w3, "VariableDebtToken", r.variable_debt_token).functions.balanceOf(
            manifest.safe.address).call(block_identifier=block)
        assert (x["supplied_raw"], x["debt_raw"]) == (str(a_bal), str(debt)), sym
    assert int(safe_aave["WETH"]["debt_raw"]) > 0 and safe_aave["WETH"]["delta"] == pytest.approx(
        (int(safe_aave["WETH"]["supplied_raw"]) - int(safe_aave["WETH"]["debt_raw"])) / 1e18, rel=1e-12)
    for u, g in greeks.items():
        total = sum(x["delta"] for k in positions for x in positions[k]
                    if x["underlying"] == u and x["delta"] is not None)
        assert total == pytest.approx(g["delta_units"], rel=1e-9, abs=1e-9), u
    # Every LP line is the exact integers the chain would pay, at its own pool's price.
    snap = read(world, manifest, block)
    by_id = {lp.token_id: lp for lp in snap.lps}
    safe_lps = [x for x in positions["lps"] if x["owner"] == manifest.safe.address]
    assert safe_lps
    for x in positions["lps"]:
        h = lp_holdings(snap, by_id[x["token_id"]])
        assert [x["principal0_raw"], x["principal1_raw"], x["fees0_raw"], x["fees1_raw"]] == [
            str(h.principal0), str(h.principal1), str(h.fees0), str(h.fees1)]
        assert x["range_low_usd"] is None or x["range_high_usd"] is None or x["range_low_usd"] < x["range_high_usd"]
        feed = greeks[x["underlying"]]["spot_usd"]
        assert x["basis_bps"] == pytest.approx((x["pool_price_usd"] / feed - 1) * 1e4, rel=1e-9, abs=1e-9)
    # Every v4 line too (the config lists the Safe's v4 token ids).
    v4_by_id = {lp.token_id: lp for lp in snap.v4_lps}
    assert {x["token_id"] for x in positions["v4_lps"]} == set(v4_by_id) == set(
        manifest.v4.position_ids.values() if manifest.v4 else ())
    for x in positions["v4_lps"]:
        h = v4_lp_holdings(snap, v4_by_id[x["token_id"]])
        assert [x["principal0_raw"], x["principal1_raw"], x["fees0_raw"], x["fees1_raw"]] == [
            str(h.principal0), str(h.principal1), str(h.fees0), str(h.fees1)]
        assert x["hook_risks"] == []
    pools = plan["pools"]
    assert isinstance(pools, list)
    assert {p["pool"] for p in pools} >= {x["pool"] for x in positions["lps"]}
    assert all(p["blocked"] is not None and p["max_deviation_bps"] == 100.0 for p in pools)


def test_native_eth_of_an_owner_moves_the_eth_delta_by_that_amount(chain: Web3, world: World, manifest: Manifest,
                                                                   tmp_path: Path) -> None:
    safe = manifest.safe.address
    wei = 42 * 10**18 + 123_456_789
    chain.provider.make_request("anvil_setBalance", [safe, hex(wei)])  # type: ignore[arg-type]
    chain.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    block = chain.eth.block_number
    # the reader: Multicall3 getEthBalance at the block, counted only when asked
    counted, shown = read(world, manifest, block, native_asset="ETH"), read(world, manifest, block)
    on_chain = chain.eth.get_balance(Web3.to_checksum_address(safe), block_identifier=block)
    assert counted.native_balances[safe] == wei == on_chain
    assert shown.native_balances[safe] == wei and shown.native_asset is None
    # the CLI: ETH marked native in the config, counted by default, off with count_native = false
    cfg = native_config(tmp_path)
    on = keeper_json("plan", "--config", str(cfg), "--block", str(block), env=env_for(world, tmp_path))
    off = keeper_json("plan", "--config", str(cfg), "--block", str(block),
                      env=env_for(world, tmp_path, KEEPER_TREASURY__COUNT_NATIVE="false"))
    d_on, d_off = on["greeks"]["ETH"]["delta_units"], off["greeks"]["ETH"]["delta_units"]
    assert d_on - d_off == pytest.approx(wei / 1e18, rel=1e-12)
    rows = [b for b in on["positions"]["balances"] if b["token"] == "native" and b["owner"] == safe]
    assert rows == [{"owner": safe, "token": "native", "symbol": "ETH", "decimals": 18, "raw": str(wei),
                     "amount": wei / 1e18, "underlying": "ETH", "delta": pytest.approx(wei / 1e18),
                     "quote_usd": 0.0}]
    off_rows = [b for b in off["positions"]["balances"] if b["token"] == "native"]
    assert off_rows and all(b["underlying"] is None and b["delta"] is None for b in off_rows)


def test_a_pool_ten_percent_off_the_feed_is_shown_blocked_and_its_lps_held_at_its_own_price(
        chain: Web3, world: World, manifest: Manifest, tmp_path: Path) -> None:
    """The trial's finding, on the world: WETH/USDC 0.3 % pushed 10 % above the feed. Its LPs are
    held at its own price (the exact integers), `keeper plan` shows the pool and refuses to hedge
    in it, and the other venues stay available."""
    from keeper.core.book import book_risk
    from keeper.core.portfolio import LPPosition, aggregate
    from keeper.devnet.world import pool_price_usd, sqrt_price_x96_for_usd
    from keeper.node.dev import DevChain

    name = "WETH/USDC-3000"
    p = manifest.pools[name]
    weth, usdc = manifest.tokens["WETH"], manifest.tokens["USDC"]
    base_is_token0 = p.token0 == weth.address
    before = read(world, manifest)
    feed = before.feeds["ETH"].price
    target = sqrt_price_x96_for_usd(feed * 1.10, base_is_token0, 18, 6)
    actor, deployer = Web3.to_checksum_address(manifest.actor), Web3.to_checksum_address(manifest.deployer)
    dev = DevChain(chain)
    dev.send(contract(chain, "DevToken", usdc.address).functions.mint(actor, 2 * 10**15), deployer)
    cur = contract(chain, "UniswapV3Pool", p.address).functions.slot0().call()[0]
    zero_for_one = target < cur
    t_in, t_out = (p.token0, p.token1) if zero_for_one else (p.token1, p.token0)
    if t_in == weth.address:
        dev.send(contract(chain, "WETH9", weth.address).functions.deposit(), actor, value=100_000 * 10**18)
    bal = contract(chain, "WETH9", t_in).functions.balanceOf(actor).call()
    router = contract(chain, "SwapRouter", manifest.uniswap.router)
    dev.send(router.functions.exactInputSingle((t_in, t_out, p.fee, actor, FAR, bal, 0, target)), actor)

    snap = read(world, manifest)
    assert snap.feeds["ETH"].price == feed
    assert pool_price_usd(snap.pools[p.address].sqrt_price_x96, base_is_token0, 18, 6) == pytest.approx(
        feed * 1.10, rel=1e-6)
    tokens = {"ETH": weth.address, "BTC": manifest.tokens["WBTC"].address}
    spots = {a: f.price for a, f in snap.feeds.items()}
    risk = book_risk(snap, tokens, usdc.address, spots, {"ETH": 0.6, "BTC": 0.5})
    exact = 0.0
    for lp in snap.lps:
        if weth.address in (lp.token0, lp.token1):
            h = lp_holdings(snap, lp)
            exact += (h.amount0 if lp.token0 == weth.address else h.amount1) / 1e18
    for v4lp in snap.v4_lps:  # the Safe's v4 ETH positions, at their own (v4) pool's price
        key = snap.v4_pools[v4lp.pool_id].key
        if key.currency0 == V4_NATIVE:
            exact += v4_lp_holdings(snap, v4lp).amount0 / 1e18
    eth_lps = [pos for pos in risk.positions if isinstance(pos, LPPosition) and pos.underlying == "ETH"]
    lp_delta = aggregate(eth_lps, spots)["ETH"].delta
    at_feed = aggregate([dataclasses.replace(pos, basis=1.0, amount_underlying=None, amount_quote=None, mark=None)
                         for pos in eth_lps], spots)["ETH"].delta
    assert lp_delta == pytest.approx(exact, rel=1e-9)
    print(f"\nETH LP delta: {lp_delta:.4f} ETH held at each pool's own price (exact), "
          f"{at_feed:.4f} ETH if every pool were at the feed ({(at_feed / lp_delta - 1) * 100:+.1f} %)")

    plan = keeper_json("plan", "--config", str(CONFIG), "--block", str(snap.block_number),
                       env=env_for(world, tmp_path))
    pools = {x["pool"]: x for x in plan["pools"]}
    off = pools[p.address]
    assert off["blocked"] is True and off["basis_bps"] == pytest.approx(1000.0, rel=1e-4)
    for part in (p.address, f"{feed:,.2f}", f"{off['deviation_bps']:.1f} bps", "max 100.0 bps"):
        assert part in off["reason"]
    assert pools[manifest.pools["WETH/USDC-500"].address]["blocked"] is False
    eth = next(d for d in plan["decisions"] if d["underlying"] == "ETH")
    if eth["order"] is not None:
        assert eth["order"]["venue_id"] != p.address
    text = subprocess.run([sys.executable, "-m", "keeper.cli.main", "plan", "--config", str(CONFIG), "--block",
                           str(snap.block_number)], env=env_for(world, tmp_path), capture_output=True, text=True,
                          timeout=180, check=False)
    assert text.returncode == 0, text.stderr[-2000:]
    assert "BLOCKED" in text.stdout and p.address in text.stdout
    listing = subprocess.run([sys.executable, "-m", "keeper.cli.main", "plan", "--config", str(CONFIG), "--positions",
                              "--block", str(snap.block_number)], env=env_for(world, tmp_path),
                             capture_output=True, text=True, timeout=180, check=False)
    assert listing.returncode == 0, listing.stderr[-2000:]
    assert "LP positions" in listing.stdout and "Wallet balances" in listing.stdout
    assert "e-" not in listing.stdout.split("LP amounts")[0]  # no token1-per-token0 raw ranges like 2.95e-51
    print(listing.stdout)
