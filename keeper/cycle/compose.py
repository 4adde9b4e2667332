"""Composition: build a :class:`~keeper.cycle.runner.Keeper` from a validated config.

Everything that touches the outside world is created here: the RPC client (chain id checked), the
signer, the journal, the transaction manager, the executor, the vol models and surface feeds (built
from the config's values by :mod:`keeper.cycle.sources`). ``keeper/cli/main.py`` calls
these functions and prints; nothing else constructs I/O objects.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from keeper.chain.multicall import Multicall
from keeper.chain.rpc import RpcClient
from keeper.config import KeeperConfig
from keeper.cycle.lease import LeaseGuard, default_holder, lease_scope
from keeper.cycle.runner import Keeper
from keeper.cycle.sources import book_sources, signer_source, surface_feeds, vol_models
from keeper.errors import ChainError, SetupError
from keeper.execute.execution import Executor
from keeper.execute.fees import GWEI, FeePolicy
from keeper.execute.signer import Signer, load_signer
from keeper.execute.tx import Attempt, ErrorDecoder, Mined, TxManager, TxRequest, TxRevertedError, TxTimeoutError
from keeper.journal import Journal
from keeper.read.reader import BookReader
from keeper.venues import chainlink, hedge_module

__all__ = ["ChainKeeper", "ForkTxManager", "build_keeper", "error_decoder", "feed_prices", "module_keeper"]


ChainKeeper: TypeAlias = Keeper[RpcClient, BookReader, Journal, TxManager]
"""The production keeper: its ports are the RPC client, the book reader, the SQLite journal and the
transaction manager (each satisfies its :mod:`keeper.cycle.ports` protocol; mypy checks it here)."""


def error_decoder() -> ErrorDecoder:
    """Custom-error names from our contracts' ABIs when the build is present (else selectors only)."""
    from keeper.build.artifacts import forge_artifact

    abis = []
    for name in ("HedgeModule", "HedgeVenueModule", "PerpMarket", "OptionMarket", "DevToken"):
        try:
            abis.append(forge_artifact(name).abi)
        except SetupError:
            continue
    return ErrorDecoder(abis)


class ForkTxManager(TxManager):
    """Sends as an impersonated account on an anvil fork (``eth_sendTransaction``): dry runs need no key."""

    def send(self, req: TxRequest, before_broadcast: Callable[[Attempt], None]) -> Mined:
        gas = req.gas if req.gas is not None else self.preflight(req)
        fees = self.suggest_fees()
        nonce = self.chain_nonce("pending")
        tx = {**self._call_params(req), "gas": hex(gas), "maxFeePerGas": hex(fees.max_fee_per_gas),
              "maxPriorityFeePerGas": hex(fees.max_priority_fee_per_gas), "nonce": hex(nonce)}
        tx_hash = str(self.rpc.call("eth_sendTransaction", [tx]))
        raw = str(self.rpc.call("eth_getRawTransactionByHash", [tx_hash]) or "0x")
        attempt = Attempt(nonce=nonce, tx_hash=tx_hash, raw=bytes.fromhex(raw[2:]), fees=fees, gas=gas)
        before_broadcast(attempt)
        start = self.clock()
        while self.clock() - start < self.timeout_s:
            found = self.receipts([attempt])
            if tx_hash in found:
                receipt = found[tx_hash]
                if int(receipt["status"], 16) != 1:
                    reason, name, args = self.revert_reason(req, receipt)
                    raise TxRevertedError(reason, error_name=name, args=args, tx_hash=tx_hash)
                return Mined(receipt=receipt, attempt=attempt, attempts=(attempt,))
            self.sleep(self.poll_s)
        raise TxTimeoutError(f"no receipt for {tx_hash} on the fork", [attempt])


@dataclass(frozen=True)
class _Address:
    """A signer stand-in that only knows its address (dry runs and impersonation)."""

    address: str

    def sign_transaction(self, tx: dict[str, Any]) -> Any:
        raise SetupError("this keeper runs without a signing key (plan/simulate); it cannot sign")


def module_keeper(rpc: RpcClient, module: str, block: int | None = None) -> str:
    """The address a HedgeModule accepts hedges from (read on chain)."""
    mc = Multicall(rpc)
    [res] = mc.execute([hedge_module.keeper_call(module)],
                       block if block is not None else rpc.block_number())
    if not res.ok:
        raise ChainError(f"treasury.hedge_module {module}: keeper() unreadable: {getattr(res, 'reason', '')}")
    return str(res.value[0])  # type: ignore[union-attr]


