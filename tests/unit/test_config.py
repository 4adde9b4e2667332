"""The config: TOML + KEEPER_* overrides into frozen models; every problem named by its field path."""

from __future__ import annotations

import copy
import hashlib
import json
import math
import re
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from keeper.config import (
    KeeperConfig,
    apply_env_overrides,
    format_config_error,
    load_config,
    parse_env_value,
)
from keeper.core.inputs import UnderlyingVenues
from keeper.core.policy import PolicyConfig
from keeper.cycle.sources import book_sources, signer_source, surface_feeds
from keeper.errors import ConfigError, KeeperError
from keeper.execute.signer import EnvKeySource, KeystoreSource
from keeper.read.reader import AssetSource, BookSources, PerpSource

ROOT = Path(__file__).resolve().parents[2]
DEVNET = ROOT / "examples" / "devnet.toml"
MAINNET = ROOT / "examples" / "mainnet.example.toml"
KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
SAFE = "0x97b987B2FF90dE85D78335d9C97CDC6c72080AEd"
KEEPER_EOA = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
LINE = re.compile(r"^config error: \S+.*: .+$")

Edit = tuple[str, str, Any]


# ----------------------------------------------------------------------------- helpers: a tiny TOML writer


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and (math.isinf(v) or math.isnan(v)):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list) and bool(v) and all(isinstance(x, dict) for x in v)


def dump_toml(data: Mapping[str, Any], prefix: str = "") -> str:
    out: list[str] = []
    scalars = {k: v for k, v in data.items() if not isinstance(v, dict) and not _is_table_array(v)}
    if prefix and (scalars or not any(isinstance(v, dict) for v in data.values())):
        out.append(f"[{prefix}]")
    out += [f"{k} = {_toml_value(v)}" for k, v in scalars.items()]
    for k, v in data.items():
        name = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            out.append(dump_toml(v, name))
        elif _is_table_array(v):
            for item in v:
                out.append(f"[[{name}]]")
                out += [f"{ik} = {_toml_value(iv)}" for ik, iv in item.items()]
    return "\n".join(out) + "\n"


def devnet_data() -> dict[str, Any]:
    return tomllib.loads(DEVNET.read_text())


def _walk(data: Any, path: str) -> tuple[Any, str | int]:
    parts: list[str | int] = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = data
    for p in parts[:-1]:
        if isinstance(node, dict) and p not in node:
            node[p] = {}
        node = node[p]
    return node, parts[-1]


