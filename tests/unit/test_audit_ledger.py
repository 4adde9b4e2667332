"""The audit ledger (keeper/journal/ledger.py): every cycle's record is hash-chained and signed, and
``verify_ledger`` names the first record that was edited, deleted, inserted or reordered.

Whole cycles run on the in-memory ports (tests/fakes), with the real SQLite journal; the attacker edits the
journal with plain SQL, as anyone with write access to the file could. Each check of the verifier has a test
that fails without it (the attack it catches)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

from keeper.errors import HaltError, JournalError
from keeper.execute.signer import Signer
from keeper.journal import Finding, IntentStatus, Journal, TxParams, Verdict
from keeper.journal.ledger import canonical_text, genesis_hash, record_hash, recover_signer
from tests.fakes import CHAIN_ID, SAFE, FakeClock, FakeSender, Killed, MemoryChain, MemoryKeeper, band, memory_keeper

KEY = Signer(Account.from_key(b"\x11" * 32))
OTHER = Signer(Account.from_key(b"\x22" * 32))


def keeper(journal: Journal | None = None, signer: Signer | None = KEY) -> MemoryKeeper:
    chain = MemoryChain()
    clock = FakeClock()
    sender = FakeSender(chain, clock)
    j = journal if journal is not None else Journal.memory(clock=clock.now)
    return memory_keeper(chain, sender, j, band(10.0, 5.0), record_signer=signer)


def honest(cycles: int = 4) -> Journal:
    """Cycle 1 sells 30 ETH (an intent, an attempt, a fill); the others trade nothing."""
    k = keeper()
    for _ in range(cycles):
        assert k.cycle().status == "ok"
    return k.journal


def verify(j: Journal, keepers: tuple[str, ...] = (KEY.address,), treasury: str = SAFE) -> Verdict:
    return j.verify_ledger(chain_id=CHAIN_ID, treasury=treasury, keepers=keepers)


def first(j: Journal, treasury: str = SAFE) -> Finding:
    found = verify(j, treasury=treasury).first
    assert found is not None, "the verifier found nothing"
    return found


def sql(j: Journal, statement: str, *args: object) -> None:
    j._conn.execute(statement, args)


def test_an_honest_journal_verifies_with_its_counts() -> None:
    j = honest()
    v = j.verify_ledger(chain_id=CHAIN_ID, treasury=SAFE, keepers=[KEY.address])
    assert v.ok and v.first is None and v.findings == ()
    assert (v.records, v.signed, v.unsigned, v.cycles, v.intents, v.fills) == (4, 4, 0, 4, 1, 1)
    assert v.head_hash == j.ledger()[-1].record_hash
    assert v.unsealed == ()
    [record] = [r for r in j.ledger() if r.seq == 1]
    body = record.body
    [fill] = j.fills_between(0, 2**62)
    [sealed] = body["intents"]
    assert sealed["fill"]["amount_out"] == str(fill.data.amount_out)
    assert sealed["fill"]["tx_hash"] == fill.data.tx_hash
    assert sealed["attempts"][0]["tx_hash"] == fill.data.tx_hash
    [cycle] = body["cycles"]
    assert cycle["snapshots"][0]["oracle"]["ETH"]["answer"] == "300000000000"
    assert cycle["plans"][0]["vol"] == {"ETH": "0.6"}
    assert body["keeper"] == KEY.address and record.signer == KEY.address


def test_the_documented_hash_rule_reproduced_without_the_keeper() -> None:
    """An auditor's own check, from the rule in the export header: plain keccak and eth_account only."""
    j = honest(3)
    prev = keccak(b"keeper-audit-ledger/v1" + CHAIN_ID.to_bytes(32, "big") + bytes.fromhex(SAFE[2:]))
    for n, r in enumerate(j.ledger(), start=1):
        assert r.prev_hash == "0x" + prev.hex()
        digest = keccak(prev + r.record.encode("utf-8"))
        assert r.record_hash == "0x" + digest.hex()
        assert json.loads(r.record)["seq"] == str(n)
        assert r.record == canonical_text(json.loads(r.record)), "stored canonical"
        signer = Account.recover_message(encode_defunct(primitive=digest), signature=bytes.fromhex(r.signature[2:]))
        assert signer == KEY.address
        prev = digest
    assert genesis_hash(CHAIN_ID, SAFE) == j.ledger()[0].prev_hash
    assert recover_signer(j.ledger()[0].record_hash, j.ledger()[0].signature) == KEY.address


