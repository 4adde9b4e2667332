"""Backtests of hedging policies: the keeper's own pure policy code on simulated and historical prices.

Modules: :mod:`~keeper.backtest.paths` (GBM, GARCH, Merton, CSV), :mod:`~keeper.backtest.book`
(options, LPs, perps), :mod:`~keeper.backtest.engine` (vectorized over paths),
:mod:`~keeper.backtest.policies` (the comparison set), :mod:`~keeper.backtest.metrics`,
:mod:`~keeper.backtest.report`, :mod:`~keeper.backtest.plots`, :mod:`~keeper.backtest.parallel`,
:mod:`~keeper.backtest.cli` (``keeper backtest``).
"""

from __future__ import annotations

from keeper.backtest.book import Book, LPLeg, OptionLeg, PerpLeg, book_from_dict, standard_book
from keeper.backtest.engine import CostModel, PolicySpec, run_paths
from keeper.backtest.parallel import BacktestJob, BacktestResult, run_backtest
from keeper.backtest.paths import GarchModel, GBMModel, MertonModel, PriceSeries, load_price_csv, time_grid
from keeper.backtest.policies import comparison_set, parse_policies
from keeper.backtest.report import BacktestReport, build_report, format_table, report_json

__all__ = [
    "BacktestJob",
    "BacktestReport",
    "BacktestResult",
    "Book",
    "CostModel",
    "GBMModel",
    "GarchModel",
    "LPLeg",
    "MertonModel",
    "OptionLeg",
    "PerpLeg",
    "PolicySpec",
    "PriceSeries",
    "book_from_dict",
    "build_report",
    "comparison_set",
    "format_table",
    "load_price_csv",
    "parse_policies",
    "report_json",
    "run_backtest",
    "run_paths",
    "standard_book",
    "time_grid",
]
