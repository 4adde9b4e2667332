"""Run a backtest: paths split in fixed-size chunks over the available cores, with a progress bar.

Chunk ``i`` draws its paths from ``SeedSequence(seed, spawn_key=(i,))``, so a run's results do
not depend on the number of workers. Workers are separate processes
(:class:`concurrent.futures.ProcessPoolExecutor`, ``spawn`` context: the greeks kernel keeps a
thread pool, which must not be forked); one chunk or one worker runs in-process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import TextIO

import numpy as np
import numpy.typing as npt

from keeper.backtest.book import Book
from keeper.backtest.engine import ChunkResult, CostModel, PolicyPaths, PolicySpec, run_paths
from keeper.backtest.flavours import calibrate_min_variance
from keeper.backtest.paths import HestonModel, PathModel, PriceSeries
from keeper.core.smile_delta import DeltaFlavour, MinVarianceFit
from keeper.errors import InputError

__all__ = ["BacktestJob", "BacktestResult", "ProgressBar", "available_cores", "run_backtest"]

FloatArray = npt.NDArray[np.float64]


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


def _run_chunk(job: BacktestJob, index: int, n: int) -> ChunkResult:
    if job.series is not None:
        spots, seconds = job.series.path_matrix(), job.series.seconds
    else:
        assert job.model is not None
        rng = np.random.default_rng(np.random.SeedSequence(job.seed, spawn_key=(index,)))
        if isinstance(job.model, HestonModel):
            spots, var = job.model.simulate_with_variance(job.s0, job.seconds, n, rng)
            return run_paths(job.book, spots, job.seconds, job.specs, job.costs, job.sigma, keep=job.keep,
                             variance=var, heston=job.model.params,
                             mv=job.mv_fit.coefficients if job.mv_fit is not None else None)
        spots, seconds = job.model.simulate(job.s0, job.seconds, n, rng), job.seconds
    return run_paths(job.book, spots, seconds, job.specs, job.costs, job.sigma, keep=job.keep)


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
    """Per-path results of every policy over all paths, in chunk order."""

    job: BacktestJob
    runs: dict[str, PolicyPaths]
    lvr: FloatArray
    lvr_predicted: FloatArray
    spot_sample: FloatArray
    seconds: FloatArray
    elapsed_s: float
    workers: int


def _merge(job: BacktestJob, parts: list[ChunkResult], elapsed: float, workers: int) -> BacktestResult:
    runs: dict[str, PolicyPaths] = {}
    for s in job.specs:
        runs[s.name] = PolicyPaths.concat([p.policies[s.name] for p in parts])
    return BacktestResult(job, runs, np.concatenate([p.lvr for p in parts]),
                          np.concatenate([p.lvr_predicted for p in parts]), parts[0].spot_sample, parts[0].seconds,
                          elapsed, workers)


def run_backtest(job: BacktestJob, *, workers: int | None = None,
                 progress: bool | Callable[[int, int], None] = False) -> BacktestResult:
    """Run every chunk (in parallel when there are several chunks and cores) and merge them.

    ``progress``: ``True`` draws a bar on stderr, a callable gets ``(done, total)`` per chunk.
    A job with the ``min_variance`` flavour and no ``mv_fit`` is calibrated first (in this
    process; the time counts in ``elapsed_s``); the result's ``job`` carries the fit.
    """
    t0 = time.perf_counter()
    if job.needs_calibration:
        assert isinstance(job.model, HestonModel)
        job = replace(job, mv_fit=calibrate_min_variance(job.model, job.book, job.s0, job.seconds, job.seed,
                                                         paths=job.calibration_paths))
    chunks = job.chunks
    n_workers = max(1, min(workers or available_cores(), len(chunks)))
    report: Callable[[int, int], None] | None
    if progress is True:
        bar = ProgressBar(len(chunks))
        report = lambda done, _total: bar.update(done)  # noqa: E731
    else:
        report = progress or None
    parts: list[ChunkResult | None] = [None] * len(chunks)
    if n_workers == 1:
        for i, n in enumerate(chunks):
            parts[i] = _run_chunk(job, i, n)
            if report:
                report(i + 1, len(chunks))
    else:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=n_workers, mp_context=ctx) as pool:
            futures = {pool.submit(_run_chunk, job, i, n): i for i, n in enumerate(chunks)}
            for done, fut in enumerate(as_completed(futures), start=1):
                parts[futures[fut]] = fut.result()
                if report:
                    report(done, len(chunks))
    merged = [p for p in parts if p is not None]
    return _merge(job, merged, time.perf_counter() - t0, n_workers)

