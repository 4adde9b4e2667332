"""Executing the new venues, without a chain: a v4 order becomes one UniversalRouter call (native ETH as
``msg.value``), an Aave order two legs (borrow then sell, buy then repay) whose amounts agree; every
trade is rebuilt from its calldata as recovery does; through the HedgeModule both raise the named
``ModuleVenueUnsupportedError`` until the module's paths land."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address

from keeper.core.aave import RAY
from keeper.core.costs import CostEstimate
from keeper.core.hedge_types import HedgeOrder
from keeper.core.snapshot import (
    AaveMarketState,
    AaveReserveState,
    FeedReading,
    PoolState,
    Snapshot,
    TokenMeta,
    V4PoolKey,
    V4PoolState,
)
from keeper.errors import ModuleVenueUnsupportedError
from keeper.execute.execution import Executor
from keeper.venues import aave_v3, uniswap_v4, universal_router

ZERO = "0x0000000000000000000000000000000000000000"


def _addr(byte: int) -> str:
    return to_checksum_address("0x" + f"{byte:02x}" * 20)


USDC, WETH, POOL3, AAVE, DEBT = _addr(0x1B), _addr(0x2C), _addr(0x3D), _addr(0xAA), _addr(0x4E)
EOA, ROUTER, UR, MODULE = _addr(0x6A), _addr(0x5F), _addr(0x7B), _addr(0x8C)
KEY = V4PoolKey(ZERO, USDC, 500, 10, ZERO)
PID = uniswap_v4.pool_id(KEY)
PRICE = 3000.0


def snap() -> Snapshot:
    sqrt = int((PRICE * 10**6 / 10**18) ** 0.5 * 2**96)
    v4 = V4PoolState(PID, KEY, sqrt, 0, 0, 500, 10**18, 0, 0)
    reserve = AaveReserveState(WETH, 0, 0, "0x" + "9" * 40, DEBT, "0x" + "8" * 40, RAY, RAY, 0, RAY // 20,
                               300_000_000_000)
    return Snapshot(
        chain_id=1, block_number=100, block_timestamp=1_700_000_000, owners=(EOA,),
        tokens={USDC: TokenMeta(USDC, "USDC", 6), WETH: TokenMeta(WETH, "WETH", 18)},
        pools={POOL3: PoolState(POOL3, USDC, WETH, 500, sqrt, 0, 10**18, 0, 0, 10)}, lps=(), options=(),
        perp_markets={}, perps=(), feeds={"ETH": FeedReading("ETH", "0x" + "f" * 40, 300_000_000_000, 8, 0, 1)},
        twaps={}, balances={}, v4_pools={PID: v4},
        aave_markets={AAVE: AaveMarketState(AAVE, "0x" + "7" * 40, {WETH: reserve})},
    )


def order(venue: str, side: str, units: float = 5.0, leg: HedgeOrder | None = None) -> HedgeOrder:
    vid = {"uniswap_v4": PID, "uniswap": POOL3, "aave": f"{AAVE}:{WETH}"}[venue]
    return HedgeOrder("ETH", side, units, units * PRICE, venue, vid, 0.0005, PRICE,  # type: ignore[arg-type]
                      PRICE * (0.995 if side == "sell" else 1.005), CostEstimate(0, 0, 0, 0), leg)


def executor(mode: str = "eoa") -> Executor:
    return Executor(mode=mode, account=EOA, router=ROUTER, module=MODULE, tokens={"ETH": WETH},  # type: ignore[arg-type]
                    quote_token=USDC, max_slippage_bps=50, universal_router=UR)


def test_a_native_v4_sell_is_one_router_call_paid_with_msg_value() -> None:
    t = executor().prepare(order("uniswap_v4", "sell"), snap())
    assert t.request.to == UR and t.venue == "uniswap_v4"
    assert t.amount_in == 5 * 10**18 and t.request.value == t.amount_in
    sw = universal_router.decode_v4_swap(t.request.data)
    assert sw.key == KEY and sw.zero_for_one and sw.amount_in == t.amount_in and sw.min_out == t.min_out
    # minimum out: 5 ETH at the feed less 50 bps, in USDC raw units (rounded up)
    assert t.min_out == 14_925 * 10**6
    back = executor().from_calldata("ETH", "uniswap_v4", "sell", t.request.data, snap())
    assert (back.amount_in, back.min_out, back.request.value, back.pool_id) == (t.amount_in, t.min_out,
                                                                                t.request.value, PID)


def test_a_v4_buy_pays_usdc_through_permit2_without_value() -> None:
    t = executor().prepare(order("uniswap_v4", "buy"), snap())
    sw = universal_router.decode_v4_swap(t.request.data)
    assert not sw.zero_for_one and sw.currency_in == USDC and t.request.value == 0
    assert t.amount_in == 15_000 * 10**6 and t.token_out == ZERO


def test_borrow_and_sell_is_two_legs_of_the_same_amount() -> None:
    leg = order("uniswap", "sell")
    borrow, sell = executor().prepare_legs(order("aave", "sell", leg=leg), snap())
    assert borrow.request.to == AAVE and borrow.venue == "aave" and borrow.debt_token == DEBT
    assert aave_v3.decode_loan(borrow.request.data) == ("borrow", WETH, 5 * 10**18, EOA)
    assert sell.venue == "uniswap" and sell.amount_in == borrow.amount_in and sell.token_in == WETH
    again = executor().from_calldata("ETH", "aave", "sell", borrow.request.data, snap())
    assert (again.amount_in, again.token_out, again.debt_token, again.request.to) == (borrow.amount_in, WETH, DEBT,
                                                                                     AAVE)


def test_buy_and_repay_repays_the_swaps_guaranteed_output() -> None:
    buy, repay = executor().prepare_legs(order("aave", "buy", leg=order("uniswap", "buy")), snap())
    assert buy.venue == "uniswap" and repay.venue == "aave"
    assert aave_v3.decode_loan(repay.request.data) == ("repay", WETH, buy.min_out, EOA)
    assert repay.token_in == WETH and repay.amount_in == buy.min_out


def test_through_the_module_both_venues_raise_the_named_error() -> None:
    ex = executor("safe-module")
    with pytest.raises(ModuleVenueUnsupportedError, match="not yet supported through the HedgeModule"):
        ex.prepare(order("uniswap_v4", "sell"), snap())
    with pytest.raises(ModuleVenueUnsupportedError, match="not yet supported through the HedgeModule"):
        ex.prepare_legs(order("aave", "sell", leg=order("uniswap", "sell")), snap())


def test_an_aave_order_needs_prepare_legs_and_its_leg() -> None:
    with pytest.raises(Exception, match="prepare_legs"):
        executor().prepare(order("aave", "sell", leg=order("uniswap", "sell")), snap())
    with pytest.raises(Exception, match="leg"):
        executor().prepare_legs(order("aave", "sell"), snap())
