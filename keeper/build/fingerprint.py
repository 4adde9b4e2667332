"""The code fingerprint of our Safe modules' builds: keccak256 of the runtime code with every immutable zeroed.

Pure (bytes in, hash out) so that every layer can check a deployed module against our build: ``keeper propose``
before the owners sign (:mod:`keeper.onboarding.verify`), ``keeper doctor`` and the go-live record
(:mod:`keeper.ops`). The pinned fingerprints are JSON files beside the onboarding code, written by
``scripts/fingerprint`` from ``contracts/out``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from eth_utils.crypto import keccak

from keeper.errors import ConfigError

__all__ = [
    "MODULE_FINGERPRINT",
    "VENUE_MODULE_FINGERPRINT",
    "ModuleFingerprint",
    "VerificationError",
    "code_mismatch",
    "fingerprint_of_artifact",
    "masked_code_hash",
]

_HERE = Path(__file__).resolve().parent

MODULE_FINGERPRINT: Final = _HERE.parent / "onboarding" / "hedge_module_fingerprint.json"
"""The fingerprint of our HedgeModule build (regenerate with ``scripts/fingerprint``)."""
VENUE_MODULE_FINGERPRINT: Final = _HERE.parent / "onboarding" / "hedge_venue_module_fingerprint.json"
"""The fingerprint of our HedgeVenueModule build (Uniswap v4 + Aave; regenerate with ``scripts/fingerprint``)."""


class VerificationError(ConfigError):
    """Something an owner batch would name is not what it claims to be. Nothing is written (exit code 2)."""


# ---------------------------------------------------------------------------- the module's code

@dataclass(frozen=True)
class ModuleFingerprint:
    code_hash: str
    """0x keccak256 of the runtime bytecode with every immutable's bytes set to zero."""
    immutables: tuple[tuple[int, int], ...]
    """(byte offset, length) of each immutable in the runtime code."""
    code_length: int
    """Bytes of runtime code."""

    @classmethod
    def load(cls, path: Path = MODULE_FINGERPRINT) -> ModuleFingerprint:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return cls(str(data["code_hash"]), tuple((int(a), int(b)) for a, b in data["immutables"]),
                       int(data["code_length"]))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise VerificationError(f"{path}: cannot read the HedgeModule build fingerprint ({exc})") from None

    def record(self) -> dict[str, Any]:
        return {"code_hash": self.code_hash, "immutables": [list(x) for x in self.immutables],
                "code_length": self.code_length}


def masked_code_hash(code: bytes, immutables: Sequence[tuple[int, int]]) -> str:
    """keccak256 of ``code`` with the byte ranges of ``immutables`` zeroed (0x hex)."""
    buf = bytearray(code)
    for start, length in immutables:
        if start + length > len(buf):
            return "0x" + keccak(bytes(buf)).hex()  # not our layout: hash as is (it cannot match)
        buf[start:start + length] = bytes(length)
    return "0x" + keccak(bytes(buf)).hex()


def fingerprint_of_artifact(artifact: Mapping[str, Any]) -> ModuleFingerprint:
    """The fingerprint of a forge artifact (``contracts/out/HedgeModule.sol/HedgeModule.json``)."""
    deployed = artifact["deployedBytecode"]
    code = bytes.fromhex(str(deployed["object"]).removeprefix("0x"))
    refs = sorted((int(r["start"]), int(r["length"]))
                  for ranges in deployed.get("immutableReferences", {}).values() for r in ranges)
    return ModuleFingerprint(masked_code_hash(code, refs), tuple(refs), len(code))


def code_mismatch(code: bytes, want: ModuleFingerprint) -> str:
    """"" when ``code`` is the build ``want`` fingerprints; else what differs (sizes and masked hashes)."""
    got = masked_code_hash(code, want.immutables)
    if len(code) == want.code_length and got == want.code_hash:
        return ""
    return (f"its runtime code ({len(code):,} bytes, hash {got}) differs from our build ({want.code_length:,} bytes, "
            f"hash {want.code_hash})")
