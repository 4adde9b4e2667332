"""The book's exactness on a world we did not shape (tests/integration/second_world.py): another
deployer, WETH as token0 and USDC as token0 of USDC/WBTC, a 1 % pool, two ETH pools 7 % apart,
positions on the exact boundary of the pool's price, closed-but-uncollected and half-decreased
positions. For every position the keeper's principal and fees equal the chain's static
``decreaseLiquidity`` and ``collect`` to the wei; each underlying's LP delta is the sum of the chain's
risky amounts."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_abi.abi import decode
from web3 import Web3

from keeper.chain.rpc import RpcClient
from keeper.config import load_config
from keeper.core.book import LpHolding, book_risk, lp_holdings
from keeper.core.lvr import LpMark
from keeper.core.snapshot import LpPosition, Snapshot
from keeper.cycle.sources import book_sources
from keeper.devnet.world import contract
from keeper.journal import Journal
from keeper.node.anvil import AnvilNode
from keeper.node.dev import DevChain, dev_account
from keeper.read.reader import BookReader
from tests.integration.second_world import (
    FAR,
    SWAPPER,
    U128,
    SecondWorld,
    build_second_world,
    keeper_key,
    write_config,
)

pytestmark = pytest.mark.anvil


@pytest.fixture(scope="module")
def second() -> Iterator[SecondWorld]:
    with AnvilNode() as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        yield build_second_world(w3, node.url)


@pytest.fixture(scope="module")
def config(second: SecondWorld, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(second, tmp_path_factory.mktemp("second") / "second.toml")


def env_for(config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}
    return dict(env, KEEPER_PRIVATE_KEY=keeper_key())


def keeper_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "keeper.cli.main", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def read(config: Path) -> Snapshot:
    cfg = load_config(config, env_for(config))
    snap = BookReader(RpcClient.http(str(cfg.chain.rpc_url)), book_sources(cfg, cfg.treasury.owners)).read(
        chain_id=cfg.chain.chain_id)
    assert snap.complete, snap.failures
    return snap


def chain_answers(second: SecondWorld, snap: Snapshot) -> dict[int, LpHolding]:
    """Static decreaseLiquidity (full liquidity, from the owner, deadline far) and collect (max amounts,
    from the owner) of every position, at the snapshot block, in one JSON-RPC batch."""
    w3 = second.web3()
    npm = contract(w3, "NonfungiblePositionManager", second.position_manager)
    at = hex(snap.block_number)
    requests: list[tuple[str, list[Any]]] = []
    for lp in snap.lps:
        col = npm.encode_abi("collect", [(lp.token_id, lp.owner, U128, U128)])
        requests.append(("eth_call", [{"from": lp.owner, "to": npm.address, "data": col}, at]))
        if lp.liquidity > 0:  # the manager refuses a decrease of 0 liquidity: the principal is 0
            dec = npm.encode_abi("decreaseLiquidity", [(lp.token_id, lp.liquidity, 0, 0, FAR)])
            requests.append(("eth_call", [{"from": lp.owner, "to": npm.address, "data": dec}, at]))
    answers = iter(RpcClient.http(second.url, timeout_s=60).batch(requests))
    out = {}
    for lp in snap.lps:
        f0, f1 = decode(["uint256", "uint256"], bytes.fromhex(str(next(answers))[2:]))
        p0, p1 = (decode(["uint256", "uint256"], bytes.fromhex(str(next(answers))[2:]))
                  if lp.liquidity > 0 else (0, 0))
        out[lp.token_id] = LpHolding(int(p0), int(p1), int(f0), int(f1))
    return out


def underlying_of(second: SecondWorld, lp: LpPosition) -> tuple[str, bool]:
    """(symbol, risky token is token0) of an LP."""
    if second.tokens["WETH"] in (lp.token0, lp.token1):
        return "ETH", lp.token0 == second.tokens["WETH"]
    return "BTC", lp.token0 == second.tokens["WBTC"]


def test_the_world_is_not_the_devnet_world(second: SecondWorld, config: Path) -> None:
    snap = read(config)
    t = {s: int(a, 16) for s, a in second.tokens.items()}
    assert t["WETH"] < t["USDC"] < t["WBTC"]
    btc = second.pools["USDC/WBTC-10000"]
    assert btc.token0 == second.tokens["USDC"] and btc.token1 == second.tokens["WBTC"]
    eth500, eth3000 = (snap.pools[second.pools[n].address] for n in ("WETH/USDC-500", "WETH/USDC-3000"))
    p500 = (eth500.sqrt_price_x96 / 2**96) ** 2 * 1e12
    p3000 = (eth3000.sqrt_price_x96 / 2**96) ** 2 * 1e12
    assert p500 / p3000 - 1 >= 0.05, (p500, p3000)
    assert len({lp.owner for lp in snap.lps}) >= 4
    assert len(snap.lps) == len(second.positions) >= 20
    by_id = {lp.token_id: lp for lp in snap.lps}
    ranges = {"in": 0, "out": 0, "full": 0}
    for lp in snap.lps:
        tick = snap.pools[lp.pool].tick
        full = lp.tick_lower <= -887000 and lp.tick_upper >= 887000
        ranges["full" if full else "in" if lp.tick_lower <= tick < lp.tick_upper else "out"] += 1
    assert min(ranges.values()) >= 2, ranges
    # The edges: the ETH pool came down onto a position boundary (tick = boundary - 1), the BTC pool up onto one.
    edge_eth = by_id[second.positions["eth_edge_above"]].tick_lower
    assert by_id[second.positions["eth_edge_below"]].tick_upper == edge_eth
    assert eth500.tick == edge_eth - 1
    edge_btc = by_id[second.positions["btc_edge_above"]].tick_lower
    assert snap.pools[btc.address].tick == edge_btc
    assert by_id[second.positions["btc_closed"]].liquidity == 0
    assert by_id[second.positions["btc_closed"]].tokens_owed0 > 0
    assert by_id[second.positions["eth_half"]].tokens_owed0 > 0


def test_principal_and_fees_equal_the_chain_to_the_wei(second: SecondWorld, config: Path) -> None:
    snap = read(config)
    chain = chain_answers(second, snap)
    for lp in snap.lps:
        assert lp_holdings(snap, lp) == chain[lp.token_id], f"LP {lp.token_id}"
    # The positions are not trivial: fees are owed on both tokens of every pool, and the boundary
    # positions are one-sided exactly as the pool's tick says.
    for pool in snap.pools:
        owed = [chain[lp.token_id] for lp in snap.lps if lp.pool == pool]
        assert any(h.fees0 > 0 for h in owed) and any(h.fees1 > 0 for h in owed), pool
    h = {name: chain[tid] for name, tid in second.positions.items()}
    # ETH is token0: at the lower position's upper bound it holds only USDC, the upper one only WETH.
    assert h["eth_edge_below"].principal0 == 0 < h["eth_edge_below"].principal1
    assert h["eth_edge_above"].principal1 == 0 < h["eth_edge_above"].principal0
    # USDC is token0 of the BTC pool: at tick == boundary the upper position is in range with no WBTC.
    assert h["btc_edge_above"].principal1 == 0 < h["btc_edge_above"].principal0
    assert h["btc_edge_below"].principal0 == 0 < h["btc_edge_below"].principal1
    assert h["btc_closed"].principal0 == h["btc_closed"].principal1 == 0 < h["btc_closed"].fees1


def test_lp_delta_per_underlying_is_the_chains_risky_amounts(second: SecondWorld, config: Path) -> None:
    snap = read(config)
    chain = chain_answers(second, snap)
    cfg = load_config(config, env_for(config))
    want = {"ETH": 0.0, "BTC": 0.0}
    for lp in snap.lps:
        sym, risky0 = underlying_of(second, lp)
        c = chain[lp.token_id]
        raw = c.principal0 + c.fees0 if risky0 else c.principal1 + c.fees1
        want[sym] += raw / 10 ** (18 if sym == "ETH" else 8)
    tokens = {a.symbol: a.token for a in cfg.assets}
    spots = {a: f.price for a, f in snap.feeds.items()}
    lps_only = dataclasses.replace(snap, balances={}, native_balances={})
    risk = book_risk(lps_only, tokens, cfg.quote.token, spots, dict(cfg.vol.fixed))
    for sym in ("ETH", "BTC"):
        assert risk.summaries[sym].delta == pytest.approx(want[sym], rel=1e-9), sym
    # The whole book adds the owners' token balances, nothing else (no options or perps here).
    full = book_risk(snap, tokens, cfg.quote.token, spots, dict(cfg.vol.fixed))
    for sym, dec in (("ETH", 18), ("BTC", 8)):
        held = sum(v for (_, t), v in snap.balances.items() if t == tokens[sym]) / 10**dec
        assert full.summaries[sym].delta == pytest.approx(want[sym] + held, rel=1e-9), sym


def test_plan_reads_the_world_and_lists_every_lp_exactly(second: SecondWorld, config: Path) -> None:
    env = env_for(config)
    proc = keeper_cli("plan", "--config", str(config), "--json", env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads(proc.stdout)
    assert rec["complete"] is True
    snap = read(config)
    assert rec["block"] == snap.block_number
    # BTC, whose pool has USDC as token0, is priced in USD like ETH (not inverted).
    for sym in ("ETH", "BTC"):
        g = rec["greeks"][sym]
        assert g["spot_usd"] == pytest.approx(snap.feeds[sym].price)
        assert g["delta_units"] > 0
    assert 50_000 < rec["greeks"]["BTC"]["spot_usd"] < 70_000
    chain = chain_answers(second, snap)
    lps = {int(x["token_id"]): x for x in rec["positions"]["lps"]}
    assert set(lps) == {lp.token_id for lp in snap.lps}
    delta, want = {"ETH": 0.0, "BTC": 0.0}, {"ETH": 0.0, "BTC": 0.0}
    for lp in snap.lps:
        x, c = lps[lp.token_id], chain[lp.token_id]
        assert x["owner"] == lp.owner
        got = LpHolding(int(x["principal0_raw"]), int(x["principal1_raw"]), int(x["fees0_raw"]), int(x["fees1_raw"]))
        assert got == c, f"LP {lp.token_id}"
        sym, risky0 = underlying_of(second, lp)
        assert x["underlying"] == sym
        raw = c.principal0 + c.fees0 if risky0 else c.principal1 + c.fees1
        units = raw / 10 ** (18 if sym == "ETH" else 8)
        assert x["delta"] == pytest.approx(units, rel=1e-9, abs=1e-18), f"LP {lp.token_id}"
        delta[sym] += x["delta"]
        want[sym] += units
    assert delta == pytest.approx(want, rel=1e-9)
    assert min(delta.values()) > 0


def test_doctor_passes_on_the_written_config(second: SecondWorld, config: Path) -> None:
    proc = keeper_cli("doctor", "--config", str(config), "--json", env=env_for(config))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    checks = json.loads(proc.stdout)["checks"]
    assert not [c for c in checks if c["status"] == "fail"]
    assert {c["name"] for c in checks} >= {"rpc", "signer", "allowances", "feeds", "twap"}


def test_without_multicall3_plan_names_it_and_install_fixes_it(tmp_path: Path) -> None:
    with AnvilNode() as node:
        w3 = Web3(Web3.HTTPProvider(node.url, request_kwargs={"timeout": 60}))
        world = build_second_world(w3, node.url, multicall3=False)
        config = write_config(world, tmp_path / "second.toml")
        env = env_for(config)
        bad = keeper_cli("plan", "--config", str(config), env=env)
        assert bad.returncode == 3, bad.stdout[-1000:] + bad.stderr[-2000:]
        assert "Multicall3" in bad.stderr and "Traceback" not in bad.stderr
        fixed = keeper_cli("multicall3", "install", "--config", str(config), env=env)
        assert fixed.returncode == 0, fixed.stderr[-2000:]
        ok = keeper_cli("plan", "--config", str(config), "--json", env=env)
        assert ok.returncode == 0, ok.stderr[-2000:]
        assert json.loads(ok.stdout)["complete"] is True


def test_simulate_hedges_both_token_orders_and_holds_back_the_fee_above_the_limit(config: Path) -> None:
    # A 1-unit band makes the plan trade (clipped to max_trade_usd 30,000 USD): ETH (token0) sells in
    # the 0.05 % pool (the 0.3 % pool is 7 % off the feed: blocked), BTC (token1, USDC token0) in the 1 %
    # pool, whose fee alone equals the default 100 bps slippage limit: fee + impact exceed it, so the
    # planner does not send a hedge that would revert, and says so with the numbers.
    env = dict(env_for(config), KEEPER_POLICY__DEFAULT__BAND_UNITS="1")
    proc = keeper_cli("simulate", "--config", str(config), "--json", env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    rec = json.loads(proc.stdout)
    by = {h["underlying"]: h for h in rec["hedges"]}
    assert list(by) == ["ETH"] and by["ETH"]["status"] == "filled" and by["ETH"]["side"] == "sell"
    assert by["ETH"]["venue_id"] == load_config(config, env).asset("ETH").hedge_pools[0]
    [btc] = [d for d in rec["plan"]["decisions"] if d["underlying"] == "BTC"]
    assert btc["order"] is None
    why = " ".join(str(r) for r in btc["reasons"])
    assert "100.0 bps fee" in why and "exceeds max_slippage_bps 100 bps" in why

    ok = keeper_cli("simulate", "--config", str(config), "--json",
                    env=dict(env, KEEPER_POLICY__BTC__MAX_SLIPPAGE_BPS="300"))
    assert ok.returncode == 0, ok.stdout[-2000:] + ok.stderr[-2000:]
    for h in json.loads(ok.stdout)["hedges"]:
        f = h["fill"]
        assert h["status"] == "filled" and f["units"] == pytest.approx(h["size_units"], rel=1e-6)
        assert 0 < f["slippage_bps_incl_fee"] < h["estimated_cost"]["limit_bps"]
        # Every LP of this world belongs to a read owner, and the signer is one too: a hedge in these
        # pools trades with the book itself. What the signer sold now sits in the owners' LPs as
        # principal and fees, so the book's delta is conserved up to the pools' rounding dust.
        assert f["units"] > 0.1
        assert h["delta_after_units"] == pytest.approx(h["delta_before_units"], abs=1e-6)


# ------------------------------------------------------------------ the report and the backtest of the book here


def _swap(second: SecondWorld, pool_name: str, sell_base: bool, base_units: float) -> None:
    """The swapper (anvil account 8, funded and approved by the build) trades ``base_units`` of the pool's
    base asset's worth through the SwapRouter, moving the pool's price (no limit)."""
    w3 = second.web3()
    p = second.pools[pool_name]
    base_token = second.tokens[p.base]
    usdc = second.tokens["USDC"]
    dec = 18 if p.base == "WETH" else 8
    price = 3000.0 if p.base == "WETH" else 60_000.0
    t_in, t_out, amount = ((base_token, usdc, int(base_units * 10**dec)) if sell_base
                           else (usdc, base_token, int(base_units * price * 10**6)))
    router = contract(w3, "SwapRouter", second.router)
    DevChain(w3).send(router.functions.exactInputSingle((t_in, t_out, p.fee, dev_account(SWAPPER).address, FAR,
                                                         amount, 0, 0)), dev_account(SWAPPER).address)


def _collect_at(second: SecondWorld, lp: LpMark, block: int) -> tuple[int, int]:
    """The chain's static ``collect`` (max amounts, from the owner) of a position at ``block``: its uncollected fees."""
    npm = contract(second.web3(), "NonfungiblePositionManager", second.position_manager)
    data = npm.encode_abi("collect", [(lp.token_id, lp.owner, U128, U128)])
    out = RpcClient.http(second.url, timeout_s=60).call("eth_call", [{"from": lp.owner, "to": npm.address,
                                                                       "data": data}, hex(block)])
    f0, f1 = decode(["uint256", "uint256"], bytes.fromhex(str(out)[2:]))
    return int(f0), int(f1)


