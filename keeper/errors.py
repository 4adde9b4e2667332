"""The one error tree of the keeper.

Every failure the keeper signals is a :class:`KeeperError`. Functions never
signal failure by returning ``None``. Errors that are also ordinary Python
errors (a bad argument is a ``ValueError``) inherit both, so callers can catch
either.
"""

from __future__ import annotations

__all__ = [
    "ChainError",
    "ChainIdMismatchError",
    "ClusterError",
    "ConfigError",
    "ContractCallError",
    "DegenerateSeriesError",
    "DevnetError",
    "FencingError",
    "HaltError",
    "InputError",
    "JournalError",
    "KeeperError",
    "ModuleVenueUnsupportedError",
    "NumericalError",
    "SetupError",
    "SnapshotIncompleteError",
    "TransactionError",
    "TransportError",
]


class KeeperError(Exception):
    """Root of every error the keeper raises on purpose."""


class InputError(KeeperError, ValueError):
    """A caller passed a bad argument. The message names the argument."""

    def __init__(self, argument: str, message: str) -> None:
        self.argument = argument
        super().__init__(f"{argument}: {message}")


class DegenerateSeriesError(InputError):
    """A time series is too short or carries no information (constant, non-finite)."""


class NumericalError(KeeperError, ArithmeticError):
    """A numerical routine failed to converge or left its domain."""


class ConfigError(KeeperError, ValueError):
    """The configuration is invalid. The message names the field path and the bad value."""


class SetupError(KeeperError, RuntimeError):
    """A tool or artifact the keeper needs is missing (node, npm, anvil, a contract build)."""


class DevnetError(KeeperError, RuntimeError):
    """The local chain could not be started or deployed."""


class ClusterError(KeeperError, RuntimeError):
    """The Dask cluster running a backtest could not be reached or failed a task past its retries."""


class ChainError(KeeperError):
    """Anything that went wrong talking to a chain."""


class TransportError(ChainError, ConnectionError):
    """The RPC could not be reached or answered garbage; safe to retry."""


class ChainIdMismatchError(ChainError):
    """The RPC serves a different chain than the configuration expects."""


class ContractCallError(ChainError):
    """A contract call reverted or returned data that does not decode."""


class SnapshotIncompleteError(ChainError):
    """Some position or price could not be read; the snapshot must not be traded on."""


class TransactionError(ChainError):
    """A transaction failed to be sent, mined, or reverted."""


class ModuleVenueUnsupportedError(KeeperError):
    """A venue the keeper can trade from its own account but not yet through the Safe's HedgeModule
    (Uniswap v4 swaps, Aave borrow / repay): the module has no on-chain path for it yet."""


class JournalError(KeeperError):
    """The journal could not be opened, migrated or written."""


class FencingError(KeeperError):
    """This keeper's lease is gone (expired, or taken by another keeper with a newer fencing token):
    the journal refuses to let it create, sign or broadcast anything. The keeper steps down to follower."""


class HaltError(KeeperError):
    """The keeper stopped on purpose: a circuit breaker tripped or an operator paused it."""
