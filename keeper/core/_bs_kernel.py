"""Chunked, optionally threaded Black-Scholes-Merton kernel behind :mod:`keeper.core.options`.

Private: the public functions and their documentation live in ``options``.

How it is fast
--------------
* Every quantity is written with ``out=`` into per-thread scratch rows (kept
  between calls) of at most :data:`CHUNK` / :data:`CHUNK_THREADED` elements;
  nothing is allocated per element and, after the first call, per call only the
  outputs themselves.
* The kernel works with ``d1`` and ``v = sigma sqrt T`` directly, and
  ``exp(-d1^2/2)`` is both the Gaussian of the density and the factor of the
  lower tail ``N(-|d1|) = T(|d1|) exp(-d1^2/2)``
  (:func:`keeper.core.normal.norm_tail_from_exp`: one fitted degree-8/8
  rational for ``T`` on ``[0, 7]``, relative error < 1e-13, no interval
  branches, Cody's ratio gathered only beyond), so ``N`` costs no second
  exponential.
* ``w N(w d1)`` (delta up to ``e^{-qT}``) is ``c - copysign(N(-|d1|), d1)`` with
  ``c`` in {-1, 0, 1} built in int8: both tails accurate, no cancellation, no
  gather/scatter.
* Validation is fused: a few min/max reductions per chunk, on data in cache.
* Chunks are handed out dynamically to a small thread pool (numpy releases the
  GIL inside ufunc loops), so a core slowed by another process does not stall
  the call.
"""

from __future__ import annotations

import itertools
import math
import os
import threading
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, NamedTuple, NoReturn

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keeper.core.normal import norm_tail_from_exp
from keeper.errors import InputError

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Operand = float | FloatArray

CHUNK: Final = 32768
"""Elements per block on one thread (measured best on the 2-core target: rows of 256 KiB)."""
CHUNK_THREADED: Final = 131072
"""Largest block when several threads share the GIL: fewer, longer ufunc calls per handoff
(measured: 131072 and 65536 beat 32768 clearly and each other within noise; the scratch
rows kept per thread are 15 x 1 MiB)."""
PARALLEL_MIN: Final = 1 << 16
"""Inputs at least this large are split over the thread pool (when threads > 1)."""

_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)
_VMIN: Final = 1e-100  # sigma sqrt(T) below this is the deterministic limit
_VMAX: Final = 1e100  # above this every result has reached its limit
_ROWS: Final = 15
_ATM_LOG_TOL: Final = 1e-12

_POOL: ThreadPoolExecutor | None = None
_LOCAL = threading.local()


def default_threads() -> int:
    """Worker threads used when the caller does not say: the CPU count, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _pool() -> ThreadPoolExecutor:
    global _POOL  # noqa: PLW0603  (one lazily created pool per process)
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=default_threads(), thread_name_prefix="keeper-bs")
    return _POOL


def _forget_pool_in_child() -> None:
    """A forked child has none of its parent's threads: the inherited pool would never run a task."""
    global _POOL  # noqa: PLW0603
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


class Want(NamedTuple):
    """Which outputs to compute."""

    price: bool
    delta: bool
    gamma: bool
    vega: bool
    theta: bool


ALL: Final = Want(True, True, True, True, True)
DGV: Final = Want(False, True, True, True, False)


@dataclass(slots=True)
class Inputs:
    """Flattened, broadcast inputs: each a float or a contiguous 1-D array of length ``n``."""

    n: int
    shape: tuple[int, ...]
    spot: Operand
    strike: Operand
    t: Operand
    sigma: Operand
    r: Operand
    q: Operand
    call: bool | BoolArray


def _check(name: str, arr: Operand, *, positive: bool = False, nonneg: bool = False) -> None:
    if isinstance(arr, float):
        lo = hi = arr
    else:
        if arr.size == 0:
            return
        lo, hi = float(arr.min()), float(arr.max())
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise InputError(name, "must be finite (found nan or inf)")
    if positive and lo <= 0.0:
        raise InputError(name, f"must be > 0 (found {lo!r})")
    if nonneg and lo < 0.0:
        raise InputError(name, f"must be >= 0 (found {lo!r})")


def _check_all(inp: Inputs, lo: int, hi: int) -> None:
    """The slow, precise validation, naming the argument."""
    for name, val, pos, nonneg in (
        ("spot", inp.spot, True, False), ("strike", inp.strike, True, False),
        ("t", inp.t, False, False), ("sigma", inp.sigma, False, True),
        ("r", inp.r, False, False), ("q", inp.q, False, False),
    ):
        _check(name, _sl(val, lo, hi), positive=pos, nonneg=nonneg)


