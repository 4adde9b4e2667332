"""The world grows: a real Aave v3 market (``@aave/core-v3`` 1.19.3, unmodified npm bytecode).

The deployer links the Pool's seven logic libraries and the PoolConfigurator's ConfiguratorLogic into
the npm bytecode itself, then builds the market the way Aave's own deploy scripts order it:
PoolAddressesProvider -> ACL admin -> ACLManager -> Pool (proxy) -> PoolConfigurator (proxy) ->
AaveOracle (on the world's Chainlink-style feeds, USD with 8 decimals) -> token implementations
(constructed with the pool *proxy*) -> a rate strategy per reserve -> ``initReserves`` -> risk
parameters (LTV, liquidation threshold, bonus, borrowing on).

A liquidity provider supplies every reserve, and the treasury Safe supplies USDC and WETH and borrows
WETH at the variable rate (owner-signed Safe transactions). Interest accrues as blocks pass.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from keeper.build.artifacts import link, npm_artifact
from keeper.build.manifest import AaveInfo, AaveReserveInfo
from keeper.devnet.world_venues import safe_call
from keeper.errors import DevnetError, InputError
from keeper.node.dev import DevChain

__all__ = [
    "DEFAULT_RESERVES",
    "AaveMarket",
    "ReserveParams",
    "StrategyParams",
    "aave_contract",
    "deploy_aave",
    "grow_aave",
    "treasury_aave",
]

ZERO = "0x0000000000000000000000000000000000000000"
RAY = 10**27
VARIABLE = 2
"""Aave's interest-rate mode for variable-rate debt."""
POOL_LIBRARIES = ("BorrowLogic", "BridgeLogic", "EModeLogic", "LiquidationLogic", "PoolLogic", "SupplyLogic")
"""Linked into the Pool; FlashLoanLogic (which itself links BorrowLogic) is deployed after them."""

Progress = Callable[[str], None]


@dataclass(frozen=True)
class StrategyParams:
    """DefaultReserveInterestRateStrategy's constructor, in fractions (converted to ray)."""

    optimal_usage: float = 0.80
    base_rate: float = 0.0
    slope1: float = 0.04
    slope2: float = 0.75

    def ray_args(self) -> tuple[int, ...]:
        def ray(x: float) -> int:
            return int(Decimal(repr(x)) * RAY)

        # stable slopes and offsets 0: stable-rate borrowing stays off
        return (ray(self.optimal_usage), ray(self.base_rate), ray(self.slope1), ray(self.slope2), 0, 0, 0, 0,
                ray(0.2))


@dataclass(frozen=True)
class ReserveParams:
    """One reserve's risk parameters, in basis points as Aave stores them."""

    ltv_bps: int
    liquidation_threshold_bps: int
    liquidation_bonus_bps: int
    """10,000 + bonus (10,500 = 5 % bonus), as Aave's configurator takes it."""
    reserve_factor_bps: int = 1000
    borrowing: bool = True
    strategy: StrategyParams = field(default_factory=StrategyParams)

    def validate(self, symbol: str) -> None:
        if not 0 <= self.ltv_bps <= self.liquidation_threshold_bps < 10_000:
            raise InputError(f"aave.{symbol}", "need 0 <= ltv <= liquidation threshold < 10,000 bps")
        if self.liquidation_threshold_bps and not self.liquidation_bonus_bps > 10_000:
            raise InputError(f"aave.{symbol}.liquidation_bonus_bps", "must exceed 10,000 (bonus added to 100 %)")


DEFAULT_RESERVES: dict[str, ReserveParams] = {
    "WETH": ReserveParams(8000, 8250, 10500, 1500, strategy=StrategyParams(0.80, 0.0, 0.038, 0.80)),
    "WBTC": ReserveParams(7000, 7500, 10650, 2000, strategy=StrategyParams(0.45, 0.0, 0.04, 3.00)),
    "USDC": ReserveParams(7700, 8000, 10500, 1000, strategy=StrategyParams(0.90, 0.0, 0.04, 0.60)),
}


@dataclass
class AaveMarket:
    """The deployed market: contracts by role and the reserves by symbol."""

    w3: Web3
    chain: DevChain
    provider: Contract
    acl: Contract
    pool: Contract
    configurator: Contract
    oracle: Contract
    reserves: dict[str, AaveReserveInfo]

    def info(self) -> AaveInfo:
        return AaveInfo(
            pool=self.pool.address, addresses_provider=self.provider.address,
            pool_configurator=self.configurator.address, oracle=self.oracle.address, acl_manager=self.acl.address,
            reserves=self.reserves,
        )

    def supply(self, who: ChecksumAddress, tokens: Mapping[str, Contract], amounts: Mapping[str, int]) -> None:
        """``who`` (an unlocked account) supplies raw ``amounts`` by symbol."""
        for sym, raw in amounts.items():
            self.chain.send(tokens[sym].functions.approve(self.pool.address, raw), who)
            self.chain.send(self.pool.functions.supply(tokens[sym].address, raw, who, 0), who)

    def borrow(self, who: ChecksumAddress, tokens: Mapping[str, Contract], amounts: Mapping[str, int]) -> None:
        for sym, raw in amounts.items():
            self.chain.send(self.pool.functions.borrow(tokens[sym].address, raw, VARIABLE, 0, who), who)


