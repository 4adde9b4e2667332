"""The world grows: an OptionMarket and two PerpMarkets, and the treasury's option and perp book.

The treasury writes covered calls (WETH collateral, through owner-signed Safe transactions),
holds long puts written by the market maker, and holds a short ETH perp with USDC margin.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from keeper.build.artifacts import forge_artifact
from keeper.build.manifest import PerpInfo, V4Info
from keeper.errors import DevnetError
from keeper.node.dev import DevChain, dev_account
from keeper.venues import hedge_venue_module as hv
from keeper.venues.hedge_module import ModuleParams, PerpLimit, PoolAllow, TokenFeed, setup_txs
from keeper.venues.safe import SafeTx, execute_safe_tx

__all__ = [
    "PERP_PARAMS",
    "VENUE_MIN_HEALTH_FACTOR",
    "VenueWorld",
    "deploy_hedge_module",
    "deploy_hedge_venue_module",
    "deploy_venues",
    "safe_call",
    "venue_params",
]

DAY = 86_400
# takerFeeBps, initialMarginBps, maintenanceMarginBps, liquidationRewardBps,
# maxFundingRatePerDay (1e18 = 100 %/day), skewScale (1e18 units), maxFeedAge (s)
PERP_PARAMS = {
    "ETH": (5, 1000, 500, 100, 10**15, 10_000 * 10**18, 3600),
    "BTC": (5, 1000, 500, 100, 10**15, 500 * 10**18, 3600),
}


@dataclass(frozen=True)
class VenueWorld:
    option_market: str
    option_series: dict[str, int]
    perp_markets: dict[str, PerpInfo]


def safe_call(w3: Web3, safe: Contract, owner_indexes: list[int], threshold: int, target: Contract,
              fn: str, args: list[Any]) -> None:
    """Have the Safe call ``target.fn(*args)``, signed by its first ``threshold`` owners."""
    data = bytes.fromhex(target.encode_abi(fn, args)[2:])
    owners = [dev_account(i) for i in owner_indexes[:threshold]]
    execute_safe_tx(w3, safe, SafeTx(to=target.address, value=0, data=data), owners,
                    sender=dev_account(0).address)


def deploy_venues(
    w3: Web3,
    chain: DevChain,
    *,
    deployer: ChecksumAddress,
    market_maker: ChecksumAddress,
    tokens: dict[str, Contract],
    feeds: dict[str, Contract],
    safe: Contract,
    owner_indexes: list[int],
    threshold: int,
    spot: dict[str, float],
    progress: Any,
) -> VenueWorld:
    now = w3.eth.get_block("latest")["timestamp"]
    usdc, weth, wbtc = tokens["USDC"], tokens["WETH"], tokens["WBTC"]

    # ---- options
    market = chain.deploy(forge_artifact("OptionMarket"), usdc.address, deployer, sender=deployer)
    chain.send(market.functions.setUnderlying(weth.address, feeds["ETH"].address, DAY), deployer)
    chain.send(market.functions.setUnderlying(wbtc.address, feeds["BTC"].address, DAY), deployer)
    expiry = (now // DAY + 30) * DAY + 8 * 3600  # 30 days out, 08:00 UTC as on Deribit

    def series(token: Contract, strike_usd: float, is_put: bool) -> int:
        strike = round(strike_usd) * 10**8
        chain.send(market.functions.createSeries(token.address, strike, expiry, is_put), deployer)
        sid: int = market.functions.findSeries(token.address, strike, expiry, is_put).call()
        if sid == 0:
            raise DevnetError("createSeries did not register the series")
        return sid

    eth, btc = spot["ETH"], spot["BTC"]
    ids = {
        "eth_covered_call": series(weth, round(eth * 1.10, -2), False),
        "eth_protective_put": series(weth, round(eth * 0.90, -2), True),
        "btc_protective_put": series(wbtc, round(btc * 0.90, -3), True),
    }
    # The treasury writes 50 ETH of covered calls; the market maker takes the longs.
    call_amount = 50 * 10**18
    safe_call(w3, safe, owner_indexes, threshold, weth, "approve", [market.address, 50 * 10**18])
    safe_call(w3, safe, owner_indexes, threshold, market, "write",
              [ids["eth_covered_call"], call_amount, market_maker])
    # The market maker writes puts to the treasury.
    for tok in (usdc, weth, wbtc):
        chain.send(tok.functions.approve(market.address, 2**256 - 1), market_maker)
    chain.send(market.functions.write(ids["eth_protective_put"], 100 * 10**18, safe.address), market_maker)
    chain.send(market.functions.write(ids["btc_protective_put"], 2 * 10**18, safe.address), market_maker)
    series_text = ", ".join(f"#{sid} {name.replace('_', ' ')}" for name, sid in ids.items())
    progress(f"OptionMarket at {market.address}: series {series_text}, expiring "
             f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(expiry))}")

    # ---- perps
    perps: dict[str, PerpInfo] = {}
    for asset in ("ETH", "BTC"):
        pm = chain.deploy(forge_artifact("PerpMarket"), usdc.address, feeds[asset].address, deployer,
                          PERP_PARAMS[asset], sender=deployer)
        chain.send(usdc.functions.mint(deployer, 20_000_000 * 10**6), deployer)
        chain.send(usdc.functions.approve(pm.address, 2**256 - 1), deployer)
        chain.send(pm.functions.fundPool(20_000_000 * 10**6), deployer)
        perps[asset] = PerpInfo(address=pm.address, underlying=asset)
        # The market maker is long, so shorts receive funding.
        chain.send(usdc.functions.approve(pm.address, 2**256 - 1), market_maker)
        chain.send(pm.functions.depositMargin(2_000_000 * 10**6), market_maker)
        size = 100 * 10**18 if asset == "ETH" else 5 * 10**18
        chain.send(pm.functions.modifyPosition(size, 2**255), market_maker)
    eth_perp = w3.eth.contract(address=Web3.to_checksum_address(perps["ETH"].address),
                               abi=forge_artifact("PerpMarket").abi)
    safe_call(w3, safe, owner_indexes, threshold, usdc, "approve", [eth_perp.address, 100_000 * 10**6])
    safe_call(w3, safe, owner_indexes, threshold, eth_perp, "depositMargin", [100_000 * 10**6])
    safe_call(w3, safe, owner_indexes, threshold, eth_perp, "modifyPosition", [-20 * 10**18, 0])
    markets = ", ".join(f"{asset}-perp at {info.address}" for asset, info in perps.items())
    progress(f"PerpMarkets: {markets}; treasury short 20 ETH-perp with 100,000 USDC margin")
    return VenueWorld(option_market=market.address, option_series=ids, perp_markets=perps)


def deploy_hedge_module(
    w3: Web3,
    chain: DevChain,
    *,
    deployer: ChecksumAddress,
    keeper: str,
    guardian: str,
    safe: Contract,
    owner_indexes: list[int],
    threshold: int,
    router: str,
    factory: str,
    tokens: dict[str, Contract],
    feeds: dict[str, Contract],
    perps: dict[str, PerpInfo],
    progress: Any,
) -> str:
    """Deploy the HedgeModule for the treasury; the owners enable and configure it (signed Safe txs)."""
    module = chain.deploy(forge_artifact("HedgeModule"), safe.address, keeper, guardian, sender=deployer)
    params = ModuleParams(
        keeper=keeper, guardian=guardian, router=router, factory=factory,
        pools=(
            PoolAllow(tokens["WETH"].address, tokens["USDC"].address, 500),
            PoolAllow(tokens["WETH"].address, tokens["USDC"].address, 3000),
            PoolAllow(tokens["WBTC"].address, tokens["USDC"].address, 3000),
        ),
        tokens=(
            TokenFeed(tokens["WETH"].address, feeds["ETH"].address, 3600),
            TokenFeed(tokens["WBTC"].address, feeds["BTC"].address, 3600),
            TokenFeed(tokens["USDC"].address, feeds["USDC"].address, DAY),
        ),
        perps=tuple(
            PerpLimit(info.address, feeds[asset].address, 3600, Decimal(500 if asset == "ETH" else 25))
            for asset, info in perps.items()
        ),
        max_notional_per_trade_usd=Decimal(500_000), max_notional_per_window_usd=Decimal(2_000_000),
        window_s=86_400, max_slippage_bps=100,
        # loss at the oracle: what 100 bps of the daily cap allows per day, five days' worth in total
        loss_budget_window_usd=Decimal(20_000), loss_budget_total_usd=Decimal(100_000),
        twap_s=1800, perp_min_margin_bps=1000,
    )
    owners = [dev_account(i) for i in owner_indexes[:threshold]]
    for tx in setup_txs(safe.address, module.address, params):
        execute_safe_tx(w3, safe, tx, owners, sender=dev_account(0).address)
    if not safe.functions.isModuleEnabled(module.address).call():
        raise DevnetError("HedgeModule is not enabled after the owners' transactions")
    progress(f"HedgeModule at {module.address}: enabled; 500,000 USD per trade, 2,000,000 USD per day, 100 bps; "
             "loss budget 20,000 USD per day, 100,000 USD in total; perps 500 ETH / 25 BTC, 10 % margin")
    return str(module.address)


VENUE_MIN_HEALTH_FACTOR = Decimal("1.5")
"""The minimum health factor the world's owners set on the HedgeVenueModule."""


