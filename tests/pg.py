"""A throw-away PostgreSQL cluster for the tests: ``initdb`` in a temporary folder, a free port on
127.0.0.1, stopped (and the folder removed) at the end of the session. Nothing depends on a server that
was already running. As root (CI), the cluster runs as the ``postgres`` user (``initdb`` refuses root):
the folder is made theirs and every command goes through ``runuser -u postgres --``.

Fixtures: ``pg_cluster`` (session) and ``pg_url`` (a fresh schema per test, dropped after it).
Tests that need them carry the ``postgres`` marker; they are skipped only when no server binaries exist.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

__all__ = ["PgCluster", "find_pg_bin", "pg_cluster", "pg_url"]


def find_pg_bin() -> Path | None:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres`` (Debian: /usr/lib/postgresql/<v>/bin), or None."""
    root = Path("/usr/lib/postgresql")
    if root.is_dir():
        versions = sorted((p for p in root.iterdir() if (p / "bin" / "initdb").exists()),
                          key=lambda p: int(p.name) if p.name.isdigit() else 0)
        if versions:
            return versions[-1] / "bin"
    initdb = shutil.which("initdb")
    if initdb is not None and shutil.which("pg_ctl") is not None:
        return Path(initdb).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    bin: Path
    data: Path
    port: int
    as_postgres: bool

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [*(["runuser", "-u", "postgres", "--"] if self.as_postgres else []), *args]
        return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=60)

    @classmethod
    def start(cls, bin_dir: Path) -> PgCluster:
        base = Path(tempfile.mkdtemp(prefix="keeper-pg-"))
        as_postgres = os.geteuid() == 0
        if as_postgres:
            pw = pwd.getpwnam("postgres")
            os.chown(base, pw.pw_uid, pw.pw_gid)
        cluster = cls(bin_dir, base / "data", _free_port(), as_postgres)
        try:
            cluster._run(str(bin_dir / "initdb"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync",
                         "-D", str(cluster.data))
            opts = f"-p {cluster.port} -k {base} -h 127.0.0.1 -c fsync=off -c full_page_writes=off"
            cluster._run(str(bin_dir / "pg_ctl"), "-D", str(cluster.data), "-o", opts, "-l", str(base / "log"),
                         "-w", "-t", "60", "start")
        except subprocess.CalledProcessError as exc:
            log = (base / "log").read_text() if (base / "log").exists() else ""
            shutil.rmtree(base, ignore_errors=True)
            raise RuntimeError(f"cannot start a PostgreSQL cluster: {exc.stderr or exc.stdout}\n{log}") from exc
        return cluster

    def url(self, database: str = "postgres", schema: str | None = None) -> str:
        url = f"postgresql://postgres@127.0.0.1:{self.port}/{database}"
        if schema is not None:
            url += "?options=" + quote(f"-csearch_path={schema}")
        return url

    def sql(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(statement)

    def new_schema(self) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        self.sql(f"CREATE SCHEMA {name}")
        return name

    def stop(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.data.parent, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL server binaries are absent (./scripts/setup installs Debian's postgresql)")
    cluster = PgCluster.start(bin_dir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> Iterator[str]:
    """A URL whose ``search_path`` is a fresh, empty schema: each test gets its own journal."""
    schema = pg_cluster.new_schema()
    try:
        yield pg_cluster.url(schema=schema)
    finally:
        with contextlib.suppress(Exception):  # a connection a test left open must not fail the next test
            pg_cluster.sql(f"SET lock_timeout = '5s'; DROP SCHEMA {schema} CASCADE")
