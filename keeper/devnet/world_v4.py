"""The world grows: Uniswap v4 (PoolManager, Permit2, PositionManager, StateView, V4Quoter, UniversalRouter),
an ETH/USDC pool on native ETH and a WBTC/USDC pool (no hooks), swap history that crosses ticks, and v4 LP
positions owned by the treasury Safe.

Everything is the npm packages' compiled bytecode (``@uniswap/v4-periphery`` 1.0.3's ``foundry-out``,
``@uniswap/universal-router`` 2.1.0); nothing is compiled here.

Permit2 is placed at its canonical address with ``anvil_setCode`` from the runtime code v4-periphery
ships as a test helper's hex literal (:func:`keeper.build.artifacts.permit2_runtime_code`). That code
carries chain id 31337 and a test EIP-712 domain as immutables, so on this chain its
``DOMAIN_SEPARATOR`` is not the one a signer computes and signed permits revert ``InvalidSigner()``.
The world therefore uses plain allowances only (``ERC20.approve(Permit2)``, then
``Permit2.approve(token, spender, amount, expiration)``), which do not involve the domain.

History swaps go through v4-core's ``PoolSwapTest`` (shipped compiled beside the rest): it takes a
price limit, so every step lands each pool exactly on its target price, as the v3 history does.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from eth_typing import ChecksumAddress
from web3 import Web3
from web3.contract import Contract

from keeper.build.artifacts import npm_artifact, permit2_runtime_code
from keeper.build.manifest import V4Info, V4PoolInfo
from keeper.core.snapshot import V4PoolKey
from keeper.core.tick_math import MAX_TICK, Q96, get_sqrt_ratio_at_tick, get_tick_at_sqrt_ratio
from keeper.errors import DevnetError
from keeper.node.dev import DevChain, dev_account
from keeper.venues import uniswap_v4 as v4

__all__ = [
    "PERMIT2_ADDRESS",
    "V4_DEPLOYER_INDEX",
    "V4Core",
    "V4Pools",
    "build_v4_world",
    "deploy_v4",
    "liquidity_for_amounts",
    "sqrt_price_x96_at",
]

PERMIT2_ADDRESS = Web3.to_checksum_address("0x000000000022D473030F116dDEE9F6B43aC78BA3")
ZERO = v4.NATIVE
FAR_DEADLINE = 2**63
MAX_UINT160 = 2**160 - 1
MAX_UINT48 = 2**48 - 1
MIN_SQRT_LIMIT, MAX_SQRT_LIMIT = 4295128740, 1461446703485210103287273052203988822378723970341

V4_DEPLOYER_INDEX = 7
"""The anvil dev account that deploys Uniswap v4 in the devnet world (no other part of the world uses it)."""

Progress = Callable[[str], None]


def sqrt_price_x96_at(usd: float, base_is_0: bool, base_dec: int, quote_dec: int) -> int:
    """sqrtPriceX96 (floor) for a USD price of the base currency, exact integer arithmetic."""
    p = Fraction(Decimal(repr(usd))) * Fraction(10**quote_dec, 10**base_dec)
    if not base_is_0:
        p = 1 / p
    return math.isqrt(p.numerator * 2**192 // p.denominator)


def _usable(tick: int, spacing: int) -> int:
    t = round(tick / spacing) * spacing
    usable = MAX_TICK // spacing * spacing
    return max(min(t, usable), -usable)


def liquidity_for_amounts(sqrt_p: int, tick_lower: int, tick_upper: int, amount0: int, amount1: int) -> int:
    """``LiquidityAmounts.getLiquidityForAmounts`` (rounded down): the most liquidity both amounts pay for."""
    sa, sb = get_sqrt_ratio_at_tick(tick_lower), get_sqrt_ratio_at_tick(tick_upper)

    def from0(lo: int, hi: int) -> int:
        return amount0 * (lo * hi // Q96) // (hi - lo)

    def from1(lo: int, hi: int) -> int:
        return amount1 * Q96 // (hi - lo)

    if sqrt_p <= sa:
        return from0(sa, sb)
    if sqrt_p < sb:
        return min(from0(sqrt_p, sb), from1(sa, sqrt_p))
    return from1(sa, sb)


@dataclass(frozen=True)
class V4Core:
    pool_manager: Contract
    permit2: Contract
    position_manager: Contract
    state_view: Contract
    quoter: Contract
    router: Contract
    swapper: Contract
    """v4-core's PoolSwapTest (swaps with a price limit; the world's history uses it)."""


def deploy_v4(w3: Web3, chain: DevChain, deployer: ChecksumAddress, weth: str,
              v3_factory: str = ZERO) -> V4Core:
    """PoolManager, Permit2 (canonical address), PositionManager, StateView, V4Quoter, UniversalRouter."""
    pm = chain.deploy(npm_artifact("PoolManager"), deployer, sender=deployer)
    if not w3.eth.get_code(PERMIT2_ADDRESS):
        chain.rpc("anvil_setCode", PERMIT2_ADDRESS, permit2_runtime_code())
    permit2 = w3.eth.contract(address=PERMIT2_ADDRESS, abi=npm_artifact("IAllowanceTransfer").abi)
    # The token descriptor is only called by tokenURI, which nothing here calls: any address serves.
    posm = chain.deploy(npm_artifact("PositionManager"), pm.address, PERMIT2_ADDRESS, 300_000, deployer, weth,
                        sender=deployer)
    state_view = chain.deploy(npm_artifact("StateView"), pm.address, sender=deployer)
    quoter = chain.deploy(npm_artifact("V4Quoter"), pm.address, sender=deployer)
    zero32 = b"\x00" * 32
    router = chain.deploy(
        npm_artifact("UniversalRouter"),
        (PERMIT2_ADDRESS, weth, ZERO, v3_factory, zero32, zero32, pm.address, ZERO, posm.address, ZERO),
        sender=deployer,
    )
    swapper = chain.deploy(npm_artifact("PoolSwapTest"), pm.address, sender=deployer)
    return V4Core(pm, permit2, posm, state_view, quoter, router, swapper)


class V4Pools:
    """Pools, positions and swaps on a deployed v4 core, for any set of tokens (the devnet world's or a test's)."""

    def __init__(self, w3: Web3, chain: DevChain, core: V4Core, decimals: Mapping[str, int],
                 symbols: Mapping[str, str], sender: ChecksumAddress) -> None:
        """``decimals`` and ``symbols``: by currency address (the zero address is the native coin);
        ``sender`` initializes the pools."""
        self.w3 = w3
        self.sender = sender
        self.chain = chain
        self.core = core
        self.decimals = {k.lower(): v for k, v in decimals.items()}
        self.symbols = {k.lower(): v for k, v in symbols.items()}
        self.pools: dict[str, V4PoolInfo] = {}

    def _erc20(self, token: str) -> Contract:
        return self.w3.eth.contract(address=Web3.to_checksum_address(token), abi=npm_artifact("WETH9").abi)

    def approve(self, who: ChecksumAddress, tokens: list[str]) -> None:
        """ERC20 -> Permit2 -> PositionManager and UniversalRouter; ERC20 -> the PoolSwapTest."""
        c = self.core
        for token in tokens:
            if token == ZERO:
                continue
            erc = self._erc20(token)
            self.chain.send(erc.functions.approve(PERMIT2_ADDRESS, 2**256 - 1), who)
            self.chain.send(erc.functions.approve(c.swapper.address, 2**256 - 1), who)
            for spender in (c.position_manager.address, c.router.address):
                self.chain.send(c.permit2.functions.approve(token, spender, MAX_UINT160, MAX_UINT48), who)

    def create_pool(self, name: str, base: str, quote: str, fee: int, spacing: int, usd: float,
                    hooks: str = ZERO) -> V4PoolInfo:
        """Initialize the pool of (base, quote) at ``usd`` quote per base (both are currency addresses)."""
        c0, c1 = sorted((base, quote), key=lambda a: int(a, 16))
        key = V4PoolKey(Web3.to_checksum_address(c0), Web3.to_checksum_address(c1), fee, spacing,
                        Web3.to_checksum_address(hooks))
        b0 = c0 == base
        sqrt_p = sqrt_price_x96_at(usd, b0, self.decimals[base.lower()], self.decimals[quote.lower()])
        self.chain.send(self.core.pool_manager.functions.initialize(_key(key), sqrt_p), self.sender)
        info = V4PoolInfo(name=name, pool_id=v4.pool_id(key), currency0=key.currency0, currency1=key.currency1,
                          fee=fee, tick_spacing=spacing, hooks=key.hooks, base=self.symbols[base.lower()])
        self.pools[name] = info
        return info

    @staticmethod
    def key(info: V4PoolInfo) -> V4PoolKey:
        return V4PoolKey(info.currency0, info.currency1, info.fee, info.tick_spacing, info.hooks)

    def base_is_0(self, name: str) -> bool:
        info = self.pools[name]
        return self.symbols[info.currency0.lower()] == info.base

    def slot0(self, name: str) -> tuple[int, int]:
        sqrt_p, tick, _, _ = self.core.state_view.functions.getSlot0(bytes.fromhex(self.pools[name].pool_id[2:])).call()
        return int(sqrt_p), int(tick)

    def _base_quote(self, name: str) -> tuple[str, str]:
        info = self.pools[name]
        return (info.currency0, info.currency1) if self.base_is_0(name) else (info.currency1, info.currency0)

    def price_usd(self, name: str) -> float:
        base, quote = self._base_quote(name)
        p = Fraction(self.slot0(name)[0] ** 2, 2**192) * Fraction(10 ** self.decimals[base.lower()],
                                                                   10 ** self.decimals[quote.lower()])
        return float(p if self.base_is_0(name) else 1 / p)

    def ticks_for(self, name: str, lo_usd: float, hi_usd: float) -> tuple[int, int]:
        info = self.pools[name]
        base, quote = self._base_quote(name)
        b0 = self.base_is_0(name)
        ticks = []
        for usd in (lo_usd, hi_usd):
            sp = sqrt_price_x96_at(usd, b0, self.decimals[base.lower()], self.decimals[quote.lower()])
            ticks.append(_usable(get_tick_at_sqrt_ratio(sp), info.tick_spacing))
        lo, hi = sorted(ticks)
        return lo, hi

    def full_range(self, name: str) -> tuple[int, int]:
        s = self.pools[name].tick_spacing
        return -(MAX_TICK // s) * s, (MAX_TICK // s) * s

    def mint(self, name: str, ticks: tuple[int, int], base_amount: float, quote_amount: float,
             payer: ChecksumAddress, owner: str) -> int:
        """Mint a position for ``owner`` paid by ``payer`` (who approved through Permit2); returns its token id."""
        info = self.pools[name]
        base, quote = self._base_quote(name)
        b_raw = int(Decimal(repr(base_amount)) * 10 ** self.decimals[base.lower()])
        q_raw = int(Decimal(repr(quote_amount)) * 10 ** self.decimals[quote.lower()])
        a0, a1 = (b_raw, q_raw) if self.base_is_0(name) else (q_raw, b_raw)
        liquidity = liquidity_for_amounts(self.slot0(name)[0], ticks[0], ticks[1], a0, a1)
        if liquidity <= 0:
            raise DevnetError(f"v4 mint on {name}: the amounts buy no liquidity in {ticks}")
        max0, max1 = a0 + a0 // 100 + 10, a1 + a1 // 100 + 10
        posm = self.core.position_manager
        token_id = int(posm.functions.nextTokenId().call())
        key = self.key(info)
        actions = ["MINT_POSITION", "SETTLE_PAIR"]
        params = [v4.mint_position_params(key, ticks[0], ticks[1], liquidity, max0, max1, owner),
                  v4.settle_pair_params(key.currency0, key.currency1)]
        value = 0
        if key.currency0 == ZERO:
            actions.append("SWEEP")  # the ETH sent beyond what the position took comes back
            params.append(v4.sweep_params(ZERO, payer))
            value = max0
        data = v4.actions_data(actions, params)
        self.chain.send(posm.functions.modifyLiquidities(data, FAR_DEADLINE), payer, value=value)
        if posm.functions.ownerOf(token_id).call() != Web3.to_checksum_address(owner):
            raise DevnetError(f"v4 mint on {name}: token {token_id} is not owned by {owner}")
        return token_id

    def move_to(self, name: str, usd: float, swapper: ChecksumAddress, budget: Mapping[str, int]) -> None:
        """Swap through the PoolSwapTest until the pool sits at ``usd`` (price limit = target).

        ``budget``: the most of each currency (by address, lower case) one swap may spend.
        """
        info = self.pools[name]
        base, quote = self._base_quote(name)
        target = sqrt_price_x96_at(usd, self.base_is_0(name), self.decimals[base.lower()],
                                   self.decimals[quote.lower()])
        current = self.slot0(name)[0]
        if target == current:
            return
        zero_for_one = target < current
        pay = info.currency0 if zero_for_one else info.currency1
        amount = budget[pay.lower()]
        params = (zero_for_one, -amount, target)
        value = amount if pay == ZERO else 0
        self.chain.send(self.core.swapper.functions.swap(_key(self.key(info)), params, (False, False), b""),
                        swapper, value=value)


def _key(key: V4PoolKey) -> tuple[str, str, int, int, str]:
    return (key.currency0, key.currency1, key.fee, key.tick_spacing, key.hooks)


# ------------------------------------------------------------------------------ the devnet world's v4 part


def build_v4_world(
    w3: Web3,
    chain: DevChain,
    *,
    liquidity_provider: ChecksumAddress,
    swapper: ChecksumAddress,
    tokens: Mapping[str, Contract],
    decimals: Mapping[str, int],
    safe: str,
    eth_usd: float,
    btc_usd: float,
    seed: int,
    progress: Progress,
) -> V4Info:
    """Uniswap v4 for the devnet world: deep liquidity, a tick-crossing history, the Safe's positions.

    The contracts are deployed by their own dev account (:data:`V4_DEPLOYER_INDEX`, fresh nonce), and the
    liquidity provider and swapper pay from their own balances (native ETH topped up with
    ``anvil_setBalance``): the world's deployer sends nothing here, so the v4 addresses and those of
    whatever the world deploys after this do not depend on each other.

    The pools start and end at ``eth_usd`` / ``btc_usd`` (the world's v3 prices, so the feeds agree);
    the history swings them past the treasury's narrow ranges and back, in the same block time.
    """
    deployer = dev_account(V4_DEPLOYER_INDEX).address
    progress("uniswap v4: PoolManager, Permit2 (canonical address), PositionManager, StateView, V4Quoter, "
             "UniversalRouter (npm bytecode)")
    core = deploy_v4(w3, chain, deployer, tokens["WETH"].address)
    usdc, wbtc = tokens["USDC"].address, tokens["WBTC"].address
    dec = {ZERO: 18, usdc: decimals["USDC"], wbtc: decimals["WBTC"]}
    sym = {ZERO: "ETH", usdc: "USDC", wbtc: "WBTC"}
    pools = V4Pools(w3, chain, core, dec, sym, deployer)
    eth_pool = pools.create_pool("ETH/USDC-500", ZERO, usdc, 500, 10, eth_usd)
    btc_pool = pools.create_pool("WBTC/USDC-3000", wbtc, usdc, 3000, 60, btc_usd)
    for info in (eth_pool, btc_pool):
        progress(f"v4 pool {info.name} ({info.pool_id[:10]}...), no hooks")
    for who in (liquidity_provider, swapper):
        chain.rpc("anvil_setBalance", who, hex(w3.eth.get_balance(who) + 2_000 * 10**18))
        pools.approve(who, [usdc, wbtc])

    for name, usd, depth in (("ETH/USDC-500", eth_usd, 600.0), ("WBTC/USDC-3000", btc_usd, 30.0)):
        pools.mint(name, pools.full_range(name), depth, depth * usd, liquidity_provider, liquidity_provider)
        pools.mint(name, pools.ticks_for(name, usd * 0.8, usd * 1.25), depth, depth * usd, liquidity_provider,
                   liquidity_provider)

    ids = {
        "eth_narrow_in_range": pools.mint("ETH/USDC-500", pools.ticks_for("ETH/USDC-500", eth_usd * 0.95,
                                                                          eth_usd * 1.05), 20, 20 * eth_usd,
                                          liquidity_provider, safe),
        "eth_wide_in_range": pools.mint("ETH/USDC-500", pools.ticks_for("ETH/USDC-500", eth_usd * 0.7,
                                                                        eth_usd * 1.4), 10, 10 * eth_usd,
                                        liquidity_provider, safe),
        "eth_out_of_range": pools.mint("ETH/USDC-500", pools.ticks_for("ETH/USDC-500", eth_usd * 1.12,
                                                                       eth_usd * 1.3), 15, 0,
                                       liquidity_provider, safe),
        "btc_in_range": pools.mint("WBTC/USDC-3000", pools.ticks_for("WBTC/USDC-3000", btc_usd * 0.9,
                                                                     btc_usd * 1.1), 1, btc_usd,
                                   liquidity_provider, safe),
    }

    # History: swings past the narrow range's edges (+-7 %) and back, with noise; same block time.
    rng = random.Random(seed + 4)
    budget = {ZERO: 300 * 10**18, usdc.lower(): 1_000_000 * 10 ** decimals["USDC"],
              wbtc.lower(): 15 * 10 ** decimals["WBTC"]}
    swings = (1.07, 0.96, 0.93, 1.03, 1.06, 0.98, 1.0)
    for step, swing in enumerate(swings):
        for name, usd in (("ETH/USDC-500", eth_usd), ("WBTC/USDC-3000", btc_usd)):
            last = step == len(swings) - 1
            pools.move_to(name, usd * (swing if last else swing * (1 + rng.uniform(-0.01, 0.01))), swapper, budget)
    progress(f"v4 history: {len(swings)} swings of both pools through the treasury's ranges; "
             f"ETH {pools.price_usd('ETH/USDC-500'):,.2f} USD, BTC {pools.price_usd('WBTC/USDC-3000'):,.2f} USD")
    progress(f"treasury v4 positions: {ids}")
    return V4Info(
        pool_manager=core.pool_manager.address, permit2=PERMIT2_ADDRESS,
        position_manager=core.position_manager.address, state_view=core.state_view.address,
        quoter=core.quoter.address, universal_router=core.router.address, pool_swap_test=core.swapper.address,
        pools=dict(pools.pools), position_ids=ids,
    )
