"""The dry run's report without a chain: a venue's revert data wrapped in a HedgeModule error is decoded,
never shown as a Python bytes repr; the text and JSON reports name each hedge, the cost-vs-limit
sentence appears for a slippage revert only, and ``all_filled`` follows the outcomes."""

from __future__ import annotations

import json

from eth_abi.abi import encode
from eth_utils.crypto import keccak

from keeper.cycle.simulate import CostVsLimit, HedgeOutcome, SimulationReport, render_simulation, simulation_record
from keeper.execute.execution import VerifiedFill
from keeper.execute.tx import ErrorDecoder

SWAP_FAILED = {"type": "error", "name": "SwapFailed", "inputs": [{"name": "reason", "type": "bytes"}]}
OUTPUT_BELOW = {"type": "error", "name": "OutputBelowMinimum",
                "inputs": [{"name": "received", "type": "uint256"}, {"name": "min", "type": "uint256"}]}


def _error_string(msg: str) -> bytes:
    return keccak(text="Error(string)")[:4] + encode(["string"], [msg])


def test_wrapped_revert_data_is_decoded_recursively() -> None:
    dec = ErrorDecoder([[SWAP_FAILED, OUTPUT_BELOW]])
    outer = keccak(text="SwapFailed(bytes)")[:4] + encode(["bytes"], [_error_string("Too little received")])
    reason, name, args = dec.decode(outer)
    assert (reason, name) == ("SwapFailed(reverted: Too little received)", "SwapFailed")
    assert args == (_error_string("Too little received"),)
    custom = keccak(text="OutputBelowMinimum(uint256,uint256)")[:4] + encode(["uint256", "uint256"], [5, 7])
    twice = keccak(text="SwapFailed(bytes)")[:4] + encode(["bytes"], [custom])
    assert dec.decode(twice)[0] == "SwapFailed(OutputBelowMinimum(5, 7))"
    empty = keccak(text="SwapFailed(bytes)")[:4] + encode(["bytes"], [b""])
    assert dec.decode(empty)[0] == "SwapFailed(reverted without reason)"


def _fill() -> VerifiedFill:
    return VerifiedFill(amount_in=10**18, amount_out=2_990_000_000, underlying_units=1.0, quote_units=2990.0,
                realized_price=2990.0, oracle_price=3000.0, slippage_bps=33.3, fee_quote=1.5, gas_used=120_000,
                effective_gas_price=10**9, gas_cost_native=1.2e-4, gas_cost_quote=0.36, block_number=9,
                block_timestamp=100, tx_hash="0xab", notional_quote=3000.0)


def _report(*outcomes: HedgeOutcome) -> SimulationReport:
    plan = {"block": 8, "block_timestamp": 100, "complete": True, "failures": [], "greeks": {}, "quote_value_usd": 0.0,
            "unvalued": [], "vol_sources": {}, "options": [], "decisions": []}
    return SimulationReport(upstream="http://127.0.0.1:8545", fork_block=8, impersonated="0xkeeper", plan=plan,
                            hedges=outcomes, delta={"ETH": (12.0, 11.0), "BTC": (3.0, 3.0)})


def test_report_names_each_hedge_and_explains_a_slippage_revert() -> None:
    cost = CostVsLimit(fee_bps=30.0, impact_bps=20.8, limit_bps=50.0, limit_field="policy.BTC.max_slippage_bps")
    filled = HedgeOutcome("ETH", "uniswap", "0xpool1", "sell", 1.0, 3000.0, "filled",
                          cost=CostVsLimit(5.0, 1.0, 50.0, "policy.ETH.max_slippage_bps"), fill=_fill(),
                          delta_before_units=12.0, delta_after_units=11.0)
    reverted = HedgeOutcome("BTC", "uniswap", "0xpool2", "sell", 0.25, 15_000.0, "reverted",
                            reason="SwapFailed(reverted: Too little received)", error_name="SwapFailed",
                            slippage=True, cost=cost, delta_before_units=3.0, delta_after_units=3.0)
    r = _report(filled, reverted)
    assert not r.all_filled
    rec = simulation_record(r)
    json.dumps(rec, allow_nan=False)
    assert rec["summary"] == {"planned": 2, "filled": 1, "not_filled": 1}
    btc = rec["hedges"][1]
    assert btc["error"]["explanation"] == (
        "the planner estimated 30.0 bps fee + 20.8 bps impact = 50.8 bps against policy.BTC.max_slippage_bps = "
        "50 bps; the estimate exceeds the limit: the order's minimum output is tighter than its expected cost")
    assert rec["hedges"][0]["error"] is None and rec["hedges"][0]["fill"]["gas_used"] == 120_000
    text = render_simulation(rec)
    assert "1. FILLED sell 1.000000 ETH on uniswap 0xpool1" in text and "2,990.00 USD" in text
    assert "2. REVERTED sell 0.250000 BTC on uniswap 0xpool2 (~15,000 USD): SwapFailed(reverted: Too little" in text
    assert "50.8 bps against policy.BTC.max_slippage_bps = 50 bps" in text
    assert "exit code 1" in text and "b'" not in text


def test_a_non_slippage_revert_has_no_cost_sentence_and_all_filled_means_zero_exit() -> None:
    cost = CostVsLimit(5.0, 1.0, 50.0, "policy.default.max_slippage_bps")
    stale = HedgeOutcome("ETH", "perp", "0xmarket", "buy", 2.0, 6000.0, "reverted",
                         reason="StaleFeed(0xfeed, 1, 3600)", error_name="StaleFeed", cost=cost)
    rec = simulation_record(_report(stale))
    assert rec["hedges"][0]["error"]["explanation"] is None
    assert "bps fee +" not in render_simulation(rec)
    assert cost.total_bps < cost.limit_bps and "within the limit" in cost.sentence()
    empty = _report()
    assert empty.all_filled
    assert "nothing to do" in render_simulation(simulation_record(empty))
