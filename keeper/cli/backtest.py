"""``keeper backtest``: compare hedging policies by cost and risk on simulated or historical prices.

Exit codes: 0 done; 1 a run-time failure; 2 bad usage, input or config.

The book: ``--from-chain [--block N]`` reads the treasury's book with the keeper's own reader
(the config's chain, treasury and positions; no key needed) and values it as ``keeper plan``
does: the underlying's LPs with their exact ranges, liquidity and pool basis, options at the
plan's vols, perps with their entry and funding rate, wallet balances; the paths start at the
feed's price at the block, and the starting book's value, delta and gamma are reported next to
the plan's (``meta.start``). LPs earn fees that break even with their LVR at the model vol.
Otherwise ``--book FILE`` (JSON, see :func:`keeper.backtest.book.book_from_dict`), else the
config's OTC options of the underlying (``positions.otc_file``), else the standard book (short
30-day ATM calls plus a narrow LP): these touch no chain. The configured policy (``--config``)
joins the comparison as ``config``, and its target delta is every policy's target.

Policies with identical results on every path (at ``--step 1d`` every interval up to 24h
hedges at every step) are reported as one group with a warning and never ranked.

Delta flavours (``--delta-flavours sticky-strike,sticky-moneyness,minimum-variance``): each
policy runs once per flavour, hedging the book delta that flavour gives its options. Only
``--model heston`` has a smile: options are marked at exact Heston prices, their implied vols
inverted from them; minimum-variance (Hull-White) coefficients are fitted on a separate
calibration draw of the same model, never on the test paths. Under the flat-vol models (gbm,
garch, merton, csv) every flavour is the Black-Scholes delta, so flavours other than
sticky-strike are rejected there. Default: the config's ``delta_flavour`` of the underlying under
heston, else sticky-strike.

Cost of heston: each option leg is priced on every path at every step, ~25 ms per step and leg
per 1,000 paths on one core (~2.5x with sticky-moneyness, which also prices two neighbouring
strikes), plus the minimum-variance calibration (~1 s). Measured on 2 cores, the standard book
(one option leg), all three flavours, 2,000 paths x 30 days: daily steps ~7 s, hourly steps ~90 s.
For hourly or finer steps prefer a few hundred paths or --step 1d.

Engine: Dask. Paths run in seeded chunks (results bit-identical whatever the workers) on a local
cluster of this machine's cores (--workers processes), or on a cluster given by --scheduler
tcp://HOST:8786 (else the environment's KEEPER_DASK_SCHEDULER): start `dask scheduler` on one
machine and `dask worker tcp://HOST:8786 --nworkers -1 --nthreads 1` on each (the keeper
installed there, the same version). A lost worker's chunks are re-run on the others. A progress
bar counts finished chunks on stderr when it is a terminal (--quiet: none).

Sweeps: --sweep KEY=VALUES, once per key. Values: a,b,c; lo..hi:n (n values log-spaced, 0 < lo);
log:lo..hi:n (the same); lin:lo..hi:n (evenly spaced). Policy keys (each value one policy, joined
to --policies, which defaults to none when a policy key is swept): ww.risk_aversion_per_usd
(1/USD), ww.risk (relative), band_units (underlying units), band_bps, interval_h. Model keys (every
combination one scenario, each with its own table, report and plots; the book stays the one built
at --vol): vol (gbm, garch, merton), heston.v0 / kappa / theta / xi / rho, fee_bps, liquidity,
gas_usd. Example: --sweep "ww.risk_aversion_per_usd=1e-6..1e-2:20" --sweep "band_units=5,10,20"
--sweep "vol=0.4,0.8".
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from keeper.cli.args import positive_int, sweep_axis
from keeper.cli.backtest_rules import add_rule_flags, market_from_args, rules_meta, with_rule_limits
from keeper.cli.exit_codes import EXIT_ERROR, EXIT_OK, EXIT_USAGE
from keeper.errors import ConfigError, InputError, KeeperError

__all__ = ["add_parsers", "cmd_backtest", "main"]

_HESTON_ARGS = (("v0", 0.36, "initial variance per year (0.36 = 60 %% vol)"),
                ("kappa", 3.0, "mean-reversion speed of the variance, per year"),
                ("theta", 0.36, "long-run variance per year"),
                ("xi", 1.2, "vol of variance"),
                ("rho", -0.6, "spot-variance correlation, in (-1, 1); < 0 is the usual crypto/equity skew"))


def add_parsers(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``backtest`` on an ``argparse`` subparsers object; returns its parser."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "backtest", help="compare hedging policies by cost and risk on simulated or historical prices",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", "-c", default=None, help="TOML config: the configured policy, OTC options, vol")
    p.add_argument("--model", choices=("gbm", "garch", "merton", "heston", "csv"), default="gbm",
                   help="price model (heston: stochastic vol with a smile, needed by --delta-flavours)")
    p.add_argument("--csv", default=None, help="CSV of timestamp,price rows (with --model csv)")
    p.add_argument("--paths", type=int, default=2000, help="simulated paths (default 2000)")
    p.add_argument("--days", type=float, default=30.0, help="horizon in days (default 30)")
    p.add_argument("--step", default="1h", help="time step: 1h, 15m, 1d or seconds (default 1h)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="folder for report.json and the PNG plots")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the table")
    p.add_argument("--policies", nargs="+", default=None,
                   help="none, config, interval:4h, band:200bps, ww:3, or the groups intervals, bands, ww, all "
                        "(default all; none when --sweep sweeps a policy key)")
    p.add_argument("--underlying", default=None, help="asset symbol (default: the config's first, else ETH)")
    p.add_argument("--book", default=None, help="JSON book: options, lps, perps, spot_units")
    p.add_argument("--from-chain", action="store_true",
                   help="the treasury's book read on chain through the keeper's reader (needs --config)")
    p.add_argument("--block", type=int, default=None, help="with --from-chain: read at this block (default latest)")
    p.add_argument("--spot", type=float, default=None,
                   help="start price of simulated paths (default 3000; --from-chain: the feed's price)")
    p.add_argument("--vol", type=float, default=None,
                   help="annual vol (default: the config's fixed vol, else 0.6); under heston (default sqrt(theta)) "
                        "only the LPs' fee vol and the LVR formula use it")
    p.add_argument("--fee-bps", type=float, default=5.0, help="hedge pool fee tier, bps (default 5)")
    p.add_argument("--liquidity", type=float, default=2e7, help="hedge pool active liquidity, human units")
    p.add_argument("--gas-usd", type=float, default=0.5, help="gas per hedge swap, quote (default 0.5)")
    p.add_argument("--workers", type=positive_int, default=None,
                   help="worker processes of the local Dask cluster (default: the available cores; 1: in this "
                        "process; not with --scheduler)")
    p.add_argument("--scheduler", default=None,
                   help="Dask scheduler address, tcp://HOST:8786 (default: $KEEPER_DASK_SCHEDULER, else a local "
                        "cluster)")
    p.add_argument("--sweep", action="append", type=sweep_axis, default=[], metavar="KEY=VALUES",
                   help="sweep a policy or model parameter: ww.risk_aversion_per_usd=1e-6..1e-2:20, "
                        "band_units=5,10,20, vol=lin:0.3..0.9:4 (see above); once per key")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.add_argument("--chosen", default=None, help="policy for the delta plot (default: the lowest CVaR)")
    p.add_argument("--delta-flavours", default=None,
                   help="comma list of sticky-strike, sticky-moneyness, minimum-variance: each policy runs once "
                        "per flavour (non-sticky-strike flavours need --model heston; default: the config's "
                        "delta_flavour under heston, else sticky-strike)")
    for name, default, text in _HESTON_ARGS:
        p.add_argument(f"--{name}", type=float, default=None, help=f"heston {text} (default {default:g})")
    p.add_argument("--calibration-paths", type=int, default=1000,
                   help="heston paths of the separate calibration draw of the minimum-variance fit (default 1000)")
    add_rule_flags(p)
    p.set_defaults(func=cmd_backtest)
    return p


def _load_config(path: str | None) -> Any:
    if path is None:
        return None
    from keeper.config import load_config

    return load_config(Path(path))


# Long on purpose: one branch per backtest flag combination; each error names its flag.
def _build(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:  # noqa: C901, PLR0912, PLR0915
    from keeper.backtest.book import Book, OptionLeg, book_from_dict, standard_book
    from keeper.backtest.chain_book import chain_book
    from keeper.backtest.engine import CostModel
    from keeper.backtest.flavours import FLAVOUR_LABELS
    from keeper.backtest.parallel import BacktestJob
    from keeper.backtest.paths import (
        GarchModel,
        GBMModel,
        MertonModel,
        PathModel,
        load_price_csv,
        parse_step,
        time_grid,
    )
    from keeper.backtest.policies import parse_policies, with_flavours
    from keeper.backtest.sweep import check_axes, sweep_policies
    from keeper.cycle.sources import otc_positions

    _check_book_source(args)
    cfg = _load_config(args.config)
    sym = args.underlying or (cfg.symbols[0] if cfg is not None and cfg.symbols else "ETH")
    if cfg is not None and sym not in cfg.symbols:
        raise InputError("underlying", f"{sym!r} is not an asset of the config ({', '.join(cfg.symbols)})")
    heston = _heston(args)
    chain = _read_chain(cfg, args.block, sym) if args.from_chain else None
    if heston is not None and args.vol is None:
        vol = heston.annual_vol
    elif chain is not None and args.vol is None:
        vol = chain[2]
    else:
        vol = args.vol if args.vol is not None else (cfg.vol.fixed.get(sym, 0.6) if cfg is not None else 0.6)
    if not 0.0 < vol < 10.0:
        raise InputError("vol", f"must be in (0, 10), got {vol!r}")
    from_chain = chain_book(chain[0], chain[1], sym, lp_fee_vol=vol) if chain is not None else None
    if args.paths < 1:
        raise InputError("paths", f"must be >= 1, got {args.paths}")
    series = None
    model: PathModel | None = None
    spot = from_chain.spot if from_chain is not None else (args.spot if args.spot is not None else 3000.0)
    if args.model == "csv":
        if not args.csv:
            raise InputError("csv", "--model csv needs --csv FILE")
        series = load_price_csv(args.csv)
        spot = float(series.prices[0])
        seconds = series.seconds
        start = float(series.timestamps[0])
    else:
        if args.csv:
            raise InputError("csv", "--csv needs --model csv")
        model = heston if heston is not None else {"gbm": GBMModel(vol), "garch": GarchModel(vol),
                                                   "merton": MertonModel(vol)}[args.model]
        seconds = time_grid(args.days, parse_step(args.step))
        start = time.time()
    book: Book
    if from_chain is not None:
        book = from_chain.book
    elif args.book:
        try:
            data = json.loads(Path(args.book).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError("book", f"{args.book}: {exc}") from None
        book = book_from_dict(data, spot=spot, vol=vol, underlying=sym)
    else:
        otc = [o for o in (otc_positions(cfg) if cfg is not None else ()) if o.underlying == sym and o.expiry > start]
        if otc:
            legs = tuple(OptionLeg(o.net_amount / 1e18, o.strike / 1e8, o.expiry - start, not o.is_put, vol)
                         for o in otc)
            book = Book(sym, options=legs, description=f"{len(legs)} OTC option series from the config")
        else:
            book = standard_book(spot, vol, days=args.days if series is None else float(seconds[-1]) / 86_400.0)
    configured = cfg.policy_config().for_underlying(sym) if cfg is not None else None
    target = configured.target_delta_units if configured is not None else 0.0
    flavours = _flavours(args, cfg, sym)
    axes = list(args.sweep)
    check_axes(axes, args.model)
    swept = sweep_policies([a for a in axes if a.is_policy], book.gross_value(spot), target)
    names = args.policies if args.policies is not None else (["none"] if swept else ["all"])
    chosen: dict[str, Any] = {}
    for s in (*parse_policies(names, book.gross_value(spot), configured, target), *swept):
        chosen.setdefault(s.name, s)
    specs = with_flavours(tuple(chosen.values()), flavours)
    specs = with_rule_limits(specs, args, configured)
    market = market_from_args(args, cfg)
    costs = CostModel(args.fee_bps * 1e-4, args.liquidity, args.gas_usd, market)
    if args.calibration_paths < 10:
        raise InputError("--calibration-paths", f"must be >= 10, got {args.calibration_paths}")
    job = BacktestJob(book, specs, costs, seconds, spot, vol, model=model, series=series, n_paths=args.paths,
                      seed=args.seed, calibration_paths=args.calibration_paths)
    meta: dict[str, Any] = {"underlying": sym, "book": book.description, "model": args.model, "vol": vol,
                            "seed": args.seed, "fee_bps": args.fee_bps, "liquidity": args.liquidity,
                            "gas_quote": args.gas_usd, "config": args.config, "csv": args.csv,
                            "step": None if series is not None else args.step, "spot": spot,
                            "rules": rules_meta(market, specs), "quote": cfg.quote.symbol if cfg is not None else "USD"}
    if from_chain is not None:
        meta["start"] = _start_record(from_chain)
    if heston is not None:
        meta["heston"] = {k: getattr(heston, k) for k in ("v0", "kappa", "theta", "xi", "rho")}
        meta["delta_flavours"] = [FLAVOUR_LABELS[f] for f in flavours]
    if axes:
        meta["sweep"] = {a.key: list(a.values) for a in axes}
    return job, meta


def _check_book_source(args: argparse.Namespace) -> None:
    """Flags that only make sense with, or never with, ``--from-chain`` (each error names them)."""
    if not args.from_chain:
        if args.block is not None:
            raise InputError("--block", "only used with --from-chain (the block the book is read at)")
        return
    if args.book:
        raise InputError("--from-chain", "--from-chain and --book are two sources of the book: give one")
    if args.config is None:
        raise InputError("--from-chain", "needs --config (the chain, the treasury and the positions to read)")
    if args.spot is not None:
        raise InputError("--spot", "not with --from-chain: the paths start at the feed's price at the block")
    if args.model == "csv":
        raise InputError("--from-chain", "not with --model csv: the book is valued at the feed's price at the "
                                         "block, a CSV's prices start elsewhere")
    if args.block is not None and args.block < 0:
        raise InputError("--block", f"must be >= 0, got {args.block}")


def _read_chain(cfg: Any, block: int | None, sym: str) -> tuple[Any, Any, float]:
    """The snapshot at ``block`` (latest: ``None``), its book valued as ``keeper plan`` values it, and the
    plan's model vol of ``sym``."""
    from keeper.cycle.compose import build_keeper
    from keeper.errors import ChainError
    from keeper.journal import Journal

    journal = Journal.memory()
    try:
        k = build_keeper(cfg, env=dict(os.environ), live=False, journal=journal, need_key=False)
        snap = k.reader.read(block=block, chain_id=cfg.chain.chain_id)
        if not snap.complete:
            failed = "; ".join(f"{f.what}: {f.reason}" for f in snap.failures)
            raise ChainError(f"the book at block {snap.block_number} was not read in full ({failed}): "
                             "a backtest of part of it would be misleading")
        risk, _plan = k.plan(snap)
        vols = k.planner().vols(snap)
    finally:
        journal.close()
    return snap, risk, vols[sym]


