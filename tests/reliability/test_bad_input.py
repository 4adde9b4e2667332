"""Bad input: malformed configs and CLI arguments. Each exits non-zero with a message naming the field,
sends nothing, and leaves the journal untouched."""

from __future__ import annotations

import hashlib
import io
import re
from collections.abc import Callable
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
from web3 import Web3

from keeper.build.paths import repo_root
from keeper.cli.main import main
from keeper.devnet.state import World
from keeper.execute.signer import create_keystore
from keeper.journal import Journal
from keeper.node.dev import dev_account

pytestmark = pytest.mark.anvil
BASE = (repo_root() / "examples" / "devnet.toml").read_text()
KEEPER = dev_account(5)


def edit(pattern: str, replacement: str, count: int = 1) -> Callable[[str], str]:
    def f(text: str) -> str:
        out, n = re.subn(pattern, replacement, text, count=count, flags=re.MULTILINE)
        assert n, f"pattern {pattern!r} not found"
        return out
    return f


def append(extra: str) -> Callable[[str], str]:
    return lambda text: text + "\n" + extra + "\n"


# (case id, config transform, extra env, CLI args after the command, expected text in stderr)
CASES: list[tuple[str, Callable[[str], str], dict[str, str], list[str], str]] = [
    ("unknown top-level field", append("[nonsense]\nx = 1"), {}, [], "nonsense"),
    ("unknown nested field", edit(r"^timeout_s = 10", "timeout_s = 10\nretries = 3"), {}, [], "chain.retries"),
    ("wrong type", edit(r"^chain_id = 31337", 'chain_id = "mainnet"'), {}, [], "chain.chain_id"),
    ("bad checksum", edit(r'^safe = "0x97b987B2FF90dE85D78335d9C97CDC6c72080AEd"',
                          'safe = "0x97B987B2FF90dE85D78335d9C97CDC6c72080AEd"'), {}, [], "treasury.safe"),
    ("not an address", edit(r'^factory = "0x[0-9a-fA-F]+"', 'factory = "0x1234"'), {}, [], "uniswap.factory"),
    ("wrong chain id", edit(r"^chain_id = 31337", "chain_id = 1"), {}, [], "chain id"),
    ("negative limit", append("[policy.default.x]"), {}, [], "policy"),
    ("negative max trade", lambda t: t, {"KEEPER_POLICY__ETH__MAX_TRADE_USD": "-5"}, [],
     "policy.ETH.max_trade_usd"),
    ("bps out of range", edit(r"^max_deviation_bps = 100", "max_deviation_bps = 20000"), {}, [],
     "oracles.max_deviation_bps"),
    ("slippage too loose", lambda t: t, {"KEEPER_POLICY__DEFAULT__MAX_SLIPPAGE_BPS": "5000"}, [],
     "max_slippage_bps"),
    ("unknown policy asset", append("[policy.DOGE]\nband_units = 1"), {}, [], "DOGE"),
    ("fixed band of zero", lambda t: t, {"KEEPER_POLICY__ETH__BAND_UNITS": "0"}, [], "band_units"),
    ("min trade above max", lambda t: t, {"KEEPER_POLICY__DEFAULT__MIN_TRADE_USD": "500000"}, [], "min_trade_usd"),
    ("negative window", lambda t: t, {"KEEPER_POLICY__DEFAULT__WINDOW_S": "-1"}, [], "window_s"),
    ("missing key", lambda t: t, {"KEEPER_PRIVATE_KEY": ""}, [], "signer.key_env"),
    ("malformed key", lambda t: t, {"KEEPER_PRIVATE_KEY": "0x1234"}, [], "signer.key_env"),
    ("missing keystore", edit(r'^key_env = "KEEPER_PRIVATE_KEY".*$',
                              'keystore = "nope.json"\npassword_env = "KP"'), {}, [], "signer.keystore"),
    ("keystore without password source", edit(r'^key_env = "KEEPER_PRIVATE_KEY".*$', 'keystore = "ks.json"'),
     {}, [], "signer"),
    ("wrong keystore password", edit(r'^key_env = "KEEPER_PRIVATE_KEY".*$',
                                     'keystore = "ks.json"\npassword_env = "KP"'), {"KP": "wrong"}, [],
     "wrong password"),
    ("journal on a read-only path", lambda t: t, {"KEEPER_JOURNAL__PATH": "{tmp}/a-file/journal.sqlite"}, [],
     "journal"),
    ("bad cron", edit(r"^interval_s = 5", 'cron = "99 * * * *"'), {}, [], "schedule.cron"),
    ("empty schedule", edit(r"^interval_s = 5", ""), {}, [], "schedule"),
    ("bad TOML", append("[chain\n"), {}, [], "line"),
    ("unknown override", lambda t: t, {"KEEPER_CHAIN__RPC_TIMEOUT": "5"}, [], "KEEPER_CHAIN__RPC_TIMEOUT"),
    ("override wrong type", lambda t: t, {"KEEPER_SCHEDULE__INTERVAL_S": "soon"}, [], "schedule.interval_s"),
    ("duplicate asset", edit(r'^symbol = "BTC"', 'symbol = "ETH"'), {}, [], "assets"),
    ("rpc url not http", lambda t: t, {"KEEPER_CHAIN__RPC_URL": "ftp://example.invalid"}, [], "chain.rpc_url"),
    ("priority above max fee", lambda t: t, {"KEEPER_EXECUTION__MAX_PRIORITY_GWEI": "900"}, [],
     "max_priority_gwei"),
    ("vol missing an asset", edit(r"^fixed = \{ ETH = 0.6, BTC = 0.5 \}", "fixed = { ETH = 0.6 }"), {}, [],
     "vol.fixed"),
    ("otc file missing", edit(r'^# otc_file = "otc.csv".*$', 'otc_file = "missing.csv"'), {}, [],
     "positions.otc_file"),
    ("mode without module", edit(r'^hedge_module = "0x[0-9a-fA-F]+"', ""), {}, [], "treasury.hedge_module"),
]

