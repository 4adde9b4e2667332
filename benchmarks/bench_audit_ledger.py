"""audit.seal_ms / audit.verify_s: what the audit ledger costs on a journal file of N cycles.

The keeper runs N cycles on the in-memory ports (tests/fakes: the chain, the sender and the clock are fakes; the
journal is a real SQLite file, WAL, synchronous=FULL); the first cycle hedges, and every cycle is sealed and
signed. Then, for 50 more cycles, the cycle and its seal are timed apart (``audit.seal_ms``: median ms per seal,
anchored on the median ms of the cycle itself on those ports), and ``keeper audit verify``'s work
(``Journal.verify_ledger`` over all N records) is timed against ``Journal.export()`` of the same journal (a full
read of its rows).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_account import Account

from benchmarks._common import best_time, emit, machine
from keeper.execute.signer import Signer
from keeper.journal import Journal
from tests.fakes import CHAIN_ID, SAFE, FakeClock, FakeSender, MemoryChain, band, memory_keeper


def main(cycles: int = 2000, timed: int = 50) -> None:
    key = Signer(Account.from_key(b"\x11" * 32))
    with tempfile.TemporaryDirectory(prefix="bench-audit-") as tmp:
        chain = MemoryChain()
        clock = FakeClock()
        journal = Journal.open(Path(tmp) / "journal.sqlite", clock=clock.now)
        k = memory_keeper(chain, FakeSender(chain, clock), journal, band(10.0, 5.0), record_signer=key)
        for _ in range(cycles):
            k.cycle()
        cycle_s, seal_s = [], []
        for _ in range(timed):
            t0 = time.perf_counter()
            k._guarded_cycle()
            t1 = time.perf_counter()
            k.seal()
            t2 = time.perf_counter()
            cycle_s.append(t1 - t0)
            seal_s.append(t2 - t1)
        n = cycles + timed
        emit("audit.seal_ms", statistics.median(seal_s) * 1e3, "ms", anchor="cycle_ms_on_fake_ports",
             anchor_value=statistics.median(cycle_s) * 1e3, journal_cycles=n, signed=True, **machine())
        verdict = journal.verify_ledger(chain_id=CHAIN_ID, treasury=SAFE, keepers=[key.address])
        assert verdict.ok and verdict.records == n, verdict.first
        verify = best_time(lambda: journal.verify_ledger(chain_id=CHAIN_ID, treasury=SAFE, keepers=[key.address]),
                           repeat=3)
        export = best_time(journal.export, repeat=3)
        emit("audit.verify_s", verify, "s", anchor="journal_export_s", anchor_value=export, records=n)
        journal.close()


if __name__ == "__main__":
    main()