def build_keeper(
    cfg: KeeperConfig,
    *,
    env: Mapping[str, str],
    live: bool,
    journal: Journal | None = None,
    rpc_url: str | None = None,
    signer: Signer | None = None,
    impersonate: bool = False,
    need_key: bool = True,
    log: Callable[[str], None] = lambda _m: None,
) -> ChainKeeper:
    """Build the keeper. ``impersonate`` (forks only) sends as the keeper address without a key;
    ``need_key=False`` lets read-only commands (``plan``) run without the signer's key."""
    rpc = RpcClient.http(rpc_url or str(cfg.chain.rpc_url), timeout_s=cfg.chain.timeout_s)
    rpc.check_chain_id(cfg.chain.chain_id)
    multicall = Multicall(rpc)
    who: Any
    if signer is not None:
        who = signer
    elif impersonate or not need_key:
        if cfg.treasury.mode == "safe-module" and cfg.treasury.hedge_module is not None:
            who = _Address(module_keeper(rpc, cfg.treasury.hedge_module))
        else:  # eoa mode trades the signer's own funds: its address is needed, hence its key
            who = load_signer(signer_source(cfg), env=env)
    else:
        who = load_signer(signer_source(cfg), env=env)
    ex = cfg.execution
    fee_policy = FeePolicy(
        max_fee_cap_wei=int(ex.max_fee_gwei * GWEI), max_priority_cap_wei=int(ex.max_priority_gwei * GWEI),
        min_priority_wei=min(10**8, int(ex.max_priority_gwei * GWEI)),
    )
    tx_cls = ForkTxManager if impersonate else TxManager
    tx = tx_cls(rpc, who, cfg.chain.chain_id, policy=fee_policy, errors=error_decoder(),
                replace_after_s=ex.replace_after_s, timeout_s=ex.tx_timeout_s, poll_s=0.25)
    account = cfg.treasury.account(who.address)
    sources = book_sources(cfg, cfg.treasury.read_owners(who.address))
    executor = Executor(
        mode=cfg.treasury.mode, account=account, router=cfg.uniswap.router,
        module=cfg.treasury.hedge_module or "", tokens={a.symbol: a.token for a in cfg.assets},
        quote_token=cfg.quote.token, max_slippage_bps=1000, deadline_s=ex.deadline_s,
        universal_router=(cfg.uniswap_v4.universal_router or "") if cfg.uniswap_v4 is not None else "",
        venue_module=(cfg.treasury.hedge_venue_module or "") if cfg.treasury.mode == "safe-module" else "",
    )
    journal = journal if journal is not None else Journal.open(cfg.journal.target)
    lease = None
    if cfg.lease.enabled:
        lease = LeaseGuard(journal, lease_scope(cfg.chain.chain_id, account), cfg.lease.holder or default_holder(),
                           cfg.lease.ttl_s)
    return Keeper(
        rpc=rpc, reader=BookReader(rpc, sources, multicall), multicall=multicall,
        journal=journal, tx=tx, executor=executor, lease=lease,
        policy=cfg.policy_config(), venues=cfg.underlying_venues(), vol_models=vol_models(cfg),
        quote_token=cfg.quote.token, chain_id=cfg.chain.chain_id, live=live,
        max_consecutive_failures=cfg.safety.max_consecutive_failures, vol_horizon_s=cfg.vol.horizon_s,
        native_asset="ETH" if "ETH" in cfg.symbols else cfg.symbols[0], log=log, surfaces=surface_feeds(cfg),
        loan=cfg.loan_config(),
        native_reserve_units=cfg.uniswap_v4.native_reserve_units if cfg.uniswap_v4 is not None else 0.5,
        record_signer=who if isinstance(who, Signer) else None,  # no key (a dry run): unsigned audit records
    )


def feed_prices(keeper: ChainKeeper) -> Callable[[], dict[str, float]]:
    """A cheap batched read of every asset's feed (for the scheduler's price watcher)."""
    assets: Sequence[Any] = keeper.reader.sources.assets
    calls = [chainlink.latest_round_call(a.feed, a.symbol) for a in assets]
    decs = [chainlink.decimals_call(a.feed, a.symbol) for a in assets]

    def read() -> dict[str, float]:
        block = keeper.rpc.block_number()
        res = keeper.multicall.execute([*calls, *decs], block)
        out = {}
        for i, a in enumerate(assets):
            r, d = res[i], res[len(assets) + i]
            if r.ok and d.ok:
                out[a.symbol] = int(r.value[1]) / 10 ** int(d.value[0])  # type: ignore[union-attr]
        return out

    return read
