"""Why a decision was made: small, structured, journal-friendly reasons.

Every decision (trade or no trade), every gate and every venue estimate carries
:class:`Reason` values: a stable machine ``code`` (for metrics and tests), a
human ``text`` for the logs, and the ``numbers`` the text was built from (for
the journal), e.g.::

    Reason("outside_band",
           "delta +12.3 ETH outside band ±4.1 ETH around target 0 ETH (ww, gamma -0.0008 ETH/USD, k 8.0 bps)",
           (("delta_units", 12.3), ("half_width_units", 4.1), ...))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["Reason", "fmt_bps", "fmt_quote", "fmt_seconds", "fmt_units"]


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason.

    Attributes
    ----------
    code : str
        Stable identifier (``inside_band``, ``clipped_max_trade``, ``gate_failed``...).
    text : str
        One line for humans; already contains the numbers and their units.
    numbers : tuple of (str, float)
        The values quoted in ``text``, by name (names carry their unit).
    """

    code: str
    text: str
    numbers: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, code: str, text: str, **numbers: float) -> Reason:
        """Build a reason; keyword arguments become ``numbers`` (in call order)."""
        return cls(code, text, tuple(numbers.items()))

    def number(self, name: str) -> float:
        """The number recorded under ``name`` (``KeyError`` if absent)."""
        for key, value in self.numbers:
            if key == name:
                return value
        raise KeyError(name)

    def __str__(self) -> str:
        return self.text


def fmt_units(x: float, symbol: str, *, signed: bool = False) -> str:
    """``12.3 ETH``; four significant digits below 1,000, thousands separators above."""
    if not math.isfinite(x):
        body = ("+" if signed and x > 0 else "") + str(x)
    elif abs(x) >= 1000.0:
        body = f"{x:+,.0f}" if signed else f"{x:,.0f}"
    else:
        body = f"{x:+.4g}" if signed else f"{x:.4g}"
    return f"{body} {symbol}"


def fmt_quote(x: float, symbol: str) -> str:
    """``250,000 USD``; cents below 100."""
    if not math.isfinite(x):
        return f"{x} {symbol}"
    if abs(x) >= 100.0:
        return f"{x:,.0f} {symbol}"
    return f"{x:,.2f} {symbol}"


def fmt_bps(fraction: float) -> str:
    """A fraction as basis points: ``0.0008 -> '8.0 bps'``."""
    return f"{fraction * 1e4:.1f} bps"


def fmt_seconds(s: float) -> str:
    """``3,120 s``."""
    if not math.isfinite(s):
        return f"{s} s"
    return f"{s:,.0f} s"
