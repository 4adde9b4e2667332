"""Executors: turn a :class:`HedgeOrder` into a transaction, and verify its result from chain state.

Venues: a Uniswap v3 swap through SwapRouter ``exactInputSingle``, a PerpMarket trade, a Uniswap v4
swap through the UniversalRouter (``V4_SWAP``; native ETH paid as ``msg.value``), and an Aave v3
loan in two legs (borrow then sell, or buy then repay: :meth:`Executor.prepare_legs`); two
modes (``safe-module``: the keeper calls the treasury's HedgeModule, and for v4 swaps and Aave
loans its HedgeVenueModule, a loan as one call verified by
:meth:`keeper.execute.venue_module.VenueExecutor.verify`; ``eoa``: the keeper trades its own funds).
Amounts become integers here, at the edge. Results are read back from balances and positions at the
receipt block and the block before it, never from events (a HedgeVenueModule hedge is also checked
against the module's event).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Literal

from eth_utils.address import to_checksum_address

from keeper.chain.multicall import Call, Failed, StateReader, block_timestamp_call, eth_balance_call, selector
from keeper.core.costs import CostEstimate
from keeper.core.hedge_types import HedgeOrder
from keeper.core.snapshot import Snapshot, V4PoolKey
from keeper.errors import InputError, TransactionError
from keeper.execute.tx import Mined, TxRequest
from keeper.journal.records import FillData
from keeper.venues import aave_v3, erc20, hedge_module, perps, uniswap_v3, uniswap_v4, universal_router
from keeper.venues import hedge_venue_module as hv

__all__ = ["ExecutionMode", "Executor", "PreparedTrade", "VerifiedFill"]

ExecutionMode = Literal["safe-module", "eoa"]
_VENUE_SELECTORS = frozenset(selector(sig) for sig in (hv.HEDGE_V4_SWAP, hv.HEDGE_BORROW_SELL, hv.HEDGE_BUY_REPAY))
BPS = Decimal(10_000)


@dataclass(frozen=True)
class PreparedTrade:
    """A hedge ready to send: the transaction and what it must achieve."""

    order: HedgeOrder
    request: TxRequest
    venue: str
    side: str
    size_raw: int
    """Underlying raw units sold/bought (swap) or 1e18 size delta (perp), unsigned."""
    token_in: str = ""
    token_out: str = ""
    amount_in: int = 0
    min_out: int = 0
    fee_tier: int = 0
    size_delta: int = 0
    acceptable_price: int = 0
    pool_id: str = ""
    """A v4 swap's pool id; an Aave leg's Pool address."""
    debt_token: str = ""
    """An Aave leg's variable-debt token."""


@dataclass(frozen=True)
class VerifiedFill:
    """What the chain says happened, in raw and human units."""

    amount_in: int
    amount_out: int
    underlying_units: float
    quote_units: float
    realized_price: float
    """Quote per underlying."""
    oracle_price: float
    slippage_bps: float
    """Worse than the oracle price by this many bps (negative: better)."""
    fee_quote: float
    gas_used: int
    effective_gas_price: int
    gas_cost_native: float
    gas_cost_quote: float
    block_number: int
    block_timestamp: int
    tx_hash: str
    notional_quote: float

    def journal_data(self) -> FillData:
        """The journal's record of this fill; its native gas cost is exact, in wei."""
        return FillData(
            block_number=self.block_number, block_timestamp=self.block_timestamp, tx_hash=self.tx_hash,
            amount_in=self.amount_in, amount_out=self.amount_out, notional_quote=self.notional_quote,
            realized_price=self.realized_price, oracle_price=self.oracle_price, slippage_bps=self.slippage_bps,
            fee_quote=self.fee_quote, gas_used=self.gas_used, effective_gas_price=self.effective_gas_price,
            gas_cost_native=self.gas_used * self.effective_gas_price, gas_cost_quote=self.gas_cost_quote,
        )


