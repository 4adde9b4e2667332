"""Chainlink AggregatorV3Interface reads."""

from __future__ import annotations

from typing import Any

from keeper.chain.multicall import Call
from keeper.core.snapshot import FeedReading

__all__ = ["ROUND_TYPES", "decimals_call", "description_call", "latest_round_call", "parse_round"]

ROUND_TYPES = ("uint80", "int256", "uint256", "uint256", "uint80")
"""``latestRoundData()``'s outputs: roundId, answer, startedAt, updatedAt, answeredInRound."""


def latest_round_call(feed: str, asset: str) -> Call:
    return Call(feed, "latestRoundData()", (), ROUND_TYPES, f"feed {asset} latestRoundData", 30_000)


def decimals_call(feed: str, asset: str) -> Call:
    return Call(feed, "decimals()", (), ("uint8",), f"feed {asset} decimals", 10_000)


def description_call(feed: str, asset: str) -> Call:
    return Call(feed, "description()", (), ("string",), f"feed {asset} description", 30_000)


def parse_round(asset: str, feed: str, decimals: int, value: tuple[Any, ...]) -> FeedReading:
    round_id, answer, _, updated_at, _ = value
    return FeedReading(
        asset=asset, address=feed, answer=int(answer), decimals=decimals, updated_at=int(updated_at),
        round_id=int(round_id),
    )
