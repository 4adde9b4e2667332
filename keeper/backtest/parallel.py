"""Run backtests on Dask: paths split in seeded chunks, fanned out over a cluster's workers.

Chunk ``i`` draws its paths from ``SeedSequence(seed, spawn_key=(i,))``, and the chunks are
merged in chunk order whatever order they finish in, so a run's results are bit-identical
whatever the number of workers, the machines they run on or the order they finish in. A task is
one chunk of one job (and a slice of its policies, ``policies_per_task``): a pure function of its
arguments, so Dask may run it again; a worker lost mid-run has its tasks re-run on the others
(the scheduler does it), and a task that raises is retried ``TASK_RETRIES`` times.

The engine (:func:`run_backtests`):

* a ``client`` given (a :class:`distributed.Client`): its cluster;
* a ``scheduler`` address (``tcp://HOST:8786``), else the environment's ``KEEPER_DASK_SCHEDULER``:
  that cluster (its workers must have the keeper installed, the same version);
* else a :class:`distributed.LocalCluster` on this machine's cores (worker processes, one thread
  each: the greeks kernel keeps a thread pool of its own), or in this process when there is one
  task or one worker (starting a cluster would cost more than the work).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from keeper.backtest.book import Book
from keeper.backtest.engine import ChunkResult, CostModel, PolicyPaths, PolicySpec, run_paths
from keeper.backtest.flavours import calibrate_min_variance
from keeper.backtest.paths import HestonModel, PathModel, PriceSeries
from keeper.core.smile_delta import DeltaFlavour, MinVarianceFit
from keeper.errors import ClusterError, InputError, KeeperError

__all__ = ["SCHEDULER_ENV", "TASK_RETRIES", "WORKER_WAIT_S", "BacktestJob", "BacktestResult", "ProgressBar",
           "available_cores", "local_cluster", "run_backtest", "run_backtests"]

FloatArray = npt.NDArray[np.float64]

SCHEDULER_ENV = "KEEPER_DASK_SCHEDULER"
"""Environment variable with the Dask scheduler's address (``tcp://HOST:8786``) when no ``scheduler`` is given."""
TASK_RETRIES = 2
"""Times Dask runs a task again after it raised (a lost worker's tasks are re-run regardless)."""
WORKER_WAIT_S = 60.0
"""How long a run on ``--scheduler`` waits for a first worker before it gives up."""


def available_cores() -> int:
    """Cores this process may use (the affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True, slots=True)
class BacktestJob:
    """Everything a run needs (picklable: it is shipped to the workers).

    ``model`` simulates ``n_paths`` paths from ``s0`` on ``seconds``; or ``series`` is one
    historical path (its own time grid). ``sigma`` (annual) is the volatility of the LVR formula.

    Each spec hedges the delta of its ``flavour``; flavours other than ``sticky_strike`` need a
    :class:`~keeper.backtest.paths.HestonModel`. ``mv_fit`` holds the Hull-White coefficients of
    ``min_variance``; when it is ``None``, :func:`run_backtest` fits them first on
    ``calibration_paths`` paths of a separate calibration seed
    (:func:`keeper.backtest.flavours.calibrate_min_variance`).
    """

    book: Book
    specs: tuple[PolicySpec, ...]
    costs: CostModel
    seconds: FloatArray
    s0: float
    sigma: float
    model: PathModel | None = None
    series: PriceSeries | None = None
    n_paths: int = 1000
    seed: int = 0
    chunk_paths: int = 1000
    keep: int = 8
    mv_fit: MinVarianceFit | None = None
    calibration_paths: int = 1000

    def __post_init__(self) -> None:
        if (self.model is None) == (self.series is None):
            raise InputError("model", "give exactly one of a path model and a price series")
        if self.flavours != ("sticky_strike",) and not isinstance(self.model, HestonModel):
            raise InputError("delta_flavours", f"{', '.join(self.flavours)}: only the Heston model has a smile; "
                                               "under a flat vol every flavour is the Black-Scholes delta")
        if self.n_paths < 1 or self.chunk_paths < 1:
            raise InputError("paths", f"must be >= 1, got {self.n_paths} (chunks of {self.chunk_paths})")
        if not self.specs:
            raise InputError("policies", "no policy to run")

    @property
    def chunks(self) -> list[int]:
        """Paths per chunk."""
        if self.series is not None:
            return [1]
        full, rest = divmod(self.n_paths, self.chunk_paths)
        return [self.chunk_paths] * full + ([rest] if rest else [])

    @property
    def flavours(self) -> tuple[DeltaFlavour, ...]:
        """The specs' delta flavours, in order of first use."""
        return tuple(dict.fromkeys(s.flavour for s in self.specs))

    @property
    def needs_calibration(self) -> bool:
        return "min_variance" in self.flavours and self.mv_fit is None

    @property
    def steps(self) -> int:
        return (len(self.series.timestamps) if self.series is not None else len(self.seconds)) - 1


