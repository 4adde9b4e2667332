"""A market actor for the local world: moves pool prices with real swaps and pushes matching feed rounds.

Each :meth:`MarketActor.step` advances chain time, draws a seeded log-return per asset, swaps every
pool of that asset to the new price through the real SwapRouter, and publishes the new price on
the asset's feed (as Chainlink would after a deviation), so the keeper sees consistent prices.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.devnet.world import contract, pool_price_usd, sqrt_price_x96_for_usd
from keeper.node.dev import DevChain

__all__ = ["MarketActor"]

FAR = 2**63
FEED_OF = {"WETH": "ETH", "WBTC": "BTC"}


@dataclass
class MarketActor:
    w3: Web3
    manifest: Manifest
    seed: int = 3
    annual_vol: float = 0.8
    step_s: int = 3600
    drift_per_step: dict[str, float] = field(default_factory=dict)
    """Optional deterministic log-drift per step by asset symbol (``{"ETH": -0.01}``)."""

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.dev = DevChain(self.w3)
        m = self.manifest
        self.actor = Web3.to_checksum_address(m.actor)
        self.deployer = Web3.to_checksum_address(m.deployer)
        self.router = contract(self.w3, "SwapRouter", m.uniswap.router)
        # Plenty of inventory so any move can be made.
        for sym, amount in (("USDC", 10**16), ("WBTC", 10**13)):
            self.dev.send(contract(self.w3, "DevToken", m.tokens[sym].address).functions.mint(self.actor, amount),
                          self.deployer)
        self.dev.send(contract(self.w3, "WETH9", m.tokens["WETH"].address).functions.deposit(), self.actor,
                      value=300_000 * 10**18)

    def price(self, base: str) -> float:
        p = self.manifest.pools["WETH/USDC-500" if base == "WETH" else "WBTC/USDC-3000"]
        sqrt_p = contract(self.w3, "UniswapV3Pool", p.address).functions.slot0().call()[0]
        return pool_price_usd(sqrt_p, p.token0 == self.manifest.tokens[base].address,
                              self.manifest.tokens[base].decimals, 6)

    def move_to(self, base: str, usd: float) -> None:
        """Swap every pool of ``base`` to ``usd`` and publish ``usd`` on its feed."""
        m = self.manifest
        for p in m.pools.values():
            if p.base != base:
                continue
            b0 = p.token0 == m.tokens[base].address
            target = sqrt_price_x96_for_usd(usd, b0, m.tokens[base].decimals, 6)
            cur = contract(self.w3, "UniswapV3Pool", p.address).functions.slot0().call()[0]
            if cur == target:
                continue
            zero_for_one = target < cur
            t_in, t_out = (p.token0, p.token1) if zero_for_one else (p.token1, p.token0)
            # The price limit stops the swap at the target; the router pulls only what that takes.
            budget = {m.tokens["USDC"].address: 10**15, m.tokens["WBTC"].address: 10**12}.get(t_in, 10**23)
            self.dev.send(self.router.functions.exactInputSingle(
                (t_in, t_out, p.fee, self.actor, FAR, budget, 0, target)), self.actor)
        feed = contract(self.w3, "PriceFeed", m.feeds[FEED_OF[base]].address)
        self.dev.send(feed.functions.setAnswer(round(usd * 1e8)), self.deployer)

    def step(self, substeps: int = 1) -> dict[str, float]:
        """Advance ``step_s`` of chain time and move every asset; returns the new USD prices.

        With ``substeps`` > 1 the move is made in that many smaller moves spread over the step, as a
        market trades through the day, so the pools' TWAPs follow spot instead of lagging a jump.
        """
        dt = self.step_s / substeps
        sd = self.annual_vol * math.sqrt(dt / (365 * 24 * 3600))
        out: dict[str, float] = {}
        for _ in range(substeps):
            self.dev.advance(int(dt))
            for base, asset in FEED_OF.items():
                drift = self.drift_per_step.get(asset, 0.0) / substeps
                usd = self.price(base) * math.exp(self.rng.gauss(-0.5 * sd * sd, sd) + drift)
                self.move_to(base, usd)
                out[asset] = usd
            # Keep the USD feed fresh too (it is a 1.00 stable feed).
            usdc_feed = contract(self.w3, "PriceFeed", self.manifest.feeds["USDC"].address)
            self.dev.send(usdc_feed.functions.setAnswer(10**8), self.deployer)
        return out
