"""`keeper plan` on the local world with an ETH implied-vol surface (examples/devnet-surface.toml).

Every option is valued at the surface's vol at its own strike and expiry, the delta flavour changes
the ETH delta, the reported delta is the sum of per-position deltas recomputed here from the core
functions, a stale surface falls back to model vol + spread, and a bad file is a named config error.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from keeper.build.paths import repo_root
from keeper.chain.rpc import RpcClient
from keeper.config import load_config
from keeper.core.book import book_positions
from keeper.core.options import bs_greeks
from keeper.core.portfolio import OptionPosition, aggregate
from keeper.core.smile_delta import DeltaFlavour, MinVarianceCoefficients, smile_delta
from keeper.core.snapshot import Snapshot
from keeper.core.surface import SECONDS_PER_YEAR, VolSurface
from keeper.cycle.sources import book_sources
from keeper.devnet.state import World
from keeper.read.reader import BookReader
from keeper.read.surface_io import load_surface_file, parse_timestamp

pytestmark = pytest.mark.anvil

FLAT = repo_root() / "examples" / "devnet.toml"
CONFIG = repo_root() / "examples" / "devnet-surface.toml"
EXAMPLE = repo_root() / "examples" / "surfaces" / "eth.json"
MODEL_VOL, SPREAD, MAX_AGE_S, AGE_S = 0.6, 0.05, 3600, 600
MV = MinVarianceCoefficients(-0.2329, 0.4176, -0.4210)  # Hull-White's S&P 500 estimates: a, b, c
ENV_MV = {"KEEPER_VOL__SURFACES__ETH__MIN_VARIANCE": f"{{a = {MV.a}, b = {MV.b}, c = {MV.c}}}"}

Plan = dict[str, Any]
RunPlan = Callable[..., Plan]


def restamped(as_of: int, **changes: Any) -> dict[str, Any]:
    """The example surface re-dated to ``as_of``, expiries shifted alike (the world's clock is its build time)."""
    data: dict[str, Any] = json.loads(EXAMPLE.read_text())
    shift = as_of - parse_timestamp(data["as_of"], "as_of")
    data["as_of"] = as_of
    data["expiries"] = [parse_timestamp(e, "expiry") + shift for e in data["expiries"]]
    data.update(changes)
    return data


def keeper_plan(world: World, tmp_path: Path, config: Path, block: int, env_extra: Mapping[str, str] | None = None,
                *, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``keeper plan --json --block N`` as a subprocess, with only our ``KEEPER_*`` overrides."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEEPER_")}  # the shell's don't leak in
    env.update(KEEPER_CHAIN__RPC_URL=world.url, KEEPER_JOURNAL__PATH=str(tmp_path / "journal.sqlite"),
               **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "keeper.cli.main", "plan", "--config", str(config), "--json",
                           "--block", str(block)], env=env, cwd=cwd or tmp_path, capture_output=True, text=True,
                          timeout=120, check=False)


@pytest.fixture(scope="module")
def head(world: World) -> tuple[int, int]:
    """(block, block time) every plan of this module reads at: the world's head, untouched by these tests."""
    blk = world.web3().eth.get_block("latest")
    return int(blk["number"]), int(blk["timestamp"])


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("surface_plan")


@pytest.fixture(scope="module")
def fresh_surface(workdir: Path, head: tuple[int, int]) -> Path:
    """The example surface dated ``AGE_S`` before the block time: fresh under the example's 1 h max age."""
    path = workdir / "eth-fresh.json"
    path.write_text(json.dumps(restamped(head[1] - AGE_S)))
    return path


@pytest.fixture(scope="module")
def run_plan(world: World, workdir: Path, head: tuple[int, int]) -> Iterator[RunPlan]:
    cache: dict[tuple[str, tuple[tuple[str, str], ...]], Plan] = {}

    def run(config: Path = CONFIG, **env_extra: str) -> Plan:
        key = (str(config), tuple(sorted(env_extra.items())))
        if key not in cache:
            proc = keeper_plan(world, workdir, config, head[0], env_extra)
            assert proc.returncode == 0, proc.stderr[-3000:]
            cache[key] = json.loads(proc.stdout)
        return cache[key]

    yield run


