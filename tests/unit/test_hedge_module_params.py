"""The owners' HedgeModule parameters in Python: validation and the Safe transactions that set them."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest
from eth_abi.abi import decode

from keeper.errors import InputError
from keeper.venues.hedge_module import (
    ModuleParams,
    PerpLimit,
    PoolAllow,
    TokenFeed,
    calldata,
    setup_txs,
)

A = "0x" + "11" * 20
B = "0x" + "22" * 20
F = "0x" + "33" * 20
M = "0x" + "44" * 20


def params(**kw: object) -> ModuleParams:
    base = ModuleParams(
        keeper=A, guardian=B, router=F, factory=M, pools=(PoolAllow(A, B, 500),),
        tokens=(TokenFeed(A, F, 3600), TokenFeed(B, F, 86_400)),
        perps=(PerpLimit(M, F, 3600, Decimal(50)),),
        loss_budget_window_usd=Decimal(1_250), loss_budget_total_usd=Decimal(5_000),
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("kw", [
    {"loss_budget_window_usd": Decimal(6_000)},  # window budget above the total
    {"loss_budget_total_usd": Decimal(10**16)},  # above the module's 1e15 USD ceiling
    {"twap_s": 59},
    {"twap_s": 86_401},
    {"perp_min_margin_bps": 0},
    {"sequencer_grace_s": 86_401},
    {"perps": (PerpLimit(M, F, 3600, Decimal(0)),)},  # a perp market needs a position limit
    {"pools": (PoolAllow(A, B, 0),)},
])
def test_invalid_params_are_rejected(kw: dict[str, object]) -> None:
    with pytest.raises(InputError):
        params(**kw)


def test_setup_txs_set_pools_budgets_and_oracle_bounds() -> None:
    module = "0x" + "55" * 20
    p = params(twap_s=1800, perp_min_margin_bps=1000)
    data = [tx.data for tx in setup_txs("0x" + "66" * 20, module, p)]
    assert calldata("setFactory(address)", ["address"], [M]) in data
    assert calldata("setPoolAllowed(address,address,uint24,bool)", ["address", "address", "uint24", "bool"],
                    [A, B, 500, True]) in data
    budgets = next(d for d in data if d[:4] == calldata("setLossBudgets(uint256,uint256)", ["uint256", "uint256"],
                                                       [0, 0])[:4])
    assert decode(["uint256", "uint256"], budgets[4:]) == (1_250 * 10**18, 5_000 * 10**18)  # usd wad
    assert calldata("setTwapWindow(uint256)", ["uint256"], [1800]) in data
    assert calldata("setPerpMinMarginBps(uint256)", ["uint256"], [1000]) in data
    assert calldata("setPerpPositionLimit(address,uint256)", ["address", "uint256"], [M, 50 * 10**18]) in data
    assert not any(d[:4] == calldata("setFeeTierAllowed(uint24,bool)", ["uint24", "bool"], [500, True])[:4]
                   for d in data)
    assert p.fee_tiers == (500,)
