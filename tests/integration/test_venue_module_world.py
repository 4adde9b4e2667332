"""The HedgeVenueModule the world deploys, driven by the keeper key against the REAL Aave v3 Pool (npm 1.19.3) and
the real Uniswap v4 PoolManager / UniversalRouter / Permit2 of the world, through keeper/execute/venue_module.py.

Every figure is compared with the chain's own answers at the receipt's block: the loss the HedgeModule booked with
the Safe's value change at the feeds (to the wei, the module's rounding mirrored), Aave's scaled debt with
rayDiv(amount, index), the health factor with getUserAccountData. The stolen-key tests mine the attack (an explicit
gas limit skips the preflight) and check the named error and that nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from web3 import Web3
from web3.contract import Contract

from keeper.build.artifacts import forge_artifact
from keeper.build.manifest import Manifest
from keeper.chain.multicall import Multicall
from keeper.chain.rpc import RpcClient
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.devnet.world_aave import aave_contract
from keeper.devnet.world_venues import VENUE_MIN_HEALTH_FACTOR
from keeper.execute.tx import TxManager, TxRequest, TxRevertedError
from keeper.execute.venue_module import (
    NATIVE,
    VenueExecutor,
    VenueFill,
    VenueHedge,
    send_venue_hedge,
    venue_error_decoder,
)
from keeper.node.dev import DevChain, dev_account
from keeper.venues import hedge_module as hm
from keeper.venues import hedge_venue_module as hv
from keeper.venues.safe import SafeTx, execute_safe_tx

pytestmark = pytest.mark.anvil

KEEPER = dev_account(5)
RAY = 10**27
WAD = 10**18


@dataclass
class Ctx:
    w3: Web3
    m: Manifest
    tx: TxManager
    ex: VenueExecutor
    mc: Multicall
    venue: Contract
    module: Contract
    pool: Contract
    safe: str

    def key(self, name: str) -> hv.PoolKey:
        assert self.m.v4 is not None
        p = self.m.v4.pools[name]
        return hv.PoolKey(p.currency0, p.currency1, p.fee, p.tick_spacing, p.hooks)

    @property
    def usdc(self) -> str:
        return self.m.tokens["USDC"].address

    @property
    def weth(self) -> str:
        return self.m.tokens["WETH"].address

    def deadline(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"]) + 600

    def min_out(self, key: hv.PoolKey, zero_for_one: bool, amount: int) -> int:
        """The least output the module accepts (its feeds less its slippage bound)."""
        return int(self.venue.functions.quoteV4Swap(key.as_tuple(), zero_for_one, amount).call()[2])

    def hedge(self, h: VenueHedge) -> VenueFill:
        prepared = self.ex.prepare(h, self.deadline())
        mined = send_venue_hedge(self.tx, prepared)
        return self.ex.verify(prepared, mined, self.mc)

    def owners(self, to: str, data: bytes) -> None:
        safe = contract(self.w3, "Safe", self.safe)
        signers = [dev_account(i) for i in self.m.owner_indexes[:self.m.safe.threshold]]
        execute_safe_tx(self.w3, safe, SafeTx(Web3.to_checksum_address(to), 0, data), signers, dev_account(0).address)

    def debt_token(self, asset: str) -> Contract:
        d = self.pool.functions.getReserveData(asset).call()
        return aave_contract(self.w3, "VariableDebtToken", d[10])


@pytest.fixture
def ctx(chain: Web3, world: World, manifest: Manifest) -> Iterator[Ctx]:
    m = manifest
    assert m.hedge_venue_module and m.aave is not None and m.v4 is not None
    rpc = RpcClient.http(world.url)
    tx = TxManager(rpc, KEEPER, m.chain_id, errors=venue_error_decoder(), poll_s=0.05)
    decimals = {t.address: t.decimals for t in m.tokens.values()} | {NATIVE: 18}
    ex = VenueExecutor(safe=m.safe.address, venue_module=m.hedge_venue_module, hedge_module=m.hedge_module,
                       weth=m.tokens["WETH"].address, aave_pool=m.aave.pool, decimals=decimals)
    yield Ctx(chain, m, tx, ex, Multicall(rpc), contract(chain, "HedgeVenueModule", m.hedge_venue_module),
              contract(chain, "HedgeModule", m.hedge_module), aave_contract(chain, "Pool", m.aave.pool),
              m.safe.address)


def _feed_wad(w3: Web3, m: Manifest, asset: str, block: int) -> int:
    answer = contract(w3, "PriceFeed", m.feeds[asset].address).functions.latestRoundData().call(
        block_identifier=block)[1]
    return int(answer) * 10**10  # 8-decimal feeds -> usd wad, as HedgeOracle.priceUsd


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


# ------------------------------------------------------------------------------------------- the world's module
def test_the_world_enables_and_configures_the_venue_module(ctx: Ctx) -> None:
    m = ctx.m
    assert m.aave is not None and m.v4 is not None
    on = hv.parse_params(tuple(ctx.venue.functions.params().call()))
    assert contract(ctx.w3, "Safe", ctx.safe).functions.isModuleEnabled(m.hedge_venue_module).call()
    assert (on.safe, on.hedge_module) == (Web3.to_checksum_address(ctx.safe), Web3.to_checksum_address(m.hedge_module))
    assert (on.universal_router, on.permit2, on.aave_pool) == (m.v4.universal_router, m.v4.permit2, m.aave.pool)
    assert {k.pool_id().hex() for k in on.pool_keys} == {p.pool_id[2:] for p in m.v4.pools.values()}
    assert not on.hooks and all(not k.hooked for k in on.pool_keys)
    assert {r[0] for r in on.reserves} == {m.aave.reserves[s].asset for s in ("WETH", "WBTC", "USDC")}
    assert {r[2] for r in on.reserves} == {r.variable_debt_token for r in m.aave.reserves.values()}
    assert on.min_health_factor_wad == int(VENUE_MIN_HEALTH_FACTOR * WAD)
    assert on.params_hash() == bytes(ctx.venue.functions.paramsHash().call())


# ------------------------------------------------------------------------------------------- the keeper's hedges
@pytest.mark.parametrize(("pool", "side", "human"), [("ETH/USDC-500", "buy", Decimal(30_000)),
                                                    ("WBTC/USDC-3000", "sell", Decimal("0.5"))])
def test_a_v4_swap_books_the_safes_value_change_at_the_feeds(ctx: Ctx, pool: str, side: str, human: Decimal) -> None:
    key = ctx.key(pool)
    risky_sym = "ETH" if pool.startswith("ETH") else "BTC"
    dec_in = 6 if side == "buy" else 8
    amount = int(human * 10**dec_in)
    h = VenueHedge("v4_swap", key, side, amount, 1, ctx.usdc)  # type: ignore[arg-type]
    h = VenueHedge("v4_swap", key, side, amount, ctx.min_out(key, h.zero_for_one, amount),  # type: ignore[arg-type]
                   ctx.usdc)
    loss_before = ctx.module.functions.lossUsage().call()[1]
    fill = ctx.hedge(h)
    block = fill.fill.block_number
    assert fill.spent_raw == amount and fill.received_raw >= h.min_out_raw
    # The loss the HedgeModule booked is the Safe's value change at the feeds (module rounding: in up, out down).
    p_risky, p_usdc = _feed_wad(ctx.w3, ctx.m, risky_sym, block), _feed_wad(ctx.w3, ctx.m, "USDC", block)
    dec_risky = 18 if risky_sym == "ETH" else 8
    if side == "buy":
        value_in, value_out = _ceil_div(amount * p_usdc, 10**6), fill.received_raw * p_risky // 10**dec_risky
    else:
        value_in, value_out = _ceil_div(amount * p_risky, 10**8), fill.received_raw * p_usdc // 10**6
    booked = ctx.module.functions.lossUsage().call(block_identifier=block)[1] - loss_before
    assert booked == fill.loss_booked_wad == max(value_in - value_out, 0) > 0
    notional = _ceil_div(amount * (p_usdc if side == "buy" else p_risky), 10**dec_in)
    assert fill.notional_booked_wad == notional
    assert fill.fill.slippage_bps < 100 and fill.fill.amount_in == amount


def test_borrow_and_sell_on_the_real_aave_pool(ctx: Ctx) -> None:
    key = ctx.key("ETH/USDC-500")
    amount = 10 * WAD
    debt = ctx.debt_token(ctx.weth)
    usdc = contract(ctx.w3, "WETH9", ctx.usdc)
    scaled0, usdc0 = debt.functions.scaledBalanceOf(ctx.safe).call(), usdc.functions.balanceOf(ctx.safe).call()
    h = VenueHedge("borrow_sell", key, "sell", amount, ctx.min_out(key, True, amount), ctx.usdc, reserve=ctx.weth)
    fill = ctx.hedge(h)
    b = fill.fill.block_number
    index = ctx.pool.functions.getReserveData(ctx.weth).call(block_identifier=b)[3]
    scaled1 = debt.functions.scaledBalanceOf(ctx.safe).call(block_identifier=b)
    assert scaled1 - scaled0 == (amount * RAY + index // 2) // index  # Aave's rayDiv, half up
    # The Safe's WETH debt at this block's index rose by the amount (Aave's two roundings: at most 1 wei).
    debt_now = debt.functions.balanceOf(ctx.safe).call(block_identifier=b)
    assert abs(debt_now - (scaled0 * index + RAY // 2) // RAY - amount) <= 1
    assert fill.debt_change_raw == amount
    assert usdc.functions.balanceOf(ctx.safe).call(block_identifier=b) - usdc0 == fill.received_raw >= h.min_out_raw
    hf = ctx.pool.functions.getUserAccountData(ctx.safe).call(block_identifier=b)[5]
    assert fill.health_factor_wad == hf >= int(VENUE_MIN_HEALTH_FACTOR * WAD)
    assert fill.fill.underlying_units == 10.0


def test_buy_and_repay_on_the_real_aave_pool(ctx: Ctx) -> None:
    key = ctx.key("ETH/USDC-500")
    amount = 15_000 * 10**6
    debt = ctx.debt_token(ctx.weth)
    weth = contract(ctx.w3, "WETH9", ctx.weth)
    scaled0, weth0 = debt.functions.scaledBalanceOf(ctx.safe).call(), weth.functions.balanceOf(ctx.safe).call()
    native0 = ctx.w3.eth.get_balance(Web3.to_checksum_address(ctx.safe))
    h = VenueHedge("buy_repay", key, "buy", amount, ctx.min_out(key, False, amount), ctx.usdc)
    fill = ctx.hedge(h)
    b = fill.fill.block_number
    got = fill.received_raw
    assert 4 * WAD < got < 6 * WAD and fill.debt_change_raw == -got
    index = ctx.pool.functions.getReserveData(ctx.weth).call(block_identifier=b)[3]
    scaled1 = debt.functions.scaledBalanceOf(ctx.safe).call(block_identifier=b)
    assert scaled0 - scaled1 == (got * RAY + index // 2) // index
    # All of it went to the debt: no WETH and no ETH left over in the Safe's wallet.
    assert weth.functions.balanceOf(ctx.safe).call(block_identifier=b) == weth0
    assert ctx.w3.eth.get_balance(Web3.to_checksum_address(ctx.safe), block_identifier=b) == native0
    assert fill.health_factor_wad == ctx.pool.functions.getUserAccountData(ctx.safe).call(block_identifier=b)[5]


# ------------------------------------------------------------------------------------------- a stolen keeper key
def _state(ctx: Ctx) -> tuple[Any, ...]:
    """Everything a venue hedge could change (Aave positions as scaled balances: interest accrues per block)."""
    safe = Web3.to_checksum_address(ctx.safe)
    tokens = [contract(ctx.w3, "WETH9", t.address) for t in ctx.m.tokens.values()]
    assert ctx.m.aave is not None
    debts = [aave_contract(ctx.w3, "VariableDebtToken", a) for r in ctx.m.aave.reserves.values()
             for a in (r.variable_debt_token, r.a_token)]
    return (tuple(t.functions.balanceOf(safe).call() for t in tokens),
            tuple(d.functions.scaledBalanceOf(safe).call() for d in debts), ctx.w3.eth.get_balance(safe),
            tuple(ctx.module.functions.windowUsage().call()), tuple(ctx.module.functions.lossUsage().call()),
            ctx.module.functions.paused().call())


def _mined_refusal(ctx: Ctx, data: bytes) -> str:
    """Send the stolen key's call past the preflight (explicit gas): it is mined, reverts, and changes nothing."""
    before = _state(ctx)
    with pytest.raises(TxRevertedError) as err:
        ctx.tx.send(TxRequest(to=ctx.m.hedge_venue_module, data=data, gas=3_000_000), lambda a: None)
    assert not err.value.preflight and err.value.tx_hash, "mined and reverted"
    assert _state(ctx) == before
    return err.value.error_name


