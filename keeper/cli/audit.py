"""``keeper audit verify`` and ``keeper audit export``: the journal's tamper-evident ledger.

(The other audit, of module trades the keeper did not send, runs after every cycle: :mod:`keeper.ops.audit`.)

``verify`` exits 0 when every record links, hashes and is signed by the keeper, 5 (:data:`EXIT_TAMPERED`) when a
record or a journal row was edited, deleted, inserted or reordered (the first bad record is named), and 6
(:data:`EXIT_UNSIGNED`) when the chain is intact but some records are unsigned (a dry run without the key), unless
``--allow-unsigned``. ``export`` writes JSON lines an auditor can check without the keeper.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from keeper.cli.exit_codes import EXIT_OK, EXIT_TAMPERED, EXIT_UNSIGNED
from keeper.errors import InputError

__all__ = ["add_parsers", "cmd_audit_export", "cmd_audit_verify", "main"]

HASH_RULE = (
    "record_hash = keccak256(prev_hash as 32 bytes || the UTF-8 bytes of `record` exactly as given). "
    "The first record's prev_hash is keccak256(UTF-8 'keeper-audit-ledger/v1' || chain_id as a 32-byte big-endian "
    "integer || treasury as 20 bytes). Each record's prev_hash is the record_hash of the one before it, and its "
    "body's `seq` counts 1, 2, 3, ... `signature` is the EIP-191 personal_sign (\"\\x19Ethereum Signed "
    "Message:\\n32\" || record_hash) by the keeper key, 65 bytes r||s||v: recover the signer and compare it with "
    "the keeper address you trust (HedgeModule.keeper() on chain), never with the record's own `keeper` field. "
    "An empty signature with `keeper: null` is an unsigned record (a dry run without the key). Numbers inside "
    "`record` are strings (integers in decimal, floats in shortest round-trip form); snapshot, plan, calldata and "
    "raw-transaction contents are covered by their keccak256 (of the journal's stored text)."
)


def _load(args: argparse.Namespace) -> Any:
    from keeper.cli.commands import load

    return load(args)


def _keepers(args: argparse.Namespace, cfg: Any) -> list[str]:
    """The keeper addresses the verifier trusts: ``--keeper`` (repeatable, for a rotated key), else the
    HedgeModule's ``keeper()`` on chain (safe-module mode), else the configured key's address (eoa mode)."""
    if args.keeper:
        out = []
        for a in args.keeper:
            if not is_address(a):
                raise InputError("--keeper", f"{a!r} is not an address")
            out.append(str(to_checksum_address(a)))
        return out
    if cfg.treasury.mode == "safe-module" and cfg.treasury.hedge_module is not None:
        from keeper.chain.rpc import RpcClient
        from keeper.cycle.compose import module_keeper

        rpc = RpcClient.http(str(cfg.chain.rpc_url), timeout_s=cfg.chain.timeout_s)
        rpc.check_chain_id(cfg.chain.chain_id)
        return [module_keeper(rpc, cfg.treasury.hedge_module)]
    from keeper.cycle.sources import signer_source
    from keeper.execute.signer import load_signer

    return [load_signer(signer_source(cfg), env=dict(os.environ)).address]


def _journal(cfg: Any) -> Any:
    from keeper.journal import Journal

    if not cfg.journal.path.exists():
        raise InputError("journal.path", f"{cfg.journal.path} does not exist")
    return Journal.open(cfg.journal.path, readonly=True)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    cfg = _load(args)
    keepers = _keepers(args, cfg)
    treasury = cfg.treasury.account(keepers[0])
    journal = _journal(cfg)
    v = journal.verify_ledger(chain_id=cfg.chain.chain_id, treasury=treasury, keepers=keepers)
    if args.json:
        print(json.dumps({
            "ok": v.ok, "records": v.records, "signed": v.signed, "unsigned": v.unsigned, "cycles": v.cycles,
            "intents": v.intents, "fills": v.fills, "head_hash": v.head_hash,
            "first": None if v.first is None else v.first.__dict__,
            "findings": [f.__dict__ for f in v.findings], "unsealed": list(v.unsealed)}, indent=2))
    else:
        print(f"audit ledger of {cfg.journal.path} (chain {cfg.chain.chain_id}, treasury {treasury}; "
              f"keeper {', '.join(keepers)})")
        print(f"  {v.records} record(s): {v.signed} signed by the keeper, {v.unsigned} unsigned; sealing "
              f"{v.cycles} cycle(s), {v.intents} intent(s), {v.fills} fill(s)")
        print(f"  head hash {v.head_hash} (keep it: a later run that does not reach it lost records at the tail)")
        for line in v.unsealed[:10]:
            print(f"  not covered yet: {line}")
        if len(v.unsealed) > 10:
            print(f"  ... and {len(v.unsealed) - 10} more not covered yet")
        if v.first is not None:
            print(f"TAMPERED: first bad {v.first.line()}")
            for f in v.findings[1:20]:
                print(f"  also: {f.line()}")
            if len(v.findings) > 20:
                print(f"  ... and {len(v.findings) - 20} more finding(s)")
        elif v.unsigned:
            print(f"intact, but {v.unsigned} record(s) are unsigned (written without the keeper key): they prove "
                  "order, not authorship")
        else:
            print("intact: every record links, hashes and carries the keeper's signature")
    if not v.ok:
        return EXIT_TAMPERED
    if v.unsigned and not args.allow_unsigned:
        return EXIT_UNSIGNED
    return EXIT_OK


def cmd_audit_export(args: argparse.Namespace) -> int:
    cfg = _load(args)
    journal = _journal(cfg)
    records = journal.ledger()
    out = Path(args.out)
    if not out.parent.is_dir():
        raise InputError("--out", f"directory {out.parent} does not exist")
    header = {
        "kind": "keeper-audit-ledger", "version": 1, "chain_id": cfg.chain.chain_id,
        "records": len(records), "head_hash": records[-1].record_hash if records else None,
        "hash_rule": HASH_RULE,
        "how_to_verify": "For each following line in order: check record_hash with the rule, that prev_hash equals "
                         "the previous line's record_hash (the genesis hash for the first), that the `seq` inside "
                         "`record` counts up by one, and that the signature recovers to the keeper address. "
                         "`keeper audit verify` also compares the journal's rows with what the records sealed.",
    }
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(json.dumps(header, sort_keys=True) + "\n")
        for r in records:
            fh.write(json.dumps({"seq": r.seq, "cycle_id": r.cycle_id, "prev_hash": r.prev_hash,
                                 "record_hash": r.record_hash, "signature": r.signature, "signer": r.signer,
                                 "record": r.record}, sort_keys=True) + "\n")
    tmp.replace(out)
    print(f"wrote {len(records)} record(s) to {out} (head hash "
          f"{records[-1].record_hash if records else 'none: the ledger is empty'})")
    return EXIT_OK


def add_parsers(sub: Any) -> None:
    """Register ``audit verify`` and ``audit export`` on ``sub`` (``add_subparsers()``'s result)."""

    def with_config(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument("--config", "-c", default="keeper.toml", help="TOML config (default: keeper.toml)")
        return sp

    audit = sub.add_parser("audit", help="the journal's tamper-evident ledger: verify it, export it")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    v = with_config(audit_sub.add_parser(
        "verify", help="check the hash chain, the signatures and the journal's rows; exit 5 if tampered, "
                       "6 if some records are unsigned"))
    v.add_argument("--keeper", action="append", default=None, metavar="ADDR",
                   help="the keeper address to trust (repeat for a rotated key; default: HedgeModule.keeper() "
                        "on chain, or the configured key's address in eoa mode)")
    v.add_argument("--allow-unsigned", action="store_true", help="exit 0 when the only problem is unsigned records")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=cmd_audit_verify)
    e = with_config(audit_sub.add_parser("export", help="write the records and their proofs as JSON lines"))
    e.add_argument("--out", required=True, help="the JSON-lines file to write")
    e.set_defaults(func=cmd_audit_export)


def main(argv: list[str] | None = None) -> int:
    """``python -m keeper.cli.audit <verify|export>`` with the CLI's exit codes."""
    from keeper.cli.main import run_command

    parser = argparse.ArgumentParser(prog="keeper", description="The journal's audit ledger.")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    return run_command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
