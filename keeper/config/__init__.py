"""The keeper's configuration: one TOML file, overridable by ``KEEPER_*`` variables, into frozen pydantic models.

This package is the only place that reads the config file or the ``KEEPER_*`` overrides. Use
:func:`load_config`; every problem of a file is reported at once as a
:class:`~keeper.errors.ConfigError`, one ``config error: <field.path> = <value>: <message>``
line each. See ``examples/devnet.toml`` and ``examples/mainnet.example.toml``.
"""

from __future__ import annotations

from keeper.config.loader import ENV_PREFIX, apply_env_overrides, load_config, parse_env_value
from keeper.config.model import AssetPolicy, KeeperConfig
from keeper.config.problems import format_config_error
from keeper.config.sections import (
    AlertsConfig,
    AssetConfig,
    ChainConfig,
    ExecutionConfig,
    JournalConfig,
    LeaseConfig,
    MetricsConfig,
    OraclesConfig,
    PolicyOverride,
    PositionsConfig,
    QuoteConfig,
    SafetyConfig,
    ScheduleConfig,
    SignerConfig,
    TreasuryConfig,
    UniswapConfig,
    UniswapV4Config,
    VolConfig,
)

__all__ = [
    "ENV_PREFIX",
    "AlertsConfig",
    "AssetConfig",
    "AssetPolicy",
    "ChainConfig",
    "ExecutionConfig",
    "JournalConfig",
    "KeeperConfig",
    "LeaseConfig",
    "MetricsConfig",
    "OraclesConfig",
    "PolicyOverride",
    "PositionsConfig",
    "QuoteConfig",
    "SafetyConfig",
    "ScheduleConfig",
    "SignerConfig",
    "TreasuryConfig",
    "UniswapConfig",
    "UniswapV4Config",
    "VolConfig",
    "apply_env_overrides",
    "format_config_error",
    "load_config",
    "parse_env_value",
]
