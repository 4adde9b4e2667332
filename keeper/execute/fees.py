"""EIP-1559 fees from ``eth_feeHistory``, with caps, and the bump rule for replacements.

Pure functions over the node's fee history; the transaction manager fetches the history.
Units: wei per gas throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from keeper.errors import InputError, TransactionError

__all__ = ["FeeCapExceededError", "FeePolicy", "Fees", "bump", "fees_from_history"]

GWEI = 10**9
MIN_BUMP = 0.125  # nodes refuse a replacement that raises fees by less than 10 %; we use 12.5 %


class FeeCapExceededError(TransactionError):
    """The next block's base fee is above the configured cap: sending now would break the cap."""


@dataclass(frozen=True)
class FeePolicy:
    """How much the keeper will pay for gas.

    Attributes
    ----------
    max_fee_cap_wei: hard cap on ``maxFeePerGas``.
    max_priority_cap_wei: hard cap on ``maxPriorityFeePerGas``.
    min_priority_wei: floor for the tip.
    base_fee_multiplier: ``maxFeePerGas = multiplier * next base fee + tip`` (room for rising base fees).
    bump_fraction: fee increase for each replacement, at least 0.125.
    history_blocks, reward_percentile: the ``eth_feeHistory`` query.
    """

    max_fee_cap_wei: int = 500 * GWEI
    max_priority_cap_wei: int = 5 * GWEI
    min_priority_wei: int = 10**8
    base_fee_multiplier: int = 2
    bump_fraction: float = MIN_BUMP
    history_blocks: int = 10
    reward_percentile: float = 50.0

    def __post_init__(self) -> None:
        if self.max_fee_cap_wei <= 0:
            raise InputError("max_fee_cap_wei", f"must be positive, got {self.max_fee_cap_wei}")
        if not 0 <= self.min_priority_wei <= self.max_priority_cap_wei:
            raise InputError("min_priority_wei", "must be between 0 and max_priority_cap_wei")
        if self.max_priority_cap_wei > self.max_fee_cap_wei:
            raise InputError("max_priority_cap_wei", "must not exceed max_fee_cap_wei")
        if self.bump_fraction < MIN_BUMP:
            raise InputError(
                "bump_fraction", f"must be >= {MIN_BUMP} (nodes reject smaller bumps), got {self.bump_fraction}"
            )
        if self.base_fee_multiplier < 1:
            raise InputError("base_fee_multiplier", f"must be >= 1, got {self.base_fee_multiplier}")
        if not 1 <= self.history_blocks <= 1024:
            raise InputError("history_blocks", f"must be in 1..1024, got {self.history_blocks}")
        if not 0 <= self.reward_percentile <= 100:
            raise InputError("reward_percentile", f"must be in 0..100, got {self.reward_percentile}")


@dataclass(frozen=True)
class Fees:
    max_fee_per_gas: int
    max_priority_fee_per_gas: int
    base_fee: int
    """The next block's base fee the fees were computed from."""

    def describe(self) -> str:
        return (
            f"maxFee {self.max_fee_per_gas / GWEI:.3f} gwei, tip {self.max_priority_fee_per_gas / GWEI:.3f} gwei, "
            f"base {self.base_fee / GWEI:.3f} gwei"
        )


def _int(x: Any) -> int:
    return int(x, 16) if isinstance(x, str) else int(x)


def fees_from_history(history: dict[str, Any], policy: FeePolicy) -> Fees:
    """Fees for the next block from an ``eth_feeHistory`` answer.

    The tip is the median of the blocks' reward percentile, clamped to the policy; the fee cap
    is ``multiplier * next base fee + tip``, clamped to ``max_fee_cap_wei``. A next base fee
    above the cap raises :class:`FeeCapExceededError`.
    """
    base_fees = [_int(b) for b in history.get("baseFeePerGas", [])]
    if not base_fees:
        raise TransactionError("eth_feeHistory returned no baseFeePerGas")
    next_base = base_fees[-1]
    rewards = sorted(_int(r[0]) for r in history.get("reward", []) if r)
    tip = rewards[len(rewards) // 2] if rewards else policy.min_priority_wei
    tip = min(max(tip, policy.min_priority_wei), policy.max_priority_cap_wei)
    if next_base + tip > policy.max_fee_cap_wei:
        raise FeeCapExceededError(
            f"next base fee {next_base / GWEI:.3f} gwei + tip {tip / GWEI:.3f} gwei exceeds the cap "
            f"{policy.max_fee_cap_wei / GWEI:.3f} gwei"
        )
    max_fee = min(policy.base_fee_multiplier * next_base + tip, policy.max_fee_cap_wei)
    return Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=tip, base_fee=next_base)


def bump(old: Fees, policy: FeePolicy, next_base: int | None = None) -> Fees:
    """Fees for a replacement at the same nonce: both fields up by at least ``bump_fraction``.

    Raises :class:`FeeCapExceededError` when the bumped fee cap would pass ``max_fee_cap_wei``
    (the caller keeps waiting on the transaction it has).
    """
    factor = 1.0 + policy.bump_fraction
    tip = max(math.ceil(old.max_priority_fee_per_gas * factor), old.max_priority_fee_per_gas + 1)
    base = old.base_fee if next_base is None else next_base
    max_fee = max(math.ceil(old.max_fee_per_gas * factor), old.max_fee_per_gas + 1,
                  policy.base_fee_multiplier * base + tip)
    if max_fee > policy.max_fee_cap_wei:
        raise FeeCapExceededError(
            f"a replacement needs maxFee {max_fee / GWEI:.3f} gwei, "
            f"above the cap {policy.max_fee_cap_wei / GWEI:.3f} gwei"
        )
    return Fees(max_fee_per_gas=max_fee, max_priority_fee_per_gas=min(tip, max_fee), base_fee=base)
