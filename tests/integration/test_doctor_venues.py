"""`keeper doctor`'s v4 and Aave venue checks on the local world: in safe-module mode they warn that the
module has no path yet; in eoa mode the v4 check fails until the signer's two Permit2 approvals are in
place, and the Aave check warns until the signer has collateral, then names its health factor."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.config import KeeperConfig, load_config
from keeper.config.sections import AaveConfig, UniswapV4Config, V4HedgePoolConfig
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.node.dev import DevChain, dev_account
from keeper.ops.doctor import Check, run_doctor
from keeper.venues import aave_v3, erc20, universal_router

from .test_doctor import CONFIG, env_for

pytestmark = pytest.mark.anvil
KEEPER = dev_account(5).address


def config(world: World, tmp_path: Path, mode: str) -> tuple[KeeperConfig, dict[str, str]]:
    m = world.manifest
    assert m.v4 is not None and m.aave is not None
    env = env_for(world, tmp_path / "j.sqlite", KEEPER_TREASURY__MODE=f'"{mode}"')
    cfg = load_config(CONFIG, env)
    p = m.v4.pools["ETH/USDC-500"]
    assert cfg.uniswap_v4 is not None
    v4 = UniswapV4Config(position_manager=cfg.uniswap_v4.position_manager, state_view=cfg.uniswap_v4.state_view,
                         universal_router=m.v4.universal_router, quoter=m.v4.quoter, hedge_pools=(
                             V4HedgePoolConfig(asset="ETH", currency0=p.currency0, currency1=p.currency1, fee=p.fee,
                                               tick_spacing=p.tick_spacing),))
    return cfg.model_copy(update={"uniswap_v4": v4, "aave": AaveConfig(pool=m.aave.pool, assets=("ETH",))}), env


def venue_checks(world: World, cfg: KeeperConfig, env: dict[str, str]) -> dict[str, Check]:
    return {c.name: c for c in run_doctor(cfg, env, rpc=RpcClient.http(world.url))
            if c.name in ("v4_venue", "aave_venue")}


def send(chain: Web3, to: str, data: bytes) -> None:
    tx = chain.eth.send_transaction({"from": KEEPER, "to": Web3.to_checksum_address(to), "data": data})
    assert chain.eth.wait_for_transaction_receipt(tx)["status"] == 1


def test_safe_module_mode_without_a_venue_module_warns(chain: Web3, world: World, tmp_path: Path) -> None:
    cfg, env = config(world, tmp_path, "safe-module")
    cfg = cfg.model_copy(update={"treasury": cfg.treasury.model_copy(update={"hedge_venue_module": None})})
    checks = venue_checks(world, cfg, env)
    for c in checks.values():
        assert c.status == "warn" and "not yet supported through the HedgeModule" in c.detail
        assert "treasury.hedge_venue_module" in c.fix


def test_safe_module_mode_trades_them_through_the_venue_module(chain: Web3, world: World, tmp_path: Path) -> None:
    cfg, env = config(world, tmp_path, "safe-module")
    assert cfg.treasury.hedge_venue_module == world.manifest.hedge_venue_module
    checks = venue_checks(world, cfg, env)
    for c in checks.values():
        assert c.status == "pass" and f"through the HedgeVenueModule {cfg.treasury.hedge_venue_module}" in c.detail


def test_eoa_mode_needs_permit2_approvals_and_collateral(chain: Web3, world: World, manifest: Manifest,
                                                        tmp_path: Path) -> None:
    m = manifest
    assert m.v4 is not None and m.aave is not None
    cfg, env = config(world, tmp_path, "eoa")
    checks = venue_checks(world, cfg, env)
    assert checks["v4_venue"].status == "fail" and "ERC20.approve(Permit2) missing" in checks["v4_venue"].detail
    assert "Permit2.approve" in checks["v4_venue"].fix
    assert checks["aave_venue"].status == "warn" and "no collateral" in checks["aave_venue"].detail

    usdc = m.tokens["USDC"].address
    send(chain, usdc, erc20.approve(universal_router.PERMIT2, 2**256 - 1))
    assert venue_checks(world, cfg, env)["v4_venue"].status == "fail"  # the second step is still missing
    send(chain, universal_router.PERMIT2, universal_router.permit2_approve(usdc, m.v4.universal_router, 2**160 - 1,
                                                                           2**48 - 1))
    DevChain(chain).send(contract(chain, "DevToken", usdc).functions.mint(KEEPER, 100_000 * 10**6),
                         Web3.to_checksum_address(m.deployer))
    send(chain, usdc, erc20.approve(m.aave.pool, 2**256 - 1))
    send(chain, m.aave.pool, aave_v3.supply(usdc, 100_000 * 10**6, KEEPER))
    send(chain, m.tokens["WETH"].address, erc20.approve(m.aave.pool, 2**256 - 1))
    checks = venue_checks(world, cfg, env)
    assert checks["v4_venue"].status == "pass", checks["v4_venue"]
    assert checks["aave_venue"].status == "pass", checks["aave_venue"]
    assert "no debt" in checks["aave_venue"].detail and "floor 1.5" in checks["aave_venue"].detail
