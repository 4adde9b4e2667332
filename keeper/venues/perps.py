"""PerpMarket reads: market parameters and each account's position."""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address

from keeper.chain.multicall import Call, selector
from keeper.core.snapshot import PerpMarketState, PerpPosition
from keeper.errors import InputError

__all__ = [
    "MODIFY_POSITION",
    "POSITION_TYPES",
    "decode_modify_position",
    "market_calls",
    "modify_position",
    "oracle_price_call",
    "parse_market",
    "parse_position",
    "position_call",
    "position_calls",
]


def market_calls(market: str) -> list[Call]:
    """oraclePrice, fundingRatePerSecond, fundingIndex, takerFeeBps, initialMarginBps,
    maintenanceMarginBps, quoteToken, in that order."""
    label = f"perp {market}"
    return [
        oracle_price_call(market),
        Call(market, "fundingRatePerSecond()", (), ("int256",), f"{label} fundingRatePerSecond", 40_000),
        Call(market, "fundingIndex()", (), ("int256",), f"{label} fundingIndex", 60_000),
        Call(market, "takerFeeBps()", (), ("uint256",), f"{label} takerFeeBps", 10_000),
        Call(market, "initialMarginBps()", (), ("uint256",), f"{label} initialMarginBps", 10_000),
        Call(market, "maintenanceMarginBps()", (), ("uint256",), f"{label} maintenanceMarginBps", 10_000),
        quote_token_call(market),
    ]


def parse_market(market: str, underlying: str, parts: list[tuple[Any, ...]]) -> PerpMarketState:
    price, rate, index, fee, im, mm, quote = (p[0] for p in parts)
    return PerpMarketState(
        address=market, underlying=underlying, oracle_price=int(price), funding_rate_per_second=int(rate),
        funding_index=int(index), taker_fee_bps=int(fee), initial_margin_bps=int(im),
        maintenance_margin_bps=int(mm), quote_token=to_checksum_address(str(quote)),
    )


POSITION_TYPES = ("int256", "uint256", "uint256", "int256")
"""``positions(account)``: size (1e18 units, signed), entry price, margin, last funding index."""


def position_call(market: str, account: str) -> Call:
    return Call(market, "positions(address)", (account,), POSITION_TYPES,
                f"perp position of {account} in {market}", 30_000)


def oracle_price_call(market: str) -> Call:
    return Call(market, "oraclePrice()", (), ("uint256",), f"perp {market} oraclePrice", 40_000)


def quote_token_call(market: str) -> Call:
    """``quoteToken()``: the margin token."""
    return Call(market, "quoteToken()", (), ("address",), f"perp {market} quoteToken", 10_000)


def position_calls(market: str, account: str) -> list[Call]:
    """positions(account) and remainingMargin(account)."""
    return [
        position_call(market, account),
        Call(market, "remainingMargin(address)", (account,), ("int256",),
             f"perp remaining margin of {account} in {market}", 80_000),
    ]


def parse_position(market: str, account: str, underlying: str, parts: list[tuple[Any, ...]]) -> PerpPosition:
    (size, entry, margin, last_index), (remaining,) = parts
    return PerpPosition(
        market=market, account=account, underlying=underlying, size=int(size), entry_price=int(entry),
        margin=int(margin), last_funding_index=int(last_index), remaining_margin=int(remaining),
    )


MODIFY_POSITION = "modifyPosition(int256,uint256)"
"""A trader's own trade: signed size delta and worst acceptable price, both 1e18-scaled."""


def modify_position(size_delta: int, acceptable_price: int) -> bytes:
    return selector(MODIFY_POSITION) + encode(["int256", "uint256"], [size_delta, acceptable_price])


def decode_modify_position(data: bytes) -> tuple[int, int]:
    """(size_delta, acceptable_price) of ``modifyPosition`` calldata; another selector raises InputError."""
    if data[:4] != selector(MODIFY_POSITION):
        raise InputError("data", f"calldata selector 0x{data[:4].hex()} is not {MODIFY_POSITION}")
    delta, acceptable = decode(["int256", "uint256"], data[4:])
    return int(delta), int(acceptable)
