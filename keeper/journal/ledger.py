"""The audit ledger: a hash chain of signed records, one sealed after every keeper cycle.

What a record holds (its *body*, a JSON object):

- ``version``, ``chain_id``, ``treasury``, ``seq`` (1, 2, ...), ``prev_hash``, ``sealed_at`` (keeper clock),
  ``keeper`` (the address that signs it, or ``null`` for an unsigned record);
- ``cycles``: every cycle that finished since the previous record (normally one; an abandoned one too):
  its row (status, mode, block, times, error), its snapshots (block, ``keccak256`` of the journaled snapshot
  JSON and of its read failures, the oracle readings ``answer``/``decimals``/``updated_at``/``round_id`` per
  asset) and its plans (``keccak256`` of the decisions and of the greeks, the reasons in full, the vol per
  underlying);
- ``intents``: every intent that is new or changed since it was last sealed, in full: identity, size,
  transaction parameters (calldata by its hash), status and error, every transaction attempt (nonce, hash,
  ``keccak256`` of the signed raw transaction, fees) and the fill (every column);
- ``events``: the event-log rows appended since the previous record, by id range and ``keccak256``.

Canonical text: ``json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True)``. Every number
is a string (integers in decimal, floats as Python's shortest round-trip ``repr``), so no reader has to agree on
float formatting or 2**53. The record's text is stored and exported verbatim; verifiers hash those bytes.

Hash rule: ``record_hash = keccak256(prev_hash (32 bytes) || utf8(record text))``. The first record's
``prev_hash`` is the *genesis* hash ``keccak256(utf8("keeper-audit-ledger/v1") || chain_id as a 32-byte
big-endian integer || treasury address (20 bytes))``, so a ledger belongs to one chain and one treasury.

Signature: EIP-191 ``personal_sign`` of the 32 bytes of ``record_hash`` by the keeper key (65 bytes r||s||v,
hex). The verifier recovers the signer and compares it with an address it was *given* (configuration, keystore,
``HedgeModule.keeper()``), never with the ``keeper`` field of the record. A keeper running without its key (a
dry run) writes records with ``keeper: null`` and an empty signature: hash-chained, but unsigned.

Two caches (``ledger_cycles``, ``ledger_intents``) tell the next seal what is already sealed; the verifier
never trusts them, it rebuilds what was sealed from the records themselves.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.crypto import keccak

from keeper.errors import InputError, JournalError
from keeper.journal._base import Conn, JournalBase

__all__ = [
    "LEDGER_VERSION",
    "Finding",
    "LedgerMixin",
    "LedgerRecord",
    "RecordSigner",
    "Verdict",
    "canonical_text",
    "genesis_hash",
    "record_hash",
    "recover_signer",
]

LEDGER_VERSION = "1"
GENESIS_DOMAIN = b"keeper-audit-ledger/v1"
_CHANGE_MARGIN_S = 86_400.0
"""A seal re-examines intents updated within this long before the previous seal (clock steps are harmless)."""


class RecordSigner(Protocol):
    """What signs records: the keeper key (:class:`keeper.execute.signer.Signer` satisfies it)."""

    @property
    def address(self) -> str: ...

    def personal_sign(self, data: bytes, /) -> bytes:
        """EIP-191 (version 0x45) signature of ``data``: 65 bytes r || s || v."""
        ...


@dataclass(frozen=True)
class LedgerRecord:
    """One row of the ledger: the record's text and its proofs."""

    seq: int
    cycle_id: int
    """The last cycle this record seals."""
    prev_hash: str
    record_hash: str
    record: str
    """The canonical JSON text, verbatim: what the hash covers."""
    signature: str
    """``0x`` + 65 bytes hex, or ``""`` for an unsigned record."""
    signer: str
    """The address that signed (as the keeper claims it), or ``""``."""

    @property
    def body(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.record)
        return parsed


