"""`keeper backtest` with the keeper's rules: the flags, the config's defaults, the report's cost parts and blocked
hedges with units, `--rules ideal`, and bad values naming their flag."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from keeper.backtest.engine import COST_PARTS, RULE_COUNTS
from keeper.cli.backtest import main

REPO = Path(__file__).resolve().parents[2]
DEVNET = REPO / "examples" / "devnet.toml"
SMALL = ["backtest", "--paths", "40", "--days", "2", "--workers", "1", "--policies", "none", "interval:2h", "ww:30"]


def test_the_rules_are_on_by_default_with_the_configs_limits(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from keeper.config import load_config

    text = DEVNET.read_text(encoding="utf-8").replace("[policy.default]\n", "[policy.default]\nmax_gas_gwei = 100\n"
                                                      "urgent_deviation_units = 200\n", 1)
    text = text.replace("twap_window_s = 1800", "twap_window_s = 900", 1)
    conf = tmp_path / "keeper.toml"
    conf.write_text(text, encoding="utf-8")
    cfg = load_config(conf)
    assert cfg.oracles.twap_window_s == 900
    assert main([*SMALL, "--config", str(conf), "--perp-fee-bps", "3", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    rules = doc["meta"]["rules"]
    pol = cfg.policy_config().for_underlying(doc["meta"]["underlying"])
    assert rules["twap_window_s"] == cfg.oracles.twap_window_s
    assert rules["gates"]["max_gas_gwei"] == pol.gates.max_gas_gwei == 100.0
    assert rules["gates"]["urgent_deviation_units"] == pol.gates.urgent_deviation_units == 200.0
    assert rules["gates"]["max_oracle_deviation_bps"] == cfg.oracles.max_deviation_bps
    assert rules["perp"]["taker_fee_bps"] == pytest.approx(3.0)
    assert rules["perp"]["gas_ratio"] == cfg.execution.perp_gas_units / cfg.execution.swap_gas_units
    for row in doc["policies"]:
        assert set(row["cost_parts"]) == set(COST_PARTS) and set(row["rule_counts"]) == set(RULE_COUNTS)
        assert sum(row["cost_parts"].values()) == pytest.approx(row["mean_cost"], rel=1e-9, abs=1e-9)
    assert "quote" in doc["units"]["cost_parts"] and "per path" in doc["units"]["rule_counts"]


def test_the_table_shows_the_blocked_hedges_with_units(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, "--max-gas-gwei", "25", "--gas-spikes-per-day", "8", "--oracle-lag", "2h"]) == 0
    out = capsys.readouterr().out
    part = out.split("Cost by part")[1]
    for col in ("fee USD", "impact USD", "gas USD", "funding USD", "blocked", "stale", "oracle", "no venue"):
        assert col in part
    row = next(line for line in part.splitlines() if line.startswith("interval:2h"))
    blocked, stale, oracle, gas = (float(x) for x in row.split()[5:9])
    assert blocked > 0 and oracle > 0 and gas > 0 and stale == 0.0
    assert "feed lag 7200 s" in part and "max gas 25 gwei" in part and "no perp" in part


def test_ideal_keeps_the_old_backtest(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, "--rules", "ideal", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["meta"]["rules"] is None and all(p["cost_parts"] is None for p in doc["policies"])
    assert main([*SMALL, "--rules", "ideal", "--max-gas-gwei", "30"]) == 2
    assert "--max-gas-gwei" in capsys.readouterr().err


@pytest.mark.parametrize(("flag", "value"), [("--oracle-lag=-5m", ""), ("--feed-miss-prob", "2"),
                                             ("--gas-spike-x", "0.5"), ("--twap-window", "0"),
                                             ("--perp-fee-bps", "-1"), ("--max-gas-gwei", "0"),
                                             ("--urgent-units", "-1"), ("--gas-gwei", "0")])
def test_bad_values_name_their_flag(flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*SMALL, *([flag, value] if value else [flag])]) == 2
    assert flag.split("=", maxsplit=1)[0] in capsys.readouterr().err