def test_editing_a_fill_names_the_record_that_sealed_it() -> None:
    j = honest()
    sql(j, "UPDATE fills SET amount_out = '1'")
    v = verify(j)
    assert not v.ok and v.first is not None
    assert (v.first.seq, v.first.cycle_id, v.first.block, v.first.kind) == (1, 1, 100, "edited")
    assert "fill.amount_out" in v.first.detail and "sealed 89955000000, now 1" in v.first.detail


def test_editing_a_fill_float_or_a_plan_or_a_snapshot_is_found() -> None:
    j = honest()
    sql(j, "UPDATE fills SET realized_price = realized_price + 0.01")
    assert first(j).detail.startswith("intent ")
    j = honest()
    sql(j, "UPDATE plans SET reasons = 'nothing to see' WHERE cycle_id = 2")
    f = first(j)
    assert (f.seq, f.cycle_id, f.kind) == (2, 2, "edited") and "plans[0].reasons" in f.detail
    j = honest()
    sql(j, "UPDATE snapshots SET snapshot_json = replace(snapshot_json, '300000000000', '310000000000') "
           "WHERE cycle_id = 3")
    f = first(j)
    assert (f.seq, f.cycle_id, f.kind) == (3, 3, "edited") and "snapshots[0]" in f.detail


def test_deleting_a_cycle_and_its_record_names_the_record_after_the_gap() -> None:
    j = honest()
    for table in ("snapshots", "plans"):
        sql(j, f"DELETE FROM {table} WHERE cycle_id = 2")
    sql(j, "DELETE FROM cycles WHERE id = 2")
    sql(j, "DELETE FROM ledger WHERE cycle_id = 2")
    v = verify(j)
    assert v.first is not None
    assert (v.first.seq, v.first.cycle_id, v.first.kind) == (3, 3, "missing predecessor")
    assert "gone (deleted)" in v.first.detail


def test_deleting_a_cycles_rows_but_not_its_record_is_found() -> None:
    j = honest()
    for table in ("snapshots", "plans"):
        sql(j, f"DELETE FROM {table} WHERE cycle_id = 2")
    sql(j, "DELETE FROM cycles WHERE id = 2")
    f = first(j)
    assert (f.seq, f.cycle_id, f.block, f.kind) == (2, 2, 101, "deleted")


def test_deleting_the_last_cycle_and_its_record_is_found_by_the_seal_cache() -> None:
    j = honest()
    for table in ("snapshots", "plans"):
        sql(j, f"DELETE FROM {table} WHERE cycle_id = 4")
    sql(j, "DELETE FROM cycles WHERE id = 4")
    sql(j, "DELETE FROM ledger WHERE seq = 4")
    f = first(j)
    assert (f.seq, f.kind) == (4, "deleted") and "records 4..4 are gone from the end" in f.detail
    # An attacker who also cleans the caches leaves no trace in the journal: the head hash kept elsewhere is
    # the defence (the README says so); verify still shows the head it reached.
    sql(j, "DELETE FROM ledger_cycles WHERE seq = 4")
    v = verify(j)
    assert v.ok and v.records == 3 and v.head_hash == j.ledger()[-1].record_hash


def test_an_emptied_ledger_beside_finished_cycles_is_found() -> None:
    j = honest(2)
    for table in ("ledger", "ledger_cycles", "ledger_intents"):
        sql(j, f"DELETE FROM {table}")
    f = first(j)
    assert (f.seq, f.kind) == (1, "deleted") and "no record beside 2 finished cycle(s)" in f.detail


