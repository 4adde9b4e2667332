"""The module-parameter differences a person reads after a batch: values shown without Python reprs."""

from __future__ import annotations

import dataclasses

from keeper.onboarding.intent import param_differences
from keeper.venues.hedge_module import OnchainParams

A, B, C = "0x" + "11" * 20, "0x" + "22" * 20, "0x" + "33" * 20


def params(**kw: object) -> OnchainParams:
    base = OnchainParams(
        version=b"\x01" * 32, chain_id=1, module=A, safe=B, keeper=C, guardian=A, router=B,
        max_per_trade_wad=500_000 * 10**18, max_per_window_wad=2_000_000 * 10**18, window_s=86_400,
        max_slippage_bps=100, pools=((A, B, C, 500),), tokens=((B, C, 3600, 18),), markets=(),
        factory=A, loss_budget_window_wad=10**22, loss_budget_total_wad=5 * 10**22, twap_s=1800,
        perp_min_margin_bps=1000, sequencer_feed=A, sequencer_grace_s=0)
    return dataclasses.replace(base, **kw)  # type: ignore[arg-type]


def test_each_difference_is_one_readable_line() -> None:
    want = params()
    got = params(max_slippage_bps=50, pools=(), tokens=((B, C, 7200, 18),), version=b"\x02" * 32)
    lines = param_differences(want, got)
    assert lines == [
        f"version: on chain 0x{'02' * 32}, config wants 0x{'01' * 32}",
        "max_slippage_bps: on chain 50, config wants 100",
        f"pools: on chain none, config wants [({A} / {B} / {C} / 500)]",
        f"tokens: on chain [({B} / {C} / 7,200 / 18)], config wants [({B} / {C} / 3,600 / 18)]",
    ]
    assert not any("(b'" in ln or "((" in ln or "'" in ln for ln in lines)
    assert param_differences(want, params()) == []
