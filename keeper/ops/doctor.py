"""``keeper doctor``: a preflight. Each check answers pass, warn or fail with a one-line fix.

Checks, in order (chain checks run only once the RPC answers with the expected chain id):

``rpc``            the RPC answers with ``chain.chain_id``; Multicall3 is deployed (the fix on anvil is
                   ``keeper multicall3 install``)
``signer``         the signing key loads (its address is used below; the key is never printed)
``safe``           a contract at ``treasury.safe`` whose ``VERSION()`` is 1.4.1
``module_enabled`` ``Safe.isModuleEnabled(hedge_module)``, the module belongs to the Safe, not paused
``module_params``  the module's parameters equal the config (each mismatch with both values)
``venue_module``   only with ``treasury.hedge_venue_module``: its runtime code is our HedgeVenueModule build, it is
                   enabled on the Safe and bound to the same Safe and HedgeModule
``keeper_caller``  ``HedgeModule.keeper()`` is the signer
``allowances``     eoa mode: the signer's approvals to the router; safe-module mode: none needed
``perp_margin``    the trading account has margin in each configured perp market (warn otherwise)
``gas_balance``    the signer's balance covers N hedges at ``max_fee_gwei`` x ``swap_gas_units``
``feeds``          each feed's ``updatedAt`` within ``oracles.max_feed_age_s`` of the block time
``twap``           each oracle pool covers ``oracles.twap_window_s``: ``observe([twap_window_s, 0])`` succeeds,
                   observation cardinality > 1 and the oldest observation at least the window old (the fix
                   names ``increaseObservationCardinalityNext(n)`` with n from the window and the block time)
``pool_prices``    each asset's hedge pools and oracle pool against its feed, both in USD; beyond
                   ``oracles.max_deviation_bps`` a warn naming the pool and the deviation in bps
``quoter``         code at ``uniswap.quoter``, and a QuoterV2 ``quoteExactInputSingle`` of a small amount of the
                   first hedged asset into the quote token, in its first hedge pool, succeeds
``uniswap_v4``     with ``[uniswap_v4]``: code at the PositionManager, StateView (and ``pool_manager`` if given), and
                   ``StateView.poolManager() == PositionManager.poolManager()`` (== ``pool_manager``): positions are
                   valued from the PoolManager they live in, never from a look-alike's state
``aave_market``    with ``positions.aave_pools``: code at each pool; with ``[aave]``, each pool is the one
                   ``addresses_provider.getPool()`` returns and ``aave.oracle`` is ``getPriceOracle()`` (fail
                   otherwise: a look-alike pool or oracle); without ``[aave]`` a warn (the market is not pinned)
``aave_oracle``    the market's oracle reads each configured asset that is a reserve from the asset's own feed
                   (``getSourceOfAsset(token) == feed``; warn otherwise: Aave and the keeper price it apart)
``v4_venue``       Uniswap v4 hedge pools: router and quoter code, pools initialized and quoted, Permit2
                   allowances (eoa); see :mod:`keeper.ops.doctor_venues`
``aave_venue``     Aave hedge venue: reserves borrowable, the signer's collateral and health factor against
                   ``aave.min_health_factor``, allowances for repays (eoa)
``journal``        the journal is writable (``BEGIN IMMEDIATE`` + ``ROLLBACK``; nothing is changed)
``anvil``          anvil is available for ``keeper simulate``
"""

from __future__ import annotations

import math
import os
import sqlite3
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from keeper.chain.multicall import MULTICALL3, Call, Multicall, Result, missing_multicall3_fix
from keeper.chain.rpc import RpcClient, redact_url
from keeper.config import KeeperConfig
from keeper.errors import ChainError, InputError, KeeperError, SetupError
from keeper.ops import doctor_venues
from keeper.ops.onchain import ModuleState, read_module, read_venue_module
from keeper.ops.watch import DEFAULT_HEDGES, gas_per_hedges_wei
from keeper.venues import aave_v3, chainlink, erc20, uniswap_v3, uniswap_v4
from keeper.venues import safe as safe_reads
from keeper.venues.perps import position_call as perp_position_call
from keeper.venues.uniswap_v3 import slot0_call

__all__ = ["Check", "Status", "cardinality_for", "check_anvil", "check_journal", "redact_url", "render", "run_doctor"]

Status = Literal["pass", "warn", "fail"]
SAFE_VERSION = "1.4.1"
PROPOSE_PARAMS = "have the Safe owners execute the `keeper propose set-params` batch (or change the config to match)"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def record(self) -> dict[str, str]:
        return asdict(self)


def _num(x: float) -> str:
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.4f}".rstrip("0")


def _val(r: Result) -> tuple[Any, ...]:
    return r.value if r.ok else ()  # type: ignore[union-attr]


def _why(r: Result) -> str:
    return str(getattr(r, "reason", ""))


# ---------------------------------------------------------------------------- local checks
def check_journal(path: Path) -> Check:
    """Writable without changing it: an existing file takes a write lock that is rolled back; a missing
    one needs a writable directory (probed with a temporary file that is removed)."""
    if path.exists():
        if not path.is_file():
            return Check("journal", "fail", f"{path} is not a regular file", "set journal.path to a file path")
        try:
            conn = sqlite3.connect(f"file:{quote(str(path))}?mode=rw", uri=True, timeout=2.0, isolation_level=None)
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("ROLLBACK")
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return Check("journal", "fail", f"{path} is not writable: {exc}",
                         "make the file and its directory writable by the keeper's user, or stop the process "
                         "holding its write lock")
        return Check("journal", "pass", f"{path} is writable")
    parent = path.parent
    if not parent.is_dir():
        what = "is not a directory" if parent.exists() else "does not exist"
        return Check("journal", "fail", f"cannot create {path}: {parent} {what}",
                     f"create the directory {parent} or point journal.path elsewhere")
    try:
        with tempfile.TemporaryFile(dir=parent) as probe:
            probe.write(b"x")
    except OSError as exc:
        return Check("journal", "fail", f"cannot create {path}: {parent} is not writable ({exc.strerror})",
                     f"make {parent} writable by the keeper's user or point journal.path elsewhere")
    return Check("journal", "pass", f"{path} does not exist yet; {parent} is writable (created on first run)")


