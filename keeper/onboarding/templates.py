"""The sections ``keeper init`` writes: contracts per chain (the devnet manifest, mainnet's canonical
addresses) and sane defaults for the strategy, as in ``examples/devnet.toml`` and
``examples/mainnet.example.toml``.
"""

from __future__ import annotations

from typing import Any

from keeper.build.manifest import Manifest
from keeper.errors import InputError

__all__ = ["MAINNET_CHAIN_ID", "MODULE_PLACEHOLDER", "contract_sections", "default_sections", "new_safe_steps"]

MAINNET_CHAIN_ID = 1
MODULE_PLACEHOLDER = "0x000000000000000000000000000000000000dEaD"
"""Written as ``treasury.hedge_module`` until a module is deployed: it has no code, so ``keeper doctor`` flags it."""

SAFE_141 = {
    "singleton": "0x41675C099F32341bf84BFc5382aF534df5C7461a",
    "proxy_factory": "0x4e1DCf7AD4e460CfD30791CCC4F9c8a4f820ec67",
    "fallback_handler": "0xfd0732Dc9E303f09fCEf3a7388Ad10A83459Ec99",
    "multisend_call_only": "0x9641d764fc13c8B624c04430C7356C1C7C8102e2",
}
"""Safe 1.4.1's deterministic deployments (the same on every chain the Safe web interface serves)."""

_MAINNET: dict[str, Any] = {
    "uniswap": {
        "factory": "0x1F98431c8aD98523631AE4a59f267346ea31F984",
        "position_manager": "0xC36442b4a4522E871399CD717aBDD847Ab11FE88",
        "router": "0xE592427A0AEce92De3Edee1F18E0157C05861564",
        "quoter": "0x61fFE014bA17989E743c5F6cB21bF9697530B21e",
    },
    "quote": {"token": "0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48", "symbol": "USD"},
    "assets": [{
        "symbol": "ETH",
        "token": "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2",
        "feed": "0x5f4eC3Df9cbd43714FE2740f5E3616155c5b8419",
        "oracle_pool": "0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640",
        "hedge_pools": ["0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640", "0x8ad599c3A0ff1De082011EFDDc58f1908eb6e6D8"],
    }],
    "positions": {"option_markets": []},
}
MAINNET_QUOTE_FEED = "0x8fFfFfd4AfB6115b954Bd326cbe7B4BA576818f6"
"""Chainlink USDC/USD on mainnet (24 h heartbeat)."""


def contract_sections(chain_id: int, manifest: Manifest | None) -> dict[str, Any]:
    """``uniswap``, ``quote``, ``assets``, ``positions`` for ``chain_id`` (the devnet needs its manifest)."""
    if manifest is not None:
        m = manifest
        assets = []
        for sym, token, pools, perp_max in (("ETH", "WETH", ("WETH/USDC-500", "WETH/USDC-3000"), 500),
                                            ("BTC", "WBTC", ("WBTC/USDC-3000",), 25)):
            asset: dict[str, Any] = {
                "symbol": sym, "token": m.tokens[token].address, "feed": m.feeds[sym].address,
                "oracle_pool": m.pools[pools[0]].address, "hedge_pools": [m.pools[p].address for p in pools],
            }
            if sym in m.perp_markets:
                asset["perp_market"] = m.perp_markets[sym].address
                asset["perp_max_abs_units"] = perp_max
            assets.append(asset)
        return {
            "uniswap": m.uniswap.model_dump(),
            "quote": {"token": m.tokens["USDC"].address, "symbol": "USD"},
            "assets": assets,
            "positions": {"option_markets": list(m.option_markets),
                          **({"aave_pools": [m.aave.pool]} if m.aave is not None else {})},
        }
    if chain_id == MAINNET_CHAIN_ID:
        return {k: (list(v) if isinstance(v, list) else dict(v)) for k, v in _MAINNET.items()}
    raise InputError("chain_id", f"no canonical contract addresses known for chain id {chain_id}: write the "
                                 "[uniswap], [quote], [[assets]] sections yourself (see examples/mainnet.example.toml) "
                                 "and re-run keeper init to complete the rest")


def default_sections(devnet: bool) -> dict[str, Any]:
    """The strategy and operations sections, as in the examples (a devnet trades; elsewhere dry-run first)."""
    return {
        "oracles": {"twap_window_s": 1800, "max_feed_age_s": 3600, "max_deviation_bps": 100},
        "vol": {"model": "fixed", "fixed": {"ETH": 0.6, "BTC": 0.5} if devnet else {"ETH": 0.6},
                "horizon_s": 86400},
        "policy": {"default": {
            "target_delta_units": 0, "trigger": "ww", "risk_aversion_per_usd": 1e-4, "floor_units": 1,
            "ceiling_units": 50, "hedge_to": "edge", "min_trade_usd": 1000, "max_trade_usd": 250000,
            "window_cap_usd": 1000000, "window_s": 86400, "max_slippage_bps": 30, "max_impact_bps": 30,
        }},
        "execution": {"deadline_s": 300, "max_fee_gwei": 300, "max_priority_gwei": 3, "replace_after_s": 36,
                      "tx_timeout_s": 300},
        "schedule": {"interval_s": 5 if devnet else 300, "price_move_pct": 1.0, "block_poll_s": 1 if devnet else 12},
        "journal": {"path": "keeper.sqlite"},
        "metrics": {"port": 0 if devnet else 9464, "log_format": "text" if devnet else "json"},
        "safety": {"max_consecutive_failures": 5, "dry_run": not devnet},
    }


def new_safe_steps(chain_id: int, owner: str) -> str:
    """What to do by hand to create a Safe 1.4.1 owned by ``owner`` off the devnet."""
    return "\n".join([
        f"To create the treasury Safe on chain {chain_id} (the keeper never pays for or owns it):",
        "  1. Open the Safe web interface, connect the wallet "
        f"{owner}, and choose 'Create new Safe' on this network.",
        f"  2. Owners: {owner} (add more if you like); threshold: 1 (or more). The interface deploys Safe 1.4.1:",
        f"       SafeProxyFactory {SAFE_141['proxy_factory']}.createProxyWithNonce(",
        f"         singleton {SAFE_141['singleton']},",
        f"         setup([{owner}], 1, 0x0, 0x, fallbackHandler {SAFE_141['fallback_handler']}, 0x0, 0, 0x0), "
        "saltNonce)",
        "  3. Re-run: keeper init --safe <the new Safe's address> (with the same other flags).",
    ])
