"""Contract artifacts: the real bytecode from npm packages, and our own from ``forge build``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from functools import cache
from pathlib import Path
from typing import Any

from keeper.build.paths import repo_root
from keeper.errors import SetupError

__all__ = [
    "AAVE_V3_ARTIFACTS",
    "NPM_ARTIFACTS",
    "Artifact",
    "forge_artifact",
    "link",
    "multicall3_creation_code",
    "npm_artifact",
    "permit2_runtime_code",
]

# name -> (npm package, path inside the package). Versions are pinned in package.json.
NPM_ARTIFACTS: dict[str, tuple[str, str]] = {
    "WETH9": ("canonical-weth", "build/contracts/WETH9.json"),
    "UniswapV3Factory": ("@uniswap/v3-core", "artifacts/contracts/UniswapV3Factory.sol/UniswapV3Factory.json"),
    "UniswapV3Pool": ("@uniswap/v3-core", "artifacts/contracts/UniswapV3Pool.sol/UniswapV3Pool.json"),
    "NonfungiblePositionManager": (
        "@uniswap/v3-periphery",
        "artifacts/contracts/NonfungiblePositionManager.sol/NonfungiblePositionManager.json",
    ),
    "SwapRouter": ("@uniswap/v3-periphery", "artifacts/contracts/SwapRouter.sol/SwapRouter.json"),
    "QuoterV2": ("@uniswap/v3-periphery", "artifacts/contracts/lens/QuoterV2.sol/QuoterV2.json"),
    "Safe": ("@safe-global/safe-contracts", "build/artifacts/contracts/Safe.sol/Safe.json"),
    "SafeProxyFactory": (
        "@safe-global/safe-contracts",
        "build/artifacts/contracts/proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
    ),
    "CompatibilityFallbackHandler": (
        "@safe-global/safe-contracts",
        "build/artifacts/contracts/handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json",
    ),
    "MultiSendCallOnly": (
        "@safe-global/safe-contracts",
        "build/artifacts/contracts/libraries/MultiSendCallOnly.sol/MultiSendCallOnly.json",
    ),
    # Uniswap v4: v4-periphery's Foundry build (solc 0.8.26, no links) holds the core contracts too.
    "PoolManager": ("@uniswap/v4-periphery", "foundry-out/PoolManager.sol/PoolManager.default.json"),
    "PositionManager": ("@uniswap/v4-periphery", "foundry-out/PositionManager.sol/PositionManager.json"),
    "StateView": ("@uniswap/v4-periphery", "foundry-out/StateView.sol/StateView.json"),
    "V4Quoter": ("@uniswap/v4-periphery", "foundry-out/V4Quoter.sol/V4Quoter.json"),
    "PoolSwapTest": ("@uniswap/v4-periphery", "foundry-out/PoolSwapTest.sol/PoolSwapTest.default.json"),
    "IAllowanceTransfer": (
        "@uniswap/v4-periphery", "foundry-out/IAllowanceTransfer.sol/IAllowanceTransfer.default.json",
    ),
    "UniversalRouter": ("@uniswap/universal-router", "artifacts/contracts/UniversalRouter.sol/UniversalRouter.json"),
}


_AAVE = "artifacts/contracts"
AAVE_V3_ARTIFACTS: dict[str, tuple[str, str]] = {
    name: ("@aave/core-v3", f"{_AAVE}/{folder}/{name}.sol/{name}.json")
    for folder, names in (
        ("protocol/configuration", ("PoolAddressesProvider", "ACLManager")),
        ("protocol/pool", ("Pool", "PoolConfigurator", "DefaultReserveInterestRateStrategy")),
        ("protocol/tokenization", ("AToken", "VariableDebtToken", "StableDebtToken")),
        ("misc", ("AaveOracle",)),
        (
            "protocol/libraries/logic",
            ("BorrowLogic", "BridgeLogic", "EModeLogic", "FlashLoanLogic", "LiquidationLogic", "PoolLogic",
             "SupplyLogic", "ConfiguratorLogic"),
        ),
    )
    for name in names
}
"""Aave v3 (core 1.19.3): Pool and PoolConfigurator need their logic libraries linked (see :func:`link`)."""
NPM_ARTIFACTS.update(AAVE_V3_ARTIFACTS)


@dataclass(frozen=True)
class Artifact:
    """A contract's ABI and creation bytecode (hex with 0x)."""

    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    link_references: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    """Library name -> (byte offset, length) of each placeholder in ``bytecode`` (hardhat artifacts)."""


def _node_modules() -> Path:
    return repo_root() / "node_modules"


