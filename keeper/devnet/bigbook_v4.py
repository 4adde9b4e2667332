"""The big book grows: 1,000 Uniswap v4 positions and 10 Aave v3 accounts on top of the v3 big book.

For the ``read_book.v3_v4_aave`` benchmark and its correctness test. The v3 LPs and option series come
from :func:`keeper.devnet.bigbook.build_big_book` (dev account 8); this adds, for the same owner:

- ``n_v4`` PositionManager positions in the world's two v4 pools (native ETH/USDC and WBTC/USDC),
  random ranges around the pools' ticks (some in range, some out), minted ``per_tx`` at a time by one
  ``modifyLiquidities`` of many ``MINT_POSITION`` actions settled once (``SETTLE_PAIR``, and a ``SWEEP``
  of the native ETH sent beyond what the positions took);
- Aave accounts for the owner and ``n_aave - 1`` more addresses (impersonated on anvil): each supplies
  WETH and USDC and most borrow WETH or USDC at the variable rate, every health factor above 1.

The book's owners are the big owner first, then the Aave-only addresses.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from keeper.build.artifacts import npm_artifact
from keeper.build.manifest import Manifest
from keeper.core.snapshot import V4PoolKey
from keeper.devnet.bigbook import build_big_book
from keeper.devnet.world import contract
from keeper.devnet.world_aave import VARIABLE, aave_contract
from keeper.devnet.world_v4 import PERMIT2_ADDRESS, liquidity_for_amounts
from keeper.errors import DevnetError
from keeper.node.dev import DevChain, dev_account
from keeper.venues import uniswap_v4 as v4

__all__ = ["aave_owner", "big_book_v4_aave_variant", "build_aave_accounts", "build_v4_book"]

FAR = 2**63
MAX_UINT128 = 2**128 - 1
MAX_UINT160 = 2**160 - 1
MAX_UINT48 = 2**48 - 1

Progress = Callable[[str], None]


def aave_owner(i: int) -> ChecksumAddress:
    """The ``i``-th extra Aave account of the big book (a fixed address, impersonated on anvil)."""
    return Web3.to_checksum_address(f"0x{0xAA0E:04x}{i + 1:036x}")


def build_v4_book(w3: Web3, m: Manifest, owner: str, *, n_v4: int = 1000, per_tx: int = 25, seed: int = 17,
                  progress: Progress = lambda _m: None) -> list[int]:
    """Mint ``n_v4`` small v4 positions for ``owner`` (paid by dev account 8); returns their token ids."""
    if m.v4 is None:
        raise DevnetError("the world was built without Uniswap v4")
    rng = random.Random(seed)
    dev = DevChain(w3)
    payer = dev_account(8).address
    deployer = w3.to_checksum_address(m.deployer)
    dev.rpc("anvil_setBalance", payer, hex(w3.eth.get_balance(payer) + 1_000 * 10**18))
    usdc = contract(w3, "DevToken", m.tokens["USDC"].address)
    wbtc = contract(w3, "DevToken", m.tokens["WBTC"].address)
    dev.send(usdc.functions.mint(payer, 10**8 * 10**6), deployer)
    dev.send(wbtc.functions.mint(payer, 10**3 * 10**8), deployer)
    permit2 = w3.eth.contract(address=PERMIT2_ADDRESS, abi=npm_artifact("IAllowanceTransfer").abi)
    posm = w3.eth.contract(address=Web3.to_checksum_address(m.v4.position_manager),
                           abi=npm_artifact("PositionManager").abi)
    state = contract(w3, "StateView", m.v4.state_view)
    for tok in (usdc, wbtc):
        dev.send(tok.functions.approve(PERMIT2_ADDRESS, 2**256 - 1), payer)
        dev.send(permit2.functions.approve(tok.address, posm.address, MAX_UINT160, MAX_UINT48), payer)

    # Small amounts per position: (base raw, USDC raw) by pool.
    small = {"ETH": (10**15, 3 * 10**6), "WBTC": (10**4, 10 * 10**6)}
    pools = list(m.v4.pools.values())
    first = int(posm.functions.nextTokenId().call())
    minted = 0
    while minted < n_v4:
        info = pools[(minted // per_tx) % len(pools)]
        key = V4PoolKey(info.currency0, info.currency1, info.fee, info.tick_spacing, info.hooks)
        sqrt_p, tick = (int(x) for x in state.functions.getSlot0(bytes.fromhex(info.pool_id[2:])).call()[:2])
        base_raw, quote_raw = small["ETH" if info.base == "ETH" else "WBTC"]
        base_is_0 = info.currency0 != m.tokens["USDC"].address
        a0, a1 = (base_raw, quote_raw) if base_is_0 else (quote_raw, base_raw)
        s = info.tick_spacing
        actions: list[str] = []
        params: list[bytes] = []
        for _ in range(min(per_tx, n_v4 - minted)):
            lo = (tick + rng.randint(-3000, 1500)) // s * s
            hi = lo + rng.randint(1, 60) * s
            liquidity = max(liquidity_for_amounts(sqrt_p, lo, hi, a0, a1), 1_000)
            actions.append("MINT_POSITION")
            params.append(v4.mint_position_params(key, lo, hi, liquidity, MAX_UINT128, MAX_UINT128, owner))
            minted += 1
        actions.append("SETTLE_PAIR")
        params.append(v4.settle_pair_params(key.currency0, key.currency1))
        value = 0
        if key.currency0 == v4.NATIVE:
            actions.append("SWEEP")  # the ETH sent beyond what the positions took comes back
            params.append(v4.sweep_params(v4.NATIVE, payer))
            value = 20 * 10**18
        dev.send(posm.functions.modifyLiquidities(v4.actions_data(actions, params), FAR), payer, value=value)
        if minted % 250 == 0 or minted == n_v4:
            progress(f"  v4 positions minted: {minted}/{n_v4}")
    ids = list(range(first, first + n_v4))
    if posm.functions.ownerOf(ids[-1]).call() != Web3.to_checksum_address(owner):
        raise DevnetError(f"v4 position {ids[-1]} is not owned by {owner}")
    return ids


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
    v4_ids = build_v4_book(w3, m, owner, progress=progress)
    extra = [aave_owner(i) for i in range(9)]
    build_aave_accounts(w3, m, [owner, *extra], progress=progress)
    return {"owner": owner, "owners": [owner, *extra], "v4_token_ids": v4_ids}