@pytest.fixture(scope="module")
def snapshot(world: World, head: tuple[int, int]) -> Snapshot:
    cfg = load_config(CONFIG, {"KEEPER_CHAIN__RPC_URL": world.url})
    reader = BookReader(RpcClient.http(world.url), book_sources(cfg, (world.manifest.safe.address,)))
    return reader.read(block=head[0])


def eth_options(plan: Plan) -> list[dict[str, Any]]:
    opts = [o for o in plan["options"] if o["underlying"] == "ETH"]
    assert len(opts) == 2, plan["options"]
    return opts


def vol_reason(plan: Plan) -> str:
    (eth,) = (d for d in plan["decisions"] if d["underlying"] == "ETH")
    reason: str = eth["reasons"][0]
    return reason


def expected_eth(snap: Snapshot, flavour: DeltaFlavour | None, vol_of: Callable[[float, float], tuple[float, float]],
                 mv: MinVarianceCoefficients | None = None) -> tuple[float, list[tuple[float, float, float]]]:
    """ETH delta of the book and (strike, vol, delta) per ETH option, from the raw snapshot and core functions.

    ``vol_of(strike, t) -> (vol, dvol/dk)``; ``flavour`` None: plain Black-Scholes.
    """
    spot = snap.feeds["ETH"].price
    cfg = load_config(FLAT, {})
    positions, _ = book_positions(snap, {a.symbol: a.token for a in cfg.assets}, cfg.quote.token,
                                  {"ETH": MODEL_VOL, "BTC": 0.5}, spots={a: f.price for a, f in snap.feeds.items()})
    rest = [p for p in positions if p.underlying == "ETH" and not isinstance(p, OptionPosition)]
    delta = aggregate(rest, {"ETH": spot})["ETH"].delta if rest else 0.0
    per: list[tuple[float, float, float]] = []
    for o in snap.options:
        if o.underlying != "ETH" or o.net_amount == 0:
            continue
        strike, t, qty = o.strike / 1e8, (o.expiry - snap.block_timestamp) / SECONDS_PER_YEAR, o.net_amount / 1e18
        vol, slope = vol_of(strike, t)
        if flavour is None:
            d = float(bs_greeks(spot, strike, t, vol, 0.0, 0.0, not o.is_put).delta)
        else:
            d = float(smile_delta(flavour, spot, strike, t, vol, not o.is_put, dvol_dk=slope, mv=mv).delta)
        per.append((strike, vol, qty * d))
        delta += qty * d
    return delta, per


def on_surface(surface: VolSurface, as_of: int, snap: Snapshot) -> Callable[[float, float], tuple[float, float]]:
    """The surface evaluated directly: at the option's expiry date (years after as_of) and moneyness at spot."""
    spot, since = snap.feeds["ETH"].price, (snap.block_timestamp - as_of) / SECONDS_PER_YEAR

    def vol_of(strike: float, t: float) -> tuple[float, float]:
        k = math.log(strike / spot)  # the surface's rate is 0: K/F = K/S
        return float(surface.implied_vol(k, t + since)), float(surface.dvol_dk(k, t + since))

    return vol_of


