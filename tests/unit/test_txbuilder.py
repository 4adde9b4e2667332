"""Safe Transaction Builder batch files: shape, checksum (the app's own test vector), import rule, MultiSend."""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode
from eth_utils.crypto import keccak

from keeper.errors import InputError
from keeper.onboarding.tomlout import dumps
from keeper.onboarding.txbuilder import (
    EmptyBatchError,
    batch_file,
    calculate_checksum,
    checksum,
    contract_call,
    encode_method,
    multisend_tx,
    raw_tx,
    read_batch,
    serialize,
    validate_checksum,
    write_batch,
)
from keeper.venues.hedge_module import calldata
from keeper.venues.safe import Operation, SafeTx

SAFE = "0xDF8a1Ce35c9a6ACE153B4e0767942f1E2291a1Aa"
MODULE = "0x49d4450977E2c95362C13D3a31a09311E0Ea26A6"
FEED = "0x59b670e9fA9D0A427751Af201D676719a970857b"

# The Transaction Builder app's own checksum test vector (origin, path and commit inside the file).
APP_FIXTURE: dict[str, Any] = json.loads(
    (Path(__file__).parent.parent / "fixtures" / "safe_tx_builder_checksum.json").read_text(encoding="utf-8"))


def sample_txs() -> list[Any]:
    return [
        contract_call(SAFE, "enableModule", [("address", "module")], [MODULE], "enable"),
        contract_call(MODULE, "setFeeTierAllowed", [("uint24", "fee"), ("bool", "allowed")], [500, True]),
        contract_call(MODULE, "setTokenConfig", [("address", "token"), ("address", "feed"), ("uint256", "maxFeedAge"),
                                                 ("bool", "allowed")], [SAFE, FEED, 3600, False]),
        contract_call(MODULE, "setLimits", [("uint256", "a"), ("uint256", "b"), ("uint256", "c"), ("uint256", "d")],
                      [500_000 * 10**18, 2_000_000 * 10**18, 86_400, 100]),
        raw_tx(MODULE, b"\x12\x34\x56\x78", value=5),
    ]


def test_checksum_reproduces_the_apps_fixture() -> None:
    batch = APP_FIXTURE["batch"]
    assert calculate_checksum(batch) == APP_FIXTURE["checksum"]
    # Key order does not matter (the app's own "properties order" test).
    reordered = {k: batch[k] for k in reversed(list(batch))}
    reordered["meta"] = {k: batch["meta"][k] for k in reversed(list(batch["meta"]))}
    assert calculate_checksum(reordered) == APP_FIXTURE["checksum"]
    # The serialization on its own, with meta.name kept: the app's vector from before it nulled the name.
    assert "0x" + keccak(text=serialize(batch)).hex() == APP_FIXTURE["checksum_with_name"]
    # The name is not hashed; every other field is.
    renamed = copy.deepcopy(batch)
    renamed["meta"]["name"] = "another name"
    assert calculate_checksum(renamed) == APP_FIXTURE["checksum"]
    for edit in (("chainId", "5"), ("createdAt", 1646321521062)):
        changed = copy.deepcopy(batch)
        changed[edit[0]] = edit[1]
        assert calculate_checksum(changed) != APP_FIXTURE["checksum"]
    swapped = copy.deepcopy(batch)
    swapped["transactions"].reverse()
    assert calculate_checksum(swapped) != APP_FIXTURE["checksum"]


def test_our_batches_verify_under_the_apps_rule(tmp_path: Path) -> None:
    batch = batch_file(31337, SAFE, sample_txs(), name="keeper: enable-module", description="d", created_at_ms=1)
    # What the importer does: drop meta.checksum, hash with meta.name null, compare.
    without = copy.deepcopy(batch)
    del without["meta"]["checksum"]
    assert batch["meta"]["checksum"] == calculate_checksum(without)
    on_disk, _ = read_batch(write_batch(tmp_path / "b.json", batch))
    assert validate_checksum(on_disk)
    # The old rule (name kept) gives another value: the one the importer warned about.
    assert batch["meta"]["checksum"] != "0x" + keccak(text=serialize(without)).hex()
    renamed = copy.deepcopy(on_disk)
    renamed["meta"]["name"] = "renamed in the app"
    assert validate_checksum(renamed)
    edited = copy.deepcopy(on_disk)
    edited["meta"]["description"] = "edited"
    assert not validate_checksum(edited)


