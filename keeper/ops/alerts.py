"""Alerts: a generic JSON webhook (Slack-compatible), rate-limited per kind, retried in a background thread.

The body is ``{"text": "<one line>", "kind": ..., "ts": ..., "fields": {...}}``: Slack's incoming
webhooks show ``text`` and ignore the rest; any other receiver gets the structured fields.

An alert never blocks or fails a cycle: :meth:`Alerter.send` only enqueues (a bounded queue; when
it is full the alert is dropped and counted), a worker thread posts with retries and exponential
backoff, and every network error is logged and swallowed. The webhook URL is treated as a secret
(Slack URLs embed a token): it is never logged, only its host.

Configuration is by environment (the config file has no alert section):

``KEEPER_ALERT_WEBHOOK``        the URL; unset or empty disables alerts
``KEEPER_ALERT_WINDOW_S``       rate-limit window per kind, seconds (default 60)
``KEEPER_ALERT_MAX_PER_WINDOW`` alerts of one kind per window (default 5); the rest are counted and
                                reported as "N similar alerts suppressed" with the next one sent
``KEEPER_ALERT_RETRIES``        attempts per alert (default 4)
``KEEPER_ALERT_TIMEOUT_S``      HTTP timeout per attempt (default 5)
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from keeper.errors import InputError
from keeper.obs.logs import redact, redact_fields

__all__ = [
    "ALERT_KINDS",
    "Alert",
    "AlertSettings",
    "Alerter",
    "RateLimiter",
    "WebhookError",
    "alerter_from_env",
    "http_post",
]

ALERT_KINDS = ("hedge", "failure", "halt", "low_balance", "stale_oracle", "drift", "activation")
"""The kinds the keeper fires (``activation`` covers activate and deactivate)."""

_log = logging.getLogger("keeper.alerts")
Post = Callable[[str, bytes, float], None]


class WebhookError(Exception):
    """One webhook attempt failed; ``retry`` says whether trying again can help."""

    def __init__(self, message: str, *, retry: bool = True) -> None:
        self.retry = retry
        super().__init__(message)


def http_post(url: str, body: bytes, timeout_s: float) -> None:
    """POST ``body`` as JSON; raise :class:`WebhookError` unless the receiver answers 2xx."""
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": "application/json", "User-Agent": "keeper-alerts"})
    try:
        with urllib.request.urlopen(req, timeout=timeout_s) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        retry = exc.code >= 500 or exc.code == 429
        raise WebhookError(f"HTTP {exc.code}", retry=retry) from None
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        raise WebhookError(f"connection failed: {type(reason).__name__}") from None


@dataclass(frozen=True)
class Alert:
    kind: str
    text: str
    fields: Mapping[str, Any]
    ts: float
    suppressed: int = 0
    """Alerts of this kind dropped by the rate limiter since the last one sent."""

    def payload(self) -> dict[str, Any]:
        """The webhook body, redacted like a log line: registered secrets, key-labelled hex and
        secret-named fields never leave the process (see :mod:`keeper.obs.logs`)."""
        text = f"[keeper] {self.kind}: {self.text}"
        if self.suppressed:
            text += f" ({self.suppressed} similar alert(s) suppressed)"
        return {"text": redact(text), "kind": self.kind, "ts": self.ts, "suppressed": self.suppressed,
                "fields": redact_fields(self.fields)}

    def body(self) -> bytes:
        return json.dumps(self.payload(), default=str, allow_nan=False, sort_keys=True).encode()


@dataclass
class RateLimiter:
    """At most ``max_per_window`` alerts per kind in any ``window_s`` (sliding), on an injected clock."""

    window_s: float = 60.0
    max_per_window: int = 5
    clock: Callable[[], float] = time.monotonic
    _sent: dict[str, deque[float]] = field(default_factory=dict, init=False)
    _suppressed: dict[str, int] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        if self.window_s < 0:
            raise InputError("window_s", f"must be >= 0, got {self.window_s}")
        if self.max_per_window < 1:
            raise InputError("max_per_window", f"must be >= 1, got {self.max_per_window}")

    def admit(self, kind: str) -> int | None:
        """``None`` if the alert must be dropped; else how many of its kind were dropped before it."""
        now = self.clock()
        sent = self._sent.setdefault(kind, deque())
        while sent and sent[0] <= now - self.window_s:
            sent.popleft()
        if len(sent) >= self.max_per_window:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return None
        sent.append(now)
        return self._suppressed.pop(kind, 0)


@dataclass(frozen=True)
class AlertSettings:
    url: str | None = None
    window_s: float = 60.0
    max_per_window: int = 5
    retries: int = 4
    backoff_s: float = 1.0
    backoff_factor: float = 2.0
    timeout_s: float = 5.0
    max_queue: int = 100

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> AlertSettings:
        def num(name: str, default: float) -> float:
            text = env.get(name, "").strip()
            if not text:
                return default
            try:
                value = float(text)
            except ValueError:
                raise InputError(name, f"expected a number, got {text!r}") from None
            if value < 0:
                raise InputError(name, f"must be >= 0, got {text}")
            return value

        url = env.get("KEEPER_ALERT_WEBHOOK", "").strip() or None
        if url is not None and not url.startswith(("http://", "https://")):
            raise InputError("KEEPER_ALERT_WEBHOOK", "must be an http:// or https:// URL")
        return cls(url=url, window_s=num("KEEPER_ALERT_WINDOW_S", 60.0),
                   max_per_window=max(1, int(num("KEEPER_ALERT_MAX_PER_WINDOW", 5))),
                   retries=max(1, int(num("KEEPER_ALERT_RETRIES", 4))), timeout_s=num("KEEPER_ALERT_TIMEOUT_S", 5.0))


_STOP = object()


class Alerter:
    """Queue alerts for a worker thread that posts them; see the module docstring.

    ``post``, ``clock`` and ``sleep`` are injectable (tests: a fake receiver, a manual clock, no real waits).
    Without a URL every :meth:`send` is a no-op that returns ``False``.
    """

    def __init__(
        self,
        settings: AlertSettings,
        *,
        post: Post = http_post,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.settings = settings
        self._post = post
        self._wall = wall
        self._sleep = sleep
        self.limiter = RateLimiter(settings.window_s, settings.max_per_window, clock)
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(1, settings.max_queue))
        self._lock = threading.Lock()
        self.sent = 0
        self.failed = 0
        self.dropped_full = 0
        self.dropped_rate = 0
        self._thread: threading.Thread | None = None
        self._closed = False
        host = urlsplit(settings.url).hostname if settings.url else None
        self.target = f"webhook on {host}" if host else "no webhook"

    @property
    def enabled(self) -> bool:
        return self.settings.url is not None

    def send(self, kind: str, text: str, **fields: Any) -> bool:
        """Queue one alert; ``True`` if queued. Never raises, never blocks."""
        try:
            return self._send(kind, text, fields)
        except Exception as exc:  # an alert must never fail a cycle
            _log.warning("alert %s not queued: %s", kind, exc)
            return False

    def _send(self, kind: str, text: str, fields: dict[str, Any]) -> bool:
        if not self.enabled or self._closed:
            return False
        with self._lock:
            suppressed = self.limiter.admit(kind)
            if suppressed is None:
                self.dropped_rate += 1
                return False
            alert = Alert(kind, text, fields, self._wall(), suppressed)
            try:
                self._queue.put_nowait(alert)
            except queue.Full:
                self.dropped_full += 1
                _log.warning("alert queue full (%d); dropped a %s alert", self._queue.maxsize, kind)
                return False
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="keeper-alerts", daemon=True)
                self._thread.start()
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop taking alerts; give the worker up to ``timeout_s`` to deliver what is queued."""
        with self._lock:
            self._closed = True
            thread = self._thread
        if thread is None:
            return
        try:
            self._queue.put(_STOP, timeout=timeout_s)
        except queue.Full:
            return
        thread.join(timeout_s)

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued alert was handled (delivered or given up); ``False`` on timeout."""
        deadline = time.monotonic() + timeout_s
        while self._queue.unfinished_tasks:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    # ------------------------------------------------------------------ worker
    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                assert isinstance(item, Alert)
                self._deliver(item)
            except Exception as exc:  # the worker must survive anything
                _log.warning("alert worker: %s", exc)
            finally:
                self._queue.task_done()

    def _deliver(self, alert: Alert) -> None:
        s = self.settings
        assert s.url is not None
        body = alert.body()
        delay = s.backoff_s
        last = ""
        for attempt in range(1, s.retries + 1):
            try:
                self._post(s.url, body, s.timeout_s)
            except WebhookError as exc:
                last = f"{exc}"
                if not exc.retry:
                    break
            except Exception as exc:
                last = f"{type(exc).__name__}"
            else:
                self.sent += 1
                return
            if attempt < s.retries:
                self._sleep(delay)
                delay *= s.backoff_factor
        self.failed += 1
        _log.warning("alert %s not delivered to the %s: %s", alert.kind, self.target, last)


def alerter_from_env(env: Mapping[str, str], **kwargs: Any) -> Alerter:
    """An :class:`Alerter` configured from ``KEEPER_ALERT_*`` (a disabled one without a URL)."""
    return Alerter(AlertSettings.from_env(env), **kwargs)
