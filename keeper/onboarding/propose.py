"""Owner actions as unsigned Safe Transaction Builder batches: enable, configure, approvals, disable.

The keeper never holds an owner key: each function here reads the chain and the config and
returns a :class:`Proposal`, the transactions the Safe's owners review and sign in the Safe web
interface (import the JSON of :meth:`Proposal.batch` into its Transaction Builder).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address

from keeper.chain.rpc import RpcClient
from keeper.config import KeeperConfig
from keeper.errors import ContractCallError, InputError
from keeper.onboarding.intent import param_differences
from keeper.onboarding.reads import (
    SENTINEL,
    ZERO,
    code_size,
    module_onchain_params,
    modules_of,
    read_safe,
    view,
)
from keeper.onboarding.txbuilder import BatchTx, EmptyBatchError, batch_file, contract_call
from keeper.onboarding.verify import VerificationError, verify_module_code
from keeper.venues import erc20
from keeper.venues.hedge_module import USD_WAD, ModuleParams, OnchainParams, module_safe_call
from keeper.venues.perps import quote_token_call

__all__ = [
    "ACTIONS",
    "Proposal",
    "check_safe",
    "default_out",
    "propose_approvals",
    "propose_disable",
    "propose_enable",
    "propose_set_params",
    "render",
    "set_params_txs",
]

ACTIONS = ("enable-module", "set-params", "approvals", "disable-module")
SAFE_VERSION = "1.4.1"


@dataclass(frozen=True)
class Proposal:
    action: str
    chain_id: int
    safe: str
    txs: tuple[BatchTx, ...]
    notes: tuple[str, ...] = ()
    name: str = ""
    description: str = ""

    def batch(self, created_at_ms: int | None = None) -> dict[str, Any]:
        """The Transaction Builder JSON (a dict); raises EmptyBatchError, naming why, when there is nothing to sign."""
        if not self.txs:
            why = " ".join(self.notes) or "no transaction is needed."
            raise EmptyBatchError(self.action, f"nothing for the owners to sign, so no batch is written: {why}")
        desc = self.description
        if self.notes:
            desc = (desc + " " if desc else "") + " ".join(self.notes)
        return batch_file(self.chain_id, self.safe, self.txs, name=self.name or f"keeper: {self.action}",
                          description=desc, created_at_ms=created_at_ms)


def default_out(action: str, chain_id: int, safe: str, config: Path) -> Path:
    """``proposals/<action>-<chainid>-<safe-short>.json`` in the folder of the ``config`` file, wherever the
    command runs from (safe-short: the first 6 and last 4 characters of the Safe's address)."""
    return config.resolve().parent / "proposals" / f"{action}-{chain_id}-{safe[:6].lower()}{safe[-4:].lower()}.json"


def _short(a: str) -> str:
    return f"{a[:6]}...{a[-4:]}"


def check_safe(rpc: RpcClient, safe: str) -> None:
    """Raise unless ``safe`` is a Safe 1.4.1."""
    state = read_safe(rpc, safe)
    if state.version != SAFE_VERSION:
        raise InputError("treasury.safe", f"{safe} is a Safe {state.version}; the keeper supports {SAFE_VERSION}")


def _module_safe(rpc: RpcClient, module: str) -> str:
    if code_size(rpc, module) == 0:
        raise InputError("treasury.hedge_module", f"no contract at {module}: deploy the HedgeModule first "
                                                  "(on the devnet: keeper propose enable-module --deploy)")
    (safe,) = view(rpc, module_safe_call(module))
    return str(to_checksum_address(safe))


# ---------------------------------------------------------------------------- enable / disable

def propose_enable(cfg: KeeperConfig, rpc: RpcClient, module: str,
                   params: ModuleParams | None = None, *, unknown_chain_ok: bool = False) -> Proposal:
    """``enableModule(module)`` on the Safe (and, with ``params``, the set-params transactions after it).

    The module's runtime code must be our HedgeModule build (:func:`~keeper.onboarding.verify.verify_module_code`);
    with ``params``, everything :func:`propose_set_params` verifies is verified too.
    """
    safe = _safe(cfg)
    check_safe(rpc, safe)
    if _module_safe(rpc, module) != safe:
        raise InputError("module", f"{module} is a HedgeModule of another Safe ({_module_safe(rpc, module)})")
    notes: list[str] = _verified(cfg, rpc, module, params, unknown_chain_ok=unknown_chain_ok)
    txs: list[BatchTx] = []
    if module in modules_of(rpc, safe):
        notes.append(f"The module {module} is already enabled on the Safe; nothing to enable.")
    else:
        txs.append(contract_call(safe, "enableModule", [("address", "module")], [module],
                                 f"enable HedgeModule {module} on the Safe (it may then trade within its caps)"))
    if params is not None:
        more, extra = set_params_txs(cfg, rpc, module, params)
        txs += more
        notes += extra
    return Proposal("enable-module", cfg.chain.chain_id, safe, tuple(txs), tuple(notes),
                    description=f"Enable the keeper's HedgeModule {module} on Safe {safe}."
                                + (" " + allows(params) if params is not None else ""))


def propose_disable(cfg: KeeperConfig, rpc: RpcClient, module: str) -> Proposal:
    """``disableModule(prev, module)``, ``prev`` found in the Safe's module list via ``getModulesPaginated``."""
    safe = _safe(cfg)
    check_safe(rpc, safe)
    mods = modules_of(rpc, safe)
    if module not in mods:
        return Proposal("disable-module", cfg.chain.chain_id, safe, (),
                        (f"The module {module} is not enabled on the Safe; nothing to disable.",),
                        description="Disable the keeper's HedgeModule.")
    i = mods.index(module)
    prev = SENTINEL if i == 0 else mods[i - 1]
    tx = contract_call(safe, "disableModule", [("address", "prevModule"), ("address", "module")], [prev, module],
                       f"disable HedgeModule {module} (its predecessor in the Safe's module list: "
                       f"{'the sentinel 0x...0001' if prev == SENTINEL else prev})")
    return Proposal("disable-module", cfg.chain.chain_id, safe, (tx,),
                    ("After this the keeper can no longer trade for the Safe.",),
                    description=f"Disable the keeper's HedgeModule {module} on Safe {safe}.")


def _verified(cfg: KeeperConfig, rpc: RpcClient, module: str, p: ModuleParams | None, *,
              unknown_chain_ok: bool) -> list[str]:
    """Verify what the batch will name; the notes say what was verified (warnings first)."""
    from keeper.onboarding.verify import check_feeds, check_uniswap

    warnings = check_uniswap(cfg, unknown_chain_ok=unknown_chain_ok)
    code_hash = verify_module_code(rpc, module)
    notes = [*warnings, f"Verified: {module} runs the keeper's HedgeModule build (runtime code hash {code_hash}, "
                        "immutables masked)."]
    if not warnings:
        notes.append(f"Verified: Uniswap v3 router {cfg.uniswap.router}, factory {cfg.uniswap.factory} and position "
                     f"manager {cfg.uniswap.position_manager} are the canonical deployments of chain "
                     f"{cfg.chain.chain_id}.")
    if p is not None:
        extra = {f"quote token {t.token}": t.feed for t in p.tokens if t.token == cfg.quote.token}
        checks = check_feeds(cfg, rpc, extra)
        notes.append("Verified feeds: " + "; ".join(c.line() for c in checks) + ".")
    return notes


def _module_markets(cfg: KeeperConfig, rpc: RpcClient) -> set[str]:
    """The perp markets the configured module allows on chain (what the owners already approved)."""
    module = cfg.treasury.hedge_module
    if module is None or code_size(rpc, module) == 0:
        raise VerificationError("treasury.hedge_module: approvals are proposed only for perp markets the deployed "
                                "HedgeModule allows; the config names no deployed module")
    verify_module_code(rpc, module)
    return {str(to_checksum_address(m[0])) for m in module_onchain_params(rpc, module).markets}


def _safe(cfg: KeeperConfig) -> str:
    if cfg.treasury.safe is None:
        raise InputError("treasury.safe", "the config names no Safe (mode = \"safe-module\" needs one)")
    return cfg.treasury.safe


# ---------------------------------------------------------------------------- set-params

def _symbols(cfg: KeeperConfig, rpc: RpcClient) -> dict[str, str]:
    """Names the owners read in the batch: each token's own ``symbol()`` (read from the token, never
    the config's label), and ``<asset>-perp`` for a perp market."""
    from keeper.onboarding.verify import token_names

    tokens = [cfg.quote.token, *(a.token for a in cfg.assets)]
    out = {t: sym for t, (sym, _) in token_names(rpc, tokens).items()}
    out.update({a.perp_market: f"{a.symbol}-perp" for a in cfg.assets if a.perp_market is not None})
    return out


def _usd(usd: Decimal) -> str:
    return f"{usd.normalize():,f} USD"


# Long on purpose: one transaction per module parameter group, in the order the owners read them.
def set_params_txs(cfg: KeeperConfig, rpc: RpcClient, module: str,  # noqa: C901
                   p: ModuleParams) -> tuple[list[BatchTx], list[str]]:
    """The owners' calls that make ``module``'s parameters equal ``p``, and notes.

    Every parameter is set (so the batch is the whole intent, reviewable on its own); pools,
    tokens and perp markets the module allows today but ``p`` does not are disallowed.
    """
    current: OnchainParams | None = None
    if code_size(rpc, module) > 0:
        try:
            current = module_onchain_params(rpc, module)
        except ContractCallError:
            current = None
    names = _symbols(cfg, rpc)
    m = module
    txs = [
        contract_call(m, "setKeeper", [("address", "newKeeper")], [p.keeper],
                      f"keeper (the only address that may hedge) = {p.keeper}"),
        contract_call(m, "setGuardian", [("address", "newGuardian")], [p.guardian],
                      f"guardian (may only pause) = {'none' if p.guardian == ZERO else p.guardian}"),
        contract_call(m, "setRouter", [("address", "newRouter")], [p.router], f"Uniswap v3 SwapRouter = {p.router}"),
    ]
    txs.append(contract_call(m, "setFactory", [("address", "newFactory")], [p.factory],
                             f"Uniswap v3 factory (where allowed pools are looked up) = {p.factory}"))
    pool_args = [("address", "tokenA"), ("address", "tokenB"), ("uint24", "fee"), ("bool", "allowed")]
    for pool in p.pools:
        txs.append(contract_call(
            m, "setPoolAllowed", pool_args, [pool.token_a, pool.token_b, pool.fee, True],
            f"allow the Uniswap v3 pool {names.get(pool.token_a, '?')}/{names.get(pool.token_b, '?')} "
            f"{pool.fee / 10_000:g} % (fee {pool.fee}) of the factory; no other pool"))
    for t in p.tokens:
        txs.append(contract_call(
            m, "setTokenConfig", [("address", "token"), ("address", "feed"), ("uint256", "maxFeedAge"),
                                  ("bool", "allowed")], [t.token, t.feed, t.max_feed_age_s, True],
            f"allow token {names.get(t.token, '?')} {t.token}, USD feed {t.feed}, max feed age {t.max_feed_age_s:,} s"))
    for perp in p.perps:
        txs.append(contract_call(
            m, "setPerpMarket", [("address", "market"), ("address", "underlyingFeed"), ("uint256", "maxFeedAge"),
                                 ("bool", "allowed")], [perp.market, perp.feed, perp.max_feed_age_s, True],
            f"allow perp market {names.get(perp.market, '?')} {perp.market}, underlying USD feed {perp.feed}, "
            f"max feed age {perp.max_feed_age_s:,} s"))
        size = int(perp.max_abs_size * 10**18)
        txs.append(contract_call(
            m, "setPerpPositionLimit", [("address", "market"), ("uint256", "maxAbsSize")], [perp.market, size],
            f"max |position| on {names.get(perp.market, '?')}: "
            + (f"{perp.max_abs_size.normalize():,f} units ({size} x 1e-18)" if size
               else "0: the keeper cannot trade this market")))
    notes: list[str] = []
    if current is not None:
        want_pools = {(*sorted((x.token_a.lower(), x.token_b.lower())), x.fee) for x in p.pools}
        for pool_addr, t0, t1, fee in current.pools:
            if (t0.lower(), t1.lower(), fee) not in want_pools:
                txs.append(contract_call(
                    m, "setPoolAllowed", pool_args, [t0, t1, fee, False],
                    f"DISALLOW pool {pool_addr} ({names.get(t0, t0)}/{names.get(t1, t1)} fee {fee}): "
                    "not in the config"))
        want_tokens = {t.token for t in p.tokens}
        for token, *_ in current.tokens:
            if token not in want_tokens:
                txs.append(contract_call(
                    m, "setTokenConfig", [("address", "token"), ("address", "feed"), ("uint256", "maxFeedAge"),
                                          ("bool", "allowed")], [token, ZERO, 0, False],
                    f"DISALLOW token {token}: not in the config"))
        want_markets = {x.market for x in p.perps}
        for market, *_ in current.markets:
            if market not in want_markets:
                txs.append(contract_call(
                    m, "setPerpMarket", [("address", "market"), ("address", "underlyingFeed"),
                                         ("uint256", "maxFeedAge"), ("bool", "allowed")], [market, ZERO, 0, False],
                    f"DISALLOW perp market {market}: not in the config"))
    trade_wad = int(p.max_notional_per_trade_usd * USD_WAD)
    window_wad = int(p.max_notional_per_window_usd * USD_WAD)
    txs.append(contract_call(
        m, "setLimits", [("uint256", "perTradeUsd"), ("uint256", "perWindowUsd"), ("uint256", "windowSecs"),
                         ("uint256", "slippageBps")], [trade_wad, window_wad, p.window_s, p.max_slippage_bps],
        f"caps: per trade {_usd(p.max_notional_per_trade_usd)}, per window {_usd(p.max_notional_per_window_usd)} "
        f"(usd wad = USD x 1e18), window {p.window_s:,} s, max slippage vs oracle {p.max_slippage_bps} bps"))
    txs.append(contract_call(
        m, "setLossBudgets", [("uint256", "perWindowUsd"), ("uint256", "totalUsd")],
        [int(p.loss_budget_window_usd * USD_WAD), int(p.loss_budget_total_usd * USD_WAD)],
        f"loss budgets at the oracle: {_usd(p.loss_budget_window_usd)} per window, {_usd(p.loss_budget_total_usd)} "
        "in total until the owners reset it (the module pauses itself when it is spent)"))
    txs.append(contract_call(
        m, "setPerpMinMarginBps", [("uint256", "bps")], [p.perp_min_margin_bps],
        f"perp margin after a trade that grows a position >= {p.perp_min_margin_bps} bps of its notional "
        f"(at most {10_000 / p.perp_min_margin_bps:g}x leverage)"))
    txs.append(contract_call(
        m, "setTwapWindow", [("uint256", "secs")], [p.twap_s],
        f"swap bound: the stricter of the feeds and the pool's {p.twap_s:,} s TWAP" if p.twap_s
        else "swap bound: the feeds only (no TWAP)"))
    txs.append(contract_call(
        m, "setSequencerFeed", [("address", "feed"), ("uint256", "graceSecs")], [p.sequencer_feed, p.sequencer_grace_s],
        "no L2 sequencer-uptime feed" if int(p.sequencer_feed, 16) == 0
        else f"L2 sequencer-uptime feed {p.sequencer_feed}, no trade until {p.sequencer_grace_s:,} s after it is up"))
    return txs, notes


def propose_set_params(cfg: KeeperConfig, rpc: RpcClient, module: str, p: ModuleParams,
                       want: OnchainParams | None = None, *, unknown_chain_ok: bool = False) -> Proposal:
    """Configure ``module`` to ``p``; with ``want`` (the expected ``params()``), say what changes.

    Verified first (:mod:`keeper.onboarding.verify`): the module's code, the Uniswap addresses
    against the chain's canonical deployment, every feed, and the tokens' own symbols.
    """
    safe = _safe(cfg)
    check_safe(rpc, safe)
    if _module_safe(rpc, module) != safe:
        raise InputError("module", f"{module} is a HedgeModule of another Safe ({_module_safe(rpc, module)})")
    verified = _verified(cfg, rpc, module, p, unknown_chain_ok=unknown_chain_ok)
    txs, notes = set_params_txs(cfg, rpc, module, p)
    notes = verified + notes
    if want is not None:
        diff = param_differences(want, module_onchain_params(rpc, module))
        notes.insert(0, "Already in place on chain; the batch re-applies it." if not diff
                     else f"Changes {len(diff)} parameter(s): " + "; ".join(d.split(":")[0] for d in diff) + ".")
    if module not in modules_of(rpc, safe):
        notes.append("The module is not enabled on the Safe yet: also execute the enable-module batch.")
    return Proposal("set-params", cfg.chain.chain_id, safe, tuple(txs), tuple(notes),
                    description=f"Configure the keeper's HedgeModule {module}: caps, venues, tokens, feeds, "
                                "slippage bound, guardian and keeper, from the keeper's config. " + allows(p))


def allows(p: ModuleParams) -> str:
    """What the parameters let the keeper's key do, in USD, for the batch's description."""
    return (f"It allows the keeper {p.keeper} trades of at most {_usd(p.max_notional_per_trade_usd)} each and "
            f"{_usd(p.max_notional_per_window_usd)} per {p.window_s:,} s, at most {p.max_slippage_bps} bps from "
            f"the oracle; the loss at the oracle is capped at {_usd(p.loss_budget_window_usd)} per window and "
            f"{_usd(p.loss_budget_total_usd)} in total until the owners reset it (the module pauses itself when "
            "the total is spent).")


# ---------------------------------------------------------------------------- approvals

def propose_approvals(cfg: KeeperConfig, rpc: RpcClient, margin_allowance: Decimal | None = None) -> Proposal:
    """ERC-20 approvals the Safe needs: the perp markets' margin token, for the owners' margin deposits.

    Swaps need none: the module approves exactly each trade's input and resets it to 0. The module
    never moves margin either; the owners deposit it (``depositMargin``) after this approval.
    ``margin_allowance`` is in margin-token units (default: the asset's ``window_cap_usd``).
    """
    safe = _safe(cfg)
    check_safe(rpc, safe)
    txs: list[BatchTx] = []
    notes = ["Swaps need no standing approval: the HedgeModule approves exactly each trade's input and resets "
             "the allowance to 0 in the same transaction."]
    perps = [a for a in cfg.assets if a.perp_market is not None]
    if not perps:
        notes.append("The config uses no perp market, so no approval is needed.")
    allowed = _module_markets(cfg, rpc) if perps else set()
    for a in perps:
        market = str(a.perp_market)
        if market not in allowed:
            raise VerificationError(
                f"assets.{a.symbol}.perp_market = {market}: not a perp market the Safe's HedgeModule allows "
                f"(it allows {', '.join(sorted(allowed)) or 'none'}); an approval would let that contract pull the "
                "Safe's tokens. Have the owners allow it with the set-params batch first, or fix the config")
        (token,) = view(rpc, quote_token_call(market))
        token = str(to_checksum_address(token))
        (dec,) = view(rpc, erc20.decimals_call(token))
        (symbol,) = view(rpc, erc20.symbol_call(token))
        amount = margin_allowance if margin_allowance is not None else Decimal(
            repr(cfg.effective_policy(a.symbol).window_cap_usd))
        raw = int(amount * 10 ** int(dec))
        (current,) = view(rpc, erc20.allowance_call(token, safe, market))
        if int(current) >= raw:
            notes.append(f"{a.symbol}-perp {market}: allowance of {symbol} already "
                         f"{(Decimal(int(current)) / 10 ** int(dec)).normalize():,f} "
                         f">= {amount.normalize():,f}; nothing to approve.")
            continue
        txs.append(contract_call(token, "approve", [("address", "spender"), ("uint256", "amount")], [market, raw],
                                 f"let {a.symbol}-perp market {market} pull up to {amount.normalize():,f} {symbol} "
                                 "of margin "
                                 f"({raw} raw, {int(dec)} decimals) when the owners deposit it"))
    if perps:
        notes.append("Margin is deposited by the owners (depositMargin on the market, from the Safe); the keeper "
                     "never moves it.")
    return Proposal("approvals", cfg.chain.chain_id, safe, tuple(txs), tuple(notes),
                    description="ERC-20 approvals the keeper's venues need from the Safe.")


# ---------------------------------------------------------------------------- output

def render(p: Proposal, out: Path | None = None, *, executing: bool = False) -> str:
    """A human summary: each transaction's target, method, decoded arguments and what it means in units."""
    lines = [f"{p.action}: {len(p.txs)} transaction(s) for Safe {p.safe} on chain {p.chain_id}"]
    if out is not None and executing:
        lines.append(f"  written to {out}; executing it now with the owners' devnet keys.")
    elif out is not None:
        lines.append(f"  written to {out}: import it in the Safe web interface (Apps > Transaction Builder > "
                     "drag and drop), review, and have the owners sign.")
    for i, tx in enumerate(p.txs, 1):
        args = ", ".join(f"{inp.name}={_arg(a)}" for inp, a in zip(tx.inputs, tx.args, strict=True))
        target = "the Safe" if tx.to == p.safe else _short(tx.to)
        lines.append(f"  {i}. {target} ({tx.to}).{tx.method or '<raw>'}({args})")
        if tx.summary:
            lines.append(f"       {tx.summary}")
    lines += [f"  note: {n}" for n in p.notes]
    return "\n".join(lines)


def _arg(a: Any) -> str:
    if isinstance(a, bool):
        return "true" if a else "false"
    return str(a)

