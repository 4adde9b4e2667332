"""Surface and vol-history files: JSON and CSV layouts, errors naming file and line, re-reading on change."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from keeper.core.smile_delta import SmilePolicy
from keeper.core.surface import SECONDS_PER_YEAR
from keeper.core.svi import SviParams, svi_total_variance
from keeper.errors import InputError
from keeper.read.surface_io import (
    SurfaceFeed,
    fit_min_variance_file,
    grid_from_mapping,
    load_surface_file,
    parse_timestamp,
)

AS_OF = 1_700_000_000
DAY = 86_400
P = SviParams(0.01, 0.1, -0.4, 0.0, 0.2)
K = np.linspace(-0.5, 0.5, 7)


def vols(days: int) -> list[float]:
    t = days * DAY / SECONDS_PER_YEAR
    return [float(v) for v in np.sqrt(svi_total_variance(P, K) * days / 30 / t)]


def rect(**extra: object) -> dict[str, object]:
    return {"underlying": "ETH", "as_of": AS_OF, "kind": "moneyness", "expiries": [AS_OF + 30 * DAY, AS_OF + 90 * DAY],
            "columns": [float(x) for x in np.exp(K)], "vols": [vols(30), vols(90)], **extra}


def test_timestamps_parse_as_unix_seconds_or_iso() -> None:
    assert parse_timestamp(AS_OF, "t") == AS_OF
    assert parse_timestamp(str(AS_OF), "t") == AS_OF
    assert parse_timestamp("2023-11-14T22:13:20Z", "t") == AS_OF
    assert parse_timestamp("2023-11-14T22:13:20", "t") == AS_OF
    assert parse_timestamp("2024-01-01", "t") == 1_704_067_200
    for bad in ("yesterday", -1, True, None):
        with pytest.raises(InputError, match="t"):
            parse_timestamp(bad, "t")


def test_a_json_rectangular_grid_loads(tmp_path: Path) -> None:
    path = tmp_path / "eth.json"
    path.write_text(json.dumps(rect()))
    s = load_surface_file(path, "ETH")
    assert s.as_of == AS_OF and len(s.slices) == 2 and s.violations == ()
    assert s.slices[0].params.rho == pytest.approx(-0.4, abs=1e-6)


def test_a_json_grid_with_rows_and_a_strike_grid(tmp_path: Path) -> None:
    data = {"as_of": "2023-11-14T22:13:20Z", "kind": "strike", "spot": 2000.0,
            "rows": [{"expiry": AS_OF + 30 * DAY, "columns": [float(x) for x in 2000 * np.exp(K)], "vols": vols(30)}]}
    path = tmp_path / "eth.json"
    path.write_text(json.dumps(data))
    s = load_surface_file(path, "ETH")
    assert s.spot == 2000.0 and s.slices[0].k_quotes[0] == pytest.approx(-0.5)


def test_a_csv_long_file_loads_and_matches_the_json(tmp_path: Path) -> None:
    lines = ["expiry,moneyness,vol,as_of"]
    for days in (30, 90):
        lines += [f"{AS_OF + days * DAY},{float(m)!r},{v!r},{AS_OF}"
                  for m, v in zip(np.exp(K), vols(days), strict=True)]
    (tmp_path / "eth.csv").write_text("\n".join(lines) + "\n")
    (tmp_path / "eth.json").write_text(json.dumps(rect()))
    a, b = load_surface_file(tmp_path / "eth.csv", "ETH"), load_surface_file(tmp_path / "eth.json", "ETH")
    assert [s.params for s in a.slices] == [s.params for s in b.slices]


@pytest.mark.parametrize(("text", "match"), [
    ("expiry,strike,vol\n1,2,3\n", r"header.*as_of"),
    ("expiry,moneyness,vol,as_of\n1700086400,1.0,abc,1700000000\n", r"line 2: vol: not a number"),
    ("expiry,moneyness,vol,as_of\n1700086400,1.0,0.5,1700000000\n1700086400,1.1,0.5,1700000001\n",
     r"line 3.*as_of .* differs"),
    ("expiry,moneyness,vol,as_of\n" + "".join(f"{e},{m},0.5,1700000000\n" for e, m in
                                              [(1700086400, 1.0), (1700172800, 1.0), (1700086400, 1.1)]),
     r"line 4.*consecutive"),
    ("expiry,moneyness,vol,as_of\nsoon,1.0,0.5,1700000000\n", r"line 2: expiry"),
    ("expiry,moneyness,vol,as_of\n", r"no quotes"),
])
def test_csv_problems_name_the_line(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(InputError, match=match):
        load_surface_file(path, "ETH")


@pytest.mark.parametrize(("edit", "match"), [
    ({"kind": "vega"}, r"kind: must be one of"),
    ({"as_of": None}, r"as_of: required"),
    ({"underlying": "BTC"}, r"underlying: is 'BTC'"),
    ({"vols": [vols(30)]}, r"vols: must be a list of 2 rows"),
    ({"vols": [vols(30), vols(90)[:-1]]}, r"vols\[1\]: has 6 vols for 7 columns"),
    ({"vols": [vols(30), [*vols(90)[:-1], "x"]]}, r"vols\[1\]\[6\]: not a number"),
    ({"vols": [vols(30), [*vols(90)[:-1], -0.1]]}, r"row 1 .*column 6 .*vol must be finite and > 0"),
    ({"expiries": [AS_OF + 90 * DAY, AS_OF + 30 * DAY]}, r"row 1 .*unsorted expiry"),
])
def test_json_problems_name_the_key_or_row(tmp_path: Path, edit: dict[str, object], match: str) -> None:
    data = rect(**edit)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    with pytest.raises(InputError, match=match) as info:
        load_surface_file(path, "ETH")
    assert str(info.value).startswith(str(path)), "the message names the file"


def test_unreadable_and_unknown_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot read"):
        load_surface_file(tmp_path / "none.json", "ETH")
    (tmp_path / "x.json").write_text("{nope")
    with pytest.raises(InputError, match="cannot read"):
        load_surface_file(tmp_path / "x.json", "ETH")
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(InputError, match=r"\.json or \.csv"):
        load_surface_file(tmp_path / "x.txt", "ETH")


def test_a_feed_rereads_its_file_when_it_changes_and_reports_problems(tmp_path: Path) -> None:
    path = tmp_path / "eth.json"
    path.write_text(json.dumps(rect()))
    feed = SurfaceFeed("ETH", SmilePolicy(), path=path)
    first = feed.current()
    assert feed.current() is first
    path.write_text(json.dumps(rect(as_of=AS_OF + 60)))
    os.utime(path, ns=(1, os.stat(path).st_mtime_ns + 10**9))
    assert feed.current().as_of == AS_OF + 60
    path.write_text("{broken")
    os.utime(path, ns=(1, os.stat(path).st_mtime_ns + 2 * 10**9))
    surface, problem = feed.try_current()
    assert surface is None and problem is not None and "cannot read" in problem
    inline = SurfaceFeed("ETH", SmilePolicy(), grid=grid_from_mapping(rect(), "ETH"))
    assert inline.current() is inline.current()
    with pytest.raises(InputError):
        SurfaceFeed("ETH", SmilePolicy())


def test_min_variance_coefficients_fit_from_a_history_file(tmp_path: Path) -> None:
    from keeper.core.options import bs_delta

    rng = np.random.default_rng(2)
    a, b, c = -0.2, 0.4, -0.3
    lines = ["timestamp,spot,strike,expiry,vol"]
    expiry = AS_OF + 120 * DAY
    spot = 2000.0
    vol = {k: 0.6 + 0.1 * (k < 2000) for k in (1600.0, 1800.0, 2000.0, 2200.0, 2500.0)}
    for i in range(200):
        ts = AS_OF + i * 3600
        lines += [f"{ts},{spot!r},{k!r},{expiry},{v!r}" for k, v in vol.items()]
        step = spot * 0.01 * rng.standard_normal()
        t = (expiry - ts) / SECONDS_PER_YEAR
        for k, v in vol.items():
            d = float(bs_delta(spot, k, t, v))
            vol[k] = v + (a + b * d + c * d * d) * step / (spot * t**0.5)
        spot += step
    path = tmp_path / "hist.csv"
    path.write_text("\n".join(lines) + "\n")
    fit = fit_min_variance_file(path)
    assert (fit.coefficients.a, fit.coefficients.b, fit.coefficients.c) == pytest.approx((a, b, c), abs=0.02)
    path.write_text("timestamp,spot,strike,expiry,vol\n1700000000,2000,1800,1600000000,0.5\n")
    with pytest.raises(InputError, match="line 2.*expiry is not after"):
        fit_min_variance_file(path)
