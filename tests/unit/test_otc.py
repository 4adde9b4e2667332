"""Static OTC positions: validated like any other input, errors name file, row and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from keeper.errors import InputError
from keeper.venues.otc import load_otc_positions

HEADER = "id,counterparty,underlying,type,strike_usd,expiry,quantity\n"


def write(tmp_path: Path, body: str, name: str = "otc.csv") -> Path:
    p = tmp_path / name
    p.write_text(body)
    return p


def test_csv_and_json_load_the_same_positions(tmp_path: Path) -> None:
    csv_path = write(tmp_path, HEADER + "a1,Wintermute,eth,Put,2500,2026-12-25T08:00:00Z,10\n"
                                        "a2,Wintermute,BTC,call,80000.5,1798185600,-0.25\n")
    json_path = write(tmp_path, """{"positions": [
        {"id": "a1", "counterparty": "Wintermute", "underlying": "ETH", "type": "put", "strike_usd": 2500,
         "expiry": "2026-12-25T08:00:00+00:00", "quantity": 10},
        {"id": "a2", "counterparty": "Wintermute", "underlying": "BTC", "type": "call", "strike_usd": "80000.5",
         "expiry": 1798185600, "quantity": "-0.25"}]}""", "otc.json")
    a = load_otc_positions(csv_path, ["ETH", "BTC"])
    b = load_otc_positions(json_path, ["ETH", "BTC"])
    assert [(p.underlying, p.strike, p.expiry, p.is_put, p.long_amount, p.short_amount) for p in a] == [
        (p.underlying, p.strike, p.expiry, p.is_put, p.long_amount, p.short_amount) for p in b]
    put, call = a
    assert put.is_put and put.strike == 2500 * 10**8 and put.long_amount == 10 * 10**18 and put.short_amount == 0
    assert put.expiry == 1798185600 and put.source == "otc:Wintermute"
    assert not call.is_put and call.strike == 8000050000000 and call.short_amount == 25 * 10**16


@pytest.mark.parametrize(
    ("row", "field", "msg"),
    [
        ("a1,W,ETH,put,2500,2026-12-25T08:00:00Z,0", "row 1.quantity", "non-zero"),
        ("a1,W,ETH,put,-5,2026-12-25T08:00:00Z,1", "row 1.strike_usd", "> 0"),
        ("a1,W,ETH,put,abc,2026-12-25T08:00:00Z,1", "row 1.strike_usd", "not a number"),
        ("a1,W,ETH,put,nan,2026-12-25T08:00:00Z,1", "row 1.strike_usd", "finite"),
        ("a1,W,DOGE,put,1,2026-12-25T08:00:00Z,1", "row 1.underlying", "not a configured asset"),
        ("a1,W,ETH,straddle,1,2026-12-25T08:00:00Z,1", "row 1.type", "'call' or 'put'"),
        ("a1,W,ETH,put,1,2026-12-25,1", "row 1.expiry", "timezone"),
        ("a1,W,ETH,put,1,christmas,1", "row 1.expiry", "ISO-8601"),
        ("a1,,ETH,put,1,2026-12-25T08:00:00Z,1", "row 1.counterparty", "missing"),
    ],
)
def test_bad_rows_name_row_and_field(tmp_path: Path, row: str, field: str, msg: str) -> None:
    with pytest.raises(InputError, match=msg) as err:
        load_otc_positions(write(tmp_path, HEADER + row + "\n"), ["ETH", "BTC"])
    assert field in str(err.value) and "otc.csv" in str(err.value)


def test_duplicate_ids_unknown_fields_and_bad_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"row 2\.id.*duplicate"):
        load_otc_positions(write(tmp_path, HEADER + "a,W,ETH,put,1,1,1\na,W,ETH,put,1,1,1\n"), ["ETH"])
    with pytest.raises(InputError, match="unknown field"):
        load_otc_positions(write(tmp_path, '[{"id": "a", "colour": "red"}]', "x.json"), ["ETH"])
    with pytest.raises(InputError, match="not valid JSON"):
        load_otc_positions(write(tmp_path, "{", "y.json"), ["ETH"])
    with pytest.raises(InputError, match="unsupported extension"):
        load_otc_positions(write(tmp_path, "", "z.xlsx"), ["ETH"])
    with pytest.raises(InputError, match="^otc_file: cannot read"):
        load_otc_positions(tmp_path / "missing.csv", ["ETH"])