def prepare(
    spot: ArrayLike, strike: ArrayLike, t: ArrayLike, sigma: ArrayLike,
    r: ArrayLike, q: ArrayLike, is_call: ArrayLike,
) -> Inputs:
    """Broadcast the arguments; validate the scalar ones (arrays are checked per chunk)."""
    raw = [np.asarray(v, dtype=np.float64) for v in (spot, strike, t, sigma, r, q)]
    calls = np.asarray(is_call, dtype=np.bool_)
    try:
        shape = np.broadcast_shapes(*(a.shape for a in raw), calls.shape)
    except ValueError as exc:
        raise InputError("spot/strike/t/sigma/r/q/is_call", f"shapes do not broadcast: {exc}") from exc
    n = math.prod(shape)

    def flat(a: FloatArray) -> Operand:
        if a.size == 1:
            return float(a.reshape(-1)[0])
        return np.ascontiguousarray(np.broadcast_to(a, shape)).reshape(-1)

    ops = [flat(a) for a in raw]
    call: bool | BoolArray
    if calls.size == 1:
        call = bool(calls.reshape(-1)[0])
    else:
        call = np.ascontiguousarray(np.broadcast_to(calls, shape)).reshape(-1)
    inp = Inputs(n, shape, ops[0], ops[1], ops[2], ops[3], ops[4], ops[5], call)
    for name, val, pos, nonneg in (
        ("spot", inp.spot, True, False), ("strike", inp.strike, True, False),
        ("t", inp.t, False, False), ("sigma", inp.sigma, False, True),
        ("r", inp.r, False, False), ("q", inp.q, False, False),
    ):
        if isinstance(val, float) or name in ("r", "q"):
            _check(name, val, positive=pos, nonneg=nonneg)
    return inp


def _sl(x: Operand, lo: int, hi: int) -> Operand:
    return x if isinstance(x, float) else x[lo:hi]


def _invalid(inp: Inputs) -> NoReturn:
    """A cheap check failed: find and name the culprit with the precise one (over all elements,
    so the message does not depend on which thread met the bad chunk first)."""
    _check_all(inp, 0, inp.n)
    raise InputError("spot/strike/t/sigma", "produce a non-finite intermediate")


def _signed_cdf(d: FloatArray, call: bool | BoolArray, lo: int, hi: int, tail: FloatArray,
                c: NDArray[np.int8], out: FloatArray) -> None:
    """``out = w N(w d)`` from the lower tail ``tail = N(-|d|)`` (overwritten), both tails accurate.

    ``w N(w d) = c - copysign(tail, d)`` with ``c = [call] - [d has its sign bit set]``
    in {-1, 0, 1}: a call is ``1 - tail`` above the strike-side zero and ``tail``
    below, a put ``-tail`` and ``tail - 1`` -- the small values are never formed
    by cancellation. ``c`` is built in int8 (two cheap passes).
    """
    sb = np.signbit(d, out=c.view(np.bool_))
    if isinstance(call, bool):
        np.subtract(np.int8(1 if call else 0), sb.view(np.int8), out=c)
    else:
        np.subtract(call[lo:hi].view(np.int8), sb.view(np.int8), out=c)
    np.copysign(tail, d, out=tail)
    np.subtract(c, tail, out=out)


