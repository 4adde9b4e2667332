"""Observability: logging (with secret redaction) and Prometheus metrics."""
