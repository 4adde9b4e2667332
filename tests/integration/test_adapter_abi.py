"""The adapters' hand-written signatures are the contracts' own: every selector and ABI type the keeper
encodes (keeper/venues) appears with the same inputs in the ABI of the artifact it is sent to (our
forge build, Uniswap's npm package). A renamed or re-typed function fails here, not on chain."""

from __future__ import annotations

import json
from typing import Any

import pytest

from keeper.build.artifacts import forge_artifact, npm_artifact
from keeper.build.paths import repo_root
from keeper.chain.multicall import Call
from keeper.core.snapshot import V4PoolKey
from keeper.venues import (
    aave_v3,
    chainlink,
    erc20,
    hedge_module,
    hedge_venue_module,
    perps,
    safe,
    uniswap_v3,
    uniswap_v4,
)


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
PID = "0x" + "ab" * 32
KEY = V4PoolKey(uniswap_v4.NATIVE, B, 500, 10, uniswap_v4.NATIVE)


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
    (uniswap_v4.pool_and_position_info_call(A, 1), "PositionManager"),
    (uniswap_v4.owner_of_call(A, 1), "PositionManager"), (uniswap_v4.next_token_id_call(A), "PositionManager"),
    (uniswap_v4.slot0_call(A, PID), "StateView"), (uniswap_v4.liquidity_call(A, PID), "StateView"),
    (uniswap_v4.fee_growth_globals_call(A, PID), "StateView"), (uniswap_v4.tick_info_call(A, PID, -60), "StateView"),
    (uniswap_v4.position_info_call(A, PID, B, -60, 60, 7), "StateView"),
    (uniswap_v4.quote_exact_input_single_call(A, KEY, True, 10**18), "V4Quoter"),
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


# ------------------------------------------------------------------ the venue module (Uniswap v4, Aave v3)
ZERO = "0x" + "00" * 20


@pytest.mark.parametrize("signature", [
    hedge_venue_module.HEDGE_V4_SWAP, hedge_venue_module.HEDGE_BORROW_SELL, hedge_venue_module.HEDGE_BUY_REPAY,
    hedge_venue_module.AAVE_SUPPLY, hedge_venue_module.AAVE_WITHDRAW, hedge_venue_module.AAVE_BORROW,
    hedge_venue_module.AAVE_REPAY, "setUniversalRouter(address,address)", "setHooksAllowed(address,bool)",
    f"setPoolKeyAllowed({hedge_venue_module.POOL_KEY_TYPE},bool)", "setAavePool(address)",
    "setReserveAllowed(address,bool)", "setMinHealthFactor(uint256)",
])
def test_the_venue_module_has_the_functions_its_adapter_encodes(signature: str) -> None:
    assert signature in _functions(forge_artifact("HedgeVenueModule").abi)


@pytest.mark.parametrize("call", [
    hedge_venue_module.params_call(A), hedge_venue_module.params_hash_call(A),
    hedge_venue_module.quote_v4_swap_call(A, hedge_venue_module.PoolKey(ZERO, B, 500, 10), True, 1),
])
def test_the_venue_module_has_the_reads_its_adapter_makes(call: Call) -> None:
    abi = forge_artifact("HedgeVenueModule").abi
    [fn] = [i for i in abi if i.get("type") == "function" and _canonical(i) == call.signature]
    assert tuple(_canonical({"name": "", "inputs": [o]})[1:-1] for o in fn["outputs"]) == call.returns


def test_the_hedge_module_books_venue_trades() -> None:
    assert "bookVenueTrade(uint256,uint256)" in _functions(forge_artifact("HedgeModule").abi)


_NPM = repo_root() / "node_modules"


def _npm_abi(rel: str) -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads((_NPM / rel).read_text())
    return list(data["abi"])


def _outputs(abi: list[dict[str, Any]], name: str) -> str:
    [fn] = [i for i in abi if i.get("type") == "function" and i["name"] == name]
    return _canonical({"name": "", "inputs": fn["outputs"]})


@pytest.mark.parametrize(("interface", "npm"), [
    ("IAavePool", "@aave/core-v3/artifacts/contracts/protocol/pool/Pool.sol/Pool.json"),
    ("IUniversalRouter",
     "@uniswap/universal-router/artifacts/contracts/UniversalRouter.sol/UniversalRouter.json"),
    ("IPermit2", "@uniswap/v4-periphery/foundry-out/IAllowanceTransfer.sol/IAllowanceTransfer.default.json"),
    ("IWETH", "canonical-weth/build/contracts/WETH9.json"),
])
def test_the_venue_modules_interfaces_are_the_npm_contracts(interface: str, npm: str) -> None:
    """Every function our Solidity interface declares exists in the real contract's ABI with the same inputs and
    outputs (Aave core-v3 1.19.3's Pool, UniversalRouter 2.1.0, Permit2, WETH9)."""
    source = "IAavePool" if interface == "IAavePool" else "IUniswapV4"
    ours = [i for i in forge_artifact(interface, source).abi if i.get("type") == "function"]
    theirs = _npm_abi(npm)
    assert ours
    for fn in ours:
        assert _canonical(fn) in _functions(theirs), f"{interface}.{_canonical(fn)}"
        assert _outputs(ours, fn["name"]) == _outputs(
            [i for i in theirs if i.get("type") == "function" and _canonical(i) == _canonical(fn)], fn["name"])


