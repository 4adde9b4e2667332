"""The new venues' hand-written signatures are the npm packages' own: the UniversalRouter's ``execute``,
Permit2's ``approve`` / ``allowance``, the V4Quoter's single-pool quote, Aave v3 Pool's ``supply``,
``borrow`` and ``repay``; and the router's ``V4_SWAP`` input decodes as v4-periphery's
``ExactInputSingleParams`` with the action codes of its ``Actions`` library."""

from __future__ import annotations

import pytest

from keeper.build.artifacts import npm_artifact
from keeper.core.snapshot import V4PoolKey
from keeper.venues import aave_v3, erc20, uniswap_v4, universal_router
from tests.integration.test_adapter_abi import _canonical, _functions


@pytest.mark.parametrize(("signature", "artifact"), [
    (universal_router.EXECUTE, "UniversalRouter"),
    (universal_router.PERMIT2_APPROVE, "IAllowanceTransfer"),
    (universal_router.PERMIT2_ALLOWANCE, "IAllowanceTransfer"),
    (uniswap_v4.QUOTE_EXACT_INPUT_SINGLE, "V4Quoter"),
    (aave_v3.SUPPLY, "Pool"),
    (aave_v3.BORROW, "Pool"),
    (aave_v3.REPAY, "Pool"),
    (erc20.APPROVE, "WETH9"),
])
def test_npm_contracts_have_the_functions_the_new_adapters_encode(signature: str, artifact: str) -> None:
    assert signature in _functions(npm_artifact(artifact).abi)


def test_permit2_allowance_outputs() -> None:
    call = universal_router.permit2_allowance_call("0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20)
    [fn] = [i for i in npm_artifact("IAllowanceTransfer").abi
            if i.get("type") == "function" and _canonical(i) == call.signature]
    assert tuple(o["type"] for o in fn["outputs"]) == call.returns


def test_the_v4_swap_round_trips_and_names_the_router_s_command() -> None:
    zero = "0x0000000000000000000000000000000000000000"
    key = V4PoolKey(zero, "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", 500, 10, zero)
    swap = universal_router.V4Swap(key, True, 5 * 10**18, 12_000 * 10**6, 1_900_000_000)
    data = universal_router.v4_swap_exact_in(swap)
    assert universal_router.decode_v4_swap(data) == swap
    assert swap.value == swap.amount_in  # native ETH in: paid as msg.value
    sell_usdc = universal_router.V4Swap(key, False, 10**6, 1, 1)
    assert sell_usdc.value == 0 and sell_usdc.currency_in == key.currency1
    # Actions codes: v4-periphery 1.0.3 libraries/Actions.sol
    assert (uniswap_v4.ACTIONS["SWAP_EXACT_IN_SINGLE"], uniswap_v4.ACTIONS["SETTLE_ALL"],
            uniswap_v4.ACTIONS["TAKE_ALL"]) == (0x06, 0x0C, 0x0F)
    with pytest.raises(Exception, match="not"):
        universal_router.decode_v4_swap(aave_v3.borrow(key.currency1, 1, key.currency1))


def test_aave_loan_calldata_round_trips() -> None:
    asset, who = "0x" + "12" * 20, "0x" + "34" * 20
    assert aave_v3.decode_loan(aave_v3.borrow(asset, 7, who))[0::2] == ("borrow", 7)
    kind, a, amount, w = aave_v3.decode_loan(aave_v3.repay(asset, 9, who))
    assert (kind, a.lower(), amount, w.lower()) == ("repay", asset, 9, who)