def test_empty_batch_is_refused() -> None:
    with pytest.raises(EmptyBatchError, match="no transaction: nothing for the owners to sign"):
        batch_file(1, SAFE, [], name="keeper: disable-module")


def test_strings_are_stringified_as_javascript_does() -> None:
    assert serialize({"é": "€\n\u0001"}) == '{["é"]"€\\n\\u0001",}'
    # A lone surrogate is escaped (lowercase hex), as JSON.stringify does since ES2019.
    assert serialize("a\ud83db") == '"a\\ud83db"'
    # Keys sort by UTF-16 code units (JavaScript's sort()), not by code point.
    assert serialize({"\uff61": 1, "\U0001f600": 2}) == '{["\U0001f600","\uff61"]2,1,}'


def test_serialize_format() -> None:
    assert serialize({"b": 1, "a": [True, None, "x"]}) == '{["a","b"][true,null,"x"],1,}'
    assert serialize([]) == "[]"
    assert serialize({}) == "{[]}"


def test_batch_shape_and_checksum() -> None:
    batch = batch_file(31337, SAFE.lower(), sample_txs(), name="keeper: test", description="d", created_at_ms=1234)
    assert list(batch) == ["version", "chainId", "createdAt", "meta", "transactions"]
    assert batch["version"] == "1.0" and batch["chainId"] == "31337" and batch["createdAt"] == 1234
    meta = batch["meta"]
    assert set(meta) == {"name", "description", "txBuilderVersion", "createdFromSafeAddress",
                         "createdFromOwnerAddress", "checksum"}
    assert meta["createdFromSafeAddress"] == SAFE  # checksummed
    assert meta["checksum"] == checksum(batch) and validate_checksum(batch)
    tx0 = batch["transactions"][0]
    assert tx0 == {
        "to": SAFE, "value": "0", "data": None,
        "contractMethod": {"inputs": [{"internalType": "address", "name": "module", "type": "address"}],
                           "name": "enableModule", "payable": False},
        "contractInputsValues": {"module": MODULE},
    }
    assert batch["transactions"][1]["contractInputsValues"] == {"fee": "500", "allowed": "true"}
    assert batch["transactions"][2]["contractInputsValues"]["allowed"] == "false"
    assert batch["transactions"][3]["contractInputsValues"]["a"] == str(500_000 * 10**18)
    raw = batch["transactions"][4]
    assert raw == {"to": MODULE, "value": "5", "data": "0x12345678", "contractMethod": None,
                   "contractInputsValues": None}
    # The importer rejects JSON numbers: every value and input is a string.
    for tx in batch["transactions"]:
        assert isinstance(tx["value"], str)
        assert all(isinstance(v, str) for v in (tx["contractInputsValues"] or {}).values())
    changed = copy.deepcopy(batch)
    changed["transactions"][1]["contractInputsValues"]["fee"] = "3000"
    assert not validate_checksum(changed)
    swapped = copy.deepcopy(batch)
    swapped["transactions"].reverse()
    assert not validate_checksum(swapped)


def test_import_rule_reproduces_the_exact_calldata(tmp_path: Path) -> None:
    txs = sample_txs()
    path = write_batch(tmp_path / "sub" / "b.json", batch_file(1, SAFE, txs, name="n"))
    batch, safe_txs = read_batch(path)
    assert validate_checksum(batch)
    assert [(t.to, t.value, t.data, t.operation) for t in safe_txs] == \
        [(t.to, t.value, t.data, Operation.CALL) for t in txs]
    # Same bytes as the hedge_module helpers encode.
    assert safe_txs[1].data == calldata("setFeeTierAllowed(uint24,bool)", ["uint24", "bool"], [500, True])
    assert encode_method(batch["transactions"][0]["contractMethod"], {"module": MODULE.lower()}) == txs[0].data


