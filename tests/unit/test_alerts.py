"""Alerts: a local HTTP receiver on 127.0.0.1 gets Slack-compatible JSON; rate limiting per kind and
retries with backoff run on an injected clock and sleep; nothing ever raises into the caller or blocks it."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from keeper.errors import InputError
from keeper.node.anvil import free_port
from keeper.obs.logs import REDACTED, redact, register_secret
from keeper.ops.alerts import (
    Alerter,
    AlertSettings,
    AppriseTarget,
    RateLimiter,
    WebhookError,
    alerter_from_env,
    http_post,
    url_secrets,
)


@dataclass
class Receiver:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    """Answers to give, in order (then 200)."""
    attempts: int = 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            rec.attempts += 1
            status = rec.statuses.pop(0) if rec.statuses else 200
            if status == 200:
                assert self.headers["Content-Type"] == "application/json"
                rec.bodies.append(json.loads(body))
            self.send_response(status)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/B000/secret-token"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield rec
    finally:
        server.shutdown()
        server.server_close()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.slept.append(s)
        self.t += s


def test_the_receiver_gets_slack_compatible_json(receiver: Receiver) -> None:
    a = Alerter(AlertSettings(url=receiver.url))
    assert a.send("hedge", "sell 37.2 ETH on perp at 3,009.10 USD", underlying="ETH", units=37.2, tx="0xabc")
    assert a.send("halt", "keeper halted: 5 consecutive failed cycles", reason="5 consecutive failed cycles")
    assert a.flush(5.0)
    a.close()
    assert [b["kind"] for b in receiver.bodies] == ["hedge", "halt"]
    hedge = receiver.bodies[0]
    assert hedge["text"] == "[keeper] hedge: sell 37.2 ETH on perp at 3,009.10 USD"
    assert hedge["fields"] == {"underlying": "ETH", "units": 37.2, "tx": "0xabc"}
    assert hedge["suppressed"] == 0 and isinstance(hedge["ts"], float)
    assert a.sent == 2 and a.failed == 0
    assert "secret-token" not in a.target and "127.0.0.1" in a.target


def test_rate_limit_is_per_kind_and_reports_what_it_suppressed(receiver: Receiver) -> None:
    clock = Clock()
    a = Alerter(AlertSettings(url=receiver.url, window_s=60, max_per_window=2), clock=clock)
    assert a.send("stale_oracle", "ETH feed 7,200 s old")
    clock.t += 10
    assert a.send("stale_oracle", "ETH feed 7,210 s old")
    clock.t += 10
    assert not a.send("stale_oracle", "ETH feed 7,220 s old"), "third in the window: dropped"
    assert not a.send("stale_oracle", "ETH feed 7,230 s old")
    assert a.send("hedge", "another kind has its own budget")
    clock.t += 41  # the first one leaves the window (sliding)
    assert a.send("stale_oracle", "ETH feed 7,261 s old")
    assert not a.send("stale_oracle", "still two in the last 60 s")
    assert a.flush(5.0)
    stale = [b for b in receiver.bodies if b["kind"] == "stale_oracle"]
    assert len(stale) == 3 and stale[2]["suppressed"] == 2
    assert stale[2]["text"].endswith("(2 similar alert(s) suppressed)")
    assert a.dropped_rate == 3


def test_rate_limiter_alone() -> None:
    clock = Clock()
    rl = RateLimiter(window_s=30, max_per_window=1, clock=clock)
    assert rl.admit("drift") == 0
    assert rl.admit("drift") is None
    clock.t += 30
    assert rl.admit("drift") == 1
    with pytest.raises(InputError):
        RateLimiter(max_per_window=0)


def test_retries_with_exponential_backoff_then_delivers(receiver: Receiver) -> None:
    receiver.statuses = [500, 503, 429]
    clock = Clock()
    a = Alerter(AlertSettings(url=receiver.url, retries=4, backoff_s=1.0, backoff_factor=2.0), clock=clock,
                sleep=clock.sleep)
    assert a.send("failure", "hedge failed: reverted")
    assert a.flush(5.0)
    assert receiver.attempts == 4 and len(receiver.bodies) == 1
    assert clock.slept == [1.0, 2.0, 4.0]
    assert a.sent == 1 and a.failed == 0


def test_gives_up_after_the_last_attempt_without_raising() -> None:
    clock = Clock()
    calls: list[str] = []

    def post(url: str, body: bytes, timeout: float) -> None:
        calls.append(url)
        raise WebhookError("HTTP 502")

    a = Alerter(AlertSettings(url="https://hooks.example/x", retries=3, backoff_s=0.5), post=post, sleep=clock.sleep)
    assert a.send("drift", "dry-run")
    assert a.flush(5.0)
    assert len(calls) == 3 and clock.slept == [0.5, 1.0]
    assert a.sent == 0 and a.failed == 1


def test_a_client_error_is_not_retried(receiver: Receiver) -> None:
    receiver.statuses = [404]
    clock = Clock()
    a = Alerter(AlertSettings(url=receiver.url, retries=4), sleep=clock.sleep)
    a.send("hedge", "x")
    assert a.flush(5.0)
    assert receiver.attempts == 1 and clock.slept == [] and a.failed == 1


def test_network_errors_are_swallowed() -> None:
    clock = Clock()
    a = Alerter(AlertSettings(url=f"http://127.0.0.1:{free_port()}/hook", retries=2, timeout_s=1.0),
                sleep=clock.sleep)
    assert a.send("low_balance", "signer low")
    assert a.flush(10.0)
    assert a.failed == 1 and clock.slept == [1.0]
    with pytest.raises(WebhookError) as exc:
        http_post(f"http://127.0.0.1:{free_port()}/", b"{}", 1.0)
    assert exc.value.retry


def test_send_never_blocks_and_the_queue_is_bounded() -> None:
    release = threading.Event()
    posted: list[bytes] = []

    def slow_post(url: str, body: bytes, timeout: float) -> None:
        release.wait(10)
        posted.append(body)

    a = Alerter(AlertSettings(url="https://hooks.example/x", max_queue=2, max_per_window=100), post=slow_post)
    results = [a.send("hedge", f"hedge {i}") for i in range(10)]
    # Every post is held until `release`: had `send` posted on the caller's thread, the first call
    # would have returned only after slow_post gave up waiting, with a body in `posted`.
    assert posted == [] and not release.is_set()
    # One in the worker's hands (maybe), two in the queue; the rest dropped and counted.
    assert 2 <= sum(results) <= 3 and a.dropped_full == 10 - sum(results)
    release.set()
    assert a.flush(5.0)
    a.close()
    assert len(posted) == sum(results)
    assert not a.send("hedge", "after close"), "a closed alerter takes nothing"


def test_a_non_finite_field_is_sent_as_text_and_never_raises() -> None:
    bodies: list[bytes] = []
    a = Alerter(AlertSettings(url="https://hooks.example/x"), post=lambda _u, b, _t: bodies.append(b))
    assert a.send("hedge", "nan", price=float("nan"))  # JSON has no NaN: the field is sent as text
    assert a.flush(5.0)
    assert a.sent == 1 and json.loads(bodies[0])["fields"]["price"] == "nan"
    assert a.send("hedge", "fine", price=1.0)
    assert a.flush(5.0)
    assert a.sent == 2 and json.loads(bodies[1])["fields"]["price"] == 1.0


def test_alerts_are_redacted_like_logs() -> None:
    key = "ab" * 32
    register_secret("s3cret-rpc-api-key")
    bodies: list[bytes] = []
    a = Alerter(AlertSettings(url="https://hooks.example/x"), post=lambda _u, b, _t: bodies.append(b))
    assert a.send("failure", f"rpc https://node.example/s3cret-rpc-api-key failed; private key {key}",
                  password="hunter22-hunter22", url="https://node.example/s3cret-rpc-api-key", tx="0x" + "cd" * 32)
    assert a.flush(5.0)
    body = bodies[0].decode()
    assert "s3cret-rpc-api-key" not in body and key not in body and "hunter22" not in body
    payload = json.loads(body)
    assert payload["fields"]["password"] == REDACTED and payload["fields"]["tx"] == "0x" + "cd" * 32


def test_settings_from_the_environment() -> None:
    off = alerter_from_env({})
    assert not off.enabled and not off.send("hedge", "nobody listens")
    s = AlertSettings.from_env({"KEEPER_ALERT_WEBHOOK": "https://hooks.slack.com/services/T/B/x",
                                "KEEPER_ALERT_WINDOW_S": "120", "KEEPER_ALERT_MAX_PER_WINDOW": "3",
                                "KEEPER_ALERT_RETRIES": "2", "KEEPER_ALERT_TIMEOUT_S": "1.5"})
    assert (s.window_s, s.max_per_window, s.retries, s.timeout_s) == (120.0, 3, 2, 1.5)
    with pytest.raises(InputError, match="KEEPER_ALERT_WEBHOOK"):
        AlertSettings.from_env({"KEEPER_ALERT_WEBHOOK": "ftp://x"})
    with pytest.raises(InputError, match="KEEPER_ALERT_WINDOW_S"):
        AlertSettings.from_env({"KEEPER_ALERT_WINDOW_S": "soon"})


# ---------------------------------------------------------------------------------------------- apprise targets


@dataclass
class Hub:
    """A local HTTP receiver for apprise's services: each request's path and JSON body; answers from
    ``statuses`` (in order, then 200); a path under ``/hang`` waits for ``release`` before answering."""

    base: str  # 127.0.0.1:PORT
    posts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    attempts: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    hanging: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def bodies(self, prefix: str) -> list[dict[str, Any]]:
        return [b for p, b in self.posts if p.startswith(prefix)]

    def wait_for(self, prefix: str, n: int, timeout_s: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: len(self.bodies(prefix)) >= n, timeout_s)


@pytest.fixture
def hub() -> Iterator[Hub]:
    h = Hub(base="")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path.startswith("/hang"):
                h.hanging.set()
                h.release.wait(30)
            with h.arrived:
                h.attempts += 1
                status = h.statuses.pop(0) if h.statuses else 200
                if status == 200:
                    h.posts.append((self.path, json.loads(body)))
                    h.arrived.notify_all()
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    h.base = f"127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield h
    finally:
        h.release.set()
        server.shutdown()
        server.server_close()


class ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


MM_TOKEN = "mm7token4k2q9x8w5v3u1t0s"
"""A Mattermost incoming-webhook token (Mattermost takes Slack-shaped webhooks on its own host)."""


def test_apprise_urls_and_the_webhook_each_get_the_alert(hub: Hub) -> None:
    settings = AlertSettings(url=f"http://{hub.base}/webhook", urls=(f"json://{hub.base}/json", f"mmost://{hub.base}/{MM_TOKEN}"))
    a = Alerter(settings)
    assert a.targets == ("webhook on 127.0.0.1", "JSON (KEEPER_ALERT_URLS[0])", "Mattermost (KEEPER_ALERT_URLS[1])")
    assert a.send("hedge", "sell 37.2 ETH on perp", underlying="ETH", units=37.2, password="hunter22-hunter22")
    assert a.flush(10.0)
    a.close()
    assert a.sent == 3 and a.failed == 0
    # The webhook's body is today's, field for field.
    (hook,) = hub.bodies("/webhook")
    assert hook["text"] == "[keeper] hedge: sell 37.2 ETH on perp" and hook["kind"] == "hedge"
    assert hook["fields"] == {"underlying": "ETH", "units": 37.2, "password": REDACTED}
    assert sorted(hook) == ["fields", "kind", "suppressed", "text", "ts"]
    # apprise's json:// shape: title, message (the line, then one line per field), type.
    (js,) = hub.bodies("/json")
    assert js["title"] == "keeper hedge" and js["type"] == "success"
    assert js["message"].split("\n") == ["sell 37.2 ETH on perp", "underlying: ETH", "units: 37.2",
                                         f"password: {REDACTED}"]
    # Mattermost posts Slack's shape to /hooks/<token>.
    (mm,) = hub.bodies(f"/hooks/{MM_TOKEN}")
    assert "sell 37.2 ETH on perp" in mm["text"] and "hunter22" not in mm["text"]


def test_an_apprise_target_retries_a_500_with_backoff_then_delivers(hub: Hub) -> None:
    hub.statuses = [500, 502]
    clock = Clock()
    a = Alerter(AlertSettings(urls=(f"json://{hub.base}/json",), retries=4, backoff_s=1.0, backoff_factor=2.0),
                clock=clock, sleep=clock.sleep)
    assert a.send("failure", "hedge failed: reverted")
    assert a.flush(10.0)
    assert hub.attempts == 3 and len(hub.bodies("/json")) == 1
    assert clock.slept == [1.0, 2.0]
    assert a.sent == 1 and a.failed == 0


def test_an_apprise_target_gives_up_after_the_last_attempt(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    hub.statuses = [503, 503]
    clock = Clock()
    a = Alerter(AlertSettings(urls=(f"mmost://{hub.base}/{MM_TOKEN}",), retries=2, backoff_s=0.5), sleep=clock.sleep)
    handler = ListHandler()
    root = handler.records
    logging.getLogger().addHandler(handler)  # where setup_logging's handler sits
    try:
        with caplog.at_level("WARNING"):
            assert a.send("halt", "keeper halted")
            assert a.flush(10.0)
    finally:
        logging.getLogger().removeHandler(handler)
    assert hub.attempts == 2 and clock.slept == [0.5] and a.sent == 0 and a.failed == 1
    (line,) = [r.getMessage() for r in caplog.records if r.name == "keeper.alerts"]
    # The reason is apprise's own words, redacted; the target is named by service and index, not URL.
    assert "Mattermost (KEEPER_ALERT_URLS[0])" in line and "503" in line
    assert MM_TOKEN not in caplog.text and MM_TOKEN not in a.target
    # apprise's own lines never reach the root logger's handlers (pytest's caplog attaches to apprise's logger
    # itself, so caplog.text above also shows them: they name no token either).
    assert [r.name for r in root] == ["keeper.alerts"]


def test_the_rate_limit_holds_for_every_target(hub: Hub) -> None:
    clock = Clock()
    a = Alerter(AlertSettings(url=f"http://{hub.base}/webhook", urls=(f"json://{hub.base}/json",), window_s=60,
                              max_per_window=1), clock=clock)
    assert a.send("stale_oracle", "ETH feed 7,200 s old")
    assert not a.send("stale_oracle", "ETH feed 7,210 s old"), "second in the window: dropped for every target"
    clock.t += 60
    assert a.send("stale_oracle", "ETH feed 7,260 s old")
    assert a.flush(10.0)
    assert a.dropped_rate == 1 and a.sent == 4
    assert [b["message"] for b in hub.bodies("/json")] == [
        "ETH feed 7,200 s old", "ETH feed 7,260 s old (1 similar alert(s) suppressed)"]
    assert [b["suppressed"] for b in hub.bodies("/webhook")] == [0, 1]


def test_a_hanging_target_blocks_neither_the_caller_nor_the_other_targets(hub: Hub) -> None:
    a = Alerter(AlertSettings(urls=(f"json://{hub.base}/hang", f"json://{hub.base}/ok"), timeout_s=30.0))
    assert a.send("hedge", "first")
    assert hub.hanging.wait(10), "the first target's receiver holds its request"
    assert a.send("failure", "second"), "send returns while a target hangs"
    assert hub.wait_for("/ok", 2), "the other target got both alerts"
    assert [b["message"] for b in hub.bodies("/ok")] == ["first", "second"]
    assert hub.bodies("/hang") == [] and not a.flush(0.05), "still held: the hanging target has not answered"
    hub.release.set()
    assert a.flush(10.0)
    assert [b["message"] for b in hub.bodies("/hang")] == ["first", "second"] and a.sent == 4
    a.close()


BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


@pytest.mark.parametrize(("url", "says", "secret"), [
    ("tgram://AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/", "not a valid Telegram URL", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
    ("discord://123456789012345678", "not a valid Discord URL; expected discord://", "123456789012345678"),
    # apprise's own error for this one reads "An invalid Slack (first) Token (Tok3n!SecretAbc) was specified".
    ("slack://Tok3n%21SecretAbc/B0000/C0000", "not a valid Slack URL", "SecretAbc"),
    ("nosuchservice://AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "unknown apprise service 'nosuchservice'",
     "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
    ("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "not an apprise URL", "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"),
])
def test_a_bad_apprise_url_is_an_error_naming_it_and_not_its_token(url: str, says: str, secret: str) -> None:
    env = {"KEEPER_ALERT_URLS": f"json://127.0.0.1:9/ok\n  {url}"}
    with pytest.raises(InputError) as exc:
        AlertSettings.from_env(env)
    assert str(exc.value).startswith("KEEPER_ALERT_URLS[1]: ") and says in str(exc.value)
    assert secret not in str(exc.value)


def test_apprise_urls_from_the_environment() -> None:
    s = AlertSettings.from_env({"KEEPER_ALERT_URLS": f" tgram://{BOT_TOKEN}/-100200300\n"
                                                     "mailtos://keeper:hunter22pass@mail.example.com  "})
    assert s.url is None and len(s.urls) == 2
    a = Alerter(s)
    assert a.enabled and a.targets == ("Telegram (KEEPER_ALERT_URLS[0])", "E-Mail (KEEPER_ALERT_URLS[1])")
    assert "AAHdq" not in a.target and "hunter22pass" not in a.target
    assert AlertSettings.from_env({"KEEPER_ALERT_URLS": "  "}).urls == ()


def test_the_secret_parts_of_target_urls_are_redacted_everywhere() -> None:
    # What apprise masks in its privacy URL, and token-shaped path pieces; never host names, plain words or ids.
    discord = "discord://123456789012345678/Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE"
    got = url_secrets(discord, "discord://1...8/Z...E/?tts=no")
    assert got == {discord, "Zx9yW8vU7tS6rQ5pO4nM3lK2jI1hG0fE"}
    assert url_secrets("https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX") == {
        "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX"}
    assert url_secrets("https://hooks.slack.com/services/T0000/B0000/aB3dE5fG7hI9jK1lM3nO5pQ7") >= {
        "aB3dE5fG7hI9jK1lM3nO5pQ7"}
    assert "services" not in url_secrets("https://hooks.slack.com/services/T0000/B0000/aB3dE5fG7hI9jK1lM3nO5pQ7")
    mail = url_secrets("mailtos://keeper:horsebatterystaple@mail.example.com", "mailtos://keeper:****@mail.example.com")
    assert "horsebatterystaple" in mail and "mail.example.com" not in mail and "keeper" not in mail
    # Building the target registers them: a later log line or alert text that carries one is redacted.
    token = "Qw3rTy7uIoP9aSdF1gHjK4lZxCvB6nM8"
    AppriseTarget(f"discord://123456789012345678/{token}", 5.0, name="KEEPER_ALERT_URLS[0]")
    assert redact(f"POST https://discord.com/api/webhooks/123456789012345678/{token} failed") == (
        f"POST https://discord.com/api/webhooks/123456789012345678/{REDACTED} failed")
