"""``keeper init``: check the RPC, find or create the treasury Safe, create the keeper's key, write the config.

Every answer comes from a flag, else a ``KEEPER_INIT_*`` variable, else the existing config, else a
prompt (interactive) or a default. Re-running on an existing config continues it: the keystore and
the Safe are kept, missing sections are filled, and a value that would change needs ``--force`` or
a confirmation at the prompt. The old file is always copied to ``<name>.bak`` first; the new one
is validated with :func:`~keeper.config.load_config` before it replaces the old.
"""

from __future__ import annotations

import os
import shutil
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_utils.address import is_address, to_checksum_address

from keeper.build.manifest import Manifest
from keeper.chain.rpc import RpcClient
from keeper.config import load_config
from keeper.errors import (
    ChainError,
    ChainIdMismatchError,
    ConfigError,
    ContractCallError,
    InputError,
    KeeperError,
)
from keeper.onboarding.devnet import DEVNET_CHAIN_ID, deploy_safe, find_devnet_manifest
from keeper.onboarding.propose import SAFE_VERSION
from keeper.onboarding.reads import read_safe
from keeper.onboarding.templates import (
    MODULE_PLACEHOLDER,
    contract_sections,
    default_sections,
    new_safe_steps,
)
from keeper.onboarding.tomlout import dumps

__all__ = ["ENV_PREFIX", "InitOptions", "InitResult", "SafeSetupNeededError", "run_init", "write_config"]

ENV_PREFIX = "KEEPER_INIT_"
DEFAULT_RPC = "http://127.0.0.1:8545"
KEYSTORE_NAME = "keeper.keystore.json"
Ask = Callable[[str], str]
Say = Callable[[str], None]


class SafeSetupNeededError(KeeperError):
    """A new Safe must be created by its owner first (off the devnet); the message has the steps."""


@dataclass
class InitOptions:
    """What ``keeper init`` was told; ``None`` means "not given" (then env, existing config, prompt, default)."""

    config: Path
    rpc_url: str | None = None
    chain_id: int | None = None
    safe: str | None = None
    new_safe: bool = False
    owner: str | None = None
    password_file: Path | None = None
    password_env: str | None = None
    keystore: Path | None = None
    devnet_manifest: Path | None = None
    force: bool = False
    interactive: bool = False
    kdf: str = "scrypt"

    def with_env(self, env: Mapping[str, str]) -> InitOptions:
        """Fill what flags left unset from ``KEEPER_INIT_<NAME>`` variables."""
        def get(name: str) -> str | None:
            v = env.get(ENV_PREFIX + name)
            return v if v else None
        o = InitOptions(**self.__dict__)
        o.rpc_url = o.rpc_url or get("RPC_URL")
        if o.chain_id is None and get("CHAIN_ID"):
            try:
                o.chain_id = int(str(get("CHAIN_ID")), 0)
            except ValueError:
                raise InputError(ENV_PREFIX + "CHAIN_ID", f"not an integer: {get('CHAIN_ID')!r}") from None
        o.safe = o.safe or get("SAFE")
        o.new_safe = o.new_safe or (get("NEW_SAFE") or "").lower() in ("1", "true", "yes")
        o.owner = o.owner or get("OWNER")
        o.password_file = o.password_file or (Path(v) if (v := get("PASSWORD_FILE")) else None)
        o.password_env = o.password_env or get("PASSWORD_ENV")
        o.keystore = o.keystore or (Path(v) if (v := get("KEYSTORE")) else None)
        o.devnet_manifest = o.devnet_manifest or (Path(v) if (v := get("DEVNET_MANIFEST")) else None)
        o.force = o.force or (get("FORCE") or "").lower() in ("1", "true", "yes")
        return o


@dataclass
class InitResult:
    config: Path
    backup: Path | None
    keeper: str
    safe: str
    created_keystore: bool
    deployed_safe: bool
    changed: list[str] = field(default_factory=list)


