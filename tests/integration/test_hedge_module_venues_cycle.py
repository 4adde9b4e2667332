"""Safe-module cycles on the world that hedge through the Safe's HedgeVenueModule (treasury.hedge_venue_module):

* the planner chooses the Uniswap v4 ETH/USDC pool (native ETH, held by the Safe) and the keeper sells through the
  module's ``hedgeV4Swap``: one journaled ``uniswap_v4`` intent to the module, its fill verified from the Safe's
  balances and the module's event (the V4Quoter's answer at the block before, to the wei), costs journaled;
* a borrow-and-sell (Safe with no native ETH, no v3 pool cheaper): one ``hedgeBorrowSell`` call; the Safe's WETH
  debt rises by exactly rayDiv(amount, index), the health factor is ``getUserAccountData``'s and above the floor;
* a borrow the keeper's health-factor floor refuses: nothing is sent;
* recovery rebuilds each fill from the journaled module calldata; without a venue module the venues stay unavailable.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from eth_typing import HexStr
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.core.aave import ray_div
from keeper.core.inputs import UnderlyingVenues
from keeper.core.more_venues import LoanConfig
from keeper.core.policy import PolicyConfig
from keeper.cycle.compose import ChainKeeper
from keeper.cycle.simulate import simulate_plan
from keeper.devnet.keeper_setup import band_policy, world_keeper
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.devnet.world_aave import aave_contract
from keeper.journal import Journal
from keeper.read.reader import V4HedgeSource
from keeper.venues import aave_v3, uniswap_v4
from keeper.venues import hedge_venue_module as hv
from keeper.venues.hedge_module import MODULE_UNSUPPORTED
from tests.integration.test_hedge_v4_aave import eth_pool_key, recovered

pytestmark = pytest.mark.anvil
SIZE = 1.5  # ETH: small enough that the v4 pool's impact leaves it cheaper than the v3 30 bp pool
SIZE_RAW = 1_500_000_000_000_000_000


def module_venues(m: Manifest) -> dict[str, UnderlyingVenues]:
    """ETH: the v3 30 bp pool, the v4 native ETH pool and the Aave market; BTC in its v3 pool."""
    assert m.v4 is not None and m.aave is not None
    return {
        "ETH": UnderlyingVenues("ETH", m.tokens["WETH"].address, m.pools["WETH/USDC-500"].address,
                                (m.pools["WETH/USDC-3000"].address,),
                                v4_pools=(uniswap_v4.pool_id(eth_pool_key(m)),), aave_pool=m.aave.pool),
        "BTC": UnderlyingVenues("BTC", m.tokens["WBTC"].address, m.pools["WBTC/USDC-3000"].address,
                                (m.pools["WBTC/USDC-3000"].address,)),
    }


def module_keeper(world: World, m: Manifest, journal: Journal, policy: PolicyConfig,
                  vs: Mapping[str, UnderlyingVenues], *, live: bool = True, loan: LoanConfig | None = None,
                  venue_module: bool = True, tx_kwargs: dict[str, Any] | None = None) -> ChainKeeper:
    assert m.v4 is not None and m.hedge_venue_module
    k = world_keeper(world.url, m, journal, policy, mode="safe-module", live=live, venues=vs, tx_kwargs=tx_kwargs)
    src = k.reader.sources
    assert src.v4 is not None
    k.reader.sources = dataclasses.replace(src, v4=dataclasses.replace(
        src.v4, hedge_pools=(V4HedgeSource(eth_pool_key(m), "ETH", 25.0),), quoter=m.v4.quoter))
    if venue_module:
        k.executor = dataclasses.replace(k.executor, venue_module=m.hedge_venue_module)
    k.native_reserve_units = 0.0  # the Safe pays no gas
    k.loan = loan if loan is not None else LoanConfig(1.5, 86_400.0)
    return k


def selling(world: World, m: Manifest, vs: Mapping[str, UnderlyingVenues], units: float) -> PolicyConfig:
    probe = module_keeper(world, m, Journal.memory(), band_policy({}), vs, live=False)
    risk, _ = probe.plan(probe.reader.read())
    eth, btc = risk.summaries["ETH"].delta, risk.summaries["BTC"].delta
    return band_policy({"ETH": (eth - units, 1.0), "BTC": (btc, 1.0)})


def set_native(chain: Web3, who: str, wei: int) -> None:
    chain.provider.make_request("anvil_setBalance", [who, hex(wei)])  # type: ignore[arg-type]


def drain_weth(chain: Web3, m: Manifest) -> None:
    """The Safe holds no WETH in its wallet (WETH9's balanceOf is slot 3): the v3 pools are unavailable, and the
    v4 pool (native ETH) and the Aave loan are what the planner can choose from."""
    slot = Web3.keccak(bytes(12) + bytes.fromhex(m.safe.address[2:]) + (3).to_bytes(32, "big"))
    chain.provider.make_request("anvil_setStorageAt",  # type: ignore[arg-type]
                                [m.tokens["WETH"].address, "0x" + slot.hex().removeprefix("0x"), "0x" + "00" * 32])
    assert contract(chain, "WETH9", m.tokens["WETH"].address).functions.balanceOf(m.safe.address).call() == 0


def test_a_safe_module_cycle_sells_native_eth_through_the_venue_module(chain: Web3, world: World,
                                                                        manifest: Manifest) -> None:
    m = manifest
    assert m.v4 is not None and m.hedge_venue_module
    safe = m.safe.address
    set_native(chain, safe, 30 * 10**18)
    drain_weth(chain, m)
    vs = module_venues(m)
    journal = Journal.memory()
    k = module_keeper(world, m, journal, selling(world, m, vs, SIZE), vs)
    usdc = contract(chain, "DevToken", m.tokens["USDC"].address)
    before_usdc = usdc.functions.balanceOf(safe).call()

    report = k.cycle()

    assert report.status == "ok", report.message
    d = report.plan.decision("ETH")  # type: ignore[union-attr]
    assert d.order is not None and d.order.venue == "uniswap_v4" and d.order.side == "sell", d.reasons
    [h] = report.hedges
    assert h.fill is not None and h.trade.request.to == m.hedge_venue_module and h.trade.request.value == 0
    args = hv.decode_hedge_v4_swap(h.trade.request.data)
    assert args.zero_for_one and args.key.as_tuple() == hv.PoolKey(*dataclasses.astuple(eth_pool_key(m))).as_tuple()
    assert h.fill.amount_in == args.amount_in == SIZE_RAW
    receipt = chain.eth.get_transaction_receipt(HexStr(h.fill.tx_hash))
    # the Safe paid the native ETH (not the keeper), and received the output, to the wei
    assert chain.eth.get_balance(Web3.to_checksum_address(safe)) == 30 * 10**18 - SIZE_RAW
    assert usdc.functions.balanceOf(safe).call() == before_usdc + h.fill.amount_out
    quoter = k.multicall.execute([uniswap_v4.quote_exact_input_single_call(
        m.v4.quoter, eth_pool_key(m), True, h.fill.amount_in)], receipt["blockNumber"] - 1)[0]
    assert quoter.ok and int(quoter.value[0]) == h.fill.amount_out  # type: ignore[union-attr]
    assert h.fill.amount_out >= args.min_out
    [intent] = journal.intents_for_cycle(report.cycle_id)
    assert intent.venue == "uniswap_v4" and intent.status.value == "mined"
    assert Web3.to_checksum_address(intent.params.to) == m.hedge_venue_module
    [fill] = journal.fills_for_cycle(report.cycle_id)
    assert fill.data.amount_out == h.fill.amount_out and fill.data.notional_quote > 0
    assert fill.data.fee_quote > 0 and fill.data.gas_cost_quote > 0
    assert fill.data.gas_cost_native == receipt["gasUsed"] * receipt["effectiveGasPrice"]
    again = recovered(k, journal, intent.id)  # priced at no native price: the gas in USD is the only difference
    assert dataclasses.replace(again, gas_cost_quote=h.fill.gas_cost_quote) == h.fill


def test_a_safe_module_cycle_borrows_and_sells_through_the_venue_module(chain: Web3, world: World,
                                                                         manifest: Manifest) -> None:
    m = manifest
    assert m.aave is not None and m.hedge_venue_module
    safe = m.safe.address
    set_native(chain, safe, 0)  # a direct v4 sale is unavailable: the loan's leg is the v4 pool
    drain_weth(chain, m)
    vs = module_venues(m)
    journal = Journal.memory()
    k = module_keeper(world, m, journal, selling(world, m, vs, SIZE), vs)
    pool = aave_contract(chain, "Pool", m.aave.pool)
    weth = m.tokens["WETH"].address
    debt_token = pool.functions.getReserveData(weth).call()[10]
    scaled_before = int(k.multicall.execute([aave_v3.scaled_balance_call(debt_token, safe)],
                                            chain.eth.block_number)[0].value[0])  # type: ignore[union-attr]

    report = k.cycle()

    assert report.status == "ok", report.message
    d = report.plan.decision("ETH")  # type: ignore[union-attr]
    assert d.order is not None and d.order.venue == "aave" and d.order.side == "sell", d.reasons
    assert d.order.leg is not None and d.order.leg.venue == "uniswap_v4"
    [h] = report.hedges  # one module call, one intent
    assert h.fill is not None and h.trade.venue == "aave" and h.trade.request.to == m.hedge_venue_module
    args = hv.decode_hedge_borrow_sell(h.trade.request.data)
    assert args.asset == weth and args.amount == h.fill.amount_in == SIZE_RAW
    block = chain.eth.get_transaction_receipt(HexStr(h.fill.tx_hash))["blockNumber"]
    index = pool.functions.getReserveNormalizedVariableDebt(weth).call(block_identifier=block)
    scaled_after = int(k.multicall.execute([aave_v3.scaled_balance_call(debt_token, safe)],
                                           block)[0].value[0])  # type: ignore[union-attr]
    assert scaled_after - scaled_before == ray_div(args.amount, index)
    hf = pool.functions.getUserAccountData(safe).call(block_identifier=block)[5]
    floor = contract(chain, "HedgeVenueModule", m.hedge_venue_module).functions.minHealthFactor().call()
    assert hf >= floor and hf >= 1.5e18
    est = next(e for e in d.venues if e.venue == "aave")
    assert est.reason.number("health_factor_after") == pytest.approx(hf / 1e18, rel=1e-6)
    [intent] = journal.intents_for_cycle(report.cycle_id)
    assert (intent.venue, intent.status.value) == ("aave", "mined")
    [fill] = journal.fills_for_cycle(report.cycle_id)
    assert fill.data.amount_in == args.amount and fill.data.notional_quote > 0 and fill.data.fee_quote > 0
    again = recovered(k, journal, intent.id)
    assert dataclasses.replace(again, gas_cost_quote=h.fill.gas_cost_quote) == h.fill


def test_a_borrow_below_the_floor_is_refused_in_safe_module_mode(chain: Web3, world: World,
                                                                 manifest: Manifest) -> None:
    m = manifest
    assert m.aave is not None
    set_native(chain, m.safe.address, 0)
    drain_weth(chain, m)
    vs = module_venues(m)
    journal = Journal.memory()
    # the Safe's health factor is ~7.5 before; borrowing 1.5 ETH leaves ~6.8: a floor of 7 refuses it
    k = module_keeper(world, m, journal, selling(world, m, vs, SIZE), vs, loan=LoanConfig(7.0, 86_400.0))
    keeper = Web3.to_checksum_address(k.tx.signer.address)
    nonce = chain.eth.get_transaction_count(keeper)
    hf_before = aave_contract(chain, "Pool", m.aave.pool).functions.getUserAccountData(m.safe.address).call()[5]

    report = k.cycle()

    d = report.plan.decision("ETH")  # type: ignore[union-attr]
    assert d.order is None and report.hedges == ()
    refusal = next(r for r in d.reasons if r.code == "venue_health_factor")
    assert refusal.number("min_health_factor") == 7.0
    assert refusal.number("health_factor_before") == pytest.approx(hf_before / 1e18, rel=1e-9)
    assert 1.5 < refusal.number("health_factor_after") < 7.0
    assert chain.eth.get_transaction_count(keeper) == nonce, "nothing was sent"
    assert journal.intents_for_cycle(report.cycle_id) == []


def test_without_a_venue_module_the_venues_stay_unavailable(chain: Web3, world: World, manifest: Manifest) -> None:
    m = manifest
    set_native(chain, m.safe.address, 30 * 10**18)
    vs = module_venues(m)
    k = module_keeper(world, m, Journal.memory(), selling(world, m, vs, SIZE), vs, live=False, venue_module=False)
    _, plan = k.plan(k.reader.read())
    d = plan.decision("ETH")
    assert d.order is None or d.order.venue not in ("uniswap_v4", "aave")
    new = [e for e in d.venues if e.venue in ("uniswap_v4", "aave")]
    assert new and all(not e.available and MODULE_UNSUPPORTED in e.reason.text for e in new)


def test_simulate_runs_a_venue_module_hedge(chain: Web3, world: World, manifest: Manifest) -> None:
    m = manifest
    set_native(chain, m.safe.address, 30 * 10**18)
    drain_weth(chain, m)
    vs = module_venues(m)
    k = module_keeper(world, m, Journal.memory(), selling(world, m, vs, SIZE), vs)
    report = simulate_plan(k, upstream="the local world")
    [h] = [x for x in report.hedges if x.underlying == "ETH"]
    assert (h.venue, h.status) == ("uniswap_v4", "filled"), h.reason
    assert h.fill is not None and h.fill.amount_in == SIZE_RAW


def test_a_borrow_and_sell_sent_before_a_crash_is_recovered_from_its_module_calldata(
        chain: Web3, world: World, manifest: Manifest, tmp_path: Path) -> None:
    """The keeper sends the module call and stops before its receipt (mining paused); the call lands while it is
    down; the restarted keeper decodes the journaled hedgeBorrowSell calldata and records the verified fill."""
    m = manifest
    assert m.aave is not None and m.hedge_venue_module
    safe = m.safe.address
    set_native(chain, safe, 0)
    drain_weth(chain, m)
    vs = module_venues(m)
    path = tmp_path / "journal.sqlite"
    policy = selling(world, m, vs, SIZE)
    pool = aave_contract(chain, "Pool", m.aave.pool)
    weth = m.tokens["WETH"].address
    debt_token = pool.functions.getReserveData(weth).call()[10]
    debt_usd_before = int(pool.functions.getUserAccountData(safe).call()[1])  # the Safe's debt in base units
    j = Journal.open(path)
    k = module_keeper(world, m, j, policy, vs, tx_kwargs={"timeout_s": 0.5, "replace_after_s": 60})
    try:
        world.node.rpc("evm_setAutomine", False)
        report = k.cycle()
        [h] = report.hedges
        assert h.fill is None and "no receipt" in (h.error or "")
        [intent] = j.open_intents()
        assert (intent.venue, intent.status.value, len(intent.attempts)) == ("aave", "sent", 1)
        j.close()
        world.node.rpc("anvil_mine", 1)  # the hedge lands while the keeper is down
    finally:
        world.node.rpc("evm_setAutomine", True)
    block = chain.eth.block_number
    j = Journal.open(path)
    k = module_keeper(world, m, j, policy, vs)
    done = k.recover()
    assert done == [f"{intent.id}: mined in block {block} -> fill recorded"]
    assert j.intent(intent.id).status.value == "mined"
    [fill] = j.fills_for_cycle(report.cycle_id)
    args = hv.decode_hedge_borrow_sell(bytes.fromhex(intent.params.data[2:]))
    assert fill.data.block_number == block and fill.data.amount_in == args.amount == SIZE_RAW
    assert fill.data.amount_out >= args.min_out and fill.data.notional_quote > 0
    index = pool.functions.getReserveNormalizedVariableDebt(weth).call(block_identifier=block)
    scaled = [int(k.multicall.execute([aave_v3.scaled_balance_call(debt_token, safe)], b)[0].value[0])  # type: ignore[union-attr]
              for b in (block - 1, block)]
    assert scaled[1] - scaled[0] == ray_div(SIZE_RAW, index)
    assert int(pool.functions.getUserAccountData(safe).call()[1]) > debt_usd_before
