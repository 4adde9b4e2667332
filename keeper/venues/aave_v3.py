"""Aave v3 Pool, AaveOracle and its tokens: the reads (core 1.19.3 ABI) and their decoding.

A reserve's state comes from ``Pool.getReserveData`` (token addresses, id, stored indexes and rates,
configuration bitmap) plus the indexes *at the block* (``getReserveNormalizedIncome`` and
``getReserveNormalizedVariableDebt``, what the tokens multiply scaled balances by). An owner's
position is its scaled aToken and variable-debt balances (``scaledBalanceOf``) and its stable debt
(``balanceOf``, interest included); :func:`keeper.core.aave.account_data` turns them into the Pool's
own ``getUserAccountData`` figures.
"""

from __future__ import annotations

from typing import Any

from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address

from keeper.chain.multicall import Call, selector
from keeper.core.snapshot import AaveReserveState
from keeper.errors import InputError

__all__ = [
    "BORROW",
    "REPAY",
    "RESERVE_DATA_TYPES",
    "SUPPLY",
    "USER_ACCOUNT_DATA_TYPES",
    "VARIABLE_RATE",
    "addresses_provider_call",
    "asset_price_call",
    "balance_of_call",
    "borrow",
    "decode_loan",
    "get_pool_call",
    "normalized_debt_call",
    "normalized_income_call",
    "parse_reserve",
    "price_oracle_call",
    "repay",
    "reserve_data_call",
    "reserves_list_call",
    "scaled_balance_call",
    "source_of_asset_call",
    "supply",
    "user_account_data_call",
    "user_configuration_call",
    "user_emode_call",
]

RESERVE_DATA_TYPES = (
    "uint256", "uint128", "uint128", "uint128", "uint128", "uint128", "uint40", "uint16",
    "address", "address", "address", "address", "uint128", "uint128", "uint128",
)
"""``getReserveData``'s ``DataTypes.ReserveData`` (a static struct, ABI-identical to these fields):
configuration, liquidityIndex, currentLiquidityRate, variableBorrowIndex, currentVariableBorrowRate,
currentStableBorrowRate, lastUpdateTimestamp, id, aToken, stableDebtToken, variableDebtToken,
interestRateStrategy, accruedToTreasury, unbacked, isolationModeTotalDebt."""
USER_ACCOUNT_DATA_TYPES = ("uint256",) * 6
"""totalCollateralBase, totalDebtBase, availableBorrowsBase, currentLiquidationThreshold, ltv, healthFactor."""


def addresses_provider_call(pool: str) -> Call:
    return Call(pool, "ADDRESSES_PROVIDER()", (), ("address",), f"Aave pool {pool} ADDRESSES_PROVIDER", 20_000)


def price_oracle_call(provider: str) -> Call:
    return Call(provider, "getPriceOracle()", (), ("address",), f"Aave provider {provider} getPriceOracle", 30_000)


def get_pool_call(provider: str) -> Call:
    return Call(provider, "getPool()", (), ("address",), f"Aave provider {provider} getPool", 30_000)


def source_of_asset_call(oracle: str, asset: str) -> Call:
    """``AaveOracle.getSourceOfAsset(asset)``: the price feed the oracle reads for ``asset``."""
    return Call(oracle, "getSourceOfAsset(address)", (asset,), ("address",),
                f"AaveOracle source of {asset}", 30_000)


def reserves_list_call(pool: str) -> Call:
    return Call(pool, "getReservesList()", (), ("address[]",), f"Aave pool {pool} getReservesList", 200_000)


def reserve_data_call(pool: str, asset: str) -> Call:
    return Call(pool, "getReserveData(address)", (asset,), RESERVE_DATA_TYPES,
                f"Aave reserve {asset} getReserveData", 80_000)


def normalized_income_call(pool: str, asset: str) -> Call:
    return Call(pool, "getReserveNormalizedIncome(address)", (asset,), ("uint256",),
                f"Aave reserve {asset} normalized income", 40_000)


def normalized_debt_call(pool: str, asset: str) -> Call:
    return Call(pool, "getReserveNormalizedVariableDebt(address)", (asset,), ("uint256",),
                f"Aave reserve {asset} normalized variable debt", 40_000)


def user_configuration_call(pool: str, user: str) -> Call:
    # ``UserConfigurationMap`` is a one-word static struct: ABI-identical to a uint256.
    return Call(pool, "getUserConfiguration(address)", (user,), ("uint256",),
                f"Aave user configuration of {user}", 20_000)


