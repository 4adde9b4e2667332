"""Read the treasury back from the chain for the demo: balances, LP NFTs, pool and feed prices.

Plain per-value calls, all pinned to one block. The keeper's own reader batches these
through Multicall3; this one exists so the demo shows what the chain holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from web3 import Web3

from keeper.devnet.manifest import Manifest
from keeper.devnet.world import contract, pool_price_usd

__all__ = ["TreasuryView", "read_treasury", "render_treasury"]


@dataclass(frozen=True)
class LpRow:
    token_id: int
    pool: str
    tick_lower: int
    tick_upper: int
    liquidity: int
    in_range: bool


@dataclass(frozen=True)
class TreasuryView:
    block: int
    timestamp: int
    safe: str
    owners: list[str]
    threshold: int
    balances: dict[str, Decimal]
    lps: list[LpRow]
    pool_prices_usd: dict[str, float]
    feed_prices_usd: dict[str, tuple[float, int]]


def read_treasury(w3: Web3, m: Manifest) -> TreasuryView:
    block = w3.eth.get_block("latest")
    at = block["number"]
    safe = contract(w3, "Safe", m.safe.address)
    balances = {
        sym: Decimal(contract(w3, "WETH9", t.address).functions.balanceOf(m.safe.address).call(block_identifier=at))
        / Decimal(10**t.decimals)
        for sym, t in m.tokens.items()
    }
    npm = contract(w3, "NonfungiblePositionManager", m.uniswap.position_manager)
    pools_by_key = {(p.token0, p.token1, p.fee): p for p in m.pools.values()}
    ticks = {
        name: contract(w3, "UniswapV3Pool", p.address).functions.slot0().call(block_identifier=at)
        for name, p in m.pools.items()
    }
    lps: list[LpRow] = []
    count = npm.functions.balanceOf(m.safe.address).call(block_identifier=at)
    for i in range(count):
        token_id = npm.functions.tokenOfOwnerByIndex(m.safe.address, i).call(block_identifier=at)
        pos = npm.functions.positions(token_id).call(block_identifier=at)
        pool = pools_by_key[(pos[2], pos[3], pos[4])]
        tick = ticks[pool.name][1]
        lps.append(LpRow(token_id, pool.name, pos[5], pos[6], pos[7], pos[5] <= tick < pos[6]))
    prices = {}
    for name, p in m.pools.items():
        base_is_token0 = p.token0 == m.tokens[p.base].address
        prices[name] = pool_price_usd(ticks[name][0], base_is_token0, m.tokens[p.base].decimals, 6)
    feeds = {}
    for asset, f in m.feeds.items():
        rd = contract(w3, "PriceFeed", f.address).functions.latestRoundData().call(block_identifier=at)
        feeds[asset] = (rd[1] / 10**f.decimals, rd[3])
    return TreasuryView(
        block=at, timestamp=block["timestamp"], safe=m.safe.address,
        owners=safe.functions.getOwners().call(block_identifier=at),
        threshold=safe.functions.getThreshold().call(block_identifier=at),
        balances=balances, lps=lps, pool_prices_usd=prices, feed_prices_usd=feeds,
    )


def render_treasury(v: TreasuryView) -> str:
    lines = [
        f"Treasury Safe {v.safe} at block {v.block} (chain time {v.timestamp} s)",
        f"  owners: {v.threshold}-of-{len(v.owners)}: {', '.join(v.owners)}",
        "  token balances:",
    ]
    lines += [f"    {sym:<5} {amount:>22,.6f} {sym}" for sym, amount in v.balances.items()]
    lines.append("  Uniswap v3 LP NFTs:")
    lines.append(f"    {'id':>4}  {'pool':<15} {'tickLower':>10} {'tickUpper':>10} {'liquidity':>26}  range")
    for lp in v.lps:
        state = "in range" if lp.in_range else "out of range"
        lines.append(
            f"    {lp.token_id:>4}  {lp.pool:<15} {lp.tick_lower:>10} {lp.tick_upper:>10} {lp.liquidity:>26}  {state}"
        )
    lines.append("  prices:")
    lines += [f"    pool {name:<15} {usd:>14,.2f} USD" for name, usd in v.pool_prices_usd.items()]
    lines += [
        f"    feed {asset:<15} {usd:>14,.2f} USD  (updatedAt {ts} s, {v.timestamp - ts} s old)"
        for asset, (usd, ts) in v.feed_prices_usd.items()
    ]
    return "\n".join(lines)