def _order(underlying: str, side: str, units: float, venue: str, venue_id: str, fee: float,
           price: float) -> HedgeOrder:
    return HedgeOrder(
        underlying=underlying, side="buy" if side == "buy" else "sell", size_units=units,
        notional_quote=units * price,
        venue="perp" if venue == "perp" else "uniswap_v4" if venue == "uniswap_v4" else "aave" if venue == "aave"
        else "uniswap", venue_id=venue_id,
        fee_fraction=fee, reference_price_quote=price, limit_price_quote=price,
        cost=CostEstimate(0.0, 0.0, 0.0, 0.0),
    )


def _ceil(x: Decimal) -> int:
    return int(x.to_integral_value(ROUND_CEILING))


def _floor(x: Decimal) -> int:
    return int(x.to_integral_value(ROUND_FLOOR))


@dataclass
class Executor:
    """Builds and verifies hedges for one executing account.

    Parameters
    ----------
    mode: ``safe-module`` or ``eoa``.
    account: the address whose funds trade (the Safe, or the keeper's EOA).
    router: Uniswap v3 SwapRouter.
    module: the HedgeModule (``safe-module`` mode).
    tokens: underlying symbol -> token address; quote_token: the quote token (USDC).
    max_slippage_bps: the keeper's own bound; must not exceed the module's.
    deadline_s: swap deadline after the snapshot block's timestamp.
    """

    mode: ExecutionMode
    account: str
    router: str
    module: str
    tokens: dict[str, str]
    quote_token: str
    max_slippage_bps: int = 50
    deadline_s: int = 300
    universal_router: str = ""
    """Uniswap UniversalRouter (v4 swaps)."""
    venue_module: str = ""
    """The Safe's HedgeVenueModule (safe-module mode): v4 swaps and Aave loans go through it, a loan as one call."""
    weth: str = ""
    """WETH (the venue module borrows and repays it for native ETH); default: the ``ETH`` token."""

    @property
    def through_venue_module(self) -> bool:
        return self.mode == "safe-module" and bool(self.venue_module)

    def __post_init__(self) -> None:
        if self.mode not in ("safe-module", "eoa"):
            raise InputError("mode", f"must be 'safe-module' or 'eoa', got {self.mode!r}")
        if self.mode == "safe-module" and not self.module:
            raise InputError("module", "safe-module mode needs the HedgeModule address")
        if not 0 <= self.max_slippage_bps <= 1000:
            raise InputError("max_slippage_bps", f"must be in 0..1000, got {self.max_slippage_bps}")

    # ----------------------------------------------------------------- prepare
    def prepare(self, order: HedgeOrder, snap: Snapshot) -> PreparedTrade:
        """The one transaction of a swap or perp order (an ``aave`` order has two: :meth:`prepare_legs`)."""
        if order.venue == "uniswap":
            return self._prepare_swap(order, snap)
        if order.venue == "uniswap_v4":
            return self._prepare_v4(order, snap)
        if order.venue == "aave":
            raise InputError("venue", "an aave order has two legs: use prepare_legs")
        return self._prepare_perp(order, snap)

    def prepare_legs(self, order: HedgeOrder, snap: Snapshot) -> tuple[PreparedTrade, ...]:
        """The transactions of ``order``, in the order they are sent.

        An ``aave`` order: borrow-and-sell is (borrow ``size``, sell exactly the borrowed amount in its
        leg's pool); buy-and-repay is (buy in its leg's pool, repay the swap's guaranteed minimum
        output). Every other order is one transaction. Each leg is its own journaled intent; a leg
        that fails stops the ones after it (a borrow not sold leaves the delta unchanged: the tokens
        and the debt cancel, and the next cycle re-plans from the chain).
        """
        if order.venue != "aave":
            return (self.prepare(order, snap),)
        if order.leg is None:
            raise InputError("leg", "an aave order needs its swap leg")
        pool, asset = order.venue_id.split(":", 1)
        market = next((m for a, m in snap.aave_markets.items() if a.lower() == pool.lower()), None)
        if market is None:
            raise InputError("venue_id", f"Aave pool {pool} is not in the snapshot")
        reserve = next((r for a, r in market.reserves.items() if a.lower() == asset.lower()), None)
        if reserve is None:
            raise InputError("venue_id", f"{asset} is not a reserve of Aave pool {pool}")
        swap = self.prepare(order.leg, snap)
        if self.through_venue_module:
            return (self._venue_loan(order, swap, market.pool, reserve.asset, reserve.variable_debt_token),)
        if order.side == "sell":
            amount = swap.amount_in
            return (self._loan(order, "borrow", market.pool, reserve.asset, reserve.variable_debt_token, amount), swap)
        return (swap, self._loan(order, "repay", market.pool, reserve.asset, reserve.variable_debt_token, swap.min_out))

    def _venue_loan(self, order: HedgeOrder, swap: PreparedTrade, pool: str, asset: str,
                    debt_token: str) -> PreparedTrade:
        """A borrow-and-sell or buy-and-repay as one HedgeVenueModule call around its v4 swap leg."""
        if swap.venue != "uniswap_v4":
            raise InputError("leg", f"through the HedgeVenueModule a loan's swap leg is a v4 pool, not {swap.venue}")
        a = hv.decode_hedge_v4_swap(swap.request.data)
        if order.side == "sell":
            data = hv.hedge_borrow_sell(hv.BorrowSellArgs(to_checksum_address(asset), a.amount_in, a.key,
                                                          a.zero_for_one, a.min_out, a.deadline))
        else:
            data = hv.hedge_buy_repay(hv.BuyRepayArgs(a.key, a.zero_for_one, a.amount_in, a.min_out, a.deadline))
        return dataclasses.replace(swap, order=order, request=TxRequest(to=self.venue_module, data=data),
                                   venue="aave", pool_id=pool, debt_token=debt_token)

    def _loan(self, order: HedgeOrder, action: str, pool: str, asset: str, debt_token: str,
              amount: int) -> PreparedTrade:
        if amount <= 0:
            raise InputError("size_units", f"{order.size_units} {order.underlying} rounds to nothing")
        if self.mode == "safe-module":
            data = hedge_module.hedge_aave_loan(action, pool, asset, amount)
        else:
            data = aave_v3.borrow(asset, amount, self.account) if action == "borrow" else \
                aave_v3.repay(asset, amount, self.account)
        return PreparedTrade(order=order, request=TxRequest(to=pool, data=data), venue="aave", side=order.side,
                             size_raw=amount, token_in=asset if action == "repay" else "",
                             token_out=asset if action == "borrow" else "", amount_in=amount, pool_id=pool,
                             debt_token=debt_token)

    def _amounts(self, order: HedgeOrder, snap: Snapshot, dec_u: int, dec_q: int) -> tuple[int, int]:
        """(amount in, minimum out), raw, of a swap of ``order``: exact input, minimum output from the
        stricter of the feed and the order's reference price less the slippage bound."""
        price = Decimal(self._feed_usd_wad(snap, order.underlying)) / Decimal(10**18)
        ref = Decimal(repr(order.reference_price_quote))
        if ref > 0:
            price = max(price, ref) if order.side == "sell" else min(price, ref)
        slip = self._slippage(order)
        size = Decimal(repr(order.size_units))
        if order.side == "sell":
            amount_in = _floor(size * 10**dec_u)
            expected = Decimal(amount_in) * price * 10**dec_q / 10**dec_u
        else:
            amount_in = _ceil(size * price * 10**dec_q)
            expected = Decimal(amount_in) / price * 10**dec_u / 10**dec_q
        min_out = _ceil(expected * (1 - slip))
        if amount_in <= 0 or min_out <= 0:
            raise InputError("size_units", f"{order.size_units} {order.underlying} rounds to nothing")
        return amount_in, min_out

    def _prepare_v4(self, order: HedgeOrder, snap: Snapshot) -> PreparedTrade:
        pool = snap.v4_pools[order.venue_id]
        key, quote = pool.key, self.quote_token
        u_is_0 = key.currency1.lower() == quote.lower()
        under = key.currency0 if u_is_0 else key.currency1
        dec_u = 18 if under == uniswap_v4.NATIVE else snap.tokens[self.tokens[order.underlying]].decimals
        dec_q = snap.tokens[quote].decimals
        amount_in, min_out = self._amounts(order, snap, dec_u, dec_q)
        zero_for_one = u_is_0 == (order.side == "sell")
        swap = universal_router.V4Swap(key, zero_for_one, amount_in, min_out, snap.block_timestamp + self.deadline_s)
        value = swap.value
        if self.through_venue_module:
            vkey = hv.PoolKey(key.currency0, key.currency1, key.fee, key.tick_spacing, key.hooks)
            data = hv.hedge_v4_swap(hv.V4SwapArgs(vkey, zero_for_one, amount_in, min_out, swap.deadline))
            to, value = self.venue_module, 0  # the Safe pays, not the keeper
        elif self.mode == "safe-module":
            data = hedge_module.hedge_v4_swap(order.venue_id, zero_for_one, amount_in, min_out, swap.deadline)
            to = self.module
        else:
            if not self.universal_router:
                raise InputError("universal_router", "a v4 swap needs the UniversalRouter address")
            data = universal_router.v4_swap_exact_in(swap)
            to = self.universal_router
        return PreparedTrade(
            order=order, request=TxRequest(to=to, data=data, value=value), venue="uniswap_v4", side=order.side,
            size_raw=amount_in if order.side == "sell" else min_out, token_in=swap.currency_in,
            token_out=swap.currency_out, amount_in=amount_in, min_out=min_out, fee_tier=pool.lp_fee,
            pool_id=order.venue_id,
        )

    def _slippage(self, order: HedgeOrder) -> Decimal:
        """The order's own bound (its limit price against the reference), capped by the executor's."""
        cap = Decimal(self.max_slippage_bps) / BPS
        if order.reference_price_quote <= 0:
            return cap
        own = Decimal(repr(abs(order.limit_price_quote / order.reference_price_quote - 1.0)))
        return min(own.quantize(Decimal("0.000001")), cap)

    def _feed_usd_wad(self, snap: Snapshot, symbol: str) -> int:
        f = snap.feeds[symbol]
        wad: int = f.answer * 10 ** (18 - f.decimals) if f.decimals <= 18 else f.answer // 10 ** (f.decimals - 18)
        return wad

    def _prepare_swap(self, order: HedgeOrder, snap: Snapshot) -> PreparedTrade:
        pool = snap.pools[order.venue_id]
        sym = order.underlying
        under, quote = self.tokens[sym], self.quote_token
        dec_u, dec_q = snap.tokens[under].decimals, snap.tokens[quote].decimals
        price = Decimal(self._feed_usd_wad(snap, sym)) / Decimal(10**18)  # quote per underlying
        # The order's reference may be stricter than the feed (the pool's TWAP, as the HedgeModule bounds
        # swaps): a sell's minimum output is set from the higher of the two, a buy's from the lower.
        ref = Decimal(repr(order.reference_price_quote))
        if ref > 0:
            price = max(price, ref) if order.side == "sell" else min(price, ref)
        slip = self._slippage(order)
        size = Decimal(repr(order.size_units))
        if order.side == "sell":
            token_in, token_out = under, quote
            amount_in = _floor(size * 10**dec_u)
            expected = Decimal(amount_in) * price * 10**dec_q / 10**dec_u
        else:
            token_in, token_out = quote, under
            amount_in = _ceil(size * price * 10**dec_q)
            expected = Decimal(amount_in) / price * 10**dec_u / 10**dec_q
        min_out = _ceil(expected * (1 - slip))
        if amount_in <= 0 or min_out <= 0:
            raise InputError("size_units", f"{order.size_units} {sym} rounds to nothing")
        deadline = snap.block_timestamp + self.deadline_s
        if self.mode == "safe-module":
            data = hedge_module.hedge_swap(hedge_module.SwapArgs(token_in, token_out, pool.fee, amount_in, min_out,
                                                                 deadline))
            to = self.module
        else:
            data = uniswap_v3.exact_input_single(token_in, token_out, pool.fee, self.account, deadline, amount_in,
                                                 min_out)
            to = self.router
        size_raw = amount_in if order.side == "sell" else min_out
        return PreparedTrade(
            order=order, request=TxRequest(to=to, data=data), venue="uniswap", side=order.side, size_raw=size_raw,
            token_in=token_in, token_out=token_out, amount_in=amount_in, min_out=min_out, fee_tier=pool.fee,
        )

    def _prepare_perp(self, order: HedgeOrder, snap: Snapshot) -> PreparedTrade:
        market = snap.perp_markets[order.venue_id]
        size = _floor(Decimal(repr(order.size_units)) * 10**18)
        delta = size if order.side == "buy" else -size
        price = Decimal(market.oracle_price)
        slip = self._slippage(order)
        acceptable = _floor(price * (1 + slip)) if delta > 0 else _ceil(price * (1 - slip))
        if self.mode == "safe-module":
            data = hedge_module.hedge_perp(hedge_module.PerpArgs(order.venue_id, delta, acceptable))
            to = self.module
        else:
            data = perps.modify_position(delta, acceptable)
            to = order.venue_id
        return PreparedTrade(
            order=order, request=TxRequest(to=to, data=data), venue="perp", side=order.side, size_raw=size,
            size_delta=delta, acceptable_price=acceptable,
        )

    def from_calldata(self, underlying: str, venue: str, side: str, data: bytes, snap: Snapshot) -> PreparedTrade:
        """Rebuild a sent trade from its journaled calldata (used when recovering after a restart).

        ``snap`` is read at the block the trade was mined in; its feed gives the reference price.
        """
        price = self._feed_usd_wad(snap, underlying) / 1e18
        sel = data[:4]
        if sel in _VENUE_SELECTORS:
            return self._venue_from_calldata(underlying, side, data, snap, price)
        if sel in (selector(hedge_module.HEDGE_PERP), selector(perps.MODIFY_POSITION)):
            if sel == selector(perps.MODIFY_POSITION):
                market = next(a for a, m in snap.perp_markets.items() if m.underlying == underlying)
                delta, acceptable = perps.decode_modify_position(data)
            else:
                p = hedge_module.decode_hedge_perp(data)
                market, delta, acceptable = p.market, p.size_delta, p.acceptable_price
            order = _order(underlying, side, abs(delta) / 1e18, "perp", to_checksum_address(market), 0.0, price)
            return PreparedTrade(order=order, request=TxRequest(to="", data=data), venue="perp", side=side,
                                 size_raw=abs(delta), size_delta=delta, acceptable_price=acceptable)
        if sel == selector(universal_router.EXECUTE):
            sw = universal_router.decode_v4_swap(data)
            pid = uniswap_v4.pool_id(sw.key)
            under = sw.currency_in if side == "sell" else sw.currency_out
            dec_u = 18 if under == uniswap_v4.NATIVE else snap.tokens[self.tokens[underlying]].decimals
            units = (sw.amount_in if side == "sell" else sw.min_out) / 10**dec_u
            pool_fee = snap.v4_pools[pid].lp_fee if pid in snap.v4_pools else sw.key.fee
            order = _order(underlying, side, units, "uniswap_v4", pid, pool_fee / 1e6, price)
            return PreparedTrade(
                order=order, request=TxRequest(to="", data=data, value=sw.value), venue="uniswap_v4", side=side,
                size_raw=sw.amount_in if side == "sell" else sw.min_out, token_in=sw.currency_in,
                token_out=sw.currency_out, amount_in=sw.amount_in, min_out=sw.min_out, fee_tier=pool_fee, pool_id=pid)
        if sel in (selector(aave_v3.BORROW), selector(aave_v3.REPAY)):
            action, asset, amount, _who = aave_v3.decode_loan(data)
            lm = next(m for m in snap.aave_markets.values() if any(a.lower() == asset.lower() for a in m.reserves))
            reserve = next(r for a, r in lm.reserves.items() if a.lower() == asset.lower())
            dec = snap.tokens[self.tokens[underlying]].decimals
            order = _order(underlying, side, amount / 10**dec, "aave", f"{lm.pool}:{reserve.asset}", 0.0, price)
            return PreparedTrade(
                order=order, request=TxRequest(to=lm.pool, data=data), venue="aave", side=side, size_raw=amount,
                token_in=reserve.asset if action == "repay" else "",
                token_out=reserve.asset if action == "borrow" else "",
                amount_in=amount, pool_id=lm.pool, debt_token=reserve.variable_debt_token)
        if sel == selector(hedge_module.HEDGE_SWAP):
            a = hedge_module.decode_hedge_swap(data)
            t_in, t_out, fee, amount_in, min_out = a.token_in, a.token_out, a.fee, a.amount_in, a.min_out
        elif sel == selector(uniswap_v3.EXACT_INPUT_SINGLE):
            t_in, t_out, fee, _, _, amount_in, min_out = uniswap_v3.decode_exact_input_single(data)
        else:
            raise InputError("data", f"calldata selector 0x{sel.hex()} is not a hedge this keeper sends")
        dec_u = snap.tokens[self.tokens[underlying]].decimals
        units = (amount_in if side == "sell" else min_out) / 10**dec_u
        pool = next((a for a, p in snap.pools.items() if p.fee == fee
                     and {p.token0.lower(), p.token1.lower()} == {str(t_in).lower(), str(t_out).lower()}), "")
        order = _order(underlying, side, units, "uniswap", pool, fee / 1e6, price)
        return PreparedTrade(
            order=order, request=TxRequest(to="", data=data), venue="uniswap", side=side,
            size_raw=amount_in if side == "sell" else min_out, token_in=to_checksum_address(str(t_in)),
            token_out=to_checksum_address(str(t_out)),
            amount_in=int(amount_in), min_out=int(min_out), fee_tier=int(fee),
        )

    def _weth(self) -> str:
        return self.weth or self.tokens.get("ETH", "")

    def _venue_from_calldata(self, underlying: str, side: str, data: bytes, snap: Snapshot,
                             price: float) -> PreparedTrade:
        """A HedgeVenueModule call rebuilt from its calldata: a v4 swap, or a loan around its v4 swap."""
        asset = ""
        if data[:4] == selector(hv.HEDGE_V4_SWAP):
            a = hv.decode_hedge_v4_swap(data)
            key, z, amount_in, min_out = a.key, a.zero_for_one, a.amount_in, a.min_out
        elif data[:4] == selector(hv.HEDGE_BORROW_SELL):
            b = hv.decode_hedge_borrow_sell(data)
            key, z, amount_in, min_out, asset = b.key, b.zero_for_one, b.amount, b.min_out, b.asset
        else:
            r = hv.decode_hedge_buy_repay(data)
            key, z, amount_in, min_out = r.key, r.zero_for_one, r.amount_in, r.min_out
        t_in, t_out = (key.currency0, key.currency1) if z else (key.currency1, key.currency0)
        if not asset and data[:4] == selector(hv.HEDGE_BUY_REPAY):
            asset = self._weth() if int(t_out, 16) == 0 else t_out
        under = t_in if side == "sell" else t_out
        dec_u = 18 if int(under, 16) == 0 else snap.tokens[self.tokens[underlying]].decimals
        units = (amount_in if side == "sell" else min_out) / 10**dec_u
        pid = uniswap_v4.pool_id(V4PoolKey(key.currency0, key.currency1, key.fee, key.tick_spacing, key.hooks))
        pool_fee = snap.v4_pools[pid].lp_fee if pid in snap.v4_pools else key.fee
        trade = PreparedTrade(
            order=_order(underlying, side, units, "uniswap_v4", pid, pool_fee / 1e6, price),
            request=TxRequest(to=self.venue_module, data=data), venue="uniswap_v4", side=side,
            size_raw=amount_in if side == "sell" else min_out,
            token_in=uniswap_v4.NATIVE if int(t_in, 16) == 0 else to_checksum_address(t_in),
            token_out=uniswap_v4.NATIVE if int(t_out, 16) == 0 else to_checksum_address(t_out),
            amount_in=amount_in, min_out=min_out, fee_tier=pool_fee, pool_id=pid)
        if not asset:
            return trade
        lm = next((m for m in snap.aave_markets.values() if any(x.lower() == asset.lower() for x in m.reserves)),
                  None)
        if lm is None:
            raise InputError("data", f"the venue module's loan asset {asset} is in no Aave market of the snapshot")
        reserve = next(rv for x, rv in lm.reserves.items() if x.lower() == asset.lower())
        order = _order(underlying, side, units, "aave", f"{lm.pool}:{reserve.asset}", pool_fee / 1e6, price)
        return dataclasses.replace(trade, order=order, venue="aave", pool_id=lm.pool,
                                   debt_token=reserve.variable_debt_token)

    def _verify_venue(self, trade: PreparedTrade, mined: Mined, multicall: StateReader, snap: Snapshot,
                      native_price_quote: float) -> VerifiedFill:
        """A HedgeVenueModule hedge, verified by :meth:`keeper.execute.venue_module.VenueExecutor.verify`."""
        from keeper.execute.venue_module import NATIVE, VenueExecutor  # here: it imports this module

        decimals = {a.lower(): t.decimals for a, t in snap.tokens.items()} | {NATIVE: 18}
        ex = VenueExecutor(safe=self.account, venue_module=self.venue_module, hedge_module=self.module,
                           weth=self._weth(), aave_pool=trade.pool_id if trade.venue == "aave" else "",
                           decimals=decimals)
        prepared = ex.from_calldata(trade.request.data, "sell" if trade.side == "sell" else "buy")
        return ex.verify(prepared, mined, multicall, native_price_quote).fill

    # ----------------------------------------------------------------- verify
    def verify(self, trade: PreparedTrade, mined: Mined, multicall: StateReader, snap: Snapshot,  # noqa: C901, PLR0912, PLR0915
               native_price_quote: float) -> VerifiedFill:
        """Read the account's state before and after the receipt's block and report the fill."""
        if trade.request.data[:4] in _VENUE_SELECTORS:
            if not self.venue_module:
                raise InputError("venue_module", "a HedgeVenueModule hedge needs the module's address to verify")
            return self._verify_venue(trade, mined, multicall, snap, native_price_quote)
        r = mined.receipt
        block = int(r["blockNumber"], 16)
        gas_used = int(r["gasUsed"], 16)
        gas_price = int(r.get("effectiveGasPrice", "0x0"), 16)
        gas_native = gas_used * gas_price / 1e18
        ts_call = block_timestamp_call(multicall.address)
        def bal(token: str) -> Call:
            if token == uniswap_v4.NATIVE:
                return eth_balance_call(self.account, multicall.address)
            return erc20.balance_of_call(token, self.account)

        if trade.venue in ("uniswap", "uniswap_v4"):
            calls = [bal(trade.token_in), bal(trade.token_out)]
        elif trade.venue == "aave":
            calls = [bal(trade.token_in or trade.token_out), erc20.balance_of_call(trade.debt_token, self.account)]
        else:
            calls = [
                perps.position_call(trade.order.venue_id, self.account),
                perps.oracle_price_call(trade.order.venue_id),
            ]
        before = multicall.execute(calls, block - 1)
        after = multicall.execute([*calls, ts_call], block)
        for res in (*before, *after):
            if isinstance(res, Failed):
                raise TransactionError(f"cannot verify the hedge in block {block}: {res.reason}")
        b = [x.value for x in before if not isinstance(x, Failed)]
        a = [x.value for x in after if not isinstance(x, Failed)]
        ts = int(a[2][0])
        oracle = trade.order.reference_price_quote
        if trade.venue == "aave":
            return self._verify_loan(trade, b, a, snap, gas_used, gas_price, gas_native, native_price_quote, block, ts,
                                     mined.attempt.tx_hash)
        if trade.venue in ("uniswap", "uniswap_v4"):
            spent, got = int(b[0][0]) - int(a[0][0]), int(a[1][0]) - int(b[1][0])
            # the sender pays gas from its native balance: a native leg's change includes it
            paid_gas = gas_used * gas_price if self.mode == "eoa" else 0
            if trade.token_in == uniswap_v4.NATIVE:
                spent -= paid_gas
            if trade.token_out == uniswap_v4.NATIVE:
                got += paid_gas
            if spent <= 0 or spent > trade.amount_in or got < trade.min_out:
                raise TransactionError(
                    f"swap result does not match the order: spent {spent} (max {trade.amount_in}), "
                    f"received {got} (min {trade.min_out})"
                )
            dec_in = 18 if trade.token_in == uniswap_v4.NATIVE else snap.tokens[trade.token_in].decimals
            dec_out = 18 if trade.token_out == uniswap_v4.NATIVE else snap.tokens[trade.token_out].decimals
            if trade.side == "sell":
                units, quote = spent / 10**dec_in, got / 10**dec_out
            else:
                units, quote = got / 10**dec_out, spent / 10**dec_in
            realized = quote / units
            worse = (oracle - realized) if trade.side == "sell" else (realized - oracle)
            fee = quote * trade.fee_tier / 1e6
            amount_in, amount_out = spent, got
        else:
            size_before, size_after = int(b[0][0]), int(a[0][0])
            moved = size_after - size_before
            if moved != trade.size_delta:
                raise TransactionError(f"perp position moved by {moved}, the order asked {trade.size_delta}")
            units = abs(moved) / 1e18
            realized = int(a[1][0]) / 1e18
            quote = units * realized
            worse = (realized - oracle) if trade.side == "buy" else (oracle - realized)
            market = snap.perp_markets[trade.order.venue_id]
            fee = quote * market.taker_fee_bps / 1e4
            amount_in, amount_out = abs(moved), 0
        return VerifiedFill(
            amount_in=amount_in, amount_out=amount_out, underlying_units=units, quote_units=quote,
            realized_price=realized, oracle_price=oracle, slippage_bps=worse / oracle * 1e4, fee_quote=fee,
            gas_used=gas_used, effective_gas_price=gas_price, gas_cost_native=gas_native,
            gas_cost_quote=gas_native * native_price_quote, block_number=block, block_timestamp=ts,
            tx_hash=mined.attempt.tx_hash, notional_quote=units * oracle,
        )

    def _verify_loan(self, trade: PreparedTrade, b: list[tuple[object, ...]], a: list[tuple[object, ...]],
                     snap: Snapshot, gas_used: int, gas_price: int, gas_native: float, native_price_quote: float,
                     block: int, ts: int, tx_hash: str) -> VerifiedFill:
        """An Aave leg from the account's token and variable-debt balances before and after its block.

        A borrow must bring exactly the amount and raise the debt by at least it (less 1 wei of the
        debt token's rounding; interest accrued over the block only adds); a repay must take exactly
        the amount and lower the debt by at most it (plus 1 wei). The leg moves no delta (tokens and
        debt cancel): its notional is 0, so rolling caps count the hedge once, at its swap leg.
        """
        tok_before, tok_after = int(str(b[0][0])), int(str(a[0][0]))
        debt_before, debt_after = int(str(b[1][0])), int(str(a[1][0]))
        amount = trade.amount_in
        if trade.token_out:  # borrow
            moved, debt_moved = tok_after - tok_before, debt_after - debt_before
            ok = moved == amount and debt_moved >= amount - 1
            what = f"borrow of {amount}: received {moved}, debt rose {debt_moved}"
        else:  # repay
            moved, debt_moved = tok_before - tok_after, debt_before - debt_after
            ok = moved == amount and debt_moved <= amount + 1
            what = f"repay of {amount}: paid {moved}, debt fell {debt_moved}"
        if not ok:
            raise TransactionError(f"Aave leg does not match the order: {what}")
        dec = snap.tokens[self.tokens[trade.order.underlying]].decimals
        oracle = trade.order.reference_price_quote
        return VerifiedFill(
            amount_in=amount, amount_out=debt_moved, underlying_units=amount / 10**dec, quote_units=0.0,
            realized_price=oracle, oracle_price=oracle, slippage_bps=0.0, fee_quote=0.0, gas_used=gas_used,
            effective_gas_price=gas_price, gas_cost_native=gas_native, gas_cost_quote=gas_native * native_price_quote,
            block_number=block, block_timestamp=ts, tx_hash=tx_hash, notional_quote=0.0,
        )
