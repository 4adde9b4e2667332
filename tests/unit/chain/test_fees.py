"""EIP-1559 fee computation and the replacement bump rule."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.errors import InputError
from keeper.execute.fees import GWEI, FeeCapExceededError, FeePolicy, Fees, bump, fees_from_history


def history(base_fees: list[int], tips: list[int]) -> dict[str, object]:
    return {"baseFeePerGas": [hex(b) for b in base_fees], "reward": [[hex(t)] for t in tips]}


def test_fees_from_history_uses_next_base_fee_and_median_tip() -> None:
    f = fees_from_history(history([10 * GWEI, 12 * GWEI, 20 * GWEI], [1 * GWEI, 3 * GWEI]), FeePolicy())
    assert f.base_fee == 20 * GWEI
    assert f.max_priority_fee_per_gas == 3 * GWEI  # median of two picks the upper one
    assert f.max_fee_per_gas == 2 * 20 * GWEI + 3 * GWEI


def test_tip_is_clamped_and_fee_capped() -> None:
    policy = FeePolicy(max_fee_cap_wei=50 * GWEI, max_priority_cap_wei=2 * GWEI, min_priority_wei=GWEI // 2)
    f = fees_from_history(history([40 * GWEI], [9 * GWEI]), policy)
    assert f.max_priority_fee_per_gas == 2 * GWEI
    assert f.max_fee_per_gas == 50 * GWEI  # 2*40+2 = 82 capped to 50
    f = fees_from_history(history([1], [0]), policy)
    assert f.max_priority_fee_per_gas == GWEI // 2


def test_base_fee_above_cap_refuses() -> None:
    with pytest.raises(FeeCapExceededError, match="exceeds the cap"):
        fees_from_history(history([600 * GWEI], [GWEI]), FeePolicy(max_fee_cap_wei=500 * GWEI))


@given(
    max_fee=st.integers(1, 10**12), tip=st.integers(0, 10**11), base=st.integers(0, 10**11),
    frac=st.floats(0.125, 1.0),
)
def test_bump_raises_both_fees_by_at_least_the_fraction(max_fee: int, tip: int, base: int, frac: float) -> None:
    tip = min(tip, max_fee)
    policy = FeePolicy(max_fee_cap_wei=10**15, max_priority_cap_wei=10**14, bump_fraction=frac)
    old = Fees(max_fee, tip, base)
    new = bump(old, policy, base)
    assert new.max_fee_per_gas >= max_fee * (1 + frac)
    assert new.max_priority_fee_per_gas >= min(tip * (1 + frac), new.max_fee_per_gas)
    assert new.max_priority_fee_per_gas > tip or new.max_priority_fee_per_gas == new.max_fee_per_gas


def test_bump_past_cap_refuses() -> None:
    with pytest.raises(FeeCapExceededError, match="replacement"):
        bump(Fees(90 * GWEI, GWEI, 10 * GWEI), FeePolicy(max_fee_cap_wei=100 * GWEI))


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_fee_cap_wei": 0}, "max_fee_cap_wei"),
        ({"bump_fraction": 0.1}, "bump_fraction"),
        ({"min_priority_wei": -1}, "min_priority_wei"),
        ({"max_priority_cap_wei": 10**30}, "max_priority_cap_wei"),
        ({"base_fee_multiplier": 0}, "base_fee_multiplier"),
        ({"history_blocks": 0}, "history_blocks"),
        ({"reward_percentile": 101}, "reward_percentile"),
    ],
)
def test_policy_validation_names_the_field(kwargs: dict[str, float], field: str) -> None:
    with pytest.raises(InputError, match=f"^{field}"):
        FeePolicy(**kwargs)  # type: ignore[arg-type]
