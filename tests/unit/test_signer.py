"""The signer: keys from the environment or a keystore, and secrets that never leak."""

from __future__ import annotations

import copy
import json
import logging
import os
import pickle
import stat
import traceback
from pathlib import Path

import pytest
from eth_account import Account
from eth_keys.datatypes import Signature

from keeper.errors import ConfigError, InputError, KeeperError
from keeper.execute.signer import (
    EnvKeySource,
    KeystoreSource,
    Signer,
    SignerError,
    create_keystore,
    load_signer,
)
from keeper.obs.logs import redact

KEY_HEX = "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
KEY = "0x" + KEY_HEX
KEY_BYTES = bytes.fromhex(KEY_HEX)
ADDRESS = Account.from_key(KEY).address
PASSWORD = "correct horse battery staple"
FAST_SCRYPT = 2**4  # scrypt n for tests only; the default is 2**18
TX = {
    "type": 2,
    "chainId": 31337,
    "nonce": 3,
    "to": "0x" + "22" * 20,
    "value": 10**15,
    "gas": 21_000,
    "maxFeePerGas": 30 * 10**9,
    "maxPriorityFeePerGas": 10**9,
    "data": "0x",
}


def secrets_in(text: str) -> list[str]:
    """Which secrets (in any case, with or without 0x) appear in ``text``."""
    lowered = text.lower()
    found = [s for s in (KEY_HEX, KEY_HEX[:16], KEY_HEX[-16:]) if s in lowered]
    return found + ([PASSWORD] if PASSWORD in text else [])


def full_text(exc: BaseException) -> str:
    """Everything a traceback of ``exc`` would print, chained exceptions included."""
    return "".join(traceback.format_exception(exc))


@pytest.fixture
def keystore(tmp_path: Path) -> Path:
    path = tmp_path / "keystore.json"
    path.write_text(json.dumps(Account.encrypt(KEY_BYTES, PASSWORD, kdf="scrypt", iterations=FAST_SCRYPT)))
    return path


@pytest.fixture
def password_file(tmp_path: Path) -> Path:
    path = tmp_path / "password.txt"
    path.write_text(PASSWORD + "\n")
    path.chmod(0o600)
    return path


# ----------------------------------------------------------------------------------- from env


@pytest.mark.parametrize("value", [KEY, KEY_HEX, f"  {KEY}\n", KEY.upper().replace("0X", "0x"), "0X" + KEY_HEX])
def test_key_from_env(value: str) -> None:
    signer = load_signer(EnvKeySource("KEEPER_PRIVATE_KEY"), env={"KEEPER_PRIVATE_KEY": value})
    assert signer.address == ADDRESS


def test_missing_env_var_is_named() -> None:
    with pytest.raises(SignerError) as info:
        load_signer(EnvKeySource(), env={})
    assert str(info.value) == "signer.key_env: environment variable KEEPER_PRIVATE_KEY is not set"
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, KeeperError)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "is empty"),
        ("   ", "is empty"),
        (KEY[:-1], "expected 64 hex digits, got 63 characters"),
        (KEY + "00", "expected 64 hex digits, got 66 characters"),
        ("0x" + KEY_HEX[:-1] + "g", "it is not hexadecimal"),
        ("0x" + KEY_HEX[:-1] + "\u0661", "it is not hexadecimal"),
        ("0x" + "00" * 32, "outside the secp256k1 key range"),
        ("0x" + "ff" * 32, "outside the secp256k1 key range"),
    ],
)
def test_malformed_key_is_described_not_echoed(value: str, message: str) -> None:
    with pytest.raises(SignerError, match=message) as info:
        load_signer(EnvKeySource("MY_KEY"), env={"MY_KEY": value})
    text = full_text(info.value)
    assert str(info.value).startswith("signer.key_env: environment variable MY_KEY ")
    assert secrets_in(text) == []
    if len(value.strip()) > 8:
        assert value.strip()[2:12].lower() not in text.lower()


def test_bad_env_var_name() -> None:
    with pytest.raises(SignerError, match="signer.key_env: 'NOT A NAME' is not an environment variable name"):
        load_signer(EnvKeySource("NOT A NAME"), env={})


