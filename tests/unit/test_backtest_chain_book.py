"""The backtest of the real book: a read snapshot's book (as ``keeper plan`` values it) converted
into a backtest book starts at the plan's value, delta and gamma, leg by leg; ``--from-chain``
flag combinations are usage errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from keeper.backtest.book import Book, LPLeg, OptionLeg
from keeper.backtest.chain_book import chain_book, start_marks
from keeper.cli.backtest import main
from keeper.core.book import LpLine, OptionLine, book_risk
from keeper.core.portfolio import OptionPosition, aggregate
from keeper.core.snapshot import Snapshot
from keeper.errors import InputError
from tests.unit.test_book_exact import ASSETS, NOW, POOL_B, SPOTS, USDC, VOLS, WETH, world

FUNDING = 3e-9  # per second, longs pay


def snapshot() -> Snapshot:
    """The hand-built world of test_book_exact (LPs in both token orders, in and out of range, one pool
    10 % rich; long and short options, on-chain and OTC; a perp; balances; native ETH), with funding."""
    snap = world()
    market = dataclasses.replace(snap.perp_markets["0xperp"], funding_rate_per_second=int(FUNDING * 1e18))
    return dataclasses.replace(snap, perp_markets={"0xperp": market})


@pytest.mark.parametrize("sym", ["ETH", "BTC"])
def test_the_starting_book_is_the_plans(sym: str) -> None:
    snap = snapshot()
    risk = book_risk(snap, ASSETS, USDC, SPOTS, VOLS)
    cb = chain_book(snap, risk, sym, lp_fee_vol=0.6)
    plan = risk.summaries[sym]
    got = start_marks(cb.book, cb.spot)
    assert cb.spot == SPOTS[sym] and cb.block == snap.block_number and cb.delta_adjustment == 0.0
    # Not bit-exact: the plan marks each LP at its exact integer principal (a burn rounds down), the
    # backtest at the float v3 formula; they differ by about one raw token unit per LP.
    assert got.value == pytest.approx(plan.value, rel=1e-9)
    assert got.delta == pytest.approx(plan.delta, rel=1e-9)
    assert got.gamma == pytest.approx(plan.gamma, rel=1e-12)
    # Away from the block's spot (no exact amounts there), the legs revalue as the keeper's own full
    # revaluation does: the LPs at their own pools' prices (basis held), options at their vols.
    positions = [p for p in risk.positions if p.underlying == sym]
    for shock in (0.8, 0.97, 1.05, 1.3):
        s = SPOTS[sym] * shock
        want = aggregate(positions, {sym: s})[sym]
        moved = start_marks(cb.book, s)
        assert moved.value == pytest.approx(want.value, rel=1e-12)
        assert moved.delta == pytest.approx(want.delta, rel=1e-12, abs=1e-12)
        assert moved.gamma == pytest.approx(want.gamma, rel=1e-12, abs=1e-18)


def test_each_leg_keeps_the_positions_terms() -> None:
    snap = snapshot()
    risk = book_risk(snap, ASSETS, USDC, SPOTS, VOLS)
    book = chain_book(snap, risk, "ETH", lp_fee_vol=0.7).book
    eth_lps = [x for x in risk.lines if isinstance(x, LpLine) and x.underlying == "ETH"]
    assert [(x.liquidity, x.tick_lower, x.tick_upper, x.underlying_is_token0, x.decimals0, x.decimals1)
            for x in book.lps] == [(float(x.lp.liquidity), x.lp.tick_lower, x.lp.tick_upper, x.underlying_is_token0,
                                    18 if x.lp.token0 == WETH else 6, 18 if x.lp.token1 == WETH else 6)
                                   for x in eth_lps]
    assert all(x.fee_vol == 0.7 for x in book.lps)
    basis = {x.tick_lower: x.basis for x in book.lps}
    for x in eth_lps:
        assert basis[x.lp.tick_lower] == pytest.approx(1.10 if x.lp.pool == POOL_B else 1.0, rel=1e-6)
    eth_options = [o for o in snap.options if o.underlying == "ETH"]
    assert sorted((o.quantity, o.strike, o.expiry_s, o.is_call, o.vol) for o in book.options) == sorted(
        (o.net_amount / 1e18, o.strike / 1e8, float(o.expiry - NOW), not o.is_put, VOLS["ETH"]) for o in eth_options)
    [perp] = book.perps
    assert (perp.size, perp.entry_price) == (-4.0, 2950.0)
    assert perp.funding_rate_per_second == pytest.approx(FUNDING)
    # Spot: the WETH balance, both owners' native ETH, the short call's locked collateral (5) and the
    # LPs' uncollected WETH fees; the LPs' USDC fees are cash.
    lp_fees_weth = sum(x.position.fees_underlying for x in eth_lps)
    assert book.spot_units == pytest.approx(7 + (12 * 10**18 + 5) / 1e18 + 5 + lp_fees_weth, rel=1e-12)
    assert book.cash == pytest.approx(sum(x.position.fees_quote for x in eth_lps), rel=1e-12)
    assert book.cash > 0
    assert book.description.startswith("the treasury's ETH book at block 100: 5 LPs, 2 option series, 1 perp,")


def test_a_smile_delta_adjustment_is_reported_not_hidden() -> None:
    snap = snapshot()
    risk = book_risk(snap, ASSETS, USDC, SPOTS, VOLS)
    lines = tuple(
        dataclasses.replace(x, positions=tuple(dataclasses.replace(p, delta_adjustment=0.05)
                                               if isinstance(p, OptionPosition) else p for p in x.positions))
        if isinstance(x, OptionLine) else x for x in risk.lines)
    positions = tuple(p for x in lines for p in x.positions)
    adjusted = dataclasses.replace(risk, lines=lines, positions=positions, summaries=aggregate(positions, SPOTS))
    cb = chain_book(snap, adjusted, "ETH")
    qty = sum(o.net_amount / 1e18 for o in snap.options if o.underlying == "ETH")
    assert cb.delta_adjustment == pytest.approx(0.05 * qty)
    assert start_marks(cb.book, cb.spot).delta + cb.delta_adjustment == pytest.approx(cb.plan.delta, rel=1e-9)


def test_nothing_to_backtest_is_an_error_naming_the_underlying() -> None:
    snap = snapshot()
    eth_only = dataclasses.replace(
        snap, lps=tuple(p for p in snap.lps if WETH in (p.token0, p.token1)),
        options=tuple(o for o in snap.options if o.underlying == "ETH"), balances={})
    risk = book_risk(eth_only, ASSETS, USDC, SPOTS, VOLS)
    with pytest.raises(InputError, match="nothing in BTC at block 100"):
        chain_book(eth_only, risk, "BTC")
    no_feed = book_risk(snap, ASSETS, USDC, {"ETH": SPOTS["ETH"]}, VOLS)
    with pytest.raises(InputError, match="BTC has positions but no feed price"):
        chain_book(snap, no_feed, "BTC")


def test_lp_basis_marks_the_pool_price_holdings_at_the_feed() -> None:
    leg = LPLeg.around(3000.0, 100_000.0, 0.2)
    rich = dataclasses.replace(leg, basis=1.05)
    value, delta, gamma, _ = rich.marks(np.array([3000.0]))
    v_pool, d_pool, g_pool, _ = leg.marks(np.array([3150.0]))
    assert delta[0] == d_pool[0]  # the holdings at the pool's price...
    assert value[0] == pytest.approx(v_pool[0] - d_pool[0] * 150.0, rel=1e-12)  # ...marked at the feed
    assert gamma[0] == pytest.approx(1.05 * g_pool[0], rel=1e-12)
    with pytest.raises(InputError, match="basis"):
        dataclasses.replace(leg, basis=0.0)


def test_cli_from_chain_flag_combinations_are_usage_errors(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: object) -> None:
    cases = [
        (["--from-chain", "--book", "b.json", "--config", "c.toml"], "error: --from-chain: --from-chain and --book"),
        (["--from-chain"], "error: --from-chain: needs --config"),
        (["--block", "5"], "error: --block: only used with --from-chain"),
        (["--from-chain", "--config", "c.toml", "--spot", "2000"], "error: --spot: not with --from-chain"),
        (["--from-chain", "--config", "c.toml", "--model", "csv", "--csv", "p.csv"], "error: --from-chain: not with"),
        (["--from-chain", "--config", "c.toml", "--block", "-1"], "error: --block: must be >= 0"),
    ]
    for argv, message in cases:
        assert main(["backtest", "--paths", "5", "--days", "2", "--step", "1d", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith(message), (argv, err)


def test_cash_is_value_not_risk() -> None:
    book = Book("ETH", options=(OptionLeg(-10.0, 3000.0, 86_400.0 * 5, True, 0.6),))
    with_cash = dataclasses.replace(book, cash=1234.5)
    a, b = start_marks(book, 3000.0), start_marks(with_cash, 3000.0)
    assert b.value - a.value == pytest.approx(1234.5) and (b.delta, b.gamma) == (a.delta, a.gamma)
