"""Structured logging on stdlib :mod:`logging`: JSON lines, cycle context, secret redaction.

Formats
-------
``setup_logging("json")`` writes one JSON object per line::

    {"ts": "2025-01-01T12:00:00.123Z", "level": "INFO", "logger": "keeper.cycle.runner",
     "msg": "hedged", "cycle_id": "c-17", "block": 123, "venue": "perp"}

``ts`` is UTC with milliseconds; the context fields (see :func:`log_context`)
follow ``msg``, then any ``extra=`` fields, then ``exc`` / ``stack`` when the
record carries a traceback. Non-finite floats are written as strings
(``"nan"``, ``"inf"``) so every line is strict JSON.

``setup_logging("text")`` writes readable one-liners
(``2025-01-01T12:00:00.123Z INFO    keeper.cycle.runner: hedged  cycle_id=c-17 block=123``),
coloured with :mod:`rich` when the stream is a terminal.

Context
-------
``with log_context(cycle_id=..., block=...):`` adds those fields to every
record logged in the same thread / asyncio task until the block exits
(:mod:`contextvars`). A plain ``threading.Thread`` starts with an empty
context: run worker code under ``contextvars.copy_context().run`` to keep the
fields. Nested contexts merge; an explicit ``extra=`` wins over
a context field of the same name.

Redaction rule
--------------
Nothing secret may reach an output, but addresses (40 hex) and transaction or
block hashes (64 hex, the same length as a private key) must survive. So a
64-hex string is *not* redacted for its shape alone. What is replaced by
``"<redacted>"``:

1. every value registered with :func:`register_secret` -- anywhere: message,
   ``%`` args, ``extra`` fields (nested too), tracebacks, stack info -- with or
   without ``0x``, in any letter case; a ``bytes`` secret is matched as hex;
2. the whole value of any field whose *name* contains ``key``, ``password``,
   ``passphrase``, ``secret`` or ``mnemonic`` (case-insensitive), in ``extra``,
   in the log context, and in a mapping passed as the ``%`` argument;
3. a 64-hex string (``0x`` optional) in message text (and in string field
   values and tracebacks) whose preceding 40 characters -- stopping at the
   previous 64-hex string -- contain ``key``, ``private``, ``secret``,
   ``mnemonic``, ``password`` or ``passphrase``:
   ``"private key 0xab.."`` is redacted, ``"sent tx 0xab.."`` is kept.

Redaction runs in :class:`RedactingFilter` (attached to the handler installed by
:func:`setup_logging`, so it covers records propagated from every logger) and
again inside both formatters, which additionally scrub registered secrets
from the final line. A value shorter than :data:`MIN_SECRET_LENGTH` cannot be
registered: redacting it would shred ordinary text.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Final, Literal

from keeper.errors import InputError

if TYPE_CHECKING:
    from rich.console import Console

__all__ = [
    "MIN_SECRET_LENGTH",
    "REDACTED",
    "THIRD_PARTY_LOGGERS",
    "ContextFilter",
    "JsonFormatter",
    "LogFormat",
    "RedactingFilter",
    "TextFormatter",
    "current_context",
    "is_secret_field",
    "log_context",
    "redact",
    "redact_fields",
    "register_secret",
    "setup_logging",
]

REDACTED: Final[str] = "<redacted>"
MIN_SECRET_LENGTH: Final[int] = 8

LogFormat = Literal["json", "text"]

# -- redaction ------------------------------------------------------------------------------------------------------

_SECRET_FIELD = re.compile(r"key|password|passphrase|secret|mnemonic", re.IGNORECASE)
_KEY_WORD = re.compile(r"key|private|secret|mnemonic|password|passphrase", re.IGNORECASE)
_HEX64 = re.compile(r"(?<![0-9A-Za-z])(?:0[xX])?[0-9a-fA-F]{64}(?![0-9A-Za-z])")
_HEX = re.compile(r"(?:0[xX])?([0-9a-fA-F]+)")
_KEY_WINDOW: Final[int] = 40


class _SecretRegistry:
    """The process-wide set of registered secrets and the one regex matching them all."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.patterns: set[str] = set()
        self.regex: re.Pattern[str] | None = None

    def add(self, forms: set[str]) -> None:
        with self.lock:
            self.patterns.update(forms)
            # Longest first, so a secret containing another is replaced whole.
            alternation = "|".join(sorted(self.patterns, key=len, reverse=True))
            self.regex = re.compile(alternation, re.IGNORECASE)


