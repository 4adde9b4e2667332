"""On-chain DeFi hedging keeper.

Reads a treasury's Uniswap v3 LPs, options and perps at one block, computes the
portfolio's greeks off-chain, decides whether a hedge is worth its cost and
executes it on-chain, directly or through a Safe module that bounds it.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
