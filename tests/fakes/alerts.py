"""An in-memory alert sink: the :class:`keeper.cycle.ports.AlertSink` port as a list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class ListAlerts:
    sent: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    closed: bool = False

    def send(self, kind: str, text: str, **fields: Any) -> bool:
        if self.closed:
            return False
        self.sent.append((kind, text, fields))
        return True

    def flush(self, timeout_s: float = 5.0) -> bool:
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        self.closed = True

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.sent]
