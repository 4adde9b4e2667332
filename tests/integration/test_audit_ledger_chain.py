"""The audit ledger after a real hedge on the local world: `keeper audit verify` passes, the export re-verifies
with plain keccak, the sealed fill is the module trade the chain logged; then an edit of the fill in SQL, or a
record checked against another keeper address, is named through the CLI with exit code 5."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.cli.exit_codes import EXIT_OK, EXIT_TAMPERED
from keeper.devnet.keeper_setup import world_venues
from keeper.devnet.state import World
from keeper.journal import Journal
from keeper.node.dev import dev_account
from tests.integration.test_cli_e2e import CONFIG, env_for, keeper_cli
from tests.integration.test_hedge_cycle import keeper_for, module_hedges

pytestmark = pytest.mark.anvil


def test_audit_verify_after_a_real_hedge_then_a_tampered_fill(chain: Web3, world: World, manifest: Manifest,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite"
    journal = Journal.open(path)
    k = keeper_for(world, manifest, journal, -30.0, venues=world_venues(manifest, perps=False))
    start = chain.eth.block_number
    report = k.cycle()
    assert report.status == "ok" and len(report.hedges) == 1 and report.hedges[0].fill is not None
    assert k.cycle().hedges == ()
    journal.close()
    env = env_for(world, path)

    verified = keeper_cli("audit", "verify", "-c", str(CONFIG), env=env)  # keeper address: HedgeModule.keeper()
    assert verified.returncode == EXIT_OK, verified.stdout + verified.stderr[-2000:]
    assert "2 record(s): 2 signed by the keeper, 0 unsigned; sealing 2 cycle(s), 1 intent(s), 1 fill(s)" in \
        verified.stdout
    assert f"keeper {dev_account(5).address}" in verified.stdout

    out = tmp_path / "ledger.jsonl"
    exported = keeper_cli("audit", "export", "-c", str(CONFIG), "--out", str(out), env=env)
    assert exported.returncode == EXIT_OK, exported.stderr[-2000:]
    header, *lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert header["records"] == len(lines) == 2 and "keccak256" in header["hash_rule"]
    prev = keccak(b"keeper-audit-ledger/v1" + manifest.chain_id.to_bytes(32, "big")
                  + bytes.fromhex(manifest.safe.address[2:]))
    for line in lines:  # the auditor's own check, from the header's rule
        digest = keccak(prev + line["record"].encode())
        assert line["prev_hash"] == "0x" + prev.hex() and line["record_hash"] == "0x" + digest.hex()
        signer = Account.recover_message(encode_defunct(primitive=digest),
                                         signature=bytes.fromhex(line["signature"][2:]))
        assert signer == dev_account(5).address
        prev = digest
    assert header["head_hash"] == "0x" + prev.hex()
    [sealed] = json.loads(lines[0]["record"])["intents"]
    [logged] = module_hedges(chain, manifest, start)
    assert sealed["fill"]["tx_hash"] == "0x" + logged["transactionHash"].hex().removeprefix("0x")  # type: ignore[index]
    assert sealed["fill"]["block_number"] == str(logged["blockNumber"])  # type: ignore[index]

    other = keeper_cli("audit", "verify", "-c", str(CONFIG), "--keeper", Account.from_key(b"\x33" * 32).address,
                       env=env)
    assert other.returncode == EXIT_TAMPERED and "bad signature" in other.stdout

    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE fills SET amount_out = CAST(amount_out AS INTEGER) + 1")
    conn.close()
    tampered = keeper_cli("audit", "verify", "-c", str(CONFIG), env=env)
    assert tampered.returncode == EXIT_TAMPERED, tampered.stdout + tampered.stderr[-2000:]
    block = report.snapshot.block_number  # type: ignore[union-attr]
    assert f"TAMPERED: first bad record 1 (cycle {report.cycle_id}, block {block}): edited: intent " in tampered.stdout
    assert "fill.amount_out" in tampered.stdout
