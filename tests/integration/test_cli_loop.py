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
from keeper.devnet.world import contract
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


def test_status_and_journal_count_hedges_on_the_chains_clock(chain: Web3, world: World, tmp_path: Path) -> None:
    """The chain's clock runs 5 days ahead of the wall clock: status still shows the hedges of the last 24 h
    of chain time with their sizes and costs, and the journal's --limit holds in text and JSON."""
    journal = tmp_path / "j.sqlite"
    env = base_env(world, journal)
    world.node.rpc("evm_increaseTime", 5 * 86_400)
    world.node.rpc("evm_mine")
    for info in world.manifest.feeds.values():  # the feeds' keepers kept up: fresh answers at the new time
        feed = contract(chain, "PriceFeed", info.address)
        feed.functions.setAnswer(feed.functions.latestAnswer().call()).transact({"from": dev_account(0).address})
    assert cli("activate", "-c", CONFIG, "--force", env=env).returncode == 0
    for _ in range(2):
        r = cli("once", "-c", CONFIG, "--json", env=env)
        assert r.returncode == 0, r.stderr[-2000:]
    with Journal.open(journal, readonly=True) as j:
        fills = j.fills_between(0, 2**62)
        cycles = j.recent_cycles(100)
    assert fills, "the devnet book starts outside its bands, so the first cycle hedges"
    assert min(f.data.block_timestamp for f in fills) > time.time() + 4 * 86_400

    st = json.loads(cli("status", "-c", CONFIG, "--json", env=env).stdout)
    assert st["costs_24h"]["fills"] == len(fills)
    assert st["costs_24h"]["fees_quote"] == pytest.approx(sum(f.data.fee_quote for f in fills))
    assert [x["size_units"] for x in st["fills_24h"]] == pytest.approx([f.size_units for f in fills])
    text = cli("status", "-c", CONFIG, env=env).stdout
    assert "loop: no keeper run has used this journal" in text, "once is not a loop"
    # The alert targets by their scheme only: a Telegram bot token never reaches the screen.
    token = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    shown = cli("status", "-c", CONFIG, env=dict(env, KEEPER_ALERT_URLS=f"tgram://{token}/-100200300"))
    assert "alerts: 1 target(s): tgram://…" in shown.stdout and token not in shown.stdout + shown.stderr
    assert f"{len(fills)} fill(s)" in text
    for f in fills:
        assert f"{f.size_units:,.6f} {f.underlying}" in text
    assert "{" not in text and "CostTotals(" not in text, "no Python repr reaches a person"
    # the Safe's Uniswap v4 positions are in the exposure, and listed (with their state and delta)
    v4_ids = [x["token_id"] for x in st["v4_positions"]]
    assert v4_ids and f"Uniswap v4 positions: {len(v4_ids)} (" in text
    for x in st["v4_positions"]:
        assert f"#{x['token_id']} " in text and ("HOOKED" in text) == bool(x["hook_risks"])

    exported = json.loads(cli("journal", "-c", CONFIG, "--json", "--limit", "1", env=env).stdout)
    assert [c["id"] for c in exported["cycles"]] == [cycles[0].id]
    assert {i["cycle_id"] for i in exported["intents"]} <= {cycles[0].id}
    lines = cli("journal", "-c", CONFIG, "--limit", "1", env=env).stdout.splitlines()
    assert [ln.split()[1] for ln in lines if ln.startswith("cycle #")] == [f"#{cycles[0].id}"]
    newest = {i["id"] for i in exported["intents"]}
    assert sum("fill: " in ln for ln in lines) == sum(f.intent_id in newest for f in fills)
    full = cli("journal", "-c", CONFIG, "--limit", "20", env=env).stdout
    assert sum("fill: " in ln for ln in full.splitlines()) == len(fills)


def test_status_tells_a_stopped_loop_from_a_running_one(chain: Web3, world: World, tmp_path: Path) -> None:
    env = dict(base_env(world, tmp_path / "j.sqlite"), KEEPER_SCHEDULE__INTERVAL_S="1", KEEPER_METRICS__PORT="0")
    assert cli("activate", "-c", CONFIG, "--force", env=env).returncode == 0
    r = cli("run", "-c", CONFIG, "--dry-run", "--max-cycles", "1", env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    st = json.loads(cli("status", "-c", CONFIG, "--json", env=env).stdout)
    assert st["loop"]["running"] is False and st["loop"]["stopped_at"] is not None
    assert st["loop"]["mode"] == "dry-run" and st["loop"]["expected_gap_s"] == 1.0
    text = cli("status", "-c", CONFIG, env=env).stdout
    assert "loop: not running: stopped " in text and f"(pid {st['loop']['pid']} on " in text
