"""Alerts: a generic JSON webhook (Slack-compatible) and any apprise URL (Telegram, Discord, Slack,
PagerDuty, e-mail, ...), rate-limited per kind, retried from a background thread per target.

The webhook's body is ``{"text": "<one line>", "kind": ..., "ts": ..., "suppressed": ..., "fields": {...}}``:
Slack's incoming webhooks show ``text`` and ignore the rest; any other receiver gets the structured
fields. It is posted by :func:`http_post`, not by apprise: apprise's ``json://`` posts its own shape
(``{"version", "title", "message", "attachments", "type"}``) and cannot carry nested fields, so
routing the webhook through it would change what today's receivers get.

Every other target is an apprise URL (https://github.com/caronc/apprise/wiki): the service's own
message, titled ``keeper <kind>``, with the alert's line and one ``name: value`` line per field.

An alert never blocks or fails a cycle: :meth:`Alerter.send` only enqueues, once per target (each a
bounded queue; when one is full the alert is dropped for that target and counted); each target has its
own worker thread that delivers with retries and exponential backoff, so a target that hangs or fails
delays no other; every network error is logged and swallowed. Target URLs are secrets (they embed
tokens): they are never logged; a target is named by its host (webhook) or its service and index
(apprise), token-shaped parts of the URLs are registered with :func:`keeper.obs.logs.register_secret`,
and apprise's own log lines are captured and only ever logged redacted, as part of the failure reason.

Configuration: the config's ``[alerts]`` section (:class:`keeper.config.AlertsConfig`) names the
environment variables that hold the URLs (``urls_env``, default ``KEEPER_ALERT_URLS``; ``webhook_env``,
default ``KEEPER_ALERT_WEBHOOK``: the URLs carry tokens and never sit in the file) and sets the rate limit
and retries (``window_s``, ``max_per_window``, ``retries``, ``timeout_s``); these variables, when set,
override its numbers:

``KEEPER_ALERT_WEBHOOK``        an http(s) URL for the JSON body above; unset or empty: no webhook
``KEEPER_ALERT_URLS``           apprise URLs separated by whitespace (``tgram://TOKEN/CHAT``,
                                ``discord://ID/TOKEN``, ``slack://A/B/C``, ``pagerduty://...``,
                                ``mailtos://user:pass@host``); each is checked when read: a bad one is an
                                error naming ``KEEPER_ALERT_URLS[i]`` and never echoing the URL
``KEEPER_ALERT_WINDOW_S``       rate-limit window per kind, seconds (default 60)
``KEEPER_ALERT_MAX_PER_WINDOW`` alerts of one kind per window (default 5); the rest are counted and
                                reported as "N similar alerts suppressed" with the next one sent
``KEEPER_ALERT_RETRIES``        attempts per alert and target (default 4)
``KEEPER_ALERT_TIMEOUT_S``      HTTP timeout per attempt (default 5; an apprise URL's own ``cto`` / ``rto`` win)

With neither a webhook nor URLs, alerts are off.
"""

from __future__ import annotations

import json
import logging
import queue
import re
import threading
import time
import urllib.error
import urllib.request
import warnings
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qs, urlsplit

from keeper.config import AlertsConfig
from keeper.errors import InputError
from keeper.obs.logs import MIN_SECRET_LENGTH, redact, redact_fields, register_secret

if TYPE_CHECKING:
    from apprise import NotifyBase, NotifyType

__all__ = [
    "ALERT_KINDS",
    "Alert",
    "AlertSettings",
    "AlertTarget",
    "Alerter",
    "AppriseTarget",
    "RateLimiter",
    "WebhookError",
    "WebhookTarget",
    "alerter_from_env",
    "apprise_plugin",
    "http_post",
    "url_secrets",
]

ALERT_KINDS = ("hedge", "failure", "halt", "low_balance", "stale_oracle", "drift", "activation")
"""The kinds the keeper fires (``activation`` covers activate and deactivate)."""

_log = logging.getLogger("keeper.alerts")
Post = Callable[[str, bytes, float], None]