def _chunk_result(job: BacktestJob, index: int, n: int, lo: int, hi: int) -> ChunkResult:
    """One task: chunk ``index`` (``n`` paths) of ``job``, policies ``specs[lo:hi]``. Pure: the paths come
    from the chunk's own seed, so a re-run (a lost worker, a retry) gives the same floats."""
    specs = job.specs[lo:hi]
    if job.series is not None:
        return run_paths(job.book, job.series.path_matrix(), job.series.seconds, specs, job.costs, job.sigma,
                         keep=job.keep)
    assert job.model is not None
    rng = np.random.default_rng(np.random.SeedSequence(job.seed, spawn_key=(index,)))
    if isinstance(job.model, HestonModel):
        spots, var = job.model.simulate_with_variance(job.s0, job.seconds, n, rng)
        return run_paths(job.book, spots, job.seconds, specs, job.costs, job.sigma, keep=job.keep,
                         variance=var, heston=job.model.params,
                         mv=job.mv_fit.coefficients if job.mv_fit is not None else None)
    spots = job.model.simulate(job.s0, job.seconds, n, rng)
    return run_paths(job.book, spots, job.seconds, specs, job.costs, job.sigma, keep=job.keep)


def _calibrated(job: BacktestJob) -> BacktestJob:
    """``job`` with its minimum-variance fit (fitted on the separate calibration draw when it needs one)."""
    if not job.needs_calibration:
        return job
    assert isinstance(job.model, HestonModel)
    return replace(job, mv_fit=calibrate_min_variance(job.model, job.book, job.s0, job.seconds, job.seed,
                                                      paths=job.calibration_paths))


@dataclass
class ProgressBar:
    """``backtest [#####-----] 5/10 chunks, 12 s`` on a stream (stderr), rewritten in place."""

    total: int
    stream: TextIO = field(default_factory=lambda: sys.stderr)
    width: int = 30
    start: float = field(default_factory=time.perf_counter)

    def update(self, done: int) -> None:
        filled = round(self.width * done / self.total)
        end = "\n" if done >= self.total else ""
        self.stream.write(f"\rbacktest [{'#' * filled}{'-' * (self.width - filled)}] {done}/{self.total} chunks, "
                          f"{time.perf_counter() - self.start:.0f} s{end}")
        self.stream.flush()


@dataclass(frozen=True, slots=True)
class BacktestResult:
    """Per-path results of every policy over all paths, in chunk order.

    ``elapsed_s``: from the start of the run to this job's last chunk (wall clock); ``workers``:
    the processes that ran it (1 in this process); ``engine``: ``in-process``, ``local cluster``
    or the scheduler's address.
    """

    job: BacktestJob
    runs: dict[str, PolicyPaths]
    lvr: FloatArray
    lvr_predicted: FloatArray
    spot_sample: FloatArray
    seconds: FloatArray
    elapsed_s: float
    workers: int
    engine: str = "in-process"


