"""A private PostgreSQL cluster for the fault tests: start, stop, restart, crash, freeze, thaw.

The shared server on 5432 is never touched: the cluster is made with ``initdb`` from
``/usr/lib/postgresql/<version>/bin`` in a temporary directory owned by the ``postgres``
user (the server refuses to run as root; under root the commands run through ``runuser``),
listens on a free port of 127.0.0.1 with trust authentication, and runs with ``fsync``
off (a crash here kills the server, not the machine: its writes are in the page cache).
Without ``initdb`` the tests that need a cluster are skipped - or fail under
``CARERECORD_REQUIRE_POSTGRES=1`` (CI).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from pg_support import REQUIRE_PG

from carerecord.db import create_postgres_database
from carerecord.settings import PostgresParams

SERVER_USER = "postgres"


def pg_bin() -> Path | None:
    """The newest installed server's ``bin`` directory (with ``initdb`` and ``pg_ctl``)."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    return found[-1].parent if found else None


def require_cluster_tools() -> Path:
    """The server's binaries, or skip (fail under ``CARERECORD_REQUIRE_POSTGRES=1``)."""
    found = pg_bin()
    problem = None
    if found is None:
        problem = "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
    elif os.geteuid() == 0:
        try:
            pwd.getpwnam(SERVER_USER)
        except KeyError:
            problem = f"running as root and there is no {SERVER_USER!r} user to run the server"
    if problem is not None:
        if REQUIRE_PG:
            pytest.fail(problem)
        pytest.skip(problem)
    assert found is not None
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgCluster:
    """One private server: its data directory, port and the commands that hurt it."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.log = root / "server.log"
        self.port = port
        self.frozen: list[int] = []

    # --- lifecycle -------------------------------------------------------------------------

    @classmethod
    def create(cls, bin_dir: Path) -> PgCluster:
        root = Path(tempfile.mkdtemp(prefix="carerecord-pg-", dir="/tmp"))
        if os.geteuid() == 0:
            account = pwd.getpwnam(SERVER_USER)
            os.chown(root, account.pw_uid, account.pw_gid)
        cluster = cls(bin_dir, root, _free_port())
        cluster._run(
            "initdb",
            "-D",
            str(cluster.data),
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
            "--no-instructions",
        )
        settings = {
            "port": str(cluster.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{root}'",
            # fsync off: a killed server's writes are still in the kernel's page cache
            # (the machine does not crash). synchronous_commit stays on: with it off a
            # commit is acknowledged before its WAL leaves the server's own memory, and
            # a crash (-m immediate) would lose acknowledged writes by design.
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "shared_buffers": "32MB",
        }
        conf = "".join(f"{k} = {v}\n" for k, v in settings.items())
        cluster._run("sh", "-c", f"cat >> '{cluster.data}/postgresql.conf' <<'EOF'\n{conf}EOF")
        cluster.start()
        return cluster

    def _run(self, program: str, *args: str, timeout: float = 120) -> None:
        tool = str(self.bin_dir / program) if (self.bin_dir / program).exists() else program
        command = [tool, *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=timeout, cwd="/")

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "60", *args)

    def start(self) -> None:
        self._pg_ctl("-l", str(self.log), "start")

    def stop(self, mode: str = "fast") -> None:
        """``fast``: sessions are told (``admin_shutdown``), transactions rolled back;
        ``immediate``: every process is killed at once - a crash (recovery on start)."""
        self._pg_ctl("-m", mode, "stop")

    def restart(self, mode: str = "fast") -> None:
        self._pg_ctl("-m", mode, "-l", str(self.log), "restart")

    def crash(self) -> None:
        self.stop("immediate")
        self.start()

    def destroy(self) -> None:
        if self.frozen:
            self.thaw()
        with contextlib.suppress(subprocess.SubprocessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    # --- freezing --------------------------------------------------------------------------

    def server_pids(self) -> list[int]:
        """The postmaster and its children (backends, checkpointer, WAL writer...)."""
        postmaster = int((self.data / "postmaster.pid").read_text().split()[0])
        children = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = stat.read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == postmaster:
                    children.append(int(stat.parent.name))
        return [postmaster, *children]

    def freeze(self) -> None:
        """SIGSTOP the whole server: connections stay open, nothing answers, nothing fails."""
        self.frozen = self.server_pids()
        for pid in self.frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)

    def thaw(self) -> None:
        for pid in self.frozen:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        self.frozen = []

    # --- connecting ------------------------------------------------------------------------

    def params(self, dbname: str = "postgres", *, connect_timeout: int = 2) -> PostgresParams:
        return PostgresParams(
            host="127.0.0.1",
            port=self.port,
            dbname=dbname,
            user="postgres",
            password="",
            connect_timeout=connect_timeout,
        )

    def new_database(self, *, connect_timeout: int = 2) -> PostgresParams:
        """A new, empty database on this cluster."""
        params = self.params(f"fault_{uuid.uuid4().hex[:10]}", connect_timeout=connect_timeout)
        create_postgres_database(params)
        return params

    def url(self, params: PostgresParams) -> str:
        return f"postgresql://{params.user}@{params.host}:{params.port}/{params.dbname}"

    def accepting(self) -> bool:
        try:
            with psycopg.connect(self.params().conninfo(), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False


@contextlib.contextmanager
def private_cluster() -> Iterator[PgCluster]:
    """A private cluster, started; destroyed (killed, files removed) afterwards."""
    cluster = PgCluster.create(require_cluster_tools())
    try:
        yield cluster
    finally:
        cluster.destroy()
