"""A manual clock: the :class:`~keeper.cycle.ports.Clock` port without real waits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class FakeClock:
    """``sleep`` moves the time forward at once and runs ``on_sleep`` (e.g. the chain mines a block
    while the keeper waits); ``slept`` sums every wait."""

    t: float = 1_000.0
    on_sleep: list[Callable[[], None]] = field(default_factory=list)
    slept: float = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float, /) -> None:
        self.t += seconds
        self.slept += seconds
        for hook in self.on_sleep:
            hook()
