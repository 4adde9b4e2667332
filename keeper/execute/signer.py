"""The keeper's transaction signer: a private key from the environment or an encrypted keystore.

The key and the keystore password are secrets: no message, repr, log line or pickle this
module produces contains them. Errors name the configuration field they came from
(``signer.key_env``, ``signer.keystore``, ``signer.password_file``, ``signer.password_env``)
and what is wrong, never the value. Exceptions raised while parsing a secret are not chained
(``from None``), so a traceback cannot carry the secret either.

The environment is passed in as a mapping (the composition root passes ``os.environ``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NoReturn

from eth_account import Account
from eth_account.datastructures import SignedMessage, SignedTransaction
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from eth_typing import Hash32

from keeper.errors import ConfigError, InputError
from keeper.obs.logs import MIN_SECRET_LENGTH, register_secret

__all__ = [
    "EnvKeySource",
    "KeystoreSource",
    "KeystoreTamperedError",
    "Signer",
    "SignerError",
    "SignerSource",
    "create_keystore",
    "load_signer",
]

log = logging.getLogger(__name__)

_SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_KEYSTORE_BYTES = 1 << 20


class SignerError(ConfigError):
    """The signer could not be loaded or created. The message names the field, never a secret."""


class KeystoreTamperedError(SignerError):
    """A keystore's unauthenticated fields disagree with its key (someone edited it)."""


@dataclass(frozen=True)
class EnvKeySource:
    """A 0x-hex private key in the environment variable ``key_env`` (config field ``signer.key_env``)."""

    key_env: str = "KEEPER_PRIVATE_KEY"


@dataclass(frozen=True)
class KeystoreSource:
    """An encrypted keystore JSON file (``signer.keystore``) and where its password is.

    Exactly one of ``password_file`` (first line, trailing newline stripped) and
    ``password_env`` (an environment variable name) must be given.
    """

    keystore: Path
    password_file: Path | None = None
    password_env: str | None = None


SignerSource = EnvKeySource | KeystoreSource


class Signer:
    """Signs the keeper's transactions; shows only its address.

    Wraps an eth_account ``LocalAccount``. It cannot be pickled or copied into a form that
    holds the key (pickling raises :class:`TypeError`; ``copy`` returns the same object).
    """

    __slots__ = ("__account",)

    def __init__(self, account: LocalAccount) -> None:
        self.__account = account

    @property
    def address(self) -> str:
        """The checksummed address."""
        return str(self.__account.address)

    def sign_transaction(self, tx: Mapping[str, Any]) -> SignedTransaction:
        """Sign a transaction dict (EIP-1559 or legacy, as eth_account accepts it)."""
        return self.__account.sign_transaction(dict(tx))

    def unsafe_sign_hash(self, message_hash: bytes) -> SignedMessage:
        """Sign a 32-byte hash as is (no EIP-191 prefix): only hashes the keeper computed itself (Safe tx hashes)."""
        if not isinstance(message_hash, bytes) or len(message_hash) != 32:
            raise InputError("message_hash", "expected exactly 32 bytes")
        return self.__account.unsafe_sign_hash(Hash32(message_hash))

    def personal_sign(self, data: bytes) -> bytes:
        """EIP-191 ``personal_sign`` of ``data`` (the audit ledger's record hashes): 65 bytes r || s || v."""
        if not isinstance(data, bytes) or not data:
            raise InputError("data", "expected non-empty bytes")
        return bytes(self.__account.sign_message(encode_defunct(primitive=data)).signature)

    def __repr__(self) -> str:
        return f"Signer(address={self.address})"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return format(repr(self), spec)

    def __reduce__(self) -> NoReturn:
        raise TypeError("a Signer holds a private key and cannot be pickled")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise TypeError("a Signer holds a private key and cannot be pickled")

    def __getstate__(self) -> NoReturn:
        raise TypeError("a Signer holds a private key and cannot be pickled")

    def __copy__(self) -> Signer:
        return self

    def __deepcopy__(self, memo: Any) -> Signer:
        return self