def test_the_reports_figures_are_the_journals_and_the_chains_here(second: SecondWorld, config: Path,
                                                                   tmp_path: Path) -> None:
    w3 = second.web3()
    snap_id = w3.provider.make_request("evm_snapshot", [])["result"]  # type: ignore[arg-type]
    try:
        journal = tmp_path / "journal.sqlite"
        env = dict(env_for(config), KEEPER_JOURNAL__PATH=str(journal), KEEPER_POLICY__DEFAULT__BAND_UNITS="1",
                   KEEPER_POLICY__BTC__MAX_SLIPPAGE_BPS="300")
        act = keeper_cli("activate", "--config", str(config), "--by", "test", env=env)
        assert act.returncode == 0, act.stdout[-2000:] + act.stderr[-2000:]
        moves = [(("WETH/USDC-500", True, 40.0), ("WETH/USDC-3000", False, 25.0), ("USDC/WBTC-10000", False, 1.5)),
                 (("WETH/USDC-500", False, 70.0), ("WETH/USDC-3000", True, 30.0), ("USDC/WBTC-10000", True, 2.5))]
        for i in range(3):
            once = keeper_cli("once", "--config", str(config), env=env)
            assert once.returncode in (0, 1), once.stdout[-2000:] + once.stderr[-2000:]
            if i < 2:
                DevChain(w3).advance(300)
                for name, sell, units in moves[i]:
                    _swap(second, name, sell, units)
        out = tmp_path / "report"
        rep = keeper_cli("report", "--config", str(config), "--out", str(out), "--frontier-paths", "20",
                         "--frontier-days", "1", env=env)
        assert rep.returncode == 0, rep.stdout[-2000:] + rep.stderr[-3000:]
        doc = json.loads((out / "report.json").read_text())
        j = Journal.open(journal, readonly=True)
        fills = j.fills_between(0, 2**62)
        assert fills and doc["cycles"] == 3 and len(doc["hedges"]) == len(fills)
        for h, f in zip(doc["hedges"], fills, strict=True):
            d = f.data
            assert (h["tx_hash"], h["venue"], h["side"]) == (d.tx_hash, f.venue, f.side.value)
            assert h["size_units"] == d.notional_quote / d.oracle_price and h["price_usd"] == d.realized_price
            assert h["fee_usd"] == d.fee_quote and h["gas_usd"] == d.gas_cost_quote and h["funding_usd"] == 0.0
        # LP fees against LVR: every position of both token orders, recomputed from the journal's marks, and
        # the marks' uncollected fees are the chain's static collect at each cycle's block, to the wei.
        marks = j.marks_between(0, 2**62)
        assert len(marks) == 3 and {m.underlying for m in marks[0].lps} == {"ETH", "BTC"}
        assert len(marks[0].lps) == len(read(config).lps) >= 20, "every LP of the five owners"
        want: dict[int, list[float]] = {}
        for a_cm, b_cm in zip(marks, marks[1:], strict=False):
            before = {m.token_id: m for m in a_cm.lps}
            for b in b_cm.lps:
                a = before[b.token_id]
                fa, fb = _collect_at(second, a, a_cm.block_number), _collect_at(second, b, b_cm.block_number)
                ua, ub = (fa, fb) if a.underlying_is_token0 else ((fa[1], fa[0]), (fb[1], fb[0]))
                assert (a.fees_underlying_raw, a.fees_quote_raw) == ua, b.token_id  # exact, to the wei
                assert (b.fees_underlying_raw, b.fees_quote_raw) == ub, b.token_id
                g0 = a.liquidity * ((b.fee_growth_inside0_x128 - a.fee_growth_inside0_x128) % 2**256) // 2**128
                g1 = a.liquidity * ((b.fee_growth_inside1_x128 - a.fee_growth_inside1_x128) % 2**256) // 2**128
                gu, gq = (g0, g1) if a.underlying_is_token0 else (g1, g0)
                # nothing was collected between the cycles: the growth of collect's amounts, within a wei of rounding
                assert abs(gu - (ub[0] - ua[0])) <= 1 and abs(gq - (ub[1] - ua[1])) <= 1, b.token_id
                w = want.setdefault(b.token_id, [0.0, 0.0])
                w[0] += gu / 10**a.decimals_underlying * b.price + gq / 10**a.decimals_quote
                w[1] += ((a.principal_underlying - b.principal_underlying) * b.price + a.principal_quote
                         - b.principal_quote)
        rows = {r["token_id"]: r for r in doc["lps"]}
        assert set(rows) == set(want)
        for tid, (fees, lvr) in want.items():
            assert rows[tid]["fees_usd"] == pytest.approx(fees, rel=1e-9, abs=1e-9), tid
            assert rows[tid]["lvr_usd"] == pytest.approx(lvr, rel=1e-9, abs=1e-9), tid
        earned = {u: sum(r["fees_usd"] for r in doc["lps"] if r["underlying"] == u) for u in ("ETH", "BTC")}
        assert min(earned.values()) > 0, "the swaps paid fees in both token orders"
        # The Markdown's LP table shows the JSON's figures (2 decimals).
        md = (out / "report.md").read_text().splitlines()
        head = md.index("**LP positions: fees earned against loss-versus-rebalancing**") + 2
        cols = [c.strip() for c in md[head].strip("|").split("|")]
        for line in md[head + 2: head + 2 + len(rows)]:
            cells = [c.strip() for c in line.strip("|").split("|")]
            r = rows[int(cells[cols.index("token id")])]
            assert float(cells[cols.index("fees USD")].replace(",", "")) == round(r["fees_usd"], 2)
            assert float(cells[cols.index("realized LVR USD")].replace(",", "")) == round(r["lvr_usd"], 2)
        assert doc["frontier"], doc["frontier_text"]
        assert all("pool 0x" in f["venue"] for f in doc["frontier"]), "priced on a configured hedge pool"
    finally:
        w3.provider.make_request("evm_revert", [snap_id])  # type: ignore[arg-type]


