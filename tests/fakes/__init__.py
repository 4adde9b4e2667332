"""In-memory fakes for the ports of a keeper cycle (:mod:`keeper.cycle.ports`).

:class:`MemoryChain` (book, state and chain reads), :class:`FakeSender` (sending) and
:class:`FakeClock` replace the node; the journal is the real SQLite :class:`~keeper.journal.Journal`
(in memory, or on a temporary file when a test restarts the keeper). The planner, the policy, the
greeks and the executor (calldata, fill verification) are the real ones: :func:`memory_keeper`
wires them as :func:`keeper.cycle.compose.build_keeper` wires the production ones.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from keeper.core.gates import GateConfig
from keeper.core.inputs import UnderlyingVenues
from keeper.core.policy import PolicyConfig, UnderlyingPolicy
from keeper.core.sizing import SizingConfig, TriggerConfig
from keeper.core.vol import FixedVol
from keeper.cycle.runner import Keeper
from keeper.execute.execution import Executor
from keeper.journal import Journal
from tests.fakes.chain import CHAIN_ID, KEEPER, MODULE, POOL, ROUTER, SAFE, USDC, WETH, MemoryChain
from tests.fakes.clock import FakeClock
from tests.fakes.sender import FakeSender, Killed

__all__ = [
    "CHAIN_ID",
    "KEEPER",
    "MAX_FEED_AGE_S",
    "MODULE",
    "POOL",
    "SAFE",
    "USDC",
    "WETH",
    "FakeClock",
    "FakeSender",
    "Killed",
    "MemoryChain",
    "MemoryKeeper",
    "band",
    "memory_keeper",
]

MemoryKeeper: TypeAlias = Keeper[MemoryChain, MemoryChain, Journal, FakeSender]
MAX_FEED_AGE_S = 3_600


def band(target: float, half_width: float, *, max_feed_age_s: float = MAX_FEED_AGE_S) -> PolicyConfig:
    """ETH: a fixed no-trade band of ``half_width`` units around ``target``, hedged back to the target."""
    return PolicyConfig(UnderlyingPolicy(
        target_delta_units=target, trigger=TriggerConfig(trigger="fixed", band_units=half_width),
        sizing=SizingConfig(hedge_to="target", max_trade_usd=1e7, window_cap_usd=1e8),
        gates=GateConfig(max_oracle_deviation_bps=100, max_feed_age_s=max_feed_age_s),
    ))


def memory_keeper(chain: MemoryChain, sender: FakeSender, journal: Journal, policy: PolicyConfig,
                  **kw: Any) -> MemoryKeeper:
    """A live keeper for the Safe on ``chain``, hedging ETH through the HedgeModule's swap."""
    executor = Executor(mode="safe-module", account=SAFE, router=ROUTER, module=MODULE, tokens={"ETH": WETH},
                        quote_token=USDC, max_slippage_bps=50)
    return Keeper(
        rpc=chain, reader=chain, multicall=chain, journal=journal, tx=sender, executor=executor, policy=policy,
        venues={"ETH": UnderlyingVenues("ETH", WETH, POOL, (POOL,))}, vol_models={"ETH": FixedVol(0.6)},
        quote_token=USDC, chain_id=CHAIN_ID, clock=sender.clock, **kw,
    )
