"""ERC-20 reads."""

from __future__ import annotations

from eth_abi.abi import encode

from keeper.chain.multicall import Call, selector

__all__ = ["APPROVE", "allowance_call", "approve", "balance_of_call", "decimals_call", "symbol_call"]

APPROVE = "approve(address,uint256)"


def approve(spender: str, amount: int) -> bytes:
    """``approve(spender, amount)`` calldata."""
    return selector(APPROVE) + encode(["address", "uint256"], [spender, amount])


def balance_of_call(token: str, owner: str) -> Call:
    return Call(token, "balanceOf(address)", (owner,), ("uint256",), f"balance of {owner} in {token}", 30_000)


def decimals_call(token: str) -> Call:
    return Call(token, "decimals()", (), ("uint8",), f"decimals of {token}", 10_000)


def symbol_call(token: str) -> Call:
    return Call(token, "symbol()", (), ("string",), f"symbol of {token}", 20_000)


def allowance_call(token: str, owner: str, spender: str) -> Call:
    return Call(token, "allowance(address,address)", (owner, spender), ("uint256",),
                f"allowance of {spender} from {owner} in {token}", 30_000)
