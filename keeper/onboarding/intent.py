"""What the HedgeModule's parameters should be, derived from the config: the owners' intent.

The module's caps sit above the keeper's own by ``cap_multiplier`` (default 1.25), so a keeper
trade within its policy never hits the on-chain cap while a stolen key is still bounded:

- per-trade cap = max over the assets' effective policies of ``max_trade_usd`` x multiplier (whole USD, rounded up);
- per-window cap = max ``window_cap_usd`` x multiplier; window = the longest ``window_s``;
- slippage bound = max ``max_slippage_bps`` x multiplier, rounded up, at most 1000 bps;
- pools: each hedge pool's ``token0()``, ``token1()``, ``fee()`` read on chain (the module looks the pool up in
  ``uniswap.factory`` and allows that pool only); router: ``uniswap.router``;
- tokens: every asset's token with its feed, and the quote token with its USD feed, each with
  ``oracles.max_feed_age_s`` (the quote feed's own age, default 86,400 s: a stablecoin feed's heartbeat);
- perp markets: the asset's feed and ``perp_max_abs_units`` (required: a market without a limit cannot be traded);
- loss budgets at the oracle: ``safety.loss_budget_window_usd`` (absent: per-window cap x slippage bound) and
  ``safety.loss_budget_total_usd`` (absent: 5 x the window budget); perp minimum margin ``safety.perp_min_margin_bps``;
- TWAP window: ``oracles.module_twap_window_s`` (absent: ``oracles.twap_window_s``, at most 86,400 s);
  sequencer-uptime feed ``oracles.sequencer_uptime_feed`` with ``oracles.sequencer_grace_s``.

:func:`expected_onchain` turns the intent into what ``HedgeModule.params()`` must return, so
``paramsHash()`` can be compared with :meth:`~keeper.onboarding.reads.OnchainParams.params_hash`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from decimal import ROUND_CEILING, Decimal

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from keeper.chain.rpc import RpcClient
from keeper.config import KeeperConfig
from keeper.errors import InputError
from keeper.onboarding.reads import view
from keeper.venues import erc20, uniswap_v3
from keeper.venues.hedge_module import (
    MAX_FEED_AGE_S,
    PARAMS_VERSION_TEXT,
    USD_WAD,
    ZERO_ADDRESS,
    ModuleParams,
    OnchainParams,
    PerpLimit,
    PoolAllow,
    TokenFeed,
)

__all__ = [
    "DEFAULT_CAP_MULTIPLIER",
    "MAX_FEED_AGE_S",
    "QUOTE_FEED_MAX_AGE_S",
    "expected_onchain",
    "intended_params",
    "keeper_address",
    "param_differences",
]

DEFAULT_CAP_MULTIPLIER = Decimal("1.25")
QUOTE_FEED_MAX_AGE_S = 86_400
PARAMS_VERSION = keccak(text=PARAMS_VERSION_TEXT)
DEFAULT_TOTAL_BUDGET_WINDOWS = 5
"""Absent ``safety.loss_budget_total_usd``: this many windows' loss budget."""


def keeper_address(cfg: KeeperConfig, env: Mapping[str, str]) -> str:
    """The keeper's address, derived from the config's signer key (a keystore is decrypted).

    Never read from a keystore's ``address`` field: the keystore's MAC does not cover it, so an
    edited field would make the owners' batch name another address as the keeper. Without the key
    or its password, owner batches need the keeper's address as an explicit ``--keeper``.
    """
    from keeper.cycle.sources import signer_source
    from keeper.execute.signer import load_signer

    return load_signer(signer_source(cfg), env=env).address


def _usd(x: float, mult: Decimal) -> Decimal:
    return (Decimal(repr(x)) * mult).quantize(Decimal(1), rounding=ROUND_CEILING)


