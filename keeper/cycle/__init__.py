"""The cycle: recover, read, decide, execute, journal; its scheduler, dry runs on a fork, and the composition
root that builds a keeper from its config."""
