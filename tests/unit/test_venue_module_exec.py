"""keeper/execute/venue_module.py without a chain: the hedge's inputs, the calldata it builds, and verification
against a fake chain (a hedge the HedgeModule refused to book; balances that disagree with the module's event)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from eth_abi.abi import encode

from keeper.chain.multicall import Call, Ok, Result
from keeper.errors import InputError, TransactionError
from keeper.execute.fees import Fees
from keeper.execute.tx import Attempt, Mined
from keeper.execute.venue_module import NATIVE, V4_EVENT, VenueExecutor, VenueHedge
from keeper.venues import hedge_venue_module as hv

USDC = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
WETH = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
WBTC = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
SAFE = "0x97b987B2FF90dE85D78335d9C97CDC6c72080AEd"
VENUE = "0x276C216D241856199A83bf27b2286659e5b877D3"
MODULE = "0xCD8a1C3ba11CF5ECfa6267617243239504a98d90"
POOL = "0x724dbC61127E39A610Be416b455deb800d51A3B2"
ETH_KEY = hv.PoolKey(NATIVE, USDC, 500, 10)
BTC_KEY = hv.PoolKey(WBTC, USDC, 3000, 60)


def executor() -> VenueExecutor:
    return VenueExecutor(safe=SAFE, venue_module=VENUE, hedge_module=MODULE, weth=WETH, aave_pool=POOL,
                         decimals={NATIVE: 18, WETH: 18, USDC: 6, WBTC: 8})


def test_sides_map_to_the_pool_keys_direction() -> None:
    sell_eth = VenueHedge("v4_swap", ETH_KEY, "sell", 10**18, 1, USDC)
    assert (sell_eth.currency_in, sell_eth.currency_out, sell_eth.zero_for_one) == (NATIVE, USDC, True)
    buy_eth = VenueHedge("v4_swap", ETH_KEY, "buy", 10**9, 1, USDC)
    assert (buy_eth.currency_in, buy_eth.zero_for_one) == (USDC, False)
    sell_btc = VenueHedge("v4_swap", BTC_KEY, "sell", 10**8, 1, USDC)
    assert sell_btc.zero_for_one and sell_btc.risky == WBTC


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"kind": "swap"}, "kind"), ({"side": "short"}, "side"), ({"kind": "borrow_sell", "side": "buy"}, "side"),
    ({"kind": "buy_repay", "side": "sell"}, "side"), ({"quote": WBTC}, "quote"), ({"amount_raw": 0}, "amount_raw"),
    ({"min_out_raw": 0}, "min_out_raw"), ({"amount_raw": 2**128}, "amount_raw"),
    ({"kind": "borrow_sell", "reserve": ""}, "reserve"),
])
def test_bad_input_names_the_field(kwargs: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"kind": "v4_swap", "key": ETH_KEY, "side": "sell", "amount_raw": 10**18,
                            "min_out_raw": 1, "quote": USDC, **kwargs}
    with pytest.raises(InputError) as err:
        VenueHedge(**args)
    assert err.value.argument == field


def test_prepare_builds_the_modules_calls() -> None:
    ex = executor()
    p = ex.prepare(VenueHedge("v4_swap", ETH_KEY, "buy", 3_000 * 10**6, 10**17, USDC), 1_000)
    assert p.request.to == VENUE and not p.aave_asset
    assert hv.decode_hedge_v4_swap(p.request.data) == hv.V4SwapArgs(ETH_KEY, False, 3_000 * 10**6, 10**17, 1_000)
    p = ex.prepare(VenueHedge("borrow_sell", ETH_KEY, "sell", 10**18, 2_900 * 10**6, USDC, reserve=WETH), 1_000)
    assert p.aave_asset == WETH
    assert hv.decode_hedge_borrow_sell(p.request.data) == hv.BorrowSellArgs(WETH, 10**18, ETH_KEY, True,
                                                                           2_900 * 10**6, 1_000)
    p = ex.prepare(VenueHedge("buy_repay", ETH_KEY, "buy", 3_000 * 10**6, 10**17, USDC), 1_000)
    assert p.aave_asset == WETH  # native ETH bought is wrapped and repaid as WETH
    with pytest.raises(InputError, match="reserve"):
        ex.prepare(VenueHedge("borrow_sell", ETH_KEY, "sell", 10**18, 1, USDC, reserve=WBTC), 1_000)


class FakeChain:
    """A chain on which nothing the hedge touches moved: every read answers zeros, before and after."""

    address = "0xcA11bde05977b3631167028862bE2a173976CA11"

    def execute(self, calls: Sequence[Call], block: int, /) -> list[Result]:
        return [Ok((0, 0)) for _ in calls]


def mined(logs: list[dict[str, Any]], block: int = 10) -> Mined:
    a = Attempt(nonce=0, tx_hash="0x" + "ab" * 32, raw=b"", fees=Fees(1, 1, 1), gas=1)
    return Mined(receipt={"blockNumber": hex(block), "gasUsed": "0x5208", "effectiveGasPrice": "0x1", "logs": logs},
                 attempt=a, attempts=(a,))


def swap_log(amount_in: int, amount_out: int) -> dict[str, Any]:
    data = encode(["bool", "uint256", "uint256", "uint256", "uint256", "uint256"],
                  [True, amount_in, amount_out, 3_000 * 10**18, 3_000 * 10**18, 10**18])
    return {"address": VENUE, "topics": ["0x" + V4_EVENT.hex(), "0x" + "00" * 32], "data": "0x" + data.hex()}


def test_a_hedge_the_hedge_module_refused_to_book_is_reported() -> None:
    ex = executor()
    p = ex.prepare(VenueHedge("v4_swap", ETH_KEY, "sell", 10**18, 2_900 * 10**6, USDC), 1_000)
    with pytest.raises(TransactionError, match="traded nothing.*paused itself"):
        ex.verify(p, mined([]), FakeChain())


def test_balances_that_disagree_with_the_modules_event_are_refused() -> None:
    ex = executor()
    p = ex.prepare(VenueHedge("v4_swap", BTC_KEY, "sell", 10**8, 59_000 * 10**6, USDC), 1_000)
    # The Safe's balances did not move although the module logged a swap: refused.
    with pytest.raises(TransactionError, match="balances do not match the swap"):
        ex.verify(p, mined([swap_log(10**8, 60_000 * 10**6)]), FakeChain())
    with pytest.raises(TransactionError, match="below the minimum 59000000000"):
        ex.verify(p, mined([swap_log(10**8, 58_000 * 10**6)]), FakeChain())
    with pytest.raises(TransactionError, match="logged 2 swaps"):
        ex.verify(p, mined([swap_log(10**8, 60_000 * 10**6)] * 2), FakeChain())
