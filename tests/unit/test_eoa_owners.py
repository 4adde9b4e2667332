"""In eoa mode the signer is always one of the book's owners: its balances are the inventory it sells from."""

from __future__ import annotations

from keeper.config.sections import TreasuryConfig

SIGNER = "0x9965507D1a55bcC2695C58ba16FB37d819B0A4dc"
OTHER = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"
SAFE = "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65"


def test_eoa_mode_adds_the_signer_after_the_listed_owners() -> None:
    t = TreasuryConfig(mode="eoa", owners=(OTHER,))
    assert t.read_owners(SIGNER) == (OTHER, SIGNER)
    assert t.account(SIGNER) == SIGNER


def test_eoa_mode_does_not_repeat_a_listed_signer() -> None:
    t = TreasuryConfig(mode="eoa", owners=(SIGNER, OTHER))
    assert t.read_owners(SIGNER) == (SIGNER, OTHER)
    assert t.read_owners(SIGNER.lower()) == (SIGNER, OTHER), "addresses compare without case"


def test_eoa_mode_without_owners_reads_the_signer() -> None:
    assert TreasuryConfig(mode="eoa").read_owners(SIGNER) == (SIGNER,)


def test_safe_module_mode_reads_only_the_listed_owners() -> None:
    t = TreasuryConfig(mode="safe-module", safe=SAFE, hedge_module=OTHER, owners=(OTHER,))
    assert t.read_owners(SIGNER) == (OTHER,), "the keeper's key holds no treasury funds in safe-module mode"
    assert TreasuryConfig(mode="safe-module", safe=SAFE, hedge_module=OTHER).read_owners(SIGNER) == (SAFE,)
