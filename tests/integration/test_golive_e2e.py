"""Issue 10's end-to-end flow on the devnet, in order, through the real CLI:
init -> doctor fails (module not enabled) with the fix -> the owner executes the propose batch ->
doctor passes -> run sends nothing while not activated -> activate -> run hedges -> a cap changed
on-chain through a new batch sends the keeper back to dry-run, saying why. A local HTTP server
receives the alerts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from keeper.config import load_config
from keeper.cycle.sources import signer_source
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.execute.signer import load_signer
from keeper.journal import Journal
from keeper.node.dev import DevChain, dev_account
from keeper.onboarding.devnet import execute_batch_json

pytestmark = pytest.mark.anvil


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            received.append(dict(json.loads(self.rfile.read(int(self.headers["Content-Length"]))), path=self.path))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keeper.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def test_go_live_in_order(chain: Web3, world: World, tmp_path: Path,
                          webhook: tuple[str, list[dict[str, Any]]]) -> None:
    url, alerts = webhook
    m = world.manifest
    owner = dev_account(7)
    cfg_path = tmp_path / "keeper.toml"
    apprise_url = url.replace("http://", "json://").replace("/hook", "/apprise")
    env = dict(os.environ, KP="s3cret password", KEEPER_ALERT_WEBHOOK=url, KEEPER_ALERT_URLS=apprise_url,
               KEEPER_ALERT_MAX_PER_WINDOW="50")
    env.pop("KEEPER_PRIVATE_KEY", None)

    # 1. init: a new Safe owned by the user's wallet, a new keystore for the keeper, a validated config.
    r = cli("init", "-c", str(cfg_path), "--non-interactive", "--rpc-url", world.url, "--new-safe",
            "--owner", owner.address, "--password-env", "KP", "--devnet-manifest", str(world.manifest_path),
            "--kdf", "pbkdf2", env=env)
    assert r.returncode == 0, r.stderr
    env["KEEPER_JOURNAL__PATH"] = str(tmp_path / "journal.sqlite")
    cfg = load_config(cfg_path, env)
    safe = str(cfg.treasury.safe)
    keeper = Web3.to_checksum_address(load_signer(signer_source(cfg), env=env).address)
    # The DAO funds its new treasury: 100 WETH of exposure to hedge.
    dev = DevChain(chain)
    weth = contract(chain, "WETH9", m.tokens["WETH"].address)
    dev.send(weth.functions.deposit(), owner.address, value=100 * 10**18)
    dev.send(weth.functions.transfer(safe, 100 * 10**18), owner.address)

    # 2. doctor fails: the module is not enabled; it prints the fix.
    r = cli("doctor", "-c", str(cfg_path), env=env)
    assert r.returncode == 1
    assert "module_enabled" in r.stdout and "propose enable-module" in r.stdout

    # 3. The owner executes exactly the batch `propose` wrote.
    batch = tmp_path / "enable.json"
    r = cli("propose", "enable-module", "-c", str(cfg_path), "--deploy", "--with-params", "--unknown-chain",
            "--out", str(batch),
            env=env)
    assert r.returncode == 0, r.stderr
    execute_batch_json(chain, safe, batch, [owner])

    # 4. doctor passes.
    r = cli("doctor", "-c", str(cfg_path), env=env)
    assert r.returncode == 0, r.stdout + r.stderr

    # 5. run sends nothing while not activated.
    nonce = chain.eth.get_transaction_count(keeper)
    r = cli("run", "-c", str(cfg_path), "--max-cycles", "1", env=dict(env, KEEPER_SCHEDULE__INTERVAL_S="1"))
    assert r.returncode == 0, r.stderr
    assert chain.eth.get_transaction_count(keeper) == nonce
    assert "not activated" in r.stderr

    # 6. activate, after which run hedges.
    r = cli("activate", "-c", str(cfg_path), env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    r = cli("run", "-c", str(cfg_path), "--max-cycles", "1", env=dict(env, KEEPER_SCHEDULE__INTERVAL_S="1"))
    assert r.returncode == 0, r.stderr
    j = Journal.open(Path(env["KEEPER_JOURNAL__PATH"]), readonly=True)
    fills = j.fills_between(0, 2**62)
    assert len(fills) == 1 and fills[0].underlying == "ETH"
    assert chain.eth.get_transaction_count(keeper) == nonce + 1
    j.close()

    # 7. The owners change a cap on-chain through a new batch: the keeper falls back to dry-run and says why.
    batch2 = tmp_path / "caps.json"
    r = cli("propose", "set-params", "-c", str(cfg_path), "--cap-multiplier", "1.5", "--unknown-chain",
            "--out", str(batch2), env=env)
    assert r.returncode == 0, r.stderr
    execute_batch_json(chain, safe, batch2, [owner])
    r = cli("once", "-c", str(cfg_path), "--json", env=env)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert "on-chain parameters changed since activation" in report["message"]
    assert chain.eth.get_transaction_count(keeper) == nonce + 1, "nothing sent after the drift"

    # Alerts arrived at the webhook: the hedge and the drift to dry-run; and the same through apprise's json://.
    kinds = {a.get("kind") for a in alerts if a["path"] == "/hook"}
    assert {"hedge", "drift"} <= kinds, kinds
    titles = {a.get("title") for a in alerts if a["path"] == "/apprise"}
    assert {"keeper hedge", "keeper drift", "keeper activation"} <= titles, titles
