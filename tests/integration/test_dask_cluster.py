"""A real Dask cluster: ``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1 (the venv's console
script), a small sweep (scenarios x policies x chunks) through them, through the default local cluster and in
this process: the same floats bit for bit; then again with one worker killed (SIGKILL) mid-run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from keeper.backtest.book import standard_book
from keeper.backtest.engine import CostModel
from keeper.backtest.parallel import BacktestJob, BacktestResult, run_backtests
from keeper.backtest.paths import GBMModel, HestonModel, time_grid
from keeper.backtest.policies import parse_policies, with_flavours
from keeper.backtest.sweep import apply_scenario, parse_sweep, scenarios, sweep_policies
from keeper.cli.backtest import main

pytestmark = pytest.mark.cluster

DASK = Path(sys.executable).with_name("dask")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Cluster:
    address: str
    client: object
    workers: list[subprocess.Popen[bytes]]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    from distributed import Client

    address = f"tcp://127.0.0.1:{_free_port()}"
    log = (tmp_path / "dask.log").open("wb")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [subprocess.Popen([str(DASK), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                               "--no-dashboard", "--no-show"], stdout=log, stderr=log, env=env)]
    try:
        workers = [subprocess.Popen([str(DASK), "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                                     "--host", "127.0.0.1", "--name", f"w{i}"], stdout=log, stderr=log, env=env)
                   for i in range(2)]
        procs += workers
        client = Client(address, timeout=60, set_as_default=False)
        try:
            client.wait_for_workers(2, timeout=60)
            yield Cluster(address, client, workers)
        finally:
            client.close()
    finally:
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def _sweep() -> list[BacktestJob]:
    """2 scenarios (vol) x 7 policies (4 WW lambdas, 2 fixed bands, no hedge) x 12 chunks of 25 paths."""
    book = standard_book(days=3.0)
    axes = [parse_sweep("ww.risk_aversion_per_usd=1e-6..1e-3:4"), parse_sweep("band_units=5,20"),
            parse_sweep("vol=0.5,0.9")]
    scale = book.gross_value(3000.0)
    specs = (*parse_policies(["none"], scale, None), *sweep_policies(axes[:2], scale))
    base = BacktestJob(book, specs, CostModel(), time_grid(3.0, 3600), 3000.0, 0.6, model=GBMModel(0.6),
                       n_paths=300, seed=42, chunk_paths=25)
    return [apply_scenario(base, sc) for sc in scenarios(axes)]


def _heston() -> BacktestJob:
    """A smile: Heston paths, sticky-strike and minimum-variance deltas (the fit is a task of its own)."""
    book = standard_book(days=2.0)
    specs = with_flavours(parse_policies(["interval:12h"], book.gross_value(3000.0), None),
                          ("sticky_strike", "min_variance"))
    return BacktestJob(book, specs, CostModel(), time_grid(2.0, 21_600), 3000.0, 0.6, model=HestonModel(), n_paths=40,
                       seed=3, chunk_paths=20, calibration_paths=40)


def _assert_identical(a: list[BacktestResult], b: list[BacktestResult]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert list(x.runs) == list(y.runs) and x.job.sigma == y.job.sigma and x.job.mv_fit == y.job.mv_fit
        for name, r in x.runs.items():
            o = y.runs[name]
            for f in ("hedging_error", "cost", "trades", "max_abs_delta", "delta_sample"):
                assert np.array_equal(getattr(r, f), getattr(o, f)), (name, f)
        assert np.array_equal(x.lvr, y.lvr) and np.array_equal(x.spot_sample, y.spot_sample)


def test_cluster_local_and_in_process_agree_bit_for_bit_even_after_a_worker_is_killed(
        cluster: Cluster, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = [*_sweep(), _heston()]
    here = run_backtests(jobs, workers=1)
    assert here[-1].job.mv_fit is not None
    assert here[0].engine == "in-process" and len(here[0].lvr) == 300
    # the two worker processes started by hand, reached by address
    remote = run_backtests(jobs, scheduler=cluster.address, policies_per_task=4)
    assert remote[0].engine == cluster.address and remote[0].workers == 2
    _assert_identical(here, remote)
    # the default: a local cluster on this machine's cores
    local = run_backtests(jobs, workers=2)
    assert local[0].engine == "local cluster" and local[0].workers == 2
    _assert_identical(here, local)

    # kill -9 one worker once a few chunks are in: its chunks are re-run on the other
    victim = cluster.workers[0]
    ticks: list[int] = []

    def kill_mid_run(done: int, total: int) -> None:
        ticks.append(done)
        if done == 3:
            os.kill(victim.pid, signal.SIGKILL)

    survived = run_backtests(jobs, client=cluster.client, progress=kill_mid_run)
    assert victim.wait(timeout=10) == -signal.SIGKILL
    assert ticks == list(range(1, 2 * 12 + 2 + 1))  # every chunk counted once, in the end all in
    _assert_identical(here, survived)
    deadline = time.monotonic() + 20
    while len(cluster.client.scheduler_info()["workers"]) != 1 and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.2)
    assert len(cluster.client.scheduler_info()["workers"]) == 1  # type: ignore[attr-defined]

    # the CLI through the surviving worker, by environment variable: the same table numbers as in this process
    args = ["backtest", "--paths", "60", "--days", "2", "--step", "4h", "--json", "--policies", "none",
            "--sweep", "ww.risk_aversion_per_usd=1e-5,1e-4", "--seed", "9"]
    assert main([*args, "--workers", "1"]) == 0
    mine = json.loads(capsys.readouterr().out)
    os.environ["KEEPER_DASK_SCHEDULER"] = cluster.address
    try:
        assert main(args) == 0
    finally:
        del os.environ["KEEPER_DASK_SCHEDULER"]
    theirs = json.loads(capsys.readouterr().out)
    assert theirs["meta"]["workers"] == 1 and mine["policies"] == theirs["policies"]
