"""Aave v3 on the local world (the npm 1.19.3 bytecode): every owner's collateral, debt and health
factor, computed from the snapshot's balances, indexes and oracle prices, equal the Pool's own
``getUserAccountData`` at the same block; each aToken / debt-token balance equals the token's own
``balanceOf``; the book's ETH delta counts aWETH minus WETH debt; after blocks with time passing,
interest has accrued and the figures still match."""

from __future__ import annotations

import dataclasses

import pytest
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.core.aave import HF_MAX
from keeper.core.book import AaveLine, aave_accounts, book_lines, book_risk
from keeper.core.snapshot import Snapshot
from keeper.devnet.sources import world_sources
from keeper.devnet.state import World
from keeper.devnet.world_aave import aave_contract
from keeper.read.reader import BookReader
from keeper.view.report import render_snapshot

pytestmark = pytest.mark.anvil


def read(world: World, manifest: Manifest, block: int | None = None) -> Snapshot:
    src = dataclasses.replace(world_sources(manifest), owners=(manifest.safe.address, manifest.market_maker))
    snap = BookReader(RpcClient.http(world.url), src).read(block=block)
    assert snap.complete, snap.failures
    return snap


def assert_matches_chain(w3: Web3, manifest: Manifest, snap: Snapshot) -> int:
    """Every account of ``snap`` equals the chain at ``snap``'s block; returns how many were checked."""
    assert manifest.aave is not None
    pool = aave_contract(w3, "Pool", manifest.aave.pool)
    accounts = aave_accounts(snap)
    assert {a.owner for a in accounts} == {manifest.safe.address, manifest.market_maker}
    for a in accounts:
        chain = pool.functions.getUserAccountData(a.owner).call(block_identifier=snap.block_number)
        mine = (a.collateral_base, a.debt_base, a.available_borrows_base, a.liquidation_threshold_bps, a.ltv_bps,
                a.health_factor)
        assert mine == tuple(chain), a.owner
        for r in manifest.aave.reserves.values():
            a_bal = aave_contract(w3, "AToken", r.a_token).functions.balanceOf(a.owner).call(
                block_identifier=snap.block_number)
            v_bal = aave_contract(w3, "VariableDebtToken", r.variable_debt_token).functions.balanceOf(a.owner).call(
                block_identifier=snap.block_number)
            assert a.supplied.get(r.asset, 0) == a_bal, (a.owner, r.symbol)
            assert a.variable_debt.get(r.asset, 0) == v_bal, (a.owner, r.symbol)
    return len(accounts)


def test_accounts_equal_get_user_account_data(w3: Web3, manifest: Manifest, world: World) -> None:
    snap = read(world, manifest)
    assert assert_matches_chain(w3, manifest, snap) == 2
    safe = next(a for a in aave_accounts(snap) if a.owner == manifest.safe.address)
    assert manifest.aave is not None
    weth = manifest.aave.reserves["WETH"].asset
    assert safe.variable_debt[weth] > 0 and safe.debt_base > 0
    assert 10**18 < safe.health_factor < HF_MAX
    mm = next(a for a in aave_accounts(snap) if a.owner == manifest.market_maker)
    assert mm.health_factor == HF_MAX and mm.debt_base == 0  # supply only
    # The book as a person reads it (`keeper plan`, the demo) shows each account as the Pool answers it.
    chain = aave_contract(w3, "Pool", manifest.aave.pool).functions.getUserAccountData(safe.owner).call(
        block_identifier=snap.block_number)
    text = render_snapshot(snap)
    [line] = [x for x in text.splitlines() if x.strip().startswith(f"{safe.owner} in pool")]
    assert f"health factor {chain[5] / 1e18:,.3f}" in line and f"debt {chain[1] / 1e8:,.2f} USD" in line
    assert f"owed {safe.variable_debt[weth] / 1e18:>18,.6f} WETH" in text
    assert "health factor no debt" in text  # the market maker supplies only


def test_reading_aave_costs_no_extra_round_trip(manifest: Manifest, world: World) -> None:
    src = world_sources(manifest)
    with_aave = BookReader(RpcClient.http(world.url), src).read()
    without = BookReader(RpcClient.http(world.url), dataclasses.replace(src, aave_pools=())).read()
    assert with_aave.complete and without.complete
    assert with_aave.aave_accounts and not without.aave_accounts
    assert with_aave.round_trips == without.round_trips


