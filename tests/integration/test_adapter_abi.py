"""The adapters' hand-written signatures are the contracts' own: every selector and ABI type the keeper
encodes (keeper/venues) appears with the same inputs in the ABI of the artifact it is sent to (our
forge build, Uniswap's npm package). A renamed or re-typed function fails here, not on chain."""

from __future__ import annotations

from typing import Any

import pytest

from keeper.build.artifacts import forge_artifact, npm_artifact
from keeper.chain.multicall import Call
from keeper.venues import chainlink, erc20, hedge_module, perps, safe, uniswap_v3


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


A, B = "0x" + "11" * 20, "0x" + "22" * 20


@pytest.mark.parametrize(("call", "artifact"), [
    (safe.version_call(A), "Safe"), (safe.owners_call(A), "Safe"), (safe.threshold_call(A), "Safe"),
    (safe.nonce_call(A), "Safe"), (safe.is_module_enabled_call(A, B), "Safe"),
    (safe.modules_page_call(A, B, 50), "Safe"),
    (uniswap_v3.token0_call(A), "UniswapV3Pool"), (uniswap_v3.token1_call(A), "UniswapV3Pool"),
    (uniswap_v3.fee_call(A), "UniswapV3Pool"), (uniswap_v3.slot0_call(A), "UniswapV3Pool"),
    (uniswap_v3.observations_call(A, 0), "UniswapV3Pool"), (uniswap_v3.observe_call(A, 60), "UniswapV3Pool"),
    (uniswap_v3.get_pool_call(A, A, B, 500), "UniswapV3Factory"),
    (uniswap_v3.quote_exact_input_single_call(A, A, B, 1, 500), "QuoterV2"),
    (erc20.allowance_call(A, A, B), "WETH9"), (erc20.decimals_call(A), "WETH9"), (erc20.symbol_call(A), "WETH9"),
])
def test_npm_contracts_have_the_reads_the_adapters_make_with_those_outputs(call: Call, artifact: str) -> None:
    abi = npm_artifact(artifact).abi
    assert call.signature in _functions(abi)
    [fn] = [i for i in abi if i.get("type") == "function" and _canonical(i) == call.signature]
    assert tuple(_canonical({"name": "", "inputs": [o]})[1:-1] for o in fn["outputs"]) == call.returns


@pytest.mark.parametrize(("call", "artifact"), [
    (hedge_module.params_call(A), "HedgeModule"), (hedge_module.params_hash_call(A), "HedgeModule"),
    (hedge_module.paused_call(A), "HedgeModule"), (hedge_module.keeper_call(A), "HedgeModule"),
    (hedge_module.module_safe_call(A), "HedgeModule"),
    (perps.quote_token_call(A), "PerpMarket"), (perps.position_call(A, B), "PerpMarket"),
    (perps.oracle_price_call(A), "PerpMarket"),
    (chainlink.latest_round_call(A, "ETH"), "PriceFeed"), (chainlink.decimals_call(A, "ETH"), "PriceFeed"),
    (chainlink.description_call(A, "ETH"), "PriceFeed"),
])
def test_our_contracts_have_the_reads_the_adapters_make_with_those_outputs(call: Call, artifact: str) -> None:
    abi = forge_artifact(artifact).abi
    [fn] = [i for i in abi if i.get("type") == "function" and _canonical(i) == call.signature]
    assert tuple(_canonical({"name": "", "inputs": [o]})[1:-1] for o in fn["outputs"]) == call.returns


def test_uniswap_router_and_pool_signatures_are_the_npm_packages() -> None:
    assert uniswap_v3.EXACT_INPUT_SINGLE in _functions(npm_artifact("SwapRouter").abi)
    [slot0] = [i for i in npm_artifact("UniswapV3Pool").abi if i.get("name") == "slot0"]
    assert tuple(o["type"] for o in slot0["outputs"]) == uniswap_v3.SLOT0_TYPES
