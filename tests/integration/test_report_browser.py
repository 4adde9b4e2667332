"""`keeper report` on the local world, opened in a real headless Chromium (Debian's, driven by Playwright):
the page renders with no console error, each section is screenshotted, and the hedges it shows are the
journal's (count, size, price, fee); the Markdown report shows the same numbers as the page."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from web3 import Web3

from keeper.build.paths import repo_root
from keeper.devnet.actor import MarketActor
from keeper.devnet.state import World
from keeper.journal import Journal
from keeper.node.dev import dev_account

pytestmark = pytest.mark.anvil
CONFIG = str(repo_root() / "examples" / "devnet.toml")
CHROMIUM = "/usr/bin/chromium"
SECTIONS = ("summary", "exposure", "hedges", "pnl", "lp", "limits", "now", "frontier", "notes")


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keeper.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)


def num(s: str) -> float:
    return float(s.replace(",", ""))


def md_table(md: str, title: str) -> list[list[str]]:
    """The pipe table under ``**title**`` as rows of cells (header first)."""
    lines = md.splitlines()
    start = lines.index(f"**{title}**") + 2
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        if not re.fullmatch(r"\|(---\|)+", line):
            rows.append([c.strip() for c in line.strip("|").split("|")])
    return rows


def test_report_renders_in_chromium_and_shows_the_journals_hedges(chain: Web3, world: World, tmp_path: Path) -> None:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"{CHROMIUM} is missing: ./scripts/setup installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import ConsoleMessage, sync_playwright

    journal = tmp_path / "journal.sqlite"
    env = dict(os.environ, KEEPER_CHAIN__RPC_URL=world.url, KEEPER_JOURNAL__PATH=str(journal),
               KEEPER_PRIVATE_KEY="0x" + bytes(dev_account(5).key).hex())
    env.pop("KEEPER_ALERT_WEBHOOK", None)
    env.pop("KEEPER_ALERT_URLS", None)
    activated = cli("activate", "-c", CONFIG, "--by", "test", env=env)
    assert activated.returncode == 0, activated.stdout + activated.stderr[-3000:]
    actor = MarketActor(chain, world.manifest, seed=5, step_s=2 * 3600, annual_vol=1.2)
    for i in range(3):  # the world's book starts outside the band: the first cycle hedges
        once = cli("once", "-c", CONFIG, env=env)
        assert once.returncode in (0, 1), once.stderr[-3000:]
        if i < 2:
            actor.step(substeps=4)
    out = tmp_path / "report"
    rep = cli("report", "-c", CONFIG, "--out", str(out), "--frontier-paths", "100", "--frontier-days", "2", env=env)
    assert rep.returncode == 0, rep.stderr[-3000:]
    assert "frontier " in rep.stderr, "the backtest's progress goes to stderr"
    assert "wrote" in rep.stdout and (out / "report.html").exists() and (out / "report.md").exists()

    j = Journal.open(journal, readonly=True)
    fills = j.fills_between(0, 2**62)
    assert fills, "the first cycle on the world hedges"
    doc = json.loads((out / "report.json").read_text())
    assert len(doc["hedges"]) == len(fills) and doc["cycles"] == 3
    assert doc["frontier"], doc["frontier_text"]
    for f in doc["frontier"]:  # every underlying of the book, the configured policy among its policies
        assert f["paths"] == 100 and f["config_policy"] in [r["policy"] for r in f["rows"]]
        assert all(r["hedge_error_std_usd"] >= 0.0 and math.isfinite(r["cvar95_usd"]) for r in f["rows"])

    errors: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1300, "height": 900})

            def on_console(msg: ConsoleMessage) -> None:
                if msg.type == "error":
                    errors.append(msg.text)

            page.on("console", on_console)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("request", lambda req: errors.append(f"request {req.url}") if not req.url.startswith("file:")
                    else None)
            page.goto((out / "report.html").as_uri())
            for sid in SECTIONS:
                shot = tmp_path / f"section-{sid}.png"
                page.locator(f"section#{sid}").screenshot(path=str(shot))
                assert shot.stat().st_size > 1000, sid
            assert page.locator("figure svg").count() >= 3, "exposure, costs, P&L and scenario figures"
            assert page.locator("section#frontier figure svg").count() == len(doc["frontier"])
            headers = page.eval_on_selector_all("#table-hedges thead th", "els => els.map(e => e.textContent)")
            rows = page.eval_on_selector_all(
                "#table-hedges tbody tr", "trs => trs.map(tr => Array.from(tr.cells).map(td => td.textContent))")
            lp_tables = {t: (page.eval_on_selector_all(f"#table-{t} thead th", "els => els.map(e => e.textContent)"),
                             page.eval_on_selector_all(f"#table-{t} tbody tr", "trs => trs.map(tr => "
                                                       "Array.from(tr.cells).map(td => td.textContent))"))
                         for t in ("lp-positions", "funding")}
        finally:
            browser.close()
    assert errors == [], errors
    assert len(rows) == len(fills)
    col = {h: i for i, h in enumerate(headers)}
    for row, f in zip(rows, fills, strict=True):
        d = f.data
        assert row[col["tx"]] == d.tx_hash and row[col["side"]] == f.side.value and row[col["venue"]] == f.venue
        assert num(row[col["size (units)"]]) == round(d.notional_quote / d.oracle_price, 6)
        assert num(row[col["price USD"]]) == round(d.realized_price, 2)
        assert num(row[col["fee USD"]]) == round(d.fee_quote, 2)
        assert num(row[col["gas USD"]]) == round(d.gas_cost_quote, 2)
        assert int(row[col["block"]]) == d.block_number
    md = (out / "report.md").read_text()
    assert md_table(md, "Hedges")[1:] == rows, "the Markdown shows the page's numbers"
    assert md_table(md, "Hedges")[0] == headers
    check_lp_and_funding(j, lp_tables, md)
    check_marks_against_the_chain(chain, j)


def check_marks_against_the_chain(chain: Web3, j: Journal) -> None:
    """Each journaled perp mark's accrued funding is the market's own ``accruedFunding(account)`` at the mark's
    block, and each LP mark's uncollected fees are the position manager's static ``collect``, to the wei."""
    from eth_abi.abi import decode

    from keeper.devnet.world import contract

    checked = 0
    for cm in j.marks_between(0, 2**62):
        for p in cm.perps:
            market = contract(chain, "PerpMarket", p.market)
            got = market.functions.accruedFunding(Web3.to_checksum_address(p.account)).call(
                block_identifier=cm.block_number)
            assert p.accrued_raw == got, (cm.cycle_id, p.market)
            checked += 1
        npm = contract(chain, "NonfungiblePositionManager", config_npm())
        for m in cm.lps:
            data = npm.encode_abi("collect", [(m.token_id, m.owner, 2**128 - 1, 2**128 - 1)])
            raw = chain.eth.call({"from": Web3.to_checksum_address(m.owner), "to": npm.address, "data": data},
                                 block_identifier=cm.block_number)
            f0, f1 = decode(["uint256", "uint256"], raw)
            want = (f0, f1) if m.underlying_is_token0 else (f1, f0)
            assert (m.fees_underlying_raw, m.fees_quote_raw) == want, (cm.cycle_id, m.token_id)
            checked += 1
    assert checked > 3


def config_npm() -> str:
    """The position manager of the devnet config (the LPs' manager)."""
    import tomllib

    return str(tomllib.loads(Path(CONFIG).read_text())["uniswap"]["position_manager"])


def check_lp_and_funding(j: Journal, tables: dict[str, tuple[list[str], list[list[str]]]], md: str) -> None:
    """The page's LP fees, realized LVR and perp funding equal what the journal's raw marks give, recomputed
    here: L x fee growth inside / 2^128 at the end's pool price; the previous principal at the new price minus
    the new principal; the contract's funding rounding (ceil) on the index times the size."""
    marks = j.marks_between(0, 2**62)
    assert len(marks) == 3 and all(m.lps for m in marks), "every cycle marked the Safe's LPs"
    want: dict[int, list[float]] = {}
    for a_cm, b_cm in zip(marks, marks[1:], strict=False):
        before = {m.token_id: m for m in a_cm.lps}
        for b in b_cm.lps:
            a = before[b.token_id]
            assert a.liquidity == b.liquidity, "nothing deposited or withdrawn on the world between cycles"
            g0 = a.liquidity * ((b.fee_growth_inside0_x128 - a.fee_growth_inside0_x128) % 2**256) // 2**128
            g1 = a.liquidity * ((b.fee_growth_inside1_x128 - a.fee_growth_inside1_x128) % 2**256) // 2**128
            gu, gq = (g0, g1) if a.underlying_is_token0 else (g1, g0)
            fees = gu / 10**a.decimals_underlying * b.price + gq / 10**a.decimals_quote
            lvr = (a.principal_underlying - b.principal_underlying) * b.price + a.principal_quote - b.principal_quote
            w = want.setdefault(b.token_id, [0.0, 0.0])
            w[0] += fees
            w[1] += lvr
    headers, rows = tables["lp-positions"]
    col = {h: i for i, h in enumerate(headers)}
    assert {int(r[col["token id"]]) for r in rows} == set(want)
    for r in rows:
        fees, lvr = want[int(r[col["token id"]])]
        assert num(r[col["fees USD"]]) == pytest.approx(fees, abs=0.006)
        assert num(r[col["realized LVR USD"]]) == pytest.approx(lvr, abs=0.006)
    assert sum(w[0] for w in want.values()) > 0, "the market's swaps paid the Safe's LPs fees"
    assert md_table(md, "LP positions: fees earned against loss-versus-rebalancing")[1:] == rows
    headers, rows = tables["funding"]
    col = {h: i for i, h in enumerate(headers)}
    paid = []
    for a_cm, b_cm in zip(marks, marks[1:], strict=False):
        perps_before = {(m.market, m.account): m for m in a_cm.perps}
        for pb in b_cm.perps:
            pa = perps_before[(pb.market, pb.account)]
            if pa.size == pb.size == 0 and pa.last_funding_index == pb.last_funding_index:
                continue  # a market the Safe holds no position in (BTC here): not listed
            unit = 10 ** (36 - pb.quote_decimals)
            owed = -((-(pb.funding_index - pb.last_funding_index) * pb.size) // unit)
            owed -= -((-(pa.funding_index - pa.last_funding_index) * pa.size) // unit)
            if pb.last_funding_index != pa.last_funding_index:  # settled at a hedge in between, at the old size
                owed += -((-(pb.last_funding_index - pa.last_funding_index) * pa.size) // unit)
            paid.append(owed / 10**pb.quote_decimals)
    assert paid and [num(r[col["funding paid USD"]]) for r in rows] == [round(x, 2) for x in paid]
    assert any(x != 0 for x in paid), "the Safe's short perp pays or receives funding"
