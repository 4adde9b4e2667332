"""`keeper report`'s LP fees against LVR and perp funding, from journaled marks (in-memory journal): the
model's figures are recomputed here from the raw marks written (fee growth x liquidity / 2^128; the previous
principal at the new price minus the new principal; the funding index times the size), and the Markdown
shows the page's numbers."""

from __future__ import annotations

import json
import math
import random
import re

import pytest

from keeper.core.lp_math import position_amounts
from keeper.core.lvr import LpMark, PerpMark, lp_mark
from keeper.core.tick_math import Q128, get_sqrt_ratio_at_tick, get_tick_at_sqrt_ratio
from keeper.journal import FillData, Journal
from keeper.view.dao_render import render_html, render_json, render_markdown
from keeper.view.dao_report import build_report
from tests.unit.test_dao_report import PARAMS, T0, Tables, chain_state, md_tables, num, summary

LOWER, UPPER = -200_040, -192_000  # about 2,050 .. 4,560 USD per ETH (ETH token0, 18 decimals; USDC token1, 6)
L = 5 * 10**15
UNIT6 = 10**30


def eth_mark(tick: int, g0: int, g1: int, liquidity: int = L, token_id: int = 42) -> LpMark:
    sqrt = get_sqrt_ratio_at_tick(tick)
    p0, p1 = position_amounts(sqrt, get_tick_at_sqrt_ratio(sqrt), LOWER, UPPER, liquidity)
    price = (sqrt / 2**96) ** 2 * 1e12
    return lp_mark(token_id=token_id, owner="0x" + "aa" * 20, pool="0x" + "bb" * 20, underlying="ETH",
                   underlying_is_token0=True, liquidity=liquidity, tick_lower=LOWER, tick_upper=UPPER,
                   pool_tick=tick, sqrt_price_x96=sqrt, price=price, decimals0=18, decimals1=6, principal0=p0,
                   principal1=p1, fees0=0, fees1=0, fee_growth_global0_x128=g0, fee_growth_global1_x128=g1,
                   lower_outside0_x128=0, lower_outside1_x128=0, upper_outside0_x128=0, upper_outside1_x128=0)


def build(n: int, seed: int, *, change_at: int | None = None) -> tuple[Journal, list[LpMark], list[PerpMark],
                                                                         list[int], list[str]]:
    rng = random.Random(seed)
    j = Journal.memory(clock=lambda: 1.0)
    lps: list[LpMark] = []
    perps: list[PerpMark] = []
    times: list[int] = []
    intents: list[str] = []
    tick, g0, g1 = -196_000, 10**30, 10**20  # ~ 3,050 USD
    idx, last, size = 10**18, 10**18, -20 * 10**18
    for i in range(n):
        c = j.start_cycle("live")
        ts = T0 + 3600 * i
        j.record_snapshot(c.id, block_number=100 + i, block_timestamp=ts, complete=True, snapshot={})
        spot = 1.0001**tick * 1e12
        j.record_plan(c.id, decisions=[], reasons=[], greeks={"ETH": {**summary(spot, 1.0, 0.01, 10.0, -5.0),
                                                                      "vol": 0.6}})
        liq = 2 * L if change_at is not None and i >= change_at else L
        m = eth_mark(tick, g0, g1, liq)
        pm = PerpMark("0x" + "22" * 20, "0x" + "cc" * 20, "ETH", size, last, idx, 6)
        j.record_marks(c.id, lps=[m], perps=[pm])
        lps.append(m)
        perps.append(pm)
        times.append(ts)
        if i % 3 == 1:  # a perp hedge: the position grows 1 ETH short, settling its funding
            intent = j.create_intent(c.id, underlying="ETH", venue="perp", side="sell", size=10**18, params=PARAMS)
            h = f"0x{i + 1:064x}"
            j.record_attempt(intent.id, nonce=i, tx_hash=h, raw_tx="0x01", max_fee_per_gas=10,
                             max_priority_fee_per_gas=1)
            j.record_fill(intent.id, FillData(
                block_number=100 + i, block_timestamp=ts, tx_hash=h, amount_in=1, amount_out=1,
                notional_quote=spot, realized_price=spot, oracle_price=spot, slippage_bps=0.0, fee_quote=1.0,
                gas_used=1, effective_gas_price=1, gas_cost_native=1, gas_cost_quote=0.5))
            intents.append(intent.id)
            idx += rng.randrange(10**13, 10**15)
            last, size = idx, size - 10**18
        tick += rng.randrange(-400, 400)
        g0 += rng.randrange(10**28, 10**31) * Q128 // 10**30
        g1 += rng.randrange(10**15, 10**18) * Q128 // 10**18
        idx += rng.randrange(10**13, 10**15)
    return j, lps, perps, times, intents