def test_import_refuses_numbers(tmp_path: Path) -> None:
    batch = batch_file(1, SAFE, sample_txs()[:2], name="n")
    batch["transactions"][1]["contractInputsValues"]["fee"] = 500
    p = tmp_path / "b.json"
    p.write_text(json.dumps(batch))
    with pytest.raises(InputError, match="string"):
        read_batch(p)
    batch["transactions"][1]["value"] = 0
    p.write_text(json.dumps(batch))
    with pytest.raises(InputError, match="value must be a string"):
        read_batch(p)


def test_contract_call_checks_arity() -> None:
    with pytest.raises(InputError, match="takes 1 arguments"):
        contract_call(SAFE, "enableModule", [("address", "module")], [])


def test_multisend_packs_calls_in_order() -> None:
    a = SafeTx(SAFE, 0, b"\xaa\xbb")  # type: ignore[arg-type]
    b = SafeTx(MODULE, 7, b"")  # type: ignore[arg-type]
    ms = multisend_tx("0x9641d764fc13c8B624c04430C7356C1C7C8102e2", [a, b])
    assert ms.operation == Operation.DELEGATECALL and ms.value == 0
    assert ms.data[:4] == keccak(text="multiSend(bytes)")[:4]
    (packed,) = decode(["bytes"], ms.data[4:])
    first = b"\x00" + bytes.fromhex(SAFE[2:]) + (0).to_bytes(32, "big") + (2).to_bytes(32, "big") + b"\xaa\xbb"
    second = b"\x00" + bytes.fromhex(MODULE[2:]) + (7).to_bytes(32, "big") + (0).to_bytes(32, "big")
    assert packed == first + second
    with pytest.raises(InputError, match="calls only"):
        multisend_tx(SAFE, [ms])


def test_toml_writer_round_trips_a_config_shape() -> None:
    data = {
        "chain": {"rpc_url": "http://127.0.0.1:8545", "chain_id": 31337, "timeout_s": 10.5},
        "treasury": {"mode": "safe-module", "safe": SAFE},
        "assets": [{"symbol": "ETH", "hedge_pools": [SAFE, MODULE], "perp_max_abs_units": 500},
                   {"symbol": "BTC", "hedge_pools": []}],
        "vol": {"model": "fixed", "fixed": {"ETH": 0.6}},
        "policy": {"default": {"max_trade_usd": 1e5, "ceiling_units": float("inf")}, "ETH": {"band_units": 10}},
        "safety": {"dry_run": False},
        "odd key": {"a \"b\"": "c\nd"},
    }
    text = dumps(data, {"treasury.safe": "the Safe", "chain": "the chain"}, preamble="hello\n\nworld")
    assert text.startswith("# hello\n#\n# world\n")
    assert 'safe = "' + SAFE + '"  # the Safe' in text
    assert tomllib.loads(text) == data


def test_proposals_default_next_to_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from keeper.onboarding.propose import default_out

    (tmp_path / "run").mkdir()
    monkeypatch.chdir(tmp_path / "run")
    out = default_out("approvals", 1, SAFE, Path("..") / "cfg" / "keeper.toml")
    assert out == tmp_path / "cfg" / "proposals" / "approvals-1-0xdf8aa1aa.json"


def test_an_empty_proposal_says_why_it_is_refused() -> None:
    from keeper.onboarding.propose import Proposal

    empty = Proposal("disable-module", 1, SAFE, (), ("The module is not enabled on the Safe; nothing to disable.",))
    with pytest.raises(EmptyBatchError, match="disable-module: nothing for the owners to sign, so no batch is "
                                              "written: The module is not enabled on the Safe; nothing to disable."):
        empty.batch()
