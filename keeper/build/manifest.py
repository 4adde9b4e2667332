"""The deployment manifest: chain id, block and every address of the local world."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict

__all__ = [
    "AaveInfo",
    "AaveReserveInfo",
    "FeedInfo",
    "Manifest",
    "PerpInfo",
    "PoolInfo",
    "SafeInfo",
    "TokenInfo",
    "UniswapInfo",
    "V4Info",
    "V4PoolInfo",
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TokenInfo(_Model):
    symbol: str
    address: str
    decimals: int


class PoolInfo(_Model):
    name: str
    address: str
    token0: str
    token1: str
    fee: int
    tick_spacing: int
    base: str
    """Symbol of the risky asset (WETH or WBTC); the other side is USDC."""


class FeedInfo(_Model):
    asset: str
    address: str
    decimals: int


class UniswapInfo(_Model):
    factory: str
    position_manager: str
    router: str
    quoter: str


class SafeInfo(_Model):
    address: str
    owners: list[str]
    threshold: int
    singleton: str
    proxy_factory: str
    fallback_handler: str
    multisend_call_only: str


class PerpInfo(_Model):
    address: str
    underlying: str
    """Asset symbol (ETH, BTC)."""


class AaveReserveInfo(_Model):
    symbol: str
    asset: str
    a_token: str
    variable_debt_token: str
    stable_debt_token: str
    interest_rate_strategy: str


class AaveInfo(_Model):
    """An Aave v3 market (npm ``@aave/core-v3`` bytecode) and its reserves by token symbol."""

    pool: str
    addresses_provider: str
    pool_configurator: str
    oracle: str
    acl_manager: str
    reserves: dict[str, AaveReserveInfo]
class V4PoolInfo(_Model):
    """A Uniswap v4 pool: its key (currency0 < currency1; the zero address is native ETH) and id."""

    name: str
    pool_id: str
    currency0: str
    currency1: str
    fee: int
    tick_spacing: int
    hooks: str
    base: str
    """Symbol of the risky currency (ETH or WBTC); the other side is USDC."""


class V4Info(_Model):
    """Uniswap v4 in the world: contracts, pools by name, the treasury's positions by role."""

    pool_manager: str
    permit2: str
    position_manager: str
    state_view: str
    quoter: str
    universal_router: str
    pool_swap_test: str
    """v4-core's PoolSwapTest (a swap router with a price limit; the world's history swaps use it)."""
    pools: dict[str, V4PoolInfo]
    position_ids: dict[str, int]
    """Treasury (Safe) v4 position token ids by role: eth_narrow_in_range, eth_out_of_range, ..."""


class Manifest(_Model):
    """Everything a reader, a test or the demo needs to find the world's contracts."""

    chain_id: int
    block_number: int
    block_timestamp: int
    build_key: str
    deployer: str
    market_maker: str
    keeper: str
    actor: str
    owner_indexes: list[int]
    tokens: dict[str, TokenInfo]
    uniswap: UniswapInfo
    pools: dict[str, PoolInfo]
    feeds: dict[str, FeedInfo]
    multicall3: str
    safe: SafeInfo
    lp_token_ids: dict[str, int]
    """Treasury LP NFTs by role: full_range, narrow_in_range, out_of_range, ..."""
    option_markets: list[str] = []
    option_series: dict[str, int] = {}
    """Series ids the treasury holds, by role (covered_call, protective_put, ...)."""
    perp_markets: dict[str, PerpInfo] = {}
    hedge_module: str = ""
    """The treasury's HedgeModule (enabled and configured by the owners at build)."""
    hedge_venue_module: str = ""
    """The treasury's HedgeVenueModule (Uniswap v4 and Aave through the Safe, booking into the HedgeModule's caps
    and budgets; enabled and configured by the owners at build; "" in a world without one)."""
    aave: AaveInfo | None = None
    """The Aave v3 market, where the treasury supplies and borrows (None: a world without one)."""
    v4: V4Info | None = None
    """Uniswap v4 contracts, pools and the treasury's v4 positions (None: a world built without them)."""

    def write(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(self.model_dump_json(indent=2))
        tmp.replace(path)

    @classmethod
    def read(cls, path: Path) -> Manifest:
        return cls.model_validate_json(path.read_text())
