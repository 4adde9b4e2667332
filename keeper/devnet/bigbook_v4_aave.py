"""The whole big book: 1,000 Uniswap v3 and 1,000 v4 positions, 200 option series and 10 Aave v3 accounts.

For the ``read_book.v3_v4_aave`` benchmark and its correctness test. The v3 LPs and option series come
from :func:`keeper.devnet.bigbook.build_big_book` and the v4 positions (in the world's native ETH/USDC
and WBTC/USDC pools, some in range, some out) from :func:`keeper.devnet.bigbook.build_big_v4_book`, both
for dev account 8; this adds Aave accounts for that owner and 9 more addresses (impersonated on anvil):
each supplies WETH and USDC and most borrow WETH or USDC at the variable rate, every health factor above 1.

The book's owners are the big owner first, then the Aave-only addresses.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.devnet.bigbook import build_big_book, build_big_v4_book
from keeper.devnet.world import contract
from keeper.devnet.world_aave import VARIABLE, aave_contract
from keeper.errors import DevnetError
from keeper.node.dev import DevChain

__all__ = ["aave_owner", "big_book_v4_aave_variant", "build_aave_accounts"]

Progress = Callable[[str], None]


def aave_owner(i: int) -> ChecksumAddress:
    """The ``i``-th extra Aave account of the big book (a fixed address, impersonated on anvil)."""
    return Web3.to_checksum_address(f"0x{0xAA0E:04x}{i + 1:036x}")


def build_aave_accounts(w3: Web3, m: Manifest, owners: list[str], *, seed: int = 23,
                        progress: Progress = lambda _m: None) -> None:
    """Each of ``owners`` supplies WETH and USDC on the world's Aave; most borrow WETH or USDC."""
    if m.aave is None:
        raise DevnetError("the world was built without Aave v3")
    rng = random.Random(seed)
    dev = DevChain(w3)
    deployer = w3.to_checksum_address(m.deployer)
    pool = aave_contract(w3, "Pool", m.aave.pool)
    usdc = contract(w3, "DevToken", m.tokens["USDC"].address)
    weth = contract(w3, "WETH9", m.tokens["WETH"].address)
    for i, raw in enumerate(owners):
        who = Web3.to_checksum_address(raw)
        dev.rpc("anvil_impersonateAccount", who)
        dev.rpc("anvil_setBalance", who, hex(w3.eth.get_balance(who) + 100 * 10**18))
        eth_in = rng.randint(2, 30) * 10**18
        usd_in = rng.randint(1_000, 50_000) * 10**6
        dev.send(weth.functions.deposit(), who, value=eth_in)
        dev.send(usdc.functions.mint(who, usd_in), deployer)
        for tok, amount in ((weth, eth_in), (usdc, usd_in)):
            dev.send(tok.functions.approve(pool.address, amount), who)
            dev.send(pool.functions.supply(tok.address, amount, who, 0), who)
        if i % 5 != 4:  # 8 of 10 borrow: WETH (short ETH) or USDC (long ETH), at most a third of what they may
            asset, amount = (weth, eth_in // 5) if i % 2 == 0 else (usdc, usd_in // 3)
            dev.send(pool.functions.borrow(asset.address, amount, VARIABLE, 0, who), who)
        hf = int(pool.functions.getUserAccountData(who).call()[5])
        if hf <= 10**18:
            raise DevnetError(f"Aave account {who}: health factor {hf / 1e18:.3f} after its borrow")
    progress(f"  Aave accounts opened: {len(owners)}")


def big_book_v4_aave_variant(w3: Web3, m: Manifest, progress: Progress) -> dict[str, Any]:
    """World-variant builder: the big book of dev account 8 (1,000 v3 LPs, 200 series), 1,000 v4
    positions for it, and 10 Aave accounts (it and 9 more addresses)."""
    owner = build_big_book(w3, m, progress=progress)
    v4_ids = build_big_v4_book(w3, m, progress=progress)
    extra = [aave_owner(i) for i in range(9)]
    build_aave_accounts(w3, m, [owner, *extra], progress=progress)
    return {"owner": owner, "owners": [owner, *extra], "v4_token_ids": v4_ids}
