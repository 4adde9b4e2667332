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
