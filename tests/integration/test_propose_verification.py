"""Owner batches are verified, not trusted: written as the attacker who controls the config, the
keystore file or the module address, each attack is refused and nothing is written."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from keeper.build.manifest import Manifest
from keeper.build.paths import repo_root
from keeper.cli.onboarding import main
from keeper.config import load_config
from keeper.devnet.state import World
from keeper.onboarding.devnet import deploy_hedge_module
from keeper.onboarding.reads import ZERO
from keeper.onboarding.tomlout import dumps
from keeper.onboarding.verify import (
    CANONICAL_UNISWAP_V3,
    VENUE_MODULE_FINGERPRINT,
    ModuleFingerprint,
    VerificationError,
    check_uniswap,
    fingerprint_of_artifact,
)
from tests.integration.test_onboarding import write_config

pytestmark = pytest.mark.anvil


def run(path: Path, action: str, out: Path, *extra: str) -> int:
    return main(["propose", action, "-c", str(path), "--out", str(out), *extra])


def test_enable_module_refuses_a_contract_that_is_not_our_build(chain: Web3, world: World, manifest: Manifest,
                                                                tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    """A contract whose `safe()` answers the treasury is not enough: its runtime code must be ours."""
    module = deploy_hedge_module(chain, manifest.safe.address, ZERO, ZERO)
    path = write_config(world, tmp_path, hedge_module=module)
    assert run(path, "enable-module", tmp_path / "ok.json", "--unknown-chain") == 0
    assert "runs the keeper's HedgeModule build (runtime code hash 0x" in capsys.readouterr().out

    code = chain.eth.get_code(Web3.to_checksum_address(module))
    world.node.rpc("anvil_setCode", module, "0x" + (bytes(code) + b"\x00").hex())  # still answers safe()
    out = tmp_path / "evil.json"
    assert run(path, "enable-module", out, "--unknown-chain") == 2
    err = capsys.readouterr().err
    assert f"{module} is not the keeper's HedgeModule" in err and "differs from our build" in err
    assert not out.exists(), "nothing written"


def test_a_keystore_with_an_edited_address_cannot_name_another_keeper(chain: Web3, world: World,
                                                                     manifest: Manifest, tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The keystore's `address` field is outside its MAC. An attacker who edits it must not become the
    keeper in the owners' batch: the address is derived from the decrypted key, and a mismatch stops."""
    key = Account.create()
    keystore = tmp_path / "keeper.keystore.json"
    data = Account.encrypt(key.key, "correct horse battery", kdf="pbkdf2", iterations=1000)
    attacker = "0x000000000000000000000000000000000000bEEF"
    data["address"] = attacker[2:].lower()
    keystore.write_text(json.dumps(data))
    pw = tmp_path / "pw.txt"
    pw.write_text("correct horse battery\n")
    pw.chmod(0o600)
    path = write_config(world, tmp_path)
    raw = tomllib.loads(path.read_text())
    raw["signer"] = {"keystore": str(keystore), "password_file": str(pw)}
    path.write_text(dumps(raw))
    out = tmp_path / "params.json"
    assert run(path, "set-params", out, "--unknown-chain") == 2
    err = capsys.readouterr().err
    assert f"states address {attacker[2:].lower()} but its key is {key.address}" in err
    assert not out.exists()

    data["address"] = key.address[2:].lower()  # the honest file: the key's own address becomes the keeper
    keystore.write_text(json.dumps(data))
    assert run(path, "set-params", out, "--unknown-chain") == 0
    batch = json.loads(out.read_text())
    [set_keeper] = [t for t in batch["transactions"] if t["contractMethod"]["name"] == "setKeeper"]
    assert set_keeper["contractInputsValues"]["newKeeper"] == key.address