def test_backtest_from_chain_starts_at_the_plans_book_here(second: SecondWorld, config: Path) -> None:
    env = env_for(config)  # eoa mode: the signer's own balances are part of the book, so its key names it
    block = second.web3().eth.block_number
    plan = keeper_cli("plan", "--config", str(config), "--json", "--block", str(block), env=env)
    assert plan.returncode == 0, plan.stderr[-2000:]
    rec = json.loads(plan.stdout)
    for sym in ("ETH", "BTC"):
        want = rec["greeks"][sym]
        bt = keeper_cli("backtest", "--config", str(config), "--from-chain", "--block", str(block), "--underlying",
                        sym, "--paths", "20", "--days", "2", "--step", "1d", "--policies", "none", "ww:3",
                        "--workers", "1", "--json", env=env)
        assert bt.returncode == 0, bt.stderr[-2000:]
        start = json.loads(bt.stdout)["meta"]["start"]
        book = json.loads(bt.stdout)["meta"]["book"]
        assert start["block"] == block and start["spot_usd"] == want["spot_usd"]
        lps = [x for x in rec["positions"]["lps"] if x["underlying"] == sym]
        assert f"{len(lps)} LP" in book, (book, len(lps))
        got = start["backtest"]
        # The plan marks each LP at its exact integer principal at its own pool (two ETH pools 7 % apart,
        # positions on a boundary, a closed one); the backtest at the float v3 formula with the same basis.
        assert got["value_usd"] == pytest.approx(want["value_usd"], rel=1e-9, abs=1e-2), sym
        assert got["delta_units"] == pytest.approx(want["delta_units"], rel=1e-9, abs=1e-7), sym
        assert got["gamma_units_per_usd"] == pytest.approx(want["gamma_units_per_usd"], rel=1e-9, abs=1e-18), sym