def _start_record(chain: Any) -> dict[str, Any]:
    """The starting book as the backtest marks it (flat vols), next to the plan's greeks at the same block."""
    from keeper.backtest.chain_book import start_marks

    m = start_marks(chain.book, chain.spot)
    p = chain.plan
    return {"block": chain.block, "block_timestamp": chain.block_timestamp, "spot_usd": chain.spot,
            "backtest": {"value_usd": m.value, "delta_units": m.delta, "gamma_units_per_usd": m.gamma},
            "plan": {"value_usd": p.value, "delta_units": p.delta, "gamma_units_per_usd": p.gamma},
            "plan_delta_adjustment_units": chain.delta_adjustment}


def _heston(args: argparse.Namespace) -> Any:
    """The Heston model of ``--model heston`` (each parameter checked, naming its flag), else ``None``."""
    from keeper.backtest.paths import HestonModel

    given = [name for name, _, _ in _HESTON_ARGS if getattr(args, name) is not None]
    if args.model != "heston":
        if given:
            raise InputError(f"--{given[0]}", "only used with --model heston")
        return None
    values: dict[str, float] = {}
    for name, default, _ in _HESTON_ARGS:
        v = getattr(args, name)
        v = default if v is None else float(v)
        ok = -1.0 < v < 1.0 if name == "rho" else (v > 0.0 and v < 1e6)
        if not (math.isfinite(v) and ok):
            raise InputError(f"--{name}", f"must be {'in (-1, 1)' if name == 'rho' else 'finite and > 0'}, got {v!r}")
        values[name] = v
    return HestonModel(**values)


