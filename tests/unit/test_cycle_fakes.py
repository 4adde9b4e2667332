"""Whole keeper cycles on in-memory ports: recover -> read -> decide -> execute -> verify -> journal.

The chain, the sender and the clock are fakes (:mod:`tests.fakes`); the journal is the real SQLite
one, and the planner, policy, greeks and executor (calldata, fill verification from balances at the
fill's block and the one before) are the production code. No node, no sleeps: each runs in
milliseconds. The anvil twins of these paths are tests/integration/test_hedge_cycle.py,
test_recovery.py and tests/reliability/test_crash_safety.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from keeper.errors import HaltError
from keeper.journal import CycleStatus, IntentStatus, Journal
from tests.fakes import (
    MAX_FEED_AGE_S,
    SAFE,
    USDC,
    WETH,
    FakeClock,
    FakeSender,
    Killed,
    MemoryChain,
    MemoryKeeper,
    band,
    memory_keeper,
)

TARGET, HALF_WIDTH = 10.0, 5.0
"""40 WETH held against a target of 10 +- 5 ETH: the first cycle sells 30 ETH."""


def setup(journal: Journal | None = None, *, automine: bool = True) -> tuple[MemoryChain, FakeSender, MemoryKeeper]:
    chain = MemoryChain(automine=automine)
    clock = FakeClock()
    sender = FakeSender(chain, clock)
    j = journal if journal is not None else Journal.memory(clock=clock.now)
    return chain, sender, memory_keeper(chain, sender, j, band(TARGET, HALF_WIDTH), max_consecutive_failures=2)


def eth_delta(k: MemoryKeeper) -> float:
    risk, _ = k.plan(k.reader.read(chain_id=k.chain_id))
    return risk.summaries["ETH"].delta


def test_a_cycle_outside_the_band_hedges_verifies_and_journals_the_fill() -> None:
    chain, sender, k = setup()
    assert eth_delta(k) == 40.0
    report = k.cycle()

    assert report.status == "ok" and report.message == ""
    [order] = report.plan.orders if report.plan is not None else ()
    assert (order.side, order.size_units, order.venue) == ("sell", 30.0, "uniswap")
    [hedge] = report.hedges
    assert hedge.error is None and hedge.fill is not None
    # The fill is what the chain did, read back from the Safe's balances around the fill's block.
    assert chain.balance(SAFE, WETH) == 10 * 10**18
    assert hedge.fill.amount_in == 30 * 10**18
    assert hedge.fill.amount_out == chain.balance(SAFE, USDC) - 1_000_000 * 10**6 > 0
    assert hedge.fill.realized_price == pytest.approx(3000.0 * (1 - 0.0005))

    j = k.journal
    assert j.cycle(report.cycle_id).status == CycleStatus.OK
    [intent] = j.intents_for_cycle(report.cycle_id)
    assert intent.status == IntentStatus.MINED and intent.error is None
    [attempt] = intent.attempts
    assert [attempt.tx_hash] == [a.tx_hash for a in sender.sent] == chain.hedges()
    [fill] = j.fills_between(0, 2**62)
    assert (fill.intent_id, fill.data.tx_hash, fill.data.amount_out) == (intent.id, attempt.tx_hash,
                                                                         hedge.fill.amount_out)
    assert j.control_state().consecutive_failures == 0

    # The next read sees the book back at the target; the next cycle sends nothing.
    assert eth_delta(k) == TARGET
    again = k.cycle()
    assert again.status == "ok" and again.plan is not None and again.plan.orders == ()
    assert again.plan.decision("ETH").reason_codes == ("inside_band",)
    assert len(sender.sent) == 1 and len(chain.hedges()) == 1


def test_a_hedge_that_reverts_on_chain_is_journaled_failed_and_trips_the_breaker() -> None:
    chain, sender, k = setup()
    chain.move_in_next_block = -0.02  # the pool moves 2 % against the hedge between preflight and inclusion
    report = k.cycle()

    assert report.status == "failed"
    [hedge] = report.hedges
    assert hedge.fill is None and hedge.error is not None and "Too little received" in hedge.error
    [attempt] = sender.sent
    assert chain.receipts[attempt.tx_hash]["status"] == "0x0", "mined, and reverted"
    assert chain.balance(SAFE, WETH) == 40 * 10**18, "nothing traded"
    j = k.journal
    [intent] = j.intents_for_cycle(report.cycle_id)
    assert intent.status == IntentStatus.FAILED
    assert intent.error is not None and "Too little received" in intent.error and attempt.tx_hash in intent.error
    assert [a.tx_hash for a in intent.attempts] == [attempt.tx_hash]
    assert j.fills_between(0, 2**62) == []
    cycle = j.cycle(report.cycle_id)
    assert cycle.status == CycleStatus.FAILED and cycle.error is not None and "Too little received" in cycle.error
    assert j.control_state().consecutive_failures == 1 and not j.control_state().halted

    # A second revert in a row reaches max_consecutive_failures (2): the keeper halts and sends nothing more.
    chain.move_in_next_block = -0.02
    assert k.cycle().status == "failed"
    state = j.control_state()
    assert state.halted and state.consecutive_failures == 2
    assert state.halt_reason is not None and "2 consecutive failed cycles" in state.halt_reason
    with pytest.raises(HaltError, match="halted"):
        k.cycle()
    assert len(sender.sent) == 2 and chain.hedges() == []


def test_a_hedge_refused_in_preflight_is_never_sent() -> None:
    chain, sender, k = setup()
    chain.price_move = -0.02  # the pool sits 2 % under the feed: the estimate reverts
    report = k.cycle()
    assert report.status == "failed" and "would revert (not sent)" in report.message
    assert "Too little received" in report.message
    assert sender.sent == [] and k.journal.intents_for_cycle(report.cycle_id) == []
    assert k.journal.control_state().consecutive_failures == 1


def test_killed_between_sending_and_journaling_the_fill_is_recovered_without_a_second_hedge(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    chain, sender, k = setup(Journal.open(path))

    def die(_attempt: object) -> None:
        raise Killed

    sender.after_broadcast = die
    with pytest.raises(Killed):
        k.cycle()
    # The hedge is on chain; the journal knows the intent and its signed transaction, not the fill.
    [tx_hash] = chain.hedges()
    [open_intent] = k.journal.open_intents()
    assert open_intent.status == IntentStatus.SENT and [a.tx_hash for a in open_intent.attempts] == [tx_hash]
    assert k.journal.fills_between(0, 2**62) == []

    # Restart: a new process opens the same journal file, with a new sender and keeper.
    journal = Journal.open(path)
    assert journal.abandon_running_cycles() == [1]  # as `keeper run` does at start
    clock = FakeClock()
    sender2 = FakeSender(chain, clock)
    k2 = memory_keeper(chain, sender2, journal, band(TARGET, HALF_WIDTH))
    report = k2.cycle()

    block = int(chain.receipts[tx_hash]["blockNumber"], 16)
    assert report.recovered == (f"{open_intent.id}: mined in block {block} -> fill recorded",)
    intent = journal.intent(open_intent.id)
    assert intent.status == IntentStatus.MINED
    [fill] = journal.fills_between(0, 2**62)
    assert fill.intent_id == intent.id and fill.data.tx_hash == tx_hash and fill.data.amount_in == 30 * 10**18
    assert report.status == "ok" and report.plan is not None and report.plan.orders == ()
    assert report.risk is not None and report.risk.summaries["ETH"].delta == TARGET
    assert sender2.sent == [] and chain.hedges() == [tx_hash], "one hedge on chain, not two"
    k.journal.close()
    journal.close()


def test_killed_with_the_hedge_still_pending_cancels_it_before_planning(tmp_path: Path) -> None:
    """The crash leaves the hedge in the mempool. Recovery runs before the book is read: it closes the
    nonce with a cancellation (which replaces the pending hedge), then the cycle hedges once."""
    path = tmp_path / "journal.sqlite"
    chain, sender, k = setup(Journal.open(path), automine=False)

    def die(_attempt: object) -> None:
        raise Killed

    sender.after_broadcast = die
    with pytest.raises(Killed):
        k.cycle()
    assert chain.hedges() == [] and len(chain.mempool) == 1

    journal = Journal.open(path)
    journal.abandon_running_cycles()
    clock = FakeClock()

    def mine() -> None:  # the chain mines a block while the keeper waits
        chain.mine()

    clock.on_sleep.append(mine)
    sender2 = FakeSender(chain, clock)
    k2 = memory_keeper(chain, sender2, journal, band(TARGET, HALF_WIDTH))
    report = k2.cycle()

    assert chain.balance(SAFE, WETH) == 10 * 10**18, "sold 30 ETH once"
    [first, second] = journal.intents_for_cycle(1) + journal.intents_for_cycle(report.cycle_id)
    assert chain.hedges() == [second.attempts[0].tx_hash]
    assert report.recovered == (f"{first.id}: cancelled -> replaced",)
    assert first.status == IntentStatus.REPLACED
    assert second.status == IntentStatus.MINED and report.status == "ok"
    assert clock.slept > 0 and clock.now() - 1_000.0 == clock.slept, "waited on the fake clock only"
    k.journal.close()
    journal.close()


def test_a_stale_feed_holds_the_plan_and_sends_nothing() -> None:
    chain, sender, k = setup()
    chain.advance(2 * MAX_FEED_AGE_S)  # no new round for two hours
    report = k.cycle()

    assert report.status == "ok" and report.plan is not None and report.plan.orders == ()
    d = report.plan.decision("ETH")
    assert d.delta_before_units == 40.0, "outside the band: only the gate holds it"
    assert [g.gate for g in d.gates if not g.passed] == ["feed_staleness"]
    age = 2 * MAX_FEED_AGE_S + 60  # the last round was a minute before the first block
    assert f"feed is {age:,} s old > max {MAX_FEED_AGE_S:,} s" in [r.text for r in d.reasons]
    assert d.reason_codes[-1] == "gates_failed"
    assert sender.sent == [] and k.journal.intents_for_cycle(report.cycle_id) == []
    [plan] = k.journal.plans(report.cycle_id)
    assert "old > max" in plan.reasons

    # A fresh round lifts the gate: the same book now hedges.
    chain.set_eth_price(3_000.0)
    assert k.cycle().plan.orders != ()  # type: ignore[union-attr]
    assert len(sender.sent) == 1
