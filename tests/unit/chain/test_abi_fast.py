"""The ABI fast paths give exactly eth_abi's bytes and values, and refuse what eth_abi refuses."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import decode, encode
from hypothesis import given
from hypothesis import strategies as st

from keeper.chain.abi_fast import decode_aggregate3, decode_values, encode_aggregate3, encode_args

addresses = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
TYPES: dict[str, Any] = {
    "uint256": st.integers(0, 2**256 - 1), "uint128": st.integers(0, 2**128 - 1), "uint24": st.integers(0, 2**24 - 1),
    "int24": st.integers(-(2**23), 2**23 - 1), "int256": st.integers(-(2**255), 2**255 - 1),
    "int56": st.integers(-(2**55), 2**55 - 1), "bool": st.booleans(), "address": addresses,
}


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[list[str], list[Any]]:
    types = draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=0, max_size=8))
    return types, [draw(TYPES[t]) for t in types]


@given(typed_values())
def test_static_encode_and_decode_match_eth_abi(tv: tuple[list[str], list[Any]]) -> None:
    types, values = tv
    data = encode(types, values)
    assert encode_args(types, values) == data
    ours = decode_values(types, data)
    theirs = decode(types, data)
    assert [str(a).lower() for a in ours] == [str(b).lower() for b in theirs]


@given(st.lists(st.tuples(addresses, st.booleans(), st.binary(max_size=100)), max_size=12))
def test_aggregate3_envelope_matches_eth_abi(calls: list[tuple[str, bool, bytes]]) -> None:
    assert encode_aggregate3(calls) == encode(["(address,bool,bytes)[]"], [calls])
    results = [(ok, data) for _, ok, data in calls]
    blob = encode(["(bool,bytes)[]"], [results])
    assert decode_aggregate3(blob) == results


@pytest.mark.parametrize(
    ("types", "data"),
    [
        (["uint8"], (256).to_bytes(32, "big")),  # does not fit
        (["bool"], (2).to_bytes(32, "big")),
        (["address"], b"\x01" * 32),  # dirty high bytes
        (["uint256", "uint256"], b"\x00" * 40),  # too short
    ],
)
def test_bad_words_are_refused(types: list[str], data: bytes) -> None:
    with pytest.raises(ValueError):
        decode_values(types, data)


def test_truncated_aggregate3_is_refused() -> None:
    blob = encode(["(bool,bytes)[]"], [[(True, b"\x01" * 40)]])
    with pytest.raises(ValueError):
        decode_aggregate3(blob[:-40])