@pytest.mark.parametrize("path", ["borrow", "borrow_sell"])
def test_stolen_key_cannot_borrow_below_the_minimum_health_factor(ctx: Ctx, path: str) -> None:
    amount = 80 * WAD  # Aave itself allows it (under the LTV): only the module's minimum health factor refuses
    key = ctx.key("ETH/USDC-500")
    if path == "borrow":
        data = hv.aave_call(hv.AaveArgs(hv.AaveAction.BORROW, ctx.weth, amount))
    else:
        data = hv.hedge_borrow_sell(hv.BorrowSellArgs(ctx.weth, amount, key, True, ctx.min_out(key, True, amount),
                                                      ctx.deadline()))
    # Aave would lend it: the debt stays under the borrowing power.
    available_base = ctx.pool.functions.getUserAccountData(ctx.safe).call()[2]
    assert amount * _feed_wad(ctx.w3, ctx.m, "ETH", ctx.w3.eth.block_number) // WAD < available_base * 10**10
    assert _mined_refusal(ctx, data) == "HealthFactorTooLow"
    # The keeper's own path names it before anything is sent.
    if path == "borrow_sell":
        h = VenueHedge("borrow_sell", key, "sell", amount, ctx.min_out(key, True, amount), ctx.usdc, ctx.weth)
        with pytest.raises(TxRevertedError) as err:
            send_venue_hedge(ctx.tx, ctx.ex.prepare(h, ctx.deadline()))
        assert err.value.preflight and err.value.error_name == "HealthFactorTooLow"
        assert "HealthFactorTooLow(" in str(err.value)