# Long on purpose: the numeric kernel: one pass per greek with its guards, kept together for speed and audit.
def kernel(  # noqa: C901, PLR0912, PLR0915
    inp: Inputs, lo: int, hi: int, want: Want, outs: dict[str, FloatArray], buf: FloatArray,
    ibuf: NDArray[np.int8],
) -> None:
    """Compute the wanted outputs for elements ``lo:hi`` into the flat arrays ``outs``."""
    m = hi - lo
    s, k, t, sig = _sl(inp.spot, lo, hi), _sl(inp.strike, lo, hi), _sl(inp.t, lo, hi), _sl(inp.sigma, lo, hi)
    r, q = _sl(inp.r, lo, hi), _sl(inp.q, lo, hi)
    # Fused validation: a few reductions on in-cache data; the slow precise check
    # runs only on failure. NaN propagates into every min/max, so it is caught too.
    if not isinstance(k, float) and not float(k.min()) > 0.0:
        _invalid(inp)
    if not isinstance(sig, float) and not float(sig.min()) >= 0.0:
        _invalid(inp)
    tmin = t if isinstance(t, float) else float(t.min())
    if not math.isfinite(tmin):
        _invalid(inp)
    rt, v, d1, e, tail, tmp, dq, x = (buf[i, :m] for i in range(8))
    scratch = buf[8:10, :m]
    c = ibuf[0, :m]

    # T+ = max(T, 0), rt = sqrt(T+), v = sigma sqrt(T+)
    tp: Operand = t
    if tmin <= 0.0:
        tp = np.maximum(t, 0.0, out=buf[10, :m])
    np.sqrt(tp, out=rt)
    carry = r - q
    has_carry = not (isinstance(carry, float) and carry == 0.0)
    no_q = isinstance(q, float) and q == 0.0
    if not no_q:  # dq = exp(-q T)
        np.multiply(tp, q, out=dq)
        np.negative(dq, out=dq)
        np.exp(dq, out=dq)
    np.multiply(sig, rt, out=v)
    vmin, vmax = float(v.min()), float(v.max())
    if not math.isfinite(vmin + vmax):  # t = +inf, or sigma inf / nan
        _invalid(inp)
    degenerate = vmin < _VMIN
    if degenerate or vmax > _VMAX:
        np.clip(v, _VMIN, _VMAX, out=v)

    # d1 = (ln(S/K) + (r - q) T) / v + v / 2
    np.divide(s, k, out=tmp)
    if not (isinstance(s, float) and isinstance(k, float)) and not (
        float(tmp.min()) > 0.0 and float(tmp.max()) < math.inf
    ):  # spot <= 0, nan or inf; strike inf
        _invalid(inp)
    np.log(tmp, out=d1)
    if has_carry:
        np.multiply(tp, carry, out=tmp)
        np.add(d1, tmp, out=d1)
    if degenerate:  # zero vol: |ln(F/K)| <= 1e-12 counts as exactly at the forward
        d1[(v <= _VMIN) & (np.abs(d1) <= _ATM_LOG_TOL)] = 0.0
    np.divide(d1, v, out=d1)
    np.multiply(v, 0.5, out=tmp)
    np.add(d1, tmp, out=d1)
    # e = exp(-d1^2 / 2)
    np.square(d1, out=e)
    np.multiply(e, -0.5, out=e)
    np.exp(e, out=e)
    need_cdf = want.delta or want.price or want.theta
    if need_cdf:  # tail = N(-|d1|), sharing e
        np.abs(d1, out=x)
        norm_tail_from_exp(x, e, tail, scratch)
        # tail <- w e^{-qT} N(w d1), written straight into delta when nothing else needs it
        pt = want.price or want.theta
        direct = outs["delta"][lo:hi] if want.delta and not pt else tail
        _signed_cdf(d1, inp.call, lo, hi, tail, c, direct if no_q else tail)
        if not no_q:
            np.multiply(tail, dq, out=direct)
        if want.delta and pt:
            np.copyto(outs["delta"][lo:hi], tail)
    # e <- e^{-qT} n(d1)
    np.multiply(e, _INV_SQRT_2PI, out=e)
    if not no_q:
        np.multiply(e, dq, out=e)
    if want.gamma:  # e^{-qT} n(d1) / (S sigma sqrt T)
        g = outs["gamma"][lo:hi]
        np.multiply(s, v, out=g)
        np.divide(e, g, out=g)
        if degenerate:
            g[v <= _VMIN] = 0.0
    if want.vega:  # S e^{-qT} n(d1) sqrt T
        vg = outs["vega"][lo:hi]
        np.multiply(e, s, out=vg)
        np.multiply(vg, rt, out=vg)
        if degenerate:
            vg[v <= _VMIN] = 0.0
    if want.price or want.theta:
        _price_theta(s, k, t, tp, sig, r, q, inp.call, lo, hi, want, outs, buf, ibuf, m)