_secrets = _SecretRegistry()


def _secret_forms(value: str | bytes) -> set[str]:
    """Regex patterns matching every printed form of one secret."""
    forms: set[str] = set()
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        forms.add(r"(?:0x)?" + re.escape(raw.hex()))
        forms.add(re.escape(repr(raw)[2:-1]))  # as it appears inside b'...'
        return forms
    forms.add(re.escape(value))
    m = _HEX.fullmatch(value)
    if m is not None:
        body = m.group(1)
        forms.add(r"(?:0x)?" + re.escape(body))
        if len(body) % 2 == 0:
            forms.add(re.escape(repr(bytes.fromhex(body))[2:-1]))
    return forms


def register_secret(value: str | bytes) -> None:
    """Never let ``value`` appear in any log output of this process (see the module docstring).

    Register private keys, keystore passwords, RPC URLs with API keys -- as
    soon as they are loaded. Raises :class:`~keeper.errors.InputError` for a
    value shorter than :data:`MIN_SECRET_LENGTH` characters (or bytes).
    """
    if not isinstance(value, str | bytes | bytearray):
        raise InputError("value", f"must be str or bytes, got {type(value).__name__}")
    if len(value) < MIN_SECRET_LENGTH:
        raise InputError("value", f"secrets shorter than {MIN_SECRET_LENGTH} cannot be redacted safely")
    _secrets.add(_secret_forms(value))


def _redact_registered(text: str) -> str:
    pattern = _secrets.regex
    return text if pattern is None else pattern.sub(REDACTED, text)


def _redact_keyed_hex(text: str) -> str:
    pieces: list[str] = []
    last = 0
    for m in _HEX64.finditer(text):
        window = text[max(last, m.start() - _KEY_WINDOW) : m.start()]
        pieces.append(text[last : m.start()])
        pieces.append(REDACTED if _KEY_WORD.search(window) else m.group(0))
        last = m.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


def redact(text: str) -> str:
    """``text`` with registered secrets and key-labelled 64-hex strings replaced by :data:`REDACTED`."""
    return _redact_keyed_hex(_redact_registered(text))


def redact_fields(fields: Mapping[str, object]) -> dict[str, object]:
    """A JSON-friendly copy of ``fields`` with secrets redacted (by field name and by value)."""
    return {str(k): _redact_value(v, str(k)) for k, v in fields.items()}


def is_secret_field(name: str) -> bool:
    """Whether a field called ``name`` holds a secret (its value is always redacted)."""
    return _SECRET_FIELD.search(name) is not None


def _redact_value(value: object, name: str | None = None) -> object:
    """A JSON-friendly, redacted copy of a field value."""
    if name is not None and is_secret_field(name):
        return REDACTED
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {str(k): _redact_value(v, str(k)) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return redact("0x" + bytes(value).hex())
    return redact(str(value))


# -- context --------------------------------------------------------------------------------------------------------

_STANDARD_ATTRS: Final[frozenset[str]] = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}
_OUTPUT_KEYS: Final[frozenset[str]] = frozenset({"ts", "level", "logger", "msg", "exc", "stack"})
_CTX_KEYS_ATTR: Final[str] = "_keeper_context_keys"
_REDACTED_ATTR: Final[str] = "_keeper_redacted"

_context: ContextVar[Mapping[str, object]] = ContextVar("keeper_log_context", default=MappingProxyType({}))


@contextmanager
def log_context(**fields: object) -> Iterator[Mapping[str, object]]:
    """Add ``fields`` (e.g. ``cycle_id``, ``block``) to every record logged inside the block.

    Yields the merged context. Names that clash with :class:`logging.LogRecord`
    attributes or the JSON keys (``ts``, ``level``, ``logger``, ``msg``, ``exc``,
    ``stack``) are rejected with :class:`~keeper.errors.InputError`.
    """
    bad = sorted((fields.keys() & (_STANDARD_ATTRS | _OUTPUT_KEYS)) | {k for k in fields if k.startswith("_")})
    if bad:
        raise InputError("fields", f"reserved log field names: {', '.join(bad)}")
    merged = MappingProxyType({**_context.get(), **fields})
    token = _context.set(merged)
    try:
        yield merged
    finally:
        _context.reset(token)


