"""Build the local world: real Uniswap v3, a real Safe 1.4.1 treasury, Multicall3, feeds, history.

Every contract but our own comes from its npm artifact (see :mod:`keeper.build.artifacts`).
The build is deterministic for a given :class:`WorldConfig` (seeded price path).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, getcontext
from fractions import Fraction

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from keeper.build.artifacts import NPM_ARTIFACTS, forge_artifact, multicall3_creation_code, npm_artifact
from keeper.build.manifest import FeedInfo, Manifest, PoolInfo, SafeInfo, TokenInfo, UniswapInfo
from keeper.devnet.world_aave import grow_aave
from keeper.devnet.world_v4 import build_v4_world
from keeper.devnet.world_venues import deploy_hedge_module, deploy_hedge_venue_module, deploy_venues, venue_params
from keeper.errors import DevnetError, InputError
from keeper.node.dev import DevChain, dev_account

__all__ = [
    "MULTICALL3_ADDRESS",
    "WorldConfig",
    "build_world",
    "contract",
    "pool_price_usd",
    "sqrt_price_x96_for_usd",
    "tick_for_usd",
]

MULTICALL3_ADDRESS = Web3.to_checksum_address("0xcA11bde05977b3631167028862bE2a173976CA11")
ZERO = "0x0000000000000000000000000000000000000000"
MIN_TICK, MAX_TICK = -887272, 887272
TICK_SPACING = {500: 10, 3000: 60, 10000: 200}
FAR_DEADLINE = 2**63

Progress = Callable[[str], None]


@dataclass(frozen=True)
class WorldConfig:
    """What the world holds. Account fields are anvil dev-account indexes."""

    owner_indexes: tuple[int, ...] = (2, 3, 4)
    threshold: int = 2
    eth_usd: float = 3000.0
    btc_usd: float = 60000.0
    history_hours: float = 3.0
    history_step_s: int = 180
    annual_vol: float = 0.6
    seed: int = 7
    observation_cardinality: int = 200
    deployer_index: int = 0
    market_maker_index: int = 1
    keeper_index: int = 5
    actor_index: int = 6
    treasury_holdings: dict[str, float] = field(
        default_factory=lambda: {"WETH": 200.0, "USDC": 1_000_000.0, "WBTC": 5.0}
    )

    def validate(self) -> None:
        if not self.owner_indexes:
            raise InputError("owner_indexes", "a Safe needs at least one owner")
        if len(set(self.owner_indexes)) != len(self.owner_indexes):
            raise InputError("owner_indexes", f"duplicate owners in {self.owner_indexes}")
        if not 1 <= self.threshold <= len(self.owner_indexes):
            raise InputError("threshold", f"must be in 1..{len(self.owner_indexes)}, got {self.threshold}")
        roles = {self.deployer_index, self.market_maker_index, self.keeper_index, self.actor_index}
        if roles & set(self.owner_indexes):
            raise InputError("owner_indexes", "owners must differ from deployer, market maker, keeper, actor")
        for name, value in (("eth_usd", self.eth_usd), ("btc_usd", self.btc_usd)):
            if not (math.isfinite(value) and value > 0):
                raise InputError(name, f"must be a positive price in USD, got {value}")


# ---------------------------------------------------------------- price <-> pool units


def _raw_price(usd: float, base_is_token0: bool, base_dec: int, quote_dec: int) -> Fraction:
    """token1 per token0 in raw units for a USD price of the base asset."""
    p = Fraction(Decimal(repr(usd))) * Fraction(10**quote_dec, 10**base_dec)
    return p if base_is_token0 else 1 / p


def sqrt_price_x96_for_usd(usd: float, base_is_token0: bool, base_dec: int, quote_dec: int) -> int:
    """sqrtPriceX96 (floor) for a USD price of the base asset, in exact integer arithmetic."""
    p = _raw_price(usd, base_is_token0, base_dec, quote_dec)
    return math.isqrt(p.numerator * 2**192 // p.denominator)


def tick_for_usd(usd: float, base_is_token0: bool, base_dec: int, quote_dec: int, spacing: int) -> int:
    """The usable tick (a multiple of ``spacing``) nearest a USD price of the base asset."""
    p = _raw_price(usd, base_is_token0, base_dec, quote_dec)
    getcontext().prec = 50
    tick = math.floor(float((Decimal(p.numerator) / Decimal(p.denominator)).ln() / Decimal("1.0001").ln()))
    tick = round(tick / spacing) * spacing
    usable = MAX_TICK // spacing * spacing
    return max(min(tick, usable), -usable)


def pool_price_usd(sqrt_price_x96: int, base_is_token0: bool, base_dec: int, quote_dec: int) -> float:
    """USD price of the base asset from a pool's sqrtPriceX96."""
    p = Fraction(sqrt_price_x96**2, 2**192)  # token1 per token0, raw units
    scale = Fraction(10**base_dec, 10**quote_dec)
    return float(p * scale if base_is_token0 else scale / p)


