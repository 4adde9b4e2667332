"""Per-cycle marks of the book's LPs and perps (``cycle_marks``, schema version 3): what ``keeper report``
needs to attribute LP fees against loss-versus-rebalancing and to charge perp funding per period
(:mod:`keeper.core.lvr`). One row per position and cycle; on-chain integers stay exact (decimal text in
the JSON where they exceed 2^53)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from keeper.core.lvr import LpMark, PerpMark
from keeper.errors import JournalError
from keeper.journal._base import JournalBase
from keeper.journal.codec import dumps, loads

__all__ = ["CycleMarks", "MarksMixin"]

_INT_FIELDS = {"token_id", "liquidity", "tick_lower", "tick_upper", "pool_tick", "sqrt_price_x96",
               "fee_growth_inside0_x128", "fee_growth_inside1_x128", "decimals_underlying", "decimals_quote",
               "principal_underlying_raw", "principal_quote_raw", "fees_underlying_raw", "fees_quote_raw",
               "size", "last_funding_index", "funding_index", "quote_decimals"}


@dataclass(frozen=True)
class CycleMarks:
    """The marks one cycle journaled, with its snapshot's block and block time."""

    cycle_id: int
    block_number: int
    block_timestamp: int
    lps: tuple[LpMark, ...]
    perps: tuple[PerpMark, ...]


def _decode(cls: type[LpMark] | type[PerpMark], data: dict[str, Any], where: str) -> Any:
    try:
        kwargs: dict[str, Any] = {f.name: int(data[f.name]) if f.name in _INT_FIELDS else data[f.name]
                                  for f in fields(cls)}
    except (KeyError, TypeError, ValueError) as exc:
        raise JournalError(f"{where}: unreadable mark ({exc})") from exc
    return cls(**kwargs)


class MarksMixin(JournalBase):
    """Per-cycle LP and perp marks; mixed into :class:`keeper.journal.Journal`."""

    def record_marks(self, cycle_id: int, *, lps: Sequence[LpMark] = (), perps: Sequence[PerpMark] = ()) -> int:
        """Journal a cycle's marks (one row per LP token id and per perp market/account); returns the rows."""
        rows = [(cycle_id, "lp", str(m.token_id), dumps(m, path=f"lps[{m.token_id}]")) for m in lps]
        rows += [(cycle_id, "perp", f"{m.market.lower()}/{m.account.lower()}", dumps(m, path=f"perps[{m.market}]"))
                 for m in perps]
        if not rows:
            return 0
        with self._write(f"record marks for cycle {cycle_id}") as conn:
            if conn.execute("SELECT 1 FROM cycles WHERE id = ?", (cycle_id,)).fetchone() is None:
                raise JournalError(f"{self._where}: cycle {cycle_id} does not exist")
            for row in rows:  # Conn has execute only (the PostgreSQL wrapper too)
                conn.execute("INSERT INTO cycle_marks (cycle_id, kind, item, data_json) VALUES (?, ?, ?, ?)", row)
        return len(rows)

    def marks_between(self, start: int, end: int) -> list[CycleMarks]:
        """The marks of cycles whose snapshot's block time is in ``[start, end)``, oldest first (cycles without
        marks are left out)."""
        sql = ("SELECT m.cycle_id, m.kind, m.item, m.data_json, s.block_number, s.block_timestamp "
               "FROM cycle_marks m JOIN snapshots s ON s.cycle_id = m.cycle_id "
               "WHERE s.block_timestamp >= ? AND s.block_timestamp < ? "
               "ORDER BY s.block_timestamp, m.cycle_id, m.kind, m.item")
        out: dict[int, tuple[int, int, list[LpMark], list[PerpMark]]] = {}
        with self._read("read marks") as conn:
            for row in conn.execute(sql, (start, end)):
                _add(out, row, self._where)
        return [CycleMarks(c, b, t, tuple(lps), tuple(perps)) for c, (b, t, lps, perps) in out.items()]


def _add(out: dict[int, tuple[int, int, list[LpMark], list[PerpMark]]], row: Any, where: str) -> None:
    cycle_id = int(row["cycle_id"])
    entry = out.setdefault(cycle_id, (int(row["block_number"]), int(row["block_timestamp"]), [], []))
    data = loads(row["data_json"])
    label = f"{where}: cycle_marks of cycle {cycle_id}, {row['kind']} {row['item']}"
    if row["kind"] == "lp":
        entry[2].append(_decode(LpMark, data, label))
    else:
        entry[3].append(_decode(PerpMark, data, label))
