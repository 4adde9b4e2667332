"""The small core modules at their edges: argument checks (field and value in every message),
reason formatting, the decision types' derived properties, the venue inputs' validation and the
snapshot's record form."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest

from keeper.core._checks import check_finite, check_fraction, check_non_negative, check_positive
from keeper.core.costs import CostEstimate
from keeper.core.gates import GateResult, OracleView
from keeper.core.hedge_types import Decision, Exposure, HedgeOrder, Plan, UnderlyingInput
from keeper.core.reasons import Reason, fmt_bps, fmt_quote, fmt_seconds, fmt_units
from keeper.core.sizing import Band, HedgeHistory
from keeper.core.snapshot import (
    FeedReading,
    LpPosition,
    OptionPosition,
    PoolState,
    ReadFailure,
    Snapshot,
    TickFees,
    TokenMeta,
)
from keeper.core.venue_inputs import GasView, PerpVenue, SwapQuote, SwapVenue, VenueConfig
from keeper.errors import InputError


def raises(fn: Any, *args: Any, **kw: Any) -> InputError:
    with pytest.raises(InputError) as ei:
        fn(*args, **kw)
    return ei.value


# --------------------------------------------------------------------------- _checks


@pytest.mark.parametrize("check", [check_finite, check_positive, check_non_negative, check_fraction])
@pytest.mark.parametrize(("value", "message"), [
    (True, "must be a number, got True"),
    ("1.5x", "must be a number, got '1.5x'"),
    (None, "must be a number, got None"),
    (math.nan, "must not be NaN"),
])
def test_every_check_refuses_non_numbers_and_nan(check: Any, value: object, message: str) -> None:
    err = raises(check, "width", value)
    assert err.argument == "width" and str(err) == f"width: {message}"


def test_checks_accept_numeric_strings_and_numpy_scalars() -> None:
    check_positive("x", "2.5")
    check_finite("x", np.float32(-1.0))
    check_non_negative("x", np.int64(0))


def test_check_finite() -> None:
    check_finite("x", -1e308)
    assert str(raises(check_finite, "x", math.inf)) == "x: must be finite, got inf"
    assert str(raises(check_finite, "x", -math.inf)) == "x: must be finite, got -inf"


def test_check_positive_boundaries() -> None:
    check_positive("x", 5e-324)
    assert str(raises(check_positive, "x", 0.0)) == "x: must be > 0, got 0.0"
    assert str(raises(check_positive, "x", -0.0)) == "x: must be > 0, got -0.0"
    assert str(raises(check_positive, "x", math.inf)) == "x: must be finite, got inf"
    check_positive("x", math.inf, allow_inf=True)
    assert str(raises(check_positive, "x", -math.inf, allow_inf=True)) == "x: must be > 0, got -inf"


def test_check_non_negative_boundaries() -> None:
    check_non_negative("x", 0.0)
    check_non_negative("x", -0.0)
    assert str(raises(check_non_negative, "x", -5e-324)) == "x: must be >= 0, got -5e-324"
    assert str(raises(check_non_negative, "x", math.inf)) == "x: must be finite, got inf"
    check_non_negative("x", math.inf, allow_inf=True)


def test_check_fraction_boundaries() -> None:
    check_fraction("f", 0.0)
    check_fraction("f", math.nextafter(1.0, 0.0))
    assert str(raises(check_fraction, "f", 1.0)) == "f: must be a fraction in [0, 1) (0.0005 = 5 bps), got 1.0"
    assert str(raises(check_fraction, "f", -1e-9)) == "f: must be a fraction in [0, 1) (0.0005 = 5 bps), got -1e-09"
    check_fraction("f", 1.0, upper_inclusive=True)
    check_fraction("f", 0.0, upper_inclusive=True)
    err = raises(check_fraction, "f", math.nextafter(1.0, 2.0), upper_inclusive=True)
    assert str(err) == "f: must be a fraction in [0, 1] (0.0005 = 5 bps), got 1.0000000000000002"
    assert "[0, 1]" in str(raises(check_fraction, "f", -0.5, upper_inclusive=True))


# --------------------------------------------------------------------------- reasons


def test_reason_of_keeps_numbers_in_call_order_and_looks_them_up() -> None:
    r = Reason.of("c", "text", b=2.0, a=1.0)
    assert r.numbers == (("b", 2.0), ("a", 1.0))
    assert r.number("a") == 1.0 and r.number("b") == 2.0
    with pytest.raises(KeyError, match="zz"):
        r.number("zz")
    assert str(r) == "text"
    assert Reason("c", "t").numbers == ()


@pytest.mark.parametrize(("x", "signed", "text"), [
    (12.345, False, "12.35 ETH"),
    (12.345, True, "+12.35 ETH"),
    (-0.5, True, "-0.5 ETH"),
    (999.94, False, "999.9 ETH"),
    (1000.0, False, "1,000 ETH"),
    (-1000.0, False, "-1,000 ETH"),
    (1234.6, True, "+1,235 ETH"),
    (math.inf, True, "+inf ETH"),
    (math.inf, False, "inf ETH"),
    (-math.inf, True, "-inf ETH"),
])
def test_fmt_units(x: float, signed: bool, text: str) -> None:
    assert fmt_units(x, "ETH", signed=signed) == text


def test_fmt_units_is_unsigned_by_default() -> None:
    assert fmt_units(3.0, "BTC") == "3 BTC"
    assert fmt_units(math.inf, "BTC") == "inf BTC"


@pytest.mark.parametrize(("x", "text"), [
    (250_000.4, "250,000 USD"), (100.0, "100 USD"), (-100.0, "-100 USD"), (99.994, "99.99 USD"),
    (-5.5, "-5.50 USD"), (math.inf, "inf USD"), (math.nan, "nan USD"),
])
def test_fmt_quote(x: float, text: str) -> None:
    assert fmt_quote(x, "USD") == text


def test_fmt_bps_and_seconds() -> None:
    assert fmt_bps(0.0008) == "8.0 bps"
    assert fmt_bps(0.00125) == "12.5 bps"
    assert fmt_seconds(3120.0) == "3,120 s"
    assert fmt_seconds(math.inf) == "inf s"


# --------------------------------------------------------------------------- venue inputs


@pytest.mark.parametrize(("field", "value", "message"), [
    ("gas_price_gwei", -1.0, "must be >= 0, got -1.0"),
    ("gas_price_gwei", math.inf, "must be finite, got inf"),
    ("native_price_quote", -2.0, "must be >= 0, got -2.0"),
])
def test_gas_view_validation(field: str, value: float, message: str) -> None:
    kw = {"gas_price_gwei": 1.0, "native_price_quote": 1.0, field: value}
    assert str(raises(GasView, **kw)) == f"{field}: {message}"
    GasView(0.0, 0.0)


@pytest.mark.parametrize(("kw", "field", "message"), [
    ({"side": "hold"}, "side", "must be 'buy' or 'sell', got 'hold'"),
    ({"size_units": 0.0}, "size_units", "must be > 0, got 0.0"),
    ({"avg_price_quote": -1.0}, "avg_price_quote", "must be > 0, got -1.0"),
])
def test_swap_quote_validation(kw: dict[str, Any], field: str, message: str) -> None:
    base: dict[str, Any] = {"side": "sell", "size_units": 1.0, "avg_price_quote": 1.0, **kw}
    assert str(raises(SwapQuote, **base)) == f"{field}: {message}"
    SwapQuote("buy", 1.0, 1.0)


QUOTE = SwapQuote("sell", 1.0, 1.0)


@pytest.mark.parametrize(("kw", "field", "message"), [
    ({"venue_id": ""}, "venue_id", "must be a non-empty string"),
    ({"fee_fraction": 1.0}, "fee_fraction", "must be a fraction in [0, 1) (0.0005 = 5 bps), got 1.0"),
    ({"gas_units": -1.0}, "gas_units", "must be >= 0, got -1.0"),
    ({"underlying_balance_units": -1.0}, "underlying_balance_units", "must be >= 0, got -1.0"),
    ({"quote_balance_quote": -1.0}, "quote_balance_quote", "must be >= 0, got -1.0"),
    ({"liquidity": 1.0, "sqrt_price": None}, "liquidity", "liquidity and sqrt_price must be given together"),
    ({"liquidity": None, "sqrt_price": 1.0}, "liquidity", "liquidity and sqrt_price must be given together"),
    ({"liquidity": -1.0}, "liquidity", "must be >= 0, got -1.0"),
    ({"sqrt_price": 0.0}, "sqrt_price", "must be > 0, got 0.0"),
    ({"liquidity": None, "sqrt_price": None, "quote": None}, "liquidity",
     "give liquidity and sqrt_price, or a quote, to estimate impact"),
])
def test_swap_venue_validation(kw: dict[str, Any], field: str, message: str) -> None:
    base: dict[str, Any] = {"venue_id": "p", "fee_fraction": 0.0, "gas_units": 0.0, "underlying_balance_units": 0.0,
                            "quote_balance_quote": 0.0, "liquidity": 0.0, "sqrt_price": 1.0, **kw}
    assert str(raises(SwapVenue, **base)) == f"{field}: {message}"


def test_swap_venue_accepts_a_quote_alone_or_liquidity_alone() -> None:
    assert SwapVenue("p", 0.0, 0.0, 0.0, 0.0, quote=QUOTE).liquidity is None
    assert SwapVenue("p", 0.0, 0.0, 0.0, 0.0, 0.0, 1.0).quote is None


@pytest.mark.parametrize(("kw", "field", "message"), [
    ({"venue_id": ""}, "venue_id", "must be a non-empty string"),
    ({"taker_fee_fraction": 1.0}, "taker_fee_fraction", "must be a fraction in [0, 1) (0.0005 = 5 bps), got 1.0"),
    ({"funding_rate_per_second": math.inf}, "funding_rate_per_second", "must be finite, got inf"),
    ({"free_margin_quote": -1.0}, "free_margin_quote", "must be >= 0, got -1.0"),
    ({"initial_margin_fraction": 1.5}, "initial_margin_fraction",
     "must be a fraction in [0, 1] (0.0005 = 5 bps), got 1.5"),
    ({"gas_units": -1.0}, "gas_units", "must be >= 0, got -1.0"),
])
def test_perp_venue_validation(kw: dict[str, Any], field: str, message: str) -> None:
    base: dict[str, Any] = {"venue_id": "m", "taker_fee_fraction": 0.0, "funding_rate_per_second": -1e-9,
                            "free_margin_quote": 0.0, "initial_margin_fraction": 1.0, "gas_units": 0.0, **kw}
    assert str(raises(PerpVenue, **base)) == f"{field}: {message}"


def test_perp_venue_accepts_full_margin_and_negative_funding() -> None:
    assert PerpVenue("m", 0.0, -1e-9, 0.0, 1.0, 0.0).initial_margin_fraction == 1.0


@pytest.mark.parametrize(("kw", "field", "message"), [
    ({"max_slippage_bps": 0.0}, "max_slippage_bps", "must be > 0, got 0.0"),
    ({"max_slippage_bps": 10_000.0}, "max_slippage_bps", "must be < 10000 (100 %), got 10000.0"),
    ({"max_impact_bps": -1.0}, "max_impact_bps", "must be >= 0, got -1.0"),
    ({"perp_holding_horizon_s": -1.0}, "perp_holding_horizon_s", "must be >= 0, got -1.0"),
])
def test_venue_config_validation(kw: dict[str, Any], field: str, message: str) -> None:
    assert str(raises(VenueConfig, **kw)) == f"{field}: {message}"


def test_venue_config_boundaries_and_defaults() -> None:
    VenueConfig(max_slippage_bps=math.nextafter(10_000.0, 0.0), max_impact_bps=0.0, perp_holding_horizon_s=0.0)
    assert VenueConfig() == VenueConfig(50.0, 50.0, 86_400.0)


# --------------------------------------------------------------------------- hedge types


@pytest.mark.parametrize(("kw", "field", "message"), [
    ({"underlying": ""}, "underlying", "must be a non-empty symbol"),
    ({"delta_units": math.inf}, "delta_units", "must be finite, got inf"),
    ({"gamma_units_per_quote": math.nan}, "gamma_units_per_quote", "must not be NaN"),
    ({"book_value_quote": -math.inf}, "book_value_quote", "must be finite, got -inf"),
    ({"spot": 0.0}, "spot", "must be > 0, got 0.0"),
])
def test_exposure_validation(kw: dict[str, Any], field: str, message: str) -> None:
    base: dict[str, Any] = {"underlying": "ETH", "delta_units": 0.0, "gamma_units_per_quote": 0.0,
                            "book_value_quote": 0.0, "spot": 1.0, **kw}
    assert str(raises(Exposure, **base)) == f"{field}: {message}"


ORACLE = OracleView(1.0, 0.0, 1.0, 1.0, 0.0)
POOL = SwapVenue("p", 0.0, 0.0, 0.0, 0.0, quote=QUOTE)
PERP = PerpVenue("m", 0.0, 0.0, 0.0, 0.1, 0.0)


def test_underlying_input_needs_a_venue_and_stores_tuples() -> None:
    err = raises(UnderlyingInput, Exposure("BTC", 0.0, 0.0, 0.0, 1.0), ORACLE)
    assert str(err) == "swaps: BTC: give at least one swap pool or perp venue"
    inp = UnderlyingInput(Exposure("BTC", 0.0, 0.0, 0.0, 1.0), ORACLE, [POOL], [])  # type: ignore[arg-type]
    assert inp.swaps == (POOL,) and inp.perps == () and inp.history == HedgeHistory()
    only_perp = UnderlyingInput(Exposure("BTC", 0.0, 0.0, 0.0, 1.0), ORACLE, perps=[PERP])  # type: ignore[arg-type]
    assert only_perp.perps == (PERP,) and isinstance(only_perp.perps, tuple)


def order(side: str, underlying: str = "ETH") -> HedgeOrder:
    return HedgeOrder(underlying, side, 2.5, 2.5, "perp", "m", 0.0, 1.0, 1.0,  # type: ignore[arg-type]
                      CostEstimate(0.0, 0.0, 0.0, 0.0))


def decision(underlying: str, o: HedgeOrder | None) -> Decision:
    band = Band("fixed", 1.0, 0.25, 0.5)
    return Decision(underlying, o, "band", 0.0, 1.0, 0.0, band, 0.0, 0.0,
                    (Reason("a", ""), Reason("b", "")), (GateResult("gas", True, Reason("gate_ok", "")),))


def test_order_signed_units_and_decision_band_properties() -> None:
    assert order("buy").signed_units == 2.5
    assert order("sell").signed_units == -2.5
    d = decision("ETH", None)
    assert (d.band_lower_units, d.band_upper_units, d.band_kind) == (0.75, 1.25, "fixed")
    assert d.reason_codes == ("a", "b")
    assert d.venues == ()


def test_plan_orders_and_lookup() -> None:
    eth, btc = order("buy"), order("sell", "BTC")
    plan = Plan((decision("ETH", eth), decision("SOL", None), decision("BTC", btc)))
    assert plan.orders == (eth, btc)
    assert plan.decision("BTC").order is btc
    assert plan.decision("SOL").order is None
    with pytest.raises(KeyError, match="DOGE"):
        plan.decision("DOGE")


# --------------------------------------------------------------------------- snapshot


def snapshot(**kw: Any) -> Snapshot:
    pool = PoolState("0xpool", "0xa", "0xb", 500, 2**96, 0, 10, 1, 2, 3, {-10: TickFees(-10, 4, 5, True)})
    base: dict[str, Any] = dict(
        chain_id=1, block_number=2, block_timestamp=3, owners=("0xo",),
        tokens={"0xa": TokenMeta("0xa", "A", 18)}, pools={"0xpool": pool},
        lps=(LpPosition(7, "0xo", "0xpool", "0xa", "0xb", 500, -10, 10, 2**200, 0, 0, 0, 0),),
        options=(), perp_markets={}, perps=(), feeds={}, twaps={},
        balances={("0xo", "0xa"): 10**30}, native_balances={"0xo": 5},
    )
    base.update(kw)
    return Snapshot(**base)


def test_snapshot_defaults_and_completeness() -> None:
    s = snapshot()
    assert (s.base_fee_wei, s.failures, s.round_trips, s.native_asset) == (0, (), 0, None)
    assert s.complete
    assert not dataclasses.replace(s, failures=(ReadFailure("lp 7", "reverted"),)).complete
    assert Snapshot(1, 2, 3, (), {}, {}, (), (), {}, (), {}, {}, {}).native_balances == {}


def test_snapshot_record_rows() -> None:
    rec = snapshot().to_record()
    assert rec["balances"] == [{"owner": "0xo", "token": "0xa", "amount": 10**30}]
    assert rec["native_balances"] == [{"owner": "0xo", "amount": 5}]
    assert rec["pools"]["0xpool"]["ticks"] == [{"tick": -10, "fee_growth_outside0_x128": 4,
                                                "fee_growth_outside1_x128": 5, "initialized": True}]
    assert rec["pools"]["0xpool"]["sqrt_price_x96"] == 2**96
    assert rec["lps"][0]["liquidity"] == 2**200  # big integers stay ints
    assert rec["block_number"] == 2


def test_option_net_amount_and_feed_price() -> None:
    o = OptionPosition("otc:x", 1, "0xo", "ETH", 3000 * 10**8, 10, True, 3 * 10**18, 5 * 10**18)
    assert o.net_amount == -2 * 10**18
    assert FeedReading("ETH", "0xf", 301_234_000_000, 8, 0, 1).price == 3012.34
    assert FeedReading("X", "0xf", 5, 0, 0, 1).price == 5.0


def test_fmt_bps_scales_by_exactly_ten_thousand() -> None:
    assert fmt_bps(0.1) == "1000.0 bps"
    assert fmt_bps(-0.25) == "-2500.0 bps"