# ---------------------------------------------------------------- the build


class _Builder:
    def __init__(self, w3: Web3, cfg: WorldConfig, progress: Progress) -> None:
        self.w3 = w3
        self.cfg = cfg
        self.chain = DevChain(w3)
        self.say = progress
        self.deployer = dev_account(cfg.deployer_index).address
        self.mm = dev_account(cfg.market_maker_index).address
        self.actor = dev_account(cfg.actor_index).address
        self.tokens: dict[str, Contract] = {}
        self.decimals: dict[str, int] = {}
        self.pools: dict[str, tuple[Contract, PoolInfo]] = {}
        self.rng = random.Random(cfg.seed)

    # -- tokens -------------------------------------------------------------------------
    def deploy_tokens(self) -> None:
        self.say("tokens: WETH9, USDC (6 decimals), WBTC (8 decimals)")
        # Deployment order fixes the addresses so the pools sort as on mainnet:
        # WBTC < USDC (WBTC is token0) and USDC < WETH (USDC is token0, price inverted).
        dev = forge_artifact("DevToken")
        self.tokens["WBTC"] = self.chain.deploy(dev, "Wrapped BTC (devnet)", "WBTC", 8, sender=self.deployer)
        self.tokens["WETH"] = self.chain.deploy(npm_artifact("WETH9"), sender=self.deployer)
        self.tokens["USDC"] = self.chain.deploy(dev, "USD Coin (devnet)", "USDC", 6, sender=self.deployer)
        self.decimals = {"WETH": 18, "USDC": 6, "WBTC": 8}
        t = {k: int(c.address, 16) for k, c in self.tokens.items()}
        if not (t["WBTC"] < t["USDC"] < t["WETH"]):
            raise DevnetError("token addresses do not sort as on mainnet; the deployer's nonce was not fresh")

    def fund(self, who: str, amounts: dict[str, float]) -> None:
        """Give ``who`` tokens: USDC/WBTC are minted, WETH is wrapped by the deployer and sent."""
        for sym, human in amounts.items():
            raw = int(Decimal(repr(human)) * 10 ** self.decimals[sym])
            if sym == "WETH":
                self.chain.send(self.tokens["WETH"].functions.deposit(), self.deployer, value=raw)
                self.chain.send(self.tokens["WETH"].functions.transfer(who, raw), self.deployer)
            else:
                self.chain.send(self.tokens[sym].functions.mint(who, raw), self.deployer)

    def approve_all(self, who: ChecksumAddress, spender: str) -> None:
        for token in self.tokens.values():
            self.chain.send(token.functions.approve(spender, 2**256 - 1), who)

    # -- uniswap ------------------------------------------------------------------------
    def deploy_uniswap(self) -> None:
        self.say("uniswap v3: factory, NonfungiblePositionManager, SwapRouter, QuoterV2 (npm bytecode)")
        weth = self.tokens["WETH"].address
        self.factory = self.chain.deploy(npm_artifact("UniswapV3Factory"), sender=self.deployer)
        # The token-URI descriptor is never called; any address serves (see TOOLCHAIN.md).
        self.npm = self.chain.deploy(
            npm_artifact("NonfungiblePositionManager"), self.factory.address, weth, self.deployer,
            sender=self.deployer,
        )
        self.router = self.chain.deploy(npm_artifact("SwapRouter"), self.factory.address, weth, sender=self.deployer)
        self.quoter = self.chain.deploy(npm_artifact("QuoterV2"), self.factory.address, weth, sender=self.deployer)

    def create_pool(self, base: str, fee: int, usd: float) -> None:
        quote = "USDC"
        a, b = self.tokens[base].address, self.tokens[quote].address
        token0, token1 = (a, b) if int(a, 16) < int(b, 16) else (b, a)
        base_is_token0 = token0 == a
        self.chain.send(self.factory.functions.createPool(token0, token1, fee), self.deployer)
        address = self.factory.functions.getPool(token0, token1, fee).call()
        pool = self.w3.eth.contract(address=address, abi=npm_artifact("UniswapV3Pool").abi)
        sqrt_p = sqrt_price_x96_for_usd(usd, base_is_token0, self.decimals[base], self.decimals[quote])
        self.chain.send(pool.functions.initialize(sqrt_p), self.deployer)
        name = f"{base}/{quote}-{fee}"
        info = PoolInfo(
            name=name, address=address, token0=token0, token1=token1, fee=fee,
            tick_spacing=TICK_SPACING[fee], base=base,
        )
        self.pools[name] = (pool, info)
        self.say(f"pool {name} at {address}, {usd:,.2f} USD")

    def base_is_token0(self, name: str) -> bool:
        _, info = self.pools[name]
        return info.token0 == self.tokens[info.base].address

    def ticks_for_range(self, name: str, lo_usd: float, hi_usd: float) -> tuple[int, int]:
        _, info = self.pools[name]
        b0 = self.base_is_token0(name)
        d = self.decimals
        t_lo = tick_for_usd(lo_usd, b0, d[info.base], d["USDC"], info.tick_spacing)
        t_hi = tick_for_usd(hi_usd, b0, d[info.base], d["USDC"], info.tick_spacing)
        return (t_lo, t_hi) if t_lo < t_hi else (t_hi, t_lo)

    def full_range(self, name: str) -> tuple[int, int]:
        s = self.pools[name][1].tick_spacing
        return (-(MAX_TICK // s) * s, (MAX_TICK // s) * s)

    def mint_lp(
        self, name: str, ticks: tuple[int, int], base_amount: float, quote_amount: float, recipient: str
    ) -> int:
        _, info = self.pools[name]
        b0 = self.base_is_token0(name)
        base_raw = int(Decimal(repr(base_amount)) * 10 ** self.decimals[info.base])
        quote_raw = int(Decimal(repr(quote_amount)) * 10 ** self.decimals["USDC"])
        a0, a1 = (base_raw, quote_raw) if b0 else (quote_raw, base_raw)
        params = (info.token0, info.token1, info.fee, ticks[0], ticks[1], a0, a1, 0, 0, recipient, FAR_DEADLINE)
        receipt = self.chain.send(self.npm.functions.mint(params), self.mm)
        events = self.npm.events.IncreaseLiquidity().process_receipt(receipt, errors=DISCARD)
        if not events:
            raise DevnetError(f"mint on {name} emitted no IncreaseLiquidity")
        token_id: int = events[0]["args"]["tokenId"]
        return token_id

    # -- price history -------------------------------------------------------------------
    def current_usd(self, name: str) -> float:
        pool, info = self.pools[name]
        sqrt_p = pool.functions.slot0().call()[0]
        return pool_price_usd(sqrt_p, self.base_is_token0(name), self.decimals[info.base], self.decimals["USDC"])

    def move_pool_to(self, name: str, usd: float) -> None:
        """Swap through the real SwapRouter until the pool sits at ``usd`` (price limit = target)."""
        pool, info = self.pools[name]
        b0 = self.base_is_token0(name)
        target = sqrt_price_x96_for_usd(usd, b0, self.decimals[info.base], self.decimals["USDC"])
        current = pool.functions.slot0().call()[0]
        if target == current:
            return
        zero_for_one = target < current  # selling token0 lowers token1-per-token0
        token_in, token_out = (info.token0, info.token1) if zero_for_one else (info.token1, info.token0)
        sym_in = next(s for s, c in self.tokens.items() if c.address == token_in)
        amount_in = self.tokens[sym_in].functions.balanceOf(self.actor).call() // 4
        params = (token_in, token_out, info.fee, self.actor, FAR_DEADLINE, amount_in, 0, target)
        self.chain.send(self.router.functions.exactInputSingle(params), self.actor)

    def swap_history(self) -> None:
        cfg = self.cfg
        steps = int(cfg.history_hours * 3600 / cfg.history_step_s)
        self.say(f"swap history: {steps} steps of {cfg.history_step_s} s ({cfg.history_hours:g} h) on every pool")
        for pool, _ in self.pools.values():
            self.chain.send(pool.functions.increaseObservationCardinalityNext(cfg.observation_cardinality), self.mm)
        sd = cfg.annual_vol * math.sqrt(cfg.history_step_s / (365 * 24 * 3600))
        level = {"WETH": cfg.eth_usd, "WBTC": cfg.btc_usd}
        for step in range(steps):
            self.chain.advance(cfg.history_step_s)
            for base in level:
                level[base] *= math.exp(self.rng.gauss(-0.5 * sd * sd, sd))
            for name, (_, info) in self.pools.items():
                # Small per-pool noise so the two ETH pools differ by less than their fees.
                self.move_pool_to(name, level[info.base] * (1 + self.rng.uniform(-2e-4, 2e-4)))
            if (step + 1) % 20 == 0:
                self.say(f"  history {step + 1}/{steps}: ETH {level['WETH']:,.2f} USD, BTC {level['WBTC']:,.2f} USD")

    # -- feeds, multicall, safe --------------------------------------------------------
    def deploy_feeds(self) -> dict[str, Contract]:
        feeds: dict[str, Contract] = {}
        art = forge_artifact("PriceFeed")
        for asset, desc, usd in (
            ("ETH", "ETH / USD", self.current_usd("WETH/USDC-500")),
            ("BTC", "BTC / USD", self.current_usd("WBTC/USDC-3000")),
            ("USDC", "USDC / USD", 1.0),
        ):
            answer = round(usd * 10**8)
            feeds[asset] = self.chain.deploy(art, 8, desc, answer, sender=self.deployer)
            self.say(f"feed {desc}: {answer / 1e8:,.2f} USD (8 decimals) at {feeds[asset].address}")
        return feeds

    def deploy_multicall3(self) -> None:
        tmp = self.chain.deploy_raw(multicall3_creation_code(), self.deployer, "Multicall3")
        runtime = self.w3.eth.get_code(tmp)
        self.chain.rpc("anvil_setCode", MULTICALL3_ADDRESS, runtime.to_0x_hex())
        self.say(f"Multicall3 at its canonical address {MULTICALL3_ADDRESS}")

    def deploy_safe(self) -> SafeInfo:
        cfg = self.cfg
        singleton = self.chain.deploy(npm_artifact("Safe"), sender=self.deployer)
        proxy_factory = self.chain.deploy(npm_artifact("SafeProxyFactory"), sender=self.deployer)
        handler = self.chain.deploy(npm_artifact("CompatibilityFallbackHandler"), sender=self.deployer)
        multisend = self.chain.deploy(npm_artifact("MultiSendCallOnly"), sender=self.deployer)
        owners: list[str] = [dev_account(i).address for i in cfg.owner_indexes]
        init = singleton.encode_abi(
            "setup", [owners, cfg.threshold, ZERO, b"", handler.address, ZERO, 0, ZERO]
        )
        receipt = self.chain.send(
            proxy_factory.functions.createProxyWithNonce(singleton.address, init, cfg.seed), self.deployer
        )
        created = proxy_factory.events.ProxyCreation().process_receipt(receipt, errors=DISCARD)
        if not created:
            raise DevnetError("SafeProxyFactory emitted no ProxyCreation")
        address = created[0]["args"]["proxy"]
        self.say(f"Safe 1.4.1 treasury at {address}: {cfg.threshold}-of-{len(owners)} owners")
        return SafeInfo(
            address=address, owners=owners, threshold=cfg.threshold, singleton=singleton.address,
            proxy_factory=proxy_factory.address, fallback_handler=handler.address,
            multisend_call_only=multisend.address,
        )

    def treasury_lps(self, safe: str) -> dict[str, int]:
        eth = self.current_usd("WETH/USDC-500")
        btc = self.current_usd("WBTC/USDC-3000")
        ids = {
            "full_range": self.mint_lp("WETH/USDC-3000", self.full_range("WETH/USDC-3000"), 100, 100 * eth, safe),
            "narrow_in_range": self.mint_lp(
                "WETH/USDC-500", self.ticks_for_range("WETH/USDC-500", eth * 0.95, eth * 1.05), 50, 50 * eth, safe
            ),
            "out_of_range": self.mint_lp(
                "WBTC/USDC-3000", self.ticks_for_range("WBTC/USDC-3000", btc * 1.10, btc * 1.25), 2, 2 * btc, safe
            ),
            "btc_in_range": self.mint_lp(
                "WBTC/USDC-3000", self.ticks_for_range("WBTC/USDC-3000", btc * 0.9, btc * 1.1), 1, btc, safe
            ),
        }
        self.say(f"treasury LP NFTs: {ids}")
        return ids


def build_world(w3: Web3, cfg: WorldConfig | None = None, progress: Progress = print) -> Manifest:
    """Deploy the whole world on an empty anvil reachable through ``w3`` and return its manifest."""
    cfg = cfg or WorldConfig()
    cfg.validate()
    b = _Builder(w3, cfg, progress)
    b.deploy_tokens()
    b.deploy_uniswap()
    b.create_pool("WETH", 500, cfg.eth_usd)
    b.create_pool("WETH", 3000, cfg.eth_usd)
    b.create_pool("WBTC", 3000, cfg.btc_usd)

    progress("market maker: deep liquidity on every pool")
    b.fund(b.mm, {"WETH": 20_000, "USDC": 300_000_000, "WBTC": 1_000})  # v3, v4 and Aave liquidity
    b.approve_all(b.mm, b.npm.address)
    for name, (_, info) in b.pools.items():
        usd = cfg.eth_usd if info.base == "WETH" else cfg.btc_usd
        depth = 4_000 if info.base == "WETH" else 200  # base units per position
        b.mint_lp(name, b.full_range(name), depth, depth * usd, b.mm)
        b.mint_lp(name, b.ticks_for_range(name, usd * 0.8, usd * 1.25), depth, depth * usd, b.mm)

    b.fund(b.actor, {"WETH": 5_000, "USDC": 50_000_000, "WBTC": 200})
    b.approve_all(b.actor, b.router.address)
    b.swap_history()

    feeds = b.deploy_feeds()
    b.deploy_multicall3()
    safe = b.deploy_safe()
    b.fund(safe.address, cfg.treasury_holdings)
    lp_ids = b.treasury_lps(safe.address)
    venues = deploy_venues(
        w3, b.chain, deployer=b.deployer, market_maker=b.mm, tokens=b.tokens, feeds=feeds,
        safe=contract(w3, "Safe", safe.address), owner_indexes=list(cfg.owner_indexes), threshold=cfg.threshold,
        spot={"ETH": b.current_usd("WETH/USDC-500"), "BTC": b.current_usd("WBTC/USDC-3000")}, progress=progress,
    )
    module = deploy_hedge_module(
        w3, b.chain, deployer=b.deployer, keeper=dev_account(cfg.keeper_index).address,
        guardian=dev_account(cfg.owner_indexes[0]).address, safe=contract(w3, "Safe", safe.address),
        owner_indexes=list(cfg.owner_indexes), threshold=cfg.threshold, router=b.router.address,
        factory=b.factory.address, tokens=b.tokens,
        feeds=feeds, perps=venues.perp_markets, progress=progress,
    )
    aave = grow_aave(
        w3, b.chain, deployer=b.deployer, liquidity_provider=b.mm, tokens=b.tokens, decimals=b.decimals,
        feeds=feeds, safe=contract(w3, "Safe", safe.address), owner_indexes=cfg.owner_indexes,
        threshold=cfg.threshold, progress=progress,
    )

    v4 = build_v4_world(
        w3, b.chain, liquidity_provider=b.mm, swapper=b.actor, tokens=b.tokens,
        decimals=b.decimals, safe=safe.address, eth_usd=b.current_usd("WETH/USDC-500"),
        btc_usd=b.current_usd("WBTC/USDC-3000"), seed=cfg.seed, progress=progress,
    )

    venue_module = deploy_hedge_venue_module(
        w3, b.chain, deployer=b.deployer, hedge_module=module, weth=b.tokens["WETH"].address,
        safe=contract(w3, "Safe", safe.address), owner_indexes=list(cfg.owner_indexes), threshold=cfg.threshold,
        params=venue_params(v4, aave.pool, [aave.reserves[s].asset for s in ("WETH", "WBTC", "USDC")]),
        progress=progress,
    )

    block = w3.eth.get_block("latest")
    return Manifest(
        chain_id=w3.eth.chain_id,
        block_number=block["number"],
        block_timestamp=block["timestamp"],
        build_key="",
        deployer=b.deployer,
        market_maker=b.mm,
        keeper=dev_account(cfg.keeper_index).address,
        actor=b.actor,
        owner_indexes=list(cfg.owner_indexes),
        tokens={s: TokenInfo(symbol=s, address=c.address, decimals=b.decimals[s]) for s, c in b.tokens.items()},
        uniswap=UniswapInfo(
            factory=b.factory.address, position_manager=b.npm.address, router=b.router.address,
            quoter=b.quoter.address,
        ),
        pools={name: info for name, (_, info) in b.pools.items()},
        feeds={a: FeedInfo(asset=a, address=c.address, decimals=8) for a, c in feeds.items()},
        multicall3=MULTICALL3_ADDRESS,
        safe=safe,
        lp_token_ids=lp_ids,
        option_markets=[venues.option_market],
        option_series=venues.option_series,
        perp_markets=venues.perp_markets,
        hedge_module=module,
        hedge_venue_module=venue_module,
        aave=aave,
        v4=v4,
    )


def contract(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract for an npm or forge artifact by name."""
    art = npm_artifact(name) if name in NPM_ARTIFACTS else forge_artifact(name)
    return w3.eth.contract(address=Web3.to_checksum_address(address), abi=art.abi)
