"""Hedging through the new venues on the local world, from the keeper's own account (eoa mode):

* a cycle whose venue choice picks the Uniswap v4 ETH/USDC pool (native ETH) and sells through the
  UniversalRouter: the fill equals the V4Quoter's answer at the block before and the balances and
  the receipt's USDC transfer, to the wei; journaled as a ``uniswap_v4`` intent and fill;
* a borrow-and-sell on Aave v3: the debt grows by exactly the borrowed amount (scaled units), the
  borrowed WETH is sold in a v3 pool, and the health factor after is the Pool's own
  ``getUserAccountData`` (and what the gate predicted, but for one block of interest);
* a borrow the health-factor floor refuses: nothing is sent, and the reason (HF before, after and
  the floor) is journaled with the plan.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest
from eth_typing import HexStr
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.core.aave import account_data, decode_reserve_config, ray_div
from keeper.core.inputs import UnderlyingVenues
from keeper.core.more_venues import LoanConfig
from keeper.core.policy import PolicyConfig
from keeper.core.snapshot import V4PoolKey
from keeper.cycle.compose import ChainKeeper
from keeper.cycle.simulate import simulate_plan
from keeper.devnet.keeper_setup import band_policy, world_keeper
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.devnet.world_aave import aave_contract
from keeper.execute.execution import VerifiedFill
from keeper.execute.fees import Fees
from keeper.execute.tx import Attempt, Mined
from keeper.journal import Journal
from keeper.node.dev import DevChain, dev_account
from keeper.read.reader import V4HedgeSource
from keeper.venues import aave_v3, erc20, uniswap_v4, universal_router
from keeper.view.report import plan_record, render_plan

pytestmark = pytest.mark.anvil
KEEPER = dev_account(5).address
TRANSFER = "0x" + Web3.keccak(text="Transfer(address,address,uint256)").hex().removeprefix("0x")


def eth_pool_key(m: Manifest) -> V4PoolKey:
    assert m.v4 is not None
    p = m.v4.pools["ETH/USDC-500"]
    return V4PoolKey(p.currency0, p.currency1, p.fee, p.tick_spacing, p.hooks)


def venues(m: Manifest, *, v4: bool = False, aave: bool = False) -> dict[str, UnderlyingVenues]:
    """ETH hedged in the v3 pools (the keeper holds no WETH: unavailable) and, as asked, the v4 native
    ETH pool and the Aave market; BTC in its v3 pool."""
    assert m.v4 is not None and m.aave is not None
    return {
        "ETH": UnderlyingVenues("ETH", m.tokens["WETH"].address, m.pools["WETH/USDC-500"].address,
                                (m.pools["WETH/USDC-500"].address, m.pools["WETH/USDC-3000"].address),
                                v4_pools=(uniswap_v4.pool_id(eth_pool_key(m)),) if v4 else (),
                                aave_pool=m.aave.pool if aave else None),
        "BTC": UnderlyingVenues("BTC", m.tokens["WBTC"].address, m.pools["WBTC/USDC-3000"].address,
                                (m.pools["WBTC/USDC-3000"].address,)),
    }


def eoa_keeper(world: World, m: Manifest, journal: Journal, policy: PolicyConfig,
               vs: Mapping[str, UnderlyingVenues], *, live: bool = True, loan: LoanConfig | None = None) -> ChainKeeper:
    assert m.v4 is not None
    k = world_keeper(world.url, m, journal, policy, mode="eoa", live=live, venues=vs)
    src = k.reader.sources
    assert src.v4 is not None
    k.reader.sources = dataclasses.replace(src, v4=dataclasses.replace(
        src.v4, hedge_pools=(V4HedgeSource(eth_pool_key(m), "ETH", 25.0),), quoter=m.v4.quoter))
    k.executor = dataclasses.replace(k.executor, universal_router=m.v4.universal_router)
    if loan is not None:
        k.loan = loan
    return k


def eth_delta(world: World, m: Manifest, vs: Mapping[str, UnderlyingVenues]) -> tuple[float, float]:
    probe = eoa_keeper(world, m, Journal.memory(), band_policy({}), vs, live=False)
    risk, _ = probe.plan(probe.reader.read())
    return risk.summaries["ETH"].delta, risk.summaries["BTC"].delta


def policy_selling(world: World, m: Manifest, vs: Mapping[str, UnderlyingVenues], units: float) -> PolicyConfig:
    eth, btc = eth_delta(world, m, vs)
    return band_policy({"ETH": (eth - units, 1.0), "BTC": (btc, 1.0)})


def recovered(k: ChainKeeper, journal: Journal, intent_id: str) -> VerifiedFill:
    """The fill recovery would record: the trade rebuilt from the journaled calldata (a snapshot at the
    receipt's block), verified from state."""
    intent = journal.intent(intent_id)
    [attempt] = intent.attempts
    receipt = k.rpc.call("eth_getTransactionReceipt", [attempt.tx_hash])
    snap = k.reader.read(block=int(receipt["blockNumber"], 16))
    trade = k.executor.from_calldata(intent.underlying, intent.venue, intent.side.value,
                                     bytes.fromhex(intent.params.data[2:]), snap)
    mined = Mined(receipt=receipt, attempt=Attempt(attempt.nonce, attempt.tx_hash, b"", Fees(0, 0, 0), 0),
                  attempts=())
    return k.executor.verify(trade, mined, k.multicall, snap, 0.0)


def send(chain: Web3, to: str, data: bytes) -> None:
    """A call from the keeper's (unlocked) dev account, mined."""
    tx = chain.eth.send_transaction({"from": KEEPER, "to": Web3.to_checksum_address(to), "data": data})
    assert chain.eth.wait_for_transaction_receipt(tx)["status"] == 1


def supply_usdc(chain: Web3, m: Manifest, usd: float) -> None:
    """The keeper's account supplies ``usd`` of USDC to Aave as collateral and approves the v3 router for WETH."""
    assert m.aave is not None
    dev = DevChain(chain)
    usdc = contract(chain, "DevToken", m.tokens["USDC"].address)
    raw = int(usd * 10**6)
    dev.send(usdc.functions.mint(KEEPER, raw), Web3.to_checksum_address(m.deployer))
    send(chain, m.tokens["USDC"].address, erc20.approve(m.aave.pool, raw))
    send(chain, m.aave.pool, aave_v3.supply(m.tokens["USDC"].address, raw, KEEPER))
    send(chain, m.tokens["WETH"].address, erc20.approve(m.uniswap.router, 2**256 - 1))


def test_a_cycle_sells_native_eth_through_the_v4_pool(chain: Web3, world: World, manifest: Manifest) -> None:
    m = manifest
    assert m.v4 is not None
    vs = venues(m, v4=True)
    journal = Journal.memory()
    k = eoa_keeper(world, m, journal, policy_selling(world, m, vs, 20.0), vs)
    usdc = contract(chain, "DevToken", m.tokens["USDC"].address)
    before_eth, before_usdc = chain.eth.get_balance(KEEPER), usdc.functions.balanceOf(KEEPER).call()

    report = k.cycle()

    assert report.status == "ok", report.message
    d = report.plan.decision("ETH")  # type: ignore[union-attr]
    assert d.order is not None and d.order.venue == "uniswap_v4" and d.order.side == "sell"
    # the venue choice: v4 is the cheapest available all-in cost; the v3 pools are listed, unavailable
    # for want of WETH, and the v4 estimate's impact is the V4Quoter's
    avail = [e for e in d.venues if e.available]
    assert min(avail, key=lambda e: e.cost.total_quote).venue == "uniswap_v4"
    assert {e.venue for e in d.venues} == {"uniswap", "uniswap_v4"}
    assert all(e.reason.code == "venue_balance" for e in d.venues if e.venue == "uniswap")
    assert next(e for e in d.venues if e.venue == "uniswap_v4").impact_source == "quote"
    [h] = report.hedges
    assert h.fill is not None and h.trade.request.to == m.v4.universal_router
    assert h.trade.request.value == h.fill.amount_in == h.trade.amount_in
    assert h.fill.underlying_units == pytest.approx(20.0, rel=1e-9)
    receipt = chain.eth.get_transaction_receipt(HexStr(h.fill.tx_hash))
    gas_wei = receipt["gasUsed"] * receipt["effectiveGasPrice"]
    # balances, to the wei: native out = amount + gas; USDC in = the fill's output
    assert chain.eth.get_balance(KEEPER) == before_eth - h.fill.amount_in - gas_wei
    assert usdc.functions.balanceOf(KEEPER).call() == before_usdc + h.fill.amount_out
    # the receipt's USDC transfer to the keeper carries the same amount
    moved = [int(lg["data"].hex(), 16) for lg in receipt["logs"]
             if lg["address"] == m.tokens["USDC"].address and lg["topics"][0].hex().removeprefix("0x")
             == TRANSFER.removeprefix("0x") and "0x" + lg["topics"][2].hex()[-40:].lower() == KEEPER.lower()]
    assert moved == [h.fill.amount_out]
    # the chain's own quote at the block before equals the fill
    quoter = k.multicall.execute([uniswap_v4.quote_exact_input_single_call(
        m.v4.quoter, eth_pool_key(m), True, h.fill.amount_in)], receipt["blockNumber"] - 1)[0]
    assert quoter.ok and int(quoter.value[0]) == h.fill.amount_out  # type: ignore[union-attr]
    assert h.fill.amount_out >= h.trade.min_out
    # journaled: one mined uniswap_v4 intent with its fill and costs
    [intent] = journal.intents_for_cycle(report.cycle_id)
    assert intent.venue == "uniswap_v4" and intent.status.value == "mined" and intent.params.value == h.fill.amount_in
    [fill] = journal.fills_for_cycle(report.cycle_id)
    assert fill.data.amount_out == h.fill.amount_out and fill.data.fee_quote > 0 and fill.data.gas_cost_quote > 0
    # recovery after a restart rebuilds the same fill from the journaled calldata and the chain
    again = recovered(k, journal, intent.id)
    assert (again.amount_in, again.amount_out, again.block_number) == (h.fill.amount_in, h.fill.amount_out,
                                                                        h.fill.block_number)
    # the calldata decodes back to the same swap (recovery rebuilds the trade from it)
    sw = universal_router.decode_v4_swap(h.trade.request.data)
    assert (sw.key, sw.zero_for_one, sw.amount_in, sw.min_out) == (eth_pool_key(m), True, h.fill.amount_in,
                                                                    h.trade.min_out)


def test_a_borrow_and_sell_cycle_on_aave(chain: Web3, world: World, manifest: Manifest) -> None:
    m = manifest
    assert m.aave is not None
    supply_usdc(chain, m, 500_000.0)
    vs = venues(m, aave=True)
    journal = Journal.memory()
    k = eoa_keeper(world, m, journal, policy_selling(world, m, vs, 5.0), vs, loan=LoanConfig(1.5, 86_400.0))
    pool = aave_contract(chain, "Pool", m.aave.pool)
    weth_addr = m.tokens["WETH"].address
    reserve = pool.functions.getReserveData(weth_addr).call()
    debt_token = contract(chain, "DevToken", reserve[10])  # any ERC-20 ABI reads balanceOf
    scaled = k.multicall.execute([aave_v3.scaled_balance_call(reserve[10], KEEPER)], chain.eth.block_number)[0]
    scaled_before = int(scaled.value[0])  # type: ignore[union-attr]
    usdc = contract(chain, "DevToken", m.tokens["USDC"].address)
    usdc_before = usdc.functions.balanceOf(KEEPER).call()

    report = k.cycle()

    assert report.status == "ok", report.message
    d = report.plan.decision("ETH")  # type: ignore[union-attr]
    assert d.order is not None and d.order.venue == "aave" and d.order.side == "sell"
    assert d.order.leg is not None and d.order.leg.venue == "uniswap"
    est = next(e for e in d.venues if e.venue == "aave")
    assert est.cost.funding_quote > 0  # the interest over the horizon is part of the cost
    borrow, sell = report.hedges
    assert borrow.trade.venue == "aave" and sell.trade.venue == "uniswap"
    assert borrow.fill is not None and sell.fill is not None
    amount = borrow.fill.amount_in
    assert amount == sell.fill.amount_in == (5 * 10**18)
    block = chain.eth.get_transaction_receipt(HexStr(borrow.fill.tx_hash))["blockNumber"]
    # the debt grows by exactly the borrowed amount, in the debt token's scaled units at that block
    index = pool.functions.getReserveNormalizedVariableDebt(weth_addr).call(block_identifier=block)
    scaled_after = k.multicall.execute([aave_v3.scaled_balance_call(reserve[10], KEEPER)], block)[0]
    assert int(scaled_after.value[0]) - scaled_before == ray_div(amount, index)  # type: ignore[union-attr]
    assert debt_token.functions.balanceOf(KEEPER).call(block_identifier=block) >= amount
    # the borrowed WETH was all sold; its proceeds arrived
    assert contract(chain, "WETH9", weth_addr).functions.balanceOf(KEEPER).call() == 0
    assert usdc.functions.balanceOf(KEEPER).call() == usdc_before + sell.fill.amount_out
    # health factor after: the Pool's own figure equals the mirror of the snapshot read at that block,
    # and the gate's prediction (at the plan's block) differs only by interest accrued in between
    after = k.reader.read(block=chain.eth.block_number)
    acct = next(a for a in after.aave_accounts if a.owner == KEEPER)
    mine = account_data(after.aave_markets[m.aave.pool], acct)
    chain_hf = pool.functions.getUserAccountData(KEEPER).call()[5]
    assert mine.health_factor == chain_hf
    predicted = est.reason.number("health_factor_after")
    assert predicted == pytest.approx(chain_hf / 1e18, rel=1e-6)
    assert predicted >= 1.5
    intents = journal.intents_for_cycle(report.cycle_id)
    assert [(i.venue, i.status.value) for i in intents] == [("aave", "mined"), ("uniswap", "mined")]
    fills = journal.fills_for_cycle(report.cycle_id)
    assert fills[0].data.notional_quote == 0.0  # the loan leg: counted once, at its sale
    assert fills[1].data.notional_quote > 0
    for intent, h in zip(intents, (borrow, sell), strict=True):
        again = recovered(k, journal, intent.id)
        assert h.fill is not None and (again.amount_in, again.amount_out) == (h.fill.amount_in, h.fill.amount_out)


def test_a_borrow_below_the_health_factor_floor_is_refused(chain: Web3, world: World, manifest: Manifest) -> None:
    m = manifest
    assert m.aave is not None
    vs = venues(m, aave=True)
    # collateral so that borrowing 10 ETH leaves HF ~ 2.0; the floor is 3.0
    probe = eoa_keeper(world, m, Journal.memory(), band_policy({}), vs, live=False).reader.read()
    usdc_res = probe.aave_markets[m.aave.pool].reserves[m.tokens["USDC"].address]
    lt = decode_reserve_config(usdc_res.configuration).liquidation_threshold_bps / 1e4
    eth_usd = probe.feeds["ETH"].price
    supply_usdc(chain, m, 2.0 * 10 * eth_usd / lt)
    journal = Journal.memory()
    k = eoa_keeper(world, m, journal, policy_selling(world, m, vs, 10.0), vs, loan=LoanConfig(3.0, 86_400.0))
    nonce = chain.eth.get_transaction_count(KEEPER)

    report = k.cycle()

    d = report.plan.decision("ETH")  # type: ignore[union-attr]
    assert d.order is None and report.hedges == ()
    assert chain.eth.get_transaction_count(KEEPER) == nonce, "nothing was sent"
    refusal = next(r for r in d.reasons if r.code == "venue_health_factor")
    assert refusal.number("min_health_factor") == 3.0
    assert refusal.number("health_factor_after") == pytest.approx(2.0, rel=0.02)
    assert "from no debt (infinite)" in refusal.text  # no debt before
    assert "below the floor 3" in refusal.text
    assert f"to {refusal.number('health_factor_after'):.4f}" in refusal.text
    assert journal.intents_for_cycle(report.cycle_id) == []
    [plan] = journal.plans(report.cycle_id)
    assert refusal.text in plan.reasons
    # the plan a person reads lists the loan with its all-in cost in USD, and the refusal
    assert report.snapshot is not None and report.risk is not None and report.plan is not None
    rec = plan_record(report.snapshot, report.risk, report.plan)
    [aave_rec] = [v for d in rec["decisions"] for v in d["venues"] if v["venue"] == "aave"]
    assert not aave_rec["available"] and aave_rec["funding_usd"] > 0 and aave_rec["reason"] == refusal.text
    text = render_plan(rec)
    assert f"n/a aave:{m.aave.pool}:{m.tokens['WETH'].address}: all-in " in text and " USD, gas " in text
    assert refusal.text in text


def test_simulate_runs_both_legs_of_a_borrow_and_sell(chain: Web3, world: World, manifest: Manifest) -> None:
    m = manifest
    assert m.aave is not None
    supply_usdc(chain, m, 500_000.0)
    vs = venues(m, aave=True)
    k = eoa_keeper(world, m, Journal.memory(), policy_selling(world, m, vs, 5.0), vs)
    report = simulate_plan(k, upstream="the local world")
    [h] = [x for x in report.hedges if x.underlying == "ETH"]
    assert (h.venue, h.status) == ("aave", "filled"), h.reason
    assert h.fill is not None and h.fill.amount_in == 5 * 10**18 and h.fill.notional_quote > 0  # the sale's fill
    # 5 ETH sold; the pool's move adds a little ETH to the treasury's LPs in that pool (short gamma)
    assert h.delta_before_units is not None and h.delta_after_units is not None
    assert -5.0 < h.delta_after_units - h.delta_before_units < -4.5
