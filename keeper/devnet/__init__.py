"""The local world: anvil with real Uniswap v3, a Safe 1.4.1 treasury, Multicall3 and feeds."""