def test_each_option_takes_the_surface_vol_at_its_strike_and_expiry(
        run_plan: RunPlan, snapshot: Snapshot, fresh_surface: Path, head: tuple[int, int]) -> None:
    surface = load_surface_file(fresh_surface, "ETH")
    assert surface.violations == () and len(surface.slices) == 4
    plan = run_plan(KEEPER_VOL__SURFACES__ETH__FILE=str(fresh_surface))
    src = plan["vol_sources"]["ETH"]
    assert (src["vol_source"], src["delta_flavour"], src["surface_as_of"]) == ("surface", "sticky_moneyness",
                                                                               head[1] - AGE_S)
    vol_of = on_surface(surface, head[1] - AGE_S, snapshot)
    _, expected = expected_eth(snapshot, "sticky_moneyness", vol_of)
    opts = eth_options(plan)
    assert sorted(o["strike_usd"] for o in opts) == sorted(k for k, _, _ in expected) == [2700.0, 3300.0]
    reason = vol_reason(plan)
    assert reason.startswith("options valued on the vol surface as of ") and f"(age {AGE_S} s, 4 expiries)" in reason
    for o in opts:
        strike, vol, delta = next(x for x in expected if x[0] == o["strike_usd"])
        assert o["vol_source"] == "surface"
        assert o["vol"] == pytest.approx(vol, rel=1e-12), o
        assert o["delta_units"] == pytest.approx(delta, rel=1e-9), o
        kind = "call" if o["is_call"] else "put"
        assert f"{kind} K {strike:,.6g} T {o['expiry_years'] * 365:.2f} d {vol * 100:.2f} %" in reason
    vols = {o["strike_usd"]: o["vol"] for o in opts}
    # the skew: the 2,700 put is on the rich side of the smile, the 3,300 call near its bottom; neither is flat
    assert vols[2700.0] > vols[3300.0] + 0.05 and abs(vols[3300.0] - MODEL_VOL) > 0.005
    # BTC has no surface: its put keeps the model vol
    (btc,) = (o for o in plan["options"] if o["underlying"] == "BTC")
    assert (btc["vol_source"], btc["vol"]) == ("model", 0.5) and "BTC" not in plan["vol_sources"]


@pytest.mark.parametrize("flavour", ["sticky_strike", "sticky_moneyness", "min_variance"])
def test_portfolio_delta_is_the_sum_of_independently_recomputed_position_deltas(
        flavour: DeltaFlavour, run_plan: RunPlan, snapshot: Snapshot, fresh_surface: Path,
        head: tuple[int, int]) -> None:
    env = {"KEEPER_VOL__SURFACES__ETH__FILE": str(fresh_surface), "KEEPER_VOL__SURFACES__ETH__DELTA_FLAVOUR": flavour,
           **(ENV_MV if flavour == "min_variance" else {})}
    plan = run_plan(**env)
    assert plan["vol_sources"]["ETH"]["delta_flavour"] == flavour and f"delta flavour {flavour}" in vol_reason(plan)
    surface = load_surface_file(fresh_surface, "ETH")
    delta, per = expected_eth(snapshot, flavour, on_surface(surface, head[1] - AGE_S, snapshot),
                              MV if flavour == "min_variance" else None)
    assert plan["greeks"]["ETH"]["delta_units"] == pytest.approx(delta, rel=1e-10)
    (eth,) = (d for d in plan["decisions"] if d["underlying"] == "ETH")
    assert eth["delta_before_units"] == pytest.approx(delta, rel=1e-10)
    for o in eth_options(plan):
        assert o["delta_units"] == pytest.approx(next(d for k, _, d in per if k == o["strike_usd"]), rel=1e-9)


def test_flat_vol_and_each_flavour_give_different_eth_deltas(
        run_plan: RunPlan, snapshot: Snapshot, fresh_surface: Path) -> None:
    flat = run_plan(FLAT)
    assert flat["vol_sources"] == {} and all(o["vol_source"] == "model" for o in flat["options"])
    flat_delta, _ = expected_eth(snapshot, None, lambda _k, _t: (MODEL_VOL, 0.0))
    assert flat["greeks"]["ETH"]["delta_units"] == pytest.approx(flat_delta, rel=1e-10)
    deltas = {"flat": flat["greeks"]["ETH"]["delta_units"]}
    for flavour in ("sticky_strike", "sticky_moneyness", "min_variance"):
        env = {"KEEPER_VOL__SURFACES__ETH__FILE": str(fresh_surface),
               "KEEPER_VOL__SURFACES__ETH__DELTA_FLAVOUR": flavour, **(ENV_MV if flavour == "min_variance" else {})}
        deltas[flavour] = run_plan(**env)["greeks"]["ETH"]["delta_units"]
    print("ETH delta (units):", {k: round(v, 4) for k, v in deltas.items()})
    values = list(deltas.values())
    # both world options are out of the money, where the smile's level and slope matter: every pair differs
    for i, a in enumerate(values):
        for b in values[i + 1:]:
            assert abs(a - b) > 0.1, deltas
    # the put skew: the smile falls with strike, so following it (sticky moneyness) adds delta to both options
    assert deltas["sticky_moneyness"] > deltas["sticky_strike"]