def test_an_unreadable_last_record_stops_the_next_seal_with_a_journal_error() -> None:
    k = keeper()
    k.cycle()
    sql(k.journal, "UPDATE ledger SET record = 'not json'")
    with pytest.raises(JournalError, match="record 1 is not JSON"):
        k.cycle()
    assert first(k.journal).kind == "hash mismatch"


def test_deleting_the_first_record_is_a_missing_predecessor() -> None:
    j = honest()
    sql(j, "DELETE FROM ledger WHERE seq = 1")
    f = first(j)
    assert (f.seq, f.kind) == (2, "missing predecessor")


def test_deleting_an_intent_with_its_fill_is_found() -> None:
    j = honest()
    sql(j, "DELETE FROM fills")
    sql(j, "DELETE FROM tx_attempts")
    sql(j, "DELETE FROM intents")
    f = first(j)
    assert (f.seq, f.cycle_id, f.kind) == (1, 1, "deleted") and "intent" in f.detail


def test_swapping_two_records_is_reordered() -> None:
    j = honest()
    sql(j, "UPDATE ledger SET seq = -seq WHERE seq IN (2, 3)")
    sql(j, "UPDATE ledger SET seq = 5 + seq WHERE seq IN (-2, -3)")  # -2 -> 3, -3 -> 2
    v = verify(j)
    assert v.first is not None
    assert (v.first.seq, v.first.cycle_id, v.first.kind) == (2, 3, "reordered")
    assert "record 3 of the chain" in v.first.detail


def test_swapping_two_cycles_rows_is_an_edit() -> None:
    j = honest()
    sql(j, "UPDATE cycles SET block_number = CASE id WHEN 2 THEN 102 WHEN 3 THEN 101 ELSE block_number END")
    f = first(j)
    assert (f.seq, f.cycle_id, f.kind) == (2, 2, "edited") and "block" in f.detail


def test_editing_a_record_text_is_a_hash_mismatch() -> None:
    j = honest()
    sql(j, "UPDATE ledger SET record = replace(record, '89955000000', '99955000000') WHERE seq = 1")
    f = first(j)
    assert (f.seq, f.cycle_id, f.kind) == (1, 1, "hash mismatch")


def test_editing_a_signature_is_a_bad_signature() -> None:
    j = honest()
    r = j.ledger()[1]
    flipped = r.signature[:10] + ("0" if r.signature[10] != "0" else "1") + r.signature[11:]
    sql(j, "UPDATE ledger SET signature = ? WHERE seq = 2", flipped)
    f = first(j)
    assert (f.seq, f.cycle_id, f.kind) == (2, 2, "bad signature")


def test_stripping_a_signature_is_a_bad_signature_not_an_unsigned_record() -> None:
    j = honest()
    sql(j, "UPDATE ledger SET signature = '' WHERE seq = 3")
    v = verify(j)
    assert v.first is not None and (v.first.seq, v.first.kind) == (3, "bad signature") and v.unsigned == 0


def resign(j: Journal, signer: Signer, edit: tuple[str, str] | None = None) -> None:
    """The attacker rewrites the whole chain (optionally editing a record and the matching row) with ``signer``."""
    prev = genesis_hash(CHAIN_ID, SAFE)
    for r in j.ledger():
        body = r.body
        body["prev_hash"], body["keeper"] = prev, signer.address
        text = canonical_text(body)
        if edit is not None:
            text = text.replace(*edit)
        digest = record_hash(prev, text)
        sig = "0x" + signer.personal_sign(bytes.fromhex(digest[2:])).hex()
        sql(j, "UPDATE ledger SET record = ?, record_hash = ?, prev_hash = ?, signature = ?, signer = ? WHERE seq = ?",
            text, digest, prev, sig, signer.address, r.seq)
        prev = digest


def test_an_edit_resigned_with_another_key_is_a_bad_signature() -> None:
    j = honest()
    sql(j, "UPDATE fills SET amount_out = '1'")
    resign(j, OTHER, edit=('"amount_out":"89955000000"', '"amount_out":"1"'))
    v = verify(j)
    assert v.first is not None and (v.first.seq, v.first.kind) == (1, "bad signature")
    assert OTHER.address in v.first.detail
    assert {f.kind for f in v.findings} == {"bad signature"}, "the rewritten chain is consistent but not the keeper's"
    # The verifier trusts the address it is given, never the record's own `keeper` field:
    assert verify(j, keepers=(OTHER.address,)).ok