def _price_theta(
    s: Operand, k: Operand, t: Operand, tp: Operand, sig: Operand, r: Operand, q: Operand,
    call: bool | BoolArray, lo: int, hi: int, want: Want, outs: dict[str, FloatArray],
    buf: FloatArray, ibuf: NDArray[np.int8], m: int,
) -> None:
    """Price and theta from the buffers left by :func:`kernel` (second CDF at d2)."""
    rt, v, d1, e, a1, tmp = (buf[i, :m] for i in range(6))
    x, d2, e2, b2, df = buf[7, :m], buf[11, :m], buf[12, :m], buf[13, :m], buf[14, :m]
    scratch = buf[8:10, :m]
    # a1 holds w e^{-qT} N(w d1); b2 <- w N(w d2), d2 = d1 - v
    np.subtract(d1, v, out=d2)
    np.square(d2, out=e2)
    np.multiply(e2, -0.5, out=e2)
    np.exp(e2, out=e2)
    np.abs(d2, out=x)
    norm_tail_from_exp(x, e2, b2, scratch)
    _signed_cdf(d2, call, lo, hi, b2, ibuf[0, :m], b2)
    np.multiply(tp, r, out=df)
    np.negative(df, out=df)
    np.exp(df, out=df)
    np.multiply(b2, df, out=b2)
    np.multiply(b2, k, out=b2)  # w K e^{-rT} N(w d2)
    np.multiply(a1, s, out=a1)  # w S e^{-qT} N(w d1)
    if want.price:
        p = outs["price"][lo:hi]
        np.subtract(a1, b2, out=p)
        np.maximum(p, 0.0, out=p)  # rounding can leave -1e-17 on worthless options
    if want.theta:
        th = outs["theta"][lo:hi]
        # w (q S e^{-qT} N(w d1) - r K e^{-rT} N(w d2)) - S e^{-qT} n(d1) sigma / (2 sqrt T)
        np.multiply(a1, q, out=th)
        np.multiply(b2, r, out=tmp)
        np.subtract(th, tmp, out=th)
        # e holds e^{-qT} n(d1)
        np.maximum(rt, 1e-300, out=tmp)
        np.divide(sig, tmp, out=tmp)
        np.multiply(tmp, e, out=tmp)
        np.multiply(tmp, s, out=tmp)
        np.multiply(tmp, 0.5, out=tmp)
        np.subtract(th, tmp, out=th)
        if isinstance(t, float):
            if t <= 0.0:
                th.fill(0.0)
        else:
            th[t <= 0.0] = 0.0


def _work_buffers(width: int) -> tuple[FloatArray, NDArray[np.int8]]:
    """This thread's scratch rows, at least ``width`` wide: kept between calls, so a
    keeper revaluing its book every cycle does not allocate (and page-fault) them again."""
    cached: tuple[FloatArray, NDArray[np.int8]] | None = getattr(_LOCAL, "buffers", None)
    if cached is not None and cached[0].shape[1] >= width:
        return cached
    fresh = (np.empty((_ROWS, width)), np.empty((1, width), dtype=np.int8))
    if width <= CHUNK_THREADED:
        _LOCAL.buffers = fresh
    return fresh


def _run_chunks(
    inp: Inputs, want: Want, outs: dict[str, FloatArray], chunk: int, ticket: Iterator[int],
) -> None:
    """Compute chunks ``i * chunk`` as handed out by the shared ``ticket`` counter until none are left.

    Threads pull chunks dynamically, so a core slowed by another process does
    not leave the others idle at the end.
    """
    buf, ibuf = _work_buffers(min(chunk, max(inp.n, 1)))
    for i in ticket:
        lo = i * chunk
        if lo >= inp.n:
            return
        kernel(inp, lo, min(lo + chunk, inp.n), want, outs, buf, ibuf)


def compute(
    inp: Inputs, want: Want, threads: int | None, out: dict[str, FloatArray] | None = None
) -> dict[str, FloatArray]:
    """Run the kernel over all elements; returns the wanted outputs in the broadcast shape.

    ``out`` optionally supplies the output arrays (float64, C-contiguous, the
    broadcast shape), which are filled and returned instead of new ones.
    """
    names = [f for f in Want._fields if getattr(want, f)]
    if out is None:
        outs = {name: np.empty(inp.n) for name in names}
    else:
        outs = {}
        for name in names:
            arr = out[name]
            if (not isinstance(arr, np.ndarray) or arr.dtype != np.float64 or arr.shape != inp.shape
                    or not arr.flags.c_contiguous or not arr.flags.writeable):
                raise InputError("out", f"{name} must be a writeable C-contiguous float64 array "
                                        f"of shape {inp.shape}")
            outs[name] = arr.reshape(-1)
    nthreads = default_threads() if threads is None else max(1, threads)
    if inp.n < PARALLEL_MIN or nthreads == 1:
        _run_chunks(inp, want, outs, CHUNK, itertools.count())
    else:
        chunk = min(CHUNK_THREADED, -(-inp.n // nthreads))  # every thread gets work
        ticket = itertools.count()  # next() on it is atomic under the GIL
        futures: list[Future[None]] = [
            _pool().submit(_run_chunks, inp, want, outs, chunk, ticket) for _ in range(nthreads - 1)
        ]
        try:
            _run_chunks(inp, want, outs, chunk, ticket)
        finally:
            for fut in futures:
                fut.exception()  # wait for the workers either way
        for fut in futures:
            fut.result()
    if out is not None:
        return {name: out[name] for name in names}
    return {name: arr.reshape(inp.shape) for name, arr in outs.items()}