def check_postgres_journal(url: str) -> Check:
    """A PostgreSQL journal: the server answers and the keeper's user may create its tables in the current
    schema (nothing is changed; the URL is shown without its password)."""
    from keeper.journal._db import DbError, PgConnection
    from keeper.journal.store import redact_url

    where = redact_url(url)
    try:
        conn = PgConnection.connect(url, connect_timeout_s=5.0, readonly=True)
    except DbError as exc:
        return Check("journal", "fail", f"{where}: cannot connect: {exc}",
                     "check journal.url (host, port, database, user) and that the server accepts this host")
    try:
        row = conn.execute("SELECT current_schema(), has_schema_privilege(current_schema(), 'CREATE')").fetchone()
    except DbError as exc:
        return Check("journal", "fail", f"{where}: {exc}", "check the user's rights on the database")
    finally:
        conn.close()
    if row is None or row[0] is None:
        return Check("journal", "fail", f"{where}: no current schema", "set a search_path the user owns")
    if not row[1]:
        return Check("journal", "fail", f"{where}: the user may not create tables in schema {row[0]}",
                     f"GRANT CREATE ON SCHEMA {row[0]} to the keeper's user, or point search_path elsewhere")
    return Check("journal", "pass", f"{where}: PostgreSQL reachable; schema {row[0]} writable")


def check_anvil() -> Check:
    from keeper.node.anvil import find_anvil

    fix = "run ./scripts/setup (installs the pinned anvil) or set KEEPER_ANVIL to an anvil binary"
    try:
        path = find_anvil()
    except SetupError as exc:
        return Check("anvil", "fail", f"not available for `keeper simulate`: {exc}", fix)
    if not os.access(path, os.X_OK):
        return Check("anvil", "fail", f"{path} is not executable", fix)
    return Check("anvil", "pass", f"{path} (for `keeper simulate`)")


# ---------------------------------------------------------------------------- chain checks
@dataclass
class _Ctx:
    cfg: KeeperConfig
    rpc: RpcClient
    mc: Multicall
    block: int
    timestamp: int
    signer: str | None
    module: ModuleState | None = None

    def calls(self, calls: list[Call]) -> list[Result]:
        return self.mc.execute(calls, self.block)


def _rpc(cfg: KeeperConfig, rpc: RpcClient) -> tuple[Check, _Ctx | None]:
    where = redact_url(str(cfg.chain.rpc_url))
    fix = "point chain.rpc_url (or KEEPER_CHAIN__RPC_URL) at a node of chain " f"{cfg.chain.chain_id}"
    try:
        got = rpc.chain_id()
        if got != cfg.chain.chain_id:
            return Check("rpc", "fail", f"{where} serves chain id {got}, the config expects {cfg.chain.chain_id}",
                         fix + ", or correct chain.chain_id (chain checks skipped)"), None
        block = rpc.call("eth_getBlockByNumber", ["latest", False])
        code = rpc.call("eth_getCode", [MULTICALL3, "latest"])
    except KeeperError as exc:
        return Check("rpc", "fail", f"{where} does not answer (chain checks skipped): {exc}",
                     fix + " and check that it is up"), None
    if str(code) in ("0x", ""):
        try:
            client: str | None = str(rpc.call("web3_clientVersion"))
        except KeeperError:
            client = None
        return Check("rpc", "fail", f"no Multicall3 at its canonical address {MULTICALL3} on chain {got}: the "
                     "keeper reads through it (chain checks skipped)",
                     missing_multicall3_fix(client, str(cfg.chain.rpc_url))), None
    number, ts = int(block["number"], 16), int(block["timestamp"], 16)
    ctx = _Ctx(cfg, rpc, Multicall(rpc), number, ts, None)
    return Check("rpc", "pass", f"{where}: chain id {got}, block {number}"), ctx


def _signer(cfg: KeeperConfig, env: Mapping[str, str]) -> tuple[Check, str | None]:
    from keeper.cycle.sources import signer_source
    from keeper.execute.signer import load_signer

    try:
        address = load_signer(signer_source(cfg), env=env).address
    except KeeperError as exc:
        src = cfg.signer.keystore or cfg.signer.key_env or "KEEPER_PRIVATE_KEY"
        return Check("signer", "fail", f"the signing key does not load: {exc}",
                     f"provide the key ({src}) or the keystore's password, or run `keeper init`"), None
    return Check("signer", "pass", f"signer {address}"), address


def _safe(c: _Ctx) -> list[Check]:
    cfg = c.cfg
    safe, module = cfg.treasury.safe, cfg.treasury.hedge_module
    if cfg.treasury.mode != "safe-module" or safe is None or module is None:
        note = "eoa mode: the signer trades its own funds (no Safe, no module)"
        return [Check("safe", "pass", note), Check("module_enabled", "pass", note)]
    out: list[Check] = []
    codes = c.rpc.batch([("eth_getCode", [safe, hex(c.block)]), ("eth_getCode", [module, hex(c.block)])])
    if str(codes[0]) in ("0x", "") or isinstance(codes[0], ChainError):
        return [Check("safe", "fail", f"no contract at treasury.safe {safe} on chain {cfg.chain.chain_id}",
                      "set treasury.safe to the treasury's Safe on this chain (or create one with `keeper init`)")]
    version, enabled = c.calls([safe_reads.version_call(safe), safe_reads.is_module_enabled_call(safe, module)])
    if not version.ok:
        return [Check("safe", "fail", f"{safe} is not a Safe: VERSION() {_why(version)}",
                      "set treasury.safe to a Safe 1.4.1 proxy")]
    v = str(_val(version)[0])
    out.append(Check("safe", "pass", f"Safe {v} at {safe}") if v == SAFE_VERSION else
               Check("safe", "warn", f"Safe at {safe} is version {v}; the keeper is tested with {SAFE_VERSION}",
                     f"use a Safe {SAFE_VERSION} (or accept the untested version)"))
    if str(codes[1]) in ("0x", "") or isinstance(codes[1], ChainError):
        out.append(Check("module_enabled", "fail", f"no contract at treasury.hedge_module {module}",
                         "deploy the HedgeModule for this Safe: `keeper propose enable-module --deploy "
                         "--with-params`, then have the owners execute the batch"))
        return out
    try:
        c.module = read_module(c.mc, module, c.block)
    except ChainError as exc:
        out.append(Check("module_enabled", "fail", str(exc), "set treasury.hedge_module to the Safe's HedgeModule"))
        return out
    on_safe = c.module.params["safe"]
    if on_safe != safe:
        out.append(Check("module_enabled", "fail", f"module {module} acts for Safe {on_safe}, not treasury.safe {safe}",
                         "deploy a HedgeModule for this Safe and set treasury.hedge_module"))
    elif not enabled.ok or not _val(enabled)[0]:
        out.append(Check("module_enabled", "fail", f"HedgeModule {module} is not enabled on Safe {safe}",
                         "have the Safe owners execute the `keeper propose enable-module` batch"))
    elif c.module.paused:
        out.append(Check("module_enabled", "fail", f"HedgeModule {module} is enabled but paused by its guardian",
                         "after investigating, the owners unpause it (HedgeModule.unpause() from the Safe)"))
    else:
        out.append(Check("module_enabled", "pass", f"HedgeModule {module} is enabled on the Safe and not paused"))
    return out