@dataclass(frozen=True)
class Finding:
    """Something the verifier found wrong, named by the record it concerns."""

    seq: int
    """The record's position in the ledger (the first bad record has the lowest)."""
    cycle_id: int | None
    block: int | None
    kind: str
    """``hash mismatch``, ``reordered``, ``missing predecessor``, ``bad signature``, ``wrong chain``,
    ``edited``, ``deleted`` or ``inserted``."""
    detail: str

    def line(self) -> str:
        where = f"record {self.seq}"
        if self.cycle_id is not None:
            where += f" (cycle {self.cycle_id}" + (f", block {self.block})" if self.block is not None else ")")
        return f"{where}: {self.kind}: {self.detail}"


@dataclass(frozen=True)
class Verdict:
    """What ``keeper audit verify`` found."""

    records: int
    signed: int
    unsigned: int
    cycles: int
    """Cycles sealed by the records."""
    intents: int
    fills: int
    head_hash: str
    """The last record's hash (an auditor who keeps it can later detect a truncated tail)."""
    findings: tuple[Finding, ...]
    unsealed: tuple[str, ...] = field(default=())
    """Rows not (yet) covered: written after the last record, or a cycle abandoned by a crash."""

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return min(self.findings, key=lambda f: f.seq) if self.findings else None


# ----------------------------------------------------------------------------- hashing


