"""Linking library addresses into npm bytecode (Aave's Pool and PoolConfigurator)."""

from __future__ import annotations

import pytest

from keeper.build.artifacts import link, npm_artifact
from keeper.errors import SetupError

LIBS = ("BorrowLogic", "BridgeLogic", "EModeLogic", "FlashLoanLogic", "LiquidationLogic", "PoolLogic", "SupplyLogic")


def test_pool_has_seven_libraries_at_23_places_and_links_them_all() -> None:
    art = npm_artifact("Pool")
    assert set(art.link_references) == set(LIBS)
    assert sum(len(v) for v in art.link_references.values()) == 23
    addrs = {name: f"0x{i + 1:040x}" for i, name in enumerate(LIBS)}
    linked = link(art, addrs)
    assert not linked.link_references and "$" not in linked.bytecode and "__" not in linked.bytecode
    assert len(linked.bytecode) == len(art.bytecode)
    for name, places in art.link_references.items():
        for start, length in places:
            assert linked.bytecode[2 + 2 * start: 2 + 2 * (start + length)] == addrs[name][2:]


def test_a_missing_library_is_named() -> None:
    with pytest.raises(SetupError, match="ConfiguratorLogic"):
        link(npm_artifact("PoolConfigurator"), {})


def test_a_bad_address_is_refused() -> None:
    with pytest.raises(SetupError, match="20 bytes"):
        link(npm_artifact("PoolConfigurator"), {"ConfiguratorLogic": "0x1234"})