def _venue_module(c: _Ctx) -> Check:
    cfg = c.cfg
    venue, safe, module = cfg.treasury.hedge_venue_module, cfg.treasury.safe, cfg.treasury.hedge_module
    fix = ("deploy the HedgeVenueModule from contracts/ for this HedgeModule (constructor: the HedgeModule, WETH), "
           "have the owners enable and configure it, and set treasury.hedge_venue_module")
    if venue is None or safe is None or module is None:
        return Check("venue_module", "fail", "treasury.hedge_venue_module needs treasury.safe and hedge_module", fix)
    try:
        v = read_venue_module(c.rpc, c.mc, venue, c.block)
    except ChainError as exc:
        return Check("venue_module", "fail", f"treasury.hedge_venue_module: {exc}", fix)
    if v.code_mismatch:
        return Check("venue_module", "fail", f"{venue} is not the keeper's HedgeVenueModule: {v.code_mismatch}",
                     "do not use it: " + fix)
    p = v.params
    if (p["safe"], p["hedge_module"]) != (safe, module):
        return Check("venue_module", "fail", f"HedgeVenueModule {venue} is bound to Safe {p['safe']} and HedgeModule "
                     f"{p['hedge_module']}, not treasury.safe {safe} and treasury.hedge_module {module}", fix)
    [enabled] = c.calls([safe_reads.is_module_enabled_call(safe, venue)])
    if not enabled.ok or not _val(enabled)[0]:
        return Check("venue_module", "fail", f"HedgeVenueModule {venue} is not enabled on Safe {safe}",
                     "have the Safe owners enable it (Safe.enableModule) and configure it")
    return Check("venue_module", "pass", f"HedgeVenueModule {venue} (our build) is enabled on the Safe and books into "
                 f"HedgeModule {module}: {len(p['pool_keys'])} v4 pool keys, {len(p['reserves'])} Aave reserves, "
                 f"minimum health factor {p['min_health_factor']:g}")


# Long on purpose: one comparison per HedgeModule parameter against the config, each with its own message.
def _module_params(c: _Ctx) -> Check:  # noqa: C901, PLR0912
    cfg = c.cfg
    if c.module is None:
        if cfg.treasury.mode != "safe-module":
            return Check("module_params", "pass", "eoa mode: no module; the policy's limits apply off-chain only")
        return Check("module_params", "fail", "not checked: the module is unreadable", "fix module_enabled first")
    p = c.module.params
    bad: list[str] = []
    warn: list[str] = []
    if p["router"] != cfg.uniswap.router:
        bad.append(f"router: on-chain {p['router']}, config uniswap.router {cfg.uniswap.router}")
    if p.get("factory") != cfg.uniswap.factory:
        bad.append(f"factory: on-chain {p.get('factory')}, config uniswap.factory {cfg.uniswap.factory}")
    allowed_pools = p.get("pools", {})
    for a in cfg.assets:
        for pool in a.hedge_pools:
            if pool not in allowed_pools:
                bad.append(f"{a.symbol} hedge pool {pool}: not an allowed pool on-chain "
                           f"(allowed {sorted(allowed_pools) or 'none'})")
    for a in cfg.assets:
        t = p["tokens"].get(a.token)
        if t is None:
            bad.append(f"{a.symbol} token {a.token}: not allowed on-chain")
        else:
            if t["feed"] != a.feed:
                bad.append(f"{a.symbol} feed: on-chain {t['feed']}, config {a.feed}")
            if t["max_feed_age_s"] < cfg.oracles.max_feed_age_s:
                warn.append(f"{a.symbol} max feed age: on-chain {t['max_feed_age_s']} s < config "
                            f"oracles.max_feed_age_s {cfg.oracles.max_feed_age_s} s")
        if a.perp_market is not None:
            m = p["perp_markets"].get(a.perp_market)
            want = float(a.perp_max_abs_units or 0.0)
            if m is None:
                bad.append(f"{a.symbol} perp market {a.perp_market}: not allowed on-chain")
            else:
                if m["feed"] != a.feed:
                    bad.append(f"{a.symbol} perp feed: on-chain {m['feed']}, config {a.feed}")
                if m["max_abs_size_units"] == 0:
                    bad.append(f"{a.symbol} perp market: no position limit on-chain (0): the keeper cannot trade it")
                elif abs(m["max_abs_size_units"] - want) > 1e-9 * max(1.0, want):
                    bad.append(f"{a.symbol} perp max abs size: on-chain {m['max_abs_size_units']:g}, config "
                               f"perp_max_abs_units {want:g}")
    if cfg.quote.token not in p["tokens"]:
        bad.append(f"quote token {cfg.quote.token}: not allowed on-chain")
    pols = [cfg.effective_policy(s) for s in cfg.symbols]
    for what, onchain, need, key in (
        ("max slippage", p["max_slippage_bps"], max(x.max_slippage_bps for x in pols), "max_slippage_bps"),
        ("per-trade cap", p["max_notional_per_trade_usd"], max(x.max_trade_usd for x in pols), "max_trade_usd"),
        ("window cap", p["max_notional_per_window_usd"], max(x.window_cap_usd for x in pols), "window_cap_usd"),
    ):
        if onchain < need:
            bad.append(f"{what}: on-chain {_num(onchain)} < policy {key} {_num(need)}")
    if p["window_s"] != max(x.window_s for x in pols):
        warn.append(f"window: on-chain {p['window_s']} s, policy window_s {max(x.window_s for x in pols):g} s")
    loss_w, loss_t = p.get("loss_budget_window_usd", 0.0), p.get("loss_budget_total_usd", 0.0)
    if loss_w <= 0 or loss_t <= 0:
        bad.append(f"loss budgets: on-chain {_num(loss_w)} USD per window / {_num(loss_t)} USD in total: "
                   "every trade that loses anything at the oracle reverts")
    for what, key, want_v in (("loss budget per window", "loss_budget_window_usd", cfg.safety.loss_budget_window_usd),
                              ("loss budget in total", "loss_budget_total_usd", cfg.safety.loss_budget_total_usd)):
        if want_v is not None and abs(p.get(key, 0.0) - want_v) > 1e-9 * max(1.0, want_v):
            warn.append(f"{what}: on-chain {_num(p.get(key, 0.0))} USD, config safety.{key} {_num(want_v)} USD")
    if p.get("perp_min_margin_bps", 0) == 0 and any(a.perp_market is not None for a in cfg.assets):
        bad.append("perp minimum margin: 0 on-chain: the keeper cannot trade perps")
    if bad:
        return Check("module_params", "fail", "; ".join(bad + warn), PROPOSE_PARAMS)
    if warn:
        return Check("module_params", "warn", "; ".join(warn), PROPOSE_PARAMS)
    return Check("module_params", "pass",
                 f"router, factory, pools, tokens, feeds, perp limits match; caps "
                 f"{_num(p['max_notional_per_trade_usd'])} / {_num(p['max_notional_per_window_usd'])} USD per "
                 f"{p['window_s']} s, {p['max_slippage_bps']} bps; loss budget {_num(loss_w)} USD per window, "
                 f"{_num(loss_t)} USD in total; TWAP {p.get('twap_window_s', 0)} s")


