"""Implied-vol surfaces and vol histories from config values or files (the I/O around :mod:`keeper.core.surface`).

Surface files
-------------
**JSON**, one object::

    {"underlying": "ETH", "as_of": "2025-01-01T00:00:00Z", "kind": "strike", "spot": 3300.0,
     "expiries": ["2025-01-31T08:00:00Z", ...], "columns": [2400, 2800, ...],
     "vols": [[0.71, 0.64, ...], ...]}

(a rectangular grid: ``vols[i][j]`` at expiry ``i``, column ``j``) or, with different columns per
expiry, ``"rows": [{"expiry": ..., "columns": [...], "vols": [...]}, ...]`` instead of
``expiries``/``columns``/``vols``. ``kind`` is ``strike`` (then ``spot``, the spot at ``as_of``, is
required), ``moneyness`` (K/S) or ``delta``; ``rate`` (per year, default 0) is optional.

**CSV**, one quote per line, header naming the columns: ``expiry``, one of ``strike`` /
``moneyness`` / ``delta``, ``vol``, and ``as_of`` (the same on every line); optional ``spot``,
``rate`` and ``underlying`` (constant too). Lines of one expiry are consecutive, in increasing
strike order.

Timestamps are unix seconds or ISO 8601 (``2025-03-28``, ``2025-03-28T08:00:00Z``; no zone = UTC).
Every problem raises :class:`~keeper.errors.InputError` naming the file and the line, key or row;
the grid checks (sorting, positivity, arbitrage) are :func:`keeper.core.surface.build_surface`'s.

Vol history files (for the Hull-White coefficients)
---------------------------------------------------
CSV with ``timestamp, spot, strike, expiry, vol``: each option (strike, expiry) observed at
successive times; consecutive observations of one option form the pairs of
:func:`keeper.core.smile_delta.fit_min_variance`.

:class:`SurfaceFeed` re-reads a surface file when it changes, so that a process writing fresh
surfaces keeps the keeper's surface fresh; staleness is judged by the caller at the block time.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from keeper.core.smile_delta import MinVarianceFit, SmilePolicy, fit_min_variance
from keeper.core.surface import SECONDS_PER_YEAR, SurfaceGrid, VolSurface, build_surface
from keeper.core.surface_values import GRID_KINDS, grid_from_mapping, parse_number, parse_timestamp
from keeper.errors import InputError, KeeperError

__all__ = [
    "SurfaceFeed",
    "fit_min_variance_file",
    "grid_from_mapping",
    "load_surface_file",
    "load_vol_history",
    "parse_timestamp",
]

def _grid_from_csv(path: Path, underlying: str) -> SurfaceGrid:
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        header = [h.strip() for h in reader.fieldnames or []]
        kinds = [k for k in GRID_KINDS if k in header]
        missing = [c for c in ("expiry", "vol", "as_of") if c not in header]
        if len(kinds) != 1 or missing:
            raise InputError(f"{path}: header", "needs expiry, vol, as_of and exactly one of strike / moneyness / "
                                                f"delta (got {', '.join(header)})")
        kind = kinds[0]
        consts: dict[str, str] = {}
        rows: list[tuple[int, list[float], list[float]]] = []
        for line, raw in enumerate(reader, start=2):
            rec = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
            for c in ("as_of", "spot", "rate", "underlying"):
                if c in rec and rec[c] != consts.setdefault(c, rec[c]):
                    raise InputError(f"{path}: line {line}", f"{c} {rec[c]!r} differs from earlier lines")
            expiry = parse_timestamp(rec["expiry"], f"{path}: line {line}: expiry")
            col = parse_number(rec[kind], f"{path}: line {line}: {kind}")
            vol = parse_number(rec["vol"], f"{path}: line {line}: vol")
            if rows and rows[-1][0] == expiry:
                rows[-1][1].append(col)
                rows[-1][2].append(vol)
            elif any(r[0] == expiry for r in rows):
                raise InputError(f"{path}: line {line}", "lines of one expiry must be consecutive")
            else:
                rows.append((expiry, [col], [vol]))
    if not rows:
        raise InputError(str(path), "no quotes")
    data: dict[str, Any] = {"kind": kind, "as_of": consts["as_of"],
                            "rows": [{"expiry": e, "columns": c, "vols": v} for e, c, v in rows]}
    for c in ("spot", "rate", "underlying"):
        if consts.get(c):
            data[c] = consts[c]
    return grid_from_mapping(data, underlying, where=str(path))


def load_surface_file(path: Path, underlying: str, *, strict: bool = False) -> VolSurface:
    """Read, validate and fit a surface file (``.json`` or ``.csv``); see the module docstring.

    Raises
    ------
    InputError
        Unreadable file or bad content (naming file and line / key / row); arbitrage in strict mode.
    """
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(path.read_text())
            if not isinstance(data, dict):
                raise InputError(str(path), "must hold one JSON object")
            grid = grid_from_mapping(data, underlying, where=str(path))
        elif path.suffix.lower() == ".csv":
            grid = _grid_from_csv(path, underlying)
        else:
            raise InputError(str(path), "a surface file must be .json or .csv")
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(str(path), f"cannot read: {exc}") from None
    try:
        return build_surface(grid, strict=strict)
    except InputError as exc:  # the grid checks name the row and column; say which file too
        raise InputError(str(path), str(exc)) from None


def load_vol_history(path: Path) -> tuple[np.ndarray, ...]:
    """Pairs ``(spot0, spot1, strike, t, vol0, vol1)`` from a vol-history CSV (module docstring)."""
    series: dict[tuple[float, int], list[tuple[int, float, float]]] = {}
    try:
        with path.open(newline="") as fh:
            reader = csv.DictReader(fh)
            need = {"timestamp", "spot", "strike", "expiry", "vol"}
            if not need <= {h.strip() for h in reader.fieldnames or []}:
                raise InputError(f"{path}: header", f"needs {', '.join(sorted(need))}")
            for line, raw in enumerate(reader, start=2):
                rec = {k.strip(): (v or "").strip() for k, v in raw.items() if k is not None}
                ts = parse_timestamp(rec["timestamp"], f"{path}: line {line}: timestamp")
                exp = parse_timestamp(rec["expiry"], f"{path}: line {line}: expiry")
                vals = [parse_number(rec[c], f"{path}: line {line}: {c}") for c in ("spot", "strike", "vol")]
                if not all(math.isfinite(x) and x > 0 for x in vals):
                    raise InputError(f"{path}: line {line}", "spot, strike and vol must be finite and > 0")
                if exp <= ts:
                    raise InputError(f"{path}: line {line}", "expiry is not after the timestamp")
                series.setdefault((vals[1], exp), []).append((ts, vals[0], vals[2]))
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc}") from None
    cols: list[list[float]] = [[], [], [], [], [], []]
    for (strike, exp), obs in series.items():
        obs.sort()
        for (t0, s0, v0), (t1, s1, v1) in zip(obs, obs[1:], strict=False):
            if t1 == t0:
                raise InputError(str(path), f"option strike {strike:g} expiry {exp} observed twice at {t0}")
            for c, x in zip(cols, (s0, s1, strike, (exp - t0) / SECONDS_PER_YEAR, v0, v1), strict=True):
                c.append(x)
    return tuple(np.array(c, dtype=np.float64) for c in cols)


def fit_min_variance_file(path: Path) -> MinVarianceFit:
    """Hull-White coefficients fitted on a vol-history CSV."""
    s0, s1, k, t, v0, v1 = load_vol_history(path)
    return fit_min_variance(s0, s1, k, t, v0, v1)


@dataclass
class SurfaceFeed:
    """One underlying's surface source: an inline grid (built once) or a file (re-read when it changes).

    :meth:`current` returns the surface or raises :class:`~keeper.errors.KeeperError`; the keeper
    turns that into the fallback vol with a reason, it never values on a partial surface.
    """

    underlying: str
    policy: SmilePolicy
    strict: bool = False
    path: Path | None = None
    grid: SurfaceGrid | None = None
    _cached: tuple[int, VolSurface] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.path is None) == (self.grid is None):
            raise InputError("SurfaceFeed", "give exactly one of path or grid")

    def current(self) -> VolSurface:
        """The surface now (the file is re-read only when its modification time changes)."""
        if self.grid is not None:
            if self._cached is None:
                self._cached = (0, build_surface(self.grid, strict=self.strict))
            return self._cached[1]
        assert self.path is not None
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError as exc:
            raise InputError(str(self.path), f"cannot read: {exc}") from None
        if self._cached is None or self._cached[0] != mtime:
            self._cached = None
            surface = load_surface_file(self.path, self.underlying, strict=self.strict)
            self._cached = (mtime, surface)
        return self._cached[1]

    def try_current(self) -> tuple[VolSurface | None, str | None]:
        """``(surface, None)``, or ``(None, why)`` when it cannot be loaded."""
        try:
            return self.current(), None
        except KeeperError as exc:
            return None, str(exc)