def test_a_ledger_of_another_treasury_is_the_wrong_chain() -> None:
    j = honest(2)
    f = first(j, treasury="0x" + "ab" * 20)
    assert (f.seq, f.kind) == (1, "wrong chain")


def test_a_genesis_for_another_treasury_resigned_by_the_keeper_is_the_wrong_chain() -> None:
    """Even the keeper's key cannot move a ledger to another treasury: the genesis hash binds it."""
    j = honest(2)
    body = j.ledger()[0].body
    body["prev_hash"] = genesis_hash(CHAIN_ID + 1, SAFE)
    text = canonical_text(body)
    digest = record_hash(body["prev_hash"], text)
    sql(j, "UPDATE ledger SET record = ?, record_hash = ?, prev_hash = ?, signature = ? WHERE seq = 1", text,
        digest, body["prev_hash"], "0x" + KEY.personal_sign(bytes.fromhex(digest[2:])).hex())
    f = first(j)
    assert (f.seq, f.kind) == (1, "wrong chain")


def test_an_inserted_cycle_is_found() -> None:
    j = honest(3)
    sql(j, "INSERT INTO cycles (id, started_at, finished_at, block_number, status, mode) "
           "VALUES (99, 900.0, 901.0, 99, 'ok', 'live')")
    f = first(j)
    assert (f.cycle_id, f.kind) == (99, "inserted")


def test_an_edited_event_is_found() -> None:
    k = keeper()
    k.cycle()
    k.journal.append_event("note", {"text": "operator note"})
    k.cycle()
    sql(k.journal, "DROP TRIGGER events_no_update")
    sql(k.journal, "UPDATE events SET data_json = '{\"text\":\"forged\"}' WHERE kind = 'note'")
    f = first(k.journal)
    assert (f.seq, f.cycle_id, f.kind) == (2, 2, "edited") and "event log" in f.detail


def test_a_dry_run_without_the_key_writes_unsigned_records_and_says_so() -> None:
    k = keeper(signer=None)
    k.cycle()
    k.cycle()
    v = verify(k.journal)
    assert v.ok and (v.records, v.signed, v.unsigned) == (2, 0, 2)
    assert all(r.signature == "" and r.body["keeper"] is None for r in k.journal.ledger())


def test_a_crash_and_its_recovery_verify_without_false_alarms(tmp_path: Path) -> None:
    """Killed after broadcasting: no record for the dead cycle; the next one seals it (abandoned) and the
    recovered intent twice over (sent in the first record... here: in the one after the restart)."""
    path = tmp_path / "journal.sqlite"
    k = keeper(Journal.open(path))

    def die(_attempt: object) -> None:
        raise Killed

    k.tx.after_broadcast = die
    with pytest.raises(Killed):
        k.cycle()
    assert k.journal.ledger() == []
    journal = Journal.open(path)
    journal.abandon_running_cycles()
    k2 = memory_keeper(k.rpc, FakeSender(k.rpc, FakeClock()), journal, band(10.0, 5.0), record_signer=KEY)
    report = k2.cycle()
    assert report.recovered and report.status == "ok"
    [record] = journal.ledger()
    assert [c["id"] for c in record.body["cycles"]] == ["1", "2"]
    assert record.body["cycles"][0]["status"] == "abandoned"
    assert record.body["intents"][0]["status"] == "mined"
    v = verify(journal)
    assert v.ok and (v.cycles, v.intents, v.fills) == (2, 1, 1)
    k.journal.close()
    journal.close()


