"""A trade sent to the module by someone else holding the keeper's key is noticed at the next cycle:
an `unknown_trade` alert, a journal event, and (with the guardian's key configured) a paused module."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from keeper.build.paths import repo_root
from keeper.config import load_config
from keeper.devnet.keeper_setup import world_keeper, world_venues
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.journal import Journal
from keeper.node.dev import dev_account
from keeper.ops.alerts import Alerter, AlertSettings
from keeper.ops.audit import TRADE_EVENTS, TradeAudit
from keeper.ops.watch import CycleWatch, trade_audit
from tests.integration.test_hedge_cycle import current_deltas, policy

pytestmark = pytest.mark.anvil


def test_the_audits_event_signatures_are_the_contracts() -> None:
    abi = json.loads((repo_root() / "contracts" / "out" / "HedgeModule.sol" / "HedgeModule.json").read_text())["abi"]
    events = {e["name"]: f"{e['name']}({','.join(i['type'] for i in e['inputs'])})" for e in abi
              if e["type"] == "event"}
    assert set(TRADE_EVENTS.values()) <= set(events.values())
    # Every event whose name says "Hedge...Executed" is a trade the audit must see.
    assert {s for n, s in events.items() if n.endswith("HedgeExecuted")} == set(TRADE_EVENTS.values())


def test_a_trade_the_keeper_did_not_make_is_alerted_and_the_guardian_pauses(chain: Web3, world: World,
                                                                           tmp_path: Path) -> None:
    m = world.manifest
    d = current_deltas(world, m)
    ours = Journal.open(tmp_path / "journal.sqlite")
    k = world_keeper(world.url, m, ours, policy(d["ETH"] - 30, d["BTC"]), venues=world_venues(m, perps=False))
    guardian = dev_account(m.owner_indexes[0])
    env = {"KEEPER_CHAIN__RPC_URL": world.url, "KEEPER_PRIVATE_KEY": "0x" + bytes(dev_account(5).key).hex(),
           "KEEPER_JOURNAL__PATH": str(tmp_path / "journal.sqlite"),
           "KEEPER_GUARDIAN_KEY": "0x" + bytes(guardian.key).hex()}
    cfg = load_config(repo_root() / "examples" / "devnet.toml", env)
    audit = trade_audit(cfg, k, env)
    assert isinstance(audit, TradeAudit) and audit.pause is not None
    alerts: list[dict[str, Any]] = []
    watch = CycleWatch(cfg, k, Alerter(AlertSettings(url="https://hooks.example/x"),
                                       post=lambda _u, body, _t: alerts.append(json.loads(body))),
                       requested_live=True, audit=audit)
    module = contract(chain, "HedgeModule", m.hedge_module)

    # The keeper's own hedge is journaled before it is sent: not foreign.
    report = k.cycle()
    assert report.hedges and report.hedges[0].fill is not None
    watch.after_cycle(report)
    assert watch.alerter.flush(5.0)
    assert [a["kind"] for a in alerts] == ["hedge"] and not module.functions.paused().call()

    # Someone with the keeper's key (and no access to its journal) trades through the module.
    d = current_deltas(world, m)
    thief = world_keeper(world.url, m, Journal.memory(), policy(d["ETH"] + 20, d["BTC"]),
                         venues=world_venues(m, perps=False))
    stolen = thief.cycle()
    [h] = stolen.hedges
    assert h.fill is not None
    quiet = k.cycle()  # the keeper's next cycle (the trade moved its delta, but inside its band)
    watch.after_cycle(quiet)
    assert watch.alerter.flush(5.0)
    [alert] = [a for a in alerts if a["kind"] == "unknown_trade"]
    assert alert["fields"]["trades"] == [h.fill.tx_hash.lower()]
    assert alert["fields"]["senders"] == [dev_account(5).address]
    assert "not sent by this keeper" in alert["text"] and "the guardian paused the module" in alert["text"]
    assert module.functions.paused().call(), "the guardian's pause landed"
    [event] = ours.events(kinds=["unknown_trade"])
    assert event.data["trades"][0]["tx_hash"] == h.fill.tx_hash.lower()

    # Audited once: the next cycle does not alert again for the same trade.
    n = len(alerts)
    watch._audit_trades()
    assert watch.alerter.flush(5.0) and len(alerts) == n
