"""Safe Transaction Builder batch files: the JSON the Safe web interface's Transaction Builder imports.

Format (``version`` "1.0", as the Transaction Builder app writes it)::

    {"version": "1.0", "chainId": "31337", "createdAt": 1700000000000,
     "meta": {"name": ..., "description": ..., "txBuilderVersion": "1.18.0",
              "createdFromSafeAddress": "0x...", "createdFromOwnerAddress": "", "checksum": "0x..."},
     "transactions": [{"to": "0x...", "value": "0", "data": null,
                       "contractMethod": {"inputs": [{"internalType": "address", "name": "module",
                                                      "type": "address"}], "name": "enableModule",
                                          "payable": false},
                       "contractInputsValues": {"module": "0x..."}}]}

Every number is a decimal string (the importer rejects JSON numbers in ``value`` and the inputs).
A transaction with a known method carries ``data: null`` and its method and inputs, so the builder
shows the owners the decoded call and encodes it itself (a bool input is ``value.lower() == "true"``,
every other input is passed on as the string); a transaction without one carries its hex ``data``
and ``null`` method and inputs. :func:`read_batch` applies exactly that rule, so a test that executes
what :func:`read_batch` returns executes what the web interface would.

``meta.checksum`` is computed as the app's ``lib/checksum.ts`` computes it, so the importer does not
warn that the file "was modified since it was generated": keccak-256 of a canonical serialization
(:func:`serialize`: object keys sorted and listed as a JSON array, then each value followed by a
comma) of the batch with ``meta.name`` set to null (the app renames batches without re-hashing)
and without ``meta.checksum`` (the importer deletes it before it recomputes). A batch with no
transaction is refused (:class:`EmptyBatchError`): there is nothing for the owners to sign.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.errors import InputError
from keeper.venues.safe import Operation, SafeTx

__all__ = [
    "TX_BUILDER_VERSION",
    "BatchTx",
    "EmptyBatchError",
    "MethodInput",
    "batch_file",
    "calculate_checksum",
    "checksum",
    "contract_call",
    "encode_method",
    "multisend_tx",
    "raw_tx",
    "read_batch",
    "serialize",
    "validate_checksum",
    "write_batch",
]

TX_BUILDER_VERSION = "1.18.0"
"""The Transaction Builder version recorded in ``meta.txBuilderVersion`` (informational for the importer)."""


class EmptyBatchError(InputError):
    """A batch without a transaction: the Transaction Builder would import nothing to sign."""


@dataclass(frozen=True)
class MethodInput:
    name: str
    type: str


@dataclass(frozen=True)
class BatchTx:
    """One transaction of a batch, with what a reviewer needs: the decoded call and a line with units."""

    to: str
    value: int
    data: bytes
    method: str | None = None
    inputs: tuple[MethodInput, ...] = ()
    args: tuple[Any, ...] = ()
    summary: str = ""
    """One human line: what the call does, with units (e.g. ``per trade 500,000 USD``)."""

    def safe_tx(self) -> SafeTx:
        return SafeTx(to_checksum_address(self.to), self.value, self.data, Operation.CALL)


def _signature(name: str, inputs: Sequence[MethodInput]) -> str:
    return f"{name}({','.join(i.type for i in inputs)})"


def contract_call(to: str, method: str, inputs: Sequence[tuple[str, str]], args: Sequence[Any],
                  summary: str = "", value: int = 0) -> BatchTx:
    """A call of ``method`` on ``to``; ``inputs`` are (type, name) pairs as in the contract's ABI."""
    ins = tuple(MethodInput(name=n, type=t) for t, n in inputs)
    if len(ins) != len(args):
        raise InputError("args", f"{method} takes {len(ins)} arguments, got {len(args)}")
    data = keccak(text=_signature(method, ins))[:4] + encode([i.type for i in ins], list(args))
    return BatchTx(to=to_checksum_address(to), value=value, data=data, method=method, inputs=ins,
                   args=tuple(args), summary=summary)


def raw_tx(to: str, data: bytes, value: int = 0, summary: str = "") -> BatchTx:
    """A transaction given by its calldata alone (written with hex ``data`` and no method)."""
    return BatchTx(to=to_checksum_address(to), value=value, data=data, summary=summary)


