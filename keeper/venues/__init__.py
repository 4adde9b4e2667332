"""Protocol adapters: one module per protocol, each behind a small interface."""
