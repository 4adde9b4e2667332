"""``to_raw`` is exact at any size: raw amounts of 18-decimal tokens pass 28 digits (Decimal's
default precision) from 10 billion tokens up, and must not be rounded there."""

from __future__ import annotations

from decimal import Decimal

import pytest

from keeper.core.lp_math import to_raw


@pytest.mark.parametrize(
    ("amount", "decimals", "raw"),
    [
        ("123456789012.123456789012345678", 18, 123456789012123456789012345678),
        (Decimal("99999999999.999999999999999999"), 18, 99999999999999999999999999999),
        (2**96, 0, 2**96),
        (10**40 + 1, 6, (10**40 + 1) * 10**6),
        ("-123456789012.1234567890123456789", 18, -123456789012123456789012345678),  # toward zero
        ("1e-30", 18, 0),
        ("1.23456789", 6, 1_234_567),  # two digits dropped
        ("1.5e3", 2, 150_000),
        ("0", 18, 0),
    ],
)
def test_to_raw_is_exact_past_28_digits(amount: str | int | Decimal, decimals: int, raw: int) -> None:
    assert to_raw(amount, decimals) == raw