def test_a_change_after_the_last_record_is_not_covered_but_an_illegal_one_is_an_edit() -> None:
    clock = FakeClock()
    j = Journal.memory(clock=clock.now)
    c = j.start_cycle("live")
    intent = j.create_intent(c.id, underlying="ETH", venue="uniswap", side="sell", size=10**18,
                             params=TxParams(to=SAFE, data="0x", value=0, gas_limit=100_000))
    j.record_attempt(intent.id, nonce=0, tx_hash="0x" + "aa" * 32, raw_tx="0x01", max_fee_per_gas=2,
                     max_priority_fee_per_gas=1)
    j.finish_cycle(c.id, "ok")
    j.seal(chain_id=CHAIN_ID, treasury=SAFE, signer=KEY)
    clock.sleep(5)
    j.mark_failed(intent.id, "reverted on chain")  # legal, after the last record
    v = verify(j)
    assert v.ok and v.unsealed == (f"intent {intent.id} changed after the last record (sent -> failed)",)
    sealed = j.seal(chain_id=CHAIN_ID, treasury=SAFE, signer=KEY)
    assert [i["status"] for i in sealed.body["intents"]] == [IntentStatus.FAILED.value]
    assert verify(j).ok and verify(j).unsealed == ()
    sql(j, "DROP TRIGGER intents_state_machine")
    sql(j, "UPDATE intents SET status = 'sent', updated_at = 1e12")  # back from terminal: never legal
    f = first(j)
    assert (f.seq, f.kind) == (2, "edited") and "status" in f.detail


def test_the_signer_signs_eip191_and_refuses_nothing_to_sign() -> None:
    digest = keccak(b"record")
    sig = KEY.personal_sign(digest)
    assert recover_signer("0x" + digest.hex(), "0x" + sig.hex()) == KEY.address
    with pytest.raises(Exception, match="data"):
        KEY.personal_sign(b"")


def test_an_inserted_intent_in_a_sealed_cycle_is_found() -> None:
    j = honest(3)
    sql(j, "INSERT INTO intents (id, cycle_id, created_at, updated_at, underlying, venue, side, size, params_json, "
           "status) VALUES ('forged', 2, 1.0, 1.0, 'ETH', 'uniswap', 'buy', '1', '{}', 'failed')")
    f = first(j)
    assert (f.seq, f.cycle_id, f.kind) == (2, 2, "inserted") and "intent forged" in f.detail


def test_a_halted_or_failed_cycle_is_sealed_too() -> None:
    k = keeper()
    k.journal.halt("operator test")
    with pytest.raises(HaltError):
        k.cycle()
    [record] = k.journal.ledger()
    [cycle] = record.body["cycles"]
    assert (cycle["status"], cycle["error"]) == ("skipped", "halted: operator test")
    assert verify(k.journal).ok


def test_a_fill_edited_between_two_seals_is_found_at_the_record_that_sealed_the_edit() -> None:
    k = keeper()
    k.cycle()
    k.cycle()
    sql(k.journal, "UPDATE fills SET amount_out = '1'")
    k.cycle()  # its seal finds the intent changed and seals it as it now is
    assert [i["fill"]["amount_out"] for i in k.journal.ledger()[-1].body["intents"]] == ["1"]
    f = first(k.journal)
    assert (f.seq, f.cycle_id, f.kind) == (3, 1, "edited")
    assert "changed between record 1 and this one" in f.detail and "fill.amount_out" in f.detail


def test_a_reorg_that_moves_a_fill_is_a_legal_change_between_seals() -> None:
    k = keeper()
    k.cycle()
    j = k.journal
    [fill] = j.fills_between(0, 2**62)
    j.mark_reorged(fill.intent_id, "tx left its block")
    j.record_fill(fill.intent_id, dataclasses.replace(fill.data, block_number=fill.data.block_number + 3))
    k.seal()
    [entry] = j.ledger()[-1].body["intents"]
    assert entry["fill"]["block_number"] == str(fill.data.block_number + 3)
    assert verify(j).ok
    sql(j, "DROP TRIGGER events_no_delete")
    sql(j, "DELETE FROM events WHERE kind = 'reorg'")
    details = [f.detail for f in verify(j).findings]
    assert any("event log rows" in d for d in details), "the deleted event itself"
    assert any("changed between record 1 and this one" in d for d in details), \
        "without its reorg event the moved fill is an edit"
