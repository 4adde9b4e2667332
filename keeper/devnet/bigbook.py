"""A large book for scale tests and the read benchmark: many LP NFTs and option series for one account.

LPs are minted 50 per transaction through the position manager's own ``multicall``.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.devnet.world import contract
from keeper.node.dev import DevChain, dev_account

__all__ = ["big_book_variant", "big_v4_book_variant", "build_big_book", "build_big_v4_book", "treasury_book_variant"]

FAR = 2**63


def build_big_book(
    w3: Web3, m: Manifest, *, n_lp: int = 1000, n_series: int = 200, owner_index: int = 8, seed: int = 11,
    progress: Callable[[str], None] = lambda _m: None, recipient: str | None = None,
) -> ChecksumAddress:
    """Give dev account ``owner_index`` ``n_lp`` LP NFTs and positions in ``n_series`` option series.

    With ``recipient`` (e.g. the treasury Safe), the LP NFTs and option longs go to it instead, and
    every series is written by the market maker (the recipient writes nothing).
    """
    rng = random.Random(seed)
    dev = DevChain(w3)
    minter = dev_account(owner_index).address
    owner = Web3.to_checksum_address(recipient) if recipient else minter
    deployer = w3.to_checksum_address(m.deployer)
    mm = w3.to_checksum_address(m.market_maker)
    usdc = contract(w3, "DevToken", m.tokens["USDC"].address)
    wbtc = contract(w3, "DevToken", m.tokens["WBTC"].address)
    weth = contract(w3, "WETH9", m.tokens["WETH"].address)
    npm = contract(w3, "NonfungiblePositionManager", m.uniswap.position_manager)
    dev.send(usdc.functions.mint(minter, 10**9 * 10**6), deployer)
    dev.send(wbtc.functions.mint(minter, 10**4 * 10**8), deployer)
    dev.send(weth.functions.deposit(), minter, value=50_000 * 10**18)
    for tok in (usdc, wbtc, weth):
        dev.send(tok.functions.approve(npm.address, 2**256 - 1), minter)

    pools = list(m.pools.values())
    calls: list[bytes] = []
    for i in range(n_lp):
        p = pools[i % len(pools)]
        tick = contract(w3, "UniswapV3Pool", p.address).functions.slot0().call()[1] if i < len(pools) else None
        if tick is not None:
            setattr(build_big_book, f"_t{p.fee}{p.base}", tick)
        center = getattr(build_big_book, f"_t{p.fee}{p.base}")
        s = p.tick_spacing
        lo = (center + rng.randint(-3000, 1500)) // s * s
        hi = lo + rng.randint(1, 60) * s
        amount0 = 10**30 if p.token0 != m.tokens["WBTC"].address else 10**10
        amount1 = 10**30
        params = (p.token0, p.token1, p.fee, lo, hi, amount0, amount1, 0, 0, owner, FAR)
        # Small liquidity: cap the desired amounts so each position holds a few dollars.
        small0 = 10**6 if p.token0 == m.tokens["USDC"].address else (10**4 if p.token0 == wbtc.address else 10**15)
        small1 = 10**6 if p.token1 == m.tokens["USDC"].address else 10**15
        params = (p.token0, p.token1, p.fee, lo, hi, min(amount0, small0), min(amount1, small1), 0, 0, owner, FAR)
        calls.append(bytes.fromhex(npm.encode_abi("mint", [params])[2:]))
        if len(calls) == 50 or i == n_lp - 1:
            dev.send(npm.functions.multicall(calls), minter)
            calls = []
            progress(f"  LP NFTs minted: {i + 1}/{n_lp}")

    market = contract(w3, "OptionMarket", m.option_markets[0])
    now = w3.eth.get_block("latest")["timestamp"]
    dev.send(weth.functions.approve(market.address, 2**256 - 1), minter)
    for j in range(n_series):
        is_put = j % 2 == 1
        strike = (2000 + 10 * j) * 10**8
        expiry = (now // 86400 + 7 + j % 60) * 86400 + 8 * 3600
        dev.send(market.functions.createSeries(weth.address, strike, expiry, is_put), deployer)
        sid = market.functions.findSeries(weth.address, strike, expiry, is_put).call()
        if is_put or recipient:
            dev.send(market.functions.write(sid, (j + 1) * 10**16, owner), mm)  # the account is long
        else:
            dev.send(market.functions.write(sid, (j + 1) * 10**16, mm), owner)  # the account is short
        if (j + 1) % 50 == 0:
            progress(f"  option series: {j + 1}/{n_series}")
    return owner


def big_book_variant(w3: Web3, m: Manifest, progress: Callable[[str], None]) -> dict[str, Any]:
    """World-variant builder: the big book for dev account 8 (see :func:`keeper.devnet.state.start_variant`)."""
    owner = build_big_book(w3, m, progress=progress)
    return {"owner": owner}


def treasury_book_variant(w3: Web3, m: Manifest, progress: Callable[[str], None]) -> dict[str, Any]:
    """World-variant builder: 80 more LP NFTs and 20 option longs held by the treasury Safe (100+ positions)."""
    build_big_book(w3, m, n_lp=80, n_series=20, recipient=m.safe.address, progress=progress, seed=5)
    return {"owner": m.safe.address}


def build_big_v4_book(
    w3: Web3, m: Manifest, *, n_lp: int = 1000, owner_index: int = 8, seed: int = 13,
    progress: Callable[[str], None] = lambda _m: None,
) -> list[int]:
    """Give dev account ``owner_index`` ``n_lp`` small Uniswap v4 positions on the world's v4 pools
    (50 ``MINT_POSITION`` actions per ``modifyLiquidities``); returns their token ids."""
    from keeper.core.snapshot import V4PoolKey
    from keeper.devnet.world_v4 import PERMIT2_ADDRESS, liquidity_for_amounts
    from keeper.venues import uniswap_v4 as v4

    if m.v4 is None:
        raise ValueError("the world has no Uniswap v4")
    rng = random.Random(seed)
    dev = DevChain(w3)
    owner = dev_account(owner_index).address
    deployer = w3.to_checksum_address(m.deployer)
    posm = contract(w3, "PositionManager", m.v4.position_manager)
    state = contract(w3, "StateView", m.v4.state_view)
    permit2 = w3.eth.contract(address=PERMIT2_ADDRESS, abi=contract(w3, "IAllowanceTransfer", PERMIT2_ADDRESS).abi)
    for sym, amount in (("USDC", 10**9 * 10**6), ("WBTC", 10**4 * 10**8)):
        tok = contract(w3, "DevToken", m.tokens[sym].address)
        dev.send(tok.functions.mint(owner, amount), deployer)
        dev.send(tok.functions.approve(PERMIT2_ADDRESS, 2**256 - 1), owner)
        dev.send(permit2.functions.approve(tok.address, posm.address, 2**160 - 1, 2**48 - 1), owner)
    pools = list(m.v4.pools.values())
    slot0 = {p.pool_id: state.functions.getSlot0(bytes.fromhex(p.pool_id[2:])).call() for p in pools}
    first = int(posm.functions.nextTokenId().call())
    actions: list[str] = []
    params: list[bytes] = []
    for i in range(n_lp):
        p = pools[i % len(pools)]
        key = V4PoolKey(p.currency0, p.currency1, p.fee, p.tick_spacing, p.hooks)
        sqrt_p, center = int(slot0[p.pool_id][0]), int(slot0[p.pool_id][1])
        s = p.tick_spacing
        lo = (center + rng.randint(-3000, 1500)) // s * s
        hi = lo + rng.randint(1, 60) * s
        # a few dollars each: 0.001 ETH or 1e-5 WBTC against 1-3 USDC
        small0 = 10**15 if p.currency0 == v4.NATIVE else (10**3 if p.base == "WBTC" else 10**6)
        liquidity = liquidity_for_amounts(sqrt_p, lo, hi, small0, 3 * 10**6)
        actions.append("MINT_POSITION")
        params.append(v4.mint_position_params(key, lo, hi, max(liquidity, 1), 2**128 - 1, 2**128 - 1, owner))
        if len(actions) == 50 or i == n_lp - 1:
            currencies = sorted({c for pool in pools for c in (pool.currency0, pool.currency1)})
            actions += ["CLOSE_CURRENCY"] * len(currencies) + ["SWEEP"]
            params += [v4.close_currency_params(c) for c in currencies] + [v4.sweep_params(v4.NATIVE, owner)]
            dev.send(posm.functions.modifyLiquidities(v4.actions_data(actions, params), FAR), owner,
                     value=10**18)
            actions, params = [], []
            progress(f"  v4 positions minted: {i + 1}/{n_lp}")
    return list(range(first, first + n_lp))


def big_v4_book_variant(w3: Web3, m: Manifest, progress: Callable[[str], None]) -> dict[str, Any]:
    """World-variant builder: the big book (1,000 v3 LPs, 200 series) plus 1,000 v4 positions for dev account 8."""
    owner = build_big_book(w3, m, progress=progress)
    ids = build_big_v4_book(w3, m, progress=progress)
    return {"owner": owner, "v4_token_ids": ids}
