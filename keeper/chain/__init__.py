"""EVM I/O that knows no protocol: RPC client, Multicall3, fees, transactions."""