def test_a_stale_surface_falls_back_to_model_vol_plus_spread(
        run_plan: RunPlan, snapshot: Snapshot, workdir: Path, head: tuple[int, int]) -> None:
    old = workdir / "eth-old.json"
    age = MAX_AGE_S + 1
    old.write_text(json.dumps(restamped(head[1] - age)))
    plan = run_plan(KEEPER_VOL__SURFACES__ETH__FILE=str(old))
    src = plan["vol_sources"]["ETH"]
    assert (src["vol_source"], src["fallback_vol"]) == ("stale", pytest.approx(MODEL_VOL + SPREAD))
    reason = vol_reason(plan)
    assert f"is STALE ({age} s old > max age {MAX_AGE_S} s)" in reason, reason
    assert "model vol 60.0 % + fallback spread 5.0 vol pts = 65.0 %" in reason
    for o in eth_options(plan):
        assert (o["vol_source"], o["vol"], o["delta_adjustment_units"]) == ("stale", pytest.approx(0.65), 0.0)
        assert f"K {o['strike_usd']:,.6g} T {o['expiry_years'] * 365:.2f} d 65.00 %" in reason
    delta, _ = expected_eth(snapshot, None, lambda _k, _t: (MODEL_VOL + SPREAD, 0.0))
    assert plan["greeks"]["ETH"]["delta_units"] == pytest.approx(delta, rel=1e-10)


def test_the_example_config_loads_its_surface_from_any_cwd(
        world: World, tmp_path: Path, head: tuple[int, int]) -> None:
    # run outside the repo: the surface file is found relative to the config's folder
    proc = keeper_plan(world, tmp_path, CONFIG, head[0], cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    plan = json.loads(proc.stdout)
    as_of = parse_timestamp(json.loads(EXAMPLE.read_text())["as_of"], "as_of")
    src = plan["vol_sources"]["ETH"]
    assert src["surface_as_of"] == as_of
    # dated to the world's build; a world built at another time is judged stale at its own clock
    assert src["vol_source"] == ("surface" if 0 <= head[1] - as_of <= MAX_AGE_S else "stale")
    assert {o["vol_source"] for o in eth_options(plan)} == {src["vol_source"]}


BAD: Mapping[str, tuple[str, ...]] = {
    "negative_vol": ("row 1 (expiry", "column 3 (strike 3000.0)", "vol must be finite and > 0, got -0.62"),
    "unsorted_expiry": ("row 2 (expiry", "unsorted expiry: expiries must be strictly increasing"),
    "ragged_row": (".vols[2]", "has 6 vols for 7 columns"),
}


def _bad(data: dict[str, Any], case: str) -> dict[str, Any]:
    if case == "negative_vol":
        data["vols"][1][3] = -0.62
    elif case == "unsorted_expiry":
        data["expiries"][1], data["expiries"][2] = data["expiries"][2], data["expiries"][1]
    else:
        data["vols"][2] = data["vols"][2][:-1]
    return data


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_surface_file_is_a_config_error_naming_the_row_and_field(
        case: str, world: World, tmp_path: Path, head: tuple[int, int]) -> None:
    path = tmp_path / "eth-bad.json"
    path.write_text(json.dumps(_bad(restamped(head[1] - AGE_S), case)))
    proc = keeper_plan(world, tmp_path, CONFIG, head[0], {"KEEPER_VOL__SURFACES__ETH__FILE": str(path)})
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], proc.stderr[-3000:])
    assert proc.stdout == ""
    err = proc.stderr
    assert "Traceback" not in err and f"config error: vol.surfaces.ETH.file: {path}" in err, err
    for part in BAD[case]:
        assert part in err, (part, err)