def intended_params(cfg: KeeperConfig, rpc: RpcClient, *, keeper: str, guardian: str, quote_feed: str,
                    quote_feed_max_age_s: int = QUOTE_FEED_MAX_AGE_S,
                    cap_multiplier: Decimal = DEFAULT_CAP_MULTIPLIER) -> ModuleParams:
    """The module parameters the config asks for (fee tiers read from each hedge pool on chain)."""
    if not Decimal(1) <= cap_multiplier <= Decimal(100):
        raise InputError("cap_multiplier", f"must be in 1..100 (on-chain caps at or above the keeper's), "
                                           f"got {cap_multiplier}")
    age = cfg.oracles.max_feed_age_s
    for name, value in (("oracles.max_feed_age_s", age), ("quote_feed_max_age_s", quote_feed_max_age_s)):
        if not 0 < value <= MAX_FEED_AGE_S:
            raise InputError(name, f"the module accepts 1..{MAX_FEED_AGE_S} s, got {value}")
    policies = [cfg.effective_policy(s) for s in cfg.symbols] or [cfg.effective_policy()]
    per_trade = max(_usd(p.max_trade_usd, cap_multiplier) for p in policies)
    per_window = max(_usd(p.window_cap_usd, cap_multiplier) for p in policies)
    per_trade = min(per_trade, per_window)
    window_s = math.ceil(max(p.window_s for p in policies))
    slippage = min(1000, math.ceil(Decimal(repr(max(p.max_slippage_bps for p in policies))) * cap_multiplier))
    pools: dict[tuple[str, str, int], PoolAllow] = {}
    for a in cfg.assets:
        for pool in a.hedge_pools:
            (fee,) = view(rpc, uniswap_v3.fee_call(pool))
            (t0,) = view(rpc, uniswap_v3.token0_call(pool))
            (t1,) = view(rpc, uniswap_v3.token1_call(pool))
            allow = PoolAllow(str(to_checksum_address(t0)), str(to_checksum_address(t1)), int(fee))
            pools[(allow.token_a, allow.token_b, allow.fee)] = allow
    tokens = [TokenFeed(a.token, a.feed, age) for a in cfg.assets]
    tokens.append(TokenFeed(cfg.quote.token, str(to_checksum_address(quote_feed)), quote_feed_max_age_s))
    for a in cfg.assets:
        if a.perp_market is not None and not a.perp_max_abs_units:
            raise InputError(f"assets.{a.symbol}.perp_max_abs_units",
                             "required with perp_market: the module trades no perp market without a position limit")
    perps = tuple(
        PerpLimit(a.perp_market, a.feed, age, Decimal(repr(a.perp_max_abs_units or 0)))
        for a in cfg.assets if a.perp_market is not None
    )
    safety, oracles = cfg.safety, cfg.oracles
    window_budget = (Decimal(repr(safety.loss_budget_window_usd)) if safety.loss_budget_window_usd is not None
                     else (per_window * slippage / Decimal(10_000)).quantize(Decimal(1), rounding=ROUND_CEILING))
    total_budget = (Decimal(repr(safety.loss_budget_total_usd)) if safety.loss_budget_total_usd is not None
                    else window_budget * DEFAULT_TOTAL_BUDGET_WINDOWS)
    if window_budget > total_budget:
        raise InputError("safety.loss_budget_window_usd", f"{window_budget} USD is above the total budget "
                                                          f"{total_budget} USD")
    twap = oracles.module_twap_window_s if oracles.module_twap_window_s is not None else oracles.twap_window_s
    if twap != 0 and not 60 <= twap <= 86_400:
        raise InputError("oracles.module_twap_window_s", f"the module accepts 0 or 60..86400 s, got {twap} "
                                                         "(set it when oracles.twap_window_s is outside that range)")
    return ModuleParams(
        keeper=str(to_checksum_address(keeper)), guardian=str(to_checksum_address(guardian)),
        router=cfg.uniswap.router, factory=cfg.uniswap.factory, pools=tuple(pools[k] for k in sorted(pools)),
        tokens=tuple(tokens), perps=perps,
        max_notional_per_trade_usd=per_trade, max_notional_per_window_usd=per_window, window_s=window_s,
        max_slippage_bps=slippage, loss_budget_window_usd=window_budget, loss_budget_total_usd=total_budget,
        twap_s=twap, perp_min_margin_bps=safety.perp_min_margin_bps,
        sequencer_feed=oracles.sequencer_uptime_feed or ZERO_ADDRESS, sequencer_grace_s=oracles.sequencer_grace_s,
    )