def test_the_v4_pool_key_is_the_pool_managers() -> None:
    abi = _npm_abi("@uniswap/v4-periphery/foundry-out/PoolManager.sol/PoolManager.default.json")
    [init] = [i for i in abi if i.get("type") == "function" and i["name"] == "initialize"]
    assert _canonical(init) == f"initialize({hedge_venue_module.POOL_KEY_TYPE},uint160)"


def test_v4_position_manager_takes_the_calldata_the_adapter_encodes() -> None:
    """``modifyLiquidities`` as the adapter spells it, and the PositionInfo layout of the v4-periphery source."""
    assert uniswap_v4.MODIFY_LIQUIDITIES in _functions(npm_artifact("PositionManager").abi)
    assert "approve(address,address,uint160,uint48)" in _functions(npm_artifact("IAllowanceTransfer").abi)
    assert "swap((address,address,uint24,int24,address),(bool,int256,uint160),(bool,bool),bytes)" in _functions(
        npm_artifact("PoolSwapTest").abi)
    assert "initialize((address,address,uint24,int24,address),uint160)" in _functions(npm_artifact("PoolManager").abi)


def test_v4_action_codes_and_hook_flags_are_the_packages_own() -> None:
    """Every action code and hook flag the adapter spells appears with that value in the npm sources."""
    import re

    from keeper.build.paths import repo_root
    from keeper.core.book import _V4_PAYOUT_HOOKS

    root = repo_root() / "node_modules" / "@uniswap"
    actions = (root / "v4-periphery" / "src" / "libraries" / "Actions.sol").read_text()
    for name, code in uniswap_v4.ACTIONS.items():
        m = re.search(rf"constant {name} = (0x[0-9a-fA-F]+);", actions)
        assert m is not None and int(m.group(1), 16) == code, name
    hooks = (root / "v4-core" / "src" / "libraries" / "Hooks.sol").read_text()
    for name, flag in uniswap_v4.HOOK_FLAGS.items():
        snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name).upper()
        m = re.search(rf"constant {snake}_FLAG = 1 << (\d+);", hooks)
        assert m is not None and 1 << int(m.group(1)) == flag, name
    for flag, text in _V4_PAYOUT_HOOKS:  # the book's reasons name the flag they test
        assert uniswap_v4.HOOK_FLAGS[text.split(":")[0]] == flag
    fee_lib = (root / "v4-core" / "src" / "libraries" / "LPFeeLibrary.sol").read_text()
    assert re.search(r"DYNAMIC_FEE_FLAG = 0x800000;", fee_lib)


def _flat_outputs(fn: dict[str, Any]) -> tuple[str, ...]:
    """Output types with one-level static structs flattened (ABI-identical encodings)."""
    out: list[str] = []
    for o in fn["outputs"]:
        if o["type"] == "tuple":
            for c in o["components"]:
                if c["type"] == "tuple":
                    out += [d["type"] for d in c["components"]]
                else:
                    out.append(c["type"])
        else:
            out.append(o["type"])
    return tuple(out)


@pytest.mark.parametrize(("call", "artifact"), [
    (aave_v3.addresses_provider_call(A), "Pool"), (aave_v3.reserves_list_call(A), "Pool"),
    (aave_v3.reserve_data_call(A, B), "Pool"), (aave_v3.normalized_income_call(A, B), "Pool"),
    (aave_v3.normalized_debt_call(A, B), "Pool"), (aave_v3.user_configuration_call(A, B), "Pool"),
    (aave_v3.user_emode_call(A, B), "Pool"), (aave_v3.user_account_data_call(A, B), "Pool"),
    (aave_v3.price_oracle_call(A), "PoolAddressesProvider"), (aave_v3.asset_price_call(A, B), "AaveOracle"),
    (aave_v3.scaled_balance_call(A, B), "AToken"), (aave_v3.scaled_balance_call(A, B), "VariableDebtToken"),
    (aave_v3.balance_of_call(A, B), "AToken"), (aave_v3.balance_of_call(A, B), "VariableDebtToken"),
    (aave_v3.balance_of_call(A, B), "StableDebtToken"),
])
def test_aave_contracts_have_the_reads_the_adapter_makes_with_those_outputs(call: Call, artifact: str) -> None:
    """Aave's struct outputs (ReserveData, the configuration maps) are static: the adapter decodes their
    fields in order, which is the same encoding."""
    abi = npm_artifact(artifact).abi
    [fn] = [i for i in abi if i.get("type") == "function" and _canonical(i) == call.signature]
    assert _flat_outputs(fn) == call.returns


def test_aave_write_signatures_used_by_the_world_are_the_npm_packages() -> None:
    pool = _functions(npm_artifact("Pool").abi)
    assert {"supply(address,uint256,address,uint16)", "borrow(address,uint256,uint256,uint16,address)",
            "setUserUseReserveAsCollateral(address,bool)"} <= pool
    cfg = _functions(npm_artifact("PoolConfigurator").abi)
    assert "configureReserveAsCollateral(address,uint256,uint256,uint256)" in cfg
    assert "setReserveBorrowing(address,bool)" in cfg
