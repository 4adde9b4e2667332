"""The book sources of the local world's treasury, as the keeper's config would state them."""

from __future__ import annotations

from keeper.build.manifest import Manifest
from keeper.read.reader import AssetSource, BookSources, PerpSource, V4Sources

__all__ = ["world_sources"]


def world_sources(m: Manifest, *, twap_window_s: int = 1800) -> BookSources:
    return BookSources(
        owners=(m.safe.address,),
        position_manager=m.uniswap.position_manager,
        factory=m.uniswap.factory,
        quote_token=m.tokens["USDC"].address,
        assets=(
            AssetSource(
                "ETH", m.tokens["WETH"].address, m.feeds["ETH"].address, m.pools["WETH/USDC-500"].address,
                hedge_pools=(m.pools["WETH/USDC-500"].address, m.pools["WETH/USDC-3000"].address),
            ),
            AssetSource(
                "BTC", m.tokens["WBTC"].address, m.feeds["BTC"].address, m.pools["WBTC/USDC-3000"].address,
                hedge_pools=(m.pools["WBTC/USDC-3000"].address,),
            ),
        ),
        option_markets=tuple(m.option_markets),
        perp_markets=tuple(PerpSource(p.address, p.underlying) for p in m.perp_markets.values()),
        twap_window_s=twap_window_s,
        native_asset="ETH",  # as examples/devnet.toml: the Safe's native ETH is ETH exposure
        aave_pools=(m.aave.pool,) if m.aave is not None else (),
        v4=None if m.v4 is None else V4Sources(
            m.v4.position_manager, m.v4.state_view, tuple(sorted(m.v4.position_ids.values())), native_asset="ETH",
        ),
    )