URLS_ENV = "KEEPER_ALERT_URLS"


class WebhookError(Exception):
    """One delivery attempt failed; ``retry`` says whether trying again can help."""

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


_SEVERITY = {"failure": "failure", "halt": "failure", "unknown_trade": "failure", "hedge": "success",
             "low_balance": "warning", "stale_oracle": "warning", "drift": "warning", "venue_change": "warning"}
"""Apprise's notification type per kind (the colour or icon a service shows); other kinds are ``info``."""


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

    def title(self) -> str:
        return f"keeper {self.kind}"

    def message(self) -> str:
        """The apprise body: the alert's line, then ``name: value`` per field; redacted like the webhook's."""
        text = self.text + (f" ({self.suppressed} similar alert(s) suppressed)" if self.suppressed else "")
        lines = [redact(text)] + [f"{k}: {v}" for k, v in redact_fields(self.fields).items()]
        return "\n".join(lines)

    def severity(self) -> str:
        return _SEVERITY.get(self.kind, "info")


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


# ---------------------------------------------------------------------------------------------- secrets in URLs

_PIECES = re.compile(r"[/:@?&=#,;+]+")


def url_secrets(url: str, shown: str | None = None) -> set[str]:
    """The parts of ``url`` to keep out of every output: the URL itself, and every piece of it (between
    ``/ : @ ? & = #``) of at least :data:`~keeper.obs.logs.MIN_SECRET_LENGTH` characters with a letter
    that ``shown`` (what may be printed, e.g. apprise's privacy URL) leaves out or that is token-shaped
    (letters and digits, no dot: not a host name).

    Pieces without a letter (a Telegram bot id, a port) stay: they are ids, not credentials, and
    registering them would redact block numbers and amounts that contain the same digits. Pieces
    shorter than ``MIN_SECRET_LENGTH`` cannot be registered safely; the whole URL still is."""
    rest = url.partition("://")[2] or url
    out = {url} if len(url) >= MIN_SECRET_LENGTH else set()
    for piece in _PIECES.split(rest):
        if len(piece) < MIN_SECRET_LENGTH or not any(c.isalpha() for c in piece):
            continue
        hidden = shown is not None and piece not in shown
        token = "." not in piece and any(c.isdigit() for c in piece)
        if hidden or token:
            out.add(piece)
    return out


def _register(secrets: set[str]) -> None:
    for s in secrets:
        register_secret(s)


# ---------------------------------------------------------------------------------------------- apprise

class _AppriseLog(logging.Handler):
    """Holds apprise's warnings per thread for the failure reason; nothing of apprise reaches the root
    logger (its debug lines carry full service URLs)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        lines: list[str] | None = getattr(self.local, "lines", None)
        if lines is not None:
            try:
                lines.append(record.getMessage())
            except Exception:
                lines.append(f"{record.msg}")

    @contextmanager
    def capture(self) -> Iterator[list[str]]:
        lines: list[str] = []
        self.local.lines = lines
        try:
            yield lines
        finally:
            self.local.lines = None


_apprise_log = _AppriseLog()
_apprise_lock = threading.Lock()
_apprise_ready = False


def _apprise_manager() -> Any:
    """Apprise's plugin registry, its plugins loaded once, its logger routed to :data:`_apprise_log` only."""
    global _apprise_ready  # noqa: PLW0603 -- a one-time set-up of a library's module state
    with _apprise_lock:
        from apprise.apprise import N_MGR

        manager: Any = N_MGR  # its methods are not annotated
        if not _apprise_ready:
            logger = logging.getLogger("apprise")
            logger.addHandler(_apprise_log)
            logger.setLevel(logging.WARNING)
            logger.propagate = False
            with warnings.catch_warnings():
                # apprise's e-mail plugin imports the stdlib's deprecated ``imghdr`` (Python 3.11 and 3.12).
                warnings.filterwarnings("ignore", message="'imghdr' is deprecated", category=DeprecationWarning)
                manager.load_modules()
            _apprise_ready = True
        return manager


