"""``keeper doctor``'s checks of the Uniswap v4 and Aave v3 hedge venues.

``v4_venue``    code at ``uniswap_v4.universal_router`` (and ``quoter``); each hedge pool initialized
                (StateView ``getSlot0``) and quoted (a V4Quoter sell of its ``quote_size_units``); in eoa mode
                the two Permit2 approvals of every ERC-20 a swap pays with (ERC20 -> Permit2, Permit2 ->
                router, not expired); in safe-module mode a warn: not yet supported through the HedgeModule
``aave_venue``  each ``aave.assets`` token is a reserve of ``aave.pool`` with borrowing on; in eoa mode the
                signer's collateral and health factor against ``aave.min_health_factor`` (warn below it or
                without collateral) and its allowance to the Pool for repays; in safe-module mode a warn
"""

from __future__ import annotations

from typing import Any, Literal, Protocol

from keeper.chain.multicall import Call, Result
from keeper.config import KeeperConfig
from keeper.core.aave import decode_reserve_config
from keeper.core.snapshot import V4PoolKey
from keeper.venues import aave_v3, erc20, uniswap_v4, universal_router
from keeper.venues.hedge_module import MODULE_UNSUPPORTED

__all__ = ["Finding", "aave_venue", "v4_venue"]

Finding = tuple[str, Literal["pass", "warn", "fail"], str, str]
"""(check name, status, detail, fix): ``keeper.ops.doctor`` makes its ``Check`` of it."""

NATIVE = uniswap_v4.NATIVE


class _Ctx(Protocol):
    cfg: KeeperConfig
    block: int
    timestamp: int
    signer: str | None

    def calls(self, calls: list[Call]) -> list[Result]: ...


def _val(r: Result) -> tuple[Any, ...]:
    return r.value if r.ok else ()  # type: ignore[union-attr]


def _check(name: str, status: Literal["pass", "warn", "fail"], detail: str, fix: str = "") -> Finding:
    return (name, status, detail, fix)


def v4_venue(c: _Ctx, get_code: Any) -> Finding:  # noqa: C901, PLR0912
    cfg = c.cfg
    v4 = cfg.uniswap_v4
    if v4 is None or not v4.hedge_pools:
        return _check("v4_venue", "pass", "no Uniswap v4 hedge pool configured")
    if cfg.treasury.mode == "safe-module" and cfg.treasury.hedge_venue_module is not None:
        return _check("v4_venue", "pass", f"{len(v4.hedge_pools)} v4 hedge pool(s) configured, traded through the "
                      f"HedgeVenueModule {cfg.treasury.hedge_venue_module} (its pool keys: see the venue_module check)")
    if cfg.treasury.mode == "safe-module":
        return _check("v4_venue", "warn", f"{len(v4.hedge_pools)} v4 hedge pool(s) configured, {MODULE_UNSUPPORTED}:"
                      " they are listed in plans and never chosen",
                      "configure treasury.hedge_venue_module, or run in eoa mode")
    assert v4.universal_router is not None  # the config requires it with hedge_pools
    for name, addr in (("universal_router", v4.universal_router), ("quoter", v4.quoter)):
        if addr is not None and str(get_code(addr)) in ("0x", ""):
            return _check("v4_venue", "fail", f"no contract at uniswap_v4.{name} {addr}",
                          f"set uniswap_v4.{name} to the chain's Uniswap v4 {name}")
    problems: list[str] = []
    for p in v4.hedge_pools:
        key = V4PoolKey(p.currency0, p.currency1, p.fee, p.tick_spacing, p.hooks)
        pid = uniswap_v4.pool_id(key)
        calls = [uniswap_v4.slot0_call(v4.state_view, pid)]
        quote_is_1 = p.currency1.lower() == cfg.quote.token.lower()
        if v4.quoter is not None:
            amount = int(p.quote_size_units * 10**18) if (p.currency0 if quote_is_1 else p.currency1) == NATIVE \
                else 0
            if amount > 0:
                calls.append(uniswap_v4.quote_exact_input_single_call(v4.quoter, key, quote_is_1, amount))
        res = c.calls(calls)
        if not res[0].ok or int(_val(res[0])[0]) == 0:
            problems.append(f"{p.asset} pool {pid[:10]}... is not initialized (slot0 price 0)")
        elif len(res) > 1 and (not res[1].ok or int(_val(res[1])[0]) == 0):
            problems.append(f"{p.asset} pool {pid[:10]}... does not quote a sell of {p.quote_size_units:g} units")
    if problems:
        return _check("v4_venue", "fail", "; ".join(problems), "check the pool keys in uniswap_v4.hedge_pools")
    if c.signer is None:
        return _check("v4_venue", "fail", "allowances not checked: needs the signer", "fix the signer first")
    router, permit2 = v4.universal_router, v4.permit2
    tokens = sorted({t for p in v4.hedge_pools for t in (p.currency0, p.currency1) if t != NATIVE})
    res = c.calls([erc20.allowance_call(t, c.signer, permit2) for t in tokens]
                  + [universal_router.permit2_allowance_call(c.signer, t, router, permit2) for t in tokens])
    missing = []
    for i, t in enumerate(tokens):
        to_permit2, via = res[i], res[len(tokens) + i]
        if not to_permit2.ok or int(_val(to_permit2)[0]) == 0:
            missing.append(f"{t}: ERC20.approve(Permit2) missing")
        elif not via.ok or int(_val(via)[0]) == 0 or int(_val(via)[1]) <= c.timestamp:
            missing.append(f"{t}: Permit2.approve(token, router) missing or expired")
    if missing:
        return _check("v4_venue", "fail", "the signer cannot pay v4 swaps: " + "; ".join(missing),
                      f"from the signer: token.approve({permit2}, amount), then Permit2.approve(token, {router},"
                      " amount, expiration)")
    return _check("v4_venue", "pass", f"{len(v4.hedge_pools)} v4 hedge pool(s) initialized and quoted; Permit2 "
                  f"allowances to the UniversalRouter for {len(tokens)} token(s)")


