"""The spot x vol scenario grid that plan, status and plan --json show: the book revalued in full under each
shock, centred on zero, consistent with the book's own delta and gamma for small moves, rendered with units."""

from __future__ import annotations

import json

import pytest

from keeper.core.book import book_risk
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
