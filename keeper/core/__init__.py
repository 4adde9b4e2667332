"""Pure decision and risk code: numpy + stdlib only, no I/O, no clock, no environment.

Risk-engine modules (each documents its formulas and units):

* :mod:`keeper.core.normal` -- vectorized ``erfc`` / normal CDF (Cody 1969).
* :mod:`keeper.core.options` -- Black-Scholes-Merton and Black-76 prices and greeks.
* :mod:`keeper.core.implied_vol` -- vectorized implied-volatility inversion.
* :mod:`keeper.core.tick_math` -- Uniswap v3 TickMath / FullMath, exact integers.
* :mod:`keeper.core.lp_math` -- v3 position amounts and fees (exact) and LP greeks (float).
* :mod:`keeper.core.vol` -- volatility models (fixed, EWMA, GARCH(1,1)) and realized vol.
* :mod:`keeper.core.portfolio` -- per-underlying aggregation and scenario grids.

Nothing is imported here, so importing one module does not pull in the others.
"""
