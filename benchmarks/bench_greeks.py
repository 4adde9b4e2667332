"""Throughput of delta+gamma+vega together (the hedging hot path), against scalar loops.

Lines: greeks.n1e3 / n1e5 / n1e6 (options/s, anchored on a QuantLib scalar loop
over 10,000 options measured in the same run: per option, set the spot and vol
quotes, build a EuropeanOption with the AnalyticEuropeanEngine and ask delta,
gamma and vega -- the same usage as the test oracle); greeks.n1e6_out (the 1e6
book into preallocated outputs); for context, a bare QuantLib BlackCalculator
loop and a py_vollib loop (greeks.py_vollib_loop_n1e4).
Run: ``python benchmarks/bench_greeks.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

import numpy as np
from numpy.typing import NDArray

from benchmarks._common import best_time, emit, emit_error
from keeper.core._bs_kernel import PARALLEL_MIN, default_threads
from keeper.core.options import DeltaGammaVega, bs_delta_gamma_vega

R, Q = 0.04, 0.0
LOOP_N = 10_000


def book(n: int, seed: int = 1) -> tuple[NDArray[np.float64], ...]:
    """A plausible option book: spot near 3000, strikes log-normal around it, 1 day to 1 year."""
    rng = np.random.default_rng(seed)
    spot = rng.uniform(2900.0, 3100.0, n)
    strike = 3000.0 * np.exp(rng.normal(0.0, 0.25, n))
    t = rng.uniform(1.0 / 365.0, 1.0, n)
    sigma = rng.uniform(0.3, 1.2, n)
    call = (rng.random(n) < 0.5).astype(np.float64)
    return spot, strike, t, sigma, call


def quantlib_loop_rate() -> float:
    """Options/s of a plain QuantLib loop: set the quotes, build the option, ask delta, gamma, vega."""
    import QuantLib as ql  # noqa: N813  (the customary alias)

    spot, strike, t, sigma, call = book(LOOP_N, seed=2)
    today = ql.Date(2, 1, 2024)
    ql.Settings.instance().evaluationDate = today
    dc = ql.Actual365Fixed()
    s_q, v_q = ql.SimpleQuote(3000.0), ql.SimpleQuote(0.5)
    process = ql.BlackScholesMertonProcess(
        ql.QuoteHandle(s_q),
        ql.YieldTermStructureHandle(ql.FlatForward(today, Q, dc)),
        ql.YieldTermStructureHandle(ql.FlatForward(today, R, dc)),
        ql.BlackVolTermStructureHandle(ql.BlackConstantVol(today, ql.NullCalendar(), ql.QuoteHandle(v_q), dc)),
    )
    engine = ql.AnalyticEuropeanEngine(process)
    days = np.maximum(1, np.round(t * 365.0)).astype(int)

    def run() -> None:
        for i in range(LOOP_N):
            s_q.setValue(float(spot[i]))
            v_q.setValue(float(sigma[i]))
            kind = ql.Option.Call if call[i] else ql.Option.Put
            opt = ql.EuropeanOption(ql.PlainVanillaPayoff(kind, float(strike[i])),
                                    ql.EuropeanExercise(today + int(days[i])))
            opt.setPricingEngine(engine)
            opt.delta()
            opt.gamma()
            opt.vega()

    return LOOP_N / best_time(run, repeat=3)


def quantlib_black_calculator_rate() -> float:
    """Options/s of QuantLib's bare ``BlackCalculator`` per option (no engine, no term structures)."""
    import QuantLib as ql  # noqa: N813  (the customary alias)

    spot, strike, t, sigma, call = book(LOOP_N, seed=2)
    fwd = spot * np.exp((R - Q) * t)
    std = sigma * np.sqrt(t)
    disc = np.exp(-R * t)

    def run() -> None:
        for i in range(LOOP_N):
            kind = ql.Option.Call if call[i] else ql.Option.Put
            bc = ql.BlackCalculator(ql.PlainVanillaPayoff(kind, float(strike[i])), float(fwd[i]),
                                    float(std[i]), float(disc[i]))
            bc.delta(float(spot[i]))
            bc.gamma(float(spot[i]))
            bc.vega(float(t[i]))

    return LOOP_N / best_time(run, repeat=3)


def py_vollib_loop_rate() -> float:
    """Options/s of py_vollib's analytical BSM greeks called once per option (three calls)."""
    from py_vollib.black_scholes_merton.greeks import analytical as pv

    spot, strike, t, sigma, call = book(LOOP_N, seed=3)
    flags = ["c" if c else "p" for c in call]

    def run() -> None:
        for i in range(LOOP_N):
            args = (flags[i], float(spot[i]), float(strike[i]), float(t[i]), R, float(sigma[i]), Q)
            pv.delta(*args)
            pv.gamma(*args)
            pv.vega(*args)

    return LOOP_N / best_time(run, repeat=3)


def main() -> None:
    try:
        ql_rate = quantlib_loop_rate()
        emit("greeks.quantlib_loop_n1e4", ql_rate, "options/s")
    except ImportError as exc:
        ql_rate = float("nan")
        emit_error("greeks.quantlib_loop_n1e4", f"QuantLib not importable: {exc}")
    for label, n, repeat in (("n1e3", 1_000, 200), ("n1e5", 100_000, 30), ("n1e6", 1_000_000, 15)):
        spot, strike, t, sigma, call = book(n)
        is_call = call > 0

        def run(spot: NDArray[np.float64] = spot, strike: NDArray[np.float64] = strike,
                t: NDArray[np.float64] = t, sigma: NDArray[np.float64] = sigma,
                is_call: NDArray[np.bool_] = is_call) -> None:
            bs_delta_gamma_vega(spot, strike, t, sigma, R, Q, is_call)

        rate = n / best_time(run, repeat=repeat, warmup=2)
        emit(f"greeks.{label}", rate, "options/s", anchor="quantlib", anchor_value=ql_rate,
             threads=default_threads() if n >= PARALLEL_MIN else 1)
    # the same 1e6 book written into preallocated outputs (a keeper revaluing one book each cycle)
    spot, strike, t, sigma, call = book(1_000_000)
    is_call = call > 0
    out = DeltaGammaVega(np.empty(spot.size), np.empty(spot.size), np.empty(spot.size))
    seconds = best_time(lambda: bs_delta_gamma_vega(spot, strike, t, sigma, R, Q, is_call, out=out),
                        repeat=15, warmup=2)
    emit("greeks.n1e6_out", spot.size / seconds, "options/s", anchor="quantlib", anchor_value=ql_rate)
    try:
        emit("greeks.quantlib_blackcalculator_loop_n1e4", quantlib_black_calculator_rate(), "options/s")
    except ImportError as exc:
        emit_error("greeks.quantlib_blackcalculator_loop_n1e4", f"QuantLib not importable: {exc}")
    try:
        emit("greeks.py_vollib_loop_n1e4", py_vollib_loop_rate(), "options/s")
    except ImportError as exc:
        emit_error("greeks.py_vollib_loop_n1e4", f"py_vollib not importable: {exc}")


if __name__ == "__main__":
    main()
