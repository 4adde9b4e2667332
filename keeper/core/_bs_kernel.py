"""Chunked, optionally threaded Black-Scholes-Merton kernel behind :mod:`keeper.core.options`.

Private: the public functions and their documentation live in ``options``.

How it is fast
--------------
* Every quantity is written with ``out=`` into per-worker buffers of
  :data:`CHUNK` elements, so the working set stays in the L2 cache and nothing
  is allocated per element.
* The kernel works with ``h = d1 / sqrt 2`` and ``a = sqrt 2 sigma sqrt T``:
  ``h = ln(F/K) / a + a / 4``, and ``exp(-h^2)`` is both the Gaussian of the
  density ``n(d1) = exp(-h^2) / sqrt(2 pi)`` and the factor Cody's ``erfc``
  needs, so ``N(w d1) = erfc(-w h) / 2`` costs no second exponential.
* ``N(w d1)`` for calls and puts comes straight from ``erfc(-w h) / 2``
  (:func:`keeper.core.normal.norm_cdf_from_exp`), both tails accurate.
* Validation is fused: seven min/max reductions per chunk, on data in cache.
* Blocks of chunks run on a small thread pool (numpy releases the GIL inside
  ufunc loops).
"""

from __future__ import annotations

import math
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Final, NamedTuple, NoReturn

import numpy as np
from numpy.typing import ArrayLike, NDArray

from keeper.core.normal import norm_cdf_from_exp
from keeper.errors import InputError

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]
Operand = float | FloatArray

CHUNK: Final = 32768
"""Elements per block on one thread (measured best on the 2-core target: 14 rows x 256 KiB)."""
CHUNK_THREADED: Final = 131072
"""Elements per block when several threads share the GIL: fewer, longer ufunc calls per handoff."""
PARALLEL_MIN: Final = 1 << 16
"""Inputs at least this large are split over the thread pool (when threads > 1)."""

_SQRT2: Final = math.sqrt(2.0)
_INV_SQRT_PI: Final = 1.0 / math.sqrt(math.pi)
_INV_SQRT_2PI: Final = 1.0 / math.sqrt(2.0 * math.pi)
_AMIN: Final = 1e-100  # sqrt(2) sigma sqrt(T) below this is the deterministic limit
_AMAX: Final = 1e100  # above this every result has reached its limit
_ROWS: Final = 15
_ATM_LOG_TOL: Final = 1e-12

_POOL: ThreadPoolExecutor | None = None


def default_threads() -> int:
    """Worker threads used when the caller does not say: the CPU count, at most 4."""
    return max(1, min(4, os.cpu_count() or 1))


def _pool() -> ThreadPoolExecutor:
    global _POOL  # noqa: PLW0603  (one lazily created pool per process)
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=default_threads(), thread_name_prefix="keeper-bs")
    return _POOL


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


def _signed(h: FloatArray, w: Operand, out: FloatArray) -> FloatArray:
    """``w h`` (``w = +-1``), without a copy when ``w == +1``."""
    if isinstance(w, float):
        if w > 0.0:
            return h
        return np.negative(h, out=out)
    return np.multiply(h, w, out=out)


def _invalid(inp: Inputs, lo: int, hi: int) -> NoReturn:
    """A cheap check failed: find and name the culprit with the precise one."""
    _check_all(inp, lo, hi)
    raise InputError("spot/strike/t/sigma", "produce a non-finite intermediate")