def _keeper_caller(c: _Ctx) -> Check:
    if c.cfg.treasury.mode != "safe-module":
        return Check("keeper_caller", "pass", "eoa mode: the signer sends its own hedges")
    if c.module is None or c.signer is None:
        return Check("keeper_caller", "fail", "not checked: needs the module and the signer", "fix those first")
    on = c.module.params["keeper"]
    if on != c.signer:
        return Check("keeper_caller", "fail", f"the module's keeper is {on}, the signer is {c.signer}",
                     "have the Safe owners set the keeper (`keeper propose set-params`) or use the keeper's key")
    return Check("keeper_caller", "pass", f"the module accepts hedges from the signer {c.signer}")


def _allowances(c: _Ctx) -> Check:
    cfg = c.cfg
    if cfg.treasury.mode == "safe-module":
        return Check("allowances", "pass", "safe-module mode: the module approves exactly each trade's input and "
                     "resets it to 0, so no standing allowance is needed")
    if c.signer is None:
        return Check("allowances", "fail", "not checked: needs the signer", "fix the signer first")
    tokens = [(a.symbol, a.token) for a in cfg.assets if a.hedge_pools] + [(cfg.quote.symbol, cfg.quote.token)]
    res = c.calls([erc20.allowance_call(t, c.signer, cfg.uniswap.router)
                   for _, t in tokens])
    missing = [f"{s} ({t})" for (s, t), r in zip(tokens, res, strict=True) if not r.ok or int(_val(r)[0]) == 0]
    if missing:
        return Check("allowances", "fail", f"the signer has no allowance to the router {cfg.uniswap.router} for "
                     + ", ".join(missing), "approve uniswap.router to spend those tokens from the signer")
    return Check("allowances", "pass", f"the signer approved the router for {len(tokens)} token(s)")


def _perp_margin(c: _Ctx) -> Check:
    cfg = c.cfg
    perps = [(a.symbol, a.perp_market) for a in cfg.assets if a.perp_market is not None]
    if not perps:
        return Check("perp_margin", "pass", "no perp market configured")
    if c.signer is None and cfg.treasury.mode != "safe-module":
        return Check("perp_margin", "fail", "not checked: needs the signer", "fix the signer first")
    account = cfg.treasury.account(c.signer or "")
    res = c.calls([perp_position_call(m, account) for _, m in perps])
    empty = [f"{s} ({m})" for (s, m), r in zip(perps, res, strict=True) if not r.ok or int(_val(r)[2]) == 0]
    if empty:
        return Check("perp_margin", "warn", f"{account} has no margin in the perp market(s) " + ", ".join(empty)
                     + ": perp hedges there will revert", "deposit margin (PerpMarket.depositMargin) from "
                     "the trading account (`keeper propose approvals` covers the Safe's approval)")
    return Check("perp_margin", "pass", f"margin deposited in {len(perps)} perp market(s)")


def _gas(c: _Ctx, hedges: int) -> Check:
    if c.signer is None:
        return Check("gas_balance", "fail", "not checked: needs the signer", "fix the signer first")
    bal = int(c.rpc.call("eth_getBalance", [c.signer, hex(c.block)]), 16)
    need = gas_per_hedges_wei(c.cfg, hedges)
    ex = c.cfg.execution
    detail = (f"signer {c.signer} holds {bal / 1e18:,.6f} native; {hedges} hedges at {ex.max_fee_gwei:g} gwei x "
              f"{ex.swap_gas_units:,} gas need {need / 1e18:,.6f}")
    if bal < need:
        return Check("gas_balance", "fail", detail, f"send at least {(need - bal) / 1e18:,.6f} native to {c.signer}")
    return Check("gas_balance", "pass", detail)


