"""A node the keeper cannot reach is named, by its redacted URL, with a hint; the URL's secret part never
appears (provider URLs carry API keys in their path or query)."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from keeper.build.paths import repo_root
from keeper.chain.rpc import RetryPolicy, RpcClient, redact_url
from keeper.errors import TransportError

SECRET = "k3y-abcdef0123456789"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(("url", "shown"), [
    (f"https://eth.example.org/v3/{SECRET}", "https://eth.example.org/..."),
    (f"https://eth.example.org:8443/?key={SECRET}", "https://eth.example.org:8443/..."),
    (f"http://user:{SECRET}@127.0.0.1:8545", "http://127.0.0.1:8545"),
    ("http://127.0.0.1:8545/", "http://127.0.0.1:8545"),
])
def test_redact_url_keeps_scheme_host_and_port_only(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_refused_connection_names_the_node_and_the_setting_without_its_secret() -> None:
    port = closed_port()
    rpc = RpcClient.http(f"http://127.0.0.1:{port}/v3/{SECRET}", retry=RetryPolicy(attempts=2, backoff_s=0.0),
                         sleep=lambda _s: None)
    with pytest.raises(TransportError) as err:
        rpc.call("eth_chainId", [])
    text = str(err.value)
    assert f"cannot connect to http://127.0.0.1:{port}/..." in text
    assert "chain.rpc_url" in text
    assert SECRET not in text


def test_the_cli_says_which_node_is_down() -> None:
    port = closed_port()
    env = {"PATH": "/usr/bin:/bin", "KEEPER_CHAIN__RPC_URL": f"http://127.0.0.1:{port}/{SECRET}"}
    proc = subprocess.run([sys.executable, "-m", "keeper.cli.main", "plan", "-c",
                           str(repo_root() / "examples" / "devnet.toml")], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode != 0
    assert f"cannot connect to http://127.0.0.1:{port}/..." in proc.stderr
    assert SECRET not in proc.stderr + proc.stdout
    assert "ConnectionError" not in proc.stderr