class _Asker:
    def __init__(self, interactive: bool, ask: Ask, say: Say) -> None:
        self.interactive, self._ask, self.say = interactive, ask, say

    def value(self, prompt: str, given: str | None, default: str | None, *, required: str) -> str:
        if not self.interactive:
            if given is not None:
                return given
            if default is not None:
                return default
            raise InputError(required, "required (a flag, a KEEPER_INIT_* variable or --interactive)")
        start = given if given is not None else default
        while True:
            answer = self._ask(f"{prompt}" + (f" [{start}]" if start else "") + ": ").strip()
            if answer or start:
                return answer or str(start)
            self.say("  a value is required")

    def confirm(self, prompt: str) -> bool:
        if not self.interactive:
            return False
        return self._ask(f"{prompt} [y/N]: ").strip().lower() in ("y", "yes")


def _read_existing(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"config error: {path}: cannot continue from it ({exc}); move it away or fix it") from None


def _address(name: str, value: str) -> str:
    if not is_address(value):
        raise InputError(name, f"{value!r} is not a 20-byte hex address")
    return str(to_checksum_address(value))


def _password(file: Path | None, env_name: str | None, env: Mapping[str, str]) -> str:
    if file is not None:
        try:
            pw = file.read_text(encoding="utf-8").split("\n", 1)[0].removesuffix("\r")
        except OSError as exc:
            raise InputError("password_file", f"cannot read {file}: {exc.strerror}") from None
        if not pw:
            raise InputError("password_file", f"the first line of {file} is empty")
        return pw
    if env_name is not None:
        pw = env.get(env_name, "")
        if not pw:
            raise InputError("password_env", f"environment variable {env_name} is not set or empty")
        return pw
    raise InputError("password_file", "the keystore needs a password: --password-file FILE or --password-env NAME")


def _rel(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())