def _templates(schema: str, plugin: Any) -> str:
    forms = [t.replace("{schema}", schema) for t in getattr(plugin, "templates", ())][:3]
    return f"; expected {' or '.join(forms)}" if forms else ""


def apprise_plugin(url: str, name: str) -> NotifyBase:
    """The apprise plugin for ``url``; :class:`InputError` naming ``name`` if apprise does not take it.

    The message says which service and which URL shapes it expects, never the URL or a part of it
    (apprise's own errors echo the token they reject).
    """
    import apprise

    manager = _apprise_manager()
    schema, sep, _ = url.strip().partition("://")
    schema = schema.lower()
    if not sep or not schema.isascii() or not schema.replace("-", "").isalnum():
        raise InputError(name, "not an apprise URL: expected service://..., e.g. tgram://, discord://, "
                               "slack://, pagerduty://, mailtos://, json://")
    if schema not in manager:
        shown = f" {schema!r}://" if len(schema) <= 20 else ""  # a long one may be a pasted token
        raise InputError(name, f"unknown apprise service{shown}")
    cls = manager[schema]
    with _apprise_log.capture():
        plugin = apprise.Apprise.instantiate(url.strip())
    if plugin is None:
        if not cls.enabled:
            raise InputError(name, f"apprise's {cls.service_name} service is not available on this system")
        raise InputError(name, f"not a valid {cls.service_name} URL{_templates(schema, cls)}")
    return plugin


class AlertTarget(Protocol):
    """Where alerts go; :meth:`deliver` raises :class:`WebhookError` (or anything) when an attempt fails."""

    label: str
    """Names the target in logs; never a secret."""

    def deliver(self, alert: Alert) -> None: ...


class WebhookTarget:
    """The generic JSON webhook: :meth:`Alert.body` POSTed by ``post`` (default :func:`http_post`)."""

    def __init__(self, url: str, timeout_s: float, post: Post = http_post) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._post = post
        host = urlsplit(url).hostname
        self.label = f"webhook on {host}" if host else "webhook"
        _register(url_secrets(url))

    def deliver(self, alert: Alert) -> None:
        self._post(self.url, alert.body(), self.timeout_s)


class AppriseTarget:
    """One apprise URL; :class:`InputError` naming ``name`` if apprise does not take it."""

    def __init__(self, url: str, timeout_s: float, *, name: str) -> None:
        self.plugin = apprise_plugin(url, name)
        plugin: Any = self.plugin  # ``url`` is not annotated
        _register(url_secrets(url.strip(), shown=plugin.url(privacy=True)))
        self.label = f"{self.plugin.service_name} ({name})"
        try:
            given = parse_qs(urlsplit(url.strip()).query)
        except ValueError:  # apprise took it; urllib may not (brackets)
            given = {}
        if "cto" not in given:
            self.plugin.socket_connect_timeout = timeout_s
        if "rto" not in given:
            self.plugin.socket_read_timeout = timeout_s

    def deliver(self, alert: Alert) -> None:
        import apprise

        kind: NotifyType = apprise.NotifyType(alert.severity())
        with _apprise_log.capture() as said:
            ok = self.plugin.notify(body=alert.message(), title=alert.title(), notify_type=kind,
                                    body_format=apprise.NotifyFormat.TEXT)
        if not ok:
            raise WebhookError(redact(" ".join(said)) or "apprise reported a failure")


