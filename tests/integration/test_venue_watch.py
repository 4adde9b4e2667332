"""A venue admin's queued change is noticed at the next cycle: a `venue_change` alert naming the venue,
the change and when it can take effect, and a journal event; each change is reported once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from web3 import Web3

from keeper.build.paths import repo_root
from keeper.config import load_config
from keeper.devnet.keeper_setup import world_keeper
from keeper.devnet.state import World
from keeper.devnet.world import contract
from keeper.journal import Journal
from keeper.node.dev import DevChain, dev_account
from keeper.ops.alerts import Alerter, AlertSettings
from keeper.ops.venue_watch import VENUE_EVENTS
from keeper.ops.watch import CycleWatch, venue_watch
from tests.integration.test_hedge_cycle import policy

pytestmark = pytest.mark.anvil


def test_the_watchs_event_signatures_are_the_contracts() -> None:
    sigs = set()
    for name in ("PerpMarket", "OptionMarket"):
        abi = json.loads((repo_root() / "contracts" / "out" / f"{name}.sol" / f"{name}.json").read_text())["abi"]
        sigs |= {f"{e['name']}({','.join(i['type'] for i in e['inputs'])})" for e in abi if e["type"] == "event"
                 and "Queued" in e["name"]}
    assert sigs == set(VENUE_EVENTS.values()), "every queue event of our venues is watched"


def test_queued_venue_changes_are_alerted_once(chain: Web3, world: World, tmp_path: Path) -> None:
    m = world.manifest
    env = {"KEEPER_CHAIN__RPC_URL": world.url, "KEEPER_PRIVATE_KEY": "0x" + bytes(dev_account(5).key).hex(),
           "KEEPER_JOURNAL__PATH": str(tmp_path / "journal.sqlite")}
    cfg = load_config(repo_root() / "examples" / "devnet.toml", env)
    journal = Journal.open(tmp_path / "journal.sqlite")
    k = world_keeper(world.url, m, journal, policy(0.0, 0.0), live=False)
    watch_ = venue_watch(cfg, k)
    assert set(watch_.venues) >= {m.perp_markets["ETH"].address, m.option_markets[0]}
    alerts: list[dict[str, Any]] = []
    cw = CycleWatch(cfg, k, Alerter(AlertSettings(url="https://hooks.example/x"),
                                    post=lambda _u, body, _t: alerts.append(json.loads(body))),
                    requested_live=False, venues=watch_, warn=lambda _m: None)
    cw._watch_venues()  # nothing queued yet: the first run sets the cursor
    assert cw.alerter.flush(5.0) and alerts == []

    owner = Web3.to_checksum_address(m.deployer)
    dev = DevChain(chain)
    perp = contract(chain, "PerpMarket", m.perp_markets["ETH"].address)
    options = contract(chain, "OptionMarket", m.option_markets[0])
    dev.send(perp.functions.queueParams((100, 5000, 2500, 500, 10**17, 1000 * 10**18, 3600)), owner)
    dev.send(perp.functions.queuePoolWithdrawal(5_000_000 * 10**6, owner), owner)
    dev.send(options.functions.setUnderlying(m.tokens["WETH"].address, m.feeds["BTC"].address, 3600), owner)
    now = chain.eth.get_block("latest")["timestamp"]

    cw._watch_venues()
    assert cw.alerter.flush(5.0)
    texts = [a["text"] for a in alerts]
    assert [a["kind"] for a in alerts] == ["venue_change"] * 3, alerts
    assert "taker fee 100 bps, initial margin 5000 bps" in texts[0] and "max funding 10 %/day" in texts[0]
    assert "withdrawal of 5,000,000.00 USDC from the perp pool" in texts[1]
    assert f"to change to {m.feeds['BTC'].address}" in texts[2]
    for a in alerts:
        assert a["fields"]["venue"] in (perp.address, options.address)
        eta = a["fields"]["eta"]
        assert now + 2 * 86400 - 5 <= eta <= now + 2 * 86400, "executable 2 days after it was queued"
        assert "UTC" in a["text"] and "act before it takes effect" in a["text"]
    assert len(journal.events(kinds=["venue_change"], limit=10)) == 3

    cw._watch_venues()
    assert cw.alerter.flush(5.0) and len(alerts) == 3, "each change is reported once"