def aave_contract(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract for an Aave v3 npm artifact by name (Pool, AaveOracle, AToken, ...)."""
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=npm_artifact(name).abi)


def _check_reserves(reserves: Mapping[str, ReserveParams], tokens: Mapping[str, Contract],
                    feeds: Mapping[str, Contract]) -> None:
    for sym, params in reserves.items():
        if sym not in tokens or sym not in feeds:
            raise InputError("aave.reserves", f"{sym}: no token or feed for it in the world")
        params.validate(sym)


def deploy_aave(
    w3: Web3,
    chain: DevChain,
    *,
    deployer: ChecksumAddress,
    tokens: Mapping[str, Contract],
    decimals: Mapping[str, int],
    feeds: Mapping[str, Contract],
    reserves: Mapping[str, ReserveParams] | None = None,
    market_id: str = "Keeper devnet",
    progress: Progress = print,
) -> AaveMarket:
    """Deploy an Aave v3 market with one reserve per entry of ``reserves`` (token symbol -> params).

    ``feeds`` maps each reserve's symbol to its USD feed (8 decimals, ``latestAnswer``).
    """
    reserves = dict(reserves if reserves is not None else DEFAULT_RESERVES)
    _check_reserves(reserves, tokens, feeds)

    def deploy(name: str, *args: object, libs: Mapping[str, str] | None = None) -> Contract:
        art = npm_artifact(name)
        if art.link_references or libs:
            art = link(art, dict(libs or {}))
        return chain.deploy(art, *args, sender=deployer)

    def tx(c: Contract, fn: str, *args: object) -> None:
        chain.send(getattr(c.functions, fn)(*args), deployer)

    provider = deploy("PoolAddressesProvider", market_id, deployer)
    tx(provider, "setACLAdmin", deployer)  # before the ACLManager: its constructor reads the ACL admin
    acl = deploy("ACLManager", provider.address)
    tx(provider, "setACLManager", acl.address)
    tx(acl, "addPoolAdmin", deployer)
    tx(acl, "addRiskAdmin", deployer)

    libs = {name: deploy(name).address for name in POOL_LIBRARIES}
    libs["FlashLoanLogic"] = deploy("FlashLoanLogic", libs={"BorrowLogic": libs["BorrowLogic"]}).address
    pool_impl = deploy("Pool", provider.address, libs=libs)
    tx(provider, "setPoolImpl", pool_impl.address)  # creates the proxy and initializes it
    pool = aave_contract(w3, "Pool", provider.functions.getPool().call())
    cfg_impl = deploy("PoolConfigurator", libs={"ConfiguratorLogic": deploy("ConfiguratorLogic").address})
    tx(provider, "setPoolConfiguratorImpl", cfg_impl.address)  # after setPoolImpl: it reads the pool
    configurator = aave_contract(w3, "PoolConfigurator", provider.functions.getPoolConfigurator().call())

    symbols = list(reserves)
    oracle = deploy(
        "AaveOracle", provider.address, [tokens[s].address for s in symbols], [feeds[s].address for s in symbols],
        ZERO, ZERO, 10**8,
    )
    tx(provider, "setPriceOracle", oracle.address)

    # Token implementations are bound to the pool proxy (initReserves reverts otherwise).
    a_impl = deploy("AToken", pool.address)
    v_impl = deploy("VariableDebtToken", pool.address)
    s_impl = deploy("StableDebtToken", pool.address)
    strategies: dict[StrategyParams, str] = {}
    for params in reserves.values():
        if params.strategy not in strategies:
            strategies[params.strategy] = deploy(
                "DefaultReserveInterestRateStrategy", provider.address, *params.strategy.ray_args()
            ).address
    inputs = [
        (a_impl.address, s_impl.address, v_impl.address, decimals[s], strategies[reserves[s].strategy],
         tokens[s].address, deployer, ZERO, f"Aave devnet {s}", f"a{s}", f"Aave devnet variable debt {s}",
         f"variableDebt{s}", f"Aave devnet stable debt {s}", f"stableDebt{s}", b"")
        for s in symbols
    ]
    tx(configurator, "initReserves", inputs)
    # After initReserves borrowing is off and LTV / threshold are 0 until the risk admin sets them.
    for s, params in reserves.items():
        asset = tokens[s].address
        tx(configurator, "configureReserveAsCollateral", asset, params.ltv_bps, params.liquidation_threshold_bps,
           params.liquidation_bonus_bps)
        tx(configurator, "setReserveFactor", asset, params.reserve_factor_bps)
        if params.borrowing:
            tx(configurator, "setReserveBorrowing", asset, True)

    out: dict[str, AaveReserveInfo] = {}
    for s in symbols:
        d = pool.functions.getReserveData(tokens[s].address).call()
        out[s] = AaveReserveInfo(
            symbol=s, asset=tokens[s].address, a_token=d[8], stable_debt_token=d[9], variable_debt_token=d[10],
            interest_rate_strategy=d[11],
        )
    progress(f"Aave v3 market at {pool.address} (provider {provider.address}, oracle {oracle.address}): "
             + ", ".join(f"{s} LTV {p.ltv_bps / 100:g} % / LT {p.liquidation_threshold_bps / 100:g} %"
                         for s, p in reserves.items()))
    return AaveMarket(w3=w3, chain=chain, provider=provider, acl=acl, pool=pool, configurator=configurator,
                      oracle=oracle, reserves=out)


def treasury_aave(
    market: AaveMarket,
    *,
    tokens: Mapping[str, Contract],
    decimals: Mapping[str, int],
    liquidity_provider: ChecksumAddress,
    safe: Contract,
    owner_indexes: Sequence[int],
    threshold: int,
    supply: Mapping[str, float],
    borrow: Mapping[str, float],
    lp_supply: Mapping[str, float],
    progress: Progress = print,
) -> None:
    """The liquidity provider supplies every reserve; the Safe supplies ``supply`` and borrows ``borrow``."""

    def raw(sym: str, human: float) -> int:
        return int(Decimal(repr(human)) * 10 ** decimals[sym])

    market.supply(liquidity_provider, tokens, {s: raw(s, a) for s, a in lp_supply.items()})
    owners = list(owner_indexes)
    pool = market.pool
    for sym, human in supply.items():
        amount = raw(sym, human)
        safe_call(market.w3, safe, owners, threshold, tokens[sym], "approve", [pool.address, amount])
        safe_call(market.w3, safe, owners, threshold, pool, "supply", [tokens[sym].address, amount, safe.address, 0])
    for sym, human in borrow.items():
        safe_call(market.w3, safe, owners, threshold, pool, "borrow",
                  [tokens[sym].address, raw(sym, human), VARIABLE, 0, safe.address])
    hf = pool.functions.getUserAccountData(safe.address).call()[5]
    if hf < 10**18:
        raise DevnetError(f"the treasury's Aave health factor is {hf / 1e18:.3f} after its borrows")
    progress("treasury on Aave: supplied " + ", ".join(f"{a:,g} {s}" for s, a in supply.items())
             + "; borrowed " + ", ".join(f"{a:,g} {s}" for s, a in borrow.items())
             + f" (variable); health factor {hf / 1e18:.3f}")


FEED_OF = {"WETH": "ETH", "WBTC": "BTC", "USDC": "USDC"}
"""The world's feeds are named by asset; Aave's reserves by token."""


def grow_aave(
    w3: Web3,
    chain: DevChain,
    *,
    deployer: ChecksumAddress,
    liquidity_provider: ChecksumAddress,
    tokens: Mapping[str, Contract],
    decimals: Mapping[str, int],
    feeds: Mapping[str, Contract],
    safe: Contract,
    owner_indexes: Sequence[int],
    threshold: int,
    progress: Progress = print,
) -> AaveInfo:
    """The devnet world's Aave: WETH, WBTC and USDC reserves; the treasury supplies 40 WETH and
    300,000 USDC and borrows 15 WETH (the market maker supplies the depth)."""
    market = deploy_aave(
        w3, chain, deployer=deployer, tokens=tokens, decimals=decimals,
        feeds={s: feeds[FEED_OF[s]] for s in DEFAULT_RESERVES}, progress=progress,
    )
    treasury_aave(
        market, tokens=tokens, decimals=decimals, liquidity_provider=liquidity_provider, safe=safe,
        owner_indexes=owner_indexes, threshold=threshold,
        supply={"WETH": 40.0, "USDC": 300_000.0}, borrow={"WETH": 15.0},
        lp_supply={"WETH": 2_000.0, "WBTC": 50.0, "USDC": 5_000_000.0}, progress=progress,
    )
    return market.info()