# ---------------------------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class AlertSettings:
    url: str | None = None
    """The generic JSON webhook."""
    urls: tuple[str, ...] = ()
    """Apprise URLs."""
    window_s: float = 60.0
    max_per_window: int = 5
    retries: int = 4
    backoff_s: float = 1.0
    backoff_factor: float = 2.0
    timeout_s: float = 5.0
    max_queue: int = 100
    urls_env: str = URLS_ENV
    """The variable the apprise URLs came from (names a target in logs: ``KEEPER_ALERT_URLS[0]``)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], section: AlertsConfig | None = None) -> AlertSettings:
        """Settings from the config's ``[alerts]`` (its defaults without one) and the environment: the URLs
        from the variables it names (``urls_env``, ``webhook_env``), the limits from the section unless
        ``KEEPER_ALERT_WINDOW_S`` / ``_MAX_PER_WINDOW`` / ``_RETRIES`` / ``_TIMEOUT_S`` are set.
        :class:`InputError` naming the variable for a bad value (``<urls_env>[i]`` for the i-th apprise URL,
        checked by apprise here, never echoing it)."""
        section = section or AlertsConfig()

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

        url = env.get(section.webhook_env, "").strip() or None
        if url is not None and not url.startswith(("http://", "https://")):
            raise InputError(section.webhook_env, "must be an http:// or https:// URL")
        urls = tuple(env.get(section.urls_env, "").split())
        for i, u in enumerate(urls):
            apprise_plugin(u, f"{section.urls_env}[{i}]")
        return cls(url=url, urls=urls, urls_env=section.urls_env,
                   window_s=num("KEEPER_ALERT_WINDOW_S", section.window_s),
                   max_per_window=max(1, int(num("KEEPER_ALERT_MAX_PER_WINDOW", section.max_per_window))),
                   retries=max(1, int(num("KEEPER_ALERT_RETRIES", section.retries))),
                   timeout_s=num("KEEPER_ALERT_TIMEOUT_S", section.timeout_s))

    def described(self) -> list[str]:
        """The targets for a person, secrets withheld: the webhook as ``https://host/…`` and each apprise URL
        by its scheme only (``tgram://…``)."""
        out = []
        if self.url:
            out.append(redacted_url(self.url))
        out += [redacted_url(u) for u in self.urls]
        return out


def targets_line(env: Mapping[str, str], section: AlertsConfig | None = None) -> str:
    """One line for ``keeper status``: the targets by scheme (``tgram://…``), "off", or why they are refused."""
    section = section or AlertsConfig()
    try:
        shown = AlertSettings.from_env(env, section).described()
    except InputError as exc:
        return f"refused ({exc})"
    if not shown:
        return f"off (${section.urls_env} and ${section.webhook_env} are empty)"
    return f"{len(shown)} target(s): {', '.join(shown)}"


def redacted_url(url: str) -> str:
    """``scheme://…`` (plus the host for http(s), which carries no token): what status and doctor print."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "…"
    if scheme.lower() in ("http", "https"):
        host = rest.split("/", 1)[0].rsplit("@", 1)[-1]
        return f"{scheme}://{host}/…"
    return f"{scheme}://…"


# ---------------------------------------------------------------------------------------------- the alerter

_STOP = object()


class _Lane:
    """One target's queue and worker thread."""

    def __init__(self, target: AlertTarget, max_queue: int) -> None:
        self.target = target
        self.queue: queue.Queue[object] = queue.Queue(maxsize=max(1, max_queue))
        self.thread: threading.Thread | None = None


class Alerter:
    """Queue alerts for one worker thread per target; see the module docstring.

    ``post`` (the webhook's), ``clock`` and ``sleep`` are injectable (tests: a fake receiver, a manual
    clock, no real waits); ``targets`` adds targets beyond the settings' (tests).
    Without a target every :meth:`send` is a no-op that returns ``False``.
    """

    def __init__(
        self,
        settings: AlertSettings,
        *,
        post: Post = http_post,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        targets: tuple[AlertTarget, ...] = (),
    ) -> None:
        self.settings = settings
        self._wall = wall
        self._sleep = sleep
        self.limiter = RateLimiter(settings.window_s, settings.max_per_window, clock)
        found: list[AlertTarget] = []
        if settings.url is not None:
            found.append(WebhookTarget(settings.url, settings.timeout_s, post))
        found += [AppriseTarget(u, settings.timeout_s, name=f"{settings.urls_env}[{i}]")
                  for i, u in enumerate(settings.urls)]
        found += targets
        self._lanes = [_Lane(t, settings.max_queue) for t in found]
        self._lock = threading.Lock()
        self._count = threading.Lock()
        self.sent = 0
        """Deliveries (one alert to one target)."""
        self.failed = 0
        """Deliveries given up after the last attempt."""
        self.dropped_full = 0
        """Deliveries dropped because that target's queue was full."""
        self.dropped_rate = 0
        """Alerts dropped by the rate limiter (for every target)."""
        self._closed = False
        self.target = ", ".join(lane.target.label for lane in self._lanes) or "no alert target"

    @property
    def enabled(self) -> bool:
        return bool(self._lanes)

    @property
    def targets(self) -> tuple[str, ...]:
        """The targets' labels (no secrets)."""
        return tuple(lane.target.label for lane in self._lanes)

    def send(self, kind: str, text: str, **fields: Any) -> bool:
        """Queue one alert for every target; ``True`` if queued for at least one. Never raises, never blocks."""
        try:
            return self._send(kind, text, fields)
        except Exception as exc:  # an alert must never fail a cycle
            _log.warning("alert %s not queued: %s", kind, exc)
            return False

    def _send(self, kind: str, text: str, fields: dict[str, Any]) -> bool:
        if not self.enabled or self._closed:
            return False
        queued = False
        with self._lock:
            suppressed = self.limiter.admit(kind)
            if suppressed is None:
                self.dropped_rate += 1
                return False
            alert = Alert(kind, text, fields, self._wall(), suppressed)
            for i, lane in enumerate(self._lanes):
                try:
                    lane.queue.put_nowait(alert)
                except queue.Full:
                    self.dropped_full += 1
                    _log.warning("alert queue of the %s full (%d); dropped a %s alert", lane.target.label,
                                 lane.queue.maxsize, kind)
                    continue
                queued = True
                if lane.thread is None:
                    lane.thread = threading.Thread(target=self._run, args=(lane,), name=f"keeper-alerts-{i}",
                                                   daemon=True)
                    lane.thread.start()
        return queued

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop taking alerts; give the workers up to ``timeout_s`` in all to deliver what is queued."""
        with self._lock:
            self._closed = True
            lanes = [lane for lane in self._lanes if lane.thread is not None]
        deadline = time.monotonic() + timeout_s
        for lane in lanes:
            try:
                lane.queue.put(_STOP, timeout=max(0.0, deadline - time.monotonic()))
            except queue.Full:
                continue
        for lane in lanes:
            assert lane.thread is not None
            lane.thread.join(max(0.0, deadline - time.monotonic()))

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until every queued alert was handled (delivered or given up) by every target; ``False`` on timeout."""
        deadline = time.monotonic() + timeout_s
        while any(lane.queue.unfinished_tasks for lane in self._lanes):
            if time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    # ------------------------------------------------------------------ workers
    def _run(self, lane: _Lane) -> None:
        while True:
            item = lane.queue.get()
            try:
                if item is _STOP:
                    return
                assert isinstance(item, Alert)
                self._deliver(lane.target, item)
            except Exception as exc:  # the worker must survive anything
                _log.warning("alert worker of the %s: %s", lane.target.label, type(exc).__name__)
            finally:
                lane.queue.task_done()

    def _deliver(self, target: AlertTarget, alert: Alert) -> None:
        s = self.settings
        delay = s.backoff_s
        last = ""
        for attempt in range(1, s.retries + 1):
            try:
                target.deliver(alert)
            except WebhookError as exc:
                last = redact(f"{exc}")
                if not exc.retry:
                    break
            except Exception as exc:  # the message may carry the URL: only the type is kept
                last = f"{type(exc).__name__}"
            else:
                with self._count:
                    self.sent += 1
                return
            if attempt < s.retries:
                self._sleep(delay)
                delay *= s.backoff_factor
        with self._count:
            self.failed += 1
        _log.warning("alert %s not delivered to the %s: %s", alert.kind, target.label, last)


def alerter_from_env(env: Mapping[str, str], section: AlertsConfig | None = None, **kwargs: Any) -> Alerter:
    """An :class:`Alerter` configured from the config's ``[alerts]`` and the environment (a disabled one
    without a target); see :meth:`AlertSettings.from_env`."""
    return Alerter(AlertSettings.from_env(env, section), **kwargs)
