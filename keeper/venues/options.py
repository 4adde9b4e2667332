"""OptionMarket reads (our local-chain venue; series details shaped like Opyn's getOtokenDetails).

A mainnet option venue gets its own module producing the same :class:`OptionPosition`.
"""

from __future__ import annotations

from typing import Any

from keeper.chain.multicall import Call
from keeper.core.snapshot import OptionPosition

__all__ = ["account_book_call", "parse_series", "series_details_call"]


def account_book_call(market: str, owner: str) -> Call:
    return Call(
        market, "accountBook(address)", (owner,), ("uint256[]", "uint256[]", "uint256[]"),
        f"option book of {owner} in {market}", 3_000_000,
    )


def series_details_call(market: str, series_id: int) -> Call:
    return Call(
        market, "getSeriesDetails(uint256)", (series_id,),
        ("address", "address", "address", "uint256", "uint256", "bool"),
        f"option series {series_id} in {market}", 30_000,
    )


def parse_series(
    market: str, owner: str, series_id: int, long_amount: int, short_amount: int, underlying_symbol: str,
    details: tuple[Any, ...],
) -> OptionPosition:
    _, _, _, strike, expiry, is_put = details
    return OptionPosition(
        source=f"onchain:{market}", series_id=series_id, owner=owner, underlying=underlying_symbol,
        strike=int(strike), expiry=int(expiry), is_put=bool(is_put), long_amount=long_amount,
        short_amount=short_amount,
    )
