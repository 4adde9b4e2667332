"""Vol fitted on the snapshot's pool history (PoolHistoryVol): returns from tick cumulatives, the
token order's sign, and errors that name what is missing."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest

from keeper.config import load_config
from keeper.core.snapshot import PoolHistory, ReadFailure, Snapshot
from keeper.core.vol import EWMAVol, PoolHistoryVol
from keeper.cycle.sources import book_sources
from keeper.errors import ChainError, InputError
from tests.unit.test_config import devnet_data, edited, write

__all__ = ["write"]  # the fixture, imported from test_config

POOL = "0x" + "ab" * 20


def snapshot(histories: dict[str, PoolHistory], failures: tuple[ReadFailure, ...] = ()) -> Snapshot:
    return Snapshot(chain_id=1, block_number=100, block_timestamp=1_700_000_000, owners=("0x" + "01" * 20,),
                    tokens={}, pools={}, lps=(), options=(), perp_markets={}, perps=(), feeds={}, twaps={},
                    balances={}, failures=failures, histories=histories)


def history_for(model: PoolHistoryVol, mean_ticks: list[int]) -> PoolHistory:
    """Cumulatives whose mean tick over each interval is ``mean_ticks[i]``."""
    cums = [0]
    for t in mean_ticks:
        cums.append(cums[-1] + t * int(model.sample_s))
    return PoolHistory(POOL, model.seconds_agos(), tuple(cums))


def test_returns_from_mean_ticks_and_the_token_order() -> None:
    m0 = PoolHistoryVol(POOL, True, "ewma", history_s=1200, sample_s=300)
    assert m0.seconds_agos() == (1200, 900, 600, 300, 0)
    h = history_for(m0, [100, 150, 90, 90])
    ln = math.log(1.0001)
    assert m0.returns(h) == pytest.approx([50 * ln, -60 * ln, 0.0], rel=1e-12)
    m1 = PoolHistoryVol(POOL, False, "ewma", history_s=1200, sample_s=300)
    assert m1.returns(h) == pytest.approx([-50 * ln, 60 * ln, 0.0], rel=1e-12)


def test_ewma_from_the_snapshot_matches_the_recursion_by_hand() -> None:
    m = PoolHistoryVol(POOL, True, "ewma", history_s=1500, sample_s=300, ewma_lambda=0.9)
    h = history_for(m, [0, 10, -5, 20, 20])
    vol = m.at(snapshot({POOL: h}))
    assert isinstance(vol, EWMAVol)
    ln, dt = math.log(1.0001), 300 / (365 * 86400)
    x = [(r * ln) ** 2 / dt for r in (10, -15, 25, 0)]
    v = sum(x) / len(x)
    for xi in x:
        v = 0.9 * v + 0.1 * xi
    assert vol.annualized_vol(86400) == pytest.approx(math.sqrt(v), rel=1e-12)


def test_missing_or_mismatched_history_is_an_error_naming_the_pool() -> None:
    m = PoolHistoryVol(POOL, True, "ewma", history_s=1200, sample_s=300)
    failure = ReadFailure(f"pool {POOL} history over 1,200 s", "OLD")
    with pytest.raises(ChainError, match=f"pool {POOL} at block 100: OLD .*observation cardinality"):
        m.at(snapshot({}, (failure,)))
    with pytest.raises(ChainError, match="not read"):
        m.at(snapshot({}))
    other = PoolHistoryVol(POOL, True, "ewma", history_s=1500, sample_s=300)
    with pytest.raises(InputError, match="history.*read at 5 points, the model needs 6"):
        other.at(snapshot({POOL: history_for(m, [1, 2, 3, 4])}))
    with pytest.raises(InputError, match="history_s"):
        PoolHistoryVol(POOL, True, "ewma", history_s=600, sample_s=300)
    with pytest.raises(InputError, match="sample_s"):
        PoolHistoryVol(POOL, True, "ewma", history_s=600, sample_s=0)


def test_the_config_asks_the_reader_for_each_oracle_pools_history(write: Callable[..., Path]) -> None:
    cfg = load_config(write(edited([("set", "vol.model", "ewma"), ("set", "vol.history_s", 6000),
                                    ("set", "vol.sample_s", 600)])), env={})
    src = book_sources(cfg, ["0x" + "01" * 20])
    pools = [a.oracle_pool for a in cfg.assets]
    assert src.histories == tuple((p, (6000, 5400, 4800, 4200, 3600, 3000, 2400, 1800, 1200, 600, 0)) for p in pools)
    fixed = load_config(write(devnet_data()), env={})
    assert book_sources(fixed, ["0x" + "01" * 20]).histories == ()
