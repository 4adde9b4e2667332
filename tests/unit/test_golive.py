"""Two-stage go-live: the fingerprint, the pure comparison (which part changed, and how), the journal
round trip of activate / deactivate (surviving a reopen), and the per-cycle gate's transitions and alerts."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from keeper.build.paths import repo_root
from keeper.config import KeeperConfig, load_config
from keeper.cycle.compose import ChainKeeper
from keeper.journal import Journal
from keeper.ops import golive, watch
from keeper.ops.alerts import Alerter, AlertSettings
from keeper.ops.golive import (
    GateDecision,
    LiveState,
    activate,
    activation_fingerprint,
    compare,
    deactivate,
    diff,
    last_golive,
)

CONFIG = repo_root() / "examples" / "devnet.toml"
PARAMS: dict[str, Any] = {"max_notional_per_trade_usd": 500_000.0, "max_notional_per_window_usd": 2_000_000.0,
                          "keeper": "0xK", "fee_tiers": [500, 3000], "tokens": {"0xT": {"feed": "0xF"}}}


def cfg(**env: str) -> KeeperConfig:
    return load_config(CONFIG, {"KEEPER_JOURNAL__PATH": "/tmp/unused.sqlite", **env})


def state(c: KeeperConfig, params: dict[str, Any] | None = None, params_hash: str = "0xaa",
          chain_id: int = 31337) -> LiveState:
    return LiveState(chain_id, c.fingerprint(), params_hash, c.strategy(), params or PARAMS)


def test_fingerprint_is_sha256_of_the_three_parts() -> None:
    text = json.dumps({"chain_id": 1, "config": "abc", "params": "0xff"}, sort_keys=True, separators=(",", ":"))
    assert activation_fingerprint("abc", "0xFF", 1) == hashlib.sha256(text.encode()).hexdigest()
    assert len({activation_fingerprint("abc", "0xff", 1), activation_fingerprint("abd", "0xff", 1),
                activation_fingerprint("abc", "0xfe", 1), activation_fingerprint("abc", "0xff", 2)}) == 4


def test_not_activated_then_activated_then_deactivated(tmp_path: Path) -> None:
    c = cfg()
    now = state(c)
    j = Journal.open(tmp_path / "j.sqlite")
    d = compare(j.control_state().activation_fingerprint, last_golive(j), now)
    assert not d.live and d.changed == ("not_activated",) and "keeper activate" in d.reason

    fp = activate(j, now, by="alice")
    assert fp == now.fingerprint == j.control_state().activation_fingerprint
    assert compare(fp, last_golive(j), now) == GateDecision(True, "activated")

    deactivate(j, by="bob", reason="incident 42")
    j.close()
    j = Journal.open(tmp_path / "j.sqlite")  # a restart
    d = compare(j.control_state().activation_fingerprint, last_golive(j), now)
    assert not d.live and d.changed == ("deactivated",)
    assert "deactivated by bob: incident 42" in d.reason
    kinds = [e.data["action"] for e in j.events(kinds=["golive"])]
    assert kinds == ["activate", "deactivate"]


def test_a_strategy_change_says_which_key_changed() -> None:
    before = cfg()
    j = Journal.memory()
    fp = activate(j, state(before), by="alice")
    after = cfg(KEEPER_POLICY__ETH__BAND_UNITS="5")
    d = compare(fp, last_golive(j), state(after))
    assert not d.live and d.changed == ("config",)
    assert "the strategy config changed since activation: policy.ETH.band_units: 10 -> 5" in d.reason
    assert "keeper activate" in d.reason
    # Not a strategy change: the schedule and the RPC are not in the fingerprint.
    same = cfg(KEEPER_SCHEDULE__INTERVAL_S="60", KEEPER_CHAIN__RPC_URL='"http://10.0.0.1:8545"')
    assert compare(fp, last_golive(j), state(same)).live


def test_an_onchain_change_says_which_parameter_changed() -> None:
    c = cfg()
    j = Journal.memory()
    fp = activate(j, state(c), by="alice")
    lowered = {**PARAMS, "max_notional_per_trade_usd": 300_000.0, "fee_tiers": [500]}
    d = compare(fp, last_golive(j), state(c, lowered, params_hash="0xbb"))
    assert not d.live and d.changed == ("params",)
    assert "on-chain parameters changed since activation" in d.reason
    assert "fee_tiers: [500, 3000] -> [500]" in d.reason
    assert "max_notional_per_trade_usd: 500000 -> 300000" in d.reason
    # Without details (the health probe's cheap read) it still says which part changed.
    d2 = compare(fp, last_golive(j), LiveState(31337, c.fingerprint(), "0xbb"))
    assert d2.changed == ("params",) and "paramsHash 0xaa -> 0xbb" in d2.reason


def test_both_parts_and_the_chain() -> None:
    c = cfg()
    j = Journal.memory()
    fp = activate(j, state(c), by="alice")
    d = compare(fp, last_golive(j), state(cfg(KEEPER_POLICY__BTC__BAND_UNITS="1"), params_hash="0xcc", chain_id=5))
    assert d.changed == ("chain", "config", "params")


def test_an_unexplained_fingerprint_is_not_live() -> None:
    c = cfg()
    d = compare("f" * 64, None, state(c))
    assert not d.live and d.changed == ("unknown",)


def test_diff_flattens_and_limits() -> None:
    assert diff({"a": {"b": 1, "c": 2}}, {"a": {"b": 1, "c": 3, "d": 4}}) == ["a.c: 2 -> 3", "a.d: (absent) -> 4"]
    many = diff({str(i): i for i in range(10)}, {str(i): i + 1 for i in range(10)}, limit=3)
    assert len(many) == 4 and many[-1] == "... and 7 more"


# ---------------------------------------------------------------------------- the per-cycle gate
class Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str, dict[str, Any]]] = []

    def __call__(self, url: str, body: bytes, timeout: float) -> None:
        b = json.loads(body)
        self.sent.append((b["kind"], b["text"], b["fields"]))


def test_the_gate_flips_to_dry_run_says_why_once_and_alerts(monkeypatch: pytest.MonkeyPatch) -> None:
    decisions = [GateDecision(True, "activated"), GateDecision(True, "activated"),
                 GateDecision(False, "the HedgeModule's on-chain parameters changed: cap 500000 -> 300000",
                              ("params",)),
                 GateDecision(False, "the HedgeModule's on-chain parameters changed: cap 500000 -> 300000",
                              ("params",)),
                 GateDecision(True, "activated")]
    monkeypatch.setattr(watch, "gate", lambda *_a: decisions.pop(0))
    rec = Recorder()
    alerter = Alerter(AlertSettings(url="https://hooks.example/x"), post=rec)
    k = SimpleNamespace(live=True, dry_run_reason="", journal=Journal.memory(), chain_id=31337, rpc=None)
    logs: list[str] = []
    w = watch.CycleWatch(cfg(), cast(ChainKeeper, k), alerter, requested_live=True, log=logs.append, warn=logs.append)
    seen = []
    for _ in range(5):
        d = w.before_cycle()
        seen.append((k.live, k.dry_run_reason))
        assert d.live == k.live
    assert seen[0] == (True, "") and seen[2][0] is False and "cap 500000 -> 300000" in seen[2][1]
    assert seen[4] == (True, "")
    assert alerter.flush(5.0)
    assert [s[0] for s in rec.sent] == ["drift", "activation"], "one drift alert, not one per cycle"
    assert rec.sent[0][2]["changed"] == ["params"]
    assert sum("dry-run (nothing is sent)" in m for m in logs) == 1


def test_dry_run_requested_is_never_live_and_does_not_alert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "gate", lambda *_a: pytest.fail("the gate is not consulted"))
    rec = Recorder()
    k = SimpleNamespace(live=True, dry_run_reason="", journal=Journal.memory(), chain_id=31337, rpc=None)
    w = watch.watch_for(cfg(), cast(ChainKeeper, k), {}, dry_run_flag=True)
    w.alerter = Alerter(AlertSettings(url="https://hooks.example/x"), post=rec)
    w.warn = lambda _m: None
    w.before_cycle()
    assert k.live is False and k.dry_run_reason == "dry run requested (--dry-run given)"
    assert rec.sent == []


def test_the_gate_fails_closed_when_the_chain_cannot_be_read(monkeypatch: pytest.MonkeyPatch) -> None:
    from keeper.errors import TransportError

    def boom(*_a: Any, **_k: Any) -> LiveState:
        raise TransportError("connection refused")

    monkeypatch.setattr(golive, "live_state", boom)
    j = Journal.memory()
    activate(j, state(cfg()), by="alice")
    d = golive.gate(cfg(), cast(Any, None), j)
    assert not d.live and d.changed == ("unverified",) and "connection refused" in d.reason


def test_the_venue_module_joins_the_fingerprint_only_when_configured() -> None:
    plain = activation_fingerprint("abc", "0xff", 1)
    assert activation_fingerprint("abc", "0xff", 1, "", "") == plain
    with_venue = activation_fingerprint("abc", "0xff", 1, "0xC0DE", "0xAA")
    text = json.dumps({"chain_id": 1, "config": "abc", "params": "0xff",
                       "venue_module": {"code": "0xc0de", "params": "0xaa"}}, sort_keys=True, separators=(",", ":"))
    assert with_venue == hashlib.sha256(text.encode()).hexdigest() != plain
    assert activation_fingerprint("abc", "0xff", 1, "0xc0de", "0xab") != with_venue
    assert activation_fingerprint("abc", "0xff", 1, "0xc0df", "0xaa") != with_venue


def test_a_venue_module_change_is_named(tmp_path: Path) -> None:
    c = load_config(CONFIG, env={})
    j = Journal.open(tmp_path / "j.sqlite")
    before = LiveState(31337, c.fingerprint(), "0xaa", venue_code_hash="0xc0de", venue_params_hash="0x01",
                       venue_params={"min_health_factor": 1.5})
    fp = activate(j, before, by="alice")
    assert compare(fp, last_golive(j), before).live
    params = LiveState(31337, c.fingerprint(), "0xaa", venue_code_hash="0xc0de", venue_params_hash="0x02",
                       venue_params={"min_health_factor": 1.2})
    d = compare(fp, last_golive(j), params)
    assert not d.live and d.changed == ("venue",) and "min_health_factor: 1.5 -> 1.2" in d.reason
    code = LiveState(31337, c.fingerprint(), "0xaa", venue_code_hash="0xbad", venue_params_hash="0x01")
    d = compare(fp, last_golive(j), code)
    assert d.changed == ("venue",) and "HedgeVenueModule's code changed since activation: 0xc0de -> 0xbad" in d.reason
    gone = LiveState(31337, c.fingerprint(), "0xaa")
    assert compare(fp, last_golive(j), gone).changed == ("venue",)