def load_signer(source: SignerSource, *, env: Mapping[str, str]) -> Signer:
    """Build the :class:`Signer` described by ``source``, reading variables from ``env``.

    Raises :class:`SignerError` naming the field and the cause: a missing or malformed
    environment variable, a keystore that is missing, unreadable, not a keystore, or whose
    password is wrong.
    """
    if isinstance(source, EnvKeySource):
        account = _account_from_env(source.key_env, env)
        where = f"environment variable {source.key_env}"
    elif isinstance(source, KeystoreSource):
        account = _account_from_keystore(source, env)
        where = f"keystore {source.keystore}"
    else:
        raise InputError("source", f"expected EnvKeySource or KeystoreSource, got {type(source).__name__}")
    signer = Signer(account)
    # Registered as soon as loaded: no log line, alert or error text of this process can carry them.
    register_secret(bytes(account.key).hex())
    log.debug("loaded signer %s from %s", signer.address, where)
    return signer


def create_keystore(
    path: str | os.PathLike[str],
    password: str,
    *,
    kdf: Literal["scrypt", "pbkdf2"] = "scrypt",
    iterations: int | None = None,
) -> str:
    """Generate a new random key, write it encrypted to ``path`` (mode 0600) and return its address.

    Refuses to overwrite an existing file. ``iterations`` overrides the KDF work factor
    (scrypt ``n``, a power of two; pbkdf2 rounds); the eth_account defaults are the safe choice.
    """
    target = Path(path)
    if kdf not in ("scrypt", "pbkdf2"):
        raise InputError("kdf", f"{kdf!r} is not 'scrypt' or 'pbkdf2'")
    if not isinstance(password, str) or not password:
        raise InputError("password", "must be a non-empty string")
    if target.exists() or target.is_symlink():
        raise SignerError(f"signer.keystore: {target} already exists; refusing to overwrite it")
    if not target.parent.is_dir():
        raise SignerError(f"signer.keystore: cannot create {target}: directory {target.parent} does not exist")
    account: LocalAccount = Account.create()
    try:
        keystore = Account.encrypt(account.key, password, kdf=kdf, iterations=iterations)
    except ValueError:
        raise InputError("iterations", "not accepted by the key derivation function") from None
    text = json.dumps(keystore)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise SignerError(f"signer.keystore: {target} already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise SignerError(f"signer.keystore: cannot create {target}: {exc.strerror}") from None
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
    except OSError as exc:
        target.unlink(missing_ok=True)
        raise SignerError(f"signer.keystore: cannot write {target}: {exc.strerror}") from None
    log.info("created keystore %s for %s", target, account.address)
    return str(account.address)


# ----------------------------------------------------------------------------- internals


def _account_from_env(name: str, env: Mapping[str, str]) -> LocalAccount:
    field = "signer.key_env"
    if not isinstance(name, str) or _ENV_NAME.fullmatch(name) is None:
        raise SignerError(f"{field}: {name!r} is not an environment variable name")
    if name not in env:
        raise SignerError(f"{field}: environment variable {name} is not set")
    return _account_from_hex(env[name], f"{field}: environment variable {name}")


def _account_from_hex(value: str, where: str) -> LocalAccount:
    text = value.strip()
    if not text:
        raise SignerError(f"{where} is empty")
    body = text[2:] if text[:2] in ("0x", "0X") else text
    if len(body) != 64:
        raise SignerError(f"{where} does not hold a private key: expected 64 hex digits, got {len(body)} characters")
    if _HEX64.fullmatch(body) is None:
        raise SignerError(f"{where} does not hold a private key: it is not hexadecimal")
    if not 0 < int(body, 16) < _SECP256K1_N:
        raise SignerError(f"{where} does not hold a private key: outside the secp256k1 key range")
    return _from_key(bytes.fromhex(body), where)


def _from_key(key: bytes, where: str) -> LocalAccount:
    try:
        account: LocalAccount = Account.from_key(key)
    except Exception:  # eth_keys errors may quote the key; say only where it came from
        raise SignerError(f"{where} does not hold a usable private key") from None
    return account


def _account_from_keystore(source: KeystoreSource, env: Mapping[str, str]) -> LocalAccount:
    field = "signer.keystore"
    path = Path(source.keystore)
    keystore = _read_keystore(path, field)
    password = _password(source, env)
    if len(password) >= MIN_SECRET_LENGTH:
        register_secret(password)
    try:
        key = Account.decrypt(keystore, password)
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise SignerError(f"{field}: cannot decrypt {path}: wrong password") from None
        raise SignerError(f"{field}: cannot decrypt {path}: unsupported or corrupt keystore") from None
    except Exception:
        raise SignerError(f"{field}: cannot decrypt {path}: unsupported or corrupt keystore") from None
    account = _from_key(bytes(key), f"{field}: {path}")
    stated = keystore.get("address")
    if stated is not None and str(stated).lower().removeprefix("0x") != account.address.lower().removeprefix("0x"):
        # The address field is not covered by the keystore's MAC: an edited one would name someone
        # else as this key's owner (and, in an owner batch, as the keeper).
        raise KeystoreTamperedError(f"{field}: {path} states address {stated} but its key is {account.address}: "
                          "the keystore was edited; restore it from a backup")
    return account


def _read_keystore(path: Path, field: str) -> dict[str, Any]:
    text = _read_file(path, field, "keystore")
    try:
        data = json.loads(text)
    except ValueError:
        raise SignerError(f"{field}: {path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise SignerError(f"{field}: {path} is not a keystore (expected a JSON object)")
    crypto = data.get("crypto", data.get("Crypto"))
    if data.get("version") != 3 or not isinstance(crypto, dict):
        raise SignerError(f"{field}: {path} is not a version 3 keystore (no 'crypto' section or wrong version)")
    if crypto.get("kdf") not in ("scrypt", "pbkdf2"):
        raise SignerError(f"{field}: {path} uses an unsupported key derivation function")
    return data


def _password(source: KeystoreSource, env: Mapping[str, str]) -> str:
    if (source.password_file is None) == (source.password_env is None):
        raise SignerError(
            "signer.password_file / signer.password_env: give exactly one source for the keystore password"
        )
    if source.password_env is not None:
        field = "signer.password_env"
        name = source.password_env
        if not isinstance(name, str) or _ENV_NAME.fullmatch(name) is None:
            raise SignerError(f"{field}: {name!r} is not an environment variable name")
        if name not in env:
            raise SignerError(f"{field}: environment variable {name} is not set")
        password = env[name]
        if not password:
            raise SignerError(f"{field}: environment variable {name} is empty")
        return password
    field = "signer.password_file"
    if source.password_file is None:  # unreachable: exactly one source was checked above
        raise SignerError(f"{field}: not set")
    path = Path(source.password_file)
    text = _read_file(path, field, "password file")
    password = text.split("\n", 1)[0].removesuffix("\r")
    if not password:
        raise SignerError(f"{field}: the first line of {path} is empty")
    _warn_if_shared(path, field)
    return password


def _read_file(path: Path, field: str, what: str) -> str:
    try:
        with path.open("rb") as fh:
            raw = fh.read(_MAX_KEYSTORE_BYTES + 1)
    except FileNotFoundError:
        raise SignerError(f"{field}: {what} {path} does not exist") from None
    except PermissionError:
        raise SignerError(f"{field}: {what} {path} is not readable (permission denied)") from None
    except IsADirectoryError:
        raise SignerError(f"{field}: {what} {path} is a directory") from None
    except OSError as exc:
        raise SignerError(f"{field}: cannot read {what} {path}: {exc.strerror}") from None
    if len(raw) > _MAX_KEYSTORE_BYTES:
        raise SignerError(f"{field}: {what} {path} is larger than {_MAX_KEYSTORE_BYTES} bytes")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SignerError(f"{field}: {what} {path} is not UTF-8 text") from None


def _warn_if_shared(path: Path, field: str) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s: %s is readable by group or others (mode %o); chmod 600 it", field, path, mode & 0o777)
