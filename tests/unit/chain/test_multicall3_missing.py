"""A chain without Multicall3 (no chain needed): the error names Multicall3 and the fix; the installer
refuses a node that is not anvil before it sends anything that writes."""

from __future__ import annotations

from typing import Any

import pytest
from eth_utils.crypto import keccak

from keeper.chain.multicall import MULTICALL3, Call, Multicall, install_command, missing_multicall3_fix
from keeper.chain.multicall3_install import RUNTIME_KECCAK, install_multicall3, runtime_code
from keeper.chain.rpc import RpcClient
from keeper.errors import InputError, SetupError
from keeper.ops.doctor import cardinality_for
from tests.unit.chain.fakes import FakeTransport, RpcFault

TOKEN = "0x" + "11" * 20
GETH = "Geth/v1.13.5-stable-916d6a44/linux-amd64/go1.21.4"


def node(client: str, *, anvil_methods: bool, chain_id: int = 1) -> tuple[RpcClient, FakeTransport]:
    """A node with no code anywhere: every eth_call answers empty data, as a real node does."""

    def handle(method: str, params: list[Any]) -> Any:
        if method == "eth_chainId":
            return hex(chain_id)
        if method == "eth_blockNumber":
            return "0x10"
        if method == "web3_clientVersion":
            return client
        if method == "eth_call":
            return "0x"
        if method == "eth_getCode":
            return "0x"
        if method.startswith("anvil_") and anvil_methods:
            return {} if method == "anvil_nodeInfo" else None
        raise RpcFault(-32601, f"the method {method} does not exist/is not available")

    t = FakeTransport(handle)
    return RpcClient(t, sleep=lambda _s: None), t


def methods(t: FakeTransport) -> list[str]:
    out: list[str] = []
    for p in t.requests:
        out += [r["method"] for r in (p if isinstance(p, list) else [p])]
    return out


def test_empty_aggregate3_answer_is_a_setup_error_naming_multicall3() -> None:
    rpc, _ = node(GETH, anvil_methods=False, chain_id=8453)
    with pytest.raises(SetupError) as exc:
        Multicall(rpc).execute([Call(TOKEN, "decimals()", (), ("uint8",), "token decimals")], 16)
    msg = str(exc.value)
    assert "no Multicall3 contract" in msg and MULTICALL3 in msg and "chain 8453" in msg
    assert "use a chain with the canonical Multicall3 deployment" in msg
    assert "decimals" not in msg, "the missing contract is named, not the first read that needed it"


def test_on_anvil_the_fix_is_the_install_command() -> None:
    rpc, _ = node("anvil/v1.7.1", anvil_methods=True, chain_id=31337)
    with pytest.raises(SetupError, match="chain 31337") as exc:
        Multicall(rpc).execute([Call(TOKEN, "decimals()", (), ("uint8",))], 16)
    assert "keeper multicall3 install" in str(exc.value)


def test_install_command_never_repeats_a_url_that_may_carry_a_key() -> None:
    assert install_command("http://127.0.0.1:8545") == "keeper multicall3 install --rpc-url http://127.0.0.1:8545"
    assert install_command("https://eth.example/v2/SECRET") == "keeper multicall3 install -c CONFIG"
    assert install_command("http://user:pw@host:8545") == "keeper multicall3 install -c CONFIG"
    assert install_command(None) == "keeper multicall3 install -c CONFIG"
    assert "canonical Multicall3 deployment" in missing_multicall3_fix(GETH)
    assert "canonical Multicall3 deployment" in missing_multicall3_fix(None)
    assert "--rpc-url http://h:1" in missing_multicall3_fix("anvil/v1.7.1", "http://h:1/")


@pytest.mark.parametrize(("client", "anvil_methods"), [(GETH, False), ("anvil/v1.7.1", False), (GETH, True)])
def test_install_refuses_a_node_that_is_not_anvil(client: str, anvil_methods: bool) -> None:
    rpc, t = node(client, anvil_methods=anvil_methods)
    with pytest.raises(InputError, match="not anvil") as exc:
        install_multicall3(rpc, "https://rpc.example")
    assert exc.value.argument == "rpc_url" and client in str(exc.value)
    assert "anvil_setCode" not in methods(t)


def test_install_places_the_shipped_code_with_anvil_set_code() -> None:
    placed: dict[str, str] = {}

    def handle(method: str, params: list[Any]) -> Any:
        if method == "anvil_setCode":
            placed[params[0]] = params[1]
            return None
        if method == "eth_call" and MULTICALL3 in placed:
            raise RpcFault(3, "execution reverted")  # the fake cannot run it: the install must say so
        return node("anvil/v1.7.1", anvil_methods=True)[1].handle(method, params)

    rpc = RpcClient(FakeTransport(handle), sleep=lambda _s: None)
    with pytest.raises(SetupError, match="aggregate3 does not answer"):
        install_multicall3(rpc, "http://127.0.0.1:8545")
    assert placed == {MULTICALL3: "0x" + runtime_code().hex()}


def test_shipped_runtime_matches_its_recorded_hash() -> None:
    from importlib.resources import files

    raw = bytes.fromhex(files("keeper.chain").joinpath("multicall3_runtime.hex").read_text().strip())
    assert "0x" + keccak(raw).hex() == RUNTIME_KECCAK == "0x" + keccak(runtime_code()).hex()
    assert len(raw) == 5_561 and raw[:4] == bytes.fromhex("60806040")
    for sig in ("aggregate3((address,bool,bytes)[])", "getChainId()", "getBlockNumber()"):
        assert keccak(text=sig)[:4] in raw, f"{sig} dispatch missing"


def test_cardinality_covers_the_window_at_the_block_time() -> None:
    assert cardinality_for(1800, 12.0) == 151
    assert cardinality_for(1800, 2.0) == 901
    assert cardinality_for(1800, 7.0) == 259  # ceil(257.1) + 1
    assert cardinality_for(7 * 86_400, 1.0) == 65_535
    with pytest.raises(InputError):
        cardinality_for(1800, 0.0)


@pytest.mark.parametrize(("client", "fix"), [
    (GETH, "use a chain with the canonical Multicall3 deployment (see https://github.com/mds1/multicall3)"),
    ("anvil/v1.7.1", "run `keeper multicall3 install --rpc-url http://127.0.0.1:8545` (places it at its canonical "
                     "address on this anvil chain)"),
])
def test_doctor_rpc_check_names_the_fix_for_the_node(client: str, fix: str) -> None:
    from pathlib import Path

    from keeper.config import load_config
    from keeper.ops.doctor import _rpc

    cfg = load_config(Path(__file__).parents[3] / "examples" / "devnet.toml",
                      env={"KEEPER_CHAIN__RPC_URL": "http://127.0.0.1:8545"})

    def handle(method: str, params: list[Any]) -> Any:
        if method == "eth_getBlockByNumber":
            return {"number": "0x10", "timestamp": "0x6000"}
        return node(client, anvil_methods=client.startswith("anvil"), chain_id=31337)[1].handle(method, params)

    check, ctx = _rpc(cfg, RpcClient(FakeTransport(handle), sleep=lambda _s: None))
    assert check.status == "fail" and ctx is None
    assert f"no Multicall3 at its canonical address {MULTICALL3} on chain 31337" in check.detail
    assert check.fix == fix
