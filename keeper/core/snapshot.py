"""The book at one block: every position and price the keeper decides on.

Plain frozen data, no I/O. Raw on-chain integers stay integers (token amounts in raw units,
sqrtPriceX96, liquidity, fee growth in X128); conversion to floats happens where greeks are
computed. A position that could not be read is listed in ``failures`` and is never present
as zero: a snapshot with failures is incomplete and must not be traded on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "AaveAccountState",
    "AaveMarketState",
    "AaveReserveState",
    "FeedReading",
    "LpPosition",
    "OptionPosition",
    "PerpMarketState",
    "PerpPosition",
    "PoolHistory",
    "PoolState",
    "ReadFailure",
    "Snapshot",
    "TickFees",
    "TokenMeta",
    "TwapReading",
    "V4LpPosition",
    "V4PoolKey",
    "V4PoolState",
    "V4QuoteReading",
]


@dataclass(frozen=True)
class TokenMeta:
    address: str
    symbol: str
    decimals: int


@dataclass(frozen=True)
class TickFees:
    """A tick's fee growth outside, X128 per unit of liquidity (from ``pool.ticks(tick)``)."""

    tick: int
    fee_growth_outside0_x128: int
    fee_growth_outside1_x128: int
    initialized: bool


@dataclass(frozen=True)
class PoolState:
    address: str
    token0: str
    token1: str
    fee: int
    """Fee tier in hundredths of a bip (500 = 0.05 %)."""
    sqrt_price_x96: int
    tick: int
    liquidity: int
    """Active (in-range) liquidity."""
    fee_growth_global0_x128: int
    fee_growth_global1_x128: int
    observation_cardinality: int
    ticks: dict[int, TickFees] = field(default_factory=dict)


@dataclass(frozen=True)
class TwapReading:
    """Time-weighted average tick of a pool over ``window_s`` seconds ending at the snapshot block."""

    pool: str
    window_s: int
    mean_tick: int
    """Arithmetic mean tick, rounded toward negative infinity as Uniswap's OracleLibrary does."""


@dataclass(frozen=True)
class PoolHistory:
    """A pool's oracle read at the snapshot block: ``observe(seconds_agos)``'s tick cumulatives, for
    the vol models (EWMA / GARCH) to fit on the same block as everything else in the cycle."""

    pool: str
    seconds_agos: tuple[int, ...]
    """Evenly spaced, oldest first, ending at 0 (the snapshot block)."""
    tick_cumulatives: tuple[int, ...]


@dataclass(frozen=True)
class LpPosition:
    """A Uniswap v3 NonfungiblePositionManager position."""

    token_id: int
    owner: str
    pool: str
    token0: str
    token1: str
    fee: int
    tick_lower: int
    tick_upper: int
    liquidity: int
    fee_growth_inside0_last_x128: int
    fee_growth_inside1_last_x128: int
    tokens_owed0: int
    tokens_owed1: int


@dataclass(frozen=True)
class V4PoolKey:
    """A Uniswap v4 pool's key. ``currency0 < currency1``; the native coin is the zero address."""

    currency0: str
    currency1: str
    fee: int
    """LP fee in hundredths of a bip, or ``0x800000`` (dynamic: the hook sets it)."""
    tick_spacing: int
    hooks: str
    """The hook contract (zero address: none); its low 14 address bits are its permissions."""


@dataclass(frozen=True)
class V4PoolState:
    """A v4 pool at the snapshot block (StateView reads), with the ticks its positions need."""

    pool_id: str
    key: V4PoolKey
    sqrt_price_x96: int
    tick: int
    protocol_fee: int
    lp_fee: int
    liquidity: int
    fee_growth_global0_x128: int
    fee_growth_global1_x128: int
    ticks: dict[int, TickFees] = field(default_factory=dict)


@dataclass(frozen=True)
class V4LpPosition:
    """A Uniswap v4 PositionManager position (PoolManager position of the PositionManager, salt = token id)."""

    token_id: int
    owner: str
    pool_id: str
    tick_lower: int
    tick_upper: int
    liquidity: int
    fee_growth_inside0_last_x128: int
    fee_growth_inside1_last_x128: int


@dataclass(frozen=True)
class V4QuoteReading:
    """A V4Quoter ``quoteExactInputSingle`` answer at the snapshot block (raw units)."""

    pool_id: str
    zero_for_one: bool
    amount_in: int
    amount_out: int


@dataclass(frozen=True)
class OptionPosition:
    """Net option holding of one owner in one series. Amounts are 1e18 per unit of underlying."""

    source: str
    """``onchain:<market address>`` or ``otc:<counterparty>``."""
    series_id: int
    owner: str
    underlying: str
    """Underlying asset symbol (``ETH``, ``BTC``)."""
    strike: int
    """Strike, quote per underlying scaled 1e8."""
    expiry: int
    """Unix seconds."""
    is_put: bool
    long_amount: int
    short_amount: int

    @property
    def net_amount(self) -> int:
        return self.long_amount - self.short_amount


@dataclass(frozen=True)
class PerpMarketState:
    address: str
    underlying: str
    oracle_price: int
    """Quote per underlying, 1e18."""
    funding_rate_per_second: int
    """Signed, 1e18-scaled fraction per second paid by longs (received by shorts) when positive."""
    funding_index: int
    taker_fee_bps: int
    initial_margin_bps: int
    maintenance_margin_bps: int
    quote_token: str


