"""Crash injection for the keeper: a child process runs one cycle and kills itself with SIGKILL at a
chosen step of a hedge. Run through a forkserver so each trial costs a fork, not a fresh interpreter."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

from keeper.build.manifest import Manifest
from keeper.cycle.compose import ChainKeeper
from keeper.devnet.keeper_setup import band_policy, world_keeper
from keeper.journal import Journal

STEPS = ("after_intent", "after_send", "after_receipt")


def make_keeper(url: str, manifest_json: str, journal_path: str, eth_target: float, btc_target: float) -> ChainKeeper:
    m = Manifest.model_validate_json(manifest_json)
    return world_keeper(url, m, Journal.open(Path(journal_path)),
                        band_policy({"ETH": (eth_target, 5.0), "BTC": (btc_target, 1.0)}),
                        tx_kwargs={"timeout_s": 3.0, "replace_after_s": 60.0})


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def crashing_cycle(url: str, manifest_json: str, journal_path: str, eth_target: float, btc_target: float,
                   step: str) -> None:
    """Child process: one cycle that dies at ``step`` (never returns normally if a hedge happens)."""
    k = make_keeper(url, manifest_json, journal_path, eth_target, btc_target)
    j: Any = k.journal
    tx: Any = k.tx
    if step == "after_intent":
        original = j.create_intent

        def create_intent(*a: Any, **kw: Any) -> Any:
            out = original(*a, **kw)
            _die()
            return out

        j.create_intent = create_intent
    elif step == "after_send":
        broadcast = tx.broadcast

        def send_then_die(attempt: Any) -> None:
            broadcast(attempt)
            _die()

        tx.broadcast = send_then_die
    elif step == "after_receipt":
        def die_before_fill(*a: Any, **kw: Any) -> Any:
            _die()

        j.record_fill = die_before_fill
    else:
        raise ValueError(step)
    k.cycle()
    os._exit(3)  # no hedge was attempted: the trial is void