def current_context() -> Mapping[str, object]:
    """The fields :func:`log_context` currently adds (read-only)."""
    return _context.get()


class ContextFilter(logging.Filter):
    """Copies the current :func:`log_context` fields onto each record (explicit ``extra`` wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        ctx = _context.get()
        added = [k for k in ctx if k not in record.__dict__]
        for k in added:
            setattr(record, k, ctx[k])
        if added:
            setattr(record, _CTX_KEYS_ATTR, (*getattr(record, _CTX_KEYS_ATTR, ()), *added))
        return True


def _extra_names(record: logging.LogRecord) -> list[str]:
    """Non-standard record attributes: context fields first, then ``extra=`` fields."""
    ctx: tuple[str, ...] = getattr(record, _CTX_KEYS_ATTR, ())
    rest = [k for k in record.__dict__ if k not in _STANDARD_ATTRS and not k.startswith("_") and k not in ctx]
    return [*ctx, *rest]


def _redact_record(record: logging.LogRecord) -> None:
    """Redact ``record`` in place (idempotent): message with args merged in, fields, traceback, stack."""
    if getattr(record, _REDACTED_ATTR, False):
        return
    try:
        args = record.args
        if isinstance(args, Mapping):
            record.args = {k: (REDACTED if isinstance(k, str) and is_secret_field(k) else v) for k, v in args.items()}
        try:
            message = record.getMessage()
        except Exception:  # a malformed call must still produce a (redacted) line
            message = f"{record.msg!s} (bad log args: {record.args!r})"
        record.msg = redact(message)
        record.args = None
        for name in _extra_names(record):
            setattr(record, name, _redact_value(record.__dict__[name], name))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
    except Exception:  # never let a log call raise, never let an unredacted record through
        record.msg = f"{REDACTED} (log record could not be redacted)"
        record.args = None
        record.exc_info = None
        record.exc_text = None
        record.stack_info = None
        for name in _extra_names(record):
            setattr(record, name, REDACTED)
    setattr(record, _REDACTED_ATTR, True)


class RedactingFilter(logging.Filter):
    """Applies the module's redaction rule to each record in place (attach to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        _redact_record(record)
        return True


# -- formatters -----------------------------------------------------------------------------------------------------


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts``, ``level``, ``logger``, ``msg``, context and extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        _redact_record(record)
        out: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name in _extra_names(record):
            out[f"{name}_" if name in _OUTPUT_KEYS else name] = _redact_value(record.__dict__[name], name)
        if record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = record.stack_info
        return _redact_registered(json.dumps(out, ensure_ascii=False, default=str))