def _input_string(type_: str, value: Any) -> str:
    if type_ == "bool":
        return "true" if value else "false"
    if type_ == "address":
        return str(to_checksum_address(value))
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list | tuple):
        return json.dumps([_input_string(type_.rsplit("[", 1)[0], v) for v in value])
    return str(value)


def _tx_json(tx: BatchTx) -> dict[str, Any]:
    if tx.method is None:
        return {"to": tx.to, "value": str(tx.value), "data": "0x" + tx.data.hex(), "contractMethod": None,
                "contractInputsValues": None}
    return {
        "to": tx.to,
        "value": str(tx.value),
        "data": None,
        "contractMethod": {
            "inputs": [{"internalType": i.type, "name": i.name, "type": i.type} for i in tx.inputs],
            "name": tx.method,
            "payable": tx.value > 0,
        },
        "contractInputsValues": {i.name: _input_string(i.type, a) for i, a in zip(tx.inputs, tx.args, strict=True)},
    }


def batch_file(chain_id: int, safe: str, txs: Sequence[BatchTx], *, name: str, description: str = "",
               created_at_ms: int | None = None, owner: str = "") -> dict[str, Any]:
    """The batch as a JSON-ready dict, with ``meta.checksum`` set; raises EmptyBatchError without ``txs``."""
    if not txs:
        raise EmptyBatchError("transactions", f"the batch {name} has no transaction: nothing for the owners to sign")
    batch: dict[str, Any] = {
        "version": "1.0",
        "chainId": str(chain_id),
        "createdAt": int(time.time() * 1000) if created_at_ms is None else created_at_ms,
        "meta": {
            "name": name,
            "description": description,
            "txBuilderVersion": TX_BUILDER_VERSION,
            "createdFromSafeAddress": str(to_checksum_address(safe)),
            "createdFromOwnerAddress": owner,
        },
        "transactions": [_tx_json(t) for t in txs],
    }
    batch["meta"]["checksum"] = checksum(batch)
    return batch


