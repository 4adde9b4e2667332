"""The Black-Scholes kernel's thread pool survives a fork: a child process that inherits a pool
created by its parent (whose threads it does not have) still computes, instead of waiting forever on
futures no thread will run. Found when mutation testing forked its workers from a process that had
already run the option tests."""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest

from keeper.core import _bs_kernel
from keeper.core.options import bs_delta_gamma_vega

N = _bs_kernel.PARALLEL_MIN * 2  # large enough for the threaded path


def _greeks() -> float:
    spot = np.linspace(2000.0, 4000.0, N)
    out = bs_delta_gamma_vega(spot, 3000.0, 0.25, 0.6, 0.0, 0.0, True, threads=2)
    return float(out.delta.sum())


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_threaded_greeks_in_a_forked_child() -> None:
    expected = _greeks()  # the parent's pool now exists, with its threads
    pid = os.fork()
    if pid == 0:  # the child: exit 0 only if the threaded path finishes with the same numbers
        code = 0 if _greeks() == expected else 3
        sys.stdout.flush()
        os._exit(code)
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            assert os.waitstatus_to_exitcode(status) == 0, "the child computed different greeks"
            return
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    pytest.fail("the forked child hung on the inherited thread pool (20 s)")