def expected_onchain(p: ModuleParams, rpc: RpcClient, *, chain_id: int, module: str, safe: str) -> OnchainParams:
    """What ``params()`` of ``module`` returns once ``p`` is applied (token decimals and pools read on chain)."""
    pools = []
    for pa in p.pools:
        t0, t1 = sorted((str(to_checksum_address(pa.token_a)), str(to_checksum_address(pa.token_b))),
                        key=lambda a: int(a, 16))
        (addr,) = view(rpc, uniswap_v3.get_pool_call(p.factory, t0, t1, pa.fee))
        pools.append((str(to_checksum_address(addr)), t0, t1, pa.fee))
    pools.sort(key=lambda x: int(x[0], 16))
    tokens = []
    for t in sorted(p.tokens, key=lambda t: int(t.token, 16)):
        (dec,) = view(rpc, erc20.decimals_call(t.token))
        tokens.append((str(to_checksum_address(t.token)), str(to_checksum_address(t.feed)), t.max_feed_age_s,
                       int(dec)))
    markets = tuple(
        (str(to_checksum_address(m.market)), str(to_checksum_address(m.feed)), m.max_feed_age_s,
         int(m.max_abs_size * 10**18))
        for m in sorted(p.perps, key=lambda m: int(m.market, 16))
    )
    return OnchainParams(
        version=PARAMS_VERSION, chain_id=chain_id, module=str(to_checksum_address(module)),
        safe=str(to_checksum_address(safe)), keeper=p.keeper, guardian=p.guardian,
        router=str(to_checksum_address(p.router)),
        max_per_trade_wad=int(p.max_notional_per_trade_usd * USD_WAD),
        max_per_window_wad=int(p.max_notional_per_window_usd * USD_WAD), window_s=p.window_s,
        max_slippage_bps=p.max_slippage_bps, pools=tuple(pools), tokens=tuple(tokens), markets=markets,
        factory=str(to_checksum_address(p.factory)),
        loss_budget_window_wad=int(p.loss_budget_window_usd * USD_WAD),
        loss_budget_total_wad=int(p.loss_budget_total_usd * USD_WAD), twap_s=p.twap_s,
        perp_min_margin_bps=p.perp_min_margin_bps, sequencer_feed=str(to_checksum_address(p.sequencer_feed)),
        sequencer_grace_s=p.sequencer_grace_s,
    )


def param_differences(want: OnchainParams, got: OnchainParams) -> list[str]:
    """One line per parameter that differs (``field: on chain X, config wants Y``); empty if equal. Values
    in contract units as a person reads them: lists as ``[a, b]`` of ``(x / y / z)`` entries, bytes as hex,
    integers with thousands separators; the units are in the field's name (``_wad``, ``_s``, ``_bps``)."""
    out = []
    for name in OnchainParams.__dataclass_fields__:
        a, b = getattr(got, name), getattr(want, name)
        if a != b:
            out.append(f"{name}: on chain {_shown(a)}, config wants {_shown(b)}")
    return out


def _shown(v: object) -> str:
    if isinstance(v, bytes):
        return "0x" + v.hex()
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, int):
        return f"{v:,}"
    if isinstance(v, (tuple, list)):
        inner = [("(" + " / ".join(_shown(x) for x in e) + ")") if isinstance(e, (tuple, list)) else _shown(e)
                 for e in v]
        return "[" + ", ".join(inner) + "]" if inner else "none"
    return str(v)
