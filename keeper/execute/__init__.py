"""Executing hedges: executors (module / EOA), transactions, fees and signers."""
