"""Load the config: read the TOML file, apply ``KEEPER_*`` overrides, validate, report every problem.

Environment overrides
---------------------
``KEEPER_<SECTION>__<KEY>[__<KEY>...]`` sets one value: ``"__"`` separates the levels, names are
matched case-insensitively (asset symbols under ``policy`` and ``vol.fixed`` stay upper case,
``assets`` takes an index: ``KEEPER_ASSETS__0__FEED``). The value is parsed as a TOML value
where it is one (``300``, ``1.5``, ``true``, ``["0x..", "0x.."]``, ``"quoted"``), else taken
as a string; hex (``0x...``) stays a string, so addresses work unquoted.

A ``KEEPER_*`` variable without ``"__"`` is not an override (``KEEPER_PRIVATE_KEY``, the
signer's key source, is one; it never enters the config), unless it starts with a section
name (``KEEPER_CHAIN_RPC_URL``): that is a typo of an override and an error, as is an override
path the schema does not know.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from keeper.config.model import KeeperConfig
from keeper.config.problems import PREFIX, Loc, Problem, format_problems, problems_of
from keeper.errors import ConfigError

__all__ = ["ENV_PREFIX", "apply_env_overrides", "load_config", "parse_env_value"]

ENV_PREFIX = "KEEPER_"
KEY_VARIABLE = "KEEPER_PRIVATE_KEY"
_SYMBOL_TABLES: tuple[Loc, ...] = (("policy",), ("vol", "fixed"))
_RADIX = re.compile(r"[+-]?0[xXoObB]")
_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)$")


def parse_env_value(text: str) -> Any:
    """A TOML value when ``text`` is one (number, boolean, array, inline table, quoted string), else ``text``."""
    s = text.strip()
    if not s or _RADIX.match(s):
        return text
    try:
        value = tomllib.loads(f"v = {s}")["v"]
    except tomllib.TOMLDecodeError:
        return text
    return value if isinstance(value, bool | int | float | str | list | dict) else text


def _key(node: dict[str, Any], part: str, at: Loc) -> str:
    for existing in node:
        if existing.lower() == part.lower():
            return existing
    if at in _SYMBOL_TABLES and part.lower() != "default":
        return part.upper()
    return part.lower()


def apply_env_overrides(
    raw: dict[str, Any], env: Mapping[str, str], *, ignore: frozenset[str] = frozenset()
) -> tuple[dict[str, Any], dict[Loc, str], list[str]]:
    """``raw`` with the ``KEEPER_*`` overrides of ``env`` applied (a copy).

    Returns the new data, the field path each override set (for error messages) and the
    problems that are not the schema's to find (a single-underscore typo, a path through a value).
    """
    data: dict[str, Any] = _copy(raw)
    sources: dict[Loc, str] = {}
    problems: list[str] = []
    sections = list(KeeperConfig.model_fields)
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or name == KEY_VARIABLE or name in ignore:
            continue
        rest = name[len(ENV_PREFIX):]
        if "__" not in rest:
            section = next((s for s in sections if rest.lower().startswith(s + "_")), None)
            if section is not None:
                fixed = f"{ENV_PREFIX}{section.upper()}__{rest[len(section) + 1:]}"
                problems.append(f"{PREFIX}{name}: not a config override; did you mean {fixed}?")
            continue
        parts = rest.split("__")
        if not all(parts):
            problems.append(f"{PREFIX}{name}: empty key in the override path (use one \"__\" between keys)")
            continue
        error = _set(data, parts, parse_env_value(env[name]), name, sources)
        if error:
            problems.append(error)
    return data, sources, problems


def _set(data: dict[str, Any], parts: list[str], value: Any, name: str, sources: dict[Loc, str]) -> str | None:
    node: Any = data
    at: Loc = ()
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        step: str | int
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                where = ".".join(map(str, at))
                return f"{PREFIX}{name}: {where} has {len(node)} entries; {part!r} is not an index of one"
            step = int(part)
        elif isinstance(node, dict):
            step = _key(node, part, at)
        else:
            return f"{PREFIX}{name}: {'.'.join(map(str, at))} is a value, not a table"
        if last:
            node[step] = value
            sources[(*at, step)] = name
            return None
        if isinstance(node, dict) and step not in node:
            node[step] = {}
        node = node[step]
        at = (*at, step)
    return None


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{PREFIX}{path}: file not found") from None
    except IsADirectoryError:
        raise ConfigError(f"{PREFIX}{path}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(f"{PREFIX}{path}: not readable (permission denied)") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{PREFIX}{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{PREFIX}{path}: cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = _TOML_POS.search(msg)
        where = f"line {m.group(1)}, column {m.group(2)}: " if m else ""
        detail = msg[: m.start()].strip() if m else msg
        raise ConfigError(f"{PREFIX}{path}: {where}invalid TOML: {detail}") from None


def load_config(path: Path | str, env: Mapping[str, str] | None = None) -> KeeperConfig:
    """Read, override and validate the config at ``path``; ``env`` defaults to ``os.environ``.

    Relative paths in the file (``journal.path``, ``positions.otc_file``, ``signer.keystore``,
    ``signer.password_file``) are resolved against the file's folder.

    Raises :class:`~keeper.errors.ConfigError` listing every problem found, one
    ``config error: <field.path> = <value>: <message>`` line each.
    """
    path = Path(path)
    env = os.environ if env is None else env
    raw = _read_toml(path)
    signer = raw.get("signer")
    ignore = frozenset(v for k, v in (signer.items() if isinstance(signer, dict) else ())
                       if k in ("key_env", "password_env") and isinstance(v, str))
    data, sources, lines = apply_env_overrides(raw, env, ignore=ignore)
    problems: list[Problem] = []
    config: KeeperConfig | None = None
    try:
        config = KeeperConfig.model_validate(data, context={"base_dir": path.resolve().parent})
    except ValidationError as exc:
        problems = problems_of(exc, KeeperConfig)
    lines += format_problems(problems, sources)
    if lines or config is None:
        raise ConfigError("\n".join(lines))
    _register_url_secrets(str(config.chain.rpc_url))
    return config


def _register_url_secrets(url: str) -> None:
    """An RPC URL's credentials, path and query often hold an API key: never log them."""
    from urllib.parse import urlsplit

    from keeper.obs.logs import MIN_SECRET_LENGTH, register_secret

    parts = urlsplit(url)
    for piece in (parts.password or "", parts.username or "", parts.path.strip("/"), parts.query):
        if len(piece) >= MIN_SECRET_LENGTH:
            register_secret(piece)
