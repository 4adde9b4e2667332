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

__all__ = ["big_book_variant", "build_big_book", "treasury_book_variant"]

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