def test_stolen_key_cannot_use_a_reserve_the_owners_did_not_allow(ctx: Ctx) -> None:
    made_up = DevChain(ctx.w3).deploy(forge_artifact("DevToken"), "Made up", "MUP", 18, sender=dev_account(0).address)
    assert _mined_refusal(ctx, hv.aave_call(hv.AaveArgs(hv.AaveAction.BORROW, made_up.address, WAD))) \
        == "ReserveNotAllowed"
    wbtc = ctx.m.tokens["WBTC"].address
    ctx.owners(ctx.m.hedge_venue_module, bytes.fromhex(ctx.venue.encode_abi("setReserveAllowed", [wbtc, False])[2:]))
    assert _mined_refusal(ctx, hv.aave_call(hv.AaveArgs(hv.AaveAction.BORROW, wbtc, 10**7))) == "ReserveNotAllowed"
    key = ctx.key("WBTC/USDC-3000")
    zero_for_one = key.currency0 == Web3.to_checksum_address(wbtc)
    assert _mined_refusal(ctx, hv.hedge_borrow_sell(hv.BorrowSellArgs(
        wbtc, 10**7, key, zero_for_one, ctx.min_out(key, zero_for_one, 10**7), ctx.deadline()))) == "ReserveNotAllowed"


def test_stolen_key_cannot_use_a_pool_key_the_owners_did_not_allow(ctx: Ctx) -> None:
    allowed = ctx.key("ETH/USDC-500")
    other_fee = hv.PoolKey(allowed.currency0, allowed.currency1, 3000, 60)
    hooked = hv.PoolKey(allowed.currency0, allowed.currency1, 500, 10, "0x" + "66" * 20)
    for key in (other_fee, hooked):
        data = hv.hedge_v4_swap(hv.V4SwapArgs(key, False, 1_000 * 10**6, 1, ctx.deadline()))
        assert _mined_refusal(ctx, data) == "PoolKeyNotAllowed"
        assert ctx.venue.functions.isPoolKeyAllowed(key.as_tuple()).call() is False


