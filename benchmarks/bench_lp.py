"""Value, delta and gamma of 100,000 Uniswap v3 positions (lp_greeks.n1e5, milliseconds, best of 20).

Run: ``python benchmarks/bench_lp.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np

from benchmarks._common import best_time, emit
from keeper.core.lp_math import lp_greeks

N = 100_000


def main() -> None:
    rng = np.random.default_rng(4)
    centre = -196_250  # WETH(18)/USDC(6) near 3000 USDC per WETH
    lower = centre - rng.integers(10, 5000, N) * 10
    upper = centre + rng.integers(10, 5000, N) * 10
    liquidity = rng.uniform(1e12, 1e18, N)
    spot = rng.uniform(2500.0, 3500.0, N)

    def run() -> None:
        lp_greeks(liquidity, lower, upper, spot, underlying_is_token0=True, decimals0=18, decimals1=6)

    seconds = best_time(run, repeat=20, warmup=2)
    emit("lp_greeks.n1e5", seconds * 1e3, "ms", positions=N)


if __name__ == "__main__":
    main()
