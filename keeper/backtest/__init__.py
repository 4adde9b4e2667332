"""Backtests of hedging policies: the keeper's own pure policy code on simulated and historical prices.

Modules: :mod:`~keeper.backtest.paths` (GBM, GARCH, Merton, Heston, CSV), :mod:`~keeper.backtest.book`
(options, LPs, perps), :mod:`~keeper.backtest.flavours` (Heston option marks and the delta flavours),
:mod:`~keeper.backtest.market` (the feed, TWAP, gas and perp the keeper's rules read),
:mod:`~keeper.backtest.engine` (vectorized over paths),
:mod:`~keeper.backtest.policies` (the comparison set), :mod:`~keeper.backtest.metrics`,
:mod:`~keeper.backtest.report`, :mod:`~keeper.backtest.plots`, :mod:`~keeper.backtest.parallel` (on Dask),
:mod:`~keeper.backtest.sweep` (``--sweep`` grids of policies and models),
:mod:`~keeper.backtest.frontier` (``keeper report``'s policy frontier),
:mod:`~keeper.cli.backtest` (``keeper backtest``).
"""

from __future__ import annotations

from keeper.backtest.book import Book, LPLeg, OptionLeg, PerpLeg, book_from_dict, standard_book
from keeper.backtest.engine import CostModel, PolicySpec, run_paths
from keeper.backtest.flavours import calibrate_min_variance, heston_marks, parse_flavours
from keeper.backtest.market import MarketModel, PerpModel
from keeper.backtest.parallel import BacktestJob, BacktestResult, run_backtest, run_backtests
from keeper.backtest.paths import (
    GarchModel,
    GBMModel,
    HestonModel,
    MertonModel,
    PriceSeries,
    load_price_csv,
    time_grid,
)
from keeper.backtest.policies import comparison_set, parse_policies, with_flavours
from keeper.backtest.report import BacktestReport, build_report, format_table, report_json

__all__ = [
    "BacktestJob",
    "BacktestReport",
    "BacktestResult",
    "Book",
    "CostModel",
    "GBMModel",
    "GarchModel",
    "HestonModel",
    "LPLeg",
    "MarketModel",
    "MertonModel",
    "OptionLeg",
    "PerpLeg",
    "PerpModel",
    "PolicySpec",
    "PriceSeries",
    "book_from_dict",
    "build_report",
    "calibrate_min_variance",
    "comparison_set",
    "format_table",
    "heston_marks",
    "load_price_csv",
    "parse_flavours",
    "parse_policies",
    "report_json",
    "run_backtest",
    "run_backtests",
    "run_paths",
    "standard_book",
    "time_grid",
    "with_flavours",
]
