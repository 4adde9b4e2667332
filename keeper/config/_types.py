"""Field types shared by the config models: a strict frozen base, unit-carrying numbers, addresses.

Numbers are strict: ``5`` is accepted where a float is expected, but ``"5"`` and ``true``
are not (a TOML string or boolean in a numeric field is a typo, not a value to coerce).
Limits are finite unless a type says it accepts ``inf`` ("no limit").
"""

from __future__ import annotations

import math
import os
import re
import typing
from pathlib import Path
from typing import Annotated, Any

from eth_utils.address import to_checksum_address
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core.core_schema import ErrorType

__all__ = [
    "Address",
    "AddressList",
    "Bps",
    "ConfigPath",
    "CrossProblem",
    "Currency",
    "EnvName",
    "ExistingFile",
    "Finite",
    "Model",
    "NonNeg",
    "NonNegOrInf",
    "Pos",
    "PosInt",
    "PosOrInf",
    "cross_field_error",
    "relocate",
    "resolve_path",
]

_HEX40 = re.compile(r"0x[0-9a-fA-F]{40}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ZERO_ADDRESS = "0x" + "0" * 40

CrossProblem = tuple[str, object, str]
"""One cross-field problem: (field path relative to the model, bad value, message)."""


class Model(BaseModel):
    """Base of every config model: frozen, strict, unknown fields rejected, no NaN or inf."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


def cross_field_error(problems: list[CrossProblem]) -> PydanticCustomError:
    """One pydantic error carrying several located problems (expanded by ``format_config_error``)."""
    summary = "; ".join(f"{p}: {m}" for p, _, m in problems)
    return PydanticCustomError("cross_field", "{summary}", {"summary": summary, "problems": tuple(problems)})


_ERROR_TYPES = frozenset(typing.get_args(ErrorType))


def relocate(exc: ValidationError, prefix: tuple[str | int, ...]) -> list[InitErrorDetails]:
    """The errors of ``exc`` under ``prefix``, ready for ``ValidationError.from_exception_data``."""
    out: list[InitErrorDetails] = []
    for err in exc.errors():
        ctx = err.get("ctx")
        loc = (*prefix, *err["loc"])
        if err["type"] in _ERROR_TYPES:
            detail = InitErrorDetails(type=err["type"], loc=loc, input=err["input"])
            if ctx is not None:
                detail["ctx"] = ctx
        else:
            detail = InitErrorDetails(type=PydanticCustomError(err["type"], err["msg"], ctx), loc=loc,
                                      input=err["input"])
        out.append(detail)
    return out


def _address(value: str) -> str:
    if _HEX40.fullmatch(value) is None:
        raise PydanticCustomError("address", "must be a 20-byte hex address (0x followed by 40 hex digits)")
    body = value[2:]
    checksummed = to_checksum_address(value)
    if body != body.lower() and body != body.upper() and value != checksummed:
        raise PydanticCustomError("address_checksum", "mixed-case address with a wrong EIP-55 checksum (a typo?)")
    if value == ZERO_ADDRESS:
        raise PydanticCustomError("address_zero", "must not be the zero address")
    return checksummed


def _to_tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def _env_name(value: str) -> str:
    if _ENV_NAME.fullmatch(value) is None:
        raise PydanticCustomError("env_name", "must be an environment variable name ([A-Za-z_][A-Za-z0-9_]*)")
    return value


def _not_nan(value: float) -> float:
    if math.isnan(value):
        raise PydanticCustomError("finite_number", "must be a number, not nan")
    return value


def resolve_path(value: Path, info: ValidationInfo) -> Path:
    """``value`` made absolute against ``base_dir`` from the validation context (the config's folder)."""
    base = (info.context or {}).get("base_dir") if isinstance(info.context, dict) else None
    path = value.expanduser()
    if not path.is_absolute() and base is not None:
        path = Path(base) / path
    return Path(os.path.normpath(path))


def _existing_file(path: Path) -> Path:
    if not path.exists():
        raise PydanticCustomError("file_missing", "file not found")
    if not path.is_file():
        raise PydanticCustomError("file_kind", "not a regular file")
    return path


Address = Annotated[str, AfterValidator(_address)]


def _currency(value: str) -> str:
    """An address where the zero address is meaningful (a v4 pool key's native currency, no hooks)."""
    return ZERO_ADDRESS if value == ZERO_ADDRESS else _address(value)


Currency = Annotated[str, AfterValidator(_currency)]
"""An address that may be the zero address (Uniswap v4: native ETH as a currency; a key without hooks)."""
"""A 20-byte hex address, normalized to its EIP-55 checksum form."""
AddressList = Annotated[tuple[Address, ...], BeforeValidator(_to_tuple)]
EnvName = Annotated[str, AfterValidator(_env_name)]
ConfigPath = Annotated[Path, Strict(False), AfterValidator(resolve_path)]
"""A path; relative ones are resolved against the config file's folder."""
ExistingFile = Annotated[Path, Strict(False), AfterValidator(resolve_path), AfterValidator(_existing_file)]
"""A :data:`ConfigPath` that must name an existing file."""

Finite = float
Pos = Annotated[float, Field(gt=0)]
NonNeg = Annotated[float, Field(ge=0)]
PosOrInf = Annotated[float, Field(gt=0, allow_inf_nan=True), AfterValidator(_not_nan)]
"""> 0; ``inf`` means no limit."""
NonNegOrInf = Annotated[float, Field(ge=0, allow_inf_nan=True), AfterValidator(_not_nan)]
Bps = Annotated[float, Field(ge=0, le=10_000)]
PosInt = Annotated[int, Field(gt=0)]
