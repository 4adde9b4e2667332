"""Two-stage go-live and alerts on the local world, with a local HTTP server receiving the alerts.

Through the CLI: `once` sends nothing until `activate`; then it hedges; an on-chain cap change by the
owners sends it back to dry-run and says which parameter changed (output, journal, alert); `deactivate`
survives a restart. In-process (the loop's own per-cycle calls): a cap change mid-run drops the very
next cycle to dry-run; a halt, a failure, a stale oracle and a low signer balance each raise an alert.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from keeper.build.paths import repo_root
from keeper.config import load_config
from keeper.cycle.compose import build_keeper
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.errors import KeeperError
from keeper.journal import Journal
from keeper.node.dev import dev_account
from keeper.ops.golive import activate, live_state
from keeper.ops.watch import watch_for
from keeper.venues.hedge_module import USD_WAD, calldata
from keeper.venues.safe import SafeTx, execute_safe_tx

pytestmark = pytest.mark.anvil
CONFIG = repo_root() / "examples" / "devnet.toml"


class Receiver:
    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.url = ""

    def kinds(self) -> list[str]:
        return [b["kind"] for b in self.bodies]

    def wait_for(self, kind: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [b for b in self.bodies if b["kind"] == kind]
            if found:
                return found[-1]
            time.sleep(0.05)
        raise AssertionError(f"no {kind} alert; got {self.kinds()}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            rec.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/alerts"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


def env_for(world: World, journal: Path, receiver: Receiver, **extra: str) -> dict[str, str]:
    env = {**os.environ, "KEEPER_CHAIN__RPC_URL": world.url, "KEEPER_JOURNAL__PATH": str(journal),
           "KEEPER_PRIVATE_KEY": "0x" + bytes(dev_account(5).key).hex(), "KEEPER_ALERT_WEBHOOK": receiver.url,
           **extra}
    env.pop("KEEPER_FORK_URL", None)
    return env


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    run = [sys.executable, "-m", "keeper.cli.main", *args, "--config", str(CONFIG)]
    proc = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode == 2 and "invalid choice" in proc.stderr:  # ops commands not registered in keeper/cli/main.py
        run[2] = "keeper.cli.ops"
        proc = subprocess.run(run, env=env, capture_output=True, text=True, timeout=120, check=False)
    return proc


def set_trade_cap(w3: Web3, world: World, usd: int) -> None:
    safe = contract(w3, "Safe", world.manifest.safe.address)
    data = calldata("setLimits(uint256,uint256,uint256,uint256)", ["uint256"] * 4,
                    [int(Decimal(usd) * USD_WAD), int(Decimal(2_000_000) * USD_WAD), 86_400, 100])
    execute_safe_tx(w3, safe, SafeTx(Web3.to_checksum_address(world.manifest.hedge_module), 0, data),
                    [dev_account(2), dev_account(3)], sender=dev_account(0).address)


def module_hedges(w3: Web3, world: World, from_block: int) -> int:
    module = contract(w3, "HedgeModule", world.manifest.hedge_module)
    return len(module.events.HedgeExecuted().get_logs(from_block=from_block)) + \
        len(module.events.PerpHedgeExecuted().get_logs(from_block=from_block))


def test_once_is_dry_until_activate_then_a_cap_change_drops_it_back(
    chain: Web3, world: World, tmp_path: Path, receiver: Receiver
) -> None:
    journal = tmp_path / "journal.sqlite"
    env = env_for(world, journal, receiver)
    start = chain.eth.block_number

    dry = cli("once", "--json", env=env)
    assert dry.returncode == 0, dry.stderr[-2000:]
    rec = json.loads(dry.stdout)
    assert rec["hedges"] == [] and [d for d in rec["plan"]["decisions"] if d["order"]], "a plan, not sent"
    assert "not activated" in rec["message"] and "not activated" in dry.stderr
    assert chain.eth.block_number == start, "nothing was sent"
    j = Journal.open(journal, readonly=True)
    [cycle] = j.recent_cycles(5)
    assert cycle.mode.value == "dry-run" and "not activated" in j.plans(cycle.id)[0].reasons

    act = cli("activate", "--by", "alice", env=env)
    assert act.returncode == 0, act.stdout + act.stderr
    assert "activated by alice" in act.stdout
    live = cli("once", "--json", env=env)
    assert live.returncode == 0, live.stderr[-2000:]
    hedges = json.loads(live.stdout)["hedges"]
    assert hedges and all(h["fill"] for h in hedges)
    assert module_hedges(chain, world, start + 1) == len(hedges)
    assert receiver.wait_for("hedge")["fields"]["tx"] in {h["fill"]["tx"] for h in hedges}
    assert receiver.wait_for("activation")["fields"]["by"] == "alice"

    set_trade_cap(chain, world, 450_000)  # still above the policy's 400,000: doctor passes, the hash changed
    head = chain.eth.block_number
    drift = cli("once", "--json", env=env)
    assert drift.returncode == 0, drift.stderr[-2000:]
    msg = json.loads(drift.stdout)["message"]
    assert "on-chain parameters changed since activation: max_notional_per_trade_usd: 500000 -> 450000" in msg
    assert "keeper activate" in msg and "max_notional_per_trade_usd" in drift.stderr
    assert chain.eth.block_number == head
    alert = receiver.wait_for("drift")
    assert alert["fields"]["changed"] == ["params"] and "500000 -> 450000" in alert["text"]

    again = cli("activate", "--by", "alice", env=env)
    assert again.returncode == 0
    off = cli("deactivate", "--reason", "incident drill", "--by", "bob", env=env)
    assert off.returncode == 0, off.stderr
    after = cli("once", "--json", env=env)  # a new process: the kill survives the restart
    assert "deactivated by bob: incident drill" in json.loads(after.stdout)["message"]

    health = cli("health", env=env)
    rec = json.loads(health.stdout)
    assert health.returncode == 1 and rec["healthy"] is True and rec["ready"] is False
    assert rec["activated"] is False and "deactivated by bob" in rec["dry_run_reason"]
    assert KEEPER_KEY_HEX() not in health.stdout + off.stdout + act.stdout


def KEEPER_KEY_HEX() -> str:  # noqa: N802
    return bytes(dev_account(5).key).hex()


def test_health_is_ready_once_activated_and_running(chain: Web3, world: World, tmp_path: Path,
                                                    receiver: Receiver) -> None:
    env = env_for(world, tmp_path / "journal.sqlite", receiver)
    missing = cli("health", env=env)
    assert missing.returncode == 1 and json.loads(missing.stdout)["checks"]["journal"]["ok"] is False
    assert cli("activate", env=env).returncode == 0
    assert cli("once", env=env).returncode == 0
    ok = cli("health", env=env)
    rec = json.loads(ok.stdout)
    assert ok.returncode == 0, rec
    assert rec["healthy"] and rec["ready"] and rec["activated"] and not rec["halted"] and not rec["paused"]
    assert 0 <= rec["last_successful_cycle_age_s"] < 60
    # the check's sentence and the field are the same figure
    assert f"finished {rec['last_successful_cycle_age_s']:,.1f} s ago" in rec["checks"]["loop"]["detail"]
    # a paused keeper's skipped cycle is a successful run of the loop: both say so
    assert cli("pause", "--reason", "probe", env=env).returncode == 0
    assert cli("once", env=env).returncode == 0
    paused = json.loads(cli("health", env=env).stdout)
    assert paused["last_successful_cycle_age_s"] <= rec["last_successful_cycle_age_s"] + 60
    assert f"finished {paused['last_successful_cycle_age_s']:,.1f} s ago" in paused["checks"]["loop"]["detail"]
    assert world.url not in ok.stdout or world.url.count("/") == 2  # only scheme://host:port


def test_mid_run_cap_change_and_every_alert_kind(chain: Web3, world: World, tmp_path: Path,
                                                 receiver: Receiver) -> None:
    env = env_for(world, tmp_path / "journal.sqlite", receiver, KEEPER_SAFETY__MAX_CONSECUTIVE_FAILURES="1",
                  KEEPER_ALERT_MAX_PER_WINDOW="50")
    cfg = load_config(CONFIG, env)
    journal = Journal.open(cfg.journal.path)
    k = build_keeper(cfg, env=env, live=True, journal=journal)
    w = watch_for(cfg, k, env, dry_run_flag=False)
    activate(journal, live_state(cfg, k.rpc, detail=True), by="test")

    # cycle 1: live, hedges
    assert w.before_cycle().live and k.live
    r1 = k.cycle()
    w.after_cycle(r1)
    assert r1.hedges and all(h.fill for h in r1.hedges)
    receiver.wait_for("hedge")

    # the owners lower a cap between two cycles of the loop: the next cycle is a dry run, and says why
    set_trade_cap(chain, world, 450_000)
    d = w.before_cycle()
    assert not d.live and not k.live and d.changed == ("params",)
    r2 = k.cycle()
    assert r2.hedges == () and "max_notional_per_trade_usd: 500000 -> 450000" in r2.message
    assert receiver.wait_for("drift")["fields"]["changed"] == ["params"]
    set_trade_cap(chain, world, 500_000)  # back to the activated parameters: live again
    assert w.before_cycle().live

    # a stale oracle
    feed = contract(chain, "PriceFeed", world.manifest.feeds["BTC"].address)
    now = chain.eth.get_block("latest")["timestamp"]
    answer = feed.functions.latestRoundData().call()[1]
    chain.eth.wait_for_transaction_receipt(
        feed.functions.setAnswerAt(answer, now - 4 * 3600).transact({"from": dev_account(0).address}))
    w.after_cycle(k.cycle())
    assert receiver.wait_for("stale_oracle")["fields"]["assets"] == ["BTC"]

    # a low signer balance
    world.node.rpc("anvil_setBalance", k.tx.signer.address, hex(10**17))
    w.signer_balance()
    assert receiver.wait_for("low_balance")["fields"]["need_wei"] == 20 * 500 * 10**9 * 260_000
    world.node.rpc("anvil_setBalance", k.tx.signer.address, hex(10**22))

    # a failure that halts (max_consecutive_failures = 1): the guardian pauses the module, hedges revert
    module = contract(chain, "HedgeModule", world.manifest.hedge_module)
    chain.eth.wait_for_transaction_receipt(module.functions.pause().transact({"from": dev_account(2).address}))
    # a new ETH target puts the book outside its band again (the gate is not re-run here: same activation)
    k.policy = load_config(CONFIG, {**env, "KEEPER_POLICY__ETH__TARGET_DELTA_UNITS": "200"}).policy_config()
    try:
        w.after_cycle(k.cycle())
    except KeeperError as exc:
        w.on_error(exc)
    receiver.wait_for("failure")
    assert "halted" in receiver.wait_for("halt")["text"]
    w.alerter.close()
    assert set(receiver.kinds()) >= {"hedge", "drift", "activation", "stale_oracle", "low_balance", "failure",
                                     "halt"}


def test_the_venue_module_is_part_of_the_activation(chain: Web3, world: World, tmp_path: Path,
                                                    receiver: Receiver) -> None:
    """The HedgeVenueModule's code (our build) and paramsHash are recorded at activation; a change of its
    parameters by the owners drops the keeper to dry-run naming the parameter; a config naming a contract that is
    not our build cannot go live."""
    from keeper.build.fingerprint import VENUE_MODULE_FINGERPRINT, ModuleFingerprint
    from keeper.chain.rpc import RpcClient
    from keeper.ops.golive import gate, last_golive

    env = env_for(world, tmp_path / "journal.sqlite", receiver)
    cfg = load_config(CONFIG, env)
    rpc = RpcClient.http(world.url)
    journal = Journal.open(cfg.journal.path)
    venue = contract(chain, "HedgeVenueModule", world.manifest.hedge_venue_module)
    state = live_state(cfg, rpc, detail=True)
    assert state.venue_code_hash == ModuleFingerprint.load(VENUE_MODULE_FINGERPRINT).code_hash
    assert state.venue_params_hash == "0x" + bytes(venue.functions.paramsHash().call()).hex()
    assert state.venue_params is not None and state.venue_params["min_health_factor"] == 1.5
    activate(journal, state, by="test")
    event = last_golive(journal)
    assert event is not None and event.venue_params_hash == state.venue_params_hash
    assert gate(cfg, rpc, journal).live

    data = bytes.fromhex(venue.encode_abi("setMinHealthFactor", [17 * 10**17])[2:])
    execute_safe_tx(chain, contract(chain, "Safe", world.manifest.safe.address), SafeTx(venue.address, 0, data),
                    [dev_account(2), dev_account(3)], sender=dev_account(0).address)
    d = gate(cfg, rpc, journal)
    assert not d.live and d.changed == ("venue",)
    assert "HedgeVenueModule's on-chain parameters changed since activation: min_health_factor: 1.5 -> 1.7" in d.reason

    impostor = load_config(CONFIG, {**env, "KEEPER_TREASURY__HEDGE_VENUE_MODULE": world.manifest.perp_markets["ETH"]
                                    .address})
    d = gate(impostor, rpc, journal)
    assert not d.live and d.changed == ("unverified",) and "is not the keeper's HedgeVenueModule" in d.reason