def test_the_window_cap_is_shared_between_v3_and_v4(ctx: Ctx) -> None:
    # The owners lower the caps: 100,000 USD per trade, 150,000 USD per day (slippage bound unchanged).
    ctx.owners(ctx.m.hedge_module, hm.calldata("setLimits(uint256,uint256,uint256,uint256)", ["uint256"] * 4,
                                                [100_000 * WAD, 150_000 * WAD, 86_400, 100]))
    weth, usdc = ctx.weth, ctx.usdc
    v3_in = 25 * WAD
    v3_notional, _, v3_min = ctx.module.functions.quoteSwap(weth, usdc, 500, v3_in).call()
    window0 = ctx.module.functions.windowUsage().call()[0]
    ctx.tx.send(TxRequest(to=ctx.m.hedge_module, data=hm.hedge_swap(hm.SwapArgs(weth, usdc, 500, v3_in, v3_min,
                                                                                  ctx.deadline()))), lambda a: None)
    key = ctx.key("ETH/USDC-500")
    fill = ctx.hedge(VenueHedge("v4_swap", key, "buy", 50_000 * 10**6, ctx.min_out(key, False, 50_000 * 10**6),
                                ctx.usdc))
    used = ctx.module.functions.windowUsage().call()[0]
    assert used - window0 == v3_notional + fill.notional_booked_wad
    # 75,000 (v3) + 50,000 (v4) used: another 30,000 through v4 exceeds 150,000 ...
    amount = 30_000 * 10**6
    h = VenueHedge("v4_swap", key, "buy", amount, ctx.min_out(key, False, amount), ctx.usdc)
    with pytest.raises(TxRevertedError) as err:
        send_venue_hedge(ctx.tx, ctx.ex.prepare(h, ctx.deadline()))
    assert err.value.error_name == "WindowCapExceeded"
    assert err.value.error_args[0] == used and err.value.error_args[2] == 150_000 * WAD
    assert _mined_refusal(ctx, ctx.ex.prepare(h, ctx.deadline()).request.data) == "WindowCapExceeded"
    # ... and so does a v3 swap once v4 used the room.
    q = ctx.module.functions.quoteSwap(weth, usdc, 500, 10 * WAD).call()
    with pytest.raises(TxRevertedError) as err:
        ctx.tx.send(TxRequest(to=ctx.m.hedge_module, data=hm.hedge_swap(hm.SwapArgs(weth, usdc, 500, 10 * WAD, q[2],
                                                                                      ctx.deadline()))),
                    lambda a: None)
    assert err.value.error_name == "WindowCapExceeded"
