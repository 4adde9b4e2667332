"""JSON encoding for journal payloads: exact integers, no silent float tricks.

On-chain integers (uint256 amounts, sqrtPriceX96, fee growth in X128) do not fit a float or a
SQLite INTEGER. :func:`to_jsonable` turns frozen dataclasses, mappings, tuples and lists into
plain JSON values, keeping every integer exact: integers a JSON reader may round (beyond
``2**53 - 1`` in magnitude) become decimal strings. Non-finite floats are refused, because JSON
has no spelling for them and a NaN in a journaled snapshot would be a lie about the book.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import math
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from keeper.errors import InputError

__all__ = [
    "JSON_SAFE_INT",
    "UINT256_MAX",
    "dumps",
    "int_from_text",
    "int_to_text",
    "loads",
    "to_jsonable",
]

JSON_SAFE_INT = 2**53 - 1
"""Largest integer magnitude every JSON reader (JavaScript included) holds exactly."""

UINT256_MAX = 2**256 - 1


# Long on purpose: one branch per supported type of the journal codec.
def to_jsonable(value: object, *, path: str = "$") -> Any:  # noqa: C901, PLR0912
    """Convert ``value`` into JSON-ready data, keeping integers exact.

    - dataclass instances become dicts of their fields (in declaration order);
    - mappings become dicts; keys must be str, int or an enum and are written as strings;
    - tuples, lists, sets and frozensets become lists (sets sorted by their JSON text);
    - ``bool`` and ``None`` pass through; ``int`` passes through when ``|x| <= 2**53 - 1``
      and becomes its decimal string otherwise;
    - finite floats pass through; NaN and infinities raise :class:`InputError`;
    - ``bytes`` become ``0x``-prefixed lowercase hex; enums become their value; paths their str.

    ``path`` names the location inside the payload, for error messages only.
    """
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        return to_jsonable(value.value, path=path)
    if isinstance(value, int):
        return value if -JSON_SAFE_INT <= value <= JSON_SAFE_INT else str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InputError(path, f"non-finite float {value!r} cannot be journaled")
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return "0x" + bytes(value).hex()
    if isinstance(value, PurePath):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name), path=f"{path}.{f.name}") for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            text = _key_text(key, path)
            if text in out:
                raise InputError(path, f"two keys map to the same JSON key {text!r}")
            out[text] = to_jsonable(item, path=f"{path}.{text}")
        return out
    if isinstance(value, tuple | list):
        return [to_jsonable(item, path=f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, set | frozenset):
        items = [to_jsonable(item, path=f"{path}[]") for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True))
    raise InputError(path, f"cannot journal a value of type {type(value).__name__}")


def _key_text(key: object, path: str) -> str:
    if isinstance(key, enum.Enum):
        key = key.value
    if isinstance(key, str):
        return key
    if isinstance(key, int) and not isinstance(key, bool):
        return str(key)
    raise InputError(path, f"mapping key of type {type(key).__name__} cannot be a JSON key")


def dumps(value: object, *, path: str = "$") -> str:
    """Serialize ``value`` with :func:`to_jsonable` to compact, key-sorted JSON text."""
    return json.dumps(to_jsonable(value, path=path), sort_keys=True, separators=(",", ":"), allow_nan=False)


def loads(text: str) -> Any:
    """Parse JSON text written by :func:`dumps` (big integers stay the decimal strings they were written as)."""
    return json.loads(text)


def int_to_text(value: int, argument: str, *, low: int = 0, high: int = UINT256_MAX) -> str:
    """Validate an on-chain integer and return its decimal text for a TEXT column.

    Raises :class:`InputError` naming ``argument`` if ``value`` is not an ``int`` (bools are
    refused) or lies outside ``[low, high]`` (by default the uint256 range).
    """
    if not isinstance(value, int) or isinstance(value, bool):
        raise InputError(argument, f"expected an integer, got {type(value).__name__}")
    if not low <= value <= high:
        raise InputError(argument, f"{value} is outside [{low}, {high}]")
    return str(value)


def int_from_text(text: str) -> int:
    """Read back a decimal TEXT column written by :func:`int_to_text`."""
    return int(text)
