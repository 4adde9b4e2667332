"""A :class:`~keeper.core.surface.SurfaceGrid` from JSON-like values: the grid of a surface file
(:mod:`keeper.read.surface_io`) or the config's inline ``[vol.surfaces.<SYMBOL>.grid]``.

Pure parsing (no file, no clock), so that the config validates an inline grid with the same rules
and messages as a file's. Timestamps are unix seconds or ISO 8601 (no zone: UTC).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from keeper.core.surface import GridKind, SmileRow, SurfaceGrid
from keeper.errors import InputError

__all__ = ["GRID_KINDS", "grid_from_mapping", "parse_number", "parse_numbers", "parse_timestamp"]

GRID_KINDS: tuple[GridKind, ...] = ("strike", "moneyness", "delta")


def parse_timestamp(value: object, what: str) -> int:
    """Unix seconds from an int/float (seconds) or an ISO 8601 string (no zone: UTC)."""
    if isinstance(value, bool):
        raise InputError(what, f"not a timestamp: {value!r}")
    if isinstance(value, int | float):
        if not math.isfinite(value) or value < 0:
            raise InputError(what, f"not a timestamp: {value!r}")
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        try:
            return int(float(text)) if text.replace(".", "", 1).isdigit() else _iso(text)
        except ValueError:
            raise InputError(what, f"not a unix time or ISO 8601 date: {value!r}") from None
    raise InputError(what, f"not a timestamp: {value!r}")


def _iso(text: str) -> int:
    dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp())


def parse_number(value: object, what: str) -> float:
    """A float from a number or a numeric string; ``InputError`` naming ``what`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise InputError(what, f"not a number: {value!r}")
    try:
        return float(value)
    except ValueError:
        raise InputError(what, f"not a number: {value!r}") from None


def parse_numbers(value: object, what: str) -> tuple[float, ...]:
    """:func:`parse_number` of each item of a list (``what[i]`` in errors)."""
    if not isinstance(value, list | tuple):
        raise InputError(what, "must be a list of numbers")
    return tuple(parse_number(v, f"{what}[{i}]") for i, v in enumerate(value))


# Long on purpose: one branch per grid field and its error message naming the field.
def grid_from_mapping(data: Mapping[str, Any], underlying: str, *, where: str = "surface",  # noqa: C901
                      as_of: object = None) -> SurfaceGrid:
    """A :class:`SurfaceGrid` from JSON-like values (the JSON file layout, or the config's inline grid).

    ``as_of`` (when given) is used if ``data`` has none. Problems name ``where`` and the key.
    """
    kind = data.get("kind")
    if kind not in GRID_KINDS:
        raise InputError(f"{where}.kind", f"must be one of {', '.join(GRID_KINDS)}, got {kind!r}")
    stamp = data.get("as_of", as_of)
    if stamp is None:
        raise InputError(f"{where}.as_of", "required: when the quotes were taken")
    name = data.get("underlying", underlying)
    if name != underlying:
        raise InputError(f"{where}.underlying", f"is {name!r}, configured for {underlying!r}")
    spot = data.get("spot")
    rows: list[SmileRow] = []
    if "rows" in data:
        raw_rows = data["rows"]
        if not isinstance(raw_rows, list):
            raise InputError(f"{where}.rows", "must be a list of {expiry, columns, vols}")
        for i, r in enumerate(raw_rows):
            if not isinstance(r, dict):
                raise InputError(f"{where}.rows[{i}]", "must be an object with expiry, columns, vols")
            rows.append(SmileRow(parse_timestamp(r.get("expiry"), f"{where}.rows[{i}].expiry"),
                                 parse_numbers(r.get("columns"), f"{where}.rows[{i}].columns"),
                                 parse_numbers(r.get("vols"), f"{where}.rows[{i}].vols")))
    else:
        expiries = data.get("expiries")
        if not isinstance(expiries, list | tuple) or not expiries:
            raise InputError(f"{where}.expiries", "required: a non-empty list (or give rows)")
        cols = parse_numbers(data.get("columns"), f"{where}.columns")
        vols = data.get("vols")
        if not isinstance(vols, list | tuple) or len(vols) != len(expiries):
            raise InputError(f"{where}.vols", f"must be a list of {len(expiries)} rows, one per expiry")
        for i, (e, row) in enumerate(zip(expiries, vols, strict=True)):
            v = parse_numbers(row, f"{where}.vols[{i}]")
            if len(v) != len(cols):
                raise InputError(f"{where}.vols[{i}]", f"has {len(v)} vols for {len(cols)} columns")
            rows.append(SmileRow(parse_timestamp(e, f"{where}.expiries[{i}]"), cols, v))
    return SurfaceGrid(underlying, parse_timestamp(stamp, f"{where}.as_of"), kind, tuple(rows),
                       None if spot is None else parse_number(spot, f"{where}.spot"),
                       parse_number(data.get("rate", 0.0), f"{where}.rate"))
