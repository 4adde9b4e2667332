"""The keeper's Uniswap v4 and Aave hedges through the Safe's HedgeVenueModule: build, send, verify.

The interface the decision side connects to (one call per hedge)::

    hedge = VenueHedge(kind="v4_swap" | "borrow_sell" | "buy_repay", key=PoolKey(...), side="sell" | "buy",
                       amount_raw=..., min_out_raw=..., quote=<quote currency>, reserve=<Aave asset>)
    ex = VenueExecutor(safe=..., venue_module=..., hedge_module=..., weth=..., aave_pool=..., decimals=...)
    prepared = ex.prepare(hedge, deadline=<unix s>)
    mined = send_venue_hedge(tx_manager, prepared)          # TxRevertedError.error_name names a refusal
    fill = ex.verify(prepared, mined, multicall)            # VenueFill; fill.fill is the journal's VerifiedFill

``side`` is the side of the pool key's risky currency (the one that is not ``quote``): ``sell`` spends it,
``buy`` spends the quote currency. ``amount_raw`` is the input in raw units of what is spent (for
``borrow_sell``: the amount borrowed and sold, of ``reserve``); ``min_out_raw`` the least output accepted (the
module also bounds it by its feeds less its slippage bound). A borrow-and-sell borrows ``reserve`` (WETH when
the key's risky currency is native ETH: the module unwraps it); a buy-and-repay repays the Safe's variable debt
in the output currency (WETH for native ETH).

Verification reads the Safe's balances, its Aave debt and account data and the HedgeModule's usage at the
receipt's block and the block before it, and checks them against the module's own event in the receipt
(:class:`VenueFill`). Exact where Aave is exact: a borrow adds ``rayDiv(amount, index)`` scaled debt, a repay
removes ``rayDiv(repaid, index)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from eth_abi.abi import decode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.build.artifacts import forge_artifact
from keeper.chain.multicall import Call, Failed, StateReader, block_timestamp_call, eth_balance_call, selector
from keeper.core.aave import RAY
from keeper.errors import InputError, SetupError, TransactionError
from keeper.execute.execution import VerifiedFill
from keeper.execute.tx import Attempt, ErrorDecoder, Mined, TxManager, TxRequest
from keeper.venues import aave_v3, erc20, hedge_module
from keeper.venues import hedge_venue_module as hv

__all__ = [
    "NATIVE",
    "PreparedVenueHedge",
    "VenueExecutor",
    "VenueFill",
    "VenueHedge",
    "VenueKind",
    "send_venue_hedge",
    "venue_error_decoder",
]

VenueKind = Literal["v4_swap", "borrow_sell", "buy_repay"]
NATIVE = "0x0000000000000000000000000000000000000000"
WAD = 10**18
V4_EVENT = keccak(text="V4HedgeExecuted(bytes32,bool,uint256,uint256,uint256,uint256,uint256)")
AAVE_EVENT = keccak(text="AaveAction(uint8,address,uint256,uint256)")


def _ray_div(a: int, b: int) -> int:
    """Aave's WadRayMath.rayDiv (half up)."""
    return (a * RAY + b // 2) // b


def _ray_mul(a: int, b: int) -> int:
    return (a * b + RAY // 2) // RAY


def _same(a: str, b: str) -> bool:
    return int(a, 16) == int(b, 16)


@dataclass(frozen=True)
class VenueHedge:
    """One hedge for the venue module (see the module docstring for the units)."""

    kind: VenueKind
    key: hv.PoolKey
    side: Literal["sell", "buy"]
    amount_raw: int
    min_out_raw: int
    quote: str
    """The quote currency of ``key`` (USDC); the other currency is the risky one."""
    reserve: str = ""
    """borrow_sell: the Aave asset borrowed (WETH for a native-ETH key). Ignored otherwise."""

    def __post_init__(self) -> None:
        if self.kind not in ("v4_swap", "borrow_sell", "buy_repay"):
            raise InputError("kind", f"must be v4_swap, borrow_sell or buy_repay, got {self.kind!r}")
        if self.side not in ("sell", "buy"):
            raise InputError("side", f"must be sell or buy, got {self.side!r}")
        if self.kind == "borrow_sell" and self.side != "sell":
            raise InputError("side", "a borrow-and-sell sells the borrowed asset: side must be sell")
        if self.kind == "buy_repay" and self.side != "buy":
            raise InputError("side", "a buy-and-repay buys the asset it repays: side must be buy")
        if not (_same(self.quote, self.key.currency0) or _same(self.quote, self.key.currency1)):
            raise InputError("quote", f"{self.quote} is not a currency of the pool key")
        if not 0 < self.amount_raw < 2**128:
            raise InputError("amount_raw", f"must be in 1..2^128-1 raw units, got {self.amount_raw}")
        if not 0 < self.min_out_raw < 2**128:
            raise InputError("min_out_raw", f"must be in 1..2^128-1 raw units, got {self.min_out_raw}")
        if self.kind == "borrow_sell" and not self.reserve:
            raise InputError("reserve", "a borrow-and-sell needs the Aave asset it borrows")

    @property
    def risky(self) -> str:
        return self.key.currency1 if _same(self.quote, self.key.currency0) else self.key.currency0

    @property
    def currency_in(self) -> str:
        return self.risky if self.side == "sell" else to_checksum_address(self.quote)

    @property
    def currency_out(self) -> str:
        return to_checksum_address(self.quote) if self.side == "sell" else self.risky

    @property
    def zero_for_one(self) -> bool:
        return _same(self.currency_in, self.key.currency0)


@dataclass(frozen=True)
class PreparedVenueHedge:
    """A venue hedge ready to send: its transaction and the Aave asset it borrows or repays ("" for none)."""

    hedge: VenueHedge
    request: TxRequest
    aave_asset: str = ""


@dataclass(frozen=True)
class VenueFill:
    """What the chain says a venue hedge did (raw units; usd wad; health factor wad)."""

    kind: VenueKind
    spent_raw: int
    """Input taken from the Safe (borrow_sell: the amount borrowed and sold)."""
    received_raw: int
    """The swap's output (buy_repay: before the repayment)."""
    debt_change_raw: int
    """Change of the Safe's variable debt in ``aave_asset`` at the receipt block's index (+ borrowed, − repaid)."""
    health_factor_wad: int
    """``getUserAccountData`` at the receipt's block (0 when the hedge does not touch Aave)."""
    notional_booked_wad: int
    loss_booked_wad: int
    """What the HedgeModule's window notional and total loss rose by in this block (usd wad). The loss is exact (the
    total never expires); the window notional also drops by whatever left the rolling window in this block."""
    fill: VerifiedFill


def venue_error_decoder() -> ErrorDecoder:
    """Error names of the HedgeVenueModule and the HedgeModule (its budget errors bubble up unchanged)."""
    try:
        return ErrorDecoder([forge_artifact("HedgeVenueModule").abi, forge_artifact("HedgeModule").abi])
    except SetupError:
        return ErrorDecoder()


def send_venue_hedge(tx: TxManager, prepared: PreparedVenueHedge,
                     before_broadcast: Callable[[Attempt], None] | None = None) -> Mined:
    """Send through the keeper's transaction manager. A refusal raises ``TxRevertedError`` whose ``error_name``
    is the module's (``HealthFactorTooLow``, ``PoolKeyNotAllowed``, ``WindowCapExceeded``...); ``preflight`` tells
    whether it was refused before anything was sent."""
    hook = before_broadcast if before_broadcast is not None else _no_hook
    return tx.send(prepared.request, hook)


def _no_hook(_: Attempt) -> None:
    return None


@dataclass
class VenueExecutor:
    """Builds and verifies venue hedges for one Safe.

    ``decimals``: by currency address (lower case; the zero address is native ETH, 18).
    """

    safe: str
    venue_module: str
    hedge_module: str
    weth: str
    aave_pool: str
    decimals: Mapping[str, int]

    def __post_init__(self) -> None:
        for name in ("safe", "venue_module", "hedge_module", "weth"):
            if int(getattr(self, name) or "0x0", 16) == 0:
                raise InputError(name, "required: the address is missing")
        self.decimals = {k.lower(): v for k, v in self.decimals.items()}

    def _asset(self, currency: str) -> str:
        return to_checksum_address(self.weth if _same(currency, NATIVE) else currency)

    def prepare(self, h: VenueHedge, deadline: int) -> PreparedVenueHedge:
        if h.kind == "v4_swap":
            data = hv.hedge_v4_swap(hv.V4SwapArgs(h.key, h.zero_for_one, h.amount_raw, h.min_out_raw, deadline))
            asset = ""
        elif h.kind == "borrow_sell":
            if not _same(self._asset(h.currency_in), h.reserve):
                raise InputError("reserve", f"{h.reserve} is not what the key sells ({h.currency_in})")
            asset = to_checksum_address(h.reserve)
            data = hv.hedge_borrow_sell(hv.BorrowSellArgs(asset, h.amount_raw, h.key, h.zero_for_one,
                                                          h.min_out_raw, deadline))
        else:
            asset = self._asset(h.currency_out)
            data = hv.hedge_buy_repay(hv.BuyRepayArgs(h.key, h.zero_for_one, h.amount_raw, h.min_out_raw, deadline))
        if asset and int(self.aave_pool or "0x0", 16) == 0:
            raise InputError("aave_pool", f"a {h.kind.replace('_', '-')} needs the Aave pool")
        return PreparedVenueHedge(h, TxRequest(to=to_checksum_address(self.venue_module), data=data), asset)

    def from_calldata(self, data: bytes, side: Literal["sell", "buy"]) -> PreparedVenueHedge:
        """The hedge a HedgeVenueModule call carries (recovery after a restart): ``side`` is the journaled side
        of the risky currency, which names the quote currency (what a sell receives, what a buy spends)."""
        sel = data[:4]
        if sel == selector(hv.HEDGE_V4_SWAP):
            a = hv.decode_hedge_v4_swap(data)
            kind: VenueKind = "v4_swap"
            key, z, amount, min_out, reserve = a.key, a.zero_for_one, a.amount_in, a.min_out, ""
        elif sel == selector(hv.HEDGE_BORROW_SELL):
            b = hv.decode_hedge_borrow_sell(data)
            kind, key, z, amount, min_out, reserve = "borrow_sell", b.key, b.zero_for_one, b.amount, b.min_out, b.asset
        elif sel == selector(hv.HEDGE_BUY_REPAY):
            r = hv.decode_hedge_buy_repay(data)
            kind, key, z, amount, min_out, reserve = "buy_repay", r.key, r.zero_for_one, r.amount_in, r.min_out, ""
        else:
            raise InputError("data", f"calldata selector 0x{sel.hex()} is not a hedge of the HedgeVenueModule")
        c_in, c_out = (key.currency0, key.currency1) if z else (key.currency1, key.currency0)
        quote = c_out if side == "sell" else c_in
        h = VenueHedge(kind, key, side, amount, min_out, quote, reserve)
        asset = to_checksum_address(reserve) if kind == "borrow_sell" else \
            self._asset(h.currency_out) if kind == "buy_repay" else ""
        return PreparedVenueHedge(h, TxRequest(to=to_checksum_address(self.venue_module), data=data), asset)

    # ------------------------------------------------------------------ verify
    def _balance(self, currency: str, multicall: StateReader) -> Call:
        if _same(currency, NATIVE):
            return eth_balance_call(self.safe, multicall.address)
        return erc20.balance_of_call(currency, self.safe)

    def _read(self, multicall: StateReader, calls: list[Call], block: int) -> list[tuple[Any, ...]]:
        res = multicall.execute(calls, block)
        bad = [f"{c.label}: {r.reason}" for c, r in zip(calls, res, strict=True) if isinstance(r, Failed)]
        if bad:
            raise TransactionError(f"cannot verify the venue hedge in block {block}: " + "; ".join(bad))
        return [r.value for r in res if not isinstance(r, Failed)]

    def _events(self, receipt: Mapping[str, Any]) -> tuple[list[tuple[int, ...]], list[tuple[int, int, int, int]]]:
        """(V4HedgeExecuted data, AaveAction (action, amount, health factor, asset)) logged by the venue module."""
        swaps: list[tuple[int, ...]] = []
        aave: list[tuple[int, int, int, int]] = []
        for log in receipt.get("logs", []):
            if not _same(str(log["address"]), self.venue_module):
                continue
            topics = [bytes.fromhex(str(t)[2:]) for t in log["topics"]]
            data = bytes.fromhex(str(log["data"])[2:])
            if topics and topics[0] == V4_EVENT:
                swaps.append(tuple(decode(["bool"] + ["uint256"] * 5, data)))
            elif topics and topics[0] == AAVE_EVENT:
                amount, hf = decode(["uint256", "uint256"], data)
                aave.append((int.from_bytes(topics[1], "big"), int(amount), int(hf),
                             int.from_bytes(topics[2], "big")))
        return swaps, aave

    # Long on purpose: one verification per kind of hedge, each reading the same before/after state.
    def verify(self, p: PreparedVenueHedge, mined: Mined, multicall: StateReader,  # noqa: C901, PLR0912, PLR0915
               native_price_quote: float = 0.0) -> VenueFill:
        """Read the Safe before and after the receipt's block and check the hedge did what was asked.

        Raises :class:`TransactionError` naming what differs (nothing traded because the HedgeModule paused
        itself, an output below the minimum, a debt that did not move by the amount, a health factor below the
        owners' minimum).
        """
        h = p.hedge
        r = mined.receipt
        block = int(r["blockNumber"], 16)
        cin, cout = h.currency_in, h.currency_out
        # A borrow-and-sell's borrowed asset and a buy-and-repay's repaid asset are the wallet balances to watch
        # (WETH when the pool's currency is native ETH: the module unwraps / wraps it).
        wallet_in = p.aave_asset if h.kind == "borrow_sell" else cin
        wallet_out = p.aave_asset if h.kind == "buy_repay" else cout
        calls = [self._balance(wallet_in, multicall), self._balance(wallet_out, multicall),
                 hedge_module.window_usage_call(self.hedge_module), hedge_module.loss_usage_call(self.hedge_module)]
        debt_token = ""
        if p.aave_asset:
            [rd] = self._read(multicall, [aave_v3.reserve_data_call(self.aave_pool, p.aave_asset)], block)
            debt_token = str(rd[10])
            calls += [aave_v3.scaled_balance_call(debt_token, self.safe),
                      aave_v3.reserve_data_call(self.aave_pool, p.aave_asset),
                      aave_v3.user_account_data_call(self.aave_pool, self.safe),
                      Call(self.venue_module, "minHealthFactor()", (), ("uint256",), "minHealthFactor")]
        before = self._read(multicall, calls, block - 1)
        after = self._read(multicall, [*calls, block_timestamp_call(multicall.address)], block)
        swaps, aave = self._events(r)
        window = int(after[2][0]) - int(before[2][0])
        loss = int(after[3][1]) - int(before[3][1])
        d_in = int(after[0][0]) - int(before[0][0])
        d_out = int(after[1][0]) - int(before[1][0])
        if not swaps:
            raise TransactionError(
                f"the venue hedge traded nothing in block {block}: the HedgeModule refused to book it and paused "
                "itself (its loss budget left is below the trade's worst case); see HedgeModule.paused()")
        if len(swaps) != 1:
            raise TransactionError(f"the venue hedge logged {len(swaps)} swaps in block {block}, expected one")
        _, amount_in_ev, amount_out, _, price_in, price_out = (int(x) for x in swaps[0])
        got = amount_out
        if got < h.min_out_raw:
            raise TransactionError(f"the swap returned {got} raw, below the minimum {h.min_out_raw}")
        debt_change = 0
        hf = 0
        if h.kind == "v4_swap":
            spent = -d_in
            if not 0 < spent <= h.amount_raw or d_out != got:
                raise TransactionError(f"the Safe's balances do not match the swap: spent {spent} raw (max "
                                       f"{h.amount_raw}), received {d_out} raw (the module logged {got})")
        else:
            scaled_before, scaled_after = int(before[4][0]), int(after[4][0])
            index = int(after[5][3])  # variableBorrowIndex, updated by the action in this block
            hf = int(after[6][5])
            min_hf = int(after[7][0])
            if h.kind == "borrow_sell":
                spent = h.amount_raw
                want = _ray_div(h.amount_raw, index)
                if scaled_after - scaled_before != want:
                    raise TransactionError(f"the Safe's scaled {p.aave_asset} debt rose by "
                                           f"{scaled_after - scaled_before}, not by rayDiv({h.amount_raw}) = {want}")
                if d_in != 0 or d_out != got:
                    raise TransactionError(f"the borrowed amount was not all sold: the Safe's input balance moved by "
                                           f"{d_in} raw, its output by {d_out} raw (the module logged {got})")
                debt_change = h.amount_raw
                if hf < min_hf:
                    raise TransactionError(f"health factor {hf / WAD:.4f} after the borrow is below the owners' "
                                           f"minimum {min_hf / WAD:.4f}")
            else:
                spent = -d_in
                repaid = got - d_out
                if not 0 < spent <= h.amount_raw or repaid < 0:
                    raise TransactionError(f"the Safe's balances do not match the buy: spent {spent} raw, output "
                                           f"balance moved by {d_out} raw of {got} bought")
                want = scaled_before if scaled_after == 0 else _ray_div(repaid, index)
                if scaled_before - scaled_after != want:
                    raise TransactionError(f"the Safe's scaled {p.aave_asset} debt fell by "
                                           f"{scaled_before - scaled_after}, not by rayDiv({repaid}) = {want}")
                debt_change = -repaid
            if not aave or aave[-1][2] != hf:
                raise TransactionError(f"the module's health factor after the action ({aave[-1][2] if aave else 'none'}"
                                       f") differs from getUserAccountData at block {block} ({hf})")
        if spent != amount_in_ev and h.kind != "v4_swap":
            raise TransactionError(f"the module logged an input of {amount_in_ev} raw, the order {spent}")
        ts = int(after[-1][0])
        dec_in, dec_out = self.decimals[cin.lower()], self.decimals[cout.lower()]
        if h.side == "sell":
            units, quote_units, oracle = spent / 10**dec_in, got / 10**dec_out, price_in / price_out
        else:
            units, quote_units, oracle = got / 10**dec_out, spent / 10**dec_in, price_out / price_in
        realized = quote_units / units
        worse = (oracle - realized) if h.side == "sell" else (realized - oracle)
        gas_used = int(r["gasUsed"], 16)
        gas_price = int(r.get("effectiveGasPrice", "0x0"), 16)
        gas_native = gas_used * gas_price / 1e18
        fill = VerifiedFill(
            amount_in=spent, amount_out=got, underlying_units=units, quote_units=quote_units,
            realized_price=realized, oracle_price=oracle, slippage_bps=worse / oracle * 1e4,
            fee_quote=quote_units * h.key.fee / 1e6, gas_used=gas_used, effective_gas_price=gas_price,
            gas_cost_native=gas_native, gas_cost_quote=gas_native * native_price_quote, block_number=block,
            block_timestamp=ts, tx_hash=mined.attempt.tx_hash, notional_quote=units * oracle,
        )
        return VenueFill(kind=h.kind, spent_raw=spent, received_raw=got, debt_change_raw=debt_change,
                         health_factor_wad=hf, notional_booked_wad=window, loss_booked_wad=loss, fill=fill)
