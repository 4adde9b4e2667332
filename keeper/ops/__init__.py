"""Operating the keeper safely: ``doctor`` (preflight), ``health`` (readiness probe), two-stage go-live
(``activate`` / ``deactivate`` and the gate ``run`` / ``once`` pass through every cycle) and alerts.

Modules: :mod:`.doctor`, :mod:`.health`, :mod:`.golive`, :mod:`.alerts`, :mod:`.watch` (the per-cycle
gate and alert hooks), :mod:`.onchain` (the HedgeModule's parameters), :mod:`.cli` (``add_parsers``).
"""