def test_unknown_source_type() -> None:
    with pytest.raises(InputError, match="source: expected EnvKeySource or KeystoreSource, got str"):
        load_signer("KEEPER_PRIVATE_KEY", env={})  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- keystore


def test_keystore_with_password_file(keystore: Path, password_file: Path) -> None:
    signer = load_signer(KeystoreSource(keystore, password_file=password_file), env={})
    assert signer.address == ADDRESS


@pytest.mark.parametrize("content", [PASSWORD, PASSWORD + "\n", PASSWORD + "\r\n", PASSWORD + "\nsecond line\n"])
def test_password_file_first_line_without_newline(keystore: Path, tmp_path: Path, content: str) -> None:
    pw = tmp_path / "pw"
    pw.write_bytes(content.encode())
    pw.chmod(0o600)
    assert load_signer(KeystoreSource(keystore, password_file=pw), env={}).address == ADDRESS


def test_keystore_with_password_env_and_pbkdf2(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text(json.dumps(Account.encrypt(KEY_BYTES, PASSWORD, kdf="pbkdf2", iterations=2)))
    signer = load_signer(KeystoreSource(path, password_env="KS_PASSWORD"), env={"KS_PASSWORD": PASSWORD})
    assert signer.address == ADDRESS


def test_wrong_password_is_named(keystore: Path) -> None:
    with pytest.raises(SignerError) as info:
        load_signer(KeystoreSource(keystore, password_env="P"), env={"P": "wrong " + PASSWORD})
    assert str(info.value) == f"signer.keystore: cannot decrypt {keystore}: wrong password"
    assert secrets_in(full_text(info.value)) == []
    assert "wrong " + PASSWORD not in full_text(info.value)


def test_keystore_problems_are_named(tmp_path: Path, password_file: Path) -> None:
    def error(path: Path) -> str:
        with pytest.raises(SignerError) as info:
            load_signer(KeystoreSource(path, password_file=password_file), env={})
        text = full_text(info.value)
        assert secrets_in(text) == []
        return str(info.value)

    missing = tmp_path / "missing.json"
    assert error(missing) == f"signer.keystore: keystore {missing} does not exist"
    assert error(tmp_path) == f"signer.keystore: keystore {tmp_path} is a directory"
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    assert error(garbage) == f"signer.keystore: {garbage} is not valid JSON"
    listing = tmp_path / "list.json"
    listing.write_text("[1, 2]")
    assert error(listing) == f"signer.keystore: {listing} is not a keystore (expected a JSON object)"
    other = tmp_path / "other.json"
    other.write_text('{"version": 1}')
    assert "is not a version 3 keystore" in error(other)
    odd_kdf = tmp_path / "odd.json"
    data = Account.encrypt(KEY_BYTES, PASSWORD, kdf="scrypt", iterations=FAST_SCRYPT)
    data["crypto"]["kdf"] = "argon2"
    odd_kdf.write_text(json.dumps(data))
    assert error(odd_kdf) == f"signer.keystore: {odd_kdf} uses an unsupported key derivation function"
    corrupt = tmp_path / "corrupt.json"
    data = Account.encrypt(KEY_BYTES, PASSWORD, kdf="scrypt", iterations=FAST_SCRYPT)
    del data["crypto"]["kdfparams"]
    corrupt.write_text(json.dumps(data))
    assert error(corrupt) == f"signer.keystore: cannot decrypt {corrupt}: unsupported or corrupt keystore"
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    assert error(binary) == f"signer.keystore: keystore {binary} is not UTF-8 text"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can read any file")
def test_unreadable_keystore_is_named(keystore: Path, password_file: Path) -> None:
    keystore.chmod(0)
    try:
        with pytest.raises(SignerError, match=r"keystore .* is not readable \(permission denied\)"):
            load_signer(KeystoreSource(keystore, password_file=password_file), env={})
    finally:
        keystore.chmod(0o600)


def test_password_source_problems(keystore: Path, tmp_path: Path, password_file: Path) -> None:
    exactly_one = "signer.password_file / signer.password_env: give exactly one source"
    with pytest.raises(SignerError, match=exactly_one):
        load_signer(KeystoreSource(keystore), env={})
    with pytest.raises(SignerError, match=exactly_one):
        load_signer(KeystoreSource(keystore, password_file=password_file, password_env="P"), env={"P": PASSWORD})
    with pytest.raises(SignerError, match=r"^signer.password_env: environment variable KS_PW is not set$"):
        load_signer(KeystoreSource(keystore, password_env="KS_PW"), env={})
    with pytest.raises(SignerError, match=r"^signer.password_env: environment variable KS_PW is empty$"):
        load_signer(KeystoreSource(keystore, password_env="KS_PW"), env={"KS_PW": ""})
    missing = tmp_path / "nope.txt"
    with pytest.raises(SignerError, match=rf"^signer.password_file: password file {missing} does not exist$"):
        load_signer(KeystoreSource(keystore, password_file=missing), env={})
    empty = tmp_path / "empty.txt"
    empty.write_text("\nsecond")
    with pytest.raises(SignerError, match="signer.password_file: the first line of .* is empty"):
        load_signer(KeystoreSource(keystore, password_file=empty), env={})


def test_shared_password_file_warns_without_the_password(
    keystore: Path, password_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    password_file.chmod(0o644)
    with caplog.at_level(logging.DEBUG):
        load_signer(KeystoreSource(keystore, password_file=password_file), env={})
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "readable by group or others (mode 644)" in warnings[0].getMessage()
    assert secrets_in(caplog.text) == []


# ----------------------------------------------------------------------------- no secret leaks


def test_repr_str_format_and_logs_show_only_the_address(
    keystore: Path, password_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        a = load_signer(EnvKeySource(), env={"KEEPER_PRIVATE_KEY": KEY})
        b = load_signer(KeystoreSource(keystore, password_file=password_file), env={})
        logging.getLogger("test").debug("signer %s %r", a, b)
        logging.getLogger("test").debug("signer %s", {"signer": a})
    for signer in (a, b):
        shown = [repr(signer), str(signer), f"{signer}", f"{signer!r}", f"{signer:>80}", str([signer])]
        for text in shown:
            assert ADDRESS in text
            assert secrets_in(text) == []
        assert repr(signer) == f"Signer(address={ADDRESS})"
    assert "loaded signer" in caplog.text
    assert ADDRESS in caplog.text
    assert secrets_in(caplog.text) == []


def test_signer_refuses_pickling_and_has_no_dict() -> None:
    signer = load_signer(EnvKeySource(), env={"KEEPER_PRIVATE_KEY": KEY})
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="cannot be pickled") as info:
            pickle.dumps(signer, protocol=protocol)
        assert secrets_in(full_text(info.value)) == []
    with pytest.raises(TypeError):
        vars(signer)
    assert copy.copy(signer) is signer
    assert copy.deepcopy({"s": signer})["s"] is signer
    assert not any(KEY_HEX in str(getattr(signer, name, "")) for name in dir(signer) if not name.startswith("_"))


def test_errors_in_signing_do_not_carry_the_key() -> None:
    signer = load_signer(EnvKeySource(), env={"KEEPER_PRIVATE_KEY": KEY})
    with pytest.raises(Exception) as info:  # whatever eth_account raises for a bad tx
        signer.sign_transaction({"to": "not an address", "gas": -1})
    assert secrets_in(full_text(info.value)) == []
    with pytest.raises(InputError, match="message_hash: expected exactly 32 bytes") as info2:
        signer.unsafe_sign_hash(b"\x00" * 31)
    assert secrets_in(full_text(info2.value)) == []


# ------------------------------------------------------------------------------------ signing


def test_signatures_recover_to_the_address() -> None:
    signer = load_signer(EnvKeySource(), env={"KEEPER_PRIVATE_KEY": KEY})
    signed = signer.sign_transaction(TX)
    assert Account.recover_transaction(signed.raw_transaction) == ADDRESS
    assert signed.raw_transaction == Account.sign_transaction(TX, KEY).raw_transaction
    digest = bytes(range(32))
    sig = signer.unsafe_sign_hash(digest)
    recovered = Signature(vrs=(sig.v - 27, sig.r, sig.s)).recover_public_key_from_msg_hash(digest)
    assert recovered.to_checksum_address() == ADDRESS


# ------------------------------------------------------------------------------ create_keystore


@pytest.mark.parametrize(("kdf", "iterations"), [("scrypt", FAST_SCRYPT), ("pbkdf2", 2)])
def test_create_keystore_round_trips(tmp_path: Path, kdf: str, iterations: int) -> None:
    path = tmp_path / "new.json"
    address = create_keystore(path, PASSWORD, kdf=kdf, iterations=iterations)  # type: ignore[arg-type]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = json.loads(path.read_text())
    assert data["crypto"]["kdf"] == kdf
    assert PASSWORD not in path.read_text()
    signer = load_signer(KeystoreSource(path, password_env="P"), env={"P": PASSWORD})
    assert signer.address == address
    assert isinstance(signer, Signer)


def test_create_keystore_makes_distinct_keys(tmp_path: Path) -> None:
    a = create_keystore(tmp_path / "a.json", PASSWORD, iterations=FAST_SCRYPT)
    b = create_keystore(tmp_path / "b.json", PASSWORD, iterations=FAST_SCRYPT)
    assert a != b


def test_create_keystore_mode_ignores_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        create_keystore(tmp_path / "k.json", PASSWORD, iterations=FAST_SCRYPT)
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.json").stat().st_mode) == 0o600


def test_create_keystore_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k.json"
    path.write_text("precious")
    with pytest.raises(SignerError, match=rf"^signer.keystore: {path} already exists; refusing to overwrite it$"):
        create_keystore(path, PASSWORD, iterations=FAST_SCRYPT)
    assert path.read_text() == "precious"


def test_create_keystore_argument_errors(tmp_path: Path) -> None:
    with pytest.raises(SignerError, match=r"signer.keystore: cannot create .*k.json: directory .*missing does not"):
        create_keystore(tmp_path / "missing" / "k.json", PASSWORD)
    with pytest.raises(InputError, match="kdf: 'argon2'"):
        create_keystore(tmp_path / "k.json", PASSWORD, kdf="argon2")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="password: must be a non-empty string"):
        create_keystore(tmp_path / "k.json", "")
    with pytest.raises(InputError, match="iterations"):
        create_keystore(tmp_path / "k.json", PASSWORD, iterations=3)  # scrypt n must be a power of two
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------------------ tampering and redaction

def test_a_keystore_whose_address_field_was_edited_is_refused(keystore: Path, password_file: Path) -> None:
    """The address field is outside the keystore's MAC: an attacker can edit it freely. Loading
    derives the address from the decrypted key and refuses a keystore that states another."""
    data = json.loads(keystore.read_text())
    attacker = "0x000000000000000000000000000000000000bEEF"
    data["address"] = attacker[2:].lower()
    keystore.write_text(json.dumps(data))
    with pytest.raises(SignerError, match="states address .* but its key is " + ADDRESS) as exc:
        load_signer(KeystoreSource(keystore, password_file=password_file), env={})
    assert secrets_in(full_text(exc.value)) == []
    del data["address"]  # no address field at all: the key alone decides
    keystore.write_text(json.dumps(data))
    assert load_signer(KeystoreSource(keystore, password_file=password_file), env={}).address == ADDRESS


def test_a_loaded_key_and_password_are_registered_for_redaction(keystore: Path, password_file: Path) -> None:
    load_signer(KeystoreSource(keystore, password_file=password_file), env={})
    line = f"debug: key {KEY_HEX} 0x{KEY_HEX.upper()} password {PASSWORD}"
    # "key" labels are redacted anyway; check the unlabelled forms too.
    assert secrets_in(redact(line)) == [] and secrets_in(redact(f"blob {KEY_HEX[:64]} {PASSWORD}")) == []
