"""Start and stop anvil nodes: the pinned npm binary, a free port, a clean kill.

Only the local development world and the tests use this module. Nothing here talks
to a public network: a fork URL is whatever the caller passes (a local upstream in
tests, a user's RPC in ``keeper simulate``).
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from keeper.build.paths import repo_root
from keeper.errors import DevnetError, SetupError

__all__ = ["ANVIL_CHAIN_ID", "AnvilNode", "find_anvil", "free_port", "port_in_use", "rpc_call"]

ANVIL_CHAIN_ID = 31337


def find_anvil() -> Path:
    """Locate the pinned anvil binary from npm, or ``KEEPER_ANVIL`` if set."""
    env = os.environ.get("KEEPER_ANVIL")
    if env:
        path = Path(env)
        if not path.is_file():
            raise SetupError(f"KEEPER_ANVIL={env} does not exist")
        return path
    pinned = repo_root() / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
    if pinned.is_file():
        return pinned
    found = shutil.which("anvil")
    if found:
        return Path(found)
    raise SetupError(
        f"anvil not found at {pinned} nor on PATH; run ./scripts/setup (it installs the pinned "
        "@foundry-rs/anvil-linux-amd64 from npm)"
    )


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something already listens on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the OS reports free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def rpc_call(url: str, method: str, params: Sequence[Any] = (), timeout: float = 10.0) -> Any:
    """One raw JSON-RPC call; raises DevnetError on an RPC error."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        answer = json.loads(resp.read())
    if "error" in answer:
        raise DevnetError(f"{method} failed: {answer['error']}")
    return answer["result"]


class AnvilNode:
    """An anvil child process. Use as a context manager; it is killed on exit, even after an error.

    Parameters
    ----------
    port:
        TCP port on 127.0.0.1; ``None`` picks a free one. A port already in use is refused.
    load_state:
        A state file written by :meth:`dump_state` to load at start.
    fork_url, fork_block:
        Fork another chain (``--fork-url``), optionally at a block number.
    block_time:
        Seconds per block for interval mining; ``None`` keeps automine.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        load_state: Path | None = None,
        fork_url: str | None = None,
        fork_block: int | None = None,
        block_time: float | None = None,
        accounts: int = 10,
        balance_eth: int = 1_000_000,
        extra_args: Sequence[str] = (),
        startup_timeout: float = 20.0,
    ) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        if port is not None and port_in_use(port):
            raise DevnetError(f"port {port} is already in use on 127.0.0.1; pick another with --port")
        self.port = port if port is not None else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            str(find_anvil()),
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--accounts", str(accounts),
            "--balance", str(balance_eth),
            "--code-size-limit", "100000",
            "--no-request-size-limit",
        ]
        if load_state is not None:
            if not load_state.is_file():
                raise DevnetError(f"state file {load_state} does not exist")
            args += ["--load-state", str(load_state)]
        if fork_url is not None:
            args += ["--fork-url", fork_url, "--no-rate-limit"]
            if fork_block is not None:
                args += ["--fork-block-number", str(fork_block)]
        if block_time is not None:
            args += ["--block-time", str(block_time)]
        args += list(extra_args)
        self._args = args
        self._startup_timeout = startup_timeout

    def start(self) -> Self:
        env = dict(os.environ)
        env.setdefault("FOUNDRY_DISABLE_NIGHTLY_WARNING", "1")
        # Keep anvil's cache out of the user's home folder.
        env["HOME"] = str(repo_root() / ".foundry-home")
        self._proc = subprocess.Popen(
            self._args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=env,
            start_new_session=True,
        )
        deadline = time.monotonic() + self._startup_timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                err = self._proc.stderr.read().decode(errors="replace") if self._proc.stderr else ""
                raise DevnetError(f"anvil exited at start (code {self._proc.returncode}): {err.strip()[-500:]}")
            try:
                rpc_call(self.url, "eth_chainId", timeout=0.5)
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                time.sleep(0.03)
        self.stop()
        raise DevnetError(f"anvil did not answer on {self.url} within {self._startup_timeout} s")

    def rpc(self, method: str, *params: Any) -> Any:
        return rpc_call(self.url, method, params)

    def dump_state(self, path: Path) -> None:
        """Write the whole chain state (accounts, blocks) so a later node loads it in well under 1 s."""
        hexdata: str = self.rpc("anvil_dumpState")
        raw = bytes.fromhex(hexdata.removeprefix("0x"))
        if raw[:2] == b"\x1f\x8b":  # gzip magic; newer anvils compress the dump
            raw = gzip.decompress(raw)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_bytes(raw)
        tmp.replace(path)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        proc = self._proc
        if proc is None:
            return
        self._proc = None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __del__(self) -> None:
        self.stop()
