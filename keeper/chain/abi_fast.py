"""Fast paths for the ABI shapes the reader uses thousands of times per cycle.

``eth_abi`` is general and correct, and slow per call (tens of microseconds). Reading a book of
thousands of positions is dominated by it, so the common static shapes (uint/int/address/bool
words) and Multicall3's ``aggregate3`` envelope are encoded and decoded here directly; anything
else falls back to ``eth_abi``. Property tests check both paths agree.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_utils.address import to_checksum_address

__all__ = ["checksum", "decode_aggregate3", "decode_values", "encode_aggregate3", "encode_args"]

_STATIC = re.compile(r"^(u?int(8|16|24|32|40|48|56|64|80|96|104|112|120|128|136|144|152|160|168|176|184|192|200|208"
                     r"|216|224|232|240|248|256)?|address|bool|bytes32)$")
_WORD = 32
_TWO256 = 1 << 256


@lru_cache(maxsize=65536)
def checksum(address: str) -> str:
    """EIP-55 checksum address, memoized (addresses repeat across a book)."""
    return str(to_checksum_address(address))


def _is_static(types: Sequence[str]) -> bool:
    return all(_STATIC.match(t) for t in types)


def _word(t: str, v: Any) -> bytes:
    if t == "address":
        raw = bytes.fromhex(str(v)[2:]) if isinstance(v, str) else bytes(v)
        if len(raw) != 20:
            raise ValueError(f"address must be 20 bytes, got {len(raw)}")
        return b"\x00" * 12 + raw
    if t == "bool":
        return (1 if v else 0).to_bytes(_WORD, "big")
    if t == "bytes32":
        raw = bytes(v)
        if len(raw) != 32:
            raise ValueError("bytes32 must be 32 bytes")
        return raw
    bits = int(t.lstrip("uint") or 256)
    i = int(v)
    if t.startswith("u"):
        if not 0 <= i < 1 << bits:
            raise ValueError(f"{i} out of range for {t}")
        return i.to_bytes(_WORD, "big")
    if not -(1 << (bits - 1)) <= i < 1 << (bits - 1):
        raise ValueError(f"{i} out of range for {t}")
    return (i % _TWO256).to_bytes(_WORD, "big")


def encode_args(types: Sequence[str], args: Sequence[Any]) -> bytes:
    """ABI-encode ``args`` (the same bytes ``eth_abi.encode`` gives)."""
    if _is_static(types):
        return b"".join(_word(t, a) for t, a in zip(types, args, strict=True))
    return bytes(abi_encode(list(types), list(args)))


def _value(t: str, w: bytes) -> Any:
    if t == "address":
        if any(w[:12]):
            raise ValueError("address word has non-zero high bytes")
        return checksum("0x" + w[12:].hex())
    if t == "bool":
        i = int.from_bytes(w, "big")
        if i > 1:
            raise ValueError("bool word is not 0 or 1")
        return i == 1
    if t == "bytes32":
        return w
    bits = int(t.lstrip("uint") or 256)
    i = int.from_bytes(w, "big")
    if t.startswith("u"):
        if i >= 1 << bits:
            raise ValueError(f"value does not fit {t}")
        return i
    if i >= 1 << 255:
        i -= _TWO256
    if not -(1 << (bits - 1)) <= i < 1 << (bits - 1):
        raise ValueError(f"value does not fit {t}")
    return i


def decode_values(types: Sequence[str], data: bytes) -> tuple[Any, ...]:
    """Decode return data (static fast path; ``eth_abi`` otherwise). Raises ValueError on bad data."""
    if _is_static(types):
        if len(data) < _WORD * len(types):
            raise ValueError(f"{len(data)} bytes is too short for {len(types)} words")
        return tuple(_value(t, data[i * _WORD:(i + 1) * _WORD]) for i, t in enumerate(types))
    return tuple(abi_decode(list(types), data))


def encode_aggregate3(calls: Sequence[tuple[str, bool, bytes]]) -> bytes:
    """The argument of ``aggregate3((address,bool,bytes)[])``: one dynamic array of dynamic tuples."""
    n = len(calls)
    heads: list[bytes] = []
    tails: list[bytes] = []
    offset = n * _WORD
    for target, allow, data in calls:
        heads.append(offset.to_bytes(_WORD, "big"))
        padded = data + b"\x00" * (-len(data) % _WORD)
        tail = _word("address", target) + _word("bool", allow) + (3 * _WORD).to_bytes(_WORD, "big") \
            + len(data).to_bytes(_WORD, "big") + padded
        tails.append(tail)
        offset += len(tail)
    return (_WORD).to_bytes(_WORD, "big") + n.to_bytes(_WORD, "big") + b"".join(heads) + b"".join(tails)


def decode_aggregate3(data: bytes) -> list[tuple[bool, bytes]]:
    """Decode ``(bool,bytes)[]`` (aggregate3's result). Raises ValueError on malformed data."""

    def word(at: int) -> int:
        if at + _WORD > len(data):
            raise ValueError("aggregate3 result truncated")
        return int.from_bytes(data[at:at + _WORD], "big")

    base = word(0)
    n = word(base)
    start = base + _WORD
    out: list[tuple[bool, bytes]] = []
    for i in range(n):
        el = start + word(start + i * _WORD)
        ok = word(el)
        if ok > 1:
            raise ValueError("aggregate3 success flag is not a bool")
        boff = el + word(el + _WORD)
        length = word(boff)
        if boff + _WORD + length > len(data):
            raise ValueError("aggregate3 returnData truncated")
        out.append((ok == 1, data[boff + _WORD:boff + _WORD + length]))
    return out
