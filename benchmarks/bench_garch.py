"""Seconds to fit GARCH(1,1) on 8,760 hourly returns (garch.fit_8760, best of 5, normal and t).

Run: ``python benchmarks/bench_garch.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import math

import numpy as np

from benchmarks._common import best_time, emit
from keeper.core.vol import GarchVol


def simulate(n: int, seed: int = 8) -> np.ndarray:
    """Hourly GARCH(1,1) returns: omega 2e-6, alpha 0.08, beta 0.90 (about 86 % annual vol)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal(n)
    r = np.empty(n)
    s2 = 2e-6 / 0.02
    for i in range(n):
        r[i] = math.sqrt(s2) * z[i]
        s2 = 2e-6 + 0.08 * r[i] ** 2 + 0.90 * s2
    return r


def main() -> None:
    returns = simulate(8760)
    emit("garch.fit_8760", best_time(lambda: GarchVol.fit(returns, 3600.0), repeat=5), "s", dist="normal")
    emit("garch.fit_8760_t", best_time(lambda: GarchVol.fit(returns, 3600.0, dist="t"), repeat=5), "s",
         dist="t")


if __name__ == "__main__":
    main()
