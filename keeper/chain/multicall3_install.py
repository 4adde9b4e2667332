"""Multicall3 on a local chain: the runtime code shipped with the keeper, and ``keeper multicall3 install``.

The keeper reads everything through Multicall3 at its canonical address
``0xcA11bde05977b3631167028862bE2a173976CA11``. Public chains have it; a local anvil chain
started without it (or a chain the keeper did not build) may not. :func:`install_multicall3`
places the runtime code there with ``anvil_setCode`` and checks that ``aggregate3`` answers. It
refuses on any node that is not anvil: on a real chain code cannot be placed, only deployed.

``multicall3_runtime.hex`` (package data next to this module) is the runtime code that viem's
published Multicall3 creation code deploys (viem 2.57.20, 5,561 bytes). It is the Multicall3
source and ABI, but not the mainnet deployment's bytes (that runtime is 3,808 bytes, another
compiler run): the same functions and answers, which is all a local chain needs.
``tests/integration/test_bringup.py`` deploys the creation code on anvil and compares,
so the shipped file cannot drift from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files

from eth_utils.crypto import keccak

from keeper.chain.multicall import MULTICALL3, Call, Multicall, is_anvil_client
from keeper.chain.rpc import RpcClient, RpcError
from keeper.errors import ChainError, InputError, SetupError

__all__ = ["RUNTIME_FILE", "RUNTIME_KECCAK", "InstallResult", "anvil_client", "install_multicall3", "runtime_code"]

RUNTIME_FILE = "multicall3_runtime.hex"
RUNTIME_KECCAK = "0x5a29a1eb2f59e45e4249b938c8192cac0d2bd32398e1afa03f302a867db692ea"


@cache
def runtime_code() -> bytes:
    """The shipped Multicall3 runtime code, checked against :data:`RUNTIME_KECCAK`."""
    res = files("keeper.chain").joinpath(RUNTIME_FILE)
    try:
        text = res.read_text(encoding="ascii").strip()
    except (FileNotFoundError, UnicodeDecodeError) as exc:
        raise SetupError(f"the keeper package lacks keeper/chain/{RUNTIME_FILE} ({exc}); "
                         "reinstall the keeper") from None
    try:
        code = bytes.fromhex(text.removeprefix("0x"))
    except ValueError:
        raise SetupError(f"keeper/chain/{RUNTIME_FILE} is not hex; reinstall the keeper") from None
    got = "0x" + keccak(code).hex()
    if got != RUNTIME_KECCAK:
        raise SetupError(f"keeper/chain/{RUNTIME_FILE} has keccak {got}, expected {RUNTIME_KECCAK}; "
                         "reinstall the keeper")
    return code


def anvil_client(rpc: RpcClient, where: str) -> str:
    """The node's ``web3_clientVersion`` if it is anvil (and answers ``anvil_nodeInfo``); InputError otherwise."""
    try:
        client = str(rpc.call("web3_clientVersion"))
    except RpcError:
        client = "a node that does not answer web3_clientVersion"
    try:
        rpc.call("anvil_nodeInfo")
    except RpcError:
        answers = False
    else:
        answers = True
    if not (answers and is_anvil_client(client)):
        raise InputError("rpc_url", f"{where} is {client}, not anvil: code can only be placed on a local or forked "
                                    "anvil chain; elsewhere use a chain with the canonical Multicall3 deployment")
    return client


def _answers(rpc: RpcClient, chain_id: int) -> bool:
    """Whether ``aggregate3`` at the canonical address runs a call and returns this chain's id."""
    block = rpc.block_number()
    try:
        (r,) = Multicall(rpc).execute([Call(MULTICALL3, "getChainId()", (), ("uint256",), "Multicall3.getChainId")],
                                      block)
    except SetupError:
        return False
    return r.ok and int(r.value[0]) == chain_id  # type: ignore[union-attr]


@dataclass(frozen=True)
class InstallResult:
    """What :func:`install_multicall3` found or did."""

    chain_id: int
    client: str
    installed: bool
    """True when the code was placed now; False when a working Multicall3 was already there."""
    code_bytes: int

    def message(self) -> str:
        if self.installed:
            return (f"placed Multicall3 ({self.code_bytes:,} bytes of runtime code) at {MULTICALL3} on chain "
                    f"{self.chain_id} ({self.client}); aggregate3 answers")
        return (f"Multicall3 is already at {MULTICALL3} on chain {self.chain_id} ({self.client}) and aggregate3 "
                "answers; nothing changed")


def install_multicall3(rpc: RpcClient, where: str) -> InstallResult:
    """Place Multicall3 at its canonical address on the anvil chain behind ``rpc`` (idempotent).

    ``where`` names the node in messages (a redacted URL). Raises InputError on a node that is
    not anvil, SetupError when other code sits at the address or the placed code does not answer.
    """
    chain_id = rpc.chain_id()
    client = anvil_client(rpc, where)
    code = str(rpc.call("eth_getCode", [MULTICALL3, "latest"]))
    existing = len(code.removeprefix("0x")) // 2
    if existing:
        if _answers(rpc, chain_id):
            return InstallResult(chain_id, client, False, existing)
        raise SetupError(f"{MULTICALL3} on chain {chain_id} holds {existing:,} bytes of code that do not answer "
                         "aggregate3: not replaced; restart the chain without it, or remove it with "
                         f"anvil_setCode({MULTICALL3}, 0x) and run this again")
    runtime = runtime_code()
    try:
        rpc.call("anvil_setCode", [MULTICALL3, "0x" + runtime.hex()])
    except ChainError as exc:
        raise SetupError(f"anvil_setCode on {where} failed: {exc}") from None
    if not _answers(rpc, chain_id):
        raise SetupError(f"placed Multicall3 at {MULTICALL3} on chain {chain_id}, but aggregate3 does not answer")
    return InstallResult(chain_id, client, True, len(runtime))
