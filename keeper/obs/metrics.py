"""Prometheus metrics of one keeper, on its own registry.

Every :class:`KeeperMetrics` owns a dedicated :class:`prometheus_client.CollectorRegistry`
(never the process-global ``REGISTRY``), so tests and several keepers in one
process never collide on metric names.

Exposed series (units are in the names; greeks follow :mod:`keeper.core.portfolio`):

=========================================  ========================  ==================================
name                                       labels                    meaning
=========================================  ========================  ==================================
``keeper_delta_units``                     underlying                delta, units of underlying
``keeper_delta_usd``                       underlying                delta * spot, USD
``keeper_gamma_units_per_usd``             underlying                d(delta)/d(spot)
``keeper_vega_usd_per_vol_point``          underlying                USD per 1 point (0.01) of vol
``keeper_theta_usd_per_day``               underlying                USD per day
``keeper_book_value_usd``                  underlying                mark-to-model value, USD
``keeper_hedges_total``                    underlying, venue         hedges sent
``keeper_hedge_failures_total``            kind                      hedge failures by reason kind
``keeper_hedge_notional_usd_total``        underlying, venue         notional of filled hedges, USD
``keeper_hedge_fees_usd_total``            underlying, venue         venue fees paid (pool / taker), USD
``keeper_hedge_gas_usd_total``             underlying, venue         gas paid, USD at the fill's price
``keeper_perp_funding_accrued_usd``        underlying                funding the book's perps owe now (+ pays), USD
``keeper_live``                            --                        1 when the go-live gate lets it send, 0 in dry run
``keeper_cycles_total``                    status                    cycles run, by outcome
``keeper_cycle_duration_seconds``          --                        cycle latency histogram
``keeper_last_success_timestamp_seconds``  --                        unix time of the last ``ok`` cycle
``keeper_signer_balance_eth``              --                        signer's native balance
``keeper_paused`` / ``keeper_halted``      --                        control flags (0 or 1)
``keeper_snapshot_block``                  --                        block of the last snapshot
=========================================  ========================  ==================================

An underlying that disappears from the book has its greek series removed on
the next :meth:`KeeperMetrics.set_greeks`, so dashboards never show a stale
exposure as if it were current.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Final, Protocol
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, start_http_server
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

from keeper.errors import InputError, SetupError

__all__ = [
    "CONTENT_TYPE",
    "CYCLE_BUCKETS",
    "SUCCESS_STATUS",
    "GreekSummary",
    "KeeperMetrics",
    "MetricsServer",
    "NullMetricsServer",
    "PrometheusServer",
]

CONTENT_TYPE: Final[str] = "text/plain; version=0.0.4; charset=utf-8"
"""``Content-Type`` of :meth:`KeeperMetrics.render`: Prometheus text format 0.0.4, which ``generate_latest``
writes by default (also what the endpoint answers a scraper that asks for nothing newer)."""

CYCLE_BUCKETS: Final[tuple[float, ...]] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0, 20.0, 30.0)
"""Cycle-latency histogram buckets, seconds (``+Inf`` is added by the client)."""

SUCCESS_STATUS: Final[str] = "ok"
"""The cycle status that counts as a success (updates the last-success timestamp)."""


class GreekSummary(Protocol):
    """What :meth:`KeeperMetrics.set_greeks` reads (e.g. :class:`keeper.core.portfolio.RiskSummary`)."""

    @property
    def delta(self) -> float: ...
    @property
    def delta_quote(self) -> float: ...
    @property
    def gamma(self) -> float: ...
    @property
    def vega(self) -> float: ...
    @property
    def theta(self) -> float: ...
    @property
    def value(self) -> float: ...


class MetricsServer(Protocol):
    """A running (or disabled) metrics endpoint."""

    @property
    def port(self) -> int:
        """The bound port; ``0`` when disabled."""
        ...

    def stop(self) -> None:
        """Shut the endpoint down; idempotent."""
        ...


class NullMetricsServer:
    """The endpoint when metrics serving is disabled (port 0): does nothing."""

    @property
    def port(self) -> int:
        return 0

    def stop(self) -> None:
        return None

    def __enter__(self) -> NullMetricsServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


class PrometheusServer:
    """The ``/metrics`` HTTP endpoint of :func:`prometheus_client.start_http_server`, made stoppable."""

    def __init__(self, server: WSGIServer, thread: threading.Thread) -> None:
        self._server = server
        self._thread = thread
        self._lock = threading.Lock()
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self._server.server_port)

    @property
    def running(self) -> bool:
        return not self._stopped and self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Stop serving, close the socket and join the thread. Safe to call twice."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout)

    def __enter__(self) -> PrometheusServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def _label(name: str, value: str) -> str:
    if not isinstance(value, str) or not value:
        raise InputError(name, f"must be a non-empty string, got {value!r}")
    return value


class KeeperMetrics:
    """The keeper's metrics on a private registry.

    Parameters
    ----------
    process_metrics : also export the standard ``process_*`` / ``python_info``
        series (CPU, memory, open fds) on this registry.
    clock : unix-time source for the last-success timestamp (injectable for tests).
    """

    def __init__(self, *, process_metrics: bool = True, clock: Callable[[], float] = time.time) -> None:
        self.registry: Final[CollectorRegistry] = CollectorRegistry(auto_describe=True)
        self._clock = clock
        self._lock = threading.Lock()
        self._underlyings: set[str] = set()
        reg = self.registry
        if process_metrics:
            ProcessCollector(registry=reg)
            PlatformCollector(registry=reg)

        per_underlying = ("underlying",)
        self.delta_units = Gauge("keeper_delta_units", "Net delta, units of underlying.", per_underlying, registry=reg)
        self.delta_usd = Gauge("keeper_delta_usd", "Net delta times spot, USD.", per_underlying, registry=reg)
        self.gamma = Gauge(
            "keeper_gamma_units_per_usd", "Gamma, units of underlying per USD of spot.", per_underlying, registry=reg
        )
        self.vega = Gauge(
            "keeper_vega_usd_per_vol_point", "Vega, USD per 1 point (0.01) of volatility.", per_underlying,
            registry=reg,
        )
        self.theta = Gauge("keeper_theta_usd_per_day", "Theta, USD per day.", per_underlying, registry=reg)
        self.book_value = Gauge("keeper_book_value_usd", "Mark-to-model book value, USD.", per_underlying, registry=reg)

        self.hedges = Counter("keeper_hedges", "Hedges sent.", ("underlying", "venue"), registry=reg)
        self.hedge_failures = Counter(
            "keeper_hedge_failures", "Hedge failures by reason kind.", ("kind",), registry=reg
        )
        per_fill = ("underlying", "venue")
        self.hedge_notional = Counter("keeper_hedge_notional_usd", "Notional of filled hedges, USD.", per_fill,
                                      registry=reg)
        self.hedge_fees = Counter("keeper_hedge_fees_usd", "Venue fees of filled hedges, USD.", per_fill,
                                  registry=reg)
        self.hedge_gas = Counter("keeper_hedge_gas_usd", "Gas of filled hedges, USD.", per_fill, registry=reg)
        self._funding_underlyings: set[str] = set()
        self.funding_accrued = Gauge("keeper_perp_funding_accrued_usd",
                                     "Funding the book's perp positions owe now, USD (negative: receive).",
                                     ("underlying",), registry=reg)
        self.live = Gauge("keeper_live", "1 when the go-live gate lets the keeper send, 0 in dry run.",
                          registry=reg)
        self.cycles = Counter("keeper_cycles", "Keeper cycles by outcome.", ("status",), registry=reg)
        self.cycle_duration = Histogram(
            "keeper_cycle_duration_seconds",
            "Wall time of one keeper cycle, seconds.",
            buckets=CYCLE_BUCKETS,
            registry=reg,
        )

        self.last_success = Gauge(
            "keeper_last_success_timestamp_seconds", "Unix time of the last successful cycle.", registry=reg
        )
        self.signer_balance = Gauge("keeper_signer_balance_eth", "Native balance of the signer, ETH.", registry=reg)
        # NaN until first read: a 0 would fire a low-balance alert on every start.
        self.signer_balance.set(math.nan)
        self.paused = Gauge("keeper_paused", "1 when the keeper is paused (no new hedges).", registry=reg)
        self.halted = Gauge("keeper_halted", "1 when the keeper is halted.", registry=reg)
        self.snapshot_block = Gauge("keeper_snapshot_block", "Block number of the last snapshot.", registry=reg)

    # -- updates ------------------------------------------------------------------------------------------------

    def observe_cycle(self, status: str, seconds: float, block: int | None = None) -> None:
        """Record one finished cycle.

        ``status`` labels ``keeper_cycles_total``; :data:`SUCCESS_STATUS` (``"ok"``)
        also stamps ``keeper_last_success_timestamp_seconds``. ``block`` (the
        snapshot block), when given, sets ``keeper_snapshot_block``.
        """
        _label("status", status)
        if not math.isfinite(seconds) or seconds < 0:
            raise InputError("seconds", f"must be finite and >= 0, got {seconds!r}")
        if block is not None and (isinstance(block, bool) or not isinstance(block, int) or block < 0):
            raise InputError("block", f"must be a non-negative int, got {block!r}")
        self.cycles.labels(status=status).inc()
        self.cycle_duration.observe(seconds)
        if block is not None:
            self.snapshot_block.set(block)
        if status == SUCCESS_STATUS:
            self.last_success.set(self._clock())

    def set_greeks(self, summaries: Mapping[str, GreekSummary]) -> None:
        """Publish the greeks of every underlying in ``summaries``; drop underlyings no longer present."""
        for underlying in summaries:
            _label("underlying", underlying)
        with self._lock:
            for underlying, s in summaries.items():
                self.delta_units.labels(underlying=underlying).set(s.delta)
                self.delta_usd.labels(underlying=underlying).set(s.delta_quote)
                self.gamma.labels(underlying=underlying).set(s.gamma)
                self.vega.labels(underlying=underlying).set(s.vega / 100.0)
                self.theta.labels(underlying=underlying).set(s.theta / 365.0)
                self.book_value.labels(underlying=underlying).set(s.value)
            gone = self._underlyings - set(summaries)
            for underlying in gone:
                for gauge in (self.delta_units, self.delta_usd, self.gamma, self.vega, self.theta, self.book_value):
                    gauge.remove(underlying)
            self._underlyings = set(summaries)

    def hedge(self, underlying: str, venue: str) -> None:
        """Count one hedge sent for ``underlying`` on ``venue``."""
        self.hedges.labels(underlying=_label("underlying", underlying), venue=_label("venue", venue)).inc()

    def fill_costs(self, underlying: str, venue: str, *, notional_usd: float, fees_usd: float,
                   gas_usd: float) -> None:
        """Add one filled hedge's notional and costs (USD, each finite and >= 0)."""
        for name, v in (("notional_usd", notional_usd), ("fees_usd", fees_usd), ("gas_usd", gas_usd)):
            if not math.isfinite(v) or v < 0:
                raise InputError(name, f"must be finite and >= 0, got {v!r}")
        labels = {"underlying": _label("underlying", underlying), "venue": _label("venue", venue)}
        self.hedge_notional.labels(**labels).inc(notional_usd)
        self.hedge_fees.labels(**labels).inc(fees_usd)
        self.hedge_gas.labels(**labels).inc(gas_usd)

    def set_funding_accrued(self, by_underlying: Mapping[str, float]) -> None:
        """Funding accrued and not yet settled on the book's perp positions, USD per underlying (+ owes);
        underlyings no longer held are removed."""
        for name, v in by_underlying.items():
            if not math.isfinite(v):
                raise InputError(name, f"funding must be finite, got {v!r}")
        for u in by_underlying:
            _label("underlying", u)
        with self._lock:
            for u, v in by_underlying.items():
                self.funding_accrued.labels(underlying=u).set(v)
            for u in self._funding_underlyings - set(by_underlying):
                self.funding_accrued.remove(u)
            self._funding_underlyings = set(by_underlying)

    def set_live(self, live: bool) -> None:
        """1 when the go-live gate lets the keeper send this cycle, 0 in dry run."""
        self.live.set(1.0 if live else 0.0)

    def failure(self, kind: str | BaseException) -> None:
        """Count one hedge failure. An exception is labelled by its class name (bounded cardinality)."""
        label = type(kind).__name__ if isinstance(kind, BaseException) else _label("kind", kind)
        self.hedge_failures.labels(kind=label).inc()

    def set_signer_balance(self, eth: float) -> None:
        """The signer's native balance, ETH (human units, not wei)."""
        if not math.isfinite(eth) or eth < 0:
            raise InputError("eth", f"must be finite and >= 0, got {eth!r}")
        self.signer_balance.set(eth)

    def set_control(self, paused: bool, halted: bool) -> None:
        """The keeper's control flags, exported as 0/1."""
        self.paused.set(1.0 if paused else 0.0)
        self.halted.set(1.0 if halted else 0.0)

    # -- exposition ---------------------------------------------------------------------------------------------

    def render(self) -> bytes:
        """Everything on this registry in the Prometheus text exposition format."""
        return generate_latest(self.registry)

    def serve(self, port: int, addr: str = "0.0.0.0") -> PrometheusServer | NullMetricsServer:
        """Serve ``/metrics`` on ``addr:port`` from a daemon thread; ``port=0`` disables serving.

        Returns a server whose ``stop()`` shuts the endpoint down. Raises
        :class:`~keeper.errors.SetupError` when the port cannot be bound.
        """
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InputError("port", f"must be an int in [0, 65535], got {port!r}")
        if port == 0:
            return NullMetricsServer()
        try:
            server, thread = start_http_server(port, addr=addr, registry=self.registry)
        except OSError as exc:
            raise SetupError(f"cannot serve metrics on {addr}:{port}: {exc}") from exc
        return PrometheusServer(server, thread)
