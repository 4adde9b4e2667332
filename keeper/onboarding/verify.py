"""What the owners sign is verified, not trusted.

An owner batch is only as honest as the addresses and names in it. Everything ``keeper propose``
puts in front of the owners is checked against something the config cannot forge:

* the HedgeModule's **runtime code** against our own build (:data:`MODULE_FINGERPRINT`, the keccak
  of the runtime bytecode with its immutables zeroed, made from ``contracts/out`` by
  ``scripts/fingerprint`` and tested against the build), so a contract that merely answers
  ``safe()`` is never presented as the HedgeModule;
* the Uniswap v3 **router, factory and position manager** against the canonical deployments of the
  chain id (:data:`CANONICAL_UNISWAP_V3`); on a chain not in the table only with an explicit
  ``--unknown-chain`` and a loud warning in the batch;
* every **feed**: it answers ``decimals()``, ``description()`` and a positive, fresh
  ``latestRoundData()``, and its price agrees with a Uniswap pool of the asset within
  ``oracles.max_deviation_bps`` (a hostile feed would remove the module's price bound);
* token **symbols and decimals** read from the tokens, never from the config.

The keeper's address is derived from its key (:func:`keeper.onboarding.intent.keeper_address`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from eth_utils.address import to_checksum_address

from keeper.build.fingerprint import (
    MODULE_FINGERPRINT,
    VENUE_MODULE_FINGERPRINT,
    ModuleFingerprint,
    VerificationError,
    fingerprint_of_artifact,
    masked_code_hash,
)
from keeper.chain.rpc import RpcClient
from keeper.config import KeeperConfig
from keeper.core.lp_math import sqrt_price_x96_to_price
from keeper.errors import ContractCallError
from keeper.onboarding.reads import view
from keeper.venues import chainlink, erc20, uniswap_v3

__all__ = [
    "CANONICAL_UNISWAP_V3",
    "MODULE_FINGERPRINT",
    "VENUE_MODULE_FINGERPRINT",
    "CanonicalV3",
    "FeedCheck",
    "ModuleFingerprint",
    "VerificationError",
    "check_feeds",
    "check_uniswap",
    "fingerprint_of_artifact",
    "masked_code_hash",
    "token_names",
    "verify_module_code",
]

def verify_module_code(rpc: RpcClient, module: str, expected: ModuleFingerprint | None = None) -> str:
    """Raise :class:`VerificationError` unless ``module``'s runtime code is our HedgeModule build.

    Returns the (masked) code hash, for the owners to see.
    """
    want = expected or ModuleFingerprint.load()
    code = bytes.fromhex(str(rpc.call("eth_getCode", [module, "latest"])).removeprefix("0x"))
    if not code:
        raise VerificationError(f"module: no contract at {module}")
    got = masked_code_hash(code, want.immutables)
    if len(code) != want.code_length or got != want.code_hash:
        raise VerificationError(
            f"module: {module} is not the keeper's HedgeModule: its runtime code ({len(code):,} bytes, hash {got}) "
            f"differs from our build ({want.code_length:,} bytes, hash {want.code_hash}). Do not enable it; "
            "deploy the HedgeModule from contracts/ (or check that this keeper matches the deployed version)")
    return got


# ---------------------------------------------------------------------------- canonical addresses

@dataclass(frozen=True)
class CanonicalV3:
    name: str
    factory: str
    position_manager: str
    routers: tuple[str, ...]
    """SwapRouter deployments whose ``exactInputSingle`` takes a deadline (the module's interface)."""


_V3_SAME = ("0x1F98431c8aD98523631AE4a59f267346ea31F984", "0xC36442b4a4522E871399CD717aBDD847Ab11FE88",
            ("0xE592427A0AEce92De3Edee1F18E0157C05861564",))

CANONICAL_UNISWAP_V3: Final[Mapping[int, CanonicalV3]] = {
    1: CanonicalV3("Ethereum mainnet", *_V3_SAME),
    10: CanonicalV3("Optimism", *_V3_SAME),
    137: CanonicalV3("Polygon", *_V3_SAME),
    42161: CanonicalV3("Arbitrum One", *_V3_SAME),
}
"""Uniswap's own v3 deployments per chain id (from Uniswap's deployment tables; the same addresses on
these four chains). Chains whose only router is SwapRouter02 are not listed: the module calls the
deadline form of ``exactInputSingle``."""


def check_uniswap(cfg: KeeperConfig, *, unknown_chain_ok: bool = False) -> list[str]:
    """Check the config's Uniswap addresses against :data:`CANONICAL_UNISWAP_V3`.

    Returns warnings for the batch (non-empty only on an unknown chain with ``unknown_chain_ok``).
    Raises :class:`VerificationError` naming the field on a mismatch, or on an unknown chain
    without ``unknown_chain_ok``.
    """
    chain_id = cfg.chain.chain_id
    known = CANONICAL_UNISWAP_V3.get(chain_id)
    u = cfg.uniswap
    if known is None:
        warning = (f"WARNING: chain {chain_id} has no canonical Uniswap v3 deployment known to this keeper: the "
                   f"router {u.router}, factory {u.factory} and position manager {u.position_manager} are taken "
                   "from the config UNVERIFIED. Check each against the chain's official deployment before signing.")
        if not unknown_chain_ok:
            raise VerificationError(
                f"uniswap: chain {chain_id} is not one of the chains with known Uniswap v3 deployments "
                f"({', '.join(f'{k} {v.name}' for k, v in CANONICAL_UNISWAP_V3.items())}); the router, factory and "
                "position manager cannot be verified. Re-run with --unknown-chain to propose them unverified "
                "(the batch will say so)")
        return [warning]
    problems = []
    if to_checksum_address(u.factory) != known.factory:
        problems.append(f"uniswap.factory = {u.factory}: the canonical factory on {known.name} is {known.factory}")
    if to_checksum_address(u.position_manager) != known.position_manager:
        problems.append(f"uniswap.position_manager = {u.position_manager}: the canonical one on {known.name} is "
                        f"{known.position_manager}")
    if to_checksum_address(u.router) not in known.routers:
        problems.append(f"uniswap.router = {u.router}: the canonical SwapRouter on {known.name} is "
                        f"{' or '.join(known.routers)}")
    if problems:
        raise VerificationError("; ".join(problems))
    return []


# ---------------------------------------------------------------------------- tokens and feeds

def token_names(rpc: RpcClient, tokens: Sequence[str]) -> dict[str, tuple[str, int]]:
    """``{token: (symbol, decimals)}`` read from each token contract (never from the config)."""
    out: dict[str, tuple[str, int]] = {}
    for t in tokens:
        try:
            (symbol,) = view(rpc, erc20.symbol_call(t))
            (decimals,) = view(rpc, erc20.decimals_call(t))
        except (ContractCallError, ValueError) as exc:
            raise VerificationError(f"token {t}: does not answer symbol() and decimals() as an ERC-20 ({exc})") \
                from None
        out[to_checksum_address(t)] = (str(symbol), int(decimals))
    return out


@dataclass(frozen=True)
class FeedCheck:
    symbol: str
    feed: str
    description: str
    decimals: int
    price_usd: float
    age_s: int
    pool: str | None
    pool_price_usd: float | None

    @property
    def deviation_bps(self) -> float | None:
        if self.pool_price_usd is None:
            return None
        return abs(self.price_usd / self.pool_price_usd - 1.0) * 1e4

    def line(self) -> str:
        where = (f"; pool {self.pool} at {self.pool_price_usd:,.2f} USD, {self.deviation_bps:,.1f} bps apart"
                 if self.pool is not None and self.pool_price_usd is not None else "; no pool to compare with")
        return (f"{self.symbol} feed {self.feed} \"{self.description}\": {self.price_usd:,.4f} USD, "
                f"{self.decimals} decimals, updated {self.age_s:,} s ago{where}")


def _pool_price(rpc: RpcClient, pool: str, asset: str, quote: str, names: Mapping[str, tuple[str, int]]) -> float:
    (t0,) = view(rpc, uniswap_v3.token0_call(pool))
    (t1,) = view(rpc, uniswap_v3.token1_call(pool))
    slot0 = view(rpc, uniswap_v3.slot0_call(pool))
    t0, t1 = to_checksum_address(t0), to_checksum_address(t1)
    if {t0, t1} != {to_checksum_address(asset), to_checksum_address(quote)}:
        raise VerificationError(f"pool {pool}: trades {t0}/{t1}, not the asset {asset} against the quote {quote}")
    d0, d1 = names[t0][1], names[t1][1]
    price = sqrt_price_x96_to_price(int(slot0[0]), d0, d1)  # token1 per token0, human units
    return float(price if t0 == to_checksum_address(asset) else 1.0 / price)


def check_feeds(cfg: KeeperConfig, rpc: RpcClient, feeds: Mapping[str, str] | None = None) -> list[FeedCheck]:
    """Check each asset's feed (and any extra ``{symbol: feed}``, e.g. the quote token's).

    A feed must answer ``decimals()`` (1..36), ``description()``, and a positive answer no older than
    ``oracles.max_feed_age_s``; an asset's feed must agree with its oracle pool (else its first hedge
    pool) within ``oracles.max_deviation_bps``; a quote-token feed must read 1 USD within that
    tolerance. Raises :class:`VerificationError` naming the feed and the numbers.
    """
    head = rpc.call("eth_getBlockByNumber", ["latest", False])
    now = int(head["timestamp"], 16)
    tol = cfg.oracles.max_deviation_bps
    quote = cfg.quote.token
    names = token_names(rpc, [quote, *(a.token for a in cfg.assets)])
    todo: list[tuple[str, str, str | None, str | None]] = [
        (a.symbol, a.feed, a.token, a.oracle_pool or (a.hedge_pools[0] if a.hedge_pools else None))
        for a in cfg.assets]
    todo += [(sym, feed, None, None) for sym, feed in (feeds or {}).items()]
    out: list[FeedCheck] = []
    for symbol, feed, token, pool in todo:
        try:
            (dec,) = view(rpc, chainlink.decimals_call(feed, symbol))
            (desc,) = view(rpc, chainlink.description_call(feed, symbol))
            rd = view(rpc, chainlink.latest_round_call(feed, symbol))
        except (ContractCallError, ValueError) as exc:
            raise VerificationError(f"{symbol} feed {feed}: not a Chainlink-style aggregator ({exc})") from None
        dec = int(dec)
        if not 0 < dec <= 36:
            raise VerificationError(f"{symbol} feed {feed}: {dec} decimals (expected 1..36)")
        answer, updated = int(rd[1]), int(rd[3])
        if answer <= 0:
            raise VerificationError(f"{symbol} feed {feed}: answers {answer} (must be > 0)")
        age = now - updated
        if age > cfg.oracles.max_feed_age_s:
            raise VerificationError(f"{symbol} feed {feed}: last updated {age:,} s ago, above "
                                    f"oracles.max_feed_age_s = {cfg.oracles.max_feed_age_s:,} s")
        price = answer / 10**dec
        pool_price = None
        if token is not None and pool is not None:
            pool_price = _pool_price(rpc, pool, token, quote, names)
        elif token is None:
            pool_price = 1.0  # a quote-token (stablecoin) feed: 1 USD
        check = FeedCheck(symbol, feed, str(desc), dec, price, age, pool, pool_price)
        if check.deviation_bps is not None and check.deviation_bps > tol:
            against = f"pool {pool} at {pool_price:,.4f} USD" if pool is not None else "1 USD"
            raise VerificationError(
                f"{symbol} feed {feed} (\"{desc}\") reads {price:,.4f} USD, {check.deviation_bps:,.1f} bps from "
                f"{against} (limit oracles.max_deviation_bps = {tol:g}): a wrong feed would void the module's "
                "price bound; fix the config's feed")
        out.append(check)
    return out
