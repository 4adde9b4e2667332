"""Structured logging: JSON lines, text one-liners, cycle context, and secrets that never get out."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import threading
import warnings
from collections.abc import Callable, Iterator

import pytest

from keeper.errors import InputError
from keeper.obs.logs import (
    REDACTED,
    THIRD_PARTY_LOGGERS,
    LogFormat,
    current_context,
    is_secret_field,
    log_context,
    redact,
    register_secret,
    setup_logging,
)

TX_HASH = "0x" + "5e" * 32  # 32 bytes, same shape as a private key: must survive
ADDRESS = "0x" + "Ab" * 20
ANSI = re.compile(r"\x1b\[[0-9;]*m")

Capture = Callable[..., io.StringIO]


def fresh_key() -> str:
    """A new random 32-byte hex private key (registered secrets are process-wide, so never reuse)."""
    return secrets.token_hex(32)


@pytest.fixture
def capture() -> Iterator[Capture]:
    """``capture(fmt, **kw)`` installs :func:`setup_logging` on a buffer; root state is restored afterwards."""
    root = logging.getLogger()
    saved_level = root.level
    handlers: list[logging.Handler] = []

    def install(fmt: LogFormat = "json", level: str = "INFO", color: bool | None = None) -> io.StringIO:
        buf = io.StringIO()
        handlers.append(setup_logging(fmt, level, buf, color=color))
        return buf

    try:
        yield install
    finally:
        for h in handlers:
            root.removeHandler(h)
        root.setLevel(saved_level)
        logging.captureWarnings(False)


@pytest.fixture
def log() -> logging.Logger:
    return logging.getLogger("keeper.test_logs")


def json_lines(buf: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in buf.getvalue().splitlines()]


# -- JSON and text formats ------------------------------------------------------------------------------------------


def test_json_lines_parse_and_carry_the_base_fields(capture: Capture, log: logging.Logger) -> None:
    buf = capture("json")
    log.info("hedged %s on %s", "ETH", "perp", extra={"size": 1.25, "venue": "perp", "nan": float("nan")})
    log.warning("second")
    first, second = json_lines(buf)
    assert list(first)[:4] == ["ts", "level", "logger", "msg"]
    assert first["level"] == "INFO"
    assert first["logger"] == "keeper.test_logs"
    assert first["msg"] == "hedged ETH on perp"
    assert first["size"] == 1.25
    assert first["venue"] == "perp"
    assert first["nan"] == "nan"  # strict JSON: no bare NaN
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", str(first["ts"]))
    assert second["level"] == "WARNING"


def test_context_inside_and_not_outside(capture: Capture, log: logging.Logger) -> None:
    buf = capture("json")
    log.info("before")
    with log_context(cycle_id="c-17", block=19_000_000):
        log.info("during")
        with log_context(stage="hedge"):
            log.info("nested")
        log.info("explicit", extra={"block": 5})
    log.info("after")
    before, during, nested, explicit, after = json_lines(buf)
    assert "cycle_id" not in before and "block" not in before
    assert during["cycle_id"] == "c-17" and during["block"] == 19_000_000
    assert list(during)[4:6] == ["cycle_id", "block"]  # right after the base fields
    assert nested["cycle_id"] == "c-17" and nested["stage"] == "hedge"
    assert explicit["block"] == 5  # an explicit extra wins over the context
    assert "cycle_id" not in after and "stage" not in after
    assert current_context() == {}


def test_context_does_not_leak_into_other_threads(capture: Capture, log: logging.Logger) -> None:
    buf = capture("json")
    with log_context(cycle_id="main-only"):
        t = threading.Thread(target=lambda: log.info("from thread"))
        t.start()
        t.join()
    (line,) = json_lines(buf)
    assert "cycle_id" not in line


@pytest.mark.parametrize("name", ["msg", "level", "ts", "args", "_private"])
def test_reserved_context_names_rejected(name: str) -> None:
    with pytest.raises(InputError), log_context(**{name: 1}):
        pass


def test_text_format_is_a_readable_one_liner(capture: Capture, log: logging.Logger) -> None:
    buf = capture("text")
    with log_context(cycle_id="c-1", block=42):
        log.info("hedged %s", "ETH", extra={"venue": "perp", "note": "two words"})
    line = buf.getvalue()
    assert line.count("\n") == 1
    assert not ANSI.search(line)  # a StringIO is not a terminal
    assert re.match(r"\d{4}-\d\d-\d\dT[\d:.]+Z INFO +keeper\.test_logs: hedged ETH  ", line)
    assert 'cycle_id=c-1 block=42 venue=perp note="two words"' in line


def test_text_format_in_colour(capture: Capture, log: logging.Logger) -> None:
    key = fresh_key()
    register_secret(key)
    buf = capture("text", color=True)
    log.error("could not use %s", key, extra={"tx": TX_HASH})
    out = buf.getvalue()
    assert ANSI.search(out)
    plain = ANSI.sub("", out)
    assert "ERROR" in plain and f"could not use {REDACTED}" in plain and f"tx={TX_HASH}" in plain
    assert key not in out
    assert plain.count("\n") == 1


def test_level_filters(capture: Capture, log: logging.Logger) -> None:
    buf = capture("json", level="WARNING")
    log.info("hidden")
    log.warning("shown")
    assert [line["msg"] for line in json_lines(buf)] == ["shown"]


def test_setup_twice_replaces_its_handler(capture: Capture, log: logging.Logger) -> None:
    first = capture("json")
    second = capture("text")
    log.info("once")
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1


def test_bad_setup_arguments() -> None:
    with pytest.raises(InputError, match="fmt"):
        setup_logging("xml", stream=io.StringIO())  # type: ignore[arg-type]
    with pytest.raises(InputError, match="level"):
        setup_logging("json", level="LOUD", stream=io.StringIO())


def test_warnings_are_logged(capture: Capture) -> None:
    buf = capture("json")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        logging.captureWarnings(True)
        warnings.warn("careful", UserWarning, stacklevel=1)
    assert any("careful" in str(line["msg"]) for line in json_lines(buf))


# -- redaction ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_registered_secret_in_msg_args_and_extra(capture: Capture, log: logging.Logger, fmt: LogFormat) -> None:
    key = fresh_key()
    register_secret("0x" + key)
    buf = capture(fmt)
    log.info(f"literal {key}")  # in the message itself
    log.info("as arg %s", "0x" + key.upper())  # in args, other case, with 0x
    log.info("as extra", extra={"detail": f"loaded 0x{key}", "nested": {"list": [key]}, "raw": bytes.fromhex(key)})
    out = buf.getvalue()
    assert key not in out.lower()
    assert out.count(REDACTED) >= 5


def test_key_named_fields_are_redacted(capture: Capture, log: logging.Logger) -> None:
    buf = capture("json")
    with log_context(api_key="abc123"):
        log.info(
            "fields",
            extra={
                "private_key": "not-registered",
                "rpc_password": "hunter22",
                "Mnemonic": "w1 w2",
                "client_secret": 7,
                "cfg": {"signer_key": "x", "chain": 1},
            },
        )
    log.info("mapping arg %(passphrase)s %(n)s", {"passphrase": "pw-in-mapping", "n": 3})
    first, second = json_lines(buf)
    for name in ("api_key", "private_key", "rpc_password", "Mnemonic", "client_secret"):
        assert first[name] == REDACTED, name
    assert first["cfg"] == {"signer_key": REDACTED, "chain": 1}
    assert second["msg"] == f"mapping arg {REDACTED} 3"
    assert "hunter22" not in buf.getvalue() and "pw-in-mapping" not in buf.getvalue()


def test_tx_hash_and_address_survive(capture: Capture, log: logging.Logger) -> None:
    buf = capture("json")
    log.info("sent tx %s from %s", TX_HASH, ADDRESS, extra={"tx_hash": TX_HASH, "to": ADDRESS, "block_hash": "ab" * 32})
    (line,) = json_lines(buf)
    assert line["msg"] == f"sent tx {TX_HASH} from {ADDRESS}"
    assert line["tx_hash"] == TX_HASH and line["to"] == ADDRESS and line["block_hash"] == "ab" * 32


@pytest.mark.parametrize(
    "template",
    [
        "private key: 0x{k}",
        "loaded key={k}",
        "SECRET {k}",
        "using the signer's private key from env 0x{k}",
    ],
)
def test_unregistered_64_hex_after_a_key_word_is_redacted(template: str) -> None:
    k = fresh_key()
    assert redact(template.format(k=k)) == template.format(k=k).replace("0x" + k, REDACTED).replace(k, REDACTED)


def test_key_word_rule_does_not_reach_past_an_earlier_hash() -> None:
    k = fresh_key()
    text = f"private key 0x{k} signed tx {TX_HASH}"
    assert redact(text) == f"private key {REDACTED} signed tx {TX_HASH}"
    # a key word far before the hash (more than 40 chars) does not count
    far = "key rotation scheduled; meanwhile the keeper sent tx " + TX_HASH
    assert redact(far) == far
    # longer hex (calldata, signatures) is not 64-hex and is left alone
    calldata = "key data 0x" + "12" * 40
    assert redact(calldata) == calldata


def test_exceptions_with_exc_info_are_redacted(capture: Capture, log: logging.Logger) -> None:
    key = fresh_key()
    register_secret(key)
    formats: tuple[LogFormat, ...] = ("json", "text")
    for fmt in formats:
        buf = capture(fmt)
        try:
            raise ValueError(f"cannot parse 0x{key} (private key 0x{'77' * 32})")
        except ValueError:
            log.exception("failed with %s", key, extra={"tx": TX_HASH})
        out = buf.getvalue()
        assert "ValueError: cannot parse" in out
        assert key not in out.lower()
        assert "77" * 32 not in out
        assert TX_HASH in out
        if fmt == "json":
            (line,) = json_lines(buf)
            assert "Traceback" in str(line["exc"])


def test_stack_info_is_redacted(capture: Capture, log: logging.Logger) -> None:
    key = fresh_key()
    register_secret(key)
    buf = capture("json")
    log.info("where %s", key, stack_info=True)
    (line,) = json_lines(buf)
    assert "stack" in line and key not in buf.getvalue()


def test_a_registered_key_never_appears_in_any_output(capture: Capture, log: logging.Logger) -> None:
    key = fresh_key()
    register_secret(bytes.fromhex(key))  # registered as bytes, matched as hex in any case
    outputs: list[str] = []
    setups: tuple[tuple[LogFormat, bool | None], ...] = (("json", None), ("text", None), ("text", True))
    for fmt, color in setups:
        buf = capture(fmt, color=color)
        with log_context(cycle_id=key, block=1):
            log.warning("w %s %r", key.upper(), bytes.fromhex(key), extra={"k": key, "obj": object(), "b": [key]})
            log.info("%(a)s", {"a": key})
        try:
            raise RuntimeError(key)
        except RuntimeError:
            log.error("err", exc_info=True)
        outputs.append(buf.getvalue())
    for out in outputs:
        assert out and key not in out.lower()
        assert repr(bytes.fromhex(key))[2:-1] not in out


def test_malformed_log_call_still_redacts(capture: Capture, log: logging.Logger) -> None:
    key = fresh_key()
    register_secret(key)
    buf = capture("json")
    (handler,) = [h for h in logging.getLogger().handlers if getattr(h, "stream", None) is buf]
    # wrong arity; fed to our handler alone (pytest's own capture handler would raise on it)
    record = log.makeRecord(log.name, logging.INFO, __file__, 1, "two args %s %s", (key,), None)
    handler.handle(record)
    (line,) = json_lines(buf)
    assert key not in buf.getvalue()
    assert REDACTED in str(line["msg"])


def test_short_or_odd_secrets_rejected() -> None:
    with pytest.raises(InputError, match="value"):
        register_secret("short")
    with pytest.raises(InputError, match="value"):
        register_secret(12345678)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("private_key", True),
        ("API_KEY", True),
        ("password", True),
        ("seed_mnemonic", True),
        ("client_secret", True),
        ("tx_hash", False),
        ("address", False),
        ("block", False),
        ("cycle_id", False),
    ],
)
def test_is_secret_field(name: str, secret: bool) -> None:
    assert is_secret_field(name) is secret


@pytest.mark.parametrize("verbose", [False, True])
def test_library_info_lines_only_with_verbose(verbose: bool) -> None:
    """APScheduler logs two INFO lines per job run; a keeper's log shows them only with ``--verbose``.
    The keeper's own INFO lines and a library's WARNING always pass."""
    root = logging.getLogger()
    saved = root.level, {n: logging.getLogger(n).level for n in THIRD_PARTY_LOGGERS}
    buf = io.StringIO()
    handler = setup_logging("text", "INFO", buf, color=False, verbose=verbose)
    try:
        logging.getLogger("apscheduler.executors.default").info("Running job cycle")
        logging.getLogger("urllib3.connectionpool").info("Starting new HTTP connection (1): node:8545")
        logging.getLogger("apscheduler.scheduler").warning("Run time of job was missed by 0:00:03")
        logging.getLogger("keeper").info("cycle 7 ok")
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)
        logging.captureWarnings(False)
    out = buf.getvalue()
    assert "cycle 7 ok" in out and "missed by 0:00:03" in out
    assert ("Running job cycle" in out) is verbose
    assert ("Starting new HTTP connection" in out) is verbose