# Long on purpose: the init steps in the order a user follows them, each printing what it did.
def run_init(opts: InitOptions, *, env: Mapping[str, str] | None = None, ask: Ask = input,  # noqa: C901, PLR0912, PLR0915
             say: Say = print) -> InitResult:
    """Run ``keeper init`` (see the module doc). Raises SafeSetupNeededError with the steps off the devnet."""
    env = os.environ if env is None else env
    opts = opts.with_env(env)
    q = _Asker(opts.interactive, ask, say)
    path = opts.config
    base = path.resolve().parent
    old = _read_existing(path)
    old_chain, old_treasury, old_signer = old.get("chain", {}), old.get("treasury", {}), old.get("signer", {})
    changes: dict[str, tuple[Any, Any]] = {}

    def decide(key: str, before: Any, after: Any) -> Any:
        if before is None or before == after:
            return after
        changes[key] = (before, after)
        return after

    # ---- RPC and chain id
    url = q.value("RPC URL", opts.rpc_url, old_chain.get("rpc_url") or DEFAULT_RPC, required="rpc_url")
    rpc = RpcClient.http(url, timeout_s=10.0)
    try:
        detected = rpc.chain_id()
    except ChainError as exc:
        raise InputError("rpc_url", f"{url} does not answer eth_chainId: {exc}") from None
    want = opts.chain_id if opts.chain_id is not None else old_chain.get("chain_id")
    chain_text = q.value("Expected chain id", None if want is None else str(want), str(detected), required="chain_id")
    try:
        chain_id = int(chain_text, 0)
    except ValueError:
        raise InputError("chain_id", f"not an integer: {chain_text!r}") from None
    if chain_id != detected:
        raise ChainIdMismatchError(f"chain_id: the RPC {url} serves chain id {detected}, expected {chain_id}")
    say(f"RPC {url}: chain id {chain_id}")
    manifest: Manifest | None = None
    if chain_id == DEVNET_CHAIN_ID:
        manifest = find_devnet_manifest(rpc, opts.devnet_manifest)

    # ---- the Safe
    safe_text = q.value("Treasury Safe address (or 'new' to create one)",
                        "new" if opts.new_safe and opts.safe is None else opts.safe, old_treasury.get("safe"),
                        required="safe")
    deployed = False
    if safe_text.strip().lower() == "new":
        owner = _address("owner", q.value("Owner wallet address of the new Safe", opts.owner, None, required="owner"))
        if manifest is None:
            raise SafeSetupNeededError(new_safe_steps(chain_id, owner))
        if old_treasury.get("safe"):
            _confirm_changes({"treasury.safe": (old_treasury["safe"], "a new Safe")}, opts.force, q)
        from web3 import Web3

        safe = deploy_safe(Web3(Web3.HTTPProvider(url)), [owner], 1, singleton=manifest.safe.singleton,
                           proxy_factory=manifest.safe.proxy_factory, fallback_handler=manifest.safe.fallback_handler)
        deployed = True
        say(f"deployed Safe {SAFE_VERSION} {safe} (owner {owner}, threshold 1; paid by the devnet's dev account 0)")
    else:
        safe = _address("safe", safe_text)
    try:
        state = read_safe(rpc, safe)
    except ContractCallError as exc:
        raise InputError("safe", f"{safe} is not a Safe: {exc}") from None
    if state.version != SAFE_VERSION:
        raise InputError("safe", f"{safe} is a Safe {state.version}; the keeper supports {SAFE_VERSION}")
    say(f"Safe {safe}: version {state.version}, {state.threshold}-of-{len(state.owners)} owners "
        f"{', '.join(state.owners)}")

    chain = {**old_chain, "rpc_url": decide("chain.rpc_url", old_chain.get("rpc_url"), url),
             "chain_id": decide("chain.chain_id", old_chain.get("chain_id"), chain_id)}
    treasury = {**old_treasury, "mode": old_treasury.get("mode", "safe-module"),
                "safe": safe if deployed else decide("treasury.safe", old_treasury.get("safe"), safe),
                "hedge_module": old_treasury.get("hedge_module", MODULE_PLACEHOLDER)}
    _confirm_changes(changes, opts.force, q)

    # ---- the keeper's key
    base.mkdir(parents=True, exist_ok=True)
    signer, keeper, created = _signer(opts, old_signer, base, env, q)
    if old_signer and signer != old_signer:
        _confirm_changes({"signer": (old_signer, signer)}, opts.force, q)
        changes["signer"] = (old_signer, signer)

    if manifest is not None and keeper:
        _fund_on_devnet(url, keeper, say)

    # ---- assemble
    data: dict[str, Any] = {"chain": chain, "signer": signer, "treasury": treasury}
    missing = [k for k in ("uniswap", "quote", "assets", "positions") if k not in old]
    if missing:
        fresh = contract_sections(chain_id, manifest)
        for k in missing:
            old[k] = fresh[k]
    data.update({k: old[k] for k in ("uniswap", "quote", "assets", "positions")})
    defaults = default_sections(manifest is not None)
    symbols = [a.get("symbol") for a in data["assets"] if isinstance(a, dict)]
    defaults["vol"]["fixed"] = {s: 0.5 if s == "BTC" else 0.6 for s in symbols}
    for k, v in defaults.items():
        data[k] = old.get(k, v)
    data.update({k: v for k, v in old.items() if k not in data})
    backup = write_config(path, data, env)
    say(f"wrote {path}" + (f" (previous version kept in {backup})" if backup else ""))
    if data["treasury"]["hedge_module"] == MODULE_PLACEHOLDER:
        say("next: deploy and enable the HedgeModule: keeper propose enable-module --deploy (devnet), then have "
            "the owners execute the batch; keeper doctor shows what is left")
    return InitResult(path, backup, keeper, safe, created, deployed, sorted(changes))


DEVNET_GAS_ETH = 10


def _fund_on_devnet(url: str, keeper: str, say: Say) -> None:
    """Give the keeper gas on the devnet (from anvil's dev account 0) when it has none."""
    from web3 import Web3

    from keeper.node.dev import dev_account

    w3 = Web3(Web3.HTTPProvider(url))
    to = Web3.to_checksum_address(keeper)
    if w3.eth.get_balance(to) > 0:
        return
    tx = w3.eth.send_transaction({"from": dev_account(0).address, "to": to, "value": Web3.to_wei(DEVNET_GAS_ETH,
                                                                                                  "ether")})
    w3.eth.wait_for_transaction_receipt(tx)
    say(f"devnet: sent {DEVNET_GAS_ETH} ETH of gas to the keeper {keeper} from dev account 0")


