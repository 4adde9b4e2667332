"""RpcClient and Multicall against in-memory fakes: retries, batching, chunking, per-call errors."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi.abi import encode
from hypothesis import given, settings
from hypothesis import strategies as st

from keeper.chain.multicall import Call, Failed, Multicall, Ok, decode_revert, selector
from keeper.chain.rpc import RetryPolicy, RpcClient, RpcError
from keeper.errors import ChainIdMismatchError, InputError, TransportError
from tests.unit.chain.fakes import FakeChain, FakeTransport, RpcFault

TOKEN = "0x" + "11" * 20
BROKEN = "0x" + "22" * 20
EOA = "0x" + "33" * 20


def token(_target: str, data: bytes) -> tuple[bool, bytes]:
    if data[:4] == selector("balanceOf(address)"):
        return True, encode(["uint256"], [int.from_bytes(data[-20:], "big") % 1000])
    if data[:4] == selector("symbol()"):
        return True, encode(["string"], ["TKN"])
    return False, selector("Error(string)") + encode(["string"], ["nope"])


def broken(_target: str, _data: bytes) -> tuple[bool, bytes]:
    return True, b"\x01\x02"  # too short for any static type


def client(chain: FakeChain, **kw: Any) -> tuple[RpcClient, FakeTransport]:
    t = FakeTransport(chain.handle)
    return RpcClient(t, sleep=lambda _s: None, **kw), t


def test_transport_errors_are_retried_then_succeed() -> None:
    rpc, t = client(FakeChain({}))
    t.faults = [TransportError("timeout"), TransportError("HTTP 502")]
    assert rpc.block_number() == 100
    assert rpc.round_trips == 3


def test_transport_errors_exhaust_retries() -> None:
    rpc, t = client(FakeChain({}), retry=RetryPolicy(attempts=2))
    t.faults = [TransportError("a"), TransportError("b"), TransportError("c")]
    with pytest.raises(TransportError, match="b"):
        rpc.block_number()
    assert rpc.round_trips == 2


def test_rpc_errors_are_not_retried() -> None:
    def handle(method: str, params: list[Any]) -> Any:
        raise RpcFault(-32602, "invalid params")

    t = FakeTransport(handle)
    rpc = RpcClient(t, sleep=lambda _s: None)
    with pytest.raises(RpcError, match="invalid params"):
        rpc.call("eth_getBalance", ["0x0"])
    assert rpc.round_trips == 1


@pytest.mark.parametrize("garbage", [{"not": "jsonrpc"}, "<html>", {"jsonrpc": "2.0", "id": 1}])
def test_garbage_bodies_are_transport_errors(garbage: Any) -> None:
    rpc, t = client(FakeChain({}), retry=RetryPolicy(attempts=1))
    t.faults = [garbage]
    with pytest.raises(TransportError):
        rpc.block_number()


def test_batch_with_missing_id_is_a_transport_error() -> None:
    rpc, t = client(FakeChain({}), retry=RetryPolicy(attempts=1))
    t.faults = [[{"jsonrpc": "2.0", "id": 999, "result": "0x1"}]]
    with pytest.raises(TransportError, match="misses request id"):
        rpc.batch([("eth_blockNumber", [])])


def test_chain_id_check() -> None:
    rpc, _ = client(FakeChain({}))
    rpc.check_chain_id(31337)
    with pytest.raises(ChainIdMismatchError, match="chain_id.*31337.*expects 1"):
        rpc.check_chain_id(1)


def test_bad_arguments_are_named() -> None:
    rpc, _ = client(FakeChain({}))
    with pytest.raises(InputError, match="^timeout_s"):
        RpcClient(FakeTransport(lambda m, p: None), timeout_s=0)
    with pytest.raises(InputError, match="^max_gas"):
        Multicall(rpc, max_gas=0)
    with pytest.raises(InputError, match="^block"):
        Multicall(rpc).execute([], -1)
    with pytest.raises(InputError, match="^args"):
        _ = Call(TOKEN, "balanceOf(address)", ()).calldata


def test_each_call_gets_its_value_or_its_error_at_one_block() -> None:
    chain = FakeChain({TOKEN: token, BROKEN: broken})
    rpc, _ = client(chain)
    mc = Multicall(rpc)
    owner = "0x" + "00" * 19 + "07"
    calls = [
        Call(TOKEN, "balanceOf(address)", (owner,), ("uint256",), "bal"),
        Call(TOKEN, "symbol()", (), ("string",), "sym"),
        Call(TOKEN, "decimals()", (), ("uint8",), "reverts"),
        Call(BROKEN, "decimals()", (), ("uint8",), "wrong abi"),
        Call(EOA, "decimals()", (), ("uint8",), "no code"),
    ]
    res = mc.execute(calls, 42)
    assert res[0] == Ok((7,))
    assert res[1] == Ok(("TKN",))
    assert res[2] == Failed("reverted: nope")
    assert isinstance(res[3], Failed) and "do not decode" in res[3].reason
    assert isinstance(res[4], Failed) and "no data" in res[4].reason
    assert chain.blocks_seen == [hex(42)]
    assert rpc.round_trips == 1


def test_chunks_go_out_in_one_round_trip_and_failed_chunks_are_split() -> None:
    chain = FakeChain({TOKEN: token}, max_calls_per_eth_call=30)
    rpc, _ = client(chain)
    mc = Multicall(rpc, max_gas=50 * 60_000)  # 50 calls per chunk; the node takes only 30
    owners = ["0x" + f"{i:040x}" for i in range(200)]
    calls = [Call(TOKEN, "balanceOf(address)", (o,), ("uint256",), f"bal {i}") for i, o in enumerate(owners)]
    res = mc.execute(calls, 7)
    assert [r for r in res] == [Ok((i % 1000,)) for i in range(200)]
    assert set(chain.blocks_seen) == {hex(7)}
    # 4 chunks of 50 in one request, each refused and split into 25 + 25 in a second request.
    assert rpc.round_trips == 2


@settings(max_examples=50, deadline=None)
@given(
    n=st.integers(1, 300),
    max_bytes=st.integers(300, 5000),
    max_gas=st.integers(60_000, 2_000_000),
)
def test_chunking_respects_both_budgets(n: int, max_bytes: int, max_gas: int) -> None:
    rpc, _ = client(FakeChain({}))
    mc = Multicall(rpc, max_calldata_bytes=max_bytes, max_gas=max_gas)
    calls = [Call(TOKEN, "balanceOf(address)", ("0x" + f"{i:040x}",), ("uint256",)) for i in range(n)]
    chunks = mc.chunk(calls)
    assert sorted(i for c in chunks for i in c) == list(range(n))
    for c in chunks:
        assert len(c) == 1 or (
            sum(len(calls[i].calldata) + 160 for i in c) <= max_bytes and sum(calls[i].gas for i in c) <= max_gas
        )


def test_decode_revert_reasons() -> None:
    assert decode_revert(b"") == "reverted without reason"
    assert decode_revert(selector("Error(string)") + encode(["string"], ["OLD"])) == "reverted: OLD"
    assert decode_revert(selector("Panic(uint256)") + encode(["uint256"], [0x11])) == "panicked: code 0x11"
    assert decode_revert(bytes.fromhex("deadbeef")) == "reverted with custom error 0xdeadbeef"
