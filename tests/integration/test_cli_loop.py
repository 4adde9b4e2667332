"""`keeper run` as an operator sees it: metrics while it runs, a graceful stop on SIGTERM, the
pause/resume kill switch honoured across restarts, and the journal as JSON."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from web3 import Web3

from keeper.build.paths import repo_root
from keeper.devnet.state import World
from keeper.journal import Journal
from keeper.node.anvil import free_port
from keeper.node.dev import dev_account

pytestmark = pytest.mark.anvil
CONFIG = str(repo_root() / "examples" / "devnet.toml")


def base_env(world: World, journal: Path) -> dict[str, str]:
    env = dict(os.environ, KEEPER_CHAIN__RPC_URL=world.url, KEEPER_JOURNAL__PATH=str(journal),
               KEEPER_PRIVATE_KEY="0x" + bytes(dev_account(5).key).hex())
    env.pop("KEEPER_ALERT_WEBHOOK", None)
    return env


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keeper.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_metrics_while_running_and_a_graceful_sigterm(chain: Web3, world: World, tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    port = free_port()
    env = dict(base_env(world, journal), KEEPER_METRICS__PORT=str(port), KEEPER_SCHEDULE__INTERVAL_S="1",
               KEEPER_METRICS__LOG_FORMAT="json")
    assert cli("activate", "-c", CONFIG, "--force", env=env).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "keeper.cli.main", "run", "-c", CONFIG], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        body = ""
        deadline = time.monotonic() + 60
        # Wait for a labelled sample: the family's HELP/TYPE lines are served before the first cycle ends.
        while time.monotonic() < deadline and 'keeper_delta_units{underlying="ETH"}' not in body:
            time.sleep(0.3)
            try:
                body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2).read().decode()
            except OSError:
                continue
        assert 'keeper_delta_units{underlying="ETH"}' in body
        assert "keeper_cycle_duration_seconds_count" in body and "keeper_signer_balance_eth" in body
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            # Reap it before the chain fixture reverts: a transaction still in flight from a live
            # process would otherwise land on the reverted chain and leak into later tests.
            proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    lines = [json.loads(x) for x in err.splitlines() if x.startswith("{")]
    assert any("finishing the current cycle" in x["msg"] for x in lines)
    assert any("cycle_id" in x and "block" in x for x in lines), "cycle logs carry the cycle id and block"
    j = Journal.open(journal, readonly=True)
    cycles = j.recent_cycles(100)
    assert cycles and all(c.status.value != "running" for c in cycles), "no cycle left half-done"
    assert "0x" + bytes(dev_account(5).key).hex()[2:] not in err


def test_pause_resume_is_honoured_across_restarts(chain: Web3, world: World, tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite"
    env = base_env(world, journal)
    assert cli("activate", "-c", CONFIG, "--force", env=env).returncode == 0
    assert cli("pause", "-c", CONFIG, "--reason", "oracle incident", env=env).returncode == 0
    nonce = chain.eth.get_transaction_count(dev_account(5).address)
    r = cli("once", "-c", CONFIG, "--json", env=env)
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["status"] == "skipped" and "oracle incident" in report["message"]
    assert chain.eth.get_transaction_count(dev_account(5).address) == nonce
    assert cli("resume", "-c", CONFIG, env=env).returncode == 0
    r = cli("once", "-c", CONFIG, "--json", env=env)
    assert json.loads(r.stdout)["status"] == "ok"
    assert chain.eth.get_transaction_count(dev_account(5).address) > nonce, "hedges once resumed"
    exported = json.loads(cli("journal", "-c", CONFIG, "--json", env=env).stdout)
    assert exported["schema_version"] >= 2 and exported["fills"]
    status = cli("status", "-c", CONFIG, "--json", env=env)
    assert status.returncode == 0 and "ETH" in json.loads(status.stdout)["exposure"]