@dataclass(frozen=True)
class PerpPosition:
    market: str
    account: str
    underlying: str
    size: int
    """Signed, 1e18 units of underlying (+ long)."""
    entry_price: int
    """Quote per underlying, 1e18."""
    margin: int
    """Quote token raw units."""
    last_funding_index: int
    remaining_margin: int
    """Margin after unrealized PnL and accrued funding, quote raw units (may be negative)."""


@dataclass(frozen=True)
class FeedReading:
    asset: str
    address: str
    answer: int
    decimals: int
    updated_at: int
    round_id: int

    @property
    def price(self) -> float:
        return float(self.answer) / float(10**self.decimals)


@dataclass(frozen=True)
class AaveReserveState:
    """One Aave v3 reserve at the snapshot block (``Pool.getReserveData`` and friends).

    ``liquidity_index`` and ``variable_borrow_index`` are the indexes *at the block*
    (``getReserveNormalizedIncome`` / ``getReserveNormalizedVariableDebt``, ray), i.e. what the
    aToken and the debt token multiply scaled balances by; the stored indexes lag until the next
    update of the reserve.
    """

    asset: str
    reserve_id: int
    configuration: int
    """The reserve-configuration bitmap (LTV, liquidation threshold, bonus, decimals, flags)."""
    a_token: str
    variable_debt_token: str
    stable_debt_token: str
    liquidity_index: int
    variable_borrow_index: int
    liquidity_rate: int
    """Supply APR, ray."""
    variable_borrow_rate: int
    """Variable borrow APR, ray."""
    price: int
    """``AaveOracle.getAssetPrice``, base-currency units (USD with 8 decimals on a USD market)."""


@dataclass(frozen=True)
class AaveMarketState:
    pool: str
    oracle: str
    reserves: dict[str, AaveReserveState]
    """By underlying token address, in the pool's reserve order."""


@dataclass(frozen=True)
class AaveAccountState:
    """One owner's account in one Aave v3 pool: raw scaled balances as the tokens store them."""

    pool: str
    owner: str
    user_configuration: int
    """``getUserConfiguration``: bit ``2 id`` borrowing, bit ``2 id + 1`` using as collateral."""
    e_mode: int
    scaled_supply: dict[str, int]
    """Underlying token -> ``aToken.scaledBalanceOf(owner)``."""
    scaled_variable_debt: dict[str, int]
    stable_debt: dict[str, int]
    """Underlying token -> ``stableDebtToken.balanceOf(owner)`` (already with its interest)."""


@dataclass(frozen=True)
class ReadFailure:
    """Something the reader could not read, and why. ``what`` names the position or price."""

    what: str
    reason: str


@dataclass(frozen=True)
class Snapshot:
    chain_id: int
    block_number: int
    block_timestamp: int
    owners: tuple[str, ...]
    tokens: dict[str, TokenMeta]
    pools: dict[str, PoolState]
    lps: tuple[LpPosition, ...]
    options: tuple[OptionPosition, ...]
    perp_markets: dict[str, PerpMarketState]
    perps: tuple[PerpPosition, ...]
    feeds: dict[str, FeedReading]
    twaps: dict[str, TwapReading]
    balances: dict[tuple[str, str], int]
    """(owner, token address) -> raw balance."""
    base_fee_wei: int = 0
    """The block's base fee per gas (``block.basefee``)."""
    failures: tuple[ReadFailure, ...] = ()
    round_trips: int = 0
    native_balances: dict[str, int] = field(default_factory=dict)
    """owner -> native coin balance in wei (Multicall3 ``getEthBalance``, same block)."""
    histories: dict[str, PoolHistory] = field(default_factory=dict)
    """pool -> its oracle history at this block (only the pools a history-fitted vol model needs)."""
    native_asset: str | None = None
    """The asset the native balances count as exposure to (``ETH``, whose token is WETH); ``None``:
    read and shown, not counted (``[treasury] count_native = false``, or no asset marked ``native``)."""
    aave_markets: dict[str, AaveMarketState] = field(default_factory=dict)
    """Aave v3 pools the owners may hold positions in, by pool address."""
    aave_accounts: tuple[AaveAccountState, ...] = ()
    """Every owner's account in every Aave pool with a supply or a debt (empty accounts left out)."""
    v4_pools: dict[str, V4PoolState] = field(default_factory=dict)
    """pool id -> the v4 pools of the owners' v4 positions."""
    v4_lps: tuple[V4LpPosition, ...] = ()
    """The owners' Uniswap v4 positions (sorted by token id)."""
    v4_native_asset: str | None = None
    """The asset a v4 pool's native currency (the zero address) is exposure to (``ETH``)."""
    v4_quotes: tuple[V4QuoteReading, ...] = ()
    """V4Quoter answers for the v4 hedge pools (a sell of the underlying and a buy with the quote token)."""

    @property
    def complete(self) -> bool:
        return not self.failures

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict (big integers stay ints; balances become a list of rows)."""
        out = asdict(self)
        out["balances"] = [
            {"owner": owner, "token": token, "amount": amount} for (owner, token), amount in self.balances.items()
        ]
        out["native_balances"] = [{"owner": owner, "amount": wei} for owner, wei in self.native_balances.items()]
        out["pools"] = {
            addr: {**pool, "ticks": list(pool["ticks"].values())} for addr, pool in out["pools"].items()
        }
        out["v4_pools"] = {
            pid: {**pool, "ticks": list(pool["ticks"].values())} for pid, pool in out["v4_pools"].items()
        }
        return out