def test_a_chain_without_canonical_deployments_needs_the_flag_and_says_so(world: World, tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(world, tmp_path)
    out = tmp_path / "p.json"
    assert run(path, "set-params", out) == 2
    assert "chain 31337 is not one of the chains with known Uniswap v3 deployments" in capsys.readouterr().err
    assert not out.exists()
    assert run(path, "set-params", out, "--unknown-chain") == 0
    description = json.loads(out.read_text())["meta"]["description"]
    assert "WARNING: chain 31337 has no canonical Uniswap v3 deployment" in description and "UNVERIFIED" in description


def test_a_hostile_feed_is_refused(world: World, manifest: Manifest, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """The config points ETH at the USDC feed (1 USD): the module's price bound would be void. Refused, with numbers."""
    path = write_config(world, tmp_path)
    raw = tomllib.loads(path.read_text())
    eth = next(a for a in raw["assets"] if a["symbol"] == "ETH")
    eth["feed"] = manifest.feeds["USDC"].address
    path.write_text(dumps(raw))
    out = tmp_path / "p.json"
    assert run(path, "set-params", out, "--unknown-chain") == 2
    err = capsys.readouterr().err
    assert f"ETH feed {manifest.feeds['USDC'].address}" in err and "reads 1.0000 USD" in err and "bps from pool" in err
    assert "oracles.max_deviation_bps" in err and not out.exists()


def test_approvals_only_for_markets_the_module_allows(world: World, manifest: Manifest, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A fake market in the config would get a standing allowance of the Safe's USDC: refused."""
    path = write_config(world, tmp_path)
    raw = tomllib.loads(path.read_text())
    fake = manifest.tokens["USDC"].address  # any contract the module does not list as a market
    next(a for a in raw["assets"] if a["symbol"] == "ETH")["perp_market"] = fake
    path.write_text(dumps(raw))
    out = tmp_path / "a.json"
    assert run(path, "approvals", out) == 2
    err = capsys.readouterr().err
    assert f"assets.ETH.perp_market = {fake}: not a perp market the Safe's HedgeModule allows" in err
    assert not out.exists()


def test_canonical_table_checks_each_address() -> None:
    """On a known chain the config's Uniswap addresses must be the canonical ones, field by field."""
    raw: dict[str, Any] = tomllib.loads((repo_root() / "examples" / "devnet.toml").read_text())
    raw["chain"]["chain_id"] = 1
    known = CANONICAL_UNISWAP_V3[1]
    raw["uniswap"].update(factory=known.factory, position_manager=known.position_manager, router=known.routers[0])
    cfg = load_config(_write(raw), {"KEEPER_PRIVATE_KEY": "0x" + "11" * 32})
    assert check_uniswap(cfg) == []
    raw["uniswap"]["router"] = "0x68b3465833fb72A70ecDF485E0e4C7bD8665Fc45"  # SwapRouter02: no deadline form
    cfg = load_config(_write(raw), {"KEEPER_PRIVATE_KEY": "0x" + "11" * 32})
    with pytest.raises(VerificationError, match="uniswap.router = 0x68b3.*canonical SwapRouter on Ethereum mainnet"):
        check_uniswap(cfg)
    with pytest.raises(VerificationError, match="uniswap.router"):
        check_uniswap(cfg, unknown_chain_ok=True)  # the flag is for unknown chains only


def test_the_shipped_fingerprint_is_the_current_build() -> None:
    """If this fails, (I)HedgeModule.sol changed: run scripts/fingerprint and commit the file."""
    artifact = json.loads((repo_root() / "contracts" / "out" / "HedgeModule.sol" / "HedgeModule.json").read_text())
    assert fingerprint_of_artifact(artifact) == ModuleFingerprint.load()


def test_the_shipped_venue_module_fingerprint_is_the_current_build() -> None:
    """If this fails, HedgeVenueModule.sol (or what it imports) changed: run scripts/fingerprint and commit."""
    artifact = json.loads((repo_root() / "contracts" / "out" / "HedgeVenueModule.sol" / "HedgeVenueModule.json")
                          .read_text())
    assert fingerprint_of_artifact(artifact) == ModuleFingerprint.load(VENUE_MODULE_FINGERPRINT)


def _write(raw: dict[str, Any]) -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp())
    raw["journal"]["path"] = str(folder / "j.sqlite")
    path = folder / "keeper.toml"
    path.write_text(dumps(raw))
    return path


def test_the_batch_names_tokens_by_their_own_symbols_and_states_the_bounds_in_usd(
        world: World, manifest: Manifest, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A config that labels the quote token "WBTC" cannot make the owners read that: the batch reads
    each token's symbol() from the token; its description states what the change allows, in USD."""
    path = write_config(world, tmp_path)
    raw = tomllib.loads(path.read_text())
    raw["quote"]["symbol"] = "WBTC"
    path.write_text(dumps(raw))
    out = tmp_path / "p.json"
    assert run(path, "set-params", out, "--unknown-chain") == 0
    printed = capsys.readouterr().out
    batch = json.loads(out.read_text())
    usdc = manifest.tokens["USDC"].address
    [quote_tx] = [t for t in batch["transactions"] if t["contractMethod"]["name"] == "setTokenConfig"
                  and t["contractInputsValues"]["token"] == usdc]
    assert f"allow token USDC {usdc}" in printed and f"allow token WBTC {usdc}" not in printed
    assert quote_tx["contractInputsValues"]["allowed"] == "true"
    description = batch["meta"]["description"]
    for part in ("It allows the keeper", "USD each", "USD per", "bps from the oracle",
                 "loss at the oracle is capped at", "USD in total"):
        assert part in description, part
