"""What the keeper reads, prices with and signs with, built from a validated config.

The config (:mod:`keeper.config`) holds values; these functions turn them into the objects the
composition root (:mod:`keeper.cycle.compose`) and the commands wire together: the reader's
:class:`~keeper.read.reader.BookSources`, the vol models, the implied-vol surface feeds, the
signer's key source and the OTC positions. None of them touches the network; the surface and
OTC files are read here, so a bad file fails at start-up with a ``config error:`` line naming its
field.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from keeper.config import KeeperConfig
from keeper.core.smile_delta import MinVarianceCoefficients, SmilePolicy
from keeper.core.snapshot import OptionPosition, V4PoolKey
from keeper.core.vol import FixedVol, PoolHistoryVol, VolModel
from keeper.errors import ConfigError, InputError
from keeper.execute.signer import EnvKeySource, KeystoreSource, SignerSource
from keeper.read.reader import AssetSource, BookSources, PerpSource, V4HedgeSource, V4Sources
from keeper.read.surface_io import SurfaceFeed, fit_min_variance_file
from keeper.venues.otc import load_otc_positions

__all__ = ["book_sources", "otc_positions", "signer_source", "surface_feeds", "vol_models"]


def otc_positions(cfg: KeeperConfig) -> tuple[OptionPosition, ...]:
    """The OTC positions of ``positions.otc_file`` (empty without one)."""
    path = cfg.positions.otc_file
    if path is None:
        return ()
    try:
        return load_otc_positions(path, cfg.symbols)
    except InputError as exc:
        detail = str(exc).removeprefix("otc_file: ")
        raise ConfigError(f"config error: positions.otc_file = {json.dumps(str(path))}: {detail}") from None


def vol_models(cfg: KeeperConfig) -> dict[str, VolModel | PoolHistoryVol]:
    """Per asset: the fixed vol, or EWMA / GARCH fitted on its oracle pool's history as read in each
    cycle's snapshot (the pool's token order decides the sign of its ticks)."""
    vol = cfg.vol
    if vol.model == "fixed":
        return {sym: FixedVol(v) for sym, v in vol.fixed.items()}
    out: dict[str, VolModel | PoolHistoryVol] = {}
    for a in cfg.assets:
        assert a.oracle_pool is not None  # the config requires it for ewma/garch
        out[a.symbol] = PoolHistoryVol(a.oracle_pool, int(a.token, 16) < int(cfg.quote.token, 16),
                                       vol.model, vol.history_s, vol.sample_s, vol.ewma_lambda, vol.garch_dist)
    return out


def book_sources(cfg: KeeperConfig, owners: Sequence[str]) -> BookSources:
    """What the book reader reads for ``owners`` (see :meth:`~keeper.config.TreasuryConfig.read_owners`).

    Loads ``positions.otc_file`` when one is configured.
    """
    return BookSources(
        owners=tuple(owners),
        position_manager=cfg.uniswap.position_manager,
        factory=cfg.uniswap.factory,
        quote_token=cfg.quote.token,
        assets=tuple(AssetSource(a.symbol, a.token, a.feed, a.oracle_pool, a.hedge_pools) for a in cfg.assets),
        option_markets=cfg.positions.option_markets,
        perp_markets=tuple(PerpSource(a.perp_market, a.symbol) for a in cfg.assets if a.perp_market is not None),
        twap_window_s=cfg.oracles.twap_window_s,
        otc_positions=otc_positions(cfg),
        native_asset=cfg.native_asset,
        histories=tuple((m.pool, m.seconds_agos()) for m in vol_models(cfg).values()
                        if isinstance(m, PoolHistoryVol)),
        aave_pools=cfg.positions.aave_pools + (
            (cfg.aave.pool,) if cfg.aave is not None and cfg.aave.pool is not None and cfg.aave.pool.lower() not in
            {p.lower() for p in cfg.positions.aave_pools} else ()),
        v4=None if cfg.uniswap_v4 is None else V4Sources(
            cfg.uniswap_v4.position_manager, cfg.uniswap_v4.state_view, cfg.uniswap_v4.token_ids,
            native_asset=cfg.native_symbol,
            hedge_pools=tuple(V4HedgeSource(V4PoolKey(p.currency0, p.currency1, p.fee, p.tick_spacing, p.hooks),
                                            p.asset, p.quote_size_units) for p in cfg.uniswap_v4.hedge_pools),
            quoter=cfg.uniswap_v4.quoter),
    )


def surface_feeds(cfg: KeeperConfig) -> dict[str, SurfaceFeed]:
    """One :class:`~keeper.read.surface_io.SurfaceFeed` per ``[vol.surfaces.<SYMBOL>]``.

    Loads each surface file once (so a bad file fails here, naming its field path) and fits the
    Hull-White coefficients of ``min_variance_history``.
    """
    out: dict[str, SurfaceFeed] = {}
    for sym, sc in cfg.vol.surfaces.items():
        where = f"vol.surfaces.{sym}"
        try:
            mv = None
            if sc.min_variance is not None:
                mv = MinVarianceCoefficients(sc.min_variance.a, sc.min_variance.b, sc.min_variance.c)
            elif sc.min_variance_history is not None:
                where = f"vol.surfaces.{sym}.min_variance_history"
                mv = fit_min_variance_file(sc.min_variance_history).coefficients
            policy = SmilePolicy(sc.delta_flavour, sc.max_age_s, sc.fallback_spread, mv)
            where = f"vol.surfaces.{sym}.{'file' if sc.file is not None else 'grid'}"
            feed = SurfaceFeed(sym, policy, sc.strict, sc.file, None if sc.grid is None else sc.core_grid(sym))
            feed.current()
        except InputError as exc:
            raise ConfigError(f"config error: {where}: {exc}") from None
        out[sym] = feed
    return out


def signer_source(cfg: KeeperConfig) -> SignerSource:
    """The :mod:`keeper.execute.signer` source of the signing key (``[signer]``)."""
    s = cfg.signer
    if s.keystore is not None:
        return KeystoreSource(s.keystore, s.password_file, s.password_env)
    return EnvKeySource(s.key_env or "KEEPER_PRIVATE_KEY")
