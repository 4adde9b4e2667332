"""argparse value types shared by every ``keeper`` subcommand: errors name what was expected."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keeper.backtest.sweep import SweepAxis

__all__ = ["block_number", "chain_id", "non_negative_decimal", "port", "positive_float", "positive_int", "sweep_axis"]


def _int(what: str, low: int, high: int | None = None, base: int = 10) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            v = int(text, base)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if v < low or (high is not None and v > high):
            bound = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"{what} must be {bound}, got {v}")
        return v
    return parse


positive_int = _int("a positive integer", 1)
block_number = _int("a block number", 0, base=0)
chain_id = _int("a chain id", 1, base=0)
port = _int("a TCP port", 1, 65535)


def positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (v > 0 and math.isfinite(v)):
        raise argparse.ArgumentTypeError(f"expected a positive finite number, got {text!r}")
    return v


def non_negative_decimal(text: str) -> Decimal:
    try:
        v = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not v.is_finite() or v < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text!r}")
    return v


def sweep_axis(text: str) -> SweepAxis:
    """``--sweep KEY=VALUES`` of ``keeper backtest`` (:func:`keeper.backtest.sweep.parse_sweep`): a
    :class:`~keeper.backtest.sweep.SweepAxis`; the error names the value and what was expected."""
    from keeper.backtest.sweep import parse_sweep
    from keeper.errors import InputError

    try:
        return parse_sweep(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--sweep: ")) from None