def _merge(job: BacktestJob, parts: list[list[ChunkResult]], elapsed: float, workers: int,
           engine: str) -> BacktestResult:
    """``parts[chunk][policy slice]`` into one result: policies in ``job.specs`` order, paths in chunk order."""
    runs: dict[str, PolicyPaths] = {}
    for s in job.specs:
        rs = [next(b.policies[s.name] for b in chunk if s.name in b.policies) for chunk in parts]
        runs[s.name] = PolicyPaths.concat(rs)
    first = [chunk[0] for chunk in parts]
    return BacktestResult(job, runs, np.concatenate([p.lvr for p in first]),
                          np.concatenate([p.lvr_predicted for p in first]), first[0].spot_sample, first[0].seconds,
                          elapsed, workers, engine)


@dataclass(frozen=True, slots=True)
class _Task:
    job: int
    chunk: int
    paths: int
    lo: int
    hi: int


def _tasks(jobs: Sequence[BacktestJob], policies_per_task: int | None) -> list[_Task]:
    out: list[_Task] = []
    for j, job in enumerate(jobs):
        step = policies_per_task or len(job.specs)
        for i, n in enumerate(job.chunks):
            out += [_Task(j, i, n, lo, min(lo + step, len(job.specs))) for lo in range(0, len(job.specs), step)]
    return out


class _Collector:
    """Gathers task results; hands each job's merged result on as soon as its last chunk is in."""

    def __init__(self, jobs: Sequence[BacktestJob], tasks: Sequence[_Task], t0: float,
                 on_result: Callable[[int, BacktestResult], None] | None,
                 report: Callable[[int, int], None] | None) -> None:
        self.jobs = list(jobs)
        self.left = [sum(1 for t in tasks if t.job == j) for j in range(len(jobs))]
        self.parts: list[dict[tuple[int, int], ChunkResult]] = [{} for _ in jobs]
        self.results: list[BacktestResult | None] = [None] * len(jobs)
        self.total, self.done, self.t0 = len(tasks), 0, t0
        self.on_result, self.report = on_result, report
        self.workers, self.engine = 1, "in-process"

    def add(self, task: _Task, part: ChunkResult, fitted: Callable[[int], BacktestJob]) -> None:
        self.parts[task.job][(task.chunk, task.lo)] = part
        self.left[task.job] -= 1
        self.done += 1
        if self.report:
            self.report(self.done, self.total)
        if self.left[task.job] == 0:
            j = task.job
            keys = sorted(self.parts[j])
            chunks = [[self.parts[j][k] for k in keys if k[0] == c] for c in sorted({k[0] for k in keys})]
            self.parts[j] = {}
            res = _merge(fitted(j), chunks, time.perf_counter() - self.t0, self.workers, self.engine)
            self.results[j] = res
            if self.on_result:
                self.on_result(j, res)

    def finished(self) -> list[BacktestResult]:
        out = [r for r in self.results if r is not None]
        if len(out) != len(self.jobs):
            raise ClusterError("a backtest finished with chunks missing")
        return out


@contextmanager
def _client(scheduler: str | None, workers: int) -> Iterator[tuple[Any, str]]:
    """A Dask client of the cluster at ``scheduler``, else of a local cluster of ``workers`` processes."""
    from distributed import Client

    if scheduler:
        try:
            client = Client(scheduler, timeout=30, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from exc
        with client:
            try:
                client.wait_for_workers(1, timeout=WORKER_WAIT_S)
            except TimeoutError:
                raise ClusterError(f"no Dask worker joined the scheduler at {scheduler} within {WORKER_WAIT_S:g} s: "
                                   f"start one with `dask worker {scheduler}`") from None
            yield client, scheduler
        return
    with local_cluster(workers) as cluster, Client(cluster, set_as_default=False) as client:
        yield client, "local cluster"


def local_cluster(workers: int) -> Any:
    """A :class:`distributed.LocalCluster` of ``workers`` processes of one thread each, on 127.0.0.1 only, with
    no dashboard (its HTTP endpoints on a free port: a fixed one may be another cluster's)."""
    from distributed import LocalCluster

    return LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                        dashboard_address=None, scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
                        silence_logs=logging.ERROR)


