"""The ``keeper`` command's exit codes, for every sub-command (nothing outside ``keeper.cli`` needs them)."""

from __future__ import annotations

__all__ = ["EXIT_BROKEN_PIPE", "EXIT_ERROR", "EXIT_HALTED", "EXIT_OK", "EXIT_SETUP", "EXIT_TAMPERED", "EXIT_UNSIGNED",
           "EXIT_USAGE"]

EXIT_OK = 0
"""Success."""
EXIT_ERROR = 1
"""A keeper error at run time (a failed cycle, an unreachable chain, a refused transaction)."""
EXIT_USAGE = 2
"""Bad usage, input or config."""
EXIT_SETUP = 3
"""Setup missing (a tool, a contract, a key)."""
EXIT_HALTED = 4
"""Halted: the circuit breaker tripped, or a halt is recorded in the journal."""
EXIT_TAMPERED = 5
"""``keeper audit verify``: a ledger record or a journal row was edited, deleted, inserted or reordered."""
EXIT_UNSIGNED = 6
"""``keeper audit verify``: the ledger is intact but some records are unsigned (without ``--allow-unsigned``)."""
EXIT_BROKEN_PIPE = 141
"""128 + SIGPIPE, as a shell reports a process killed by a closed pipe."""