def test_book_eth_delta_includes_aweth_minus_weth_debt(manifest: Manifest, world: World) -> None:
    snap = read(world, manifest)
    assets = {"ETH": manifest.tokens["WETH"].address, "BTC": manifest.tokens["WBTC"].address}
    quote = manifest.tokens["USDC"].address
    spots = {u: f.price for u, f in snap.feeds.items() if u in assets}
    vols = {"ETH": 0.6, "BTC": 0.5}
    with_aave = book_risk(snap, assets, quote, spots, vols)
    no_aave = book_risk(dataclasses.replace(snap, aave_accounts=()), assets, quote, spots, vols)
    weth = manifest.tokens["WETH"].address
    net_weth = sum(a.net(weth) for a in aave_accounts(snap))
    lines = [ln for ln in book_lines(snap, assets, quote, vols) if isinstance(ln, AaveLine) and ln.asset == weth]
    assert {ln.owner for ln in lines} == {manifest.safe.address, manifest.market_maker}
    assert sum(ln.supplied - ln.debt for ln in lines) == net_weth
    delta_gap = with_aave.summaries["ETH"].delta - no_aave.summaries["ETH"].delta
    assert delta_gap == pytest.approx(net_weth / 1e18, rel=1e-12)
    # USDC supplied counts as quote value, not as delta
    usdc = sum(a.net(quote) for a in aave_accounts(snap))
    assert usdc > 0
    assert with_aave.quote_value - no_aave.quote_value == pytest.approx(usdc / 1e6, rel=1e-12)
    # the Safe's health factor is in the risk
    [loan] = [ln for ln in with_aave.loans if ln.owner == manifest.safe.address]
    safe = next(a for a in aave_accounts(snap) if a.owner == manifest.safe.address)
    # Aave floors the collateral-weighted threshold to whole bps; the scenario model keeps each leg's
    # own threshold, so the two differ by less than 1 bp of the average threshold
    hf = safe.health_factor / 1e18
    assert abs(loan.health_factor - hf) <= hf / safe.liquidation_threshold_bps + 1e-12


def test_interest_accrues_and_still_matches(chain: Web3, manifest: Manifest, world: World) -> None:
    before = read(world, manifest)
    chain.provider.make_request("evm_increaseTime", [30 * 86_400])  # type: ignore[arg-type]
    chain.provider.make_request("anvil_mine", [3, 600])  # type: ignore[arg-type]
    after = read(world, manifest)
    assert after.block_timestamp - before.block_timestamp >= 30 * 86_400
    assert manifest.aave is not None
    weth = manifest.aave.reserves["WETH"].asset
    b = next(a for a in aave_accounts(before) if a.owner == manifest.safe.address)
    a = next(a for a in aave_accounts(after) if a.owner == manifest.safe.address)
    assert a.variable_debt[weth] > b.variable_debt[weth]
    assert a.supplied[weth] > b.supplied[weth]
    assert after.aave_accounts[0].scaled_supply == before.aave_accounts[0].scaled_supply  # only the index moved
    assert assert_matches_chain(chain, manifest, after) == 2
    # and the older block still reads as it was
    assert assert_matches_chain(chain, manifest, read(world, manifest, before.block_number)) == 2


@pytest.mark.parametrize("victim", ["a_token", "oracle"])
def test_an_unreadable_aave_part_is_a_failure_never_a_zero(chain: Web3, manifest: Manifest, world: World,
                                                           victim: str) -> None:
    """A reverting aToken (or oracle) leaves the Safe's account out of the snapshot and names it."""
    assert manifest.aave is not None
    target = manifest.aave.reserves["WETH"].a_token if victim == "a_token" else manifest.aave.oracle
    chain.provider.make_request("anvil_setCode", [target, "0x60006000fd"])  # type: ignore[arg-type]  # revert(0,0)
    chain.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    src = dataclasses.replace(world_sources(manifest), owners=(manifest.safe.address, manifest.market_maker))
    snap = BookReader(RpcClient.http(world.url), src).read()
    assert not snap.complete
    assert not any(a.owner == manifest.safe.address for a in snap.aave_accounts)
    assert any(f.what.startswith("Aave account of " + manifest.safe.address) for f in snap.failures)
    if victim == "oracle":
        assert any("oracle price" in f.reason for f in snap.failures)
        assert not snap.aave_accounts  # both owners hold WETH-reserve positions