def _feeds(c: _Ctx) -> Check:
    cfg = c.cfg
    limit = cfg.oracles.max_feed_age_s
    feeds = [(a.symbol, a.feed, limit) for a in cfg.assets]
    if c.module is not None and cfg.quote.token in c.module.params["tokens"]:
        q = c.module.params["tokens"][cfg.quote.token]
        feeds.append((cfg.quote.symbol, q["feed"], int(q["max_feed_age_s"])))
    res = c.calls([chainlink.latest_round_call(f, sym) for sym, f, _ in feeds])
    bad: list[str] = []
    ages: list[str] = []
    for (sym, feed, lim), r in zip(feeds, res, strict=True):
        if not r.ok:
            bad.append(f"{sym} feed {feed} unreadable ({_why(r)})")
            continue
        answer, updated = int(_val(r)[1]), int(_val(r)[3])
        age = c.timestamp - updated
        ages.append(f"{sym} {age:,} s")
        if answer <= 0:
            bad.append(f"{sym} feed {feed} answers {answer}")
        elif age > lim:
            bad.append(f"{sym} feed {feed} is {age:,} s old (limit {lim:,} s)")
    if bad:
        return Check("feeds", "fail", "; ".join(bad), "check the oracle; if its heartbeat is longer than the "
                     "limit, raise oracles.max_feed_age_s (and the module's max feed age)")
    return Check("feeds", "pass", "fresh: " + ", ".join(ages))


MAX_CARDINALITY = 65_535  # observationCardinalityNext is a uint16


def _block_time_s(c: _Ctx, span: int = 100) -> float:
    """Seconds per block over the last ``span`` blocks (1 s when that cannot be measured: the larger n is safe)."""
    back = min(span, c.block)
    if back <= 0:
        return 1.0
    old = c.rpc.call("eth_getBlockByNumber", [hex(c.block - back), False])
    dt = c.timestamp - int(old["timestamp"], 16)
    return max(dt / back, 1.0) if dt > 0 else 1.0


def cardinality_for(window_s: int, block_time_s: float) -> int:
    """Observations a pool needs to cover ``window_s`` when a swap lands in every block: one per block, plus one."""
    if window_s <= 0 or not (block_time_s > 0 and math.isfinite(block_time_s)):
        raise InputError("window_s", f"window {window_s} s and block time {block_time_s} s must be positive")
    return min(math.ceil(window_s / block_time_s) + 1, MAX_CARDINALITY)


# Long on purpose: one check per oracle-pool TWAP condition (cardinality, window, oldest observation).
def _twap(c: _Ctx) -> Check:  # noqa: C901
    window = c.cfg.oracles.twap_window_s
    pools = [(a.symbol, a.oracle_pool) for a in c.cfg.assets if a.oracle_pool is not None]
    if not pools:
        return Check("twap", "pass", "no oracle_pool configured (feeds only)")
    calls: list[Call] = []
    for _, p in pools:
        calls += [uniswap_v3.observe_call(p, window),
                  slot0_call(p)]
    res = c.calls(calls)
    obs: list[Call] = []
    for i, (_, p) in enumerate(pools):
        s = _val(res[2 * i + 1])
        idx, card = (int(s[2]), int(s[3])) if s else (0, 1)
        obs += [uniswap_v3.observations_call(p, (idx + 1) % max(card, 1)), uniswap_v3.observations_call(p, 0)]
    olds = c.calls(obs)
    bad: list[str] = []
    lines: list[str] = []
    short: list[tuple[str, int]] = []
    for i, (sym, p) in enumerate(pools):
        nxt, first = _val(olds[2 * i]), _val(olds[2 * i + 1])
        oldest = nxt if nxt and nxt[3] else first
        age = c.timestamp - int(oldest[0]) if oldest else None
        age_s = f"{age:,} s" if age is not None else "unknown"
        slot0 = _val(res[2 * i + 1])
        if not slot0:
            bad.append(f"{sym} pool {p}: slot0() unreadable ({_why(res[2 * i + 1])})")
            continue
        card, card_next = int(slot0[3]), int(slot0[4])
        where = f"{sym} pool {p}: cardinality {card}"
        if card_next > card:
            where += f" (growing to {card_next})"
        if not res[2 * i].ok:
            bad.append(f"{where}, oldest observation {age_s} old: observe([{window}, 0]) fails ({_why(res[2 * i])})")
            short.append((p, card_next))
        elif card <= 1:
            bad.append(f"{where}: one observation, so the {window:,} s \"TWAP\" is the spot price since the last swap")
            short.append((p, card_next))
        elif age is None or age < window:
            bad.append(f"{where}: the oldest observation is {age_s} old, younger than the {window:,} s window")
            short.append((p, card_next))
        else:
            lines.append(f"{sym} oldest observation {age_s} old (cardinality {card})")
    if bad:
        bt = _block_time_s(c)
        n = cardinality_for(window, bt)
        steps = []
        for p, card_next in short:
            steps.append(f"call increaseObservationCardinalityNext({n}) on {p}" if card_next < n else
                         f"{p} already has room for {card_next:,} observations (needs {n:,})")
        fix = ("; ".join(steps) + f" ({window:,} s window / {bt:,.1f} s per block + 1), then let it fill for "
               f"{window:,} s of trading, or lower oracles.twap_window_s") if steps else \
            "check oracle_pool is a Uniswap v3 pool"
        return Check("twap", "fail", "; ".join(bad), fix)
    return Check("twap", "pass", f"{window:,} s window covered: " + ", ".join(lines))


def _decimals(c: _Ctx, tokens: list[str]) -> dict[str, int]:
    """``decimals()`` of each token (lower-case address keys); a token that does not answer is left out."""
    uniq = list(dict.fromkeys(t.lower() for t in tokens))
    res = c.calls([erc20.decimals_call(t) for t in uniq])
    return {t: int(_val(r)[0]) for t, r in zip(uniq, res, strict=True) if r.ok}


