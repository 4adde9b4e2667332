"""Devnet helpers that need no chain: port handling, config validation, price conversions."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from keeper.devnet.world import WorldConfig, pool_price_usd, sqrt_price_x96_for_usd, tick_for_usd
from keeper.errors import DevnetError, InputError
from keeper.node.anvil import AnvilNode, free_port, port_in_use


def test_devnet_refuses_a_port_in_use() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert port_in_use(port)
        with pytest.raises(DevnetError, match=f"port {port} is already in use"):
            AnvilNode(port)


def test_free_port_is_free() -> None:
    assert not port_in_use(free_port())


def test_missing_state_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(DevnetError, match="does not exist"):
        AnvilNode(load_state=tmp_path / "nope.json")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"owner_indexes": ()}, "owner_indexes"),
        ({"owner_indexes": (2, 2)}, "owner_indexes"),
        ({"threshold": 0}, "threshold"),
        ({"threshold": 4}, "threshold"),
        ({"owner_indexes": (1, 2)}, "owner_indexes"),
        ({"eth_usd": -1.0}, "eth_usd"),
        ({"btc_usd": float("nan")}, "btc_usd"),
    ],
)
def test_world_config_rejects_bad_values(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InputError, match=f"^{field}:"):
        WorldConfig(**kwargs).validate()  # type: ignore[arg-type]


@given(
    usd=st.floats(min_value=1e-2, max_value=1e6, allow_nan=False),
    base_is_token0=st.booleans(),
    base_dec=st.sampled_from([6, 8, 18]),
)
def test_sqrt_price_round_trips_usd(usd: float, base_is_token0: bool, base_dec: int) -> None:
    sqrt_p = sqrt_price_x96_for_usd(usd, base_is_token0, base_dec, 6)
    assert pool_price_usd(sqrt_p, base_is_token0, base_dec, 6) == pytest.approx(usd, rel=1e-9)


def test_tick_for_usd_matches_mainnet_orientation() -> None:
    # USDC (token0, 6) / WETH (token1, 18) at 3000 USD sits near tick 196,000 on mainnet.
    tick = tick_for_usd(3000.0, False, 18, 6, 10)
    assert 195_000 < tick < 197_000 and tick % 10 == 0
    # WBTC (token0, 8) / USDC (token1, 6) at 60,000 USD.
    assert 63_000 < tick_for_usd(60_000.0, True, 8, 6, 60) < 65_000