def kernel(inp: Inputs, lo: int, hi: int, want: Want, outs: dict[str, FloatArray], buf: FloatArray) -> None:
    """Compute the wanted outputs for elements ``lo:hi`` into the flat arrays ``outs``."""
    m = hi - lo
    s, k, t, sig = _sl(inp.spot, lo, hi), _sl(inp.strike, lo, hi), _sl(inp.t, lo, hi), _sl(inp.sigma, lo, hi)
    r, q = _sl(inp.r, lo, hi), _sl(inp.q, lo, hi)
    # Fused validation: seven reductions on in-cache data; the slow precise check
    # runs only on failure. NaN propagates into every min/max, so it is caught too.
    if not isinstance(k, float) and not float(k.min()) > 0.0:
        _invalid(inp, lo, hi)
    if not isinstance(sig, float) and not float(sig.min()) >= 0.0:
        _invalid(inp, lo, hi)
    tmin = t if isinstance(t, float) else float(t.min())
    if not math.isfinite(tmin):
        _invalid(inp, lo, hi)
    sq2, a, h, e, cdf, tmp, dq, wbuf = (buf[i, :m] for i in range(8))
    scratch = buf[8:11, :m]

    w: Operand
    if isinstance(inp.call, bool):
        w = 1.0 if inp.call else -1.0
    else:
        np.copyto(wbuf, inp.call[lo:hi])  # bool -> 0.0 / 1.0
        np.multiply(wbuf, 2.0, out=wbuf)
        np.subtract(wbuf, 1.0, out=wbuf)
        w = wbuf

    # sq2 = sqrt(2 T+), a = sqrt(2) sigma sqrt(T+)
    expired = tmin <= 0.0
    if expired:
        np.maximum(t, 0.0, out=sq2)
        np.multiply(sq2, 2.0, out=sq2)
    else:
        np.multiply(t, 2.0, out=sq2)
    tp2 = sq2  # holds 2 T+ until the square root below
    carry = r - q
    has_carry = not (isinstance(carry, float) and carry == 0.0)
    no_q = isinstance(q, float) and q == 0.0
    if has_carry:  # h <- (r - q) T, before sq2 becomes a square root
        np.multiply(tp2, carry, out=h)
        np.multiply(h, 0.5, out=h)
    if not no_q:  # dq = exp(-q T)
        np.multiply(tp2, q, out=dq)
        np.multiply(dq, -0.5, out=dq)
        np.exp(dq, out=dq)
    if want.price or want.theta:  # keep T+ for the discount factor
        np.multiply(tp2, 0.5, out=buf[11, :m])
    np.sqrt(sq2, out=sq2)
    np.multiply(sig, sq2, out=a)
    amin, amax = float(a.min()), float(a.max())
    if not math.isfinite(amin + amax):  # t = +inf, or sigma inf / nan
        _invalid(inp, lo, hi)
    degenerate = amin < _AMIN
    if degenerate or amax > _AMAX:
        np.clip(a, _AMIN, _AMAX, out=a)

    # h = (ln(S/K) + (r - q) T) / a + a / 4 = d1 / sqrt 2
    np.divide(s, k, out=tmp)
    if not (isinstance(s, float) and isinstance(k, float)) and not (
        float(tmp.min()) > 0.0 and float(tmp.max()) < math.inf
    ):  # spot <= 0, nan or inf; strike inf
        _invalid(inp, lo, hi)
    np.log(tmp, out=tmp)
    if has_carry:
        np.add(h, tmp, out=h)
    else:
        np.copyto(h, tmp)
    if degenerate:  # zero vol: |ln(F/K)| <= 1e-12 counts as exactly at the forward
        h[(a <= _AMIN) & (np.abs(h) <= _ATM_LOG_TOL)] = 0.0
    np.divide(h, a, out=h)
    np.multiply(a, 0.25, out=tmp)
    np.add(h, tmp, out=h)
    # e = exp(-h^2) = exp(-d1^2 / 2)
    np.multiply(h, h, out=e)
    np.negative(e, out=e)
    np.exp(e, out=e)
    need_cdf = want.delta or want.price or want.theta
    if need_cdf:  # cdf = N(w d1) = erfc(-w h) / 2, sharing e
        norm_cdf_from_exp(_signed(h, w, buf[14, :m]), e, cdf, scratch)
    # e <- e^{-qT} n(d1) sqrt(2) = e^{-qT} exp(-h^2) / sqrt(pi)
    np.multiply(e, _INV_SQRT_PI, out=e)
    if not no_q:
        np.multiply(e, dq, out=e)
    if want.gamma:  # e^{-qT} n(d1) / (S sigma sqrt T) = e / (S a)
        g = outs["gamma"][lo:hi]
        np.multiply(s, a, out=g)
        np.divide(e, g, out=g)
        if degenerate:
            g[a <= _AMIN] = 0.0
    if want.vega:  # S e^{-qT} n(d1) sqrt T = e S sq2 / 2
        vg = outs["vega"][lo:hi]
        np.multiply(e, s, out=vg)
        np.multiply(vg, sq2, out=vg)
        np.multiply(vg, 0.5, out=vg)
        if degenerate:
            vg[a <= _AMIN] = 0.0
    if not need_cdf:
        return
    if not no_q:
        np.multiply(cdf, dq, out=cdf)  # e^{-qT} N(w d1)
    if want.delta:
        np.multiply(cdf, w, out=outs["delta"][lo:hi])
    if want.price or want.theta:
        _price_theta(s, k, t, sig, r, q, w, lo, hi, want, outs, buf, m)