# Long on purpose: one branch per way of giving the keeper's key (env, keystore, new), each with its message.
def _signer(opts: InitOptions, old: Mapping[str, Any], base: Path, env: Mapping[str, str],  # noqa: C901, PLR0912
            q: _Asker) -> tuple[dict[str, Any], str, bool]:
    """The ``[signer]`` table, the keeper's address, and whether a keystore was created."""
    from keeper.execute.signer import KeystoreSource, create_keystore, load_signer

    pw_file, pw_env = opts.password_file, opts.password_env
    if pw_file is None and pw_env is None:
        if old.get("password_file"):
            pw_file = base / str(old["password_file"])
        elif old.get("password_env"):
            pw_env = str(old["password_env"])
    if old.get("key_env") and not old.get("keystore") and pw_file is None and pw_env is None:
        from keeper.execute.signer import EnvKeySource

        q.say(f"signer: keeping key_env = {old['key_env']} "
              "(give --password-file/--password-env to switch to a keystore)")
        try:
            address = load_signer(EnvKeySource(str(old["key_env"])), env=env).address
        except ConfigError:
            address = ""
        return dict(old), address, False
    if pw_file is None and pw_env is None:
        answer = q.value("Keystore password source: a file path, or env:NAME", None, None, required="password_file")
        if answer.startswith("env:"):
            pw_env = answer[4:]
        else:
            pw_file = Path(answer)
    pw_file = None if pw_file is None else pw_file.resolve()
    if opts.keystore is not None:
        keystore = opts.keystore.resolve()
    elif old.get("keystore"):
        keystore = base / str(old["keystore"])
    else:
        keystore = base / KEYSTORE_NAME
    password = _password(pw_file, pw_env, env)
    created = False
    if not keystore.exists():
        address = create_keystore(keystore, password, kdf="pbkdf2" if opts.kdf == "pbkdf2" else "scrypt")
        created = True
        q.say(f"created the keeper's key {address} in {keystore} (encrypted; fund it with gas)")
    source = KeystoreSource(keystore, pw_file, None if pw_file is not None else pw_env)
    address = load_signer(source, env=env).address
    if not created:
        q.say(f"keeping the keeper's key {address} in {keystore}")
    table: dict[str, Any] = {"keystore": _rel(keystore, base)}
    if pw_file is not None:
        table["password_file"] = _rel(pw_file, base)
    else:
        table["password_env"] = pw_env
    return table, address, created


def _confirm_changes(changes: Mapping[str, tuple[Any, Any]], force: bool, q: _Asker) -> None:
    if not changes or force:
        return
    refused = []
    for key, (before, after) in changes.items():
        if not q.confirm(f"change {key} from {before!r} to {after!r}?"):
            refused.append(f"{key}: {before!r} -> {after!r}")
    if refused:
        raise ConfigError("config error: keeper init would change existing values (re-run with --force to "
                          "change them):\n  " + "\n  ".join(refused))


def write_config(path: Path, data: Mapping[str, Any], env: Mapping[str, str]) -> Path | None:
    """Write ``data`` as the TOML config at ``path`` once it validates; the old file is kept as ``<name>.bak``.

    Returns the backup's path (``None`` when there was no file). Comments of the old file are not carried over.
    """
    signer = data.get("signer", {})
    comments = {
        "treasury.hedge_module": "PLACEHOLDER until deployed: keeper propose enable-module --deploy"
        if data["treasury"].get("hedge_module") == MODULE_PLACEHOLDER else "the HedgeModule enabled on the Safe",
        "signer.keystore": "the keeper's own key (never an owner key)",
    }
    text = dumps(data, comments, preamble="Keeper config written by `keeper init`; re-run it to repair or continue.\n"
                                          "Units are in the key names: _s seconds, _bps basis points, _usd USD.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.init.tmp")
    tmp.write_text(text, encoding="utf-8")
    check_env = {k: v for k, v in env.items() if not k.startswith("KEEPER_")}
    for name in (signer.get("password_env"), signer.get("key_env")):
        if isinstance(name, str) and name in env:
            check_env[name] = env[name]
    try:
        load_config(tmp, check_env)
    except ConfigError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigError(f"config error: the config keeper init built does not validate (nothing written):\n{exc}") \
            from None
    backup = None
    if path.exists():
        backup = path.with_name(path.name + ".bak")
        shutil.copy2(path, backup)
    tmp.replace(path)
    return backup