def _text_value(value: object) -> str:
    if isinstance(value, str) and value and not any(c.isspace() or c in "\"'=" for c in value):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Readable one-liners: ``ts LEVEL logger: msg  k=v k=v`` (traceback on the following lines)."""

    def parts(self, record: logging.LogRecord) -> list[tuple[str, str]]:
        """The line as ``(text, role)`` pieces; roles: ``ts``, ``level``, ``logger``, ``msg``, ``fields``, ``exc``."""
        _redact_record(record)
        pieces = [
            (_timestamp(record), "ts"),
            (" ", ""),
            (f"{record.levelname:<7}", "level"),
            (" ", ""),
            (f"{record.name}:", "logger"),
            (" ", ""),
            (record.getMessage(), "msg"),
        ]
        fields = [f"{n}={_text_value(_redact_value(record.__dict__[n], n))}" for n in _extra_names(record)]
        if fields:
            pieces.append(("  " + " ".join(fields), "fields"))
        tail = "\n".join(t for t in (record.exc_text, record.stack_info) if t)
        if tail:
            pieces.append(("\n" + tail, "exc"))
        return [(_redact_registered(text), role) for text, role in pieces]

    def format(self, record: logging.LogRecord) -> str:
        return "".join(text for text, _ in self.parts(record))


_LEVEL_STYLES: Final[Mapping[str, str]] = MappingProxyType(
    {"DEBUG": "dim", "INFO": "green", "WARNING": "yellow", "ERROR": "bold red", "CRITICAL": "bold white on red"}
)
_ROLE_STYLES: Final[Mapping[str, str]] = MappingProxyType(
    {"ts": "dim", "logger": "cyan", "fields": "magenta", "exc": "red"}
)


class _RichTextHandler(logging.Handler):
    """Writes :class:`TextFormatter` lines through a :mod:`rich` console, coloured, never wrapped."""

    def __init__(self, stream: IO[str], formatter: TextFormatter) -> None:
        super().__init__()
        from rich.console import Console

        self.setFormatter(formatter)
        self._text_formatter = formatter
        self._console: Console = Console(file=stream, force_terminal=True, soft_wrap=True, highlight=False)

    def emit(self, record: logging.LogRecord) -> None:
        from rich.text import Text

        try:
            text = Text()
            for piece, role in self._text_formatter.parts(record):
                style = _LEVEL_STYLES.get(record.levelname, "") if role == "level" else _ROLE_STYLES.get(role, "")
                text.append(piece, style=style)
            self._console.print(text, soft_wrap=True, highlight=False, markup=False, emoji=False)
            self._console.file.flush()
        except Exception:
            self.handleError(record)


# -- setup ----------------------------------------------------------------------------------------------------------

_installed: list[logging.Handler] = []
_install_lock = threading.Lock()


def _parse_level(level: str | int) -> int:
    if isinstance(level, bool):
        raise InputError("level", f"not a log level: {level!r}")
    if isinstance(level, int):
        return level
    mapping = logging.getLevelNamesMapping()
    if isinstance(level, str) and level.upper() in mapping:
        return mapping[level.upper()]
    raise InputError("level", f"not a log level: {level!r} (use DEBUG, INFO, WARNING, ERROR or CRITICAL)")


def _is_tty(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False


THIRD_PARTY_LOGGERS: Final[tuple[str, ...]] = ("apscheduler", "urllib3", "web3", "requests", "asyncio")
"""Libraries whose INFO lines are noise in a keeper's log unless ``--verbose``."""


def setup_logging(
    fmt: LogFormat = "text",
    level: str | int = "INFO",
    stream: IO[str] | None = None,
    *,
    color: bool | None = None,
    verbose: bool = False,
) -> logging.Handler:
    """Route every logger through one redacting handler on the root logger.

    Parameters
    ----------
    fmt : ``"json"`` (JSON lines, for production) or ``"text"`` (one-liners, for a terminal).
    level : root level, a name (``"INFO"``) or number.
    stream : where to write; ``None`` means :data:`sys.stderr` at call time.
    color : text format only; colour with :mod:`rich`. ``None`` = when ``stream`` is a terminal
        (rich honours ``NO_COLOR``).
    verbose : let the libraries' own loggers (:data:`THIRD_PARTY_LOGGERS`: APScheduler's two lines
        per job, urllib3's connection notes, web3) through below WARNING; by default they are quiet.

    Calling it again replaces the handler it installed before (other root
    handlers are left alone). :mod:`warnings` are routed into logging too.
    Returns the installed handler.
    """
    if fmt not in ("json", "text"):
        raise InputError("fmt", f"must be 'json' or 'text', got {fmt!r}")
    levelno = _parse_level(level)
    out = sys.stderr if stream is None else stream
    handler: logging.Handler
    if fmt == "json":
        handler = logging.StreamHandler(out)
        handler.setFormatter(JsonFormatter())
    elif color if color is not None else _is_tty(out):
        handler = _RichTextHandler(out, TextFormatter())
    else:
        handler = logging.StreamHandler(out)
        handler.setFormatter(TextFormatter())
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactingFilter())

    root = logging.getLogger()
    with _install_lock:
        for old in _installed:
            root.removeHandler(old)
        _installed.clear()
        root.addHandler(handler)
        _installed.append(handler)
    root.setLevel(levelno)
    for name in THIRD_PARTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET if verbose else max(levelno, logging.WARNING))
    logging.captureWarnings(True)
    return handler