def venue_params(v4: V4Info, aave_pool: str, reserves: list[str]) -> hv.VenueParams:
    """What the world's owners allow the keeper on v4 and Aave: the world's v4 pools (no hooks), the Aave pool and
    ``reserves`` (asset addresses), a minimum health factor of :data:`VENUE_MIN_HEALTH_FACTOR`."""
    keys = tuple(hv.PoolKey(p.currency0, p.currency1, p.fee, p.tick_spacing, p.hooks) for p in v4.pools.values())
    return hv.VenueParams(universal_router=v4.universal_router, permit2=v4.permit2, pool_keys=keys,
                          aave_pool=aave_pool, reserves=tuple(reserves), min_health_factor=VENUE_MIN_HEALTH_FACTOR)


def deploy_hedge_venue_module(
    w3: Web3,
    chain: DevChain,
    *,
    deployer: ChecksumAddress,
    hedge_module: str,
    weth: str,
    safe: Contract,
    owner_indexes: list[int],
    threshold: int,
    params: hv.VenueParams,
    progress: Any,
) -> str:
    """Deploy the HedgeVenueModule beside the HedgeModule; the owners enable and configure it with the adapter's
    own setup transactions (signed Safe transactions, one each, as for the HedgeModule)."""
    module = chain.deploy(forge_artifact("HedgeVenueModule"), Web3.to_checksum_address(hedge_module),
                          Web3.to_checksum_address(weth), sender=deployer)
    owners = [dev_account(i) for i in owner_indexes[:threshold]]
    for tx in hv.setup_txs(safe.address, module.address, params):
        execute_safe_tx(w3, safe, tx, owners, sender=dev_account(0).address)
    if not safe.functions.isModuleEnabled(module.address).call():
        raise DevnetError("HedgeVenueModule is not enabled after the owners' transactions")
    progress(f"HedgeVenueModule at {module.address}: enabled; {len(params.pool_keys)} v4 pool keys (no hooks), "
             f"Aave reserves {len(params.reserves)}, minimum health factor {params.min_health_factor}; "
             "books into the HedgeModule's caps and loss budgets")
    return str(module.address)
