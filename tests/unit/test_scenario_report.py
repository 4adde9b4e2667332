"""The spot x vol scenario grid that plan, status and plan --json show: the book revalued in full under each
shock, centred on zero, consistent with the book's own delta and gamma for small moves, rendered with units."""

from __future__ import annotations

import json

import pytest

from keeper.core.book import book_risk
from keeper.core.snapshot import Snapshot
from keeper.view.report import render_scenarios, scenario_records
from tests.unit.test_book_exact import ASSETS, SPOTS, USDC, VOLS, world


def test_the_grid_is_zero_at_no_shock_and_follows_delta_and_gamma_for_small_moves() -> None:
    """BTC's pools sit at its feed, so a 1 % move's full revaluation is delta dS + gamma dS^2 / 2 to 1e-3."""
    risk = book_risk(world(), ASSETS, USDC, SPOTS, VOLS)
    sc = scenario_records(risk)
    assert set(sc) == set(risk.summaries)
    for sym, g in sc.items():
        i0, j0 = g["spot_shocks_pct"].index(0.0), g["vol_shocks_pct"].index(0.0)
        assert g["pnl_usd"][i0][j0] == pytest.approx(0.0, abs=1e-6 * max(1.0, abs(g["base_value_usd"])))
        if sym != "BTC":
            # ETH has an LP in a pool 10 % off the feed: the grid marks it at the shocked feed with the pool
            # moving with it, so its slope is not the held amount the book reports as delta.
            continue
        s, r = g["spot_usd"], risk.summaries[sym]
        for shock in (-1.0, 1.0):
            i = g["spot_shocks_pct"].index(shock)
            ds = s * shock / 100
            taylor = r.delta * ds + 0.5 * r.gamma * ds * ds
            # third-order terms of a 1 % move are small against the move's value
            assert g["pnl_usd"][i][j0] == pytest.approx(taylor, abs=1e-3 * abs(r.delta * ds) + 1e-6)
        assert g["worst_pnl_usd"] == min(min(row) for row in g["pnl_usd"])
        assert len(g["pnl_usd"]) == len(g["spot_shocks_pct"]) and all(
            len(row) == len(g["vol_shocks_pct"]) for row in g["pnl_usd"])
    json.dumps(sc, allow_nan=False)  # plain JSON for plan --json


def test_the_rendered_grid_names_units_and_has_no_python_repr() -> None:
    risk = book_risk(world(), ASSETS, USDC, SPOTS, VOLS)
    sc = scenario_records(risk)
    text = render_scenarios(sc)
    for sym in sc:
        assert f"{sym}: book P&L in USD under spot x vol shocks" in text
        assert f"{sym} spot move" in text
    assert "vol -50 %" in text and "vol +50 %" in text and "+10 % (" in text
    assert "{" not in text and "[" not in text and "array(" not in text


def _with_aave(usdc_supplied: int, weth_borrowed: int) -> tuple[Snapshot, str]:
    """The unit world plus an Aave account of OWNER: USDC supplied as collateral, WETH borrowed."""
    import dataclasses

    from keeper.core.aave import RAY
    from keeper.core.snapshot import AaveAccountState, AaveMarketState, AaveReserveState
    from tests.unit.test_book_exact import OWNER, WETH

    def cfg(ltv: int, lt: int, dec: int) -> int:
        return ltv | lt << 16 | 10500 << 32 | dec << 48 | 1 << 56 | 1 << 58

    pool = "0x" + "a5" * 20
    reserves = {
        WETH: AaveReserveState(WETH, 0, cfg(8000, 8250, 18), "0x" + "01" * 20, "0x" + "02" * 20, "0x" + "03" * 20,
                               RAY, RAY, 0, 0, round(SPOTS["ETH"] * 1e8)),
        USDC: AaveReserveState(USDC, 1, cfg(7700, 8000, 6), "0x" + "04" * 20, "0x" + "05" * 20, "0x" + "06" * 20,
                               RAY, RAY, 0, 0, 10**8),
    }
    acct = AaveAccountState(pool, OWNER, (1 << 3) | 1, 0, {USDC: usdc_supplied}, {WETH: weth_borrowed}, {})
    snap = dataclasses.replace(world(), aave_markets={pool: AaveMarketState(pool, "0x" + "07" * 20, reserves)},
                               aave_accounts=(acct,))
    return snap, OWNER


def test_the_grid_shows_the_health_factor_and_a_liquidation_price_above_spot_for_borrowed_eth() -> None:
    snap, owner = _with_aave(300_000 * 10**6, 40 * 10**18)
    risk = book_risk(snap, ASSETS, USDC, SPOTS, VOLS)
    plain = book_risk(world(), ASSETS, USDC, SPOTS, VOLS)
    assert risk.summaries["ETH"].delta - plain.summaries["ETH"].delta == pytest.approx(-40.0, abs=1e-9)
    sc = scenario_records(risk)
    [loan] = sc["ETH"]["aave"]
    assert "aave" not in sc["BTC"] or sc["BTC"]["aave"] == []
    hf0 = 300_000 * 0.80 / (40 * SPOTS["ETH"])
    assert loan["owner"] == owner and loan["health_factor"] == pytest.approx(hf0, rel=1e-12)
    i0 = sc["ETH"]["spot_shocks_pct"].index(0.0)
    assert loan["health_factor_by_spot_shock"][i0] == pytest.approx(hf0, rel=1e-12)
    # borrowed ETH is liquidated by a rise: where 40 ETH of debt reaches 240,000 USD
    assert loan["liquidation_price_usd"] == pytest.approx(240_000 / 40, rel=1e-12)
    hfs = loan["health_factor_by_spot_shock"]
    assert all(a > b for a, b in zip(hfs, hfs[1:], strict=False))  # falls as ETH rises
    json.dumps(sc, allow_nan=False)
    text = render_scenarios(sc)
    assert "Aave HF" in text and "liquidation at ETH 6,000.00 USD" in text
    assert "{" not in text and "[" not in text


def test_an_account_without_debt_has_no_loan_in_the_grid() -> None:
    snap, _ = _with_aave(300_000 * 10**6, 0)
    risk = book_risk(snap, ASSETS, USDC, SPOTS, VOLS)
    assert risk.loans == ()
    assert all(not g["aave"] for g in scenario_records(risk).values())