# Long on purpose: feeds, decimals and pools read in one batch, then one check per pool.
def _pool_prices(c: _Ctx) -> Check:  # noqa: C901, PLR0912, PLR0915
    cfg = c.cfg
    limit = cfg.oracles.max_deviation_bps
    quote = cfg.quote.token
    pools = [(a, p) for a in cfg.assets
             for p in dict.fromkeys([*a.hedge_pools, *([a.oracle_pool] if a.oracle_pool else [])])]
    if not pools:
        return Check("pool_prices", "pass", "no hedge or oracle pool configured")
    quote_feed = None
    if c.module is not None and quote in c.module.params["tokens"]:
        quote_feed = str(c.module.params["tokens"][quote]["feed"])
    feeds = [a.feed for a in cfg.assets] + ([quote_feed] if quote_feed else [])
    calls = [chainlink.latest_round_call(f, f) for f in feeds]
    calls += [chainlink.decimals_call(f, f) for f in feeds]
    for _, p in pools:
        calls += [slot0_call(p), uniswap_v3.token0_call(p), uniswap_v3.token1_call(p)]
    res = c.calls(calls)
    nf = len(feeds)
    usd: dict[str, float] = {}
    for i, f in enumerate(feeds):
        r, d = _val(res[i]), _val(res[nf + i])
        if r and d and int(r[1]) > 0:
            usd[f] = int(r[1]) / 10 ** int(d[0])
    quote_usd = usd.get(quote_feed, 1.0) if quote_feed else 1.0
    decs = _decimals(c, [quote, *(a.token for a in cfg.assets)])
    far: list[str] = []
    bad: list[str] = []
    near: list[str] = []
    for j, (a, p) in enumerate(pools):
        slot0, t0, t1 = (_val(res[2 * nf + 3 * j + k]) for k in range(3))
        feed_usd = usd.get(a.feed)
        if not (slot0 and t0 and t1):
            bad.append(f"{a.symbol} pool {p}: slot0/token0/token1 unreadable")
            continue
        if feed_usd is None:
            bad.append(f"{a.symbol} pool {p}: the feed {a.feed} is unreadable")
            continue
        tok0, tok1 = str(t0[0]).lower(), str(t1[0]).lower()
        pair = {tok0, tok1}
        if pair != {a.token.lower(), quote.lower()}:
            bad.append(f"{a.symbol} pool {p}: pairs {t0[0]} / {t1[0]}, not {a.symbol} / {cfg.quote.symbol}")
            continue
        if tok0 not in decs or tok1 not in decs:
            bad.append(f"{a.symbol} pool {p}: token decimals unreadable")
            continue
        p01 = (int(slot0[0]) / 2**96) ** 2 * 10.0 ** (decs[tok0] - decs[tok1])  # token1 per token0
        if p01 <= 0:
            bad.append(f"{a.symbol} pool {p}: not initialized (sqrtPriceX96 0)")
            continue
        pool_usd = (p01 if tok0 == a.token.lower() else 1.0 / p01) * quote_usd
        dev = (pool_usd / feed_usd - 1.0) * 1e4
        dev = 0.0 if abs(dev) < 0.05 else dev  # no "-0.0 bps"
        text = f"{a.symbol} pool {p} {pool_usd:,.2f} USD vs feed {feed_usd:,.2f} USD ({dev:+,.1f} bps)"
        (far if abs(dev) > limit else near).append(text)
    fix = (f"arbitrage or re-check the pool (the keeper values positions at their own pool's price and hedges "
           f"there), or check the feed; beyond {limit:g} bps the plan trades at a price away from the oracle")
    if far or bad:
        detail = "; ".join(far + bad) + f" (limit oracles.max_deviation_bps {limit:g} bps)"
        if bad and not far:
            fix = "point hedge_pools / oracle_pool at Uniswap v3 pools of the asset against the quote token"
        return Check("pool_prices", "warn", detail + (f"; within: {', '.join(near)}" if near else ""), fix)
    return Check("pool_prices", "pass", f"within {limit:g} bps of the feeds: " + ", ".join(near))


def _quoter(c: _Ctx) -> Check:
    cfg = c.cfg
    quoter = cfg.uniswap.quoter
    fix = f"set uniswap.quoter to the Uniswap v3 QuoterV2 on chain {cfg.chain.chain_id}"
    code = str(c.rpc.call("eth_getCode", [quoter, hex(c.block)]))
    if code in ("0x", ""):
        return Check("quoter", "fail", f"no contract at uniswap.quoter {quoter} (an account without code)", fix)
    hedged = [a for a in cfg.assets if a.hedge_pools]
    if not hedged:
        return Check("quoter", "pass", f"code at {quoter}; no hedge pool configured, so no quote tried")
    a, pool = hedged[0], hedged[0].hedge_pools[0]
    decs = _decimals(c, [a.token, cfg.quote.token])
    (fee,) = c.calls([uniswap_v3.fee_call(pool)])
    if a.token.lower() not in decs or cfg.quote.token.lower() not in decs or not fee.ok:
        return Check("quoter", "fail", f"not checked: {a.symbol} pool {pool} fee() or the tokens' decimals() "
                     "unreadable", "fix hedge_pools / the token addresses first")
    d_in, d_out = decs[a.token.lower()], decs[cfg.quote.token.lower()]
    amount = 10 ** max(d_in - 4, 0)
    fee_tier = int(_val(fee)[0])
    (q,) = c.calls([uniswap_v3.quote_exact_input_single_call(quoter, a.token, cfg.quote.token, amount, fee_tier)])
    what = (f"quoteExactInputSingle of {_num(amount / 10 ** d_in)} {a.symbol} into {cfg.quote.symbol} "
            f"(fee tier {fee_tier / 1e4:g} % of the hedge pool {pool})")
    if not q.ok:
        return Check("quoter", "fail", f"uniswap.quoter {quoter} is not a working QuoterV2: {what} {_why(q)}", fix)
    out = int(_val(q)[0])
    if out <= 0:
        return Check("quoter", "fail", f"uniswap.quoter {quoter}: {what} quotes 0 {cfg.quote.symbol}", fix)
    return Check("quoter", "pass", f"QuoterV2 at {quoter}: {what} quotes {_num(out / 10 ** d_out)} "
                 f"{cfg.quote.symbol}")