def _flavours(args: argparse.Namespace, cfg: Any, sym: str) -> Any:
    from keeper.backtest.flavours import parse_flavours

    if args.delta_flavours is None:
        surfaces = cfg.vol.surfaces if cfg is not None else {}
        if args.model == "heston" and sym in surfaces:
            return (surfaces[sym].delta_flavour,)
        return ("sticky_strike",)
    flavours = parse_flavours(args.delta_flavours, "--delta-flavours")
    if args.model != "heston" and flavours != ("sticky_strike",):
        raise InputError("--delta-flavours", f"needs --model heston: under {args.model} every option is priced at "
                                             "one flat vol (no smile, no vol move), so every flavour is the "
                                             "Black-Scholes delta (sticky-strike)")
    return flavours


def _show_progress(args: argparse.Namespace, job: Any) -> bool:
    """The bar on stderr: on a terminal, not ``--quiet``, and for runs long enough to want one."""
    if args.quiet or not sys.stderr.isatty():
        return False
    if args.sweep or args.scheduler or os.environ.get("KEEPER_DASK_SCHEDULER"):
        return True
    long_run: bool = job.n_paths * job.steps * len(job.specs) >= 5_000_000
    if args.model == "heston":  # pricing dominates: ~25 ms per 1,000 paths, step and leg (x3 sticky-moneyness)
        legs = len(job.book.options) * (3 if "sticky_moneyness" in job.flavours else 1)
        long_run = long_run or job.n_paths * job.steps * legs >= 100_000
    return long_run


