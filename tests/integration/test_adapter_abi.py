"""The adapters' hand-written signatures are the contracts' own: every selector and ABI type the keeper
encodes (keeper/venues) appears with the same inputs in the ABI of the artifact it is sent to (our
forge build, Uniswap's npm package). A renamed or re-typed function fails here, not on chain."""

from __future__ import annotations

from typing import Any

import pytest

from keeper.build.artifacts import forge_artifact, npm_artifact
from keeper.venues import hedge_module, perps, uniswap_v3


def _canonical(item: dict[str, Any]) -> str:
    def typ(p: dict[str, Any]) -> str:
        t = str(p["type"])
        if t.startswith("tuple"):
            return "(" + ",".join(typ(c) for c in p["components"]) + ")" + t[len("tuple"):]
        return t
    return f"{item['name']}({','.join(typ(p) for p in item['inputs'])})"


def _functions(abi: list[dict[str, Any]]) -> set[str]:
    return {_canonical(i) for i in abi if i.get("type") == "function"}


@pytest.mark.parametrize(("signature", "artifact"), [
    (hedge_module.HEDGE_SWAP, "HedgeModule"),
    (hedge_module.HEDGE_PERP, "HedgeModule"),
    ("pause()", "HedgeModule"),
    ("params()", "HedgeModule"),
    ("setLimits(uint256,uint256,uint256,uint256)", "HedgeModule"),
    ("setLossBudgets(uint256,uint256)", "HedgeModule"),
    ("setPerpPositionLimit(address,uint256)", "HedgeModule"),
    (perps.MODIFY_POSITION, "PerpMarket"),
])
def test_our_contracts_have_the_functions_the_adapters_encode(signature: str, artifact: str) -> None:
    assert signature in _functions(forge_artifact(artifact).abi)


def test_the_params_type_is_the_output_of_params() -> None:
    [fn] = [i for i in forge_artifact("HedgeModule").abi if i.get("type") == "function" and i["name"] == "params"]
    out = _canonical({"name": "", "inputs": fn["outputs"]})
    assert out == f"({hedge_module.PARAMS_TYPE})"


def test_uniswap_router_and_pool_signatures_are_the_npm_packages() -> None:
    assert uniswap_v3.EXACT_INPUT_SINGLE in _functions(npm_artifact("SwapRouter").abi)
    [slot0] = [i for i in npm_artifact("UniswapV3Pool").abi if i.get("name") == "slot0"]
    assert tuple(o["type"] for o in slot0["outputs"]) == uniswap_v3.SLOT0_TYPES
