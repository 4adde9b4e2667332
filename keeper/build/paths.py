"""Where the checkout is: the folder that holds ``node_modules``, ``contracts`` and ``examples``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root"]


def repo_root() -> Path:
    """The checkout that holds ``node_modules`` and ``contracts`` (``KEEPER_ROOT`` overrides)."""
    env = os.environ.get("KEEPER_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[2]