def _print_table(args: argparse.Namespace, meta: dict[str, Any], result: Any, report: Any, doc: dict[str, Any]) -> None:
    from keeper.backtest.report import format_table

    model = args.model
    if "heston" in meta:
        model += " " + " ".join(f"{k}={v:g}" for k, v in meta["heston"].items())
        model += f" [{', '.join(meta['delta_flavours'])}]"
    if "scenario" in meta:
        print(f"scenario {meta['scenario']}:")
    engine = "" if result.engine == "in-process" else f" ({result.engine})"
    job = result.job
    print(f"{meta['book']}; {model}, {len(result.lvr)} paths x {job.steps} steps, vol {job.sigma:g}, "
          f"fee {job.costs.fee_fraction * 1e4:g} bps; {result.elapsed_s:.1f} s on {result.workers} worker(s){engine}")
    if "start" in meta:
        st, bt, pl = meta["start"], meta["start"]["backtest"], meta["start"]["plan"]
        print(f"start at block {st['block']}, spot {st['spot_usd']:,.2f}: value {bt['value_usd']:,.2f}, "
              f"delta {bt['delta_units']:,.6f}, gamma {bt['gamma_units_per_usd']:.6g} (plan: "
              f"{pl['value_usd']:,.2f}, {pl['delta_units']:,.6f}, {pl['gamma_units_per_usd']:.6g})")
    print(format_table(report))
    for f in doc.get("files", []):
        print(f"wrote {f}")


