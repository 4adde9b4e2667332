"""Aave v3 on a second market the reader was not shaped on (test support builds it here):

* its own anvil node, deployer account 8 (the devnet's is 0), another market id, so other addresses;
* token order WETH < WBTC < USDC is whatever the fresh deployer's nonces give (not the devnet's);
* reserve parameters unlike the devnet's (WETH LTV 75 % / LT 80 %, WBTC 65 % / 72 %, USDC 80 % / 85 %,
  other rate curves) and oddly priced feeds (ETH 2,471.13 USD, BTC 43,987.65 USD, USDC 0.9997 USD);
* four EOA owners: two collaterals against USDC debt; a supply-only account (no debt); WBTC against
  WETH *and* USDC debt; a WETH supply switched off as collateral beside a USDC supply and a WBTC debt;
* every action in its own block, with pinned timestamps hours apart, so interest accrues between them.

What must hold: each owner's collateral, debt, average LTV / threshold and health factor equal
``Pool.getUserAccountData`` at the block, every aToken / debt balance equals ``balanceOf``; the book's
ETH delta per owner is its aWETH minus its WETH debt; the liquidation price the scenario grid reports
really is where the chain's health factor crosses 1 (the feed set just above and just below it); and
after 90 days everything still matches.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from web3 import Web3
from web3.contract import Contract

from keeper.build.artifacts import forge_artifact, multicall3_creation_code, npm_artifact
from keeper.chain.rpc import RpcClient
from keeper.core.aave import HF_MAX, AaveAccount
from keeper.core.book import AaveLine, aave_accounts, book_lines, book_risk, line_risk
from keeper.core.portfolio import scenario_grid
from keeper.core.snapshot import Snapshot
from keeper.devnet.world import MULTICALL3_ADDRESS
from keeper.devnet.world_aave import AaveMarket, ReserveParams, StrategyParams, deploy_aave
from keeper.node.anvil import AnvilNode
from keeper.node.dev import DevChain, dev_account
from keeper.read.reader import AssetSource, BookReader, BookSources

pytestmark = pytest.mark.anvil

DEPLOYER, PROVIDER = 8, 9
OWNERS = (1, 2, 3, 4)
DECIMALS = {"WETH": 18, "WBTC": 8, "USDC": 6}
PRICES = {"WETH": Decimal("2471.13"), "WBTC": Decimal("43987.65"), "USDC": Decimal("0.9997")}
RESERVES = {
    "WETH": ReserveParams(7500, 8000, 10750, 1000, strategy=StrategyParams(0.70, 0.01, 0.05, 1.2)),
    "WBTC": ReserveParams(6500, 7200, 11000, 2500, strategy=StrategyParams(0.60, 0.0, 0.07, 2.0)),
    "USDC": ReserveParams(8000, 8500, 10400, 500, strategy=StrategyParams(0.92, 0.0, 0.035, 0.5)),
}
HOUR = 3600


@dataclass
class AaveWorld:
    node: AnvilNode
    w3: Web3
    chain: DevChain
    market: AaveMarket
    tokens: dict[str, Contract]
    feeds: dict[str, Contract]
    npm: str
    factory: str

    @property
    def owners(self) -> tuple[str, ...]:
        return tuple(dev_account(i).address for i in OWNERS)

    def tick(self, seconds: int = 5 * HOUR) -> None:
        """The next block comes ``seconds`` after the last one (pinned, not wall clock)."""
        last = self.w3.eth.get_block("latest")["timestamp"]
        self.chain.rpc("evm_setNextBlockTimestamp", last + seconds)

    def raw(self, sym: str, human: str) -> int:
        return int(Decimal(human) * 10 ** DECIMALS[sym])

    def supply(self, who: int, sym: str, human: str) -> None:
        a = dev_account(who).address
        self.tick()
        self.market.supply(a, self.tokens, {sym: self.raw(sym, human)})

    def borrow(self, who: int, sym: str, human: str) -> None:
        self.tick()
        self.market.borrow(dev_account(who).address, self.tokens, {sym: self.raw(sym, human)})

    def sources(self) -> BookSources:
        return BookSources(
            owners=self.owners, position_manager=self.npm, factory=self.factory,
            quote_token=self.tokens["USDC"].address,
            assets=(AssetSource("ETH", self.tokens["WETH"].address, self.feeds["WETH"].address),
                    AssetSource("BTC", self.tokens["WBTC"].address, self.feeds["WBTC"].address)),
            aave_pools=(self.market.pool.address,),
        )

    def read(self, block: int | None = None) -> Snapshot:
        snap = BookReader(RpcClient.http(self.node.url), self.sources()).read(block=block)
        assert snap.complete, snap.failures
        return snap


def build(node: AnvilNode) -> AaveWorld:
    w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
    chain = DevChain(w3)
    dep = dev_account(DEPLOYER).address
    dev = forge_artifact("DevToken")
    tokens = {
        "WETH": chain.deploy(npm_artifact("WETH9"), sender=dep),
        "WBTC": chain.deploy(dev, "Wrapped BTC (second)", "WBTC", 8, sender=dep),
        "USDC": chain.deploy(dev, "USD Coin (second)", "USDC", 6, sender=dep),
    }
    feeds = {s: chain.deploy(forge_artifact("PriceFeed"), 8, f"{s} / USD", int(p * 10**8), sender=dep)
             for s, p in PRICES.items()}
    factory = chain.deploy(npm_artifact("UniswapV3Factory"), sender=dep)
    npm = chain.deploy(npm_artifact("NonfungiblePositionManager"), factory.address, tokens["WETH"].address, dep,
                       sender=dep)
    tmp = chain.deploy_raw(multicall3_creation_code(), dep, "Multicall3")
    chain.rpc("anvil_setCode", MULTICALL3_ADDRESS, w3.eth.get_code(tmp).to_0x_hex())
    market = deploy_aave(w3, chain, deployer=dep, tokens=tokens, decimals=DECIMALS, feeds=feeds, reserves=RESERVES,
                         market_id="Second market", progress=lambda _: None)
    world = AaveWorld(node, w3, chain, market, tokens, feeds, npm.address, factory.address)
    for who in (*OWNERS, PROVIDER):
        a = dev_account(who).address
        chain.send(tokens["WETH"].functions.deposit(), a, value=200 * 10**18)
        chain.send(tokens["WBTC"].functions.mint(a, 100 * 10**8), dep)
        chain.send(tokens["USDC"].functions.mint(a, 5_000_000 * 10**6), dep)
    for sym, human in (("WETH", "150"), ("WBTC", "60"), ("USDC", "3000000")):
        world.supply(PROVIDER, sym, human)
    world.supply(1, "WETH", "30")
    world.supply(1, "WBTC", "1.5")
    world.borrow(1, "USDC", "61000")
    world.supply(2, "USDC", "250000")  # supply only
    world.supply(3, "WBTC", "2")
    world.borrow(3, "WETH", "10.5")
    world.borrow(3, "USDC", "7000")
    world.supply(4, "WETH", "5")
    world.tick()
    chain.send(market.pool.functions.setUserUseReserveAsCollateral(tokens["WETH"].address, False),
               dev_account(4).address)
    world.supply(4, "USDC", "20000")
    world.borrow(4, "WBTC", "0.2")
    world.tick()
    chain.rpc("evm_mine")
    return world


@pytest.fixture(scope="module")
def aw() -> Iterator[AaveWorld]:
    with AnvilNode() as node:
        yield build(node)


def chain_account(aw: AaveWorld, owner: str, block: int) -> tuple[int, ...]:
    return tuple(aw.market.pool.functions.getUserAccountData(owner).call(block_identifier=block))


def assert_all_match(aw: AaveWorld, snap: Snapshot) -> dict[str, AaveAccount]:
    accounts = {a.owner: a for a in aave_accounts(snap)}
    assert set(accounts) == set(aw.owners)
    for owner, a in accounts.items():
        mine = (a.collateral_base, a.debt_base, a.available_borrows_base, a.liquidation_threshold_bps, a.ltv_bps,
                a.health_factor)
        assert mine == chain_account(aw, owner, snap.block_number), owner
        for sym, r in aw.market.reserves.items():
            for token, mine_raw in ((r.a_token, a.supplied.get(r.asset, 0)),
                                    (r.variable_debt_token, a.variable_debt.get(r.asset, 0))):
                c = aw.w3.eth.contract(address=Web3.to_checksum_address(token), abi=npm_artifact("AToken").abi)
                assert mine_raw == c.functions.balanceOf(owner).call(block_identifier=snap.block_number), (owner, sym)
    return accounts


def test_the_market_is_not_the_devnet_one(aw: AaveWorld) -> None:
    from keeper.devnet.world_aave import DEFAULT_RESERVES

    assert RESERVES["WETH"].ltv_bps != DEFAULT_RESERVES["WETH"].ltv_bps
    assert aw.market.provider.functions.getMarketId().call() == "Second market"
    order = sorted(aw.tokens, key=lambda s: int(aw.tokens[s].address, 16))
    assert order != ["WBTC", "USDC", "WETH"]  # the devnet's order


def test_every_owner_equals_get_user_account_data(aw: AaveWorld) -> None:
    snap = aw.read()
    accounts = assert_all_match(aw, snap)
    o1, o2, o3, o4 = (accounts[dev_account(i).address] for i in OWNERS)
    assert o2.debt_base == 0 and o2.health_factor == HF_MAX and o2.collateral_base > 0
    weth = aw.tokens["WETH"].address
    assert o3.variable_debt[weth] > 0 and len(o3.variable_debt) == 2
    assert o4.supplied[weth] > 5 * 10**18 and weth not in o4.collateral_assets  # held (with interest), not collateral
    assert all(10**18 < a.health_factor < HF_MAX for a in (o1, o3, o4))
    assert snap.round_trips <= 5


def test_eth_delta_per_owner_is_aweth_minus_weth_debt(aw: AaveWorld) -> None:
    snap = aw.read()
    src = aw.sources()
    assets = {a.symbol: a.token for a in src.assets}
    weth = aw.tokens["WETH"].address
    spots = {u: f.price for u, f in snap.feeds.items()}
    lines = [ln for ln in book_lines(snap, assets, src.quote_token, {"ETH": 0.7, "BTC": 0.6})
             if isinstance(ln, AaveLine)]
    accounts = {a.owner: a for a in aave_accounts(snap)}
    for owner in aw.owners:
        eth = [ln for ln in lines if ln.owner == owner and ln.underlying == "ETH"]
        assert sum(ln.supplied - ln.debt for ln in eth) == accounts[owner].net(weth)
        deltas = [line_risk(ln, spots) for ln in eth]
        assert sum(r.delta for r in deltas if r is not None) == pytest.approx(accounts[owner].net(weth) / 1e18,
                                                                              rel=1e-12)
    risk = book_risk(snap, assets, src.quote_token, spots, {"ETH": 0.7, "BTC": 0.6})
    wallet = sum(b for (o, t), b in snap.balances.items() if t == weth)
    expected = (wallet + sum(a.net(weth) for a in accounts.values())) / 1e18
    assert risk.summaries["ETH"].delta == pytest.approx(expected, rel=1e-12)


def test_liquidation_price_is_where_the_chains_health_factor_crosses_one(aw: AaveWorld) -> None:
    snap = aw.read()
    src = aw.sources()
    assets = {a.symbol: a.token for a in src.assets}
    spots = {u: f.price for u, f in snap.feeds.items()}
    risk = book_risk(snap, assets, src.quote_token, spots, {"ETH": 0.7, "BTC": 0.6})
    grids = scenario_grid([p for p in risk.positions if p.underlying in spots], spots, loans=risk.loans)
    owner1 = dev_account(1).address
    [loan] = [ln for ln in risk.loans if ln.owner == owner1]
    liq = grids["ETH"].liquidation_prices[loan.label]
    assert liq is not None and 0 < liq < float(PRICES["WETH"])
    snap_id = aw.chain.rpc("evm_snapshot")
    try:
        for mult, above in ((1.001, True), (0.999, False)):
            aw.chain.send(aw.feeds["WETH"].functions.setAnswer(round(liq * mult * 1e8)), dev_account(DEPLOYER).address)
            hf = aw.market.pool.functions.getUserAccountData(owner1).call()[5]
            assert (hf >= 10**18) is above, (mult, hf)
    finally:
        aw.chain.rpc("evm_revert", snap_id)
    # the BTC grid moves the same account too, and its own liquidation price is below the BTC spot
    btc = grids["BTC"].liquidation_prices[loan.label]
    assert btc is None or btc < float(PRICES["WBTC"])


def test_after_ninety_days_interest_shows_and_still_matches(aw: AaveWorld) -> None:
    before = aw.read()
    snap_id = aw.chain.rpc("evm_snapshot")
    try:
        aw.tick(90 * 86_400)
        aw.chain.rpc("evm_mine")
        after = aw.read()
        b, a = assert_all_match(aw, before), assert_all_match(aw, after)
        weth, usdc = aw.tokens["WETH"].address, aw.tokens["USDC"].address
        o3 = dev_account(3).address
        assert a[o3].variable_debt[weth] > b[o3].variable_debt[weth]
        assert a[o3].health_factor < b[o3].health_factor  # debt grew, collateral (WBTC, no interest here) less
        assert a[dev_account(2).address].supplied[usdc] > b[dev_account(2).address].supplied[usdc]
    finally:
        aw.chain.rpc("evm_revert", snap_id)
