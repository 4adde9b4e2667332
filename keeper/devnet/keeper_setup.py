"""Compose a :class:`~keeper.cycle.runner.Keeper` for the local world's treasury (tests and the demo).

The production composition reads the same pieces from the config file; this one takes them
from the world's manifest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from keeper.build.artifacts import forge_artifact
from keeper.build.manifest import Manifest
from keeper.chain.multicall import Multicall
from keeper.chain.rpc import RpcClient
from keeper.core.costs import VenueConfig
from keeper.core.gates import GateConfig
from keeper.core.inputs import UnderlyingVenues
from keeper.core.policy import PolicyConfig, UnderlyingPolicy
from keeper.core.sizing import HedgeTo, SizingConfig, TriggerConfig
from keeper.core.vol import FixedVol, VolModel
from keeper.cycle.compose import ChainKeeper
from keeper.cycle.runner import Keeper
from keeper.devnet.sources import world_sources
from keeper.execute.execution import ExecutionMode, Executor
from keeper.execute.fees import FeePolicy
from keeper.execute.signer import Signer
from keeper.execute.tx import ErrorDecoder, TxManager
from keeper.journal import Journal
from keeper.node.dev import dev_account
from keeper.read.reader import BookReader

__all__ = ["band_policy", "world_deltas", "world_keeper", "world_venues"]


def band_policy(
    bands: Mapping[str, tuple[float, float]],
    *,
    hedge_to: HedgeTo = "target",
    window_cap_usd: float = 1e9,
    gates: GateConfig | None = None,
) -> PolicyConfig:
    """Fixed no-trade bands for the world's tests and benchmarks: ``{symbol: (target, half-width)}`` in
    underlying units; any other underlying has target 0 and a 1-unit band. 400,000 USD per trade,
    50 bps venue slippage, and ``gates`` (default: 150 bps oracle deviation)."""
    g = gates if gates is not None else GateConfig(max_oracle_deviation_bps=150)

    def one(target: float, band: float) -> UnderlyingPolicy:
        return UnderlyingPolicy(
            target_delta_units=target, trigger=TriggerConfig(trigger="fixed", band_units=band),
            sizing=SizingConfig(hedge_to=hedge_to, max_trade_usd=400_000, window_cap_usd=window_cap_usd),
            venues=VenueConfig(max_slippage_bps=50), gates=g,
        )

    return PolicyConfig(default=one(0.0, 1.0), per_underlying={s: one(t, b) for s, (t, b) in bands.items()})


def world_deltas(url: str, m: Manifest) -> dict[str, float]:
    """The treasury's current net delta per underlying (units), as the keeper computes it (nothing sent)."""
    probe = world_keeper(url, m, Journal.memory(), band_policy({}), live=False)
    risk, _ = probe.plan(probe.reader.read())
    return {s: r.delta for s, r in risk.summaries.items()}


def world_venues(m: Manifest, *, perps: bool = True, swaps: bool = True) -> dict[str, UnderlyingVenues]:
    eth_pools = (m.pools["WETH/USDC-500"].address, m.pools["WETH/USDC-3000"].address) if swaps else ()
    btc_pools = (m.pools["WBTC/USDC-3000"].address,) if swaps else ()
    return {
        "ETH": UnderlyingVenues("ETH", m.tokens["WETH"].address, m.pools["WETH/USDC-500"].address, eth_pools,
                                m.perp_markets["ETH"].address if perps else None),
        "BTC": UnderlyingVenues("BTC", m.tokens["WBTC"].address, m.pools["WBTC/USDC-3000"].address, btc_pools,
                                m.perp_markets["BTC"].address if perps else None),
    }


def world_keeper(
    url: str,
    m: Manifest,
    journal: Journal,
    policy: PolicyConfig,
    *,
    mode: ExecutionMode = "safe-module",
    live: bool = True,
    venues: Mapping[str, UnderlyingVenues] | None = None,
    vols: Mapping[str, VolModel] | None = None,
    max_slippage_bps: int = 50,
    rpc: RpcClient | None = None,
    tx_kwargs: dict[str, Any] | None = None,
    log: Callable[[str], None] = lambda _m: None,
) -> ChainKeeper:
    rpc = rpc or RpcClient.http(url)
    multicall = Multicall(rpc)
    signer = dev_account(5)
    errors = ErrorDecoder([forge_artifact(n).abi for n in ("HedgeModule", "HedgeVenueModule", "PerpMarket",
                                                            "DevToken")])
    tx = TxManager(rpc, signer, m.chain_id, policy=FeePolicy(), errors=errors, poll_s=0.05, **(tx_kwargs or {}))
    account = m.safe.address if mode == "safe-module" else signer.address
    sources = world_sources(m)
    if account != m.safe.address:
        import dataclasses

        sources = dataclasses.replace(sources, owners=(m.safe.address, account))
    executor = Executor(
        mode=mode, account=account, router=m.uniswap.router, module=m.hedge_module,
        tokens={"ETH": m.tokens["WETH"].address, "BTC": m.tokens["WBTC"].address},
        quote_token=m.tokens["USDC"].address, max_slippage_bps=max_slippage_bps,
    )
    return Keeper(
        rpc=rpc, reader=BookReader(rpc, sources, multicall), multicall=multicall, journal=journal, tx=tx,
        executor=executor, policy=policy, venues=venues or world_venues(m),
        vol_models=vols or {"ETH": FixedVol(0.6), "BTC": FixedVol(0.5)}, quote_token=m.tokens["USDC"].address,
        chain_id=m.chain_id, live=live, log=log, record_signer=Signer(signer),
    )