def _run_on(client: Any, engine: str, jobs: Sequence[BacktestJob], tasks: Sequence[_Task], col: _Collector) -> None:
    """Submit every task (a job's calibration first, as a task its chunks depend on) and collect them as they
    complete; any failure cancels the rest."""
    from distributed import as_completed

    run = uuid.uuid4().hex[:12]
    job_fut = [client.submit(_calibrated, job, key=f"keeper-backtest-{run}-job{j}", retries=TASK_RETRIES)
               if job.needs_calibration else job for j, job in enumerate(jobs)]
    futures = {client.submit(_chunk_result, job_fut[t.job], t.chunk, t.paths, t.lo, t.hi,
                             key=f"keeper-backtest-{run}-job{t.job}-chunk{t.chunk}-policy{t.lo}",
                             retries=TASK_RETRIES): t for t in tasks}
    col.workers = max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
    col.engine = engine
    fitted: dict[int, BacktestJob] = {}

    def fit(j: int) -> BacktestJob:
        if j not in fitted:
            f = job_fut[j]
            fitted[j] = f if isinstance(f, BacktestJob) else f.result()
        return fitted[j]

    try:
        for fut in as_completed(list(futures), loop=client.loop):
            part = fut.result()
            col.add(futures.pop(fut), part, fit)
            fut.release()  # the worker may drop it: a result lost with its worker later is not recomputed
    except Exception as exc:
        client.cancel(list(futures))
        if isinstance(exc, KeeperError):
            raise
        raise ClusterError(f"a backtest task failed on the Dask cluster ({engine}): {type(exc).__name__}: {exc}") \
            from exc


def run_backtests(jobs: Sequence[BacktestJob], *, workers: int | None = None, scheduler: str | None = None,
                  client: Any = None, progress: bool | Callable[[int, int], None] = False,
                  on_result: Callable[[int, BacktestResult], None] | None = None,
                  policies_per_task: int | None = None) -> list[BacktestResult]:
    """Run every chunk of every job on Dask (see the module docstring for the engine) and merge each job's chunks.

    ``progress``: ``True`` draws a bar on stderr, a callable gets ``(done, total)`` tasks. ``on_result(j, result)``
    gets job ``j``'s merged result as soon as its last chunk is in (while the other jobs still run). A job with
    the ``min_variance`` flavour and no ``mv_fit`` is calibrated first (its time counts in ``elapsed_s``); the
    result's ``job`` carries the fit. ``workers`` caps the local cluster (default: the available cores).
    """
    if not jobs:
        raise InputError("jobs", "no backtest to run")
    if policies_per_task is not None and policies_per_task < 1:
        raise InputError("policies_per_task", f"must be >= 1, got {policies_per_task}")
    if workers is not None and workers < 1:
        raise InputError("workers", f"must be >= 1, got {workers}")
    t0 = time.perf_counter()
    tasks = _tasks(jobs, policies_per_task)
    report: Callable[[int, int], None] | None
    if progress is True:
        bar = ProgressBar(len(tasks))
        report = lambda done, _total: bar.update(done)  # noqa: E731
    else:
        report = progress or None
    col = _Collector(jobs, tasks, t0, on_result, report)
    if client is not None:
        _run_on(client, str(client.scheduler.address), jobs, tasks, col)
        return col.finished()
    address = scheduler if scheduler is not None else os.environ.get(SCHEDULER_ENV) or None
    n_local = max(1, min(workers or available_cores(), len(tasks)))
    if address is None and n_local == 1:
        fitted = [_calibrated(job) for job in jobs]
        for t in tasks:
            col.add(t, _chunk_result(fitted[t.job], t.chunk, t.paths, t.lo, t.hi), fitted.__getitem__)
        return col.finished()
    with _client(address, n_local) as (c, engine):
        _run_on(c, engine, jobs, tasks, col)
    return col.finished()


def run_backtest(job: BacktestJob, *, workers: int | None = None, scheduler: str | None = None, client: Any = None,
                 progress: bool | Callable[[int, int], None] = False,
                 policies_per_task: int | None = None) -> BacktestResult:
    """One job through :func:`run_backtests` (same engine, same results)."""
    return run_backtests([job], workers=workers, scheduler=scheduler, client=client, progress=progress,
                         policies_per_task=policies_per_task)[0]
