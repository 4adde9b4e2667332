"""``keeper report``: the risk manager's report for the DAO, from the journal and the chain's state now.

Writes ``report.html`` (self-contained), ``report.md`` (for a forum post) and ``report.json`` into
``--out``; all three come from one model (:mod:`keeper.view.dao_report`), so their numbers agree.
``--since`` / ``--until`` are on the chain's clock (block timestamps).

The policy frontier: after reading the chain, a small backtest of each underlying's book as read at
the head (``--frontier-paths`` paths of the config's vol model at the plan's vol over
``--frontier-days``, hourly steps, hedges priced on the configured venue read at the head;
:mod:`keeper.backtest.frontier`), progress on stderr; ``--no-frontier`` skips it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from keeper.errors import InputError
from keeper.journal import Journal
from keeper.journal.codec import to_jsonable

__all__ = ["FORMATS", "add_parser", "cmd_report", "parse_formats", "parse_time"]

FORMATS = ("html", "md", "json")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


def parse_time(text: str, flag: str, head_ts: int) -> int:
    """A time on the chain's clock: unix seconds (``1767225600``), an ISO 8601 date or time (UTC unless it
    says otherwise: ``2026-12-01``, ``2026-12-01T12:00:00Z``), or a duration back from the head block's
    timestamp (``7d``, ``24h``, ``90m``, ``2w``). Errors name ``flag``."""
    t = text.strip()
    if re.fullmatch(r"\d+", t):
        return int(t)
    m = _DURATION.fullmatch(t)
    if m:
        return head_ts - round(float(m.group(1)) * _UNIT_S[m.group(2)])
    try:
        when = datetime.fromisoformat(t.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(flag, f"expected unix seconds, an ISO 8601 date/time (UTC by default) or a duration back "
                               f"from the head block such as 7d, 24h, 90m; got {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp())


def parse_formats(text: str) -> tuple[str, ...]:
    """``html,md,json`` (any non-empty subset, comma separated); errors name ``--format``."""
    parts = tuple(dict.fromkeys(p.strip().lower() for p in text.split(",") if p.strip()))
    bad = [p for p in parts if p not in FORMATS]
    if not parts or bad:
        raise InputError("--format", f"expected a comma-separated subset of {','.join(FORMATS)}, got {text!r}"
                         + (f" ({', '.join(map(repr, bad))} unknown)" if bad else ""))
    return parts


def _frontier(k: Any, cfg: Any, snap: Any, risk: Any, *, paths: int, days: float) -> tuple[list[Any], str]:
    """The backtest of each underlying's book at the head (progress on stderr), and the section's lead text.
    An underlying the backtest cannot take (nothing held, a carry option) is named in the text, not hidden.
    Paths follow the config's vol model, hedges are priced on the configured venue as read at the head
    (:func:`keeper.backtest.frontier.path_model`, :func:`~keeper.backtest.frontier.venue_cost_model`)."""
    from keeper.backtest.frontier import frontier_job, path_model, policy_frontier, venue_cost_model
    from keeper.backtest.parallel import run_backtest
    from keeper.backtest.report import build_report as backtest_report

    if not snap.complete:
        return [], (f"Not computed: the book at block {snap.block_number} was not read in full; a backtest of part "
                    "of it would be misleading.")
    vols = k.planner().vols(snap)
    policies = cfg.policy_config()
    native = snap.feeds.get(k.native_asset)
    out, skipped = [], []
    for sym in (s for s in cfg.symbols if s in risk.summaries):
        configured = policies.for_underlying(sym)
        need = risk.summaries[sym].delta - configured.target_delta_units
        venue = venue_cost_model(snap, k.venues[sym], spot=risk.summaries[sym].spot, size_units=need,
                                 native_price=native.price if native is not None else None, tip_wei=k.tip_wei)
        model, model_text = path_model(k.vol_models[sym], snap, vols[sym])
        try:
            job = frontier_job(snap, risk, sym, vol=vols[sym], configured=configured, paths=paths, days=days,
                               costs=venue.costs, model=model)
        except InputError as exc:
            skipped.append(f"{sym} ({exc})")
            continue
        print(f"frontier {sym}: {len(job.specs)} policies x {paths} paths x {job.steps} steps ...", end="",
              file=sys.stderr, flush=True)
        result = run_backtest(job)
        print(f" {result.elapsed_s:.1f} s", file=sys.stderr, flush=True)
        out.append(policy_frontier(backtest_report(result, meta={"book": job.book.description, "vol": job.sigma,
                                                                  "spot": job.s0}), sym, days=days,
                                   venue=venue.description, model=model_text))
    text = (f"A backtest of the book read at block {snap.block_number}, per underlying: {paths} paths from the "
            f"feed's price over {days:g} days on the config's vol model ({cfg.vol.model}), hedged hourly by each "
            f"policy of `keeper backtest` (no hedge, fixed intervals, fixed bands, Whalley-Wilmott bands) and the "
            f"configured one, on the configured hedge venue as read at the block (the cheapest of the asset's hedge "
            f"pools and perp market for a trade of the book's distance to its target); money in {cfg.quote.symbol}.")
    if skipped:
        text += " Left out: " + "; ".join(skipped) + "."
    return out, text


def cmd_report(args: argparse.Namespace) -> int:
    from keeper.chain.multicall import Multicall
    from keeper.cli.commands import _journal, _keeper, _plan_record, load
    from keeper.ops.onchain import read_module, read_usage
    from keeper.view.dao_render import render_html, render_json, render_markdown
    from keeper.view.dao_report import ChainState, build_report

    formats = parse_formats(args.format)  # before any chain read: a typo fails fast
    if args.frontier_paths < 2:
        raise InputError("--frontier-paths", f"must be >= 2 (a std needs two paths), got {args.frontier_paths}")
    if not 0.0 < args.frontier_days <= 365.0:
        raise InputError("--frontier-days", f"must be in (0, 365], got {args.frontier_days}")
    cfg = load(args)
    journal = _journal(cfg)
    k = _keeper(cfg, live=False, need_key=False, journal=Journal.memory())
    snap = k.reader.read(chain_id=cfg.chain.chain_id)
    head = snap.block_timestamp
    since = parse_time(args.since, "--since", head) if args.since is not None else None
    until = parse_time(args.until, "--until", head) if args.until is not None else head + 1
    risk, plan = k.plan(snap)
    rec = _plan_record(k, snap, risk, plan)
    module = cfg.treasury.hedge_module if cfg.treasury.mode == "safe-module" else None
    params = usage = None
    paused = None
    if module is not None:
        mc = Multicall(k.rpc)
        state = read_module(mc, module, snap.block_number)
        params, paused = state.params, state.paused
        usage = read_usage(mc, module, snap.block_number)
    perp_abs_units: dict[str, float] = {}
    for p in rec["positions"]["perps"]:
        key = str(p["market"]).lower()
        perp_abs_units[key] = perp_abs_units.get(key, 0.0) + abs(float(p["size_units"]))
    chain = ChainState(chain_id=cfg.chain.chain_id, block=snap.block_number, block_timestamp=head,
                       quote_symbol=cfg.quote.symbol, greeks=rec["greeks"], scenarios=rec["scenarios"],
                       feeds_usd={a: f.price for a, f in snap.feeds.items()}, module_address=module, module=params,
                       usage=usage, module_paused=paused, perp_abs_units=perp_abs_units)
    frontier, frontier_text = ([], "Not computed (--no-frontier).") if args.no_frontier else \
        _frontier(k, cfg, snap, risk, paths=args.frontier_paths, days=args.frontier_days)
    model = build_report(journal, chain, since=since, until=until, frontier=frontier, frontier_text=frontier_text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if "html" in formats:
        written.append(out / "report.html")
        written[-1].write_text(render_html(model), encoding="utf-8")
    if "md" in formats:
        written.append(out / "report.md")
        written[-1].write_text(render_markdown(model), encoding="utf-8")
    if "json" in formats:
        written.append(out / "report.json")
        written[-1].write_text(json.dumps(to_jsonable(render_json(model)), indent=2, allow_nan=False) + "\n",
                               encoding="utf-8")
    t = model.totals["all"]
    print(f"report for block time {model.since} .. {model.until} (head block {snap.block_number}): "
          f"{model.cycles} cycle(s), {len(model.hedges)} hedge(s), costs {t['total_cost_usd']:,.2f} {cfg.quote.symbol} "
          f"(fees {t['fee_usd']:,.2f}, impact {t['impact_usd']:,.2f}, gas {t['gas_usd']:,.2f})")
    for p in written:
        print(f"  wrote {p}")
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    rp = sub.add_parser("report", help="the risk manager's report for the DAO: HTML, Markdown and JSON")
    rp.add_argument("--config", "-c", default="keeper.toml", help="TOML config (default: keeper.toml)")
    rp.add_argument("--since", default=None,
                    help="start, block time: unix s, ISO 8601 (UTC by default) or a duration back from the head "
                         "(7d, 24h); default: the journal's beginning")
    rp.add_argument("--until", default=None, help="end (exclusive), same forms; default: the head block")
    rp.add_argument("--out", default="keeper-report", help="directory to write into (default: ./keeper-report)")
    rp.add_argument("--format", default="html,md,json", help="comma-separated subset of html,md,json (default: all)")
    rp.add_argument("--frontier-paths", type=int, default=300,
                    help="paths of the backtest of the book for the policy frontier (default 300)")
    rp.add_argument("--frontier-days", type=float, default=7.0, help="its horizon in days, hourly steps (default 7)")
    rp.add_argument("--no-frontier", action="store_true", help="skip the backtest (no policy frontier section)")
    rp.set_defaults(func=cmd_report)
