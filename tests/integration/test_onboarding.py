"""Onboarding on the local world: `keeper propose` batches executed exactly as written by the owners'
keys (a new Safe and the world's treasury), and `keeper init` non-interactive, re-run and interactive."""

from __future__ import annotations

import io
import json
import sys
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from eth_typing import HexStr
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.build.paths import repo_root
from keeper.chain.rpc import RpcClient
from keeper.cli.onboarding import main
from keeper.config import KeeperConfig, load_config
from keeper.cycle.sources import signer_source
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.execute.signer import KeystoreSource, load_signer
from keeper.node.dev import dev_account
from keeper.onboarding.devnet import deploy_hedge_module, deploy_safe, execute_batch_json
from keeper.onboarding.intent import expected_onchain, intended_params
from keeper.onboarding.reads import ZERO, module_onchain_params, modules_of, read_safe
from keeper.onboarding.templates import MODULE_PLACEHOLDER
from keeper.onboarding.tomlout import dumps
from keeper.onboarding.txbuilder import validate_checksum

pytestmark = pytest.mark.anvil

KEEPER = dev_account(5)
GUARDIAN = dev_account(8).address


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("KEEPER_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KEEPER_PRIVATE_KEY", "0x" + bytes(KEEPER.key).hex())


def write_config(world: World, tmp: Path, **treasury: str) -> Path:
    raw = tomllib.loads((repo_root() / "examples" / "devnet.toml").read_text())
    raw["chain"]["rpc_url"] = world.url
    raw["treasury"].update(treasury)
    raw["journal"]["path"] = str(tmp / "journal.sqlite")
    path = tmp / "keeper.toml"
    path.write_text(dumps(raw))
    return path


def cfg_of(path: Path) -> KeeperConfig:
    return load_config(path, {"KEEPER_PRIVATE_KEY": "0x" + bytes(KEEPER.key).hex()})


def propose(path: Path, action: str, out: Path, *extra: str) -> dict[str, Any]:
    assert main(["propose", action, "-c", str(path), "--out", str(out), "--unknown-chain", *extra]) == 0
    batch: dict[str, Any] = json.loads(out.read_text())
    assert validate_checksum(batch)
    return batch


def owners(m: Manifest, n: int = 2) -> list[Any]:
    return [dev_account(i) for i in m.owner_indexes[:n]]