def aave_venue(c: _Ctx) -> Finding:  # noqa: C901
    cfg = c.cfg
    a = cfg.aave
    if a is None or a.pool is None:
        return _check("aave_venue", "pass", "no [aave] hedge venue configured (aave.pool not set)")
    pool = a.pool
    if cfg.treasury.mode == "safe-module" and cfg.treasury.hedge_venue_module is not None:
        return _check("aave_venue", "pass", f"Aave borrow-and-sell / buy-and-repay on {pool} traded through the "
                      f"HedgeVenueModule {cfg.treasury.hedge_venue_module} (its reserves and minimum health factor: "
                      "see the venue_module check)")
    if cfg.treasury.mode == "safe-module":
        return _check("aave_venue", "warn", f"Aave borrow-and-sell configured, {MODULE_UNSUPPORTED}: listed in plans "
                      "and never chosen", "configure treasury.hedge_venue_module, or run in eoa mode")
    tokens = {s.symbol: s.token for s in cfg.assets}
    wanted = [(s, tokens[s]) for s in a.assets if s in tokens]
    res = c.calls([aave_v3.reserve_data_call(pool, t) for _, t in wanted])
    bad = []
    for (s, t), r in zip(wanted, res, strict=True):
        if not r.ok:
            bad.append(f"{s} ({t}) is not a reserve of {pool}")
            continue
        rc = decode_reserve_config(int(_val(r)[0]))
        if not rc.active or rc.frozen or rc.paused or not rc.borrowing_enabled:
            bad.append(f"{s} cannot be borrowed (active {rc.active}, frozen {rc.frozen}, paused {rc.paused}, "
                       f"borrowing {rc.borrowing_enabled})")
    if bad:
        return _check("aave_venue", "fail", "; ".join(bad), "fix aave.pool / aave.assets")
    if c.signer is None:
        return _check("aave_venue", "fail", "account not checked: needs the signer", "fix the signer first")
    acct = c.calls([aave_v3.user_account_data_call(pool, c.signer)]
                   + [erc20.allowance_call(t, c.signer, pool) for _, t in wanted])
    if not acct[0].ok:
        return _check("aave_venue", "fail", f"getUserAccountData({c.signer}) failed on {pool}", "check aave.pool")
    coll, debt, _avail, _lt, _ltv, hf = (int(x) for x in _val(acct[0]))
    no_allow = [s for (s, _), r in zip(wanted, acct[1:], strict=True) if not r.ok or int(_val(r)[0]) == 0]
    hf_text = "no debt" if debt == 0 else f"health factor {hf / 1e18:.3f}"
    if coll == 0:
        return _check("aave_venue", "warn", f"the signer has no collateral in {pool}: borrow-and-sell is unavailable",
                      "supply collateral from the signer (Pool.supply)")
    if debt > 0 and hf < a.min_health_factor * 1e18:
        return _check("aave_venue", "warn", f"{hf_text} is below aave.min_health_factor {a.min_health_factor:g}: "
                      "no borrow until it recovers (buy-and-repay still allowed)", "repay debt or add collateral")
    if no_allow:
        return _check("aave_venue", "warn", f"{hf_text}; no allowance to the Pool for {', '.join(no_allow)}: "
                      "buy-and-repay will revert", f"approve {pool} for those tokens from the signer")
    return _check("aave_venue", "pass", f"{len(wanted)} borrowable reserve(s); collateral {coll / 1e8:,.2f} base units,"
                  f" {hf_text} (floor {a.min_health_factor:g})")
