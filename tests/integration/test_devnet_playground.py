"""`keeper devnet` as a playground: it prints the URL, the config and the dev key to use, and with --market it
moves prices so a keeper pointed at it has something to hedge."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.anvil


def test_devnet_prints_how_to_use_it_and_its_market_moves_prices() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "keeper.cli.main", "devnet", "--market", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()

    def pump() -> None:
        for ln in proc.stdout or ():
            lines.put(ln)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []

    def until(pattern: str, timeout: float = 600.0) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=1.0)
            except queue.Empty:
                assert proc.poll() is None, "devnet exited:\n" + "".join(seen)
                continue
            seen.append(line)
            if m := re.search(pattern, line):
                return m
        raise AssertionError(f"no line matching {pattern!r} within {timeout:g} s:\n" + "".join(seen))

    try:
        url = until(r"export KEEPER_CHAIN__RPC_URL=(http://127\.0\.0\.1:\d+)").group(1)
        key = until(r"export KEEPER_PRIVATE_KEY=(0x[0-9a-f]{64})").group(1)
        config = until(r"keeper plan -c (\S+devnet\.toml)").group(1)
        first = until(r"market: .*ETH ([\d,.]+) USD")
        second = until(r"market: .*ETH ([\d,.]+) USD")
        assert first.group(1) != second.group(1), "the market moves the price"
        env = dict(os.environ, KEEPER_CHAIN__RPC_URL=url, KEEPER_PRIVATE_KEY=key)
        env.pop("KEEPER_FORK_URL", None)
        plan = subprocess.run([sys.executable, "-m", "keeper.cli.main", "plan", "-c", config], env=env,
                              capture_output=True, text=True, timeout=180, check=False)
        assert plan.returncode == 0, plan.stderr[-2000:]
        assert "Decisions:" in plan.stdout
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        if proc.stdout is not None:
            proc.stdout.close()


def test_a_market_interval_must_be_positive() -> None:
    r = subprocess.run([sys.executable, "-m", "keeper.cli.main", "devnet", "--market", "0"], capture_output=True,
                       text=True, timeout=60, check=False)
    assert r.returncode == 2 and "--market: must be > 0 seconds, got 0" in r.stderr
