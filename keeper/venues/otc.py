"""Options held off-chain with a counterparty, from a static file, validated like any other input.

Formats: CSV with a header, or JSON (a list of objects, or ``{"positions": [...]}``). Fields:

=============  ===========================================================================
id             the position's id at the counterparty (unique in the file)
counterparty   who holds the other side
underlying     asset symbol, e.g. ``ETH``, ``BTC``
type           ``call`` or ``put``
strike_usd     strike in USD per unit of underlying (> 0)
expiry         ISO-8601 date-time with a timezone (``2026-12-31T08:00:00Z``) or unix seconds
quantity       signed units of underlying: positive = long, negative = short (non-zero)
=============  ===========================================================================

A bad row raises :class:`~keeper.errors.InputError` naming the file, the row and the field.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from keeper.core.snapshot import OptionPosition
from keeper.errors import InputError

__all__ = ["load_otc_positions", "parse_otc_rows"]

_FIELDS = ("id", "counterparty", "underlying", "type", "strike_usd", "expiry", "quantity")


def _decimal(value: Any, where: str) -> Decimal:
    try:
        d = Decimal(str(value).strip())
    except InvalidOperation as exc:
        raise InputError(where, f"not a number: {value!r}") from exc
    if not d.is_finite():
        raise InputError(where, f"must be finite, got {value!r}")
    return d


def _expiry(value: Any, where: str) -> int:
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(where, f"not an ISO-8601 date-time or unix seconds: {value!r}") from exc
    if dt.tzinfo is None:
        raise InputError(where, f"needs a timezone (e.g. ...Z): {value!r}")
    return int(dt.timestamp())


def parse_otc_rows(
    rows: Iterable[Mapping[str, Any]], *, source: str, assets: Iterable[str], owner: str = "otc"
) -> tuple[OptionPosition, ...]:
    """Validate rows and turn them into option positions (strike 1e8, amounts 1e18)."""
    known = set(assets)
    out: list[OptionPosition] = []
    seen: set[str] = set()
    for n, row in enumerate(rows, start=1):
        where = f"{source}: row {n}"
        extra = set(row) - set(_FIELDS)
        if extra:
            raise InputError(f"{where}", f"unknown field(s) {sorted(extra)}; expected {list(_FIELDS)}")
        for f in _FIELDS:
            if row.get(f) in (None, ""):
                raise InputError(f"{where}.{f}", "is missing")
        pid = str(row["id"]).strip()
        if pid in seen:
            raise InputError(f"{where}.id", f"duplicate id {pid!r}")
        seen.add(pid)
        underlying = str(row["underlying"]).strip().upper()
        if underlying not in known:
            raise InputError(f"{where}.underlying", f"{underlying!r} is not a configured asset {sorted(known)}")
        kind = str(row["type"]).strip().lower()
        if kind not in ("call", "put"):
            raise InputError(f"{where}.type", f"must be 'call' or 'put', got {row['type']!r}")
        strike = _decimal(row["strike_usd"], f"{where}.strike_usd")
        if strike <= 0:
            raise InputError(f"{where}.strike_usd", f"must be > 0 USD, got {strike}")
        qty = _decimal(row["quantity"], f"{where}.quantity")
        if qty == 0:
            raise InputError(f"{where}.quantity", "must be non-zero (positive long, negative short)")
        amount = int(abs(qty) * 10**18)
        out.append(OptionPosition(
            source=f"otc:{str(row['counterparty']).strip()}", series_id=n, owner=owner, underlying=underlying,
            strike=int(strike * 10**8), expiry=_expiry(row["expiry"], f"{where}.expiry"), is_put=kind == "put",
            long_amount=amount if qty > 0 else 0, short_amount=amount if qty < 0 else 0,
        ))
    return tuple(out)


def load_otc_positions(path: Path, assets: Iterable[str]) -> tuple[OptionPosition, ...]:
    """Read and validate an OTC positions file (``.csv`` or ``.json``)."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise InputError("otc_file", f"cannot read {path}: {exc.strerror}") from exc
    if path.suffix.lower() == ".csv":
        rows: list[Mapping[str, Any]] = list(csv.DictReader(text.splitlines()))
    elif path.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError("otc_file", f"{path} is not valid JSON: {exc}") from exc
        data = data.get("positions") if isinstance(data, dict) else data
        if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
            raise InputError("otc_file", f"{path}: expected a list of position objects")
        rows = data
    else:
        raise InputError("otc_file", f"{path}: unsupported extension {path.suffix!r} (use .csv or .json)")
    return parse_otc_rows(rows, source=str(path), assets=assets)
