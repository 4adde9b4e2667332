"""The CLI's one mapping from the error tree (and a closed output pipe) to exit codes."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from keeper.cli.main import EXIT_BROKEN_PIPE, EXIT_ERROR, EXIT_SETUP, EXIT_USAGE, run_command
from keeper.errors import ChainError, InputError, KeeperError, SetupError


def _raising(exc: BaseException) -> argparse.Namespace:
    def func(_args: argparse.Namespace) -> int:
        raise exc

    return argparse.Namespace(func=func)


@pytest.mark.parametrize(("exc", "code", "prefix"), [
    (InputError("policy.ETH.band_units", "must be > 0"), EXIT_USAGE, "error: "),
    (SetupError("anvil is not installed"), EXIT_SETUP, "setup error: "),
    (ChainError("the RPC is down"), EXIT_ERROR, "error: "),
    (KeeperError("something else"), EXIT_ERROR, "error: "),
])
def test_each_error_kind_has_its_exit_code_and_one_line(exc: KeeperError, code: int, prefix: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    assert run_command(_raising(exc)) == code
    err = capsys.readouterr().err
    assert err.startswith(prefix) and str(exc) in err and "Traceback" not in err


def test_a_closed_output_pipe_exits_quietly() -> None:
    # `keeper ... | head -1`: the reader closes the pipe after one line; the writer must neither
    # print a traceback nor fail again at interpreter exit.
    code = (
        "import argparse, sys\n"
        "from keeper.cli.main import run_command\n"
        "def spam(_):\n"
        "    for i in range(200000):\n"
        "        print('line', i)\n"
        "    return 0\n"
        "sys.exit(run_command(argparse.Namespace(func=spam)))\n"
    )
    proc = subprocess.run(f"{sys.executable} -c \"{code}\" | head -1; echo \"rc=${{PIPESTATUS[0]}}\"",
                          shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=60, check=False)
    assert proc.stdout.splitlines() == ["line 0", f"rc={EXIT_BROKEN_PIPE}"]
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr


def test_version_prints_the_installed_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    from keeper.cli.main import main

    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    assert capsys.readouterr().out.strip() == f"keeper {version('keeper')}"
