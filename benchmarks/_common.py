"""Shared helpers for the benchmark scripts: timing and JSON-lines output.

Every script prints one JSON object per line with keys ``name``, ``value``,
``unit`` and, where a baseline was measured in the same run, ``anchor``,
``anchor_value`` and ``ratio = value / anchor_value``.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections.abc import Callable
from typing import Any

__all__ = ["best_time", "emit", "emit_error", "machine"]


def best_time(fn: Callable[[], object], *, repeat: int = 7, number: int = 1, warmup: int = 1) -> float:
    """Best (minimum) wall-clock seconds of one call of ``fn`` over ``repeat`` rounds.

    Each round times ``number`` consecutive calls and divides; the minimum is the
    least noisy estimate on a shared machine.
    """
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def emit(name: str, value: float, unit: str, *, anchor: str | None = None,
         anchor_value: float | None = None, **extra: Any) -> None:
    """Print one result line; ``ratio`` is ``value / anchor_value`` when an anchor is given."""
    record: dict[str, Any] = {"name": name, "value": _round(value), "unit": unit}
    if anchor is not None and anchor_value is not None:
        record.update(anchor=anchor, anchor_value=_round(anchor_value), ratio=_round(value / anchor_value))
    record.update(extra)
    print(json.dumps(record), flush=True)


def emit_error(name: str, error: str) -> None:
    """Print a line for a measurement that could not be made."""
    print(json.dumps({"name": name, "error": error}), flush=True)


def machine() -> dict[str, Any]:
    """A little context for the figures (CPU count, Python, platform)."""
    return {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": platform.platform()}


def _round(x: float) -> float:
    return float(f"{x:.6g}")
