"""A small TOML writer for the keeper's config (tables, arrays of tables, scalars and scalar arrays).

``comments`` maps a dotted key (``"treasury.hedge_module"``) to a comment written after its value,
and a table name (``"treasury"``) to a comment line above its header.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from keeper.errors import InputError

__all__ = ["dumps"]

_BARE = re.compile(r"[A-Za-z0-9_-]+")


def _key(k: str) -> str:
    return k if _BARE.fullmatch(k) else json.dumps(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            raise InputError("value", "TOML config values must not be nan")
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list | tuple):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, Mapping):
        return "{ " + ", ".join(f"{_key(str(k))} = {_value(x)}" for k, x in v.items()) + " }"
    raise InputError("value", f"cannot write a {type(v).__name__} to TOML")


def _is_table_array(v: Any) -> bool:
    return isinstance(v, list | tuple) and bool(v) and all(isinstance(x, Mapping) for x in v)


def _table(out: list[str], name: str, body: Mapping[str, Any], comments: Mapping[str, str], header: str) -> None:
    scalars = {k: v for k, v in body.items() if not isinstance(v, Mapping) and not _is_table_array(v)}
    subs = {k: v for k, v in body.items() if isinstance(v, Mapping)}
    arrays = {k: v for k, v in body.items() if _is_table_array(v)}
    if name and (scalars or not (subs or arrays)):
        if out:
            out.append("")
        if name in comments:
            out.append(f"# {comments[name]}")
        out.append(header)
    for k, v in scalars.items():
        line = f"{_key(k)} = {_value(v)}"
        dotted = f"{name}.{k}" if name else k
        if dotted in comments:
            line += f"  # {comments[dotted]}"
        out.append(line)
    for k, v in body.items():
        sub = f"{name}.{_key(k)}" if name else _key(k)
        if k in subs:
            _table(out, sub, v, comments, f"[{sub}]")
        elif k in arrays:
            for item in v:
                out.append("")
                out.append(f"[[{sub}]]")
                out.extend(f"{_key(ik)} = {_value(iv)}" for ik, iv in item.items())


def dumps(data: Mapping[str, Any], comments: Mapping[str, str] | None = None, preamble: str = "") -> str:
    """``data`` as TOML text (top-level scalars first, then one ``[table]`` per mapping)."""
    out: list[str] = [f"# {line}" if line else "#" for line in preamble.splitlines()]
    _table(out, "", data, comments or {}, "")
    return "\n".join(out) + "\n"
