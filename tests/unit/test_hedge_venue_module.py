"""The venue module's adapter: calldata round trips, pool-key and parameter validation naming the field, and the
owners' transactions in the order the contract needs (hooks before hooked keys, the Aave pool before reserves)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from eth_abi.abi import decode

from keeper.chain.multicall import selector
from keeper.errors import InputError
from keeper.venues import hedge_venue_module as hv

ETH = "0x0000000000000000000000000000000000000000"
USDC = "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48"
WETH = "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
HOOKS = "0x1111111111111111111111111111111111110080"
SAFE = "0x2222222222222222222222222222222222222222"
MODULE = "0x3333333333333333333333333333333333333333"
ROUTER = "0x66a9893cC07D91D95644AEDD05D03f95e1dBA8Af"
PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
AAVE = "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"

ETH_USDC = hv.PoolKey(ETH, USDC, 500, 10)


def test_v4_swap_calldata_round_trips_and_names_its_currencies() -> None:
    args = hv.V4SwapArgs(ETH_USDC, True, 10**18, 1_990 * 10**6, 1_700_000_000)
    data = hv.hedge_v4_swap(args)
    assert data[:4] == selector(hv.HEDGE_V4_SWAP)
    assert hv.decode_hedge_v4_swap(data) == args
    assert (args.currency_in, args.currency_out) == (ETH, USDC)


def test_borrow_sell_buy_repay_and_aave_calldata_round_trip() -> None:
    key = hv.PoolKey(USDC, WETH, 500, 10)
    bs = hv.BorrowSellArgs(WETH, 5 * 10**18, key, False, 9_950 * 10**6, 1_700_000_000)
    assert hv.decode_hedge_borrow_sell(hv.hedge_borrow_sell(bs)) == bs
    br = hv.BuyRepayArgs(key, True, 6_000 * 10**6, 2 * 10**18, 1_700_000_000)
    assert hv.decode_hedge_buy_repay(hv.hedge_buy_repay(br)) == br
    for action in hv.AaveAction:
        a = hv.AaveArgs(action, WETH, 10**18)
        assert hv.decode_aave(hv.aave_call(a)) == a
    with pytest.raises(InputError, match="data"):
        hv.decode_aave(hv.hedge_buy_repay(br))
    with pytest.raises(InputError, match="hedgeV4Swap"):
        hv.decode_hedge_v4_swap(hv.hedge_buy_repay(br))


def test_the_pool_id_separates_fee_tiers_and_hooks() -> None:
    # the contract's own poolId() is compared with this in tests/integration/test_hedge_venue_module.py
    assert len(ETH_USDC.pool_id()) == 32
    assert ETH_USDC.pool_id() != hv.PoolKey(ETH, USDC, 3000, 60).pool_id()
    assert ETH_USDC.pool_id() != hv.PoolKey(ETH, USDC, 500, 10, HOOKS).pool_id()


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"currency0": USDC, "currency1": ETH, "fee": 500, "tick_spacing": 10}, "currency0"),
    ({"currency0": ETH, "currency1": USDC, "fee": 1_000_000, "tick_spacing": 10}, "fee"),
    ({"currency0": ETH, "currency1": USDC, "fee": hv.DYNAMIC_FEE_FLAG, "tick_spacing": 10}, "dynamic-fee"),
    ({"currency0": ETH, "currency1": USDC, "fee": 500, "tick_spacing": 0}, "tick spacing"),
])
def test_an_invalid_pool_key_is_refused_naming_it(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(InputError, match=match) as err:
        hv.PoolKey(**kwargs)  # type: ignore[arg-type]
    assert err.value.argument == "pool_key"


def test_a_dynamic_fee_is_allowed_with_hooks_only() -> None:
    assert hv.PoolKey(ETH, USDC, hv.DYNAMIC_FEE_FLAG, 10, HOOKS).hooked


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"min_health_factor": Decimal("1.0")}, "min_health_factor"),
    ({"universal_router": ROUTER, "permit2": PERMIT2,
      "pool_keys": (hv.PoolKey(ETH, USDC, 500, 10, HOOKS),)}, "pool_keys"),
    ({"pool_keys": (ETH_USDC,)}, "universal_router"),
    ({"reserves": (WETH,)}, "aave_pool"),
])
def test_venue_params_are_validated_naming_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as err:
        hv.VenueParams(**kwargs)  # type: ignore[arg-type]
    assert err.value.argument == field


def test_amounts_must_fit_the_module() -> None:
    with pytest.raises(InputError) as err:
        hv.AaveArgs(hv.AaveAction.BORROW, WETH, 0)
    assert err.value.argument == "amount"
    with pytest.raises(InputError) as err:
        hv.V4SwapArgs(ETH_USDC, True, 2**128, 0, 0)
    assert err.value.argument == "amount_in"


def test_setup_allows_hooks_before_their_keys_and_the_pool_before_its_reserves() -> None:
    hooked = hv.PoolKey(ETH, USDC, 500, 10, HOOKS)
    p = hv.VenueParams(ROUTER, PERMIT2, (ETH_USDC, hooked), (HOOKS,), AAVE, (WETH, USDC), Decimal("1.5"))
    txs = hv.setup_txs(SAFE, MODULE, p)
    sigs = ["enableModule(address)", "setUniversalRouter(address,address)", "setHooksAllowed(address,bool)",
            f"setPoolKeyAllowed({hv.POOL_KEY_TYPE},bool)", f"setPoolKeyAllowed({hv.POOL_KEY_TYPE},bool)",
            "setAavePool(address)", "setReserveAllowed(address,bool)", "setReserveAllowed(address,bool)",
            "setMinHealthFactor(uint256)"]
    assert [t.data[:4] for t in txs] == [selector(s) for s in sigs]
    assert txs[0].to.lower() == SAFE.lower()
    assert all(t.to.lower() == MODULE.lower() for t in txs[1:])
    assert decode(["uint256"], txs[-1].data[4:]) == (15 * 10**17,)