CLI_CASES: list[tuple[str, list[str], str]] = [
    ("negative block", ["plan", "--block", "-5"], "--block"),
    ("zero cycles", ["run", "--max-cycles", "0"], "--max-cycles"),
    ("unknown command", ["explode"], "invalid choice"),
    ("port out of range", ["devnet", "--port", "70000"], "--port"),
    ("pause without reason", ["pause"], "--reason"),
    ("config is a directory", ["once", "--config", "{tmp}"], "config"),
    ("missing config file", ["once", "--config", "{tmp}/nope.toml"], "nope.toml"),
]


def run_cli(argv: list[str], monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> tuple[int, str]:
    for k, v in env.items():
        if v == "":
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    err, out = io.StringIO(), io.StringIO()
    with redirect_stderr(err), redirect_stdout(out):
        try:
            rc = main(argv)
        except SystemExit as exc:  # argparse usage errors
            rc = int(exc.code or 0)
    return rc, err.getvalue()


@pytest.fixture
def setup(world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "a-file").write_text("not a directory")
    create_keystore(tmp_path / "ks.json", "right password", kdf="pbkdf2", iterations=2)
    journal = tmp_path / "journal.sqlite"
    j = Journal.open(journal)
    j.append_event("test", {"note": "existing history"})
    j.close()
    monkeypatch.setenv("KEEPER_CHAIN__RPC_URL", world.url)
    monkeypatch.setenv("KEEPER_JOURNAL__PATH", str(journal))
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", "0x" + bytes(KEEPER.key).hex())
    return tmp_path


def digest(path: Path) -> str:
    return "".join(hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.parent.glob(path.name + "*")))


@pytest.mark.parametrize(("case", "transform", "env", "args", "expect"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_refused_and_nothing_happens(
    case: str, transform: Callable[[str], str], env: dict[str, str], args: list[str], expect: str,
    setup: Path, chain: Web3, monkeypatch: pytest.MonkeyPatch,
) -> None:
    tmp = setup
    cfg = tmp / "keeper.toml"
    cfg.write_text(transform(BASE))
    journal = tmp / "journal.sqlite"
    before = digest(journal)
    nonce = chain.eth.get_transaction_count(KEEPER.address)
    block = chain.eth.block_number
    env = {k: v.replace("{tmp}", str(tmp)) for k, v in env.items()}
    rc, err = run_cli(["once", "--config", str(cfg), *args], monkeypatch, env)
    assert rc != 0, f"{case}: accepted"
    assert expect in err, f"{case}: {err!r}"
    assert "Traceback" not in err
    assert "0x" + bytes(KEEPER.key).hex()[2:] not in err and bytes(KEEPER.key).hex() not in err
    assert chain.eth.get_transaction_count(KEEPER.address) == nonce and chain.eth.block_number == block, "sent nothing"
    assert digest(journal) == before, "journal untouched"


@pytest.mark.parametrize(("case", "argv", "expect"), CLI_CASES, ids=[c[0] for c in CLI_CASES])
def test_bad_cli_input_is_refused(case: str, argv: list[str], expect: str, setup: Path, chain: Web3,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = setup / "keeper.toml"
    cfg.write_text(BASE)
    argv = [a.replace("{tmp}", str(setup)) for a in argv]
    if "--config" not in argv and argv[0] in ("plan", "run", "pause", "once"):
        argv += ["--config", str(cfg)]
    nonce = chain.eth.get_transaction_count(KEEPER.address)
    rc, err = run_cli(argv, monkeypatch, {})
    assert rc != 0 and expect in err, f"{case}: rc={rc} {err!r}"
    assert chain.eth.get_transaction_count(KEEPER.address) == nonce