def edited(edits: list[Edit], base: dict[str, Any] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(base if base is not None else devnet_data())
    for op, path, value in edits:
        node, last = _walk(data, path)
        if op == "del":
            del node[last]
        else:
            node[last] = value
    return data


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    (tmp_path / "ks.json").write_text("{}")
    (tmp_path / "pw.txt").write_text("secret-password\n")

    def _write(data: Mapping[str, Any] | str, name: str = "keeper.toml") -> Path:
        path = tmp_path / name
        path.write_text(data if isinstance(data, str) else dump_toml(data))
        return path

    return _write


def load_error(path: Path, env: Mapping[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as err:
        load_config(path, env={} if env is None else env)
    msg = str(err.value)
    assert "Traceback" not in msg and "pydantic" not in msg and "errors.pydantic.dev" not in msg
    for line in msg.splitlines():
        assert line.startswith("config error: "), line
    return msg


def mainnet_filled(tmp_path: Path) -> Path:
    text = MAINNET.read_text()
    text = text.replace('# safe = "0x..."', f'safe = "{"0x" + "12" * 20}"')
    text = text.replace('# hedge_module = "0x..."', f'hedge_module = "{"0x" + "34" * 20}"')
    path = tmp_path / "mainnet.toml"
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------- the examples


def test_devnet_example_loads() -> None:
    c = load_config(DEVNET, env={})
    assert c.chain.chain_id == 31337 and c.chain.rpc_url == "http://127.0.0.1:8545"
    assert c.treasury.mode == "safe-module" and c.treasury.safe == SAFE
    assert c.symbols == ("ETH", "BTC")
    assert c.effective_policy("ETH").band_units == 10.0 and c.effective_policy("BTC").band_units == 0.5
    assert c.effective_policy("ETH").hedge_to == "target" and c.effective_policy("BTC").max_trade_usd == 400_000
    assert c.schedule.interval_s == 5 and c.metrics.port == 0
    assert c.journal.path == ROOT / ".state" / "devnet-journal.sqlite"
    assert signer_source(c) == EnvKeySource("KEEPER_PRIVATE_KEY")


def _manifest_path() -> Path | None:
    """The manifest of the world this checkout builds (a stale world from older sources does not count)."""
    from keeper.devnet.state import build_key
    from keeper.devnet.world import WorldConfig

    path = ROOT / ".state" / f"world-{build_key(WorldConfig())}.json"
    return path if path.is_file() else None


def test_devnet_example_matches_the_world_manifest() -> None:
    path = _manifest_path()
    if path is None:
        pytest.skip("no local world built yet (.state/world-*.json)")
    from keeper.build.manifest import Manifest
    from keeper.devnet.keeper_setup import world_venues
    from keeper.devnet.sources import world_sources

    m = Manifest.read(path)
    c = load_config(DEVNET, env={})
    assert c.chain.chain_id == m.chain_id
    assert c.treasury.hedge_module == m.hedge_module and c.uniswap.quoter == m.uniswap.quoter
    assert c.treasury.hedge_venue_module == m.hedge_venue_module
    assert book_sources(c, c.treasury.read_owners(KEEPER_EOA)) == world_sources(m)
    assert c.underlying_venues() == world_venues(m)


def test_mainnet_example_fails_until_its_placeholders_are_filled(tmp_path: Path) -> None:
    msg = load_error(MAINNET)
    assert msg.splitlines() == [
        'config error: treasury.safe: required when mode = "safe-module"',
        'config error: treasury.hedge_module: required when mode = "safe-module"',
    ]
    c = load_config(mainnet_filled(tmp_path), env={})
    assert c.chain.chain_id == 1
    assert c.uniswap.factory == "0x1F98431c8aD98523631AE4a59f267346ea31F984"
    assert c.asset("ETH").hedge_pools == ("0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640",
                                          "0x8ad599c3A0ff1De082011EFDDc58f1908eb6e6D8")
    assert c.vol.model == "ewma" and c.safety.dry_run is True
    assert c.journal.path == tmp_path / "keeper.sqlite"
    # Uniswap v4 and Aave v3 Ethereum, as the example's cited deployment lists give them
    assert c.uniswap_v4 is not None and c.uniswap_v4.token_ids == ()
    assert c.uniswap_v4.pool_manager == "0x000000000004444c5dc75cB358380D2e3dE08A90"
    assert (c.uniswap_v4.position_manager, c.uniswap_v4.state_view) == (
        "0xbD216513d74C8cf14cf4747E6AaA6420FF64ee9e", "0x7fFE42C4a5DEeA5b0feC41C94C136Cf115597227")
    assert c.positions.aave_pools == ("0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2",)
    assert c.aave is not None and c.aave.addresses_provider == "0x2f39d218133AFaB8F2B819B1066c7E434Ad94E9e"
    assert c.aave.oracle == "0x54586bE62E3c3580375aE3723C145253060Ca0C2"
    c.policy_config()  # the core accepts every value


# ----------------------------------------------------------------------------- environment overrides


def test_env_overrides_are_nested_and_typed(write: Callable[..., Path]) -> None:
    path = write(devnet_data())
    env = {
        "KEEPER_CHAIN__RPC_URL": "http://10.0.0.2:8545",
        "KEEPER_SCHEDULE__INTERVAL_S": "60",
        "KEEPER_POLICY__DEFAULT__BAND_UNITS": "2.5",
        "KEEPER_POLICY__ETH__BAND_UNITS": "3",
        "KEEPER_POLICY__default__ceiling_units": "inf",
        "KEEPER_SAFETY__DRY_RUN": "true",
        "KEEPER_TREASURY__SAFE": SAFE.lower(),
        "KEEPER_VOL__FIXED__ETH": "0.7",
        "KEEPER_ASSETS__1__HEDGE_POOLS": '["0x97ecD864dFF367CBb3FE4038884c276cA092051A"]',
        "KEEPER_METRICS__LOG_FORMAT": "json",
        "KEEPER_PRIVATE_KEY": KEY,
        "KEEPER_FORK_URL": "http://fork",
        "KEEPER_SLOW": "1",
        "HOME": "/root",
    }
    c = load_config(path, env=env)
    assert c.chain.rpc_url == "http://10.0.0.2:8545"
    assert c.schedule.interval_s == 60.0 and isinstance(c.schedule.interval_s, float)
    assert c.effective_policy().band_units == 2.5 and c.effective_policy("ETH").band_units == 3.0
    assert c.effective_policy("BTC").ceiling_units == math.inf
    assert c.safety.dry_run is True
    assert c.treasury.safe == SAFE  # hex stays a string and is checksummed
    assert c.vol.fixed == {"ETH": 0.7, "BTC": 0.5}
    assert c.asset("BTC").hedge_pools == ("0x97ecD864dFF367CBb3FE4038884c276cA092051A",)
    assert c.metrics.log_format == "json"
    assert KEY[2:] not in c.model_dump_json() and KEY[2:] not in repr(c)


def test_env_override_creates_missing_sections(write: Callable[..., Path]) -> None:
    c = load_config(write(edited([("del", "schedule", None)])), env={"KEEPER_SCHEDULE__CRON": "*/5 * * * *"})
    assert c.schedule.cron == "*/5 * * * *" and c.schedule.interval_s is None


def test_without_env_the_process_environment_is_used(write: Callable[..., Path],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KEEPER_SCHEDULE__INTERVAL_S", "7")
    assert load_config(write(devnet_data())).schedule.interval_s == 7.0


@pytest.mark.parametrize(("text", "value"), [
    ("300", 300), ("1.5", 1.5), ("-2", -2), ("1e-4", 1e-4), ("true", True), ("false", False), ("inf", math.inf),
    ("hello", "hello"), ("http://x:1/a", "http://x:1/a"), ("0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
                                                           "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"),
    ("0x10", "0x10"), ('"300"', "300"), ("[1, 2]", [1, 2]), ("", ""), ("*/5 * * * *", "*/5 * * * *"),
    ("2024-01-01", "2024-01-01"),
])
def test_env_values_parse_as_toml_scalars_else_strings(text: str, value: Any) -> None:
    got = parse_env_value(text)
    assert got == value and type(got) is type(value)


def test_unknown_override_paths_are_errors_naming_the_variable(write: Callable[..., Path]) -> None:
    path = write(devnet_data())
    msg = load_error(path, {"KEEPER_CHAIN__RPC": "http://x", "KEEPER_NOPE__X": "1",
                            "KEEPER_CHAIN_RPC_URL": "http://x", "KEEPER_CHAIN__RPC_URL__HOST": "x",
                            "KEEPER_ASSETS__5__FEED": "x", "KEEPER_POLICY__DOGE__BAND_UNITS": "1"})
    lines = msg.splitlines()
    assert 'config error: chain.rpc = "http://x" (from KEEPER_CHAIN__RPC): unknown field (did you mean' \
           " 'rpc_url'? allowed: rpc_url, chain_id, timeout_s)" in lines
    assert any(line.startswith("config error: nope (from KEEPER_NOPE__X): unknown field") for line in lines)
    assert "config error: KEEPER_CHAIN_RPC_URL: not a config override; did you mean KEEPER_CHAIN__RPC_URL?" in lines
    assert any("KEEPER_CHAIN__RPC_URL__HOST: chain.rpc_url is a value, not a table" in line for line in lines)
    assert any("KEEPER_ASSETS__5__FEED: assets has 2 entries" in line for line in lines)
    assert any(line.startswith("config error: policy.DOGE (from KEEPER_POLICY__DOGE__BAND_UNITS): not a declared")
               for line in lines)
    assert len(lines) == 6


def test_apply_env_overrides_does_not_touch_its_input() -> None:
    raw = {"chain": {"rpc_url": "http://a"}}
    data, sources, problems = apply_env_overrides(raw, {"KEEPER_CHAIN__RPC_URL": "http://b"})
    assert raw == {"chain": {"rpc_url": "http://a"}} and data == {"chain": {"rpc_url": "http://b"}}
    assert sources == {("chain", "rpc_url"): "KEEPER_CHAIN__RPC_URL"} and problems == []


def test_the_signer_key_variables_are_never_overrides(write: Callable[..., Path], tmp_path: Path) -> None:
    data = edited([("set", "signer", {"keystore": "ks.json", "password_env": "KEEPER_KS_PASSWORD"})])
    c = load_config(write(data), env={"KEEPER_PRIVATE_KEY": KEY, "KEEPER_KS_PASSWORD": "s3cr3t"})
    assert signer_source(c) == KeystoreSource(tmp_path / "ks.json", None, "KEEPER_KS_PASSWORD")
    assert "s3cr3t" not in c.model_dump_json() and KEY[2:] not in c.model_dump_json()


# ----------------------------------------------------------------------------- malformed configs

BAD_CHECKSUM = SAFE[:-1] + "D"  # ...AEd -> ...AED: mixed case, wrong checksum
ETH_FEED = "0x59b670e9fA9D0A427751Af201D676719a970857b"

MALFORMED: list[tuple[str, list[Edit], str]] = [
    ("unknown top-level", [("set", "bogus", {"x": 1})],
     "config error: bogus: unknown field (allowed: chain, signer, treasury,"),
    ("unknown nested", [("set", "chain.rpc", "http://x")],
     "config error: chain.rpc = \"http://x\": unknown field (did you mean 'rpc_url'?"),
    ("unknown in asset", [("set", "assets.1.colour", "red")], 'config error: assets.1.colour = "red": unknown field'),
    ("unknown in policy", [("set", "policy.ETH.band", 3)], "config error: policy.ETH.band = 3: unknown field"),
    ("unknown in inline table", [("set", "safety.extra", True)], "config error: safety.extra = true: unknown field"),
    ("int as string", [("set", "chain.chain_id", "31337")],
     'config error: chain.chain_id = "31337": must be an integer'),
    ("float as string", [("set", "policy.default.max_trade_usd", "lots")],
     'config error: policy.default.max_trade_usd = "lots": must be a number'),
    ("bool as string", [("set", "safety.dry_run", "yes")],
     'config error: safety.dry_run = "yes": must be true or false'),
    ("int not float", [("set", "metrics.port", 80.5)], "config error: metrics.port = 80.5: must be an integer"),
    ("section as value", [("set", "oracles", 5)], "config error: oracles = 5: must be a table"),
    ("address as number", [("set", "uniswap.factory", 5)], "config error: uniswap.factory = 5: must be a string"),
    ("bad checksum", [("set", "treasury.safe", BAD_CHECKSUM)],
     f'config error: treasury.safe = "{BAD_CHECKSUM}": mixed-case address with a wrong EIP-55 checksum'),
    ("non-hex address", [("set", "quote.token", "0x" + "zz" * 20)],
     "config error: quote.token = \"0xzzzz"),
    ("short address", [("set", "assets.0.feed", "0x1234")],
     'config error: assets.0.feed = "0x1234": must be a 20-byte hex address'),
    ("zero address", [("set", "uniswap.router", "0x" + "0" * 40)], "config error: uniswap.router = \"0x0000"),
    ("address list item", [("set", "positions.option_markets", ["0x12"])],
     'config error: positions.option_markets.0 = "0x12": must be a 20-byte hex address'),
    ("negative limit", [("set", "policy.ETH.max_trade_usd", -5)],
     "config error: policy.ETH.max_trade_usd = -5: must be > 0"),
    ("negative band", [("set", "policy.BTC.band_units", -1)], "config error: policy.BTC.band_units = -1: must be >= 0"),
    ("bps out of range", [("set", "oracles.max_deviation_bps", 20000)],
     "config error: oracles.max_deviation_bps = 20000: must be <= 10000"),
    ("slippage over 1000 bps", [("set", "policy.default.max_slippage_bps", 1500)],
     "config error: policy.default.max_slippage_bps = 1500: must be <= 1000"),
    ("impact bps negative", [("set", "policy.ETH.max_impact_bps", -1)],
     "config error: policy.ETH.max_impact_bps = -1: must be >= 0"),
    ("nan", [("set", "policy.default.band_units", math.nan)], "config error: policy.default.band_units = nan:"),
    ("inf where finite", [("set", "policy.default.max_trade_usd", math.inf)],
     "config error: policy.default.max_trade_usd = inf: must be a finite number"),
    ("unknown policy asset", [("set", "policy.DOGE", {"band_units": 1.0})],
     "config error: policy.DOGE: not a declared asset (assets: ETH, BTC; or use [policy.default])"),
    ("fixed trigger without band", [("del", "policy.ETH.band_units", None)],
     'config error: policy.ETH.band_units = 0.0: must be > 0 for trigger = "fixed"'),
    ("default fixed trigger without band", [("set", "policy.default.trigger", "fixed")],
     'config error: policy.default.band_units = 0.0: must be > 0 for trigger = "fixed"'),
    ("pct_book without band_pct", [("set", "policy.BTC.trigger", "pct_book")],
     'config error: policy.BTC.band_pct = 0.0: must be > 0 for trigger = "pct_book"'),
    ("min > max trade", [("set", "policy.ETH.min_trade_usd", 500000)],
     "config error: policy.ETH.min_trade_usd = 500000.0: must be <= max_trade_usd (400000)"),
    ("max trade > window cap", [("set", "policy.default.max_trade_usd", 2e6)],
     "config error: policy.default.max_trade_usd = 2000000.0: must be <= window_cap_usd (1.5e+06)"),
    ("floor > ceiling", [("set", "policy.ETH.floor_units", 5), ("set", "policy.ETH.ceiling_units", 1)],
     "config error: policy.ETH.floor_units = 5.0: must be <= ceiling_units (1)"),
    ("bad trigger", [("set", "policy.ETH.trigger", "sometimes")],
     "config error: policy.ETH.trigger = \"sometimes\": must be one of 'fixed', 'pct_book' or 'ww'"),
    ("signer key_env and keystore", [("set", "signer.keystore", "ks.json")],
     "config error: signer.keystore = <redacted>: give either key_env or keystore, not both"),
    ("keystore without password", [("set", "signer", {"keystore": "ks.json"})],
     "config error: signer.password_file: a keystore needs exactly one of password_file / password_env"),
    ("keystore with two passwords", [("set", "signer", {"keystore": "ks.json", "password_file": "pw.txt",
                                                        "password_env": "PW"})],
     "config error: signer.password_file: a keystore needs exactly one"),
    ("password without keystore", [("set", "signer.password_env", "PW")],
     "config error: signer.password_env: only used with keystore"),
    ("no signer source", [("set", "signer", {})], "config error: signer.key_env: required"),
    ("missing keystore file", [("set", "signer", {"keystore": "gone.json", "password_env": "PW"})],
     "config error: signer.keystore = <redacted>: file not found"),
    ("bad env name", [("set", "signer.key_env", "MY-KEY")], "config error: signer.key_env = <redacted>: must be an"),
    ("bad cron", [("set", "schedule.cron", "61 * * * *")], 'config error: schedule.cron = "61 * * * *": not a valid'),
    ("cron field count", [("set", "schedule.cron", "* * *")],
     'config error: schedule.cron = "* * *": must be a crontab string with 5 fields'),
    ("interval and cron missing", [("set", "schedule", {"price_move_pct": 1.0})],
     "config error: schedule.interval_s: required: set interval_s or cron (or both)"),
    ("missing field", [("del", "chain.chain_id", None)], "config error: chain.chain_id: required"),
    ("missing section", [("del", "uniswap", None)], "config error: uniswap: required"),
    ("safe-module without safe", [("del", "treasury.safe", None)],
     'config error: treasury.safe: required when mode = "safe-module"'),
    ("bad mode", [("set", "treasury.mode", "multisig")],
     "config error: treasury.mode = \"multisig\": must be one of 'safe-module' or 'eoa'"),
    ("duplicate asset symbol", [("set", "assets.1.symbol", "ETH")],
     'config error: assets.1.symbol = "ETH": duplicate symbol'),
    ("lower-case symbol", [("set", "assets.0.symbol", "eth")], 'config error: assets.0.symbol = "eth": must be an'),
    ("asset is the quote token", [("set", "assets.1.token", "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0")],
     "config error: assets.1.token = \"0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0\": is the quote token"),
    ("asset without venue", [("set", "assets.1.hedge_pools", []), ("del", "assets.1.perp_market", None),
                             ("del", "assets.1.perp_max_abs_units", None)],
     "config error: assets.1.hedge_pools = []: no venue to hedge on"),
    ("perp limit without perp", [("del", "assets.0.perp_market", None)],
     "config error: assets.0.perp_max_abs_units = 500.0: only used with perp_market"),
    ("pool under two assets", [("set", "assets.1.hedge_pools", ["0x2a54C100a78555e83FfcbE55c0949e3d9BE1494F"])],
     "config error: assets.1.hedge_pools = \"0x2a54C100a78555e83FfcbE55c0949e3d9BE1494F\": pool listed under more"),
    ("no assets", [("set", "assets", [])], "config error: assets = []: must not be empty"),
    ("http only", [("set", "chain.rpc_url", "ws://127.0.0.1:8545")],
     'config error: chain.rpc_url = "ws://127.0.0.1:8545": must be an http:// or https:// URL'),
    ("chain id zero", [("set", "chain.chain_id", 0)], "config error: chain.chain_id = 0: must be > 0"),
    ("port out of range", [("set", "metrics.port", 70000)], "config error: metrics.port = 70000: must be <= 65535"),
    ("log format", [("set", "metrics.log_format", "xml")],
     "config error: metrics.log_format = \"xml\": must be one of 'text' or 'json'"),
    ("zero failures allowed", [("set", "safety.max_consecutive_failures", 0)],
     "config error: safety.max_consecutive_failures = 0: must be >= 1"),
    ("vol out of range", [("set", "vol.fixed.ETH", 12)], "config error: vol.fixed.ETH = 12: must be < 10"),
    ("vol missing for an asset", [("set", "vol.fixed", {"ETH": 0.6})],
     'config error: vol.fixed.BTC: required: model = "fixed" needs a volatility for every asset'),
    ("vol for an unknown asset", [("set", "vol.fixed.SOL", 1.0)], "config error: vol.fixed.SOL = 1.0: not a declared"),
    ("ewma lambda", [("set", "vol.ewma_lambda", 1.0)], "config error: vol.ewma_lambda = 1.0: must be < 1"),
    ("ewma without oracle pool", [("set", "vol.model", "ewma"), ("del", "assets.0.oracle_pool", None)],
     "config error: vol.model = \"ewma\": samples each asset's oracle_pool; ETH has none"),
    ("fractional sample step", [("set", "vol.sample_s", 300.5)],
     "config error: vol.sample_s = 300.5: must be a whole number of seconds (the pool's observe() takes whole "
     "seconds)"),
    ("garch with few samples", [("set", "vol.model", "garch"), ("set", "vol.history_s", 3600)],
     "config error: vol.history_s = 3600.0: history_s / sample_s must give at least 250 samples"),
    ("priority above max fee", [("set", "execution.max_priority_gwei", 600)],
     "config error: execution.max_priority_gwei = 600.0: must be <= max_fee_gwei (500)"),
    ("replace after timeout", [("set", "execution.replace_after_s", 200)],
     "config error: execution.replace_after_s = 200.0: must be <= tx_timeout_s (180)"),
    ("twap window zero", [("set", "oracles.twap_window_s", 0)], "config error: oracles.twap_window_s = 0: must be > 0"),
    ("missing otc file", [("set", "positions.otc_file", "nope.csv")],
     'config error: positions.otc_file = "nope.csv": file not found'),
    ("price move negative", [("set", "schedule.price_move_pct", -1)],
     "config error: schedule.price_move_pct = -1: must be >= 0"),
]


@pytest.mark.parametrize(("edits", "expected"), [pytest.param(e, x, id=i) for i, e, x in MALFORMED])
def test_malformed_config_names_the_field(write: Callable[..., Path], edits: list[Edit], expected: str) -> None:
    msg = load_error(write(edited(edits)))
    assert any(line.startswith(expected) for line in msg.splitlines()), msg


def test_there_are_many_malformed_cases() -> None:
    assert len(MALFORMED) >= 30


def test_bad_toml_syntax_names_file_and_line(write: Callable[..., Path]) -> None:
    path = write("[chain]\nrpc_url = \"http://x\"\nchain_id = = 1\n")
    msg = load_error(path)
    assert msg.startswith(f"config error: {path}: line 3, column ") and "invalid TOML" in msg


def test_missing_file(tmp_path: Path) -> None:
    msg = load_error(tmp_path / "nope.toml")
    assert msg == f"config error: {tmp_path / 'nope.toml'}: file not found"


def test_directory_is_not_a_config(tmp_path: Path) -> None:
    assert load_error(tmp_path).endswith("is a directory, not a config file")


def test_every_problem_of_a_file_is_reported(write: Callable[..., Path]) -> None:
    data = edited([
        ("set", "chain.chain_id", -1), ("set", "chain.colour", "red"), ("set", "treasury.safe", BAD_CHECKSUM),
        ("set", "policy.ETH.max_trade_usd", -5), ("set", "policy.BTC.min_trade_usd", 1e9),
        ("set", "policy.DOGE", {"band_units": 1.0}), ("set", "schedule.cron", "nope"),
        ("set", "oracles.max_deviation_bps", 1e6), ("set", "metrics.port", -1), ("set", "vol.fixed.ETH", 0),
    ])
    lines = load_error(write(data)).splitlines()
    for path in ("chain.chain_id", "chain.colour", "treasury.safe", "policy.ETH.max_trade_usd",
                 "policy.BTC.min_trade_usd", "policy.DOGE", "schedule.cron", "oracles.max_deviation_bps",
                 "metrics.port", "vol.fixed.ETH"):
        assert sum(line.startswith(f"config error: {path}") for line in lines) == 1, (path, lines)
    assert len(lines) == 10
    assert all(LINE.match(line) for line in lines)


def test_a_default_problem_is_reported_once_not_per_asset(write: Callable[..., Path]) -> None:
    data = edited([("set", "policy.default.min_trade_usd", 450000.0)])
    lines = load_error(write(data)).splitlines()
    assert lines == ["config error: policy.default.min_trade_usd = 450000.0: must be <= max_trade_usd (400000)"]


# ----------------------------------------------------------------------------- secrets


def test_secrets_never_appear_in_messages(write: Callable[..., Path]) -> None:
    data = edited([
        ("set", "uniswap.quoter", KEY),  # a private key pasted into an address field
        ("set", "chain.rpc_url", "ftp://user:hunter2@mainnet.example/v3/apikey123"),
        ("set", "signer", {"keystore": "ks.json", "password_file": "missing-secret-password.txt"}),
        ("set", "assets.0.oracle_pool", KEY[2:]),
    ])
    env = {"KEEPER_PRIVATE_KEY": KEY, "KEEPER_POLICY__DEFAULT__BAND_UNITS": KEY}
    msg = load_error(write(data), env)
    for secret in (KEY[2:], "hunter2", "apikey123", "missing-secret-password", "v3"):
        assert secret not in msg
    assert 'config error: uniswap.quoter = <redacted>: must be a 20-byte hex address' in msg
    assert "config error: signer.password_file = <redacted>: file not found" in msg
    assert 'chain.rpc_url = "ftp://mainnet.example/...": must be an http' in msg
    assert "policy.default.band_units = <redacted> (from KEEPER_POLICY__DEFAULT__BAND_UNITS)" in msg


def test_format_config_error_on_a_validation_error() -> None:
    data = edited([("set", "metrics.port", -5), ("set", "signer.key_env", "bad name"), ("set", "chain.x", 1)])
    with pytest.raises(ValidationError) as err:
        KeeperConfig.model_validate(data)
    lines = format_config_error(err.value).splitlines()
    assert "config error: metrics.port = -5: must be >= 0" in lines
    assert any(line.startswith("config error: signer.key_env = <redacted>: ") for line in lines)
    assert any(line.startswith("config error: chain.x = 1: unknown field (") for line in lines)


def test_config_error_is_a_keeper_error_and_a_value_error(write: Callable[..., Path]) -> None:
    with pytest.raises(KeeperError):
        load_config(write(edited([("del", "chain", None)])), env={})
    with pytest.raises(ValueError, match="config error: chain: required"):
        load_config(write(edited([("del", "chain", None)])), env={})


# ----------------------------------------------------------------------------- conversions


def test_policy_config_maps_every_field(write: Callable[..., Path]) -> None:
    data = edited([
        ("set", "policy.default", {"trigger": "ww", "risk_aversion_per_usd": 2e-4, "cost_fraction": 0.001,
                                   "floor_units": 0.5, "ceiling_units": 40, "max_interval_s": 3600,
                                   "hedge_to": "edge", "min_trade_units": 0.1, "min_trade_usd": 100,
                                   "max_trade_usd": 300000, "window_cap_usd": 900000, "window_s": 43200,
                                   "max_slippage_bps": 40, "max_impact_bps": 25, "perp_holding_horizon_s": 7200,
                                   "max_gas_gwei": 80, "urgent_deviation_units": 150, "target_delta_units": 1}),
        ("set", "policy.BTC", {"trigger": "pct_book", "band_pct": 2.0, "max_gas_gwei": math.inf}),
        ("set", "oracles.max_feed_age_s", 1200), ("set", "oracles.max_deviation_bps", 75),
        ("del", "assets.1.oracle_pool", None), ("set", "quote.symbol", "USDC"),
        ("del", "policy.ETH.target_delta_units", None),
    ])
    p = load_config(write(data), env={}).policy_config()
    assert isinstance(p, PolicyConfig) and p.quote_symbol == "USDC" and set(p.per_underlying) == {"ETH", "BTC"}
    eth, btc = p.for_underlying("ETH"), p.for_underlying("BTC")
    assert eth.target_delta_units == 1.0
    t = eth.trigger
    assert (t.trigger, t.band_units, t.risk_aversion_per_usd, t.cost_fraction) == ("fixed", 10.0, 2e-4, 0.001)
    assert (t.floor_units, t.ceiling_units, t.max_interval_s) == (0.5, 40.0, 3600.0)
    s = eth.sizing
    assert (s.hedge_to, s.min_trade_units, s.min_trade_usd, s.max_trade_usd, s.window_cap_usd, s.window_s) == (
        "edge", 0.1, 100.0, 300_000.0, 900_000.0, 43_200.0)
    v = eth.venues
    assert (v.max_slippage_bps, v.max_impact_bps, v.perp_holding_horizon_s) == (40.0, 25.0, 7200.0)
    g = eth.gates
    assert (g.max_oracle_deviation_bps, g.max_feed_age_s, g.require_twap, g.max_gas_gwei,
            g.urgent_deviation_units) == (75.0, 1200.0, True, 80.0, 150.0)
    assert btc.trigger.trigger == "pct_book" and btc.trigger.band_pct == 2.0  # percent in both
    assert btc.gates.max_gas_gwei == math.inf and btc.gates.require_twap is False  # no oracle pool: feed only
    assert btc.sizing.max_trade_usd == 300_000.0  # inherited from [policy.default]
    assert p.default.trigger.trigger == "ww" and p.default.gates.require_twap is True


def test_policy_defaults_without_a_policy_section(write: Callable[..., Path]) -> None:
    c = load_config(write(edited([("del", "policy", None)])), env={})
    d = c.effective_policy("ETH")
    assert (d.trigger, d.hedge_to, d.max_trade_usd, d.window_cap_usd, d.max_slippage_bps) == (
        "ww", "edge", 250_000.0, 1_000_000.0, 50.0)
    assert c.policy_config().for_underlying("ETH").trigger.risk_aversion_per_usd == 1e-4


def test_book_sources_and_underlying_venues() -> None:
    c = load_config(DEVNET, env={})
    src = book_sources(c, ["0x" + "ab" * 20, SAFE])
    assert isinstance(src, BookSources) and src.owners == ("0x" + "ab" * 20, SAFE)
    assert src.position_manager == c.uniswap.position_manager and src.factory == c.uniswap.factory
    assert src.quote_token == "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0" and src.twap_window_s == 1800
    assert src.assets[0] == AssetSource("ETH", "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512", ETH_FEED,
                                        "0x2a54C100a78555e83FfcbE55c0949e3d9BE1494F",
                                        ("0x2a54C100a78555e83FfcbE55c0949e3d9BE1494F",
                                         "0xe8B2c112b616CCA8A1BD10E7280d35c53c54f2bA"))
    assert src.perp_markets == (PerpSource("0x99bbA657f2BbC93c02D617f8bA121cB8Fc104Acf", "ETH"),
                                PerpSource("0x5eb3Bc0a489C5A8288765d2336659EbCA68FCd00", "BTC"))
    assert src.option_markets == ("0xa82fF9aFd8f496c3d6ac40E2a0F282E47488CFc9",) and src.otc_positions == ()
    venues = c.underlying_venues()
    assert venues["BTC"] == UnderlyingVenues("BTC", "0x5FbDB2315678afecb367f032d93F642f64180aa3",
                                             "0x97ecD864dFF367CBb3FE4038884c276cA092051A",
                                             ("0x97ecD864dFF367CBb3FE4038884c276cA092051A",),
                                             "0x5eb3Bc0a489C5A8288765d2336659EbCA68FCd00", 260_000, 320_000)


def test_owners_default_to_the_trading_account(write: Callable[..., Path]) -> None:
    c = load_config(DEVNET, env={})
    assert c.treasury.read_owners(KEEPER_EOA) == (SAFE,) and c.treasury.account(KEEPER_EOA) == SAFE
    eoa = load_config(write(edited([("set", "treasury", {"mode": "eoa"})])), env={})
    assert eoa.treasury.read_owners(KEEPER_EOA) == (KEEPER_EOA,) and eoa.treasury.account(KEEPER_EOA) == KEEPER_EOA
    listed = load_config(write(edited([("set", "treasury.owners", [SAFE.lower(), KEEPER_EOA])])), env={})
    assert listed.treasury.read_owners(KEEPER_EOA) == (SAFE, KEEPER_EOA)


def test_otc_file_is_resolved_against_the_config_folder(write: Callable[..., Path], tmp_path: Path) -> None:
    (tmp_path / "books").mkdir()
    (tmp_path / "books" / "otc.csv").write_text("id,counterparty,underlying,type,strike_usd,expiry,quantity\n"
                                               "a1,Wintermute,ETH,put,2500,1798185600,-10\n")
    c = load_config(write(edited([("set", "positions.otc_file", "books/otc.csv"),
                                  ("set", "journal.path", "j/keeper.sqlite")])), env={})
    assert c.positions.otc_file == tmp_path / "books" / "otc.csv"
    assert c.journal.path == tmp_path / "j" / "keeper.sqlite"
    (otc,) = book_sources(c, [SAFE]).otc_positions
    assert otc.source == "otc:Wintermute" and otc.short_amount == 10 * 10**18
    (tmp_path / "books" / "otc.csv").write_text("id,counterparty,underlying,type,strike_usd,expiry,quantity\n"
                                               "a1,Wintermute,DOGE,put,2500,1798185600,-10\n")
    with pytest.raises(ConfigError, match=r'^config error: positions.otc_file = ".*otc.csv": .*row 1.underlying'):
        book_sources(c, [SAFE])


def test_default_journal_path_is_next_to_the_config(write: Callable[..., Path], tmp_path: Path) -> None:
    c = load_config(write(edited([("del", "journal", None), ("del", "schedule", None)])), env={})
    assert c.journal.path == tmp_path / "keeper.sqlite" and c.schedule.interval_s == 300.0


def test_models_are_frozen() -> None:
    c = load_config(DEVNET, env={})
    with pytest.raises(ValidationError):
        setattr(c.chain, "chain_id", 1)  # noqa: B010
    with pytest.raises(ValidationError):
        setattr(c, "safety", c.safety)  # noqa: B010


# ----------------------------------------------------------------------------- fingerprint


def _reordered(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _reordered(value[k]) for k in reversed(list(value))}
    if isinstance(value, list):
        return [_reordered(v) for v in value]
    return value


def test_fingerprint_is_stable_under_key_order_and_irrelevant_changes(write: Callable[..., Path]) -> None:
    base = load_config(write(devnet_data(), "a.toml"), env={}).fingerprint()
    assert re.fullmatch(r"[0-9a-f]{64}", base)
    assert load_config(DEVNET, env={}).fingerprint() == base
    assert load_config(write(_reordered(devnet_data()), "b.toml"), env={}).fingerprint() == base
    same = edited([("set", "chain.rpc_url", "https://other:1"), ("set", "schedule.interval_s", 60),
                   ("set", "metrics.port", 9000), ("set", "safety.dry_run", True),
                   ("set", "policy.default.max_trade_usd", 400000),  # int or float: same value
                   ("set", "policy.ETH.hedge_to", "target")])  # moved from default to the asset, same effect
    assert load_config(write(same, "c.toml"), env={}).fingerprint() == base
    assert load_config(write(devnet_data(), "d.toml"),
                       env={"KEEPER_METRICS__PORT": "1"}).fingerprint() == base


@pytest.mark.parametrize("edit", [
    ("set", "policy.ETH.max_trade_usd", 300000.0), ("set", "policy.default.window_cap_usd", 1e6),
    ("set", "oracles.max_deviation_bps", 99), ("set", "vol.fixed.ETH", 0.61), ("set", "execution.deadline_s", 301),
    ("set", "treasury.hedge_module", "0x" + "12" * 20), ("set", "assets.1.perp_max_abs_units", 24),
    ("set", "policy.BTC.max_gas_gwei", 100),
])
def test_fingerprint_changes_when_a_limit_changes(write: Callable[..., Path], edit: Edit) -> None:
    base = load_config(DEVNET, env={}).fingerprint()
    assert load_config(write(edited([edit])), env={}).fingerprint() != base


# ----------------------------------------------------------------------------- implied-vol surfaces (issue 9)

_SURFACE_GRID: dict[str, Any] = {
    "kind": "moneyness", "expiries": ["2023-12-14T22:13:20Z", 1715568800],
    "columns": [0.7, 0.85, 1.0, 1.15, 1.3], "vols": [[0.8, 0.68, 0.6, 0.58, 0.6], [0.74, 0.66, 0.6, 0.58, 0.59]],
}


def _surface(**extra: Any) -> dict[str, Any]:
    return {"grid": copy.deepcopy(_SURFACE_GRID), "as_of": 1_700_000_000, **extra}


def test_an_inline_surface_loads_into_a_feed_with_its_policy(write: Callable[..., Path]) -> None:
    cfg = load_config(write(edited([("set", "vol.surfaces", {"ETH": _surface(
        max_age_s=600, fallback_spread=0.05, delta_flavour="min_variance",
        min_variance={"a": -0.1, "b": 0.2, "c": -0.05})})])), env={})
    feeds = surface_feeds(cfg)
    assert set(feeds) == {"ETH"}
    feed = feeds["ETH"]
    assert feed.policy.flavour == "min_variance" and feed.policy.max_age_s == 600 and feed.policy.mv is not None
    assert feed.policy.fallback_spread == 0.05 and feed.current().as_of == 1_700_000_000
    assert surface_feeds(load_config(DEVNET, env={})) == {}
    assert cfg.fingerprint() != load_config(DEVNET, env={}).fingerprint()


def test_a_surface_file_and_a_history_file_load(write: Callable[..., Path], tmp_path: Path) -> None:
    rows = ["expiry,moneyness,vol,as_of"] + [
        f"{e},{m},{v},1700000000" for e, vs in zip((1702592000, 1715568800), _SURFACE_GRID["vols"], strict=True)
        for m, v in zip(_SURFACE_GRID["columns"], vs, strict=True)]
    (tmp_path / "eth.csv").write_text("\n".join(rows) + "\n")
    hist = ["timestamp,spot,strike,expiry,vol"] + [
        f"{1700000000 + 3600 * i},{2000 + 15 * ((i * 7) % 5 - 2) + i},{k},1709000000,{0.6 - 0.0001 * i * (k / 2000)}"
        for i in range(30) for k in (1600, 1800, 2000, 2200, 2400)]
    (tmp_path / "hist.csv").write_text("\n".join(hist) + "\n")
    cfg = load_config(write(edited([("set", "vol.surfaces", {"BTC": {
        "file": "eth.csv", "delta_flavour": "min_variance", "min_variance_history": "hist.csv"}})])), env={})
    feed = surface_feeds(cfg)["BTC"]
    assert feed.path == tmp_path / "eth.csv" and feed.policy.mv is not None and len(feed.current().slices) == 2


@pytest.mark.parametrize(("surface", "expected"), [
    ({}, "vol.surfaces.ETH.file: give exactly one of file or grid"),
    ({"grid": _SURFACE_GRID}, "vol.surfaces.ETH.as_of: required with an inline grid"),
    (_surface(delta_flavour="min_variance"), "vol.surfaces.ETH.min_variance: delta_flavour = \"min_variance\" needs"),
    (_surface(min_variance={"a": 0, "b": 0, "c": 0}), "vol.surfaces.ETH.min_variance: only used with"),
    (_surface(delta_flavour="sticky_delta"), "vol.surfaces.ETH.delta_flavour"),
    (_surface(max_age_s=0), "vol.surfaces.ETH.max_age_s"),
    (_surface(fallback_spread=-0.01), "vol.surfaces.ETH.fallback_spread"),
    (_surface(as_of="tomorrow"), 'vol.surfaces.ETH.as_of = "tomorrow": must be unix seconds or an ISO 8601 date'),
    ({**_surface(), "grid": {**_SURFACE_GRID, "vols": [[0.8, 0.68, -0.6, 0.58, 0.6], _SURFACE_GRID["vols"][1]]}},
     "vol.surfaces.ETH.grid: surface row 0 (expiry 2023-12-14T22:13:20Z), column 2 (moneyness 1.0): vol must be"),
    ({**_surface(), "grid": {**_SURFACE_GRID, "expiries": [1715568800, "2023-12-14T22:13:20Z"]}},
     "vol.surfaces.ETH.grid: surface row 1 (expiry 2023-12-14T22:13:20Z): unsorted expiry"),
    ({**_surface(strict=True), "grid": {**_SURFACE_GRID, "vols": [_SURFACE_GRID["vols"][0],
                                                                  [0.35 * v for v in _SURFACE_GRID["vols"][0]]]}},
     "vol.surfaces.ETH.grid: surface: rejected (strict): expiry 2024-05-13T02:53:20Z: calendar arbitrage at K/F"),
])
def test_bad_surface_config_names_the_field(write: Callable[..., Path], surface: dict[str, Any], expected: str) -> None:
    assert expected in load_error(write(edited([("set", "vol.surfaces", {"ETH": surface})])))


def test_a_surface_for_an_undeclared_asset_is_an_error(write: Callable[..., Path]) -> None:
    msg = load_error(write(edited([("set", "vol.surfaces", {"SOL": _surface()})])))
    assert "vol.surfaces.SOL" in msg and "not a declared asset" in msg


def test_doctor_anchors_do_not_change_the_fingerprint_but_are_checked_addresses(write: Callable[..., Path]) -> None:
    """uniswap_v4.pool_manager and [aave] only anchor `keeper doctor`'s checks: nothing traded changes."""
    base = load_config(DEVNET, env={}).fingerprint()
    moved = edited([("set", "uniswap_v4.pool_manager", "0x" + "ab" * 20),
                    ("set", "aave", {"addresses_provider": "0x" + "cd" * 20})])
    assert load_config(write(moved), env={}).fingerprint() == base
    assert "aave.addresses_provider" in load_error(write(edited([("set", "aave", {"oracle": "0x" + "cd" * 20})])))
    assert "uniswap_v4.pool_manager" in load_error(write(edited([("set", "uniswap_v4.pool_manager", "0x12")])))


# ----------------------------------------------------------------------------- fingerprints pinned

# Every policy key set away from its default (BTC: a pct_book band), so a change of a key's name, unit
# or default in the config or the core shows up here.
EVERY_POLICY_KEY: dict[str, Any] = {
    "target_delta_units": -3.5, "trigger": "pct_book", "band_units": 1.25, "band_pct": 2.5,
    "risk_aversion_per_usd": 3e-5, "cost_fraction": 0.002, "floor_units": 0.5, "ceiling_units": 40.0,
    "max_interval_s": 3600.0, "hedge_to": "edge", "min_trade_units": 0.1, "min_trade_usd": 500.0,
    "max_trade_usd": 90_000.0, "window_cap_usd": 700_000.0, "window_s": 43_200.0, "max_slippage_bps": 25.0,
    "max_impact_bps": 40.0, "perp_holding_horizon_s": 7200.0, "max_gas_gwei": 80.0, "urgent_deviation_units": 60.0,
}
MAINNET_FILLED_ENV = {"KEEPER_TREASURY__SAFE": "0x" + "12" * 20, "KEEPER_TREASURY__HEDGE_MODULE": "0x" + "34" * 20}


# Pins as released, of each config without the sections added since (Aave pools, Uniswap v4 contracts, the
# treasury's HedgeVenueModule);
# then of the devnet example as it is now, with them.
RELEASED = (
    ("devnet", "3c0dde42625a513ce6048a466b7a52a61d70355d3cbab48df5609f6ab68ba5b4"),
    ("mainnet", "6a8fcaaa0178210efef8e3682945d430acf3bffcbe8af8991941e22502a5d8fa"),
    ("no-policy", "a1df1029ea5cc4908363b7d5b048f2f55bd2c535607f734f19a43f31171e15c5"),
    ("every-policy-key", "80c57fcc946023bf6fbf539341760cf22fc0b52e89a0746216209a7f11f2709a"),
)
NOW = (
    ("devnet", "0ab3a80de9b6a1b8d2d251fb1bb535c10ca0cfacd87cb495122f69bdd0da72ed"),
    ("mainnet", "0f5c0658d2c2383e55b1b848853aafb02ad39fb2ef0b361fa083915e8429cf14"),
    ("no-policy", "60c3ad5cf6b2ad8b4d08af029f14dde6d5ec1e4cf7086fbd998d51fcfc7ac85b"),
    ("every-policy-key", "03c4e382df41702e3e9736d67eb353650330192fc47df0149b83e1e0641f7dbc"),
)


@pytest.mark.parametrize(("name", "expected", "added"), [
    *((n, h, False) for n, h in RELEASED), *((n, h, True) for n, h in NOW)])
def test_fingerprints_of_existing_configs_are_pinned(write: Callable[..., Path], name: str, expected: str,
                                                     added: bool) -> None:
    """A deployed keeper's go-live fingerprint must survive refactors of the config: these values were
    computed by the keeper as released and must not change. A config that gains Aave pools or v4
    contracts changes its fingerprint (the owners sign what the book is read from); without them the
    released value holds."""
    path, env = {
        # (examples/devnet-surface.toml is not pinned: its fingerprint holds its surface file's absolute
        # path, so it differs between checkouts.)
        "devnet": (DEVNET, {}),
        "mainnet": (MAINNET, MAINNET_FILLED_ENV),
        "no-policy": (write(edited([("del", "policy", None)]), "a.toml"), {}),  # the built-in defaults
        "every-policy-key": (write(edited([("set", "policy.BTC", EVERY_POLICY_KEY)]), "b.toml"), {}),
    }[name]
    cfg = load_config(path, env=env)
    if added:
        assert cfg.fingerprint() == expected
        return
    strategy = cfg.strategy()
    strategy.pop("aave_pools", None)
    strategy.pop("uniswap_v4", None)
    strategy["treasury"].pop("hedge_venue_module", None)
    text = json.dumps(strategy, sort_keys=True, separators=(",", ":"), allow_nan=False)
    assert hashlib.sha256(text.encode()).hexdigest() == expected


def test_aave_pools_are_part_of_the_strategy(write: Callable[..., Path]) -> None:
    """Which Aave pools count in the book changes what the keeper trades: the fingerprint moves with them
    (not with their order), and a config without any keeps the fingerprint it had before the key existed."""
    other = "0x" + "5a" * 20
    with_one = load_config(DEVNET).fingerprint()
    without = load_config(write(edited([("del", "positions.aave_pools", None)]), "n.toml")).fingerprint()
    pools = devnet_data()["positions"]["aave_pools"]
    two = load_config(write(edited([("set", "positions.aave_pools", [*pools, other])]), "t.toml")).fingerprint()
    two_swapped = load_config(write(edited([("set", "positions.aave_pools", [other, *pools])]), "s.toml")).fingerprint()
    empty = load_config(write(edited([("set", "positions.aave_pools", [])]), "e.toml")).fingerprint()
    assert len({with_one, without, two}) == 3
    assert two == two_swapped and empty == without



# ----------------------------------------------------------------------------- the venue module


def test_the_venue_module_is_validated(write: Callable[..., Path]) -> None:
    c = load_config(DEVNET, env={})
    assert c.treasury.hedge_venue_module == "0x276C216D241856199A83bf27b2286659e5b877D3"
    assert c.strategy()["treasury"]["hedge_venue_module"] == c.treasury.hedge_venue_module
    msg = load_error(write(edited([("set", "treasury.hedge_venue_module", c.treasury.hedge_module)])))
    assert "treasury.hedge_venue_module" in msg and "not the Safe or the HedgeModule" in msg
    msg = load_error(write(edited([("set", "treasury.hedge_venue_module", "0x1234")]), "b.toml"))
    assert "treasury.hedge_venue_module" in msg
    # eoa mode ignores it, like the HedgeModule (a config switched to eoa by an override still loads)
    assert load_config(write(edited([("set", "treasury.mode", "eoa")]), "c.toml"), env={}).treasury.mode == "eoa"


def test_a_config_without_a_venue_module_keeps_its_fingerprint(write: Callable[..., Path]) -> None:
    """Configs written before the field existed hash as before: the field is left out of the strategy when unset."""
    without = load_config(write(edited([("del", "treasury.hedge_venue_module", None)])), env={})
    assert without.treasury.hedge_venue_module is None
    assert "hedge_venue_module" not in without.strategy()["treasury"]
    assert load_config(DEVNET, env={}).fingerprint() != without.fingerprint()