@cache
def npm_artifact(name: str) -> Artifact:
    """Load one of :data:`NPM_ARTIFACTS` from ``node_modules``."""
    if name not in NPM_ARTIFACTS:
        raise SetupError(f"unknown npm artifact {name!r}; known: {sorted(NPM_ARTIFACTS)}")
    package, rel = NPM_ARTIFACTS[name]
    path = _node_modules() / package / rel
    if not path.is_file():
        raise SetupError(f"artifact {name} missing at {path}; run ./scripts/setup (npm ci installs {package})")
    data = json.loads(path.read_text())
    bytecode = data["bytecode"]
    if isinstance(bytecode, dict):
        bytecode = bytecode["object"]
    if not bytecode.startswith("0x"):
        bytecode = "0x" + bytecode
    refs: dict[str, list[tuple[int, int]]] = {}
    for libs in (data.get("linkReferences") or {}).values():
        for lib, places in libs.items():
            refs.setdefault(lib, []).extend((int(p["start"]), int(p["length"])) for p in places)
    return Artifact(name=name, abi=data["abi"], bytecode=bytecode, link_references=refs)


def link(artifact: Artifact, libraries: dict[str, str]) -> Artifact:
    """``artifact`` with every library placeholder replaced by the deployed library's address.

    Every library the bytecode references must be given; the result has no references left.
    """
    missing = sorted(set(artifact.link_references) - set(libraries))
    if missing:
        raise SetupError(f"{artifact.name}: libraries to link are missing: {', '.join(missing)}")
    hexcode = artifact.bytecode[2:]
    for lib, places in artifact.link_references.items():
        address = libraries[lib].lower().removeprefix("0x")
        if len(address) != 40:
            raise SetupError(f"{artifact.name}: library {lib} address {libraries[lib]!r} is not 20 bytes")
        for start, length in places:
            if length != 20:
                raise SetupError(f"{artifact.name}: placeholder for {lib} is {length} bytes, not 20")
            hexcode = hexcode[: 2 * start] + address + hexcode[2 * (start + length):]
    if "__" in hexcode:
        raise SetupError(f"{artifact.name}: a library placeholder is left after linking")
    return replace(artifact, bytecode="0x" + hexcode, link_references={})


@cache
def forge_artifact(name: str, source: str | None = None) -> Artifact:
    """Load our own contract ``name`` from ``contracts/out/<source or name>.sol/<name>.json``."""
    path = repo_root() / "contracts" / "out" / f"{source or name}.sol" / f"{name}.json"
    if not path.is_file():
        raise SetupError(f"contract build {path} missing; run ./scripts/setup (it runs forge build)")
    data = json.loads(path.read_text())
    return Artifact(name=name, abi=data["abi"], bytecode=data["bytecode"]["object"])


@cache
def multicall3_creation_code() -> str:
    """Multicall3's creation bytecode as published in the npm package ``viem``.

    The package blocks the subpath import, so the constant is read from its file.
    """
    path = _node_modules() / "viem" / "_cjs" / "constants" / "contracts.js"
    if not path.is_file():
        raise SetupError(f"{path} missing; run ./scripts/setup (npm ci installs viem)")
    marker = "exports.multicall3Bytecode = '"
    text = path.read_text()
    start = text.find(marker)
    if start < 0:
        raise SetupError(f"multicall3Bytecode not found in {path}")
    start += len(marker)
    end = text.index("'", start)
    return text[start:end]


@cache
def permit2_runtime_code() -> str:
    """Permit2's runtime bytecode as v4-periphery ships it: the ``hex"..."`` literal of its test helper
    ``lib/permit2/test/utils/DeployPermit2.sol`` (Permit2 is not shipped compiled on its own).

    That code was compiled on chain id 31337 and has its EIP-712 domain separator baked in as an
    immutable: signed permits do not verify with it, plain ``approve`` allowances do.
    """
    path = _node_modules() / "@uniswap" / "v4-periphery" / "lib" / "permit2" / "test" / "utils" / "DeployPermit2.sol"
    if not path.is_file():
        raise SetupError(f"{path} missing; run ./scripts/setup (npm ci installs @uniswap/v4-periphery)")
    text = path.read_text()
    marker = 'hex"'
    start = text.find(marker)
    if start < 0:
        raise SetupError(f"no hex literal in {path}")
    start += len(marker)
    end = text.index('"', start)
    code = text[start:end]
    if not code or any(c not in "0123456789abcdefABCDEF" for c in code):
        raise SetupError(f"the hex literal in {path} is not bytecode")
    return "0x" + code
