"""Our own contracts' build: forge / npm artifacts (ABIs, bytecode) for error decoding and code checks."""
