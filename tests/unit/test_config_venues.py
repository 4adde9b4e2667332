"""The config of the new venues: ``[uniswap_v4]`` hedge pools (key, quote size, router, gas reserve) and
``[aave]`` (pool, borrowable assets, the health-factor floor with its unit and bounds); every problem is
named by its field; the keeper's venues, reader sources and loan config follow from it; configs without
the new keys keep their strategy fingerprint."""

from __future__ import annotations

from pathlib import Path

import pytest

from keeper.config import load_config
from keeper.core.more_venues import LoanConfig
from keeper.core.snapshot import V4PoolKey
from keeper.cycle.sources import book_sources
from keeper.errors import ConfigError
from keeper.venues.uniswap_v4 import pool_id

ROOT = Path(__file__).resolve().parents[2]
DEVNET = ROOT / "examples" / "devnet.toml"
AAVE = "0x724dbC61127E39A610Be416b455deb800d51A3B2"
USDC = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
ZERO = "0x0000000000000000000000000000000000000000"
ROUTER = "0x1111111111111111111111111111111111111111"
ENV = {"KEEPER_PRIVATE_KEY": "0x" + "11" * 32}


def write(tmp_path: Path, v4: str = "", tail: str = "") -> Path:
    text = DEVNET.read_text()
    anchor = "token_ids = [5, 6, 7, 8]"
    assert anchor in text
    text = text.replace(anchor, anchor + "\n" + v4, 1)
    header = next((line for line in text.splitlines() if line.startswith("[aave]")), None)
    if tail.startswith("[aave]\n") and header is not None:  # the example anchors its Aave market already
        text = text.replace(header, header + "\n" + tail.removeprefix("[aave]\n"), 1)
    else:
        text += "\n" + tail
    path = tmp_path / "keeper.toml"
    path.write_text(text)
    return path


V4 = f'''universal_router = "{ROUTER}"
quoter = "0x2222222222222222222222222222222222222222"
native_reserve_units = 1.25
hedge_pools = [{{ asset = "ETH", currency0 = "{ZERO}", currency1 = "{USDC}", fee = 500, tick_spacing = 10, \
quote_size_units = 25.0 }}]'''
AAVE_T = f'''[aave]
pool = "{AAVE}"
assets = ["ETH"]
min_health_factor = 1.8
holding_horizon_s = 3600'''


def test_the_new_venues_flow_from_the_config(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, V4, AAVE_T), ENV)
    v = cfg.underlying_venues()
    key = V4PoolKey(ZERO, USDC, 500, 10, ZERO)
    assert v["ETH"].v4_pools == (pool_id(key),) and v["BTC"].v4_pools == ()
    assert v["ETH"].aave_pool == AAVE and v["BTC"].aave_pool is None
    assert cfg.loan_config() == LoanConfig(1.8, 3600.0)
    src = book_sources(cfg, ("0x97b987B2FF90dE85D78335d9C97CDC6c72080AEd",))
    assert src.v4 is not None and [h.key for h in src.v4.hedge_pools] == [key]
    assert src.v4.hedge_pools[0].quote_size_units == 25.0 and src.v4.quoter is not None
    assert AAVE in src.aave_pools and len(set(src.aave_pools)) == len(src.aave_pools)


def test_defaults_and_an_unchanged_fingerprint(tmp_path: Path) -> None:
    plain = load_config(DEVNET, ENV)
    assert plain.loan_config() == LoanConfig() and plain.aave is not None and plain.aave.pool is None
    assert load_config(write(tmp_path), ENV).strategy() == plain.strategy()
    assert load_config(write(tmp_path, V4, AAVE_T), ENV).strategy() != plain.strategy()


@pytest.mark.parametrize(("v4", "tail", "field"), [
    ("", AAVE_T.replace("min_health_factor = 1.8", "min_health_factor = 1.0"), "aave.min_health_factor"),
    ("", AAVE_T.replace('assets = ["ETH"]', 'assets = ["DOGE"]'), "aave.assets"),
    (V4.replace('asset = "ETH"', 'asset = "SOL"'), "", "uniswap_v4.hedge_pools"),
    (V4.replace("tick_spacing = 10,", f'tick_spacing = 10, hooks = "{ROUTER}",'), "", "allow_hooks"),
    (V4.replace(f'currency0 = "{ZERO}", currency1 = "{USDC}"', f'currency0 = "{USDC}", currency1 = "{ZERO}"'), "",
     "currency0"),
    (V4.replace(f'universal_router = "{ROUTER}"', ""), "", "universal_router"),
])
def test_bad_values_are_named(tmp_path: Path, v4: str, tail: str, field: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, v4, tail), ENV)
    assert field.rsplit(".", maxsplit=1)[-1] in str(exc.value) or field in str(exc.value)