def _has_code(c: _Ctx, named: list[tuple[str, str]]) -> list[str]:
    """The ``what address`` of each (what, address) without code at the block."""
    codes = c.rpc.batch([("eth_getCode", [a, hex(c.block)]) for _, a in named])
    return [f"{what} {a}" for (what, a), code in zip(named, codes, strict=True)
            if isinstance(code, ChainError) or str(code) in ("0x", "")]


def _addr(r: Result) -> str | None:
    v = _val(r)
    return str(v[0]) if v else None


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and a.lower() == b.lower()


def _uniswap_v4(c: _Ctx) -> Check:
    v4 = c.cfg.uniswap_v4
    if v4 is None:
        return Check("uniswap_v4", "pass", "no [uniswap_v4] configured")
    chain = c.cfg.chain.chain_id
    fix = (f"set [uniswap_v4] position_manager, state_view and pool_manager to the Uniswap v4 deployment on chain "
           f"{chain} (docs.uniswap.org/contracts/v4/deployments)")
    named = [("uniswap_v4.position_manager", v4.position_manager), ("uniswap_v4.state_view", v4.state_view)]
    if v4.pool_manager is not None:
        named.append(("uniswap_v4.pool_manager", v4.pool_manager))
    missing = _has_code(c, named)
    if missing:
        return Check("uniswap_v4", "fail", "no contract at " + ", ".join(missing), fix)
    of_posm, of_sv = c.calls([uniswap_v4.pool_manager_call(v4.position_manager),
                              uniswap_v4.pool_manager_call(v4.state_view)])
    pm_posm, pm_sv = _addr(of_posm), _addr(of_sv)
    if pm_posm is None or pm_sv is None:
        what = ([f"PositionManager {v4.position_manager} ({_why(of_posm)})"] if pm_posm is None else []) + \
               ([f"StateView {v4.state_view} ({_why(of_sv)})"] if pm_sv is None else [])
        return Check("uniswap_v4", "fail", "poolManager() unreadable: " + "; ".join(what)
                     + ": not a Uniswap v4 periphery contract", fix)
    if not _same(pm_posm, pm_sv):
        return Check("uniswap_v4", "fail",
                     f"StateView {v4.state_view} reads PoolManager {pm_sv}, but the PositionManager "
                     f"{v4.position_manager} keeps its positions in PoolManager {pm_posm}: the positions would be "
                     "valued from another pool manager's state (a look-alike StateView or PositionManager)", fix)
    if v4.pool_manager is not None and not _same(pm_posm, v4.pool_manager):
        return Check("uniswap_v4", "fail",
                     f"the PositionManager and StateView use PoolManager {pm_posm}, not uniswap_v4.pool_manager "
                     f"{v4.pool_manager} (a look-alike deployment)", fix)
    if v4.pool_manager is None:
        missing = _has_code(c, [("their PoolManager", pm_posm)])
        if missing:
            return Check("uniswap_v4", "fail", "no contract at " + missing[0], fix)
        return Check("uniswap_v4", "warn",
                     f"PositionManager {v4.position_manager} and StateView {v4.state_view} both use PoolManager "
                     f"{pm_posm}, which is not pinned in the config",
                     f"set uniswap_v4.pool_manager = \"{pm_posm}\" once checked against the deployment list "
                     "(docs.uniswap.org/contracts/v4/deployments)")
    return Check("uniswap_v4", "pass", f"PositionManager {v4.position_manager} and StateView {v4.state_view} both "
                 f"use PoolManager {pm_posm} (uniswap_v4.pool_manager); code at all three")


def _aave_market(c: _Ctx) -> Check:
    cfg = c.cfg
    aave = cfg.aave
    pools = list(cfg.positions.aave_pools)
    if aave is not None and aave.pool is not None and aave.pool.lower() not in {p.lower() for p in pools}:
        pools.append(aave.pool)  # the hedge venue's pool is read as a position too
    if not pools:
        return Check("aave_market", "pass", "no Aave pool configured (positions.aave_pools)")
    provider = aave.addresses_provider if aave is not None else None
    fix = ("set positions.aave_pools to the market's Pool and [aave] addresses_provider / oracle to its "
           "PoolAddressesProvider and AaveOracle, from Aave's own address book (aave.com/docs, aave-address-book)")
    named = [("positions.aave_pools", p) for p in pools]
    if aave is not None and provider is not None:
        named.append(("aave.addresses_provider", provider))
        if aave.oracle is not None:
            named.append(("aave.oracle", aave.oracle))
    missing = _has_code(c, named)
    if missing:
        return Check("aave_market", "fail", "no contract at " + ", ".join(missing), fix)
    if aave is None or provider is None:
        res = c.calls([aave_v3.addresses_provider_call(p) for p in pools])
        provs = [f"{p} (ADDRESSES_PROVIDER() {_addr(r) or _why(r)})" for p, r in zip(pools, res, strict=True)]
        return Check("aave_market", "warn", "Aave pool(s) not pinned to a PoolAddressesProvider: " + ", ".join(provs)
                     + "; a look-alike pool would answer for itself", fix)
    got_pool, got_oracle = c.calls([aave_v3.get_pool_call(provider), aave_v3.price_oracle_call(provider)])
    real_pool, real_oracle = _addr(got_pool), _addr(got_oracle)
    if real_pool is None or real_oracle is None:
        return Check("aave_market", "fail", f"aave.addresses_provider {provider} is not a "
                     f"PoolAddressesProvider: getPool() / getPriceOracle() unreadable "
                     f"({_why(got_pool) or _why(got_oracle)})", fix)
    bad = [f"positions.aave_pools {p} is not the provider's Pool {real_pool} (a look-alike pool: its balances "
           "and health factor would be trusted)" for p in pools if not _same(p, real_pool)]
    if aave.oracle is not None and not _same(aave.oracle, real_oracle):
        bad.append(f"aave.oracle {aave.oracle} is not the provider's price oracle {real_oracle} (a look-alike oracle)")
    if bad:
        return Check("aave_market", "fail", "; ".join(bad) + f" (aave.addresses_provider {provider})",
                     fix)
    return Check("aave_market", "pass", f"Pool {real_pool} and AaveOracle {real_oracle} are those of the "
                 f"PoolAddressesProvider {aave.addresses_provider}")


