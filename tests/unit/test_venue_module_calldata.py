"""Safe-module orders through the HedgeVenueModule, without a chain: a v4 order is one ``hedgeV4Swap`` to the
module (the Safe pays: no ``msg.value``), an Aave order one ``hedgeBorrowSell`` / ``hedgeBuyRepay`` around its v4
swap leg; each is rebuilt from its journaled calldata as recovery does (by the executor, and into the
:class:`VenueExecutor`'s hedge whose own calldata is byte for byte the journaled one)."""

from __future__ import annotations

import dataclasses

import pytest

from keeper.chain.multicall import selector
from keeper.errors import InputError, ModuleVenueUnsupportedError
from keeper.execute.execution import Executor
from keeper.execute.venue_module import NATIVE, VenueExecutor
from keeper.venues import hedge_venue_module as hv
from keeper.venues import uniswap_v4
from tests.unit.test_venue_execution import AAVE, DEBT, EOA, KEY, MODULE, PID, ROUTER, USDC, WETH, order, snap

VENUE = "0x" + "ab" * 20
DEADLINE = 1_700_000_300  # the snapshot's block time + the executor's 300 s


def executor(venue_module: str = VENUE) -> Executor:
    return Executor(mode="safe-module", account=EOA, router=ROUTER, module=MODULE, tokens={"ETH": WETH},
                    quote_token=USDC, max_slippage_bps=50, venue_module=venue_module)


def venue_executor() -> VenueExecutor:
    return VenueExecutor(safe=EOA, venue_module=VENUE, hedge_module=MODULE, weth=WETH, aave_pool=AAVE,
                         decimals={USDC: 6, WETH: 18, NATIVE: 18})


def vkey() -> hv.PoolKey:
    return hv.PoolKey(KEY.currency0, KEY.currency1, KEY.fee, KEY.tick_spacing, KEY.hooks)


def test_a_v4_sell_is_one_module_call_without_value() -> None:
    t = executor().prepare(order("uniswap_v4", "sell"), snap())
    assert t.request.to == VENUE and t.request.value == 0 and t.venue == "uniswap_v4"
    assert t.request.data[:4] == selector(hv.HEDGE_V4_SWAP)
    a = hv.decode_hedge_v4_swap(t.request.data)
    assert a == hv.V4SwapArgs(vkey(), True, 5 * 10**18, 14_925 * 10**6, DEADLINE)
    back = executor().from_calldata("ETH", "uniswap_v4", "sell", t.request.data, snap())
    assert back.request.to == VENUE and back.venue == "uniswap_v4" and back.pool_id == PID
    assert (back.amount_in, back.min_out, back.token_in, back.token_out) == (t.amount_in, t.min_out, NATIVE, USDC)
    assert back.order.venue_id == PID and back.order.size_units == 5.0 and back.size_raw == t.size_raw


def test_a_v4_buy_spends_usdc_and_decodes_back() -> None:
    t = executor().prepare(order("uniswap_v4", "buy"), snap())
    a = hv.decode_hedge_v4_swap(t.request.data)
    assert not a.zero_for_one and a.amount_in == 15_000 * 10**6 and t.request.value == 0
    back = executor().from_calldata("ETH", "uniswap_v4", "buy", t.request.data, snap())
    assert (back.token_in, back.token_out, back.size_raw, back.min_out) == (USDC, NATIVE, t.min_out, t.min_out)


def test_borrow_and_sell_is_one_module_call_borrowing_weth_for_the_native_pool() -> None:
    legs = executor().prepare_legs(order("aave", "sell", leg=order("uniswap_v4", "sell")), snap())
    [t] = legs
    assert t.request.to == VENUE and t.venue == "aave" and t.pool_id == AAVE and t.debt_token == DEBT
    b = hv.decode_hedge_borrow_sell(t.request.data)
    assert b == hv.BorrowSellArgs(WETH, 5 * 10**18, vkey(), True, 14_925 * 10**6, DEADLINE)
    back = executor().from_calldata("ETH", "aave", "sell", t.request.data, snap())
    assert (back.venue, back.pool_id, back.debt_token, back.order.venue_id) == ("aave", AAVE, DEBT, f"{AAVE}:{WETH}")
    assert (back.amount_in, back.min_out, back.token_in) == (b.amount, b.min_out, NATIVE)


def test_buy_and_repay_is_one_module_call_repaying_weth() -> None:
    [t] = executor().prepare_legs(order("aave", "buy", leg=order("uniswap_v4", "buy")), snap())
    r = hv.decode_hedge_buy_repay(t.request.data)
    assert r == hv.BuyRepayArgs(vkey(), False, 15_000 * 10**6, t.min_out, DEADLINE)
    back = executor().from_calldata("ETH", "aave", "buy", t.request.data, snap())
    assert (back.venue, back.pool_id, back.debt_token, back.token_out) == ("aave", AAVE, DEBT, NATIVE)


@pytest.mark.parametrize(("venue", "side", "kind"), [
    ("uniswap_v4", "sell", "v4_swap"), ("uniswap_v4", "buy", "v4_swap"), ("aave", "sell", "borrow_sell"),
    ("aave", "buy", "buy_repay")])
def test_the_venue_executor_rebuilds_the_same_hedge(venue: str, side: str, kind: str) -> None:
    o = order(venue, side, leg=order("uniswap_v4", side) if venue == "aave" else None)
    [t] = executor().prepare_legs(o, snap())
    p = venue_executor().from_calldata(t.request.data, "sell" if side == "sell" else "buy")
    assert p.hedge.kind == kind and p.hedge.quote.lower() == USDC.lower() and p.request.to.lower() == VENUE
    assert p.aave_asset == ("" if kind == "v4_swap" else WETH)
    assert p.hedge.side == side and p.hedge.amount_raw == t.amount_in and p.hedge.min_out_raw == t.min_out
    # building the rebuilt hedge again gives the journaled calldata, byte for byte
    assert venue_executor().prepare(p.hedge, DEADLINE).request.data == t.request.data


def test_a_loan_whose_leg_is_a_v3_pool_is_refused_through_the_module() -> None:
    with pytest.raises(InputError, match="leg"):
        executor().prepare_legs(order("aave", "sell", leg=order("uniswap", "sell")), snap())


def test_calldata_of_no_venue_hedge_is_refused() -> None:
    with pytest.raises(InputError, match="not a hedge of the HedgeVenueModule"):
        venue_executor().from_calldata(b"\x12\x34\x56\x78" + bytes(64), "sell")


def test_an_aave_asset_in_no_market_is_named_on_recovery() -> None:
    data = hv.hedge_borrow_sell(hv.BorrowSellArgs(USDC, 10**6, vkey(), False, 1, DEADLINE))
    with pytest.raises(InputError, match="in no Aave market"):
        executor().from_calldata("ETH", "aave", "sell", data, snap())


def test_without_the_module_a_safe_module_v4_order_is_not_sent_to_it() -> None:
    t = dataclasses.replace(executor(), venue_module="")
    assert not t.through_venue_module
    with pytest.raises(ModuleVenueUnsupportedError, match="not yet supported through the HedgeModule"):
        t.prepare(order("uniswap_v4", "sell"), snap())
    assert executor().through_venue_module
    assert uniswap_v4.NATIVE == NATIVE
