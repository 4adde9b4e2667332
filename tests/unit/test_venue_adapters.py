"""The contract adapters (keeper/venues): calldata built and decoded in one place, round trips exact to the
integer, and a wrong selector named as such (the ABIs themselves are checked against the artifacts in
tests/integration/test_adapter_abi.py)."""

from __future__ import annotations

import pytest
from eth_utils.address import to_checksum_address
from hypothesis import given
from hypothesis import strategies as st

from keeper.errors import InputError
from keeper.venues import hedge_module, perps, uniswap_v3
from keeper.venues.hedge_module import PerpArgs, SwapArgs, parse_params

A = "0x" + "11" * 20
B = "0x" + "22" * 20
C = "0x" + "33" * 20
uint256 = st.integers(0, 2**256 - 1)
int256 = st.integers(-(2**255), 2**255 - 1)


@given(amount_in=uint256, min_out=uint256, deadline=uint256, fee=st.integers(0, 2**24 - 1))
def test_hedge_swap_round_trips(amount_in: int, min_out: int, deadline: int, fee: int) -> None:
    a = SwapArgs(to_checksum_address(A), to_checksum_address(B), fee, amount_in, min_out,
                 deadline)
    data = hedge_module.hedge_swap(a)
    assert len(data) == 4 + 6 * 32
    assert hedge_module.decode_hedge_swap(data) == a


@given(delta=int256, acceptable=uint256)
def test_hedge_perp_and_modify_position_round_trip(delta: int, acceptable: int) -> None:
    a = PerpArgs(to_checksum_address(C), delta, acceptable)
    assert hedge_module.decode_hedge_perp(hedge_module.hedge_perp(a)) == a
    assert perps.decode_modify_position(perps.modify_position(delta, acceptable)) == (delta, acceptable)


@given(amount_in=uint256, min_out=uint256, deadline=uint256)
def test_exact_input_single_round_trips_with_no_price_limit(amount_in: int, min_out: int, deadline: int) -> None:
    data = uniswap_v3.exact_input_single(A, B, 500, C, deadline, amount_in, min_out)
    assert data[-32:] == bytes(32), "sqrtPriceLimitX96 = 0: no price limit, the minimum output bounds the trade"
    t_in, t_out, fee, recipient, dl, a_in, m_out = uniswap_v3.decode_exact_input_single(data)
    assert (t_in.lower(), t_out.lower(), fee, recipient.lower(), dl, a_in, m_out) == (A, B, 500, C, deadline,
                                                                                     amount_in, min_out)


def test_each_decoder_refuses_another_calls_selector_naming_the_field() -> None:
    swap = hedge_module.hedge_swap(SwapArgs(A, B, 500, 1, 1, 1))
    perp = hedge_module.hedge_perp(PerpArgs(C, -5, 7))
    with pytest.raises(InputError, match=r"^data: calldata selector 0x[0-9a-f]{8} is not hedgeSwap\("):
        hedge_module.decode_hedge_swap(perp)
    with pytest.raises(InputError, match=r"is not hedgePerp\("):
        hedge_module.decode_hedge_perp(swap)
    with pytest.raises(InputError, match=r"is not modifyPosition\("):
        perps.decode_modify_position(perp)
    with pytest.raises(InputError, match=r"is not exactInputSingle\("):
        uniswap_v3.decode_exact_input_single(swap)


def test_params_parse_checksums_addresses_and_keeps_every_field() -> None:
    raw = (b"\x01" * 32, 31337, A, B, C, A, B, 10**23, 10**24, 86_400, 50,
           [(C, A, B, 500)], [(A, C, 3600, 18)], [(B, C, 600, 5 * 10**18)],
           A, 10**22, 5 * 10**22, 1800, 1000, "0x" + "00" * 20, 0)
    p = parse_params(raw)
    assert p.as_tuple()[1:] == (31337, *(to_checksum_address(x) for x in (A, B, C, A, B)), 10**23,
                                10**24, 86_400, 50, [[to_checksum_address(C),
                                                      to_checksum_address(A),
                                                      to_checksum_address(B), 500]],
                                [[to_checksum_address(A), to_checksum_address(C), 3600, 18]],
                                [[to_checksum_address(B), to_checksum_address(C), 600,
                                  5 * 10**18]],
                                to_checksum_address(A), 10**22, 5 * 10**22, 1800, 1000,
                                to_checksum_address("0x" + "00" * 20), 0)
    assert p.fee_tiers == (500,)
