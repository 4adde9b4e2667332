"""A hedge the module refuses in preflight is not sent and does not stop the cycle's other hedges: the
cycle reports it failed with the decoded reason, journals no intent for it, and the next hedge goes out."""

from __future__ import annotations

from pathlib import Path

import pytest
from web3 import Web3

from keeper.devnet.keeper_setup import world_keeper
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.journal import Journal
from tests.integration.test_golive_gate import set_trade_cap
from tests.integration.test_hedge_cycle import current_deltas, policy

pytestmark = pytest.mark.anvil


def test_a_refused_hedge_leaves_the_others_going(chain: Web3, world: World, tmp_path: Path) -> None:
    m = world.manifest
    d = current_deltas(world, m)
    # BTC: buy 2.5 units (~150,000 USD) against a module cap the owners lowered to 130,000 USD; ETH 30 units
    # (~90,000 USD) on its perp, under the cap.
    set_trade_cap(chain, world, 130_000)
    journal = Journal.open(tmp_path / "journal.sqlite")
    k = world_keeper(world.url, m, journal, policy(d["ETH"] - 30, d["BTC"] + 2.5))
    start = chain.eth.block_number
    report = k.cycle()
    by = {h.trade.order.underlying: h for h in report.hedges}
    assert set(by) == {"ETH", "BTC"}, "both hedges were tried"
    assert by["BTC"].fill is None and by["BTC"].intent_id == ""
    assert "TradeCapExceeded" in (by["BTC"].error or "") and "not sent" in (by["BTC"].error or "")
    assert by["ETH"].fill is not None, by["ETH"].error
    assert report.status == "failed" and "TradeCapExceeded" in report.message
    intents = journal.intents_for_cycle(report.cycle_id)
    assert [i.underlying for i in intents] == ["ETH"], "nothing was journaled or signed for the refused hedge"
    module = contract(chain, "HedgeModule", m.hedge_module)
    perps = module.events.PerpHedgeExecuted().get_logs(from_block=start + 1)
    swaps = module.events.HedgeExecuted().get_logs(from_block=start + 1)
    assert len(perps) == 1 and swaps == []
