"""Uniswap UniversalRouter 2.1.0 (v4 swaps) and Permit2 allowances: calldata and decoding.

A v4 swap is one ``execute(commands, inputs, deadline)`` with the single command ``V4_SWAP``
(``0x10``), whose input is ``abi.encode(bytes actions, bytes[] params)`` for v4-periphery's
``V4Router`` (1.0.3 ``Actions``): ``SWAP_EXACT_IN_SINGLE`` (``ExactInputSingleParams``: pool key,
zeroForOne, amountIn, amountOutMinimum, hookData), ``SETTLE_ALL`` (currency in, max amount) and
``TAKE_ALL`` (currency out, min amount). The router pays the PoolManager from the caller: native ETH
(currency ``address(0)``) from ``msg.value``, an ERC-20 through Permit2, which needs two standing
approvals: ``ERC20.approve(Permit2, amount)`` and ``Permit2.approve(token, router, amount, expiration)``.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_abi.abi import decode, encode

from keeper.chain.abi_fast import checksum
from keeper.chain.multicall import Call, selector
from keeper.core.snapshot import V4PoolKey
from keeper.errors import InputError
from keeper.venues.uniswap_v4 import ACTIONS, NATIVE, POOL_KEY_TYPE

__all__ = [
    "EXECUTE",
    "PERMIT2",
    "PERMIT2_ALLOWANCE",
    "PERMIT2_APPROVE",
    "V4_SWAP",
    "V4Swap",
    "decode_v4_swap",
    "permit2_allowance_call",
    "permit2_approve",
    "v4_swap_exact_in",
]

EXECUTE = "execute(bytes,bytes[],uint256)"
V4_SWAP = 0x10
"""``Commands.V4_SWAP`` of UniversalRouter 2.x."""
PERMIT2 = "0x000000000022D473030F116dDEE9F6B43aC78BA3"
"""Permit2's canonical address (every chain)."""
PERMIT2_APPROVE = "approve(address,address,uint160,uint48)"
PERMIT2_ALLOWANCE = "allowance(address,address,address)"
_EXACT_IN_SINGLE = f"({POOL_KEY_TYPE},bool,uint128,uint128,bytes)"
_ACTIONS = ("SWAP_EXACT_IN_SINGLE", "SETTLE_ALL", "TAKE_ALL")


@dataclass(frozen=True)
class V4Swap:
    """One exact-input single-pool v4 swap as the router runs it."""

    key: V4PoolKey
    zero_for_one: bool
    amount_in: int
    min_out: int
    deadline: int

    @property
    def currency_in(self) -> str:
        return self.key.currency0 if self.zero_for_one else self.key.currency1

    @property
    def currency_out(self) -> str:
        return self.key.currency1 if self.zero_for_one else self.key.currency0

    @property
    def value(self) -> int:
        """The ``msg.value`` the swap needs: ``amount_in`` when it sells native ETH, else 0."""
        return self.amount_in if self.currency_in == NATIVE else 0


def _key_tuple(key: V4PoolKey) -> tuple[str, str, int, int, str]:
    return (key.currency0, key.currency1, key.fee, key.tick_spacing, key.hooks)


def v4_swap_exact_in(swap: V4Swap) -> bytes:
    """UniversalRouter calldata: ``V4_SWAP`` of exactly ``amount_in`` for at least ``min_out`` before ``deadline``.

    ``SETTLE_ALL`` pays at most ``amount_in`` of the input currency, ``TAKE_ALL`` takes the whole output
    (at least ``min_out``) to the caller. Send ``swap.value`` with it.
    """
    if not 0 < swap.amount_in < 2**128 or not 0 <= swap.min_out < 2**128:
        raise InputError("amount_in", f"amounts must be uint128 (in {swap.amount_in}, min out {swap.min_out})")
    params = [
        encode([_EXACT_IN_SINGLE], [(_key_tuple(swap.key), swap.zero_for_one, swap.amount_in, swap.min_out, b"")]),
        encode(["address", "uint256"], [swap.currency_in, swap.amount_in]),
        encode(["address", "uint256"], [swap.currency_out, swap.min_out]),
    ]
    actions = bytes(ACTIONS[a] for a in _ACTIONS)
    v4_input = encode(["bytes", "bytes[]"], [actions, params])
    return selector(EXECUTE) + encode(["bytes", "bytes[]", "uint256"], [bytes([V4_SWAP]), [v4_input], swap.deadline])


def decode_v4_swap(data: bytes) -> V4Swap:
    """The swap of :func:`v4_swap_exact_in` calldata; anything else raises :class:`~keeper.errors.InputError`."""
    if data[:4] != selector(EXECUTE):
        raise InputError("data", f"calldata selector 0x{data[:4].hex()} is not {EXECUTE}")
    commands, inputs, deadline = decode(["bytes", "bytes[]", "uint256"], data[4:])
    if bytes(commands) != bytes([V4_SWAP]) or len(inputs) != 1:
        raise InputError("data", f"router commands 0x{bytes(commands).hex()} are not one V4_SWAP")
    actions, params = decode(["bytes", "bytes[]"], inputs[0])
    if bytes(actions) != bytes(ACTIONS[a] for a in _ACTIONS):
        raise InputError("data", f"v4 actions 0x{bytes(actions).hex()} are not "
                                 "SWAP_EXACT_IN_SINGLE, SETTLE_ALL, TAKE_ALL")
    ((c0, c1, fee, spacing, hooks), zero_for_one, amount_in, min_out, _hook), = decode([_EXACT_IN_SINGLE], params[0])
    key = V4PoolKey(checksum(str(c0)), checksum(str(c1)), int(fee), int(spacing), checksum(str(hooks)))
    return V4Swap(key, bool(zero_for_one), int(amount_in), int(min_out), int(deadline))


def permit2_approve(token: str, spender: str, amount: int, expiration: int) -> bytes:
    """Permit2 calldata: let ``spender`` pull up to ``amount`` (uint160) of ``token`` until ``expiration``
    (uint48, unix s)."""
    if not 0 <= amount < 2**160 or not 0 <= expiration < 2**48:
        raise InputError("amount", f"Permit2 amount must be uint160 and expiration uint48 (got {amount}, {expiration})")
    return selector(PERMIT2_APPROVE) + encode(["address", "address", "uint160", "uint48"],
                                              [token, spender, amount, expiration])


def permit2_allowance_call(owner: str, token: str, spender: str, permit2: str = PERMIT2) -> Call:
    """Permit2 ``allowance(owner, token, spender)``: amount (uint160), expiration (uint48), nonce (uint48)."""
    return Call(permit2, PERMIT2_ALLOWANCE, (owner, token, spender), ("uint160", "uint48", "uint48"),
                f"Permit2 allowance of {spender} for {owner} in {token}", 30_000)