def cmd_backtest(args: argparse.Namespace) -> int:
    """Run the backtest (every sweep scenario); print the tables (or JSON); write report.json and the PNGs to
    ``--out`` (one folder per scenario when the sweep has several)."""
    from keeper.backtest.parallel import BacktestResult, run_backtests
    from keeper.backtest.report import build_report, report_json
    from keeper.backtest.sweep import apply_scenario, scenarios

    try:
        if args.scheduler is not None and args.workers is not None:
            raise InputError("--workers", "sizes the local cluster; with --scheduler the cluster has its own workers")
        base, meta = _build(args)
        cases = scenarios(args.sweep)
        jobs = [apply_scenario(base, sc) for sc in cases]
        docs: list[dict[str, Any] | None] = [None] * len(jobs)
        shown: list[tuple[Any, Any] | None] = [None] * len(jobs)

        def done(j: int, result: BacktestResult) -> None:  # as each scenario's last chunk comes in
            m = dict(meta)
            if len(cases) > 1 or cases[0].settings:
                m["scenario"] = cases[j].label
                m["scenario_settings"] = dict(cases[j].settings)
                m["vol"] = result.job.sigma
                m["fee_bps"] = result.job.costs.fee_fraction * 1e4
                m["liquidity"] = result.job.costs.liquidity
                m["gas_quote"] = result.job.costs.gas_quote
            report = build_report(result, chosen=args.chosen, meta=m)
            doc = report_json(report)
            if args.out:
                from keeper.backtest.plots import write_plots

                out = Path(args.out) / cases[j].slug if len(cases) > 1 else Path(args.out)
                out.mkdir(parents=True, exist_ok=True)
                (out / "report.json").write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
                doc["files"] = [str(out / "report.json"), *map(str, write_plots(result, report, out))]
            docs[j], shown[j] = doc, (result, report)

        run_backtests(jobs, workers=args.workers, scheduler=args.scheduler,
                      progress=_show_progress(args, base), on_result=done)
        if args.json:
            full = [d for d in docs if d is not None]
            print(json.dumps(full[0] if len(full) == 1 else {"scenarios": full}, indent=2))
        else:
            for n, (d, sh) in enumerate((d, sh) for d, sh in zip(docs, shown, strict=True) if d and sh):
                print("\n" if n else "", end="")
                _print_table(args, d["meta"], sh[0], sh[1], d)
        return EXIT_OK
    except (InputError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (KeeperError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR


def main(argv: list[str] | None = None) -> int:
    """``python -m keeper.cli.backtest backtest ...`` (the keeper CLI registers the same parser)."""
    parser = argparse.ArgumentParser(prog="keeper")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parsers(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