# ---------------------------------------------------------------------------- checksum

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _js_stringify(value: Any) -> str:
    """``JSON.stringify`` of a primitive or a list of strings (undefined is passed as None and becomes ``null``).

    As JavaScript: no ASCII escaping, no spaces, and a lone UTF-16 surrogate (the only kind a
    Python string can hold) written as a lowercase ``\\uXXXX`` escape.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def serialize(obj: Any) -> str:
    """The Transaction Builder's canonical serialization (``serializeJSONObject`` in ``lib/checksum.ts``).

    An array is ``[a,b]`` of serialized elements; an object is ``{`` + its keys, sorted by UTF-16
    code units as JavaScript's ``sort()`` does, as a JSON array + each value serialized and
    followed by ``,`` + ``}``; anything else is its JSON text.
    """
    if isinstance(obj, list | tuple):
        return "[" + ",".join(serialize(e) for e in obj) + "]"
    if isinstance(obj, Mapping):
        keys = sorted(obj, key=lambda k: str(k).encode("utf-16-be", "surrogatepass"))
        return "{" + _js_stringify([str(k) for k in keys]) + "".join(serialize(obj[k]) + "," for k in keys) + "}"
    return _js_stringify(obj)


def calculate_checksum(batch: Mapping[str, Any]) -> str:
    """keccak-256 (0x hex) of :func:`serialize` of ``batch`` with ``meta.name`` set to null, every other key kept.

    The app's ``calculateChecksum``; its ``addChecksum`` applies it to a batch that has no
    ``meta.checksum`` yet, so for a finished file use :func:`checksum`.
    """
    meta = batch.get("meta")
    body = dict(batch)
    body["meta"] = {**(meta if isinstance(meta, Mapping) else {}), "name": None}
    return "0x" + keccak(text=serialize(body)).hex()


def checksum(batch: Mapping[str, Any]) -> str:
    """The checksum the importer expects in ``meta.checksum``: :func:`calculate_checksum` without ``meta.checksum``."""
    meta = batch.get("meta")
    body = dict(batch)
    if isinstance(meta, Mapping):
        body["meta"] = {k: v for k, v in meta.items() if k != "checksum"}
    return calculate_checksum(body)


def validate_checksum(batch: Mapping[str, Any]) -> bool:
    """What the importer checks: ``meta.checksum`` equals :func:`checksum` (else it warns the file was modified)."""
    meta = batch.get("meta")
    return isinstance(meta, Mapping) and meta.get("checksum") == checksum(batch)


def write_batch(path: Path, batch: Mapping[str, Any]) -> Path:
    """Write ``batch`` as indented JSON (parents created); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(batch, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


# ---------------------------------------------------------------------------- import

def _parse_input(type_: str, text: str) -> Any:
    """As the builder's ``parseInputValue``: JSON for arrays, ``"true"`` for bools, else the string."""
    text = text.strip()
    if type_.endswith("]"):
        inner = type_.rsplit("[", 1)[0]
        return [_parse_input(inner, v if isinstance(v, str) else json.dumps(v)) for v in json.loads(text)]
    if type_ == "bool":
        return text.lower() == "true"
    if type_ == "address":
        return to_checksum_address(text)
    if type_.startswith(("uint", "int")):
        return int(text, 0)
    if type_.startswith("bytes"):
        return bytes.fromhex(text.removeprefix("0x"))
    return text


def encode_method(method: Mapping[str, Any], values: Mapping[str, Any]) -> bytes:
    """Calldata of a ``contractMethod`` with its ``contractInputsValues``, as the importer encodes it."""
    name = method.get("name")
    inputs = method.get("inputs") or []
    if not isinstance(name, str) or not name:
        raise InputError("contractMethod", "has no name")
    types = [str(i["type"]) for i in inputs]
    args = []
    for index, inp in enumerate(inputs):
        key = inp.get("name") or str(index)
        raw = values.get(key) or ""
        if not isinstance(raw, str):
            raise InputError("contractInputsValues", f"{key}: every input must be a string, got {raw!r}")
        try:
            args.append(_parse_input(str(inp["type"]), raw))
        except ValueError as exc:
            raise InputError("contractInputsValues", f"{key}: {raw!r} is not a {inp['type']}: {exc}") from None
    return keccak(text=f"{name}({','.join(types)})")[:4] + encode(types, args)


def read_batch(path: Path) -> tuple[dict[str, Any], list[SafeTx]]:
    """The batch at ``path`` and its transactions as the importer reads them (each a CALL from the Safe).

    A transaction with ``data`` is executed with that calldata; one without is encoded from
    ``contractMethod`` and ``contractInputsValues``. Numbers encoded as JSON numbers are refused,
    as the importer refuses them.
    """
    try:
        batch = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError("batch", f"{path}: not a readable JSON batch file: {exc}") from None
    txs = batch.get("transactions") if isinstance(batch, dict) else None
    if not isinstance(txs, list):
        raise InputError("batch", f"{path}: no transactions list")
    out: list[SafeTx] = []
    for n, tx in enumerate(txs):
        value = tx.get("value")
        if not isinstance(value, str):
            raise InputError("batch", f"{path}: transaction {n}: value must be a string, got {value!r}")
        data = tx.get("data")
        if data:
            calldata = bytes.fromhex(str(data).removeprefix("0x"))
        elif tx.get("contractMethod"):
            calldata = encode_method(tx["contractMethod"], tx.get("contractInputsValues") or {})
        else:
            calldata = b""
        out.append(SafeTx(to_checksum_address(tx["to"]), int(value), calldata, Operation.CALL))
    return batch, out


# ---------------------------------------------------------------------------- MultiSendCallOnly

def multisend_tx(multisend_call_only: str, txs: Sequence[SafeTx]) -> SafeTx:
    """One DELEGATECALL of ``MultiSendCallOnly.multiSend`` running ``txs`` in order (what the web interface sends).

    Each packed entry: operation (uint8, always 0 = call), to (20 bytes), value (uint256),
    data length (uint256), data.
    """
    packed = b""
    for tx in txs:
        if tx.operation != Operation.CALL:
            raise InputError("txs", "MultiSendCallOnly runs calls only")
        packed += (b"\x00" + bytes.fromhex(to_checksum_address(tx.to)[2:]) + tx.value.to_bytes(32, "big")
                   + len(tx.data).to_bytes(32, "big") + tx.data)
    data = keccak(text="multiSend(bytes)")[:4] + encode(["bytes"], [packed])
    return SafeTx(to_checksum_address(multisend_call_only), 0, data, Operation.DELEGATECALL)
