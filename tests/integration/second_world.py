"""A second world, built to be unlike the devnet world the keeper grew up on (test support only).

What differs from :mod:`keeper.devnet.world`, on purpose:

* its own anvil node and another deployer (anvil account 7, not 0); no Safe, no HedgeModule, no perps,
  no options: a plain set of LP owners, read by an ``eoa``-mode config;
* token order: WETH < USDC < WBTC, so WETH is token0 of WETH/USDC (the devnet has USDC token0 there)
  and USDC is token0 of USDC/WBTC (the devnet has WBTC token0), chosen by setting the deployer's nonce
  before each token until its address sorts right;
* two WETH/USDC pools (0.05 % at ~3,000 USD, 0.3 % at ~2,800 USD: 7 % apart, no arbitrage) and a
  USDC/WBTC 1 % pool (tick spacing 200);
* LP positions of five owners (four "treasury" accounts and a market maker): full range, narrow, out
  of range on either side, two pairs of adjacent positions whose shared boundary is exactly the pool's
  final price (one reached from above, so the pool's tick is boundary - 1; one from below, tick ==
  boundary), a half-decreased position (principal owed, uncollected), a fully decreased one (liquidity 0,
  everything owed), a collected one that earned fees again afterwards;
* swap history that crosses the narrow ranges, with time passing (the ETH 0.05 % and BTC pools keep
  observations for a TWAP; the 0.3 % ETH pool keeps one);
* Chainlink-style feeds (``contracts/src/PriceFeed.sol``) deployed last, at the pools' final prices;
* Multicall3 at its canonical address, unless ``multicall3=False``.

Everything but the feed and token contracts is the real bytecode from npm.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_typing import ChecksumAddress
from eth_utils.crypto import keccak
from web3 import Web3
from web3.contract import Contract
from web3.logs import DISCARD

from keeper.build.artifacts import forge_artifact, multicall3_creation_code, npm_artifact
from keeper.core.tick_math import get_sqrt_ratio_at_tick
from keeper.devnet.world import (
    MAX_TICK,
    MULTICALL3_ADDRESS,
    TICK_SPACING,
    pool_price_usd,
    sqrt_price_x96_for_usd,
    tick_for_usd,
)
from keeper.node.dev import DevChain, dev_account

__all__ = ["DEPLOYER", "KEEPER", "OWNERS", "SecondWorld", "build_second_world", "write_config"]

DEPLOYER, SWAPPER, MARKET_MAKER, KEEPER = 7, 8, 9, 6
OWNERS = (1, 2, 3, 4)
"""Anvil dev-account indexes of the LP owners the config reads (plus the market maker)."""
FAR = 2**63
U128 = 2**128 - 1
DECIMALS = {"WETH": 18, "USDC": 6, "WBTC": 8}


@dataclass(frozen=True)
class Pool:
    name: str
    address: str
    token0: str
    token1: str
    fee: int
    base: str
    """WETH or WBTC; the other side is USDC."""

    @property
    def spacing(self) -> int:
        return TICK_SPACING[self.fee]


@dataclass
class SecondWorld:
    url: str
    chain_id: int
    tokens: dict[str, str]
    factory: str
    position_manager: str
    router: str
    quoter: str
    pools: dict[str, Pool]
    feeds: dict[str, str]
    multicall3: bool
    owners: tuple[str, ...]
    """Every LP owner (the four accounts and the market maker), in the order the config lists them."""
    positions: dict[str, int] = field(default_factory=dict)
    """A name for each position of interest (``edge_below``...) -> token id."""

    def web3(self) -> Web3:
        return Web3(Web3.HTTPProvider(self.url, request_kwargs={"timeout": 60}))


def _rlp_address_nonce(sender: str, nonce: int) -> bytes:
    """RLP of ``[sender, nonce]`` (what CREATE hashes)."""
    addr = b"\x94" + bytes.fromhex(sender[2:])
    if nonce == 0:
        n = b"\x80"
    elif nonce < 0x80:
        n = bytes([nonce])
    else:
        raw = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        n = bytes([0x80 + len(raw)]) + raw
    payload = addr + n
    return bytes([0xC0 + len(payload)]) + payload


def create_address(sender: str, nonce: int) -> str:
    return Web3.to_checksum_address(keccak(_rlp_address_nonce(sender, nonce))[12:])


class _Build:
    def __init__(self, w3: Web3, seed: int) -> None:
        self.w3 = w3
        self.chain = DevChain(w3)
        self.rng = random.Random(seed)
        self.deployer = dev_account(DEPLOYER).address
        self.swapper = dev_account(SWAPPER).address
        self.mm = dev_account(MARKET_MAKER).address
        self.owners = [dev_account(i).address for i in OWNERS]
        self.tokens: dict[str, Contract] = {}
        self.pools: dict[str, tuple[Contract, Pool]] = {}
        self.positions: dict[str, int] = {}

    # -- tokens, ordered by choosing the deployer's nonce ------------------------------------
    def deploy_after(self, floor: str | None, deploy: Any) -> Contract:
        """Set the deployer's nonce to the first one (from the current) whose CREATE address sorts above ``floor``."""
        nonce = int(self.w3.eth.get_transaction_count(self.deployer))
        if floor is not None:
            while int(create_address(self.deployer, nonce), 16) <= int(floor, 16):
                nonce += 1
            self.chain.rpc("anvil_setNonce", self.deployer, hex(nonce))
        c: Contract = deploy()
        assert c.address == create_address(self.deployer, nonce)
        return c

    def deploy_tokens(self) -> None:
        dev = forge_artifact("DevToken")
        # WETH low enough that two higher addresses are quick to find.
        nonce = int(self.w3.eth.get_transaction_count(self.deployer))
        while int(create_address(self.deployer, nonce), 16) >= 2**156:
            nonce += 1
        self.chain.rpc("anvil_setNonce", self.deployer, hex(nonce))
        self.tokens["WETH"] = self.chain.deploy(npm_artifact("WETH9"), sender=self.deployer)
        self.tokens["USDC"] = self.deploy_after(
            self.tokens["WETH"].address, lambda: self.chain.deploy(dev, "USD Coin (second)", "USDC", 6,
                                                                   sender=self.deployer))
        self.tokens["WBTC"] = self.deploy_after(
            self.tokens["USDC"].address, lambda: self.chain.deploy(dev, "Wrapped BTC (second)", "WBTC", 8,
                                                                   sender=self.deployer))
        a = {s: int(c.address, 16) for s, c in self.tokens.items()}
        assert a["WETH"] < a["USDC"] < a["WBTC"]

    def fund(self, who: ChecksumAddress, weth: int, usdc: int, wbtc: int) -> None:
        """Raw amounts. WETH is wrapped from the account's own ether."""
        self.chain.send(self.tokens["WETH"].functions.deposit(), who, value=weth)
        self.chain.send(self.tokens["USDC"].functions.mint(who, usdc), self.deployer)
        self.chain.send(self.tokens["WBTC"].functions.mint(who, wbtc), self.deployer)

    def approve(self, who: ChecksumAddress, spender: str) -> None:
        for t in self.tokens.values():
            self.chain.send(t.functions.approve(spender, 2**256 - 1), who)

    # -- uniswap --------------------------------------------------------------------------------
    def deploy_uniswap(self) -> None:
        weth = self.tokens["WETH"].address
        self.factory = self.chain.deploy(npm_artifact("UniswapV3Factory"), sender=self.deployer)
        self.npm = self.chain.deploy(npm_artifact("NonfungiblePositionManager"), self.factory.address, weth,
                                     self.deployer, sender=self.deployer)
        self.router = self.chain.deploy(npm_artifact("SwapRouter"), self.factory.address, weth, sender=self.deployer)
        self.quoter = self.chain.deploy(npm_artifact("QuoterV2"), self.factory.address, weth, sender=self.deployer)

    def create_pool(self, name: str, base: str, fee: int, usd: float) -> None:
        a, b = self.tokens[base].address, self.tokens["USDC"].address
        t0, t1 = (a, b) if int(a, 16) < int(b, 16) else (b, a)
        self.chain.send(self.factory.functions.createPool(t0, t1, fee), self.deployer)
        address = self.factory.functions.getPool(t0, t1, fee).call()
        pool = self.w3.eth.contract(address=address, abi=npm_artifact("UniswapV3Pool").abi)
        info = Pool(name, address, t0, t1, fee, base)
        self.chain.send(pool.functions.initialize(self.sqrt_for(info, usd)), self.deployer)
        self.pools[name] = (pool, info)

    def base0(self, p: Pool) -> bool:
        return p.token0 == self.tokens[p.base].address

    def sqrt_for(self, p: Pool, usd: float) -> int:
        return sqrt_price_x96_for_usd(usd, self.base0(p), DECIMALS[p.base], 6)

    def usd(self, name: str) -> float:
        pool, p = self.pools[name]
        return pool_price_usd(pool.functions.slot0().call()[0], self.base0(p), DECIMALS[p.base], 6)

    def tick(self, name: str) -> int:
        t: int = self.pools[name][0].functions.slot0().call()[1]
        return t

    def ticks(self, name: str, lo_usd: float, hi_usd: float) -> tuple[int, int]:
        p = self.pools[name][1]
        a = tick_for_usd(lo_usd, self.base0(p), DECIMALS[p.base], 6, p.spacing)
        b = tick_for_usd(hi_usd, self.base0(p), DECIMALS[p.base], 6, p.spacing)
        return (a, b) if a < b else (b, a)

    def full(self, name: str) -> tuple[int, int]:
        s = self.pools[name][1].spacing
        return (-(MAX_TICK // s) * s, (MAX_TICK // s) * s)

    def mint(self, label: str, name: str, ticks: tuple[int, int], base_units: float, usdc: float,
             owner: ChecksumAddress) -> int:
        p = self.pools[name][1]
        base_raw = int(Decimal(repr(base_units)) * 10 ** DECIMALS[p.base])
        usdc_raw = int(Decimal(repr(usdc)) * 10**6)
        a0, a1 = (base_raw, usdc_raw) if self.base0(p) else (usdc_raw, base_raw)
        params = (p.token0, p.token1, p.fee, ticks[0], ticks[1], a0, a1, 0, 0, owner, FAR)
        receipt = self.chain.send(self.npm.functions.mint(params), owner)
        events = self.npm.events.IncreaseLiquidity().process_receipt(receipt, errors=DISCARD)
        token_id: int = events[0]["args"]["tokenId"]
        self.positions[label] = token_id
        return token_id

    def swap_to_sqrt(self, name: str, target: int) -> None:
        """Swap through the SwapRouter until the pool's sqrt price is exactly ``target``."""
        pool, p = self.pools[name]
        current = pool.functions.slot0().call()[0]
        if current == target:
            return
        zero_for_one = target < current
        t_in, t_out = (p.token0, p.token1) if zero_for_one else (p.token1, p.token0)
        sym = next(s for s, c in self.tokens.items() if c.address == t_in)
        amount = self.tokens[sym].functions.balanceOf(self.swapper).call() // 4
        params = (t_in, t_out, p.fee, self.swapper, FAR, amount, 0, target)
        self.chain.send(self.router.functions.exactInputSingle(params), self.swapper)
        assert pool.functions.slot0().call()[0] == target, f"{name} did not reach its target price"

    def swap_to_usd(self, name: str, usd: float) -> None:
        self.swap_to_sqrt(name, self.sqrt_for(self.pools[name][1], usd))

    def history(self, steps: int, step_s: int, levels: dict[str, float]) -> None:
        """A random walk with a slow swing of +-4 %: narrow ranges are crossed both ways."""
        sd = 0.9 * math.sqrt(step_s / (365 * 86_400))
        eth, btc = levels["ETH"], levels["BTC"]
        for i in range(steps):
            self.chain.advance(step_s)
            eth *= math.exp(self.rng.gauss(0, sd))
            btc *= math.exp(self.rng.gauss(0, sd))
            swing = 1 + 0.04 * math.sin(2 * math.pi * i / 12)
            self.swap_to_usd("WETH/USDC-500", eth * swing)
            self.swap_to_usd("WETH/USDC-3000", eth * swing * 2800 / 3000 * (1 + self.rng.uniform(-3e-3, 3e-3)))
            self.swap_to_usd("USDC/WBTC-10000", btc * (2 - swing))
        levels["ETH"], levels["BTC"] = eth, btc


def build_second_world(w3: Web3, url: str, *, multicall3: bool = True, seed: int = 3) -> SecondWorld:
    """Deploy the second world on an empty anvil (see the module docstring)."""
    b = _Build(w3, seed)
    b.deploy_tokens()
    b.deploy_uniswap()
    b.create_pool("WETH/USDC-500", "WETH", 500, 3000.0)
    b.create_pool("WETH/USDC-3000", "WETH", 3000, 2800.0)
    b.create_pool("USDC/WBTC-10000", "WBTC", 10000, 60000.0)
    for name in ("WETH/USDC-500", "USDC/WBTC-10000"):
        b.chain.send(b.pools[name][0].functions.increaseObservationCardinalityNext(120), b.deployer)

    for who in (b.mm, b.swapper, *b.owners):
        b.fund(who, weth=20_000 * 10**18, usdc=200_000_000 * 10**6, wbtc=1_000 * 10**8)
        b.approve(who, b.npm.address)
        b.approve(who, b.router.address)

    # Depth from the market maker: full range and +-25 % on every pool.
    for name, usd, base in (("WETH/USDC-500", 3000.0, 2_000), ("WETH/USDC-3000", 2800.0, 1_000),
                            ("USDC/WBTC-10000", 60000.0, 60)):
        b.mint(f"mm_full_{name}", name, b.full(name), base, base * usd, b.mm)
        b.mint(f"mm_wide_{name}", name, b.ticks(name, usd * 0.75, usd * 1.25), base, base * usd, b.mm)

    o1, o2, o3, o4 = b.owners
    eth_edge = b.ticks("WETH/USDC-500", 2990.0, 3010.0)[0]   # a boundary near 2,990 USD (ETH is token0)
    btc_edge = b.ticks("USDC/WBTC-10000", 60500.0, 61000.0)[0]  # near 60,500-61,000 USD (USDC is token0)
    b.mint("eth_full", "WETH/USDC-500", b.full("WETH/USDC-500"), 40, 120_000, o1)
    b.mint("eth_narrow", "WETH/USDC-500", b.ticks("WETH/USDC-500", 2940, 3060), 10, 30_000, o1)
    b.mint("eth3000_above", "WETH/USDC-3000", b.ticks("WETH/USDC-3000", 3100, 3400), 15, 0, o1)
    b.mint("eth3000_in", "WETH/USDC-3000", b.ticks("WETH/USDC-3000", 2660, 2940), 20, 56_000, o2)
    b.mint("eth_below", "WETH/USDC-500", b.ticks("WETH/USDC-500", 2500, 2800), 0, 60_000, o2)
    b.mint("eth_edge_below", "WETH/USDC-500", (eth_edge - 60, eth_edge), 5, 15_000, o2)
    b.mint("eth_edge_above", "WETH/USDC-500", (eth_edge, eth_edge + 60), 5, 15_000, o4)
    b.mint("btc_in", "USDC/WBTC-10000", b.ticks("USDC/WBTC-10000", 54000, 66000), 2, 120_000, o3)
    b.mint("btc_below", "USDC/WBTC-10000", b.ticks("USDC/WBTC-10000", 45000, 50000), 0, 90_000, o3)
    b.mint("btc_full", "USDC/WBTC-10000", b.full("USDC/WBTC-10000"), 1, 60_000, o3)
    b.mint("btc_edge_below", "USDC/WBTC-10000", (btc_edge - 200, btc_edge), 0.5, 30_000, o3)
    b.mint("btc_edge_above", "USDC/WBTC-10000", (btc_edge, btc_edge + 200), 0.5, 30_000, o4)
    b.mint("eth_half", "WETH/USDC-500", b.ticks("WETH/USDC-500", 2900, 3100), 8, 24_000, o4)
    b.mint("btc_closed", "USDC/WBTC-10000", b.ticks("USDC/WBTC-10000", 57000, 63000), 1, 60_000, o4)
    b.mint("eth_collected", "WETH/USDC-3000", b.ticks("WETH/USDC-3000", 2500, 3100), 10, 28_000, o4)

    levels = {"ETH": 3000.0, "BTC": 60000.0}
    b.history(steps=24, step_s=300, levels=levels)

    npm = b.npm.functions
    half = npm.positions(b.positions["eth_half"]).call()[7] // 2
    b.chain.send(npm.decreaseLiquidity((b.positions["eth_half"], half, 0, 0, FAR)), o4)
    closed = npm.positions(b.positions["btc_closed"]).call()[7]
    b.chain.send(npm.decreaseLiquidity((b.positions["btc_closed"], closed, 0, 0, FAR)), o4)
    b.chain.send(npm.collect((b.positions["eth_collected"], o4, U128, U128)), o4)
    b.history(steps=12, step_s=300, levels=levels)  # fees accrue again, after the collect

    # The edges: ETH's 0.05 % pool ends exactly at eth_edge, reached from above (its tick is then
    # eth_edge - 1); the BTC pool ends exactly at btc_edge reached from below in raw price (tick == btc_edge).
    eth_pool, btc_pool = b.pools["WETH/USDC-500"][1], b.pools["USDC/WBTC-10000"][1]
    b.swap_to_sqrt("WETH/USDC-500", get_sqrt_ratio_at_tick(eth_edge + 30))
    b.swap_to_sqrt("WETH/USDC-500", get_sqrt_ratio_at_tick(eth_edge))
    b.swap_to_sqrt("USDC/WBTC-10000", get_sqrt_ratio_at_tick(btc_edge - 100))
    b.swap_to_sqrt("USDC/WBTC-10000", get_sqrt_ratio_at_tick(btc_edge))
    assert b.tick("WETH/USDC-500") == eth_edge - 1 and b.tick("USDC/WBTC-10000") == btc_edge
    assert eth_pool.token0 == b.tokens["WETH"].address and btc_pool.token0 == b.tokens["USDC"].address

    keeper = dev_account(KEEPER).address  # eoa mode: the keeper swaps its own funds
    b.fund(keeper, weth=50 * 10**18, usdc=100_000 * 10**6, wbtc=2 * 10**8)
    b.approve(keeper, b.router.address)

    feeds: dict[str, str] = {}
    art = forge_artifact("PriceFeed")
    for asset, desc, usd in (("ETH", "ETH / USD", b.usd("WETH/USDC-500")), ("BTC", "BTC / USD",
                             b.usd("USDC/WBTC-10000")), ("USDC", "USDC / USD", 1.0)):
        feeds[asset] = b.chain.deploy(art, 8, desc, round(usd * 10**8), sender=b.deployer).address
    if multicall3:
        tmp = b.chain.deploy_raw(multicall3_creation_code(), b.deployer, "Multicall3")
        b.chain.rpc("anvil_setCode", MULTICALL3_ADDRESS, w3.eth.get_code(tmp).to_0x_hex())
    return SecondWorld(
        url=url, chain_id=w3.eth.chain_id, tokens={s: c.address for s, c in b.tokens.items()},
        factory=b.factory.address, position_manager=b.npm.address, router=b.router.address,
        quoter=b.quoter.address, pools={n: p for n, (_, p) in b.pools.items()}, feeds=feeds,
        multicall3=multicall3, owners=(*b.owners, b.mm), positions=dict(b.positions),
    )


def keeper_key() -> str:
    """The private key of the config's signer (anvil account 6), for ``KEEPER_PRIVATE_KEY``."""
    return "0x" + bytes(dev_account(KEEPER).key).hex()


def write_config(world: SecondWorld, path: Path) -> Path:
    """A keeper config for the second world: eoa mode, the five LP owners read, no perps, no options."""
    p = world.pools
    # The signer trades its own funds in eoa mode, so its balances are part of the book (the keeper
    # reads them in eoa mode even when unlisted; listed here to say so).
    owners = ",\n    ".join(f'"{o}"' for o in (*world.owners, dev_account(KEEPER).address))
    text = f"""# The keeper's config for tests/integration/second_world.py (written by write_config).
[chain]
rpc_url = "{world.url}"
chain_id = {world.chain_id}
timeout_s = 30

[signer]
key_env = "KEEPER_PRIVATE_KEY"        # anvil account {KEEPER}: trades its own funds in eoa mode

[treasury]
mode = "eoa"
owners = [
    {owners},
]

[uniswap]
factory = "{world.factory}"
position_manager = "{world.position_manager}"
router = "{world.router}"
quoter = "{world.quoter}"

[quote]
token = "{world.tokens['USDC']}"
symbol = "USD"

[[assets]]
symbol = "ETH"
token = "{world.tokens['WETH']}"          # WETH is token0 of both WETH/USDC pools here
feed = "{world.feeds['ETH']}"
oracle_pool = "{p['WETH/USDC-500'].address}"
hedge_pools = ["{p['WETH/USDC-500'].address}", "{p['WETH/USDC-3000'].address}"]

[[assets]]
symbol = "BTC"
token = "{world.tokens['WBTC']}"          # WBTC is token1: USDC/WBTC
feed = "{world.feeds['BTC']}"
oracle_pool = "{p['USDC/WBTC-10000'].address}"
hedge_pools = ["{p['USDC/WBTC-10000'].address}"]

[oracles]
twap_window_s = 600
max_feed_age_s = 3600
max_deviation_bps = 300

[vol]
model = "fixed"
fixed = {{ ETH = 0.7, BTC = 0.55 }}

[policy.default]
target_delta_units = 0
trigger = "fixed"
band_units = 1000000                    # the tests narrow it to make the plan trade
max_trade_usd = 30000
window_cap_usd = 100000
max_slippage_bps = 100
max_impact_bps = 100

[journal]
path = "{path.parent / 'second-journal.sqlite'}"
"""
    path.write_text(text)
    return path