@pytest.mark.parametrize("seed", [1, 2])
def test_lp_fees_and_lvr_are_the_marks(seed: int) -> None:
    j, lps, _, _, _ = build(10, seed)
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6)
    [row] = m.lps
    fees = lvr = model = 0.0
    for a, b in zip(lps, lps[1:], strict=False):
        f0 = L * ((b.fee_growth_inside0_x128 - a.fee_growth_inside0_x128) % 2**256) // Q128 / 1e18
        f1 = L * ((b.fee_growth_inside1_x128 - a.fee_growth_inside1_x128) % 2**256) // Q128 / 1e6
        fees += f0 * b.price + f1
        lvr += (a.principal_underlying * b.price + a.principal_quote) - (b.principal_underlying * b.price
                                                                        + b.principal_quote)
        model += 0.36 / 4 * L * (a.sqrt_price_x96 / 2**96) / 1e6 * 3600 / (365 * 86_400)
    assert row.steps == 9 and row.skipped == 0
    assert row.fees_usd == pytest.approx(fees, rel=1e-12) and fees > 0
    assert row.lvr_usd == pytest.approx(lvr, rel=1e-9, abs=1e-9)
    assert row.model_lvr_usd == pytest.approx(model, rel=1e-9)
    [attr] = m.attribution
    assert attr.lp_fees_usd == pytest.approx(fees) and attr.lp_lvr_usd == pytest.approx(lvr, abs=1e-9)
    assert m.lp_series["ETH"][-1][1:] == pytest.approx((fees, lvr), abs=1e-9)


def test_a_deposit_is_left_out_and_said() -> None:
    j, _, _, _, _ = build(6, 3, change_at=3)
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6)
    [row] = m.lps
    assert (row.steps, row.skipped) == (4, 1)
    assert any("LP 42" in n and "liquidity" in n for n in m.notes)


def test_funding_per_period_goes_to_the_hedge_whose_position_paid_it() -> None:
    j, _, perps, _times, intents = build(8, 4)
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6)
    assert len(m.funding) == 7
    for fr, a, b in zip(m.funding, perps, perps[1:], strict=False):
        # with a hedge in between: the settlement at the old size plus the new accrual
        want = (math.ceil((b.last_funding_index - a.last_funding_index) * a.size / UNIT6)
                if b.last_funding_index != a.last_funding_index else 0)
        want += math.ceil((b.funding_index - b.last_funding_index) * b.size / UNIT6)
        want -= math.ceil((a.funding_index - a.last_funding_index) * a.size / UNIT6)
        assert fr.funding_usd == pytest.approx(want / 1e6, rel=1e-12, abs=1e-12)
        assert fr.funding_usd < 0, "a short receives positive funding"
    # Periods before the first perp hedge (cycle 2) are carried in; then each goes to the latest hedge.
    # Hedges in cycles 1, 4 and 7 (0-based): the period from cycle k goes to the latest hedge at or before k.
    assert [fr.hedge for fr in m.funding] == ["", *[intents[0]] * 3, *[intents[1]] * 3]
    by = {h.intent_id: h for h in m.hedges}
    for iid in intents:
        mine = sum(fr.funding_usd for fr in m.funding if fr.hedge == iid)
        assert by[iid].funding_usd == pytest.approx(mine)
        assert by[iid].total_cost_usd == pytest.approx(1.0 + 0.5 + mine + by[iid].impact_usd)
    total = sum(fr.funding_usd for fr in m.funding)
    assert m.totals["all"]["funding_usd"] == pytest.approx(total)
    assert m.attribution[0].funding_usd == pytest.approx(total)
    assert any("carried in" in n for n in m.notes)


def test_markdown_and_json_show_the_pages_lp_and_funding_numbers() -> None:
    j, _, _, _, _ = build(7, 5)
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6)
    page, md = render_html(m), render_markdown(m)
    parser = Tables()
    parser.feed(page)
    for tid in ("table-lp-positions", "table-lp-totals", "table-funding"):
        assert tid in parser.tables
    lp = parser.tables["table-lp-positions"]
    col = {h: i for i, h in enumerate(lp[0])}
    assert num(lp[1][col["fees USDC"]]) == round(m.lps[0].fees_usd, 2)
    assert num(lp[1][col["realized LVR USDC"]]) == round(m.lps[0].lvr_usd, 2)
    mds = md_tables(md)
    assert any(t[0] == lp[0] and t[1:] == lp[1:] for t in mds), "the Markdown shows the page's LP table"
    assert any(t[0] == parser.tables["table-funding"][0] and t[1:] == parser.tables["table-funding"][1:] for t in mds)
    assert '<section id="lp">' in page and "not recorded" not in parser.tables["table-hedge-totals"][1]
    doc = json.loads(json.dumps(render_json(m), allow_nan=False))
    assert doc["lps"][0]["fees_usd"] == m.lps[0].fees_usd
    assert doc["funding"][0]["funding_usd"] == m.funding[0].funding_usd
    assert re.search(r"fees earned against loss-versus-rebalancing", page)


def test_an_older_journal_says_not_recorded() -> None:
    from tests.unit.test_dao_report import build_journal

    j, _ = build_journal(random.Random(1), 5)
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6)
    assert not m.marks_journaled and m.lps == [] and m.funding == []
    assert all(h.funding_usd is None for h in m.hedges)
    md = render_markdown(m)
    assert "Not recorded: no cycle of the period journaled LP marks" in md
    assert any("schema version 3" in n for n in m.notes)


def test_a_market_without_a_position_lists_no_funding() -> None:
    j = Journal.memory(clock=lambda: 1.0)
    for i, idx in enumerate((10**18, 10**18 + 10**15)):
        c = j.start_cycle("live")
        j.record_snapshot(c.id, block_number=10 + i, block_timestamp=T0 + 60 * i, complete=True, snapshot={})
        j.record_marks(c.id, perps=[PerpMark("0x" + "22" * 20, "0x" + "cc" * 20, "BTC", 0, 10**18, idx, 6)])
    m = build_report(j, chain_state(), since=T0, until=T0 + 10**6)
    assert m.marks_journaled and m.funding == []