def _price_theta(
    s: Operand, k: Operand, t: Operand, sig: Operand, r: Operand, q: Operand, w: Operand,
    lo: int, hi: int, want: Want, outs: dict[str, FloatArray], buf: FloatArray, m: int,
) -> None:
    """Price and theta from the buffers left by :func:`kernel` (second CDF at d2)."""
    sq2, a, h, e, cdf = (buf[i, :m] for i in range(5))
    tmp = buf[5, :m]
    tplus = buf[11, :m]
    h2, cdf2, df = buf[12, :m], buf[13, :m], buf[6, :m]  # dq (row 6) is no longer needed
    scratch = buf[8:11, :m]
    # h2 = d2 / sqrt 2 = h - a / 2
    np.multiply(a, 0.5, out=tmp)
    np.subtract(h, tmp, out=h2)
    np.multiply(h2, h2, out=tmp)
    np.negative(tmp, out=tmp)
    np.exp(tmp, out=tmp)
    norm_cdf_from_exp(_signed(h2, w, h2), tmp, cdf2, scratch)  # N(w d2)
    np.multiply(tplus, r, out=df)
    np.negative(df, out=df)
    np.exp(df, out=df)
    np.multiply(cdf2, df, out=cdf2)
    np.multiply(cdf2, k, out=cdf2)  # K e^{-rT} N(w d2)
    np.multiply(cdf, s, out=cdf)  # S e^{-qT} N(w d1)
    if want.price:
        p = outs["price"][lo:hi]
        np.subtract(cdf, cdf2, out=p)
        np.multiply(p, w, out=p)
        np.maximum(p, 0.0, out=p)  # rounding can leave -1e-17 on worthless options
    if want.theta:
        th = outs["theta"][lo:hi]
        # w (q S e^{-qT} N(w d1) - r K e^{-rT} N(w d2)) - S e^{-qT} n(d1) sigma / (2 sqrt T)
        np.multiply(cdf, q, out=th)
        np.multiply(cdf2, r, out=tmp)
        np.subtract(th, tmp, out=th)
        np.multiply(th, w, out=th)
        # e holds sqrt(2) e^{-qT} n(d1); sigma / (2 sqrt T) = sigma / (sqrt(2) sq2)
        np.maximum(sq2, 1e-300, out=tmp)
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


def _run_block(
    inp: Inputs, lo: int, hi: int, want: Want, outs: dict[str, FloatArray], chunk: int
) -> None:
    buf = np.empty((_ROWS, min(chunk, max(hi - lo, 1))))
    for a in range(lo, hi, chunk):
        kernel(inp, a, min(a + chunk, hi), want, outs, buf)


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
        _run_block(inp, 0, inp.n, want, outs, CHUNK)
    else:
        per = -(-inp.n // nthreads)
        per = -(-per // CHUNK) * CHUNK
        bounds = [(a, min(a + per, inp.n)) for a in range(0, inp.n, per)]
        futures: list[Future[None]] = [
            _pool().submit(_run_block, inp, a, b, want, outs, CHUNK_THREADED) for a, b in bounds[1:]
        ]
        _run_block(inp, *bounds[0], want, outs, CHUNK_THREADED)
        for fut in futures:
            fut.result()
    if out is not None:
        return {name: out[name] for name in names}
    return {name: arr.reshape(inp.shape) for name, arr in outs.items()}