def user_emode_call(pool: str, user: str) -> Call:
    return Call(pool, "getUserEMode(address)", (user,), ("uint256",), f"Aave e-mode of {user}", 20_000)


def user_account_data_call(pool: str, user: str) -> Call:
    """The Pool's own account figures (for checks; the reader computes them from balances)."""
    return Call(pool, "getUserAccountData(address)", (user,), USER_ACCOUNT_DATA_TYPES,
                f"Aave getUserAccountData of {user}", 400_000)


def asset_price_call(oracle: str, asset: str) -> Call:
    return Call(oracle, "getAssetPrice(address)", (asset,), ("uint256",), f"AaveOracle price of {asset}", 60_000)


def scaled_balance_call(token: str, user: str) -> Call:
    return Call(token, "scaledBalanceOf(address)", (user,), ("uint256",),
                f"scaledBalanceOf({user}) in {token}", 20_000)


def balance_of_call(token: str, user: str) -> Call:
    return Call(token, "balanceOf(address)", (user,), ("uint256",), f"balanceOf({user}) in {token}", 40_000)


def parse_reserve(asset: str, data: tuple[Any, ...], income: int, debt_index: int, price: int) -> AaveReserveState:
    """A reserve from ``getReserveData``'s fields, its indexes at the block and its oracle price."""
    if len(data) != len(RESERVE_DATA_TYPES):
        raise ValueError(f"getReserveData returned {len(data)} fields, expected {len(RESERVE_DATA_TYPES)}")
    if income <= 0 or debt_index <= 0:
        raise ValueError(f"non-positive index (income {income}, variable debt {debt_index})")
    if price <= 0:
        raise ValueError(f"non-positive oracle price {price}")
    return AaveReserveState(
        asset=to_checksum_address(asset), reserve_id=int(data[7]), configuration=int(data[0]),
        a_token=to_checksum_address(str(data[8])), variable_debt_token=to_checksum_address(str(data[10])),
        stable_debt_token=to_checksum_address(str(data[9])), liquidity_index=int(income),
        variable_borrow_index=int(debt_index), liquidity_rate=int(data[2]), variable_borrow_rate=int(data[4]),
        price=int(price),
    )


# --------------------------------------------------------------------------- Pool writes (core 1.19.3)

SUPPLY = "supply(address,uint256,address,uint16)"
BORROW = "borrow(address,uint256,uint256,uint16,address)"
REPAY = "repay(address,uint256,uint256,address)"
VARIABLE_RATE = 2
"""``DataTypes.InterestRateMode.VARIABLE``."""


def supply(asset: str, amount: int, on_behalf_of: str) -> bytes:
    """``Pool.supply``: deposit ``amount`` of ``asset`` (the caller approved the Pool) for ``on_behalf_of``."""
    return selector(SUPPLY) + encode(["address", "uint256", "address", "uint16"], [asset, amount, on_behalf_of, 0])


def borrow(asset: str, amount: int, on_behalf_of: str) -> bytes:
    """``Pool.borrow`` at the variable rate; the tokens go to the caller, the debt to ``on_behalf_of``."""
    return selector(BORROW) + encode(["address", "uint256", "uint256", "uint16", "address"],
                                     [asset, amount, VARIABLE_RATE, 0, on_behalf_of])


def repay(asset: str, amount: int, on_behalf_of: str) -> bytes:
    """``Pool.repay`` of variable debt with the caller's tokens (the caller approved the Pool)."""
    return selector(REPAY) + encode(["address", "uint256", "uint256", "address"],
                                    [asset, amount, VARIABLE_RATE, on_behalf_of])


def decode_loan(data: bytes) -> tuple[str, str, int, str]:
    """(``"borrow"`` | ``"repay"``, asset, amount, on behalf of) of :func:`borrow` / :func:`repay` calldata."""
    sel = data[:4]
    if sel == selector(BORROW):
        asset, amount, _mode, _ref, who = decode(["address", "uint256", "uint256", "uint16", "address"], data[4:])
        return "borrow", to_checksum_address(str(asset)), int(amount), to_checksum_address(str(who))
    if sel == selector(REPAY):
        asset, amount, _mode, who = decode(["address", "uint256", "uint256", "address"], data[4:])
        return "repay", to_checksum_address(str(asset)), int(amount), to_checksum_address(str(who))
    raise InputError("data", f"calldata selector 0x{sel.hex()} is not an Aave borrow or repay")