def test_new_safe_enable_and_set_params_from_the_files(chain: Web3, world: World, manifest: Manifest,
                                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = manifest
    safe = deploy_safe(chain, [dev_account(i).address for i in m.owner_indexes], 2, singleton=m.safe.singleton,
                       proxy_factory=m.safe.proxy_factory, fallback_handler=m.safe.fallback_handler)
    module = deploy_hedge_module(chain, safe, ZERO, ZERO)
    path = write_config(world, tmp_path, safe=safe, hedge_module=module)
    enable = propose(path, "enable-module", tmp_path / "enable.json")
    assert [t["contractMethod"]["name"] for t in enable["transactions"]] == ["enableModule"]
    params = propose(path, "set-params", tmp_path / "params.json", "--guardian", GUARDIAN)
    out = capsys.readouterr().out
    assert "setLimits(" in out and "per trade 500,000 USD" in out and "63 bps" in out
    assert "allow the Uniswap v3 pool USDC/WETH 0.05 % (fee 500) of the factory; no other pool" in out
    assert "setLossBudgets(" in out and "in total until the owners reset it" in out
    assert len(params["transactions"]) > 1

    safe_c = contract(chain, "Safe", safe)
    assert execute_batch_json(chain, safe_c, tmp_path / "enable.json", owners(m))  # one execTransaction
    assert execute_batch_json(chain, safe, tmp_path / "params.json", owners(m))  # MultiSendCallOnly
    assert safe_c.functions.isModuleEnabled(module).call()

    cfg = cfg_of(path)
    rpc = RpcClient.http(world.url)
    intent = intended_params(cfg, rpc, keeper=KEEPER.address, guardian=GUARDIAN,
                             quote_feed=m.feeds["USDC"].address)
    want = expected_onchain(intent, rpc, chain_id=31337, module=module, safe=safe)
    got = module_onchain_params(rpc, module)
    assert got == want
    assert contract(chain, "HedgeModule", module).functions.paramsHash().call() == want.params_hash()
    # The intent in contract units, spelled out.
    assert (got.keeper, got.guardian, got.router) == (KEEPER.address, GUARDIAN, cfg.uniswap.router)
    assert got.max_per_trade_wad == 500_000 * 10**18 and got.max_per_window_wad == 1_875_000 * 10**18
    assert (got.window_s, got.max_slippage_bps, got.fee_tiers) == (86_400, 63, (500, 3000))
    assert {x[0] for x in got.pools} == {p for a in cfg.assets for p in a.hedge_pools}  # those pools, no other
    # loss budgets: per-window cap x slippage bound (1,875,000 USD x 63 bps, rounded up) and 5 windows in total
    assert (got.loss_budget_window_wad, got.loss_budget_total_wad) == (11_813 * 10**18, 59_065 * 10**18)
    assert (got.factory, got.twap_s, got.perp_min_margin_bps) == (cfg.uniswap.factory, 1800, 1000)
    assert {t[0]: t[1] for t in got.tokens} == {a.token: a.feed for a in cfg.assets} | {
        cfg.quote.token: m.feeds["USDC"].address}
    assert {x[0]: x[3] for x in got.markets} == {m.perp_markets["ETH"].address: 500 * 10**18,
                                                 m.perp_markets["BTC"].address: 25 * 10**18}
    # Proposed again, the batch re-applies the same state and says so.
    propose(path, "set-params", tmp_path / "again.json")
    assert "Already in place on chain" in capsys.readouterr().out


def test_set_params_drops_what_the_config_no_longer_allows(chain: Web3, world: World, manifest: Manifest,
                                                           tmp_path: Path) -> None:
    # The world's module allows WBTC, the BTC perp and the 0.3 % pools; a config of ETH on the 0.05 % pool drops them.
    raw = tomllib.loads((repo_root() / "examples" / "devnet.toml").read_text())
    raw["chain"]["rpc_url"] = world.url
    raw["journal"]["path"] = str(tmp_path / "journal.sqlite")
    raw["assets"] = raw["assets"][:1]
    raw["assets"][0]["hedge_pools"] = raw["assets"][0]["hedge_pools"][:1]
    del raw["policy"]["BTC"], raw["vol"]["fixed"]["BTC"]
    path = tmp_path / "keeper.toml"
    path.write_text(dumps(raw))
    batch = propose(path, "set-params", tmp_path / "p.json")
    names = [(t["contractMethod"]["name"], t["contractInputsValues"].get("allowed")) for t in batch["transactions"]]
    assert {("setPerpMarket", "false"), ("setTokenConfig", "false"), ("setPoolAllowed", "false")} <= set(names)
    execute_batch_json(chain, manifest.safe.address, tmp_path / "p.json", owners(manifest))
    got = module_onchain_params(RpcClient.http(world.url), manifest.hedge_module)
    assert got.fee_tiers == (500,) and [x[0] for x in got.pools] == raw["assets"][0]["hedge_pools"]
    assert [x[0] for x in got.markets] == [manifest.perp_markets["ETH"].address]
    assert manifest.tokens["WBTC"].address not in [t[0] for t in got.tokens]


def refused(path: Path, action: str, out: Path, capsys: pytest.CaptureFixture[str], why: str,
            *extra: str) -> None:
    """``propose`` exits 2 saying there is nothing to sign and why, and writes no file."""
    capsys.readouterr()
    assert main(["propose", action, "-c", str(path), "--out", str(out), "--unknown-chain", *extra]) == 2
    err = capsys.readouterr().err
    assert "nothing for the owners to sign, so no batch is written" in err and why in err
    assert not out.exists()


def test_disable_module_finds_the_predecessor(chain: Web3, world: World, manifest: Manifest,
                                              tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = manifest
    rpc = RpcClient.http(world.url)
    # Modules enabled after the keeper's sit before it in the list (the world's HedgeVenueModule, then another):
    # the predecessor is not the sentinel.
    other = deploy_hedge_module(chain, m.safe.address, ZERO, ZERO)
    path = write_config(world, tmp_path)
    propose(path, "enable-module", tmp_path / "e.json", "--module", other)
    execute_batch_json(chain, m.safe.address, tmp_path / "e.json", owners(m))
    assert modules_of(rpc, m.safe.address) == [other, m.hedge_venue_module, m.hedge_module]
    batch = propose(path, "disable-module", tmp_path / "d.json")
    assert batch["transactions"][0]["contractInputsValues"] == {"prevModule": m.hedge_venue_module,
                                                                "module": m.hedge_module}
    execute_batch_json(chain, m.safe.address, tmp_path / "d.json", owners(m))
    assert modules_of(rpc, m.safe.address) == [other, m.hedge_venue_module]
    # Nothing left to disable: refused with the reason, nothing written.
    refused(path, "disable-module", tmp_path / "d2.json", capsys, f"The module {m.hedge_module} is not enabled")


def test_approvals_for_perp_margin(chain: Web3, world: World, manifest: Manifest, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    m = manifest
    path = write_config(world, tmp_path)
    batch = propose(path, "approvals", tmp_path / "a.json", "--margin-allowance", "250000")
    assert [t["contractInputsValues"]["spender"] for t in batch["transactions"]] == \
        [m.perp_markets["ETH"].address, m.perp_markets["BTC"].address]
    execute_batch_json(chain, m.safe.address, tmp_path / "a.json", owners(m))
    usdc = contract(chain, "DevToken", m.tokens["USDC"].address)
    for asset in ("ETH", "BTC"):
        assert usdc.functions.allowance(m.safe.address, m.perp_markets[asset].address).call() == 250_000 * 10**6
    # In place now: nothing more to approve, refused with the reason.
    refused(path, "approvals", tmp_path / "a2.json", capsys, "nothing to approve", "--margin-allowance", "250000")
    # A swap-only config needs no approval at all: refused with the reason.
    raw = tomllib.loads(path.read_text())
    for a in raw["assets"]:
        a.pop("perp_market"), a.pop("perp_max_abs_units")
    path.write_text(dumps(raw))
    refused(path, "approvals", tmp_path / "a3.json", capsys, "The config uses no perp market")


def test_proposals_go_next_to_the_config(chain: Web3, world: World, manifest: Manifest, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    m = manifest
    other = deploy_hedge_module(chain, m.safe.address, ZERO, ZERO)
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    path = write_config(world, cfg_dir)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    relative = Path("..") / "cfg" / path.name
    assert main(["propose", "enable-module", "-c", str(relative), "--module", other, "--unknown-chain"]) == 0
    safe = m.safe.address
    want = cfg_dir / "proposals" / f"enable-module-31337-{safe[:6].lower()}{safe[-4:].lower()}.json"
    assert want.is_file() and validate_checksum(json.loads(want.read_text()))
    assert str(want) in capsys.readouterr().out
    assert list(elsewhere.iterdir()) == []


def test_execute_on_devnet(chain: Web3, world: World, manifest: Manifest, tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    m = manifest
    rpc = RpcClient.http(world.url)
    # A new Safe of the world's owners (dev accounts), threshold 2, and a module to enable and configure.
    safe = deploy_safe(chain, [dev_account(i).address for i in m.owner_indexes], 2, singleton=m.safe.singleton,
                       proxy_factory=m.safe.proxy_factory, fallback_handler=m.safe.fallback_handler)
    module = deploy_hedge_module(chain, safe, ZERO, ZERO)
    path = write_config(world, tmp_path, safe=safe, hedge_module=module)
    capsys.readouterr()
    assert main(["propose", "enable-module", "-c", str(path), "--unknown-chain", "--with-params",
                 "--execute-on-devnet"]) == 0
    out = capsys.readouterr().out
    assert modules_of(rpc, safe) == [module]
    first_two = sorted(m.owner_indexes)[:2]  # the lowest dev-account indexes among the owners sign
    signed = sorted(((dev_account(i).address, i) for i in first_two), key=lambda t: int(t[0], 16))
    line = next(x for x in out.splitlines() if x.startswith("executed on the devnet: tx 0x"))
    tx_hash = line.split("tx ")[1].split(",")[0]
    receipt = chain.eth.get_transaction_receipt(HexStr(tx_hash))
    assert receipt["status"] == 1 and f"{receipt['gasUsed']:,} gas" in line
    assert line.endswith("signed by " + ", ".join(f"{a} (dev account {i})" for a, i in signed))
    assert f"HedgeModule {module} enabled: no -> yes" in out
    assert "Safe nonce: 0 -> 1" in out
    assert "module cap per trade: 0 USD -> 500,000 USD" in out
    assert f"module keeper: {ZERO} -> {KEEPER.address}" in out
    assert "'" not in out.split("executed on the devnet")[1]  # no Python reprs
    assert module_onchain_params(rpc, module).max_per_trade_wad == 500_000 * 10**18
    # The file it executed is the one it wrote, next to the config.
    written = json.loads(next((tmp_path / "proposals").glob("enable-module-31337-*.json")).read_text())
    assert validate_checksum(written) and len(written["transactions"]) > 1
    # Then disabled the same way.
    assert main(["propose", "disable-module", "-c", str(path), "--unknown-chain", "--execute-on-devnet"]) == 0
    assert f"HedgeModule {module} enabled: yes -> no" in capsys.readouterr().out
    assert modules_of(rpc, safe) == []


def test_execute_on_devnet_refuses_a_safe_without_dev_owners(
        chain: Web3, world: World, manifest: Manifest, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = manifest
    stranger = Web3.to_checksum_address("0x" + "ab" * 20)
    safe = deploy_safe(chain, [stranger, dev_account(m.owner_indexes[0]).address], 2, singleton=m.safe.singleton,
                       proxy_factory=m.safe.proxy_factory, fallback_handler=m.safe.fallback_handler)
    module = deploy_hedge_module(chain, safe, ZERO, ZERO)
    path = write_config(world, tmp_path, safe=safe, hedge_module=module)
    capsys.readouterr()
    assert main(["propose", "enable-module", "-c", str(path), "--unknown-chain", "--execute-on-devnet"]) == 2
    err = capsys.readouterr().err
    assert f"Safe {safe} needs 2 owner signature(s) and 1 of its 2 owners are anvil dev accounts" in err
    assert not (tmp_path / "proposals").exists()
    assert modules_of(RpcClient.http(world.url), safe) == []


# ---------------------------------------------------------------------------- init

def init_args(world: World, cfg: Path, *extra: str) -> list[str]:
    return ["init", "-c", str(cfg), "--rpc-url", world.url, "--devnet-manifest", str(world.manifest_path),
            "--kdf", "pbkdf2", *extra]


def password_file(tmp: Path) -> Path:
    p = tmp / "pw.txt"
    p.write_text("correct horse battery staple\n")
    p.chmod(0o600)
    return p


def test_init_non_interactive_then_rerun(chain: Web3, world: World, manifest: Manifest, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = tmp_path / "cfg" / "keeper.toml"
    pw = password_file(tmp_path)
    assert main(init_args(world, cfg_path, "--safe", manifest.safe.address, "--password-file", str(pw),
                          "--non-interactive")) == 0
    cfg = load_config(cfg_path, {})
    assert (cfg.chain.chain_id, cfg.treasury.safe, cfg.treasury.hedge_module) == \
        (31337, manifest.safe.address, MODULE_PLACEHOLDER)
    assert cfg.uniswap.router == manifest.uniswap.router and cfg.symbols == ("ETH", "BTC")
    assert cfg.signer.keystore == cfg_path.parent / "keeper.keystore.json"
    signer = load_signer(KeystoreSource(cfg.signer.keystore, pw), env={})
    assert "2-of-3 owners" in capsys.readouterr().out
    first = cfg_path.read_text()

    # A changed value without --force: refused, file untouched (exit 2).
    other_url = world.url.replace("127.0.0.1", "localhost")
    assert main(init_args(world, cfg_path, "--rpc-url", other_url, "--non-interactive")) == 2
    assert "--force" in capsys.readouterr().err
    assert cfg_path.read_text() == first
    # Same values again: continues, keeps the key, backs up the old file.
    assert main(init_args(world, cfg_path, "--non-interactive")) == 0
    assert (cfg_path.parent / "keeper.toml.bak").read_text() == first
    assert load_signer(KeystoreSource(cfg.signer.keystore, pw), env={}).address == signer.address
    # With --force the change is made; the .bak holds the previous file.
    before = cfg_path.read_text()
    assert main(init_args(world, cfg_path, "--rpc-url", other_url, "--non-interactive", "--force")) == 0
    assert load_config(cfg_path, {}).chain.rpc_url == other_url
    assert (cfg_path.parent / "keeper.toml.bak").read_text() == before
    # A missing section is filled back in.
    raw = tomllib.loads(cfg_path.read_text())
    del raw["oracles"], raw["uniswap"]
    cfg_path.write_text(dumps(raw))
    assert main(init_args(world, cfg_path, "--rpc-url", other_url, "--non-interactive")) == 0
    assert load_config(cfg_path, {}).uniswap.factory == manifest.uniswap.factory


def test_init_from_env_with_a_new_safe_then_propose_and_execute(chain: Web3, world: World, manifest: Manifest,
                                                                tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    user = dev_account(7)
    cfg_path = tmp_path / "keeper.toml"
    monkeypatch.setenv("MY_KEYSTORE_PW", "s3cret")
    for k, v in {"RPC_URL": world.url, "NEW_SAFE": "1", "OWNER": user.address, "PASSWORD_ENV": "MY_KEYSTORE_PW",
                 "DEVNET_MANIFEST": str(world.manifest_path)}.items():
        monkeypatch.setenv(f"KEEPER_INIT_{k}", v)
    assert main(["init", "-c", str(cfg_path), "--non-interactive", "--kdf", "pbkdf2"]) == 0
    assert "s3cret" not in capsys.readouterr().out
    for k in ("RPC_URL", "NEW_SAFE", "OWNER", "PASSWORD_ENV", "DEVNET_MANIFEST"):
        monkeypatch.delenv(f"KEEPER_INIT_{k}")
    cfg = load_config(cfg_path, {"MY_KEYSTORE_PW": "s3cret"})
    assert cfg.signer.password_env == "MY_KEYSTORE_PW"
    rpc = RpcClient.http(world.url)
    safe = read_safe(rpc, str(cfg.treasury.safe))
    assert (safe.owners, safe.threshold, safe.version) == ((user.address,), 1, "1.4.1")
    keeper = load_signer(signer_source(cfg), env={"MY_KEYSTORE_PW": "s3cret"}).address
    assert chain.eth.get_balance(Web3.to_checksum_address(keeper)) == 10 * 10**18  # devnet gas for the new key

    # The module is deployed for the new Safe and recorded; the owner executes enable + params in one batch.
    assert main(["propose", "enable-module", "-c", str(cfg_path), "--deploy", "--with-params", "--unknown-chain",
                 "--out", str(tmp_path / "go.json")]) == 0
    cfg = load_config(cfg_path, {"MY_KEYSTORE_PW": "s3cret"})
    module = str(cfg.treasury.hedge_module)
    assert module != MODULE_PLACEHOLDER and (tmp_path / "keeper.toml.bak").exists()
    execute_batch_json(chain, safe.address, tmp_path / "go.json", [user])
    assert modules_of(rpc, safe.address) == [module]
    got = module_onchain_params(rpc, module)
    intent = intended_params(cfg, rpc, keeper=keeper, guardian=ZERO, quote_feed=manifest.feeds["USDC"].address)
    assert got == expected_onchain(intent, rpc, chain_id=31337, module=module, safe=safe.address)
    assert got.keeper == keeper
    # --deploy again without --force refuses to replace the recorded module.
    assert main(["propose", "enable-module", "-c", str(cfg_path), "--deploy", "--out", str(tmp_path / "x.json")]) == 2


def test_init_interactive_from_stdin(chain: Web3, world: World, manifest: Manifest, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    cfg_path = tmp_path / "keeper.toml"
    pw = password_file(tmp_path)
    # RPC URL, expected chain id (Enter: the detected one), Safe, password source.
    answers = f"{world.url}\n\n{manifest.safe.address}\n{pw}\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(answers))
    assert main(["init", "-c", str(cfg_path), "--kdf", "pbkdf2", "--interactive"]) == 0
    out = capsys.readouterr().out
    assert "RPC URL" in out and "Treasury Safe" in out and "correct horse" not in out
    cfg = load_config(cfg_path, {})
    assert cfg.treasury.safe == manifest.safe.address and cfg.signer.password_file == pw
    # Re-run: Enter keeps every value; a changed RPC URL is confirmed at the prompt.
    other_url = world.url.replace("127.0.0.1", "localhost")
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{other_url}\n\n\ny\n"))
    assert main(["init", "-c", str(cfg_path), "--interactive", "--kdf", "pbkdf2"]) == 0
    assert load_config(cfg_path, {}).chain.rpc_url == other_url
    # Declined: nothing changes.
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{world.url}\n\n\nn\n"))
    assert main(["init", "-c", str(cfg_path), "--interactive", "--kdf", "pbkdf2"]) == 2
    assert load_config(cfg_path, {}).chain.rpc_url == other_url


def test_init_refuses_a_wrong_chain_and_a_non_safe(chain: Web3, world: World, manifest: Manifest,
                                                   tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pw = password_file(tmp_path)
    cfg_path = tmp_path / "keeper.toml"
    assert main(init_args(world, cfg_path, "--chain-id", "1", "--safe", manifest.safe.address,
                          "--password-file", str(pw), "--non-interactive")) == 2
    assert "chain id 31337" in capsys.readouterr().err
    assert main(init_args(world, cfg_path, "--safe", manifest.tokens["USDC"].address,
                          "--password-file", str(pw), "--non-interactive")) != 0
    assert not cfg_path.exists()
    assert main(init_args(world, cfg_path, "--non-interactive", "--password-file", str(pw))) == 2
    assert "safe: required" in capsys.readouterr().err


def test_cap_multiplier_is_applied(chain: Web3, world: World, manifest: Manifest, tmp_path: Path) -> None:
    path = write_config(world, tmp_path)
    cfg = cfg_of(path)
    p = intended_params(cfg, RpcClient.http(world.url), keeper=KEEPER.address, guardian=ZERO,
                        quote_feed=manifest.feeds["USDC"].address, cap_multiplier=Decimal("2"))
    assert (p.max_notional_per_trade_usd, p.max_notional_per_window_usd, p.max_slippage_bps) == \
        (Decimal(800_000), Decimal(3_000_000), 100)