def _aave_oracle(c: _Ctx) -> Check:
    cfg = c.cfg
    pools = list(cfg.positions.aave_pools)
    if not pools:
        return Check("aave_oracle", "pass", "no Aave pool configured")
    pool = pools[0]
    provider = cfg.aave.addresses_provider if cfg.aave is not None else None
    if provider is None:
        (r,) = c.calls([aave_v3.addresses_provider_call(pool)])
        provider = _addr(r)
    oracle = cfg.aave.oracle if cfg.aave is not None and cfg.aave.oracle is not None else None
    if oracle is None and provider is not None:
        (r,) = c.calls([aave_v3.price_oracle_call(provider)])
        oracle = _addr(r)
    (reserves,) = c.calls([aave_v3.reserves_list_call(pool)])
    if oracle is None or not reserves.ok:
        return Check("aave_oracle", "fail", f"not checked: the Aave pool {pool}'s oracle or reserve list is "
                     "unreadable", "fix aave_market first")
    listed = {str(a).lower() for a in _val(reserves)[0]}
    assets = [a for a in cfg.assets if a.token.lower() in listed]
    if not assets:
        return Check("aave_oracle", "pass", f"no configured asset is a reserve of {pool}")
    res = c.calls([aave_v3.source_of_asset_call(oracle, a.token) for a in assets])
    apart: list[str] = []
    same: list[str] = []
    for a, r in zip(assets, res, strict=True):
        src = _addr(r)
        if src is None:
            apart.append(f"{a.symbol}: getSourceOfAsset({a.token}) unreadable ({_why(r)})")
        elif not _same(src, a.feed):
            apart.append(f"{a.symbol}: AaveOracle {oracle} prices {a.token} from {src}, the config's feed is {a.feed}")
        else:
            same.append(f"{a.symbol} from {src}")
    if apart:
        return Check("aave_oracle", "warn", "; ".join(apart) + ": Aave's health factor and the keeper's valuation "
                     "use different prices", "check the source on Aave's address book; if it is the feed you trust, "
                     "set the asset's feed to it (and the HedgeModule's), otherwise expect the two to differ")
    return Check("aave_oracle", "pass", f"AaveOracle {oracle} prices " + ", ".join(same) + " (the configured feeds)")


def run_doctor(cfg: KeeperConfig, env: Mapping[str, str], *, hedges: int = DEFAULT_HEDGES,
               rpc: RpcClient | None = None) -> list[Check]:
    """Every check, in order; never raises for what it checks (a check that cannot run fails)."""
    rpc = rpc or RpcClient.http(str(cfg.chain.rpc_url), timeout_s=cfg.chain.timeout_s)
    rpc_check, ctx = _rpc(cfg, rpc)
    signer_check, signer = _signer(cfg, env)
    out = [rpc_check, signer_check]
    if ctx is not None:
        ctx.signer = signer
        c = ctx
        steps: list[tuple[str, Callable[[], list[Check] | Check]]] = [
            ("safe", lambda: _safe(c)), ("module_params", lambda: _module_params(c)),
            *([("venue_module", lambda: _venue_module(c))] if cfg.treasury.hedge_venue_module is not None else []),
            ("keeper_caller", lambda: _keeper_caller(c)), ("allowances", lambda: _allowances(c)),
            ("perp_margin", lambda: _perp_margin(c)), ("gas_balance", lambda: _gas(c, hedges)),
            ("feeds", lambda: _feeds(c)), ("twap", lambda: _twap(c)), ("pool_prices", lambda: _pool_prices(c)),
            ("quoter", lambda: _quoter(c)), ("uniswap_v4", lambda: _uniswap_v4(c)),
            ("aave_market", lambda: _aave_market(c)), ("aave_oracle", lambda: _aave_oracle(c)),
            ("v4_venue", lambda: Check(*doctor_venues.v4_venue(
                c, lambda a: c.rpc.call("eth_getCode", [a, hex(c.block)])))),
            ("aave_venue", lambda: Check(*doctor_venues.aave_venue(c)))]
        for name, step in steps:
            try:
                got = step()
            except KeeperError as exc:
                got = Check(name, "fail", f"could not run: {exc}", "check the RPC and re-run")
            out += got if isinstance(got, list) else [got]
        if not any(x.name == "module_enabled" for x in out):
            out.insert(3, Check("module_enabled", "fail", "not checked: no Safe", "fix the safe check first"))
    url = cfg.journal.url
    journal = check_postgres_journal(url) if url is not None else check_journal(cfg.journal.path)
    out += [check_alerts(cfg, env), journal, check_anvil()]
    return out


def check_alerts(cfg: KeeperConfig, env: Mapping[str, str]) -> Check:
    """The alert targets from ``[alerts]`` and the variables it names, each shown by its scheme only
    (``tgram://…``): a URL apprise refuses fails (named by variable and index, never echoed)."""
    from keeper.ops.alerts import AlertSettings

    a = cfg.alerts
    try:
        settings = AlertSettings.from_env(env, a)
    except InputError as exc:
        return Check("alerts", "fail", str(exc), f"fix the URL in ${exc.argument}; the file names only the variable")
    shown = settings.described()
    if not shown:
        return Check("alerts", "warn", f"off: ${a.urls_env} and ${a.webhook_env} are empty",
                     f"export {a.urls_env}='tgram://BOT_TOKEN/CHAT_ID' (any apprise URL) or {a.webhook_env}")
    return Check("alerts", "pass", f"{len(shown)} target(s): {', '.join(shown)}; at most {a.max_per_window} per "
                                   f"kind per {a.window_s:g} s, {a.retries} attempts each")


def render(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = []
    for c in checks:
        lines.append(f"  {c.status.upper():<4}  {c.name:<{width}}  {c.detail}")
        if c.fix and c.status != "pass":
            lines.append(f"  {'':<4}  {'':<{width}}  fix: {c.fix}")
    n = {s: sum(c.status == s for c in checks) for s in ("pass", "warn", "fail")}
    lines.append(f"{len(checks)} checks: {n['pass']} pass, {n['warn']} warn, {n['fail']} fail")
    return "\n".join(lines)
