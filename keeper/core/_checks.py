"""Argument checks shared by the pure policy modules (private).

Each check raises :class:`~keeper.errors.InputError` naming the field, and
returns nothing: the caller keeps its own value (a float, an int or a numpy
scalar). They are cheap enough to run in every dataclass ``__post_init__`` of
the per-cycle inputs.
"""

from __future__ import annotations

import math

from keeper.errors import InputError

__all__ = ["check_finite", "check_fraction", "check_non_negative", "check_positive"]


def _number(name: str, value: object) -> float:
    if isinstance(value, bool):
        raise InputError(name, f"must be a number, got {value!r}")
    try:
        x = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(name, f"must be a number, got {value!r}") from None
    if math.isnan(x):
        raise InputError(name, "must not be NaN")
    return x


def check_finite(name: str, value: object) -> None:
    """Raise unless ``value`` is a finite real number."""
    if not math.isfinite(_number(name, value)):
        raise InputError(name, f"must be finite, got {value!r}")


def check_positive(name: str, value: object, *, allow_inf: bool = False) -> None:
    """Raise unless ``value > 0`` (and finite unless ``allow_inf``)."""
    x = _number(name, value)
    if not x > 0.0:
        raise InputError(name, f"must be > 0, got {value!r}")
    if not allow_inf and math.isinf(x):
        raise InputError(name, f"must be finite, got {value!r}")


def check_non_negative(name: str, value: object, *, allow_inf: bool = False) -> None:
    """Raise unless ``value >= 0`` (and finite unless ``allow_inf``)."""
    x = _number(name, value)
    if not x >= 0.0:
        raise InputError(name, f"must be >= 0, got {value!r}")
    if not allow_inf and math.isinf(x):
        raise InputError(name, f"must be finite, got {value!r}")


def check_fraction(name: str, value: object, *, upper_inclusive: bool = False) -> None:
    """Raise unless ``0 <= value < 1`` (``<= 1`` with ``upper_inclusive``)."""
    x = _number(name, value)
    ok = 0.0 <= x <= 1.0 if upper_inclusive else 0.0 <= x < 1.0
    if not ok:
        bound = "[0, 1]" if upper_inclusive else "[0, 1)"
        raise InputError(name, f"must be a fraction in {bound} (0.0005 = 5 bps), got {value!r}")
