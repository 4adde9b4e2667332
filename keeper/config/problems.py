"""Config problems as the user sees them: ``config error: <field.path> = <value>: <what is wrong>``.

One line per problem. Values whose path mentions a password or a key, values that look like a
32-byte secret (64 hex digits), the path and query of URLs (RPC URLs often embed an API key), the
host of URLs other than http(s) / ws(s) / ftp(s) (an apprise ``tgram://BOT_TOKEN/...`` puts its token there)
and any text under ``[alerts]`` (its fields name variables; a URL typed there is a secret) are never
echoed.
"""

from __future__ import annotations

import difflib
import json
import math
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

__all__ = ["Loc", "Problem", "format_config_error", "problem_line", "problems_of"]

PREFIX = "config error: "
REDACTED = "<redacted>"
Loc = tuple[str | int, ...]
Problem = tuple[Loc, object, str, bool]
"""(field path, bad value, message, whether the value is shown)."""

_SECRET_PATH = re.compile(r"password|key", re.IGNORECASE)
_HEX64 = re.compile(r"[0-9a-fA-F]{64}")
_URL = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)(?:[^@/?#\s]*@)?([^/?#\s]*)(.*)", re.DOTALL)
_MAX_SHOWN = 80
_HOST_SHOWN = ("http://", "https://", "ws://", "wss://", "ftp://", "ftps://")

_SIMPLE = {
    "missing": "required",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "bool_type": "must be true or false",
    "string_type": "must be a string",
    "dict_type": "must be a table",
    "model_type": "must be a table",
    "model_attributes_type": "must be a table",
    "tuple_type": "must be an array",
    "list_type": "must be an array",
    "finite_number": "must be a finite number",
    "path_type": "must be a path string",
}
_BOUNDS = {"greater_than": (">", "gt"), "greater_than_equal": (">=", "ge"), "less_than": ("<", "lt"),
           "less_than_equal": ("<=", "le")}


def _num(x: object) -> str:
    return f"{x:g}" if isinstance(x, float) else str(x)


def show_value(loc: Loc, value: object) -> str:
    """``value`` as TOML-ish text, with secrets and URL paths redacted."""
    if any(isinstance(p, str) and _SECRET_PATH.search(p) for p in loc):
        return REDACTED
    if loc and loc[0] == "alerts" and not isinstance(value, bool | int | float):
        return REDACTED
    return _show(value)


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else "-inf" if value == -math.inf
                                                else repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        if _HEX64.search(value):
            return REDACTED
        m = _URL.fullmatch(value)
        if m is not None and m.group(1).lower() in _HOST_SHOWN:
            value = m.group(1) + m.group(2) + ("/..." if m.group(3) else "")
        elif m is not None:
            value = m.group(1) + "..."
        text = json.dumps(value)
        return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 4] + '..."'
    if isinstance(value, list | tuple):
        text = "[" + ", ".join(_show(v) for v in value) + "]"
        return text if len(text) <= _MAX_SHOWN else f"[{len(value)} items]"
    if isinstance(value, Mapping):
        return "{table}"
    return _show(str(value))


def problem_line(loc: Loc, value: object, message: str, *, show: bool = True, source: str | None = None) -> str:
    """One user-facing line; ``source`` names the environment variable the value came from."""
    path = ".".join(str(p) for p in loc) or "(top level)"
    shown = f" = {show_value(loc, value)}" if show else ""
    origin = f" (from {source})" if source else ""
    return f"{PREFIX}{path}{shown}{origin}: {message}"


# ----------------------------------------------------------------------------- pydantic errors


def _model_at(root: type[BaseModel], loc: Loc) -> type[BaseModel] | None:
    """The model class of the table at ``loc`` (to list its allowed keys), if any."""
    current: Any = root
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            if field is None:
                return None
            current = field.annotation
        else:
            current = _element(current, part)
        current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(tp: Any) -> Any:
    """Strip ``Annotated`` and ``X | None``."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp
            tp = args[0]
        else:
            return tp


def _element(tp: Any, part: str | int) -> Any:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is tuple and args and isinstance(part, int):
        return args[0]
    if origin is dict and len(args) == 2:
        return args[1]
    return None


def _unknown_field(root: type[BaseModel] | None, loc: Loc) -> str:
    model = _model_at(root, loc[:-1]) if root is not None else None
    if model is None:
        return "unknown field"
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return f"unknown field ({hint}allowed: {', '.join(allowed)})"


def _message(err: ErrorDetails, root: type[BaseModel] | None) -> str:
    kind = err["type"]
    ctx = err.get("ctx", {})
    if kind in _SIMPLE:
        return _SIMPLE[kind]
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        return f"must be {op} {_num(ctx.get(key))}"
    if kind == "extra_forbidden":
        return _unknown_field(root, tuple(err["loc"]))
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected')}"
    if kind == "too_short" and ctx.get("min_length") == 1:
        return "must not be empty"
    msg = err["msg"].removeprefix("Value error, ")
    return msg.replace("Input should be", "must be", 1)


def problems_of(exc: ValidationError, root: type[BaseModel] | None = None) -> list[Problem]:
    """Every problem of ``exc``, cross-field errors expanded to one problem each."""
    out: list[Problem] = []
    for err in exc.errors():
        loc: Loc = tuple(err["loc"])
        ctx = err.get("ctx", {})
        if err["type"] == "cross_field":
            for sub, value, message in ctx["problems"]:
                sub_loc = tuple(int(p) if p.isdigit() else p for p in str(sub).split("."))
                out.append((loc + sub_loc, value, message, value is not None))
            continue
        show = err["type"] not in ("missing",) and not isinstance(err["input"], Mapping)
        out.append((loc, err["input"], _message(err, root), show))
    return out


def _source(loc: Loc, sources: Mapping[Loc, str]) -> str | None:
    for path, var in sources.items():
        n = min(len(path), len(loc))
        if n and loc[:n] == path[:n]:
            return var
    return None


def format_config_error(
    exc: ValidationError,
    *,
    root: type[BaseModel] | None = None,
    sources: Mapping[Loc, str] | None = None,
) -> str:
    """``exc`` as one ``config error: path = value: message`` line per problem.

    ``root`` (the validated model class) lets an unknown field list the allowed ones;
    ``sources`` maps a field path to the ``KEEPER_*`` variable that set it.
    """
    if root is None:
        title = exc.title
        from keeper.config.model import KeeperConfig

        root = KeeperConfig if title == KeeperConfig.__name__ else None
    return "\n".join(format_problems(problems_of(exc, root), sources or {}))


def format_problems(problems: Sequence[Problem], sources: Mapping[Loc, str]) -> list[str]:
    return [problem_line(loc, value, msg, show=show, source=_source(loc, sources))
            for loc, value, msg, show in problems]
