"""Alerts: a local HTTP receiver on 127.0.0.1 gets Slack-compatible JSON; rate limiting per kind and
retries with backoff run on an injected clock and sleep; nothing ever raises into the caller or blocks it."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from keeper.errors import InputError
from keeper.node.anvil import free_port
from keeper.obs.logs import REDACTED, register_secret
from keeper.ops.alerts import Alerter, AlertSettings, RateLimiter, WebhookError, alerter_from_env, http_post


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