def canonical_text(body: Mapping[str, Any]) -> str:
    """The one text of a record body: sorted keys, no spaces, ASCII only (numbers are strings already)."""
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def _hex32(value: str, what: str) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 66:
        raise InputError(what, "expected 0x and 64 hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise InputError(what, "expected 0x and 64 hex digits") from None


def genesis_hash(chain_id: int, treasury: str) -> str:
    """The first record's ``prev_hash``: binds the ledger to one chain and one treasury."""
    if not isinstance(chain_id, int) or isinstance(chain_id, bool) or not 0 < chain_id < 2**256:
        raise InputError("chain_id", f"expected a positive integer, got {chain_id!r}")
    if not isinstance(treasury, str) or len(treasury) != 42 or not treasury.startswith("0x"):
        raise InputError("treasury", "expected a 0x-prefixed 20-byte address")
    try:
        address = bytes.fromhex(treasury[2:])
    except ValueError:
        raise InputError("treasury", "expected a 0x-prefixed 20-byte address") from None
    return "0x" + keccak(GENESIS_DOMAIN + chain_id.to_bytes(32, "big") + address).hex()


def record_hash(prev_hash: str, record: str) -> str:
    """``keccak256(prev_hash || utf8(record))`` as ``0x`` hex."""
    return "0x" + keccak(_hex32(prev_hash, "prev_hash") + record.encode("utf-8")).hex()


def recover_signer(digest: str, signature: str) -> str:
    """The address whose EIP-191 signature of the 32 bytes ``digest`` is ``signature``.

    Raises :class:`InputError` for a signature that is not 65 bytes of hex or recovers no key.
    """
    raw = _hex32(digest, "record_hash")
    try:
        sig = bytes.fromhex(signature.removeprefix("0x"))
    except ValueError:
        raise InputError("signature", "not hex") from None
    if len(sig) != 65:
        raise InputError("signature", f"expected 65 bytes, got {len(sig)}")
    try:
        return str(Account.recover_message(encode_defunct(primitive=raw), signature=sig))
    except Exception:  # eth_keys: bad v or s
        raise InputError("signature", "recovers no public key") from None


def _keccak_text(text: str | None) -> str:
    return "0x" + keccak((text or "").encode("utf-8")).hex()


def _num(value: Any) -> Any:
    """Numbers as strings (ints decimal, floats ``repr``); containers recursively; the rest as is."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return repr(value)
        return repr(value)
    if isinstance(value, Mapping):
        return {str(k): _num(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_num(v) for v in value]
    return str(value)


# ----------------------------------------------------------------------------- entries (seal and verify)


def _oracle(snapshot_json: str) -> dict[str, Any]:
    try:
        feeds = json.loads(snapshot_json).get("feeds")
    except (ValueError, AttributeError):
        return {}
    if not isinstance(feeds, dict):
        return {}
    keep = ("answer", "decimals", "updated_at", "round_id", "address")
    return {str(sym): _num({k: f[k] for k in keep if k in f}) for sym, f in feeds.items() if isinstance(f, dict)}


def _vols(greeks_json: str) -> dict[str, Any]:
    try:
        greeks = json.loads(greeks_json)
    except ValueError:
        return {}
    if not isinstance(greeks, dict):
        return {}
    return {str(sym): _num(row["vol"]) for sym, row in greeks.items() if isinstance(row, dict) and "vol" in row}


def _cycle_entry(conn: Conn, row: Any) -> dict[str, Any]:
    snapshots = [
        {"block": _num(s["block_number"]), "block_timestamp": _num(s["block_timestamp"]),
         "complete": bool(s["complete"]), "hash": _keccak_text(s["snapshot_json"]),
         "failures_hash": _keccak_text(s["failures_json"]), "recorded_at": _num(s["recorded_at"]),
         "oracle": _oracle(s["snapshot_json"])}
        for s in conn.execute("SELECT * FROM snapshots WHERE cycle_id = ? ORDER BY id", (row["id"],))
    ]
    plans = [
        {"decisions_hash": _keccak_text(p["decisions_json"]), "greeks_hash": _keccak_text(p["greeks_json"]),
         "reasons": p["reasons"], "recorded_at": _num(p["recorded_at"]), "vol": _vols(p["greeks_json"])}
        for p in conn.execute("SELECT * FROM plans WHERE cycle_id = ? ORDER BY id", (row["id"],))
    ]
    return {"id": _num(row["id"]), "status": row["status"], "mode": row["mode"], "error": row["error"],
            "block": _num(row["block_number"]), "started_at": _num(row["started_at"]),
            "finished_at": _num(row["finished_at"]), "snapshots": snapshots, "plans": plans}


_FILL_FIELDS = ("block_number", "block_timestamp", "tx_hash", "amount_in", "amount_out", "notional_quote",
                "realized_price", "oracle_price", "slippage_bps", "fee_quote", "gas_used", "effective_gas_price",
                "gas_cost_native", "gas_cost_quote", "recorded_at")


def _intent_entry(conn: Conn, row: Any) -> dict[str, Any]:
    try:
        params = json.loads(row["params_json"])
    except ValueError:
        params = {"unreadable": _keccak_text(row["params_json"])}
    if isinstance(params, dict) and "data" in params:
        params = {**{k: v for k, v in params.items() if k != "data"}, "data_hash": _keccak_text(str(params["data"]))}
    attempts = [
        {"attempt": _num(a["attempt"]), "nonce": _num(a["nonce"]), "tx_hash": a["tx_hash"],
         "raw_tx_hash": _keccak_text(a["raw_tx"]), "max_fee_per_gas": _num(a["max_fee_per_gas"]),
         "max_priority_fee_per_gas": _num(a["max_priority_fee_per_gas"]), "created_at": _num(a["created_at"])}
        for a in conn.execute("SELECT * FROM tx_attempts WHERE intent_id = ? ORDER BY attempt, id", (row["id"],))
    ]
    f = conn.execute("SELECT * FROM fills WHERE intent_id = ?", (row["id"],)).fetchone()
    fill = None if f is None else {k: _num(f[k]) for k in _FILL_FIELDS}
    return {"id": row["id"], "cycle_id": _num(row["cycle_id"]), "created_at": _num(row["created_at"]),
            "underlying": row["underlying"], "venue": row["venue"], "side": row["side"], "size": _num(row["size"]),
            "params": _num(params), "status": row["status"], "error": row["error"], "attempts": attempts,
            "fill": fill}


def _entry_hash(entry: Mapping[str, Any]) -> str:
    return _keccak_text(canonical_text(entry))


def _events_digest(conn: Conn, after: int, last: int) -> str:
    rows = conn.execute("SELECT id, ts, kind, data_json FROM events WHERE id > ? AND id <= ? ORDER BY id",
                        (after, last)).fetchall()
    return _keccak_text(canonical_text({"events": [[_num(r[0]), _num(r[1]), r[2], r[3]] for r in rows]}))


def _record(row: Any) -> LedgerRecord:
    return LedgerRecord(seq=row["seq"], cycle_id=row["cycle_id"], prev_hash=row["prev_hash"],
                        record_hash=row["record_hash"], record=row["record"], signature=row["signature"],
                        signer=row["signer"])


_NEXT = {"pending": {"pending", "sent", "failed"}, "sent": {"sent", "mined", "failed", "replaced"}}
_IMMUTABLE = ("id", "cycle_id", "created_at", "underlying", "venue", "side", "size", "params")


def _legal_change(old: Mapping[str, Any], new: Mapping[str, Any], reorged: bool) -> bool:
    """Whether the keeper's own state machine can move an intent from ``old`` to ``new``: immutable fields kept,
    attempts only appended, status forward only; a fill, once there, changes only after a reorg of the intent
    (``reorged``: the event log holds a ``reorg`` event for it)."""
    if new == old:
        return True
    if any(old[k] != new[k] for k in _IMMUTABLE) or new["attempts"][:len(old["attempts"])] != old["attempts"]:
        return False
    if old["status"] == "mined" or old["fill"] is not None:
        return reorged and new["status"] in _NEXT["sent"]
    return new["status"] in _NEXT.get(old["status"], {old["status"]})


def _reorged(conn: Conn) -> set[str]:
    """Intents the event log says a reorg reopened."""
    out = set()
    for (text,) in conn.execute("SELECT data_json FROM events WHERE kind = 'reorg'"):
        try:
            out.add(str(json.loads(text)["intent_id"]))
        except (ValueError, KeyError, TypeError):
            continue
    return out


def _first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            if a.get(k) != b.get(k):
                return _first_difference(a.get(k), b.get(k), f"{path}.{k}" if path else k)
        return path
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return _first_difference(x, y, f"{path}[{i}]")
    return f"{path} (sealed {_short(a)}, now {_short(b)})"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


# ----------------------------------------------------------------------------- the journal's part


class LedgerMixin(JournalBase):
    """Sealing and verifying the audit ledger; mixed into :class:`keeper.journal.Journal`."""

    def seal(self, *, chain_id: int, treasury: str, signer: RecordSigner | None) -> LedgerRecord:
        """Append the record of everything finished or changed since the previous record, signed by ``signer``
        (``None``: unsigned). One write transaction; returns the record. Secrets never reach the record."""
        genesis = genesis_hash(chain_id, treasury)
        with self._write("seal an audit record") as conn:
            last = conn.execute("SELECT * FROM ledger ORDER BY seq DESC LIMIT 1").fetchone()
            prev = _record(last) if last is not None else None
            try:
                prev_body = prev.body if prev is not None else {}
            except ValueError:
                raise JournalError(f"{self._where}: the audit ledger's record {prev.seq if prev else 0} is not "
                                   "JSON (edited?); run `keeper audit verify`") from None
            seq = prev.seq + 1 if prev is not None else 1
            now = self._now()
            cycles_rows = conn.execute(
                "SELECT c.* FROM cycles c LEFT JOIN ledger_cycles l ON l.cycle_id = c.id "
                "WHERE l.cycle_id IS NULL AND c.status <> 'running' ORDER BY c.id").fetchall()
            cycles = [_cycle_entry(conn, r) for r in cycles_rows]
            since = float(prev_body.get("sealed_at", "-1e300")) - _CHANGE_MARGIN_S
            candidates = conn.execute(
                "SELECT i.*, l.entry_hash AS sealed_hash FROM intents i LEFT JOIN ledger_intents l "
                "ON l.intent_id = i.id WHERE l.intent_id IS NULL OR i.updated_at >= ? ORDER BY i.created_at, i.id",
                (since,)).fetchall()
            intents = []
            for r in candidates:
                entry = _intent_entry(conn, r)
                if _entry_hash(entry) != r["sealed_hash"]:
                    intents.append(entry)
            after = int(prev_body.get("events", {}).get("last", "0"))
            top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM events").fetchone()[0]
            last_event = max(after, int(top))
            body = {
                "version": LEDGER_VERSION, "chain_id": str(chain_id), "treasury": treasury.lower(),
                "seq": str(seq), "prev_hash": prev.record_hash if prev is not None else genesis,
                "sealed_at": _num(now), "keeper": signer.address if signer is not None else None,
                "cycles": cycles, "intents": intents,
                "events": {"after": str(after), "last": str(last_event),
                           "hash": _events_digest(conn, after, last_event)},
            }
            text = canonical_text(body)
            digest = record_hash(body["prev_hash"], text)
            signature = "0x" + signer.personal_sign(bytes.fromhex(digest[2:])).hex() if signer is not None else ""
            last_cycle = int(cycles[-1]["id"]) if cycles else (prev.cycle_id if prev is not None else 0)
            conn.execute(
                "INSERT INTO ledger (seq, cycle_id, prev_hash, record_hash, record, signature, signer) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (seq, last_cycle, body["prev_hash"], digest, text, signature,
                 signer.address if signer is not None else ""))
            for c in cycles:
                conn.execute("INSERT INTO ledger_cycles (cycle_id, seq) VALUES (?, ?)", (int(c["id"]), seq))
            for i in intents:
                conn.execute(
                    "INSERT INTO ledger_intents (intent_id, seq, entry_hash) VALUES (?, ?, ?) "
                    "ON CONFLICT (intent_id) DO UPDATE SET seq = excluded.seq, entry_hash = excluded.entry_hash",
                    (i["id"], seq, _entry_hash(i)))
            return _record(conn.execute("SELECT * FROM ledger WHERE seq = ?", (seq,)).fetchone())

    def ledger(self) -> list[LedgerRecord]:
        """Every record, in ledger order (``seq``)."""
        with self._read("read the audit ledger") as conn:
            return [_record(r) for r in conn.execute("SELECT * FROM ledger ORDER BY seq")]

    # Long on purpose: the verifier's checks, one after the other, each naming what it found.
    def verify_ledger(self, *, chain_id: int, treasury: str,  # noqa: C901, PLR0912, PLR0915
                      keepers: Sequence[str]) -> Verdict:
        """Check the ledger's hash chain, its signatures (against ``keepers``, addresses the caller trusts) and
        the journal's tables against what the records sealed. Never trusts the ``keeper`` field of a record."""
        trusted = {k.lower() for k in keepers}
        genesis = genesis_hash(chain_id, treasury)
        findings: list[Finding] = []
        unsealed: list[str] = []
        with self._read("verify the audit ledger") as conn:
            records = [_record(r) for r in conn.execute("SELECT * FROM ledger ORDER BY seq")]
            by_hash = {r.record_hash: r for r in records}
            bodies: list[dict[str, Any]] = []
            blocks: dict[int, int | None] = {}
            for r in records:
                try:
                    body = r.body
                except ValueError:
                    body = {}
                bodies.append(body)
                for c in body.get("cycles", []):
                    blocks[int(c["id"])] = None if c.get("block") is None else int(c["block"])

            def where(r: LedgerRecord, body: Mapping[str, Any]) -> tuple[int, int | None, int | None]:
                cycles = body.get("cycles") or []
                cid = int(cycles[-1]["id"]) if cycles else r.cycle_id
                return r.seq, cid, blocks.get(cid)

            signed = unsigned = 0
            prev: LedgerRecord | None = None
            for r, body in zip(records, bodies, strict=True):
                at = where(r, body)
                expected_prev = prev.record_hash if prev is not None else genesis
                if not body or record_hash(r.prev_hash, r.record) != r.record_hash or body.get(
                        "prev_hash") != r.prev_hash:
                    findings.append(Finding(*at, "hash mismatch",
                                            f"its text no longer hashes to {r.record_hash} (the record was edited)"))
                elif r.prev_hash != expected_prev:  # the genesis binds chain and treasury: no other check needed
                    other = by_hash.get(r.prev_hash)
                    after = f"record {prev.seq}" if prev is not None else "the genesis"
                    if other is not None:
                        findings.append(Finding(*at, "reordered",
                                                f"it is record {body.get('seq')} of the chain, following record "
                                                f"{other.seq}, but is stored as record {r.seq} after {after}"))
                    elif prev is None and body.get("seq") == "1":
                        findings.append(Finding(*at, "wrong chain",
                                                "its predecessor is not the genesis hash of this chain and treasury"))
                    else:
                        findings.append(Finding(*at, "missing predecessor",
                                                f"it is record {body.get('seq')} of the chain; the record it follows "
                                                f"({r.prev_hash}) is gone (deleted)"))
                if not r.signature and body.get("keeper") is None:
                    unsigned += 1
                else:
                    try:
                        who = recover_signer(r.record_hash, r.signature)
                    except InputError as exc:
                        findings.append(Finding(*at, "bad signature", str(exc)))
                    else:
                        if who.lower() not in trusted:
                            findings.append(Finding(*at, "bad signature",
                                                    f"signed by {who}, not by the keeper "
                                                    f"({', '.join(sorted(keepers)) or 'none given'})"))
                        else:
                            signed += 1
                prev = r

            last_sealed_at = float(bodies[-1].get("sealed_at", "-1e300")) if bodies and bodies[-1] else -1e300
            self._cross_check(conn, records, bodies, blocks, findings, unsealed, last_sealed_at)
            self._tail_check(conn, records, findings)
            sealed_cycles = {c["id"] for b in bodies for c in b.get("cycles", [])}
            latest: dict[str, dict[str, Any]] = {}
            for b in bodies:
                for i in b.get("intents", []):
                    latest[i["id"]] = i
        return Verdict(
            records=len(records), signed=signed, unsigned=unsigned, cycles=len(sealed_cycles), intents=len(latest),
            fills=sum(1 for i in latest.values() if i.get("fill") is not None),
            head_hash=records[-1].record_hash if records else genesis,
            findings=tuple(sorted(findings, key=lambda f: f.seq)), unsealed=tuple(unsealed),
        )

    @staticmethod
    def _tail_check(conn: Conn, records: list[LedgerRecord], findings: list[Finding]) -> None:
        """Records cut from the end leave no gap in the chain. Two traces remain unless the one who cut them also
        cleaned up: the seal caches name records past the last one, or the ledger is empty beside finished
        cycles. (An external copy of the head hash is the real defence; see the README.)"""
        last = records[-1].seq if records else 0
        beyond = conn.execute(
            "SELECT MAX(seq) FROM (SELECT seq FROM ledger_cycles UNION ALL SELECT seq FROM ledger_intents) s "
            "WHERE seq > ?", (last,)).fetchone()[0]
        if beyond is not None:
            findings.append(Finding(last + 1, None, None, "deleted",
                                    f"records {last + 1}..{beyond} are gone from the end of the ledger (its seal "
                                    f"cache still names record {beyond})"))
        elif not records:
            done = conn.execute("SELECT COUNT(*) FROM cycles WHERE status <> 'running'").fetchone()[0]
            if done:
                findings.append(Finding(1, None, None, "deleted",
                                        f"the ledger holds no record beside {done} finished cycle(s): it was emptied, "
                                        "or no cycle ran since the journal was upgraded"))

    # Long on purpose: tables against sealed entries, row kind by row kind.
    @staticmethod
    def _cross_check(conn: Conn, records: list[LedgerRecord],  # noqa: C901, PLR0912
                     bodies: list[dict[str, Any]], blocks: Mapping[int, int | None], findings: list[Finding],
                     unsealed: list[str], last_sealed_at: float) -> None:
        sealed_cycles: dict[int, tuple[LedgerRecord, dict[str, Any]]] = {}
        sealed_intents: dict[str, tuple[LedgerRecord, dict[str, Any]]] = {}
        reorged = _reorged(conn)
        for r, body in zip(records, bodies, strict=True):
            for c in body.get("cycles", []):
                sealed_cycles[int(c["id"])] = (r, c)
            for i in body.get("intents", []):
                before = sealed_intents.get(str(i["id"]))
                if before is not None and not _legal_change(before[1], i, str(i["id"]) in reorged):
                    cid = int(i["cycle_id"])
                    findings.append(Finding(r.seq, cid, blocks.get(cid), "edited",
                                            f"intent {i['id']} changed between record {before[0].seq} and this one "
                                            f"as the keeper never changes one (edited before this seal): "
                                            f"{_first_difference(before[1], i)}"))
                sealed_intents[str(i["id"])] = (r, i)
            ev = body.get("events")
            if isinstance(ev, dict) and int(ev.get("last", 0)) > int(ev.get("after", 0)) and _events_digest(
                    conn, int(ev["after"]), int(ev["last"])) != ev.get("hash"):
                findings.append(Finding(r.seq, r.cycle_id, blocks.get(r.cycle_id), "edited",
                                        f"event log rows {int(ev['after']) + 1}..{ev['last']} differ from "
                                        "what this record sealed"))
        for cid, (r, sealed) in sealed_cycles.items():
            row = conn.execute("SELECT * FROM cycles WHERE id = ?", (cid,)).fetchone()
            if row is None:
                findings.append(Finding(r.seq, cid, blocks.get(cid), "deleted",
                                        f"cycle {cid} is sealed here but gone from the journal"))
                continue
            now = _cycle_entry(conn, row)
            if now != sealed:
                findings.append(Finding(r.seq, cid, blocks.get(cid), "edited",
                                        f"cycle {cid}: {_first_difference(sealed, now)}"))
        first_sealed = min(sealed_cycles) if sealed_cycles else None
        for row in conn.execute("SELECT * FROM cycles ORDER BY id"):
            cid = row["id"]
            if cid in sealed_cycles:
                continue
            if row["status"] in ("running", "abandoned") or first_sealed is None or cid < first_sealed or (
                    (row["finished_at"] or 0.0) > last_sealed_at):
                unsealed.append(f"cycle {cid} ({row['status']}) is not sealed yet")
            else:
                last = records[-1]
                findings.append(Finding(last.seq, cid, row["block_number"], "inserted",
                                        f"cycle {cid} ({row['status']}) finished before the last record but no "
                                        "record seals it"))
        for iid, (r, sealed) in sealed_intents.items():
            row = conn.execute("SELECT * FROM intents WHERE id = ?", (iid,)).fetchone()
            cid = int(sealed["cycle_id"])
            if row is None:
                findings.append(Finding(r.seq, cid, blocks.get(cid), "deleted",
                                        f"intent {iid} of cycle {cid} is sealed here but gone from the journal"))
                continue
            now = _intent_entry(conn, row)
            if now == sealed:
                continue
            if _legal_change(sealed, now, iid in reorged) and row["updated_at"] > last_sealed_at:
                unsealed.append(f"intent {iid} changed after the last record ({sealed['status']} -> {now['status']})")
                continue
            findings.append(Finding(r.seq, cid, blocks.get(cid), "edited",
                                    f"intent {iid}: {_first_difference(sealed, now)}"))
        for row in conn.execute("SELECT * FROM intents ORDER BY created_at, id"):
            if row["id"] in sealed_intents:
                continue
            if row["updated_at"] > last_sealed_at or row["cycle_id"] not in sealed_cycles:
                unsealed.append(f"intent {row['id']} of cycle {row['cycle_id']} is not sealed yet")
            else:
                r, _ = sealed_cycles[row["cycle_id"]]
                findings.append(Finding(r.seq, row["cycle_id"], blocks.get(row["cycle_id"]), "inserted",
                                        f"intent {row['id']} is in the journal but no record seals it"))

