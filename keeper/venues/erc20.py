"""ERC-20 reads."""

from __future__ import annotations

from keeper.chain.multicall import Call

__all__ = ["allowance_call", "balance_of_call", "decimals_call", "symbol_call"]


def balance_of_call(token: str, owner: str) -> Call:
    return Call(token, "balanceOf(address)", (owner,), ("uint256",), f"balance of {owner} in {token}", 30_000)


def decimals_call(token: str) -> Call:
    return Call(token, "decimals()", (), ("uint8",), f"decimals of {token}", 10_000)


def symbol_call(token: str) -> Call:
    return Call(token, "symbol()", (), ("string",), f"symbol of {token}", 20_000)


def allowance_call(token: str, owner: str, spender: str) -> Call:
    return Call(token, "allowance(address,address)", (owner, spender), ("uint256",),
                f"allowance of {spender} from {owner} in {token}", 30_000)
